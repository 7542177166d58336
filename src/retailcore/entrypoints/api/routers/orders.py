"""Web and marketplace orders over HTTP: place, list, read, capture a payment, fulfill, cancel.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
Reading needs ``orders:read``, changing ``orders:write``. Every POST honours ``Idempotency-Key``.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.core.errors import NotFound
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import company_in_scope
from retailcore.masterdata.tables import Company
from retailcore.orders import services as svc
from retailcore.orders import tables as t

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
    summary="Place a web or marketplace order",
    description=(
        "Prices the lines for the channel, computes taxes, sources and reserves every line, and confirms the"
        " order; refused as a whole (`409 insufficient-stock`, naming the lines) when stock is short."
    ),
    responses=CONFLICTS,
)
async def place_order(body: svc.PlaceOrder, api: Annotated[Api, Depends(writer("orders:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.place_order(session, ctx, company, body)

    return await api.command(work, status_code=201, location=_location)


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: uuid.UUID | None = None
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
    "/orders/{order_id}/payments",
    response_model=svc.OrderView,
    summary="Record a captured card payment",
    description="Posts card clearing against customer deposits until the order is fulfilled.",
    responses=CONFLICTS,
)
async def capture_payment(
    order_id: uuid.UUID, body: svc.CapturePayment, api: Annotated[Api, Depends(writer("orders:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.capture_payment(session, ctx, company, order_id, body)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/fulfillments",
    response_model=svc.OrderView,
    summary="Ship or hand over the order",
    description="Consumes the reservations (deliveries post COGS) and recognizes the revenue.",
    responses=CONFLICTS,
)
async def fulfill(order_id: uuid.UUID, api: Annotated[Api, Depends(writer("orders:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.OrderView:
        company = _company_of(session, api.principal, order_id)
        return svc.fulfill(session, ctx, company, order_id)

    return await api.command(work)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=svc.OrderView,
    summary="Cancel an order before fulfillment",
    description="Releases the reservations and refunds what was captured.",
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
