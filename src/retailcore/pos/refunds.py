"""Refunds at the till: a sale of a POS batch whose lines have negative quantities.

A refund line names the original order line (``refund_of``: a POS sale of any store of the company,
or a delivered web order line, "bought online, returned in store") or, by the company's return
policy, none (no receipt). The refund shares the returns context's counter of what an original line
can still give back (:func:`retailcore.returns.limits.claim_returnable`, then
:func:`~retailcore.returns.limits.claim_refundable`), so POS refunds and ``/returns`` never return
together more than was sold. It is refunded at the original line's net and taxes, prorated with the
returns context's cumulative rounding (:func:`retailcore.returns.services.line_refund`), and recorded
as a return (channel ``pos``, status ``refunded``, the session's cashier, the line's reason) so the
returns reports count it.

The goods come back at the original unit cost, to the location the line's condition sends them
(returns dispositions), as ``customer_return`` lines of the batch's one stock operation of the day with
the sales' goods (event ``PosGoodsIssued``, or ``PosGoodsReturned`` for a day with refunds only;
neither posted by itself); their cost is taken off the session's COGS totals, so the
close's COGS lines are net of it (a session with more returned than sold reverses COGS). The money
joins the session's running totals under ``refund:`` keys; the close posts it as one ``ReturnRefunded``
entry (sales_returns and output_tax debited, the tenders paid out credited), and the drawer is
expected to hold the cash paid out less (docs/decisions/0025-pos-refunds.md).

An exchange (refund lines and new sale lines in one ticket) is priced here as a refund of its
negative lines, claimed with the batch's refunds before the sales are priced, then settled against
its sale part (:func:`settle_exchange`): the value they share is the internal ``exchange`` tender.

A refused refund refuses its batch like any refused sale: problem+json naming
``sales.{i}.lines.{n}...`` or ``sales.{i}.payments...``; nothing of the batch is written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import FieldProblem, RetailcoreError, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import STOCK_ROLE, MoveLine
from retailcore.orders import tables as t
from retailcore.payments import services as pay
from retailcore.pos import cash_rounding, revenue
from retailcore.pos import commands as c
from retailcore.returns import limits
from retailcore.returns.dispositions import location_for
from retailcore.returns.services import RETURNABLE_ORDER_STATES, line_refund, original_unit_cost, unit_cost
from retailcore.returns.tables import ReturnLineRow, ReturnRow

ZERO = Decimal(0)
PREFIX = "refund:"
"""Running totals of refunds: the same kinds as sales (``category``, ``tax``, ``tender``), keys prefixed."""
REFUND_TENDER_KINDS = ("cash", "card", "gift_card", "store_credit")
EXCHANGE = "exchange"
"""The internal tender of an exchange: the value that passes from its refund part to its sale part. The
sale part's order is paid by it (an ``order_payments`` row of kind ``exchange``), the refund part pays
out with it; both go through ``refunds_payable`` (debited by the close, credited by its refunds' entry),
which nets to zero per session (docs/decisions/0030-exchanges-and-gift-cards-at-the-till.md)."""


def is_refund(sale: c.SaleIn) -> bool:
    """The sale gives something back: a refund (every line negative) or an exchange (mixed lines)."""
    return any(line.is_refund for line in sale.lines)


def is_exchange(sale: c.SaleIn) -> bool:
    """One ticket with refund lines and new sale lines, settled together: the customer pays or gets back
    only the difference."""
    return is_refund(sale) and any(not line.is_refund for line in sale.lines)


@dataclass
class PricedRefund:
    index: int
    request: c.SaleIn
    booked_on: dt.date
    order: Original | None
    customer_id: uuid.UUID | None
    lines: list[dict[str, Any]]
    """``{n, product_id, sku, category, tax_category, quantity (positive), source, unit_price,
    condition, reason, net, taxes, tax, cost}``; net and taxes are set when the line is claimed."""
    tenders: list[dict[str, Any]]
    """``{n, code, kind, gateway, amount, reference}``"""
    number: str = ""
    gross: Decimal = ZERO
    extra: dict[str, Any] = field(default_factory=dict)
    rounding: Decimal = ZERO
    """The cash rounding of its payout: the gross less what was paid out (positive: less went out)."""
    exchange: bool = False
    """The refund part of an exchange: its tenders are settled against the sale part once both are
    priced (:func:`settle_exchange`)."""


def refused_detail(index: int | str, detail: str) -> str:
    """What a refusal says when it refuses sale ``index`` of a batch, and with it the whole batch."""
    return f"sale {index} of the batch was refused: {detail}; nothing of the batch was taken"


def refuse(index: int, where: str, message: str, code: str = "sale-refused") -> ValidationFailed:
    return ValidationFailed(
        refused_detail(index, message), code=code, problems=_problem(index, where, message)
    )


@contextmanager
def refusing_sale(index: int) -> Iterator[None]:
    """A service's refusal while sale ``index`` is taken says which sale, and that the batch is not."""
    try:
        yield
    except RetailcoreError as refused:
        refused.detail = refused_detail(index, refused.detail)
        raise


def _problem(index: int, where: str, message: str) -> list[FieldProblem]:
    return [FieldProblem(f"sales.{index}.{where}", message)]


def known_refunds(
    session: Session, company_id: uuid.UUID, client_uuids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """The client uuids of a batch already taken as refunds (a refund's return number is its uuid)."""
    numbers = [u.hex for u in client_uuids]
    if not numbers:
        return set()
    return {
        uuid.UUID(number)
        for number in session.scalars(
            select(ReturnRow.number).where(
                ReturnRow.company_id == company_id, one_of(session, ReturnRow.number, numbers)
            )
        )
    }


class Original(NamedTuple):
    """The original order a refund line names (what the refund needs of it)."""

    id: uuid.UUID
    number: str
    state: str
    customer_id: uuid.UUID | None
    currency: str = ""


def load_originals(
    session: Session, company_id: uuid.UUID, batch: Sequence[c.SaleIn]
) -> dict[uuid.UUID, Any]:
    """The original order lines the batch's refund lines name, with their orders (one query)."""
    wanted = {line.refund_of for sale in batch for line in sale.lines if line.refund_of is not None}
    if not wanted:
        return {}
    Line, Order = t.OrderLineRow, t.OrderRow
    rows = session.execute(  # columns, not ORM objects: a batch may name hundreds of lines
        select(
            Line.id,
            Line.order_id,
            Line.product_id,
            Line.quantity,
            Line.unit_price,
            Line.net,
            Line.taxes,
            Line.cost,
            Line.fulfilled_quantity,
            Order.number,
            Order.state,
            Order.customer_id,
            Order.company_id,
            Order.currency,
        )
        .join(Order, Order.id == Line.order_id)
        .where(one_of(session, Line.id, wanted))
    )
    # The company is checked here, not in SQL: SQLite without statistics answers `company_id = ?`
    # with the orders' company index, walking every order of the company (20 ms a batch after 10,000
    # sales, growing) instead of the lines' primary key (under 1 ms).
    return {
        row.id: (row, Original(row.order_id, row.number, row.state, row.customer_id, row.currency))
        for row in rows
        if row.company_id == company_id
    }


def price_refund(
    ctx: Any,
    index: int,
    sale: c.SaleIn,
    principal: Principal,
    booked_on: dt.date,
    tax_alone: Callable[[Any, Decimal, Decimal], Any],
    exchange: bool = False,
) -> PricedRefund:
    """Check a refund sale (or an exchange's refund lines) before anything is written: its lines, its
    policy, its tenders (an exchange's are settled once its sale part is priced)."""
    if sale.invoice:
        raise refuse(index, "invoice", "a refund or an exchange at the till is not invoiced")
    if sale.gift_cards:
        raise refuse(
            index, "gift_cards", "a refund or an exchange sells no gift cards: sell them on their own ticket"
        )
    if sale.customer_id is not None and sale.customer_id not in ctx.customers:
        raise refuse(index, "customer_id", "no such customer")
    order: Original | None = None
    lines: list[dict[str, Any]] = []
    for n, line in enumerate(sale.lines):
        if not line.is_refund:
            continue  # an exchange's sale lines: priced as a sale
        quantity = -line.quantity
        item = ctx.products.get(line.product_id)
        if item is None:
            raise refuse(index, f"lines.{n}.product_id", "no such product")
        entry: dict[str, Any] = {
            "n": n,
            "product_id": item.id,
            "sku": item.sku,
            "category": item.category,
            "tax_category": item.tax_category,
            "quantity": quantity,
            "condition": line.condition,
            "reason": line.reason,
            "source": None,
            "unit_price": line.unit_price,
        }
        if line.refund_of is not None:
            found = ctx.originals.get(line.refund_of)
            if found is None:
                raise refuse(index, f"lines.{n}.refund_of", "no such order line", code="unknown-order-line")
            source, original = found
            if order is not None and original.id != order.id:
                raise refuse(
                    index, f"lines.{n}.refund_of", "a refund refers to the lines of one original sale"
                )
            if original.state not in RETURNABLE_ORDER_STATES:
                raise refuse(
                    index,
                    f"lines.{n}.refund_of",
                    f"order {original.number} is {original.state}: not delivered",
                )
            if source.product_id != item.id:
                raise refuse(index, f"lines.{n}.product_id", "not the original line's product")
            if original.currency != ctx.currency:
                raise refuse(
                    index,
                    f"lines.{n}.refund_of",
                    f"order {original.number} was sold in {original.currency}: refunded at a till in"
                    f" {original.currency}, not {ctx.currency}",
                )
            order = original
            entry["source"] = source
            entry["unit_price"] = source.unit_price
        else:
            if order is not None or (lines and lines[0]["source"] is not None):
                raise refuse(
                    index, f"lines.{n}.refund_of", "a refund refers to the lines of one original sale"
                )
            policy = ctx.refund_policy()
            if not policy.no_receipt_allowed:
                raise refuse(
                    index,
                    f"lines.{n}.refund_of",
                    "the company's return policy takes no refunds without a receipt",
                    code="no-receipt-not-allowed",
                )
            roles = policy.no_receipt_roles or ["admin", "store_manager"]
            if str(principal.role) not in roles:
                raise refuse(
                    index,
                    f"lines.{n}.refund_of",
                    f"role '{principal.role}' may not refund without a receipt",
                    code="no-receipt-not-allowed",
                )
            if item.tax_category not in ctx.rules:
                raise refuse(
                    index, f"lines.{n}.product_id", f"no tax rule for {item.tax_category}", "no-tax-rule"
                )
            gross = round_to_currency(quantity * line.unit_price, ctx.currency) - line.discount
            if gross < 0:
                raise refuse(index, f"lines.{n}.discount", "the discount is invalid for this line")
            taxed = tax_alone(item, gross, quantity)  # a fixed tax refunds per unit (decision 0058)
            entry["net"] = taxed.net
            entry["taxes"] = [
                {"code": tax["code"], "base": Decimal(tax["base"]), "amount": Decimal(tax["amount"])}
                for tax in taxed.taxes
            ]
        lines.append(entry)
    customer_id = sale.customer_id or (order.customer_id if order is not None else None)
    if exchange:
        return PricedRefund(index, sale, booked_on, order, customer_id, lines, [], exchange=True)
    tenders = refund_tenders(ctx, index, sale.payments, customer_id)
    if not tenders:
        raise refuse(index, "payments", "a refund names how it is paid out")
    return PricedRefund(index, sale, booked_on, order, customer_id, lines, tenders)


def refund_tenders(
    ctx: Any, index: int, payments: Sequence[c.PaymentIn], customer_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """The payments of a refund (or of an exchange that gives money back) as tenders paid out: cash,
    card, a gift card (named by its code) or store credit (the customer's)."""
    tenders: list[dict[str, Any]] = []
    for n, payment in enumerate(payments):
        method = ctx.methods.get(payment.payment_method_code)
        if method is None or not method.active:
            raise refuse(index, f"payments.{n}.payment_method_code", "no such active payment method")
        if method.kind not in REFUND_TENDER_KINDS:
            raise refuse(
                index, f"payments.{n}.payment_method_code", f"a refund is not paid out {method.kind}"
            )
        if ctx.foreign and method.kind not in ("cash", "card"):
            raise refuse(
                index,
                f"payments.{n}.payment_method_code",
                f"a till selling in {ctx.currency} pays out in cash or to a card only",
            )
        if round_to_currency(payment.amount, ctx.currency) != payment.amount:
            raise refuse(index, f"payments.{n}.amount", "more decimals than the currency")
        if method.kind == "gift_card" and not payment.reference:
            raise refuse(index, f"payments.{n}.reference", "a gift card refund names the card's code")
        if method.kind == "store_credit" and customer_id is None:
            raise refuse(index, f"payments.{n}.payment_method_code", "store credit needs a customer_id")
        tenders.append(
            {
                "n": n,
                "code": method.code,
                "kind": method.kind,
                "gateway": method.gateway,
                "amount": payment.amount,
                "reference": payment.reference,
            }
        )
    return tenders


def settle_exchange(ctx: Any, refund: PricedRefund, sale_gross: Decimal) -> None:
    """An exchange's refund part, claimed and priced, against its sale part's gross: the value they
    share passes by the internal ``exchange`` tender; when the refund is worth more, the ticket's
    payments pay the rest out (validated as a refund's, adding up exactly to it). When the sale is worth
    more, the payments are the customer's and were checked as a sale's
    (:func:`retailcore.pos.services._price_sale`)."""
    shared = min(refund.gross, sale_gross)
    tenders: list[dict[str, Any]] = []
    if shared:
        tenders.append(
            {"n": None, "code": None, "kind": EXCHANGE, "gateway": None, "amount": shared, "reference": None}
        )
    if refund.gross > sale_gross:
        due = refund.gross - sale_gross
        payouts = refund_tenders(ctx, refund.index, refund.request.payments, refund.customer_id)
        paid = sum((tender["amount"] for tender in payouts), ZERO)
        if paid != due:
            raise ValidationFailed(
                f"sale {refund.index} of the batch was refused: the exchange gives back {refund.gross} at"
                f" the original prices for {sale_gross} of new goods, the payments pay out {paid};"
                " nothing of the batch was taken",
                code="refund-tenders-mismatch",
                problems=_problem(refund.index, "payments", f"pay out exactly {due}"),
            )
        tenders += payouts
    refund.tenders = tenders


def take_refunds(
    session: Session,
    ctx: CommandContext,
    loaded: Any,
    pos_session: Any,
    refunds: Sequence[PricedRefund],
    totals: dict[tuple[str, str], dict[str, Decimal]],
    add: Callable[[dict[tuple[str, str], dict[str, Decimal]], str, str], dict[str, Decimal]],
    own: revenue.Own,
) -> None:
    """Pay out and record the batch's refunds, claimed before (:func:`claim`; their goods moved with the
    sales', see :func:`goods_back`); add them to the session's totals. ``own``: their products' own
    accounts (decision 0061: a product's own income account is debited by its refund), read by the
    batch with its sales' in one query."""
    for refund in refunds:
        _pay_out(session, ctx, loaded, refund)
    _record_returns(session, ctx, loaded, pos_session, refunds)
    for refund in refunds:
        for line in refund.lines:
            category = add(totals, "category", PREFIX + revenue.key(line["category"], line, own.income))
            category["net"] += line["net"]
            category["tax"] += line["tax"]
            for tax in line["taxes"]:
                by_code = add(totals, "tax", PREFIX + tax["code"])
                by_code["tax"] += tax["amount"]
                by_code["tax_base"] += tax["base"]
            # Back to stock at the original cost: the close's COGS is net of it (its entry reverses).
            cogs_key = revenue.cogs_key(line["category"], line["stock_role"], line, own.expense)
            add(totals, "cogs", cogs_key)["amount"] -= line["cost"]
        if refund.rounding:
            add(totals, "rounding", PREFIX)["amount"] += refund.rounding
        for tender in refund.tenders:
            add(totals, "tender", f"{PREFIX}{tender['kind']}|{tender['gateway'] or ''}")["amount"] += tender[
                "amount"
            ]


def cash_paid_out(refunds: Sequence[PricedRefund]) -> dict[str, Decimal]:
    """The cash each refund of a batch paid out of the drawer, by its client uuid (refunds paying no
    cash left out). The batch's ``PosSalesIngested`` event carries it (``refund_cash``): the session's
    totals keep the drawer's cash per session, and this is what tells it per refund, so per cashier
    (the refund's return row is recorded under the batch's cashier, as its sales are)."""
    paid: dict[str, Decimal] = {}
    for refund in refunds:
        cash = sum((tender["amount"] for tender in refund.tenders if tender["kind"] == "cash"), ZERO)
        if cash:
            paid[str(refund.request.client_uuid)] = cash
    return paid


def claim(
    session: Session,
    company_id: uuid.UUID,
    currency: str,
    refunds: Sequence[PricedRefund],
    rounding: cash_rounding.Rounding | None = None,
) -> None:
    """Claim the batch's refund lines at once on the shared counter (:func:`limits.claim_many`) and
    price each at its original line's share; the tenders must pay out exactly each refund's gross
    (an exchange's are settled against its sale part afterwards, :func:`settle_exchange`). Called before
    the batch's sales are priced: an exchange's sale part needs its refund's value. Nothing is kept if
    the batch is refused later (one transaction). With the company's cash ``rounding``, a refund paid out
    in cash pays out its gross rounded (docs/pos.md#cash-rounding)."""
    claimed = [(refund, line) for refund in refunds for line in refund.lines if line["source"] is not None]
    try:
        befores = limits.claim_many(
            session,
            company_id,
            [
                limits.Claim(
                    line["source"].order_id,
                    line["source"].id,
                    line["quantity"],
                    f"sales.{refund.index}.lines.{line['n']}.quantity",
                )
                for refund, line in claimed
            ],
        )
    except RetailcoreError as refused:
        index = refused.problems[0].field.split(".")[1] if refused.problems else "?"
        refused.detail = refused_detail(index, refused.detail)
        raise
    for (_, line), before in zip(claimed, befores, strict=True):
        line["net"], line["taxes"] = line_refund(line["source"], before, line["quantity"], currency)
    for refund in refunds:
        for line in refund.lines:
            line["tax"] = sum((tax["amount"] for tax in line["taxes"]), ZERO)
        refund.gross = sum((line["net"] + line["tax"] for line in refund.lines), ZERO)
        if refund.exchange:
            continue
        paid = sum((tender["amount"] for tender in refund.tenders), ZERO)
        cash = any(tender["kind"] == "cash" for tender in refund.tenders)
        settled = cash_rounding.settled_at(refund.gross, paid, cash, rounding)
        till = refund.request.rounding
        if till is not None and till != refund.gross - settled:
            raise cash_rounding.mismatch(refund.index, till, refund.gross - settled)
        if paid != settled:
            rounded = f" ({refund.gross} with the cash rounding)" if settled != refund.gross else ""
            raise ValidationFailed(
                f"sale {refund.index} of the batch was refused: the refund is {settled}{rounded} at the"
                f" original prices, the payments pay out {paid}; nothing of the batch was taken",
                code="refund-tenders-mismatch",
                problems=_problem(refund.index, "payments", f"pay out exactly {settled}"),
            )
        refund.rounding = refund.gross - settled


def _pay_out(session: Session, ctx: CommandContext, loaded: Any, refund: PricedRefund) -> None:
    """Gift cards are credited and store credit issued now (their liability moves at the close)."""
    for tender in refund.tenders:
        at = f"sales.{refund.index}.payments.{tender['n']}"
        with refusing_sale(refund.index):
            if tender["kind"] == "gift_card":
                card = pay.find_gift_card(session, loaded.company.id, tender["reference"])
                if card is None:
                    raise ValidationFailed(
                        "no gift card with this code",
                        code="invalid-reference",
                        problems=[FieldProblem(f"{at}.reference", "no such gift card")],
                    )
                pay.credit_gift_card(
                    session,
                    ctx,
                    company_id=loaded.company.id,
                    card_id=card.id,
                    amount=tender["amount"],
                    currency=loaded.currency,
                    reference=refund.number,
                    field=f"{at}.amount",
                )
            elif tender["kind"] == "store_credit":
                assert refund.customer_id is not None
                pay.issue_store_credit(
                    session,
                    ctx,
                    company_id=loaded.company.id,
                    customer_id=refund.customer_id,
                    amount=tender["amount"],
                    source="return",
                    reference=refund.number,
                    post=False,
                )


def place_goods(session: Session, loaded: Any, refunds: Sequence[PricedRefund]) -> None:
    """Where each refunded line's goods go (the location its condition sends them to, returns
    dispositions) and at which unit cost: the original line's, or the product's today without receipt."""
    company = loaded.company
    places: dict[str, tuple[uuid.UUID, str]] = {}
    for refund in refunds:
        for line in refund.lines:
            condition = line["condition"]
            if condition not in places:
                place = location_for(
                    session,
                    company.id,
                    loaded.store.id,
                    condition,
                    f"sales.{refund.index}.lines.{line['n']}.condition",
                )
                places[condition] = (place.id, STOCK_ROLE.get(place.kind, STOCK_ROLE["stock"]))
            line["location_id"], line["stock_role"] = places[condition]
            source = line["source"]
            if source is not None:
                line["unit_cost"] = original_unit_cost(source.cost, source.fulfilled_quantity)
            else:  # no receipt: the product's cost today
                line["unit_cost"] = unit_cost(
                    session, company, ReturnLineRow(order_line_id=None, product_id=line["product_id"])
                )


def goods_back(
    loaded: Any, refunds: Sequence[PricedRefund]
) -> tuple[list[MoveLine], Callable[[Sequence[Decimal]], None]]:
    """The refunds' goods as ``customer_return`` lines of the batch's one stock operation of their day
    (:func:`retailcore.pos.services._move_goods`), one per product, place and original unit cost;
    and the function that gives each refunded line its share of its move's value (rounded
    cumulatively, so the lines add up to the moves) once they are made."""
    grouped: dict[tuple[uuid.UUID, uuid.UUID, Decimal], list[dict[str, Any]]] = defaultdict(list)
    for refund in refunds:
        for line in refund.lines:
            grouped[(line["product_id"], line["location_id"], line["unit_cost"])].append(line)
    keys = sorted(grouped)
    quantities = [sum((line["quantity"] for line in grouped[key]), ZERO) for key in keys]
    lines = [
        MoveLine(product_id, quantity, loaded.customer.id, location_id, cost, kind="customer_return")
        for (product_id, location_id, cost), quantity in zip(keys, quantities, strict=True)
    ]
    currency = loaded.company.currency

    def take_values(values: Sequence[Decimal]) -> None:
        for key, total, value in zip(keys, quantities, values, strict=True):
            done, taken = ZERO, ZERO
            for line in grouped[key]:
                done += line["quantity"]
                upto = round_to_currency(value * done / total, currency) if done != total else value
                line["cost"], taken = upto - taken, upto

    return lines, take_values


def _record_returns(
    session: Session, ctx: CommandContext, loaded: Any, pos_session: Any, refunds: Sequence[PricedRefund]
) -> None:
    """One refunded return per refund sale, numbered by its client uuid (a resent refund is known by
    it): written set-based, one insert for the returns and one for their lines. Dated at the batch's
    time (the till's, when it replays the past), so a refund counts on the day it was given."""
    now = ctx.occurred_at or utcnow()
    returns_rows: list[dict[str, Any]] = []
    lines_rows: list[dict[str, Any]] = []
    for refund in refunds:
        order = refund.order
        return_id = new_id()
        returns_rows.append(
            {
                "id": return_id,
                "company_id": loaded.company.id,
                "number": refund.request.client_uuid.hex,
                "order_id": order.id if order else None,
                "order_number": order.number if order else None,
                "channel": "pos",
                "store_id": loaded.store.id,
                "customer_id": refund.customer_id,
                "reason": refund.lines[0]["reason"],
                "note": f"POS {'exchange' if refund.exchange else 'refund'} {refund.number}",
                "status": "refunded",
                "no_receipt": order is None,
                "currency": loaded.currency,
                "refunded_total": refund.gross,
                "restocking_fee": ZERO,
                "created_by": ctx.actor,
                "updated_by": ctx.actor,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
        for position, line in enumerate(refund.lines, start=1):
            lines_rows.append(
                {
                    "id": new_id(),
                    "company_id": loaded.company.id,
                    "return_id": return_id,
                    "position": position,
                    "order_line_id": line["source"].id if line["source"] else None,
                    "product_id": line["product_id"],
                    "sku": line["sku"],
                    "product_category": line["category"],
                    "quantity": line["quantity"],
                    "received_quantity": line["quantity"],
                    "refunded_quantity": line["quantity"],
                    "condition": line["condition"],
                    "location_id": line["location_id"],
                    "unit_price": line["unit_price"],
                    "tax_category": line["tax_category"],
                    "cost": line["cost"],
                    "refunded_net": line["net"],
                    "refunded_tax": line["tax"],
                    "reason": line["reason"],
                    "channel": "pos",
                    "store_id": loaded.store.id,
                    "customer_id": refund.customer_id,
                    "no_receipt": order is None,
                    "created_by": ctx.actor,
                    "created_at": now,
                }
            )
    insert_rows(session, ReturnRow.__table__, returns_rows)
    insert_rows(session, ReturnLineRow.__table__, lines_rows)
