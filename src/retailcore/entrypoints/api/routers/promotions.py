"""Promotions and their governance, governed price changes, and basket quotes over HTTP
(docs/promotions-governance.md, decision 0048).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
Reading needs ``promotions:read`` (``price_changes:read``); drafting ``promotions:write``; deciding
``promotions:approve``; approving over a margin floor ``promotions:override``. Quotes need
``products:read``.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.paging import keyset_page
from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.routers.pricing import IfMatch, _if_match
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope
from retailcore.promotions import commands as c
from retailcore.promotions import price_changes as changes
from retailcore.promotions import quotes
from retailcore.promotions import services as svc
from retailcore.promotions.tables import PriceChange

router = APIRouter(route_class=DecimalRoute, tags=["promotions"])


def _location(result: BaseModel) -> str:
    return f"/api/v1/promotions/{result.id}"  # type: ignore[attr-defined]


@router.post(
    "/promotions",
    status_code=201,
    response_model=c.PromotionView,
    summary="Draft a promotion",
    description="Honours `Idempotency-Key`. The promotion starts as a draft: submit it, and another person "
    "approves it (docs/promotions-governance.md).",
)
async def create_promotion(
    body: c.CreatePromotion, api: Annotated[Api, Depends(writer("promotions:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PromotionView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.view(svc.create_promotion(session, ctx, company, body))

    return await api.command(work, status_code=201, location=_location)


class PromotionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    state: c.PromotionState | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


class PromotionPage(BaseModel):
    items: list[c.PromotionView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")


@router.get("/promotions", response_model=PromotionPage, summary="List promotions, by code")
def list_promotions(
    params: Annotated[PromotionQuery, Query()], api: Annotated[Api, Depends(reader("promotions:read"))]
) -> Any:
    def work(session: Session) -> PromotionPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = svc.promotions_query(company.id, params.state)
        rows, next_cursor = keyset_page(session, query, svc.PromotionRow.code, params.limit, params.cursor)
        return PromotionPage(items=[svc.view(row) for row in rows], next_cursor=next_cursor)

    return api.read(work)


@router.get("/promotions/{promotion_id}", response_model=c.PromotionView, summary="Get a promotion")
def get_promotion(
    promotion_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("promotions:read"))]
) -> Response:
    result = api.read(lambda session: svc.view(svc.get_promotion(session, api.principal, promotion_id)))
    return JSONResponse(result.model_dump(mode="json"), headers={"ETag": f'"{result.version}"'})


@router.patch(
    "/promotions/{promotion_id}",
    response_model=c.PromotionView,
    summary="Change a draft or rejected promotion",
    description="Only the fields sent change; a rejected promotion becomes a draft again. `If-Match` refuses "
    "the change if the promotion moved on.",
)
async def update_promotion(
    promotion_id: Annotated[uuid.UUID, Path()],
    body: c.UpdatePromotion,
    api: Annotated[Api, Depends(writer("promotions:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> c.PromotionView:
        return svc.view(svc.update_promotion(session, ctx, promotion_id, body, expected_version=expected))

    return await api.command(work)


@router.post(
    "/promotions/{promotion_id}/submit",
    response_model=c.PromotionView,
    summary="Submit a promotion for approval",
)
async def submit_promotion(
    promotion_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("promotions:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> c.PromotionView:
        return svc.view(svc.submit_promotion(session, ctx, promotion_id, expected_version=expected))

    return await api.command(work)


@router.post(
    "/promotions/{promotion_id}/approve",
    response_model=c.PromotionView,
    summary="Approve a submitted promotion",
    description="Four eyes: not by its author, last editor or submitter. 409 `exclusive-overlap` or "
    "`margin-floor-breach` writes nothing; a breach can be approved with `/override`.",
)
async def approve_promotion(
    promotion_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("promotions:approve"))],
    body: c.Decision | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PromotionView:
        decision = body or c.Decision()
        return svc.view(svc.approve_promotion(session, ctx, promotion_id, decision))

    return await api.command(work)


@router.post(
    "/promotions/{promotion_id}/override",
    response_model=c.PromotionView,
    summary="Approve a promotion over a margin-floor breach",
    description="Finance or an admin only (`promotions:override`), with a reason; four eyes apply.",
)
async def override_promotion(
    promotion_id: Annotated[uuid.UUID, Path()],
    body: c.ReasonRequired,
    api: Annotated[Api, Depends(writer("promotions:override"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PromotionView:
        decision = c.Decision(reason=body.reason)
        return svc.view(svc.approve_promotion(session, ctx, promotion_id, decision, override=True))

    return await api.command(work)


@router.post(
    "/promotions/{promotion_id}/reject",
    response_model=c.PromotionView,
    summary="Reject a submitted promotion, saying why",
)
async def reject_promotion(
    promotion_id: Annotated[uuid.UUID, Path()],
    body: c.ReasonRequired,
    api: Annotated[Api, Depends(writer("promotions:approve"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PromotionView:
        return svc.view(svc.reject_promotion(session, ctx, promotion_id, body))

    return await api.command(work)


# -- governed price changes --------------------------------------------------------------------------


def _change_location(result: BaseModel) -> str:
    return f"/api/v1/price-changes/{result.id}"  # type: ignore[attr-defined]


@router.post(
    "/price-changes",
    status_code=201,
    response_model=c.PriceChangeView,
    summary="Draft a change of a price list's items",
    description="Honours `Idempotency-Key`. Submitted, approved by another person, then applied at "
    "`effective_at` by the sweep.",
)
async def create_price_change(
    body: c.CreatePriceChange, api: Annotated[Api, Depends(writer("price_changes:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PriceChangeView:
        company = company_in_scope(session, api.principal, body.company_id)
        return changes.change_view(changes.create_price_change(session, ctx, company, body))

    return await api.command(work, status_code=201, location=_change_location)


class PriceChangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    state: c.PriceChangeState | None = None
    price_list_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class PriceChangePage(BaseModel):
    items: list[c.PriceChangeView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")


@router.get("/price-changes", response_model=PriceChangePage, summary="List price changes")
def list_price_changes(
    params: Annotated[PriceChangeQuery, Query()], api: Annotated[Api, Depends(reader("price_changes:read"))]
) -> Any:
    def work(session: Session) -> PriceChangePage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = select(PriceChange).where(PriceChange.company_id == company.id)
        if params.state is not None:
            query = query.where(PriceChange.state == params.state)
        if params.price_list_id is not None:
            query = query.where(PriceChange.price_list_id == params.price_list_id)
        rows, next_cursor = keyset_page(session, query, PriceChange.id, params.limit, params.cursor)
        return PriceChangePage(items=[changes.change_view(row) for row in rows], next_cursor=next_cursor)

    return api.read(work)


@router.get("/price-changes/{change_id}", response_model=c.PriceChangeView, summary="Get a price change")
def get_price_change(
    change_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("price_changes:read"))]
) -> Response:
    result = api.read(
        lambda session: changes.change_view(changes.get_price_change(session, api.principal, change_id))
    )
    return JSONResponse(result.model_dump(mode="json"), headers={"ETag": f'"{result.version}"'})


@router.patch(
    "/price-changes/{change_id}",
    response_model=c.PriceChangeView,
    summary="Change a draft or rejected price change",
)
async def update_price_change(
    change_id: Annotated[uuid.UUID, Path()],
    body: c.UpdatePriceChange,
    api: Annotated[Api, Depends(writer("price_changes:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> c.PriceChangeView:
        return changes.change_view(
            changes.update_price_change(session, ctx, change_id, body, expected_version=expected)
        )

    return await api.command(work)


@router.post(
    "/price-changes/{change_id}/submit", response_model=c.PriceChangeView, summary="Submit a price change"
)
async def submit_price_change(
    change_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("price_changes:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> c.PriceChangeView:
        return changes.change_view(
            changes.submit_price_change(session, ctx, change_id, expected_version=expected)
        )

    return await api.command(work)


@router.post(
    "/price-changes/{change_id}/approve",
    response_model=c.PriceChangeView,
    summary="Approve a price change",
    description="Four eyes. Applied at once when `effective_at` has come, else by the sweep.",
)
async def approve_price_change(
    change_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("price_changes:approve"))],
    body: c.Decision | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PriceChangeView:
        return changes.change_view(
            changes.approve_price_change(session, ctx, change_id, body or c.Decision())
        )

    return await api.command(work)


@router.post(
    "/price-changes/{change_id}/reject",
    response_model=c.PriceChangeView,
    summary="Reject a price change, saying why",
)
async def reject_price_change(
    change_id: Annotated[uuid.UUID, Path()],
    body: c.ReasonRequired,
    api: Annotated[Api, Depends(writer("price_changes:approve"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.PriceChangeView:
        return changes.change_view(changes.reject_price_change(session, ctx, change_id, body))

    return await api.command(work)


# -- quotes ------------------------------------------------------------------------------------------


@router.post(
    "/pricing/quote",
    response_model=c.QuoteView,
    tags=["pricing"],
    summary="Price a basket: price lists, promotions in force, manual discounts, taxes, margins",
    description="Reads only. Promotions apply in the store's local time (the company's first store's for "
    "channels without one). Coupons are not taken yet.",
)
def quote(body: c.PriceQuote, api: Annotated[Api, Depends(reader("products:read"))]) -> Any:
    def work(session: Session) -> c.QuoteView:
        company = company_in_scope(session, api.principal, body.company_id)
        return quotes.quote(session, api.principal, company, body)

    return api.read(work)
