"""The one composition root: settings in, engine and session factory out."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from retailcore.accounting import subscriptions as accounting_subscriptions
from retailcore.adapters.db import make_engine, make_session_factory
from retailcore.adapters.replica import ReadRouting, replica_url
from retailcore.analytics import subscriptions as analytics_subscriptions
from retailcore.connectors import shopify_stock
from retailcore.entrypoints.settings import Settings
from retailcore.inventory import reservations as inventory_reservations
from retailcore.inventory.valuation import register_awaiting_posting
from retailcore.loyalty import automatic as loyalty_automatic
from retailcore.payments import services as payments_services
from retailcore.pos.services import awaiting_posting as pos_cogs_awaiting_posting
from retailcore.returns import services as returns_services


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    reads: ReadRouting | None = None
    """Where reports, KPIs, exports and the back office read (a replica), when one is configured."""

    def dispose(self) -> None:
        """Close the connections of the runtime's engines."""
        self.engine.dispose()
        if self.reads is not None:
            self.reads.replica.kw["bind"].dispose()


def install_subscriptions() -> None:
    """Wire downstream contexts to upstream events (idempotent)."""
    accounting_subscriptions.install()
    analytics_subscriptions.install()
    inventory_reservations.install()
    # Points earned on delivery and at a POS close, taken back with refunds (decision 0056).
    loyalty_automatic.install()
    register_awaiting_posting(pos_cogs_awaiting_posting)
    # A refund to store credit is posted by returns and recorded on the customer's balance by payments.
    returns_services.on_store_credit(payments_services.issue_store_credit)


def tune_garbage_collector(threshold: int) -> None:
    """Collect the youngest generation every ``threshold`` allocations instead of every 700 (the older
    generations keep their ratios). Reference counting frees almost everything a request or a batch
    makes; the cyclic collector only has to catch cycles, and running it less often costs a little
    memory between collections, not a leak."""
    if threshold > 0:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(threshold, middle, oldest)


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    tune_garbage_collector(settings.gc_threshold)
    install_subscriptions()
    # Retries of stock pushes, sent by the sweep, read the shop's access token with it.
    shopify_stock.configure(settings.connector_key)
    engine = make_engine(
        settings.database_url,
        echo=settings.echo_sql,
        background_checkpoints=settings.sqlite_background_checkpoints,
    )
    factory = make_session_factory(engine)
    # Connectors that call out (Odoo) open their secret with the installation's key while a message is
    # processed, by the API, the CLI or the sweep: the sessions carry where to read it.
    factory.configure(info={"connector_key": lambda: settings.connector_key})
    return Runtime(settings, engine, factory, _read_routing(settings, factory))


def _read_routing(settings: Settings, primary: sessionmaker[Session]) -> ReadRouting | None:
    if not settings.read_database_url:
        return None
    # A replica is only read: no writer's lock, no checkpoints of its own.
    replica = make_engine(
        replica_url(settings.read_database_url), echo=settings.echo_sql, background_checkpoints=False
    )
    return ReadRouting(
        primary,
        make_session_factory(replica),
        max_lag_ms=settings.read_max_lag_ms,
        check_ms=settings.read_lag_check_ms,
    )
