"""The period close as a checklist that computes itself (issue 17, decision 0038).

Rules of the flow:

* **Measured, not ticked.** Every item reads the books and the contexts' own tables at the period's end
  and says what it found: the figures, a status (``green``, ``amber``, ``red``, ``n/a``) and what to do
  while it is not green. Nothing is stored: the checklist of a period is computed on every request.
* **Reuse, never re-derive.** Each item calls the query its context already owns: the settlement lag's
  money in flight, ``banking.services.reconciled``, ``inventory.valuation.check_agreement``,
  ``accounting.fx.open_foreign_balances``, ``accounting.reports.tax_report``.
* **Honest gaps.** What cannot be measured with what exists is ``n/a`` with its reason, never green.
* **The lock.** :func:`run_close` refuses (409 ``close-refused``) while any item is red, or amber and
  not accepted by name; otherwise it moves the lock date to the period's last day through
  ``accounting.services.move_lock_date``, which writes the period balances.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from retailcore.accounting import fx
from retailcore.accounting import services as ledger
from retailcore.accounting import tax_return as returns
from retailcore.accounting.tables import Journal, JournalEntry, JournalLine
from retailcore.banking import services as banking
from retailcore.banking.tables import BankEntry
from retailcore.closing import accruals as accrual
from retailcore.closing.commands import (
    AccrualOrder,
    AccrualResult,
    CheckItem,
    Checklist,
    CloseResult,
    EntryRef,
)
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.purchasing_tables import (
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    VendorBill,
    VendorBillLine,
)
from retailcore.inventory.valuation import check_agreement
from retailcore.loyalty.tables import LoyaltyMovement, LoyaltyProgramme
from retailcore.masterdata.tables import Account, Company
from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.payments.tables import GiftCardMovement
from retailcore.pos.tables import PosSession
from retailcore.settlements.reports import SETTLED_KINDS, settlement_lag
from retailcore.settlements.tables import Gateway, Mismatch, SettlementBatch, SettlementLine

ZERO = Decimal(0)
PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_span(period: str) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` period (422 naming ``period`` otherwise)."""
    found = PERIOD.match(period or "")
    if found is None:
        raise ValidationFailed(
            f"period {period!r} is not YYYY-MM",
            problems=[FieldProblem("period", "must be YYYY-MM, e.g. 2026-11")],
        )
    year, month = int(found[1]), int(found[2])
    start = dt.date(year, month, 1)
    end = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def _account_balance(session: Session, account_ids: Iterable[uuid.UUID], as_of: dt.date) -> Decimal:
    """Debit minus credit of posted lines on ``account_ids`` up to ``as_of``."""
    ids = list(account_ids)
    if not ids:
        return ZERO
    total = session.scalar(
        select(func.sum(JournalLine.debit) - func.sum(JournalLine.credit)).where(
            JournalLine.account_id.in_(ids), JournalLine.state == "posted", JournalLine.date <= as_of
        )
    )
    return total if total is not None else ZERO


def _role_balance(session: Session, company_id: uuid.UUID, role: str, as_of: dt.date) -> Decimal:
    ids = session.scalars(select(Account.id).where(Account.company_id == company_id, Account.role == role))
    return _account_balance(session, ids, as_of)


def _rounded(value: Any, currency: str, key: str = "") -> Any:
    """Amounts in the figures rounded to the company currency's minor unit (quantities left as they are)."""
    if isinstance(value, dict):
        return {k: _rounded(v, currency, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, currency, key) for v in value]
    if isinstance(value, Decimal) and key != "quantity":
        return round_to_currency(value, currency)
    return value


def _status(red: bool, amber: bool = False) -> str:
    return "red" if red else "amber" if amber else "green"


# -- the items -------------------------------------------------------------------------------------------


def pos_sessions(session: Session, company: Company, start: dt.date, end: dt.date) -> CheckItem:
    """(1) Every POS session opened by the period's end is closed."""
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    since = dt.datetime.combine(start, dt.time(), dt.UTC)
    rows = session.execute(
        select(PosSession.id, PosSession.state, PosSession.opened_at, PosSession.closed_at).where(
            PosSession.company_id == company.id,
            PosSession.opened_at < until,
            or_(PosSession.state == "open", PosSession.closed_at >= since),
        )
    ).all()
    still_open = [r for r in rows if r.state == "open" or (r.closed_at is not None and r.closed_at >= until)]
    return CheckItem(
        code="pos_sessions",
        title="All POS sessions of the period are closed",
        status=_status(bool(still_open)),
        figures={
            "sessions": len(rows),
            "open_at_period_end": len(still_open),
            "open_sessions": [{"id": str(r.id), "opened_at": r.opened_at.isoformat()} for r in still_open],
        },
        action="Close the open sessions with their counted amounts (POST /pos/sessions/{id}/close)."
        if still_open
        else "",
    )


def _unpaid_batches(session: Session, gateway: Gateway, end: dt.date) -> tuple[Decimal, list[dict[str, Any]]]:
    """What a gateway's transit account should hold at ``end``: the net of the settled lines (not
    payouts) of every batch whose payout had not left transit by then (no payout line dated by ``end``,
    and no bank entry booked by ``end`` that moved it), and of lines in no batch."""
    line = SettlementLine
    nets = session.execute(
        select(line.batch_id, func.sum(line.net))
        .where(line.gateway_id == gateway.id, line.kind != "payout", line.occurred_on <= end)
        .group_by(line.batch_id)
    ).all()
    paid_by_line = set(
        session.scalars(
            select(line.batch_id).where(
                line.gateway_id == gateway.id, line.kind == "payout", line.occurred_on <= end
            )
        )
    )
    paid_by_bank = set(
        session.scalars(
            select(SettlementBatch.id)
            .join(BankEntry, BankEntry.id == SettlementBatch.banked_by)
            .where(SettlementBatch.gateway_id == gateway.id, BankEntry.booked_on <= end)
        )
    )
    references = dict(
        session.execute(
            select(SettlementBatch.id, SettlementBatch.reference).where(
                SettlementBatch.gateway_id == gateway.id
            )
        ).all()
    )
    open_items = [
        {"batch": references.get(batch_id, "unpaid"), "net": net}
        for batch_id, net in nets
        if batch_id is None or (batch_id not in paid_by_line and batch_id not in paid_by_bank)
    ]
    open_items = [item for item in open_items if item["net"] != 0]
    return sum((item["net"] for item in open_items), ZERO), open_items


def _missing_from_settlement(
    session: Session, company: Company, codes: list[str], end: dt.date
) -> tuple[Decimal, list[dict[str, Any]]]:
    """Captures the gateway should have settled: unsettled at ``end`` although the gateway settled a
    payment captured after them. Gateways settle in capture order, so these are not in flight: the
    gateway skipped them (or we recorded a capture it never made). What was captured after the newest
    settled capture is in flight, and explains the clearing balance."""
    payment, order, line = OrderPaymentRow, OrderRow, SettlementLine
    settled = (
        select(line.id)
        .where(line.payment_id == payment.id, line.kind.in_(SETTLED_KINDS), line.occurred_on <= end)
        .exists()
    )
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    captured = and_(
        payment.company_id == company.id,
        payment.gateway.in_(codes),
        payment.captured > ZERO,
        order.ordered_at < until,
    )
    joined = and_(order.company_id == payment.company_id, order.id == payment.order_id)
    newest = session.scalar(
        select(func.max(order.ordered_at)).select_from(payment).join(order, joined).where(captured, settled)
    )
    if newest is None:
        return ZERO, []
    rows = session.execute(
        select(order.number, payment.reference, payment.captured - payment.refunded)
        .select_from(payment)
        .join(order, joined)
        .where(captured, ~settled, order.ordered_at < newest)
        .order_by(order.ordered_at)
    ).all()
    missing = [{"order": number, "reference": ref, "amount": amount} for number, ref, amount in rows]
    return sum((m["amount"] for m in missing), ZERO), missing


def gateways(session: Session, company: Company, start: dt.date, end: dt.date) -> list[CheckItem]:
    """(2) Per gateway: the period's settlements imported, its open mismatches, and its clearing and
    transit balances at the period's end explained by open items (money captured and not settled; the
    net of batches not paid out)."""
    rows = session.scalars(
        select(Gateway)
        .where(Gateway.company_id == company.id, Gateway.active.is_(True))
        .order_by(Gateway.code)
    ).all()
    in_flight = {row.gateway: row for row in settlement_lag(session, company.id, start, end).rows}
    by_clearing: dict[uuid.UUID, list[Gateway]] = {}
    for gateway in rows:
        by_clearing.setdefault(gateway.clearing_account_id, []).append(gateway)
    items = []
    for gateway in rows:
        lines = session.scalar(
            select(func.count()).where(
                SettlementLine.gateway_id == gateway.id,
                SettlementLine.occurred_on >= start,
                SettlementLine.occurred_on <= end,
            )
        )
        mismatches = session.execute(
            select(func.count(), func.sum(Mismatch.amount_at_risk))
            .join(SettlementLine, SettlementLine.id == Mismatch.line_id)
            .where(
                Mismatch.gateway_id == gateway.id,
                Mismatch.state == "open",
                SettlementLine.occurred_on >= start,
                SettlementLine.occurred_on <= end,
            )
        ).one()
        sharing = by_clearing[gateway.clearing_account_id]
        clearing = _account_balance(session, [gateway.clearing_account_id], end)
        flying = sum((in_flight[g.code].in_flight_amount for g in sharing if g.code in in_flight), ZERO)
        flying_count = sum(in_flight[g.code].in_flight_payments for g in sharing if g.code in in_flight)
        # Skipped is per gateway: each settles its own captures in order (another gateway's slower
        # payouts are not this one's gaps); what the group's captures in flight leave unexplained in the
        # shared clearing account is every sharing gateway's.
        missing, skipped = _missing_from_settlement(session, company, [gateway.code], end)
        transit = _account_balance(session, [gateway.transit_account_id], end)
        unpaid, batches = _unpaid_batches(session, gateway, end)
        clearing_unexplained = clearing - (flying - missing)
        transit_unexplained = transit - unpaid
        # Shared clearing holds the other gateways' captures: nothing to import unless this one's own.
        own = in_flight[gateway.code].in_flight_amount if gateway.code in in_flight else ZERO
        not_imported = lines == 0 and (own if len(sharing) > 1 else clearing) != 0
        red = not_imported or mismatches[0] > 0 or clearing_unexplained != 0 or transit_unexplained != 0
        actions = []
        if not_imported:
            actions.append("Import the gateway's settlement files for the period.")
        if mismatches[0]:
            actions.append("Resolve the period's open mismatches (GET /mismatches?state=open).")
        if clearing_unexplained:
            actions.append(
                "Explain the clearing difference: captures the gateway skipped (skipped_captures: ask the "
                "gateway, or void the capture), a refund it has not settled, or an entry posted to clearing "
                "by hand (GET /reports/settlement-lag lists what is in flight)."
            )
        if transit_unexplained:
            actions.append(
                "Explain the transit difference: a payout not matched to its bank statement entry."
            )
        items.append(
            CheckItem(
                code=f"gateway:{gateway.code}",
                title=f"Gateway {gateway.code}: settlements imported, clearing and transit explained",
                status=_status(red),
                figures={
                    "settlement_lines_in_period": lines,
                    "open_mismatches": mismatches[0],
                    "open_mismatches_at_risk": mismatches[1] or ZERO,
                    "clearing_balance": clearing,
                    "captured_not_settled": flying,
                    "payments_not_settled": flying_count,
                    "missing_from_settlement": missing,
                    "in_flight": flying - missing,
                    "clearing_unexplained": clearing_unexplained,
                    "skipped_captures": skipped,
                    "clearing_shared_with": [g.code for g in sharing if g.id != gateway.id],
                    "transit_balance": transit,
                    "unpaid_batches": unpaid,
                    "transit_unexplained": transit_unexplained,
                    "batches": batches,
                },
                action=" ".join(actions),
            )
        )
    return items


def bank_accounts(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(3) Every bank account reconciled to its statement at the period's end."""
    result = banking.reconciled(session, company, end)
    accounts = result["accounts"]
    if not accounts:
        return CheckItem(
            code="bank", title="Bank accounts reconciled to their statements", status="n/a", figures={},
            reason="the company has no bank account (POST /bank-accounts)",
        )  # fmt: skip
    return CheckItem(
        code="bank",
        title="Bank accounts reconciled to their statements",
        status=_status(not result["reconciled"]),
        figures={
            "accounts": [
                {
                    "bank_account": f.bank_account,
                    "statement_balance": f.statement_balance,
                    "ledger_balance": f.ledger_balance,
                    "difference": f.difference,
                    "open_items": len(f.items),
                    "unexplained": f.unexplained,
                    "reconciled": f.reconciled,
                }
                for f in accounts
            ]
        },
        action=""
        if result["reconciled"]
        else (
            "Import the statement up to the period's end and match its open entries "
            "(GET /bank-accounts/{code}/reconciliation)."
        ),
    )


def stock(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(4) The stock valuation equals the ledger's inventory accounts at the period's end."""
    check = check_agreement(session, company.id, end)
    return CheckItem(
        code="stock",
        title="Stock valuation equals the ledger",
        status=_status(not check.agrees),
        figures={
            "roles": [
                {
                    "role": r.role,
                    "stock_value": r.stock_value,
                    "ledger_balance": r.ledger_balance,
                    "awaiting_posting": r.awaiting_posting,
                    "difference": r.difference,
                }
                for r in check.roles
            ]
        },
        action=""
        if check.agrees
        else (
            "Find the stock move without its posting or the entry on an inventory account (GET /stock/check)."
        ),
    )


def _received_not_billed(session: Session, company: Company, end: dt.date) -> list[dict[str, Any]]:
    """Purchase order lines received and not billed *at* ``end``: receipts dated by then, less what
    bills dated by then (and posted) cleared, at the purchase order's price."""
    received = session.execute(
        select(
            ReceiptLine.po_line_id,
            func.sum(ReceiptLine.quantity),
            func.sum(ReceiptLine.purchase_value),
        )
        .join(Receipt, Receipt.id == ReceiptLine.receipt_id)
        .where(Receipt.company_id == company.id, Receipt.date <= end)
        .group_by(ReceiptLine.po_line_id)
    ).all()
    if not received:
        return []
    billed: dict[uuid.UUID, list[Decimal]] = {}
    for po_line_id, quantity, price in session.execute(
        select(VendorBillLine.po_line_id, VendorBillLine.quantity, VendorBillLine.po_unit_price)
        .join(VendorBill, VendorBill.id == VendorBillLine.bill_id)
        .where(
            VendorBill.company_id == company.id,
            VendorBill.posted_event_id.is_not(None),
            VendorBill.bill_date <= end,
        )
    ):
        cell = billed.setdefault(po_line_id, [ZERO, ZERO])
        cell[0] += quantity
        cell[1] += round_to_currency(quantity * price, company.currency)
    lines = {
        line.id: (number, supplier, line)
        for number, supplier, line in session.execute(
            select(PurchaseOrder.number, PurchaseOrder.supplier, PurchaseOrderLine)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(PurchaseOrderLine.id.in_([row[0] for row in received]))
        )
    }
    found = []
    for po_line_id, quantity, value in received:
        billed_quantity, billed_value = billed.get(po_line_id, [ZERO, ZERO])
        open_quantity = quantity - min(billed_quantity, quantity)
        if open_quantity <= 0:
            continue
        number, supplier, line = lines[po_line_id]
        found.append(
            {
                "purchase_order": number,
                "supplier": supplier,
                "sequence": line.sequence,
                "quantity": open_quantity,
                "value": max(value - billed_value, ZERO),
            }
        )
    return sorted(found, key=lambda item: (item["purchase_order"], item["sequence"]))


def goods_received_not_invoiced(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(5) Goods received not invoiced, measured at the period's end. Receipts post to GRNI when they
    arrive and bills clear it, so the balance *is* the accrual (decision 0041): the item checks it equals
    the purchase order lines received and not billed by the end, plus the receipts made outside
    purchasing (stock receipts with no purchase order) less goods sent back to suppliers, all dated by
    the end. Red on a difference; amber while the balance is not zero (finance chases the bills or
    accepts it); green at zero."""
    balance = -_role_balance(session, company.id, "goods_received_not_invoiced", end)
    receipts = _received_not_billed(session, company, end)
    on_orders = sum((r["value"] for r in receipts), ZERO)
    by_purchasing = set(session.scalars(select(Receipt.event_id).where(Receipt.company_id == company.id)))
    outside, returned = ZERO, ZERO
    for event in session.scalars(
        select(Event).where(
            Event.company_id == company.id, Event.type.in_(("GoodsReceived", "SupplierReturned"))
        )
    ):
        if accrual.event_day(event) > end:
            continue
        items = (event.payload or {}).get("items", [])
        if event.type == "SupplierReturned":
            # What the return took off the accrual: the purchase value (decision 0061), else the cost.
            returned += sum((Decimal(str(i.get("purchase_value", i.get("cost")) or 0)) for i in items), ZERO)
        elif event.id not in by_purchasing:
            outside += sum((Decimal(str(i.get("purchase_value") or 0)) for i in items), ZERO)
    expected = on_orders + outside - returned
    difference = balance - expected
    actions = []
    if difference:
        actions.append(
            "Find the receipt, bill or supplier return without its posting, or the entry on GRNI by hand."
        )
    if balance:
        actions.append("Chase the suppliers' bills for the lines received, or accept the accrual.")
    return CheckItem(
        code="grni",
        title="Goods received not invoiced equals the receipts not billed at the period's end",
        status=_status(difference != 0, amber=balance != 0),
        figures={
            "balance": balance,
            "received_not_billed_on_orders": on_orders,
            "received_outside_purchasing": outside,
            "returned_to_suppliers": returned,
            "expected": expected,
            "difference": difference,
            "uninvoiced_lines": receipts,
        },
        action=" ".join(actions),
    )


def gift_cards(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(6a) Gift card liability in the ledger against the cards' outstanding balances at the period's end
    (the sum of their movements by then)."""
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    outstanding = session.scalar(
        select(func.sum(GiftCardMovement.amount)).where(
            GiftCardMovement.company_id == company.id, GiftCardMovement.created_at < until
        )
    )
    outstanding = outstanding if outstanding is not None else ZERO
    liability = -_role_balance(session, company.id, "gift_card_liability", end)
    difference = liability - outstanding
    return CheckItem(
        code="gift_cards",
        title="Gift card liability equals the cards' outstanding balances",
        status=_status(difference != 0),
        figures={
            "ledger_liability": liability,
            "outstanding_balances": outstanding,
            "difference": difference,
        },
        action="Find the card movement without its posting, or the entry on the liability by hand."
        if difference
        else "",
    )


def _point_value_at(session: Session, company_id: uuid.UUID, until: dt.datetime, current: Decimal) -> Decimal:
    """The programme's point value as it stood just before ``until``: the last change recorded by then
    (``LoyaltyProgrammeChanged``), else the current value."""
    changes = session.scalars(
        select(Event.payload)
        .where(
            Event.company_id == company_id,
            Event.type == "LoyaltyProgrammeChanged",
            Event.occurred_at < until,
        )
        .order_by(Event.position.desc())
        .limit(1)
    ).first()
    if changes and (changes.get("after") or {}).get("point_value") is not None:
        return Decimal(str(changes["after"]["point_value"]))
    return current


def loyalty(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(6b) Loyalty points liability in the ledger against the points outstanding at the period's end
    (the sum of the accounts' movements by then) x the point value then, plus the points burned at tills
    whose session had not closed by then (their tender leaves the liability at the close)."""
    title = "Loyalty points liability equals the points outstanding x the point value"
    programme = session.get(LoyaltyProgramme, company.id)
    if programme is None:
        return CheckItem(
            code="loyalty", title=title, status="n/a", figures={}, reason="no loyalty programme"
        )  # fmt: skip
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    points = int(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyMovement.points), 0)).where(
                LoyaltyMovement.company_id == company.id, LoyaltyMovement.created_at < until
            )
        )
        or 0
    )
    point_value = _point_value_at(session, company.id, until, programme.point_value)
    outstanding = round_to_currency(Decimal(points) * point_value, programme.currency)
    awaiting_close = session.scalar(
        select(func.sum(OrderPaymentRow.captured))
        .join(OrderRow, OrderRow.id == OrderPaymentRow.order_id)
        .join(PosSession, PosSession.id == OrderRow.pos_session_id)
        .where(
            OrderPaymentRow.company_id == company.id,
            OrderPaymentRow.kind == "loyalty",
            OrderRow.ordered_at < until,
            or_(PosSession.closed_at.is_(None), PosSession.closed_at >= until),
        )
    )
    awaiting_close = awaiting_close if awaiting_close is not None else ZERO
    liability = -_role_balance(session, company.id, "loyalty_liability", end)
    expected = outstanding + awaiting_close
    difference = liability - expected
    return CheckItem(
        code="loyalty",
        title=title,
        status=_status(difference != 0),
        figures={
            "ledger_liability": liability,
            "points_outstanding": points,
            "point_value": str(point_value),  # as set: not rounded to the currency like the amounts
            "outstanding_value": outstanding,
            "burned_at_open_tills": awaiting_close,
            "difference": difference,
        },
        action="Find the points movement without its entry (or the entry on 2240 by hand): the"
        " accounts' movements and LoyaltyPoints* entries must agree."
        if difference
        else "",
    )


DEPOSIT_IN = ("PaymentCaptured", "TenderAccepted")
DEPOSIT_OUT = ("PaymentRefunded", "TenderReturned")


def _deposit_change(event: Event) -> Decimal:
    """What an order event did to the order's deposit (paid, not delivered): the split its payload
    carries (``deposit`` of money in, the ``amount`` of money given back, the ``paid_amount`` a
    delivery used)."""
    payload = event.payload or {}
    if event.type in DEPOSIT_IN:
        return Decimal(payload["deposit"] if payload.get("split") else payload.get("amount") or 0)
    if event.type in DEPOSIT_OUT:
        return ZERO if payload.get("for_return") else -Decimal(payload.get("amount") or 0)
    return -Decimal(payload.get("paid_amount") or 0)


def customer_deposits(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(6b) Customer deposits: per order, what its timestamped facts left paid and undelivered at the
    period's end (payments taken, deliveries, money given back: the order's events dated by then) against
    the ``customer_deposits`` lines those events posted by then; lines no order event explains (an entry
    by hand) are a difference of their own."""
    balance = -_role_balance(session, company.id, "customer_deposits", end)
    facts: dict[uuid.UUID, Decimal] = {}
    events = session.scalars(
        select(Event).where(
            Event.company_id == company.id,
            Event.aggregate_type == "Order",
            Event.type.in_((*DEPOSIT_IN, *DEPOSIT_OUT, "OrderFulfilled")),
        )
    )
    for event in events:
        if accrual.event_day(event) <= end:
            facts[event.aggregate_id] = facts.get(event.aggregate_id, ZERO) + _deposit_change(event)
    accounts = list(
        session.scalars(
            select(Account.id).where(Account.company_id == company.id, Account.role == "customer_deposits")
        )
    )
    # A line counts for the order whose event posted it; a reversal's line for the order of the entry it
    # reverses (a reversal by hand carries its own event, not the order's).
    entry, original = aliased(JournalEntry), aliased(JournalEntry)
    own, cause = aliased(Event), aliased(Event)
    kind = func.coalesce(cause.aggregate_type, own.aggregate_type)
    aggregate = func.coalesce(cause.aggregate_id, own.aggregate_id)
    ledger_rows = session.execute(
        select(kind, aggregate, func.sum(JournalLine.credit) - func.sum(JournalLine.debit))
        .select_from(JournalLine)
        .join(entry, entry.id == JournalLine.entry_id)
        .outerjoin(original, original.id == entry.reversal_of_id)
        .outerjoin(cause, cause.id == original.event_id)
        .outerjoin(own, own.id == JournalLine.event_id)
        .where(
            JournalLine.account_id.in_(accounts),
            JournalLine.state == "posted",
            JournalLine.date <= end,
        )
        .group_by(kind, aggregate)
    ).all()
    booked: dict[uuid.UUID | None, Decimal] = {}
    for aggregate_type, aggregate_id, amount in ledger_rows:
        key = aggregate_id if aggregate_type == "Order" else None
        booked[key] = booked.get(key, ZERO) + (amount or ZERO)
    ids = {k for k in (*facts, *booked) if k is not None}
    numbers = (
        dict(session.execute(select(OrderRow.id, OrderRow.number).where(OrderRow.id.in_(ids))).all())
        if ids
        else {}
    )
    differing = []
    for order_id in sorted(ids, key=lambda i: numbers.get(i, "")):
        paid, posted = facts.get(order_id, ZERO), booked.get(order_id, ZERO)
        if paid != posted:
            differing.append(
                {
                    "order": numbers.get(order_id),
                    "deposit": paid,
                    "ledger": posted,
                    "difference": posted - paid,
                }
            )
    if booked.get(None, ZERO):
        differing.append({"order": None, "deposit": ZERO, "ledger": booked[None], "difference": booked[None]})
    deposits = sum(facts.values(), ZERO)
    open_orders = sum(1 for v in facts.values() if v != 0)
    return CheckItem(
        code="customer_deposits",
        title="Customer deposits equal the paid, undelivered orders",
        status=_status(bool(differing) or balance != deposits),
        figures={
            "ledger_balance": balance,
            "paid_not_delivered": deposits,
            "orders_with_deposit": open_orders,
            "difference": balance - deposits,
            "differing_orders": differing,
        },
        action="Find the order whose payment, delivery or refund was not posted as it happened, or the "
        "entry on customer deposits by hand (differing_orders; order null: lines no order explains)."
        if differing
        else "",
    )


def fx_revaluation(session: Session, company: Company, end: dt.date) -> CheckItem:
    """(7) FX revaluation run at the period's end when the company holds foreign balances."""
    balances = fx.open_foreign_balances(session, company, end)
    if not balances:
        return CheckItem(
            code="fx_revaluation", title="FX revaluation has run", status="n/a", figures={},
            reason="no open foreign currency balances at the period's end",
        )  # fmt: skip
    done = fx.revaluation_done(session, company.id, end)
    return CheckItem(
        code="fx_revaluation",
        title="FX revaluation has run",
        status=_status(False, amber=not done),
        figures={
            "revalued": done,
            "foreign_balances": len(balances),
            "unrealised_difference": sum((b.difference for b in balances), ZERO),
        },
        action="" if done else f"Run the revaluation at {end} (POST /fx/revaluations).",
        entries=entry_refs(session, fx.revaluation_entries(session, company.id, end)),
    )


def tax_return(session: Session, company: Company, start: dt.date, end: dt.date) -> CheckItem:
    """(8) The tax return computed: per-rate totals of the period and the boxes of the company's layout
    (``accounting.tax_return``), exported as CSV."""
    found = returns.tax_return(session, company.id, start, end)
    return CheckItem(
        code="tax_return",
        title="Tax return computed (per rate and per box)",
        status="green",
        figures={
            "rates": [rate.model_dump() for rate in found.rates],
            "boxes": [{"box": b.box, "label": b.label, "amount": b.amount} for b in found.boxes],
            "default_layout": found.default_layout,
            "csv": f"/reports/tax-return?period={start:%Y-%m}&format=csv",
        },
    )


def entry_refs(session: Session, entries: Iterable[JournalEntry]) -> list[EntryRef]:
    found = list(entries)
    codes = (
        dict(
            session.execute(
                select(Journal.id, Journal.code).where(Journal.id.in_({e.journal_id for e in found}))
            ).all()
        )
        if found
        else {}
    )
    numbers = {e.id: e.number for e in found}
    missing = {e.reversal_of_id for e in found if e.reversal_of_id and e.reversal_of_id not in numbers}
    if missing:
        numbers.update(
            session.execute(
                select(JournalEntry.id, JournalEntry.number).where(JournalEntry.id.in_(missing))
            ).all()
        )
    return [
        EntryRef(
            id=e.id,
            number=e.number,
            date=e.date,
            journal=codes.get(e.journal_id, ""),
            reference=e.reference,
            amount=sum((line.debit for line in e.lines), ZERO),
            reversal_of=numbers.get(e.reversal_of_id) if e.reversal_of_id else None,
        )
        for e in found
    ]


def _accrual_orders(orders: list[accrual.Unbilled]) -> list[AccrualOrder]:
    return [
        AccrualOrder(
            order_id=o.order_id,
            order_ref=o.order_ref,
            channel=o.channel,
            currency=o.currency,
            shipped=o.shipped,
            to_accrue=o.to_accrue,
            accrued=o.accrued,
        )
        for o in orders
    ]


def accruals(session: Session, company: Company, period: str, end: dt.date) -> CheckItem:
    """(4b) Accruals posted and current: goods shipped and not invoiced at the period's end, accrued
    per order by the period's accrual runs (each reversed on the next period's first day)."""
    orders = accrual.shipped_not_invoiced(session, company, period, end)
    entries = accrual.accrual_entries(session, company.id, period)
    to_accrue = sum((o.to_accrue for o in orders), ZERO)
    accrued = sum((o.accrued for o in orders), ZERO)
    stale = [o for o in orders if o.difference != 0]
    return CheckItem(
        code="accruals",
        title="Accruals posted and current (shipped not invoiced), reversed next period",
        status=_status(bool(stale)),
        figures={
            "ran": bool(entries),
            "shipped_not_invoiced": sum((o.shipped for o in orders), ZERO),
            "to_accrue": to_accrue,
            "accrued": accrued,
            "difference": to_accrue - accrued,
            "orders": [
                {"order": o.order_ref, "shipped": o.shipped, "to_accrue": o.to_accrue, "accrued": o.accrued}
                for o in orders
            ],
        },
        action=f"Run the accruals (close accrue --period {period}; POST /periods/{period}/accruals)."
        if stale
        else "",
        entries=entry_refs(session, entries),
    )


def run_accruals(session: Session, ctx: CommandContext, company: Company, period: str) -> AccrualResult:
    """Post the period's missing accruals and their reversals (see :mod:`retailcore.closing.accruals`)."""
    start, end = period_span(period)
    run = accrual.accrue(session, ctx, company, period, start, end)
    return AccrualResult(
        period=period,
        date=run.date,
        reversal_date=run.reversal_date,
        orders=_accrual_orders(run.orders),
        posted=run.posted,
        entries=entry_refs(session, run.entries),
    )


# -- the checklist and the close -------------------------------------------------------------------------


def checklist(session: Session, company: Company, period: str) -> Checklist:
    start, end = period_span(period)
    items = [
        pos_sessions(session, company, start, end),
        *gateways(session, company, start, end),
        bank_accounts(session, company, end),
        stock(session, company, end),
        accruals(session, company, period, end),
        goods_received_not_invoiced(session, company, end),
        gift_cards(session, company, end),
        loyalty(session, company, end),
        customer_deposits(session, company, end),
        fx_revaluation(session, company, end),
        tax_return(session, company, start, end),
    ]
    for found in items:
        found.figures = _rounded(found.figures, company.currency)
    return Checklist(
        company_id=company.id,
        period=period,
        date_from=start,
        date_to=end,
        lock_date=ledger.settings_for(session, company.id).lock_date,
        items=items,
    )


def run_close(
    session: Session, ctx: CommandContext, company: Company, period: str, accept: Iterable[str] = ()
) -> CloseResult:
    """Lock the period when its checklist allows: no red item, every amber item accepted by code."""
    found = checklist(session, company, period)
    accepted = set(accept)
    red = found.red
    unaccepted = [i.code for i in found.items if i.status == "amber" and i.code not in accepted]
    if red or unaccepted:
        parts = []
        if red:
            parts.append(f"red: {', '.join(red)}")
        if unaccepted:
            parts.append(f"amber, not accepted: {', '.join(unaccepted)}")
        raise Conflict(
            f"period {period} cannot be closed ({'; '.join(parts)})",
            code="close-refused",
            problems=[
                FieldProblem(code, "red" if code in red else "amber, not accepted")
                for code in red + unaccepted
            ],
        )
    previous = found.lock_date
    if previous is not None and previous >= found.date_to:
        raise Conflict(f"period {period} is already closed (lock date {previous})", code="period-closed")
    ledger.move_lock_date(session, ctx, company.id, found.date_to)
    found.lock_date = found.date_to
    return CloseResult(period=period, lock_date=found.date_to, previous_lock_date=previous, checklist=found)
