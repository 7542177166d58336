"""The forecaster on small series made here: a weekly pattern is forecast within tolerance, an
intermittent series gets a model that beats the seasonal naive baseline (the combination unless a
candidate beats it by the margin), the backtest
sigma and MASE are what they claim, and history too short to backtest still gets a forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("statsforecast")

from retailcore.analytics.forecasts import forecasting as f

WEEK = np.array([4.0, 5.0, 5.0, 6.0, 9.0, 14.0, 8.0])
START = pd.Timestamp("2026-01-05")  # a Monday


def _frame(uid: str, values: np.ndarray) -> pd.DataFrame:
    days = pd.date_range(START, periods=len(values), freq="D")
    return pd.DataFrame({"unique_id": uid, "ds": days, "y": values, "price": 1.0, "promo": 0})


def test_a_weekly_pattern_is_forecast_within_tolerance():
    rng = np.random.default_rng(7)
    values = np.tile(WEEK, 6) + rng.normal(0, 0.3, 42)
    result = f.forecast_series(_frame("weekly", values), horizon=7, n_jobs=1)

    forecast = result.forecasts.sort_values("ds")
    expected = np.tile(WEEK, 7)[42:49]
    assert len(forecast) == 7
    assert forecast["ds"].iloc[0] == START + pd.Timedelta(days=42)
    assert np.abs(forecast["quantity"].to_numpy() - expected).max() < 1.5
    chosen = result.chosen.loc["weekly"]
    assert chosen["kind"] == "smooth"
    assert chosen["mase"] < 1  # better than repeating last week
    assert 0 < chosen["sigma"] < 1.5


def test_an_intermittent_series_gets_a_model_that_beats_the_seasonal_naive():
    rng = np.random.default_rng(3)
    values = (rng.random(56) < 0.25) * rng.integers(1, 4, 56)
    result = f.forecast_series(_frame("slow", values.astype(float)), horizon=7, n_jobs=1)

    chosen = result.chosen.loc["slow"]
    assert chosen["kind"] == "intermittent"
    assert chosen["model"] in {"Combination", "TSB", "WindowAverage", "SeasWA"}
    assert chosen["mase"] < result.mase["SeasonalNaive"]
    assert "AutoETS" not in result.mase  # not tried on intermittent series
    quantities = result.forecasts["quantity"]
    assert (quantities >= 0).all() and 0 < quantities.mean() < 2


def test_the_classes_follow_the_interval_between_demands():
    frame = pd.concat(
        [
            _frame("daily", np.ones(28)),
            _frame("rare", np.r_[np.zeros(27), 5.0]),
            _frame("never", np.zeros(28)),
        ]
    )
    kinds = f.classify(frame)
    assert kinds.to_dict() == {"daily": "smooth", "never": "intermittent", "rare": "intermittent"}


def test_mase_is_the_backtest_error_over_the_in_sample_seasonal_naive_error():
    cv = pd.DataFrame({"unique_id": ["a", "a"], "y": [4.0, 6.0], "M": [5.0, 4.0]})
    scale = pd.Series({"a": 2.0})
    mase, mae = f.score(cv, scale, ["M"])
    assert mae.loc["a", "M"] == pytest.approx(1.5)
    assert mase.loc["a", "M"] == pytest.approx(0.75)


def test_the_combination_is_kept_unless_a_model_beats_it_by_the_margin():
    mase = pd.DataFrame(
        {"SeasonalNaive": [0.5, 0.85, 1.0], "TSB": [0.9, 0.9, 1.2], "Combination": [1.0, 1.0, 1.1]},
        index=["much_better", "slightly_better", "worse"],
    )
    chosen = f.choose(mase, mase)
    assert chosen.to_dict() == {
        "much_better": "SeasonalNaive",
        "slightly_better": "Combination",
        "worse": "Combination",
    }
    assert f.choose(mase.drop(columns="Combination"), mase)["worse"] == "SeasonalNaive"


def test_the_combination_is_the_mean_of_its_members_clipped_at_zero():
    cv = pd.DataFrame({"SeasonalNaive": [9.0], "TSB": [1.0], "WindowAverage": [-1.0], "AutoETS": [5.0]})
    names = f.add_combination(cv, ["SeasonalNaive", "TSB", "WindowAverage", "AutoETS"])
    assert names[-1] == "Combination"
    assert cv["Combination"].iloc[0] == pytest.approx(2.0)


def test_a_combination_forecast_is_the_mean_of_its_members_fitted_on_the_whole_history(monkeypatch):
    from statsforecast import StatsForecast

    monkeypatch.setattr(f, "CHOICE_MARGIN", 1.0)  # nothing beats the combination by 100 %
    rng = np.random.default_rng(11)
    weekly = np.tile(WEEK, 6) + rng.normal(0, 0.5, 42)
    slow = ((rng.random(42) < 0.3) * rng.integers(1, 4, 42)).astype(float)
    frame = pd.concat([_frame("weekly", weekly), _frame("slow", slow)])
    result = f.forecast_series(frame, horizon=5, n_jobs=1)

    assert set(result.chosen["model"]) == {"Combination"}
    train_days = 42 - f.BACKTEST_HORIZON * f.BACKTEST_WINDOWS
    for uid, kind in (("weekly", "smooth"), ("slow", "intermittent")):
        assert result.chosen.at[uid, "kind"] == kind
        members = [m for m in f._candidates(kind, train_days) if repr(m) != "SeasonalNaive"]
        direct = StatsForecast(models=members, freq="D").forecast(
            df=frame[frame["unique_id"] == uid][["unique_id", "ds", "y"]], h=5
        )
        expected = direct[[repr(m) for m in members]].clip(lower=0).mean(axis=1).to_numpy()
        got = result.forecasts[result.forecasts["unique_id"] == uid].sort_values("ds")["quantity"]
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-6)


def test_two_weeks_get_the_average_of_each_weekday_without_a_backtest():
    noisy = np.concatenate([WEEK + 2, WEEK - 2])  # the same week, 2 above then 2 below
    result = f.forecast_series(_frame("new", noisy), horizon=3, n_jobs=1)

    chosen = result.chosen.loc["new"]
    assert chosen["model"] == "SeasWA"
    assert np.isnan(chosen["mase"])
    np.testing.assert_allclose(result.forecasts["quantity"].to_numpy(), WEEK[:3])
    assert chosen["sigma"] == pytest.approx(2 * np.sqrt(14 / 13))  # +-2 around each weekday's mean


def test_under_two_weeks_the_level_is_the_mean_of_the_days_not_the_last_one():
    days = np.array([0, 0, 6, 0, 0, 3, 0], dtype=float)  # a slow mover whose last day sold nothing
    result = f.forecast_series(_frame("slow", days), horizon=2, n_jobs=1)

    assert result.chosen.loc["slow", "model"] == "HistoricAverage"
    np.testing.assert_allclose(result.forecasts["quantity"].to_numpy(), [9 / 7, 9 / 7])


def test_a_missing_extra_is_named(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_statsforecast(name, *args, **kwargs):
        if name == "statsforecast":
            raise ImportError(name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_statsforecast)
    with pytest.raises(f.IntelligenceMissing) as raised:
        f.require()
    assert "pip install 'retailcore[intelligence]'" in str(raised.value)


def test_autoarima_is_tried_only_on_long_smooth_series_whose_exogenous_move():
    values = np.tile(WEEK, 9)[:60]
    moving = _frame("moving", values).assign(price=np.r_[np.full(30, 2.0), np.full(30, 1.5)])
    flat = _frame("flat", values)
    short = _frame("short", values[:30]).assign(price=np.r_[np.full(15, 2.0), np.full(15, 1.5)])
    frame = pd.concat([moving, flat, short])

    assert f.classify(frame, ("price", "promo"), arima_limit=5).to_dict() == {
        "flat": "smooth",
        "moving": "long",
        "short": "smooth",
    }
    assert set(f.classify(frame, ("price", "promo"), arima_limit=0)) == {"smooth"}
    assert "AutoARIMA" in [repr(model) for model in f._candidates("long")]
    assert "AutoARIMA" not in [repr(model) for model in f._candidates("smooth")]
