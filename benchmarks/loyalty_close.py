"""What automatic loyalty earning costs a POS session's close (decision 0056).

One fresh database per run: the demo shop's till takes ``--sales`` sales (batches of 1000, untimed), a
``--share`` of them with one of ``--customers`` enrolled customers, then the close is timed. Run twice,
without a programme (the earning subscriber returns at once) and with one (every customer sale earns, in
bulk, at the close), on the same sales. The batch ingest is not touched by loyalty, so it is not timed.

    .venv/bin/python benchmarks/loyalty_close.py                       # SQLite, a scratch file
    .venv/bin/python benchmarks/loyalty_close.py --url postgresql+psycopg://postgres@127.0.0.1:5432/retailcore_bench
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from decimal import Decimal

import retail  # the benchmarks' demo shop, beside this script (run as a script, its folder is on sys.path)
from cases import fresh_statistics
from sqlalchemy import func, select

from retailcore.adapters.db import transaction
from retailcore.loyalty import commands as lc
from retailcore.loyalty import services as loyalty
from retailcore.loyalty.tables import LoyaltyAccount, LoyaltyMovement
from retailcore.masterdata.tables import Company, Customer
from retailcore.pos import services as pos


def run(
    url: str, sales_count: int, customers: int, share: float, programme: bool
) -> tuple[float, float, int]:
    till = retail.open_till(url, "LOY1", "Loyalty till")
    factory, company_id = till.factory, till.shop.company_id
    with transaction(factory) as session:
        company = session.get(Company, company_id)
        ids = []
        for n in range(customers):
            row = Customer(company_id=company_id, code=f"LOY{n:05d}", name=f"Customer {n}")
            session.add(row)
            ids.append(row)
        session.flush()
        ids = [row.id for row in ids]
        if programme:
            loyalty.set_programme(
                session,
                retail.ctx(),
                company,
                lc.SetProgramme(points_per_unit=Decimal(1), point_value=Decimal("0.01")),
            )
            for customer_id in ids:
                loyalty.open_account(session, retail.ctx(), company, lc.OpenAccount(customer_id=customer_id))
    made = retail.Sales(till.shop.pos_products, seed=sales_count)
    every = max(1, round(1 / share)) if share else 0
    n = 0
    for batch in made.batches(sales_count, 1000):
        with_customers = []
        for sale in batch:
            if every and n % every == 0:
                sale = sale.model_copy(update={"customer_id": ids[n % len(ids)]})
            with_customers.append(sale)
            n += 1
        with transaction(factory) as session:
            pos.ingest_batch(session, retail.ctx(), till.session_id, with_customers)
        if n == len(with_customers):
            fresh_statistics(till.engine)  # untimed, as in the POS case: a live database has statistics
    counted = {"CASH": Decimal("200.00") + made.cash, "CARD": made.card}
    wall, cpu = time.perf_counter(), time.process_time()
    with transaction(factory) as session:
        pos.close_session(session, retail.ctx(), till.session_id, counted)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with factory() as session:
        earned = session.scalar(select(func.count()).select_from(LoyaltyMovement)) or 0
        points = session.scalar(select(func.coalesce(func.sum(LoyaltyAccount.balance), 0)))
        assert not programme or points > 0
    till.engine.dispose()
    return wall, cpu, earned


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a scratch database (its schema is dropped); default a SQLite file")
    parser.add_argument("--sales", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--share", type=float, default=0.5, help="share of the sales with a customer")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp() if args.url is None else None
    print(
        f"load average {os.getloadavg()[0]:.2f}; {args.sales:,} sales, {args.share:.0%} with one of "
        f"{args.customers:,} customers; backend {(args.url or 'sqlite').split(':')[0]}"
    )
    for programme in (False, True):
        # SQLite: a new file for each run
        url = args.url or f"sqlite:///{os.path.join(scratch or '', f'loyalty-{programme}.db')}"
        wall, cpu, earned = run(url, args.sales, args.customers, args.share, programme)
        label = "with a programme" if programme else "without a programme"
        print(f"close {label}: {wall:.3f} s wall, {cpu:.3f} s CPU; {earned:,} sales earned")


if __name__ == "__main__":
    main()
