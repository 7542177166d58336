"""Reading stored forecasts: the latest run, its forecasts beside the actual units, the runs, and the
:class:`~retailcore.analytics.model.DemandEstimate` rows replenishment consumes.

Nothing here needs pandas or statsforecast: reading forecasts works without the ``intelligence`` extra.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.analytics.forecasts.tables import Forecast, ForecastRun
from retailcore.analytics.model import DemandEstimate
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.masterdata.tables import Product, Store

QUANTITY = Decimal("0.001")


class ForecastRunView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    as_of: dt.date
    horizon: int
    history_days: int
    series: int
    models: list[str]
    duration_seconds: Decimal
    mase: dict[str, Decimal | None] = Field(description="Mean backtest MASE per model over its series.")
    chosen: dict[str, int] = Field(description="How many series chose each model.")
    created_by: str
    created_at: dt.datetime


class ForecastRunPage(BaseModel):
    items: list[ForecastRunView]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class ForecastView(BaseModel):
    run_id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    channel: Literal["store", "web"]
    store_id: uuid.UUID | None
    store: str | None = Field(description="The store's code; null for the web channel.")
    location_id: uuid.UUID | None
    day: dt.date
    quantity: Decimal = Field(description="Forecast units for the day.")
    actual: Decimal | None = Field(description="Units demanded that day; null while the day is to come.")
    model: str
    sigma: Decimal = Field(description="Standard deviation of the model's one-day backtest error.")
    mase: Decimal | None = Field(description="The model's backtest MASE on this series.")


class ForecastPage(BaseModel):
    """The one list envelope (decision 0021): each item names its run (``run_id``); the run itself is
    ``GET /forecasts/runs``."""

    items: list[ForecastView]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def run_view(run: ForecastRun) -> ForecastRunView:
    mase = {
        name: None if value in (None, "None") else Decimal(value)
        for name, value in run.summary.get("mase", {}).items()
    }
    return ForecastRunView(
        id=run.id,
        company_id=run.company_id,
        as_of=run.as_of,
        horizon=run.horizon,
        history_days=run.history_days,
        series=run.series,
        models=list(run.models),
        duration_seconds=run.duration_seconds,
        mase=mase,
        chosen={name: int(count) for name, count in run.summary.get("chosen", {}).items()},
        created_by=run.created_by,
        created_at=run.created_at,
    )


def latest_run(
    session: Session, company_id: uuid.UUID, *, as_of: dt.date | None = None
) -> ForecastRun | None:
    """The company's latest run (of those made as of ``as_of`` or before, when given)."""
    query = select(ForecastRun).where(ForecastRun.company_id == company_id)
    if as_of is not None:
        query = query.where(ForecastRun.as_of <= as_of)
    return session.scalars(
        query.order_by(ForecastRun.as_of.desc(), ForecastRun.created_at.desc(), ForecastRun.id.desc()).limit(
            1
        )
    ).first()


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
    )


def _after(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    try:
        return uuid.UUID(cursor)
    except ValueError:
        raise _bad_cursor() from None


def list_runs(
    session: Session, company_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None
) -> ForecastRunPage:
    """The runs, newest first (keyset on the run's id within its creation time)."""
    query = select(ForecastRun).where(ForecastRun.company_id == company_id)
    after = _after(cursor)
    if after is not None:
        last = session.get(ForecastRun, after)
        if last is None or last.company_id != company_id:
            raise _bad_cursor()
        query = query.where(
            (ForecastRun.created_at < last.created_at)
            | ((ForecastRun.created_at == last.created_at) & (ForecastRun.id < last.id))
        )
    rows = list(
        session.scalars(query.order_by(ForecastRun.created_at.desc(), ForecastRun.id.desc()).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ForecastRunPage(
        items=[run_view(row) for row in rows], next_cursor=str(rows[-1].id) if more else None
    )


def actual_units(
    session: Session, company_id: uuid.UUID, product_ids: set[uuid.UUID], start: dt.date, end: dt.date
) -> dict[tuple[uuid.UUID, uuid.UUID | None, dt.date], Decimal]:
    """Units demanded per (product, store or None for web, day), counted as the forecasts' history is."""
    from retailcore.analytics.forecasts.history import demand_rows

    found: dict[tuple[uuid.UUID, uuid.UUID | None, dt.date], Decimal] = defaultdict(Decimal)
    for product_id, store_id, _source, day, units, _price, _promo in demand_rows(
        session, company_id, start, end, product_ids
    ):
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        found[(product_id, store_id, day)] += Decimal(units)
    return found


def list_forecasts(
    session: Session,
    company_id: uuid.UUID,
    *,
    today: dt.date,
    product_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    channel: Literal["store", "web"] | None = None,
    limit: int = 200,
    cursor: str | None = None,
) -> ForecastPage:
    """The latest run's forecasts (by product, store, day), each with the actual units once its day
    is past (up to ``today``): forecasts against actuals."""
    run = latest_run(session, company_id)
    if run is None:
        return ForecastPage(items=[], next_cursor=None)
    query = (
        select(Forecast, Product.sku, Store.code)
        .join(Product, Product.id == Forecast.product_id)
        .outerjoin(Store, Store.id == Forecast.store_id)
        .where(Forecast.run_id == run.id)
    )
    if product_id is not None:
        query = query.where(Forecast.product_id == product_id)
    if store_id is not None:
        query = query.where(Forecast.store_id == store_id)
    if channel is not None:
        query = query.where(Forecast.channel == channel)
    after = _after(cursor)
    if after is not None:
        query = query.where(Forecast.id > after)
    rows = session.execute(query.order_by(Forecast.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    past = [forecast for forecast, _sku, _store in rows if forecast.day <= today]
    actuals: dict[tuple[uuid.UUID, uuid.UUID | None, dt.date], Decimal] = {}
    if past:
        actuals = actual_units(
            session,
            company_id,
            {forecast.product_id for forecast in past},
            min(forecast.day for forecast in past),
            max(forecast.day for forecast in past),
        )
    items = [
        ForecastView(
            run_id=run.id,
            product_id=forecast.product_id,
            sku=sku,
            channel=forecast.channel,  # type: ignore[arg-type]
            store_id=forecast.store_id,
            store=store_code,
            location_id=forecast.location_id,
            day=forecast.day,
            quantity=forecast.quantity.quantize(QUANTITY),
            actual=(
                actuals.get((forecast.product_id, forecast.store_id, forecast.day), Decimal(0)).quantize(
                    QUANTITY
                )
                if forecast.day <= today
                else None
            ),
            model=forecast.model,
            sigma=forecast.sigma.quantize(QUANTITY),
            mase=forecast.mase,
        )
        for forecast, sku, store_code in rows
    ]
    return ForecastPage(items=items, next_cursor=str(rows[-1][0].id) if more else None)


def demand_estimates(
    session: Session, company_id: uuid.UUID, *, as_of: dt.date, horizon_days: int
) -> list[DemandEstimate]:
    """Per product and location, the mean daily forecast over the ``horizon_days`` after ``as_of``
    and the backtest sigma, from the latest run made as of ``as_of`` or before. Days the run does
    not cover (a horizon longer than the run's) are not invented: the mean is over the days it has.
    Series without a location (web demand when no warehouse ever shipped it) are left out."""
    run = latest_run(session, company_id, as_of=as_of)
    if run is None:
        return []
    end = as_of + dt.timedelta(days=horizon_days)
    rows = session.execute(
        select(
            Forecast.product_id,
            Forecast.location_id,
            func.sum(Forecast.quantity),
            func.count(),
            func.max(Forecast.sigma),
            func.max(Forecast.model),
        )
        .where(
            Forecast.run_id == run.id,
            Forecast.location_id.is_not(None),
            Forecast.day > as_of,
            Forecast.day <= end,
        )
        .group_by(Forecast.product_id, Forecast.location_id)
    ).all()
    estimates = []
    for product_id, location_id, total, days, sigma, model in rows:
        if not days:
            continue
        estimates.append(
            DemandEstimate(
                product_id=product_id,
                location_id=location_id,
                as_of=as_of,
                horizon_days=horizon_days,
                daily_mean=(Decimal(total) / days).quantize(QUANTITY),
                daily_sigma=Decimal(sigma).quantize(QUANTITY),
                model=model,
            )
        )
    return sorted(estimates, key=lambda e: (str(e.product_id), str(e.location_id)))


@dataclass(frozen=True)
class SeriesAgainstActuals:
    """One series of the latest run for the back office: per day, the forecast and (once past) the
    actual units; and the totals over the days already past."""

    sku: str
    store: str | None
    model: str
    mase: Decimal | None
    sigma: Decimal
    days: list[tuple[dt.date, Decimal, Decimal | None]]

    @property
    def forecast_so_far(self) -> Decimal:
        return sum((quantity for _day, quantity, actual in self.days if actual is not None), Decimal(0))

    @property
    def actual_so_far(self) -> Decimal | None:
        past = [actual for _day, _quantity, actual in self.days if actual is not None]
        return sum(past, Decimal(0)) if past else None


def series_against_actuals(
    session: Session,
    company_id: uuid.UUID,
    *,
    today: dt.date,
    store_id: uuid.UUID | None = None,
    limit: int = 50,
) -> tuple[ForecastRun | None, list[SeriesAgainstActuals]]:
    """The latest run's ``limit`` series with the most forecast units (of one store when given), each
    with its days and the actual units of those past."""
    run = latest_run(session, company_id)
    if run is None:
        return None, []
    top = (
        select(Forecast.product_id, Forecast.store_id, func.sum(Forecast.quantity).label("total"))
        .where(Forecast.run_id == run.id)
        .group_by(Forecast.product_id, Forecast.store_id)
    )
    if store_id is not None:
        top = top.where(Forecast.store_id == store_id)
    chosen = session.execute(top.order_by(func.sum(Forecast.quantity).desc()).limit(limit)).all()
    if not chosen:
        return run, []
    products = {product_id for product_id, _store, _total in chosen}
    rows = session.execute(
        select(Forecast, Product.sku, Store.code)
        .join(Product, Product.id == Forecast.product_id)
        .outerjoin(Store, Store.id == Forecast.store_id)
        .where(Forecast.run_id == run.id, Forecast.product_id.in_(products))
        .order_by(Forecast.day)
    ).all()
    wanted = {(product_id, store) for product_id, store, _total in chosen}
    first, last = run.as_of + dt.timedelta(days=1), min(today, run.as_of + dt.timedelta(days=run.horizon))
    actuals = actual_units(session, company_id, products, first, last) if first <= last else {}
    grouped: dict[tuple[uuid.UUID, uuid.UUID | None], list[Any]] = defaultdict(list)
    labels: dict[tuple[uuid.UUID, uuid.UUID | None], tuple[str, str | None, Forecast]] = {}
    for forecast, sku, store_code in rows:
        key = (forecast.product_id, forecast.store_id)
        if key not in wanted:
            continue
        actual = actuals.get((*key, forecast.day), Decimal(0)) if forecast.day <= today else None
        grouped[key].append((forecast.day, forecast.quantity.quantize(QUANTITY), actual))
        labels[key] = (sku, store_code, forecast)
    found = []
    for product_id, store, _total in chosen:
        sku, store_code, sample = labels[(product_id, store)]
        found.append(
            SeriesAgainstActuals(
                sku, store_code, sample.model, sample.mase, sample.sigma, grouped[(product_id, store)]
            )
        )
    return run, found
