"""Reconciliation of posted lines and the open-items report (rules in ``accounting/reconciliation.py``).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import csv
import datetime as dt
import io
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.accounting import reconciliation as r
from retailcore.core.decimals import DecimalStr, canonical
from retailcore.core.inputs import Day
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope

router = APIRouter(route_class=DecimalRoute)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The token's role lacks the permission"},
    422: {"description": "Invalid input (problem+json naming the fields)"},
}


class Reconcile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    line_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=1000, description="Posted lines of one reconcilable account."
    )


class MatchView(BaseModel):
    id: uuid.UUID
    debit_line_id: uuid.UUID
    credit_line_id: uuid.UUID
    amount: DecimalStr

    @classmethod
    def of(cls, match: r.Match) -> "MatchView":
        return cls(
            id=match.id,
            debit_line_id=match.debit_line_id,
            credit_line_id=match.credit_line_id,
            amount=match.amount,
        )


class LineResidualView(BaseModel):
    line_id: uuid.UUID
    side: Literal["debit", "credit"]
    amount: DecimalStr
    matched: DecimalStr
    residual: DecimalStr


class ReconciliationView(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    matches: list[MatchView]
    lines: list[LineResidualView] = Field(description="The requested lines and what is left open on each.")
    matched_total: DecimalStr
    fully_reconciled: bool

    @classmethod
    def of(cls, result: r.ReconciliationResult) -> "ReconciliationView":
        return cls(
            id=result.reconciliation_id,
            account_id=result.account_id,
            matches=[MatchView.of(match) for match in result.matches],
            lines=[
                LineResidualView(
                    line_id=line.line_id,
                    side=line.side,
                    amount=line.amount,
                    matched=line.matched,
                    residual=line.residual,
                )
                for line in result.lines
            ],
            matched_total=result.matched_total,
            fully_reconciled=result.fully_reconciled,
        )


class MatchesView(BaseModel):
    id: uuid.UUID
    account_id: uuid.UUID
    matches: list[MatchView]

    @classmethod
    def of(cls, reconciliation_id: uuid.UUID, matches: list[r.Match]) -> "MatchesView":
        return cls(
            id=reconciliation_id,
            account_id=matches[0].account_id,
            matches=[MatchView.of(match) for match in matches],
        )


def _scope(api: Api) -> uuid.UUID | None:
    return api.principal.company_id


@router.post(
    "/reconciliations",
    status_code=201,
    response_model=ReconciliationView,
    tags=["reconciliation"],
    summary="Reconcile posted lines of one account",
    description="Matches debit lines against credit lines, oldest first, fully or partly. Lines of other"
    " companies are reported like unknown ids (422 `line-not-found`). Records `LinesReconciled`.",
    responses={**PROBLEMS, 409: {"description": "A line is already fully reconciled"}},
)
async def create_reconciliation(
    body: Reconcile, api: Annotated[Api, Depends(writer("reconciliation:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> ReconciliationView:
        company = company_in_scope(session, ctx.principal, body.company_id)
        return ReconciliationView.of(r.reconcile(session, ctx, company.id, body.line_ids))

    return await api.command(
        work, status_code=201, location=lambda result: f"/api/v1/reconciliations/{result.id}"
    )


@router.get(
    "/reconciliations/{reconciliation_id}",
    response_model=MatchesView,
    tags=["reconciliation"],
    summary="Get the matches of a reconciliation",
    responses={**PROBLEMS, 404: {"description": "No such reconciliation in the token's scope"}},
)
def get_reconciliation(
    reconciliation_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("ledger:read"))]
) -> Any:
    return api.read(
        lambda session: MatchesView.of(
            reconciliation_id, r.get_reconciliation(session, _scope(api), reconciliation_id)
        )
    )


@router.delete(
    "/reconciliations/{reconciliation_id}",
    response_model=MatchesView,
    tags=["reconciliation"],
    summary="Undo a reconciliation",
    description="Removes its matches (nothing is posted or reversed) and records `LinesUnreconciled`;"
    " answers with the removed matches.",
    responses={**PROBLEMS, 404: {"description": "No such reconciliation in the token's scope"}},
)
async def delete_reconciliation(
    reconciliation_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("reconciliation:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> MatchesView:
        removed = r.unreconcile(session, ctx, ctx.principal.company_id, reconciliation_id)
        return MatchesView.of(reconciliation_id, removed)

    return await api.command(work)


# -- open items ------------------------------------------------------------------------------------


class OpenItemsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    account_id: uuid.UUID | None = Field(None, description="One reconcilable account; all of them if absent.")
    as_of: Day | None = Field(None, description="Report date; today (UTC) if absent.")
    format: Literal["json", "csv"] = "json"


class OpenItemView(BaseModel):
    line_id: uuid.UUID
    entry_id: uuid.UUID
    entry_number: str | None
    reference: str
    account_id: uuid.UUID
    account_code: str
    date: dt.date
    label: str
    currency: str
    amount_currency: DecimalStr
    debit: DecimalStr
    credit: DecimalStr
    side: Literal["debit", "credit"]
    matched: DecimalStr
    residual: DecimalStr
    open_balance: DecimalStr = Field(description="The residual, debit positive and credit negative.")
    age_days: int
    bucket: str


class AccountTotalView(BaseModel):
    account_id: uuid.UUID
    account_code: str
    account_name: str
    items: int
    open_balance: DecimalStr
    buckets: dict[str, DecimalStr]


class OpenItemsView(BaseModel):
    company_id: uuid.UUID
    as_of: dt.date
    account_id: uuid.UUID | None
    items: list[OpenItemView]
    accounts: list[AccountTotalView]
    buckets: dict[str, DecimalStr] = Field(
        description="Open balance per aging bucket (0-30, 31-60, 61-90, >90)."
    )
    total: DecimalStr

    @classmethod
    def of(cls, report: r.OpenItemsReport) -> "OpenItemsView":
        return cls(
            company_id=report.company_id,
            as_of=report.as_of,
            account_id=report.account_id,
            items=[
                OpenItemView(
                    line_id=i.line_id,
                    entry_id=i.entry_id,
                    entry_number=i.entry_number,
                    reference=i.reference,
                    account_id=i.account_id,
                    account_code=i.account_code,
                    date=i.date,
                    label=i.label,
                    currency=i.currency,
                    amount_currency=i.amount_currency,
                    debit=i.debit,
                    credit=i.credit,
                    side=i.side,
                    matched=i.matched,
                    residual=i.residual,
                    open_balance=i.open_balance,
                    age_days=i.age_days,
                    bucket=i.bucket,
                )
                for i in report.items
            ],
            accounts=[
                AccountTotalView(
                    account_id=t.account_id,
                    account_code=t.account_code,
                    account_name=t.account_name,
                    items=t.items,
                    open_balance=t.open_balance,
                    buckets=t.buckets,
                )
                for t in report.accounts
            ],
            buckets=report.buckets,
            total=report.total,
        )


CSV_HEADER = (
    "account_code",
    "date",
    "entry_number",
    "reference",
    "label",
    "currency",
    "amount_currency",
    "debit",
    "credit",
    "matched",
    "residual",
    "open_balance",
    "age_days",
    "bucket",
    "line_id",
)


def open_items_csv(report: r.OpenItemsReport) -> str:
    """One row per open item, amounts as canonical decimal strings (never floats)."""
    buffer = io.StringIO()
    writer_ = csv.writer(buffer, lineterminator="\n")
    writer_.writerow(CSV_HEADER)
    for i in report.items:
        writer_.writerow(
            (
                i.account_code,
                i.date.isoformat(),
                i.entry_number or "",
                i.reference,
                i.label,
                i.currency,
                canonical(i.amount_currency),
                canonical(i.debit),
                canonical(i.credit),
                canonical(i.matched),
                canonical(i.residual),
                canonical(i.open_balance),
                i.age_days,
                i.bucket,
                i.line_id,
            )
        )
    return buffer.getvalue()


@router.get(
    "/reports/open-items",
    response_model=OpenItemsView,
    tags=["reports"],
    summary="Open items of reconcilable accounts, aged",
    description="Lines with something left to reconcile as of a date, with age in days, aging bucket and"
    " totals per account and bucket. `format=csv` returns the items as `text/csv`.",
    responses={**PROBLEMS, 200: {"content": {"text/csv": {}}}},
)
def open_items_report(
    params: Annotated[OpenItemsQuery, Query()], api: Annotated[Api, Depends(reader("ledger:read"))]
) -> Any:
    as_of = params.as_of or dt.datetime.now(dt.UTC).date()

    def work(session: Session) -> r.OpenItemsReport:
        company = company_in_scope(session, api.principal, params.company_id)
        return r.open_items(session, company.id, params.account_id, as_of)

    report = api.read(work)
    if params.format == "csv":
        return Response(
            open_items_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="open-items-{as_of.isoformat()}.csv"'},
        )
    return OpenItemsView.of(report)
