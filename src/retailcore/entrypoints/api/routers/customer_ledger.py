"""Customers in the books (decision 0060): receivable accounts per customer or group, a customer's
statement from the ledger, and where an invoiced POS sale's COGS is posted.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.accounting import customers as svc
from retailcore.core.errors import PermissionDenied
from retailcore.core.inputs import Day
from retailcore.entrypoints.api.deps import Api, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CompanyRef
from retailcore.masterdata.services import company_in_scope
from retailcore.pos import receivables as pos_receivables

router = APIRouter(tags=["ledger"])


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description="Company code or id (default: the token's).")


class AccountsQuery(CompanyQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class StatementQuery(CompanyQuery):
    date_from: Day | None = Field(
        None, description="First day (`YYYY-MM-DD`); before it: the opening balance."
    )
    date_to: Day | None = Field(None, description="Last day, inclusive (default: today).")
    limit: int = Field(200, ge=1, le=1000)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class ReceivableAccountPage(BaseModel):
    items: list[svc.CustomerReceivableAccountView]
    next_cursor: uuid.UUID | None


@router.put(
    "/customer-receivable-accounts",
    response_model=svc.CustomerReceivableAccountView,
    summary="Set the receivable account of a customer or a customer group",
    description="Receivable lines naming the customer (or a customer of the group) are posted to this"
    " account from now on, instead of the `receivable` role's; a customer's own account wins over its"
    " group's. The account must be an active asset account of the chart.",
    responses={422: {"description": "Invalid input, an unknown customer or account"}},
)
async def set_receivable_account(
    body: svc.SetCustomerReceivableAccount, api: Annotated[Api, Depends(writer("accounts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.CustomerReceivableAccountView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.set_receivable_account(session, ctx, company, body)

    return await api.command(work)


@router.get(
    "/customer-receivable-accounts",
    response_model=ReceivableAccountPage,
    summary="Receivable accounts set per customer or customer group",
)
def list_receivable_accounts(
    params: Annotated[AccountsQuery, Query()], api: Annotated[Api, Depends(reader("accounts:read"))]
) -> Any:
    def work(session: Session) -> ReceivableAccountPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.receivable_accounts(
            session, company, limit=params.limit, cursor=params.cursor
        )
        return ReceivableAccountPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/customers/{customer_id}/statement",
    response_model=svc.Statement,
    summary="A customer's statement from the ledger",
    description="The posted receivable lines carrying the customer: the balance before `date_from`,"
    " each line of the period with its running balance (a page at a time: `items`, `next_cursor`),"
    " the closing balance at `date_to` and the items still open then (after reconciliation's matches)."
    " Balances are debit minus credit: positive, the customer owes.",
    responses={403: {"description": "The role may not read reports, or the token is scoped to one store"}},
)
def customer_statement(
    customer_id: uuid.UUID,
    params: Annotated[StatementQuery, Query()],
    api: Annotated[Api, Depends(reader("reports:read"))],
) -> Any:
    def work(session: Session) -> svc.Statement:
        if api.principal.store_id is not None:
            raise PermissionDenied("statements cover a whole company; use a token not scoped to a store")
        company = company_in_scope(session, api.principal, params.company_id)
        return svc.statement(
            session,
            company,
            customer_id,
            date_from=params.date_from,
            date_to=params.date_to or dt.date.today(),
            limit=params.limit,
            cursor=params.cursor,
        )

    return api.read(work)


@router.get(
    "/pos-cogs-placement",
    response_model=pos_receivables.CogsPlacementView,
    summary="Where the COGS of a POS sale invoiced at the till is posted",
    description="`at_close` (the session's closing entry, the default) or `with_invoice` (the invoice's"
    " entry, with the sale's revenue).",
)
def get_cogs_placement(
    params: Annotated[CompanyQuery, Query()], api: Annotated[Api, Depends(reader("posting_rules:read"))]
) -> Any:
    def work(session: Session) -> pos_receivables.CogsPlacementView:
        return pos_receivables.placement_view(
            session, company_in_scope(session, api.principal, params.company_id)
        )

    return api.read(work)


@router.put(
    "/pos-cogs-placement",
    response_model=pos_receivables.CogsPlacementView,
    summary="Choose where the COGS of a POS sale invoiced at the till is posted",
    description="Sales ingested from now on follow the choice; sales already ingested keep theirs, so no"
    " sale's COGS is posted twice or not at all (docs/pos.md#cogs-of-a-sale-invoiced-at-the-till).",
    responses={422: {"description": "Invalid input"}},
)
async def set_cogs_placement(
    body: pos_receivables.SetCogsPlacement, api: Annotated[Api, Depends(writer("posting_rules:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> pos_receivables.CogsPlacementView:
        company = company_in_scope(session, api.principal, body.company_id)
        return pos_receivables.set_placement(session, ctx, company, body)

    return await api.command(work)
