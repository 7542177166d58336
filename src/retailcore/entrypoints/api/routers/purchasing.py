"""Purchasing over HTTP: purchase orders, receipts against them, vendor bills and their exceptions.

Reads need ``purchasing:read``; orders and receipts ``purchasing:write``; bills ``vendor_bills:write``.
Posting a bill over its exception and changing the price tolerance are finance's (see
``inventory.purchasing.require_approver``). A store-scoped token sees its own store's documents only.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.core.inputs import Text, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.references import CompanyParam
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import purchasing as svc
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, store_id_in_scope, with_store_ids

router = APIRouter(route_class=DecimalRoute, tags=["purchasing"])

OrderState = Literal["draft", "confirmed", "partially_received", "received", "closed", "cancelled"]
BillState = Literal["matched", "exception", "posted", "cancelled"]


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: text(max_length=500) = ""


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


# -- purchase orders -------------------------------------------------------------------------------


class OrderQuery(Page):
    state: OrderState | None = None
    supplier: Text | None = Field(None, description="Part of the supplier's name, any case.")
    store_id: StoreRef | None = Field(None, description="Store code or id.")


class OrderPage(BaseModel):
    items: list[svc.PurchaseOrderView]
    next_cursor: uuid.UUID | None


def _order_location(view: BaseModel) -> str:
    return f"/api/v1/purchase-orders/{view.id}"  # type: ignore[attr-defined]


@router.post(
    "/purchase-orders",
    status_code=201,
    response_model=svc.PurchaseOrderView,
    summary="Create a draft purchase order",
    description="Numbered PO-000001 per company without gaps, in the company currency, for one store.",
)
async def create_order(
    body: svc.CreatePurchaseOrder, api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.PurchaseOrderView:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return svc.order_view(session, svc.create_order(session, ctx, company, request))

    return await api.command(work, status_code=201, location=_order_location)


@router.get("/purchase-orders", response_model=OrderPage, summary="List purchase orders")
def list_orders(
    params: Annotated[OrderQuery, Query()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    def work(session: Session) -> OrderPage:
        company = company_in_scope(session, api.principal, params.company_id)
        rows, cursor = svc.list_orders(
            session,
            api.principal,
            company,
            state=params.state,
            supplier=params.supplier,
            store_id=store_id_in_scope(session, api.principal, params.store_id, company=company),
            limit=params.limit,
            cursor=params.cursor,
        )
        return OrderPage(items=[svc.order_view(session, row) for row in rows], next_cursor=cursor)

    return api.read(work)


@router.get(
    "/purchase-orders/{order_id}",
    response_model=svc.PurchaseOrderView,
    summary="Get a purchase order with its backorder per line",
)
def get_order(
    order_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    return api.read(lambda session: svc.order_view(session, svc.get_order(session, api.principal, order_id)))


@router.post(
    "/purchase-orders/{order_id}/confirm",
    response_model=svc.PurchaseOrderView,
    summary="Confirm a draft purchase order",
)
async def confirm_order(
    order_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.PurchaseOrderView:
        order = svc.get_order(session, api.principal, order_id, lock=True)
        return svc.order_view(session, svc.confirm_order(session, ctx, order))

    return await api.command(work)


@router.post(
    "/purchase-orders/{order_id}/cancel",
    response_model=svc.PurchaseOrderView,
    summary="Cancel a purchase order nothing was received or billed against",
)
async def cancel_order(
    order_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("purchasing:write"))],
    body: Note | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.PurchaseOrderView:
        order = svc.get_order(session, api.principal, order_id, lock=True)
        return svc.order_view(session, svc.cancel_order(session, ctx, order, body.reason if body else ""))

    return await api.command(work)


@router.post(
    "/purchase-orders/{order_id}/close",
    response_model=svc.PurchaseOrderView,
    summary="Close a (partially) received purchase order: the backorder is dropped",
)
async def close_order(
    order_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("purchasing:write"))],
    body: Note | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.PurchaseOrderView:
        order = svc.get_order(session, api.principal, order_id, lock=True)
        return svc.order_view(session, svc.close_order(session, ctx, order, body.reason if body else ""))

    return await api.command(work)


# -- receipts --------------------------------------------------------------------------------------


class ReceiptQuery(Page):
    purchase_order_id: uuid.UUID | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id.")


class ReceiptPage(BaseModel):
    items: list[svc.ReceiptView]
    next_cursor: uuid.UUID | None


@router.post(
    "/receipts",
    status_code=201,
    response_model=svc.ReceiptView,
    summary="Receive goods against a confirmed purchase order",
    description="Partial receipts are allowed; more than ordered is refused (409 `over-receipt` naming the"
    " line). Stock comes in at the PO price and the ledger posts inventory against goods received not"
    " invoiced.",
)
async def create_receipt(
    body: svc.RecordReceipt, api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.ReceiptView:
        return svc.receipt_view(session, svc.receive(session, ctx, body))

    return await api.command(
        work,
        status_code=201,
        location=lambda view: f"/api/v1/receipts/{view.id}",  # type: ignore[attr-defined]
    )


@router.get("/receipts", response_model=ReceiptPage, summary="List receipts")
def list_receipts(
    params: Annotated[ReceiptQuery, Query()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    def work(session: Session) -> ReceiptPage:
        company = company_in_scope(session, api.principal, params.company_id)
        rows, cursor = svc.list_receipts(
            session,
            api.principal,
            company,
            purchase_order_id=params.purchase_order_id,
            store_id=store_id_in_scope(session, api.principal, params.store_id, company=company),
            limit=params.limit,
            cursor=params.cursor,
        )
        return ReceiptPage(items=[svc.receipt_view(session, row) for row in rows], next_cursor=cursor)

    return api.read(work)


@router.get("/receipts/{receipt_id}", response_model=svc.ReceiptView, summary="Get a receipt")
def get_receipt(
    receipt_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    return api.read(
        lambda session: svc.receipt_view(session, svc.get_receipt(session, api.principal, receipt_id))
    )


# -- vendor bills ----------------------------------------------------------------------------------


class BillQuery(Page):
    purchase_order_id: uuid.UUID | None = None
    state: BillState | None = None
    supplier: Text | None = None


class BillPage(BaseModel):
    items: list[svc.VendorBillView]
    next_cursor: uuid.UUID | None


@router.post(
    "/vendor-bills",
    status_code=201,
    response_model=svc.VendorBillView,
    summary="Record a vendor bill, three-way matched",
    description="Each line is matched against its PO line: quantity no more than received and not yet"
    " billed, unit price within the company's tolerance. A match is posted (state `matched`); a mismatch"
    " is held (state `exception`) with a `bill_mismatch` stock exception, and nothing is posted.",
)
async def create_bill(
    body: svc.RecordVendorBill, api: Annotated[Api, Depends(writer("vendor_bills:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.VendorBillView:
        return svc.bill_view(session, svc.record_vendor_bill(session, ctx, body))

    return await api.command(
        work,
        status_code=201,
        location=lambda view: f"/api/v1/vendor-bills/{view.id}",  # type: ignore[attr-defined]
    )


@router.get("/vendor-bills", response_model=BillPage, summary="List vendor bills")
def list_bills(
    params: Annotated[BillQuery, Query()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    def work(session: Session) -> BillPage:
        company = company_in_scope(session, api.principal, params.company_id)
        rows, cursor = svc.list_bills(
            session,
            api.principal,
            company,
            purchase_order_id=params.purchase_order_id,
            state=params.state,
            supplier=params.supplier,
            limit=params.limit,
            cursor=params.cursor,
        )
        return BillPage(items=[svc.bill_view(session, row) for row in rows], next_cursor=cursor)

    return api.read(work)


@router.get("/vendor-bills/{bill_id}", response_model=svc.VendorBillView, summary="Get a vendor bill")
def get_bill(
    bill_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    return api.read(lambda session: svc.bill_view(session, svc.get_bill(session, api.principal, bill_id)))


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: text(max_length=500) = ""


@router.post(
    "/vendor-bills/{bill_id}/approve",
    response_model=svc.VendorBillView,
    summary="Post a bill held in exception anyway (finance)",
    description="Posts the bill as billed, records who approved it and resolves its stock exception.",
)
async def approve_bill(
    bill_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("vendor_bills:write"))],
    body: Approval | None = None,
) -> Response:
    svc.require_approver(api.principal)

    def work(session: Session, ctx: CommandContext) -> svc.VendorBillView:
        bill = svc.get_bill(session, api.principal, bill_id, lock=True)
        return svc.bill_view(
            session, svc.approve_bill_exception(session, ctx, bill, body.note if body else "")
        )

    return await api.command(work)


@router.post(
    "/vendor-bills/{bill_id}/cancel",
    response_model=svc.VendorBillView,
    summary="Withdraw a bill held in exception",
)
async def cancel_bill(
    bill_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("vendor_bills:write"))],
    body: Note | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.VendorBillView:
        bill = svc.get_bill(session, api.principal, bill_id, lock=True)
        return svc.bill_view(session, svc.cancel_bill(session, ctx, bill, body.reason if body else ""))

    return await api.command(work)


# -- settings --------------------------------------------------------------------------------------


@router.get(
    "/purchasing/settings",
    response_model=svc.PurchasingSettingsView,
    summary="Price tolerance of the three-way match",
)
def get_settings(
    api: Annotated[Api, Depends(reader("purchasing:read"))],
    company_id: CompanyParam = None,
) -> Any:
    def work(session: Session) -> svc.PurchasingSettingsView:
        company = company_in_scope(session, api.principal, company_id)
        return svc.settings_view(svc.settings_for(session, company.id))

    return api.read(work)


@router.put(
    "/purchasing/settings",
    response_model=svc.PurchasingSettingsView,
    summary="Change the price tolerance (finance)",
)
async def change_settings(
    body: svc.ChangePurchasingSettings, api: Annotated[Api, Depends(writer("vendor_bills:write"))]
) -> Response:
    svc.require_approver(api.principal)

    def work(session: Session, ctx: CommandContext) -> svc.PurchasingSettingsView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.settings_view(svc.change_settings(session, ctx, company, body))

    return await api.command(work)
