"""Period-end accruals of the close (issue 17, decision 0041): goods shipped and not invoiced.

Rules of the flow:

* **What is accrued.** Revenue is recognised when goods leave (``OrderFulfilled`` posts receivable and
  customer deposits against revenue), so at a period's end the revenue of an order shipped and not yet
  invoiced is already in the books; what is missing is that part of the receivable being *unbilled*.
  The accrual moves it, per order, from ``receivable`` to ``unbilled_receivable``. The amount of an
  order is what it owed at the end for goods shipped (the ``due_amount`` of its ``OrderFulfilled``
  events dated by then, less the ``settled`` part of its payments dated by then), for orders with no
  invoice dated by the end. Goods received not invoiced need no entry: receipts post to GRNI as they
  arrive and bills clear it, so the GRNI balance is the accrual (the checklist's ``grni`` item).
* **Through the rules.** A run records ``ShippedNotInvoicedAccrued`` (payload: the period's end as
  ``date``, one item per order) and the rule ``accrual-shipped-not-invoiced`` posts it; the run then
  reverses that entry on the next period's first day (``reverse_entry``, linked by ``reversal_of``, its
  lines carrying the ``ShippedNotInvoicedReversed`` event it records) and matches each receivable line
  with its reversal.
* **Idempotent, by differences.** The runs of a company and period share one aggregate id. A run
  accrues per order the difference between what should be accrued now and what earlier runs of the
  period accrued: a second run with nothing new posts nothing; after a new shipment it posts only that
  order; after an invoice dated by the end it posts the negative difference (sides swapped).
* **Locks.** Posting at the period's end on or before the lock date is refused (409 ``period-locked``),
  writing nothing: a closed period's accrual is final.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.accounting import reconciliation
from retailcore.accounting import services as ledger
from retailcore.accounting import tables as a
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext, record
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company
from retailcore.orders.tables import InvoiceRow, OrderRow

ZERO = Decimal(0)
ACCRUED = "ShippedNotInvoicedAccrued"
REVERSED = "ShippedNotInvoicedReversed"
_NAMESPACE = uuid.UUID("5d0c9a4e-0f3b-4a41-9f7e-2b6c1a8e4d17")
MONEY_IN = ("PaymentCaptured", "TenderAccepted")


def run_key(company_id: uuid.UUID, period: str) -> uuid.UUID:
    """The aggregate id shared by every accrual run of one company and period."""
    return uuid.uuid5(_NAMESPACE, f"{company_id}:{period}")


def event_day(event: Event) -> dt.date:
    """The day an event counts on: its payload's ``date`` if it has one (as the ledger posts it)."""
    day = (event.payload or {}).get("date")
    return dt.date.fromisoformat(day) if day else event.occurred_at.date()


@dataclass
class Unbilled:
    """One order shipped (at least in part) by the period's end and not invoiced by then."""

    order_id: uuid.UUID
    order_ref: str
    channel: str
    currency: str
    shipped: Decimal
    """Gross value of the goods shipped by the end."""
    to_accrue: Decimal
    """What it owed at the end for those goods: the receivable to show as unbilled."""
    accrued: Decimal = ZERO
    """What the period's accrual runs accrued for it so far."""

    @property
    def difference(self) -> Decimal:
        return self.to_accrue - self.accrued


def shipped_not_invoiced(session: Session, company: Company, period: str, end: dt.date) -> list[Unbilled]:
    """Orders shipped by ``end``, not invoiced by then and owing for those goods then, and the orders the
    period's runs accrued, with what they accrued. Orders paid for are left out (a shipped web order
    owes nothing: there is no receivable to show as unbilled)."""
    invoiced = set(
        session.scalars(
            select(InvoiceRow.order_id).where(InvoiceRow.company_id == company.id, InvoiceRow.date <= end)
        )
    )
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    shipped_orders = set(
        session.scalars(
            select(Event.aggregate_id).where(
                Event.company_id == company.id,
                Event.aggregate_type == "Order",
                Event.type == "OrderFulfilled",
                Event.occurred_at < until,
            )
        )
    )
    shipped_orders -= invoiced
    found: dict[uuid.UUID, Unbilled] = {}
    if shipped_orders:
        orders = {
            row.id: row for row in session.scalars(select(OrderRow).where(OrderRow.id.in_(shipped_orders)))
        }
        events = session.scalars(
            select(Event)
            .where(
                Event.company_id == company.id,
                Event.aggregate_id.in_(shipped_orders),
                Event.type.in_(("OrderFulfilled", *MONEY_IN)),
            )
            .order_by(Event.position)
        )
        sums: dict[uuid.UUID, list[Decimal]] = {}
        for event in events:
            if event_day(event) > end or event.payload.get("for_return"):
                continue
            cell = sums.setdefault(event.aggregate_id, [ZERO, ZERO, ZERO])
            if event.type == "OrderFulfilled":
                due = Decimal(event.payload.get("due_amount") or 0)
                cell[0] += Decimal(event.payload.get("paid_amount") or 0) + due
                cell[1] += due
            else:
                cell[2] += Decimal(event.payload.get("settled") or 0)
        for order_id, (shipped, due, settled) in sums.items():
            order = orders[order_id]
            owed = round_to_currency(max(due - settled, ZERO), order.currency)
            if owed == 0:
                continue  # paid for (a web order, a B2B order paid on delivery): nothing unbilled to show
            found[order_id] = Unbilled(
                order_id=order_id,
                order_ref=order.number,
                channel=order.channel,
                currency=order.currency,
                shipped=shipped,
                to_accrue=owed,
            )
    for event in _runs(session, company.id, period, ACCRUED):
        for item in event.payload.get("orders", []):
            order_id = uuid.UUID(item["order_id"])
            if order_id not in found:
                found[order_id] = Unbilled(
                    order_id=order_id,
                    order_ref=item["order_ref"],
                    channel=item.get("channel", ""),
                    currency=event.payload.get("currency", company.currency),
                    shipped=ZERO,
                    to_accrue=ZERO,
                )
            found[order_id].accrued += Decimal(item["amount"])
    return sorted(found.values(), key=lambda u: u.order_ref)


def _runs(session: Session, company_id: uuid.UUID, period: str, kind: str) -> list[Event]:
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.company_id == company_id,
                Event.aggregate_id == run_key(company_id, period),
                Event.type == kind,
            )
            .order_by(Event.position)
        )
    )


def accrual_entries(session: Session, company_id: uuid.UUID, period: str) -> list[a.JournalEntry]:
    """Every entry the period's accrual runs posted: each accrual and its reversal, by date."""
    ids = [e.id for e in _runs(session, company_id, period, ACCRUED)]
    ids += [e.id for e in _runs(session, company_id, period, REVERSED)]
    if not ids:
        return []
    # The accruals carry their own events; each reversal carries its ``ShippedNotInvoicedReversed``.
    found = list(session.scalars(select(a.JournalEntry).where(a.JournalEntry.event_id.in_(ids))))
    return sorted(found, key=lambda e: (e.date, e.number or ""))


@dataclass
class AccrualRun:
    period: str
    date: dt.date
    reversal_date: dt.date
    orders: list[Unbilled]
    posted: list[dict[str, Any]] = field(default_factory=list)
    entries: list[a.JournalEntry] = field(default_factory=list)


def accrue(
    session: Session, ctx: CommandContext, company: Company, period: str, start: dt.date, end: dt.date
) -> AccrualRun:
    """Post what the period's accruals lack (per order, the difference) and its reversal next day."""
    journal = ledger.journal(session, company.id, "MISC")
    session.scalar(select(a.Journal.id).where(a.Journal.id == journal.id).with_for_update())
    lock = ledger.settings_for(session, company.id).lock_date
    if lock is not None and end <= lock:
        raise ledger.period_locked(end, lock)
    next_start = end + dt.timedelta(days=1)
    orders = shipped_not_invoiced(session, company, period, end)
    run = AccrualRun(period=period, date=end, reversal_date=next_start, orders=orders)
    by_currency: dict[str, list[Unbilled]] = {}
    for order in orders:
        if order.difference != 0:
            by_currency.setdefault(order.currency, []).append(order)
    key = run_key(company.id, period)
    for currency, changed in sorted(by_currency.items()):
        items = [
            {
                "order_id": str(o.order_id),
                "order_ref": o.order_ref,
                "channel": o.channel,
                "amount": str(o.difference),
            }
            for o in changed
        ]
        event = record(
            session,
            ctx,
            type=ACCRUED,
            company_id=company.id,
            aggregate_type="Accrual",
            aggregate_id=key,
            payload={
                "period": period,
                "date": end.isoformat(),
                "reversal_date": next_start.isoformat(),
                "currency": currency,
                "reference": f"Accrual shipped not invoiced {period}",
                "orders": items,
            },
        )
        session.flush()
        entry = session.scalar(select(a.JournalEntry).where(a.JournalEntry.event_id == event.id))
        if (
            entry is None
        ):  # the company's rule was switched off: refuse rather than record an accrual unposted
            raise Conflict(
                "no active posting rule posts ShippedNotInvoicedAccrued (rule accrual-shipped-not-invoiced)",
                code="no-accrual-rule",
            )
        reversal_event = record(
            session,
            ctx,
            type=REVERSED,
            company_id=company.id,
            aggregate_type="Accrual",
            aggregate_id=key,
            payload={"period": period, "date": next_start.isoformat(), "entry_id": str(entry.id)},
        )
        reversal = ledger.reverse_entry(
            session,
            ctx,
            entry,
            date=next_start,
            reference=f"Reversal of accrual shipped not invoiced {period}",
            event_id=reversal_event.id,
        )
        _match_receivable(session, ctx, company, entry, reversal)
        for order in changed:
            order.accrued += order.difference
        run.posted.extend(items)
        run.entries.extend([entry, reversal])
    return run


def _match_receivable(
    session: Session, ctx: CommandContext, company: Company, entry: a.JournalEntry, reversal: a.JournalEntry
) -> None:
    """Each accrual line on a reconcilable account matched with its reversal line: the pair cancels."""
    reconcilable = set(
        session.scalars(
            select(Account.id).where(
                Account.id.in_({line.account_id for line in entry.lines}), Account.reconcilable.is_(True)
            )
        )
    )
    unpaired = sorted(reversal.lines, key=lambda line: line.sequence)
    for original in sorted(entry.lines, key=lambda line: line.sequence):
        if original.account_id not in reconcilable:
            continue
        opposite = next(
            line
            for line in unpaired
            if (line.account_id, line.currency, line.debit, line.credit)
            == (original.account_id, original.currency, original.credit, original.debit)
        )
        unpaired.remove(opposite)
        reconciliation.reconcile(session, ctx, company.id, [original.id, opposite.id])
