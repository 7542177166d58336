"""Alembic migrations, packaged with the code so ``retailcore db upgrade`` works from any install."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def declared_for(dialect_name: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for comparing the models with a database: leave out what the models
    declare for other backends only (``ddl_if``), such as the order tables' foreign keys, which are
    triggers on PostgreSQL (decision 0013). Autogenerate then proposes no change for them."""

    def include(item: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
        condition = getattr(item, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        names = (condition.dialect,) if isinstance(condition.dialect, str) else condition.dialect
        return dialect_name in names

    return include


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
