"""The stock valuation report and the agreement check, over HTTP and at the command line."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location


@pytest.fixture
def stocked(runtime, client, admin, company, store_factory):
    """Store S1 holding 4 units of P1 received at 2.50 on 2026-03-01, one sold on 2026-03-05."""
    store = store_factory("S1")
    product = client.post(
        "/api/v1/products",
        json={"company_id": company["id"], "sku": "P1", "name": "P1", "category": "Cat", "list_price": "9"},
        headers=admin,
    ).json()
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        locations = {
            (loc.kind, loc.store_id): loc.id
            for loc in session.query(Location).filter(Location.company_id == company_id)
        }
        stock = locations[("stock", uuid.UUID(store["id"]))]
        ctx = CommandContext(system_principal())
        company_row = session.get(Company, company_id)
        product_id = uuid.UUID(product["id"])
        move_stock(
            session,
            ctx,
            company_row,
            kind="receipt",
            date=dt.date(2026, 3, 1),
            lines=[MoveLine(product_id, Decimal(4), locations[("supplier", None)], stock, Decimal("2.50"))],
        )
        move_stock(
            session,
            ctx,
            company_row,
            kind="delivery",
            date=dt.date(2026, 3, 5),
            lines=[MoveLine(product_id, Decimal(1), stock, locations[("customer", None)])],
        )
    return company


def test_valuation_at_any_date(client, auth, stocked):
    finance = auth("finance", company="ACME")
    before_sale = client.get("/api/v1/reports/stock-valuation?as_of=2026-03-02", headers=finance).json()
    assert [(r["sku"], r["quantity"], r["value"]) for r in before_sale["rows"]] == [("P1", "4.00", "10.00")]
    after_sale = client.get("/api/v1/reports/stock-valuation?as_of=2026-03-31", headers=finance).json()
    assert (after_sale["total_quantity"], after_sale["total_value"]) == ("3.00", "7.50")
    empty = client.get("/api/v1/reports/stock-valuation?as_of=2026-02-28", headers=finance).json()
    assert empty["rows"] == []
    csv_text = client.get("/api/v1/reports/stock-valuation?as_of=2026-03-31&format=csv", headers=finance).text
    assert csv_text.splitlines()[1] == "P1,Cat,S1/STOCK,stock,3.00,7.50"


def test_the_check_agrees_until_someone_posts_by_hand_to_inventory(client, auth, stocked):
    finance = auth("finance", company="ACME")
    check = client.get("/api/v1/stock/check?as_of=2026-03-31", headers=finance).json()
    assert check["agrees"] is True
    inventory = next(r for r in check["roles"] if r["role"] == "inventory")
    assert inventory == {
        "role": "inventory",
        "stock_value": "7.50",
        "ledger_balance": "7.50",
        "awaiting_posting": "0.00",
        "difference": "0.00",
    }

    accounts = client.get("/api/v1/accounts?role=inventory", headers=finance).json()["items"]
    equity = client.get("/api/v1/accounts?role=opening_balance", headers=finance).json()["items"]
    client.post(
        "/api/v1/journal-entries",
        json={
            "date": "2026-03-10",
            "reference": "by hand",
            "lines": [
                {"account_id": accounts[0]["id"], "debit": "1.00"},
                {"account_id": equity[0]["id"], "credit": "1.00"},
            ],
        },
        headers=finance,
    )
    check = client.get("/api/v1/stock/check?as_of=2026-03-31", headers=finance).json()
    assert check["agrees"] is False
    assert next(r for r in check["roles"] if r["role"] == "inventory")["difference"] == "1.00"

    result = CliRunner().invoke(app, ["stock", "check", "--company", "ACME", "--as-of", "2026-03-31"])
    assert result.exit_code == 1
    assert "disagree" in result.stderr
    ok = CliRunner().invoke(app, ["stock", "check", "--company", "ACME", "--as-of", "2026-03-05"])
    assert ok.exit_code == 0, ok.output
    assert "agree" in ok.stdout


def test_cashiers_see_the_valuation_of_their_store_but_not_the_check(client, auth, stocked):
    cashier = auth("cashier", company="ACME", store="S1")
    assert client.get("/api/v1/reports/stock-valuation?as_of=2026-03-31", headers=cashier).status_code == 200
    assert client.get("/api/v1/stock/check", headers=cashier).status_code == 403
