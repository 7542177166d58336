"""The sweeps of what is due: unpaid orders cancelled, expired reservations let go, gift cards past
their last day expired (breakage per the company's policy), approved promotions moved to active and
expired as their local times come and approved price changes applied (decision 0048), per company;
then the connectors' failed messages whose backoff has run out are retried
(:func:`retry_connector_messages`), and the Shopify connectors set to ``"stock_push": "sweep"`` push
the availability that changed (:func:`push_connector_stock`).

``retailcore orders sweep`` runs them once; ``retailcore serve`` runs them every
``sweep_interval_seconds`` on a thread of its own (:func:`sweeping`, the API's lifespan). Each company
is swept in a transaction of its own, and only after a read found something due, so an idle sweep
never takes SQLite's single writer. A company that fails is logged and reported, and the others are
still swept.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.model import system_principal
from retailcore.access.services import resolve_company
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.connectors import services as connectors
from retailcore.connectors import shopify_stock
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company
from retailcore.orders import services as orders
from retailcore.payments import services as payments
from retailcore.promotions import services as promotions

log = logging.getLogger("retailcore.sweeps")

STOP_WAIT_SECONDS = 30.0
"""How long shutting down waits for a sweep under way to commit before leaving its thread behind."""


@dataclass
class CompanySwept:
    """What sweeping one company did: order numbers cancelled, reservations expired (order refs), or
    the error that stopped it (its transaction rolled back)."""

    company_code: str
    cancelled: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    gift_cards: list[str] = field(default_factory=list)
    """The gift cards expired (``****`` and their last four characters)."""
    promotions_activated: list[str] = field(default_factory=list)
    promotions_expired: list[str] = field(default_factory=list)
    """Codes of the approved promotions that started or ended (decision 0048)."""
    price_changes: list[uuid.UUID] = field(default_factory=list)
    """The approved price changes applied, their time having come."""
    error: str | None = None


def sweep_companies(
    factory: sessionmaker[Session],
    *,
    company: str | None = None,
    now: dt.datetime | None = None,
    actor: str = "sweeper",
) -> list[CompanySwept]:
    """Sweep every company (or the one named by code or id: an unknown one raises
    ``unknown-company``), each in its own transaction; companies with nothing due are only read."""
    now = now or utcnow()
    with factory() as session:
        if company is not None:
            found = resolve_company(session, company)
            targets: list[tuple[uuid.UUID, str]] = [(found.id, found.code)]
        else:
            targets = [(row.id, row.code) for row in session.execute(select(Company.id, Company.code))]
    results = []
    for company_id, code in sorted(targets, key=lambda target: target[1]):
        done = CompanySwept(code)
        try:
            with factory() as session:
                due = orders.sweep_due(session, company_id, now)
            if due:
                with transaction(factory) as session:
                    target = session.get(Company, company_id)
                    assert target is not None
                    swept = orders.sweep(session, CommandContext(system_principal(actor)), target, now)
                    done.cancelled = [order.number for order in swept.cancelled]
                    done.expired = [reservation.order_ref for reservation in swept.expired]
            with factory() as session:
                cards_due = payments.expiry_due(session, company_id, now.date())
            if cards_due:
                with transaction(factory) as session:
                    target = session.get(Company, company_id)
                    assert target is not None
                    cards = payments.expire_gift_cards(
                        session, CommandContext(system_principal(actor)), target, now.date()
                    )
                    done.gift_cards = [f"****{card.last4}" for card in cards]
            with factory() as session:
                pricing_due = promotions.sweep_due(session, company_id, now)
            if pricing_due:
                with transaction(factory) as session:
                    target = session.get(Company, company_id)
                    assert target is not None
                    moved = promotions.sweep(session, CommandContext(system_principal(actor)), target, now)
                    done.promotions_activated = moved.activated
                    done.promotions_expired = moved.expired
                    done.price_changes = moved.price_changes
        except Exception as error:  # one company's failure must not stop the others
            log.exception("sweeping company %s failed", code)
            done.error = str(error) or type(error).__name__
        if done.promotions_activated or done.promotions_expired or done.price_changes:
            log.info(
                "company %s: %d promotions activated, %d expired, %d price changes applied",
                code,
                len(done.promotions_activated),
                len(done.promotions_expired),
                len(done.price_changes),
            )
        if done.cancelled or done.expired or done.gift_cards:
            log.info(
                "company %s: cancelled %d unpaid orders, expired %d reservations and %d gift cards",
                code,
                len(done.cancelled),
                len(done.expired),
                len(done.gift_cards),
            )
        results.append(done)
    return results


def retry_connector_messages(factory: sessionmaker[Session], now: dt.datetime | None = None) -> int:
    """Process the connectors' failed messages that are due again (backoff), in one transaction, after
    a read found some; how many were tried. A failure is logged, never raised: the sweep goes on."""
    now = now or utcnow()
    try:
        with factory() as session:
            if not connectors.retry_is_due(session, now):
                return 0
        with transaction(factory) as session:
            tried = connectors.retry_due(session, now)
    except Exception:
        log.exception("retrying the connectors' messages failed")
        return 0
    if tried:
        log.info("retried %d connector messages", tried)
    return tried


def push_connector_stock(factory: sessionmaker[Session], key: str | None) -> int:
    """Push stock for the connectors that sweep theirs and have changes (a read first, so an idle sweep
    writes nothing); how many quantities were set. A failure is logged, never raised."""
    try:
        with factory() as session:
            due = shopify_stock.due_for_sweep(session)
    except Exception:
        log.exception("finding the connectors' stock to push failed")
        return 0
    sent = 0
    for connector_id in due:
        try:
            sent += shopify_stock.push_stock(factory, connector_id, key).sent
        except Exception:  # the shop away, a mapping removed: logged, and tried again next time
            log.exception("pushing stock for connector %s failed", connector_id)
    return sent


class Sweeper:
    """Sweeps every company now and then every ``interval`` seconds on a daemon thread, until stopped;
    in between, every ``connector_interval`` seconds, processes the connectors' messages that are due
    (queued webhooks, retries whose backoff ran out) and pushes the stock of the Shopify connectors that
    sweep theirs."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        interval: float,
        connector_interval: float | None = None,
        connector_key: str | None = None,
    ) -> None:
        self._factory = factory
        self._connector_key = connector_key
        self._interval = interval
        self._connector_interval = connector_interval if connector_interval else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retailcore-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end and wait for a sweep under way to finish (at most STOP_WAIT_SECONDS)."""
        self._stop.set()
        self._thread.join(STOP_WAIT_SECONDS)
        if self._thread.is_alive():
            log.warning("the sweeper is still sweeping after %.0f s; leaving it behind", STOP_WAIT_SECONDS)

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_sweep:
                try:
                    sweep_companies(self._factory)
                except Exception:  # listing the companies failed (database away): try again later
                    log.exception("the sweep failed")
                next_sweep = time.monotonic() + self._interval
            retry_connector_messages(self._factory)  # logs its own failures
            push_connector_stock(self._factory, self._connector_key)  # so does this
            self._stop.wait(min(self._connector_interval, max(next_sweep - time.monotonic(), 0.0)))


@contextmanager
def sweeping(runtime: Runtime) -> Iterator[Sweeper | None]:
    """Run a :class:`Sweeper` while inside, when ``settings.sweep_interval_seconds`` is above zero."""
    interval = runtime.settings.sweep_interval_seconds
    if interval <= 0:
        yield None
        return
    sweeper = Sweeper(
        runtime.session_factory,
        interval,
        runtime.settings.connector_interval_seconds,
        runtime.settings.connector_key,
    )
    sweeper.start()
    try:
        yield sweeper
    finally:
        sweeper.stop()
