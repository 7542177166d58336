"""How long forecasting a 40-store month takes (issue 22: under 2 minutes on 2 cores; docs/benchmarks.md).

By default on synthetic history of that shape: ``--stores`` x ``--products`` series of ``--days`` days,
Poisson demand with a weekly pattern, promotion days and a share of slow movers (about a third
intermittent, as in a simulated month), through
:func:`retailcore.analytics.forecasts.forecasting.forecast_series`
(backtest, choice, fit). With ``--database-url URL --company CODE`` it times the whole ``retailcore
forecast run`` instead: the history read from the database, the forecast, and the stored rows (the
transaction is rolled back unless ``--keep``).

    .venv/bin/python benchmarks/forecast_speed.py --stores 40 --products 200 --days 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

import numpy as np
import pandas as pd

from retailcore.analytics.forecasts import forecasting as f

WEEK = np.array([0.8, 0.85, 0.9, 1.0, 1.2, 1.5, 0.75])


def synthetic(stores: int, products: int, days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-10-01", periods=days, freq="D")
    n = stores * products
    rate = np.exp(rng.normal(0.3, 1.2, n))  # a long tail: many slow movers, a few fast ones
    promo = rng.random((n, days)) < 0.08
    mean = rate[:, None] * WEEK[ds.dayofweek.to_numpy()][None, :] * np.where(promo, 1.6, 1.0)
    units = rng.poisson(mean).astype(float)
    ids = np.repeat([f"P{p:03d}@S{s:02d}" for s in range(stores) for p in range(products)], days)
    return pd.DataFrame(
        {
            "unique_id": ids,
            "ds": np.tile(ds, n),
            "y": units.ravel(),
            "price": 10.0,
            "promo": promo.ravel().astype(int),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=40)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--database-url")
    parser.add_argument("--company")
    parser.add_argument("--keep", action="store_true", help="Commit the run (with --database-url).")
    parser.add_argument("--global-model", action="store_true", help="Also the global GBM (decision 0088).")
    args = parser.parse_args(argv)
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def report(step: str, done: int, total: int) -> None:
        marks.setdefault(f"{step} start", time.perf_counter() - started)
        if done >= total:
            marks[f"{step} end"] = time.perf_counter() - started

    if args.database_url:
        from sqlalchemy import select

        from retailcore.access.model import system_principal
        from retailcore.adapters.db import make_engine, make_session_factory
        from retailcore.adapters.orm import utcnow
        from retailcore.analytics.forecasts.services import run_forecast
        from retailcore.eventlog.services import CommandContext
        from retailcore.masterdata.tables import Company

        factory = make_session_factory(make_engine(args.database_url))
        with factory() as session:
            company = session.scalars(select(Company).where(Company.code == args.company)).one()
            as_of = utcnow().date() - dt.timedelta(days=1)
            run = run_forecast(
                session,
                CommandContext(system_principal("bench")),
                company,
                as_of=as_of,
                horizon=args.horizon,
                n_jobs=args.n_jobs,
                global_model=args.global_model,
                report=report,
            )
            series, counts = run.series, run.summary["chosen"]
            session.commit() if args.keep else session.rollback()
        shape = f"company {args.company}: {series} series"
    else:
        history = synthetic(args.stores, args.products, args.days, args.seed)
        marks["history"] = time.perf_counter() - started
        result = f.forecast_series(
            history, horizon=args.horizon, n_jobs=args.n_jobs, global_model=args.global_model, report=report
        )
        series, counts = history["unique_id"].nunique(), result.chosen_counts
        shape = (
            f"synthetic {args.stores} stores x {args.products} products x {args.days} days: {series} series"
        )
    total = time.perf_counter() - started
    cpu = time.process_time()
    print(
        f"{shape}, horizon {args.horizon}, n_jobs {args.n_jobs}: {total:.1f} s"
        f" (this process's CPU {cpu:.1f} s)"
    )
    print("steps (s from start): " + ", ".join(f"{k} {v:.1f}" for k, v in marks.items()))
    print(f"chosen: {counts}")
    print(
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
