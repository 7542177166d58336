"""``retailcore exceptions list|acknowledge|assign|resolve`` against the test database (ACME, EUR)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal

from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app
from retailcore.monitoring.tables import ExceptionCase

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def test_list_by_priority_as_a_table_json_and_csv(chain, client, admin):
    reserved = client.post(
        "/api/v1/reservations",
        json={
            "company_id": str(chain.company_id),
            "product_id": chain.tee,
            "location_id": str(chain.location("stock", "S1")),
            "quantity": "10",
            "channel": "web",
            "order_ref": "WEB-9",
            "order_line_ref": "1",
        },
        headers=admin,
    )
    assert reserved.status_code == 201, reserved.text
    chain.sell("11")  # S1: negative stock (medium) and short of what is promised (oversold, high)
    chain.sell("4", store="S2")  # negative stock in S2

    shown = cli("exceptions", "list", "--priority", "--company", "ACME")
    assert shown.exit_code == 0, shown.output
    assert "by priority" in shown.output and "oversold" in shown.output and "negative_stock" in shown.output

    document = json.loads(cli("exceptions", "list", "--priority", "-o", "json").stdout)
    assert document[0]["type"] == "oversold"
    assert sorted(item["type"] for item in document) == ["negative_stock", "negative_stock", "oversold"]
    priorities = [Decimal(item["priority"]) for item in document]
    assert priorities == sorted(priorities, reverse=True)

    rows = list(csv.DictReader(io.StringIO(cli("exceptions", "list", "--store", "S2", "-o", "csv").stdout)))
    assert [(r["type"], r["store"]) for r in rows] == [("negative_stock", "S2")]
    only = json.loads(cli("exceptions", "list", "--type", "oversold", "-o", "json").stdout)
    assert [item["type"] for item in only] == ["oversold"]


def test_acknowledge_assign_resolve_and_what_they_refuse(chain, runtime):
    chain.sell("11")
    [negative] = json.loads(cli("exceptions", "list", "-o", "json").stdout)
    target = negative["id"]

    acknowledged = cli("exceptions", "acknowledge", target, "--note", "counting")
    assert acknowledged.exit_code == 0, acknowledged.output
    assert "acknowledged" in acknowledged.output
    assigned = cli("exceptions", "assign", target, "--owner", "ann", "-o", "json")
    assert assigned.exit_code == 0, assigned.output
    assert json.loads(assigned.stdout)["owner"] == "ann"
    resolved = cli("exceptions", "resolve", target, "--note", "found them")
    assert resolved.exit_code == 0, resolved.output
    with runtime.session_factory() as session:
        row = session.get(ExceptionCase, uuid.UUID(target))
        assert (row.status, row.owner, row.resolution) == ("resolved", "ann", "found them")
        assert "cli:exceptions:resolve" in row.updated_by

    again = cli("exceptions", "resolve", target)
    assert again.exit_code == 1 and "already resolved" in again.output
    assert cli("exceptions", "list", "-o", "json").stdout.strip() == "[]"  # unresolved only, by default
    assert len(json.loads(cli("exceptions", "list", "--status", "all", "-o", "json").stdout)) == 1
    unknown = cli("exceptions", "acknowledge", str(uuid.uuid4()))
    assert unknown.exit_code == 1 and "no exception" in unknown.output
    assert cli("exceptions", "acknowledge", "not-an-id").exit_code == 2
    assert cli("exceptions", "assign", target).exit_code == 2  # --owner is required
