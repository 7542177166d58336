"""Routes for the ledger's reports: trial balance, general ledger, profit and loss, balance sheet, tax.

Every report reads the company of the token (an installation-wide admin names it with ``company_id``,
by code or id, when the installation has several) and answers JSON, or CSV with ``?format=csv``.
Dates are ``YYYY-MM-DD``; a period code (``2026-11``, or a fiscal year ``2026``) may replace
``date_from``/``date_to``.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the parameter
annotations of the route functions, and they must be real classes.
"""

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting import reports as r
from retailcore.accounting import tax_return as tr
from retailcore.core.errors import PermissionDenied
from retailcore.core.inputs import Day, Text, text
from retailcore.entrypoints.api.deps import Api, replica_reader, writer
from retailcore.entrypoints.api.references import CompanyParam
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import Ref, company_in_scope
from retailcore.settlements import reports as settlement_reports

router = APIRouter(prefix="/reports", tags=["reports"])

# Reports accept a bounded staleness: they read from the replica when one is configured (decision 0086).
ReportsApi = Annotated[Api, Depends(replica_reader("reports:read"))]
# An empty date parameter (a blank form field) counts as absent, as the CLI's options do.
OptionalDay = Annotated[Day | None, BeforeValidator(lambda value: value or None)]
DateFrom = Annotated[
    OptionalDay, Query(description="First day, `YYYY-MM-DD` (or give `period`).", examples=["2026-11-01"])
]
DateTo = Annotated[
    OptionalDay,
    Query(description="Last day, inclusive, `YYYY-MM-DD` (or give `period`).", examples=["2026-11-30"]),
]
PeriodParam = Annotated[
    text(max_length=16) | None,
    Query(description="A period code (`2026-11`) or fiscal year code (`2026`) instead of dates."),
]
Format = Annotated[Literal["json", "csv"], Query(description="`csv` answers `text/csv` with a header row.")]

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The report"},
    403: {"description": "The role may not read reports, or the token is scoped to one store"},
    422: {"description": "Invalid parameters (the problem's `errors` name them)"},
}


def _company_id(session: Session, principal: Principal, company_id: Ref | None) -> uuid.UUID:
    """The company the report is about: the token's own, or the one an installation admin names."""
    if principal.store_id is not None:
        # A store's token sees one store; a company's books are not something to slice by token.
        raise PermissionDenied("reports cover a whole company; use a token not scoped to a store")
    return company_in_scope(session, principal, company_id).id


def csv_attachment(content: str, name: str) -> Response:
    """A CSV download named ``name.csv``."""
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def report_answer(report: r.Report, format: str, name: str) -> Any:
    """The report itself (JSON), or its CSV as a download when ``format`` is ``csv``."""
    return csv_attachment(report.to_csv(), name) if format == "csv" else report


def _run(api: Api, company_id: Ref | None, work: Callable[[Session, uuid.UUID], r.Report]) -> r.Report:
    return api.read(lambda session: work(session, _company_id(session, api.principal, company_id)))


@router.get(
    "/trial-balance",
    response_model=r.TrialBalance,
    summary="Trial balance",
    description=(
        "Per account (and per value of the `group_by` dimensions): balance before `date_from`, debits and "
        "credits of the period, balance at `date_to`. Balances are debit minus credit."
    ),
    responses=CSV_RESPONSE,
)
def trial_balance(
    api: ReportsApi,
    company_id: CompanyParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    period: PeriodParam = None,
    group_by: Annotated[
        list[Text] | None,
        Query(description=f"Dimensions, repeated or comma-separated: {', '.join(r.DIMENSIONS)}."),
    ] = None,
    format: Format = "json",
) -> Any:
    start, end = r.parse_date(date_from, "date_from"), r.parse_date(date_to, "date_to")
    dimensions = r.parse_group_by(group_by)
    report = _run(
        api,
        company_id,
        lambda session, company: r.trial_balance(
            session, company, start, end, period=period, group_by=dimensions
        ),
    )
    return report_answer(report, format, "trial-balance")


@router.get(
    "/general-ledger",
    response_model=r.GeneralLedger,
    summary="General ledger of an account",
    description=(
        "The opening balance, then each posted line of the account in the period with its running "
        "balance, and the closing balance. Lines come a page at a time: pass `next_cursor` as `cursor` "
        "(in CSV, the `X-Next-Cursor` header)."
    ),
    responses=CSV_RESPONSE,
)
def general_ledger(
    api: ReportsApi,
    account: Annotated[text(max_length=64), Query(description="Account code or id.")],
    company_id: CompanyParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    period: PeriodParam = None,
    limit: Annotated[int, Query(ge=1, le=r.GENERAL_LEDGER_MAX_LIMIT, description="Lines per page.")] = 1000,
    cursor: Annotated[Text | None, Query(description="`next_cursor` of the previous page.")] = None,
    format: Format = "json",
) -> Any:
    start, end = r.parse_date(date_from, "date_from"), r.parse_date(date_to, "date_to")

    def work(session: Session, company: uuid.UUID) -> r.Report:
        found = r.resolve_account(session, company, account)
        return r.general_ledger(
            session, company, found.id, start, end, period=period, limit=limit, cursor=cursor
        )

    report = _run(api, company_id, work)
    answer = report_answer(report, format, "general-ledger")
    if isinstance(answer, Response) and isinstance(report, r.GeneralLedger) and report.next_cursor:
        answer.headers["X-Next-Cursor"] = report.next_cursor
    return answer


@router.get(
    "/profit-and-loss",
    response_model=r.ProfitAndLoss,
    summary="Profit and loss",
    description=(
        "Income (credit minus debit) and expense (debit minus credit) accounts over the period, their "
        "totals and the net result, optionally per value of one dimension."
    ),
    responses=CSV_RESPONSE,
)
def profit_and_loss(
    api: ReportsApi,
    company_id: CompanyParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    period: PeriodParam = None,
    group_by: Annotated[
        text(max_length=32) | None, Query(description=f"One dimension: {', '.join(r.DIMENSIONS)}.")
    ] = None,
    format: Format = "json",
) -> Any:
    start, end = r.parse_date(date_from, "date_from"), r.parse_date(date_to, "date_to")
    dimension = (r.parse_group_by(group_by, single=True) or [None])[0]
    report = _run(
        api,
        company_id,
        lambda session, company: r.profit_and_loss(
            session, company, start, end, period=period, group_by=dimension
        ),
    )
    return report_answer(report, format, "profit-and-loss")


@router.get(
    "/balance-sheet",
    response_model=r.BalanceSheet,
    summary="Balance sheet",
    description=(
        "Assets (debit minus credit), liabilities and equity (credit minus debit) at the date, with the "
        "result not yet closed into equity shown as current-year earnings; `balanced` says whether assets "
        "equal liabilities plus equity."
    ),
    responses=CSV_RESPONSE,
)
def balance_sheet(
    api: ReportsApi,
    as_of: Annotated[Day, Query(description="The date, inclusive, `YYYY-MM-DD`.", examples=["2026-11-30"])],
    company_id: CompanyParam = None,
    format: Format = "json",
) -> Any:
    day = r.require_date(as_of, "as_of")
    report = _run(api, company_id, lambda session, company: r.balance_sheet(session, company, day))
    return report_answer(report, format, "balance-sheet")


@router.get(
    "/tax",
    response_model=r.TaxReport,
    summary="Tax report",
    description=(
        "Per tax code and month: tax collected (output tax accounts, credit minus debit) with its taxable "
        "base, tax deductible (input tax accounts, debit minus credit) with its base, and the net payable."
    ),
    responses=CSV_RESPONSE,
)
def tax(
    api: ReportsApi,
    company_id: CompanyParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    period: PeriodParam = None,
    format: Format = "json",
) -> Any:
    start, end = r.parse_date(date_from, "date_from"), r.parse_date(date_to, "date_to")
    report = _run(
        api, company_id, lambda session, company: r.tax_report(session, company, start, end, period=period)
    )
    return report_answer(report, format, "tax")


MonthParam = Annotated[
    str,
    Query(description="The month, `YYYY-MM`.", examples=["2026-11"], pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$"),
]


def _month(period: str) -> tuple[dt.date, dt.date]:
    year, month = int(period[:4]), int(period[5:7])
    start = dt.date(year, month, 1)
    return start, dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


@router.get(
    "/tax-return",
    response_model=tr.TaxReturn,
    summary="Tax return of a month: per rate and per box",
    description=(
        "The tax report's totals per tax code for the month, and the return's boxes as the company's layout"
        " adds them up (GET /reports/tax-return/boxes; a generic VAT return by default). CSV: the rates"
        " (`section=rate`), then the boxes (`section=box`)."
    ),
    responses=CSV_RESPONSE,
)
def tax_return(
    api: ReportsApi, period: MonthParam, company_id: CompanyParam = None, format: Format = "json"
) -> Any:
    start, end = _month(period)
    report = _run(api, company_id, lambda session, company: tr.tax_return(session, company, start, end))
    return report_answer(report, format, f"tax-return-{period}")


@router.get(
    "/tax-return/boxes",
    response_model=tr.BoxLayout,
    summary="The company's tax return layout",
    description="Each box with the tax report measures it adds up; `default` when the company never set one.",
)
def tax_return_boxes(api: ReportsApi, company_id: CompanyParam = None) -> Any:
    return api.read(lambda session: tr.layout(session, _company_id(session, api.principal, company_id)))


@router.put(
    "/tax-return/boxes",
    response_model=tr.BoxLayout,
    summary="Replace the company's tax return layout (finance only)",
    description=(
        "Every box at once, each a list of terms: a measure (`tax_collected`, `tax_deductible`,"
        " `base_collected`, `base_deductible`) for one tax code or every code (`*`), added (`+`) or"
        " subtracted (`-`). An empty list goes back to the default layout. Recorded as"
        " `TaxReturnBoxesChanged`."
    ),
)
async def replace_tax_return_boxes(
    body: tr.ReplaceBoxes, api: Annotated[Api, Depends(writer("ledger:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> tr.BoxLayout:
        company = company_in_scope(session, api.principal, body.company_id)
        return tr.replace_boxes(session, ctx, company, body.boxes)

    return await api.command(work)


LagFrom = Annotated[Day | None, Query(description="First day (default: 29 days before `date_to`).")]
LagTo = Annotated[Day | None, Query(description="Last day, inclusive (default: today).")]


@router.get(
    "/settlement-lag",
    response_model=settlement_reports.SettlementLag,
    summary="Settlement lag per gateway",
    description=(
        "Per payment gateway, for the settlement lines dated in the period (default: the last 30 days) that"
        " settle one of our card payments: days from the order's day to the settlement and to the payout"
        " (average, 90th percentile, longest) and the gross settled; and the card payments captured and not"
        " settled by `date_to` (count, amount, the oldest one's age). See docs/payments.md."
    ),
    responses=CSV_RESPONSE,
)
def settlement_lag(
    api: ReportsApi,
    company_id: CompanyParam = None,
    date_from: LagFrom = None,
    date_to: LagTo = None,
    format: Format = "json",
) -> Any:
    start, end = r.parse_date(date_from, "date_from"), r.parse_date(date_to, "date_to")
    lag = settlement_reports.settlement_lag
    report = _run(api, company_id, lambda session, company: lag(session, company, start, end))
    return report_answer(report, format, "settlement-lag")
