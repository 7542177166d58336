"""``retailcore ledger rates-import | revalue | open-items`` against the test database."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.accounting import reconciliation, services
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company

runner = CliRunner()


def rates(runtime: Runtime) -> list[tuple[str, str, Decimal]]:
    with runtime.session_factory() as session:
        rows = session.scalars(
            select(a.ExchangeRate).order_by(a.ExchangeRate.currency, a.ExchangeRate.rate_date)
        )
        return [(row.currency, row.rate_date.isoformat(), row.rate) for row in rows]


def post(
    runtime: Runtime, company_id: str, date: str, debit: str, credit: str, amount: str, currency: str
) -> list[uuid.UUID]:
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, uuid.UUID(company_id))
        ids = dict(
            session.execute(select(Account.code, Account.id).where(Account.company_id == company.id)).all()
        )
        entry = services.post_entry(
            session,
            CommandContext(system_principal("test")),
            company=company,
            journal_code="MISC",
            date=dt.date.fromisoformat(date),
            reference="test",
            lines=[
                services.LineInput(ids[debit], "debit", Decimal(amount), currency),
                services.LineInput(ids[credit], "credit", Decimal(amount), currency),
            ],
        )
        return [line.id for line in entry.lines]


# -- rates-import ----------------------------------------------------------------------------------


def test_rates_import_loads_the_file_with_a_progress_bar(runtime, company, tmp_path: Path):
    file = tmp_path / "rates.csv"
    file.write_text("date,currency,rate\n2026-03-01,USD,0.90\n2026-03-02,USD,0.9012\n2026-03-01,GBP,1.15\n")

    result = runner.invoke(app, ["ledger", "rates-import", str(file), "--company", "ACME"])

    assert result.exit_code == 0, result.output
    assert "imported 3 new and 0 replaced rates (0 unchanged) into ACME" in result.stdout
    assert "3/3" in result.stderr  # the progress bar, on stderr
    assert rates(runtime) == [
        ("GBP", "2026-03-01", Decimal("1.15")),
        ("USD", "2026-03-01", Decimal("0.90")),
        ("USD", "2026-03-02", Decimal("0.9012")),
    ]

    changed = tmp_path / "changed.csv"
    changed.write_text("date,currency,rate\n2026-03-02,USD,0.95\n")
    refused = runner.invoke(app, ["ledger", "rates-import", str(changed), "--company", "ACME"])
    replaced = runner.invoke(app, ["ledger", "rates-import", str(changed), "--company", "ACME", "--replace"])

    assert refused.exit_code == 1 and "line 2, rate: USD already has the rate 0.9012" in refused.stderr
    assert replaced.exit_code == 0 and "0 new and 1 replaced" in replaced.stdout
    assert rates(runtime)[-1] == ("USD", "2026-03-02", Decimal("0.95"))


def test_a_bad_file_lists_every_bad_line_on_stderr_and_imports_nothing(runtime, company, tmp_path: Path):
    file = tmp_path / "rates.csv"
    file.write_text(
        "date,currency,rate\n2026-03-01,USD,0.90\n01/03/2026,USD,0.91\n2026-03-03,EUR,1\n2026-03-04,USD,0\n"
    )

    result = runner.invoke(app, ["ledger", "rates-import", str(file), "--company", "ACME"])

    assert result.exit_code == 1
    assert "line 3, date: '01/03/2026' is not a date (YYYY-MM-DD)" in result.stderr
    assert "line 4, currency: EUR is the company currency" in result.stderr
    assert "line 5, rate: must be greater than 0" in result.stderr
    assert "nothing was imported" in result.stderr
    assert result.stdout == ""
    assert rates(runtime) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--company", "ACME"], "no such file"),
        (["rates.csv", "--company", "NOPE"], "no company 'NOPE'"),
    ],
)
def test_rates_import_refuses_a_missing_file_or_company(
    runtime, company, tmp_path: Path, monkeypatch, args, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rates.csv").write_text("date,currency,rate\n2026-03-01,USD,0.90\n")

    result = runner.invoke(app, ["ledger", "rates-import", *args])

    assert result.exit_code == 1
    assert message in result.stderr
    assert rates(runtime) == []


# -- revalue ---------------------------------------------------------------------------------------


@pytest.fixture
def usd_receivable(runtime: Runtime, company: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """500 USD receivable booked at 0.90 on 5 March; closing rate 0.9234 on 31 March."""
    file = tmp_path / "rates.csv"
    file.write_text("date,currency,rate\n2026-03-01,USD,0.90\n2026-03-31,USD,0.9234\n")
    assert runner.invoke(app, ["ledger", "rates-import", str(file), "--company", "ACME"]).exit_code == 0
    post(runtime, company["id"], "2026-03-05", "1210", "4000", "500", "USD")
    return company


def test_revalue_prints_the_differences_and_the_entries(runtime, usd_receivable):
    result = runner.invoke(app, ["ledger", "revalue", "--company", "ACME", "--as-of", "2026-03-31"])

    assert result.exit_code == 0, result.output
    assert "1210" in result.stdout and "461.70" in result.stdout and "11.70" in result.stdout
    summary = " ".join(result.stdout.split())  # rich wraps the line at the terminal width
    assert "posted FX/2026/000001 on 2026-03-31 (gain 11.70, loss 0.00)" in summary
    assert "reversed by FX/2026/000002 on 2026-04-01" in summary
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(a.JournalEntry)) == 3

    again = runner.invoke(app, ["ledger", "revalue", "--company", "ACME", "--as-of", "2026-03-31"])
    assert again.exit_code == 1
    assert "already revalued on 2026-03-31" in again.stderr


def test_revalue_with_nothing_to_do_says_so(runtime, company):
    result = runner.invoke(app, ["ledger", "revalue", "--company", "ACME", "--as-of", "2026-03-31"])

    assert result.exit_code == 0, result.output
    assert "nothing to revalue in ACME on 2026-03-31" in result.stdout


def test_revalue_refuses_a_malformed_date_as_a_usage_error(runtime, company):
    result = runner.invoke(app, ["ledger", "revalue", "--company", "ACME", "--as-of", "31/03/2026"])

    assert result.exit_code == 2
    assert "is not a date" in result.stderr


def test_revalue_without_a_rate_fails_cleanly(runtime, company):
    with transaction(runtime.session_factory) as session:
        acme = session.scalar(select(Company).where(Company.code == "ACME"))
        ids = dict(
            session.execute(select(Account.code, Account.id).where(Account.company_id == acme.id)).all()
        )
        services.post_entry(
            session,
            CommandContext(system_principal("test")),
            company=acme,
            journal_code="MISC",
            date=dt.date(2026, 3, 5),
            reference="agreed rate",
            lines=[
                services.LineInput(ids["1210"], "debit", Decimal(10), "USD", rate=Decimal("0.9")),
                services.LineInput(ids["4000"], "credit", Decimal(10), "USD", rate=Decimal("0.9")),
            ],
        )

    result = runner.invoke(app, ["ledger", "revalue", "--company", "ACME", "--as-of", "2026-03-31"])

    assert result.exit_code == 1
    assert "no USD exchange rate on or before 2026-03-31" in result.stderr


# -- open-items ------------------------------------------------------------------------------------


def test_open_items_prints_items_and_totals(runtime, company):
    invoice = post(runtime, company["id"], "2026-03-01", "1210", "4000", "100.00", "EUR")[0]
    payment = post(runtime, company["id"], "2026-03-20", "1000", "1210", "40.00", "EUR")[1]
    post(runtime, company["id"], "2026-05-20", "6000", "2000", "80.00", "EUR")
    with transaction(runtime.session_factory) as session:
        reconciliation.reconcile(
            session, CommandContext(system_principal("test")), uuid.UUID(company["id"]), [invoice, payment]
        )

    result = runner.invoke(app, ["ledger", "open-items", "--company", "ACME", "--as-of", "2026-06-30"])
    as_json = runner.invoke(
        app, ["ledger", "open-items", "--company", "ACME", "--as-of", "2026-06-30", "-o", "json"]
    )

    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "1210 2026-03-01 MISC/2026/000001 60.00 121 >90" in lines  # debit and credit left out at 80
    assert "2000 2026-05-20 MISC/2026/000003 -80.00 41 31-60" in lines
    assert "1210 Trade receivables 0.00 0.00 0.00 60.00 60.00" in lines
    assert "all accounts 0.00 -80.00 0.00 60.00 -20.00" in lines
    items = [
        (i["account_code"], i["open_balance"], i["age_days"], i["bucket"]) for i in json.loads(as_json.stdout)
    ]
    assert items == [("1210", "60.00", 121, ">90"), ("2000", "-80.00", 41, "31-60")]

    only_payables = runner.invoke(
        app, ["ledger", "open-items", "--company", "ACME", "--account", "2000", "--as-of", "2026-06-30"]
    )
    assert only_payables.exit_code == 0, only_payables.output
    assert "1210" not in only_payables.stdout and "2000" in only_payables.stdout


def test_open_items_with_nothing_open_and_bad_accounts(runtime, company):
    empty = runner.invoke(app, ["ledger", "open-items", "--company", "ACME", "--as-of", "2026-06-30"])
    unknown = runner.invoke(app, ["ledger", "open-items", "--company", "ACME", "--account", "9999"])
    revenue = runner.invoke(app, ["ledger", "open-items", "--company", "ACME", "--account", "4000"])

    assert empty.exit_code == 0 and "no open items in ACME as of 2026-06-30" in empty.stdout
    assert unknown.exit_code == 1 and "no account '9999' in company ACME" in unknown.stderr
    assert revenue.exit_code == 1 and "account 4000 is not reconcilable" in revenue.stderr
