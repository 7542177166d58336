"""Demand forecasting with statsforecast: per-series model choice by a rolling-origin backtest.

The candidates are statsforecast's models; nothing here is a hand-written forecaster. One
``cross_validation`` pass per demand class serves two ends: the model with the lowest backtest MASE
is chosen per series, and that model's backtest errors give the series' one-day error sigma (what
replenishment sizes safety stock from). Then only the chosen model is fitted per series, on the whole
history, for the horizon.

* Intermittent series (ADI >= 1.32, Syntetos-Boylan) are scored on SeasonalNaive and the Croston
  family (CrostonOptimized, ADIDA, IMAPA); AutoETS adds little there and costs most of the time.
* Smooth series add AutoETS(7); AutoARIMA (with the exogenous columns, price and promotion) only
  for the highest-volume smooth series with at least :data:`ARIMA_MIN_DAYS` of history whose
  exogenous columns vary (:func:`classify`): it is the slowest model by far (about 2 s a series).
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
CLASSIFY_DAYS = 91
"""The demand class is read from the last 13 weeks: a product launched late or delisted for a while
is judged by how it sells now, not by its years of zeros."""
ETS_SPACE = "ZNZ"
"""AutoETS searches error and season types but no trend: four times faster than the full space, and
a month or a quarter of daily history cannot tell a trend from noise (decision 0073)."""
MIN_BACKTEST_DAYS = BACKTEST_HORIZON * BACKTEST_WINDOWS + 2 * SEASON
"""Below this, a series has too little history to backtest: it gets the seasonal naive forecast."""
BASELINE = "SeasonalNaive"
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


def _candidates(kind: str) -> list[Any]:
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        AutoARIMA,
        AutoETS,
        CrostonOptimized,
        SeasonalNaive,
    )

    models: list[Any] = [SeasonalNaive(season_length=SEASON), CrostonOptimized(), ADIDA(), IMAPA()]
    if kind != "intermittent":
        models.append(AutoETS(season_length=SEASON, model=ETS_SPACE))
    if kind == "long":
        models.append(AutoARIMA(season_length=SEASON))
    return models


def _model_named(name: str) -> Any:
    for model in _candidates("long"):
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
    # window). The Croston family cannot be updated that way; it is cheap to refit.
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
    """The model with the lowest MASE per series (by MAE where MASE is undefined); ties go to the
    earlier model in the column order (the baseline and the Croston family before AutoETS)."""
    ranked = mase.where(mase.notna(), mae)
    return ranked.fillna(math.inf).idxmin(axis=1)


def forecast_series(
    history: pd.DataFrame,
    *,
    horizon: int,
    exogenous: Sequence[str] = (),
    future_exogenous: pd.DataFrame | None = None,
    arima_limit: int = ARIMA_LIMIT,
    n_jobs: int | None = None,
    report: Report = _noop,
) -> ForecastResult:
    """Backtest, choose, fit and forecast every series of ``history`` (``unique_id, ds, y`` and the
    ``exogenous`` columns, one row per day, no gaps). ``future_exogenous`` gives the exogenous values
    over the horizon (AutoARIMA needs them); without it, the last known value is carried forward."""
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
    groups = sorted(kinds.unique()) if can_backtest else []
    for done, kind in enumerate(groups):
        report("backtest", done, len(groups))
        ids = kinds.index[kinds == kind]
        models = _candidates(kind)
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
        # Too short to backtest: the baseline, with the spread of its in-sample errors as sigma.
        lagged = history.groupby("unique_id")["y"].shift(SEASON if days > SEASON else 1)
        spread = (history["y"] - lagged).groupby(history["unique_id"]).std(ddof=1)
        chosen = pd.DataFrame(
            {"model": BASELINE if days > SEASON else "Naive", "sigma": spread, "mase": np.nan, "kind": kinds}
        )
    chosen["sigma"] = chosen["sigma"].fillna(0.0)
    chosen.index.name = "unique_id"

    by_model = list(chosen.groupby("model"))
    frames = []
    for done, (name, rows) in enumerate(by_model):
        report("fit", done, len(by_model))
        part = history[history["unique_id"].isin(rows.index)]
        model = _fallback(name) if name == "Naive" else _model_named(name)
        columns = ["unique_id", "ds", "y"]
        future = None
        if name == "AutoARIMA" and exogenous:
            columns += list(exogenous)
            future = _future_exogenous(part, exogenous, horizon, future_exogenous)
        engine = StatsForecast(models=[model], freq="D", n_jobs=jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = engine.forecast(df=part[columns], h=horizon, X_df=future)
        found = found.reset_index() if "unique_id" not in found.columns else found
        frames.append(found.rename(columns={name: "quantity"})[["unique_id", "ds", "quantity"]])
    report("fit", len(by_model), max(len(by_model), 1))

    forecasts = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"unique_id": [], "ds": [], "quantity": []})
    )
    forecasts["quantity"] = forecasts["quantity"].clip(lower=0).fillna(0.0)
    summary = pd.concat(mase_parts) if mase_parts else pd.DataFrame()
    means = {name: float(summary[name].mean()) for name in summary.columns if summary[name].notna().any()}
    return ForecastResult(
        forecasts=forecasts,
        chosen=chosen,
        mase=means,
        models=sorted(set(summary.columns) | set(chosen["model"])),
        seconds=time.perf_counter() - started,
        chosen_counts={str(k): int(v) for k, v in chosen["model"].value_counts().items()},
    )


def _fallback(name: str) -> Any:
    from statsforecast.models import Naive

    return Naive()


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
