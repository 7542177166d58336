"""Routes for the period close: the checklist (JSON, CSV), the close report (HTML) and the close itself.

The period is a month, ``YYYY-MM``; the company is the token's (an installation admin names it with
``company_id``), as for the reports. The work is in :mod:`retailcore.closing.services`.

No ``from __future__ import annotations``: FastAPI reads the parameter annotations.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from retailcore.closing import commands as c
from retailcore.closing import services
from retailcore.entrypoints.api.deps import Api, reader, writer
from retailcore.entrypoints.api.references import CompanyParam
from retailcore.entrypoints.api.routers.reports import CSV_RESPONSE, _company_id, csv_attachment
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import Ref, company_in_scope
from retailcore.masterdata.tables import Company

router = APIRouter(prefix="/periods", tags=["close"])

ReadApi = Annotated[Api, Depends(reader("reports:read"))]
PeriodPath = Annotated[
    str,
    Path(description="The month, `YYYY-MM`.", examples=["2026-11"], pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
]


def _checklist(api: Api, company_id: Ref | None, period: str) -> c.Checklist:
    def work(session: Session) -> c.Checklist:
        company = session.get(Company, _company_id(session, api.principal, company_id))
        assert company is not None
        return services.checklist(session, company, period)

    return api.read(work)


@router.get(
    "/{period}/close-checklist",
    response_model=c.Checklist,
    summary="The period's close checklist",
    description=(
        "Each condition of the close measured at the period's end, with its figures, a status (`green`,"
        " `amber`, `red`, `n/a` with its reason) and what to do: POS sessions closed, each gateway's"
        " settlements imported and clearing and transit explained, bank accounts reconciled, stock"
        " valuation equal to the ledger, goods received not invoiced, gift cards and customer deposits,"
        " FX revaluation, the tax return per rate. See docs/close.md."
    ),
    responses=CSV_RESPONSE,
)
def close_checklist(
    api: ReadApi,
    period: PeriodPath,
    company_id: CompanyParam = None,
    format: Annotated[Literal["json", "csv"], Query(description="`csv` answers `text/csv`.")] = "json",
) -> Any:
    found = _checklist(api, company_id, period)
    if format == "csv":
        return csv_attachment(found.to_csv(), f"close-checklist-{period}")
    return found


@router.get(
    "/{period}/close-report",
    response_class=HTMLResponse,
    summary="The period's close report (HTML or CSV)",
    description=(
        "The close checklist as one page: each check with its status, figures, what to do and the journal"
        " entries it produced (accruals and their reversals, the FX revaluation). `format=csv`: one row per"
        " check, then one row per entry it produced."
    ),
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
            "description": "The page, or the CSV",
        }
    },
)
def close_report(
    api: ReadApi,
    period: PeriodPath,
    company_id: CompanyParam = None,
    format: Annotated[Literal["html", "csv"], Query(description="`csv` answers `text/csv`.")] = "html",
) -> Response:
    found = _checklist(api, company_id, period)
    if format == "csv":
        return csv_attachment(c.report_csv(found), f"close-report-{period}")
    return HTMLResponse(found.to_html())


@router.post(
    "/{period}/accruals",
    response_model=c.AccrualResult,
    summary="Post the period's accruals (finance only)",
    description=(
        "Goods shipped by the period's end and not invoiced by then: the uninvoiced receivable moved to"
        " `unbilled_receivable` at the period's end through the `accrual-shipped-not-invoiced` rule, and"
        " reversed on the next period's first day. Runs again post only the difference per order (nothing"
        " when current). Refused (409 `period-locked`) once the period is locked. See docs/close.md."
    ),
)
async def run_accruals(
    period: PeriodPath, body: c.RunAccruals, api: Annotated[Api, Depends(writer("ledger:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.AccrualResult:
        company = company_in_scope(session, api.principal, body.company_id)
        return services.run_accruals(session, ctx, company, period)

    return await api.command(work)


@router.post(
    "/{period}/close",
    response_model=c.CloseResult,
    summary="Close the period (finance only)",
    description=(
        "Refused (409 `close-refused`, naming the items) while an item of the checklist is red, or amber"
        " and not in `accept`; otherwise moves the lock date to the period's last day, which writes the"
        " period balances."
    ),
)
async def close_period(
    period: PeriodPath, body: c.RunClose, api: Annotated[Api, Depends(writer("ledger:lock"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.CloseResult:
        company = company_in_scope(session, api.principal, body.company_id)
        return services.run_close(session, ctx, company, period, body.accept)

    return await api.command(work)
