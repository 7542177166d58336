"""Time the KPI dashboards' requests and the read models' cost per POS line (decision 0043).

    .venv/bin/python benchmarks/kpis.py                       # 2 stores, 5 days, scale 0.5, SQLite
    .venv/bin/python benchmarks/kpis.py --stores 40 --days 30 --scale 1 --url postgresql://...   # the target

A simulated world is traded into a scratch database (a SQLite file in a temporary directory, or the
database ``--url`` names, whose schema ``public`` is dropped and migrated afresh), through the public
services, so the read models are fed as in production. Then:

* **Each ``/kpis`` request**, through the application (``TestClient``, an admin token), over the whole
  simulated period, ``--runs`` times (median and slowest, in milliseconds): the server-side time of a
  dashboard's request. The target: under 300 ms each on the 40-store month.
* **The read models' cost per POS line**: every POS batch's ``PosSalesIngested`` aggregation and upsert
  (:func:`retailcore.analytics.feed.pos_sales`) run again in a transaction that is rolled back, divided
  by the POS lines; beside it, the time of a full ``rebuild``.

The load average of the (shared) machine is printed before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from retailcore.access.services import create_token
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, transaction
from retailcore.analytics import feed
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.settings import Settings
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.simulation import Options, simulate

PATHS = (
    ("sales by day", "/api/v1/kpis/sales", {"group_by": "day"}),
    ("sales by store", "/api/v1/kpis/sales", {"group_by": "store"}),
    ("sales by category", "/api/v1/kpis/sales", {"group_by": "category"}),
    ("sales by channel, csv", "/api/v1/kpis/sales", {"group_by": "channel", "format": "csv"}),
    ("returns by reason", "/api/v1/kpis/returns", {"group_by": "reason"}),
    ("returns by channel", "/api/v1/kpis/returns", {"group_by": "channel"}),
    ("basket by store", "/api/v1/kpis/basket", {"group_by": "store"}),
    ("sell-through by category", "/api/v1/kpis/sell-through", {"group_by": "category"}),
    ("stock accuracy by store", "/api/v1/kpis/stock-accuracy", {"group_by": "store"}),
    ("shrinkage by store", "/api/v1/kpis/shrinkage", {"group_by": "store"}),
    ("settlement lag", "/api/v1/kpis/settlement-lag", {}),
    ("open exceptions", "/api/v1/kpis/exceptions", {}),
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def prepare(url: str) -> None:
    engine = make_engine(url)
    if url.startswith("postgresql"):
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a scratch database (default: a temporary SQLite file)")
    parser.add_argument("--stores", type=int, default=2)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--scale", default="0.5", help="the simulator's volume scale")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(load())
    with tempfile.TemporaryDirectory() as scratch:
        url = args.url or f"sqlite:///{Path(scratch) / 'kpis.db'}"
        prepare(url)
        runtime = bootstrap(Settings(database_url=url, sweep_interval_seconds=0))
        start = dt.date(2026, 3, 2)
        options = Options(
            company="KPI",
            stores=args.stores,
            days=args.days,
            seed=args.seed,
            start=start,
            scale=Decimal(args.scale),
        )
        began = time.perf_counter()
        simulate(runtime.session_factory, options)
        print(f"simulated {args.stores} stores x {args.days} days in {time.perf_counter() - began:.1f} s")
        with runtime.session_factory() as session:
            company_id = session.scalar(select(Company.id).where(Company.code == "KPI"))
            assert company_id is not None
            pos_lines = session.scalar(
                select(func.count())
                .select_from(OrderLineRow)
                .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
                .where(OrderRow.company_id == company_id, OrderRow.channel == "pos")
            )
        with transaction(runtime.session_factory) as session:
            token = create_token(session, role="admin", company="KPI").token
        headers = {"Authorization": f"Bearer {token}"}
        period = {
            "date_from": start.isoformat(),
            "date_to": (start + dt.timedelta(days=args.days - 1)).isoformat(),
        }
        print(f"{'request':<28} {'median ms':>10} {'max ms':>10}")
        with TestClient(create_app(runtime)) as client:
            client.get(PATHS[0][1], params=period, headers=headers)  # the routes are built on the first one
            for name, path, params in PATHS:
                times = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    response = client.get(path, params={**period, **params}, headers=headers)
                    times.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, response.text
                print(f"{name:<28} {statistics.median(times):>10.1f} {max(times):>10.1f}")
        # The read models' share of POS ingest: every batch's aggregation and upsert again, rolled back.
        with runtime.session_factory() as session:
            batches = [
                [uuid.UUID(value) for value in payload.get("accepted", ())]
                for payload in session.scalars(
                    select(Event.payload).where(
                        Event.company_id == company_id, Event.type == "PosSalesIngested"
                    )
                )
            ]
            feed.pos_sales(session, company_id, batches[0])  # statements compiled once, as in a server
            began = time.perf_counter()
            for accepted in batches:
                feed.pos_sales(session, company_id, accepted)
            spent = time.perf_counter() - began
            session.rollback()
        per_line = spent * 1_000_000 / max(pos_lines or 0, 1)
        per_batch = spent * 1000 / max(len(batches), 1)
        print(
            f"POS read models: {len(batches)} batches, {pos_lines} lines: {per_batch:.2f} ms a batch,"
            f" {per_line:.1f} us a line"
        )
        with transaction(runtime.session_factory) as session:
            began = time.perf_counter()
            read = feed.rebuild(session, company_id)
            print(f"rebuild: {time.perf_counter() - began:.2f} s ({read})")
        runtime.engine.dispose()
    print(load())


if __name__ == "__main__":
    main()
