"""The forecast variants tried on M5 before the product's choice (docs/intelligence.md, "Forecasting").

Every candidate is one of statsforecast's models, backtested once on the M5 subset (the last
``--windows`` windows of 28 days, the last one held out, as ``forecast_quality.py`` does); the
variants are then read from that one backtest:

* each model alone, and combinations (the mean or median of some models' forecasts, a column mean);
* a per-series choice among a set of candidates, picked on the earlier windows only, optionally
  keeping the combination unless a candidate beats it by a margin (what the product does);
* a per-class choice (one model for all intermittent series, one for all smooth ones);
* two oracles that see the held-out window, as bounds: the best model per series, and the best
  constant (the held-out median).

MASE is scaled as in ``forecast_quality.py`` (the README's in-sample seasonal-naive MAE of the whole
history before the held-out window). ``--train-days 365`` fits on the last year only (the scale still
from the full history).

    .venv/bin/python benchmarks/forecast_variants.py                  # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/forecast_variants.py --train-days 365
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings

import pandas as pd
from forecast_quality import load_m5
from statsforecast.models import (
    ADIDA,
    IMAPA,
    MSTL,
    TSB,
    AutoCES,
    AutoETS,
    AutoTheta,
    CrostonClassic,
    CrostonOptimized,
    CrostonSBA,
    HistoricAverage,
    Naive,
    SeasonalNaive,
    SeasonalWindowAverage,
    WindowAverage,
)

from retailcore.analytics.forecasts import forecasting as f

HORIZON = 28
CHEAP = ["TSB(.1,.1)", "WindowAverage(28)", "SeasWA(7x4)"]
PRODUCT_INTERMITTENT = ["SeasonalNaive", *CHEAP, "Combination"]
PRODUCT_SMOOTH = ["SeasonalNaive", *CHEAP, "AutoETS", "Combination(+ETS)"]


def models() -> list:
    named = {
        "SeasonalNaive": SeasonalNaive(7),
        "Naive": Naive(),
        "HistoricAverage": HistoricAverage(),
        "WindowAverage(7)": WindowAverage(7),
        "WindowAverage(28)": WindowAverage(28),
        "WindowAverage(56)": WindowAverage(56),
        "SeasWA(7x4)": SeasonalWindowAverage(7, 4),
        "SeasWA(7x8)": SeasonalWindowAverage(7, 8),
        "CrostonOptimized": CrostonOptimized(),
        "CrostonClassic": CrostonClassic(),
        "CrostonSBA": CrostonSBA(),
        "ADIDA": ADIDA(),
        "IMAPA": IMAPA(),
        "TSB(.1,.1)": TSB(0.1, 0.1),
        "TSB(.2,.05)": TSB(0.2, 0.05),
        "AutoETS": AutoETS(season_length=7, model=f.ETS_SPACE),
        "AutoTheta": AutoTheta(season_length=7),
    }
    for name, model in named.items():
        model.alias = name
    return list(named.values())


def scored_alone() -> list:
    """Tried, but left out of the combinations and choices: worse alone than the models above."""
    decomposed = MSTL(season_length=7, trend_forecaster=AutoETS(model="ZNN"))
    decomposed.alias = "MSTL(7, ETS trend)"
    complex_smoothing = AutoCES(season_length=7)
    complex_smoothing.alias = "AutoCES"
    return [decomposed, complex_smoothing]


COMBINATIONS = {
    "Combination": ("mean", CHEAP),
    "Combination(+ETS)": ("mean", [*CHEAP, "AutoETS"]),
    "mean(WindowAverage(28), SeasWA(7x4))": ("mean", ["WindowAverage(28)", "SeasWA(7x4)"]),
    "mean(AutoETS, ADIDA)": ("mean", ["AutoETS", "ADIDA"]),
    "mean(AutoETS, AutoTheta, ADIDA)": ("mean", ["AutoETS", "AutoTheta", "ADIDA"]),
    "mean(AutoETS, SeasWA(7x8), IMAPA, TSB)": ("mean", ["AutoETS", "SeasWA(7x8)", "IMAPA", "TSB(.1,.1)"]),
    "mean(Croston family)": ("mean", ["CrostonOptimized", "ADIDA", "IMAPA"]),
    "median(all 17 models)": ("median", None),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-days", type=int, default=730)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    full, train = load_m5(args.train_days)
    candidates = models()
    base = [model.alias for model in candidates]
    alone = [model.alias for model in scored_alone()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = f.backtest(
            train, candidates + scored_alone(), horizon=HORIZON, windows=args.windows, n_jobs=args.n_jobs
        )
    cv[base + alone] = cv[base + alone].clip(lower=0)
    for name, (how, members) in COMBINATIONS.items():
        columns = cv[members or base]
        cv[name] = columns.median(axis=1) if how == "median" else columns.mean(axis=1)
    names = base + list(COMBINATIONS)
    cutoffs = sorted(cv["cutoff"].unique())
    held, earlier = cv[cv["cutoff"] == cutoffs[-1]], cv[cv["cutoff"] < cutoffs[-1]]
    scale = f.seasonal_naive_scale(full, before=cutoffs[-1] + pd.Timedelta(days=1))
    mase, _ = f.score(held, scale, names + alone)
    _, picking = f.score(earlier, scale, names)
    kinds = f.classify(train).reindex(mase.index)
    intermittent = kinds == "intermittent"

    rows = []

    def add(label: str, per_series: pd.Series) -> None:
        pooled = (per_series * scale[per_series.index]).sum() / scale[per_series.index].sum()
        rows.append(
            f"| {label} | {per_series.mean():.3f} | {per_series.median():.3f} | {pooled:.3f}"
            f" | {per_series[intermittent].mean():.3f} | {per_series[~intermittent].mean():.3f} |"
        )

    for name in base + alone + list(COMBINATIONS):
        add(name, mase[name])

    def chosen(label: str, on_intermittent: list[str], on_smooth: list[str], margin: float) -> None:
        picks = {}
        for uid in mase.index:
            among = on_intermittent if intermittent[uid] else on_smooth
            errors = picking.loc[uid, among].astype(float)
            best, fallback = errors.idxmin(), among[-1]
            keep = margin is not None and not errors[best] < errors[fallback] * (1 - margin)
            picks[uid] = fallback if keep else best
        add(label, pd.Series({uid: mase.at[uid, model] for uid, model in picks.items()}))

    croston = ["SeasonalNaive", "CrostonOptimized", "ADIDA", "IMAPA"]
    chosen(
        "Chosen: before (SeasonalNaive, Croston family; AutoETS on smooth)",
        croston,
        [*croston, "AutoETS"],
        None,
    )
    chosen("Chosen: before, AutoETS on every series", [*croston, "AutoETS"], [*croston, "AutoETS"], None)
    chosen("Chosen: among all 17 models", base, base, None)
    chosen("Chosen: among all 17 models and the 8 combinations", names, names, None)
    for margin in (None, 0.1, 0.2, 0.3):
        label = "lowest backtest MASE" if margin is None else f"combination unless beaten by {margin:.0%}"
        chosen(f"Chosen: product candidates, {label}", PRODUCT_INTERMITTENT, PRODUCT_SMOOTH, margin)
    for label, among in (("17 models", base), ("17 models and combinations", names)):
        per_class = pd.Series(index=mase.index, dtype=float)
        picked = {}
        for kind in kinds.unique():
            ids = kinds.index[kinds == kind]
            picked[kind] = picking.loc[ids, among].mean().idxmin()
            per_class[ids] = mase.loc[ids, picked[kind]]
        add(
            f"One model per class among {label} ({', '.join(f'{k}: {v}' for k, v in picked.items())})",
            per_class,
        )
    add("Oracle: best model per series on the held-out window", mase[base].min(axis=1))
    median = held.groupby("unique_id")["y"].transform("median")
    add(
        "Oracle: the held-out median as a constant",
        (held["y"] - median).abs().groupby(held["unique_id"]).mean() / scale,
    )

    print(
        f"M5 subset: {train['unique_id'].nunique()} series, {args.train_days} days of training history,"
        f" {args.windows} windows of {HORIZON} days, last held out"
    )
    print("| Variant | Mean MASE | Median MASE | Pooled MASE | Mean, intermittent | Mean, smooth |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"{time.perf_counter() - started:.1f} s; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC;"
        f" load {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
