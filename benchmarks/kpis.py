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
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text

from retailcore.access.services import create_token
from retailcore.access.users import create_user
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, transaction
from retailcore.analytics import feed
from retailcore.analytics import subscriptions as analytics_subscriptions
from retailcore.analytics.tables import DailyBaskets, DailySales
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.settings import Settings
from retailcore.eventlog import services as eventlog
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company, Product, Store
from retailcore.orders.tables import ORDER_CHANNELS, OrderLineRow, OrderRow
from retailcore.pos import services as pos
from retailcore.simulation import Options, simulate

PATHS = (  # each asked for the whole chain, one store, one channel and a half period (see FILTERS)
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


FILTERS = ("whole chain", "one store", "one channel", "second half")
"""Each request is timed four ways: the whole period over the chain; one store; one channel (``pos``);
and the period's second half, whose previous period (the first half) has sales: the comparison the
sales report and the dashboard compute is then over real rows."""

PAGES = (
    ("dashboard page /", "/", {}),
    ("P&L page", "/accounting/profit-and-loss", {}),
    ("P&L page by store", "/accounting/profit-and-loss", {"group_by": "store_id"}),
)
"""The back office's server-rendered pages, through a signed-in session (an admin user)."""

PASSWORD = "benchmark-password-1"


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


def stats(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]  # nearest rank
    return f"{statistics.median(ordered):>9.1f} {p95:>9.1f} {ordered[-1]:>9.1f}"


def densify(session, company_id: uuid.UUID, start: dt.date, days: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Top up ``analytics_daily_sales`` and ``analytics_daily_baskets`` to every key a full-scale month
    can have: each day x store x channel (x category for sales), the keys the simulation left empty
    given small synthetic sums. A dashboard request then reads as many rows as the densest possible
    40-store month, whatever ``--scale`` traded; returns the rows added to each table. (The ``rebuild``
    timed at the end recomputes the tables from the raw rows, so it drops these rows again.)"""
    stores = list(session.scalars(select(Store.id).where(Store.company_id == company_id)))
    categories = sorted(
        {c or "" for c in session.scalars(select(Product.category).where(Product.company_id == company_id))}
    )
    added = []
    for table, keys in (
        (DailySales, ("day", "store_id", "channel", "category")),
        (DailyBaskets, ("day", "store_id", "channel")),
    ):
        existing = {
            tuple(row)
            for row in session.execute(
                select(*(getattr(table, k) for k in keys)).where(table.company_id == company_id)
            )
        }
        rows = []
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            for store_id in stores:
                for channel in ORDER_CHANNELS:
                    for category in categories if table is DailySales else (None,):
                        key = (day, store_id, channel) + ((category,) if category is not None else ())
                        if key in existing:
                            continue
                        values = {"company_id": company_id, **dict(zip(keys, key, strict=True))}
                        if table is DailySales:
                            values |= {
                                "net": Decimal("10.00"),
                                "cost": Decimal("6.00"),
                                "list_amount": Decimal("12.00"),
                                "discount": Decimal("0.00"),
                                "units": Decimal(1),
                                "lines": 1,
                            }
                        else:
                            values |= {"baskets": 1, "net": Decimal("10.00"), "units": Decimal(1)}
                        rows.append(values)
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(table), rows[chunk : chunk + 5000])
        added.append(len(rows))
    return added[0], added[1]


def analyze(url: str) -> None:
    if url.startswith("postgresql"):
        engine = make_engine(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
        engine.dispose()


def sign_in(client: TestClient, username: str) -> None:
    page = client.get("/login")
    marker = 'name="csrf_token" value="'
    csrf = page.text.split(marker, 1)[1].split('"', 1)[0]
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


class FeedSwitch:
    """The analytics feed of POS batches off (the subscriber taken out of the event log's registry) or
    on, for the ingest comparison only: the product has no such switch."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.subscribers = eventlog._subscribers["PosSalesIngested"]

    def __enter__(self) -> None:
        if not self.on:
            self.subscribers.remove(analytics_subscriptions._pos_batch)

    def __exit__(self, *exc: object) -> None:
        if not self.on:
            self.subscribers.append(analytics_subscriptions._pos_batch)


def ingest(url: str, sales_count: int, on: bool) -> tuple[float, float]:
    """``sales_count`` POS sales (3 lines) in batches of 1,000 through ``pos.ingest_batch`` on a fresh
    shop (``benchmarks/retail.py``), the analytics feed on or off: (sales/s, CPU ms a sale)."""
    import retail  # benchmarks/retail.py, beside this script

    till = retail.open_till(url, "KPI1", "KPI till")
    sales = retail.Sales(till.shop.pos_products, seed=sales_count)
    spent = cpu = 0.0
    with FeedSwitch(on):
        for number, batch in enumerate(sales.batches(sales_count, 1000)):
            began, began_cpu = time.perf_counter(), time.process_time()
            with transaction(till.factory) as session:
                result = pos.ingest_batch(session, retail.ctx(), till.session_id, batch)
            spent += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
            assert result.accepted == len(batch), result
            if number == 0 and till.engine.dialect.name == "postgresql":  # as benchmarks/cases.py
                with till.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("ANALYZE"))
    with till.factory() as session:
        rows = session.scalar(select(func.count()).select_from(DailySales))
    assert (rows > 0) == on, rows
    till.engine.dispose()
    return sales_count / spent, cpu * 1000 / sales_count


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
    parser.add_argument(
        "--dense",
        action="store_true",
        help="top the sales and basket read models up to every day x store x channel x category key",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="--url already holds the simulated world of an earlier run (without --ingest): time it again",
    )
    parser.add_argument(
        "--ingest",
        type=int,
        default=0,
        help="then time this many POS sales through ingest_batch, analytics feed off and on (twice each)",
    )
    args = parser.parse_args()
    print(load())
    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as scratch:
        url = args.url or f"sqlite:///{Path(scratch) / 'kpis.db'}"
        if not args.reuse:
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
        if not args.reuse:
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
            store_code = session.scalar(
                select(Store.code).where(Store.company_id == company_id).order_by(Store.code).limit(1)
            )
        if args.dense:
            with transaction(runtime.session_factory) as session:
                added = densify(session, company_id, start, args.days)
                print(f"dense: rows added to sales, baskets: {added[0]:,}, {added[1]:,}")
        analyze(url)
        with runtime.session_factory() as session:
            for table in (DailySales, DailyBaskets):
                count = session.scalar(select(func.count()).select_from(table))
                print(f"{table.__tablename__}: {count:,} rows")
        with transaction(runtime.session_factory) as session:
            token = create_token(session, role="admin", company="KPI").token
            if not args.reuse:
                create_user(session, "kpi-admin", PASSWORD, "admin", company="KPI")
        headers = {"Authorization": f"Bearer {token}"}
        end = start + dt.timedelta(days=args.days - 1)
        period = {"date_from": start.isoformat(), "date_to": end.isoformat()}
        filters = {
            "whole chain": period,
            "one store": {**period, "store": store_code},
            "one channel": {**period, "channel": "pos"},
            "second half": {
                "date_from": (start + dt.timedelta(days=args.days // 2)).isoformat(),
                "date_to": end.isoformat(),
            },
        }
        print(f"{args.runs} runs each, server-side through the ASGI app (TestClient), milliseconds")
        print(f"{'request':<28} {'filter':<12} {'median':>9} {'p95':>9} {'max':>9}")
        every: list[float] = []
        with TestClient(create_app(runtime)) as client:
            client.get(PATHS[0][1], params=period, headers=headers)  # the routes are built on the first one
            sign_in(client, "kpi-admin")
            requests = [(name, path, params, headers) for name, path, params in PATHS]
            requests += [(name, path, params, {}) for name, path, params in PAGES]
            for name, path, params, sent in requests:
                for label in FILTERS:
                    if path.startswith("/accounting") and label in ("one store", "one channel"):
                        continue  # the books are the company's; the P&L is split by store instead
                    asked = {**filters[label], **params}
                    if path == "/api/v1/kpis/settlement-lag" and label in ("one store", "one channel"):
                        continue  # card money is the company's (no store or channel filter)
                    client.get(path, params=asked, headers=sent)  # warm: plans and templates
                    times = []
                    for _ in range(args.runs):
                        began = time.perf_counter()
                        response = client.get(path, params=asked, headers=sent)
                        times.append((time.perf_counter() - began) * 1000)
                        assert response.status_code == 200, (path, asked, response.text[:500])
                    every += times
                    print(f"{name:<28} {label:<12} {stats(times)}", flush=True)
        print(f"{'every request':<28} {'':<12} {stats(every)}  ({len(every)} requests)")
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
    if args.ingest:
        print(f"POS ingest, {args.ingest:,} sales of 3 lines in batches of 1,000, analytics feed off / on")
        results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for number, on in enumerate((False, True, False, True)):
            scratch_url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / f'ingest{number}.db'}"
            rate, cpu = ingest(scratch_url, args.ingest, on)
            results[on].append((rate, cpu))
            print(
                f"  feed {'on ' if on else 'off'}: {rate:,.0f} sales/s, {cpu:.3f} CPU ms a sale", flush=True
            )
        off = statistics.median(rate for rate, _ in results[False])
        on_ = statistics.median(rate for rate, _ in results[True])
        print(f"  median: off {off:,.0f}, on {on_:,.0f} sales/s; on/off {on_ / off:.2f}")
        print(load())


if __name__ == "__main__":
    main()
