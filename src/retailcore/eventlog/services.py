"""Appending to the event log and reading it back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import utcnow
from retailcore.core.ids import new_id
from retailcore.eventlog.tables import Event


@dataclass
class CommandContext:
    """Who asks, through which edge, with which idempotency key.

    Every event a command records carries the same ``correlation_id``; only the first carries the
    idempotency key, since the key identifies the command, not each of its consequences.
    """

    principal: Principal
    idempotency_key: str | None = None
    occurred_at: dt.datetime | None = None
    correlation_id: uuid.UUID = field(default_factory=new_id)
    _key_used: bool = False

    @property
    def actor(self) -> str:
        return self.principal.actor

    @property
    def source(self) -> str:
        return self.principal.source


def to_json(value: Any) -> Any:
    """JSON-safe copy of a payload: Decimals become strings (never floats), ids and times ISO text."""
    # The exact classes first (payloads of hundreds of items: a POS batch's stock operation and its
    # availability events), then their subclasses and the rest.
    kind = value.__class__
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {key if key.__class__ is str else str(key): to_json(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [to_json(item) for item in value]
    if kind is Decimal or kind is uuid.UUID:
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _row(
    ctx: CommandContext,
    type: str,
    company_id: uuid.UUID,
    aggregate_type: str,
    aggregate_id: uuid.UUID,
    payload: dict[str, Any],
    store_id: uuid.UUID | None,
    now: dt.datetime,
    event_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """An event's columns (but its idempotency key, which only a command's first event carries)."""
    return {
        "id": event_id or new_id(),
        "type": type,
        "company_id": company_id,
        "store_id": store_id,
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "payload": to_json(payload),
        "source": ctx.source,
        "correlation_id": ctx.correlation_id,
        "occurred_at": ctx.occurred_at or now,
        "recorded_at": now,
        "actor": ctx.actor,
    }


def record(
    session: Session,
    ctx: CommandContext,
    *,
    type: str,
    company_id: uuid.UUID,
    aggregate_type: str,
    aggregate_id: uuid.UUID,
    payload: dict[str, Any],
    store_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> Event:
    """Append an event and run its subscribers in this transaction. ``event_id`` lets a caller that
    writes rows pointing at the event (stock moves) mint the id first."""
    key = None
    if ctx.idempotency_key and not ctx._key_used:
        key, ctx._key_used = ctx.idempotency_key, True
    row = _row(ctx, type, company_id, aggregate_type, aggregate_id, payload, store_id, utcnow(), event_id)
    event = Event(**row, idempotency_key=key)
    session.add(event)
    subscribers = _subscribers.get(type, ())
    if subscribers:
        event.__dict__[_UNCLAIMED] = True
        try:
            for subscriber in subscribers:
                subscriber(session, ctx, event)
        finally:
            event.__dict__.pop(_UNCLAIMED, None)
    return event


_UNCLAIMED = "_retailcore_unclaimed"
"""Marks the event :func:`record` is handing to its subscribers until one claims it (:func:`claim_new`)."""


def claim_new(event: Event) -> bool:
    """True for the first caller that asks while :func:`record` runs the subscribers of the event it has
    just appended; False after, and for any event read back or delivered again.

    Nothing can yet refer to such an event: its id was made for it (or by the caller just before, to
    point its own rows at it) and no other transaction can see it. A subscriber that writes rows keyed
    by the event id (the ledger's one entry per event) may skip looking for an earlier one, once: a
    second delivery in the same transaction finds the first claimant's rows by looking as before.
    """
    return event.__dict__.pop(_UNCLAIMED, False)


def record_many(
    session: Session,
    ctx: CommandContext,
    *,
    type: str,
    company_id: uuid.UUID,
    aggregate_type: str,
    items: Sequence[tuple[uuid.UUID, dict[str, Any], uuid.UUID | None]],
) -> int:
    """Append many events of one type, ``(aggregate_id, payload, store_id)`` each, in one set-based
    insert (availability after a POS batch: hundreds at once). Events whose type has subscribers, or
    the first event of a command carrying an idempotency key, go through :func:`record` instead."""
    if _subscribers.get(type) or (ctx.idempotency_key and not ctx._key_used):
        for aggregate_id, payload, store_id in items:
            record(
                session,
                ctx,
                type=type,
                company_id=company_id,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                payload=payload,
                store_id=store_id,
            )
        return len(items)
    now = utcnow()
    rows = [
        {
            **_row(ctx, type, company_id, aggregate_type, aggregate_id, payload, store_id, now),
            "idempotency_key": None,
        }
        for aggregate_id, payload, store_id in items
    ]
    session.flush()  # events recorded one by one before these keep their place in the order
    insert_rows(session, Event.__table__, rows)
    return len(rows)


Subscriber = Callable[[Session, CommandContext, Event], object]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(event_type: str, subscriber: Subscriber) -> None:
    """React to every recorded event of a type, in the same transaction (idempotent registration).

    Downstream contexts subscribe to upstream events (DESIGN section 7); the composition root
    (``entrypoints/bootstrap.py``) installs the subscriptions.
    """
    if subscriber not in _subscribers[event_type]:
        _subscribers[event_type].append(subscriber)


def find_by_key(session: Session, source: str, idempotency_key: str) -> Event | None:
    return session.scalar(
        select(Event).where(Event.source == source, Event.idempotency_key == idempotency_key)
    )


CHAIN_LIMIT = 200
"""An event chain shows at most this many events (a POS batch is one command of many sales)."""


def event_chain(session: Session, company_id: uuid.UUID, event_id: uuid.UUID) -> list[Event]:
    """The event and the others its command recorded (the same ``correlation_id``), in log order: what
    caused a journal entry or a stock move, and what happened with it. Empty if the event is not the
    company's."""
    event = session.scalar(select(Event).where(Event.id == event_id, Event.company_id == company_id))
    if event is None:
        return []
    chain = session.scalars(
        select(Event)
        .where(Event.company_id == company_id, Event.correlation_id == event.correlation_id)
        .order_by(Event.position)
        .limit(CHAIN_LIMIT)
    )
    found = list(chain)
    return found if event in found else [event, *found]
