"""The outbox relay: every event of the log, in log order, to a message broker (decision 0027).

The event log is the outbox: a command's events are committed in the command's own transaction, and
the relay publishes them afterwards, at least once, in position order. It keeps its place in
``relay_positions`` (one row per relay name) and moves it only after the broker acknowledged every
event of a batch, so a relay that dies re-sends at most one batch; the broker drops those re-sends by
their message id (the event's id), within its duplicate window.

What it publishes (:func:`message_of`): subject ``<prefix>.<company code>.<context>.<EventType>``, the
event as JSON (the API's event view, plus ``company_code`` and ``context``), headers ``Nats-Msg-Id``
(the event id) and ``Retailcore-Position``.

The context of an event (:func:`context_of`) is the context that owns what the event is about: its
``aggregate_type`` looked up in :data:`AGGREGATE_CONTEXTS`, except for the few events a context records
about another's aggregate (:data:`TYPE_CONTEXTS`, e.g. a company's gift card policy is payments').
Events posted from outside through ``POST /ledger/operations`` name their own type and aggregate, and
any aggregate not in the table, go to ``other``.

Positions become visible out of order on PostgreSQL: two transactions draw positions 7 and 8, and 8
may commit first (or 7 roll back and never appear). Reading "after 6" would then see 8 and, once past
it, never 7. The relay therefore stops at a hole in the positions (:class:`Holes`) until it is settled:
filled, or proven empty because every transaction that was writing when the hole was first seen has
ended (``pg_stat_activity``'s transaction ids, this database's only), plus a grace second for a
transaction between drawing its position and getting its transaction id. SQLite has one writer at a
time and hands out positions in commit order, so a hole there is a rolled-back position and is
skipped at once.

The broker itself is behind :class:`Publisher` (``retailcore.adapters.jetstream`` for NATS JetStream);
this module only reads and writes the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    String,
    Text,
    Uuid,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.eventlog.tables import Event, RelayPosition

AGGREGATE_CONTEXTS: dict[str, str] = {
    # masterdata
    "Company": "masterdata",
    "Store": "masterdata",
    "Location": "masterdata",
    "Product": "masterdata",
    "Customer": "masterdata",
    "PaymentMethod": "masterdata",
    "TaxRule": "masterdata",
    "Supplier": "masterdata",
    # accounting
    "Account": "accounting",
    "JournalEntry": "accounting",
    "PostingRule": "accounting",
    "FiscalYear": "accounting",
    "Ledger": "accounting",
    "ExchangeRate": "accounting",
    "Revaluation": "accounting",
    "Reconciliation": "accounting",
    # inventory
    "StockOperation": "inventory",
    "Availability": "inventory",
    "Reservation": "inventory",
    "ChannelSafetyStock": "inventory",
    "StockException": "inventory",  # before migration 0023; now "Exception" (monitoring)
    "Transfer": "inventory",
    "CountSheet": "inventory",
    "PurchaseOrder": "inventory",
    "PurchasingSettings": "inventory",
    "VendorBill": "inventory",
    # the others
    "Exception": "monitoring",
    "Order": "orders",
    "Invoice": "orders",
    "GiftCard": "payments",
    "StoreCredit": "payments",
    "SettlementImported": "payments",
    "PriceList": "pricing",
    "PosTerminal": "pos",
    "PosSession": "pos",
    "Return": "returns",
    "api_token": "access",
}
"""The context that owns each kind of aggregate (the package under ``src/retailcore`` recording it)."""

TYPE_CONTEXTS: dict[str, str] = {
    "GiftCardPolicyChanged": "payments",  # about a Company, recorded by payments
    "GoodsReceived": "inventory",
    "GoodsIssued": "inventory",
    "StockCounted": "inventory",
    "StandardCostChanged": "inventory",  # about a Product, recorded by inventory's costing
    "ProductAccountsChanged": "inventory",
    "CostingSettingsChanged": "inventory",
    "TransferShipped": "inventory",
    "TransferReceived": "inventory",
}
"""Events recorded by one context about another's aggregate: the recording context wins."""

OTHER_CONTEXT = "other"


def context_of(event_type: str, aggregate_type: str) -> str:
    """The subject's context token for an event (see the module's docstring)."""
    return TYPE_CONTEXTS.get(event_type) or AGGREGATE_CONTEXTS.get(aggregate_type) or OTHER_CONTEXT


_NOT_IN_A_TOKEN = str.maketrans({".": "_", "*": "_", ">": "_", " ": "_", "\t": "_"})


def subject_token(text: str) -> str:
    """``text`` as one subject token: a company code may hold dots (``A.B`` -> ``A_B``)."""
    return text.translate(_NOT_IN_A_TOKEN) or "_"


def subject_of(prefix: str, company_code: str, context: str, event_type: str) -> str:
    return f"{prefix}.{subject_token(company_code)}.{context}.{subject_token(event_type)}"


@dataclass(frozen=True, slots=True)
class Message:
    """One event as it goes to the broker."""

    position: int
    id: str
    """The event's id, as text."""
    subject: str
    data: bytes
    headers: dict[str, str]
    recorded_at: dt.datetime


_companies = table("companies", column("id", Uuid), column("code", String))
_events = Event.__table__.c
_UUIDS = ("id", "company_id", "store_id", "aggregate_id", "correlation_id")


def _uuid_text(name: str, dialect: str) -> Any:
    """A UUID column as its canonical text, made by the database: converting five UUIDs per event to
    Python objects and back to text was the relay's largest cost. SQLite stores them as 32 hex digits."""
    if dialect == "postgresql":
        return type_coerce(cast(_events[name], Text), String).label(name)
    dashed = "||'-'||".join(
        f"substr(events.{name}, {start}, {length})"
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    )
    return literal_column(dashed, String).label(name)


@lru_cache(maxsize=4)
def _columns(dialect: str) -> tuple[Any, ...]:
    """The columns :func:`message_of` reads, in its order (core columns: no ORM loading per row)."""
    uuids = {name: _uuid_text(name, dialect) for name in _UUIDS}
    return (
        _events.position,
        uuids["id"],
        _events.type,
        uuids["company_id"],
        _companies.c.code,
        uuids["store_id"],
        _events.aggregate_type,
        uuids["aggregate_id"],
        _events.source,
        _events.idempotency_key,
        uuids["correlation_id"],
        _events.occurred_at,
        _events.recorded_at,
        _events.actor,
        type_coerce(cast(_events.payload, Text), String),  # the stored JSON text, spliced in as it is
    )


_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # C: a JSON string


def _nullable(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def message_of(row: Sequence[Any], prefix: str) -> Message:
    """The message of one row of :func:`_columns`: the event as JSON, written field by field (ids and
    instants are plain ASCII; every text is quoted by the ``json`` module's C encoder), with the
    stored payload spliced in as it is, never parsed."""
    position, event_id, type_, company_id, code, store_id, aggregate_type, aggregate_id = row[:8]
    source, key, correlation_id, occurred_at, recorded_at, actor, payload = row[8:]
    context = context_of(type_, aggregate_type)
    data = (
        f'{{"position":{position},"id":"{event_id}","type":{_quote(type_)},"context":"{context}",'
        f'"company_id":"{company_id}","company_code":{_quote(code)},"store_id":{_nullable(store_id)},'
        f'"aggregate_type":{_quote(aggregate_type)},"aggregate_id":"{aggregate_id}",'
        f'"source":{_quote(source)},"idempotency_key":{_nullable(key)},'
        f'"correlation_id":"{correlation_id}","occurred_at":"{occurred_at.isoformat()}",'
        f'"recorded_at":"{recorded_at.isoformat()}","actor":{_quote(actor)},"payload":{payload}}}'
    )
    return Message(
        position=position,
        id=event_id,
        subject=subject_of(prefix, code, context, type_),
        data=data.encode(),
        headers={"Nats-Msg-Id": event_id, "Retailcore-Position": str(position)},
        recorded_at=recorded_at,
    )


def read_after(session: Session, after: int, limit: int) -> list[Sequence[Any]]:
    """Up to ``limit`` events after a position, in order, as rows of :func:`_columns`."""
    connection = session.connection()
    query = (
        select(*_columns(connection.dialect.name))
        .select_from(Event.__table__.join(_companies, _companies.c.id == _events.company_id))
        .where(_events.position > after)
        .order_by(_events.position)
        .limit(limit)
    )
    return list(connection.execute(query).all())


_WRITERS = text(
    "SELECT backend_xid::text FROM pg_stat_activity"
    " WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)
"""The transactions of this database that hold a transaction id (have written), but the reader's own.
Sessions of the same role are all visible, and the product writes the log through one role."""


@dataclass
class _Hole:
    seen_at: float
    writers: frozenset[str]
    settled: bool = False


class Holes:
    """Holes in the positions read, and when each may be stepped over (see the module's docstring).

    A hole is settled in two reads: one that finds every transaction of the database that was writing
    when the hole was first seen has ended (and the grace period passed), then a fresh read that still
    does not find it filled. Only this database's writers count: a long transaction in another
    database of the same server does not hold the relay back."""

    def __init__(self, grace_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._grace = grace_seconds
        self._clock = clock
        self._holes: dict[int, _Hole] = {}

    def may_skip(self, session: Session, first_missing: int) -> bool:
        """May the read step over the hole starting at ``first_missing``? Call after each read."""
        if session.get_bind().dialect.name != "postgresql":
            return True
        hole = self._holes.get(first_missing)
        if hole is None:
            writers = frozenset(session.scalars(_WRITERS))
            self._holes[first_missing] = _Hole(self._clock(), writers)
            return False
        if hole.settled:
            del self._holes[first_missing]
            return True
        if self._clock() - hole.seen_at >= self._grace:
            hole.settled = hole.writers.isdisjoint(session.scalars(_WRITERS))
        return False

    def forget_below(self, position: int) -> None:
        """Drop the holes a moved position left behind (filled ones)."""
        for start in [start for start in self._holes if start <= position]:
            del self._holes[start]

    def __len__(self) -> int:
        return len(self._holes)


def contiguous(session: Session, rows: list[Sequence[Any]], after: int, holes: Holes) -> list[Sequence[Any]]:
    """The rows up to the first hole that may not be stepped over yet."""
    expected = after + 1
    kept = []
    for row in rows:
        position = row[0]
        if position != expected and not holes.may_skip(session, expected):
            break
        kept.append(row)
        expected = position + 1
    return kept


# -- the relay's position -------------------------------------------------------------------------


def load_position(factory: sessionmaker[Session], name: str) -> int:
    """The relay's committed position, its row created at 0 on first use."""
    with factory() as session:
        position = session.scalar(select(RelayPosition.position).where(RelayPosition.name == name))
    if position is not None:
        return position
    try:
        with transaction(factory) as session:
            session.execute(
                insert(RelayPosition).values(
                    name=name, position=0, published=0, duplicates=0, updated_at=utcnow()
                )
            )
    except IntegrityError:  # another relay of that name made it meanwhile
        pass
    return load_position(factory, name)


def commit_position(
    factory: sessionmaker[Session], name: str, position: int, published: int, duplicates: int
) -> int:
    """Move the relay's position forward (never back: a second relay of the same name may be ahead)
    and return the position now stored."""
    with transaction(factory) as session:
        session.execute(
            update(RelayPosition)
            .where(RelayPosition.name == name, RelayPosition.position < position)
            .values(
                position=position,
                published=RelayPosition.published + published,
                duplicates=RelayPosition.duplicates + duplicates,
                updated_at=utcnow(),
            )
        )
        stored = session.scalar(select(RelayPosition.position).where(RelayPosition.name == name))
    return int(stored or 0)


@dataclass(frozen=True)
class RelayLag:
    """How far behind the log a relay is.

    ``behind``: events after its position; ``head``: the log's last position; ``oldest_unpublished_at``
    and ``age_seconds``: when the first of those was recorded and how long ago (None when caught up);
    ``known``: False for a relay name that never ran (position 0, nothing stored)."""

    name: str
    position: int
    head: int
    behind: int
    oldest_unpublished_at: dt.datetime | None
    age_seconds: float | None  # float-ok: a duration, not money
    published: int
    duplicates: int
    updated_at: dt.datetime | None
    known: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "head": self.head,
            "behind": self.behind,
            "oldest_unpublished_at": self.oldest_unpublished_at.isoformat()
            if self.oldest_unpublished_at
            else None,
            "age_seconds": self.age_seconds,
            "published": self.published,
            "duplicates": self.duplicates,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "known": self.known,
        }


def relay_lag(session: Session, name: str, now: dt.datetime | None = None) -> RelayLag:
    row = session.get(RelayPosition, name)
    position = row.position if row else 0
    head = session.scalar(select(func.max(Event.position))) or 0
    behind = session.scalar(select(func.count()).select_from(Event).where(Event.position > position)) or 0
    oldest = session.scalar(
        select(Event.recorded_at).where(Event.position > position).order_by(Event.position).limit(1)
    )
    age = None
    if oldest is not None:
        age = max(0.0, ((now or utcnow()) - oldest).total_seconds())
    return RelayLag(
        name=name,
        position=position,
        head=head,
        behind=behind,
        oldest_unpublished_at=oldest,
        age_seconds=age,
        published=row.published if row else 0,
        duplicates=row.duplicates if row else 0,
        updated_at=row.updated_at if row else None,
        known=row is not None,
    )


# -- the relay --------------------------------------------------------------------------------------


class Publisher(Protocol):
    """Where a relay publishes: the broker acknowledges every message of a batch, or it raises."""

    async def publish(self, messages: Sequence[Message]) -> int:
        """Publish the messages in order and wait for every acknowledgement; return how many the broker
        reported as duplicates. Any message not acknowledged raises, and nothing is committed."""
        ...


@dataclass(frozen=True)
class RelayConfig:
    name: str = "default"
    subject_prefix: str = "retailcore"
    batch_size: int = 2000
    poll_seconds: float = 0.5  # float-ok: a duration
    hole_grace_seconds: float = 1.0  # float-ok: a duration


@dataclass
class RelayProgress:
    """What a relay did since it started."""

    position: int = 0
    published: int = 0
    duplicates: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)


class Relay:
    """Reads batches after its position, publishes them, commits the position after their acks."""

    def __init__(
        self, factory: sessionmaker[Session], publisher: Publisher, config: RelayConfig | None = None
    ) -> None:
        self.factory = factory
        self.publisher = publisher
        self.config = config or RelayConfig()
        self.holes = Holes(self.config.hole_grace_seconds)
        self.progress = RelayProgress(position=load_position(factory, self.config.name))
        self._next: list[Message] | None = None

    @property
    def position(self) -> int:
        return self.progress.position

    def next_batch(self, after: int | None = None) -> list[Message]:
        """The next events to publish: after the position (or ``after``), up to the first unsettled
        hole."""
        after = self.progress.position if after is None else after
        with self.factory() as session:
            rows = read_after(session, after, self.config.batch_size)
            rows = contiguous(session, rows, after, self.holes)
        prefix = self.config.subject_prefix
        return [message_of(row, prefix) for row in rows]

    async def step(self) -> int:
        """Publish one batch and commit its position; the number of events published (0: none due).

        The next batch is read on a thread while this one waits for its acknowledgements (the driver
        releases the GIL while it reads), and kept for the next step; a failed publish drops it."""
        messages = self._next if self._next is not None else self.next_batch()
        self._next = None
        if not messages:
            return 0
        last = messages[-1].position
        prefetch = asyncio.create_task(asyncio.to_thread(self.next_batch, last))
        try:
            duplicates = await self.publisher.publish(messages)
        except BaseException:
            with contextlib.suppress(Exception):  # let the read end: it may be using the holes
                await prefetch
            raise
        stored = commit_position(self.factory, self.config.name, last, len(messages), duplicates)
        self.progress.position = max(last, stored)
        self.progress.published += len(messages)
        self.progress.duplicates += duplicates
        self.progress.batches += 1
        following = await prefetch
        self.holes.forget_below(self.progress.position)  # after the read that may be using them
        # Another relay of the same name moved further meanwhile: read again from there.
        self._next = following if stored == last else None
        return len(messages)

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        once: bool = False,
        on_batch: Callable[[RelayProgress], object] | None = None,
    ) -> RelayProgress:
        """Publish until ``stop`` is set; with ``once``, until nothing is due and no hole is waiting to be
        filled or settled (on PostgreSQL, a hole left by a writer still at work keeps it waiting)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            published = await self.step()
            if published and on_batch is not None:
                on_batch(self.progress)
            if published:
                continue
            if once and not self.holes:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.poll_seconds)
        return self.progress
