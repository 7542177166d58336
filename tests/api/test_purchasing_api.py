"""Purchasing over HTTP: orders, receipts and vendor bills, permissions, store scope, idempotency."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from apitools import API, assert_problem, events
from sqlalchemy import func, select

from retailcore.accounting import tables as a
from retailcore.masterdata.tables import Account, Location

D = Decimal


@pytest.fixture
def setup(client, admin, company, store_factory, product_factory, runtime):
    """ACME with stores S1 and S2, products SHIRT and MUG, and a helper to read locations and balances."""
    s1, s2 = store_factory("S1"), store_factory("S2")
    shirt = product_factory("SHIRT", cost_method="fifo")
    mug = product_factory("MUG", cost_method="average")

    class Setup:
        stores: ClassVar[dict[str, dict]] = {"S1": s1, "S2": s2}
        products: ClassVar[dict[str, dict]] = {"SHIRT": shirt, "MUG": mug}

        @staticmethod
        def location(store: str, kind: str = "stock") -> str:
            with runtime.session_factory() as session:
                return str(
                    session.scalar(
                        select(Location.id).where(
                            Location.store_id == uuid.UUID(Setup.stores[store]["id"]), Location.kind == kind
                        )
                    )
                )

        @staticmethod
        def balance(role: str) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.role == role)
                )
                return total if total is not None else D(0)

    return Setup


def order_body(setup, store: str = "S1", supplier: str = "Fabrikam Textiles", **fields: Any) -> dict:
    return {
        "supplier": supplier,
        "supplier_ref": "FAB-01",
        "store_id": setup.stores[store]["id"],
        "order_date": "2026-03-01",
        "expected_date": "2026-03-10",
        "lines": [
            {"product_id": setup.products["SHIRT"]["id"], "quantity": "10", "unit_price": "4.50"},
            {"product_id": setup.products["MUG"]["id"], "quantity": "5", "unit_price": "12.00"},
        ],
        **fields,
    }


def post(client, path: str, body: Any, headers: dict, status: int = 201) -> dict:
    response = client.post(f"{API}{path}", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def roles(auth, company, setup):
    return {
        "manager": auth("store_manager", company="ACME", store="S1"),
        "other_manager": auth("store_manager", company="ACME", store="S2"),
        "finance": auth("finance", company="ACME"),
        "integration": auth("integration", company="ACME"),
        "cashier": auth("cashier", company="ACME", store="S1"),
        "admin": auth("admin", company="ACME"),
    }


def confirmed_order(client, setup, headers, **fields) -> dict:
    order = post(client, "/purchase-orders", order_body(setup, **fields), headers)
    return post(client, f"/purchase-orders/{order['id']}/confirm", None, headers, 200)


def test_order_to_receipts_to_a_matched_bill_over_http(client, setup, roles):
    manager, finance = roles["manager"], roles["finance"]
    response = client.post(f"{API}/purchase-orders", json=order_body(setup), headers=manager)
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["Location"] == f"{API}/purchase-orders/{order['id']}"
    assert (order["number"], order["state"], order["currency"], order["total"]) == (
        "PO-000001",
        "draft",
        "EUR",
        "105.00",
    )
    assert order["lines"][0]["sku"] == "SHIRT"
    order = post(client, f"/purchase-orders/{order['id']}/confirm", None, manager, 200)
    assert order["state"] == "confirmed" and order["confirmed_by"]

    receipt = post(
        client,
        "/receipts",
        {
            "purchase_order_id": order["id"],
            "date": "2026-03-05",
            "reference": "DN-1",
            "lines": [
                {"po_line_id": order["lines"][0]["id"], "quantity": "6", "location_id": setup.location("S1")},
                {"po_line_id": order["lines"][1]["id"], "quantity": "5", "location_id": setup.location("S1")},
            ],
        },
        manager,
    )
    assert receipt["number"] == "RC-000001" and receipt["purchase_value"] == "87.00"
    order = client.get(f"{API}/purchase-orders/{order['id']}", headers=manager).json()
    assert order["state"] == "partially_received"
    assert [line["backorder_quantity"] for line in order["lines"]] == ["4.00", "0.00"]

    post(
        client,
        "/receipts",
        {
            "purchase_order_id": order["id"],
            "date": "2026-03-08",
            "lines": [
                {
                    "po_line_id": order["lines"][0]["id"],
                    "quantity": "4",
                    "location_id": setup.location("S1", "backroom"),
                }
            ],
        },
        manager,
    )
    assert client.get(f"{API}/purchase-orders/{order['id']}", headers=manager).json()["state"] == "received"
    listed = client.get(f"{API}/receipts", params={"purchase_order_id": order["id"]}, headers=finance).json()
    assert [r["number"] for r in listed["items"]] == ["RC-000001", "RC-000002"]

    bill = post(
        client,
        "/vendor-bills",
        {
            "purchase_order_id": order["id"],
            "bill_date": "2026-03-15",
            "supplier_invoice_ref": "INV-778",
            "lines": [
                {
                    "po_line_id": order["lines"][0]["id"],
                    "quantity": "10",
                    "unit_price": "4.50",
                    "tax_code": "FR-VAT-20",
                    "tax": "9.00",
                },
                {
                    "po_line_id": order["lines"][1]["id"],
                    "quantity": "5",
                    "unit_price": "12.00",
                    "tax_code": "FR-VAT-20",
                    "tax": "12.00",
                },
            ],
        },
        finance,
    )
    assert (bill["state"], bill["total"], bill["purchase_order_number"]) == ("matched", "126.00", "PO-000001")
    assert client.get(f"{API}/vendor-bills/{bill['id']}", headers=finance).json() == bill
    entries = client.get(
        f"{API}/journal-entries", params={"event_id": bill["posted_event_id"]}, headers=finance
    ).json()["items"]
    assert [entry["journal_code"] for entry in entries] == ["PURCH"]
    assert entries[0]["total_debit"] == "126.00"
    assert setup.balance("goods_received_not_invoiced") == D("0.00")
    assert setup.balance("inventory") == D("105.00")
    assert setup.balance("input_tax") == D("21.00")
    assert setup.balance("payables") == D("-126.00")
    assert client.get(f"{API}/purchase-orders/{order['id']}", headers=manager).json()["state"] == "closed"


def test_over_receipt_is_a_409_naming_the_line_and_writes_nothing(client, setup, roles, snapshot):
    order = confirmed_order(client, setup, roles["manager"])
    before = snapshot()
    response = client.post(
        f"{API}/receipts",
        json={
            "purchase_order_id": order["id"],
            "lines": [
                {"po_line_id": order["lines"][1]["id"], "quantity": "6", "location_id": setup.location("S1")}
            ],
        },
        headers=roles["manager"],
    )
    body = assert_problem(response, 409, "over-receipt", fields=("lines.0.quantity",))
    assert "MUG" in body["detail"]
    assert snapshot() == before


def test_a_mismatched_bill_is_held_until_finance_approves_it(client, setup, roles, runtime):
    order = confirmed_order(client, setup, roles["manager"])
    post(
        client,
        "/receipts",
        {
            "purchase_order_id": order["id"],
            "lines": [
                {"po_line_id": order["lines"][0]["id"], "quantity": "6", "location_id": setup.location("S1")}
            ],
        },
        roles["manager"],
    )
    body = {
        "purchase_order_id": order["id"],
        "bill_date": "2026-03-15",
        "lines": [
            {
                "po_line_id": order["lines"][0]["id"],
                "quantity": "8",
                "unit_price": "5.00",
                "tax_code": "FR-VAT-20",
                "tax": "8.00",
            }
        ],
    }
    bill = post(client, "/vendor-bills", body, roles["integration"])
    assert bill["state"] == "exception" and bill["posted_event_id"] is None
    assert {m["kind"] for m in bill["mismatches"]} == {"quantity", "price"}
    assert setup.balance("payables") == D("0")
    held = client.get(f"{API}/vendor-bills", params={"state": "exception"}, headers=roles["finance"]).json()
    assert [b["id"] for b in held["items"]] == [bill["id"]]

    for role in ("integration", "admin", "manager"):
        assert_problem(
            client.post(f"{API}/vendor-bills/{bill['id']}/approve", headers=roles[role]),
            403,
            "permission-denied",
        )
    approved = post(
        client, f"/vendor-bills/{bill['id']}/approve", {"note": "agreed with supplier"}, roles["finance"], 200
    )
    assert approved["state"] == "posted" and approved["approved_by"].startswith("token:")
    assert setup.balance("payables") == D("-48.00")
    assert setup.balance("goods_received_not_invoiced") == D("0.00")
    assert setup.balance("price_variance") == D("13.00")  # billed 40.00 against 27.00 received
    [recorded] = events(runtime, type="VendorBillRecorded")
    assert recorded.payload["approval_note"] == "agreed with supplier"
    assert_problem(
        client.post(f"{API}/vendor-bills/{bill['id']}/approve", headers=roles["finance"]),
        409,
        "invalid-state-transition",
    )


def test_cancelling_an_order_with_receipts_and_bad_transitions_are_409s(client, setup, roles):
    manager = roles["manager"]
    order = confirmed_order(client, setup, manager)
    assert_problem(
        client.post(f"{API}/purchase-orders/{order['id']}/confirm", headers=manager),
        409,
        "invalid-state-transition",
        fields=("state",),
    )
    post(
        client,
        "/receipts",
        {
            "purchase_order_id": order["id"],
            "lines": [
                {"po_line_id": order["lines"][0]["id"], "quantity": "1", "location_id": setup.location("S1")}
            ],
        },
        manager,
    )
    assert_problem(
        client.post(f"{API}/purchase-orders/{order['id']}/cancel", json={"reason": "late"}, headers=manager),
        409,
        "purchase-order-has-receipts",
    )
    closed = post(client, f"/purchase-orders/{order['id']}/close", None, manager, 200)
    assert closed["state"] == "closed"
    draft = post(client, "/purchase-orders", order_body(setup), manager)
    cancelled = post(client, f"/purchase-orders/{draft['id']}/cancel", {"reason": "duplicate"}, manager, 200)
    assert cancelled["state"] == "cancelled"
    response = client.post(
        f"{API}/receipts",
        json={
            "purchase_order_id": draft["id"],
            "lines": [
                {"po_line_id": draft["lines"][0]["id"], "quantity": "1", "location_id": setup.location("S1")}
            ],
        },
        headers=manager,
    )
    assert_problem(response, 409, "invalid-state-transition", fields=("purchase_order_id",))


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("cashier", "get", "/purchase-orders", 403),
        ("cashier", "post", "/purchase-orders", 403),
        ("finance", "post", "/purchase-orders", 403),
        ("finance", "get", "/purchase-orders", 200),
        ("integration", "post", "/purchase-orders", 201),
        ("manager", "post", "/vendor-bills", 403),
        ("cashier", "get", "/vendor-bills", 403),
        ("finance", "post", "/receipts", 403),
        ("integration", "put", "/purchasing/settings", 403),
        ("finance", "put", "/purchasing/settings", 200),
        ("manager", "get", "/purchasing/settings", 200),
    ],
)
def test_permissions(client, setup, roles, role, method, path, status):
    bodies = {
        "/purchase-orders": order_body(setup),
        "/vendor-bills": {"purchase_order_id": str(uuid.uuid4()), "bill_date": "2026-03-01", "lines": []},
        "/receipts": {"purchase_order_id": str(uuid.uuid4()), "lines": []},
        "/purchasing/settings": {"price_tolerance_percent": "1.5", "price_tolerance_amount": "0"},
    }
    response = client.request(
        method, f"{API}{path}", json=bodies[path] if method != "get" else None, headers=roles[role]
    )
    assert response.status_code == status, response.text
    if status == 403:
        assert_problem(response, 403, "permission-denied")


def test_the_tolerance_is_read_and_changed_per_company(client, setup, roles):
    assert client.get(f"{API}/purchasing/settings", headers=roles["finance"]).json() == {
        "company_id": setup.stores["S1"]["company_id"],
        "price_tolerance_percent": "2.00",
        "price_tolerance_amount": "0.01",
        "updated_by": None,
    }
    response = client.put(
        f"{API}/purchasing/settings",
        json={"price_tolerance_percent": "5", "price_tolerance_amount": "0.05"},
        headers=roles["finance"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["price_tolerance_percent"] == "5.00"


def test_a_store_scoped_token_sees_and_orders_for_its_own_store_only(client, setup, roles):
    mine = confirmed_order(client, setup, roles["manager"])
    theirs = confirmed_order(client, setup, roles["other_manager"], store="S2", supplier="Contoso Ceramics")
    assert_problem(
        client.get(f"{API}/purchase-orders/{theirs['id']}", headers=roles["manager"]), 404, "not-found"
    )
    listed = client.get(f"{API}/purchase-orders", headers=roles["manager"]).json()["items"]
    assert [o["id"] for o in listed] == [mine["id"]]
    response = client.post(
        f"{API}/purchase-orders", json=order_body(setup, store="S2"), headers=roles["manager"]
    )
    assert_problem(response, 422, "invalid-reference", fields=("store_id",))
    response = client.post(
        f"{API}/receipts",
        json={
            "purchase_order_id": theirs["id"],
            "lines": [
                {"po_line_id": theirs["lines"][0]["id"], "quantity": "1", "location_id": setup.location("S2")}
            ],
        },
        headers=roles["manager"],
    )
    assert_problem(response, 422, "invalid-reference", fields=("purchase_order_id",))
    # a company-wide reader filters
    finance = roles["finance"]
    by_store = client.get(
        f"{API}/purchase-orders", params={"store_id": setup.stores["S2"]["id"]}, headers=finance
    ).json()["items"]
    assert [o["id"] for o in by_store] == [theirs["id"]]
    by_supplier = client.get(f"{API}/purchase-orders", params={"supplier": "contoso"}, headers=finance).json()
    assert [o["number"] for o in by_supplier["items"]] == [theirs["number"]]
    by_state = client.get(f"{API}/purchase-orders", params={"state": "draft"}, headers=finance).json()
    assert by_state["items"] == []
    page = client.get(f"{API}/purchase-orders", params={"limit": 1}, headers=finance).json()
    assert len(page["items"]) == 1 and page["next_cursor"] == mine["id"]


def test_a_replayed_post_creates_one_order_and_one_receipt(client, setup, roles, runtime):
    headers = {**roles["manager"], "Idempotency-Key": "po-1"}
    first = client.post(f"{API}/purchase-orders", json=order_body(setup), headers=headers)
    second = client.post(f"{API}/purchase-orders", json=order_body(setup), headers=headers)
    assert second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert len(events(runtime, type="PurchaseOrderCreated")) == 1
    order = post(client, f"/purchase-orders/{first.json()['id']}/confirm", None, roles["manager"], 200)
    receipt = {
        "purchase_order_id": order["id"],
        "lines": [
            {"po_line_id": order["lines"][0]["id"], "quantity": "10", "location_id": setup.location("S1")}
        ],
    }
    key = {**roles["manager"], "Idempotency-Key": "rc-1"}
    once = client.post(f"{API}/receipts", json=receipt, headers=key)
    twice = client.post(f"{API}/receipts", json=receipt, headers=key)
    assert once.status_code == twice.status_code == 201, once.text
    assert twice.json() == once.json()
    assert len(events(runtime, type="GoodsReceived")) == 1
    assert setup.balance("inventory") == D("45.00")


def test_bad_input_names_the_field(client, setup, roles):
    response = client.post(
        f"{API}/purchase-orders", json=order_body(setup, lines=[]), headers=roles["manager"]
    )
    assert_problem(response, 422, fields=("lines",))
    body = order_body(setup)
    body["lines"][0]["quantity"] = "0"
    assert_problem(client.post(f"{API}/purchase-orders", json=body, headers=roles["manager"]), 422)
    order = confirmed_order(client, setup, roles["manager"])
    response = client.post(
        f"{API}/vendor-bills",
        json={
            "purchase_order_id": order["id"],
            "bill_date": "2026-03-15",
            "lines": [
                {"po_line_id": order["lines"][0]["id"], "quantity": "1", "unit_price": "4.5", "tax": "1.234"}
            ],
        },
        headers=roles["finance"],
    )
    assert_problem(response, 422, fields=("lines.0",))
