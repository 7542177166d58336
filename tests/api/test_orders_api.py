"""Web orders over HTTP: place (idempotent), list and read, capture, fulfil, cancel, and who may."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location

VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


@pytest.fixture
def setup(runtime, client, admin, company, store_factory, product_factory):
    """Warehouse W1 with 5 SHIRT (30.00 incl. 20% VAT) in stock, store S1 with 1."""
    warehouse = store_factory("W1", kind="warehouse")
    store = store_factory("S1")
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    shirt = product_factory("SHIRT", list_price="30.00")
    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, uuid.UUID(company["id"]))

        def location(kind, store_id=None):
            for row in session.query(Location).filter_by(company_id=company_row.id, kind=kind):
                if store_id is None or row.store_id == uuid.UUID(store_id):
                    return row.id
            raise AssertionError(kind)

        lines = [
            MoveLine(
                uuid.UUID(shirt["id"]),
                Decimal(5),
                location("supplier"),
                location("stock", warehouse["id"]),
                Decimal(10),
            ),
            MoveLine(
                uuid.UUID(shirt["id"]),
                Decimal(1),
                location("supplier"),
                location("stock", store["id"]),
                Decimal(10),
            ),
        ]
        move_stock(
            session,
            CommandContext(system_principal()),
            company_row,
            kind="receipt",
            lines=lines,
            date=dt.date(2026, 3, 1),
        )
    return {"company": company, "warehouse": warehouse, "store": store, "shirt": shirt}


def order_body(setup, quantity="2", **fields):
    return {
        "company_id": setup["company"]["id"],
        "lines": [{"product_id": setup["shirt"]["id"], "quantity": quantity}],
        **fields,
    }


def test_a_web_order_is_placed_paid_and_fulfilled(client, admin, setup):
    placed = client.post(f"{API}/orders", json=order_body(setup), headers=admin)

    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert placed.headers["Location"] == f"{API}/orders/{order['id']}"
    assert (order["number"], order["state"], order["channel"]) == ("SO-000001", "confirmed", "web")
    assert (order["net_total"], order["tax_total"], order["gross_total"]) == ("50.00", "10.00", "60.00")
    assert order["store_id"] == setup["warehouse"]["id"]
    assert order["lines"][0]["reservation_id"]

    paid = client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_1", "amount": "60.00"},
        headers=admin,
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["paid_amount"] == "60.00"
    assert paid.json()["payments"][0]["state"] == "captured"

    done = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "fulfilled"
    assert done.json()["lines"][0]["fulfilled_quantity"] == "2.00"

    read = client.get(f"{API}/orders/{order['id']}", headers=admin)
    assert read.json() == done.json()


def test_placing_with_an_idempotency_key_twice_places_one_order(client, admin, setup, snapshot):
    headers = {**admin, "Idempotency-Key": "cart-42"}
    first = client.post(f"{API}/orders", json=order_body(setup), headers=headers)
    after_first = snapshot()

    second = client.post(f"{API}/orders", json=order_body(setup), headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert snapshot() == after_first
    listed = client.get(f"{API}/orders", params={"company_id": setup["company"]["id"]}, headers=admin)
    assert [o["number"] for o in listed.json()["items"]] == ["SO-000001"]


def test_short_stock_is_refused_naming_the_line_and_nothing_is_written(client, admin, setup, snapshot):
    before = snapshot()

    response = client.post(f"{API}/orders", json=order_body(setup, quantity="9"), headers=admin)

    assert_problem(response, 409, "insufficient-stock", fields=("lines.0.quantity",))
    assert snapshot() == before


def test_cancel_releases_and_refunds(client, admin, setup):
    order = client.post(f"{API}/orders", json=order_body(setup), headers=admin).json()
    client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_1", "amount": "60.00"},
        headers=admin,
    )

    cancelled = client.post(
        f"{API}/orders/{order['id']}/cancel", json={"reason": "no longer wanted"}, headers=admin
    )

    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], cancelled.json()["paid_amount"]) == ("cancelled", "0.00")
    again = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin)
    assert_problem(again, 409, "invalid-state-transition")


def test_orders_are_listed_by_channel_and_state(client, admin, setup):
    one = client.post(f"{API}/orders", json=order_body(setup, quantity="1"), headers=admin).json()
    client.post(f"{API}/orders", json=order_body(setup, quantity="1"), headers=admin)
    client.post(f"{API}/orders/{one['id']}/cancel", headers=admin)
    params = {"company_id": setup["company"]["id"]}

    cancelled = client.get(f"{API}/orders", params={**params, "state": "cancelled"}, headers=admin).json()
    web = client.get(f"{API}/orders", params={**params, "channel": "web"}, headers=admin).json()
    marketplace = client.get(
        f"{API}/orders", params={**params, "channel": "marketplace"}, headers=admin
    ).json()

    assert [o["number"] for o in cancelled["items"]] == ["SO-000001"]
    assert [o["number"] for o in web["items"]] == ["SO-000001", "SO-000002"]
    assert marketplace["items"] == []


def test_click_and_collect_needs_a_pickup_store(client, admin, setup):
    response = client.post(
        f"{API}/orders", json=order_body(setup, fulfillment_mode="click_and_collect"), headers=admin
    )
    assert_problem(response, 422, "validation-failed", fields=("pickup_store_id",))

    collected = client.post(
        f"{API}/orders",
        json=order_body(
            setup, quantity="1", fulfillment_mode="click_and_collect", pickup_store_id=setup["store"]["id"]
        ),
        headers=admin,
    )
    assert collected.status_code == 201, collected.text
    assert collected.json()["store_id"] == setup["store"]["id"]


@pytest.mark.parametrize("role", ["finance"])
def test_roles_without_orders_write_cannot_place_but_can_read(client, auth, admin, setup, role):
    headers = auth(role, company="ACME")
    assert_problem(client.post(f"{API}/orders", json=order_body(setup), headers=headers), 403)
    order = client.post(f"{API}/orders", json=order_body(setup), headers=admin).json()
    assert client.get(f"{API}/orders/{order['id']}", headers=headers).status_code == 200
    assert_problem(client.post(f"{API}/orders/{order['id']}/cancel", headers=headers), 403)


@pytest.mark.parametrize("role", ["integration", "store_manager", "cashier"])
def test_staff_and_integrations_may_place_orders(client, auth, setup, role):
    response = client.post(
        f"{API}/orders", json=order_body(setup, quantity="1"), headers=auth(role, company="ACME")
    )
    assert response.status_code == 201, response.text


def test_an_unknown_order_is_not_found(client, admin, setup):
    assert_problem(client.get(f"{API}/orders/{uuid.uuid4()}", headers=admin), 404)
