"""``--company`` by code or id, or the installation's only company; the demo's tokens and first calls.

Issue 14 (decision 0021): every command that takes ``--company`` resolves it as the API resolves
``company_id`` (``entrypoints/cli/companies.py``), and ``retailcore init --demo`` prints an admin token
and a finance token of DEMO with two ``curl`` lines that work as printed.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.cli.main import app, demo_welcome
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata.demo import demo_loaded

runner = CliRunner()
CURL = re.compile(
    r"^  curl -H 'Authorization: Bearer (?P<token>rc_\S+)' 'http://127\.0\.0\.1:8000(?P<path>/\S+)'$"
)


@pytest.fixture
def demo(runtime) -> list[str]:
    """``retailcore init --demo``, and what it printed on stdout, line by line."""
    result = runner.invoke(app, ["init", "--demo"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()


def add_company(runtime, code: str) -> None:
    with transaction(runtime.session_factory) as session:
        request = c.CreateCompany(code=code, name=code, currency="EUR", country="FR", chart_template=None)
        s.create_company(session, CommandContext(system_principal()), request)


def test_init_demo_prints_both_tokens_labelled_and_first_calls_that_work_as_printed(runtime, demo):
    admin = demo[-1]
    finance = demo[demo.index("finance token of DEMO (its books and reports; shown once):") + 1]
    calls = [match for line in demo if (match := CURL.match(line))]

    assert admin.startswith("rc_") and " " not in admin
    assert demo[-2].startswith("admin token (installation-wide")
    assert finance.startswith("rc_") and finance != admin
    assert [call["token"] for call in calls] == [finance, admin]
    assert calls[0]["path"].startswith("/api/v1/reports/trial-balance?date_from=")
    assert "company_id=DEMO" in calls[1]["path"]
    with TestClient(create_app(runtime)) as client:
        for call in calls:
            response = client.get(call["path"], headers={"Authorization": f"Bearer {call['token']}"})
            assert response.status_code == 200, (call["path"], response.text)
        tokens = client.get(
            "/api/v1/tokens", params={"company_id": "DEMO"}, headers={"Authorization": f"Bearer {admin}"}
        ).json()["items"]
    assert [(token["name"], token["role"]) for token in tokens] == [("demo-finance", "finance")]


def test_every_company_option_defaults_to_the_only_company(runtime, demo):
    for args in (
        ["stock", "check"],
        ["report", "trial-balance", "--from", "2026-01-01", "--to", "2026-01-31"],
        ["orders", "list"],
        ["pos", "sessions"],
        ["ledger", "open-items"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)


def test_a_company_is_named_by_id_or_by_code_with_the_short_option_too(runtime, demo):
    with runtime.session_factory() as session:
        company_id = str(demo_loaded(session).id)

    by_id = runner.invoke(app, ["stock", "check", "--company", company_id])
    by_code = runner.invoke(app, ["stock", "check", "-c", "DEMO"])

    assert by_id.exit_code == 0, by_id.output
    assert by_id.stdout == by_code.stdout


def test_with_several_companies_a_command_says_how_to_name_one(runtime, demo):
    add_company(runtime, "ACME")

    result = runner.invoke(app, ["stock", "check"])

    assert result.exit_code == 1
    assert (
        "name the company with --company, by its code or id: the installation has several companies"
        " (ACME, DEMO)" in result.stderr
    )


def test_an_unknown_company_is_one_clear_error(runtime, demo):
    result = runner.invoke(app, ["orders", "list", "--company", "NOPE"])

    assert result.exit_code == 1
    assert "no company 'NOPE'" in result.stderr


def test_the_first_calls_go_where_the_api_will_be_served():
    lines = demo_welcome("DEMO", "rc_f", "rc_a", dt.date(2026, 12, 6), "http://0.0.0.0:9000/")
    assert (
        "  curl -H 'Authorization: Bearer rc_a' 'http://0.0.0.0:9000/api/v1/orders?company_id=DEMO&limit=5'"
        in (lines)
    )
    assert lines[3].endswith(
        "'http://0.0.0.0:9000/api/v1/reports/trial-balance?date_from=2026-10-01&date_to=2026-12-06'"
    )
