"""Period balances (decision 0036): the reports read the kept sums of closed months and the lines of the
rest, and give exactly the figures they give from the lines alone.

The oracle is the same report function with the balances switched off (``through_for`` answering None,
so every line is read, as before period balances existed), over random ledgers and lock dates.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.accounting import balances, reports
from retailcore.accounting import tables as a
from retailcore.accounting.services import LineInput, move_lock_date, post_entry
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.core.errors import Conflict
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany, CreateStore
from retailcore.masterdata.services import create_company, create_store
from retailcore.masterdata.tables import Account, Company
from support import POSTGRES_URL, empty_database

CTX = CommandContext(system_principal("test"))
FIRST, LAST = dt.date(2025, 11, 1), dt.date(2026, 4, 30)

RANGES = [
    (FIRST, LAST),  # everything
    (dt.date(2026, 1, 1), dt.date(2026, 2, 28)),  # whole months
    (dt.date(2025, 12, 15), dt.date(2026, 3, 10)),  # starts and ends inside months
    (dt.date(2026, 1, 1), dt.date(2026, 1, 20)),  # a month's start to its middle
    (dt.date(2026, 1, 20), dt.date(2026, 2, 28)),  # a month's middle to the next one's end
    (dt.date(2026, 2, 14), dt.date(2026, 2, 14)),  # one day
    (dt.date(2026, 4, 1), dt.date(2026, 4, 30)),  # the open tail
]
AS_OF = [
    dt.date(2025, 11, 30),
    dt.date(2025, 12, 31),
    dt.date(2026, 1, 15),
    dt.date(2026, 2, 28),
    dt.date(2026, 3, 31),
    LAST,
]
LOCKS: list[dt.date | None] = [
    dt.date(2026, 1, 31),  # two whole months closed
    dt.date(2026, 2, 14),  # mid-month: still through January
    dt.date(2026, 3, 31),  # forward
    dt.date(2025, 12, 10),  # back: December reopens, only November stays closed
    None,  # all open
    dt.date(2026, 2, 28),  # and locked again
]


def random_ledger(session, seed: int) -> uuid.UUID:
    """A company with two stores and ~80 random balanced entries over six months."""
    rng = random.Random(seed)
    company = create_company(
        session, CTX, CreateCompany(code=f"P{seed}", name="Periods", currency="EUR", country="FR")
    )
    stores: list[uuid.UUID | None] = [None]
    for code in ("A", "B"):
        stores.append(
            create_store(
                session, CTX, CreateStore(company_id=company.id, code=code, name=code, kind="store")
            ).id
        )
    accounts = list(
        session.scalars(select(Account.id).where(Account.company_id == company.id, Account.active.is_(True)))
    )
    for _ in range(80):
        day = FIRST + dt.timedelta(days=rng.randrange((LAST - FIRST).days + 1))
        post_random(session, company, rng, day, accounts, stores)
    return company.id


def post_random(session, company: Company, rng: random.Random, day: dt.date, accounts, stores) -> None:
    debit, credit = rng.sample(accounts, 2)
    amount = Decimal(rng.randrange(1, 100_000)) / 100
    split = (amount * Decimal(rng.randrange(1, 100)) / 100).quantize(Decimal("0.01"))

    def line(account, side, value) -> LineInput:
        return LineInput(
            account,
            side,
            value,
            "EUR",
            store_id=rng.choice(stores),
            channel=rng.choice([None, "pos", "web"]),
            product_category=rng.choice([None, "Shoes"]),
        )

    lines = [line(credit, "credit", amount)]
    if 0 < split < amount:  # two debit lines, maybe in different stores
        lines += [line(debit, "debit", split), line(rng.choice(accounts), "debit", amount - split)]
    else:
        lines.append(line(debit, "debit", amount))
    post_entry(session, CTX, company=company, journal_code="MISC", date=day, reference="random", lines=lines)


def figures(session, company_id: uuid.UUID) -> list[Any]:
    """Every report the balances serve, over ranges that cut closed months in every way."""
    out: list[Any] = []
    for date_from, date_to in RANGES:
        for group_by in ([], ["store_id"], ["channel"], ["store_id", "product_category"]):
            out.append(reports.trial_balance(session, company_id, date_from, date_to, group_by=group_by))
        for by in (None, "store_id", "journal"):
            out.append(reports.profit_and_loss(session, company_id, date_from, date_to, group_by=by))
    out += [reports.balance_sheet(session, company_id, day) for day in AS_OF]
    return [report.model_dump(mode="json") for report in out]


@pytest.fixture
def from_lines(monkeypatch: pytest.MonkeyPatch):
    """The oracle: the reports with the balances switched off."""

    def compute(session, company_id: uuid.UUID) -> list[Any]:
        with monkeypatch.context() as patch:
            patch.setattr(balances, "through_for", lambda *args: None)
            return figures(session, company_id)

    return compute


def kept_rows(session, company_id: uuid.UUID) -> int:
    return session.scalar(
        select(func.count()).select_from(a.PeriodBalance).where(a.PeriodBalance.company_id == company_id)
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reports_from_closed_periods_equal_the_reports_from_lines(runtime: Runtime, from_lines, seed):
    with transaction(runtime.session_factory) as session:
        company_id = random_ledger(session, seed)
        expected = from_lines(session, company_id)
        company = session.get(Company, company_id)
        accounts = list(session.scalars(select(Account.id).where(Account.company_id == company_id)))
        rng = random.Random(seed * 100)
        for lock in LOCKS:
            move_lock_date(session, CTX, company_id, lock)
            through = balances.closed_through(lock)
            assert balances.through(session, company_id) == through
            assert (kept_rows(session, company_id) > 0) == (through is not None)
            assert balances.differences(session, company_id) == []
            assert figures(session, company_id) == expected, f"lock {lock}"
            # The open tail keeps taking entries; the oracle follows.
            post_random(session, company, rng, dt.date(2026, 4, rng.randrange(1, 31)), accounts, [None])
            expected = from_lines(session, company_id)
        assert figures(session, company_id) == expected


def test_a_closed_month_takes_no_entry_even_if_the_lock_date_is_moved_by_hand(runtime: Runtime):
    with transaction(runtime.session_factory) as session:
        company_id = random_ledger(session, 7)
        move_lock_date(session, CTX, company_id, dt.date(2026, 1, 31))
        settings = session.get(a.LedgerSettings, company_id)
        settings.lock_date = None  # behind the service's back: the balances are not told
        session.flush()
        company = session.get(Company, company_id)
        accounts = list(session.scalars(select(Account.id).where(Account.company_id == company_id)))
        rng = random.Random(7)
        with pytest.raises(Conflict) as refused:
            post_random(session, company, rng, dt.date(2026, 1, 31), accounts, [None])
        assert refused.value.code == "period-locked"
        post_random(session, company, rng, dt.date(2026, 2, 1), accounts, [None])  # the open tail posts
        assert balances.differences(session, company_id) == []


def test_the_reports_read_the_kept_balances_and_rebuild_repairs_them(runtime: Runtime, from_lines):
    with transaction(runtime.session_factory) as session:
        company_id = random_ledger(session, 11)
        move_lock_date(session, CTX, company_id, dt.date(2026, 2, 28))
        expected = from_lines(session, company_id)
        row = session.scalars(
            select(a.PeriodBalance)
            .where(a.PeriodBalance.company_id == company_id, a.PeriodBalance.month == dt.date(2026, 1, 1))
            .order_by(a.PeriodBalance.debit.desc())
            .limit(1)
        ).one()
        session.execute(
            update(a.PeriodBalance)
            .where(a.PeriodBalance.id == row.id)
            .values(debit=row.debit + Decimal("1.00"))
        )
        session.expire_all()
        year = reports.trial_balance(session, company_id, FIRST, LAST)
        assert year.totals.period_debit == expected_total(expected) + Decimal("1.00")
        (difference,) = balances.differences(session, company_id)
        assert (difference.month, difference.account_id) == (dt.date(2026, 1, 1), row.account_id)
        assert difference.kept[0] - difference.lines[0] == Decimal("1.00")

        rows = balances.rebuild(session, company_id)
        assert rows == kept_rows(session, company_id) > 0
        assert balances.differences(session, company_id) == []
        assert figures(session, company_id) == expected


def expected_total(expected: list[Any]) -> Decimal:
    return Decimal(expected[0]["totals"]["period_debit"])  # RANGES[0], no grouping


def test_rebuild_balances_command_checks_and_recomputes(runtime: Runtime):
    with transaction(runtime.session_factory) as session:
        company_id = random_ledger(session, 5)
        move_lock_date(session, CTX, company_id, dt.date(2026, 3, 15))
    runner = CliRunner()
    checked = runner.invoke(app, ["ledger", "rebuild-balances", "--company", "P5", "--check"])
    assert checked.exit_code == 0, checked.output
    assert "agree with its lines (through 2026-02-28)" in checked.stdout
    with transaction(runtime.session_factory) as session:
        session.execute(update(a.PeriodBalance).values(credit=a.PeriodBalance.credit + Decimal("0.01")))
        count = kept_rows(session, company_id)
    checked = runner.invoke(app, ["ledger", "rebuild-balances", "--company", "P5", "--check"])
    assert checked.exit_code == 1
    assert f"{count} balance rows of P5 disagree with the lines" in checked.stderr
    rebuilt = runner.invoke(app, ["ledger", "rebuild-balances", "--company", "P5"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"rebuilt {count} balance rows of P5 (through 2026-02-28)" in rebuilt.stdout
    with runtime.session_factory() as session:
        assert balances.differences(session, company_id) == []


def test_month_arithmetic():
    assert balances.closed_through(dt.date(2026, 2, 28)) == dt.date(2026, 2, 28)
    assert balances.closed_through(dt.date(2024, 2, 28)) == dt.date(2024, 1, 31)  # leap year
    assert balances.closed_through(dt.date(2026, 12, 31)) == dt.date(2026, 12, 31)
    assert balances.closed_through(dt.date(2026, 1, 1)) == dt.date(2025, 12, 31)
    assert balances.closed_through(None) is None
    cut = balances.split(dt.date(2026, 1, 20), dt.date(2026, 4, 10), dt.date(2026, 2, 28))
    assert cut == balances.Split(dt.date(2026, 1, 1), (dt.date(2026, 2, 1), dt.date(2026, 2, 28)))
    cut = balances.split(dt.date(2026, 6, 1), dt.date(2026, 6, 30), dt.date(2026, 2, 28))
    assert cut == balances.Split(dt.date(2026, 3, 1), None)


@pytest.fixture
def old_database(tmp_path) -> Iterator[str]:
    with empty_database(tmp_path) as url:
        yield url


def test_0028_computes_the_balances_of_periods_locked_before(old_database, from_lines):
    engine = make_engine(old_database)
    migrations.upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        company_id = random_ledger(session, 3)
    with engine.begin() as connection:  # as a database of the release before stands: locked, no sums
        connection.execute(text("UPDATE ledger_settings SET lock_date = :day"), {"day": dt.date(2026, 3, 20)})
    migrations.downgrade(engine, "0022")
    migrations.upgrade(engine)
    with factory() as session:
        assert balances.through(session, company_id) == dt.date(2026, 2, 28)
        assert kept_rows(session, company_id) > 0
        assert balances.differences(session, company_id) == []
        assert figures(session, company_id) == from_lines(session, company_id)
    engine.dispose()


def _wait_for_a_blocked_lock(runtime: Runtime) -> None:
    """Until another connection waits on a lock (polled; nothing here asserts a duration)."""
    for _ in range(600):
        with runtime.engine.connect() as connection:
            if connection.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("nobody waited on a lock")


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent writers: PostgreSQL (SQLite serialises them)")
def test_a_close_waits_for_postings_in_flight_and_refuses_those_that_waited_on_it(runtime: Runtime):
    with transaction(runtime.session_factory) as session:
        company_id = random_ledger(session, 13)
        move_lock_date(session, CTX, company_id, dt.date(2025, 12, 31))
        accounts = list(session.scalars(select(Account.id).where(Account.company_id == company_id)))

    def post_in_january(session) -> None:
        company = session.get(Company, company_id)
        post_random(session, company, random.Random(1), dt.date(2026, 1, 15), accounts, [None])

    def close_january() -> None:
        with transaction(runtime.session_factory) as session:
            move_lock_date(session, CTX, company_id, dt.date(2026, 1, 31))

    # A posting in flight when the close starts: the close waits for it, and sums its lines.
    with transaction(runtime.session_factory) as posting:
        post_in_january(posting)
        closing = threading.Thread(target=close_january)
        closing.start()
        _wait_for_a_blocked_lock(runtime)
    closing.join(timeout=60)
    assert not closing.is_alive()
    with runtime.session_factory() as session:
        assert balances.through(session, company_id) == dt.date(2026, 1, 31)
        assert balances.differences(session, company_id) == []

    # A posting that waits on a close in flight is refused once the close commits.
    with transaction(runtime.session_factory) as session:
        move_lock_date(session, CTX, company_id, dt.date(2025, 12, 31))
    outcome: list[BaseException | None] = []

    def post_and_record() -> None:
        try:
            with transaction(runtime.session_factory) as session:
                post_in_january(session)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with transaction(runtime.session_factory) as session:
        move_lock_date(session, CTX, company_id, dt.date(2026, 1, 31))
        poster = threading.Thread(target=post_and_record)
        poster.start()
        _wait_for_a_blocked_lock(runtime)
    poster.join(timeout=60)
    assert not poster.is_alive()
    (refused,) = outcome
    assert isinstance(refused, Conflict) and refused.code == "period-locked"
    with runtime.session_factory() as session:
        assert balances.differences(session, company_id) == []
