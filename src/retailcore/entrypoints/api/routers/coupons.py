"""Coupons over HTTP: one code or a generated batch for a promotion, a code's status, lists, deactivation,
and redemptions made outside our channels (docs/coupons-and-loyalty.md).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime. Every
POST honours ``Idempotency-Key``.
"""

import csv
import io
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope
from retailcore.promotions import coupon_commands as c
from retailcore.promotions import coupons as svc

router = APIRouter(route_class=DecimalRoute, tags=["coupons"])

CONFLICTS = {
    409: {"description": "A code that exists, a closed promotion, or a coupon used up, inactive or expired"},
    422: {"description": "Invalid input, or an unknown promotion"},
}
CODE = "The coupon's code as printed (case, spaces and dashes do not matter)."
CouponCode = Annotated[Text, Path(max_length=64, description=CODE)]


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


class CouponQuery(CompanyQuery):
    batch: Text | None = Field(None, max_length=64, description="Only the codes of this batch.")
    promotion: Text | None = Field(None, max_length=36, description="Only the codes of this promotion.")
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class CouponPage(BaseModel):
    items: list[c.CouponView]
    next_cursor: uuid.UUID | None


class RedemptionQuery(CompanyQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class RedemptionPage(BaseModel):
    items: list[c.RedemptionView]
    next_cursor: uuid.UUID | None


@router.post(
    "/coupons",
    status_code=201,
    response_model=c.CouponView,
    summary="Create a coupon",
    description=(
        "One code for a promotion (`promotion`: its code or id): single-use by default (`max_uses` 1),"
        " or multi-use with limits in total (`max_uses`, null: unlimited) and per customer, valid from"
        " `valid_from` to `valid_to`. `code` null draws one. Recorded as `CouponCreated`."
    ),
    responses=CONFLICTS,
)
async def create_coupon(
    body: c.CreateCoupon, api: Annotated[Api, Depends(writer("coupons:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.CouponView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.create_coupon(session, ctx, company, body)

    return await api.command(work, status_code=201)


@router.post(
    "/coupons/generate",
    status_code=201,
    response_model=c.GeneratedCoupons,
    summary="Generate a batch of coupons",
    description=(
        f"`count` (up to {c.MAX_BATCH}) unguessable codes for a promotion, behind an optional `prefix`,"
        " written in one go. The answer lists every code; `GET /coupons/batches/{batch}.csv` lists them"
        " again as CSV. `CouponsGenerated` carries the batch, the count and a SHA-256 of the codes."
    ),
    responses=CONFLICTS,
)
async def generate_coupons(
    body: c.GenerateCoupons, api: Annotated[Api, Depends(writer("coupons:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.GeneratedCoupons:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.generate_coupons(session, ctx, company, body)

    return await api.command(work, status_code=201)


@router.get("/coupons", response_model=CouponPage, summary="List coupons")
def list_coupons(
    params: Annotated[CouponQuery, Query()], api: Annotated[Api, Depends(reader("coupons:read"))]
) -> Any:
    def work(session: Session) -> CouponPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_coupons(
            session,
            company,
            batch=params.batch,
            promotion=params.promotion,
            limit=params.limit,
            cursor=params.cursor,
        )
        return CouponPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/coupons/batches/{batch}.csv",
    summary="A batch's codes as CSV",
    description="`code,promotion,max_uses,max_uses_per_customer,valid_from,valid_to`, one code a line.",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def batch_csv(
    batch: Annotated[Text, Path(max_length=64)],
    params: Annotated[CompanyQuery, Query()],
    api: Annotated[Api, Depends(reader("coupons:read"))],
) -> Response:
    def work(session: Session) -> str:
        company = company_in_scope(session, api.principal, params.company_id)
        return to_csv(svc.batch_codes(session, company, batch))

    return Response(api.read(work), media_type="text/csv")


def to_csv(coupons: list[c.CouponView]) -> str:
    out = io.StringIO()
    writer_ = csv.writer(out, lineterminator="\n")
    writer_.writerow(["code", "promotion", "max_uses", "max_uses_per_customer", "valid_from", "valid_to"])
    for coupon in coupons:
        writer_.writerow(
            [
                coupon.code,
                coupon.promotion_code,
                "" if coupon.max_uses is None else coupon.max_uses,
                "" if coupon.max_uses_per_customer is None else coupon.max_uses_per_customer,
                coupon.valid_from.isoformat() if coupon.valid_from else "",
                coupon.valid_to.isoformat() if coupon.valid_to else "",
            ]
        )
    return out.getvalue()


@router.get(
    "/coupons/{code}",
    response_model=c.CouponView,
    summary="A coupon's status",
    description="Its promotion, uses, uses left, whether it is active and can be used now. " + CODE,
)
def get_coupon(
    code: CouponCode,
    params: Annotated[CompanyQuery, Query()],
    api: Annotated[Api, Depends(reader("coupons:read"))],
) -> Any:
    def work(session: Session) -> c.CouponView:
        return svc.coupon_status(session, company_in_scope(session, api.principal, params.company_id), code)

    return api.read(work)


@router.post(
    "/coupons/{code}/deactivate",
    response_model=c.CouponView,
    summary="Deactivate a coupon",
    description="The code stops working for good; its redemptions stay (`CouponDeactivated`). " + CODE,
)
async def deactivate_coupon(
    code: CouponCode, body: c.DeactivateCoupon, api: Annotated[Api, Depends(writer("coupons:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.CouponView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.deactivate(session, ctx, company, code, body)

    return await api.command(work)


@router.post(
    "/coupons/{code}/redemptions",
    status_code=201,
    response_model=c.RedemptionView,
    summary="Redeem a coupon",
    description=(
        "For systems that apply a code themselves (a web shop): uses the coupon once on `order_id`."
        " Refused when used up (`409 coupon-used-up`), over the customer's limit"
        " (`409 coupon-customer-limit`), inactive, outside its window, or its promotion not approved."
        " The same order again answers the first redemption and uses nothing. " + CODE
    ),
    responses=CONFLICTS,
)
async def redeem_coupon(
    code: CouponCode, body: c.RedeemCoupon, api: Annotated[Api, Depends(writer("coupons:redeem"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.RedemptionView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.redeem_by_code(session, ctx, company, code, body)

    return await api.command(work, status_code=201)


@router.get("/coupons/{code}/redemptions", response_model=RedemptionPage, summary="A coupon's redemptions")
def list_redemptions(
    code: CouponCode,
    params: Annotated[RedemptionQuery, Query()],
    api: Annotated[Api, Depends(reader("coupons:read"))],
) -> Any:
    def work(session: Session) -> RedemptionPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.redemptions(session, company, code, limit=params.limit, cursor=params.cursor)
        return RedemptionPage(items=items, next_cursor=next_cursor)

    return api.read(work)
