"""Forecast quality by rolling-origin backtest (docs/intelligence.md, "Forecasting"; issue 22).

On the real M5 subset (280 Walmart item-store series, /work/shared/datasets/m5_subset), on the real UCI
Online Retail file (``--source online-retail``: the daily units of its best-selling products, one web
shop), or with ``--database-url URL --company CODE`` on a company's own demand history (a simulated one):

* statsforecast's ``cross_validation`` over the last ``--windows`` windows of ``--horizon`` days;
* MASE per series and model on the **last** window, scaled by the in-sample MAE of the lag-7 seasonal
  naive forecast on everything before that window (the README's protocol for M5: its reference
  figures for the seasonal naive are checked and printed), and again on the days since the series'
  first sale only (the M5 guide's scale); its mean and median over series, and the pooled MASE (the
  sum of the series' MAE over the sum of their scales);
* the per-series **chosen** model is picked on the earlier windows only (lowest MAE there) and scored
  on the last one, so the choice is never scored on the data it was picked on.

On M5 the exogenous columns are the week's price, the state's SNAP day and the calendar's event flag,
given to AutoARIMA (the one candidate that reads them) when ``--arima N`` asks for it on the N
highest-volume smooth series: it takes over a minute per 730-day series, so it is off by default.

    .venv/bin/python benchmarks/forecast_quality.py                      # M5, table + plot
    .venv/bin/python benchmarks/forecast_quality.py --source online-retail --top 200
    .venv/bin/python benchmarks/forecast_quality.py --database-url sqlite:///demo.db --company DEMO
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from retailcore.analytics.forecasts import forecasting as f
from retailcore.analytics.forecasts import global_model as g

DATASETS = Path(os.environ.get("RETAILCORE_DATASETS", "/work/shared/datasets"))
M5 = DATASETS / "m5_subset"
ONLINE_RETAIL = DATASETS / "online_retail" / "online_retail.csv.gz"
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "img" / "intelligence"
PLOT = IMAGES / "forecast_m5.png"
PLOT_ONLINE_RETAIL = IMAGES / "forecast_online_retail.png"
PRODUCT_CODE = r"^\d{5}[A-Za-z]{0,2}$"
"""Online Retail's product codes; the others are postage, fees, discounts, manual lines and vouchers."""
TRAIN_END = 1913
README_SNAIVE = (1.5278, 1.1056)


def load_m5(train_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The full history (for MASE scales) and the last ``train_days`` with the exogenous columns."""
    sales = pd.read_csv(M5 / "sales_train_validation_subset.csv.gz")
    calendar = pd.read_csv(M5 / "calendar.csv.gz", parse_dates=["date"])
    prices = pd.read_csv(M5 / "sell_prices_subset.csv.gz")
    keys = ["id", "item_id", "store_id", "state_id"]
    long = sales[keys + [f"d_{i}" for i in range(1, TRAIN_END + 1)]].melt(
        id_vars=keys, var_name="d", value_name="y"
    )
    long = long.merge(
        calendar[["d", "date", "wm_yr_wk", "snap_CA", "snap_TX", "snap_WI", "event_name_1"]], on="d"
    )
    long["snap"] = np.select(
        [long["state_id"] == "CA", long["state_id"] == "TX"],
        [long["snap_CA"], long["snap_TX"]],
        long["snap_WI"],
    )
    long["event"] = long["event_name_1"].notna().astype(int)
    long = long.merge(prices, on=["store_id", "item_id", "wm_yr_wk"], how="left")
    long = long.rename(columns={"id": "unique_id", "date": "ds", "sell_price": "price"})
    long = long.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    long["price"] = long.groupby("unique_id")["price"].transform(lambda p: p.ffill().bfill())
    full = long[["unique_id", "ds", "y", "price", "snap", "event"]].astype({"y": float})
    cutoff = full["ds"].max() - pd.Timedelta(days=train_days - 1)
    return full, full[full["ds"] >= cutoff].reset_index(drop=True)


def load_online_retail(top: int, held_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily units per product of the UCI Online Retail file, one series per stock code.

    A day's demand is its invoiced units net of that day's cancellations (``C`` invoices), floored at
    zero: the file's largest lines (80,995 and 74,215 units) were cancelled the same day and are not
    demand. Days without an invoice (Saturdays, holidays) are zeros, which the lag-7 season carries.
    The ``top`` products are the best sellers *before* the backtest's ``held_days``, so the choice of
    series never sees the days it is scored on.
    """
    lines = pd.read_csv(ONLINE_RETAIL, dtype={"InvoiceNo": str, "StockCode": str})
    lines = lines[
        lines["StockCode"].str.match(PRODUCT_CODE)
        & ~lines["InvoiceNo"].str.startswith("A")
        & ((lines["UnitPrice"] > 0) | lines["InvoiceNo"].str.startswith("C"))
    ]
    lines["ds"] = pd.to_datetime(lines["InvoiceDate"]).dt.normalize()
    lines["unique_id"] = lines["StockCode"].str.upper()
    daily = lines.groupby(["unique_id", "ds"], as_index=False)["Quantity"].sum()
    daily["y"] = daily["Quantity"].clip(lower=0).astype(float)
    days = pd.date_range(daily["ds"].min(), daily["ds"].max(), freq="D")
    before = daily[daily["ds"] < days[-held_days]]
    chosen = before.groupby("unique_id")["y"].sum().nlargest(top).index
    grid = pd.MultiIndex.from_product([sorted(chosen), days], names=["unique_id", "ds"])
    full = (
        daily[daily["unique_id"].isin(chosen)]
        .set_index(["unique_id", "ds"])[["y"]]
        .reindex(grid, fill_value=0.0)
        .reset_index()
    )
    return full, full


def load_company(url: str, code: str, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sqlalchemy import func, select

    from retailcore.adapters.db import make_engine, make_session_factory
    from retailcore.analytics.forecasts.history import demand_history
    from retailcore.masterdata.tables import Company
    from retailcore.orders.tables import OrderRow

    factory = make_session_factory(make_engine(url))
    with factory() as session:
        company = session.scalars(select(Company).where(Company.code == code)).one()
        last = session.scalar(select(func.max(OrderRow.ordered_at)).where(OrderRow.company_id == company.id))
        history = demand_history(session, company.id, as_of=last.date(), days=days)
    return history.frame, history.frame


def evaluate(
    full: pd.DataFrame,
    train: pd.DataFrame,
    *,
    horizon: int,
    windows: int,
    exogenous: list[str],
    arima: int,
    n_jobs: int,
    global_settings: g.GlobalSettings | None = None,
    with_global: bool = f.GLOBAL_IN_COMBINATION,
    static: pd.DataFrame | None = None,
    known: tuple[str, ...] = (),
) -> tuple[dict, pd.DataFrame, pd.Series, pd.Series, dict[str, float]]:
    """Per series: held-out MASE of every model and of the chosen one; also the backtest itself.
    With ``global_settings``, the global model is one more candidate (in the combination if
    ``with_global``), trained per cutoff on the days up to it."""
    kinds = f.classify(train, exogenous, arima)
    parts, timings = [], {}
    found_global = None
    if global_settings is not None:
        started = time.perf_counter()
        found_global = g.global_backtest(
            train,
            horizon=horizon,
            windows=windows,
            static=static,
            known=known,
            price="price" if "price" in train.columns else None,
            settings=global_settings,
        )
        timings["global"] = time.perf_counter() - started
    for kind in sorted(kinds.unique()):
        ids = kinds.index[kinds == kind]
        models = f._candidates(kind, train["ds"].nunique() - horizon * windows)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv = f.backtest(
                train[train["unique_id"].isin(ids)],
                models,
                horizon=horizon,
                windows=windows,
                n_jobs=n_jobs,
                exogenous=exogenous if kind == "long" else (),
            )
        timings[kind] = time.perf_counter() - started
        names = [repr(model) for model in models]
        if found_global is not None:
            cv = cv.merge(found_global, on=["unique_id", "ds", "cutoff"], how="left")
            names.append(g.GLOBAL)
        f.add_combination(cv, names, with_global)
        parts.append(cv)
    cv = pd.concat(parts, ignore_index=True)
    names = [c for c in cv.columns if c not in {"unique_id", "ds", "cutoff", "y", "index"}]
    cutoffs = sorted(cv["cutoff"].unique())
    held, earlier = cv[cv["cutoff"] == cutoffs[-1]], cv[cv["cutoff"] < cutoffs[-1]]
    before = cutoffs[-1] + pd.Timedelta(days=1)
    # Two scales: the whole history before the held-out window (the README's protocol), and only the
    # days since the series' first sale (the M5 competition's guide: a product not yet launched has no
    # naive error to compare with).
    active = full[full.groupby("unique_id")["y"].cumsum() > 0]
    scales = {
        "all": f.seasonal_naive_scale(full, before=before),
        "active": f.seasonal_naive_scale(active, before=before),
    }
    picking, _ = f.score(earlier, scales["all"], names)
    chosen = f.choose(picking, picking)
    # The earlier windows' MASE is what settings are chosen on; the held-out window only reports.
    scored: dict = {"earlier": picking}
    for label, scale in scales.items():
        mase, mae = f.score(held, scale, names)
        mase["chosen"] = [mase.at[uid, model] for uid, model in chosen.items()]
        mae["chosen"] = [mae.at[uid, model] for uid, model in chosen.items()]
        # Each model's pooled MASE over the series it was scored on (AutoETS: the smooth ones only).
        weights = scale.reindex(mae.index)
        scored[label] = (
            mase,
            pd.Series({name: mae[name].sum() / weights[mae[name].notna()].sum() for name in mae}),
        )
    return scored, cv, chosen, kinds, timings


def groups(ids: np.ndarray, args: argparse.Namespace) -> pd.DataFrame | None:
    """The groups a series shares with its siblings, for the global model: M5's item, department
    and store (read from its id, ``HOBBIES_1_115_CA_1_validation``); a company's product and store;
    none for Online Retail (one shop, one series per product)."""
    if args.database_url:
        return g.static_from_ids(list(ids))
    if args.source != "m5":
        return None
    parts = [str(uid).split("_") for uid in ids]
    return pd.DataFrame(
        {
            "item": ["_".join(p[:3]) for p in parts],
            "dept": ["_".join(p[:2]) for p in parts],
            "store": ["_".join(p[3:5]) for p in parts],
        },
        index=pd.Index(ids, name="unique_id"),
    )


def table(scored: dict, chosen: pd.Series, kinds: pd.Series) -> str:
    mase, pooled = scored["all"]
    active = scored["active"][0]
    lines = [
        "| Model | Series scored | Mean MASE | Median MASE | Pooled MASE | Mean MASE, active scale"
        " | Series where chosen |",
        "|---|---|---|---|---|---|---|",
    ]
    counts = chosen.value_counts()
    for name in [c for c in mase.columns if c != "chosen"] + ["chosen"]:
        column = mase[name].dropna()
        label = "**Chosen per series** (picked on earlier windows)" if name == "chosen" else name
        picked = len(chosen) if name == "chosen" else int(counts.get(name, 0))
        lines.append(
            f"| {label} | {len(column)} | {column.mean():.3f} | {column.median():.3f} | {pooled[name]:.3f}"
            f" | {active[name].mean():.3f} | {picked} |"
        )
    by_kind = mase.groupby(kinds.reindex(mase.index))[["SeasonalNaive", "chosen"]].agg(["mean", "median"])
    sizes = kinds.reindex(mase.index).value_counts()
    lines += [
        "",
        "| Demand class (last 13 weeks) | Series | Seasonal naive mean / median | Chosen mean / median |",
    ]
    lines.append("|---|---|---|---|")
    for kind, row in by_kind.iterrows():
        naive = f"{row[('SeasonalNaive', 'mean')]:.3f} / {row[('SeasonalNaive', 'median')]:.3f}"
        best = f"{row[('chosen', 'mean')]:.3f} / {row[('chosen', 'median')]:.3f}"
        lines.append(f"| {kind} | {sizes[kind]} | {naive} | {best} |")
    return "\n".join(lines)


def plot(train: pd.DataFrame, cv: pd.DataFrame, chosen: pd.Series, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    last = cv["cutoff"].max()
    volume = train.groupby("unique_id")["y"].sum().sort_values(ascending=False)
    picks = [
        volume.index[0],
        volume.index[len(volume) // 4],
        volume.index[len(volume) // 2],
        volume.index[-len(volume) // 5],
    ]
    fig, axes = plt.subplots(len(picks), 1, figsize=(9, 2.4 * len(picks)), sharex=False)
    for ax, uid in zip(axes, picks, strict=True):
        actual = train[(train["unique_id"] == uid) & (train["ds"] > last - pd.Timedelta(days=56))]
        window = cv[(cv["unique_id"] == uid) & (cv["cutoff"] == last)]
        model = chosen[uid]
        ax.plot(actual["ds"], actual["y"], color="black", linewidth=1, label="actual units")
        ax.plot(window["ds"], window[model], color="tab:blue", linewidth=2, label=f"chosen: {model}")
        ax.plot(
            window["ds"], window["SeasonalNaive"], color="tab:orange", linestyle="--", label="seasonal naive"
        )
        ax.axvline(last, color="grey", linewidth=0.8)
        ax.set_title(str(uid), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", choices=["m5", "online-retail"], default="m5", help="The real data to measure on."
    )
    parser.add_argument("--top", type=int, default=200, help="Online Retail: the best-selling N products.")
    parser.add_argument("--database-url", help="Measure a company's own history instead of M5.")
    parser.add_argument("--company", help="The company's code (with --database-url).")
    parser.add_argument("--train-days", type=int, default=730, help="M5: days of history models see.")
    parser.add_argument("--horizon", type=int, help="Days per window (M5: 28; a company: 7).")
    parser.add_argument("--windows", type=int, default=3, help="Backtest windows (the last one is held out).")
    parser.add_argument("--arima", type=int, default=0, help="Try AutoARIMA with exogenous on N series.")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--global-model", action="store_true", help="Add the global GBM (decision 0088).")
    parser.add_argument(
        "--global-in-combination",
        choices=["yes", "no"],
        default="yes" if f.GLOBAL_IN_COMBINATION else "no",
        help="Whether the global model joins the combination.",
    )
    parser.add_argument("--loss", default=g.GlobalSettings.loss, help="The global model's loss.")
    parser.add_argument("--min-samples-leaf", type=int, default=g.GlobalSettings.min_samples_leaf)
    parser.add_argument("--max-iter", type=int, default=g.GlobalSettings.max_iter)
    parser.add_argument("--no-cross-series", action="store_true", help="Without the groups' levels.")
    parser.add_argument("--no-codes", action="store_true", help="Without the group codes.")
    parser.add_argument("--plot", type=Path, help=f"Where to draw forecasts against actuals (M5: {PLOT}).")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.database_url:
        if not args.company:
            parser.error("--company is required with --database-url")
        full, train = load_company(args.database_url, args.company, 91)
        horizon, exogenous, source = args.horizon or 7, ["price", "promo"], f"company {args.company}"
    elif args.source == "online-retail":
        horizon = args.horizon or 28
        full, train = load_online_retail(args.top, horizon * args.windows)
        exogenous, source = [], f"UCI Online Retail ({train['unique_id'].nunique()} best-selling products)"
        if args.plot is None:
            args.plot = PLOT_ONLINE_RETAIL
    else:
        full, train = load_m5(args.train_days)
        horizon, exogenous, source = args.horizon or 28, ["price", "snap", "event"], "M5 subset (280 series)"
        if args.plot is None:
            args.plot = PLOT
    settings = None
    if args.global_model:
        settings = g.GlobalSettings(
            loss=args.loss,
            min_samples_leaf=args.min_samples_leaf,
            max_iter=args.max_iter,
            cross_series=not args.no_cross_series,
            categorical=not args.no_codes,
        )
    scored, cv, chosen, kinds, timings = evaluate(
        full,
        train,
        horizon=horizon,
        windows=args.windows,
        exogenous=exogenous,
        arima=args.arima,
        n_jobs=args.n_jobs,
        global_settings=settings,
        with_global=args.global_in_combination == "yes",
        static=groups(train["unique_id"].unique(), args),
        known=("snap", "event") if not args.database_url and args.source == "m5" else (),
    )
    print(
        f"{source}: {train['unique_id'].nunique()} series, {train['ds'].nunique()} days of history,"
        f" {args.windows} windows of {horizon} days, last one held out"
    )
    if not args.database_url and args.source == "m5":
        # The README's reference: the last 28 days held out, scaled on the whole history before them.
        naive = scored["all"][0]["SeasonalNaive"]
        print(
            f"seasonal naive check: mean {naive.mean():.4f} median {naive.median():.4f}"
            f" (README: {README_SNAIVE[0]} / {README_SNAIVE[1]})"
        )
    print(table(scored, chosen, kinds))
    earlier = scored["earlier"]
    print(
        "earlier windows (where choices and settings are made), mean MASE: "
        + ", ".join(f"{name} {earlier[name].mean():.3f}" for name in earlier.columns)
    )
    print(
        f"backtest seconds per class: {', '.join(f'{k} {v:.1f}' for k, v in timings.items())};"
        f" total {time.perf_counter() - started:.1f} s; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC;"
        f" load {os.getloadavg()[0]:.2f}"
    )
    if args.plot:
        plot(train, cv, chosen, args.plot, f"{source}: held-out window, chosen model vs seasonal naive")
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
