"""Demand forecasts over HTTP: the latest run's forecasts beside the actual units, the runs, and a
synchronous run for small companies (a big one runs ``retailcore forecast run``). Thin: the rules are
in :mod:`retailcore.analytics` (docs/intelligence.md).

Reading needs ``kpis:read`` (forecasts are figures of the same audience as the dashboard); running one
needs ``purchasing:write``, since it is what replenishment buys from (decision 0073).
"""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.analytics.forecasts import queries as q
from retailcore.analytics.forecasts.commands import RunForecast
from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, with_store_ids

router = APIRouter(route_class=DecimalRoute, tags=["forecasts"])


class ForecastQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    product_id: uuid.UUID | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id.")
    channel: Literal["store", "web"] | None = Field(None, description="`web`: the web channel's series.")
    limit: int = Field(200, ge=1, le=1000)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


class RunQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


@router.get(
    "/forecasts",
    response_model=q.ForecastPage,
    summary="The latest run's forecasts against actuals",
    description="Per product and store (or the web channel) and day: the forecast units, the chosen"
    " model with its backtest sigma and MASE, and the units actually demanded once the day has passed.",
)
def list_forecasts(
    params: Annotated[ForecastQuery, Query()], api: Annotated[Api, Depends(reader("kpis:read"))]
) -> Any:
    def work(session: Session) -> q.ForecastPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = with_store_ids(session, api.principal, company, params, "store_id")
        store_id = query.store_id if query.store_id is not None else api.principal.store_id
        return q.list_forecasts(
            session,
            company.id,
            today=utcnow().date(),
            product_id=query.product_id,
            store_id=store_id,  # type: ignore[arg-type]
            channel=query.channel,
            limit=query.limit,
            cursor=query.cursor,
        )

    return api.read(work)


@router.get("/forecasts/runs", response_model=q.ForecastRunPage, summary="Forecast runs, newest first")
def list_runs(params: Annotated[RunQuery, Query()], api: Annotated[Api, Depends(reader("kpis:read"))]) -> Any:
    def work(session: Session) -> q.ForecastRunPage:
        company = company_in_scope(session, api.principal, params.company_id)
        return q.list_runs(session, company.id, limit=params.limit, cursor=params.cursor)

    return api.read(work)


@router.post(
    "/forecasts/runs",
    response_model=q.ForecastRunView,
    status_code=201,
    summary="Run a forecast now (small companies; big ones use the CLI)",
    description="Reads the demand history, backtests the candidate models per series, fits the chosen"
    " one and stores the forecasts, in this request: seconds for a few hundred series, minutes for a"
    " 40-store chain, which should run `retailcore forecast run` instead.",
)
async def run_forecast(
    body: RunForecast, api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    from retailcore.analytics.forecasts.services import run_forecast as run

    def work(session: Session, ctx: CommandContext) -> q.ForecastRunView:
        company = company_in_scope(session, api.principal, body.company_id)
        as_of = body.as_of or utcnow().date() - dt.timedelta(days=1)
        return q.run_view(run(session, ctx, company, as_of=as_of, horizon=body.horizon))

    return await api.command(work, status_code=201)
