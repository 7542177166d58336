"""Web, marketplace and B2B orders: place, confirm, pay, fulfil (in parts), cancel, invoice.

POS sales join the same tables through :mod:`retailcore.orders.carry_out`; the commands here read them
too (a POS customer may ask for an invoice afterwards) but refuse what a till sale cannot do.

Every command loads the pure aggregate from its rows (:func:`load`), calls one method of
:class:`~retailcore.orders.model.Order` or :class:`~retailcore.orders.tenders.OrderPayments`, saves the
rows back and records the aggregate's pending events with :func:`~retailcore.eventlog.services.record`,
all in the caller's transaction. The ledger posts the events it has rules for in that same transaction:

* ``PaymentCaptured`` (card) and ``TenderAccepted`` (gift card, store credit): the tender's account
  against customer_deposits while the goods have not left, against receivable for what was already
  delivered unpaid (``deposit`` and ``settled`` in the payload). On account is a promise, not money:
  nothing is posted until delivery makes it a receivable.
* ``OrderFulfilled``: for the quantities delivered, customer_deposits (as far as the deposit goes) and
  receivable (the rest) against sales_revenue per category and output_tax per tax code; the delivery
  moves post COGS (``GoodsIssued``). A partial delivery recognises its share of each line, rounded so
  that the shares of a line always add up to the line. The first delivery of an order with shipping
  also recognises the whole shipping: shipping_revenue and output_tax (decision 0057).
* ``PaymentRefunded`` / ``TenderReturned``: customer_deposits against the tender's account (a deposit
  given back when the order, or what is left of it, is cancelled).

Gift card and store credit tenders draw on balances kept by :mod:`retailcore.payments.services`, in the
same transaction: a gift card is named by its code in the request and by its id from then on (the code
is a secret the database does not keep); ``TenderAccepted`` redeems (refused beyond the balance, for an
unknown, expired or foreign card: nothing is written) and ``TenderReturned`` credits back.

Every order keeps its ``deposit_balance`` (paid, not yet delivered) and ``receivable_balance``
(delivered, not yet paid), so each event knows how to split.

Unpaid orders let go of their stock: a web or marketplace order confirmed with nothing paid gets a
``payment_due_at`` (the company's ``unpaid_order_hold_minutes`` after confirmation), which any payment
clears; :func:`expire_unpaid_orders` cancels those whose time has passed, releasing their reservations
like :func:`cancel`, and :func:`sweep` runs it with the reservations' own expiry.

Sourcing (where a line is reserved and leaves from):

* ``ship``: the first active warehouse (by code) whose stock location can promise every line to the
  channel (on hand - reserved - safety stock); else ``ship_from_store`` from the active store that can
  promise every line and has the most of them available (ties by code); else refused.
* ``ship_from_store``: the ``store_id`` given; ``click_and_collect``: the ``pickup_store_id`` given.

Prices come from :func:`~retailcore.pricing.price_lists.prices_for` for the order's channel in the
company currency; taxes from :func:`~retailcore.pricing.taxes.compute_taxes` with the rules of the
sourcing (or pickup) store's jurisdiction, else the company's. A fulfillment ships or hands over every
open quantity at once: reservations are per line and consumed whole.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import minor_unit
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from retailcore.core.inputs import text
from retailcore.core.money import Money
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import reservations as r
from retailcore.inventory import tables as i
from retailcore.inventory.costing import income_accounts
from retailcore.inventory.reservation_tables import Reservation
from retailcore.loyalty import services as loyalty
from retailcore.masterdata.commands import CompanyScoped, Request, StoreRef
from retailcore.masterdata.tables import Company, Customer, Location, Product, Store
from retailcore.orders import discounts
from retailcore.orders import tables as t
from retailcore.orders.discounts import DiscountView
from retailcore.orders.invoices import InvoiceView, revenue_lines, take_number
from retailcore.orders.invoices import issue as issue_invoice
from retailcore.orders.invoices import view as invoice_view
from retailcore.orders.model import (
    TRANSITIONS,
    Channel,
    DomainEvent,
    FulfillmentMode,
    Order,
    OrderLine,
    OrderState,
    json_safe,
)
from retailcore.orders.tenders import CardPayment, CardState, OrderPayments, Tender, TenderKind
from retailcore.payments import services as pay
from retailcore.pricing.price_lists import prices_for
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, compute_taxes, load_tax_rules
from retailcore.promotions import channels as pricing
from retailcore.promotions import coupons as coupon_service
from retailcore.promotions.model import Basket, BasketLine
from retailcore.promotions.tables import Coupon

__all__ = [
    "CancelOrder",
    "CaptureAuthorized",
    "CapturePayment",
    "Fulfil",
    "InvoiceOrder",
    "OrderView",
    "PlaceOrder",
    "RefundPayment",
    "ShippingIn",
    "ShippingView",
    "Swept",
    "TakePayment",
    "cancel",
    "capture_authorized",
    "capture_payment",
    "confirm_order",
    "confirm_refund_for_return",
    "expire_unpaid_orders",
    "fulfill",
    "get_order",
    "invoice_order",
    "list_orders",
    "place_order",
    "reduce_receivable_for_return",
    "refund_for_return",
    "refund_payment",
    "release_refund_for_return",
    "sweep",
    "sweep_due",
    "take_payment",
    "void_payment",
]

NUMBER_PREFIX = "SO"
QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
AmountIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
MoneyIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]


# -- requests and views ------------------------------------------------------------------------------


class LineIn(Request):
    product_id: uuid.UUID
    quantity: QuantityIn
    unit_price: MoneyIn | None = Field(
        None,
        description="marketplace and b2b: the price agreed (the marketplace's, the contract's); "
        "web prices always come from the price list.",
    )
    discount: MoneyIn = Field(
        Decimal(0),
        description="Amount off the line, on the unit price's basis: one manual discount given by the"
        " caller, which needs `orders:discount` and never takes the line below its margin floor"
        " (docs/discounts.md).",
    )


class ShippingIn(Request):
    amount: MoneyIn = Field(
        description="The shipping charged before any discount, in the company currency, on the prices'"
        " basis: tax included when the order's prices include tax. 0 is a free shipping method."
    )
    tax_category: text(min_length=1, max_length=32) = Field(  # type: ignore[valid-type]
        description="The tax category the charge is taxed under: the order's jurisdiction must have a"
        " tax rule for it (`422 no-tax-rule` naming `shipping.tax_category` otherwise)."
    )
    method: text(min_length=1, max_length=64) | None = Field(  # type: ignore[valid-type]
        None, description="The carrier or service (`standard`, `express`, a carrier's code), kept as given."
    )


class PlaceOrder(CompanyScoped):
    channel: Literal["web", "marketplace", "b2b"] = "web"
    fulfillment_mode: Literal["ship", "click_and_collect", "ship_from_store"] = "ship"
    store_id: StoreRef | None = Field(
        None, description="ship_from_store: code or id of the store whose stock leaves."
    )
    pickup_store_id: StoreRef | None = Field(
        None, description="click_and_collect: code or id of the store where it is collected."
    )
    customer_id: uuid.UUID | None = Field(None, description="Required for b2b.")
    confirm: bool = Field(
        True, description="false: keep the order as a draft (nothing reserved) until `/confirm`."
    )
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    coupons: list[text(min_length=1, max_length=64)] = Field(  # type: ignore[valid-type]
        default_factory=list,
        max_length=20,
        description="Coupon codes the customer presents: validated when the order is placed (`coupons.N`"
        " named on a refusal) and redeemed with it (docs/promotions.md#every-channel).",
    )
    shipping: ShippingIn | None = Field(
        None,
        description="The shipping charge of a shipped order (`ship`, `ship_from_store`; refused for"
        " `click_and_collect`): taxed with the lines, discounted by a free_shipping promotion in force,"
        " recognised as shipping revenue with the first delivery, not refunded by returns"
        " (docs/orders.md#shipping).",
    )


class TakePayment(Request):
    kind: Literal["card", "gift_card", "store_credit", "on_account", "loyalty"] = "card"
    gateway: text(min_length=1, max_length=64) | None = Field(
        None, description="card: the gateway (or the marketplace that collected)."
    )
    reference: text(min_length=1, max_length=200) | None = Field(
        None,
        description="card: the gateway's payment reference; gift_card: the card's code (the order keeps"
        " the card's id). store_credit, loyalty, on_account: the order's customer's (no reference).",
    )
    amount: AmountIn
    capture: bool = Field(True, description="card: false records the authorization only.")


CapturePayment = TakePayment
"""The name of the request before other tenders were taken (a card capture)."""


class CaptureAuthorized(Request):
    amount: AmountIn | None = Field(None, description="Defaults to the whole authorization.")


class RefundPayment(Request):
    amount: AmountIn


class FulfilledLine(Request):
    line_id: uuid.UUID
    quantity: QuantityIn


class Fulfil(Request):
    lines: list[FulfilledLine] | None = Field(
        None, max_length=200, description="What leaves now; omitted: every open quantity."
    )


class CancelOrder(Request):
    reason: text(max_length=500) = ""


class InvoiceOrder(Request):
    customer_id: uuid.UUID | None = Field(
        None, description="For an order without a customer yet (a POS sale invoiced afterwards)."
    )


class LineTaxView(BaseModel):
    """One tax of an order line. Lines placed before the breakdown kept kinds show only code, rate,
    base and amount (``kind`` then reads ``percent``)."""

    code: str
    name: str = ""
    kind: str = "percent"
    group: str | None = None
    rate_percent: DecimalStr
    base: DecimalStr
    amount: DecimalStr
    unrounded: DecimalStr | None = None


class OrderLineView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position: int
    product_id: uuid.UUID
    sku: str
    product_category: str
    quantity: DecimalStr
    unit_price: DecimalStr
    discount: DecimalStr
    """The sum of ``discounts``."""
    discounts: list[DiscountView] = Field(
        default_factory=list,
        description="Each discount of the line with its source (promotion, coupon, manual), and for a"
        " manual one who gave it and the manager's override (docs/discounts.md).",
    )
    tax_category: str
    net: DecimalStr
    tax: DecimalStr
    gross: DecimalStr
    taxes: list[LineTaxView] = Field(
        default_factory=list,
        description="The line's taxes as computed at placement: per tax its base and amount, the unrounded"
        " amount, kind and group (docs/pricing-and-tax.md#the-breakdown-on-order-lines).",
    )
    cost: DecimalStr
    fulfilled_quantity: DecimalStr
    cancelled_quantity: DecimalStr
    location_id: uuid.UUID | None
    reservation_id: uuid.UUID | None

    @field_validator("discounts", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class OrderPaymentView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    payment_method_code: str | None
    gateway: str | None
    reference: str | None
    authorized: DecimalStr
    captured: DecimalStr
    refunded: DecimalStr
    state: str


class ShippingView(BaseModel):
    method: str | None
    tax_category: str
    amount: DecimalStr
    """The shipping charged before discounts, on the prices' basis."""
    discount: DecimalStr
    """The sum of ``discounts``."""
    discounts: list[DiscountView] = Field(
        default_factory=list,
        description="Each discount of the shipping with its source (a free_shipping promotion, a coupon).",
    )
    net: DecimalStr
    tax: DecimalStr
    gross: DecimalStr


class OrderView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    channel: str
    fulfillment_mode: str
    state: str
    store_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    currency: str
    prices_include_tax: bool
    net_total: DecimalStr
    tax_total: DecimalStr
    gross_total: DecimalStr
    paid_amount: DecimalStr
    deposit_balance: DecimalStr
    receivable_balance: DecimalStr
    change_given: DecimalStr
    invoice_number: str | None
    pos_session_id: uuid.UUID | None
    client_uuid: uuid.UUID | None
    ordered_at: dt.datetime | None
    payment_due_at: dt.datetime | None = Field(
        description="A confirmed web or marketplace order with nothing paid is cancelled, and its stock"
        " let go, after this time; null once anything is paid, and for other orders."
    )
    reason: str
    lines: list[OrderLineView]
    shipping: ShippingView | None = Field(
        None,
        description="The shipping charge, its discounts and its taxes (part of the order's totals); null"
        " for an order without shipping.",
    )
    payments: list[OrderPaymentView]
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


# -- rows <-> aggregate ------------------------------------------------------------------------------


def _rounded(value: Decimal, currency: str) -> Money:
    return Money(value, currency).round()


def _lines(session: Session, row: t.OrderRow) -> list[t.OrderLineRow]:
    return list(
        session.scalars(
            select(t.OrderLineRow).where(t.OrderLineRow.order_id == row.id).order_by(t.OrderLineRow.position)
        )
    )


def _shipping_charged(row: t.OrderRow) -> Money | None:
    """What the order charges for shipping after its discounts (None: no shipping)."""
    if row.shipping_amount is None:
        return None
    return _rounded(row.shipping_amount - (row.shipping_discount or Decimal(0)), row.currency)


def _payment_rows(session: Session, row: t.OrderRow) -> list[t.OrderPaymentRow]:
    return list(
        session.scalars(
            select(t.OrderPaymentRow)
            .where(t.OrderPaymentRow.order_id == row.id)
            .order_by(t.OrderPaymentRow.position)
        )
    )


def load(session: Session, row: t.OrderRow) -> tuple[Order, OrderPayments, list[t.OrderLineRow]]:
    """The pure aggregate and its payments, as the rows hold them."""
    order, payments, line_rows, _ = _load(session, row)
    return order, payments, line_rows


def _load(
    session: Session, row: t.OrderRow
) -> tuple[Order, OrderPayments, list[t.OrderLineRow], list[t.OrderPaymentRow]]:
    """:func:`load`, with the payment rows it read (for :func:`_save` and :func:`view`)."""
    currency = row.currency
    collected = row.fulfillment_mode == FulfillmentMode.click_and_collect
    line_rows = _lines(session, row)
    order = Order(
        currency=currency,
        channel=row.channel,  # type: ignore[arg-type]  # the model turns strings into its enums
        mode=row.fulfillment_mode,  # type: ignore[arg-type]
        store_id=None if collected else row.store_id,
        pickup_store_id=row.store_id if collected else None,
        customer_id=row.customer_id,
        order_id=row.id,
        state=row.state,  # type: ignore[arg-type]
        lines=[
            OrderLine(
                line_id=line.id,
                product_id=line.product_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=Money(line.unit_price, currency),
                discount=_rounded(line.discount, currency),
                tax_category=line.tax_category,
                fulfilled_quantity=line.fulfilled_quantity,
                cancelled_quantity=line.cancelled_quantity,
            )
            for line in line_rows
        ],
        taxes=_rounded(row.tax_total, currency),
        prices_include_tax=row.prices_include_tax,
        shipping=_shipping_charged(row),
    )
    tenders: list[Tender | CardPayment] = []
    payment_rows = _payment_rows(session, row)
    for payment in payment_rows:
        if payment.kind == TenderKind.card:
            tenders.append(
                CardPayment(
                    gateway=payment.gateway or "",
                    reference=payment.reference or "",
                    authorized=_rounded(payment.authorized, currency),
                    captured=_rounded(payment.captured, currency),
                    refunded=_rounded(payment.refunded, currency),
                    state=CardState(payment.state),
                    tender_id=payment.id,
                )
            )
        else:
            tenders.append(
                Tender(
                    kind=TenderKind(payment.kind),
                    amount=_rounded(payment.captured, currency),
                    reference=payment.reference,
                    tender_id=payment.id,
                )
            )
    payments = OrderPayments(order_id=row.id, total=_rounded(row.gross_total, currency), tenders=tenders)
    return order, payments, line_rows, payment_rows


def _save(
    session: Session,
    ctx: CommandContext,
    row: t.OrderRow,
    order: Order,
    payments: OrderPayments,
    line_rows: Sequence[t.OrderLineRow],
    payment_rows: Sequence[t.OrderPaymentRow] | None = None,
    *,
    flush: bool = True,
) -> list[t.OrderPaymentRow]:
    """Write what the aggregate changed back to its rows; the order's payment rows after it.
    ``payment_rows``: all of them as :func:`_load` read them (else read here). Without ``flush``, the
    changes go with the session's next flush (one UPDATE of the order when more changes follow)."""
    row.state = order.state.value
    if row.payment_due_at is not None and (
        order.state is not OrderState.confirmed or _holds_payment(payments)
    ):
        row.payment_due_at = None  # paid, or no longer waiting for it
    row.updated_by = ctx.actor
    row.version += 1
    by_id = {line.line_id: line for line in order.lines}
    for line_row in line_rows:
        line = by_id[line_row.id]
        line_row.fulfilled_quantity = line.fulfilled_quantity
        line_row.cancelled_quantity = line.cancelled_quantity
    rows = list(_payment_rows(session, row) if payment_rows is None else payment_rows)
    existing = {p.id: p for p in rows}
    for position, tender in enumerate(payments.tenders):
        payment = existing.get(tender.tender_id)
        if payment is None:
            payment = t.OrderPaymentRow(id=tender.tender_id, company_id=row.company_id, order_id=row.id)
            payment.position = position
            session.add(payment)
            rows.append(payment)
        if isinstance(tender, CardPayment):
            payment.kind = TenderKind.card.value
            payment.gateway, payment.reference = tender.gateway, tender.reference
            payment.authorized = tender.authorized.amount
            payment.captured = tender.captured.amount
            payment.refunded = tender.refunded.amount
            payment.state = tender.state.value
        else:
            payment.kind = tender.kind.value
            payment.reference = tender.reference
            payment.authorized = payment.captured = tender.amount.amount
            payment.refunded = Decimal(0)
            payment.state = "accepted"
    if flush:
        session.flush()
    return rows


def _flat(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Amounts as decimal strings, as posting rules read them (the model writes Money objects)."""
    for key in keys:
        value = payload.get(key)
        if isinstance(value, dict) and "amount" in value:
            payload[key] = value["amount"]
    return payload


def _paid(payments: OrderPayments) -> Money:
    """What the payments hold in money: captured minus refunded, on account excluded."""
    return Money.sum(
        (
            tender.captured - tender.refunded if isinstance(tender, CardPayment) else tender.amount
            for tender in payments.tenders
            if isinstance(tender, CardPayment) or tender.kind is not TenderKind.on_account
        ),
        payments.currency,
    )


UNPAID_HOLD_CHANNELS = (Channel.web, Channel.marketplace)
"""Channels whose confirmed orders wait only so long for a payment (b2b is on account, POS paid)."""


def _holds_payment(payments: OrderPayments) -> bool:
    """Whether any tender stands for money now: an authorization, a capture not refunded, a gift card,
    store credit, or an on-account promise."""
    return any(tender.covered.amount > 0 for tender in payments.tenders)


def _payment_due(
    company: Company, row: t.OrderRow, payments: OrderPayments | None, confirmed_at: dt.datetime
) -> dt.datetime | None:
    """When an order confirmed now with nothing paid lets go of its stock; None when it never does."""
    hold = company.unpaid_order_hold_minutes
    if row.channel not in UNPAID_HOLD_CHANNELS or hold is None:
        return None
    if payments is not None and _holds_payment(payments):
        return None
    return confirmed_at + dt.timedelta(minutes=hold)


MONEY_IN = ("PaymentCaptured", "TenderAccepted")
MONEY_BACK = ("PaymentRefunded", "TenderReturned")


def _split_money(row: t.OrderRow, event_type: str, payload: dict[str, Any]) -> None:
    """Money in settles what was delivered unpaid first, the rest is a deposit; money back comes out of
    the deposit. Keeps the order's balances and tells the posting rules the split."""
    amount = Decimal(str(payload["amount"]))
    kind = payload.get("kind", "card")
    if event_type in MONEY_IN:
        if kind == TenderKind.on_account:
            amount = Decimal(0)  # a promise to pay: delivery makes it a receivable
        settled = min(amount, row.receivable_balance)
        deposit = amount - settled
        row.receivable_balance -= settled
        row.deposit_balance += deposit
        payload["settled"], payload["deposit"] = str(settled), str(deposit)
        payload["split"] = True  # the order's rule: deposit and settlement (not everything a deposit)
        if row.customer_id is not None:  # the customer dimension of the receivable it settles
            payload["customer_id"] = str(row.customer_id)
    else:
        row.deposit_balance -= amount
    if event_type in ("TenderAccepted", "TenderReturned"):
        payload["tenders"] = [{"kind": kind, "amount": str(amount)}] if amount else []


BALANCE_TENDERS = (TenderKind.gift_card, TenderKind.store_credit, TenderKind.loyalty)


def _names_a_card(reference: object) -> bool:
    try:
        uuid.UUID(str(reference))
    except ValueError:
        return False
    return True


def _move_tender_balance(
    session: Session, ctx: CommandContext, row: t.OrderRow, event_type: str, payload: dict[str, Any]
) -> None:
    """A gift card or store credit tender moves its balance in the payments context (loyalty points in
    the loyalty context), in this transaction: taken (refused beyond the balance, ``409
    insufficient-balance``, writing nothing) or given back. The ledger entry is the tender's own event's."""
    amount = Decimal(str(payload["amount"]))
    common = {
        "company_id": row.company_id,
        "amount": amount,
        "currency": row.currency,
        "reference": row.number,
    }
    accepted = event_type == "TenderAccepted"
    if payload["kind"] == TenderKind.gift_card:
        if accepted:
            pay.redeem_gift_card(session, ctx, card_id=payload["reference"], store_id=row.store_id, **common)
        elif _names_a_card(payload["reference"]):
            pay.credit_gift_card(session, ctx, card_id=payload["reference"], **common)
        # else: a tender taken before gift cards had balances (its reference is what the client sent):
        # there is no card to credit; the ledger entry still gives the liability back.
    elif payload["kind"] == TenderKind.loyalty:
        if accepted:
            loyalty.burn(session, ctx, customer_id=payload["reference"], order_id=row.id, **common)
        else:
            loyalty.give_back(session, ctx, customer_id=payload["reference"], order_id=row.id, **common)
    elif accepted:
        pay.spend_store_credit(session, ctx, customer_id=payload["reference"], **common)
    else:
        pay.return_store_credit(session, ctx, customer_id=payload["reference"], **common)


def _emit(
    session: Session,
    ctx: CommandContext,
    row: t.OrderRow,
    events: Sequence[DomainEvent],
    extra: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Record the aggregate's pending events, with what the posting rules need added (``extra`` per
    event type)."""
    for event in events:
        payload = {
            **event.payload,
            "order_ref": row.number,
            "currency": row.currency,
            "channel": row.channel,
            **(extra or {}).get(event.type, {}),
        }
        if event.type.startswith(("Payment", "Tender")):
            payload.setdefault("store_id", str(row.store_id) if row.store_id else None)
            _flat(payload, "amount", "released", "refunded_total", "change")
        if event.type in MONEY_IN + MONEY_BACK and not payload.get("for_return"):
            _split_money(row, event.type, payload)
        if event.type in ("TenderAccepted", "TenderReturned") and payload.get("kind") in BALANCE_TENDERS:
            _move_tender_balance(session, ctx, row, event.type, payload)
        record(
            session,
            ctx,
            type=event.type,
            company_id=row.company_id,
            aggregate_type="Order",
            aggregate_id=row.id,
            payload=payload,
            store_id=row.store_id,
        )
    if isinstance(events, list):
        events.clear()  # recorded: a later _emit of the same aggregate must not record them again


def _share(amount: Decimal, before: Decimal, after: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """The part of a line amount that belongs to the quantities ``before..after`` of ``quantity``:
    rounded cumulatively, so the parts of a line always add up to the line."""

    def upto(done: Decimal) -> Decimal:
        return _rounded(amount * done / quantity, currency).amount

    return upto(after) - upto(before)


def _delivered_revenue(
    line_rows: Sequence[t.OrderLineRow],
    delivered: dict[uuid.UUID, Decimal],
    currency: str,
    income: dict[uuid.UUID, str] | None = None,
) -> tuple[list[dict[str, Any]], Decimal]:
    """Revenue and tax of the quantities delivered now, per category and tax code, and their gross.
    ``delivered`` is line id -> quantity, read against the lines as they were before this delivery."""
    parts = []
    gross = Decimal(0)
    for line in line_rows:
        quantity = delivered.get(line.id)
        if not quantity:
            continue
        before, after = line.fulfilled_quantity, line.fulfilled_quantity + quantity
        net = _share(line.net, before, after, line.quantity, currency)
        taxes = [
            {
                "code": tax["code"],
                "base": _share(Decimal(tax["base"]), before, after, line.quantity, currency),
                "amount": _share(Decimal(tax["amount"]), before, after, line.quantity, currency),
            }
            for tax in line.taxes
        ]
        gross += net + sum((tax["amount"] for tax in taxes), Decimal(0))
        parts.append((line.product_category, net, taxes, (income or {}).get(line.product_id)))
    return revenue_lines(parts, currency), gross


def _discount_trail(row: t.OrderRow, line_rows: Sequence[t.OrderLineRow]) -> dict[str, dict[str, Any]] | None:
    """``OrderConfirmed`` carries each discounted line's records (source, who gave it), and the
    shipping's: the log's trail of the discounts an order was confirmed with."""
    trail = [{"position": line.position, "discounts": line.discounts} for line in line_rows if line.discounts]
    extra: dict[str, Any] = {"line_discounts": trail} if trail else {}
    if row.shipping_discounts:
        extra["shipping_discounts"] = row.shipping_discounts
    return {"OrderConfirmed": extra} if extra else None


def _delivered_discounts(
    line_rows: Sequence[t.OrderLineRow], delivered: dict[uuid.UUID, Decimal], currency: str, included: bool
) -> list[dict[str, str]]:
    """The discounts (net of tax) of the quantities delivered now, per category, shared like the net."""
    parts = []
    for line in line_rows:
        quantity = delivered.get(line.id)
        if not quantity or not line.discount:
            continue
        before, after = line.fulfilled_quantity, line.fulfilled_quantity + quantity
        whole = discounts.discount_net(line.discount, line.taxes, included, currency)
        parts.append((line.product_category, _share(whole, before, after, line.quantity, currency)))
    return discounts.contra_lines(parts, currency)


def _delivered_shipping(
    session: Session, company: Company, row: t.OrderRow, line_rows: Sequence[t.OrderLineRow]
) -> tuple[dict[str, Any], Decimal]:
    """The shipping an order's first delivery recognises (decision 0057): the ``shipping`` list (net and
    tax per tax code) and, for a contra-posting company, ``shipping_discounts``; and its gross. Nothing
    for an order without shipping, or once a delivery has recognised it."""
    if row.shipping_amount is None or any(line.fulfilled_quantity > 0 for line in line_rows):
        return {}, Decimal(0)
    currency = row.currency
    net = row.shipping_net or Decimal(0)
    taxes = row.shipping_taxes or []
    extra: dict[str, Any] = {"shipping": revenue_lines([("shipping", net, taxes)], currency)}
    if row.shipping_discount and discounts.posting_mode(session, company.id) == "contra":
        whole = discounts.discount_net(row.shipping_discount, taxes, row.prices_include_tax, currency)
        if whole:
            extra["shipping_discounts"] = [{"amount": str(whole)}]
    return extra, _rounded(net + (row.shipping_tax or Decimal(0)), currency).amount


# -- sourcing ----------------------------------------------------------------------------------------


def _stock_location(session: Session, store: Store) -> Location | None:
    return session.scalar(
        select(Location)
        .where(Location.store_id == store.id, Location.kind == "stock", Location.active.is_(True))
        .order_by(Location.code)
    )


def _promisable(
    session: Session, company: Company, channel: str, location: Location, product_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """What the channel may be promised per product at the location (on hand - reserved - safety)."""
    safety = r.safety_table(session, company.id, product_ids)
    rows = session.execute(
        select(i.StockQuant.product_id, i.StockQuant.quantity, i.StockQuant.reserved).where(
            i.StockQuant.location_id == location.id, i.StockQuant.product_id.in_(product_ids)
        )
    )
    found = {
        row.product_id: r.available_to_promise(
            row.quantity, row.reserved, r.safety_for(safety, channel, row.product_id)
        )
        for row in rows
    }
    return {product_id: found.get(product_id, Decimal(0)) for product_id in product_ids}


def _store(session: Session, company: Company, store_id: uuid.UUID, field: str) -> Store:
    store = session.get(Store, store_id)
    if store is None or store.company_id != company.id or not store.active:
        raise InvalidReference(f"no store {store_id}", problems=[FieldProblem(field, "no such store")])
    return store


def _source(
    session: Session,
    company: Company,
    body: PlaceOrder,
    wanted: dict[uuid.UUID, Decimal],
    promisable: dict[uuid.UUID, dict[uuid.UUID, Decimal]] | None = None,
) -> tuple[FulfillmentMode, Store | None, Location | None]:
    """Mode, store and stock location the order is reserved at (see the module docstring).
    ``promisable`` keeps what each location it weighed can promise (location id -> product ->
    quantity), so that the caller does not read it again."""
    weighed = promisable if promisable is not None else {}
    if body.fulfillment_mode == "click_and_collect":
        if body.pickup_store_id is None:
            raise ValidationFailed(
                "click_and_collect needs a pickup store",
                problems=[FieldProblem("pickup_store_id", "required for click_and_collect")],
            )
        store = _store(session, company, body.pickup_store_id, "pickup_store_id")
        if store.kind != "store":
            raise ValidationFailed(
                "customers collect in a store, not a warehouse",
                problems=[FieldProblem("pickup_store_id", f"is a {store.kind}")],
            )
        return FulfillmentMode.click_and_collect, store, _stock_location(session, store)
    if body.fulfillment_mode == "ship_from_store":
        if body.store_id is None:
            raise ValidationFailed(
                "ship_from_store needs the store whose stock leaves",
                problems=[FieldProblem("store_id", "required for ship_from_store")],
            )
        store = _store(session, company, body.store_id, "store_id")
        return FulfillmentMode.ship_from_store, store, _stock_location(session, store)

    def fits(location: Location | None) -> Decimal | None:
        if location is None:
            return None
        available = weighed[location.id] = _promisable(session, company, body.channel, location, set(wanted))
        if any(available[product] < quantity for product, quantity in wanted.items()):
            return None
        return sum(available.values(), Decimal(0))

    # Every active store with its stock location (what _stock_location picks: the first active one by
    # code) in one query, rather than one query a store.
    stores: list[Store] = []
    stock: dict[uuid.UUID, Location | None] = {}
    for store, location in session.execute(
        select(Store, Location)
        .outerjoin(
            Location,
            (Location.store_id == Store.id) & (Location.kind == "stock") & Location.active.is_(True),
        )
        .where(Store.company_id == company.id, Store.active.is_(True))
        .order_by(Store.code, Location.code)
    ):
        if store.id not in stock:
            stores.append(store)
            stock[store.id] = location
    warehouses = [(s, stock[s.id]) for s in stores if s.kind == "warehouse"]
    for store, location in warehouses:
        if fits(location) is not None:
            return FulfillmentMode.ship, store, location
    best: tuple[Decimal, Store, Location] | None = None
    for store in (s for s in stores if s.kind == "store"):
        location = stock[store.id]
        score = fits(location)
        if score is not None and location is not None and (best is None or score > best[0]):
            best = (score, store, location)
    if best is not None:
        return FulfillmentMode.ship_from_store, best[1], best[2]
    # Nowhere has everything: refuse at the first warehouse, naming what is short there.
    if warehouses:
        return FulfillmentMode.ship, warehouses[0][0], warehouses[0][1]
    return FulfillmentMode.ship, None, None


def _insufficient(problems: list[FieldProblem]) -> Conflict:
    return Conflict(
        "not enough stock to promise " + "; ".join(p.message for p in problems),
        code="insufficient-stock",
        problems=problems,
    )


def _take_number(session: Session, company_id: uuid.UUID) -> str:
    """The company's next ``SO-000042`` (gap-free: see :func:`~retailcore.orders.invoices.take_number`)."""
    return f"{NUMBER_PREFIX}-{take_number(session, company_id, NUMBER_PREFIX):06d}"


# -- commands ----------------------------------------------------------------------------------------


def _products(
    session: Session, company: Company, body: PlaceOrder, channel_prices: bool = False
) -> list[Product]:
    products: list[Product] = []
    problems: list[FieldProblem] = []
    # One query for every line (not a get a line); barcodes load only if something reads them.
    found = {
        product.id: product
        for product in session.scalars(
            select(Product)
            .where(Product.id.in_(list({line.product_id: None for line in body.lines})))
            .options(lazyload(Product.barcodes))
        )
    }
    for index, line in enumerate(body.lines):
        product = found.get(line.product_id)
        where = f"lines.{index}.product_id"
        if product is None or product.company_id != company.id:
            raise InvalidReference(
                f"no product {line.product_id}", problems=[FieldProblem(where, "no such product")]
            )
        sold_here = {
            "web": product.available_web,
            "marketplace": product.available_marketplace,
            "b2b": True,
        }[body.channel]
        if not product.active or not sold_here:
            problems.append(FieldProblem(where, f"{product.sku} is not sold on {body.channel}"))
        if line.unit_price is not None and body.channel == "web" and not channel_prices:
            problems.append(FieldProblem(f"lines.{index}.unit_price", "web prices come from the price list"))
        products.append(product)
    if problems:
        raise ValidationFailed("some lines cannot be ordered as given", problems=problems)
    return products


def _reserve_lines(
    session: Session,
    ctx: CommandContext,
    company: Company,
    row: t.OrderRow,
    line_rows: Sequence[t.OrderLineRow],
) -> None:
    """Reserve every line at its sourcing location; all or nothing (409 naming the line)."""
    for index, line_row in enumerate(line_rows):
        assert line_row.location_id is not None
        try:
            reservation = r.reserve(
                session,
                ctx,
                company,
                product_id=line_row.product_id,
                location_id=line_row.location_id,
                quantity=line_row.quantity,
                channel=row.channel,
                order_ref=row.number,
                order_line_ref=str(line_row.position),
            )
        except Conflict as error:
            if error.code != "insufficient-stock":
                raise
            where = f"lines.{index}.quantity"
            raise _insufficient([FieldProblem(where, f"{line_row.sku}: {error.detail}")]) from error
        line_row.reservation_id = reservation.id


SHIPPING_KEY = "shipping"
"""The shipping's key among the lines given to the tax engine (the lines' keys are their ids)."""


def _taxes_kept(taxed: Any) -> list[dict[str, str]]:
    """A taxed line's taxes as an order keeps them (``order_lines.taxes``, ``orders.shipping_taxes``)."""
    return [tax.as_json() for tax in taxed.taxes]


def place_order(
    session: Session,
    ctx: CommandContext,
    company: Company,
    body: PlaceOrder,
    *,
    channel_prices: bool = False,
    sold_elsewhere: bool = False,
) -> OrderView:
    """Price, tax and source the lines; unless ``confirm`` is false, reserve them and confirm the
    order. All or nothing.

    ``channel_prices``: a web order that was already sold elsewhere at its own prices (a Shopify order
    landed by :mod:`retailcore.connectors.shopify`) keeps the ``unit_price`` of its lines; the API's
    own web orders never pass it, so their prices stay the price list's.

    Unless the order was sold elsewhere (``channel_prices`` or ``sold_elsewhere``: a connector landing
    what a shop or a marketplace already sold, with its discounts), the lines go through the one
    pricing function (:mod:`retailcore.promotions.channels`, decision 0052): the promotions in force at
    the named store's local time (the company's default zone otherwise), for the customer's group,
    with the ``coupons`` presented (validated first: ``422``/``409`` naming ``coupons.N``, nothing
    written; redeemed once the order is written, in the same transaction). Each line records its
    discounts with their source; its ``discount`` is their sum.

    A line's ``discount`` in the request is one manual discount given by the caller, applied after the
    promotions. It needs ``orders:discount`` and may not take the line below its margin floor (``422
    below-margin-floor`` naming ``lines.N.discount``, :func:`retailcore.orders.discounts.floor_breaches`);
    a line with promotion discounts only is not checked (its floor was judged at approval)."""
    checked = not (channel_prices or sold_elsewhere)
    if checked and any(line.discount for line in body.lines) and not ctx.principal.can("orders:discount"):
        raise PermissionDenied(
            f"role '{ctx.principal.role}' may not give a manual discount on an order",
            problems=[
                FieldProblem(f"lines.{n}.discount", "needs orders:discount")
                for n, line in enumerate(body.lines)
                if line.discount
            ],
        )
    currency = company.currency
    today = (ctx.occurred_at or utcnow()).date()
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.company_id != company.id:
            raise InvalidReference(
                f"no customer {body.customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
            )
    elif body.channel == "b2b":
        raise ValidationFailed(
            "a b2b order is placed for a customer", problems=[FieldProblem("customer_id", "required for b2b")]
        )
    ship = body.shipping
    if ship is not None:
        if body.fulfillment_mode == "click_and_collect":
            raise ValidationFailed(
                "a click_and_collect order is collected, not shipped",
                problems=[FieldProblem("shipping", "not taken on a click_and_collect order")],
            )
        if _rounded(ship.amount, currency).amount != ship.amount:
            raise ValidationFailed(
                "the shipping amount has more decimals than the currency",
                problems=[FieldProblem("shipping.amount", f"more decimals than {currency} has")],
            )
    products = _products(session, company, body, channel_prices)
    problems: list[FieldProblem] = []

    wanted: dict[uuid.UUID, Decimal] = {}
    for line in body.lines:
        wanted[line.product_id] = wanted.get(line.product_id, Decimal(0)) + line.quantity
    weighed: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
    mode, store, location = _source(session, company, body, wanted, weighed)
    if location is None:
        problems = [
            FieldProblem(f"lines.{n}.quantity", f"{p.sku}: no stock location to source it from")
            for n, p in enumerate(products)
        ]
        raise _insufficient(problems)
    # A draft promises nothing yet: its stock is checked (and reserved) when it is confirmed.
    available: dict[uuid.UUID, Decimal] = {}
    if body.confirm:
        # Nothing was written since _source weighed the location: what it read still holds.
        available = (
            weighed[location.id]
            if location.id in weighed
            else _promisable(session, company, body.channel, location, set(wanted))
        )
    needed: dict[uuid.UUID, Decimal] = {}
    for index, (line, product) in enumerate(zip(body.lines, products, strict=True)):
        needed[product.id] = needed.get(product.id, Decimal(0)) + line.quantity
        if body.confirm and needed[product.id] > available[product.id]:
            problems.append(
                FieldProblem(
                    f"lines.{index}.quantity",
                    f"{product.sku}: {available[product.id].normalize():f} available at {location.code},"
                    f" {line.quantity.normalize():f} asked",
                )
            )
    if problems:
        raise _insufficient(problems)

    jurisdiction = (store.tax_jurisdiction if store else None) or company.tax_jurisdiction
    rules = load_tax_rules(session, company.id, jurisdiction)
    for index, product in enumerate(products):
        if product.tax_category not in rules:
            problems.append(
                FieldProblem(
                    f"lines.{index}.product_id",
                    f"{product.sku}: no tax rule for {product.tax_category} in {jurisdiction}",
                )
            )
    if ship is not None and ship.tax_category not in rules:
        problems.append(
            FieldProblem("shipping.tax_category", f"no tax rule for {ship.tax_category} in {jurisdiction}")
        )
    if problems:
        raise ValidationFailed("some lines cannot be taxed", code="no-tax-rule", problems=problems)
    included = {tax.price_included for p in products for tax in rules[p.tax_category]}
    if ship is not None:
        included |= {tax.price_included for tax in rules[ship.tax_category]}
    if len(included) > 1:
        raise ValidationFailed(
            "an order cannot mix price-included and price-excluded taxes",
            problems=[FieldProblem("lines", "taxes mix price-included and excluded")],
        )

    order = Order(
        currency=currency,
        channel=body.channel,  # type: ignore[arg-type]
        mode=mode,
        store_id=None if mode is FulfillmentMode.click_and_collect else (store.id if store else None),
        pickup_store_id=store.id if mode is FulfillmentMode.click_and_collect and store else None,
        customer_id=body.customer_id,
        prices_include_tax=included == {True},
    )
    at = ctx.occurred_at or utcnow()
    # The store the customer named (collecting there, or its stock leaving): its zone and its promotions.
    priced_at = store if body.fulfillment_mode != "ship" else None
    local = pricing.local_time(session, company.id, priced_at.timezone if priced_at else None, at)
    group = pricing.customer_group(session, company.id, body.customer_id)
    listed = iter(
        prices_for(
            session,
            company,
            [(p, ln.quantity) for ln, p in zip(body.lines, products, strict=True) if ln.unit_price is None],
            channel=body.channel,
            store_id=None,
            currency=currency,
            on=local.date() if checked else today,
            customer_group=group if checked else None,
        )
    )
    unit_prices: list[Decimal] = []
    for index, line in enumerate(body.lines):
        unit_prices.append(line.unit_price if line.unit_price is not None else next(listed).unit_price)
        if _rounded(line.discount, currency).amount != line.discount:
            raise ValidationFailed(
                "the discount has more decimals than the currency",
                problems=[FieldProblem(f"lines.{index}.discount", "too many decimals")],
            )
    # Promotions and coupons: only for orders we price (a connector's import keeps the discounts the
    # shop or marketplace gave, as its manual discount).
    coupons: list[coupon_service.ValidCoupon] = []
    if body.coupons:
        if not checked:
            raise ValidationFailed(
                "an order sold elsewhere carries its own discounts, not our coupons",
                problems=[FieldProblem("coupons", "not taken on an imported order")],
            )
        coupons = coupon_service.validate_coupons(
            session, company, body.coupons, customer_id=body.customer_id, at=at
        )
    priced = None
    if checked:
        priced = pricing.book_for(session, company.id).price(
            Basket(
                lines=tuple(
                    BasketLine(
                        key=str(n),
                        product_id=product.id,
                        category=product.category,
                        quantity=line.quantity,
                        unit_price=unit_prices[n],
                        manual_discount=line.discount,
                    )
                    for n, (line, product) in enumerate(zip(body.lines, products, strict=True))
                ),
                currency_decimals=minor_unit(currency),
                channel=body.channel,
                local_time=local,
                store_id=priced_at.id if priced_at else None,
                customer_group=group,
                coupons=coupon_service.basket_coupons(coupons),
                shipping=ship.amount if ship is not None else Decimal(0),
            )
        )
    line_records: list[list[dict[str, Any]] | None] = []
    manual_parts: list[Decimal] = []
    for index, (line, product) in enumerate(zip(body.lines, products, strict=True)):
        if priced is not None:
            priced_line = priced.lines[index]
            discount = priced_line.discount
            manual_parts.append(
                sum((d.amount for d in priced_line.discounts if d.source == "manual"), Decimal(0))
            )
            if manual_parts[-1] != line.discount:  # the engine never takes a line below zero
                raise ValidationFailed(
                    f"the discount {line.discount} is more than what is left of the line after its"
                    f" promotions ({priced_line.net + manual_parts[-1]})",
                    problems=[FieldProblem(f"lines.{index}.discount", "more than the line")],
                )
            line_records.append(pricing.records(priced_line.discounts, ctx.actor))
        else:
            discount = line.discount
            manual_parts.append(line.discount)
            line_records.append([discounts.manual(line.discount, ctx.actor)] if line.discount else None)
        try:
            order.add_line(
                product_id=product.id,
                sku=product.sku,
                quantity=line.quantity,
                unit_price=Money(unit_prices[index], currency),
                discount=Money(discount, currency),
                tax_category=product.tax_category,
            )
        except ValidationFailed as error:
            raise ValidationFailed(
                error.detail,
                problems=[FieldProblem(f"lines.{index}.{p.field}", p.message) for p in error.problems],
            ) from None
    # Shipping: what the free_shipping promotions (or a coupon granting one) took off, recorded with
    # their source like a line's discounts; taxed as one more line of the document.
    ship_records: list[dict[str, Any]] | None = None
    ship_discount = Decimal(0)
    taxable = [
        TaxableLine(str(ln.line_id), ln.net_amount.amount, ln.tax_category, Decimal(ln.quantity))
        for ln in order.lines
    ]
    if ship is not None:
        if priced is not None:
            ship_discount = sum((d.amount for d in priced.shipping_discounts), Decimal(0))
            ship_records = pricing.records(priced.shipping_discounts, ctx.actor)
        order.shipping = Money(ship.amount - ship_discount, currency)
        taxable.append(TaxableLine(SHIPPING_KEY, order.shipping.amount, ship.tax_category))
    try:
        taxes = compute_taxes(taxable, rules, currency)
    except NoTaxRule as error:  # pragma: no cover - checked above
        raise ValidationFailed(str(error), code="no-tax-rule") from error
    order.set_taxes(Money(taxes.tax_total, currency))
    if checked:
        # The floor was judged when a promotion was approved: only a line with a manual discount is
        # checked here, on its net after every discount.
        discounts.refuse_breaches(
            discounts.floor_breaches(
                session,
                company,
                [
                    discounts.FloorLine(
                        f"lines.{n}.discount",
                        line.product_id,
                        line.quantity,
                        taxes.line(str(line.line_id)).net,
                    )
                    for n, line in enumerate(order.lines)
                    if manual_parts[n]
                ],
            )
        )

    if body.confirm:
        # Confirmed before its row is written, so the row goes in once, confirmed (its events are
        # recorded below, after the coupons, as before).
        order.confirm()
        assert order.total.amount == taxes.gross_total, (order.total, taxes.gross_total)
    row = t.OrderRow(
        id=order.order_id,
        company_id=company.id,
        number=_take_number(session, company.id),
        channel=body.channel,
        fulfillment_mode=mode.value,
        state=order.state.value,
        store_id=store.id if store else None,
        customer_id=body.customer_id,
        currency=currency,
        prices_include_tax=order.prices_include_tax,
        net_total=taxes.net_total,
        tax_total=taxes.tax_total,
        gross_total=taxes.gross_total,
        reason="",
        deposit_balance=Decimal(0),
        receivable_balance=Decimal(0),
        change_given=Decimal(0),
        ordered_at=ctx.occurred_at or utcnow(),
        created_by=ctx.actor,
        updated_by=ctx.actor,
    )
    if body.confirm:
        row.payment_due_at = _payment_due(company, row, None, row.ordered_at or utcnow())
    if ship is not None:
        ship_tax = taxes.line(SHIPPING_KEY)
        row.shipping_amount = ship.amount
        row.shipping_discount = ship_discount
        row.shipping_discounts = ship_records
        row.shipping_tax_category = ship.tax_category
        row.shipping_method = ship.method
        row.shipping_net = ship_tax.net
        row.shipping_tax = ship_tax.tax
        row.shipping_taxes = _taxes_kept(ship_tax)
    session.add(row)
    session.flush()
    line_rows = []
    for position, (line, product) in enumerate(zip(order.lines, products, strict=True), start=1):
        line_tax = taxes.line(str(line.line_id))
        line_row = t.OrderLineRow(
            id=line.line_id,
            company_id=company.id,
            order_id=row.id,
            position=position,
            product_id=product.id,
            sku=product.sku,
            product_category=product.category,
            quantity=line.quantity,
            unit_price=line.unit_price.amount,
            discount=line.discount.amount,
            discounts=line_records[position - 1],
            tax_category=line.tax_category,
            net=line_tax.net,
            tax=line_tax.tax,
            gross=line_tax.gross,
            taxes=_taxes_kept(line_tax),
            fulfilled_quantity=Decimal(0),
            cancelled_quantity=Decimal(0),
            cost=Decimal(0),
            location_id=location.id,
        )
        line_rows.append(line_row)
    if coupons:
        assert priced is not None
        taken = pricing.coupon_amounts(priced)
        for n, coupon in enumerate(coupons):
            found = session.get(Coupon, coupon.coupon_id)
            assert found is not None
            coupon_service.redeem(
                session,
                ctx,
                found,
                order_id=row.id,
                customer_id=body.customer_id,
                amount=taken.get(coupon.code, Decimal(0)),
                at=at,
                field=f"coupons.{n}",
            )
    if body.confirm:
        _emit(session, ctx, row, order.pending_events, _discount_trail(row, line_rows))
        _reserve_lines(session, ctx, company, row, line_rows)
    # The lines go in last, once, with their reservations (reserving names the order by its number
    # and the line by its position, not by the line's row): no UPDATE of each line after it.
    session.add_all(line_rows)
    session.flush()
    return view(session, row, line_rows, [], invoiced=False)


def _locked(session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID) -> t.OrderRow:
    row = session.scalar(
        select(t.OrderRow)
        .where(t.OrderRow.id == order_id, t.OrderRow.company_id == company.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or not ctx.principal.sees_store(row.store_id):
        raise NotFound(f"no order {order_id}")
    return row


def _not_at_the_till(row: t.OrderRow, action: str) -> None:
    if row.channel == "pos":
        raise Conflict(
            f"order {row.number} is a POS sale: it was {action} at the till",
            code="pos-sale",
            problems=[FieldProblem("channel", "pos")],
        )


def confirm_order(session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID) -> OrderView:
    """draft -> confirmed: reserve every line where it was sourced (all or nothing)."""
    row = _locked(session, ctx, company, order_id)
    order, payments, line_rows = load(session, row)
    order.confirm()
    row.payment_due_at = _payment_due(company, row, payments, ctx.occurred_at or utcnow())
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, order.pending_events, _discount_trail(row, line_rows))
    _reserve_lines(session, ctx, company, row, line_rows)
    session.flush()
    return view(session, row)


PAYABLE = (
    OrderState.draft,
    OrderState.confirmed,
    OrderState.partially_fulfilled,
    OrderState.fulfilled,
    OrderState.invoiced,
)


INVOICED = (OrderState.invoiced, OrderState.closed)
"""The states of an order that may have an invoice (for the till's sales, see the POS)."""


def take_payment(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, body: TakePayment
) -> OrderView:
    """A payment for the order: a card the gateway authorized (and, by default, captured), a gift card,
    store credit, or on account. Before delivery it is a deposit; after, it settles the receivable."""
    row = _locked(session, ctx, company, order_id)
    _not_at_the_till(row, "paid")
    if row.state not in PAYABLE:
        raise Conflict(
            f"order {row.number} is {row.state}: it takes no more payments",
            code="order-not-payable",
            problems=[FieldProblem("state", f"is {row.state}")],
        )
    order, payments, line_rows, payment_rows = _load(session, row)
    amount = Money(body.amount, row.currency)
    # Paying what was put on account (a b2b invoice settled): the promise gives way to the money.
    if body.kind != "on_account" and amount > payments.amount_due and payments.on_account.amount > 0:
        payments.settle_on_account(min(payments.on_account, amount - payments.amount_due))
    if body.kind == "card":
        missing = [
            FieldProblem(name, "required for a card payment")
            for name in ("gateway", "reference")
            if getattr(body, name) is None
        ]
        if missing:
            raise ValidationFailed("a card payment names its gateway and reference", problems=missing)
        card = payments.authorize_card(body.gateway or "", body.reference or "", amount)
        if body.capture:
            payments.capture(card.tender_id)
    elif body.kind == "gift_card":
        if body.reference is None:
            raise ValidationFailed(
                "a gift card payment names the card",
                problems=[FieldProblem("reference", "the gift card number is required")],
            )
        # The card is named by its id from here on: its code is a secret the database does not keep.
        card = pay.gift_card_for_tender(
            session, row.company_id, body.reference, row.currency, on=(ctx.occurred_at or utcnow()).date()
        )
        payments.add_gift_card(str(card.id), amount)
    else:
        if row.customer_id is None:
            raise ValidationFailed(
                f"{body.kind} needs the order's customer",
                problems=[FieldProblem("kind", f"{body.kind} needs an order with a customer")],
            )
        if body.kind == "store_credit":
            payments.add_store_credit(row.customer_id, amount)
        elif body.kind == "loyalty":
            payments.add_loyalty(row.customer_id, amount)
        else:
            payments.add_on_account(row.customer_id, amount)
    # One flush for the saved rows and the balances _emit moves: a single UPDATE of the order.
    payment_rows = _save(session, ctx, row, order, payments, line_rows, payment_rows, flush=False)
    _emit(session, ctx, row, payments.pending_events)
    session.flush()
    # Only invoice_order issues an order's invoice, moving it to invoiced (then closed) for good; a
    # till's invoice is a POS sale's, refused above.
    return view(session, row, line_rows, payment_rows, invoiced=row.state in INVOICED)


def capture_payment(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, body: TakePayment
) -> OrderView:
    """A card payment authorized and captured in one go (kept for callers of the first release)."""
    return take_payment(session, ctx, company, order_id, body)


def _card_action(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, payment_id: uuid.UUID
) -> tuple[t.OrderRow, Order, OrderPayments, list[t.OrderLineRow]]:
    row = _locked(session, ctx, company, order_id)
    _not_at_the_till(row, "paid")
    order, payments, line_rows = load(session, row)
    if not any(tender.tender_id == payment_id for tender in payments.tenders):
        raise NotFound(f"no payment {payment_id} on order {row.number}")
    return row, order, payments, line_rows


def capture_authorized(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    body: CaptureAuthorized,
) -> OrderView:
    """Capture an authorized card payment (all of it, or ``amount`` and release the rest)."""
    row, order, payments, line_rows = _card_action(session, ctx, company, order_id, payment_id)
    if row.state in (OrderState.cancelled, OrderState.closed):
        raise Conflict(f"order {row.number} is {row.state}", code="order-not-payable")
    amount = Money(body.amount, row.currency) if body.amount is not None else None
    payments.capture(payment_id, amount)
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, payments.pending_events)
    session.flush()
    return view(session, row)


def void_payment(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, payment_id: uuid.UUID
) -> OrderView:
    """Release a card authorization that was never captured."""
    row, order, payments, line_rows = _card_action(session, ctx, company, order_id, payment_id)
    payments.void(payment_id)
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, payments.pending_events)
    session.flush()
    return view(session, row)


def refund_payment(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    body: RefundPayment,
) -> OrderView:
    """Give back part of a captured card payment, out of the order's deposit. Money for goods already
    delivered comes back through a return, not a refund of the payment."""
    row, order, payments, line_rows = _card_action(session, ctx, company, order_id, payment_id)
    if body.amount > row.deposit_balance:
        raise Conflict(
            f"order {row.number} holds a deposit of {_rounded(row.deposit_balance, row.currency)}: what was"
            " delivered is refunded by a return",
            code="refund-exceeds-deposit",
            problems=[FieldProblem("amount", f"at most {_rounded(row.deposit_balance, row.currency)}")],
        )
    payments.refund(payment_id, Money(body.amount, row.currency))
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, payments.pending_events)
    session.flush()
    return view(session, row)


def refund_for_return(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount: Decimal,
    return_ref: str,
    date: dt.date,
    *,
    pending: bool = False,
) -> None:
    """Give back ``amount`` of a captured card payment for goods returned (any channel, POS included):
    the card's refunded amount grows, its state follows :data:`CARD_TRANSITIONS`, and
    ``PaymentRefunded`` carries ``for_return`` so that it pays the return's refund payable instead of
    a deposit (the order's deposit and receivable stay as they are), booked on ``date``. Refuses an
    uncaptured card (``invalid-state-transition``) and more than was captured and not yet refunded
    (``refund-exceeds-captured``).

    ``pending``: the refund is asked of the gateway and awaits its answer. The card's refunded amount
    grows all the same (reserved: nothing can refund it twice), but the event is
    ``PaymentRefundRequested``, which posts nothing; :func:`confirm_refund_for_return` records the
    ``PaymentRefunded`` that pays, :func:`release_refund_for_return` undoes the reservation."""
    row = _locked(session, ctx, company, order_id)
    order, payments, line_rows = load(session, row)
    if not any(tender.tender_id == payment_id for tender in payments.tenders):
        raise ValidationFailed(
            f"no payment {payment_id} on order {row.number}",
            problems=[FieldProblem("tender_id", f"not a payment of order {row.number}")],
        )
    payments.refund(payment_id, Money(amount, row.currency))
    _save(session, ctx, row, order, payments, line_rows)
    extra = {"for_return": True, "return_ref": return_ref, "date": date.isoformat()}
    if pending:
        payments.pending_events[:] = [
            DomainEvent("PaymentRefundRequested", event.payload) if event.type == "PaymentRefunded" else event
            for event in payments.pending_events
        ]
    _emit(
        session,
        ctx,
        row,
        payments.pending_events,
        {"PaymentRefunded": extra, "PaymentRefundRequested": extra},
    )


def confirm_refund_for_return(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount: Decimal,
    return_ref: str,
    date: dt.date,
) -> None:
    """The gateway confirmed a refund recorded with ``pending``: ``PaymentRefunded`` (``for_return``)
    is recorded now, on ``date``, and pays the return's refund payable. The card itself does not
    change: its refunded amount was raised when the refund was asked."""
    row = _locked(session, ctx, company, order_id)
    _, payments, _ = load(session, row)
    payment = payments.card(payment_id)
    event = DomainEvent(
        "PaymentRefunded",
        json_safe(
            {
                "tender_id": payment.tender_id,
                "gateway": payment.gateway,
                "reference": payment.reference,
                "amount": Money(amount, row.currency),
                "refunded_total": payment.refunded,
            }
        ),
    )
    _emit(
        session,
        ctx,
        row,
        [event],
        {"PaymentRefunded": {"for_return": True, "return_ref": return_ref, "date": date.isoformat()}},
    )


def release_refund_for_return(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount: Decimal,
    return_ref: str,
) -> None:
    """The gateway refused a refund recorded with ``pending``: the card gives the reservation back
    (its refunded amount shrinks, ``PaymentRefundFailed``, which posts nothing)."""
    row = _locked(session, ctx, company, order_id)
    order, payments, line_rows = load(session, row)
    payments.refund_failed(payment_id, Money(amount, row.currency))
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, payments.pending_events, {"PaymentRefundFailed": {"return_ref": return_ref}})


def reduce_receivable_for_return(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, amount: Decimal
) -> None:
    """Goods delivered unpaid came back: the order's receivable shrinks by ``amount`` (the return's
    ``ReturnRefundPaid`` posts it, on_account: refunds_payable against receivable). Refuses more than
    is receivable (``refund-exceeds-receivable``)."""
    row = _locked(session, ctx, company, order_id)
    if amount > row.receivable_balance:
        limit = _rounded(row.receivable_balance, row.currency)
        raise Conflict(
            f"order {row.number} has {limit} receivable",
            code="refund-exceeds-receivable",
            problems=[FieldProblem("amount", f"at most {limit}")],
        )
    row.receivable_balance -= amount
    row.updated_by = ctx.actor
    row.version += 1
    session.flush()


def fulfill(
    session: Session,
    ctx: CommandContext,
    company: Company,
    order_id: uuid.UUID,
    body: Fulfil | None = None,
) -> OrderView:
    """Ship or hand over the lines named (every open quantity by default): their reservations are
    consumed for that quantity (deliveries post COGS) and ``OrderFulfilled`` recognises their revenue
    against the deposit and, for what it does not cover, receivable."""
    row = _locked(session, ctx, company, order_id)
    _not_at_the_till(row, "handed over")
    order, payments, line_rows = load(session, row)
    if body is None or body.lines is None:
        delivered = {
            line.id: line.quantity - line.fulfilled_quantity - line.cancelled_quantity for line in line_rows
        }
        delivered = {line_id: quantity for line_id, quantity in delivered.items() if quantity > 0}
        if not delivered:
            order.fulfill_remaining()  # refuses with the state machine's words
    else:
        delivered = {}
        for line in body.lines:
            delivered[line.line_id] = delivered.get(line.line_id, Decimal(0)) + line.quantity
    order.fulfill(delivered)
    # The goods leave first, before the order's rows change: each query the moves make would otherwise
    # flush the order and its lines once more (one UPDATE of each when _save flushes them all).
    day = (ctx.occurred_at or utcnow()).date()
    by_id = {line.id: line for line in line_rows}
    costs: dict[uuid.UUID, Decimal] = {}
    for line_id, quantity in delivered.items():
        line_row = by_id[line_id]
        if line_row.reservation_id is not None:
            _, moved = r.consume(
                session,
                ctx,
                company,
                line_row.reservation_id,
                quantity=quantity,
                date=day,
                reference=row.number,
            )
            costs[line_id] = sum(moved.values, Decimal(0))
    income = income_accounts(session, {line.product_id for line in line_rows})  # decision 0061
    sales, gross = _delivered_revenue(line_rows, delivered, row.currency, income)
    shipped, shipping_gross = _delivered_shipping(session, company, row, line_rows)
    gross += shipping_gross
    applied = min(row.deposit_balance, gross)
    due = gross - applied
    row.deposit_balance -= applied
    row.receivable_balance += due
    for line_id, cost in costs.items():
        by_id[line_id].cost += cost
    _save(session, ctx, row, order, payments, line_rows)
    fulfilled: dict[str, Any] = {
        "sales": sales,
        "paid_amount": str(applied),
        "due_amount": str(due),
        **shipped,
    }
    if row.customer_id is not None:  # the customer dimension of the receivable it leaves due
        fulfilled["customer_id"] = str(row.customer_id)
    if discounts.posting_mode(session, company.id) == "contra":
        contra = _delivered_discounts(line_rows, delivered, row.currency, row.prices_include_tax)
        if contra:
            fulfilled["discounts"] = contra
    extra = {"OrderFulfilled": fulfilled}
    _emit(session, ctx, row, order.pending_events, extra)
    session.flush()
    return view(session, row)


def _give_back_deposit(row: t.OrderRow, payments: OrderPayments) -> None:
    """Return the order's deposit to the tenders that paid it, the last paid first: authorizations are
    voided, captured cards refunded, gift cards and store credit given back, until the deposit is zero."""
    left = _rounded(row.deposit_balance, row.currency)
    for tender in reversed(payments.tenders):
        if isinstance(tender, CardPayment):
            if tender.state is CardState.authorized:
                payments.void(tender.tender_id)
            elif left.amount > 0 and tender.refundable.amount > 0:
                amount = min(left, tender.refundable)
                payments.refund(tender.tender_id, amount)
                left -= amount
        elif tender.kind in BALANCE_TENDERS and left.amount > 0:
            amount = min(left, tender.amount)
            payments.give_back(tender.tender_id, amount)
            left -= amount


def cancel(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, body: CancelOrder
) -> OrderView:
    """Cancel what has not left: the whole order while nothing is delivered, else the remainder. Open
    reservations are released and the deposit (paid, not delivered) is given back."""
    row = _locked(session, ctx, company, order_id)
    _not_at_the_till(row, "completed")
    return _cancel(session, ctx, company, row, body.reason)


def _cancel(
    session: Session,
    ctx: CommandContext,
    company: Company,
    row: t.OrderRow,
    reason: str,
    extra: dict[str, dict[str, Any]] | None = None,
) -> OrderView:
    """Cancel a locked order (see :func:`cancel`); ``extra`` adds to its events' payloads."""
    order, payments, line_rows = load(session, row)
    if order.fulfilled_anything:
        order.cancel_remaining(reason)
    else:
        order.cancel(reason)
    for line_row in line_rows:
        if line_row.reservation_id is not None and line_row.fulfilled_quantity < line_row.quantity:
            reservation = session.get(Reservation, line_row.reservation_id)
            if reservation is not None and reservation.state == "active":
                released = f"order {row.number} cancelled"
                r.release(session, ctx, company, line_row.reservation_id, reason=released)
    _give_back_deposit(row, payments)
    row.reason = reason
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, order.pending_events, extra)
    _emit(session, ctx, row, payments.pending_events)
    session.flush()
    return view(session, row)


# -- unpaid orders -----------------------------------------------------------------------------------


def expire_unpaid_orders(
    session: Session, ctx: CommandContext, company: Company, now: dt.datetime | None = None
) -> list[OrderView]:
    """Cancel the confirmed orders whose ``payment_due_at`` has passed, oldest due first: their
    reservations are released as :func:`cancel` does, and ``OrderCancelled`` carries
    ``reason_code: payment-timeout``. A store's token sweeps its own store only.

    Orders another transaction holds (being paid right now) are skipped on PostgreSQL rather than
    waited for; the next sweep sees them if they are still unpaid. A cancelled order has no due time
    any more, so a second sweep finds nothing.
    """
    now = now or utcnow()
    query = (
        select(t.OrderRow)
        .where(
            t.OrderRow.company_id == company.id,
            t.OrderRow.payment_due_at.is_not(None),
            t.OrderRow.payment_due_at <= now,
            t.OrderRow.state == OrderState.confirmed.value,
        )
        .order_by(t.OrderRow.payment_due_at, t.OrderRow.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if ctx.principal.store_id is not None:
        query = query.where(t.OrderRow.store_id == ctx.principal.store_id)
    cancelled: list[OrderView] = []
    for row in session.scalars(query).all():
        due = row.payment_due_at
        assert due is not None
        cancelled.append(
            _cancel(
                session,
                ctx,
                company,
                row,
                f"unpaid: no payment by {due.isoformat(timespec='seconds')}",
                {"OrderCancelled": {"reason_code": "payment-timeout", "payment_due_at": due}},
            )
        )
    return cancelled


@dataclass(frozen=True)
class Swept:
    """What one sweep of a company did."""

    cancelled: list[OrderView]
    expired: list[Reservation]


def sweep_due(session: Session, company_id: uuid.UUID, now: dt.datetime) -> bool:
    """Whether :func:`sweep` has anything to do: two reads, no write (so that a SQLite sweeper takes the
    writer only when something is due)."""
    unpaid = select(t.OrderRow.id).where(
        t.OrderRow.company_id == company_id,
        t.OrderRow.payment_due_at.is_not(None),
        t.OrderRow.payment_due_at <= now,
        t.OrderRow.state == OrderState.confirmed.value,
    )
    expired = select(Reservation.id).where(
        Reservation.company_id == company_id,
        Reservation.state == "active",
        Reservation.expires_at.is_not(None),
        Reservation.expires_at <= now,
    )
    return any(session.scalar(query.limit(1)) is not None for query in (unpaid, expired))


def sweep(session: Session, ctx: CommandContext, company: Company, now: dt.datetime | None = None) -> Swept:
    """Cancel the unpaid orders that are due, then expire the reservations that are (unpaid carts)."""
    now = now or utcnow()
    cancelled = expire_unpaid_orders(session, ctx, company, now)
    return Swept(cancelled=cancelled, expired=r.expire_reservations(session, ctx, company, now))


def invoice_order(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, body: InvoiceOrder
) -> InvoiceView:
    """Invoice a fulfilled order for its customer: the next gap-free number of the company. The revenue
    was recognised at fulfilment (or with the POS session), so the invoice posts nothing more."""
    row = _locked(session, ctx, company, order_id)
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.company_id != company.id:
            raise InvalidReference(
                f"no customer {body.customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
            )
        if row.customer_id not in (None, body.customer_id):
            raise Conflict(
                f"order {row.number} is for another customer",
                code="customer-mismatch",
                problems=[FieldProblem("customer_id", "the order already has a customer")],
            )
        row.customer_id = body.customer_id
    if row.customer_id is None:
        raise ValidationFailed(
            "an invoice is made out to a customer",
            problems=[FieldProblem("customer_id", "the order has no customer: name one")],
        )
    order, payments, line_rows = load(session, row)
    # Refuse before a number is taken, so that numbers never have gaps.
    if OrderState.invoiced not in TRANSITIONS[order.state]:
        raise Conflict(
            f"order {row.number} is {row.state}: an order is invoiced once fulfilled",
            code="invalid-state-transition",
            problems=[FieldProblem("state", f"is {row.state}, must be fulfilled")],
        )
    if order.channel is not Channel.b2b:
        order.request_invoice()
    day = (ctx.occurred_at or utcnow()).date()
    invoice = issue_invoice(
        session,
        ctx,
        company,
        row,
        lines=[
            {
                "sku": line.sku,
                "product_category": line.product_category,
                "quantity": line.fulfilled_quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "net": _rounded(line.net, row.currency).amount,
                "tax": _rounded(line.tax, row.currency).amount,
                "gross": _rounded(line.gross, row.currency).amount,
                "taxes": line.taxes,
            }
            for line in line_rows
        ]
        + _shipping_invoice_line(row),
        date=day,
        posting="document",
    )
    order.invoice(invoice.number)
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, order.pending_events)
    session.flush()
    return invoice_view(session, invoice)


def _shipping_invoice_line(row: t.OrderRow) -> list[dict[str, Any]]:
    """The invoice's shipping line (sku ``SHIPPING``, category ``shipping``), after the goods."""
    if row.shipping_amount is None:
        return []
    cur = row.currency
    net = _rounded(row.shipping_net or Decimal(0), cur).amount
    tax = _rounded(row.shipping_tax or Decimal(0), cur).amount
    return [
        {
            "sku": "SHIPPING",
            "product_category": "shipping",
            "quantity": Decimal(1),
            "unit_price": row.shipping_amount,
            "discount": row.shipping_discount or Decimal(0),
            "net": net,
            "tax": tax,
            "gross": net + tax,
            "taxes": row.shipping_taxes or [],
        }
    ]


def _shipping_view(row: t.OrderRow) -> ShippingView | None:
    if row.shipping_amount is None:
        return None
    cur = row.currency

    def money(value: Decimal | None) -> Decimal:
        return _rounded(value or Decimal(0), cur).amount

    discount = money(row.shipping_discount)
    return ShippingView(
        method=row.shipping_method,
        tax_category=row.shipping_tax_category or "",
        amount=money(row.shipping_amount),
        discount=discount,
        discounts=discounts.records_of(discount, row.shipping_discounts),
        net=money(row.shipping_net),
        tax=money(row.shipping_tax),
        gross=money(row.shipping_net) + money(row.shipping_tax),
    )


# -- reading -----------------------------------------------------------------------------------------


def view(
    session: Session,
    row: t.OrderRow,
    line_rows: Sequence[t.OrderLineRow] | None = None,
    payment_rows: Sequence[t.OrderPaymentRow] | None = None,
    *,
    invoiced: bool = True,
) -> OrderView:
    """The order as the API shows it. A command that holds all of the order's line or payment rows
    passes them (they are the session's own objects, which a query would return again); one that
    knows the order has no invoice (``invoiced=False``) spares looking it up."""
    session.flush()
    if payment_rows is None:
        payments = _payment_rows(session, row)
    else:
        payments = sorted(payment_rows, key=lambda p: p.position)
    cur = row.currency

    def money(value: Decimal) -> Decimal:
        # Amounts in the currency's decimals, whether fresh or read back from the 4-decimal columns.
        return _rounded(value, cur).amount

    paid = money(sum((p.captured - p.refunded for p in payments if p.kind != "on_account"), Decimal(0)))
    shown = _lines(session, row) if line_rows is None else sorted(line_rows, key=lambda ln: ln.position)
    lines = [
        OrderLineView.model_validate(line).model_copy(
            update={
                "net": money(line.net),
                "tax": money(line.tax),
                "gross": money(line.gross),
                "discount": money(line.discount),
                "discounts": discounts.records_of(money(line.discount), line.discounts),
                "cost": money(line.cost),
            }
        )
        for line in shown
    ]
    payment_views = [
        OrderPaymentView.model_validate(p).model_copy(
            update={
                "authorized": money(p.authorized),
                "captured": money(p.captured),
                "refunded": money(p.refunded),
            }
        )
        for p in payments
    ]
    invoice_number = None
    if invoiced:
        invoice_number = session.scalar(select(t.InvoiceRow.number).where(t.InvoiceRow.order_id == row.id))
    return OrderView(
        id=row.id,
        company_id=row.company_id,
        number=row.number,
        channel=row.channel,
        fulfillment_mode=row.fulfillment_mode,
        state=row.state,
        store_id=row.store_id,
        customer_id=row.customer_id,
        currency=row.currency,
        prices_include_tax=row.prices_include_tax,
        net_total=money(row.net_total),
        tax_total=money(row.tax_total),
        gross_total=money(row.gross_total),
        paid_amount=paid,
        deposit_balance=money(row.deposit_balance),
        receivable_balance=money(row.receivable_balance),
        change_given=money(row.change_given),
        invoice_number=invoice_number,
        pos_session_id=row.pos_session_id,
        client_uuid=row.client_uuid,
        ordered_at=row.ordered_at,
        payment_due_at=row.payment_due_at,
        reason=row.reason,
        lines=lines,
        shipping=_shipping_view(row),
        payments=payment_views,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def get_order(session: Session, principal: Principal, company: Company, order_id: uuid.UUID) -> OrderView:
    row = session.get(t.OrderRow, order_id)
    if row is None or row.company_id != company.id or not principal.sees_store(row.store_id):
        raise NotFound(f"no order {order_id}")
    return view(session, row)


def list_orders(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    channel: str | None = None,
    state: str | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
    number: str | None = None,
    newest_first: bool = False,
) -> tuple[list[OrderView], uuid.UUID | None]:
    """Orders oldest first (ids are time-ordered), ``limit`` at a time after ``cursor``; newest first
    with ``newest_first`` (the back office's list). ``number``: orders whose number contains it."""
    query = select(t.OrderRow).where(t.OrderRow.company_id == company.id)
    if number:
        query = query.where(t.OrderRow.number.contains(number, autoescape=True))
    if channel:
        query = query.where(t.OrderRow.channel == channel)
    if state:
        query = query.where(t.OrderRow.state == state)
    if principal.store_id is not None:
        query = query.where(t.OrderRow.store_id == principal.store_id)
    if newest_first:
        if cursor is not None:
            query = query.where(t.OrderRow.id < cursor)
        rows = list(session.scalars(query.order_by(t.OrderRow.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return [view(session, row) for row in rows], rows[-1].id if more else None
    rows, next_cursor = keyset_page(session, query, t.OrderRow.id, limit, cursor)
    return [view(session, row) for row in rows], next_cursor
