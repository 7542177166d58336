"""Routes for the KPI dashboards' figures (``/kpis/...``), read from the analytics read models.

Each answers JSON, or CSV with ``?format=csv``; each covers ``date_from``..``date_to`` (default the 30
days to today) and may be narrowed to one ``store`` (code or id) and one ``channel``. A token scoped to a
store sees that store only. Definitions: docs/analytics.md.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the parameter
annotations of the route functions, and they must be real classes.
"""

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from retailcore.accounting.reports import Report
from retailcore.analytics import queries as q
from retailcore.core.errors import PermissionDenied
from retailcore.core.inputs import Day
from retailcore.entrypoints.api.deps import Api, replica_reader
from retailcore.entrypoints.api.references import CompanyParam, StoreParam
from retailcore.entrypoints.api.routers.reports import CSV_RESPONSE, Format, report_answer
from retailcore.orders.tables import ORDER_CHANNELS
from retailcore.settlements import reports as settlement_reports

# A blank date is refused (422 naming it), not taken as absent: leave the parameter out instead.
DateFrom = Annotated[Day | None, Query(description="First day, `YYYY-MM-DD`.", examples=["2026-11-01"])]
DateTo = Annotated[
    Day | None, Query(description="Last day, inclusive, `YYYY-MM-DD`.", examples=["2026-11-30"])
]

router = APIRouter(prefix="/kpis", tags=["kpis"])

# KPIs read from the replica when one is configured, within its staleness bound (decision 0086).
KpisApi = Annotated[Api, Depends(replica_reader("kpis:read"))]
Channel = Annotated[
    Literal[ORDER_CHANNELS] | None,  # type: ignore[valid-type]
    Query(description=f"One channel: {', '.join(ORDER_CHANNELS)}."),
]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **CSV_RESPONSE,
    403: {"description": "The role may not read KPIs"},
}


def _run(
    api: Api,
    work: Callable[[Session, q.Scope], Report],
    *,
    company_id: Any,
    store: Any = None,
    channel: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Report:
    def read(session: Session) -> Report:
        where = q.scope(
            session,
            api.principal,
            company=company_id,
            store=store,
            channel=channel,
            date_from=date_from,
            date_to=date_to,
        )
        return work(session, where)

    return api.read(read)


@router.get(
    "/sales",
    response_model=q.SalesReport,
    summary="Sales, gross margin and discounts",
    description=(
        "Net sales (net of tax), cost of sales, gross margin and margin %, discounts and discount rate, "
        "units, per `group_by` value; the totals, and the totals of the previous period of the same "
        "length with the change in percent."
    ),
    responses=RESPONSES,
)
def sales(
    api: KpisApi,
    company_id: CompanyParam = None,
    group_by: Annotated[Literal["day", "store", "channel", "category"], Query()] = "day",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    store: StoreParam = None,
    channel: Channel = None,
    format: Format = "json",
) -> Any:
    report = _run(
        api,
        lambda session, where: q.sales(session, where, group_by),
        company_id=company_id,
        store=store,
        channel=channel,
        date_from=date_from,
        date_to=date_to,
    )
    return report_answer(report, format, "kpi-sales")


@router.get(
    "/returns",
    response_model=q.ReturnsReport,
    summary="Returns and return rates",
    description=(
        "Refunded net value, units and lines per `group_by` value, and the return rates by value and by "
        "units against the sales of the same group (none when grouped by reason)."
    ),
    responses=RESPONSES,
)
def returns(
    api: KpisApi,
    company_id: CompanyParam = None,
    group_by: Annotated[Literal["day", "store", "channel", "reason", "category"], Query()] = "channel",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    store: StoreParam = None,
    channel: Channel = None,
    format: Format = "json",
) -> Any:
    report = _run(
        api,
        lambda session, where: q.returns(session, where, group_by),
        company_id=company_id,
        store=store,
        channel=channel,
        date_from=date_from,
        date_to=date_to,
    )
    return report_answer(report, format, "kpi-returns")


@router.get(
    "/basket",
    response_model=q.BasketReport,
    summary="Average basket",
    description="Baskets (orders and till receipts that sold goods), their net sales and units, per group.",
    responses=RESPONSES,
)
def basket(
    api: KpisApi,
    company_id: CompanyParam = None,
    group_by: Annotated[Literal["day", "store", "channel"], Query()] = "day",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    store: StoreParam = None,
    channel: Channel = None,
    format: Format = "json",
) -> Any:
    report = _run(
        api,
        lambda session, where: q.basket(session, where, group_by),
        company_id=company_id,
        store=store,
        channel=channel,
        date_from=date_from,
        date_to=date_to,
    )
    return report_answer(report, format, "kpi-basket")


@router.get(
    "/sell-through",
    response_model=q.SellThroughReport,
    summary="Sell-through",
    description="Units sold in the period / (units sold + units on hand now), per store or category.",
    responses=RESPONSES,
)
def sell_through(
    api: KpisApi,
    company_id: CompanyParam = None,
    group_by: Annotated[Literal["store", "category"], Query()] = "category",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    store: StoreParam = None,
    channel: Channel = None,
    format: Format = "json",
) -> Any:
    report = _run(
        api,
        lambda session, where: q.sell_through(session, where, group_by),
        company_id=company_id,
        store=store,
        channel=channel,
        date_from=date_from,
        date_to=date_to,
    )
    return report_answer(report, format, "kpi-sell-through")


@router.get(
    "/stock-accuracy",
    response_model=q.AccuracyReport,
    summary="Stock accuracy from cycle counts",
    description=(
        "Approved count sheets by count day: lines counted, counted exactly, within tolerance, the "
        "accuracy in percent, and the value the counts found and lost."
    ),
    responses=RESPONSES,
)
def stock_accuracy(
    api: KpisApi,
    company_id: CompanyParam = None,
    group_by: Annotated[Literal["day", "store"], Query()] = "store",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    store: StoreParam = None,
    format: Format = "json",
) -> Any:
    report = _run(
        api,
        lambda session, where: q.stock_accuracy(session, where, group_by),
        company_id=company_id,
        store=store,
        date_from=date_from,
        date_to=date_to,
    )
    return report_answer(report, format, "kpi-stock-accuracy")


@router.get(
    "/shrinkage",
    response_model=q.ShrinkageReport,
    summary="Shrinkage",
    description=(
        "The stock value approved counts found missing, against the net sales of the same stores and days."
    ),
    responses=RESPONSES,
)
def shrinkage(
    api: KpisApi,
    company_id: CompanyParam = None,
    group_by: Annotated[Literal["day", "store"], Query()] = "store",
    date_from: DateFrom = None,
    date_to: DateTo = None,
    store: StoreParam = None,
    format: Format = "json",
) -> Any:
    report = _run(
        api,
        lambda session, where: q.shrinkage(session, where, group_by),
        company_id=company_id,
        store=store,
        date_from=date_from,
        date_to=date_to,
    )
    return report_answer(report, format, "kpi-shrinkage")


@router.get(
    "/settlement-lag",
    response_model=settlement_reports.SettlementLag,
    summary="Settlement lag per gateway",
    description=(
        "The settlements' lag report (`GET /reports/settlement-lag`): per gateway, days from sale to "
        "settlement and payout, and what is in flight. Card money is per company, not per store: a token "
        "scoped to a store is refused."
    ),
    responses=RESPONSES,
)
def settlement_lag(
    api: KpisApi,
    company_id: CompanyParam = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    format: Format = "json",
) -> Any:
    def work(session: Session, where: q.Scope) -> Report:
        if api.principal.store_id is not None:
            raise PermissionDenied("settlement lag covers a whole company; use a token not scoped to a store")
        return settlement_reports.settlement_lag(session, where.company_id, where.date_from, where.date_to)

    report = _run(api, work, company_id=company_id, date_from=date_from, date_to=date_to)
    return report_answer(report, format, "kpi-settlement-lag")


@router.get(
    "/exceptions",
    response_model=q.ExceptionsReport,
    summary="Open exceptions and money at risk",
    description=(
        "Unresolved exceptions of the console (open or acknowledged) by type: count and money at risk."
    ),
    responses=RESPONSES,
)
def exceptions(
    api: KpisApi,
    company_id: CompanyParam = None,
    store: StoreParam = None,
    format: Format = "json",
) -> Any:
    report = _run(api, q.open_exceptions, company_id=company_id, store=store)
    return report_answer(report, format, "kpi-exceptions")
