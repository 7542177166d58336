"""POS sale lines carry the per-tax breakdown and follow the company's tax conventions: the half-cent
included tax under the odoo preset, and a fixed tax per unit inside the price, through a till."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from apitools import API


@pytest.fixture
def till(client, admin, auth, company, store_factory, product_factory):
    store = store_factory("S1")
    eco = {"code": "ECO", "name": "Eco fee", "kind": "fixed", "amount": "0.10", "price_included": True}
    vat = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}
    for path, body in (
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [vat]}),
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "eco", "taxes": [eco, vat]}),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    ).json()
    cashier = auth("cashier", company="ACME", store="S1")
    session = client.post(
        f"{API}/pos/sessions", json={"terminal_id": terminal["id"], "opening_float": "50.00"}, headers=cashier
    ).json()

    def sell(product, quantity, unit_price, paid):
        sale = {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
            "lines": [{"product_id": product["id"], "quantity": quantity, "unit_price": unit_price}],
            "payments": [{"payment_method_code": "CASH", "amount": paid}],
        }
        url = f"{API}/pos/sessions/{session['id']}/sales:batch"
        response = client.post(url, json={"sales": [sale]}, headers=cashier)
        assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
        orders = client.get(
            f"{API}/orders", params={"company_id": company["id"], "channel": "pos"}, headers=admin
        ).json()["items"]
        newest = max(orders, key=lambda o: o["number"])
        return client.get(f"{API}/orders/{newest['id']}", headers=admin).json()["lines"][0]

    return {
        "sell": sell,
        "mug": product_factory("MUG", list_price="10.53"),
        "bulb": product_factory("BULB", list_price="1.20", tax_category="eco"),
    }


def taxes(line):
    return [(t["code"], t["kind"], t["base"], t["amount"]) for t in line["taxes"]]


def test_a_till_sale_follows_the_odoo_preset_and_shows_its_taxes(client, admin, company, till):
    line = till["sell"](till["mug"], 1, "10.53", "10.53")
    assert (line["net"], line["tax"], taxes(line)) == ("8.77", "1.76", [("VAT20", "percent", "8.77", "1.76")])
    client.put(f"{API}/tax-settings", json={"company_id": company["id"], "preset": "odoo"}, headers=admin)
    line = till["sell"](till["mug"], 1, "10.53", "10.53")
    assert (line["net"], line["tax"], taxes(line)) == ("8.78", "1.75", [("VAT20", "percent", "8.78", "1.75")])


def test_a_fixed_tax_inside_the_price_is_charged_per_unit_at_the_till(till):
    # 3 x 1.20 = 3.60 gross: eco fee 3 x 0.10 = 0.30, net (3.60 - 0.30) / 1.2 = 2.75, VAT 0.55.
    line = till["sell"](till["bulb"], 3, "1.20", "3.60")
    assert (line["net"], line["tax"], line["gross"]) == ("2.75", "0.85", "3.60")
    assert taxes(line) == [("ECO", "fixed", "2.75", "0.30"), ("VAT20", "percent", "2.75", "0.55")]
