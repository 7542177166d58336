"""The one composition root: settings in, engine and session factory out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from retailcore.accounting import subscriptions as accounting_subscriptions
from retailcore.adapters.db import make_engine, make_session_factory
from retailcore.entrypoints.settings import Settings
from retailcore.inventory import reservations as inventory_reservations
from retailcore.inventory.valuation import register_awaiting_posting
from retailcore.pos.services import awaiting_posting as pos_cogs_awaiting_posting


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]


def install_subscriptions() -> None:
    """Wire downstream contexts to upstream events (idempotent)."""
    accounting_subscriptions.install()
    inventory_reservations.install()
    register_awaiting_posting(pos_cogs_awaiting_posting)


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    install_subscriptions()
    engine = make_engine(settings.database_url, echo=settings.echo_sql)
    return Runtime(settings, engine, make_session_factory(engine))
