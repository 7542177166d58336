"""The one settings class: everything configurable comes from ``RETAILCORE_*`` environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./retailcore.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETAILCORE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL. ``postgresql://`` URLs are run with psycopg 3."""

    page_size_default: int = 50
    page_size_max: int = 500

    echo_sql: bool = False
