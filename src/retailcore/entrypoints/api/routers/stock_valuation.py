"""Stock valuation at a date and its agreement with the ledger."""

import csv
import datetime as dt
import io
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from retailcore.core.decimals import DecimalStr, canonical
from retailcore.core.inputs import Day
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, replica_reader
from retailcore.entrypoints.api.references import CompanyParam, StoreParam
from retailcore.inventory import valuation as v
from retailcore.masterdata.services import company_in_scope, store_filter

router = APIRouter(route_class=DecimalRoute, tags=["stock"])


class ValuationRowView(BaseModel):
    product_id: uuid.UUID
    sku: str
    product_category: str
    location_id: uuid.UUID
    location_code: str
    location_kind: str
    store_id: uuid.UUID | None
    quantity: DecimalStr
    value: DecimalStr


class ValuationView(BaseModel):
    as_of: dt.date
    rows: list[ValuationRowView]
    total_quantity: DecimalStr
    total_value: DecimalStr


class RoleAgreementView(BaseModel):
    role: str
    stock_value: DecimalStr
    ledger_balance: DecimalStr
    awaiting_posting: DecimalStr
    difference: DecimalStr


class AgreementView(BaseModel):
    as_of: dt.date
    agrees: bool
    roles: list[RoleAgreementView]


def _csv(valuation: v.Valuation) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sku", "product_category", "location_code", "location_kind", "quantity", "value"])
    for row in valuation.rows:
        writer.writerow(
            [
                row.sku,
                row.product_category,
                row.location_code,
                row.location_kind,
                canonical(row.quantity),
                canonical(row.value),
            ]
        )
    return buffer.getvalue()


@router.get(
    "/reports/stock-valuation",
    response_model=ValuationView,
    summary="Quantity and value per product and location at a date",
    responses={200: {"content": {"text/csv": {}}}},
)
def stock_valuation(
    api: Annotated[Api, Depends(reader("stock:read"))],
    as_of: Annotated[Day | None, Query(description="Default: today.")] = None,
    company_id: CompanyParam = None,
    store_id: StoreParam = None,
    product_id: uuid.UUID | None = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    def work(session: Any) -> Any:
        company = company_in_scope(session, api.principal, company_id)
        store = store_filter(session, api.principal, store_id, company=company)
        return v.stock_valuation(
            session, company.id, as_of or dt.date.today(), store_id=store, product_id=product_id
        )

    valuation = api.read(work)
    if format == "csv":
        return Response(_csv(valuation), media_type="text/csv; charset=utf-8")
    return ValuationView(
        as_of=valuation.as_of,
        rows=[ValuationRowView(**row.__dict__) for row in valuation.rows],
        total_quantity=valuation.total_quantity,
        total_value=valuation.total_value,
    )


@router.get(
    "/stock/check",
    response_model=AgreementView,
    summary="Does the stock valuation equal the ledger's stock accounts?",
    description="Per account role (inventory, damaged_goods, stock_in_transit): the valuation rebuilt from"
    " the moves against the posted ledger balance at the same date. `agrees` is false if any role differs.",
)
def stock_check(
    api: Annotated[Api, Depends(replica_reader("reports:read"))],
    as_of: Annotated[Day | None, Query(description="Default: today.")] = None,
    company_id: CompanyParam = None,
) -> Any:
    def work(session: Any) -> Any:
        company = company_in_scope(session, api.principal, company_id)
        return v.check_agreement(session, company.id, as_of or dt.date.today())

    check = api.read(work)
    return AgreementView(
        as_of=check.as_of,
        agrees=check.agrees,
        roles=[
            RoleAgreementView(
                role=r.role,
                stock_value=r.stock_value,
                ledger_balance=r.ledger_balance,
                awaiting_posting=r.awaiting_posting,
                difference=r.difference,
            )
            for r in check.roles
        ],
    )
