"""Time the trial balance over a million posted journal lines on PostgreSQL.

    .venv/bin/python benchmarks/trial_balance.py postgresql://postgres@127.0.0.1:5432/retailcore_bench
    .venv/bin/python benchmarks/trial_balance.py URL --reuse          # time again without refilling
    .venv/bin/python benchmarks/trial_balance.py URL --lines 200000 --runs 7
    .venv/bin/python benchmarks/trial_balance.py URL --lines 3000000 --years 3   # a longer history

The database is a scratch one: schema ``public`` is dropped and migrated afresh, then filled with one
company (the generic retail chart plus extra expense accounts, ~100 in all), eight stores, three channels
and ``--lines`` posted lines (two per entry) spread evenly over the twelve months of 2026 (or over
``--years`` years ending in 2026, to see how a longer history weighs on opening balances). The lines are
written by ``INSERT ... SELECT generate_series`` inside the server, so a million take about a minute
(foreign keys and indexes included), not the hours that a million ``post_entry`` calls would.
``VACUUM ANALYZE`` then gives the planner its statistics, as autovacuum would on a live database.

Timed: ``trial_balance`` for one month (November: its opening balances aggregate January to October)
and for the whole year, each without and with ``group_by=store_id``, then the other reports, each
``--runs`` times in a fresh session; the median is printed, with the query plan of the first case when
``--explain`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.accounting import reports
from retailcore.accounting import tables as a
from retailcore.accounting.services import create_fiscal_year, set_up_ledger
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany, CreateStore
from retailcore.masterdata.services import create_company, create_store
from retailcore.masterdata.tables import Account, Company, Store

COMPANY = "BENCH"
STORES = 8
EXTRA_ACCOUNTS = 45  # the generic chart has 58 accounts; ~100 is a realistic small retailer's chart
YEAR = 2026

FILL_ENTRIES = """
INSERT INTO journal_entries (id, company_id, journal_id, number, date, state, reference, created_by,
                             created_at, posted_by, posted_at)
SELECT e.id, :company, e.journal_id, 'BENCH/' || e.g, e.date, 'posted', 'bench ' || e.g, 'benchmark',
       now(), 'benchmark', now()
FROM bench_entries e
"""

# Each entry: one debit and one credit of the same amount on two accounts picked by a stride through
# the chart, so every account gets both sides and the trial balance balances.
FILL_LINES = """
INSERT INTO journal_lines (id, company_id, entry_id, sequence, account_id, debit, credit, currency,
                           amount_currency, rate, label, store_id, channel, product_category,
                           location_id, tax_code, tax_base, event_id, journal_id, date, state)
SELECT gen_random_uuid(), :company, e.id, s.side,
       CASE WHEN s.side = 0 THEN e.debit_account ELSE e.credit_account END,
       CASE WHEN s.side = 0 THEN e.amount ELSE 0 END,
       CASE WHEN s.side = 1 THEN e.amount ELSE 0 END,
       'EUR', CASE WHEN s.side = 0 THEN e.amount ELSE -e.amount END, 1, '',
       e.store_id, e.channel, e.category, NULL, NULL, NULL, NULL, e.journal_id, e.date, 'posted'
FROM bench_entries e CROSS JOIN (VALUES (0), (1)) AS s(side)
"""

STAGE = """
CREATE TEMP TABLE bench_entries AS
SELECT g,
       gen_random_uuid() AS id,
       DATE '{year}-01-01' + (g % {days}) AS date,
       (CAST(:journals AS uuid[]))[1 + g % cardinality(CAST(:journals AS uuid[]))] AS journal_id,
       (CAST(:accounts AS uuid[]))[1 + (g * 7) % :account_count] AS debit_account,
       (CAST(:accounts AS uuid[]))[1 + (g * 13 + 5) % :account_count] AS credit_account,
       -- about one line in nine has no store (head-office entries)
       (CAST(:stores AS uuid[]))[1 + g % (cardinality(CAST(:stores AS uuid[])) + 1)] AS store_id,
       (ARRAY['pos', 'web', 'marketplace'])[1 + g % 3] AS channel,
       'Category/' || (g % 20) AS category,
       round(((g::bigint * 7919) % 100000 + 1) / 100.0, 2)::numeric(19, 4) AS amount
FROM generate_series(1, :entries) AS g
"""


def reset(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(engine)


def fill(engine: Engine, lines: int, years: int = 1) -> uuid.UUID:
    """The company, its chart, stores and fiscal year through the services; the lines in bulk SQL."""
    ctx = CommandContext(system_principal("benchmark"))
    with transaction(make_session_factory(engine)) as session:
        company = create_company(
            session, ctx, CreateCompany(code=COMPANY, name="Bench", currency="EUR", country="FR")
        )
        set_up_ledger(session, company.id)
        for year in range(YEAR - years + 1, YEAR + 1):
            create_fiscal_year(session, company.id, dt.date(year, 1, 1))
        for i in range(EXTRA_ACCOUNTS):
            session.add(
                Account(
                    company_id=company.id, code=f"62{i:02d}", name=f"Operating expense {i}", type="expense"
                )
            )
        for i in range(STORES):
            create_store(
                session, ctx, CreateStore(company_id=company.id, code=f"S{i:02d}", name=f"Store {i}")
            )
        session.flush()
        accounts = [
            str(i) for i in session.scalars(select(Account.id).where(Account.company_id == company.id))
        ]
        stores = [str(i) for i in session.scalars(select(Store.id).where(Store.company_id == company.id))]
        journals = [
            str(i) for i in session.scalars(select(a.Journal.id).where(a.Journal.company_id == company.id))
        ]
        company_id = company.id
    first_year = YEAR - years + 1
    days = (dt.date(YEAR + 1, 1, 1) - dt.date(first_year, 1, 1)).days
    started = time.perf_counter()
    with engine.begin() as connection:
        params = {
            "accounts": accounts,
            "account_count": len(accounts),
            "stores": stores,
            "journals": journals,
            "entries": lines // 2,
        }
        connection.execute(text(STAGE.format(year=first_year, days=days)), params)
        connection.execute(text(FILL_ENTRIES), {"company": company_id})
        connection.execute(text(FILL_LINES), {"company": company_id})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # The whole database: the chart's statistics matter to the plans as much as the lines'.
        connection.execute(text("VACUUM ANALYZE"))
    print(
        f"filled {lines:,} lines ({lines // 2:,} entries, {len(accounts)} accounts, {len(stores)} stores) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return company_id


def explain(engine: Engine, company_id: uuid.UUID, date_from: dt.date, date_to: dt.date) -> None:
    """The plan PostgreSQL actually runs for the trial balance (EXPLAIN ANALYZE of the same statement)."""
    captured: list[tuple[str, object]] = []
    factory = make_session_factory(engine)

    def capture(*args: Any) -> None:
        statement, parameters = args[2], args[3]  # (conn, cursor, statement, parameters, context, many)
        if "journal_lines" in statement and "GROUP BY" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with factory() as session:
            reports.trial_balance(session, company_id, date_from, date_to)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("\n".join(row[0] for row in cursor.fetchall()))


def median_ms(engine: Engine, work: Callable[[Session], reports.Report], runs: int) -> tuple[float, str]:
    """Median wall time of ``work`` in a fresh session per run (as an API request has), and its size."""
    factory = make_session_factory(engine)
    timings = []
    size = ""
    for _ in range(runs):
        with factory() as session:
            started = time.perf_counter()
            report = work(session)
            timings.append(time.perf_counter() - started)
        if isinstance(report, reports.TrialBalance):
            assert report.balanced, "the benchmark ledger must balance"
        size = f"{len(report.table()[1])} rows"
    return statistics.median(timings) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="a scratch PostgreSQL database: its schema public is dropped")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--years", type=int, default=1, help="spread the lines over this many years ending in 2026"
    )
    parser.add_argument("--reuse", action="store_true", help="time the data already there, do not refill")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the month case")
    args = parser.parse_args()

    engine = make_engine(args.url)
    if engine.dialect.name != "postgresql":
        parser.error("the benchmark runs on PostgreSQL")
    if args.reuse:
        with make_session_factory(engine)() as session:
            company_id = session.scalars(select(Company.id).where(Company.code == COMPANY)).one()
    else:
        reset(engine)
        company_id = fill(engine, args.lines, args.years)
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM journal_lines WHERE state = 'posted'")).scalar()
        version = connection.execute(text("SHOW server_version")).scalar()
    print(f"PostgreSQL {version}, {total:,} posted lines; median of {args.runs} runs")

    month = (dt.date(YEAR, 11, 1), dt.date(YEAR, 11, 30))
    year = (dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    if args.explain:
        explain(engine, company_id, *month)
    print("trial balance")
    for label, span in (("month 2026-11", month), ("year 2026", year)):
        for group_by in ([], ["store_id"]):
            ms, size = median_ms(
                engine,
                lambda session, span=span, group_by=group_by: reports.trial_balance(
                    session, company_id, *span, group_by=group_by
                ),
                args.runs,
            )
            by = "by store" if group_by else "no grouping"
            print(f"  {label:<14} {by:<12} {ms:8.0f} ms  ({size})")
    with make_session_factory(engine)() as session:
        cash = session.scalars(
            select(Account.id).where(Account.company_id == company_id, Account.code == "1000")
        ).one()
    others: list[tuple[str, Callable[[Session], reports.Report]]] = [
        ("profit and loss, year", lambda session: reports.profit_and_loss(session, company_id, *year)),
        ("P&L by store, year", lambda s: reports.profit_and_loss(s, company_id, *year, group_by="store_id")),
        ("balance sheet, year end", lambda session: reports.balance_sheet(session, company_id, year[1])),
        ("tax report, year", lambda session: reports.tax_report(session, company_id, *year)),
        ("general ledger 1000, page 1", lambda s: reports.general_ledger(s, company_id, cash, *year)),
    ]
    print("other reports")
    for label, work in others:
        ms, size = median_ms(engine, work, args.runs)
        print(f"  {label:<27} {ms:8.0f} ms  ({size})")
    engine.dispose()


if __name__ == "__main__":
    main()
