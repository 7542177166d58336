"""The FastAPI application: routers under ``/api/v1``, problem+json for every error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from retailcore import __version__
from retailcore.access.rate_limit import DatabaseBuckets, Limiter, TokenBuckets
from retailcore.core.errors import RetailcoreError
from retailcore.entrypoints.api import contract, docs, problems
from retailcore.entrypoints.api.limits import BodySizeLimit
from retailcore.entrypoints.api.replica import WrittenPosition
from retailcore.entrypoints.api.routers import (
    anomalies,
    banking,
    closing,
    connectors,
    costing,
    coupons,
    customer_ledger,
    discounts,
    events,
    exceptions,
    exports,
    forecasts,
    fx,
    health,
    intercompany,
    kpis,
    ledger,
    loyalty,
    margin_floors,
    marketplace,
    masterdata,
    odoo,
    orders,
    payments,
    pos,
    pricing,
    promotions,
    purchasing,
    reconciliation,
    relay,
    replenishment,
    reports,
    returns,
    settlements,
    stock,
    stock_valuation,
    tokens,
    transfers_counts,
)
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.inbox import draining
from retailcore.entrypoints.relaying import relaying
from retailcore.entrypoints.sweeps import sweeping
from retailcore.entrypoints.web import routes as web
from retailcore.pos.group_commit import GroupCommit

API_PREFIX = "/api/v1"
DESCRIPTION = """
One transaction model for retail. Every request but `/health` and Shopify's webhooks (signed by the
shop) needs `Authorization: Bearer <token>` (create one with `retailcore token create`). Every POST that
creates something honours an `Idempotency-Key` header. Errors are RFC 9457 `application/problem+json`
documents whose `errors` list names the fields at fault. Lists are paginated with `limit` and the
`next_cursor` they return.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = app.state.runtime
    # Unpaid orders and expired reservations, every interval; the event log to NATS when configured.
    # The POS inbox's drainer (decision 0084): requests accepted by this process wake it.
    with sweeping(runtime), relaying(runtime), draining(runtime) as drainer:
        app.state.pos_inbox_drainer = drainer
        try:
            yield
        finally:
            app.state.pos_inbox_drainer = None


def bind(app: FastAPI, runtime: Runtime) -> None:
    """Point the application at a runtime: its database and a fresh rate limiter.

    Everything else an application holds (routes, middleware, the OpenAPI document) is the same
    for every runtime; only ``max_body_bytes`` is read once, when the middleware stack is built."""
    app.state.session_factory = runtime.session_factory
    app.state.runtime = runtime
    app.state.read_routing = runtime.reads
    app.state.token_reads_autocommit = runtime.engine.dialect.name == "postgresql"
    app.state.rate_limiter = rate_limiter(runtime)
    window = runtime.settings.pos_group_commit_window_ms
    app.state.pos_inbox_drainer = None
    app.state.pos_group_commit = GroupCommit(runtime.session_factory, window / 1000) if window > 0 else None


def rate_limiter(runtime: Runtime) -> Limiter:
    """The buckets the settings name: this process's memory, or the database every node shares."""
    settings = runtime.settings
    if settings.rate_limit_store == "database":
        return DatabaseBuckets(
            runtime.session_factory, settings.rate_limit_per_second, settings.rate_limit_burst
        )
    return TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="retailcore",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # docs.install serves /docs and /redoc from the package's own files
        redoc_url=None,
    )
    bind(app, runtime)
    app.add_exception_handler(RetailcoreError, problems.from_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, problems.from_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, problems.from_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, problems.from_integrity_error)  # type: ignore[arg-type]
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_body_bytes)
    # Read-your-writes when reads go to a replica (decision 0086); without one it passes requests on.
    app.add_middleware(WrittenPosition)
    routers = (
        # First: routes are matched in order (a request walks the list until one matches), and
        # Shopify's webhooks are the most frequent requests of an installation with a shop.
        connectors.router,
        # Then the tills (a connected till sends every sale as a request of its own) and the orders of
        # the web shop (place, pay, fulfil): the most frequent requests of a store. Moving a router
        # changes no route's answer: no other router serves a path under /pos or /orders.
        pos.router,
        orders.router,
        odoo.router,
        marketplace.router,
        *masterdata.ROUTERS,
        ledger.router,
        fx.router,
        reconciliation.router,
        reports.router,
        intercompany.router,
        kpis.router,
        closing.router,
        exports.router,
        costing.router,
        stock.router,
        exceptions.router,
        anomalies.router,
        forecasts.router,
        stock_valuation.router,
        purchasing.router,
        transfers_counts.router,
        replenishment.router,
        pricing.router,
        promotions.router,
        margin_floors.router,
        discounts.router,
        payments.router,
        coupons.router,
        loyalty.router,
        returns.router,
        settlements.router,
        banking.router,
        customer_ledger.router,
        events.router,
        relay.router,
        tokens.router,
        health.router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    included = [(API_PREFIX, router) for router in routers]
    contract.install(app, included)
    docs.install(app)
    # The back office at / (docs/ui.md): its own routes, outside the OpenAPI document.
    key = runtime.settings.session_key
    web.install(app, key.encode() if key else None)
    app.add_middleware(contract.LiteralPaths, routers=included)
    return app
