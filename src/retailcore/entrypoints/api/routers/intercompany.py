"""Company groups, intercompany flows and the group's reports (``intercompany/``, decision 0040).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.accounting import reports as r
from retailcore.core.inputs import Day, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.pages import PageOf
from retailcore.entrypoints.api.routers.reports import CSV_RESPONSE, Format, report_answer
from retailcore.eventlog.services import CommandContext
from retailcore.intercompany import commands as c
from retailcore.intercompany import reports as ir
from retailcore.intercompany import services as s

router = APIRouter(route_class=DecimalRoute)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The token's role lacks the permission"},
    409: {"description": "A code or reference is taken, or the company is in another group"},
    422: {"description": "Invalid input (problem+json naming the fields)"},
}
GroupRef = text(strip_whitespace=True, min_length=1, max_length=64)


class GroupPageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=500, description="Page size.")
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


@router.post(
    "/company-groups",
    status_code=201,
    response_model=c.GroupView,
    tags=["company-groups"],
    summary="Create a company group",
    description="The parent company is the first member; its currency is the group currency and its "
    "exchange rates translate the members' books.",
    responses=PROBLEMS,
)
async def create_group(
    body: c.CreateGroup, api: Annotated[Api, Depends(writer("companies:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.GroupView:
        return s.view(session, s.create_group(session, ctx, body))

    return await api.command(
        work, status_code=201, location=lambda result: f"/api/v1/company-groups/{result.id}"
    )


@router.post(
    "/company-groups/{group}/members",
    response_model=c.GroupView,
    tags=["company-groups"],
    summary="Add a company to a group",
    description="A company belongs to one group at most; adding a member again changes nothing.",
    responses=PROBLEMS,
)
async def add_member(
    group: Annotated[GroupRef, Path(description="Group code or id.")],
    body: c.AddMember,
    api: Annotated[Api, Depends(writer("companies:write"))],
) -> Response:
    return await api.command(lambda session, ctx: s.view(session, s.add_member(session, ctx, group, body)))


@router.get(
    "/company-groups",
    response_model=PageOf[c.GroupView],
    tags=["company-groups"],
    summary="List company groups",
    responses=PROBLEMS,
)
def list_groups(
    params: Annotated[GroupPageQuery, Query()], api: Annotated[Api, Depends(reader("companies:read"))]
) -> Any:
    def work(session: Session) -> PageOf[c.GroupView]:
        rows, last = s.list_groups(session, api.principal, params.cursor, params.limit)
        return PageOf.of([s.view(session, row) for row in rows], last)

    return api.read(work)


@router.get(
    "/company-groups/{group}",
    response_model=c.GroupView,
    tags=["company-groups"],
    summary="Get a company group",
    responses={**PROBLEMS, 404: {"description": "No such group"}},
)
def get_group(
    group: Annotated[GroupRef, Path(description="Group code or id.")],
    api: Annotated[Api, Depends(reader("companies:read"))],
) -> Any:
    return api.read(lambda session: s.view(session, s.group_by_ref(session, group, principal=api.principal)))


@router.post(
    "/intercompany/sales",
    status_code=201,
    response_model=c.DocumentView,
    tags=["intercompany"],
    summary="Record an intercompany sale",
    description="Company A's goods sold by company B to B's customer: A's goods leave at cost and A is "
    "owed the transfer price; B books its customer sale and owes A. Both sides post through the "
    "rulebook. The same `reference` again answers the first document (`replayed: true`).",
    responses=PROBLEMS,
)
async def record_sale(
    body: c.IntercompanySale, api: Annotated[Api, Depends(writer("transfers:write"))]
) -> Response:
    return await api.command(lambda session, ctx: s.record_flow(session, ctx, body), status_code=201)


@router.post(
    "/intercompany/transfers",
    status_code=201,
    response_model=c.DocumentView,
    tags=["intercompany"],
    summary="Record an intercompany stock transfer",
    description="Goods moved from a location of company A to one of company B at a transfer price: A's "
    "stock out at cost, due from B; B's stock in at the transfer price, due to A.",
    responses=PROBLEMS,
)
async def record_transfer(
    body: c.IntercompanyTransfer, api: Annotated[Api, Depends(writer("transfers:write"))]
) -> Response:
    return await api.command(lambda session, ctx: s.record_flow(session, ctx, body), status_code=201)


@router.get(
    "/intercompany/documents/{document_id}",
    response_model=c.DocumentView,
    tags=["intercompany"],
    summary="Get an intercompany document",
    responses={**PROBLEMS, 404: {"description": "No such document"}},
)
def get_document(
    document_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("reports:read"))]
) -> Any:
    def work(session: Session) -> c.DocumentView:
        document = s.get_document(session, document_id)
        s.group_by_ref(session, str(document.group_id), principal=api.principal)
        return s.document_view(document)

    return api.read(work)


GroupQuery = Annotated[GroupRef, Query(description="Group code or id.")]
AsOf = Annotated[Day, Query(description="The day, `YYYY-MM-DD`.", examples=["2026-11-30"])]


@router.get(
    "/reports/intercompany-eliminations",
    response_model=ir.EliminationReport,
    tags=["reports"],
    summary="Intercompany eliminations of a group",
    description="Per pair of member companies: receivable against payable, revenue against cost (and "
    "goods transferred into stock), in the group currency; differences that do not eliminate are "
    "flagged (`eliminates: false`).",
    responses=CSV_RESPONSE,
)
def intercompany_eliminations(
    api: Annotated[Api, Depends(reader("reports:read"))],
    group: GroupQuery,
    as_of: AsOf,
    format: Format = "json",
) -> Any:
    def work(session: Session) -> r.Report:
        return ir.eliminations(session, s.group_by_ref(session, group, principal=api.principal), as_of)

    return report_answer(api.read(work), format, "intercompany-eliminations")


@router.get(
    "/reports/consolidated-trial-balance",
    response_model=ir.ConsolidatedTrialBalance,
    tags=["reports"],
    summary="Consolidated trial balance of a group",
    description="Each member's trial balance translated into the group currency (balance sheet at the "
    "closing rate, income and expenses at the period's average rate, the difference to `CTA`), "
    "intercompany balances eliminated; the total is zero.",
    responses=CSV_RESPONSE,
)
def consolidated_trial_balance(
    api: Annotated[Api, Depends(reader("reports:read"))],
    group: GroupQuery,
    as_of: AsOf,
    format: Format = "json",
) -> Any:
    def work(session: Session) -> r.Report:
        found = s.group_by_ref(session, group, principal=api.principal)
        return ir.consolidated_trial_balance(session, found, as_of)

    return report_answer(api.read(work), format, "consolidated-trial-balance")
