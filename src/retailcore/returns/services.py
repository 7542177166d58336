"""Returns: goods coming back from a customer, against an order of any channel or none, and their refund.

The flow (:data:`TRANSITIONS`): ``requested -> received`` (in parts) ``-> inspected -> refunded`` (in
parts), or ``cancelled`` while no received goods wait for a decision. The rules:

* A return names lines of one original order (POS, web, marketplace, b2b) and claims their quantity
  at once (:func:`retailcore.returns.limits.claim_returnable`): never more than sold (delivered) minus
  what returns already claimed, one conditional update per line. A no-receipt return names products
  and a price; the company's policy must allow it and the caller's role be one it names.
* Receiving moves the goods from the customer to where their condition sends them (dispositions, rules
  as data) through :func:`~retailcore.inventory.services.move_stock` (``customer_return``), at the
  original sale's unit cost (the order line's ``cost`` over its delivered quantity: web orders valued
  at delivery, POS sales at ingestion), never today's average. Inspection may change a condition; the
  goods then move on (``internal``).
* Refunding reverses revenue and tax at the original line's net, discount and taxes, the refunded
  quantities' share rounded cumulatively on the line, so a line's refunds never add up to more than
  it carried. ``ReturnRefundApproved`` books contra revenue and tax back against ``refunds_payable``
  (a restocking fee kept is income); paying clears it: ``PaymentRefunded`` (``for_return``) for the
  original card through its gateway's clearing account, ``ReturnRefundPaid`` for cash, store credit,
  a card named by reference, or the order's receivable (goods delivered unpaid: what the customer owes
  shrinks first). A card is refunded at most what it captured and has not refunded; cash
  only when the sale was paid in cash or the policy allows it.
* An exchange is a refund whose tender pays a new order of the same customer: the value becomes store
  credit and the new order takes it as a store-credit tender in the same transaction, so the customer
  pays (or gets back through the other tenders) only the difference.
* An invoiced order's refund issues a credit note against its invoice (numbered per company and year
  without gaps).
* Everything lands on the day of the command, or on the first open day after the lock date
  (decision 0015), and happens in the caller's transaction: a refusal writes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting.tables import LedgerSettings
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import tables as i
from retailcore.inventory.costing import income_accounts
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Customer, Location, Product, Store
from retailcore.orders import services as orders
from retailcore.orders import tables as t
from retailcore.orders.invoices import revenue_lines, take_number
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, compute_taxes, load_tax_rules
from retailcore.returns import limits
from retailcore.returns.commands import (
    CancelReturn,
    CardRefundView,
    CreditNoteView,
    FailCardRefund,
    InspectReturn,
    ReceiveReturn,
    RefundReturn,
    RefundTenderIn,
    ReissueCardRefund,
    RequestReturn,
    ReturnLineView,
    ReturnPolicyIn,
    ReturnView,
)
from retailcore.returns.dispositions import location_for
from retailcore.returns.tables import (
    CardRefundRow,
    CreditNoteRow,
    ReturnLineRow,
    ReturnPolicy,
    ReturnRow,
)

ZERO = Decimal(0)
RETURNABLE_ORDER_STATES = ("partially_fulfilled", "fulfilled", "invoiced", "closed")

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "requested": frozenset({"received", "cancelled"}),
    "received": frozenset({"received", "inspected", "refunded", "cancelled"}),
    "inspected": frozenset({"inspected", "refunded", "cancelled"}),
    "refunded": frozenset(),
    "cancelled": frozenset(),
}
"""Allowed status changes, from -> targets (a partial receipt or refund keeps the status)."""

CreditHook = Callable[..., None]
_credit_hooks: list[CreditHook] = []


def on_store_credit(hook: CreditHook) -> None:
    """Register what records a customer's store credit balance (the payments context:
    ``on_store_credit(payments.services.issue_store_credit)`` in ``entrypoints/bootstrap.py``). Called
    as ``hook(session, ctx, company_id=, customer_id=, amount=, source="return", reference=, post=False)``;
    registering the same hook twice keeps one."""
    if hook not in _credit_hooks:
        _credit_hooks.append(hook)


def _credit_customer(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    amount: Decimal,
    reference: str,
) -> None:
    """Record a refund to store credit on the customer's balance. The ledger side is this context's
    own ``ReturnRefundPaid`` entry (credit ``store_credit_liability``), so the balance is recorded
    without posting: the hook bootstrap registers is ``payments.services.issue_store_credit(session, ctx,
    company_id=..., customer_id=..., amount=..., source="return", reference=..., post=False)``."""
    for hook in _credit_hooks:
        hook(
            session,
            ctx,
            company_id=company_id,
            customer_id=customer_id,
            amount=amount,
            source="return",
            reference=reference,
            post=False,
        )


# -- helpers -----------------------------------------------------------------------------------------


def _money(value: Decimal, currency: str) -> Decimal:
    return round_to_currency(value, currency)


def booking_day(session: Session, company: Company, ctx: CommandContext) -> dt.date:
    """The day a return's stock and entries land on: today, or the first open day after the lock."""
    day = (ctx.occurred_at or utcnow()).date()
    ledger = session.get(LedgerSettings, company.id)
    if ledger is not None and ledger.lock_date is not None and day <= ledger.lock_date:
        day = ledger.lock_date + dt.timedelta(days=1)
    return day


def policy_for(session: Session, company_id: uuid.UUID) -> ReturnPolicy:
    found = session.get(ReturnPolicy, company_id)
    return found or ReturnPolicy(
        company_id=company_id,
        no_receipt_allowed=False,
        no_receipt_roles=[],
        cash_refunds_allowed=False,
        card_refunds_await_confirmation=False,
        restocking_fee_taxable=True,
    )


POLICY_FIELDS = (
    "no_receipt_allowed",
    "no_receipt_roles",
    "cash_refunds_allowed",
    "card_refunds_await_confirmation",
    "restocking_fee_taxable",
)


def set_policy(session: Session, ctx: CommandContext, company: Company, body: ReturnPolicyIn) -> ReturnPolicy:
    """Replace the company's return policy; ``ReturnPolicyChanged`` keeps what it was and became."""
    current = policy_for(session, company.id)
    before = {name: getattr(current, name) for name in POLICY_FIELDS}
    row = session.get(ReturnPolicy, company.id)
    if row is None:
        row = ReturnPolicy(company_id=company.id)
        session.add(row)
    row.no_receipt_allowed = body.no_receipt_allowed
    row.no_receipt_roles = list(body.no_receipt_roles)
    row.cash_refunds_allowed = body.cash_refunds_allowed
    row.card_refunds_await_confirmation = body.card_refunds_await_confirmation
    row.restocking_fee_taxable = body.restocking_fee_taxable
    session.flush()
    record(
        session,
        ctx,
        type="ReturnPolicyChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"before": before, "after": {name: getattr(row, name) for name in POLICY_FIELDS}},
    )
    return row


def _refuse_transition(row: ReturnRow, target: str, action: str) -> None:
    if target not in TRANSITIONS[row.status]:
        allowed = ", ".join(sorted(TRANSITIONS[row.status])) or "none"
        raise Conflict(
            f"return {row.number} is {row.status} and cannot be {action} (allowed: {allowed})",
            code="invalid-state-transition",
            problems=[FieldProblem("status", f"{row.status} -> {target} is not allowed")],
        )


def _record(session: Session, ctx: CommandContext, row: ReturnRow, type_: str, **payload: Any) -> None:
    record(
        session,
        ctx,
        type=type_,
        company_id=row.company_id,
        aggregate_type="Return",
        aggregate_id=row.id,
        payload={"return_ref": row.number, "currency": row.currency, "channel": row.channel, **payload},
        store_id=row.store_id,
    )


def _locked(session: Session, ctx: CommandContext, company: Company, return_id: uuid.UUID) -> ReturnRow:
    row = session.scalar(
        select(ReturnRow)
        .where(ReturnRow.id == return_id, ReturnRow.company_id == company.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or not ctx.principal.sees_store(row.store_id):
        raise NotFound(f"no return {return_id}")
    return row


def _lines(session: Session, row: ReturnRow) -> list[ReturnLineRow]:
    return list(
        session.scalars(
            select(ReturnLineRow)
            .where(ReturnLineRow.return_id == row.id)
            .order_by(ReturnLineRow.position)
            .execution_options(populate_existing=True)
        )
    )


def _by_id(lines: Sequence[ReturnLineRow], line_id: uuid.UUID, field: str) -> ReturnLineRow:
    for line in lines:
        if line.id == line_id:
            return line
    raise InvalidReference(
        f"no line {line_id} on this return", problems=[FieldProblem(field, "not a line of this return")]
    )


def _customer_location(session: Session, company_id: uuid.UUID) -> Location:
    found = session.scalar(
        select(Location).where(Location.company_id == company_id, Location.kind == "customer")
    )
    if found is None:  # pragma: no cover - every company is created with one
        raise Conflict("the company has no customer location", code="no-customer-location")
    return found


def _jurisdiction(company: Company, store: Store) -> str:
    return store.tax_jurisdiction or company.tax_jurisdiction


def _no_receipt_taxes(
    session: Session, company: Company, store: Store, items: Sequence[tuple[str, Decimal, str, Decimal]]
) -> Any:
    """Taxes of no-receipt lines ``(key, amount, tax_category, quantity)`` by the receiving store's rules;
    the quantity counts for fixed taxes, charged per unit (decision 0058)."""
    rules = load_tax_rules(session, company.id, _jurisdiction(company, store))
    try:
        return compute_taxes(
            [
                TaxableLine(key, _money(amount, company.currency), category, quantity)
                for key, amount, category, quantity in items
            ],
            rules,
            company.currency,
        )
    except NoTaxRule as error:
        raise ValidationFailed(str(error), code="no-tax-rule") from error


# -- request -----------------------------------------------------------------------------------------


def request_return(
    session: Session, ctx: CommandContext, company: Company, body: RequestReturn
) -> ReturnView:
    """Open a return against an order's lines (claiming their quantities) or, by policy, none."""
    store = session.get(Store, body.store_id)
    if store is None or store.company_id != company.id:
        raise InvalidReference("no such store", problems=[FieldProblem("store_id", "no such store")])
    if not ctx.principal.sees_store(store.id):
        raise PermissionDenied("a store's token receives returns at its own store")
    order: t.OrderRow | None = None
    if body.order_id is not None:
        order = session.get(t.OrderRow, body.order_id)
        if order is None or order.company_id != company.id:
            raise InvalidReference(
                f"no order {body.order_id}", problems=[FieldProblem("order_id", "no such order")]
            )
        if order.state not in RETURNABLE_ORDER_STATES:
            raise Conflict(
                f"order {order.number} is {order.state}: only delivered goods come back by a return",
                code="order-not-delivered",
                problems=[FieldProblem("order_id", f"is {order.state}")],
            )
    else:
        policy = policy_for(session, company.id)
        if not policy.no_receipt_allowed:
            raise Conflict(
                "the company's policy takes no returns without a receipt",
                code="no-receipt-not-allowed",
                problems=[FieldProblem("order_id", "required by the company's return policy")],
            )
        roles = policy.no_receipt_roles or ["admin", "store_manager"]
        if str(ctx.principal.role) not in roles:
            raise PermissionDenied(f"role '{ctx.principal.role}' may not take a return without a receipt")
    customer_id = body.customer_id or (order.customer_id if order else None)
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or customer.company_id != company.id:
            raise InvalidReference(
                f"no customer {customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
            )
    now = utcnow()
    row = ReturnRow(
        id=new_id(),
        company_id=company.id,
        number=f"RT-{take_number(session, company.id, 'RT'):06d}",
        order_id=order.id if order else None,
        order_number=order.number if order else None,
        channel=order.channel if order else "pos",
        store_id=store.id,
        customer_id=customer_id,
        reason=body.reason,
        note=body.note,
        status="requested",
        no_receipt=order is None,
        currency=order.currency if order else company.currency,
        refunded_total=ZERO,
        restocking_fee=ZERO,
        created_by=ctx.actor,
        updated_by=ctx.actor,
        created_at=now,
        updated_at=now,
        version=1,
    )
    order_lines: dict[uuid.UUID, t.OrderLineRow] = {}
    if order is not None:
        order_lines = {
            line.id: line
            for line in session.scalars(select(t.OrderLineRow).where(t.OrderLineRow.order_id == order.id))
        }
    new_lines: list[ReturnLineRow] = []
    for index, line in enumerate(body.lines):
        common = {
            "company_id": company.id,
            "return_id": row.id,
            "position": index + 1,
            "quantity": line.quantity,
            "received_quantity": ZERO,
            "refunded_quantity": ZERO,
            "condition": line.condition,
            "cost": ZERO,
            "refunded_net": ZERO,
            "refunded_tax": ZERO,
            "reason": body.reason,
            "channel": row.channel,
            "store_id": store.id,
            "customer_id": customer_id,
            "no_receipt": order is None,
            "created_by": ctx.actor,
            "created_at": now,
        }
        if order is not None:
            if line.order_line_id is None or line.order_line_id not in order_lines:
                raise InvalidReference(
                    f"line {index + 1} names no line of order {order.number}",
                    code="unknown-order-line",
                    problems=[FieldProblem(f"lines.{index}.order_line_id", f"not a line of {order.number}")],
                )
            if line.product_id is not None or line.unit_price is not None:
                raise ValidationFailed(
                    "a line of an order is refunded at the order's price",
                    problems=[FieldProblem(f"lines.{index}", "product_id and unit_price are for no-receipt")],
                )
            source = order_lines[line.order_line_id]
            limits.claim_returnable(
                session,
                company_id=company.id,
                order_id=order.id,
                order_line_id=source.id,
                quantity=line.quantity,
                field=f"lines.{index}.quantity",
            )
            new_lines.append(
                ReturnLineRow(
                    **common,
                    order_line_id=source.id,
                    product_id=source.product_id,
                    sku=source.sku,
                    product_category=source.product_category,
                    tax_category=source.tax_category,
                    unit_price=None,
                )
            )
        else:
            missing = [
                FieldProblem(f"lines.{index}.{name}", "required without a receipt")
                for name in ("product_id", "unit_price")
                if getattr(line, name) is None
            ]
            if missing or line.order_line_id is not None:
                raise ValidationFailed(
                    "a no-receipt line names its product and the price refunded",
                    problems=missing or [FieldProblem(f"lines.{index}.order_line_id", "no order was named")],
                )
            product = session.get(Product, line.product_id)
            if product is None or product.company_id != company.id:
                raise InvalidReference(
                    f"no product {line.product_id}",
                    problems=[FieldProblem(f"lines.{index}.product_id", "no such product")],
                )
            new_lines.append(
                ReturnLineRow(
                    **common,
                    order_line_id=None,
                    product_id=product.id,
                    sku=product.sku,
                    product_category=product.category,
                    tax_category=product.tax_category,
                    unit_price=line.unit_price,
                )
            )
    if order is None:  # refused now if the lines cannot be taxed, not at refund
        _no_receipt_taxes(
            session,
            company,
            store,
            [
                (str(n.position), (n.unit_price or ZERO) * n.quantity, n.tax_category, n.quantity)
                for n in new_lines
            ],
        )
    session.add(row)
    session.flush()
    session.add_all(new_lines)
    session.flush()
    _record(
        session,
        ctx,
        row,
        "ReturnRequested",
        order_ref=row.order_number,
        reason=row.reason,
        no_receipt=row.no_receipt,
        lines=[
            {"order_line_id": n.order_line_id, "product_id": n.product_id, "quantity": str(n.quantity)}
            for n in new_lines
        ],
    )
    return view(session, row)


# -- receive and inspect -----------------------------------------------------------------------------


def original_unit_cost(cost: Decimal, fulfilled: Decimal) -> Decimal:
    """What one unit of an original order line cost when it left stock."""
    if fulfilled > 0:
        return (cost / fulfilled).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    return ZERO


def unit_cost(session: Session, company: Company, line: ReturnLineRow) -> Decimal:
    """The original sale's unit cost; for a no-receipt return, the product's cost today."""
    if line.order_line_id is not None:
        source = session.get(t.OrderLineRow, line.order_line_id)
        assert source is not None
        return original_unit_cost(source.cost, source.fulfilled_quantity)
    cost = session.get(i.ProductCost, line.product_id)
    if cost is not None and cost.quantity > 0 and cost.value > 0:
        return (cost.value / cost.quantity).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    product = session.get(Product, line.product_id)
    last = cost.last_unit_cost if cost is not None else ZERO
    return last or (product.standard_cost if product is not None else ZERO)


def receive_return(
    session: Session, ctx: CommandContext, company: Company, return_id: uuid.UUID, body: ReceiveReturn
) -> ReturnView:
    """Goods arrive at the receiving store (all outstanding, or the quantities named): each goes where
    its condition sends it, at the original unit cost."""
    row = _locked(session, ctx, company, return_id)
    _refuse_transition(row, "received" if row.status == "requested" else row.status, "received")
    lines = _lines(session, row)
    if body.lines is None:
        wanted = [(line, line.quantity - line.received_quantity, None) for line in lines]
        wanted = [item for item in wanted if item[1] > 0]
    else:
        wanted = [
            (
                _by_id(lines, item.return_line_id, f"lines.{index}.return_line_id"),
                item.quantity,
                item.condition,
            )
            for index, item in enumerate(body.lines)
        ]
    if not wanted:
        raise Conflict(
            f"every line of return {row.number} was received",
            code="nothing-to-receive",
            problems=[FieldProblem("lines", "nothing outstanding")],
        )
    outstanding = {line.id: line.quantity - line.received_quantity for line in lines}
    for index, (line, quantity, _) in enumerate(wanted):
        outstanding[line.id] -= quantity
        if outstanding[line.id] < 0:
            raise Conflict(
                f"line {line.position} of return {row.number} expects"
                f" {(line.quantity - line.received_quantity).normalize():f} more",
                code="receipt-exceeds-return",
                problems=[FieldProblem(f"lines.{index}.quantity", "more than the return outstanding")],
            )
    customer = _customer_location(session, company.id)
    day = booking_day(session, company, ctx)
    moves: list[MoveLine] = []
    for index, (line, quantity, condition) in enumerate(wanted):
        if condition is not None:
            line.condition = condition
        location = location_for(session, company.id, row.store_id, line.condition, f"lines.{index}.condition")
        line.location_id = location.id
        moves.append(
            MoveLine(line.product_id, quantity, customer.id, location.id, unit_cost(session, company, line))
        )
    result = move_stock(
        session,
        ctx,
        company,
        kind="customer_return",
        lines=moves,
        date=day,
        reference=row.number,
        details={"return_ref": row.number, "channel": row.channel},
        aggregate=("Return", row.id),
    )
    for (line, quantity, _), value in zip(wanted, result.values, strict=True):
        line.received_quantity += quantity
        line.cost += value
    if row.status == "requested":
        row.status = "received"
    row.updated_by = ctx.actor
    row.version += 1
    session.flush()
    return view(session, row)


def inspect_return(
    session: Session, ctx: CommandContext, company: Company, return_id: uuid.UUID, body: InspectReturn
) -> ReturnView:
    """Confirm or change the condition of received lines; goods whose condition changed move on to
    where the new condition sends them."""
    row = _locked(session, ctx, company, return_id)
    _refuse_transition(row, "inspected", "inspected")
    lines = _lines(session, row)
    moves: list[MoveLine] = []
    for index, item in enumerate(body.lines):
        line = _by_id(lines, item.return_line_id, f"lines.{index}.return_line_id")
        if item.condition == line.condition:
            continue
        line.condition = item.condition
        if line.received_quantity <= 0 or line.location_id is None:
            continue
        target = location_for(session, company.id, row.store_id, item.condition, f"lines.{index}.condition")
        if target.id != line.location_id:
            moves.append(MoveLine(line.product_id, line.received_quantity, line.location_id, target.id))
            line.location_id = target.id
    if moves:
        move_stock(
            session,
            ctx,
            company,
            kind="internal",
            lines=moves,
            date=booking_day(session, company, ctx),
            reference=row.number,
            aggregate=("Return", row.id),
        )
    row.status = "inspected"
    row.updated_by = ctx.actor
    row.version += 1
    session.flush()
    _record(
        session,
        ctx,
        row,
        "ReturnInspected",
        lines=[{"return_line_id": line.id, "condition": line.condition} for line in lines],
    )
    return view(session, row)


# -- refund ------------------------------------------------------------------------------------------


def _share(amount: Decimal, before: Decimal, after: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """The part of a line amount that belongs to its quantities ``before..after`` of ``quantity``,
    rounded cumulatively: the parts of a line add up to the line, never more."""

    def upto(done: Decimal) -> Decimal:
        return _money(amount * done / quantity, currency)

    return upto(after) - upto(before)


def line_refund(
    source: t.OrderLineRow, before: Decimal, quantity: Decimal, currency: str
) -> tuple[Decimal, list[dict[str, Any]]]:
    """Net and taxes ``[{code, base, amount}]`` of ``quantity`` more units of an original order line,
    after ``before`` were refunded: the line's own net (after its discount) and tax, prorated."""
    after = before + quantity
    net = _share(source.net, before, after, source.quantity, currency)
    taxes = [
        {
            "code": tax["code"],
            "base": _share(Decimal(str(tax["base"])), before, after, source.quantity, currency),
            "amount": _share(Decimal(str(tax["amount"])), before, after, source.quantity, currency),
        }
        for tax in source.taxes
    ]
    return net, taxes


def _tender_rows(session: Session, order_id: uuid.UUID | None) -> list[t.OrderPaymentRow]:
    if order_id is None:
        return []
    return list(
        session.scalars(
            select(t.OrderPaymentRow)
            .where(t.OrderPaymentRow.order_id == order_id)
            .order_by(t.OrderPaymentRow.position)
            .execution_options(populate_existing=True)
        )
    )


def _cash_allowed(session: Session, company: Company, tenders: Sequence[t.OrderPaymentRow]) -> bool:
    return any(p.kind == "cash" for p in tenders) or policy_for(session, company.id).cash_refunds_allowed


def _receivable(session: Session, row: ReturnRow) -> Decimal:
    if row.order_id is None:
        return ZERO
    owed = session.scalar(select(t.OrderRow.receivable_balance).where(t.OrderRow.id == row.order_id))
    return _money(owed or ZERO, row.currency)


def _default_tenders(
    session: Session, company: Company, row: ReturnRow, amount: Decimal, tenders: Sequence[t.OrderPaymentRow]
) -> list[RefundTenderIn]:
    """What the customer still owes on the order first, then the original cards (the last taken
    first), then cash if the sale was paid in cash or the policy allows it, then store credit."""
    chosen: list[RefundTenderIn] = []
    left = amount
    owed = _receivable(session, row)
    if owed > 0 and left > 0:
        take = min(left, owed)
        chosen.append(RefundTenderIn(kind="on_account", amount=take))
        left -= take
    for payment in reversed(tenders):
        if left <= 0:
            break
        if payment.kind == "card" and payment.state in ("captured", "partially_refunded"):
            take = min(left, payment.captured - payment.refunded)
            if take > 0:
                chosen.append(RefundTenderIn(kind="card", tender_id=payment.id, amount=take))
                left -= take
    if left > 0:
        if _cash_allowed(session, company, tenders):
            chosen.append(RefundTenderIn(kind="cash", amount=left))
        elif row.customer_id is not None:
            chosen.append(RefundTenderIn(kind="store_credit", amount=left))
        else:
            raise Conflict(
                f"{left} cannot go back to the sale's tenders: name a tender (store credit needs a customer)",
                code="refund-needs-a-tender",
                problems=[FieldProblem("tenders", f"{left} left without a tender")],
            )
    return chosen


def _check_tenders(
    session: Session,
    company: Company,
    row: ReturnRow,
    chosen: Sequence[RefundTenderIn],
    amount: Decimal,
    tenders: Sequence[t.OrderPaymentRow],
) -> None:
    """Refuse tenders that do not add up, a card beyond what it captured and has not refunded, an
    uncaptured card, cash against the policy, or store credit without a customer."""
    total = sum((tender.amount for tender in chosen), ZERO)
    if total != amount:
        raise ValidationFailed(
            f"the tenders add up to {total}, the refund is {amount}",
            code="tenders-do-not-add-up",
            problems=[FieldProblem("tenders", f"must add up to {amount}")],
        )
    by_id = {payment.id: payment for payment in tenders}
    taken: dict[uuid.UUID, Decimal] = {}
    on_account = ZERO
    for index, tender in enumerate(chosen):
        field = f"tenders.{index}"
        if _money(tender.amount, row.currency) != tender.amount:
            raise ValidationFailed(
                "a refund is real money: rounded to the currency",
                problems=[FieldProblem(f"{field}.amount", "too many decimals")],
            )
        if tender.kind == "card" and tender.tender_id is not None:
            payment = by_id.get(tender.tender_id)
            if payment is None or payment.kind != "card":
                raise InvalidReference(
                    f"no card payment {tender.tender_id} on the original order",
                    problems=[FieldProblem(f"{field}.tender_id", "not a card payment of the original order")],
                )
            if payment.state not in ("captured", "partially_refunded", "refunded"):
                raise Conflict(
                    f"card payment {payment.gateway}/{payment.reference} is {payment.state}: nothing was"
                    " captured to refund",
                    code="tender-not-captured",
                    problems=[FieldProblem(f"{field}.tender_id", f"is {payment.state}")],
                )
            taken[payment.id] = taken.get(payment.id, ZERO) + tender.amount
            refundable = payment.captured - payment.refunded
            if taken[payment.id] > refundable:
                raise Conflict(
                    f"card payment {payment.gateway}/{payment.reference} has"
                    f" {_money(refundable, row.currency)} captured and not yet refunded",
                    code="refund-exceeds-captured",
                    problems=[FieldProblem(f"{field}.amount", f"at most {_money(refundable, row.currency)}")],
                )
        elif tender.kind == "card":
            missing = [
                FieldProblem(f"{field}.{name}", "required for a refund to a card reference")
                for name in ("gateway", "reference")
                if getattr(tender, name) is None
            ]
            if missing:
                raise ValidationFailed("a card refund names the original payment or a card", problems=missing)
        elif tender.kind == "cash":
            if not _cash_allowed(session, company, tenders):
                raise Conflict(
                    "the sale was not paid in cash and the policy gives no cash refunds for it",
                    code="cash-refund-not-allowed",
                    problems=[FieldProblem(f"{field}.kind", "cash is not allowed for this return")],
                )
        elif tender.kind == "on_account":
            on_account += tender.amount
            if on_account > _receivable(session, row):
                raise Conflict(
                    f"the original order has {_receivable(session, row)} receivable",
                    code="refund-exceeds-receivable",
                    problems=[FieldProblem(f"{field}.amount", f"at most {_receivable(session, row)}")],
                )
        elif tender.kind == "exchange":
            _exchange_order(session, company, row, tender, field)
        elif tender.kind == "store_credit" and row.customer_id is None:
            raise ValidationFailed(
                "store credit is given to a customer",
                problems=[FieldProblem(f"{field}.kind", "the return has no customer")],
            )


def _exchange_order(
    session: Session, company: Company, row: ReturnRow, tender: RefundTenderIn, field: str
) -> t.OrderRow:
    """The new order of an exchange: the company's, the return's customer's, not a till sale."""
    if tender.order_id is None:
        raise ValidationFailed(
            "an exchange names the new order", problems=[FieldProblem(f"{field}.order_id", "required")]
        )
    found = session.get(t.OrderRow, tender.order_id)
    if found is None or found.company_id != company.id or found.id == row.order_id:
        raise InvalidReference(
            f"no new order {tender.order_id}",
            problems=[FieldProblem(f"{field}.order_id", "no such order (other than the returned one)")],
        )
    if row.customer_id is None or found.customer_id != row.customer_id:
        raise Conflict(
            "an exchange pays a new order of the return's customer",
            code="customer-mismatch",
            problems=[FieldProblem(f"{field}.order_id", "another customer's order, or no customer")],
        )
    return found


def fee_tax(
    fee: Decimal, lines: Sequence[tuple[Decimal, Sequence[dict[str, Any]]]], currency: str
) -> tuple[Decimal, list[dict[str, str]]]:
    """Split a restocking fee (kept from the gross refund) into its net and its output tax per tax code
    ``[{tax_code, tax, tax_base}]``: the fee is spread over the refunded lines by their gross (rounded
    cumulatively, so the parts add up to the fee), and each part carries the tax its line carried, in
    the same proportion of its gross (the original sale's rates, not today's). ``lines`` are
    ``(gross, taxes)`` of the refunded quantities."""
    total = sum((gross for gross, _ in lines), ZERO)
    if fee <= 0 or total <= 0:
        return fee, []
    per_code: dict[str, list[Decimal]] = {}
    done = ZERO
    for gross, taxes in lines:
        part = _share(fee, done, done + gross, total, currency)
        done += gross
        if gross <= 0 or part <= 0:
            continue
        taxed = [
            (str(tax["code"]), _money(part * Decimal(str(tax["amount"])) / gross, currency))
            for tax in taxes
            if Decimal(str(tax["amount"])) != 0
        ]
        net = part - sum((amount for _, amount in taxed), ZERO)
        for code, amount in taxed:
            sums = per_code.setdefault(code, [ZERO, ZERO])
            sums[0] += amount
            sums[1] += net
    taxes_out = [
        {"tax_code": code, "tax": str(amount), "tax_base": str(base)}
        for code, (amount, base) in per_code.items()
        if amount
    ]
    return fee - sum((Decimal(x["tax"]) for x in taxes_out), ZERO), taxes_out


def _pay(
    session: Session,
    ctx: CommandContext,
    company: Company,
    row: ReturnRow,
    chosen: Sequence[RefundTenderIn],
    day: dt.date,
    policy: ReturnPolicy,
    payments: Sequence[t.OrderPaymentRow],
) -> None:
    """Pay an approved refund out of ``refunds_payable``: the original cards through their gateway, the
    rest in cash, store credit, to a card reference, off the receivable, or into a new order. Under the
    policy ``card_refunds_await_confirmation`` a card (original or by reference) is asked and left
    payable: a pending :class:`CardRefundRow`, confirmed or failed later."""
    awaits = policy.card_refunds_await_confirmation
    by_id = {payment.id: payment for payment in payments}
    others: list[dict[str, Any]] = []
    exchanged: list[tuple[uuid.UUID, Decimal]] = []
    for tender in chosen:
        if tender.kind == "card" and tender.tender_id is not None:
            assert row.order_id is not None
            orders.refund_for_return(
                session,
                ctx,
                company,
                row.order_id,
                tender.tender_id,
                tender.amount,
                row.number,
                day,
                pending=awaits,
            )
            if awaits:
                card = by_id[tender.tender_id]
                _ask_card(session, ctx, row, tender, card.gateway or "", card.reference or "")
        elif tender.kind == "card" and awaits:
            _ask_card(session, ctx, row, tender, tender.gateway or "", tender.reference or "")
        elif tender.kind == "exchange":
            # The returned goods' value becomes the customer's store credit and pays the new order at
            # once: refunds_payable -> store credit -> the new order's deposit (or its receivable).
            assert row.customer_id is not None and tender.order_id is not None
            others.append({"kind": "store_credit", "amount": str(tender.amount), "exchange": True})
            _credit_customer(
                session,
                ctx,
                company_id=company.id,
                customer_id=row.customer_id,
                amount=tender.amount,
                reference=row.number,
            )
            exchanged.append((tender.order_id, tender.amount))
        else:
            if tender.kind == "on_account":
                assert row.order_id is not None
                orders.reduce_receivable_for_return(session, ctx, company, row.order_id, tender.amount)
            others.append(
                {
                    "kind": tender.kind,
                    "amount": str(tender.amount),
                    "gateway": tender.gateway,
                    "card_reference": tender.reference,
                }
            )
            if tender.kind == "store_credit":
                assert row.customer_id is not None
                _credit_customer(
                    session,
                    ctx,
                    company_id=company.id,
                    customer_id=row.customer_id,
                    amount=tender.amount,
                    reference=row.number,
                )
    if others:
        _record(
            session,
            ctx,
            row,
            "ReturnRefundPaid",
            date=day.isoformat(),
            reference=row.number,
            store_id=str(row.store_id),
            tenders=others,
        )
    for new_order_id, value in exchanged:
        orders.take_payment(
            session, ctx, company, new_order_id, orders.TakePayment(kind="store_credit", amount=value)
        )


def _ask_card(
    session: Session,
    ctx: CommandContext,
    row: ReturnRow,
    tender: RefundTenderIn,
    gateway: str,
    reference: str,
) -> CardRefundRow:
    """A card refund asked of the gateway and left payable until it answers."""
    refund = CardRefundRow(
        id=new_id(),
        company_id=row.company_id,
        return_id=row.id,
        return_number=row.number,
        store_id=row.store_id,
        order_id=row.order_id if tender.tender_id is not None else None,
        tender_id=tender.tender_id,
        gateway=gateway,
        reference=reference,
        amount=tender.amount,
        currency=row.currency,
        status="pending",
        failure_reason="",
        created_at=utcnow(),
        created_by=ctx.actor,
        resolved_at=None,
        resolved_by=None,
    )
    session.add(refund)
    session.flush()
    _record(
        session,
        ctx,
        row,
        "CardRefundRequested",
        refund_id=str(refund.id),
        gateway=gateway,
        card_reference=reference,
        amount=str(tender.amount),
    )
    return refund


def refund_return(
    session: Session, ctx: CommandContext, company: Company, return_id: uuid.UUID, body: RefundReturn
) -> ReturnView:
    """Refund received goods (all not yet refunded, or the quantities named), less a restocking fee."""
    row = _locked(session, ctx, company, return_id)
    _refuse_transition(row, "refunded", "refunded")
    lines = _lines(session, row)
    currency = row.currency
    if body.lines is None:
        wanted = [(line, line.received_quantity - line.refunded_quantity) for line in lines]
        wanted = [item for item in wanted if item[1] > 0]
    else:
        wanted = [
            (_by_id(lines, item.return_line_id, f"lines.{index}.return_line_id"), item.quantity)
            for index, item in enumerate(body.lines)
        ]
    if not wanted:
        raise Conflict(
            f"return {row.number} holds no received goods waiting for a refund",
            code="nothing-to-refund",
            problems=[FieldProblem("lines", "receive the goods first")],
        )
    left = {line.id: line.received_quantity - line.refunded_quantity for line in lines}
    for index, (line, quantity) in enumerate(wanted):
        left[line.id] -= quantity
        if left[line.id] < 0:
            raise Conflict(
                f"line {line.position} of return {row.number} has"
                f" {(line.received_quantity - line.refunded_quantity).normalize():f}"
                " received and not refunded",
                code="refund-exceeds-received",
                problems=[FieldProblem(f"lines.{index}.quantity", "more than received and not refunded")],
            )
    # The amounts, at the original sale's prices and taxes.
    parts: list[tuple[str, Decimal, list[dict[str, Any]], str | None]] = []
    # A product's own income account takes the return's contra revenue (decision 0061).
    income = income_accounts(session, {line.product_id for line, _ in wanted if line.product_id is not None})
    per_line: list[tuple[ReturnLineRow, Decimal, Decimal, Decimal, list[dict[str, Any]]]] = []
    no_receipt = [(line, quantity) for line, quantity in wanted if line.order_line_id is None]
    computed = None
    if no_receipt:
        store = session.get(Store, row.store_id)
        assert store is not None
        computed = _no_receipt_taxes(
            session,
            company,
            store,
            [
                (str(line.id), (line.unit_price or ZERO) * quantity, line.tax_category, quantity)
                for line, quantity in no_receipt
            ],
        )
    for line, quantity in wanted:
        if line.order_line_id is not None:
            source = session.get(t.OrderLineRow, line.order_line_id)
            assert source is not None
            before = limits.claim_refundable(session, source.id, quantity)
            net, taxes = line_refund(source, before, quantity, currency)
        else:
            assert computed is not None
            taxed = computed.line(str(line.id))
            net = taxed.net
            taxes = [{"code": tax.code, "base": tax.base, "amount": tax.amount} for tax in taxed.taxes]
        tax = sum((Decimal(str(x["amount"])) for x in taxes), ZERO)
        parts.append(
            (
                line.product_category,
                net,
                taxes or [{"code": "", "base": net, "amount": ZERO}],
                income.get(line.product_id) if line.product_id is not None else None,
            )
        )
        per_line.append((line, quantity, net, tax, taxes))
    gross = sum((net + tax for _, _, net, tax, _ in per_line), ZERO)
    fee = body.restocking_fee
    if _money(fee, currency) != fee or fee > gross:
        raise ValidationFailed(
            f"the restocking fee must be rounded and at most the refund's {gross}",
            code="fee-exceeds-refund",
            problems=[FieldProblem("restocking_fee", f"at most {gross}, rounded to the currency")],
        )
    amount = gross - fee
    policy = policy_for(session, company.id)
    fee_net, fee_taxes = (
        fee_tax(fee, [(net + tax, taxes) for _, _, net, tax, taxes in per_line], currency)
        if policy.restocking_fee_taxable
        else (fee, [])
    )
    payments = _tender_rows(session, row.order_id)
    chosen = (
        list(body.tenders)
        if body.tenders is not None
        else (_default_tenders(session, company, row, amount, payments) if amount > 0 else [])
    )
    _check_tenders(session, company, row, chosen, amount, payments)
    day = booking_day(session, company, ctx)

    # Approved: contra revenue and tax back, the refund payable, the fee kept as income (and its tax).
    _record(
        session,
        ctx,
        row,
        "ReturnRefundApproved",
        date=day.isoformat(),
        reference=row.number,
        store_id=str(row.store_id),
        order_ref=row.order_number,
        lines=revenue_lines(parts, currency, role="sales_returns"),
        amount=str(amount),
        restocking_fee=str(fee_net) if fee_net else None,
        fee_taxes=fee_taxes,
    )
    _pay(session, ctx, company, row, chosen, day, policy, payments)
    for line, quantity, net, tax, _ in per_line:
        line.refunded_quantity += quantity
        line.refunded_net += net
        line.refunded_tax += tax
    row.refunded_total += amount
    row.restocking_fee += fee
    if all(line.refunded_quantity == line.quantity for line in lines):
        row.status = "refunded"
    row.updated_by = ctx.actor
    row.version += 1
    session.flush()
    if row.order_id is not None:
        _credit_note(session, ctx, company, row, per_line, day)
    return view(session, row)


def _credit_note(
    session: Session,
    ctx: CommandContext,
    company: Company,
    row: ReturnRow,
    per_line: Sequence[tuple[ReturnLineRow, Decimal, Decimal, Decimal, list[dict[str, Any]]]],
    day: dt.date,
) -> None:
    """An invoiced order's refund is documented by a credit note against its invoice."""
    invoice = session.scalar(select(t.InvoiceRow).where(t.InvoiceRow.order_id == row.order_id))
    if invoice is None:
        return
    currency = row.currency
    net = sum((n for _, _, n, _, _ in per_line), ZERO)
    tax = sum((x for _, _, _, x, _ in per_line), ZERO)
    note = CreditNoteRow(
        company_id=company.id,
        number=f"CN-{day.year}-{take_number(session, company.id, f'CN{day.year}'):06d}",
        invoice_id=invoice.id,
        invoice_number=invoice.number,
        return_id=row.id,
        order_id=invoice.order_id,
        customer_id=invoice.customer_id,
        date=day,
        currency=currency,
        net_total=net,
        tax_total=tax,
        gross_total=net + tax,
        lines=[
            {
                "sku": line.sku,
                "product_category": line.product_category,
                "quantity": str(quantity.normalize()),
                "net": str(_money(n, currency)),
                "tax": str(_money(x, currency)),
                "gross": str(_money(n + x, currency)),
            }
            for line, quantity, n, x, _ in per_line
        ],
        created_at=utcnow(),
        created_by=ctx.actor,
    )
    session.add(note)
    session.flush()
    _record(
        session,
        ctx,
        row,
        "CreditNoteIssued",
        number=note.number,
        invoice_number=invoice.number,
        customer_id=str(invoice.customer_id),
        gross=str(_money(net + tax, currency)),
    )


# -- card refunds awaiting the gateway ---------------------------------------------------------------


def card_refund_view(refund: CardRefundRow, today: dt.date | None = None) -> CardRefundView:
    today = today or utcnow().date()
    return CardRefundView.model_validate(refund).model_copy(
        update={
            "amount": _money(refund.amount, refund.currency),
            "age_days": max((today - refund.created_at.date()).days, 0),
        }
    )


def _card_refund(session: Session, row: ReturnRow, refund_id: uuid.UUID) -> CardRefundRow:
    refund = session.scalar(
        select(CardRefundRow)
        .where(CardRefundRow.id == refund_id, CardRefundRow.return_id == row.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if refund is None:
        raise NotFound(f"no card refund {refund_id} on return {row.number}")
    return refund


def _refuse_card(refund: CardRefundRow, target: str) -> None:
    raise Conflict(
        f"the card refund {refund.gateway}/{refund.reference} of {refund.amount} is {refund.status}"
        f" and cannot be {target}",
        code="invalid-state-transition",
        problems=[FieldProblem("status", f"{refund.status} -> {target} is not allowed")],
    )


def _resolve(
    session: Session,
    ctx: CommandContext,
    row: ReturnRow,
    refund: CardRefundRow,
    status: str,
    event: str,
    **details: Any,
) -> None:
    """The pending card refund's outcome (``status``), and its event on the return."""
    refund.status = status
    refund.resolved_at = utcnow()
    refund.resolved_by = ctx.actor
    session.flush()
    _record(session, ctx, row, event, refund_id=str(refund.id), amount=str(refund.amount), **details)


def confirm_refund(
    session: Session, ctx: CommandContext, company: Company, return_id: uuid.UUID, refund_id: uuid.UUID
) -> CardRefundView:
    """The gateway paid a pending card refund: ``refunds_payable`` is cleared against the gateway's
    clearing account (the original card: ``PaymentRefunded`` for_return, recorded by the orders
    context; a card by reference: ``ReturnRefundPaid``). Confirming a confirmed refund changes
    nothing (a replay); a failed one is refused."""
    row = _locked(session, ctx, company, return_id)
    refund = _card_refund(session, row, refund_id)
    if refund.status == "confirmed":
        return card_refund_view(refund)
    if refund.status != "pending":
        _refuse_card(refund, "confirmed")
    day = booking_day(session, company, ctx)
    if refund.tender_id is not None:
        assert refund.order_id is not None
        orders.confirm_refund_for_return(
            session, ctx, company, refund.order_id, refund.tender_id, refund.amount, row.number, day
        )
    else:
        _record(
            session,
            ctx,
            row,
            "ReturnRefundPaid",
            date=day.isoformat(),
            reference=row.number,
            store_id=str(row.store_id),
            tenders=[
                {
                    "kind": "card",
                    "amount": str(refund.amount),
                    "gateway": refund.gateway,
                    "card_reference": refund.reference,
                }
            ],
        )
    _resolve(session, ctx, row, refund, "confirmed", "CardRefundConfirmed")
    return card_refund_view(refund)


def confirm_card_refund(
    session: Session,
    ctx: CommandContext,
    company: Company,
    gateway: str,
    reference: str,
    amount: Decimal,
) -> CardRefundView | None:
    """For the gateway's settlement (issue 17): confirm the oldest pending card refund of ``amount`` to
    ``gateway``/``reference`` (the original card payment's reference, or the card reference the refund
    named). None when no pending refund matches: already confirmed, or not one of ours; the caller
    keeps its own settlement lines idempotent."""
    found = session.scalar(
        select(CardRefundRow)
        .where(
            CardRefundRow.company_id == company.id,
            CardRefundRow.gateway == gateway,
            CardRefundRow.reference == reference,
            CardRefundRow.amount == amount,
            CardRefundRow.status == "pending",
        )
        .order_by(CardRefundRow.created_at, CardRefundRow.id)
        .limit(1)
    )
    if found is None:
        return None
    return confirm_refund(session, ctx, company, found.return_id, found.id)


def fail_refund(
    session: Session,
    ctx: CommandContext,
    company: Company,
    return_id: uuid.UUID,
    refund_id: uuid.UUID,
    body: FailCardRefund,
) -> CardRefundView:
    """The gateway refused a pending card refund: the original card's reservation is released (it can
    be refunded again) and the amount stays owed in ``refunds_payable`` (``failed``), or goes at once
    to ``body.tenders``. Failing a failed refund without tenders changes nothing (a replay)."""
    row = _locked(session, ctx, company, return_id)
    refund = _card_refund(session, row, refund_id)
    if refund.status == "failed" and not body.tenders:
        return card_refund_view(refund)
    if refund.status != "pending":
        _refuse_card(refund, "failed")
    if refund.tender_id is not None:
        assert refund.order_id is not None
        orders.release_refund_for_return(
            session, ctx, company, refund.order_id, refund.tender_id, refund.amount, row.number
        )
    refund.failure_reason = body.reason
    _resolve(session, ctx, row, refund, "failed", "CardRefundFailed", reason=body.reason)
    if body.tenders:
        return _reissue(session, ctx, company, row, refund, body.tenders)
    return card_refund_view(refund)


def reissue_refund(
    session: Session,
    ctx: CommandContext,
    company: Company,
    return_id: uuid.UUID,
    refund_id: uuid.UUID,
    body: ReissueCardRefund,
) -> CardRefundView:
    """Pay a failed card refund's amount to other tenders (or a card again), adding up to it."""
    row = _locked(session, ctx, company, return_id)
    refund = _card_refund(session, row, refund_id)
    if refund.status != "failed":
        _refuse_card(refund, "reissued")
    return _reissue(session, ctx, company, row, refund, body.tenders)


def _reissue(
    session: Session,
    ctx: CommandContext,
    company: Company,
    row: ReturnRow,
    refund: CardRefundRow,
    tenders: Sequence[RefundTenderIn],
) -> CardRefundView:
    payments = _tender_rows(session, row.order_id)
    _check_tenders(session, company, row, tenders, refund.amount, payments)
    _pay(
        session,
        ctx,
        company,
        row,
        tenders,
        booking_day(session, company, ctx),
        policy_for(session, company.id),
        payments,
    )
    _resolve(session, ctx, row, refund, "reissued", "CardRefundReissued")
    return card_refund_view(refund)


def list_card_refunds(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    status: str | None = "pending",
    gateway: str | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[CardRefundView], uuid.UUID | None]:
    """Card refunds (pending by default: what the company owes and the gateways have not confirmed),
    oldest first, each with its age in days."""
    query = select(CardRefundRow).where(CardRefundRow.company_id == company.id)
    if status is not None:
        query = query.where(CardRefundRow.status == status)
    if gateway is not None:
        query = query.where(CardRefundRow.gateway == gateway)
    if principal.store_id is not None:
        query = query.where(CardRefundRow.store_id == principal.store_id)
    rows, next_cursor = keyset_page(session, query, CardRefundRow.id, limit, cursor)
    today = utcnow().date()
    return [card_refund_view(refund, today) for refund in rows], next_cursor


# -- cancel ------------------------------------------------------------------------------------------


def cancel_return(
    session: Session, ctx: CommandContext, company: Company, return_id: uuid.UUID, body: CancelReturn
) -> ReturnView:
    """Close a return whose received goods all had their decision: the quantities never received go
    back to the original lines (they can be returned again). Nothing refunded: ``cancelled``;
    part refunded: ``refunded`` for what was."""
    row = _locked(session, ctx, company, return_id)
    _refuse_transition(row, "cancelled", "cancelled")
    lines = _lines(session, row)
    waiting = [line for line in lines if line.received_quantity > line.refunded_quantity]
    if waiting:
        raise Conflict(
            f"return {row.number} holds received goods not yet refunded: refund them first",
            code="return-holds-goods",
            problems=[FieldProblem("status", f"{len(waiting)} line(s) received and not refunded")],
        )
    for line in lines:
        if line.order_line_id is not None and line.quantity > line.refunded_quantity:
            limits.release_returnable(session, line.order_line_id, line.quantity - line.refunded_quantity)
    row.status = "refunded" if any(line.refunded_quantity > 0 for line in lines) else "cancelled"
    if body.reason:
        row.note = (row.note + " | " if row.note else "") + f"cancelled: {body.reason}"[:400]
    row.updated_by = ctx.actor
    row.version += 1
    session.flush()
    _record(session, ctx, row, "ReturnCancelled", reason=body.reason)
    return view(session, row)


# -- reading -----------------------------------------------------------------------------------------


def view(session: Session, row: ReturnRow) -> ReturnView:
    session.flush()
    currency = row.currency
    lines = [
        ReturnLineView.model_validate(line).model_copy(
            update={
                "cost": _money(line.cost, currency),
                "refunded_net": _money(line.refunded_net, currency),
                "refunded_tax": _money(line.refunded_tax, currency),
            }
        )
        for line in _lines(session, row)
    ]
    note = session.scalar(
        select(CreditNoteRow.number)
        .where(CreditNoteRow.return_id == row.id)
        .order_by(CreditNoteRow.number.desc())
    )
    card_refunds = [
        card_refund_view(refund)
        for refund in session.scalars(
            select(CardRefundRow).where(CardRefundRow.return_id == row.id).order_by(CardRefundRow.id)
        )
    ]
    return ReturnView(
        card_refunds=card_refunds,
        id=row.id,
        company_id=row.company_id,
        number=row.number,
        order_id=row.order_id,
        order_number=row.order_number,
        channel=row.channel,
        store_id=row.store_id,
        customer_id=row.customer_id,
        reason=row.reason,
        note=row.note,
        status=row.status,  # type: ignore[arg-type]
        no_receipt=row.no_receipt,
        currency=currency,
        refunded_total=_money(row.refunded_total, currency),
        restocking_fee=_money(row.restocking_fee, currency),
        credit_note_number=note,
        lines=lines,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def get_return(session: Session, principal: Principal, company: Company, return_id: uuid.UUID) -> ReturnView:
    row = session.get(ReturnRow, return_id)
    if row is None or row.company_id != company.id or not principal.sees_store(row.store_id):
        raise NotFound(f"no return {return_id}")
    return view(session, row)


def list_returns(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    status: str | None = None,
    channel: str | None = None,
    store_id: uuid.UUID | None = None,
    reason: str | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[ReturnView], uuid.UUID | None]:
    """Returns oldest first (ids are time-ordered), filtered, ``limit`` at a time after ``cursor``."""
    query = select(ReturnRow).where(ReturnRow.company_id == company.id)
    for column, value in (
        (ReturnRow.status, status),
        (ReturnRow.channel, channel),
        (ReturnRow.store_id, store_id),
        (ReturnRow.reason, reason),
    ):
        if value is not None:
            query = query.where(column == value)
    if principal.store_id is not None:
        query = query.where(ReturnRow.store_id == principal.store_id)
    rows, next_cursor = keyset_page(session, query, ReturnRow.id, limit, cursor)
    return [view(session, row) for row in rows], next_cursor


REPORT_DIMENSIONS = {
    "reason": ReturnLineRow.reason,
    "channel": ReturnLineRow.channel,
    "store": ReturnLineRow.store_id,
    "category": ReturnLineRow.product_category,
    "cashier": ReturnLineRow.created_by,
    "customer": ReturnLineRow.customer_id,
}


def returns_by(
    session: Session,
    principal: Principal,
    company: Company,
    dimension: str,
    *,
    no_receipt: bool | None = None,
    since: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Returned and refunded quantities and amounts per ``dimension`` (reason, channel, store, category,
    cashier, customer), read from the return lines' own indexed columns, never from orders."""
    column = REPORT_DIMENSIONS[dimension]
    query = select(
        column.label("key"),
        func.count(ReturnLineRow.id),
        func.sum(ReturnLineRow.quantity),
        func.sum(ReturnLineRow.refunded_quantity),
        func.sum(ReturnLineRow.refunded_net),
        func.sum(ReturnLineRow.refunded_tax),
    ).where(ReturnLineRow.company_id == company.id)
    if no_receipt is not None:
        query = query.where(ReturnLineRow.no_receipt.is_(no_receipt))
    if since is not None:
        query = query.where(
            ReturnLineRow.created_at >= dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
        )
    if principal.store_id is not None:
        query = query.where(ReturnLineRow.store_id == principal.store_id)
    rows = session.execute(query.group_by(column).order_by(column))
    return [
        {
            "key": None if key is None else str(key),
            "lines": count,
            "quantity": quantity or ZERO,
            "refunded_quantity": refunded or ZERO,
            "refunded_net": _money(net or ZERO, company.currency),
            "refunded_tax": _money(tax or ZERO, company.currency),
        }
        for key, count, quantity, refunded, net, tax in rows
    ]


def credit_note_view(row: CreditNoteRow) -> CreditNoteView:
    currency = row.currency
    return CreditNoteView.model_validate(row).model_copy(
        update={
            "net_total": _money(row.net_total, currency),
            "tax_total": _money(row.tax_total, currency),
            "gross_total": _money(row.gross_total, currency),
        }
    )


def get_credit_note(
    session: Session, principal: Principal, company: Company, note_id: uuid.UUID
) -> CreditNoteView:
    row = session.get(CreditNoteRow, note_id)
    if row is None or row.company_id != company.id:
        raise NotFound(f"no credit note {note_id}")
    return credit_note_view(row)


def list_credit_notes(
    session: Session, company: Company, *, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[CreditNoteView], uuid.UUID | None]:
    query = select(CreditNoteRow).where(CreditNoteRow.company_id == company.id)
    rows, next_cursor = keyset_page(session, query, CreditNoteRow.id, limit, cursor)
    return [credit_note_view(row) for row in rows], next_cursor
