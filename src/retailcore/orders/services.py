"""Web (and marketplace) orders: place, capture a card payment, fulfill, cancel.

Every command loads the pure aggregate from its rows (:func:`load`), calls one method of
:class:`~retailcore.orders.model.Order` or :class:`~retailcore.orders.tenders.OrderPayments`, saves the
rows back and records the aggregate's pending events with :func:`~retailcore.eventlog.services.record`,
all in the caller's transaction. The ledger posts the events it has rules for in that same transaction:

* ``PaymentCaptured``: card_clearing against customer_deposits (the money is a deposit until the goods
  leave, DESIGN.md sections 1 and 5);
* ``OrderFulfilled``: customer_deposits (what was paid) and receivable (the rest) against sales_revenue
  per category and output_tax per tax code; the delivery moves post COGS (``GoodsIssued``);
* ``PaymentRefunded``: customer_deposits against card_clearing (the capture given back on a cancellation).

Sourcing (where a line is reserved and leaves from):

* ``ship``: the first active warehouse (by code) whose stock location can promise every line to the
  channel (on hand - reserved - safety stock); else ``ship_from_store`` from the active store that can
  promise every line and has the most of them available (ties by code); else refused.
* ``ship_from_store``: the ``store_id`` given; ``click_and_collect``: the ``pickup_store_id`` given.

Prices come from :func:`~retailcore.pricing.price_lists.price_for` for the order's channel in the
company currency; taxes from :func:`~retailcore.pricing.taxes.compute_taxes` with the rules of the
sourcing (or pickup) store's jurisdiction, else the company's. A fulfillment ships or hands over every
open quantity at once: reservations are per line and consumed whole.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.money import Money
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import reservations as r
from retailcore.inventory import tables as i
from retailcore.masterdata.commands import CompanyScoped, Request
from retailcore.masterdata.tables import Company, Customer, Location, Product, Store
from retailcore.orders import tables as t
from retailcore.orders.model import DomainEvent, FulfillmentMode, Order, OrderLine, OrderState
from retailcore.orders.tenders import CardPayment, CardState, OrderPayments, Tender, TenderKind
from retailcore.pricing.price_lists import price_for
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, compute_taxes, load_tax_rules

__all__ = [
    "CancelOrder",
    "CapturePayment",
    "OrderView",
    "PlaceOrder",
    "cancel",
    "capture_payment",
    "fulfill",
    "get_order",
    "list_orders",
    "place_order",
]

NUMBER_PREFIX = "SO"
QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
AmountIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]


# -- requests and views ------------------------------------------------------------------------------


class LineIn(Request):
    product_id: uuid.UUID
    quantity: QuantityIn


class PlaceOrder(CompanyScoped):
    channel: Literal["web", "marketplace"] = "web"
    fulfillment_mode: Literal["ship", "click_and_collect", "ship_from_store"] = "ship"
    store_id: uuid.UUID | None = Field(None, description="ship_from_store: the store whose stock leaves.")
    pickup_store_id: uuid.UUID | None = Field(None, description="click_and_collect: where it is collected.")
    customer_id: uuid.UUID | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=200)


class CapturePayment(Request):
    gateway: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=200, description="The gateway's payment reference.")
    amount: AmountIn


class CancelOrder(Request):
    reason: str = Field("", max_length=500)


class OrderLineView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position: int
    product_id: uuid.UUID
    sku: str
    product_category: str
    quantity: DecimalStr
    unit_price: DecimalStr
    tax_category: str
    net: DecimalStr
    tax: DecimalStr
    gross: DecimalStr
    fulfilled_quantity: DecimalStr
    cancelled_quantity: DecimalStr
    location_id: uuid.UUID | None
    reservation_id: uuid.UUID | None


class OrderPaymentView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    gateway: str | None
    reference: str | None
    authorized: DecimalStr
    captured: DecimalStr
    refunded: DecimalStr
    state: str


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
    reason: str
    lines: list[OrderLineView]
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
    )
    tenders: list[Tender | CardPayment] = []
    for payment in _payment_rows(session, row):
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
    return order, payments, line_rows


def _save(
    session: Session,
    ctx: CommandContext,
    row: t.OrderRow,
    order: Order,
    payments: OrderPayments,
    line_rows: Sequence[t.OrderLineRow],
) -> None:
    """Write what the aggregate changed back to its rows."""
    row.state = order.state.value
    row.updated_by = ctx.actor
    row.version += 1
    by_id = {line.line_id: line for line in order.lines}
    for line_row in line_rows:
        line = by_id[line_row.id]
        line_row.fulfilled_quantity = line.fulfilled_quantity
        line_row.cancelled_quantity = line.cancelled_quantity
    existing = {p.id: p for p in _payment_rows(session, row)}
    for position, tender in enumerate(payments.tenders):
        payment = existing.get(tender.tender_id)
        if payment is None:
            payment = t.OrderPaymentRow(id=tender.tender_id, company_id=row.company_id, order_id=row.id)
            payment.position = position
            session.add(payment)
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
    session.flush()


def _flat(payload: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Amounts as decimal strings, as posting rules read them (the model writes Money objects)."""
    for key in keys:
        value = payload.get(key)
        if isinstance(value, dict) and "amount" in value:
            payload[key] = value["amount"]
    return payload


def _paid(payments: OrderPayments) -> Money:
    """What the payments hold as a deposit: captured minus refunded."""
    return Money.sum(
        (
            tender.captured - tender.refunded if isinstance(tender, CardPayment) else tender.amount
            for tender in payments.tenders
        ),
        payments.currency,
    )


def _sales(
    line_rows: Sequence[t.OrderLineRow], fulfilled: set[uuid.UUID], currency: str
) -> list[dict[str, Any]]:
    """Revenue and tax per product category and tax code of the lines fulfilled. A line's net counts
    once (with its first tax); each of its taxes counts on its own code with the line's net as base."""
    totals: dict[tuple[str, str], list[Decimal]] = {}
    for line in line_rows:
        if line.id not in fulfilled:
            continue
        for index, tax in enumerate(line.taxes):
            sums = totals.setdefault((line.product_category, tax["code"]), [Decimal(0)] * 3)
            sums[0] += line.net if index == 0 else Decimal(0)
            sums[1] += Decimal(tax["amount"])
            sums[2] += Decimal(tax["base"])
    return [
        {
            "product_category": category,
            "tax_code": code,
            "net": str(_rounded(net, currency).amount),
            "tax": str(_rounded(tax, currency).amount),
            "tax_base": str(_rounded(base, currency).amount),
        }
        for (category, code), (net, tax, base) in totals.items()
    ]


def _emit(
    session: Session,
    ctx: CommandContext,
    row: t.OrderRow,
    events: Sequence[DomainEvent],
    payments: OrderPayments | None = None,
    line_rows: Sequence[t.OrderLineRow] = (),
) -> None:
    """Record the aggregate's pending events, with what the posting rules need added."""
    for event in events:
        payload = {
            **event.payload,
            "order_ref": row.number,
            "currency": row.currency,
            "channel": row.channel,
        }
        if event.type.startswith("Payment"):
            payload.setdefault("store_id", str(row.store_id) if row.store_id else None)
            _flat(payload, "amount", "released", "refunded_total")
        if event.type == "OrderFulfilled":
            assert payments is not None
            paid = _paid(payments)
            gross = _rounded(row.gross_total, row.currency)
            fulfilled = {uuid.UUID(line["line_id"]) for line in payload["lines"]}
            payload["sales"] = _sales(line_rows, fulfilled, row.currency)
            payload["paid_amount"] = str(paid.amount)
            payload["due_amount"] = str((gross - paid).amount)
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
) -> tuple[FulfillmentMode, Store | None, Location | None]:
    """Mode, store and stock location the order is reserved at (see the module docstring)."""
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
        available = _promisable(session, company, body.channel, location, set(wanted))
        if any(available[product] < quantity for product, quantity in wanted.items()):
            return None
        return sum(available.values(), Decimal(0))

    stores = list(
        session.scalars(
            select(Store).where(Store.company_id == company.id, Store.active.is_(True)).order_by(Store.code)
        )
    )
    warehouses = [(s, _stock_location(session, s)) for s in stores if s.kind == "warehouse"]
    for store, location in warehouses:
        if fits(location) is not None:
            return FulfillmentMode.ship, store, location
    best: tuple[Decimal, Store, Location] | None = None
    for store in (s for s in stores if s.kind == "store"):
        location = _stock_location(session, store)
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
    """The company's next ``SO-000042``. The UPDATE locks the sequence row until commit, so
    concurrent placements wait for each other and a rolled-back one gives its number back."""
    sequence = t.OrderSequence.__table__
    taken = session.execute(
        update(sequence)
        .where(sequence.c.company_id == company_id, sequence.c.prefix == NUMBER_PREFIX)
        .values(next_number=sequence.c.next_number + 1)
        .returning(sequence.c.next_number)
    ).scalar()
    if taken is None:
        session.execute(insert(sequence).values(company_id=company_id, prefix=NUMBER_PREFIX, next_number=2))
        number = 1
    else:
        number = taken - 1
    return f"{NUMBER_PREFIX}-{number:06d}"


# -- commands ----------------------------------------------------------------------------------------


def place_order(session: Session, ctx: CommandContext, company: Company, body: PlaceOrder) -> OrderView:
    """Price, tax, source and reserve the lines, and confirm the order; all or nothing."""
    currency = company.currency
    today = (ctx.occurred_at or utcnow()).date()
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.company_id != company.id:
            raise InvalidReference(
                f"no customer {body.customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
            )
    products: list[Product] = []
    problems: list[FieldProblem] = []
    for index, line in enumerate(body.lines):
        product = session.get(Product, line.product_id)
        where = f"lines.{index}.product_id"
        if product is None or product.company_id != company.id:
            raise InvalidReference(
                f"no product {line.product_id}", problems=[FieldProblem(where, "no such product")]
            )
        sold_here = product.available_web if body.channel == "web" else product.available_marketplace
        if not product.active or not sold_here:
            problems.append(FieldProblem(where, f"{product.sku} is not sold on {body.channel}"))
        products.append(product)
    if problems:
        raise ValidationFailed("some products cannot be ordered", problems=problems)

    wanted: dict[uuid.UUID, Decimal] = {}
    for line in body.lines:
        wanted[line.product_id] = wanted.get(line.product_id, Decimal(0)) + line.quantity
    mode, store, location = _source(session, company, body, wanted)
    if location is None:
        problems = [
            FieldProblem(f"lines.{n}.quantity", f"{p.sku}: no stock location to source it from")
            for n, p in enumerate(products)
        ]
        raise _insufficient(problems)
    available = _promisable(session, company, body.channel, location, set(wanted))
    needed: dict[uuid.UUID, Decimal] = {}
    for index, (line, product) in enumerate(zip(body.lines, products, strict=True)):
        needed[product.id] = needed.get(product.id, Decimal(0)) + line.quantity
        if needed[product.id] > available[product.id]:
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
    if problems:
        raise ValidationFailed("some lines cannot be taxed", code="no-tax-rule", problems=problems)
    included = {tax.price_included for p in products for tax in rules[p.tax_category]}
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
    for line, product in zip(body.lines, products, strict=True):
        quote = price_for(
            session,
            company,
            product,
            channel=body.channel,
            store_id=None,
            currency=currency,
            on=today,
            quantity=line.quantity,
        )
        order.add_line(
            product_id=product.id,
            sku=product.sku,
            quantity=line.quantity,
            unit_price=Money(quote.unit_price, currency),
            tax_category=product.tax_category,
        )
    try:
        taxes = compute_taxes(
            [TaxableLine(str(ln.line_id), ln.net_amount.amount, ln.tax_category) for ln in order.lines],
            rules,
            currency,
        )
    except NoTaxRule as error:  # pragma: no cover - checked above
        raise ValidationFailed(str(error), code="no-tax-rule") from error
    order.set_taxes(Money(taxes.tax_total, currency))
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
        created_by=ctx.actor,
        updated_by=ctx.actor,
    )
    session.add(row)
    session.flush()
    _emit(session, ctx, row, order.pending_events)
    order.pending_events.clear()

    for position, (line, product) in enumerate(zip(order.lines, products, strict=True), start=1):
        try:
            reservation = r.reserve(
                session,
                ctx,
                company,
                product_id=product.id,
                location_id=location.id,
                quantity=line.quantity,
                channel=body.channel,
                order_ref=row.number,
                order_line_ref=str(position),
            )
        except Conflict as error:
            if error.code != "insufficient-stock":
                raise
            where = f"lines.{position - 1}.quantity"
            raise _insufficient([FieldProblem(where, f"{product.sku}: {error.detail}")]) from error
        line_tax = taxes.line(str(line.line_id))
        session.add(
            t.OrderLineRow(
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
                tax_category=line.tax_category,
                net=line_tax.net,
                tax=line_tax.tax,
                gross=line_tax.gross,
                taxes=[
                    {
                        "code": tax.code,
                        "rate_percent": str(tax.rate_percent),
                        "base": str(tax.base),
                        "amount": str(tax.amount),
                    }
                    for tax in line_tax.taxes
                ],
                fulfilled_quantity=Decimal(0),
                cancelled_quantity=Decimal(0),
                location_id=location.id,
                reservation_id=reservation.id,
            )
        )
    session.flush()
    return view(session, row)


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


def capture_payment(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, body: CapturePayment
) -> OrderView:
    """A card payment the gateway took for the order: authorized and captured in one go. Only a
    confirmed order (nothing shipped yet) takes payments: they are deposits until fulfillment."""
    row = _locked(session, ctx, company, order_id)
    if row.state != OrderState.confirmed:
        raise Conflict(
            f"order {row.number} is {row.state}: payments are taken while it is confirmed",
            code="order-not-payable",
            problems=[FieldProblem("state", f"is {row.state}, must be confirmed")],
        )
    order, payments, line_rows = load(session, row)
    card = payments.authorize_card(body.gateway, body.reference, Money(body.amount, row.currency))
    payments.capture(card.tender_id)
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, payments.pending_events)
    return view(session, row)


def fulfill(session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID) -> OrderView:
    """Ship or hand over every open quantity: the reservations are consumed (deliveries post COGS) and
    ``OrderFulfilled`` recognizes the revenue against the deposits and, for what is unpaid, receivable."""
    row = _locked(session, ctx, company, order_id)
    order, payments, line_rows = load(session, row)
    order.fulfill_remaining()
    day = (ctx.occurred_at or utcnow()).date()
    for line_row in line_rows:
        if line_row.reservation_id is not None:
            r.consume(session, ctx, company, line_row.reservation_id, date=day, reference=row.number)
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, order.pending_events, payments, line_rows)
    return view(session, row)


def cancel(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, body: CancelOrder
) -> OrderView:
    """Cancel an order before anything left: release its reservations, refund what was captured
    (``PaymentRefunded`` gives the deposit back) and void what was only authorized."""
    row = _locked(session, ctx, company, order_id)
    order, payments, line_rows = load(session, row)
    order.cancel(body.reason)
    for line_row in line_rows:
        if line_row.reservation_id is not None:
            r.release(session, ctx, company, line_row.reservation_id, reason=f"order {row.number} cancelled")
    for tender in payments.tenders:
        if isinstance(tender, CardPayment):
            if tender.state is CardState.authorized:
                payments.void(tender.tender_id)
            elif tender.refundable > Money.zero(row.currency):
                payments.refund(tender.tender_id, tender.refundable)
    row.reason = body.reason
    _save(session, ctx, row, order, payments, line_rows)
    _emit(session, ctx, row, order.pending_events)
    _emit(session, ctx, row, payments.pending_events)
    return view(session, row)


# -- reading -----------------------------------------------------------------------------------------


def view(session: Session, row: t.OrderRow) -> OrderView:
    session.flush()
    payments = _payment_rows(session, row)
    cur = row.currency

    def money(value: Decimal) -> Decimal:
        # Amounts in the currency's decimals, whether fresh or read back from the 4-decimal columns.
        return _rounded(value, cur).amount

    paid = money(sum((p.captured - p.refunded for p in payments), Decimal(0)))
    lines = [
        OrderLineView.model_validate(line).model_copy(
            update={"net": money(line.net), "tax": money(line.tax), "gross": money(line.gross)}
        )
        for line in _lines(session, row)
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
        reason=row.reason,
        lines=lines,
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
) -> tuple[list[OrderView], uuid.UUID | None]:
    """Orders oldest first (ids are time-ordered), ``limit`` at a time after ``cursor``."""
    query = select(t.OrderRow).where(t.OrderRow.company_id == company.id)
    if channel:
        query = query.where(t.OrderRow.channel == channel)
    if state:
        query = query.where(t.OrderRow.state == state)
    if principal.store_id is not None:
        query = query.where(t.OrderRow.store_id == principal.store_id)
    rows, next_cursor = keyset_page(session, query, t.OrderRow.id, limit, cursor)
    return [view(session, row) for row in rows], next_cursor
