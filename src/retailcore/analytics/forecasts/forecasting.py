"""Demand forecasting with statsforecast: per-series model choice by a rolling-origin backtest.

The candidates are statsforecast's models; nothing here is a hand-written forecaster. One
``cross_validation`` pass per demand class serves two ends: the model chosen per series, and that
model's backtest errors give the series' one-day error sigma (what replenishment sizes safety stock
from). Then only the chosen model (or the combination's members) is fitted per series, on the whole
history, for the horizon.

* Every series is scored on SeasonalNaive (the baseline), TSB, WindowAverage(28),
  SeasonalWindowAverage(7, 4 weeks) and their **Combination** (the mean of every candidate's
  forecast but the baseline's and AutoARIMA's, a column mean). The combination is chosen unless
  another candidate's backtest MASE is :data:`CHOICE_MARGIN` lower: on M5 a free per-series choice
  among many models chases backtest noise and loses on the held-out window (decision 0073, amended).
* Smooth series add AutoETS(7) (also in their combination); AutoARIMA (with the exogenous columns,
  price and promotion) only for the highest-volume smooth series with at least
  :data:`ARIMA_MIN_DAYS` of history whose exogenous columns vary (:func:`classify`): it is the
  slowest model by far (about 2 s a series).
* MASE's scale is the in-sample MAE of the seasonal-naive (lag 7) forecast on the history before the
  first backtest cutoff; a series whose scale is 0 (constant before the cutoff) is chosen by MAE and
  left out of the MASE means.

pandas, numpy and statsforecast are the ``intelligence`` extra: :func:`require` imports them and says
how to install them when they are missing. Decision 0073.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retailcore.core.errors import PreconditionFailed

if TYPE_CHECKING:
    import pandas as pd

SEASON = 7
BACKTEST_HORIZON = 7
BACKTEST_WINDOWS = 2
ARIMA_MIN_DAYS = 56
ARIMA_LIMIT = 20
INTERMITTENT_ADI = 1.32
WINDOW_DAYS = 28
SEASON_WINDOWS = 4
TSB_ALPHAS = (0.1, 0.1)
"""TSB's smoothing of demand size and of demand probability: slow, like the 28-day window."""
COMBINATION = "Combination"
CHOICE_MARGIN = 0.2
"""Another candidate replaces the combination only when its backtest MASE is this much (20 %) lower."""
CLASSIFY_DAYS = 91
"""The demand class is read from the last 13 weeks: a product launched late or delisted for a while
is judged by how it sells now, not by its years of zeros."""
ETS_SPACE = "ZNZ"
"""AutoETS searches error and season types but no trend: four times faster than the full space, and
a month or a quarter of daily history cannot tell a trend from noise (decision 0073)."""
MIN_BACKTEST_DAYS = BACKTEST_HORIZON * BACKTEST_WINDOWS + 2 * SEASON
"""Below this, a series has too little history to backtest: it gets the seasonal naive forecast."""
BASELINE = "SeasonalNaive"
GLOBAL = "GlobalGBM"
"""The global model's column (``global_model.GLOBAL``; kept here so reading it needs no scikit-learn)."""
GLOBAL_IN_COMBINATION = True
"""Whether the global model, when a run uses it, joins the combination (decision 0088)."""
INSTALL_HINT = "pip install 'retailcore[intelligence]'"

Report = Callable[[str, int, int], None]


@dataclass
class IntelligenceMissing(PreconditionFailed):
    """The ``intelligence`` extra is not installed (HTTP 412: the installation lacks what it needs)."""

    code: str = "intelligence-extra-missing"


def require() -> tuple[Any, Any]:
    """pandas and numpy, or a clear error naming the extra (statsforecast is checked with them)."""
    try:
        import numpy
        import pandas
        import statsforecast  # noqa: F401
    except ImportError as exc:
        raise IntelligenceMissing(
            f"forecasting needs the intelligence extra ({exc.name} is not installed): {INSTALL_HINT}"
        ) from None
    return pandas, numpy


def _candidates(kind: str, train_days: int | None = None) -> list[Any]:
    """The models backtested on a class of series; ``train_days`` (the shortest history a fit sees)
    narrows the averaging windows so that they fit in a short history."""
    from statsforecast.models import (
        TSB,
        AutoARIMA,
        AutoETS,
        SeasonalNaive,
        SeasonalWindowAverage,
        WindowAverage,
    )

    days = train_days or WINDOW_DAYS
    models: list[Any] = [
        SeasonalNaive(season_length=SEASON),
        TSB(*TSB_ALPHAS),
        WindowAverage(window_size=max(1, min(WINDOW_DAYS, days))),
        SeasonalWindowAverage(season_length=SEASON, window_size=max(1, min(SEASON_WINDOWS, days // SEASON))),
    ]
    if kind != "intermittent":
        models.append(AutoETS(season_length=SEASON, model=ETS_SPACE))
    if kind == "long":
        models.append(AutoARIMA(season_length=SEASON))
    return models


def combination_members(names: Sequence[str], with_global: bool = GLOBAL_IN_COMBINATION) -> list[str]:
    """The models the combination averages: every candidate but the baseline and AutoARIMA (too few
    series try it to judge; it stays a candidate of its own); the global model only if
    ``with_global``."""
    left_out = {BASELINE, "AutoARIMA", COMBINATION} | (set() if with_global else {GLOBAL})
    return [name for name in names if name not in left_out]


def add_combination(
    frame: pd.DataFrame, names: Sequence[str], with_global: bool = GLOBAL_IN_COMBINATION
) -> list[str]:
    """Adds the :data:`COMBINATION` column (the mean of the members' forecasts, each clipped at 0 as
    the stored forecasts are) to ``frame`` in place; returns the names with it."""
    members = combination_members(names, with_global)
    frame[COMBINATION] = frame[members].clip(lower=0).mean(axis=1)
    return [*names, COMBINATION]


def _model_named(name: str, train_days: int | None = None) -> Any:
    for model in _candidates("long", train_days):
        if repr(model) == name:
            return model
    raise ValueError(f"unknown model {name}")


def _noop(step: str, done: int, total: int) -> None:
    return None


@dataclass
class ForecastResult:
    """What :func:`forecast_series` found.

    ``forecasts``: ``unique_id, ds, quantity`` (clipped at 0); ``chosen``: per ``unique_id`` the chosen
    ``model``, its backtest ``sigma`` and ``mase`` (NaN where not measured) and the ``kind``;
    ``mase``: the mean backtest MASE per model over the series it was scored on.
    """

    forecasts: pd.DataFrame
    chosen: pd.DataFrame
    mase: dict[str, float]
    models: list[str]
    seconds: float
    chosen_counts: dict[str, int] = field(default_factory=dict)


def classify(history: pd.DataFrame, exogenous: Sequence[str] = (), arima_limit: int = 0) -> pd.Series:
    """``intermittent``, ``smooth`` or ``long`` per series, by the average interval between demands
    (ADI) of the last :data:`CLASSIFY_DAYS` of history. ``long`` (AutoARIMA is tried) is a smooth
    series with at least :data:`ARIMA_MIN_DAYS` of history whose exogenous columns vary (without them
    AutoARIMA adds nothing AutoETS lacks), the ``arima_limit`` of highest volume only: it costs about
    two seconds a series on a quarter of history, a minute on two years."""
    pd, np = require()
    days = history.groupby("unique_id", sort=True)["y"].size()
    recent = history[history["ds"] > history["ds"].max() - pd.Timedelta(days=CLASSIFY_DAYS)]
    grouped = recent.groupby("unique_id", sort=True)["y"]
    nonzero = grouped.apply(lambda y: int((y.to_numpy() > 0).sum()))
    adi = grouped.size() / nonzero.replace(0, np.nan)
    kind = pd.Series("smooth", index=days.index)
    kind[(adi >= INTERMITTENT_ADI) | adi.isna()] = "intermittent"
    if arima_limit and exogenous:
        varies = history.groupby("unique_id")[list(exogenous)].nunique().max(axis=1) > 1
        eligible = (
            (kind == "smooth") & (days >= ARIMA_MIN_DAYS) & varies.reindex(kind.index, fill_value=False)
        )
        volume = grouped.sum()[eligible].sort_values(ascending=False)
        kind[volume.index[:arima_limit]] = "long"
    return kind


def seasonal_naive_scale(history: pd.DataFrame, before: Any = None) -> pd.Series:
    """The in-sample MAE of the lag-7 naive forecast per series (MASE's denominator), on the days
    before ``before`` when given."""
    frame = history if before is None else history[history["ds"] < before]
    frame = frame.sort_values(["unique_id", "ds"])
    lagged = frame.groupby("unique_id")["y"].shift(SEASON)
    errors = (frame["y"] - lagged).abs()
    return errors.groupby(frame["unique_id"]).mean()


def backtest(
    history: pd.DataFrame,
    models: Sequence[Any],
    *,
    horizon: int,
    windows: int,
    step: int | None = None,
    n_jobs: int = 1,
    exogenous: Sequence[str] = (),
    refit: bool = False,
) -> pd.DataFrame:
    """statsforecast's rolling-origin cross-validation: ``unique_id, ds, cutoff, y`` and one column of
    forecasts per model."""
    from statsforecast import StatsForecast

    columns = ["unique_id", "ds", "y", *exogenous]
    keys = ["unique_id", "ds", "cutoff", "y"]
    # refit=False, for the models that can: each is fitted at the first cutoff and only updated with
    # the later windows' data, not searched again (AutoETS: one fit per series instead of one per
    # window). TSB and the window averages cannot be updated that way; they are cheap to refit.
    updatable = [model for model in models if hasattr(model, "forward")] if not refit else []
    refitted = [model for model in models if model not in updatable]
    found = None
    for group, again in ((updatable, False), (refitted, True)):
        if not group:
            continue
        engine = StatsForecast(models=group, freq="D", n_jobs=n_jobs)
        part = engine.cross_validation(
            df=history[columns], h=horizon, n_windows=windows, step_size=step or horizon, refit=again
        )
        part = part.reset_index() if "unique_id" not in part.columns else part
        found = part if found is None else found.merge(part, on=keys)
    assert found is not None
    return found


def score(cv: pd.DataFrame, scale: pd.Series, models: Sequence[str]) -> pd.DataFrame:
    """MASE per series and model: the backtest MAE over the scale (NaN where the scale is 0)."""
    pd, np = require()
    mae = pd.DataFrame({name: (cv[name] - cv["y"]).abs() for name in models})
    mae["unique_id"] = cv["unique_id"].to_numpy()
    per_series = mae.groupby("unique_id").mean()
    safe_scale = scale.reindex(per_series.index).replace(0, np.nan)
    return per_series.div(safe_scale, axis=0), per_series


def choose(mase: pd.DataFrame, mae: pd.DataFrame) -> pd.Series:
    """Per series, the :data:`COMBINATION` when it is a column, unless the model with the lowest
    MASE (by MAE where MASE is undefined) beats it by :data:`CHOICE_MARGIN`; without it, that lowest
    model. Ties go to the earlier model in the column order (the baseline first)."""
    ranked = mase.where(mase.notna(), mae).fillna(math.inf)
    best = ranked.idxmin(axis=1)
    if COMBINATION not in ranked.columns:
        return best
    lowest = ranked.min(axis=1)
    keep = ~(lowest < ranked[COMBINATION] * (1 - CHOICE_MARGIN))
    return best.where(~keep, COMBINATION)


def forecast_series(
    history: pd.DataFrame,
    *,
    horizon: int,
    exogenous: Sequence[str] = (),
    future_exogenous: pd.DataFrame | None = None,
    arima_limit: int = ARIMA_LIMIT,
    n_jobs: int | None = None,
    global_model: bool = False,
    report: Report = _noop,
) -> ForecastResult:
    """Backtest, choose, fit and forecast every series of ``history`` (``unique_id, ds, y`` and the
    ``exogenous`` columns, one row per day, no gaps). ``future_exogenous`` gives the exogenous values
    over the horizon (AutoARIMA needs them); without it, the last known value is carried forward.
    ``global_model`` adds the gradient-boosted model trained across all series (decision 0088) as a
    candidate (and a member of the combination when :data:`GLOBAL_IN_COMBINATION`)."""
    pd, np = require()
    from statsforecast import StatsForecast

    started = time.perf_counter()
    jobs = n_jobs or min(os.cpu_count() or 1, 2)
    history = history.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    kinds = classify(history, exogenous, arima_limit)
    days = int(history.groupby("unique_id").size().min()) if len(history) else 0
    can_backtest = days >= MIN_BACKTEST_DAYS
    first_cutoff = history["ds"].max() - pd.Timedelta(days=BACKTEST_HORIZON * BACKTEST_WINDOWS - 1)
    scale = seasonal_naive_scale(history, before=first_cutoff)

    chosen_parts, mase_parts = [], []
    train_days = days - BACKTEST_HORIZON * BACKTEST_WINDOWS
    groups = sorted(kinds.unique()) if can_backtest else []
    global_cv = None
    if global_model and can_backtest:
        from retailcore.analytics.forecasts import global_model as g

        report("global backtest", 0, 1)
        static = g.static_from_ids(list(kinds.index))
        price = "price" if "price" in history.columns else None
        global_cv = g.global_backtest(
            history, horizon=BACKTEST_HORIZON, windows=BACKTEST_WINDOWS, static=static, price=price
        )
        report("global backtest", 1, 1)
    for done, kind in enumerate(groups):
        report("backtest", done, len(groups))
        ids = kinds.index[kinds == kind]
        models = _candidates(kind, train_days)
        names = [repr(model) for model in models]
        use_exogenous = list(exogenous) if "AutoARIMA" in names else []
        part = history[history["unique_id"].isin(ids)]
        with warnings.catch_warnings():
            # AutoARIMA warns of a rank-deficient design when an exogenous column barely moves in a
            # window; it still fits (dropping the column's effect), and the backtest scores the result.
            warnings.simplefilter("ignore")
            cv = backtest(
                part,
                models,
                horizon=BACKTEST_HORIZON,
                windows=BACKTEST_WINDOWS,
                n_jobs=jobs,
                exogenous=use_exogenous,
            )
        if global_cv is not None:
            cv = cv.merge(global_cv, on=["unique_id", "ds", "cutoff"], how="left")
            names.append(GLOBAL)
        names = add_combination(cv, names)
        mase, mae = score(cv, scale, names)
        best = choose(mase, mae)
        errors = pd.DataFrame({name: cv[name] - cv["y"] for name in names})
        errors["unique_id"] = cv["unique_id"].to_numpy()
        sigma = errors.groupby("unique_id").std(ddof=1)
        chosen_parts.append(
            pd.DataFrame(
                {
                    "model": best,
                    "sigma": [sigma.at[uid, model] for uid, model in best.items()],
                    "mase": [mase.at[uid, model] for uid, model in best.items()],
                    "kind": kind,
                }
            )
        )
        mase_parts.append(mase)
    report("backtest", len(groups), max(len(groups), 1))

    if chosen_parts:
        chosen = pd.concat(chosen_parts)
    else:
        # Too short to backtest: the average of the days there are, by weekday once two whole weeks are
        # there (the week's shape without one week's noise), and the spread around it as sigma. A naive
        # forecast would hand replenishment one day's or one week's sales as the level (decision 0073).
        name = repr(_fallback(days))
        if days >= 2 * SEASON:
            position = history.groupby("unique_id").cumcount() % SEASON
            level = history.groupby([history["unique_id"], position])["y"].transform("mean")
        else:
            level = history.groupby("unique_id")["y"].transform("mean")
        spread = (history["y"] - level).groupby(history["unique_id"]).std(ddof=1)
        chosen = pd.DataFrame({"model": name, "sigma": spread, "mase": np.nan, "kind": kinds})
    chosen["sigma"] = chosen["sigma"].fillna(0.0)
    chosen.index.name = "unique_id"

    by_model = list(chosen.groupby("model"))
    frames = []
    ahead = None
    needs_global = {GLOBAL, COMBINATION} if GLOBAL_IN_COMBINATION else {GLOBAL}
    if global_cv is not None and needs_global & set(chosen["model"]):
        report("global fit", 0, 1)
        ahead = g.global_forecast(history, horizon=horizon, static=static, price=price)
        report("global fit", 1, 1)
    for done, (name, rows) in enumerate(by_model):
        report("fit", done, len(by_model))
        part = history[history["unique_id"].isin(rows.index)]
        if name == GLOBAL:
            found = ahead[ahead["unique_id"].isin(rows.index)]
            frames.append(found.rename(columns={GLOBAL: "quantity"})[["unique_id", "ds", "quantity"]])
            continue
        if not can_backtest:
            models = [_fallback(days)]
        elif name == COMBINATION:
            kind = "smooth" if (rows["kind"] != "intermittent").any() else "intermittent"
            members = combination_members([repr(model) for model in _candidates(kind, train_days)])
            models = [_model_named(member, train_days) for member in members]
        else:
            models = [_model_named(name, train_days)]
        columns = ["unique_id", "ds", "y"]
        future = None
        if name == "AutoARIMA" and exogenous:
            columns += list(exogenous)
            future = _future_exogenous(part, exogenous, horizon, future_exogenous)
        if name == COMBINATION and kind == "smooth":
            # Intermittent series averaged without AutoETS in the backtest: fitted without it here.
            smooth_ids = rows.index[rows["kind"] != "intermittent"]
            found = _fit(
                StatsForecast, part[part["unique_id"].isin(smooth_ids)][columns], models, horizon, jobs
            )
            rest = part[~part["unique_id"].isin(smooth_ids)][columns]
            if len(rest):
                fewer = [model for model in models if repr(model) != "AutoETS"]
                found = pd.concat([found, _fit(StatsForecast, rest, fewer, horizon, jobs)], ignore_index=True)
        else:
            found = _fit(StatsForecast, part[columns], models, horizon, jobs, future)
        if name == COMBINATION and ahead is not None and GLOBAL_IN_COMBINATION:
            found = found.merge(ahead, on=["unique_id", "ds"], how="left")
        if name == COMBINATION:
            found[COMBINATION] = (
                found[[c for c in found.columns if c not in {"unique_id", "ds"}]].clip(lower=0).mean(axis=1)
            )
        frames.append(found.rename(columns={name: "quantity"})[["unique_id", "ds", "quantity"]])
    report("fit", len(by_model), max(len(by_model), 1))

    forecasts = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"unique_id": [], "ds": [], "quantity": []})
    )
    forecasts["quantity"] = forecasts["quantity"].clip(lower=0).fillna(0.0)
    summary = pd.concat(mase_parts) if mase_parts else pd.DataFrame()
    measured = [name for name in summary.columns if summary[name].notna().any()]
    means = {name: float(summary[name].mean()) for name in measured}  # float-ok: a ratio
    return ForecastResult(
        forecasts=forecasts,
        chosen=chosen,
        mase=means,
        models=sorted(set(summary.columns) | set(chosen["model"])),
        seconds=time.perf_counter() - started,
        chosen_counts={str(k): int(v) for k, v in chosen["model"].value_counts().items()},
    )


def _fit(
    engine_class: Any, frame: pd.DataFrame, models: list[Any], horizon: int, jobs: int, future: Any = None
):
    engine = engine_class(models=models, freq="D", n_jobs=jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = engine.forecast(df=frame, h=horizon, X_df=future)
    return found.reset_index() if "unique_id" not in found.columns else found


def _fallback(days: int) -> Any:
    """The forecast of a history too short to backtest: the mean of its days, by weekday (the
    seasonal window average over its whole weeks) from two weeks on."""
    from statsforecast.models import HistoricAverage, SeasonalWindowAverage

    if days >= 2 * SEASON:
        return SeasonalWindowAverage(season_length=SEASON, window_size=days // SEASON)
    return HistoricAverage()


def _future_exogenous(
    part: pd.DataFrame, exogenous: Sequence[str], horizon: int, given: pd.DataFrame | None
) -> pd.DataFrame:
    """The exogenous values over the horizon: the caller's, or each series' last value carried on."""
    pd, _ = require()
    if given is not None:
        return given[given["unique_id"].isin(part["unique_id"].unique())][["unique_id", "ds", *exogenous]]
    last = part.groupby("unique_id").tail(1)
    rows = []
    for step in range(1, horizon + 1):
        ahead = last[["unique_id", "ds", *exogenous]].copy()
        ahead["ds"] = ahead["ds"] + pd.Timedelta(days=step)
        rows.append(ahead)
    return pd.concat(rows, ignore_index=True).sort_values(["unique_id", "ds"])
