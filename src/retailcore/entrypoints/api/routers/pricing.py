"""Price lists and price quotes over HTTP.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
Reading needs ``products:read``, changing ``products:write``.
"""

import uuid
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Header, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.errors import FieldProblem, InvalidReference, ValidationFailed
from retailcore.core.inputs import Day, Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, CurrencyCode, StoreRef
from retailcore.masterdata.services import company_in_scope, store_id_in_scope, store_in_scope, with_store_ids
from retailcore.masterdata.tables import Company, Product
from retailcore.pricing import price_lists as pl
from retailcore.pricing import tax_settings as ts
from retailcore.pricing.tables import PriceList

router = APIRouter(route_class=DecimalRoute, tags=["pricing"])

IfMatch = Annotated[str | None, Header(description="ETag from a GET: refuse the change if it moved on.")]


def _if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":  # "*" matches any current version (RFC 9110)
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise ValidationFailed(
            "If-Match must be the ETag the API returned", code="invalid-if-match"
        ) from None


def _location(result: BaseModel) -> str:
    return f"/api/v1/price-lists/{result.id}"  # type: ignore[attr-defined]


@router.post(
    "/price-lists",
    status_code=201,
    response_model=pl.PriceListDetail,
    summary="Create a price list",
    description="Honours `Idempotency-Key`. Items may be given now or later with PUT .../items.",
    responses={409: {"description": "The code is taken"}, 422: {"description": "Invalid input"}},
)
async def create_price_list(
    body: pl.CreatePriceList, api: Annotated[Api, Depends(writer("products:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> pl.PriceListDetail:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return pl.detail(session, pl.create_price_list(session, ctx, company, request))

    return await api.command(work, status_code=201, location=_location)


class PriceListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    channel: pl.Channel | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id: only its lists.")
    active: bool | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


class PriceListPage(BaseModel):
    items: list[pl.PriceListView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")


@router.get("/price-lists", response_model=PriceListPage, summary="List price lists, by code")
def list_price_lists(
    params: Annotated[PriceListQuery, Query()], api: Annotated[Api, Depends(reader("products:read"))]
) -> Any:
    def work(session: Session) -> PriceListPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = select(PriceList).where(PriceList.company_id == company.id)
        if params.channel is not None:
            query = query.where(PriceList.channel == params.channel)
        store_id = store_id_in_scope(session, api.principal, params.store_id, company=company)
        if store_id is not None:
            query = query.where(PriceList.store_id == store_id)
        if api.principal.store_id is not None:
            # A store token sees company-wide lists and its own store's, never another store's.
            query = query.where(
                (PriceList.store_id.is_(None)) | (PriceList.store_id == api.principal.store_id)
            )
        if params.active is not None:
            query = query.where(PriceList.active.is_(params.active))
        # Codes are unique per company, so they order the pages as well as ids would, and read better.
        rows, next_cursor = keyset_page(session, query, PriceList.code, params.limit, params.cursor)
        return PriceListPage(
            items=[pl.PriceListView.model_validate(row) for row in rows], next_cursor=next_cursor
        )

    return api.read(work)


@router.get("/price-lists/{price_list_id}", response_model=pl.PriceListDetail, summary="Get a price list")
def get_price_list(
    price_list_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("products:read"))]
) -> Response:
    result = api.read(
        lambda session: pl.detail(session, pl.get_price_list(session, api.principal, price_list_id))
    )
    return JSONResponse(result.model_dump(mode="json"), headers={"ETag": f'"{result.version}"'})


@router.patch(
    "/price-lists/{price_list_id}", response_model=pl.PriceListDetail, summary="Change a price list"
)
async def update_price_list(
    price_list_id: Annotated[uuid.UUID, Path()],
    body: pl.UpdatePriceList,
    api: Annotated[Api, Depends(writer("products:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> pl.PriceListDetail:
        price_list = pl.get_price_list(session, ctx.principal, price_list_id)
        company = session.get(Company, price_list.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        row = pl.update_price_list(session, ctx, price_list_id, request, expected_version=expected)
        return pl.detail(session, row)

    return await api.command(work)


@router.put(
    "/price-lists/{price_list_id}/items",
    response_model=pl.PriceListDetail,
    summary="Replace the items of a price list",
    description="The body is the complete new list of items; items not in it are removed.",
)
async def replace_items(
    price_list_id: Annotated[uuid.UUID, Path()],
    body: Annotated[list[pl.ItemIn], Body(max_length=10_000)],
    api: Annotated[Api, Depends(writer("products:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> pl.PriceListDetail:
        row = pl.replace_items(session, ctx, price_list_id, body, expected_version=expected)
        return pl.detail(session, row)

    return await api.command(work)


class PriceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    channel: pl.Channel
    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    store_id: StoreRef | None = Field(None, description="Store code or id: its lists, in its time zone.")
    currency: CurrencyCode | None = Field(None, description="Defaults to the company currency.")
    date: Day | None = Field(None, description="Defaults to today (in the store's time zone, if any).")
    quantity: pl.QuantityIn = Decimal(1)
    customer_group: pl.CustomerGroup | None = None


@router.get(
    "/prices",
    response_model=pl.QuoteView,
    summary="Quote the unit price of a product",
    description="The most specific active price list wins; without one, the product's list price applies "
    "in the company currency (see docs/pricing-and-tax.md).",
)
def quote(
    params: Annotated[PriceQuery, Query()], api: Annotated[Api, Depends(reader("products:read"))]
) -> Any:
    def work(session: Session) -> pl.QuoteView:
        company = company_in_scope(session, api.principal, params.company_id)
        product = session.get(Product, params.product_id)
        if product is None or product.company_id != company.id:
            raise InvalidReference(
                f"no product {params.product_id}", problems=[FieldProblem("product_id", "no such product")]
            )
        on = params.date
        store = store_in_scope(session, api.principal, params.store_id, company=company)
        if store is not None and on is None:
            on = utcnow().astimezone(ZoneInfo(store.timezone)).date()
        result = pl.price_for(
            session,
            company,
            product,
            channel=params.channel,
            store_id=store.id if store is not None else None,
            currency=params.currency or company.currency,
            on=on or utcnow().date(),
            quantity=params.quantity,
            customer_group=params.customer_group,
        )
        return pl.QuoteView(
            product_id=product.id,
            quantity=params.quantity,
            unit_price=result.unit_price,
            currency=result.currency,
            source=result.source,
            price_list_id=result.price_list_id,
            min_quantity=result.min_quantity,
        )

    return api.read(work)


class TaxSettingsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


@router.get(
    "/tax-settings",
    response_model=ts.TaxSettingsView,
    summary="Read the company's tax rounding conventions",
    description="The defaults (preset `retailcore`) while the company has set none.",
)
def get_tax_settings(
    params: Annotated[TaxSettingsQuery, Query()], api: Annotated[Api, Depends(reader("tax_rules:read"))]
) -> Any:
    def work(session: Session) -> ts.TaxSettingsView:
        return ts.tax_settings_view(session, company_in_scope(session, api.principal, params.company_id))

    return api.read(work)


@router.put(
    "/tax-settings",
    response_model=ts.TaxSettingsView,
    summary="Set the company's tax rounding conventions",
    description=(
        "A `preset` (`retailcore`, `odoo`), then any field given on top of it (or of the current"
        " conventions). Applies to documents taxed from now on (`TaxSettingsChanged`). Honours"
        " `Idempotency-Key`."
    ),
    responses={422: {"description": "Invalid input"}},
)
async def set_tax_settings(
    body: ts.SetTaxSettings, api: Annotated[Api, Depends(writer("tax_rules:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> ts.TaxSettingsView:
        company = company_in_scope(session, api.principal, body.company_id)
        return ts.set_tax_settings(session, ctx, company, body)

    return await api.command(work)
