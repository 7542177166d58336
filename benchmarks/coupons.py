"""Time coupon generation and redemption (issue 19: batches of up to 10,000 codes, written in bulk).

    .venv/bin/python benchmarks/coupons.py sqlite:////tmp/coupons-bench.db
    .venv/bin/python benchmarks/coupons.py postgresql://postgres@127.0.0.1:5432/retailcore_bench --count 10000

The database is a scratch one: on PostgreSQL schema ``public`` is dropped, a SQLite file is deleted; then
migrated afresh. One company and one approved promotion, then, each timed alone and repeated
``--rounds`` times (the best and the median printed):

1. **Generation** of ``--count`` codes through :func:`retailcore.promotions.coupons.generate_coupons`
   (draw, check against the company's codes, one bulk insert, the event), one transaction.
2. **Redemption** of one multi-use code ``--redemptions`` times in a row, one transaction each
   (:func:`retailcore.promotions.coupons.redeem`: the conditional update, the per-customer count, the
   row, the event): redemptions per second on one connection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from decimal import Decimal

from sqlalchemy import text

from retailcore.access.model import system_principal
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, transaction
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.settings import Settings
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Company
from retailcore.promotions import coupon_commands as c
from retailcore.promotions import coupons as svc
from retailcore.promotions.tables import PromotionRow


def _fresh(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--redemptions", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _fresh(args.url)
    runtime = bootstrap(Settings(database_url=args.url, sweep_interval_seconds=0))
    factory = runtime.session_factory
    ctx = CommandContext(system_principal("benchmark"))
    with transaction(factory) as session:
        company = create_company(
            session, ctx, CreateCompany(code="BENCH", name="Bench", currency="EUR", country="FR")
        )
        company_id = company.id
        session.add(
            PromotionRow(
                company_id=company_id, code="XMAS", name="Xmas", kind="percent_off", rule={"percent": "10"},
                state="approved", created_by="benchmark",
            )
        )  # fmt: skip

    generation = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        with transaction(factory) as session:
            made = svc.generate_coupons(
                session,
                ctx,
                session.get_one(Company, company_id),
                c.GenerateCoupons(promotion="XMAS", count=args.count),
            )
        generation.append(time.perf_counter() - started)
        assert made.count == args.count
    with transaction(factory) as session:
        svc.create_coupon(
            session,
            ctx,
            session.get_one(Company, company_id),
            c.CreateCoupon(promotion="XMAS", code="HOT", max_uses=None),
        )
    redemption = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(args.redemptions):
            with transaction(factory) as session:
                coupon = svc.find_coupon(session, company_id, "HOT")
                svc.redeem(
                    session, ctx, coupon, order_id=uuid.uuid4(), customer_id=None, amount=Decimal("1.00")
                )
        redemption.append(time.perf_counter() - started)
    backend = runtime.engine.dialect.name
    print(
        f"{backend}: generate {args.count} codes: best {min(generation):.3f} s, median"
        f" {statistics.median(generation):.3f} s ({args.count / min(generation):,.0f} codes/s)"
    )
    print(
        f"{backend}: {args.redemptions} redemptions, one transaction each: best {min(redemption):.3f} s"
        f" ({args.redemptions / min(redemption):,.0f}/s), median {statistics.median(redemption):.3f} s"
    )
    runtime.engine.dispose()


if __name__ == "__main__":
    main()
