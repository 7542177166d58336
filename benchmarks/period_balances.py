"""Time the reports over closed periods on PostgreSQL: period balances (decision 0036).

    .venv/bin/python benchmarks/period_balances.py postgresql://postgres@127.0.0.1:5432/retailcore_periods_bench
    .venv/bin/python benchmarks/period_balances.py URL --months 3 --lines-per-month 1000000 --open-lines 0
    .venv/bin/python benchmarks/period_balances.py URL --reuse --compare   # again, and from lines alone

The database is a scratch one: schema ``public`` is dropped and migrated afresh, then filled with the
company of ``trial_balance.py`` (104 accounts, 8 stores, fiscal year 2026) and, month by month from
January 2026, ``--lines-per-month`` posted lines in each of ``--months`` months, then ``--open-lines`` in
the month after (the open period), all with ``INSERT ... SELECT generate_series`` inside the server, in
the shape ``trial_balance.py`` writes (two lines per entry, accounts by a stride through the chart, one
line in nine without a store). ``VACUUM ANALYZE``, then the lock date is moved to the last closed month's
end through ``services.move_lock_date`` (the closing ``INSERT ... SELECT ... GROUP BY`` of every closed
month at once; timed), and ``VACUUM ANALYZE`` again.

Timed, each ``--runs`` times in a fresh session (median): the trial balance for the year and for the
open month, without and with ``group_by=store_id``, the balance sheet at year end, the profit and loss
for the year. ``--compare`` also times each once from the lines alone (as before period balances).
The load average of the (shared) machine is printed before and after.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import bulk
import trial_balance
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from retailcore.access.model import system_principal
from retailcore.accounting import balances, reports
from retailcore.accounting import tables as a
from retailcore.accounting.services import move_lock_date
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company, Store

YEAR = trial_balance.YEAR

# trial_balance.STAGE, for one month and with entry numbers continuing from the months before.
_DATES = "DATE '{year}-01-01' + (g % {days})"
_SERIES = "generate_series(1, :entries)"
assert _DATES in trial_balance.STAGE and _SERIES in trial_balance.STAGE
STAGE_MONTH = trial_balance.STAGE.replace(_DATES, "DATE '{start}' + (g % {days})").replace(
    _SERIES, "generate_series(:offset + 1, :offset + :entries)"
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def fill(engine: Engine, months: int, per_month: int, open_lines: int) -> uuid.UUID:
    trial_balance.reset(engine)
    company_id = bulk._company(engine)  # the company trial_balance.fill makes
    with make_session_factory(engine)() as session:
        params: dict[str, Any] = {
            "accounts": [
                str(i) for i in session.scalars(select(Account.id).where(Account.company_id == company_id))
            ],
            "stores": [
                str(i) for i in session.scalars(select(Store.id).where(Store.company_id == company_id))
            ],
            "journals": [
                str(i)
                for i in session.scalars(select(a.Journal.id).where(a.Journal.company_id == company_id))
            ],
        }
    params["account_count"] = len(params["accounts"])
    offset = 0
    for month in range(1, months + 2):
        lines = per_month if month <= months else open_lines
        if not lines:
            continue
        start = dt.date(YEAR, month, 1)
        days = calendar.monthrange(YEAR, month)[1]
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS bench_entries"))
            connection.execute(
                text(STAGE_MONTH.format(start=start.isoformat(), days=days)),
                {**params, "entries": lines // 2, "offset": offset},
            )
            connection.execute(text(trial_balance.FILL_ENTRIES), {"company": company_id})
            connection.execute(text(trial_balance.FILL_LINES), {"company": company_id})
            connection.execute(text("DROP TABLE bench_entries"))
        offset += lines // 2
        state = "closed" if month <= months else "open"
        print(
            f"  {start:%Y-%m} ({state}): {lines:,} lines in {time.perf_counter() - started:.0f} s", flush=True
        )
    vacuum(engine)
    return company_id


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def close(engine: Engine, company_id: uuid.UUID, months: int) -> None:
    lock = dt.date(YEAR, months, calendar.monthrange(YEAR, months)[1])
    started = time.perf_counter()
    with transaction(make_session_factory(engine)) as session:
        move_lock_date(session, CommandContext(system_principal("benchmark")), company_id, lock)
        rows = session.scalar(select(func.count()).select_from(a.PeriodBalance))
    print(f"locked through {lock}: {rows:,} balance rows written in {time.perf_counter() - started:.1f} s")
    vacuum(engine)


def median_ms(engine: Engine, work: Callable[[Session], reports.Report], runs: int) -> tuple[float, str]:
    factory = make_session_factory(engine)
    timings = []
    size = ""
    for _ in range(runs):
        with factory() as session:
            started = time.perf_counter()
            report = work(session)
            timings.append(time.perf_counter() - started)
        if isinstance(report, reports.TrialBalance | reports.BalanceSheet):
            assert report.balanced, "the benchmark ledger must balance"
        size = f"{len(report.table()[1])} rows"
    return statistics.median(timings) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="a scratch PostgreSQL database: its schema public is dropped")
    parser.add_argument("--months", type=int, default=10, help="closed months from January (at most 11)")
    parser.add_argument("--lines-per-month", type=int, default=1_000_000)
    parser.add_argument("--open-lines", type=int, default=100_000, help="lines in the open month after them")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="time the data already there, do not refill")
    parser.add_argument("--compare", action="store_true", help="also time each report from the lines alone")
    args = parser.parse_args()
    if not 1 <= args.months <= 11:
        parser.error("--months is 1 to 11 (the open month follows them in 2026)")

    engine = make_engine(args.url)
    if engine.dialect.name != "postgresql":
        parser.error("the benchmark runs on PostgreSQL")
    print(load())
    if args.reuse:
        with make_session_factory(engine)() as session:
            company_id = session.scalars(
                select(Company.id).where(Company.code == trial_balance.COMPANY)
            ).one()
    else:
        started = time.perf_counter()
        company_id = fill(engine, args.months, args.lines_per_month, args.open_lines)
        print(f"filled in {time.perf_counter() - started:.0f} s")
        close(engine, company_id, args.months)
    with engine.connect() as connection:
        total = connection.execute(text("SELECT count(*) FROM journal_lines WHERE state = 'posted'")).scalar()
        kept = connection.execute(text("SELECT count(*) FROM period_balances")).scalar()
        version = connection.execute(text("SHOW server_version")).scalar()
    with make_session_factory(engine)() as session:
        through = balances.through(session, company_id)
    print(f"PostgreSQL {version}, {total:,} posted lines, {kept:,} balance rows through {through}")
    print(f"median of {args.runs} runs; {load()}")

    year = (dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    open_month = dt.date(YEAR, args.months + 1, 1)
    month = (open_month, dt.date(YEAR, args.months + 1, calendar.monthrange(YEAR, args.months + 1)[1]))
    cases: list[tuple[str, Callable[[Session], reports.Report]]] = [
        ("trial balance, year", lambda s: reports.trial_balance(s, company_id, *year)),
        (
            "trial balance, year by store",
            lambda s: reports.trial_balance(s, company_id, *year, group_by=["store_id"]),
        ),
        (f"trial balance, {open_month:%Y-%m}", lambda s: reports.trial_balance(s, company_id, *month)),
        (
            f"trial balance, {open_month:%Y-%m} by store",
            lambda s: reports.trial_balance(s, company_id, *month, group_by=["store_id"]),
        ),
        ("balance sheet, year end", lambda s: reports.balance_sheet(s, company_id, year[1])),
        ("profit and loss, year", lambda s: reports.profit_and_loss(s, company_id, *year)),
        ("P&L by store, year", lambda s: reports.profit_and_loss(s, company_id, *year, group_by="store_id")),
    ]
    for label, work in cases:
        ms, size = median_ms(engine, work, args.runs)
        line = f"  {label:<30} {ms:8.0f} ms  ({size})"
        if args.compare:
            kept_through = balances.through_for
            balances.through_for = lambda *_: None  # type: ignore[assignment]  # the lines alone
            try:
                lines_ms, _ = median_ms(engine, work, 1)
            finally:
                balances.through_for = kept_through  # type: ignore[assignment]
            line += f"   from lines alone: {lines_ms:8.0f} ms"
        print(line, flush=True)
    print(load())
    engine.dispose()


if __name__ == "__main__":
    main()
