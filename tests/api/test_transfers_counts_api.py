"""Transfers and cycle counts over HTTP: the flows, permissions, store scope and problem documents."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem, events, table_counts
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location

D = Decimal


@pytest.fixture
def world(runtime, client, admin, company, store_factory, auth):
    """ACME with stores S1, S2, S3, product PEN with 10 at S1 (4.00 each) and INK with 4 at S1."""
    stores = {code: store_factory(code)["id"] for code in ("S1", "S2", "S3")}

    def product(sku: str) -> str:
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": sku,
            "category": "Office",
            "list_price": "9",
            "cost_method": "fifo",
            "standard_cost": "0",
        }
        response = client.post(f"{API}/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def location(kind: str, store: str | None = None) -> str:
        with runtime.session_factory() as session:
            query = select(Location.id).where(Location.kind == kind)
            if store:
                query = query.where(Location.store_id == uuid.UUID(stores[store]))
            return str(session.scalar(query))

    pen, ink = product("PEN"), product("INK")
    with transaction(runtime.session_factory) as session:
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, uuid.UUID(company["id"])),
            kind="receipt",
            lines=[
                MoveLine(
                    uuid.UUID(pen),
                    D(10),
                    uuid.UUID(location("supplier")),
                    uuid.UUID(location("stock", "S1")),
                    D(4),
                ),
                MoveLine(
                    uuid.UUID(ink),
                    D(4),
                    uuid.UUID(location("supplier")),
                    uuid.UUID(location("stock", "S1")),
                    D(1),
                ),
            ],
            date=dt.date(2026, 3, 1),
        )

    class World:
        pass

    w = World()
    w.stores, w.pen, w.ink, w.location = stores, pen, ink, location
    w.company_id = company["id"]
    w.manager = {code: auth("store_manager", company="ACME", store=code) for code in stores}
    w.cashier = auth("cashier", company="ACME", store="S1")
    w.finance = auth("finance", company="ACME")
    return w


def quantity(runtime, product: str, location: str) -> Decimal:
    with runtime.session_factory() as session:
        row = session.get(i.StockQuant, (uuid.UUID(product), uuid.UUID(location)))
        return row.quantity if row else D(0)


# -- transfers --------------------------------------------------------------------------------------


def _new_transfer(client, world, headers, **extra) -> dict:
    body = {
        "from_store_id": world.stores["S1"],
        "to_store_id": world.stores["S2"],
        "lines": [{"product_id": world.pen, "quantity": "6"}],
        **extra,
    }
    response = client.post(f"{API}/transfers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_transfer_flow_over_http(client, runtime, world):
    s1, s2 = world.manager["S1"], world.manager["S2"]
    created = _new_transfer(client, world, {**s1, "Idempotency-Key": "tr-1"}, note="weekly")
    assert created["number"] == "TR-000001" and created["state"] == "draft"
    assert created["lines"][0]["quantity"] == "6.00"
    replay = client.post(
        f"{API}/transfers",
        json={
            "from_store_id": world.stores["S1"],
            "to_store_id": world.stores["S2"],
            "lines": [{"product_id": world.pen, "quantity": "6"}],
            "note": "weekly",
        },
        headers={**s1, "Idempotency-Key": "tr-1"},
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == created["id"]
    path = f"{API}/transfers/{created['id']}"

    # Only the shipping store ships, only the receiving store receives.
    assert_problem(client.post(f"{path}/ship", headers=s2), 403, "permission-denied")
    shipped = client.post(f"{path}/ship", json={"date": "2026-03-05"}, headers=s1)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["state"] == "shipped"
    assert_problem(client.post(f"{path}/cancel", headers=s1), 409, "transfer-state")
    receipt = {"lines": [{"product_id": world.pen, "quantity": "4"}]}
    assert_problem(client.post(f"{path}/receive", json=receipt, headers=s1), 403, "permission-denied")

    before = table_counts(runtime)
    too_much = {"lines": [{"product_id": world.pen, "quantity": "6.5"}]}
    assert_problem(
        client.post(f"{path}/receive", json=too_much, headers=s2), 422, "over-receipt", ("lines.0.quantity",)
    )
    assert table_counts(runtime) == before

    received = client.post(f"{path}/receive", json=receipt, headers=s2)
    assert received.status_code == 200, received.text
    body = received.json()
    assert body["state"] == "partially_received"
    assert (body["lines"][0]["received_quantity"], body["lines"][0]["outstanding_quantity"]) == (
        "4.00",
        "2.00",
    )
    assert quantity(runtime, world.pen, world.location("stock", "S2")) == D(4)

    closed = client.post(f"{path}/close", headers=s2)
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert closed.json()["lines"][0]["lost_quantity"] == "2.00"
    assert quantity(runtime, world.pen, world.location("in_transit")) == 0
    assert [e.type for e in events(runtime, aggregate_id=uuid.UUID(created["id"]))] == [
        "TransferCreated",
        "TransferClosed",
    ]


def test_a_store_sees_only_transfers_from_or_to_it(client, world):
    created = _new_transfer(client, world, world.manager["S1"])
    for code in ("S1", "S2"):
        listed = client.get(f"{API}/transfers", headers=world.manager[code])
        assert [t["id"] for t in listed.json()["items"]] == [created["id"]]
        assert client.get(f"{API}/transfers/{created['id']}", headers=world.manager[code]).status_code == 200
    s3 = world.manager["S3"]
    assert client.get(f"{API}/transfers", headers=s3).json()["items"] == []
    assert_problem(client.get(f"{API}/transfers/{created['id']}", headers=s3), 404)
    assert_problem(client.post(f"{API}/transfers/{created['id']}/cancel", headers=s3), 404)
    # A store cannot make a transfer between two other stores.
    body = {
        "from_store_id": world.stores["S1"],
        "to_store_id": world.stores["S2"],
        "lines": [{"product_id": world.pen, "quantity": "1"}],
    }
    assert_problem(client.post(f"{API}/transfers", json=body, headers=s3), 422, "invalid-reference")


def test_transfers_need_the_permission_and_valid_input(client, world):
    body = {
        "from_store_id": world.stores["S1"],
        "to_store_id": world.stores["S2"],
        "lines": [{"product_id": world.pen, "quantity": "1"}],
    }
    assert_problem(
        client.post(f"{API}/transfers", json=body, headers=world.cashier), 403, "permission-denied"
    )
    assert_problem(
        client.post(f"{API}/transfers", json=body, headers=world.finance), 403, "permission-denied"
    )
    bad = {**body, "lines": [{"product_id": world.pen, "quantity": "0"}]}
    assert_problem(client.post(f"{API}/transfers", json=bad, headers=world.manager["S1"]), 422)
    same = {**body, "to_store_id": world.stores["S1"]}
    assert_problem(
        client.post(f"{API}/transfers", json=same, headers=world.manager["S1"]), 422, fields=("to_store_id",)
    )
    # The cashier may still read them (stock:read).
    assert client.get(f"{API}/transfers", headers=world.cashier).status_code == 200


# -- counts -----------------------------------------------------------------------------------------


def test_count_flow_over_http(client, runtime, world):
    stock = world.location("stock", "S1")
    created = client.post(
        f"{API}/counts", json={"location_id": stock}, headers={**world.cashier, "Idempotency-Key": "cc-1"}
    )
    assert created.status_code == 201, created.text
    sheet = created.json()
    assert sheet["number"] == "CC-000001" and sheet["state"] == "open"
    assert created.headers["Location"] == f"/api/v1/counts/{sheet['id']}"
    assert {line["sku"]: line["expected_quantity"] for line in sheet["lines"]} == {
        "PEN": "10.00",
        "INK": "4.00",
    }
    path = f"{API}/counts/{sheet['id']}"

    one = client.post(
        f"{path}/lines", json={"product_id": world.pen, "counted_quantity": "9"}, headers=world.cashier
    )
    assert one.status_code == 200, one.text
    lines = {
        "lines": [
            {"product_id": world.ink, "counted_quantity": "5"},
            {"product_id": world.pen, "counted_quantity": "8"},
        ]
    }
    patched = client.patch(f"{path}/lines", json=lines, headers=world.cashier)
    assert patched.status_code == 200, patched.text
    by_sku = {line["sku"]: line for line in patched.json()["lines"]}
    assert (by_sku["PEN"]["counted_quantity"], by_sku["PEN"]["difference"]) == ("8.00", "-2.00")
    assert patched.json()["accuracy"] == {
        "lines_counted": 2,
        "lines_within_tolerance": 0,
        "accuracy_percent": "0.00",
    }
    assert_problem(client.patch(f"{path}/lines", json={}, headers=world.cashier), 422)

    submitted = client.post(f"{path}/submit", headers=world.cashier)
    assert submitted.status_code == 200 and submitted.json()["state"] == "submitted"
    assert_problem(client.post(f"{path}/approve", headers=world.cashier), 403, "permission-denied")

    approved = client.post(f"{path}/approve", json={"date": "2026-03-09"}, headers=world.manager["S1"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert approved.json()["count_date"] == "2026-03-09"
    assert quantity(runtime, world.pen, stock) == D(8)
    assert quantity(runtime, world.ink, stock) == D(5)
    counted = events(runtime, type="StockCounted")
    assert sorted(item["difference"] for e in counted for item in e.payload["items"]) == ["-8.00", "1.00"]

    accuracy = client.get(
        f"{API}/counts/accuracy",
        params={"store_id": world.stores["S1"], "date_from": "2026-03-01", "date_to": "2026-03-31"},
        headers=world.manager["S1"],
    )
    assert accuracy.status_code == 200, accuracy.text
    assert accuracy.json()["sheets"] == 1
    assert accuracy.json()["accuracy_percent"] == "0.00"
    assert_problem(
        client.get(
            f"{API}/counts/accuracy", params={"store_id": world.stores["S1"]}, headers=world.manager["S2"]
        ),
        422,
    )
    assert client.get(f"{API}/counts/accuracy", headers=world.manager["S2"]).json()["sheets"] == 0


def test_count_sheets_are_store_scoped(client, world):
    created = client.post(
        f"{API}/counts", json={"location_id": world.location("stock", "S1")}, headers=world.cashier
    )
    sheet_id = created.json()["id"]
    assert_problem(client.get(f"{API}/counts/{sheet_id}", headers=world.manager["S2"]), 404)
    assert client.get(f"{API}/counts", headers=world.manager["S2"]).json()["items"] == []
    assert [s["id"] for s in client.get(f"{API}/counts", headers=world.manager["S1"]).json()["items"]] == [
        sheet_id
    ]
    foreign = {"location_id": world.location("stock", "S2")}
    assert_problem(
        client.post(f"{API}/counts", json=foreign, headers=world.cashier), 422, "invalid-reference"
    )
    assert_problem(
        client.post(f"{API}/counts", json=foreign, headers=world.finance), 403, "permission-denied"
    )
    cancelled = client.post(f"{API}/counts/{sheet_id}/cancel", headers=world.cashier)
    assert cancelled.json()["state"] == "cancelled"
    assert_problem(client.post(f"{API}/counts/{sheet_id}/submit", headers=world.cashier), 409, "count-state")


def test_a_stale_count_is_refused_until_recounted(client, runtime, world):
    stock = world.location("stock", "S1")
    sheet = client.post(f"{API}/counts", json={"location_id": stock}, headers=world.cashier).json()
    path = f"{API}/counts/{sheet['id']}"
    with transaction(runtime.session_factory) as session:
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, uuid.UUID(world.company_id)),
            kind="delivery",
            lines=[
                MoveLine(uuid.UUID(world.pen), D(1), uuid.UUID(stock), uuid.UUID(world.location("customer")))
            ],
            date=dt.date(2026, 3, 2),
        )
    client.post(
        f"{path}/lines", json={"product_id": world.pen, "counted_quantity": "9"}, headers=world.cashier
    )
    submitted = client.post(f"{path}/submit", headers=world.cashier).json()
    assert submitted["warnings"] and submitted["warnings"][0].startswith("PEN")
    assert_problem(client.post(f"{path}/approve", headers=world.manager["S1"]), 409, "count-stale")
    forced = client.post(f"{path}/approve", json={"accept_stock_moves": True}, headers=world.manager["S1"])
    assert forced.status_code == 200, forced.text
    assert quantity(runtime, world.pen, stock) == D(9)  # on hand was already 9: nothing to adjust
    assert events(runtime, type="StockCounted") == []
