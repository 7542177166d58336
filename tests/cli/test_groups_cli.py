"""``retailcore groups ...`` and the group's reports on the command line (decision 0040)."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app

runner = CliRunner(env={"COLUMNS": "200"})


def cli(*args: str):
    return runner.invoke(app, list(args))


def test_a_group_made_on_the_command_line_and_its_consolidated_trial_balance(client, admin, auth, company):
    uk = client.post(
        "/api/v1/companies",
        json={"code": "ACMEUK", "name": "Acme UK", "currency": "GBP", "country": "GB"},
        headers=admin,
    )
    assert uk.status_code == 201, uk.text

    created = cli("groups", "create", "--code", "EUROPE", "--name", "Acme Europe", "--parent", "ACME")
    added = cli("groups", "add", "EUROPE", "--company", "ACMEUK")
    listed = cli("groups", "list", "--output", "json")

    assert created.exit_code == 0, created.output
    assert "group EUROPE created (EUR): ACME" in created.stdout
    assert added.exit_code == 0 and "group EUROPE: ACME, ACMEUK" in added.stdout
    assert json.loads(listed.stdout)[0]["code"] == "EUROPE"

    # No GBP rate at ACME yet: the report says which rate is missing, exit 1.
    missing = cli("report", "consolidated-trial-balance", "--group", "EUROPE", "--as-of", "2026-11-30")
    assert missing.exit_code == 1 and "no GBP exchange rate" in missing.stderr

    rate = client.post(
        "/api/v1/exchange-rates",
        json={"currency": "GBP", "date": "2026-11-01", "rate": "1.25"},
        headers=auth("finance", company="ACME"),
    )
    assert rate.status_code == 201, rate.text
    result = cli(
        "report",
        "consolidated-trial-balance",
        "--group",
        "EUROPE",
        "--as-of",
        "2026-11-30",
        "--output",
        "json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["group"], document["currency"], document["balanced"]) == ("EUROPE", "EUR", True)
    assert [rate["closing_rate"] for rate in document["rates"]] == ["1.00", "1.25"]
    eliminations = cli(
        "report", "intercompany-eliminations", "--group", "EUROPE", "--as-of", "2026-11-30", "--csv", "-"
    )
    assert eliminations.exit_code == 0, eliminations.output
    header = next(csv.reader(io.StringIO(eliminations.stdout)))
    assert header[:3] == ["creditor", "debtor", "receivable"]


def test_bad_group_input_exits_1_with_a_message(company):
    unknown = cli("report", "consolidated-trial-balance", "--group", "NOPE", "--as-of", "2026-11-30")
    assert unknown.exit_code == 1 and "no company group 'NOPE'" in unknown.stderr
    no_parent = cli("groups", "create", "--code", "G", "--name", "G", "--parent", "NOPE")
    assert no_parent.exit_code == 1 and "no company 'NOPE'" in no_parent.stderr
    twice = cli("groups", "create", "--code", "G", "--name", "G", "--parent", "ACME")
    assert twice.exit_code == 0, twice.output
    again = cli("groups", "create", "--code", "H", "--name", "H", "--parent", "ACME")
    assert again.exit_code == 1 and "already in group G" in again.stderr
