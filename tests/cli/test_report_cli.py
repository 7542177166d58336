"""``retailcore report ...``: tables on stdout, CSV files, one clear message and exit 1 on bad input.

The figures are worked out in tests/integration/test_reports.py, whose ledger this reuses.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from integration.test_reports import build_ledger
from retailcore.entrypoints.cli.main import app

D = Decimal
runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that rich never folds a cell
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.fixture
def ledger(runtime):
    return build_ledger(runtime)


def report(*args: str):
    return runner.invoke(app, ["report", *args])


def test_trial_balance_prints_a_table_and_its_totals(ledger):
    result = report("trial-balance", "--company", "ACME", *NOVEMBER, "--by", "store_id")

    assert result.exit_code == 0, result.output
    assert "Trial balance 2026-11-01 to 2026-11-30" in result.stdout
    assert "Cash in store drawers" in result.stdout and "58.55" in result.stdout
    assert "total period debit: 1332.55" in result.stdout
    assert "balanced: yes" in result.stdout


def test_trial_balance_to_a_csv_file(ledger, tmp_path):
    target = tmp_path / "tb.csv"
    result = report(
        "trial-balance",
        "--company",
        "ACME",
        "--period",
        "2026-11",
        "--by",
        "store_id,channel",
        "--csv",
        str(target),
    )

    assert result.exit_code == 0, result.output
    assert "rows to" in result.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert list(rows[0])[3:5] == ["store_id", "channel"]
    assert sum(D(r["period_debit"]) for r in rows) == sum(D(r["period_credit"]) for r in rows) == D("1332.55")
    revenue = {
        (r["store_id"], r["channel"]): r["closing_balance"] for r in rows if r["account_code"] == "4000"
    }
    assert revenue == {("A", "pos"): "-100.00", ("B", "web"): "-60.00"}


def test_general_ledger_follows_every_page(ledger, tmp_path, monkeypatch):
    from retailcore.accounting import reports

    real = reports.general_ledger
    # Pages of one line: the command must still print them all, with the running balance carried over.
    monkeypatch.setattr(reports, "general_ledger", lambda *a, **k: real(*a, **{**k, "limit": 1}))
    result = report("general-ledger", "--company", "ACME", "--account", "1000", *NOVEMBER, "--csv", "-")

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["kind"], r["balance"]) for r in rows] == [
        ("opening", "120.00"),
        ("line", "190.55"),
        ("line", "430.55"),
        ("line", "190.55"),
        ("line", "178.55"),
        ("closing", "178.55"),
    ]


def test_profit_and_loss_balance_sheet_and_tax_tables(ledger):
    pnl = report("profit-and-loss", "-c", "ACME", *NOVEMBER, "--by", "store_id")
    assert pnl.exit_code == 0, pnl.output
    assert "net result: -480.00" in pnl.stdout and "net result B: 50.00" in pnl.stdout

    bs = report("balance-sheet", "-c", "ACME", "--as-of", "2026-11-30")
    assert bs.exit_code == 0, bs.output
    assert "total assets: 9888.55" in bs.stdout and "balanced: yes" in bs.stdout
    assert report("balance-sheet", "-c", "ACME", "--to", "2026-11-30").stdout == bs.stdout

    tax = report("tax", "-c", "ACME", "--from", "2026-10-01", "--to", "2026-12-31")
    assert tax.exit_code == 0, tax.output
    assert "FR-VAT-5.5" in tax.stdout and "net payable: -9.45" in tax.stdout


def test_tax_csv_on_stdout(ledger):
    result = report("tax", "-c", "ACME", "--period", "2026-11", "--csv", "-")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["tax_code"], r["tax_collected"], r["net_payable"]) for r in rows] == [
        ("FR-VAT-20", "8.00", "-32.00"),
        ("FR-VAT-5.5", "0.55", "0.55"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trial-balance", "-c", "NOPE", *NOVEMBER], "no company 'NOPE'"),
        (
            ["trial-balance", "-c", "ACME", "--from", "2026-12-01", "--to", "2026-11-01"],
            "--from 2026-12-01 is after --to 2026-11-01",
        ),
        (["trial-balance", "-c", "ACME", "--from", "2026-12-01"], "give --to (or a period)"),
        (["trial-balance", "-c", "ACME", *NOVEMBER, "--by", "colour"], "cannot group by 'colour'"),
        (["trial-balance", "-c", "ACME", "--period", "2099-01"], "no period"),
        (["general-ledger", "-c", "ACME", "-a", "9999", *NOVEMBER], "no account '9999'"),
        (["profit-and-loss", "-c", "ACME", *NOVEMBER, "--by", "store_id,channel"], "one dimension"),
        (["tax", "-c", "ACME", *NOVEMBER, "--csv", "/nonexistent/dir/tax.csv"], "cannot write"),
    ],
)
def test_refusals_print_one_message_with_the_options_names_and_exit_1(ledger, args, message):
    result = report(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[0].startswith("error: ")
    assert message in result.stderr
    assert "date_from" not in result.stderr and "date_to" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["trial-balance", "-c", "ACME", "--from", "2026-11-31", "--to", "2026-12-01"],
            "error: --from: '2026-11-31' is not a date (YYYY-MM-DD)",
        ),
        (
            ["balance-sheet", "-c", "ACME", "--as-of", "soon"],
            "error: --as-of / --to: 'soon' is not a date (YYYY-MM-DD)",
        ),
        (
            ["tax", "-c", "ACME", "--from", "1850-01-01", "--to", "2026-12-01"],
            "error: --from: '1850-01-01' is outside 1900-01-01 to 2199-12-31",
        ),
        (
            ["tax", "-c", "ACME", *NOVEMBER, "--output", "xml"],
            "error: --output: 'xml' is not one of 'table', 'json', 'csv'",
        ),
    ],
)
def test_malformed_values_are_usage_errors_naming_the_option(ledger, args, message):
    result = report(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [message]
    assert result.stdout == ""
