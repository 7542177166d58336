"""Unpaid web orders over HTTP: their payment due time, `POST /orders/expire-unpaid`, and the served
app's background sweeper."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from apitools import API, assert_problem
from fastapi.testclient import TestClient

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.settings import Settings
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location
from retailcore.orders import services as svc

DAY = dt.timedelta(days=1)


@pytest.fixture
def shop(runtime, client, admin, company, store_factory, product_factory):
    """Stores S1 and S2 with 5 SHIRT each; orders placed at a chosen time, as the services record it."""
    stores = {code: store_factory(code)["id"] for code in ("S1", "S2")}
    rule = {
        "company_id": company["id"],
        "jurisdiction": "FR",
        "tax_category": "standard",
        "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}],
    }
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    shirt = product_factory("SHIRT", list_price="25.00")
    company_id = uuid.UUID(company["id"])

    def work(task, at=None):
        with transaction(runtime.session_factory) as session:
            ctx = CommandContext(system_principal(), occurred_at=at)
            return task(session, ctx, session.get(Company, company_id))

    def receive(session, ctx, company_row):
        locations = {
            (row.kind, row.store_id): row.id
            for row in session.query(Location).filter_by(company_id=company_id)
        }
        lines = [
            MoveLine(
                uuid.UUID(shirt["id"]),
                Decimal(5),
                locations[("supplier", None)],
                locations[("stock", uuid.UUID(store_id))],
                Decimal(10),
            )
            for store_id in stores.values()
        ]
        move_stock(session, ctx, company_row, kind="receipt", lines=lines, date=dt.date(2026, 3, 1))

    work(receive)

    class Shop:
        store_ids = stores

        def place(
            self, store: str = "S1", quantity: str = "2", at: dt.datetime | None = None
        ) -> dict[str, Any]:
            body = svc.PlaceOrder(
                fulfillment_mode="ship_from_store",
                store_id=uuid.UUID(stores[store]),
                lines=[svc.LineIn(product_id=uuid.UUID(shirt["id"]), quantity=Decimal(quantity))],
            )
            placed = work(lambda s, ctx, c: svc.place_order(s, ctx, c, body), at=at)
            return client.get(f"{API}/orders/{placed.id}", headers=admin).json()

        def order(self, order: dict[str, Any]) -> dict[str, Any]:
            return client.get(f"{API}/orders/{order['id']}", headers=admin).json()

        def available(self, store: str = "S1") -> str:
            params = {
                "company_id": company["id"],
                "product_id": shirt["id"],
                "channel": "web",
                "store_id": stores[store],
            }
            response = client.get(f"{API}/stock/availability", params=params, headers=admin)
            assert response.status_code == 200, response.text
            return response.json()["available"]

    return Shop()


def expire(client, headers, **body):
    return client.post(f"{API}/orders/expire-unpaid", json=body, headers=headers)


def test_orders_unpaid_past_their_due_time_are_cancelled_and_their_stock_freed(client, admin, company, shop):
    overdue = shop.place(at=utcnow() - 2 * DAY)
    fresh = shop.place(quantity="1")
    paid = shop.place(quantity="1", at=utcnow() - 2 * DAY)
    payment = {"kind": "card", "gateway": "stripe", "reference": "psp-1", "amount": "10.00", "capture": False}
    authorized = client.post(f"{API}/orders/{paid['id']}/payments", json=payment, headers=admin)
    assert authorized.status_code == 200, authorized.text
    assert authorized.json()["payment_due_at"] is None
    assert overdue["payment_due_at"] is not None and fresh["payment_due_at"] is not None
    assert shop.available() == "1.00"

    swept = expire(client, admin, company_id=company["id"])

    assert swept.status_code == 200, swept.text
    assert [order["number"] for order in swept.json()["cancelled"]] == [overdue["number"]]
    after = shop.order(overdue)
    assert (after["state"], after["payment_due_at"]) == ("cancelled", None)
    assert after["reason"].startswith("unpaid: no payment by ")
    assert [line["cancelled_quantity"] for line in after["lines"]] == ["2.00"]
    assert shop.available() == "3.00"
    assert [shop.order(o)["state"] for o in (fresh, paid)] == ["confirmed", "confirmed"]

    again = expire(client, admin, company_id=company["id"])
    assert again.status_code == 200, again.text
    assert again.json()["cancelled"] == []


def test_as_of_may_look_back_but_never_ahead(client, admin, company, shop, snapshot):
    overdue = shop.place(at=utcnow() - 2 * DAY)
    before = snapshot()

    ahead = expire(client, admin, company_id=company["id"], as_of=(utcnow() + DAY).isoformat())
    assert_problem(ahead, 422, "validation-failed", fields=("as_of",))
    naive = expire(client, admin, company_id=company["id"], as_of="2026-01-01T00:00:00")
    assert_problem(naive, 422, "validation-failed", fields=("as_of",))
    assert snapshot() == before

    not_yet = expire(client, admin, company_id=company["id"], as_of=(utcnow() - 1.5 * DAY).isoformat())
    assert not_yet.json()["cancelled"] == []  # it was not due a day and a half ago
    looked_back = expire(client, admin, company_id=company["id"], as_of=(utcnow() - DAY / 2).isoformat())
    assert [order["id"] for order in looked_back.json()["cancelled"]] == [overdue["id"]]


def test_a_store_token_sweeps_its_own_store_only(client, auth, shop):
    at_s1 = shop.place("S1", at=utcnow() - 2 * DAY)
    at_s2 = shop.place("S2", at=utcnow() - 2 * DAY)
    assert_problem(expire(client, auth("finance", company="ACME")), 403, "permission-denied")

    swept = expire(client, auth("store_manager", company="ACME", store="S1"))

    assert swept.status_code == 200, swept.text
    assert [order["id"] for order in swept.json()["cancelled"]] == [at_s1["id"]]
    assert shop.order(at_s2)["state"] == "confirmed"


def test_the_served_app_sweeps_due_orders_in_the_background(database_url, shop):
    overdue = shop.place(at=utcnow() - 2 * DAY)
    served = bootstrap(Settings(database_url=database_url, sweep_interval_seconds=0.05))
    try:
        with TestClient(create_app(served)):
            deadline = time.monotonic() + 30
            while shop.order(overdue)["state"] != "cancelled" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert shop.order(overdue)["state"] == "cancelled"
        # Stopped with the app: no sweeper is left running.
        assert [t for t in threading.enumerate() if t.name == "retailcore-sweeper"] == []
    finally:
        served.engine.dispose()
