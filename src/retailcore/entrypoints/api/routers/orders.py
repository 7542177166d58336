"""Orders over HTTP: place (web, marketplace, b2b), confirm, pay, fulfil, cancel, invoice; and invoices.

POS sales are orders too (channel ``pos``): they arrive through ``/pos/sessions/{id}/sales:batch`` and are
read, and invoiced afterwards, here. No ``from __future__ import annotations`` here: FastAPI reads the
route annotations at runtime. Reading needs ``orders:read``, changing ``orders:write``, invoicing
``invoices:write``. Every POST honours ``Idempotency-Key``.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.core.errors import NotFound
from retailcore.core.inputs import Day
from retailcore.entrypoints.api.as_of import SweepAsOf
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope, with_store_ids
from retailcore.masterdata.tables import Company
from retailcore.orders import invoices
from retailcore.orders import services as svc
from retailcore.orders import tables as t
from retailcore.orders.invoices import InvoiceView

router = APIRouter(route_class=DecimalRoute, tags=["orders"])

CONFLICTS = {
    409: {"description": "Not enough stock, a refused state change, an overpayment or a duplicate reference"},
    422: {"description": "Invalid input"},
}


def _company_of(session: Session, principal: Principal, order_id: uuid.UUID) -> Company:
    row = session.get(t.OrderRow, order_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no order {order_id}")
    company = session.get(Company, row.company_id)
    assert company is not None
    return company


def _location(result: BaseModel) -> str:
    return f"/api/v1/orders/{result.id}"  # type: ignore[attr-defined]


@router.post(
    "/orders",
    status_code=201,
    response_model=svc.OrderView,
    summary="Place a web, marketplace or b2b order",
    description=(
        "Prices the lines for the channel (marketplace and b2b may carry the agreed `unit_price`), computes"
        " taxes, sources every line (see docs/orders.md), and, unless `confirm` is false, reserves them and"
        " confirms the order; refused as a whole (`409 insufficient-stock`, naming the lines) when stock is"
        " short."
    ),
    responses=CONFLICTS,
)
async def place_order(body: svc.PlaceOrder, api: Annotated[Api, Depends(writer("orders:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(
            session, api.principal, company, body, "store_id", "pickup_store_id", any_store=True
        )
        return svc.place_order(session, ctx, company, request)

    return await api.command(work, status_code=201, location=_location)


class ExpireUnpaidOrders(SweepAsOf):
    """Cancel the confirmed orders whose ``payment_due_at`` is at or before ``as_of``."""


class ExpiredOrders(BaseModel):
    cancelled: list[svc.OrderView]


@router.post(
    "/orders/expire-unpaid",
    response_model=ExpiredOrders,
    summary="Cancel confirmed orders left unpaid past their due time",
    description=(
        "Cancels every confirmed web or marketplace order whose `payment_due_at` has passed, releasing"
        " its reservations (`OrderCancelled` with `reason_code: payment-timeout`). A store's token sweeps"
        " its store only. `retailcore serve` runs this by itself every `RETAILCORE_SWEEP_INTERVAL_SECONDS`."
    ),
    responses={422: {"description": "`as_of` in the future or without a time zone"}},
)
async def expire_unpaid(
    body: ExpireUnpaidOrders, api: Annotated[Api, Depends(writer("orders:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> ExpiredOrders:
        company = company_in_scope(session, api.principal, body.company_id)
        return ExpiredOrders(cancelled=svc.expire_unpaid_orders(session, ctx, company, body.moment()))

    return await api.command(work)


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    channel: Literal["pos", "web", "marketplace", "b2b"] | None = None
    state: Literal[t.ORDER_STATES] | None = None  # type: ignore[valid-type]
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class OrderPage(BaseModel):
    items: list[svc.OrderView]
    next_cursor: uuid.UUID | None


@router.get("/orders", response_model=OrderPage, summary="List orders")
def list_orders(
    params: Annotated[OrderQuery, Query()], api: Annotated[Api, Depends(reader("orders:read"))]
) -> Any:
    def work(session: Session) -> OrderPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_orders(
            session,
            api.principal,
            company,
            channel=params.channel,
            state=params.state,
            limit=params.limit,
            cursor=params.cursor,
        )
        return OrderPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/orders/{order_id}", response_model=svc.OrderView, summary="Read an order")
def get_order(order_id: uuid.UUID, api: Annotated[Api, Depends(reader("orders:read"))]) -> Any:
    def work(session: Session) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.get_order(session, api.principal, company, order_id)

    return api.read(work)


@router.post(
    "/orders/{order_id}/confirm",
    response_model=svc.OrderView,
    summary="Confirm a draft order",
    description="Reserves every line where it was sourced; refused as a whole when stock is short.",
    responses=CONFLICTS,
)
async def confirm(order_id: uuid.UUID, api: Annotated[Api, Depends(writer("orders:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.confirm_order(session, ctx, company, order_id)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/payments",
    response_model=svc.OrderView,
    summary="Take a payment",
    description=(
        "A card payment (authorized and, unless `capture` is false, captured; `gateway` and `reference`"
        " required), a gift card (`reference` is the card), store credit or on account (the order's"
        " customer). Before delivery the money is a customer deposit; after, it settles the receivable."
    ),
    responses=CONFLICTS,
)
async def take_payment(
    order_id: uuid.UUID, body: svc.TakePayment, api: Annotated[Api, Depends(writer("orders:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.take_payment(session, ctx, company, order_id, body)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/payments/{payment_id}/capture",
    response_model=svc.OrderView,
    summary="Capture an authorized card payment",
    responses=CONFLICTS,
)
async def capture_authorized(
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("orders:write"))],
    body: svc.CaptureAuthorized | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.capture_authorized(
            session, ctx, company, order_id, payment_id, body or svc.CaptureAuthorized()
        )

    return await api.command(work)


@router.post(
    "/orders/{order_id}/payments/{payment_id}/void",
    response_model=svc.OrderView,
    summary="Void a card authorization never captured",
    responses=CONFLICTS,
)
async def void_payment(
    order_id: uuid.UUID, payment_id: uuid.UUID, api: Annotated[Api, Depends(writer("orders:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.void_payment(session, ctx, company, order_id, payment_id)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/payments/{payment_id}/refund",
    response_model=svc.OrderView,
    summary="Refund part of a captured card payment out of the deposit",
    description="Goods already delivered come back through a return (`409 refund-exceeds-deposit`).",
    responses=CONFLICTS,
)
async def refund_payment(
    order_id: uuid.UUID,
    payment_id: uuid.UUID,
    body: svc.RefundPayment,
    api: Annotated[Api, Depends(writer("orders:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.refund_payment(session, ctx, company, order_id, payment_id, body)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/fulfillments",
    response_model=svc.OrderView,
    summary="Ship or hand over the order, or part of it",
    description=(
        "Without a body, every open quantity leaves; with `lines`, the quantities named (a partial"
        " shipment). The reservations are consumed for what leaves (deliveries post COGS) and its revenue"
        " is recognised against the deposit, the rest to receivable."
    ),
    responses=CONFLICTS,
)
async def fulfill(
    order_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("orders:write"))],
    body: svc.Fulfil | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.fulfill(session, ctx, company, order_id, body)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=svc.OrderView,
    summary="Cancel an order, or what is left of it",
    description=(
        "Before anything left: the whole order. After a partial fulfilment: the open quantities."
        " Releases the open reservations and gives the deposit back (refunds, voids, gift cards)."
    ),
    responses=CONFLICTS,
)
async def cancel(
    order_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("orders:write"))],
    body: svc.CancelOrder | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.cancel(session, ctx, company, order_id, body or svc.CancelOrder())

    return await api.command(work)


@router.post(
    "/orders/{order_id}/invoice",
    status_code=201,
    response_model=InvoiceView,
    summary="Invoice a fulfilled order",
    description=(
        "Takes the company's next invoice number (per year, without gaps) for the order's customer"
        " (or `customer_id`, for a POS sale invoiced afterwards). The revenue was recognised at"
        " fulfilment (or with the POS session): the invoice itself posts nothing more."
    ),
    responses=CONFLICTS,
)
async def invoice_order(
    order_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("invoices:write"))],
    body: svc.InvoiceOrder | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> InvoiceView:
        company = _company_of(session, api.principal, order_id)
        return svc.invoice_order(session, ctx, company, order_id, body or svc.InvoiceOrder())

    return await api.command(work, status_code=201, location=lambda r: f"/api/v1/invoices/{r.id}")


class InvoiceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    customer_id: uuid.UUID | None = None
    date_from: Day | None = None
    date_to: Day | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class InvoicePage(BaseModel):
    items: list[InvoiceView]
    next_cursor: uuid.UUID | None


@router.get("/invoices", response_model=InvoicePage, summary="List invoices", tags=["invoices"])
def list_invoices(
    params: Annotated[InvoiceQuery, Query()], api: Annotated[Api, Depends(reader("orders:read"))]
) -> Any:
    def work(session: Session) -> InvoicePage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = invoices.list_invoices(
            session,
            api.principal,
            company,
            customer_id=params.customer_id,
            date_from=params.date_from,
            date_to=params.date_to,
            limit=params.limit,
            cursor=params.cursor,
        )
        return InvoicePage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/invoices/{invoice_id}", response_model=InvoiceView, summary="Read an invoice", tags=["invoices"]
)
def get_invoice(invoice_id: uuid.UUID, api: Annotated[Api, Depends(reader("orders:read"))]) -> Any:
    def work(session: Session) -> InvoiceView:
        row = session.get(t.InvoiceRow, invoice_id)
        if row is None or not api.principal.sees_company(row.company_id):
            raise NotFound(f"no invoice {invoice_id}")
        company = session.get(Company, row.company_id)
        assert company is not None
        return invoices.get_invoice(session, api.principal, company, invoice_id)

    return api.read(work)
