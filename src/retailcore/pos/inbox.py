"""The POS inbox: a till's sales recorded once at the edge, posted by a drain (decision 0084).

A connected till that sends ``Prefer: respond-async`` with a sales batch does not wait for the batch's
consequences (orders, stock moves, totals, events). Rules of the flow:

* **Accept** (:func:`accept`): the request has passed its shape (pydantic) and its permission; the
  session must be one the caller sees. One short transaction writes one ``pos_inbox`` row: who sent it,
  the body exactly as received, its client uuids and Idempotency-Key. That row is the acknowledgement:
  the sales are durable and will be posted, within milliseconds when a drainer runs.
* **Once**: a request's Idempotency-Key (per caller) and its set of client uuids (per company) each
  enter at most once; a repeat finds the first row and gets the same answer. The same key with another
  body is refused (``idempotency-key-reused``), as on the synchronous path. A sale sent both ways is
  still posted once: ``ingest`` skips the client uuids it already took.
* **Drain** (:func:`drain`): pending rows of one till session and one caller are merged into one batch
  (up to :data:`~retailcore.pos.commands.MAX_SALES_PER_BATCH` sales) and taken by
  :func:`~retailcore.pos.services.ingest` in one transaction; each row keeps its own result. Rows are
  claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that drainers of several processes never
  take a row twice; SQLite has one writer.
* **A refusal sinks only its own request**, as in group commit (decision 0078, whose
  :func:`~retailcore.pos.group_commit.owner_of` names the request a refusal belongs to): that row is
  marked ``refused`` with the problem the synchronous request would have answered and raised once in
  the exceptions console (``sale_refused``, keyed by the row), and the batch runs again without it. A
  failure that names no request runs each row alone. A database failure leaves the rows pending for the
  next drain.
* **Close drains first**: a session's close drains its pending rows before it checks the drawer
  (:func:`drain` with ``session_id`` and ``wait``), so no sale acknowledged before the close is missed;
  one accepted while the close runs goes to the terminal's rescue session, as every late sale does.

A batch selling gift cards is not taken here: its answer carries the cards' codes, which only the
synchronous path gives (RFC 7240 lets a server ignore a preference).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.model import Principal, Role, system_principal
from retailcore.adapters.db import (
    TRANSIENT_ATTEMPTS,
    begin_writing,
    is_transient,
    pause_before_retry,
    transaction,
)
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import Conflict, IdempotencyKeyReused, NotFound, RetailcoreError, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext
from retailcore.monitoring import services as monitoring
from retailcore.orders.tables import OrderRow
from retailcore.pos import commands as c
from retailcore.pos import services as svc
from retailcore.pos.group_commit import owner_of, share_of
from retailcore.pos.tables import PosInbox, PosSession

log = logging.getLogger("retailcore.pos.inbox")

Describe = Callable[[BaseException, uuid.UUID], dict[str, Any]]
"""The problem document (RFC 9457, as a dict) a refusal of a batch sent to the session would have
answered over HTTP: built by the edge (:mod:`retailcore.entrypoints.inbox`), stored on the row."""

MAX_ROWS_A_DRAIN = c.MAX_SALES_PER_BATCH
"""Rows claimed at once for one session (each holds at least one sale)."""


# -- the edge --------------------------------------------------------------------------------------


def wants_async(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (RFC 7240: comma-separated preferences, each ``token[=value]`` with
    optional parameters) asks for ``respond-async``."""
    if not prefer:
        return False
    names = (item.split(";", 1)[0].split("=", 1)[0].strip().lower() for item in prefer.split(","))
    return "respond-async" in names


def takes(sales: Sequence[c.SaleIn]) -> bool:
    """Whether a batch of ``sales`` may be accepted into the inbox: not when it sells gift cards, whose
    codes only the synchronous answer carries."""
    return not any(sale.gift_cards for sale in sales)


class InboxSale(BaseModel):
    client_uuid: uuid.UUID
    order_id: uuid.UUID | None = None
    number: str | None = None
    """The sale's order and its receipt number (``T1-0007-00042``); none for a refund (a return)."""


class InboxView(BaseModel):
    """An accepted request, ``GET /pos/inbox/{id}``: pending until a drain posts it, then ingested (with
    what the synchronous request would have answered, and the sales' orders) or refused (with the
    problem it would have answered)."""

    id: uuid.UUID
    session_id: uuid.UUID
    status: str
    received_at: dt.datetime
    ingested_at: dt.datetime | None = None
    refused_at: dt.datetime | None = None
    client_uuids: list[uuid.UUID]
    result: c.BatchResult | None = None
    sales: list[InboxSale] = Field(default_factory=list)
    problem: dict[str, Any] | None = None


def _view(row: PosInbox, sales: list[InboxSale] | None = None) -> InboxView:
    return InboxView(
        id=row.id,
        session_id=row.session_id,
        status=row.status,
        received_at=row.received_at,
        ingested_at=row.ingested_at,
        refused_at=row.refused_at,
        client_uuids=[uuid.UUID(value) for value in row.client_uuids],
        result=c.BatchResult.model_validate(row.result) if row.result else None,
        sales=sales or [],
        problem=row.problem,
    )


_SCOPES: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = {}
"""A session's company and store, which never change: an accepted request reads no session row."""


def _scope(session: Session, principal: Principal, session_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    found = _SCOPES.get(session_id)
    if found is None:
        row = session.execute(
            select(PosSession.company_id, PosSession.store_id).where(PosSession.id == session_id)
        ).first()
        if row is not None:
            if len(_SCOPES) > 10_000:
                _SCOPES.clear()
            found = _SCOPES[session_id] = (row.company_id, row.store_id)
    if found is None or not principal.sees_company(found[0]) or not principal.sees_store(found[1]):
        raise NotFound(f"no POS session {session_id}")
    return found


def _uuid_key(sales: Sequence[c.SaleIn]) -> str:
    if len(sales) == 1:
        return str(sales[0].client_uuid)
    digest = hashlib.sha256(",".join(sorted(str(sale.client_uuid) for sale in sales)).encode())
    return "sha256:" + digest.hexdigest()


_INSERTS: dict[str, Any] = {}
_COLUMNS = (
    "id", "company_id", "store_id", "session_id", "source", "caller", "idempotency_key", "fingerprint",
    "uuid_key", "client_uuids", "sale_count", "line_count", "batch", "status", "received_at",
)  # fmt: skip


def _insert(session: Session) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` of one row, built once per dialect: the
    values are bound at execution, so a request pays no statement construction (17 coercions)."""
    name = session.get_bind().dialect.name
    statement = _INSERTS.get(name)
    if statement is None:
        dialect = postgresql if name == "postgresql" else sqlite
        table = PosInbox.__table__
        statement = _INSERTS[name] = (
            dialect.insert(table)
            .values({column: bindparam(column, type_=table.c[column].type) for column in _COLUMNS})
            .on_conflict_do_nothing()
            .returning(table.c.id)
        )
    return statement


def _caller(principal: Principal) -> dict[str, Any]:
    return {
        "token_id": str(principal.token_id) if principal.token_id else None,
        "name": principal.name,
        "role": str(principal.role),
        "company_id": str(principal.company_id) if principal.company_id else None,
        "store_id": str(principal.store_id) if principal.store_id else None,
    }


def _principal(caller: dict[str, Any]) -> Principal:
    def ident(name: str) -> uuid.UUID | None:
        return uuid.UUID(caller[name]) if caller.get(name) else None

    return Principal(
        token_id=ident("token_id"),
        name=caller["name"],
        role=Role(caller["role"]),
        company_id=ident("company_id"),
        store_id=ident("store_id"),
    )


def accept(
    session: Session,
    *,
    principal: Principal,
    session_id: uuid.UUID,
    sales: Sequence[c.SaleIn],
    body: str,
    idempotency_key: str | None,
    fingerprint: str,
) -> tuple[InboxView, bool]:
    """Record the batch ``body`` (its ``sales`` validated) for ``session_id``: the row's view, and
    whether it was there already (a repeat: same key, or same client uuids)."""
    company_id, store_id = _scope(session, principal, session_id)
    uuid_key = _uuid_key(sales)
    received_at = utcnow()
    client_uuids = [str(sale.client_uuid) for sale in sales]
    row_id = new_id()
    inserted = session.execute(
        _insert(session),
        {
            "id": row_id,
            "company_id": company_id,
            "store_id": store_id,
            "session_id": session_id,
            "source": principal.source,
            "caller": _caller(principal),
            "idempotency_key": idempotency_key,
            "fingerprint": fingerprint,
            "uuid_key": uuid_key,
            "client_uuids": client_uuids,
            "sale_count": len(sales),
            "line_count": sum(len(sale.lines) for sale in sales),
            "batch": body,
            "status": "pending",
            "received_at": received_at,
        },
    ).scalar()
    if inserted is not None:
        receipt = InboxView(
            id=row_id,
            session_id=session_id,
            status="pending",
            received_at=received_at,
            client_uuids=[sale.client_uuid for sale in sales],
        )
        return receipt, False
    existing = None
    if idempotency_key:
        existing = session.scalar(
            select(PosInbox).where(
                PosInbox.source == principal.source, PosInbox.idempotency_key == idempotency_key
            )
        )
        if existing is not None and existing.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key '{idempotency_key}' was already used for a different request"
            )
    if existing is None:
        existing = session.scalar(
            select(PosInbox).where(PosInbox.company_id == company_id, PosInbox.uuid_key == uuid_key)
        )
    if existing is None:  # pragma: no cover - a conflict is on one of the two keys
        raise Conflict("the batch conflicts with one already accepted", code="inbox-conflict")
    return _view(existing), True


def get(session: Session, principal: Principal, inbox_id: uuid.UUID) -> InboxView:
    """An accepted request as its caller's scope may see it, with its sales' orders once ingested."""
    row = session.get(PosInbox, inbox_id)
    if row is None or not principal.sees_company(row.company_id) or not principal.sees_store(row.store_id):
        raise NotFound(f"no accepted POS batch {inbox_id}")
    sales: list[InboxSale] = []
    if row.status == "ingested":
        wanted = [uuid.UUID(value) for value in row.client_uuids]
        found = {
            client_uuid: (order_id, number)
            for client_uuid, order_id, number in session.execute(
                select(OrderRow.client_uuid, OrderRow.id, OrderRow.number).where(
                    OrderRow.company_id == row.company_id, OrderRow.client_uuid.in_(wanted)
                )
            )
        }
        sales = [
            InboxSale(client_uuid=value, order_id=order_id, number=number)
            for value in wanted
            for order_id, number in [found.get(value, (None, None))]
        ]
    return _view(row, sales)


# -- the drain -------------------------------------------------------------------------------------


@dataclass
class Drained:
    """What a drain did: requests (rows) ingested and the sales they added, requests refused, and the
    transactions that took them."""

    ingested: int = 0
    sales: int = 0
    refused: int = 0
    batches: int = 0
    refusals: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """(row id, the problem's detail) of each refused request."""

    def add(self, other: Drained) -> None:
        self.ingested += other.ingested
        self.sales += other.sales
        self.refused += other.refused
        self.batches += other.batches
        self.refusals += other.refusals


@dataclass
class _Part:
    """One claimed row within a merged batch: its sales start at ``offset``."""

    row: Any
    sales: list[c.SaleIn]
    offset: int = 0


def _parse(batch: str) -> list[c.SaleIn]:
    # As the API reads a body: JSON numbers straight into Decimal, then the same model.
    return c.SalesBatch.model_validate(json.loads(batch, parse_float=Decimal)).sales


def pending_groups(
    session: Session, session_id: uuid.UUID | None = None, limit: int = 100
) -> list[tuple[uuid.UUID, str]]:
    """(session, caller) pairs that have pending rows, oldest sessions first."""
    query = select(PosInbox.session_id, PosInbox.source).where(PosInbox.status == "pending")
    if session_id is not None:
        query = query.where(PosInbox.session_id == session_id)
    return [(row.session_id, row.source) for row in session.execute(query.distinct().limit(limit))]


def drain(
    factory: sessionmaker[Session],
    describe: Describe,
    *,
    session_id: uuid.UUID | None = None,
    wait: bool = False,
    until_empty: bool = False,
) -> Drained:
    """Post the pending rows (of ``session_id`` only, when given): one merged batch per session and
    caller. ``wait``: wait for rows another drainer holds instead of skipping them (a close must see
    them done). ``until_empty``: again until nothing is pending (the CLI, a close), otherwise one pass
    (the drainer thread comes back)."""
    done = Drained()
    while True:
        with factory() as session:
            groups = pending_groups(session, session_id)
        before = done.ingested + done.refused
        for group in groups:
            done.add(_drain_group(factory, describe, group, wait=wait))
        if not until_empty or not groups or done.ingested + done.refused == before:
            return done


def _drain_group(
    factory: sessionmaker[Session],
    describe: Describe,
    group: tuple[uuid.UUID, str],
    *,
    wait: bool,
    only: uuid.UUID | None = None,
) -> Drained:
    """Drain one session's rows of one caller; a refusal of one row refuses it alone and the rest runs
    again (decision 0078's rule), a failure naming no row runs each row alone."""
    done = Drained()
    attempt = 1
    while True:
        tried: list[_Part] = []
        try:
            done.add(_once(factory, describe, group, tried, wait=wait, only=only))
            return done
        except RetailcoreError as refused:
            owner = owner_of(tried, refused) if len(tried) > 1 else (tried[0] if tried else None)
            if owner is None:
                return _each_alone(factory, describe, group, tried, done, wait=wait)
            done.add(_refuse(factory, describe, owner, refused))
            if only is not None:
                return done
        except DBAPIError as failed:
            retry = isinstance(failed, IntegrityError) or is_transient(failed)
            if retry and attempt < TRANSIENT_ATTEMPTS:
                # A lock cycle PostgreSQL broke, or a sale the synchronous path took meanwhile: the
                # transaction was rolled back whole, the same rows again (they are then duplicates).
                attempt += 1
                pause_before_retry(attempt)
                continue
            if len(tried) > 1:
                return _each_alone(factory, describe, group, tried, done, wait=wait)
            raise  # the rows stay pending: the next drain tries again
        except Exception as failed:
            # Not a refusal of the input: a fault of ours. Alone, the row is refused (it would fail
            # every drain) and raised in the console for a person to look at.
            if len(tried) > 1:
                return _each_alone(factory, describe, group, tried, done, wait=wait)
            if not tried:
                raise
            log.exception("POS inbox row %s failed", tried[0].row.id)
            done.add(_refuse(factory, describe, tried[0], failed))
            return done


def _each_alone(
    factory: sessionmaker[Session],
    describe: Describe,
    group: tuple[uuid.UUID, str],
    tried: list[_Part],
    done: Drained,
    *,
    wait: bool,
) -> Drained:
    for part in tried:
        try:
            done.add(_drain_group(factory, describe, group, wait=wait, only=part.row.id))
        except Exception:  # one row's database failure must not stop the others
            log.exception("POS inbox row %s failed; it stays pending", part.row.id)
    return done


def _claim(
    session: Session, group: tuple[uuid.UUID, str], *, wait: bool, only: uuid.UUID | None
) -> list[Any]:
    session_id, source = group
    query = (
        select(
            PosInbox.id,
            PosInbox.company_id,
            PosInbox.store_id,
            PosInbox.session_id,
            PosInbox.caller,
            PosInbox.batch,
            PosInbox.sale_count,
            PosInbox.line_count,
            PosInbox.received_at,
            PosInbox.client_uuids,
        )
        .where(PosInbox.status == "pending", PosInbox.session_id == session_id, PosInbox.source == source)
        .order_by(PosInbox.id)
        .limit(1 if only is not None else MAX_ROWS_A_DRAIN)
    )
    if only is not None:
        query = query.where(PosInbox.id == only)
    if session.get_bind().dialect.name == "postgresql":
        # Rows another drainer holds are its own: skipped (or, for a close, waited for: then re-read,
        # no longer pending). SQLite's one writer needs no row locks.
        query = query.with_for_update(skip_locked=not wait)
    rows, sales, lines = [], 0, 0
    for row in session.execute(query):
        more_sales, more_lines = sales + row.sale_count, lines + row.line_count
        if rows and (more_sales > c.MAX_SALES_PER_BATCH or more_lines > c.MAX_LINES_PER_BATCH):
            break
        rows.append(row)
        sales, lines = more_sales, more_lines
    return rows


def _once(
    factory: sessionmaker[Session],
    describe: Describe,
    group: tuple[uuid.UUID, str],
    tried: list[_Part],
    *,
    wait: bool,
    only: uuid.UUID | None,
) -> Drained:
    done = Drained()
    with factory() as session, session.begin():
        begin_writing(session)
        offset = 0
        for row in _claim(session, group, wait=wait, only=only):
            try:
                sales = _parse(row.batch)
            except ValidationError as invalid:  # accepted by another release of the model: refused
                count = invalid.error_count()
                refusal = ValidationFailed(f"the stored batch no longer validates: {count} errors")
                done.add(_refuse_in(session, describe, _Part(row, []), refusal))
                continue
            tried.append(_Part(row, sales, offset))
            offset += len(sales)
        if not tried:
            return done
        principal = _principal(tried[0].row.caller)
        joined = [sale for part in tried for sale in part.sales]
        # No Idempotency-Key on the batch's event: the row holds it (unique per caller), and the same
        # key may already be on an event of the synchronous path, where the sales are duplicates.
        ingested = svc.ingest(session, CommandContext(principal), group[0], joined)
        now = utcnow()
        session.execute(
            update(PosInbox),
            [
                {
                    "id": part.row.id,
                    "status": "ingested",
                    "ingested_at": now,
                    "result": share_of(ingested, part, group[0]).model_dump(mode="json"),
                }
                for part in tried
            ],
        )
    done.ingested += len(tried)
    done.sales += len(ingested.taken)
    done.batches += 1
    return done


def _refuse(factory: sessionmaker[Session], describe: Describe, part: _Part, error: BaseException) -> Drained:
    with transaction(factory) as session:
        return _refuse_in(session, describe, part, error)


def _refuse_in(session: Session, describe: Describe, part: _Part, error: BaseException) -> Drained:
    """Mark ``part``'s row refused with the problem of ``error`` and raise it in the console, once (a
    row another drainer settled meanwhile is left as it is)."""
    row = part.row
    problem = describe(error, row.session_id)
    now = utcnow()
    changed = session.execute(
        update(PosInbox)
        .where(PosInbox.id == row.id, PosInbox.status == "pending")
        .values(status="refused", refused_at=now, problem=problem)
    ).rowcount
    if changed != 1:
        return Drained()
    currency = session.scalar(select(PosSession.currency).where(PosSession.id == row.session_id))
    at_risk = sum((abs(payment.amount) for sale in part.sales for payment in sale.payments), Decimal(0))
    detail = str(problem.get("detail") or error)
    monitoring.record(
        session,
        CommandContext(system_principal("pos-inbox")),
        row.company_id,
        type="sale_refused",
        key=f"pos-inbox:{row.id}",
        message=f"{row.sale_count} till sale(s) accepted at {row.received_at:%Y-%m-%d %H:%M:%S} UTC were"
        f" refused when posted: {detail}",
        severity="high",
        amount_at_risk=at_risk,
        currency=currency,
        store_id=row.store_id,
        details={
            "inbox_id": str(row.id),
            "session_id": str(row.session_id),
            "client_uuids": list(row.client_uuids),
            "problem": problem,
        },
    )
    return Drained(refused=1, refusals=[(row.id, detail)])
