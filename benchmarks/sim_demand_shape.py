"""Check that the simulator's demand has the shape a forecaster should learn (decision 0077).

    .venv/bin/retailcore simulate --stores 10 --days 30 --seed 1        # into RETAILCORE_DATABASE_URL
    .venv/bin/python benchmarks/sim_demand_shape.py --url sqlite:///./retailcore.db --company SIM

Reads the simulated company's POS units per store and day (sales only, refunds left out) with pandas
and prints, as markdown tables:

* the units by weekday (day index ``% 7`` from the first day, as the profile's weekday percents are
  keyed), in percent of the average day, with the profile's store traffic for comparison, and the
  top categories' own weekday shares;
* the mid-month payday and the public holidays of the run against the other days of the same weekday;
* the promotion uplift: the units of the misconfigured clearance promotion's product (from the
  ground-truth event) on its days against the same weekdays without it, all stores together.

``--plot`` writes the daily units with the promotion and holiday days marked (PNG).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from decimal import Decimal

import pandas as pd
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company, Product
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.simulation import PROFILE
from retailcore.simulation.demand import calendar_percent


def load(url: str, company_code: str) -> tuple[pd.DataFrame, list[dict]]:
    engine = create_engine(url)
    with Session(engine) as session:
        company_id = session.scalar(select(Company.id).where(Company.code == company_code))
        rows = session.execute(
            select(
                OrderRow.store_id,
                OrderRow.ordered_at,
                Product.sku,
                Product.category,
                OrderLineRow.quantity,
            )
            .join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
            .join(Product, Product.id == OrderLineRow.product_id)
            .where(
                OrderRow.company_id == company_id,
                OrderRow.channel == "pos",
                OrderLineRow.quantity > Decimal(0),
            )
        ).all()
        truths = list(
            session.scalars(
                select(Event.payload).where(
                    Event.company_id == company_id, Event.type == "SimulationGroundTruthRecorded"
                )
            )
        )
    frame = pd.DataFrame(rows, columns=["store", "at", "sku", "category", "units"])
    frame["date"] = pd.to_datetime(frame["at"]).dt.date
    frame["units"] = frame["units"].astype(float)  # statistics only: nothing is stored back
    frame["top"] = frame["category"].str.split("/").str[0]
    return frame, truths


def weekday_table(frame: pd.DataFrame) -> str:
    first = min(frame["date"])
    daily = frame.groupby("date")["units"].sum().reset_index()
    daily["index"] = [(d - first).days % 7 for d in daily["date"]]
    by_index = daily.groupby("index")["units"].mean()
    lines = ["| day index % 7 | units, % of the average day | profile traffic % |", "|---|---|---|"]
    for index, units in by_index.items():
        lines.append(
            f"| {index} | {units / by_index.mean() * 100:.0f} | {PROFILE.weekday_percent[int(index)]} |"
        )
    categories = frame.groupby("top")["units"].sum().nlargest(4).index
    share = frame.assign(index=[(d - first).days % 7 for d in frame["date"]])
    table = share[share["top"].isin(categories)].pivot_table(
        index="top", columns="index", values="units", aggfunc="sum"
    )
    table = table.div(table.sum(axis=0), axis=1)
    table = table.div(table.mean(axis=1), axis=0) * 100
    lines += ["", "| category share, % of its average | " + " | ".join(str(c) for c in table.columns) + " |"]
    lines.append("|---" * (len(table.columns) + 1) + "|")
    for top, row in table.iterrows():
        lines.append(f"| {top} | " + " | ".join(f"{v:.0f}" for v in row) + " |")
    return "\n".join(lines)


def calendar_table(frame: pd.DataFrame) -> str:
    first = min(frame["date"])
    daily = frame.groupby("date")["units"].sum().reset_index()
    daily["index"] = [(d - first).days % 7 for d in daily["date"]]
    daily["calendar"] = [calendar_percent(PROFILE, d) for d in daily["date"]]
    plain = daily[daily["calendar"] == 100].groupby("index")["units"].mean()
    lines = ["| day | profile % | units | same weekday otherwise | ratio |", "|---|---|---|---|---|"]
    for _, row in daily[daily["calendar"] != 100].iterrows():
        usual = plain.get(row["index"])
        if usual:
            lines.append(
                f"| {row['date']} | {row['calendar']} | {row['units']:.0f} | {usual:.0f} |"
                f" {row['units'] / usual:.2f} |"
            )
    return "\n".join(lines)


def promotion_table(frame: pd.DataFrame, truths: list[dict]) -> str:
    lines = ["| promotion | product | days | units a day on them | same weekdays without | uplift |"]
    lines.append("|---|---|---|---|---|---|")
    first = min(frame["date"])
    for truth in truths:
        if truth["kind"] != "below_margin_promotion":
            continue
        start, end = dt.date.fromisoformat(truth["from"]), dt.date.fromisoformat(truth["to"])
        days = sorted(set(frame["date"]))
        product = frame[frame["sku"] == truth["product"]].groupby("date")["units"].sum()
        product = product.reindex(days, fill_value=0.0)
        on = [d for d in days if start <= d <= end]
        weekdays = {(d - first).days % 7 for d in on}
        off = [d for d in days if not start <= d <= end and (d - first).days % 7 in weekdays]
        with_it, without = product[on].mean(), product[off].mean()
        lines.append(
            f"| {truth['promotion']} | {truth['product']} | {start} to {end} | {with_it:.1f} |"
            f" {without:.1f} | {with_it / without:.2f} |"
        )
    return "\n".join(lines)


def plot(frame: pd.DataFrame, truths: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    daily = frame.groupby("date")["units"].sum()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(list(daily.index), list(daily.values), marker="o", label="POS units, all stores")
    for truth in truths:
        if truth["kind"] == "below_margin_promotion":
            ax.axvspan(
                dt.date.fromisoformat(truth["from"]),
                dt.date.fromisoformat(truth["to"]) + dt.timedelta(days=1),
                alpha=0.15,
                color="tab:red",
                label=f"promotion {truth['product']}",
            )
    for day in daily.index:
        if calendar_percent(PROFILE, day) != 100:
            ax.axvline(day, color="tab:green", alpha=0.4, linestyle="--")
    ax.set_title("Simulated daily demand (weekday pattern; payday and holidays dashed)")
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--url", default=os.environ.get("RETAILCORE_DATABASE_URL", "sqlite:///./retailcore.db")
    )
    parser.add_argument("--company", default="SIM")
    parser.add_argument("--plot", help="PNG file to write")
    args = parser.parse_args()
    frame, truths = load(args.url, args.company)
    print(weekday_table(frame), end="\n\n")
    print(calendar_table(frame), end="\n\n")
    print(promotion_table(frame, truths))
    if args.plot:
        plot(frame, truths, args.plot)


if __name__ == "__main__":
    main()
