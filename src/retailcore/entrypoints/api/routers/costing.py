"""Stock costing over HTTP: a product's cost and FIFO layers, a standard-cost change, the average-cost
precision, a product's own accounts, returns to vendor (decision 0061, docs/inventory.md)."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import NotFound
from retailcore.core.inputs import Day, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.pages import IdPageQuery, PageOf
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import costing as c
from retailcore.inventory import vendor_returns as vr
from retailcore.inventory.purchasing_tables import Receipt
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope
from retailcore.masterdata.tables import Company, Product

router = APIRouter(route_class=DecimalRoute, tags=["stock"])

Reason = text(strip_whitespace=True, max_length=500)
AccountCode = text(strip_whitespace=True, max_length=32)
UnitCostIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=6, allow_inf_nan=False)]
PositiveQuantity = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _product_company(session: Session, principal: Principal, product_id: uuid.UUID) -> Company:
    company_id = session.scalar(select(Product.company_id).where(Product.id == product_id))
    if company_id is None or not principal.sees_company(company_id):
        raise NotFound(f"no product {product_id}")
    company = session.get(Company, company_id)
    assert company is not None
    return company


ProductId = Annotated[uuid.UUID, Path(description="The product's id.")]


# -- cost and layers ---------------------------------------------------------------------------------


class LocationCostView(BaseModel):
    location_id: uuid.UUID
    location_code: str
    location_kind: str
    store_id: uuid.UUID | None
    quantity: DecimalStr
    value: DecimalStr


class ProductCostOut(BaseModel):
    product_id: uuid.UUID
    sku: str
    cost_method: str
    unit_cost: DecimalStr
    quantity: DecimalStr
    value: DecimalStr
    standard_cost: DecimalStr
    last_unit_cost: DecimalStr
    average_cost_precision: str
    income_account: str | None
    expense_account: str | None
    locations: list[LocationCostView]


@router.get(
    "/products/{product_id}/cost",
    response_model=ProductCostOut,
    summary="A product's current unit cost, quantity and value, per location",
    description="The unit cost by the product's method: the standard cost, the running average (at the"
    " company's average-cost precision) or, under FIFO, the oldest open layer's cost.",
)
def product_cost(product_id: ProductId, api: Annotated[Api, Depends(reader("stock:read"))]) -> Any:
    def work(session: Session) -> ProductCostOut:
        company = _product_company(session, api.principal, product_id)
        view = c.product_cost(session, company, product_id)
        locations = view.locations
        if api.principal.store_id is not None:
            locations = [row for row in locations if row.store_id in (None, api.principal.store_id)]
        return ProductCostOut(
            **{k: v for k, v in view.__dict__.items() if k != "locations"},
            locations=[LocationCostView(**row.__dict__) for row in locations],
        )

    return api.read(work)


class LayerOut(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    location_id: uuid.UUID
    move_id: uuid.UUID
    date: dt.date
    quantity: DecimalStr
    remaining_quantity: DecimalStr
    unit_cost: DecimalStr
    remaining_value: DecimalStr


class LayerQuery(IdPageQuery):
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = Field(None, description="Layers of goods received into this location.")
    open_only: bool = Field(False, description="Only layers with a remaining quantity.")


@router.get(
    "/stock/layers",
    response_model=PageOf[LayerOut],
    summary="FIFO valuation layers",
    description="What came in at one cost and how much of it is still in stock, oldest first.",
)
def list_layers(
    params: Annotated[LayerQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> PageOf[LayerOut]:
        company = company_in_scope(session, api.principal, params.company_id)
        items, last = c.layers_page(
            session,
            company,
            product_id=params.product_id,
            location_id=params.location_id,
            open_only=params.open_only,
            limit=params.limit,
            cursor=params.cursor,
            visible_store_id=api.principal.store_id,
        )
        return PageOf.of([LayerOut(**item.__dict__) for item in items], last)

    return api.read(work)


# -- a standard-cost change --------------------------------------------------------------------------


class ChangeStandardCost(Request):
    standard_cost: UnitCostIn
    effective_date: Day | None = Field(None, description="Defaults to today (UTC).")
    reason: Reason = ""


class RevaluationItem(BaseModel):
    location_id: uuid.UUID
    store_id: uuid.UUID | None
    stock_role: str
    quantity: DecimalStr
    amount: DecimalStr


class RevaluationOut(BaseModel):
    product_id: uuid.UUID
    old_cost: DecimalStr
    new_cost: DecimalStr
    effective_date: dt.date
    quantity: DecimalStr
    amount: DecimalStr
    event_id: uuid.UUID
    items: list[RevaluationItem]


@router.post(
    "/products/{product_id}/standard-cost",
    response_model=RevaluationOut,
    summary="Change a standard-cost product's cost and revalue its stock on hand",
    description="Each valued location's stock is revalued at the new cost; the difference is posted"
    " against the price-variance account (StandardCostChanged). Send an Idempotency-Key.",
)
async def change_standard_cost(
    product_id: ProductId, body: ChangeStandardCost, api: Annotated[Api, Depends(writer("products:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> RevaluationOut:
        company = _product_company(session, api.principal, product_id)
        done = c.change_standard_cost(
            session,
            ctx,
            company,
            product_id,
            new_cost=body.standard_cost,
            date=body.effective_date or utcnow().date(),
            reason=body.reason,
        )
        return RevaluationOut(
            product_id=done.product_id,
            old_cost=done.old_cost,
            new_cost=done.new_cost,
            effective_date=done.date,
            quantity=done.quantity,
            amount=done.amount,
            event_id=done.event_id,
            items=[
                RevaluationItem(**{k: item[k] for k in RevaluationItem.model_fields}) for item in done.items
            ],
        )

    return await api.command(work)


# -- the average-cost precision ----------------------------------------------------------------------


class CostingSettingsOut(BaseModel):
    company_id: uuid.UUID
    average_cost_precision: Literal["unrounded", "currency"]


class SetCostingSettings(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    average_cost_precision: Literal["unrounded", "currency"]


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


@router.get(
    "/stock/costing-settings", response_model=CostingSettingsOut, summary="The average-cost precision"
)
def get_costing_settings(
    params: Annotated[CompanyQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> CostingSettingsOut:
        company = company_in_scope(session, api.principal, params.company_id)
        return CostingSettingsOut(**c.settings(session, company))

    return api.read(work)


@router.put(
    "/stock/costing-settings",
    response_model=CostingSettingsOut,
    summary="Set the average-cost precision",
    description="`unrounded` (the default): average unit costs to 6 decimals; `currency`: rounded to the"
    " currency's minor unit, as Odoo keeps them. Applies to moves from now on.",
)
async def put_costing_settings(
    body: SetCostingSettings, api: Annotated[Api, Depends(writer("accounts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> CostingSettingsOut:
        company = company_in_scope(session, api.principal, body.company_id)
        return CostingSettingsOut(
            **c.set_settings(session, ctx, company, average_cost_precision=body.average_cost_precision)
        )

    return await api.command(work)


# -- a product's own accounts ------------------------------------------------------------------------


class SetProductAccounts(Request):
    income_account: AccountCode | None = Field(None, description="Account code; absent: the role's account.")
    expense_account: AccountCode | None = Field(None, description="Account code; absent: the role's account.")


class ProductAccountsOut(BaseModel):
    product_id: uuid.UUID
    income_account: str | None
    expense_account: str | None


@router.put(
    "/products/{product_id}/accounts",
    response_model=ProductAccountsOut,
    summary="Set a product's own income and expense accounts",
    description="The expense account takes the product's cost of goods sold in place of the `cogs` role's"
    " account (deliveries and cost corrections); the income account is kept for the sales postings.",
)
async def put_product_accounts(
    product_id: ProductId, body: SetProductAccounts, api: Annotated[Api, Depends(writer("accounts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> ProductAccountsOut:
        company = _product_company(session, api.principal, product_id)
        income, expense = c.set_product_accounts(
            session,
            ctx,
            company,
            product_id,
            income_account=body.income_account,
            expense_account=body.expense_account,
        )
        return ProductAccountsOut(product_id=product_id, income_account=income, expense_account=expense)

    return await api.command(work)


# -- returns to vendor -------------------------------------------------------------------------------


class VendorReturnLineIn(Request):
    receipt_line_id: uuid.UUID
    quantity: PositiveQuantity


class RecordVendorReturn(Request):
    receipt_id: uuid.UUID
    date: Day | None = Field(None, description="Defaults to today (UTC).")
    reason: Reason = ""
    lines: Annotated[list[VendorReturnLineIn], Field(min_length=1, max_length=500)]


class VendorReturnLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    operation_id: uuid.UUID
    receipt_id: uuid.UUID
    receipt_line_id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: DecimalStr
    unit_price: DecimalStr
    value: DecimalStr
    purchase_value: DecimalStr
    move_id: uuid.UUID
    date: dt.date
    reason: str
    event_id: uuid.UUID


class VendorReturnOut(BaseModel):
    operation_id: uuid.UUID
    receipt_id: uuid.UUID
    event_id: uuid.UUID
    date: dt.date
    lines: list[VendorReturnLineOut]


@router.post(
    "/stock/vendor-returns",
    status_code=201,
    response_model=VendorReturnOut,
    summary="Return goods of a purchase receipt to the supplier",
    description="Each line gives back at most what its receipt line received less what went back before;"
    " under FIFO the goods leave at their receipt layer's cost. Posts SupplierReturned. Send an"
    " Idempotency-Key.",
)
async def create_vendor_return(
    body: RecordVendorReturn, api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> VendorReturnOut:
        company_id = session.scalar(select(Receipt.company_id).where(Receipt.id == body.receipt_id))
        if company_id is None or not api.principal.sees_company(company_id):
            raise NotFound(f"no receipt {body.receipt_id}")
        company = session.get(Company, company_id)
        assert company is not None
        done = vr.return_to_vendor(
            session,
            ctx,
            company,
            body.receipt_id,
            [vr.ReturnLineRequest(line.receipt_line_id, line.quantity) for line in body.lines],
            date=body.date or utcnow().date(),
            reason=body.reason,
            visible_store_id=api.principal.store_id,
        )
        return VendorReturnOut(
            operation_id=done.operation_id,
            receipt_id=done.receipt_id,
            event_id=done.event_id,
            date=done.date,
            lines=[VendorReturnLineOut.model_validate(row) for row in done.lines],
        )

    return await api.command(work, status_code=201)


class VendorReturnQuery(IdPageQuery):
    receipt_id: uuid.UUID | None = None


@router.get(
    "/stock/vendor-returns",
    response_model=PageOf[VendorReturnLineOut],
    summary="Lines returned to vendors",
)
def list_vendor_returns(
    params: Annotated[VendorReturnQuery, Query()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    def work(session: Session) -> PageOf[VendorReturnLineOut]:
        company = company_in_scope(session, api.principal, params.company_id)
        rows, last = vr.list_returns(
            session,
            company,
            receipt_id=params.receipt_id,
            limit=params.limit,
            cursor=params.cursor,
            visible_store_id=api.principal.store_id,
        )
        return PageOf.of([VendorReturnLineOut.model_validate(row) for row in rows], last)

    return api.read(work)
