"""Tax kinds in master data, the company's rounding conventions over HTTP, and the per-tax breakdown on
order lines: the worked examples of docs/pricing-and-tax.md through the API, on both backends."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem, events
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting.tables import JournalLine
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


def rule(company, category, taxes):
    return {"company_id": company["id"], "jurisdiction": "FR", "tax_category": category, "taxes": taxes}


@pytest.fixture
def shop(runtime, client, admin, company, store_factory, product_factory):
    """Warehouse W1; ``stock(sku, list_price, tax_category)`` makes a product with 20 in stock there."""
    warehouse = store_factory("W1", kind="warehouse")

    def stock(sku, list_price, tax_category):
        product = product_factory(sku, list_price=list_price, tax_category=tax_category)
        with transaction(runtime.session_factory) as session:
            row = session.get(Company, uuid.UUID(company["id"]))
            at = {
                kind: session.query(Location)
                .filter(Location.company_id == row.id, Location.kind == kind)
                .filter((Location.store_id == uuid.UUID(warehouse["id"])) if kind == "stock" else True)
                .first()
                .id
                for kind in ("supplier", "stock")
            }
            move_stock(
                session,
                CommandContext(system_principal()),
                row,
                kind="receipt",
                lines=[
                    MoveLine(uuid.UUID(product["id"]), Decimal(20), at["supplier"], at["stock"], Decimal(1))
                ],
                date=dt.date(2026, 3, 1),
            )
        return product

    return stock


def place(client, admin, company, product, quantity="1"):
    body = {"company_id": company["id"], "lines": [{"product_id": product["id"], "quantity": quantity}]}
    response = client.post(f"{API}/orders", json=body, headers=admin)
    assert response.status_code == 201, response.text
    order = client.get(f"{API}/orders/{response.json()['id']}", headers=admin).json()
    return order, order["lines"][0]


def breakdown(line):
    return [(t["code"], t["base"], t["amount"]) for t in line["taxes"]]


# -- master data ------------------------------------------------------------------------------------


def test_a_zero_rated_rule_has_no_taxes_and_taxes_nothing(client, admin, create, company, shop):
    created = create("/tax-rules", rule(company, "zero", []))
    assert created["taxes"] == []
    order, line = place(client, admin, company, shop("BOOK", "12.00", "zero"))
    assert (line["net"], line["tax"], line["gross"], line["taxes"]) == ("12.00", "0.00", "12.00", [])
    assert (order["net_total"], order["tax_total"], order["gross_total"]) == ("12.00", "0.00", "12.00")


def test_a_zero_rated_order_posts_its_revenue(runtime, client, admin, create, company, shop):
    create("/tax-rules", rule(company, "zero", []))
    order, _ = place(client, admin, company, shop("BOOK", "12.00", "zero"))
    paid = client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_zero", "amount": "12.00"},
        headers=admin,
    )
    assert paid.status_code == 200, paid.text
    done = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin)
    assert done.status_code == 200, done.text
    with transaction(runtime.session_factory) as session:
        by_role = dict(
            session.execute(
                select(Account.role, func.sum(JournalLine.credit) - func.sum(JournalLine.debit))
                .join(Account, Account.id == JournalLine.account_id)
                .where(Account.role.in_(["sales_revenue", "output_tax"]))
                .group_by(Account.role)
            ).all()
        )
    assert by_role == {"sales_revenue": Decimal("12.00")}


def test_a_group_is_stored_with_its_children_and_taxes_in_its_place(client, admin, create, company, shop):
    group = {
        "code": "US-CA",
        "name": "California",
        "kind": "group",
        "price_included": False,
        "children": [
            {"code": "CA-STATE", "name": "State", "rate_percent": "6.25", "price_included": False},
            {"code": "CA-COUNTY", "name": "County", "rate_percent": "1", "price_included": False},
        ],
    }
    created = create("/tax-rules", rule(company, "ca", [group]))
    [shown] = created["taxes"]
    assert (shown["code"], shown["kind"], [c["code"] for c in shown["children"]]) == (
        "US-CA",
        "group",
        ["CA-STATE", "CA-COUNTY"],
    )
    assert client.get(f"{API}/tax-rules/{created['id']}", headers=admin).json() == created

    _, line = place(client, admin, company, shop("TOY", "19.99", "ca"))
    # 19.99 x 6.25 % = 1.249375 -> 1.25; x 1 % = 0.1999 -> 0.20; both on 19.99.
    assert breakdown(line) == [("CA-STATE", "19.99", "1.25"), ("CA-COUNTY", "19.99", "0.20")]
    assert [t["group"] for t in line["taxes"]] == ["US-CA", "US-CA"]
    assert (line["net"], line["tax"], line["gross"]) == ("19.99", "1.45", "21.44")


def test_a_fixed_tax_on_a_zero_price_is_charged_per_unit(client, admin, create, company, shop):
    eco = {"code": "ECO", "name": "Eco fee", "kind": "fixed", "amount": "0.50", "price_included": False}
    create("/tax-rules", rule(company, "eco", [eco]))
    order, line = place(client, admin, company, shop("SAMPLE", "0.00", "eco"), quantity="3")
    assert breakdown(line) == [("ECO", "0.00", "1.50")]
    assert (order["net_total"], order["tax_total"], order["gross_total"]) == ("0.00", "1.50", "1.50")


def test_a_cascading_tax_raises_the_base_of_the_next(client, admin, create, company, shop):
    excise = {
        "code": "EXC",
        "name": "Excise",
        "rate_percent": "10",
        "price_included": False,
        "affects_base": True,
    }
    vat = {**VAT_20, "price_included": False}
    create("/tax-rules", rule(company, "spirits", [excise, vat]))
    _, line = place(client, admin, company, shop("GIN", "100.00", "spirits"))
    assert breakdown(line) == [("EXC", "100.00", "10.00"), ("FR-VAT-20", "110.00", "22.00")]
    assert (line["net"], line["tax"], line["gross"]) == ("100.00", "32.00", "132.00")


# -- conventions -------------------------------------------------------------------------------------


def test_tax_settings_read_the_defaults_until_set(client, admin, company):
    response = client.get(f"{API}/tax-settings", params={"company_id": company["id"]}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "company_id": company["id"],
        "preset": "retailcore",
        "rounding": "per_tax",
        "included_rounding": "tax_first",
        "included_remainder": "last",
        "is_set": False,
    }


def test_tax_settings_take_a_preset_and_fields_on_top(client, admin, company, runtime):
    put = client.put(
        f"{API}/tax-settings", json={"company_id": company["id"], "preset": "odoo"}, headers=admin
    )
    assert put.status_code == 200, put.text
    assert (put.json()["preset"], put.json()["rounding"], put.json()["included_rounding"]) == (
        "odoo",
        "line",
        "base_first",
    )
    put = client.put(
        f"{API}/tax-settings", json={"company_id": company["id"], "rounding": "global"}, headers=admin
    )
    assert (put.json()["preset"], put.json()["rounding"], put.json()["included_rounding"]) == (
        "custom",
        "global",
        "base_first",
    )
    read = client.get(f"{API}/tax-settings", params={"company_id": company["id"]}, headers=admin).json()
    assert read == {**put.json(), "is_set": True}
    changed = events(runtime, type="TaxSettingsChanged")
    assert [e.payload["after"]["preset"] for e in changed] == ["odoo", "custom"]
    assert changed[0].payload["before"]["preset"] == "retailcore"


def test_tax_settings_refuse_an_unknown_convention_and_write_nothing(client, admin, company, snapshot):
    before = snapshot()
    body = {"company_id": company["id"], "included_rounding": "sometimes"}
    assert_problem(
        client.put(f"{API}/tax-settings", json=body, headers=admin), 422, fields=("included_rounding",)
    )
    assert snapshot() == before


def test_the_half_cent_included_tax_under_both_conventions(client, admin, create, company, shop):
    create("/tax-rules", rule(company, "standard", [VAT_20]))
    product = shop("MUG", "10.53", "standard")
    # Default (tax first): 10.53 / 1.2 = 8.775, tax 1.755 -> 1.76, the net absorbs: 8.77.
    _, line = place(client, admin, company, product)
    assert (line["net"], line["tax"], line["gross"]) == ("8.77", "1.76", "10.53")
    assert line["taxes"][0]["unrounded"] == "1.755"
    # Odoo (base first): the net 8.775 -> 8.78, the tax is what the gross leaves: 1.75.
    client.put(f"{API}/tax-settings", json={"company_id": company["id"], "preset": "odoo"}, headers=admin)
    _, line = place(client, admin, company, product)
    assert (line["net"], line["tax"], line["gross"]) == ("8.78", "1.75", "10.53")
    assert breakdown(line) == [("FR-VAT-20", "8.78", "1.75")]


def test_two_included_taxes_the_cent_falls_on_the_last_under_odoo(client, admin, create, company, shop):
    a = {"code": "A10", "name": "A", "rate_percent": "10"}
    b = {"code": "B5", "name": "B", "rate_percent": "5"}
    create("/tax-rules", rule(company, "two", [a, b]))
    product = shop("PEN", "0.27", "two")
    _, line = place(client, admin, company, product)
    assert (line["net"], breakdown(line)) == ("0.24", [("A10", "0.24", "0.02"), ("B5", "0.24", "0.01")])
    client.put(f"{API}/tax-settings", json={"company_id": company["id"], "preset": "odoo"}, headers=admin)
    _, line = place(client, admin, company, product)
    assert (line["net"], breakdown(line)) == ("0.23", [("A10", "0.23", "0.02"), ("B5", "0.23", "0.02")])
    assert line["gross"] == "0.27"


def test_a_patch_turns_a_rule_into_a_group_and_back(client, admin, create, company):
    created = create("/tax-rules", rule(company, "standard", [VAT_20]))
    url = f"{API}/tax-rules/{created['id']}"
    group = {
        "code": "G",
        "name": "Group",
        "kind": "group",
        "children": [VAT_20, {"code": "ECO", "name": "Eco", "kind": "fixed", "amount": "0.25"}],
    }
    patched = client.patch(url, json={"taxes": [group]}, headers=admin)
    assert patched.status_code == 200, patched.text
    [shown] = patched.json()["taxes"]
    assert [(c["code"], c["kind"], c["amount"]) for c in shown["children"]] == [
        ("FR-VAT-20", "percent", None),
        ("ECO", "fixed", "0.25"),
    ]
    back = client.patch(url, json={"taxes": [VAT_20]}, headers=admin)
    assert [(t["code"], t["children"]) for t in back.json()["taxes"]] == [("FR-VAT-20", [])]
    assert client.get(url, headers=admin).json() == back.json()
