"""Gift cards and store credit over HTTP: issue, balance, reload, expire; goodwill credit, balances,
statements.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime. Every
POST honours ``Idempotency-Key``; an issue's replay answers the same card with ``code`` null (the code
is shown once and never stored).
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.core.inputs import Text
from retailcore.entrypoints.api.as_of import SweepAsOf
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope, with_store_ids
from retailcore.payments import commands as c
from retailcore.payments import services as svc

router = APIRouter(route_class=DecimalRoute, tags=["gift cards and store credit"])

CONFLICTS = {
    409: {"description": "An expired card, a card in another currency, or not enough on it"},
    422: {"description": "Invalid input, or an unknown customer or store"},
}
CODE = "The card's code as printed (case, spaces and dashes do not matter)."
CardCode = Annotated[Text, Path(max_length=64, description=CODE)]


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


class GiftCardQuery(CompanyQuery):
    state: Literal["active", "expired"] | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class GiftCardPage(BaseModel):
    items: list[c.GiftCardView]
    next_cursor: uuid.UUID | None


class StoreCreditQuery(CompanyQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class StoreCreditPage(BaseModel):
    items: list[c.StoreCreditBalanceView]
    next_cursor: uuid.UUID | None


class ExpireGiftCards(SweepAsOf):
    """Expire the cards whose last day is before the day of ``as_of``."""


class ExpiredGiftCards(BaseModel):
    expired: list[c.ExpiredGiftCard]


@router.post(
    "/gift-cards",
    status_code=201,
    response_model=c.IssuedGiftCardView,
    summary="Issue a gift card",
    description=(
        "A new card with `amount` on it. `sold`: the tender (`paid_by`) against gift_card_liability, no"
        " revenue and no tax (`GiftCardSold`); `given`: customer_goodwill against the liability"
        " (`GiftCardGiven`). The answer carries the card's `code` once; only its hash is stored. Expires"
        " on `expires_on`, else per the company's policy (`GET /gift-cards/policy`)."
    ),
    responses=CONFLICTS,
)
async def issue_gift_card(
    body: c.IssueGiftCard, api: Annotated[Api, Depends(writer("gift_cards:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.IssuedGiftCardView:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return svc.issue_gift_card(session, ctx, company, request)

    return await api.command(work, status_code=201, replayed=svc.without_code)


@router.get("/gift-cards", response_model=GiftCardPage, summary="List gift cards")
def list_gift_cards(
    params: Annotated[GiftCardQuery, Query()], api: Annotated[Api, Depends(reader("gift_cards:read"))]
) -> Any:
    def work(session: Session) -> GiftCardPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_gift_cards(
            session, company, state=params.state, limit=params.limit, cursor=params.cursor
        )
        return GiftCardPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/gift-cards/policy", response_model=c.GiftCardPolicyView, summary="Read the gift card policy")
def get_policy(
    params: Annotated[CompanyQuery, Query()], api: Annotated[Api, Depends(reader("gift_cards:read"))]
) -> Any:
    def work(session: Session) -> c.GiftCardPolicyView:
        return svc.policy(session, company_in_scope(session, api.principal, params.company_id).id)

    return api.read(work)


@router.put(
    "/gift-cards/policy",
    response_model=c.GiftCardPolicyView,
    summary="Set the gift card policy",
    description=(
        "Months from issue to expiry for cards issued from now on (null: never), and whether what is left"
        " on a card at expiry is recognised as breakage income (`at_expiry`) or stays a liability"
        " (`never`). Recorded as `GiftCardPolicyChanged`."
    ),
)
async def set_policy(
    body: c.SetGiftCardPolicy, api: Annotated[Api, Depends(writer("gift_cards:expire"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.GiftCardPolicyView:
        return svc.set_policy(session, ctx, company_in_scope(session, api.principal, body.company_id), body)

    return await api.command(work)


@router.post(
    "/gift-cards/expire",
    response_model=ExpiredGiftCards,
    summary="Expire gift cards past their last day",
    description=(
        "Every active card whose `expires_on` is before the day of `as_of` (default now) expires; with"
        " breakage `at_expiry` its balance is posted from gift_card_liability to gift_card_breakage"
        " (`GiftCardExpired`). `retailcore serve` runs this with its other sweeps."
    ),
    responses={422: {"description": "`as_of` in the future or without a time zone"}},
)
async def expire_gift_cards(
    body: ExpireGiftCards, api: Annotated[Api, Depends(writer("gift_cards:expire"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> ExpiredGiftCards:
        company = company_in_scope(session, api.principal, body.company_id)
        return ExpiredGiftCards(expired=svc.expire_gift_cards(session, ctx, company, body.moment().date()))

    return await api.command(work)


@router.get(
    "/gift-cards/{code}",
    response_model=c.GiftCardDetail,
    summary="Gift card balance and movements",
    description="Balance enquiry: the card, its balance and every movement (issue, redeem, reload, refund,"
    " expire), oldest first. " + CODE,
)
def get_gift_card(
    code: CardCode,
    params: Annotated[CompanyQuery, Query()],
    api: Annotated[Api, Depends(reader("gift_cards:read"))],
) -> Any:
    def work(session: Session) -> c.GiftCardDetail:
        company = company_in_scope(session, api.principal, params.company_id)
        return svc.gift_card_balance(session, company, code)

    return api.read(work)


@router.post(
    "/gift-cards/{code}/reload",
    response_model=c.GiftCardDetail,
    summary="Reload a gift card",
    description="Adds `amount` to an active card, paid by `paid_by` (`GiftCardReloaded`: the tender"
    " against gift_card_liability). " + CODE,
    responses=CONFLICTS,
)
async def reload_gift_card(
    code: CardCode, body: c.ReloadGiftCard, api: Annotated[Api, Depends(writer("gift_cards:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.GiftCardDetail:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return svc.reload_gift_card(session, ctx, company, code, request)

    return await api.command(work)


@router.post(
    "/store-credits",
    status_code=201,
    response_model=c.StoreCreditStatement,
    summary="Give store credit (goodwill)",
    description=(
        "Adds `amount` (company currency) to the customer's store credit as a goodwill gesture:"
        " `StoreCreditIssued` (source `goodwill`) posts customer_goodwill against store_credit_liability."
        " Answers the customer's statement. Store credit from returns comes with the return."
    ),
    responses=CONFLICTS,
)
async def give_store_credit(
    body: c.IssueStoreCredit, api: Annotated[Api, Depends(writer("store_credit:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.StoreCreditStatement:
        return svc.goodwill(session, ctx, company_in_scope(session, api.principal, body.company_id), body)

    return await api.command(work, status_code=201)


@router.get("/store-credits", response_model=StoreCreditPage, summary="Store credit balances per customer")
def list_store_credits(
    params: Annotated[StoreCreditQuery, Query()], api: Annotated[Api, Depends(reader("store_credit:read"))]
) -> Any:
    def work(session: Session) -> StoreCreditPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_store_credits(
            session, company, limit=params.limit, cursor=params.cursor
        )
        return StoreCreditPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/store-credits/{customer_id}",
    response_model=c.StoreCreditStatement,
    summary="A customer's store credit statement",
    description="Every movement, oldest first, with the running balance (`balance_after`).",
)
def get_statement(
    customer_id: uuid.UUID,
    params: Annotated[CompanyQuery, Query()],
    api: Annotated[Api, Depends(reader("store_credit:read"))],
) -> Any:
    def work(session: Session) -> c.StoreCreditStatement:
        company = company_in_scope(session, api.principal, params.company_id)
        return svc.statement(session, api.principal, company, customer_id)

    return api.read(work)
