"""The global gradient-boosted forecaster on small panels made here (decision 0088): it carries a
level across series that no local model can see, and a forecast made at a cutoff never reads a day
after it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("statsforecast")

from retailcore.analytics.forecasts import forecasting as f
from retailcore.analytics.forecasts import global_model as g

START = pd.Timestamp("2026-01-05")  # a Monday
WEEK = np.array([0.8, 0.9, 0.9, 1.0, 1.2, 1.5, 0.7])
SMALL = g.GlobalSettings(max_iter=80, min_samples_leaf=20)


def _panel(levels: dict[str, float], stores: int, days: int, launches: dict[tuple[str, int], int], seed: int):
    """Poisson demand per item x store at the item's level and the weekday's factor; an item sells
    nothing in a store before its launch day there."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(START, periods=days, freq="D")
    factor = WEEK[ds.dayofweek.to_numpy()]
    frames = []
    for item, level in levels.items():
        for store in range(stores):
            y = rng.poisson(level * factor).astype(float)
            y[: launches.get((item, store), 0)] = 0.0
            frames.append(pd.DataFrame({"unique_id": f"{item}@S{store}", "ds": ds, "y": y, "price": 2.0}))
    return pd.concat(frames, ignore_index=True)


def test_an_item_launched_late_in_a_store_is_forecast_at_its_siblings_level():
    levels = {f"I{i}": level for i, level in enumerate([2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0])}
    days, horizon = 154, 14
    # In the last store every item was launched late, at different days; I7 a week before the end:
    # its siblings in the three other stores show the level (12 a day) it is heading for.
    launches = {(item, 3): 35 + 14 * i for i, item in enumerate(levels)}
    launches[("I7", 3)] = days - 7
    history = _panel(levels, 4, days, launches, seed=5)
    static = g.static_from_ids(sorted(history["unique_id"].unique()))
    future_days = pd.date_range(START + pd.Timedelta(days=days), periods=horizon, freq="D")
    truth = 12.0 * WEEK[future_days.dayofweek.to_numpy()]

    found = g.global_forecast(history, horizon=horizon, static=static, settings=SMALL)
    late = found[found["unique_id"] == "I7@S3"].sort_values("ds")
    local = f.forecast_series(history[history["unique_id"] == "I7@S3"], horizon=horizon, n_jobs=1)

    global_error = np.abs(late[g.GLOBAL].to_numpy() - truth).mean()
    local_error = np.abs(local.forecasts.sort_values("ds")["quantity"].to_numpy() - truth).mean()
    # The local models average a week of sales over 28 days; the global one reads the siblings.
    assert late[g.GLOBAL].mean() > 1.3 * local.forecasts["quantity"].mean()
    assert global_error < 0.8 * local_error


def test_a_forecast_at_a_cutoff_never_reads_a_later_day():
    levels = {"A": 3.0, "B": 6.0, "C": 1.0}
    history = _panel(levels, 3, 84, {("C", 2): 60}, seed=9)
    static = g.static_from_ids(sorted(history["unique_id"].unique()))
    cutoff = history["ds"].max() - pd.Timedelta(days=7)
    perturbed = history.copy()
    later = perturbed["ds"] > cutoff
    rng = np.random.default_rng(1)
    perturbed.loc[later, "y"] = rng.integers(0, 500, int(later.sum())).astype(float)
    perturbed.loc[later, "price"] = 99.0

    before = g.global_backtest(history, horizon=7, windows=1, static=static, settings=SMALL)
    after = g.global_backtest(perturbed, horizon=7, windows=1, static=static, settings=SMALL)

    assert (before["cutoff"] == cutoff).all()
    assert len(before) == 9 * 7
    pd.testing.assert_frame_equal(before, after)
    # A change on the cutoff day itself does change the forecast: the comparison can see one.
    on_cutoff = history.copy()
    on_cutoff.loc[on_cutoff["ds"] == cutoff, "y"] += 40.0
    moved = g.global_backtest(on_cutoff, horizon=7, windows=1, static=static, settings=SMALL)
    assert not np.allclose(before[g.GLOBAL], moved[g.GLOBAL])


def test_a_run_with_the_global_model_scores_and_can_choose_it():
    levels = {"A": 3.0, "B": 6.0, "C": 9.0}
    history = _panel(levels, 3, 56, {}, seed=2)
    result = f.forecast_series(history, horizon=7, n_jobs=1, global_model=True)

    assert g.GLOBAL in result.mase
    assert len(result.forecasts) == 9 * 7
    assert (result.forecasts["quantity"] >= 0).all()
    # The combination (the default choice) now averages the global model too.
    assert f.GLOBAL in f.combination_members(["SeasonalNaive", "TSB", f.GLOBAL])
