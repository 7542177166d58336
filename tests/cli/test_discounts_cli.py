"""``retailcore discounts limits|set-limit|posting`` against the test database (ACME, EUR)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def test_limits_are_set_for_the_company_and_a_store_and_listed(company, store_factory):
    store_factory("S1")

    set_company = cli("discounts", "set-limit", "--max-percent", "10")
    set_store = cli("discounts", "set-limit", "--store", "S1", "--max-amount", "6.00")
    listed = cli("discounts", "limits", "--output", "json")

    assert set_company.exit_code == 0, set_company.output
    assert set_store.exit_code == 0, set_store.output
    assert listed.exit_code == 0, listed.output
    rows = sorted(
        (row["store_id"] is None, row["max_percent"], row["max_amount"]) for row in json.loads(listed.stdout)
    )
    assert rows == [(False, None, "6.00"), (True, "10.00", None)]


def test_a_limit_above_100_percent_is_a_usage_error(company):
    result = cli("discounts", "set-limit", "--max-percent", "120")

    assert result.exit_code == 2


def test_posting_is_shown_and_chosen(company):
    assert "ACME: discounts post net" in cli("discounts", "posting").stdout
    chosen = cli("discounts", "posting", "contra")
    assert chosen.exit_code == 0, chosen.output
    assert "ACME: discounts post contra" in cli("discounts", "posting").stdout
