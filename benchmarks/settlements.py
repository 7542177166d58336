"""Time settlement matching (and a whole import) on PostgreSQL (issue 17: 1,000,000 lines at >= 10,000
lines/s).

    .venv/bin/python benchmarks/settlements.py postgresql://postgres@127.0.0.1:5432/retailcore_bench
    .venv/bin/python benchmarks/settlements.py URL --lines 1000000 --import-lines 100000

The database is a scratch one: schema ``public`` is dropped and migrated afresh. One company (USD) with
``--lines`` captured card payments at Stripe (orders and payments written by ``INSERT ... SELECT
generate_series`` in the server), then two measurements:

1. **Matching**: ``--lines`` settlement lines of one file written in the server the same way (90 % charges
   by charge reference, 5 % by the payment intent, 4 % by order number only, 1 % unknown), ``VACUUM
   ANALYZE``, then :func:`retailcore.settlements.matching.match_file` timed alone: lines per second.
2. **A whole import** of ``--import-lines`` lines through :func:`retailcore.settlements.services.import_file`
   (a generated Stripe CSV: parse, bulk insert, match, classify, post), timed per stage.
"""

from __future__ import annotations

import argparse
import io
import time
import uuid

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
from retailcore.settlements import commands as c
from retailcore.settlements import matching
from retailcore.settlements import services as svc

ORDERS = """
INSERT INTO orders (id, company_id, number, channel, fulfillment_mode, state, currency, prices_include_tax,
                    net_total, tax_total, gross_total, reason, deposit_balance, receivable_balance,
                    change_given, created_by, updated_by, created_at, updated_at, version)
SELECT gen_random_uuid(), :company, 'W' || g, 'web', 'ship', 'confirmed', 'USD', false,
       10 + g % 90, 0, 10 + g % 90, '', 10 + g % 90, 0, 0, 'bench', 'bench', now(), now(), 1
FROM generate_series(1, :n) AS g
"""
PAYMENTS = """
INSERT INTO order_payments (id, company_id, order_id, position, kind, payment_method_code, gateway,
                            reference, authorized, captured, refunded, state)
SELECT gen_random_uuid(), o.company_id, o.id, 0, 'card', NULL, 'stripe',
       CASE WHEN substr(o.number, 2)::int % 20 = 1 THEN 'pi_' ELSE 'ch_' END || substr(o.number, 2),
       o.gross_total, o.gross_total, 0, 'captured'
FROM orders o WHERE o.company_id = :company
"""
FILE = """
INSERT INTO settlement_files (id, company_id, gateway_id, filename, content_sha256, lines_read, lines_new,
                              imported_at, imported_by, result)
VALUES (:file, :company, :gateway, 'bench.csv', md5(random()::text), :n, :n, now(), 'bench', '{}')
"""
LINES = """
INSERT INTO settlement_lines (id, company_id, gateway_id, file_id, batch_id, line_number, line_key, kind,
                              gateway_type, occurred_on, currency, gross, fee, net, reference, reference2,
                              order_ref, original_currency, original_gross, description, window_from,
                              window_to, payment_id, match)
SELECT gen_random_uuid(), :company, :gateway, :file, NULL, g + 1, 'txn_' || g, 'charge', 'charge',
       CURRENT_DATE, 'USD', 10 + g % 90, 1, 9 + g % 90,
       CASE WHEN g % 100 < 90 THEN 'ch_' || g WHEN g % 100 < 99 THEN 'ch_other_' || g
            ELSE 'ch_unknown_' || g END,
       CASE WHEN g % 20 = 1 THEN 'pi_' || g END,
       CASE WHEN g % 100 BETWEEN 95 AND 98 THEN 'W' || g END,
       NULL, NULL, '', CURRENT_DATE - 60, CURRENT_DATE + 1, NULL, NULL
FROM generate_series(1, :n) AS g
"""


def _fresh(url: str):
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(engine)
    return engine


def _stripe_csv(n: int, first: int) -> bytes:
    header = "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,charge_id,"
    header += "payment_intent_id,automatic_payout_id,payment_metadata[order_id]\n"
    out = io.StringIO()
    out.write(header)
    day = time.strftime("%Y-%m-%d")
    for g in range(first, first + n):
        gross = 10 + g % 90
        out.write(f"itxn_{g},{day} 10:00:00,usd,{gross}.00,1.00,{gross - 1}.00,charge,ch_{g},,po_bench,\n")
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--import-lines", type=int, default=100_000)
    args = parser.parse_args()
    engine = _fresh(args.url)
    engine.dispose()
    runtime = bootstrap(Settings(database_url=args.url, sweep_interval_seconds=0))  # posting subscribes
    engine, factory = runtime.engine, runtime.session_factory
    ctx = CommandContext(system_principal("benchmark"))
    with transaction(factory) as session:
        company = create_company(
            session, ctx, CreateCompany(code="BENCH", name="Bench", currency="USD", country="US")
        )
        gateway = svc.create_gateway(session, ctx, company, c.CreateGateway(code="stripe", format="stripe"))
        company_id, gateway_id = company.id, gateway.id
    n = args.lines + args.import_lines  # the import settles payments the matching run did not
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text(ORDERS), {"company": company_id, "n": n})
        connection.execute(text(PAYMENTS), {"company": company_id})
    print(f"{n:,} orders and card payments written in {time.perf_counter() - started:.1f} s")

    file_id = uuid.uuid4()
    with engine.begin() as connection:
        params = {"company": company_id, "gateway": gateway_id, "file": file_id, "n": args.lines}
        connection.execute(text(FILE), params)
        connection.execute(text(LINES), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    with transaction(factory) as session:
        started = time.perf_counter()
        matched = matching.match_file(session, company_id, "stripe", file_id)
        seconds = time.perf_counter() - started
    print(
        f"matching: {args.lines:,} lines, {matched:,} matched in {seconds:.2f} s"
        f" = {args.lines / seconds:,.0f} lines/s"
    )
    # Those lines stay in the database: the import below competes with them as a live one would.
    content = _stripe_csv(args.import_lines, args.lines + 1)
    stages: list[tuple[str, float]] = []
    with transaction(factory) as session:
        target = session.get(Company, company_id)
        started = time.perf_counter()
        result = svc.import_file(
            session,
            ctx,
            target,
            "stripe",
            "bench.csv",
            content,
            progress=lambda stage, done, total: stages.append((stage, time.perf_counter())),
        )
        total = time.perf_counter() - started
    last = started
    timings = []
    for stage, at in stages:
        timings.append(f"{stage} {at - last:.2f} s")
        last = at
    print(
        f"import: {args.import_lines:,} lines ({result.matched:,} matched, {result.mismatches} mismatches,"
        f" {len(result.entries)} entries) in {total:.2f} s = {args.import_lines / total:,.0f} lines/s"
        f" [{', '.join(timings)}, the rest {started + total - last:.2f} s]"
    )


if __name__ == "__main__":
    main()
