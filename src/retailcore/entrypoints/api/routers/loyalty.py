"""Loyalty over HTTP: the programme, customers' accounts and their movements, earning points for an
order and taking them back after a refund (docs/coupons-and-loyalty.md). Burning points is a tender:
``POST /orders/{id}/payments`` with ``kind: loyalty``.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime. Every
POST and PUT honours ``Idempotency-Key``.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.loyalty import commands as c
from retailcore.loyalty import earning
from retailcore.loyalty import services as svc
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope

router = APIRouter(route_class=DecimalRoute, tags=["loyalty"])

CONFLICTS = {
    409: {"description": "No active programme, a customer not enrolled (or enrolled already), an order not"
          " delivered"},
    422: {"description": "Invalid input, or an unknown customer or order"},
}  # fmt: skip


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


class PageQuery(CompanyQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class AccountPage(BaseModel):
    items: list[c.AccountView]
    next_cursor: uuid.UUID | None


@router.get(
    "/loyalty/programme",
    response_model=c.ProgrammeView,
    summary="Read the loyalty programme",
    description="With the points outstanding and the liability they are booked at.",
    responses={404: {"description": "The company has no loyalty programme"}},
)
def get_programme(
    params: Annotated[CompanyQuery, Query()], api: Annotated[Api, Depends(reader("loyalty:read"))]
) -> Any:
    def work(session: Session) -> c.ProgrammeView:
        return svc.programme_view(session, company_in_scope(session, api.principal, params.company_id))

    return api.read(work)


@router.put(
    "/loyalty/programme",
    response_model=c.ProgrammeView,
    summary="Set the loyalty programme",
    description=(
        "Points per unit paid, their rounding, and the value of a point (what it pays, and what the"
        " liability is valued at). A new point value revalues the points outstanding"
        " (`LoyaltyLiabilityRevalued`: loyalty_cost against loyalty_liability, or back)."
    ),
    responses=CONFLICTS,
)
async def set_programme(
    body: c.SetProgramme, api: Annotated[Api, Depends(writer("loyalty:programme"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ProgrammeView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.set_programme(session, ctx, company, body)

    return await api.command(work)


@router.post(
    "/loyalty/accounts",
    status_code=201,
    response_model=c.AccountView,
    summary="Enrol a customer",
    description="Opens the customer's points account (`LoyaltyAccountOpened`).",
    responses=CONFLICTS,
)
async def open_account(
    body: c.OpenAccount, api: Annotated[Api, Depends(writer("loyalty:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.AccountView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.open_account(session, ctx, company, body)

    return await api.command(work, status_code=201)


@router.get("/loyalty/accounts", response_model=AccountPage, summary="List loyalty accounts")
def list_accounts(
    params: Annotated[PageQuery, Query()], api: Annotated[Api, Depends(reader("loyalty:read"))]
) -> Any:
    def work(session: Session) -> AccountPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_accounts(session, company, limit=params.limit, cursor=params.cursor)
        return AccountPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/loyalty/accounts/{ref}",
    response_model=c.AccountDetail,
    summary="A loyalty account and its movements",
    description="By the account's id or its customer's id: the balance and the movements, oldest first.",
)
def get_account(
    ref: uuid.UUID,
    params: Annotated[PageQuery, Query()],
    api: Annotated[Api, Depends(reader("loyalty:read"))],
) -> Any:
    def work(session: Session) -> c.AccountDetail:
        company = company_in_scope(session, api.principal, params.company_id)
        return svc.account_detail(session, company, ref, limit=params.limit, cursor=params.cursor)

    return api.read(work)


@router.post(
    "/loyalty/earnings",
    response_model=c.Earned,
    summary="Earn points for an order",
    description=(
        "Points for a delivered order, on its gross total less what points paid, once per order"
        " (`LoyaltyPointsEarned`: loyalty_cost against loyalty_liability). A repeat answers the first."
    ),
    responses=CONFLICTS,
)
async def earn(body: c.EarnForOrder, api: Annotated[Api, Depends(writer("loyalty:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.Earned:
        company = company_in_scope(session, api.principal, body.company_id)
        return earning.earn_for_order(session, ctx, company, body.order_id)

    return await api.command(work)


@router.post(
    "/loyalty/reversals",
    response_model=c.Earned,
    summary="Take back an order's points",
    description=(
        "After a refund: the points the order earned, at most what the account holds, once"
        " (`LoyaltyPointsReversed`: loyalty_liability against loyalty_cost)."
    ),
    responses=CONFLICTS,
)
async def reverse(body: c.EarnForOrder, api: Annotated[Api, Depends(writer("loyalty:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.Earned:
        company = company_in_scope(session, api.principal, body.company_id)
        return earning.reverse_for_order(session, ctx, company, body.order_id)

    return await api.command(work)
