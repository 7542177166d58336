"""The Shopify stock push against the local contract server, in-process, on a simulated clock.

    .venv/bin/python benchmarks/shopify_stock.py --backend sqlite
    .venv/bin/python benchmarks/shopify_stock.py --backend postgres --postgres URL

The benchmark shop (``retail.set_up``: the demo company, about 200 products, stock in the three shops
and the web warehouse), each of the four stores mapped to a Shopify location; the contract server
(tests/contract/shopify_server.py) knows every SKU, stocked everywhere, with a standard plan's bucket
(1,000 points, 100 a second, ``--restore-rate``). The clock is simulated: the throttle's waits move it
and cost no wall time, so the wall time printed is ours (the database, the sync log, JSON), and the
simulated time is what Shopify's rate limit would add. Passes:

* ``full``: the first push: every product linked by SKU (``productVariants``), then every quantity set.
* ``changes``: after one receipt of ``--moved`` products at one shop: only those are sent.

Each pass checks that the server holds our availability before its figure is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import retail

from contract.shopify_server import Clock, FakeShopify
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.connectors import commands as cc
from retailcore.connectors import services as connectors
from retailcore.connectors import shopify_stock
from retailcore.connectors.vault import new_key
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location, Product

STORES = (*retail.SHOPS, retail.WAREHOUSE)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", help="an empty PostgreSQL database (its public schema is recreated)")
    parser.add_argument("--restore-rate", type=float, default=100.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--moved", type=int, default=20)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="shopify-stock-bench-")
    url = f"sqlite:///{scratch}/bench.db" if args.backend == "sqlite" else args.postgres
    if not url:
        parser.error("--postgres URL is needed with --backend postgres")
    engine = make_engine(url)
    retail.reset(engine)
    factory = make_session_factory(engine)
    shop = retail.set_up(factory, receive_at=STORES)
    key = new_key()
    clock = Clock()
    server = FakeShopify(token="bench", bucket_size=1000, restore_rate=args.restore_rate, clock=clock)
    locations = {f"gid://shopify/Location/{n}": code for n, code in enumerate(STORES, start=1)}
    for gid in locations:
        server.locations.add(gid)
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        assert company is not None
        skus = list(session.scalars(select(Product.sku).where(Product.company_id == company.id)))
        for n, sku in enumerate(sorted(skus), start=1):
            server.add_variant(sku, n, list(locations))
        body = cc.CreateConnector(
            company_id=company.id,
            kind="shopify",
            name="stock-bench.myshopify.com",
            secret="s",
            access_token="bench",
            settings={
                "locations": locations,
                "admin_api_url": "http://shop.test",
                "stock_batch_size": args.batch_size,
            },
        )
        connector_id = connectors.create_connector(session, retail.ctx(), company, body, key).id
    options = {"transport": httpx.MockTransport(server.handle), "clock": clock, "sleep": clock.sleep}

    def timed(label: str, full: bool) -> None:
        started_clock = clock()
        started = time.perf_counter()
        report = shopify_stock.push_stock(factory, connector_id, key, full=full, api_options=options)
        wall = time.perf_counter() - started
        assert report.failed == 0, report.messages
        with factory() as session:
            company = session.get(Company, shop.company_id)
            assert company is not None
            products = dict(  # the web's active products: the others are never linked, never pushed
                session.execute(
                    select(Product.id, Product.sku).where(
                        Product.company_id == company.id,
                        Product.available_web.is_(True),
                        Product.active.is_(True),
                    )
                ).all()
            )
            values = shopify_stock.web_available(session, company, products, shop.stores.values())
        codes = {code: store for code, store in shop.stores.items()}
        for (product, store), quantity in values.items():
            gid = next(g for g, code in locations.items() if codes[code] == store)
            assert server.level(products[product], gid) == quantity, (products[product], gid, quantity)
        print(
            f"{args.backend:8} {label:8} {report.sent:6} quantities in {report.batches:4} batches,"
            f" {report.requests:4} calls (cost {report.cost}, throttled {report.throttled}):"
            f" {wall:6.2f} s wall, {report.sent / wall:8.0f} quantities/s;"
            f" Shopify's limit adds {clock() - started_clock:6.1f} s (simulated)"
        )

    timed("full", True)
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        assert company is not None
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company.id, Location.kind == "supplier")
        )
        moved = sorted(skus)[: args.moved]
        ids = dict(
            session.execute(select(Product.sku, Product.id).where(Product.company_id == company.id)).all()
        )
        move_stock(
            session,
            retail.ctx(),
            company,
            kind="receipt",
            lines=[
                MoveLine(ids[sku], Decimal(3), supplier, shop.stock[retail.SHOPS[0]], Decimal(10))
                for sku in moved
            ],
            date=dt.date.today(),
        )
    timed("changes", False)


if __name__ == "__main__":
    main()
