"""An order's trail: the events recorded about it, in log order, and what they caused: stock moves and
journal entries (the back office's order page, docs/ui.md).

An event belongs to an order when the order is its aggregate, or when one command recorded it
together with such an event (the same ``correlation_id``). A POS sale is recorded with its session: a
batch of sales is one ``PosSalesIngested`` and one ``PosGoodsIssued``, and the session's close posts
the journal entry of all its sales, so a POS order's trail holds its session's events. Entries are
those whose ``event_id`` is one of these events; moves too, of the order's products only (a batch's
goods issue moves every product sold in it).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from retailcore.accounting.tables import JournalEntry
from retailcore.eventlog.tables import Event
from retailcore.inventory.tables import StockMove

MAX_EVENTS = 500
"""A trail shows at most this many events (a POS batch's correlation can hold thousands of sales)."""


@dataclass(frozen=True)
class OrderTrail:
    events: list[Event]
    moves: list[StockMove]
    entries: list[JournalEntry]


def order_trail(
    session: Session,
    company_id: uuid.UUID,
    order_id: uuid.UUID,
    *,
    pos_session_id: uuid.UUID | None = None,
    product_ids: Collection[uuid.UUID] = (),
) -> OrderTrail:
    """The trail of an order (of a POS sale: pass its ``pos_session_id``); ``product_ids``: the order's
    products, which narrow the moves."""
    aggregates = [order_id] if pos_session_id is None else [order_id, pos_session_id]
    own = select(Event).where(Event.company_id == company_id, Event.aggregate_id.in_(aggregates))
    own_events = list(session.scalars(own.order_by(Event.position).limit(MAX_EVENTS)))
    correlations = {event.correlation_id for event in own_events}
    # Events of the same commands about the order's session or its order only: not a whole batch.
    events = own_events
    if correlations:
        related = select(Event).where(
            Event.company_id == company_id,
            Event.correlation_id.in_(correlations),
            or_(Event.aggregate_id.in_(aggregates), Event.aggregate_type != "Order"),
        )
        events = list(session.scalars(related.order_by(Event.position).limit(MAX_EVENTS)))
    ids = [event.id for event in events] or [order_id]
    moves_query = select(StockMove).where(StockMove.event_id.in_(ids))
    if product_ids:
        moves_query = moves_query.where(StockMove.product_id.in_(product_ids))
    moves = list(session.scalars(moves_query.order_by(StockMove.date, StockMove.id)))
    entries = list(
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.event_id.in_(ids))
            .order_by(JournalEntry.date, JournalEntry.id)
        )
    )
    return OrderTrail(events=events, moves=moves, entries=entries)
