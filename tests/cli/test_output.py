"""What listings and reports print: tables that fit 80 columns with their keys whole, JSON and CSV.

The reports reuse the ledger of tests/integration/test_reports.py; the listings run on the demo data
after a day of simulated trading (orders, POS sessions, stock, the books), as a new user would see them.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from decimal import Decimal

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from integration.test_reports import build_ledger
from retailcore.entrypoints.cli import output
from retailcore.entrypoints.cli.main import app

D = Decimal
narrow = CliRunner(env={"COLUMNS": "80"})
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]


def cli(*args: str, runner: CliRunner = narrow):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def assert_fits(stdout: str, width: int = 80) -> None:
    assert "…" not in stdout
    too_wide = [line for line in stdout.splitlines() if cell_len(line.rstrip()) > width]
    assert too_wide == []


def csv_text(value: object) -> str:
    """A JSON value as the CSV writes it."""
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def table_rows(stdout: str, left_columns: int) -> list[tuple[list[str], list[str]]]:
    """The rows of the first table in ``stdout``: the cells of its first ``left_columns`` columns,
    left-aligned, cut where their headings start (the one that wraps with its next lines joined), and
    the rest of the row's first line split at spaces (the amounts)."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"})
    # Headings sit on the table's last header line, left-aligned ones where their column starts.
    starts = [match.start() for match in re.finditer(r"\S+", lines[rule - 1])][:left_columns]
    rows: list[tuple[list[str], list[str]]] = []
    for line in lines[rule + 1 :]:
        cells = [line[start:end].strip() for start, end in itertools.pairwise(starts)]
        last = line[starts[-1] :]
        rest = last.split()
        cells.append(rest.pop(0) if last[:1].strip() else "")
        if cells[0]:
            rows.append((cells, rest))
        else:  # the column that wraps goes on
            wrapped = next(i for i, cell in enumerate(cells) if cell)
            rows[-1][0][wrapped] += " " + cells[wrapped]
    return rows


# -- the layout --------------------------------------------------------------------------------------

CODE, NAME, TYPE = output.key("code"), output.text("name"), output.key("type")
DEBIT, CREDIT = output.amount("debit", drop=1), output.amount("credit", drop=1)


def test_a_table_that_fits_keeps_every_column_at_its_natural_width():
    texts = [["1000", "Cash in store drawers", "asset", "12.00", "0.00"]]
    assert output.layout([CODE, NAME, TYPE, DEBIT, CREDIT], texts, 80) == {0: 4, 1: 21, 2: 5, 3: 5, 4: 6}


def test_text_wraps_first_and_keys_never_get_narrower_than_their_longest_value():
    texts = [["1000", "Cash in store drawers", "liability", "123456.78", "0.00"]]
    widths = output.layout([CODE, NAME, TYPE, DEBIT, CREDIT], texts, 50)
    # 4 + 12 + 9 + 9 + 6 and four gaps of 2 = 48: the name gets the 2 left over, the keys what they need
    assert widths == {0: 4, 1: 14, 2: 9, 3: 9, 4: 6}


def test_droppable_columns_go_together_highest_first_then_records():
    texts = [["1000", "Cash in store drawers", "liability", "123456.78", "0.00"]]
    assert output.layout([CODE, NAME, TYPE, DEBIT, CREDIT], texts, 40) == {0: 4, 1: 21, 2: 9}
    assert output.layout([CODE, NAME, TYPE, DEBIT, CREDIT], texts, 25) is None


def test_rows_too_wide_for_any_table_are_printed_as_records():
    rows = [["01a24c65-750c-71d1-92cc", "T1"], ["x", "T2"]]
    listing = output.Listing("Sessions", [output.key("id"), output.key("terminal")], rows)
    console = Console(width=20, record=True)
    output.print_table(console, listing)
    assert [line.rstrip() for line in console.export_text().splitlines()] == [
        "Sessions",
        "id        01a24c65-7",  # a value longer than the width folds; nothing is cut
        "          50c-71d1-9",
        "          2cc",
        "terminal  T1",
        "",
        "id        x",
        "terminal  T2",
    ]


# -- reports -----------------------------------------------------------------------------------------


@pytest.fixture
def ledger(runtime):
    return build_ledger(runtime)


def test_the_trial_balance_at_80_columns_shows_every_account_code_name_and_type_whole(ledger):
    args = ["report", "trial-balance", "-c", "ACME", *NOVEMBER, "--by", "store_id"]
    table = cli(*args).stdout
    document = json.loads(cli(*args, "--output", "json").stdout)

    assert_fits(table)
    rows = table_rows(table, left_columns=4)[: len(document["rows"])]
    assert len(rows) == len(document["rows"]) > 5
    assert any(row["account_name"] not in table for row in document["rows"])  # some names had to wrap
    for ((code, name, kind, store), amounts), expected in zip(rows, document["rows"], strict=True):
        assert (code, name, kind, store) == (
            expected["account_code"],
            expected["account_name"],
            expected["account_type"],
            expected["labels"]["store_id"] or "",
        )
        fields = ("opening_balance", "period_debit", "period_credit", "closing_balance")
        assert amounts == [expected[field] for field in fields]
    assert_fits(cli(*args, "--by", "store_id,channel").stdout)


def test_report_json_is_what_the_api_serves(ledger, client, auth):
    args = ["report", "trial-balance", "-c", "ACME", "--period", "2026-11", "-o", "json"]
    as_json = json.loads(cli(*args).stdout)
    served = client.get(
        "/api/v1/reports/trial-balance",
        params={"company_id": as_json["company_id"], "period": "2026-11"},
        headers=auth("finance", company="ACME"),
    )
    assert served.status_code == 200, served.text
    assert as_json == served.json()
    assert as_json["totals"]["period_debit"] == "1332.55"  # a string, exact


def test_report_csv_and_json_carry_the_same_exact_amounts(ledger):
    args = ["report", "tax", "-c", "ACME", "--period", "2026-11"]
    as_csv = cli(*args, "--output", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    document = json.loads(cli(*args, "--output", "json").stdout)

    assert as_csv == cli(*args, "--csv", "-").stdout

    assert [{k: v for k, v in row.items() if k != "period"} for row in rows] == [
        {k: v for k, v in row.items() if k != "period"} for row in document["rows"]
    ]
    assert sum(D(row["tax_collected"]) for row in rows) == D(document["total_collected"]) == D("8.55")


# -- listings on the demo data -----------------------------------------------------------------------


@pytest.fixture
def trading(runtime):
    """The demo company after a day of simulated trading in one store."""
    cli("init", "--demo")
    cli("simulate", "--company", "DEMO", "--stores", "1", "--days", "1", "--scale", "0.2")
    return runtime


LISTINGS = {
    # command: the JSON fields that are key columns of its table, printed whole
    ("token", "list"): ["prefix", "role", "state"],
    ("stock", "check", "--company", "DEMO"): ["role", "stock_value", "ledger_balance", "difference"],
    ("stock", "valuation", "--company", "DEMO"): ["sku", "location_code", "quantity", "value"],
    ("orders", "list", "--company", "DEMO", "--limit", "20"): ["number", "channel", "state", "gross_total"],
    ("orders", "invoices", "--company", "DEMO"): ["number", "date", "order_number", "gross_total"],
    ("pos", "sessions", "--company", "DEMO"): ["id", "terminal", "state", "expected_cash"],
    ("ledger", "open-items", "--company", "DEMO"): ["account_code", "date", "entry_number", "open_balance"],
}


def test_every_listing_fits_80_columns_with_its_keys_whole_and_prints_json_and_csv_alike(trading):
    for command, keys in LISTINGS.items():
        table = cli(*command).stdout
        rows = json.loads(cli(*command, "--output", "json").stdout)
        as_csv = list(csv.DictReader(io.StringIO(cli(*command, "--output", "csv").stdout)))

        assert_fits(table)
        words = set(table.split())
        for row in rows:
            for key in keys:
                assert str(row[key]) in words, (command, key, row[key])
        assert as_csv == [{k: csv_text(v) for k, v in row.items()} for row in rows], command
    sessions = json.loads(cli("pos", "sessions", "--company", "DEMO", "-o", "json").stdout)
    assert sessions and all(isinstance(s["sale_count"], int) for s in sessions)
