"""``retailcore close check|run --period`` against the test database: the API tests' month in order
(tests/api/test_close_checklist.py), then one fault."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
from settlement_shop import Shop
from test_close_checklist import LAST_DAY, PERIOD, month_in_order, pos_session_on_another_till

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
