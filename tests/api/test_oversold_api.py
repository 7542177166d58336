"""A till sale that takes a unit a web order was promised: the web order is named in an `oversold`
exception, kept up to date by later sales, and never raised by delivering a reservation."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from apitools import API

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory, product_factory, create):
    """Store S1 with COFFEE in stock, a till T1 with an open session, click-and-collect web orders."""
    store = store_factory("S1")
    vat = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}
    create(
        "/tax-rules",
        {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [vat]},
    )
    create("/payment-methods", {"company_id": company["id"], "code": "CASH", "name": "Cash", "kind": "cash"})
    coffee = product_factory("COFFEE", category="Drinks", list_price="3.00")
    manager = auth("store_manager", company="ACME", store="S1")
    cashier = auth("cashier", company="ACME", store="S1")
    terminal = create("/pos/terminals", {"store_id": store["id"], "code": "T1", "name": "Till 1"}, manager)
    opened = create("/pos/sessions", {"terminal_id": terminal["id"], "opening_float": "50.00"}, cashier)

    class Shop:
        product_id = coffee["id"]
        store_id = store["id"]
        headers = manager

        def receive(self, quantity: str) -> None:
            with transaction(runtime.session_factory) as session:
                company_row = session.get(Company, uuid.UUID(company["id"]))
                stock = session.scalar(
                    Location.__table__.select()
                    .with_only_columns(Location.id)
                    .where(Location.store_id == uuid.UUID(store["id"]), Location.kind == "stock")
                )
                supplier = session.scalar(
                    Location.__table__.select()
                    .with_only_columns(Location.id)
                    .where(Location.company_id == company_row.id, Location.kind == "supplier")
                )
                line = MoveLine(uuid.UUID(coffee["id"]), Decimal(quantity), supplier, stock, Decimal("1.00"))
                move_stock(
                    session,
                    CommandContext(system_principal()),
                    company_row,
                    kind="receipt",
                    lines=[line],
                    date=dt.date(2026, 3, 1),
                )

        def web_order(self, quantity: str = "1") -> dict[str, Any]:
            body = {
                "company_id": company["id"],
                "fulfillment_mode": "click_and_collect",
                "pickup_store_id": store["id"],
                "lines": [{"product_id": coffee["id"], "quantity": quantity}],
            }
            response = client.post(f"{API}/orders", json=body, headers=admin)
            assert response.status_code == 201, response.text
            return response.json()

        def sell_at_the_till(self, quantity: str = "1") -> dict[str, Any]:
            sale = {
                "client_uuid": str(uuid.uuid4()),
                "sold_at": utcnow().isoformat(),
                "lines": [{"product_id": coffee["id"], "quantity": quantity, "unit_price": "3.00"}],
                "payments": [{"payment_method_code": "CASH", "amount": "20.00"}],
            }
            url = f"{API}/pos/sessions/{opened['id']}/sales:batch"
            response = client.post(url, json={"sales": [sale]}, headers=cashier)
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == 1
            moves = client.get(
                f"{API}/stock/moves",
                params={"company_id": company["id"], "product_id": coffee["id"], "kind": "delivery"},
                headers=admin,
            ).json()["items"]
            return moves[-1]

        def oversold(self, status: str | None = None) -> list[dict[str, Any]]:
            params = {"kind": "oversold", **({"status": status} if status else {})}
            return client.get(f"{API}/exceptions", params=params, headers=manager).json()["items"]

    return Shop()


def at_risk(exception: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(o["order_ref"], o["order_line_ref"], o["quantity"]) for o in exception["details"]["orders"]]


def test_a_till_sale_of_the_last_reserved_unit_names_the_web_order_at_risk(shop):
    shop.receive("1")
    order = shop.web_order("1")
    assert shop.oversold() == []

    move = shop.sell_at_the_till("1")  # never refused: the coffee is in the customer's hand

    [exception] = shop.oversold(status="open")
    assert (exception["product_id"], exception["store_id"]) == (shop.product_id, shop.store_id)
    assert exception["location_id"] == move["from_location_id"]
    assert exception["event_id"] == move["event_id"]
    assert at_risk(exception) == [(order["number"], "1", "1.00")]
    details = exception["details"]
    assert (details["on_hand"], details["reserved"], details["shortfall"]) == ("0.00", "1.00", "1.00")
    assert order["number"] in exception["message"]


def test_a_second_sale_at_the_same_place_updates_the_exception_instead_of_opening_another(client, shop):
    shop.receive("2")
    first_order = shop.web_order("1")
    second_order = shop.web_order("1")
    first_sale = shop.sell_at_the_till("1")
    [opened] = shop.oversold()
    acknowledged = client.post(
        f"{API}/exceptions/{opened['id']}/acknowledge",
        json={"note": "calling the supplier"},
        headers=shop.headers,
    )
    assert acknowledged.status_code == 200, acknowledged.text

    second_sale = shop.sell_at_the_till("1")

    [updated] = shop.oversold()
    assert updated["id"] == opened["id"]
    assert updated["status"] == "acknowledged"  # still in the hands of whoever took it
    assert updated["event_id"] == first_sale["event_id"]
    assert updated["details"]["last_event_id"] == second_sale["event_id"]
    assert updated["details"]["shortfall"] == "2.00"
    assert updated["details"]["acknowledged"]["note"] == "calling the supplier"
    assert at_risk(updated) == [(first_order["number"], "1", "1.00"), (second_order["number"], "1", "1.00")]


def test_delivering_a_reservation_never_raises_oversold(client, admin, shop):
    shop.receive("4")
    a, b, c, d = (shop.web_order("1") for _ in range(4))

    def deliver(order):
        response = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin)
        assert response.status_code == 200, response.text

    deliver(a)  # on hand 3, reserved 3: exactly what is promised
    assert shop.oversold() == []

    shop.sell_at_the_till("1")  # on hand 2, reserved 3
    [opened] = shop.oversold()
    assert at_risk(opened) == [(o["number"], "1", "1.00") for o in (b, c, d)]

    deliver(b)  # on hand 1, reserved 2: still short by one, and b is no longer at risk
    [updated] = shop.oversold()
    assert updated["id"] == opened["id"]
    assert at_risk(updated) == [(o["number"], "1", "1.00") for o in (c, d)]
    assert updated["details"]["shortfall"] == "1.00"

    resolved = client.post(
        f"{API}/exceptions/{opened['id']}/resolve", json={"note": "ok"}, headers=shop.headers
    )
    assert resolved.status_code == 200, resolved.text
    deliver(c)  # on hand 0, reserved 1: the delivery made nothing worse, so nothing is opened

    assert [e["status"] for e in shop.oversold()] == ["resolved"]
