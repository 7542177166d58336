"""``retailcore close check|run --period`` against the test database: the API tests' month in order
(tests/api/test_close_checklist.py), then one fault."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from apitools import API
from settlement_shop import Shop
from test_close_checklist import LAST_DAY, PERIOD, month_in_order, pos_session_on_another_till
from test_close_items import NEXT_FIRST, b2b_order, tax_entries

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def test_check_then_run_locks_the_period_once_the_amber_item_is_accepted(runtime, client, admin, auth):
    shop = Shop(runtime, client, admin)
    month_in_order(client, admin, auth, auth("finance", company="SHOP"), shop)

    checked = cli("close", "check", "--period", PERIOD, "--company", "SHOP")
    as_json = cli("close", "check", "--period", PERIOD, "--company", "SHOP", "-o", "json")

    assert checked.exit_code == 0, checked.output
    assert "gateway:stripe" in checked.stdout and "amber" in checked.stdout
    assert {i["code"]: i["status"] for i in json.loads(as_json.stdout)["items"]}["stock"] == "green"
    refused = cli("close", "run", "--period", PERIOD, "--company", "SHOP")
    assert refused.exit_code == 1
    assert "grni" in refused.output
    closed = cli("close", "run", "--period", PERIOD, "--company", "SHOP", "--accept", "grni")
    assert closed.exit_code == 0, closed.output
    assert f"lock date {LAST_DAY}" in closed.stdout


def test_an_open_session_makes_check_exit_1_naming_it(runtime, client, admin, auth):
    shop = Shop(runtime, client, admin)
    month_in_order(client, admin, auth, auth("finance", company="SHOP"), shop)
    pos_session_on_another_till(client, auth)

    checked = cli("close", "check", "--period", PERIOD, "--company", "SHOP")

    assert checked.exit_code == 1
    assert "red: pos_sessions" in checked.output
    assert cli("close", "check", "--period", "2026-13", "--company", "SHOP").exit_code == 1


def test_accrue_posts_once_and_report_lists_the_entries(runtime, client, admin, auth):
    shop = Shop(runtime, client, admin)
    made = client.post(
        f"{API}/customers", json={"company_id": shop.company["id"], "name": "Trade Co"}, headers=admin
    )
    assert made.status_code == 201, made.text
    customer = made.json()
    b2b_order(client, admin, shop, customer, "50.00", "2")

    first = cli("close", "accrue", "--period", PERIOD, "--company", "SHOP")
    again = cli("close", "accrue", "--period", PERIOD, "--company", "SHOP")
    report = cli("close", "report", "--period", PERIOD, "--company", "SHOP")

    assert first.exit_code == 0, first.output
    assert "accrued 1 order(s)" in first.stdout and "to accrue 100.00" in first.stdout
    assert again.exit_code == 0 and "already current" in again.stdout
    rows = [r for r in csv.DictReader(io.StringIO(report.stdout)) if r["code"] == "accruals"]
    assert rows[0]["status"] == "green"
    assert [(r["entry_date"], r["amount"]) for r in rows[1:]] == [
        (LAST_DAY, "100.00"),
        (NEXT_FIRST.isoformat(), "100.00"),
    ]
    assert cli("close", "accrue", "--period", "2026-13", "--company", "SHOP").exit_code == 1


def test_report_tax_return_prints_rates_and_boxes(runtime, client, admin, auth):
    shop = Shop(runtime, client, admin)
    tax_entries(client, auth("finance", company="SHOP"), shop)

    found = cli("report", "tax-return", "--period", PERIOD, "--company", "SHOP", "-o", "csv")

    assert found.exit_code == 0, found.output
    rows = list(csv.DictReader(io.StringIO(found.stdout)))
    assert {r["code"]: r["amount"] for r in rows if r["section"] == "box"} == {
        "1": "205.00",
        "2": "40.00",
        "3": "165.00",
        "4": "1100.00",
        "5": "200.00",
    }
    assert cli("report", "tax-return", "--period", "2026-13", "--company", "SHOP").exit_code == 1
