"""How the KPI read models react to the facts, in the facts' own transactions (see
:mod:`retailcore.analytics.feed`): POS batches (their refunds too) and deliveries add their sums at once;
refunds of other returns and approved counts mark their slices, recomputed when the transaction commits."""

from __future__ import annotations

import uuid

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from retailcore.analytics import feed
from retailcore.eventlog.services import CommandContext, subscribe
from retailcore.eventlog.tables import Event

RETURN_EVENTS = ("ReturnRefundApproved", "ReturnRefundPaid", "ReturnCancelled")
"""A return's refunded lines change with these (an approval is recorded before the lines are updated:
the slice is refreshed at commit)."""


def _pos_batch(session: Session, ctx: CommandContext, event: Event) -> None:
    payload = event.payload
    feed.pos_sales(session, event.company_id, [uuid.UUID(value) for value in payload.get("accepted", ())])
    feed.pos_refunds(
        session, event.company_id, [uuid.UUID(value).hex for value in payload.get("refunds", ())]
    )


def _fulfilled(session: Session, ctx: CommandContext, event: Event) -> None:
    feed.order_fulfilled(session, event)


def _return_changed(session: Session, ctx: CommandContext, event: Event) -> None:
    feed.mark(session, "returns", event.company_id, event.aggregate_id)


def _count_approved(session: Session, ctx: CommandContext, event: Event) -> None:
    feed.mark(session, "counts", event.company_id, event.aggregate_id)


def _before_commit(session: Session) -> None:
    feed.refresh_pending(session)


def _after_rollback(session: Session) -> None:
    session.info.pop(feed.PENDING, None)


def install() -> None:
    subscribe("PosSalesIngested", _pos_batch)
    subscribe("OrderFulfilled", _fulfilled)
    for event_type in RETURN_EVENTS:
        subscribe(event_type, _return_changed)
    subscribe("CountSheetApproved", _count_approved)
    if not sa_event.contains(Session, "before_commit", _before_commit):
        sa_event.listen(Session, "before_commit", _before_commit)
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)


def _after_soft_rollback(session: Session, previous_transaction: object) -> None:
    _after_rollback(session)
