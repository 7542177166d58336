"""Manual discount limits of the tills (``discount_policies:read|write``) and how discounts post
(``posting_rules:read|write``, finance).

A policy is the company's (no ``store_id``) or one store's, which beats the company's; beyond it a POS
line's manual discount needs a manager's override (docs/discounts.md). No ``from __future__ import
annotations`` here: FastAPI reads the route annotations at runtime. The PUT honours ``Idempotency-Key``.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope, with_store_ids
from retailcore.orders import discounts as svc

router = APIRouter(route_class=DecimalRoute, tags=["discounts"])


class PolicyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


class PolicyPageQuery(PolicyQuery):
    limit: int = Field(100, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class PolicyPage(BaseModel):
    items: list[svc.DiscountPolicyView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")


@router.get(
    "/discount-policies",
    response_model=PolicyPage,
    summary="Manual discount limits of the tills",
    description="The company's policy and its stores' (a store-scoped token sees its store's and the"
    " company's).",
)
def list_policies(
    params: Annotated[PolicyPageQuery, Query()],
    api: Annotated[Api, Depends(reader("discount_policies:read"))],
) -> Any:
    def work(session: Session) -> PolicyPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_policies(
            session, company, api.principal.store_id, limit=params.limit, cursor=params.cursor
        )
        return PolicyPage(items=items, next_cursor=str(next_cursor) if next_cursor else None)

    return api.read(work)


@router.put(
    "/discount-policies",
    response_model=svc.DiscountPolicyView,
    summary="Set a manual discount limit",
    description="Creates or replaces the company's limit (no `store_id`) or a store's: the most a cashier"
    " takes off a POS line by hand, as `max_percent` of the line and/or `max_amount` (both null: no"
    " limit). Beyond it the line needs `override: {by, reason}` naming a store manager or admin;"
    " a store manager's or admin's own sale needs none.",
    responses={422: {"description": "Invalid input"}},
)
async def set_policy(
    body: svc.SetDiscountPolicy, api: Annotated[Api, Depends(writer("discount_policies:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.DiscountPolicyView:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return svc.set_policy(session, ctx, company, request)

    return await api.command(work)


@router.get(
    "/discount-posting",
    response_model=svc.DiscountPostingView,
    summary="How the company posts its discounts",
    description="`net` (revenue net of discounts, the default) or `contra` (revenue before discounts, the"
    " discounts in `sales_discounts`).",
)
def get_posting(
    params: Annotated[PolicyQuery, Query()], api: Annotated[Api, Depends(reader("posting_rules:read"))]
) -> Any:
    def work(session: Session) -> svc.DiscountPostingView:
        return svc.posting_view(session, company_in_scope(session, api.principal, params.company_id))

    return api.read(work)


@router.put(
    "/discount-posting",
    response_model=svc.DiscountPostingView,
    summary="Choose how the company posts its discounts",
    description="From now on: sessions closed, orders fulfilled and invoices issued after the change post"
    " their discounts this way (docs/discounts.md). `contra` needs an active account with the role"
    " `sales_discounts` (`422 no-sales-discounts-account`).",
    responses={422: {"description": "Invalid input, or no sales_discounts account"}},
)
async def set_posting(
    body: svc.SetDiscountPosting, api: Annotated[Api, Depends(writer("posting_rules:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.DiscountPostingView:
        return svc.set_posting(session, ctx, company_in_scope(session, api.principal, body.company_id), body)

    return await api.command(work)
