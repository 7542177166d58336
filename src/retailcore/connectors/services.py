"""Connectors and their sync log: configure, receive, process, retry with backoff, dead-letter, replay.

Every inbound message is written to ``sync_messages`` before anything else is done with it, then
processed in a savepoint of the same transaction: what it lands and its status (``processed``, or
``failed`` with the error) commit together, and a failure undoes only what the message itself did.

Retries: a failed message is due again after ``retry_base_seconds`` (default 60) x 2^(attempts-1),
at most :data:`MAX_BACKOFF`; after ``max_attempts`` (default 8, Shopify's own number of retries) it
is ``dead_lettered`` and only a replay (``POST /connectors/{id}/replay``, after a fix) processes it
again. A message that waits for something (a refund for its order) carries ``waits_for`` and is
retried at once when a message lands that it (``order:<id>``), without waiting for its backoff.
A retried message that fails again is ``retried``. :func:`retry_due` processes what is due; the
serving process's sweep runs it, and so does ``retailcore connectors retry``.

Failures, dead letters, flags and duplicates raise exceptions in the one exceptions console, and a
message processed after failing resolves its own (:mod:`retailcore.connectors.raising`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.connectors import commands as c
from retailcore.connectors import marketplace, odoo, raising, shopify, shopify_stock, vault
from retailcore.connectors.links import Outcome, Permanent, Waiting
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.core.errors import Conflict, FieldProblem, NotFound, RetailcoreError, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, to_json
from retailcore.masterdata.tables import Company

log = logging.getLogger("retailcore.connectors")

MAX_ATTEMPTS = 8
RETRY_BASE_SECONDS = 60
MAX_BACKOFF = dt.timedelta(hours=6)
RETRYABLE = ("failed", "retried")
DUE = ("received", *RETRYABLE)
"""A ``received`` message with a ``next_attempt_at`` was queued (``"process": "queued"``)."""

Handler = Callable[[Session, CommandContext, Connector, SyncMessage], Outcome]
HANDLERS: dict[str, Handler] = {
    "shopify": shopify.handle,
    "odoo": odoo.handle,
    "marketplace": marketplace.handle,
}


# -- configuration ---------------------------------------------------------------------------------


def view(row: Connector) -> c.ConnectorView:
    return c.ConnectorView(
        id=row.id,
        company_id=row.company_id,
        kind=row.kind,
        name=row.name,
        settings=row.settings,
        has_secret=row.secret is not None,
        has_access_token=row.access_token is not None,
        active=row.active,
        webhook_path=f"/api/v1/connectors/shopify/{row.name}/webhooks" if row.kind == "shopify" else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_settings(kind: str, settings: dict[str, Any]) -> None:
    problems = []
    for name in ("max_attempts", "retry_base_seconds"):
        value = settings.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000
        ):
            problems.append(FieldProblem(f"settings.{name}", "a whole number from 1 to 1000"))
    if settings.get("process", "inline") not in ("inline", "queued"):
        problems.append(FieldProblem("settings.process", "inline or queued"))
    gateway = settings.get("gateway")
    if gateway is not None and (not isinstance(gateway, str) or not 1 <= len(gateway) <= 64):
        problems.append(FieldProblem("settings.gateway", "a name of 1 to 64 characters"))
    locations = settings.get("locations")
    if locations is not None and (
        not isinstance(locations, dict) or not all(isinstance(v, str) for v in locations.values())
    ):
        problems.append(FieldProblem("settings.locations", "an object of Shopify location id -> store code"))
    category = settings.get("shipping_tax_category")
    if category is not None and (not isinstance(category, str) or not 1 <= len(category) <= 32):
        problems.append(FieldProblem("settings.shipping_tax_category", "a tax category, 1 to 32 characters"))
    if kind == "odoo":
        problems += odoo.settings_problems(settings)
    problems += shopify_stock.check_settings(settings)
    if problems:
        raise ValidationFailed("invalid connector settings", problems=problems)


def create_connector(
    session: Session, ctx: CommandContext, company: Company, body: c.CreateConnector, key: str | None
) -> c.ConnectorView:
    name = body.name.lower() if body.kind == "shopify" else body.name
    if body.kind == "shopify":
        if not re.fullmatch(c.SHOP_DOMAIN, name):
            raise ValidationFailed(
                "a Shopify connector is named by its shop's domain",
                problems=[FieldProblem("name", "like example.myshopify.com")],
            )
        if body.secret is None:
            raise ValidationFailed(
                "a Shopify connector needs the app's client secret to check its webhooks",
                problems=[FieldProblem("secret", "required for shopify")],
            )
    if body.kind == "odoo" and body.secret is None:
        raise ValidationFailed(
            "an Odoo connector needs the Odoo user's API key (or password) to call Odoo",
            problems=[FieldProblem("secret", "required for odoo")],
        )
    _check_settings(body.kind, body.settings)
    if session.scalar(select(Connector.id).where(Connector.kind == body.kind, Connector.name == name)):
        raise Conflict(
            f"a {body.kind} connector named {name} exists already",
            code="connector-exists",
            problems=[FieldProblem("name", "taken")],
        )
    row = Connector(
        company_id=company.id,
        kind=body.kind,
        name=name,
        settings=to_json(body.settings),  # numbers with a fraction arrive as Decimals: kept as text
        secret=vault.seal(key, body.secret) if body.secret is not None else None,
        access_token=vault.seal(key, body.access_token) if body.access_token is not None else None,
        active=True,
        created_by=ctx.actor,
        updated_by=ctx.actor,
    )
    session.add(row)
    session.flush()
    return view(row)


def connector_in_scope(session: Session, principal: Principal, connector_id: uuid.UUID) -> Connector:
    row = session.get(Connector, connector_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no connector {connector_id}")
    return row


def list_connectors(
    session: Session, company: Company, *, kind: str | None, limit: int, cursor: uuid.UUID | None
) -> tuple[list[c.ConnectorView], uuid.UUID | None]:
    query = select(Connector).where(Connector.company_id == company.id)
    if kind is not None:
        query = query.where(Connector.kind == kind)
    rows, next_cursor = keyset_page(session, query, Connector.id, limit, cursor)
    return [view(row) for row in rows], next_cursor


def shop(session: Session, domain: str) -> Connector | None:
    return session.scalar(
        select(Connector).where(
            Connector.kind == "shopify", Connector.name == domain.lower(), Connector.active.is_(True)
        )
    )


def secrets(row: Connector, key: str | None) -> list[str]:
    """The connector's secret and the one before its last rotation, as far as ``key`` opens them."""
    if key is None:
        return []
    found = [vault.unseal(key, token) for token in (row.secret, row.previous_secret) if token]
    return [secret for secret in found if secret]


# -- the sync log ----------------------------------------------------------------------------------


def message_view(row: SyncMessage) -> c.SyncMessageView:
    return c.SyncMessageView.model_validate(row)


def list_messages(
    session: Session,
    connector: Connector,
    *,
    status: str | None,
    topic: str | None,
    limit: int,
    cursor: uuid.UUID | None,
) -> tuple[list[c.SyncMessageView], uuid.UUID | None]:
    """The connector's messages, oldest first (ids are time-ordered)."""
    query = select(SyncMessage).where(SyncMessage.connector_id == connector.id)
    if status is not None:
        query = query.where(SyncMessage.status == status)
    if topic is not None:
        query = query.where(SyncMessage.topic == topic)
    rows, next_cursor = keyset_page(session, query, SyncMessage.id, limit, cursor)
    return [message_view(row) for row in rows], next_cursor


@dataclass(frozen=True)
class Delivery:
    topic: str
    body: str
    webhook_id: str | None
    event_id: str | None = None
    external_id: str | None = None


def find_delivery(session: Session, connector: Connector, webhook_id: str | None) -> SyncMessage | None:
    if webhook_id is None:
        return None
    return session.scalar(
        select(SyncMessage)
        .where(SyncMessage.connector_id == connector.id, SyncMessage.webhook_id == webhook_id)
        .with_for_update()
    )


def count_duplicate(row: SyncMessage, now: dt.datetime) -> None:
    row.duplicate_deliveries += 1
    row.updated_at = now
    session = Session.object_session(row)
    connector = session.get(Connector, row.connector_id) if session is not None else None
    if session is not None and connector is not None:
        raising.repeated(session, _ctx(connector, now), connector, row)  # the exceptions console


def queued(connector: Connector) -> bool:
    """``"process": "queued"``: webhooks are only checked and stored in the request (the fastest
    answer), and processed by the serving process's sweep thread within ``connector_interval_seconds``;
    by default (``"inline"``) they are processed before the answer."""
    return connector.settings.get("process") == "queued"


def _received(connector: Connector, delivery: Delivery, now: dt.datetime) -> dict[str, Any]:
    return dict(
        id=new_id(),
        company_id=connector.company_id,
        connector_id=connector.id,
        direction="inbound",
        topic=delivery.topic,
        external_id=delivery.external_id,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        status="received",
        attempts=0,
        duplicate_deliveries=0,
        flags=[],
        result={},
        body=delivery.body,
        next_attempt_at=now if queued(connector) else None,
        received_at=now,
        updated_at=now,
    )


def store(session: Session, connector: Connector, delivery: Delivery, now: dt.datetime) -> SyncMessage:
    """Write the message as ``received``, to be processed now (a repeated webhook id raises
    IntegrityError at the flush)."""
    row = SyncMessage(**_received(connector, delivery, now))
    session.add(row)
    session.flush()
    return row


def enqueue(session: Session, connector: Connector, delivery: Delivery, now: dt.datetime) -> uuid.UUID:
    """Write the message as ``received`` and due at once, for the sweep thread (a queued connector):
    one ``INSERT``, no object to track. A repeated webhook id raises IntegrityError."""
    values = _received(connector, delivery, now)
    session.execute(insert(SyncMessage), [values])
    return values["id"]


def _ctx(connector: Connector, now: dt.datetime) -> CommandContext:
    principal = Principal(
        token_id=None,
        name=f"connector:{connector.kind}:{connector.name}",
        role=Role.integration,
        company_id=connector.company_id,
        store_id=None,
    )
    return CommandContext(principal, occurred_at=now)


def _limits(connector: Connector) -> tuple[int, int]:
    return (
        int(connector.settings.get("max_attempts") or MAX_ATTEMPTS),
        int(connector.settings.get("retry_base_seconds") or RETRY_BASE_SECONDS),
    )


def backoff(base_seconds: int, attempts: int) -> dt.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: base x 2^(attempts-1)."""
    return min(dt.timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def process(session: Session, connector: Connector, message: SyncMessage, now: dt.datetime) -> SyncMessage:
    """One attempt at a message, in a savepoint; then the messages it unblocked, once each."""
    woken = _attempt(session, connector, message, now)
    seen = {message.id}
    while woken:
        waiting = list(
            session.scalars(
                select(SyncMessage)
                .where(
                    SyncMessage.connector_id == connector.id,
                    SyncMessage.waits_for.in_(woken),
                    SyncMessage.status.in_(RETRYABLE),
                    SyncMessage.id.not_in(seen),
                )
                .order_by(SyncMessage.id)
                # One being retried by the sweep right now is left to it (PostgreSQL).
                .with_for_update(skip_locked=True)
            )
        )
        woken = []
        for other in waiting:
            seen.add(other.id)
            woken += _attempt(session, connector, other, now)
    return message


def _attempt(session: Session, connector: Connector, message: SyncMessage, now: dt.datetime) -> list[str]:
    handler = HANDLERS.get(connector.kind)
    retried = message.attempts > 0
    had_failed = message.error is not None
    message.attempts += 1
    message.updated_at = now
    try:
        with session.begin_nested():
            if handler is None:
                raise Permanent(f"{connector.kind} connectors take no messages yet", code="unknown-topic")
            outcome = handler(session, _ctx(connector, now), connector, message)
    except Exception as error:  # any failure is the message's: kept, with its error, for a retry
        if not isinstance(error, RetailcoreError):
            log.exception("connector %s: message %s failed", connector.name, message.id)
        max_attempts, base = _limits(connector)
        message.error = _describe(error)
        message.waits_for = error.waits_for if isinstance(error, Waiting) else None
        if isinstance(error, Permanent) or message.attempts >= max_attempts:
            message.status = "dead_lettered"
            message.next_attempt_at = None
        else:
            message.status = "retried" if retried else "failed"
            message.next_attempt_at = now + backoff(base, message.attempts)
        raising.failed(session, _ctx(connector, now), connector, message, error)  # the exceptions console
        return []
    message.status = "processed"
    message.error = None
    message.waits_for = None
    message.next_attempt_at = None
    message.processed_at = now
    message.flags = outcome.flags
    message.result = outcome.result
    message.duplicate_of = outcome.duplicate_of
    raising.landed(session, _ctx(connector, now), connector, message, had_failed=had_failed)  # the console
    return outcome.wakes


def _describe(error: Exception) -> str:
    if isinstance(error, RetailcoreError):
        where = "; ".join(f"{p.field}: {p.message}" for p in error.problems)
        return f"{error.code}: {error.detail}" + (f" ({where})" if where else "")
    return f"{type(error).__name__}: {error}"


def retry_due(
    session: Session,
    now: dt.datetime | None = None,
    *,
    connector_id: uuid.UUID | None = None,
    limit: int = 500,
) -> int:
    """Process every failed message whose next attempt is due; how many were tried."""
    now = now or utcnow()
    query = (
        select(SyncMessage)
        .where(SyncMessage.status.in_(DUE), SyncMessage.next_attempt_at <= now)
        .order_by(SyncMessage.id)
        .limit(limit)
        # Two sweeping processes never retry one message twice (PostgreSQL; SQLite has one writer).
        .with_for_update(skip_locked=True)
    )
    if connector_id is not None:
        query = query.where(SyncMessage.connector_id == connector_id)
    tried = 0
    for message in list(session.scalars(query)):
        if message.status not in DUE:  # processed meanwhile, woken by another message
            continue
        connector = session.get(Connector, message.connector_id)
        assert connector is not None
        process(session, connector, message, now)
        tried += 1
    return tried


def retry_is_due(session: Session, now: dt.datetime) -> bool:
    return (
        session.scalar(
            select(SyncMessage.id)
            .where(SyncMessage.status.in_(DUE), SyncMessage.next_attempt_at <= now)
            .limit(1)
        )
        is not None
    )


def replay(
    session: Session, connector: Connector, body: c.Replay, now: dt.datetime | None = None
) -> c.ReplayView:
    """Process failed or dead-lettered messages again now (after a fix): one, or all of ``status``."""
    now = now or utcnow()
    if body.message_id is not None:
        message = session.get(SyncMessage, body.message_id)
        if message is None or message.connector_id != connector.id:
            raise NotFound(f"no message {body.message_id} on connector {connector.name}")
        if message.status not in ("failed", "retried", "dead_lettered"):
            raise Conflict(
                f"message {message.id} is {message.status}: only failed and dead-lettered ones are replayed",
                code="not-replayable",
                problems=[FieldProblem("message_id", f"is {message.status}")],
            )
        targets = [message]
    else:
        statuses = set(body.status) | ({"retried"} if "failed" in body.status else set())
        targets = list(
            session.scalars(
                select(SyncMessage)
                .where(SyncMessage.connector_id == connector.id, SyncMessage.status.in_(statuses))
                .order_by(SyncMessage.id)
                .limit(500)
            )
        )
    done = []
    for message in targets:
        if message.status in ("processed",):  # landed meanwhile, woken by an earlier one
            done.append(message)
            continue
        if message.status == "dead_lettered":
            message.attempts = 0  # a replay after a fix starts the message's retries again
        process(session, connector, message, now)
        done.append(message)
    session.flush()
    return c.ReplayView(replayed=[message_view(m) for m in done])
