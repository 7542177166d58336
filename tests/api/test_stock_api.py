"""Stock over HTTP: levels, moves, availability, reservations, safety stock, the exceptions queue;
permissions, store scope and idempotent replays."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from apitools import API, assert_problem, events, walk
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import reservations
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location

D = Decimal


@pytest.fixture(autouse=True)
def _availability_published() -> None:
    # bootstrap does not install the reservations subscriptions yet; tests do.
    reservations.install()


@pytest.fixture
def shop(runtime, company, store_factory, product_factory):
    """ACME with stores S1 and S2, a product TEE with 10 in S1 stock at 4.00 and 3 in S2 stock."""
    stores = {code: store_factory(code)["id"] for code in ("S1", "S2")}

    class Shop:
        company_id = uuid.UUID(company["id"])
        store_ids = stores
        tee = product_factory("TEE", cost_method="average")["id"]

        def location(self, kind: str, store: str = "S1") -> str:
            with runtime.session_factory() as session:
                query = select(Location.id).where(
                    Location.company_id == self.company_id, Location.kind == kind
                )
                if kind in ("stock", "backroom", "damaged"):
                    query = query.where(Location.store_id == uuid.UUID(stores[store]))
                return str(session.scalar(query))

        def move(self, kind, product, quantity, source, destination, cost=None, day=1):
            line = MoveLine(
                uuid.UUID(product),
                D(quantity),
                uuid.UUID(source),
                uuid.UUID(destination),
                D(cost) if cost is not None else None,
            )
            with transaction(runtime.session_factory) as session:
                return move_stock(
                    session,
                    CommandContext(system_principal()),
                    session.get(Company, self.company_id),
                    kind=kind,
                    lines=[line],
                    date=dt.date(2026, 3, day),
                    reference=f"{kind}-{day}",
                )

        def receive(self, product, quantity, cost="4.00", store="S1"):
            return self.move(
                "receipt", product, quantity, self.location("supplier"), self.location("stock", store), cost
            )

        def sell(self, product, quantity, store="S1", day=2):
            return self.move(
                "delivery",
                product,
                quantity,
                self.location("stock", store),
                self.location("customer"),
                day=day,
            )

    shop = Shop()
    shop.receive(shop.tee, "10")
    shop.receive(shop.tee, "3", store="S2")
    return shop


@pytest.fixture
def manager(auth, shop):
    """A store manager of S1."""
    return auth("store_manager", company="ACME", store="S1")


def reservation_body(shop, quantity="2", **overrides: Any) -> dict[str, Any]:
    return {
        "product_id": shop.tee,
        "location_id": shop.location("stock"),
        "quantity": quantity,
        "channel": "web",
        "order_ref": "WEB-1001",
        "order_line_ref": "1",
        **overrides,
    }


def level(client, headers, **params) -> list[dict[str, Any]]:
    response = client.get(f"{API}/stock/levels", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# -- levels and moves ------------------------------------------------------------------------------


def test_levels_show_on_hand_reserved_available_and_value(client, admin, shop):
    client.post(
        f"{API}/reservations",
        json={**reservation_body(shop, "3"), "company_id": str(shop.company_id)},
        headers=admin,
    )

    rows = level(client, admin, company_id=str(shop.company_id), store_id=shop.store_ids["S1"])

    assert [
        (r["sku"], r["location_kind"], r["on_hand"], r["reserved"], r["available"], r["value"]) for r in rows
    ] == [("TEE", "stock", "10.00", "3.00", "7.00", "40.00")]
    assert len(level(client, admin, company_id=str(shop.company_id), sku="TEE")) == 2
    assert level(client, admin, company_id=str(shop.company_id), sku="NOPE") == []


def test_levels_and_moves_page_with_a_cursor(client, admin, shop, product_factory):
    for n in range(3):
        product = product_factory(f"PG-{n}")["id"]
        shop.receive(product, "1")
    company = str(shop.company_id)

    levels = walk(client, "/stock/levels", admin, limit=2, company_id=company, only_nonzero=True)
    moves = walk(client, "/stock/moves", admin, limit=2, company_id=company, kind="receipt")

    assert len(levels) == 5 and len({(r["product_id"], r["location_id"]) for r in levels}) == 5
    assert len(moves) == 5 and [m["id"] for m in moves] == sorted(m["id"] for m in moves)
    assert {m["kind"] for m in moves} == {"receipt"}
    first = moves[0]
    by_event = client.get(
        f"{API}/stock/moves", params={"company_id": company, "event_id": first["event_id"]}, headers=admin
    ).json()["items"]
    assert [m["id"] for m in by_event] == [first["id"]]
    dated = client.get(
        f"{API}/stock/moves", params={"company_id": company, "date_from": "2026-03-02"}, headers=admin
    ).json()["items"]
    assert dated == []


def test_store_staff_move_stock_to_damaged_and_scrap_it(client, manager, shop):
    body = {
        "kind": "internal",
        "reference": "torn seam",
        "lines": [
            {
                "product_id": shop.tee,
                "quantity": "2",
                "from_location_id": shop.location("stock"),
                "to_location_id": shop.location("damaged"),
            }
        ],
    }
    moved = client.post(f"{API}/stock/moves", json=body, headers=manager)
    assert moved.status_code == 201, moved.text
    assert moved.json()["event_type"] == "StockMovedInternally"
    assert [(m["kind"], m["quantity"], m["value"]) for m in moved.json()["moves"]] == [
        ("internal", "2.00", "8.00")
    ]

    scrap = {
        "kind": "scrap",
        "lines": [{"product_id": shop.tee, "quantity": "2", "from_location_id": shop.location("damaged")}],
    }
    scrapped = client.post(f"{API}/stock/moves", json=scrap, headers=manager)
    assert scrapped.status_code == 201, scrapped.text
    assert scrapped.json()["moves"][0]["to_location_id"] == shop.location("inventory_loss")

    rows = {r["location_kind"]: r["on_hand"] for r in level(client, manager)}
    assert rows == {"stock": "8.00", "damaged": "0.00"}


def test_only_internal_and_scrap_moves_are_made_by_hand(client, manager, shop):
    receipt = {
        "kind": "receipt",
        "lines": [
            {
                "product_id": shop.tee,
                "quantity": "1",
                "from_location_id": shop.location("supplier"),
                "to_location_id": shop.location("stock"),
            }
        ],
    }
    assert_problem(client.post(f"{API}/stock/moves", json=receipt, headers=manager), 422, fields=("kind",))
    across = {
        "kind": "internal",
        "lines": [
            {
                "product_id": shop.tee,
                "quantity": "1",
                "from_location_id": shop.location("stock"),
                "to_location_id": shop.location("backroom", "S2"),
            }
        ],
    }
    assert_problem(
        client.post(f"{API}/stock/moves", json=across, headers=manager),
        422,
        "invalid-reference",
        fields=("lines.0.to_location_id",),
    )


def test_a_manual_move_sent_twice_with_one_key_moves_once(client, manager, shop, snapshot):
    body = {
        "kind": "internal",
        "lines": [
            {
                "product_id": shop.tee,
                "quantity": "1",
                "from_location_id": shop.location("stock"),
                "to_location_id": shop.location("backroom"),
            }
        ],
    }
    headers = {**manager, "Idempotency-Key": "move-1"}
    first = client.post(f"{API}/stock/moves", json=body, headers=headers)
    assert first.status_code == 201, first.text
    after = snapshot()

    second = client.post(f"{API}/stock/moves", json=body, headers=headers)

    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert snapshot() == after
    assert {r["location_kind"]: r["on_hand"] for r in level(client, manager)} == {
        "stock": "9.00",
        "backroom": "1.00",
    }


# -- reservations ----------------------------------------------------------------------------------


def test_reserve_release_and_consume_over_http(client, manager, shop, runtime):
    created = client.post(f"{API}/reservations", json=reservation_body(shop, "4"), headers=manager)
    assert created.status_code == 201, created.text
    reservation = created.json()
    assert created.headers["Location"] == f"{API}/reservations/{reservation['id']}"
    assert (reservation["state"], reservation["quantity"], reservation["channel"]) == (
        "active",
        "4.00",
        "web",
    )

    refused = client.post(f"{API}/reservations", json=reservation_body(shop, "6.5"), headers=manager)
    body = assert_problem(refused, 409, "insufficient-stock", fields=("quantity",))
    assert body["errors"][0]["detail"] == "6.00 available"

    other = client.post(f"{API}/reservations", json=reservation_body(shop, "6"), headers=manager).json()
    released = client.post(
        f"{API}/reservations/{other['id']}/release", json={"reason": "cancelled"}, headers=manager
    )
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "released"
    assert_problem(
        client.post(f"{API}/reservations/{other['id']}/release", headers=manager),
        409,
        "reservation-not-active",
    )

    consumed = client.post(
        f"{API}/reservations/{reservation['id']}/consume", json={"date": "2026-03-04"}, headers=manager
    )
    assert consumed.status_code == 200, consumed.text
    assert consumed.json()["reservation"]["state"] == "consumed"
    assert [(m["kind"], m["quantity"], m["value"], m["date"]) for m in consumed.json()["moves"]] == [
        ("delivery", "4.00", "16.00", "2026-03-04")
    ]
    assert {r["location_kind"]: (r["on_hand"], r["reserved"]) for r in level(client, manager)} == {
        "stock": ("6.00", "0.00")
    }
    listed = client.get(f"{API}/reservations", params={"state": "consumed"}, headers=manager).json()["items"]
    assert [r["id"] for r in listed] == [reservation["id"]]
    types = [e.type for e in events(runtime, aggregate_id=uuid.UUID(reservation["id"]))]
    assert types == ["StockReserved", "ReservationConsumed"]


def test_a_reservation_sent_twice_with_one_key_reserves_once(client, manager, shop, snapshot):
    headers = {**manager, "Idempotency-Key": "WEB-1001-1"}
    first = client.post(f"{API}/reservations", json=reservation_body(shop, "7"), headers=headers)
    assert first.status_code == 201, first.text
    after = snapshot()

    second = client.post(f"{API}/reservations", json=reservation_body(shop, "7"), headers=headers)

    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert snapshot() == after
    assert level(client, manager)[0]["reserved"] == "7.00"


def test_overdue_carts_expire_over_http(client, manager, shop):
    created_at = utcnow()
    due = created_at + dt.timedelta(seconds=3)  # room for a loaded machine between here and the POST
    cart = reservation_body(shop, "5", order_ref="CART-9", expires_at=due.isoformat())
    assert client.post(f"{API}/reservations", json=cart, headers=manager).status_code == 201
    paid = reservation_body(shop, "1", order_ref="PAID-9")
    assert client.post(f"{API}/reservations", json=paid, headers=manager).status_code == 201

    before_due = client.post(
        f"{API}/reservations/expire", json={"as_of": created_at.isoformat()}, headers=manager
    )
    assert before_due.status_code == 200, before_due.text
    assert before_due.json()["expired"] == []
    time.sleep(max((due - utcnow()).total_seconds(), 0) + 0.05)
    expired = client.post(f"{API}/reservations/expire", json={}, headers=manager)

    assert expired.status_code == 200, expired.text
    assert [(r["order_ref"], r["state"]) for r in expired.json()["expired"]] == [("CART-9", "expired")]
    assert level(client, manager)[0]["reserved"] == "1.00"
    future = (utcnow() + dt.timedelta(days=1)).isoformat()
    assert_problem(
        client.post(f"{API}/reservations/expire", json={"as_of": future}, headers=manager),
        422,
        fields=("as_of",),
    )


def test_safety_stock_and_availability_per_channel(client, admin, manager, shop):
    company = str(shop.company_id)
    put = client.put(
        f"{API}/stock/safety-stock",
        json={"company_id": company, "channel": "web", "quantity": "2"},
        headers=admin,
    )
    assert put.status_code == 200, put.text
    assert (put.json()["product_id"], put.json()["quantity"]) == (None, "2.00")
    own = {"company_id": company, "channel": "marketplace", "product_id": shop.tee, "quantity": "9"}
    assert client.put(f"{API}/stock/safety-stock", json=own, headers=admin).status_code == 200
    client.post(f"{API}/reservations", json=reservation_body(shop, "1", channel="pos"), headers=manager)

    def atp(channel, headers=admin, **params):
        response = client.get(
            f"{API}/stock/availability",
            params={"company_id": company, "product_id": shop.tee, "channel": channel, **params},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert atp("web")["available"] == "8.00"  # S1: 10 - 1 - 2 = 7; S2: 3 - 2 = 1
    assert atp("web", store_id=shop.store_ids["S1"])["available"] == "7.00"
    assert atp("marketplace")["available"] == "0.00"  # S1: 10 - 1 - 9 = 0; S2: 3 - 9, never below zero
    assert atp("pos")["available"] == "12.00"
    # A store's token sees its store's locations only.
    assert [loc["store_id"] for loc in atp("web", headers=manager)["locations"]] == [shop.store_ids["S1"]]
    assert_problem(
        client.get(
            f"{API}/stock/availability",
            params={"product_id": shop.tee, "channel": "web", "store_id": shop.store_ids["S2"]},
            headers=manager,
        ),
        422,
        fields=("store_id",),
    )
    listed = client.get(f"{API}/stock/safety-stock", params={"company_id": company}, headers=admin).json()
    rows = listed["items"]
    assert sorted((row["channel"], row["quantity"]) for row in rows) == [
        ("marketplace", "9.00"),
        ("web", "2.00"),
    ]


# -- exceptions ------------------------------------------------------------------------------------


def test_a_sale_without_stock_is_recorded_and_queued_as_an_exception(client, manager, auth, shop, runtime):
    result = shop.sell(shop.tee, "12")  # the till sold 12; the system knew of 10

    assert {r["location_kind"]: r["on_hand"] for r in level(client, manager)} == {"stock": "-2.00"}
    queue = client.get(f"{API}/exceptions", params={"status": "open"}, headers=manager).json()["items"]
    assert [(e["kind"], e["store_id"], e["event_id"]) for e in queue] == [
        ("negative_stock", shop.store_ids["S1"], str(result.event.id))
    ]
    exception = queue[0]["id"]

    acknowledged = client.post(
        f"{API}/exceptions/{exception}/acknowledge", json={"note": "count tomorrow"}, headers=manager
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["status"] == "acknowledged"
    assert_problem(
        client.post(f"{API}/exceptions/{exception}/acknowledge", headers=manager), 409, "exception-not-open"
    )

    finance = auth("finance", company="ACME")
    resolved = client.post(
        f"{API}/exceptions/{exception}/resolve", json={"note": "found 2 more"}, headers=finance
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["details"]["resolved"]["note"] == "found 2 more"
    assert_problem(
        client.post(f"{API}/exceptions/{exception}/resolve", headers=finance), 409, "exception-resolved"
    )
    assert client.get(f"{API}/exceptions", params={"status": "open"}, headers=manager).json()["items"] == []
    types = [e.type for e in events(runtime, aggregate_id=uuid.UUID(exception))]
    assert types == ["ExceptionAcknowledged", "ExceptionResolved"]


def test_exceptions_filter_by_kind_and_store(client, admin, shop):
    shop.sell(shop.tee, "11")
    shop.sell(shop.tee, "4", store="S2")
    company = str(shop.company_id)

    def queue(**params):
        return client.get(f"{API}/exceptions", params={"company_id": company, **params}, headers=admin).json()

    assert len(queue()["items"]) == 2
    assert [e["store_id"] for e in queue(store_id=shop.store_ids["S2"])["items"]] == [shop.store_ids["S2"]]
    assert queue(kind="bill_mismatch")["items"] == []
    page = queue(limit=1)
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert len(queue(limit=1, cursor=page["next_cursor"])["items"]) == 1


# -- permissions and store scope -------------------------------------------------------------------


def test_roles_without_the_permission_are_refused(client, auth, shop):
    cashier = auth("cashier", company="ACME", store="S1")
    finance = auth("finance", company="ACME")
    move = {
        "kind": "scrap",
        "lines": [{"product_id": shop.tee, "quantity": "1", "from_location_id": shop.location("stock")}],
    }

    assert_problem(client.post(f"{API}/stock/moves", json=move, headers=cashier), 403, "permission-denied")
    assert_problem(
        client.put(f"{API}/stock/safety-stock", json={"channel": "web", "quantity": "1"}, headers=cashier),
        403,
    )
    assert_problem(client.get(f"{API}/exceptions", headers=cashier), 403)
    assert_problem(client.post(f"{API}/reservations", json=reservation_body(shop), headers=finance), 403)
    assert_problem(
        client.post(f"{API}/exceptions/{uuid.uuid4()}/resolve", headers=auth("integration", company="ACME")),
        403,
    )
    # ...while a cashier may reserve (click-and-collect at the till) and read stock.
    assert client.post(f"{API}/reservations", json=reservation_body(shop), headers=cashier).status_code == 201
    assert client.get(f"{API}/stock/levels", headers=cashier).status_code == 200


def test_a_store_token_sees_and_touches_its_own_store_only(client, admin, auth, shop):
    s2 = auth("store_manager", company="ACME", store="S2")
    s1_reservation = client.post(
        f"{API}/reservations",
        json={**reservation_body(shop), "company_id": str(shop.company_id)},
        headers=admin,
    ).json()
    shop.sell(shop.tee, "11")  # an S1 exception
    exception = client.get(
        f"{API}/exceptions", params={"company_id": str(shop.company_id)}, headers=admin
    ).json()["items"][0]["id"]

    assert {r["store_id"] for r in level(client, s2)} == {shop.store_ids["S2"]}
    assert client.get(f"{API}/exceptions", headers=s2).json()["items"] == []
    assert client.get(f"{API}/reservations", headers=s2).json()["items"] == []
    moves = client.get(f"{API}/stock/moves", headers=s2).json()["items"]
    assert {m["to_location_id"] for m in moves} == {shop.location("stock", "S2")}
    assert_problem(
        client.post(f"{API}/reservations", json=reservation_body(shop), headers=s2),
        422,
        "invalid-reference",
        fields=("location_id",),
    )
    assert_problem(client.post(f"{API}/reservations/{s1_reservation['id']}/release", headers=s2), 404)
    assert_problem(client.get(f"{API}/reservations/{s1_reservation['id']}", headers=s2), 404)
    assert_problem(client.post(f"{API}/exceptions/{exception}/acknowledge", headers=s2), 404)
    # ...and its own store's stock is its to reserve.
    own = reservation_body(shop, "1", location_id=shop.location("stock", "S2"))
    assert client.post(f"{API}/reservations", json=own, headers=s2).status_code == 201


def test_a_connector_follows_availability_in_the_event_log(client, auth, shop, other_company):
    # docs/inventory.md: a channel connector reads available[<its channel>] from the events whose
    # `changed` names it; an integration token may read the log (its company's events only).
    connector = auth("integration", company="ACME")
    shop.sell(shop.tee, "4")

    response = client.get(
        f"{API}/events", params={"type": "AvailabilityChanged", "limit": 100}, headers=connector
    )

    assert response.status_code == 200, response.text
    events = response.json()["items"]
    s1_stock = shop.location("stock")
    at_s1 = [e["payload"] for e in events if e["payload"]["location_id"] == s1_stock]
    assert [p["available"]["web"] for p in at_s1] == ["10.0000", "6.0000"]
    assert {e["company_id"] for e in events} == {str(shop.company_id)}
