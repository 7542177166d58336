"""Running and storing a company's demand forecast (``retailcore forecast run``, ``POST
/forecasts/runs``): read the history, backtest and fit
(:mod:`retailcore.analytics.forecasts.forecasting`), store
the run and its forecasts in one transaction, and record a ``ForecastRunCompleted`` event.

Floats stop here: quantities, sigmas and MASE are quantized Decimals before they are stored.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.orm import Session

from retailcore.analytics.forecasts.commands import MAX_HORIZON
from retailcore.analytics.forecasts.forecasting import ARIMA_LIMIT, Report, _noop, forecast_series
from retailcore.analytics.forecasts.history import demand_history
from retailcore.analytics.forecasts.tables import Forecast, ForecastRun
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company

HISTORY_DAYS = 91
"""Thirteen weeks: enough for the weekly season and two backtest windows, short enough that a
product's old selling pattern does not outweigh this quarter's."""
QUANTITY = Decimal("0.001")
RATIO = Decimal("0.0001")
INSERT_BATCH = 5000


def _quantity(value: float) -> Decimal:
    return Decimal(str(round(max(float(value), 0.0), 6))).quantize(QUANTITY)  # float-ok: a model's output


def _ratio(value: float) -> Decimal | None:
    if value is None or not math.isfinite(value):
        return None
    return Decimal(str(round(float(value), 6))).quantize(RATIO)  # float-ok: a model's output, to Decimal here


def check_horizon(horizon: int, field: str = "horizon") -> None:
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValidationFailed(
            f"horizon must be 1 to {MAX_HORIZON} days",
            problems=[FieldProblem(field, f"between 1 and {MAX_HORIZON}")],
        )


def run_forecast(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    as_of: dt.date,
    horizon: int = 14,
    history_days: int = HISTORY_DAYS,
    arima_limit: int = ARIMA_LIMIT,
    n_jobs: int | None = None,
    global_model: bool = False,
    report: Report = _noop,
) -> ForecastRun:
    """Forecast every series of ``company`` with demand in the ``history_days`` ending on ``as_of``,
    for the ``horizon`` days after it, and store the run."""
    check_horizon(horizon)
    started = time.perf_counter()
    report("history", 0, 1)
    history = demand_history(session, company.id, as_of=as_of, days=history_days)
    report("history", 1, 1)
    if history.frame.empty:
        raise ValidationFailed(
            f"no sales in the {history_days} days to {as_of}: nothing to forecast",
            problems=[FieldProblem("as_of", "no sales before it")],
        )
    result = forecast_series(
        history.frame,
        horizon=horizon,
        exogenous=("price", "promo"),
        arima_limit=arima_limit,
        n_jobs=n_jobs,
        global_model=global_model,
        report=report,
    )
    run = ForecastRun(
        id=uuid.uuid4(),
        company_id=company.id,
        as_of=as_of,
        horizon=horizon,
        history_days=(as_of - history.start).days + 1,
        series=len(history.series),
        models=result.models,
        duration_seconds=Decimal(0),
        summary={
            "mase": {name: str(_ratio(value)) for name, value in sorted(result.mase.items())},
            "chosen": dict(sorted(result.chosen_counts.items())),
        },
        created_by=ctx.actor,
    )
    session.add(run)
    session.flush()

    # Plain dicts per series: a pandas lookup per forecast row would cost more than the forecast.
    series = history.series.to_dict("index")
    chosen = {
        uid: (pick["model"], _quantity(pick["sigma"]), _ratio(pick["mase"]))
        for uid, pick in result.chosen.to_dict("index").items()
    }
    rows = []
    for uid, day, quantity in result.forecasts[["unique_id", "ds", "quantity"]].itertuples(index=False):
        meta, (model, sigma, mase) = series[uid], chosen[uid]
        rows.append(
            {
                "id": uuid.uuid4(),
                "run_id": run.id,
                "company_id": company.id,
                "product_id": meta["product_id"],
                "channel": meta["channel"],
                "store_id": meta["store_id"],
                "location_id": meta["location_id"],
                "day": day.date(),
                "quantity": _quantity(quantity),
                "model": model,
                "sigma": sigma,
                "mase": mase,
            }
        )
    for done in range(0, len(rows), INSERT_BATCH):
        report("store", done, len(rows))
        session.execute(insert(Forecast), rows[done : done + INSERT_BATCH])
    report("store", len(rows), len(rows))
    run.duration_seconds = Decimal(str(round(time.perf_counter() - started, 3)))
    record(
        session,
        ctx,
        type="ForecastRunCompleted",
        company_id=company.id,
        aggregate_type="ForecastRun",
        aggregate_id=run.id,
        payload={
            "as_of": as_of,
            "horizon": horizon,
            "series": run.series,
            "forecasts": len(rows),
            "summary": run.summary,
            "duration_seconds": run.duration_seconds,
        },
    )
    session.flush()
    return run
