"""Replenishment A/B (issue 22): today's min/max rule against suggestions from demand estimates.

Runs the simulator on the same seed, start and month once per policy, each in a fresh SQLite database:
``minmax`` (store minimum/target days, warehouse reorder/target days) and ``forecast`` at each service
level (the back office suggests and accepts every day after a week on min/max; the estimator is the
baseline trailing mean unless ``--estimator`` names another). Prints lost units, lost sales at retail
value, the stock-out rate, the average inventory value at cost (daily snapshots of the stores and the
warehouse) and the POs and transfers made; ``--json`` writes the rows, ``--plot`` the trade-off (lost
sales against average inventory, one point per policy) as a PNG.

    .venv/bin/python benchmarks/replenishment_ab.py --stores 10 --days 30 --scale 0.5 \\
        --plot docs/img/intelligence/replenishment_tradeoff.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory
from retailcore.entrypoints.bootstrap import install_subscriptions
from retailcore.simulation import Options, simulate
from retailcore.simulation.profile import PROFILE


def run(policy: str, service_level: Decimal, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{directory}/ab.db")
        migrations.upgrade(engine)
        factory = make_session_factory(engine)
        profile = replace(
            PROFILE,
            replenishment=policy,
            service_level=service_level,
            review_days=args.review_days,
            estimator=args.estimator,
            run_every_days=args.run_every_days,
            store_review_days=args.store_review_days,
            class_service_levels=tuple(
                (name, Decimal(level))
                for name, level in zip("ABC", filter(None, args.abc.split(",")), strict=False)
            ),
        )
        options = Options(
            company="SIM",
            stores=args.stores,
            days=args.days,
            seed=args.seed,
            start=args.start,
            scale=Decimal(args.scale),
        )
        began = time.perf_counter()
        summary = simulate(factory, options, profile=profile)
        seconds = time.perf_counter() - began
        engine.dispose()
    assert summary is not None
    figures = summary["replenishment"]
    return {
        "policy": policy if policy == "minmax" else f"forecast {service_level}{_knobs(args)}",
        "lost_units": figures["lost_units"],
        "lost_value": figures["lost_value"],
        "stockout_rate_percent": figures["stockout_rate_percent"],
        "store_stockout_rate_percent": figures["lost_sales"]["store"]["stockout_rate_percent"],
        "average_inventory_value": figures["average_inventory_value"],
        "purchase_orders": summary["purchasing"]["orders"],
        "transfers": summary["transfers"]["shipped"],
        "revenue_net": summary["revenue_net"],
        "seconds": round(seconds, 1),
    }


def _knobs(args: argparse.Namespace) -> str:
    """The policy's label beyond its service level: the reorder point's run interval, the stores' R."""
    if not args.run_every_days and not args.store_review_days and not args.abc:
        return ""
    abc = f", ABC {args.abc}" if args.abc else ""
    return f", L+{args.run_every_days}, store R {args.store_review_days or args.review_days}{abc}"


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        x, y = float(row["average_inventory_value"]), float(row["lost_value"])
        marker, colour = ("s", "tab:red") if row["policy"] == "minmax" else ("o", "tab:blue")
        axes.scatter([x], [y], marker=marker, color=colour, s=60)
        axes.annotate(row["policy"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    # The line joins one policy's service levels: rows with settings beyond the level stand alone.
    forecast = [r for r in rows if r["policy"] != "minmax" and "," not in r["policy"]]
    if len(forecast) > 1:
        axes.plot(
            [float(r["average_inventory_value"]) for r in forecast],
            [float(r["lost_value"]) for r in forecast],
            color="tab:blue",
            alpha=0.4,
        )
    axes.set_xlabel("average inventory value at cost (stores + warehouse)")
    axes.set_ylabel("lost sales at retail value")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", default="1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    parser.add_argument("--service-levels", default="0.90,0.95,0.98,0.99")
    parser.add_argument("--review-days", type=int, default=PROFILE.review_days)
    parser.add_argument("--estimator", default=PROFILE.estimator)
    parser.add_argument(
        "--run-every-days",
        type=int,
        default=PROFILE.run_every_days,
        help="Days between suggestion runs the reorder point also covers (0: as if reviewed continuously).",
    )
    parser.add_argument("--abc", default="", help="Service levels of classes A,B,C (0.995,0.99,0.95).")
    parser.add_argument(
        "--store-review-days", type=int, default=PROFILE.store_review_days, help="R of the stores' transfers."
    )
    parser.add_argument("--no-minmax", action="store_true", help="Only the forecast runs.")
    parser.add_argument(
        "--combine", type=Path, nargs="*", help="Print and plot the rows of earlier runs' --json instead."
    )
    parser.add_argument("--json", type=Path, help="Write the rows here.")
    parser.add_argument("--plot", type=Path, help="Write the trade-off PNG here.")
    args = parser.parse_args()
    install_subscriptions()
    rows: list[dict[str, Any]] = []
    if args.combine:
        for path in args.combine:
            rows += json.loads(path.read_text())
        rows.sort(key=lambda row: (row["policy"] != "minmax", row["policy"]))
    else:
        if not args.no_minmax:
            rows.append(run("minmax", PROFILE.service_level, args))
            print(json.dumps(rows[-1]), flush=True)
        for level in filter(None, args.service_levels.split(",")):
            rows.append(run("forecast", Decimal(level), args))
            print(json.dumps(rows[-1]), flush=True)
    columns = list(rows[0])
    print()
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.plot:
        title = (
            f"{args.stores} stores x {args.days} days, scale {args.scale}, seed {args.seed},"
            f" review {args.review_days} d, estimator {args.estimator}"
        )
        plot(rows, args.plot, title)


if __name__ == "__main__":
    main()
