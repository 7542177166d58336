"""Purchasing: purchase orders -> receipts (partial, backorders) -> vendor bills with a three-way match.

A purchase order (PO) is created as a ``draft``, ``confirmed`` to the supplier, received in one or more
deliveries and billed. Its state machine is declared in :data:`TRANSITIONS` and documented in
``docs/purchasing.md``; a move it does not allow is a 409 ``invalid-state-transition``.

Receipts bring stock in through :func:`retailcore.inventory.services.move_stock` (kind ``receipt``, at
the PO's unit price, reference = PO number), which records the ``GoodsReceived`` event the ledger
posts (inventory against goods received not invoiced, "GRNI"). More than was ordered is refused.

A vendor bill is matched line by line against the PO (unit price, within the company's tolerance) and
the receipts (quantity: no more than received and not yet billed). A bill that matches records a
``VendorBillRecorded`` event (GRNI and input tax against payables). One that does not is kept in state
``exception`` with a ``bill_mismatch`` stock exception naming the lines and differences, and nothing
is posted until finance approves it (or it is cancelled).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.adapters.sequences import take_next
from retailcore.core.currencies import minor_unit, round_to_currency
from retailcore.core.decimals import DecimalStr, canonical
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    ValidationFailed,
)
from retailcore.core.inputs import Day, text
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import purchasing_tables as p
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.tables import Company, Location, Product, Store
from retailcore.monitoring import services as monitoring
from retailcore.monitoring.tables import ExceptionCase

# -- state machine ---------------------------------------------------------------------------------

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"partially_received", "received", "cancelled"}),
    "partially_received": frozenset({"partially_received", "received", "closed"}),
    "received": frozenset({"closed"}),
    "closed": frozenset(),
    "cancelled": frozenset(),
}
"""Allowed PO state changes. ``partially_received`` -> itself is a further partial receipt."""

RECEIVABLE_STATES = frozenset({"confirmed", "partially_received"})
BILLABLE_STATES = frozenset({"confirmed", "partially_received", "received", "closed"})

DEFAULT_PRICE_TOLERANCE_PERCENT = Decimal("2")
DEFAULT_PRICE_TOLERANCE_AMOUNT = Decimal("0.01")
"""A billed unit price matches when it is within the larger of 2 % of the PO price and 0.01 (company
currency, per unit) of it: the percentage scales with the price, the absolute part only keeps a cent's
rounding of a cheap item's unit price from becoming an exception. See docs/purchasing.md."""

APPROVER_ROLES = frozenset({Role.finance})
"""Who may post a bill over its exception or change the tolerance: a finance control, so neither the
integration that sends bills nor an admin may wave its own mismatch through."""


def _transition(order: p.PurchaseOrder, target: str, action: str) -> None:
    if target not in TRANSITIONS[order.state]:
        allowed = ", ".join(sorted(TRANSITIONS[order.state])) or "none"
        raise Conflict(
            f"purchase order {order.number} is {order.state} and cannot be {action}"
            f" (allowed from {order.state}: {allowed})",
            code="invalid-state-transition",
            problems=[FieldProblem("state", f"{order.state} -> {target} is not allowed")],
        )
    order.state = target


# -- requests --------------------------------------------------------------------------------------

QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
PriceIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=6, allow_inf_nan=False)]
TaxIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Text200 = text(strip_whitespace=True, min_length=1, max_length=200)
Ref = text(strip_whitespace=True, max_length=64)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrderLineIn(Request):
    product_id: uuid.UUID
    quantity: QuantityIn
    unit_price: PriceIn = Field(description="Per unit, in the company currency, before tax.")


class CreatePurchaseOrder(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    supplier: Text200 = Field(description="The supplier's name (there is no supplier master yet).")
    supplier_ref: Ref | None = Field(default=None, description="The supplier's code elsewhere, if any.")
    store_id: StoreRef = Field(description="Code or id of the store (or warehouse) that receives the goods.")
    order_date: Day | None = Field(default=None, description="Defaults to today.")
    expected_date: Day | None = None
    notes: text(max_length=2000) = ""
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=500)]


class ReceiptLineIn(Request):
    po_line_id: uuid.UUID
    quantity: QuantityIn
    location_id: uuid.UUID = Field(description="A stock or backroom location of the PO's store.")


class RecordReceipt(Request):
    purchase_order_id: uuid.UUID
    date: Day | None = Field(default=None, description="Defaults to today.")
    reference: text(max_length=200) = Field(default="", description="The supplier's delivery note.")
    lines: Annotated[list[ReceiptLineIn], Field(min_length=1, max_length=500)]


class BillLineIn(Request):
    po_line_id: uuid.UUID
    quantity: QuantityIn
    unit_price: PriceIn = Field(description="The supplier's unit price, before tax.")
    tax_code: text(min_length=1, max_length=32) | None = None
    tax: TaxIn = Field(default=Decimal(0), description="Input tax of the line, as the bill states it.")

    @model_validator(mode="after")
    def _tax_needs_code(self) -> BillLineIn:
        if self.tax > 0 and self.tax_code is None:
            raise ValueError("a line with tax names its tax_code")
        return self


class RecordVendorBill(Request):
    purchase_order_id: uuid.UUID
    bill_date: Day
    supplier_invoice_ref: Ref = Field(default="", description="The supplier's invoice number.")
    lines: Annotated[list[BillLineIn], Field(min_length=1, max_length=500)]


class ChangePurchasingSettings(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    price_tolerance_percent: Annotated[
        Decimal, Field(ge=0, le=100, max_digits=19, decimal_places=8, allow_inf_nan=False)
    ]
    price_tolerance_amount: PriceIn = Field(description="Per unit, in company currency.")


# -- read models -----------------------------------------------------------------------------------


class OrderLineView(BaseModel):
    id: uuid.UUID
    sequence: int
    product_id: uuid.UUID
    sku: str
    quantity: DecimalStr
    unit_price: DecimalStr
    received_quantity: DecimalStr
    billed_quantity: DecimalStr
    backorder_quantity: DecimalStr
    """Ordered and not yet received."""
    to_bill_quantity: DecimalStr
    """Received and not yet billed."""


class PurchaseOrderView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    supplier: str
    supplier_ref: str | None
    store_id: uuid.UUID
    currency: str
    order_date: dt.date
    expected_date: dt.date | None
    state: str
    notes: str
    total: DecimalStr
    created_by: str
    created_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    closed_by: str | None
    closed_at: dt.datetime | None
    lines: list[OrderLineView]


class ReceiptLineView(BaseModel):
    id: uuid.UUID
    po_line_id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: DecimalStr
    unit_price: DecimalStr
    purchase_value: DecimalStr
    move_id: uuid.UUID


class ReceiptView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    purchase_order_id: uuid.UUID
    purchase_order_number: str
    store_id: uuid.UUID
    date: dt.date
    reference: str
    event_id: uuid.UUID
    purchase_value: DecimalStr
    created_by: str
    created_at: dt.datetime
    lines: list[ReceiptLineView]


class BillLineView(BaseModel):
    id: uuid.UUID
    po_line_id: uuid.UUID
    quantity: DecimalStr
    unit_price: DecimalStr
    po_unit_price: DecimalStr
    net_amount: DecimalStr
    tax_code: str | None
    tax: DecimalStr


class VendorBillView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    purchase_order_id: uuid.UUID
    purchase_order_number: str
    store_id: uuid.UUID
    supplier: str
    supplier_invoice_ref: str
    bill_date: Day
    currency: str
    state: str
    net_amount: DecimalStr
    tax_amount: DecimalStr
    total: DecimalStr
    exception_id: uuid.UUID | None
    mismatches: list[dict[str, Any]]
    """Why the bill is (or was) in exception: one item per line and kind of difference."""
    posted_event_id: uuid.UUID | None
    created_by: str
    created_at: dt.datetime
    approved_by: str | None
    approved_at: dt.datetime | None
    cancelled_by: str | None
    cancelled_at: dt.datetime | None
    lines: list[BillLineView]


class PurchasingSettingsView(BaseModel):
    company_id: uuid.UUID
    price_tolerance_percent: DecimalStr
    price_tolerance_amount: DecimalStr
    updated_by: str | None


def _skus(session: Session, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not product_ids:
        return {}
    return dict(session.execute(select(Product.id, Product.sku).where(Product.id.in_(product_ids))).all())


def order_view(session: Session, order: p.PurchaseOrder) -> PurchaseOrderView:
    skus = _skus(session, {line.product_id for line in order.lines})
    return PurchaseOrderView(
        id=order.id,
        company_id=order.company_id,
        number=order.number,
        supplier=order.supplier,
        supplier_ref=order.supplier_ref,
        store_id=order.store_id,
        currency=order.currency,
        order_date=order.order_date,
        expected_date=order.expected_date,
        state=order.state,
        notes=order.notes,
        total=sum(
            (round_to_currency(li.quantity * li.unit_price, order.currency) for li in order.lines), Decimal(0)
        ),
        created_by=order.created_by,
        created_at=order.created_at,
        confirmed_by=order.confirmed_by,
        confirmed_at=order.confirmed_at,
        closed_by=order.closed_by,
        closed_at=order.closed_at,
        lines=[
            OrderLineView(
                id=line.id,
                sequence=line.sequence,
                product_id=line.product_id,
                sku=skus.get(line.product_id, ""),
                quantity=line.quantity,
                unit_price=line.unit_price,
                received_quantity=line.received_quantity,
                billed_quantity=line.billed_quantity,
                backorder_quantity=line.backorder_quantity,
                to_bill_quantity=max(line.received_quantity - line.billed_quantity, Decimal(0)),
            )
            for line in order.lines
        ],
    )


def receipt_view(session: Session, receipt: p.Receipt) -> ReceiptView:
    order = session.get(p.PurchaseOrder, receipt.purchase_order_id)
    assert order is not None  # a receipt's PO is a foreign key
    return ReceiptView(
        id=receipt.id,
        company_id=receipt.company_id,
        number=receipt.number,
        purchase_order_id=receipt.purchase_order_id,
        purchase_order_number=order.number,
        store_id=receipt.store_id,
        date=receipt.date,
        reference=receipt.reference,
        event_id=receipt.event_id,
        purchase_value=sum((line.purchase_value for line in receipt.lines), Decimal(0)),
        created_by=receipt.created_by,
        created_at=receipt.created_at,
        lines=[
            ReceiptLineView(
                id=line.id,
                po_line_id=line.po_line_id,
                product_id=line.product_id,
                location_id=line.location_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                purchase_value=line.purchase_value,
                move_id=line.move_id,
            )
            for line in receipt.lines
        ],
    )


def bill_view(session: Session, bill: p.VendorBill) -> VendorBillView:
    order = session.get(p.PurchaseOrder, bill.purchase_order_id)
    assert order is not None  # a bill's PO is a foreign key
    mismatches: list[dict[str, Any]] = []
    if bill.exception_id is not None:
        exception = session.get(ExceptionCase, bill.exception_id)
        if exception is not None:
            mismatches = list(exception.details.get("mismatches", []))
    return VendorBillView(
        id=bill.id,
        company_id=bill.company_id,
        number=bill.number,
        purchase_order_id=bill.purchase_order_id,
        purchase_order_number=order.number,
        store_id=order.store_id,
        supplier=bill.supplier,
        supplier_invoice_ref=bill.supplier_invoice_ref,
        bill_date=bill.bill_date,
        currency=bill.currency,
        state=bill.state,
        net_amount=bill.net_amount,
        tax_amount=bill.tax_amount,
        total=bill.total,
        exception_id=bill.exception_id,
        mismatches=mismatches,
        posted_event_id=bill.posted_event_id,
        created_by=bill.created_by,
        created_at=bill.created_at,
        approved_by=bill.approved_by,
        approved_at=bill.approved_at,
        cancelled_by=bill.cancelled_by,
        cancelled_at=bill.cancelled_at,
        lines=[
            BillLineView(
                id=line.id,
                po_line_id=line.po_line_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                po_unit_price=line.po_unit_price,
                net_amount=line.net_amount,
                tax_code=line.tax_code,
                tax=line.tax,
            )
            for line in bill.lines
        ],
    )


# -- shared steps ----------------------------------------------------------------------------------


def _take_number(session: Session, company_id: uuid.UUID, prefix: str) -> str:
    """The company's next ``PO-000042``, without gaps (:mod:`retailcore.adapters.sequences`)."""
    sequence = p.PurchasingSequence.__table__
    number = take_next(session, sequence, {"company_id": company_id, "prefix": prefix})
    return f"{prefix}-{number:06d}"


def _today() -> dt.date:
    return utcnow().date()


def _visible_order(
    session: Session,
    principal: Principal,
    order_id: uuid.UUID,
    *,
    field: str | None = None,
    lock: bool = False,
) -> p.PurchaseOrder:
    """A PO the caller may see (company and store scope), locked for this transaction if asked.

    Named in a path it is "not found" (404); named in a body ``field`` it is an invalid reference (422).
    """
    query = select(p.PurchaseOrder).where(p.PurchaseOrder.id == order_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    order = session.scalar(query)
    if (
        order is None
        or not principal.sees_company(order.company_id)
        or not principal.sees_store(order.store_id)
    ):
        if field:
            raise InvalidReference(
                f"no purchase order {order_id}", problems=[FieldProblem(field, "no such purchase order")]
            )
        raise NotFound(f"no purchase order {order_id}")
    return order


def get_order(
    session: Session, principal: Principal, order_id: uuid.UUID, *, lock: bool = False
) -> p.PurchaseOrder:
    return _visible_order(session, principal, order_id, lock=lock)


def _event(session: Session, ctx: CommandContext, order: p.PurchaseOrder, type: str, **payload: Any) -> Any:
    return record(
        session,
        ctx,
        type=type,
        company_id=order.company_id,
        aggregate_type="PurchaseOrder",
        aggregate_id=order.id,
        payload={"number": order.number, "state": order.state, **payload},
        store_id=order.store_id,
    )


# -- purchase orders -------------------------------------------------------------------------------


def create_order(
    session: Session, ctx: CommandContext, company: Company, request: CreatePurchaseOrder
) -> p.PurchaseOrder:
    """A draft PO for one of the company's stores, in the company currency."""
    store = session.scalar(select(Store).where(Store.id == request.store_id, Store.company_id == company.id))
    if store is None or not ctx.principal.sees_store(store.id):
        raise InvalidReference(
            f"no store {request.store_id}", problems=[FieldProblem("store_id", "no such store")]
        )
    if not store.active:
        raise ValidationFailed(
            f"store {store.code} is inactive", problems=[FieldProblem("store_id", "inactive store")]
        )
    order_date = request.order_date or _today()
    if request.expected_date is not None and request.expected_date < order_date:
        raise ValidationFailed(
            "goods are expected on or after the order date",
            problems=[FieldProblem("expected_date", "before the order date")],
        )
    products = {
        row.id: row
        for row in session.scalars(
            select(Product).where(
                Product.company_id == company.id, Product.id.in_({line.product_id for line in request.lines})
            )
        )
    }
    for index, line in enumerate(request.lines):
        product = products.get(line.product_id)
        if product is None:
            raise InvalidReference(
                f"no product {line.product_id}",
                problems=[FieldProblem(f"lines.{index}.product_id", "no such product")],
            )
        if not product.active:
            raise ValidationFailed(
                f"product {product.sku} is inactive",
                problems=[FieldProblem(f"lines.{index}.product_id", "inactive product")],
            )
    order = p.PurchaseOrder(
        company_id=company.id,
        number=_take_number(session, company.id, "PO"),
        supplier=request.supplier,
        supplier_ref=request.supplier_ref or None,
        store_id=store.id,
        currency=company.currency,
        order_date=order_date,
        expected_date=request.expected_date,
        state="draft",
        notes=request.notes,
        created_by=ctx.actor,
        lines=[
            p.PurchaseOrderLine(
                company_id=company.id,
                sequence=index,
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                received_quantity=Decimal(0),
                billed_quantity=Decimal(0),
            )
            for index, line in enumerate(request.lines)
        ],
    )
    session.add(order)
    session.flush()
    _event(
        session,
        ctx,
        order,
        "PurchaseOrderCreated",
        supplier=order.supplier,
        supplier_ref=order.supplier_ref,
        currency=order.currency,
        order_date=order.order_date,
        expected_date=order.expected_date,
        lines=[
            {
                "po_line_id": li.id,
                "product_id": li.product_id,
                "quantity": li.quantity,
                "unit_price": li.unit_price,
            }
            for li in order.lines
        ],
    )
    return order


def confirm_order(session: Session, ctx: CommandContext, order: p.PurchaseOrder) -> p.PurchaseOrder:
    """Draft -> confirmed: the order is sent; from now on goods may be received against it."""
    _transition(order, "confirmed", "confirmed")
    order.confirmed_at = utcnow()
    order.confirmed_by = ctx.actor
    session.flush()
    _event(session, ctx, order, "PurchaseOrderConfirmed")
    return order


def cancel_order(
    session: Session, ctx: CommandContext, order: p.PurchaseOrder, reason: str = ""
) -> p.PurchaseOrder:
    """Draft or confirmed -> cancelled, only while nothing was received or billed against it."""
    if any(line.received_quantity > 0 for line in order.lines):
        raise Conflict(
            f"purchase order {order.number} has receipts and cannot be cancelled;"
            " close it to drop the backorder instead",
            code="purchase-order-has-receipts",
            problems=[FieldProblem("state", f"{order.state} with receipts")],
        )
    live_bills = session.scalar(
        select(func.count())
        .select_from(p.VendorBill)
        .where(p.VendorBill.purchase_order_id == order.id, p.VendorBill.state != "cancelled")
    )
    if live_bills:
        raise Conflict(
            f"purchase order {order.number} has vendor bills and cannot be cancelled",
            code="purchase-order-has-bills",
            problems=[FieldProblem("state", f"{order.state} with bills")],
        )
    _transition(order, "cancelled", "cancelled")
    order.closed_at = utcnow()
    order.closed_by = ctx.actor
    session.flush()
    _event(session, ctx, order, "PurchaseOrderCancelled", reason=reason)
    return order


def close_order(
    session: Session, ctx: CommandContext, order: p.PurchaseOrder, reason: str = ""
) -> p.PurchaseOrder:
    """Partially received or received -> closed: no more goods are expected (the backorder is dropped).
    Bills may still arrive for what was received."""
    dropped = [
        {"po_line_id": line.id, "backorder_quantity": line.backorder_quantity}
        for line in order.lines
        if line.backorder_quantity > 0
    ]
    _transition(order, "closed", "closed")
    order.closed_at = utcnow()
    order.closed_by = ctx.actor
    session.flush()
    _event(session, ctx, order, "PurchaseOrderClosed", reason=reason, dropped_backorder=dropped)
    return order


def list_orders(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    state: str | None = None,
    supplier: str | None = None,
    store_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[p.PurchaseOrder], uuid.UUID | None]:
    """POs of the company the caller sees, oldest first; ``supplier`` matches part of the name, any case."""
    query = select(p.PurchaseOrder).where(p.PurchaseOrder.company_id == company.id)
    if principal.store_id is not None:
        query = query.where(p.PurchaseOrder.store_id == principal.store_id)
    if state:
        query = query.where(p.PurchaseOrder.state == state)
    if supplier:
        query = query.where(func.lower(p.PurchaseOrder.supplier).contains(supplier.lower(), autoescape=True))
    if store_id:
        query = query.where(p.PurchaseOrder.store_id == store_id)
    return keyset_page(session, query, p.PurchaseOrder.id, limit, cursor)


# -- receipts --------------------------------------------------------------------------------------


def _supplier_location(session: Session, company_id: uuid.UUID) -> Location:
    location = session.scalar(
        select(Location)
        .where(Location.company_id == company_id, Location.kind == "supplier", Location.active.is_(True))
        .order_by(Location.code)
    )
    if location is None:
        raise ValidationFailed("the company has no supplier location", code="no-supplier-location")
    return location


def receive(session: Session, ctx: CommandContext, request: RecordReceipt) -> p.Receipt:
    """Goods that arrived against a confirmed PO: stock in at the PO price, state and backorder updated.

    Every line is checked before anything is written: a line of another PO, a location outside the PO's
    store, or more than the ordered quantity (over-receipt, 409 naming the line) refuses the receipt.
    """
    order = _visible_order(
        session, ctx.principal, request.purchase_order_id, field="purchase_order_id", lock=True
    )
    if order.state not in RECEIVABLE_STATES:
        hint = "; confirm it first" if order.state == "draft" else ""
        raise Conflict(
            f"purchase order {order.number} is {order.state}: goods cannot be received against it{hint}",
            code="invalid-state-transition",
            problems=[FieldProblem("purchase_order_id", f"purchase order is {order.state}")],
        )
    company = session.get(Company, order.company_id)
    assert company is not None
    by_id = {line.id: line for line in order.lines}
    locations = {
        row.id: row
        for row in session.scalars(
            select(Location).where(
                Location.company_id == order.company_id,
                Location.id.in_({line.location_id for line in request.lines}),
            )
        )
    }
    skus = _skus(session, {line.product_id for line in order.lines})
    incoming: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for index, line in enumerate(request.lines):
        po_line = by_id.get(line.po_line_id)
        if po_line is None:
            raise InvalidReference(
                f"line {line.po_line_id} is not a line of {order.number}",
                problems=[FieldProblem(f"lines.{index}.po_line_id", f"not a line of {order.number}")],
            )
        location = locations.get(line.location_id)
        if location is None:
            raise InvalidReference(
                f"no location {line.location_id}",
                problems=[FieldProblem(f"lines.{index}.location_id", "no such location")],
            )
        if (
            location.kind not in ("stock", "backroom")
            or location.store_id != order.store_id
            or not location.active
        ):
            raise ValidationFailed(
                f"goods of {order.number} are received into a stock or backroom location of its store,"
                f" not {location.code}",
                problems=[
                    FieldProblem(f"lines.{index}.location_id", "not a stock location of the PO's store")
                ],
            )
        incoming[po_line.id] += line.quantity
        if po_line.received_quantity + incoming[po_line.id] > po_line.quantity:
            over = canonical(po_line.received_quantity + incoming[po_line.id] - po_line.quantity)
            ordered, received = canonical(po_line.quantity), canonical(po_line.received_quantity)
            raise Conflict(
                f"over-receipt on {order.number} for {skus.get(po_line.product_id)} (lines.{index}):"
                f" ordered {ordered}, already received {received},"
                f" this receipt {canonical(incoming[po_line.id])}: {over} more than ordered",
                code="over-receipt",
                problems=[FieldProblem(f"lines.{index}.quantity", f"{over} more than ordered")],
            )
    date = request.date or _today()
    number = _take_number(session, order.company_id, "RC")
    for line in request.lines:
        by_id[line.po_line_id].received_quantity += line.quantity
    complete = all(line.received_quantity >= line.quantity for line in order.lines)
    _transition(order, "received" if complete else "partially_received", "received")
    supplier = _supplier_location(session, order.company_id)
    receipt = p.Receipt(
        company_id=order.company_id,
        number=number,
        purchase_order_id=order.id,
        store_id=order.store_id,
        date=date,
        reference=request.reference,
        created_by=ctx.actor,
    )
    result = move_stock(
        session,
        ctx,
        company,
        kind="receipt",
        lines=[
            MoveLine(
                product_id=by_id[line.po_line_id].product_id,
                quantity=line.quantity,
                from_location_id=supplier.id,
                to_location_id=line.location_id,
                unit_cost=by_id[line.po_line_id].unit_price,
            )
            for line in request.lines
        ],
        date=date,
        reference=order.number,
        details={
            "purchase_order_id": order.id,
            "purchase_order_number": order.number,
            "receipt_number": number,
            "purchase_order_state": order.state,
            "supplier": order.supplier,
            "delivery_note": request.reference,
        },
    )
    receipt.event_id = result.event.id
    receipt.lines = [
        p.ReceiptLine(
            company_id=order.company_id,
            sequence=index,
            po_line_id=line.po_line_id,
            product_id=move.product_id,
            location_id=line.location_id,
            quantity=line.quantity,
            unit_price=by_id[line.po_line_id].unit_price,
            purchase_value=round_to_currency(
                line.quantity * by_id[line.po_line_id].unit_price, order.currency
            ),
            move_id=move.id,
        )
        for index, (line, move) in enumerate(zip(request.lines, result.moves, strict=True))
    ]
    session.add(receipt)
    session.flush()
    return receipt


def get_receipt(session: Session, principal: Principal, receipt_id: uuid.UUID) -> p.Receipt:
    receipt = session.get(p.Receipt, receipt_id)
    if (
        receipt is None
        or not principal.sees_company(receipt.company_id)
        or not principal.sees_store(receipt.store_id)
    ):
        raise NotFound(f"no receipt {receipt_id}")
    return receipt


def list_receipts(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    purchase_order_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[p.Receipt], uuid.UUID | None]:
    query = select(p.Receipt).where(p.Receipt.company_id == company.id)
    if principal.store_id is not None:
        query = query.where(p.Receipt.store_id == principal.store_id)
    if purchase_order_id:
        query = query.where(p.Receipt.purchase_order_id == purchase_order_id)
    if store_id:
        query = query.where(p.Receipt.store_id == store_id)
    return keyset_page(session, query, p.Receipt.id, limit, cursor)


# -- vendor bills ----------------------------------------------------------------------------------


def settings_for(session: Session, company_id: uuid.UUID) -> p.PurchasingSettings:
    """The company's tolerance, or the defaults (not stored until someone changes them)."""
    row = session.get(p.PurchasingSettings, company_id)
    if row is None:
        row = p.PurchasingSettings(
            company_id=company_id,
            price_tolerance_percent=DEFAULT_PRICE_TOLERANCE_PERCENT,
            price_tolerance_amount=DEFAULT_PRICE_TOLERANCE_AMOUNT,
        )
    return row


def settings_view(row: p.PurchasingSettings) -> PurchasingSettingsView:
    return PurchasingSettingsView(
        company_id=row.company_id,
        price_tolerance_percent=row.price_tolerance_percent,
        price_tolerance_amount=row.price_tolerance_amount,
        updated_by=row.updated_by,
    )


def require_approver(principal: Principal) -> None:
    """Posting a bill over its exception (and setting the tolerance) is finance's decision."""
    principal.require("vendor_bills:approve")


def change_settings(
    session: Session, ctx: CommandContext, company: Company, request: ChangePurchasingSettings
) -> p.PurchasingSettings:
    require_approver(ctx.principal)
    row = session.get(p.PurchasingSettings, company.id)
    before = settings_view(settings_for(session, company.id)).model_dump(mode="json")
    if row is None:
        row = p.PurchasingSettings(company_id=company.id)
        session.add(row)
    row.price_tolerance_percent = request.price_tolerance_percent
    row.price_tolerance_amount = request.price_tolerance_amount
    row.updated_by = ctx.actor
    session.flush()
    record(
        session,
        ctx,
        type="PurchasingSettingsChanged",
        company_id=company.id,
        aggregate_type="PurchasingSettings",
        aggregate_id=company.id,
        payload={"before": before, "after": settings_view(row).model_dump(mode="json")},
    )
    return row


@dataclass(frozen=True)
class Tolerance:
    percent: Decimal
    amount: Decimal

    def allows(self, ordered: Decimal, billed: Decimal) -> bool:
        """Within the larger of ``percent`` of the ordered price and ``amount`` per unit."""
        return abs(billed - ordered) <= max(ordered * self.percent / 100, self.amount)


def three_way_match(
    order: p.PurchaseOrder, lines: list[BillLineIn], tolerance: Tolerance, skus: dict[uuid.UUID, str]
) -> list[dict[str, Any]]:
    """The differences between a bill and its PO and receipts, one item per line and kind; [] = match.

    Quantity: a bill line may bill at most what was received and not yet billed (earlier lines of the
    same bill for the same PO line count). Price: the unit price is within the tolerance of the PO's.
    """
    by_id = {line.id: line for line in order.lines}
    billed_here: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    mismatches: list[dict[str, Any]] = []
    for index, line in enumerate(lines):
        po_line = by_id[line.po_line_id]
        where = {"line": index, "po_line_id": str(po_line.id), "sku": skus.get(po_line.product_id, "")}
        open_quantity = po_line.received_quantity - po_line.billed_quantity - billed_here[po_line.id]
        billed_here[po_line.id] += line.quantity
        if line.quantity > open_quantity:
            mismatches.append(
                {
                    **where,
                    "kind": "quantity",
                    "billed_quantity": canonical(line.quantity),
                    "received_quantity": canonical(po_line.received_quantity),
                    "already_billed_quantity": canonical(
                        po_line.billed_quantity + billed_here[po_line.id] - line.quantity
                    ),
                    "difference": canonical(line.quantity - max(open_quantity, Decimal(0))),
                }
            )
        if not tolerance.allows(po_line.unit_price, line.unit_price):
            mismatches.append(
                {
                    **where,
                    "kind": "price",
                    "billed_unit_price": canonical(line.unit_price),
                    "po_unit_price": canonical(po_line.unit_price),
                    "difference": canonical(line.unit_price - po_line.unit_price),
                    "tolerance_percent": canonical(tolerance.percent),
                    "tolerance_amount": canonical(tolerance.amount),
                }
            )
    return mismatches


def _bill_payload(bill: p.VendorBill, order: p.PurchaseOrder) -> dict[str, Any]:
    """The ``VendorBillRecorded`` payload of the ledger's rule ``vendor-bill`` (docs/ledger.md).

    ``goods_amount`` clears goods received not invoiced at the value the receipts booked (the billed
    quantity still open on GRNI, at the purchase-order price); ``price_variance`` is what the bill says on
    top (or below): a price difference within tolerance, or a difference finance approved. ``lines`` is
    for the audit trail; no rule reads it.
    """
    quantum = Decimal(1).scaleb(-minor_unit(bill.currency))
    po_lines = {line.id: line for line in order.lines}
    cleared: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    goods_amount = Decimal(0)
    for line in bill.lines:
        # Only what was received and not yet billed sits on GRNI; an approved over-billing is a variance.
        po_line = po_lines[line.po_line_id]
        open_quantity = po_line.received_quantity - po_line.billed_quantity - cleared[po_line.id]
        quantity = max(min(line.quantity, open_quantity), Decimal(0))
        cleared[po_line.id] += quantity
        goods_amount += (quantity * line.po_unit_price).quantize(quantum, rounding=ROUND_HALF_UP)
    taxes: dict[str, dict[str, Decimal]] = {}
    for line in bill.lines:
        if line.tax_code is None:
            continue
        entry = taxes.setdefault(line.tax_code, {"tax": Decimal(0), "tax_base": Decimal(0)})
        entry["tax"] += line.tax
        entry["tax_base"] += line.net_amount
    return {
        "date": bill.bill_date,
        "currency": bill.currency,
        "reference": bill.number,
        "supplier": bill.supplier,
        "supplier_ref": order.supplier_ref,
        "supplier_invoice_ref": bill.supplier_invoice_ref,
        "purchase_order_id": order.id,
        "purchase_order_number": order.number,
        "store_id": order.store_id,
        "goods_amount": goods_amount,
        "price_variance": bill.net_amount - goods_amount,
        "taxes": [{"tax_code": code, **amounts} for code, amounts in sorted(taxes.items())],
        "total": bill.total,
        "lines": [
            {
                "po_line_id": line.po_line_id,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "po_unit_price": line.po_unit_price,
                "net_amount": line.net_amount,
                "tax_code": line.tax_code,
                "tax": line.tax,
            }
            for line in bill.lines
        ],
    }


def _post_bill(
    session: Session, ctx: CommandContext, bill: p.VendorBill, order: p.PurchaseOrder, **extra: Any
) -> None:
    """Record the postable event (the ledger posts it in this transaction) and count the billed units."""
    event = record(
        session,
        ctx,
        type="VendorBillRecorded",
        company_id=bill.company_id,
        aggregate_type="VendorBill",
        aggregate_id=bill.id,
        payload={**_bill_payload(bill, order), **extra},
        store_id=order.store_id,
    )
    bill.posted_event_id = event.id
    by_id = {line.id: line for line in order.lines}
    for line in bill.lines:
        by_id[line.po_line_id].billed_quantity += line.quantity
    session.flush()


def record_vendor_bill(session: Session, ctx: CommandContext, request: RecordVendorBill) -> p.VendorBill:
    """Store a supplier's bill for a PO; post it if it matches, else hold it as an exception."""
    order = _visible_order(
        session, ctx.principal, request.purchase_order_id, field="purchase_order_id", lock=True
    )
    if order.state not in BILLABLE_STATES:
        raise Conflict(
            f"purchase order {order.number} is {order.state}: it cannot be billed",
            code="invalid-state-transition",
            problems=[FieldProblem("purchase_order_id", f"purchase order is {order.state}")],
        )
    by_id = {line.id: line for line in order.lines}
    minor = minor_unit(order.currency)
    for index, line in enumerate(request.lines):
        if line.po_line_id not in by_id:
            raise InvalidReference(
                f"line {line.po_line_id} is not a line of {order.number}",
                problems=[FieldProblem(f"lines.{index}.po_line_id", f"not a line of {order.number}")],
            )
        if line.tax != round_to_currency(line.tax, order.currency):
            raise ValidationFailed(
                f"tax is an amount in {order.currency}: at most {minor} decimals",
                problems=[FieldProblem(f"lines.{index}.tax", f"more than {minor} decimals")],
            )
    settings = settings_for(session, order.company_id)
    tolerance = Tolerance(settings.price_tolerance_percent, settings.price_tolerance_amount)
    skus = _skus(session, {line.product_id for line in order.lines})
    mismatches = three_way_match(order, request.lines, tolerance, skus)
    bill_lines = [
        p.VendorBillLine(
            company_id=order.company_id,
            sequence=index,
            po_line_id=line.po_line_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            po_unit_price=by_id[line.po_line_id].unit_price,
            net_amount=round_to_currency(line.quantity * line.unit_price, order.currency),
            tax_code=line.tax_code,
            tax=line.tax,
        )
        for index, line in enumerate(request.lines)
    ]
    net = sum((line.net_amount for line in bill_lines), Decimal(0))
    tax = sum((line.tax for line in bill_lines), Decimal(0))
    bill = p.VendorBill(
        company_id=order.company_id,
        number=_take_number(session, order.company_id, "BILL"),
        purchase_order_id=order.id,
        supplier=order.supplier,
        supplier_invoice_ref=request.supplier_invoice_ref,
        bill_date=request.bill_date,
        currency=order.currency,
        state="exception" if mismatches else "matched",
        net_amount=net,
        tax_amount=tax,
        total=net + tax,
        created_by=ctx.actor,
        lines=bill_lines,
    )
    session.add(bill)
    session.flush()
    if not mismatches:
        _post_bill(session, ctx, bill, order)
        _close_if_done(session, ctx, order)
        return bill
    held = record(
        session,
        ctx,
        type="VendorBillHeld",
        company_id=bill.company_id,
        aggregate_type="VendorBill",
        aggregate_id=bill.id,
        payload={**_bill_payload(bill, order), "mismatches": mismatches},
        store_id=order.store_id,
    )
    lines_at_fault = sorted({m["line"] for m in mismatches})
    products = {by_id[request.lines[i].po_line_id].product_id for i in lines_at_fault}
    summary = "; ".join(
        f"line {m['line']} ({m['sku']}) {m['kind']} off by {m['difference']}" for m in mismatches
    )
    exception = monitoring.record(
        session,
        ctx,
        bill.company_id,
        type="bill_mismatch",
        key=f"bill_mismatch:{bill.id}",
        amount_at_risk=bill.total,  # the whole bill is held
        currency=bill.currency,
        product_id=next(iter(products)) if len(products) == 1 else None,
        store_id=order.store_id,
        message=f"{bill.number} for {order.number} ({order.supplier}) does not match: {summary}"[:500],
        details={
            "bill_id": str(bill.id),
            "bill_number": bill.number,
            "purchase_order_id": str(order.id),
            "purchase_order_number": order.number,
            "supplier": order.supplier,
            "mismatches": mismatches,
        },
        event_id=held.id,
    )
    assert exception is not None
    session.flush()
    bill.exception_id = exception.id
    session.flush()
    return bill


def _close_if_done(session: Session, ctx: CommandContext, order: p.PurchaseOrder) -> None:
    """A fully received PO whose every line is billed has nothing left to happen: it closes itself."""
    if order.state == "received" and all(line.billed_quantity >= line.quantity for line in order.lines):
        close_order(session, ctx, order, reason="fully received and billed")


def get_bill(
    session: Session, principal: Principal, bill_id: uuid.UUID, *, lock: bool = False
) -> p.VendorBill:
    query = select(p.VendorBill).where(p.VendorBill.id == bill_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    bill = session.scalar(query)
    if bill is None or not principal.sees_company(bill.company_id):
        raise NotFound(f"no vendor bill {bill_id}")
    order = session.get(p.PurchaseOrder, bill.purchase_order_id)
    if order is None or not principal.sees_store(order.store_id):
        raise NotFound(f"no vendor bill {bill_id}")
    return bill


def _resolve_exception(session: Session, ctx: CommandContext, bill: p.VendorBill, resolution: str) -> None:
    if bill.exception_id is None:
        return
    exception = session.get(ExceptionCase, bill.exception_id)
    if exception is None:
        return
    monitoring.resolve_row(
        session,
        ctx,
        exception,
        note=f"bill {resolution}",
        details={"resolution": resolution, "resolved_by": ctx.actor},
    )


def _require_exception(bill: p.VendorBill, action: str) -> None:
    if bill.state != "exception":
        raise Conflict(
            f"vendor bill {bill.number} is {bill.state}: only a bill in exception can be {action}",
            code="invalid-state-transition",
            problems=[FieldProblem("state", f"{bill.state} -> {action} is not allowed")],
        )


def approve_bill_exception(
    session: Session, ctx: CommandContext, bill: p.VendorBill, note: str = ""
) -> p.VendorBill:
    """Finance posts a bill over its mismatch, as billed; who approved is kept on the bill and event."""
    require_approver(ctx.principal)
    order = _visible_order(session, ctx.principal, bill.purchase_order_id, lock=True)
    _require_exception(bill, "approved")
    bill.state = "posted"
    bill.approved_by = ctx.actor
    bill.approved_at = utcnow()
    _post_bill(
        session,
        ctx,
        bill,
        order,
        approved_by=ctx.actor,
        approval_note=note,
        exception_id=bill.exception_id,
    )
    _resolve_exception(session, ctx, bill, "approved")
    _close_if_done(session, ctx, order)
    session.flush()
    return bill


def cancel_bill(session: Session, ctx: CommandContext, bill: p.VendorBill, reason: str = "") -> p.VendorBill:
    """Withdraw a bill held in exception (the supplier sends a corrected one). Posted bills stay."""
    _require_exception(bill, "cancelled")
    bill.state = "cancelled"
    bill.cancelled_by = ctx.actor
    bill.cancelled_at = utcnow()
    _resolve_exception(session, ctx, bill, "cancelled")
    session.flush()
    record(
        session,
        ctx,
        type="VendorBillCancelled",
        company_id=bill.company_id,
        aggregate_type="VendorBill",
        aggregate_id=bill.id,
        payload={"number": bill.number, "reason": reason, "exception_id": bill.exception_id},
    )
    return bill


def list_bills(
    session: Session,
    principal: Principal,
    company: Company,
    *,
    purchase_order_id: uuid.UUID | None = None,
    state: str | None = None,
    supplier: str | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[p.VendorBill], uuid.UUID | None]:
    query = select(p.VendorBill).where(p.VendorBill.company_id == company.id)
    if principal.store_id is not None:
        query = query.where(
            p.VendorBill.purchase_order_id.in_(
                select(p.PurchaseOrder.id).where(p.PurchaseOrder.store_id == principal.store_id)
            )
        )
    if purchase_order_id:
        query = query.where(p.VendorBill.purchase_order_id == purchase_order_id)
    if state:
        query = query.where(p.VendorBill.state == state)
    if supplier:
        query = query.where(func.lower(p.VendorBill.supplier).contains(supplier.lower(), autoescape=True))
    return keyset_page(session, query, p.VendorBill.id, limit, cursor)
