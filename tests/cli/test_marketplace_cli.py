"""``retailcore import marketplace``: the real CLI against the test database (SQLite or PostgreSQL),
on our own sample report (tests/fixtures/marketplace)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.connectors.tables import SyncMessage
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata import tables as t
from retailcore.orders import tables as ot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "marketplace"
COLUMNS = {
    "order_id": "order-id",
    "line_id": "order-item-id",
    "date": "purchase-date",
    "sku": "sku",
    "quantity": "quantity-purchased",
    "unit_price": "item-price",
    "tax": "item-tax",
    "status": "order-status",
}


@pytest.fixture
def amazon(runtime: Runtime, client, admin) -> str:
    """Company MKT (EUR, VAT 19 % included), warehouse W1 with 10 of each product, a connector."""

    def post(path, body):
        response = client.post(f"/api/v1/{path}", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()

    company_id = post("companies", {"code": "MKT", "name": "Markt", "currency": "EUR", "country": "DE"})["id"]
    post("stores", {"company_id": company_id, "code": "W1", "name": "W1", "kind": "warehouse"})
    vat = {"code": "DE-VAT-19", "name": "VAT 19%", "rate_percent": "19", "price_included": True}
    post(
        "tax-rules",
        {"company_id": company_id, "jurisdiction": "DE", "tax_category": "standard", "taxes": [vat]},
    )
    products = [
        post(
            "products",
            {
                "company_id": company_id,
                "sku": sku,
                "name": sku,
                "category": "Merch",
                "list_price": "9.00",
                "channels": ["web", "marketplace"],
            },
        )["id"]
        for sku in ("MK-TEE", "MK-CAP", "MK-MUG")
    ]
    settings = {"report": {"columns": COLUMNS, "shipped": ["Shipped"]}}
    post(
        "connectors",
        {"company_id": company_id, "kind": "marketplace", "name": "amazon-de", "settings": settings},
    )
    with transaction(runtime.session_factory) as session:
        company = session.get(t.Company, uuid.UUID(company_id))
        locations = dict(
            session.execute(
                select(t.Location.kind, t.Location.id).where(
                    t.Location.company_id == company.id, t.Location.kind.in_(("supplier", "stock"))
                )
            ).all()
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            company,
            kind="receipt",
            lines=[
                MoveLine(uuid.UUID(p), Decimal(10), locations["supplier"], locations["stock"], Decimal(5))
                for p in products
            ],
            date=dt.date(2026, 10, 1),
        )
    return "amazon-de"


def run(*args: str):
    return CliRunner().invoke(app, ["import", "marketplace", *args])


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(ot.OrderRow)),
            session.scalar(select(func.count()).select_from(SyncMessage)),
        )


def test_a_report_lands_then_counts_as_duplicates(runtime, amazon, tmp_path):
    report = tmp_path / "november.csv"
    shutil.copy(FIXTURES / "amazon_like.csv", report)

    first = run(str(report), "--connector", amazon)
    again = run(str(report), "--connector", amazon)

    assert first.exit_code == 0, first.output
    assert "3 orders in november.csv: 3 landed, 0 duplicates, 0 failed" in first.stdout
    assert again.exit_code == 0, again.output
    assert "0 landed, 3 duplicates, 0 failed" in again.stdout
    assert counts(runtime) == (3, 6)


def test_a_failed_order_is_listed_and_the_rest_lands(runtime, amazon, tmp_path):
    report = tmp_path / "bad.csv"
    report.write_bytes((FIXTURES / "amazon_like.csv").read_bytes().replace(b"MK-MUG", b"MK-NONE"))

    result = run(str(report), "--connector", amazon)

    assert result.exit_code == 0, result.output
    assert "2 landed, 0 duplicates, 1 failed" in result.stdout
    assert "order 302-0000002 failed" in result.stderr and "MK-NONE" in result.stderr
    assert counts(runtime) == (2, 3)


def test_a_json_report_by_its_extension_or_format(runtime, amazon, tmp_path):
    rows = [
        {
            "order-id": "J-1",
            "sku": "MK-TEE",
            "quantity-purchased": 1,
            "item-price": "23.80",
            "item-tax": "3.80",
        }
    ]
    report = tmp_path / "report.txt"
    report.write_text(json.dumps(rows))

    assert run(str(report), "--connector", amazon).exit_code == 1  # read as CSV: no mapped columns
    result = run(str(report), "--connector", amazon, "--format", "json")

    assert result.exit_code == 0, result.output
    assert "1 landed" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--connector", "amazon-de"], "no such file"),
        (["REPORT", "--connector", "nobody"], "no marketplace connector named nobody"),
        (["HEADERLESS", "--connector", "amazon-de"], "item-price"),
        (["EMPTY", "--connector", "amazon-de"], "the file is empty"),
    ],
)
def test_nothing_read_exits_1_and_writes_nothing(runtime, amazon, tmp_path, args, message):
    files = {
        "REPORT": FIXTURES / "amazon_like.csv",
        "HEADERLESS": tmp_path / "headerless.csv",
        "EMPTY": tmp_path / "empty.csv",
    }
    files["HEADERLESS"].write_bytes((FIXTURES / "amazon_like.csv").read_bytes().replace(b"item-price", b"x"))
    files["EMPTY"].write_bytes(b"")
    args = [str(files.get(arg, arg)) if arg in files else arg for arg in args]

    result = run(*args)

    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert counts(runtime) == (0, 0)


def test_an_unknown_format_is_a_usage_error(runtime, amazon):
    result = run(str(FIXTURES / "amazon_like.csv"), "--connector", amazon, "--format", "xml")
    assert result.exit_code == 2
