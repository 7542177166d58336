"""Shopify webhooks in, on the shared fixtures (../shared/fixtures/shopify: Shopify's own example
payloads, and a constructed HMAC vector with the secret ``hush``), over HTTP.

Each test asserts what lands: the sync log, the order, its payments, stock, the return and its books.
A real Shopify cannot be reached from here; the payloads are its documented formats.

SHOP sells in the US in USD with a 6 % state tax on top of prices (like Shopify's example order);
warehouse W1 holds 5 of every product at a cost of 100.00.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from apitools import API, assert_problem
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.connectors import services as connectors
from retailcore.connectors.tables import Connector, ConnectorLink, SyncMessage
from retailcore.entrypoints import sweeps
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.orders import tables as ot
from retailcore.returns.tables import ReturnRow

D = Decimal
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "external" / "shopify"
"""Shopify's published examples, byte for byte (tests/fixtures/external/README.md says where from)."""

SHOP = "example.myshopify.com"
SECRET = "hush"
WEBHOOK = f"{API}/connectors/shopify/{SHOP}/webhooks"
EXAMPLE_SKUS = ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")
SAMPLE_SKUS = ("SKU2006-001", "SKU2006-020", "SKU2006-035")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name), parse_float=D)


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(data: dict) -> bytes:
    return json.dumps(data, default=str).encode()


@pytest.fixture
def shop(runtime, client, admin, monkeypatch):
    monkeypatch.setattr(runtime.settings, "connector_key", Fernet.generate_key().decode())

    def post(path, body, status=201, headers=admin):
        response = client.post(f"{API}/{path}", json=body, headers=headers)
        assert response.status_code == status, response.text
        return response.json()

    company = post("companies", {"code": "SHOP", "name": "Shop Inc", "currency": "USD", "country": "US"})
    company_id = company["id"]
    post("stores", {"company_id": company_id, "code": "W1", "name": "Warehouse", "kind": "warehouse"})
    post(
        "tax-rules",
        {
            "company_id": company_id,
            "jurisdiction": "US",
            "tax_category": "standard",
            "taxes": [{"code": "US-ST-6", "name": "State Tax", "rate_percent": "6", "price_included": False}],
        },
    )
    connector = post(
        "connectors",
        {
            "company_id": company_id,
            "kind": "shopify",
            "name": SHOP,
            "secret": SECRET,
            "settings": {"max_attempts": 3, "retry_base_seconds": 60},
        },
    )

    class Shop:
        def __init__(self) -> None:
            self.company_id = company_id
            self.connector = connector
            self.products: dict[str, str] = {}

        def product(self, sku: str, stock: int = 5) -> str:
            body = {
                "company_id": company_id,
                "sku": sku,
                "name": sku,
                "category": "Audio",
                "list_price": "199.00",
                "cost_method": "average",
                "channels": ["web"],
            }
            self.products[sku] = post("products", body)["id"]
            with transaction(runtime.session_factory) as session:
                company_row = session.get(Company, uuid.UUID(company_id))
                locations = dict(
                    session.execute(
                        select(Location.kind, Location.id).where(
                            Location.company_id == company_row.id,
                            Location.kind.in_(("supplier", "stock")),
                        )
                    ).all()
                )
                move_stock(
                    session,
                    CommandContext(system_principal()),
                    company_row,
                    kind="receipt",
                    lines=[
                        MoveLine(
                            uuid.UUID(self.products[sku]),
                            D(stock),
                            locations["supplier"],
                            locations["stock"],
                            D(100),
                        )
                    ],
                    date=dt.date(2026, 3, 1),
                )
            return self.products[sku]

        def deliver(
            self, topic: str, body: bytes, webhook_id: str | None = None, signature: str | None = None
        ):
            headers = {
                "Content-Type": "application/json",
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": signature if signature is not None else sign(body),
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-API-Version": "2025-07",
                "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            }
            return client.post(WEBHOOK, content=body, headers=headers)

        def ok(self, topic: str, data: dict, webhook_id: str | None = None) -> dict:
            response = self.deliver(topic, encode(data), webhook_id)
            assert response.status_code == 200, response.text
            return response.json()

        def log(self, **params) -> list[dict]:
            response = client.get(
                f"{API}/connectors/{connector['id']}/sync-log", params={"limit": 500, **params}, headers=admin
            )
            assert response.status_code == 200, response.text
            return response.json()["items"]

        def message(self, message_id) -> dict:
            return next(m for m in self.log() if m["id"] == str(message_id))

        def orders(self) -> list[dict]:
            response = client.get(f"{API}/orders", params={"company_id": company_id}, headers=admin)
            assert response.status_code == 200, response.text
            return response.json()["items"]

        def replay(self, body=None) -> list[dict]:
            response = client.post(
                f"{API}/connectors/{connector['id']}/replay", json=body or {}, headers=admin
            )
            assert response.status_code == 200, response.text
            return response.json()["replayed"]

        def stock(self, sku: str) -> tuple[Decimal, Decimal]:
            with runtime.session_factory() as session:
                row = session.execute(
                    select(i.StockQuant.quantity, i.StockQuant.reserved)
                    .join(Location, Location.id == i.StockQuant.location_id)
                    .where(i.StockQuant.product_id == uuid.UUID(self.products[sku]), Location.kind == "stock")
                ).one()
            return row.quantity, row.reserved

        def balance(self, role: str) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit - a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == uuid.UUID(company_id), Account.role == role)
                )
            return total if total is not None else D(0)

        def count(self, table) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.count()).select_from(table))

    return Shop()


def example_order(**changes) -> dict:
    """Shopify's REST example order 450789469 (tax, a discount code, three iPods), as ``changes`` say."""
    data = fixture("order_rest_example_450789469.json")
    data.update(changes)
    return data


def stocked(shop, skus=EXAMPLE_SKUS) -> None:
    for sku in skus:
        shop.product(sku)


# -- the signature -------------------------------------------------------------------------------------


def test_the_fixture_hmac_vector_verifies_and_an_unknown_sku_fails_until_the_product_exists(shop):
    headers = fixture("orders_create.headers.json")
    body = fixture_bytes("orders_create.json")
    assert sign(body) == headers["X-Shopify-Hmac-Sha256"]  # the vector, with the README's secret
    response = shop.deliver(
        headers["X-Shopify-Topic"], body, headers["X-Shopify-Webhook-Id"], headers["X-Shopify-Hmac-Sha256"]
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["duplicate"]) == ("failed", False)
    message = shop.message(answer["message_id"])
    assert message["topic"] == "orders/create"
    assert message["external_id"] == "820982911946154508"  # beyond 2^53, kept exact
    assert message["webhook_id"] == headers["X-Shopify-Webhook-Id"]
    assert message["attempts"] == 1 and message["next_attempt_at"] is not None
    assert "unknown-sku" in message["error"] and "SKU2006-001" in message["error"]
    assert shop.orders() == []

    stocked(shop, SAMPLE_SKUS)
    (replayed,) = shop.replay({"message_id": answer["message_id"]})
    assert replayed["status"] == "processed", replayed
    (order,) = shop.orders()
    # Shopify's sample is a cancelled, voided test order: it lands, then is cancelled with nothing paid.
    assert (order["channel"], order["state"], order["paid_amount"]) == ("web", "cancelled", "0.00")
    assert [(ln["sku"], ln["unit_price"]) for ln in order["lines"]] == [
        ("SKU2006-001", "89.99"),
        ("SKU2006-020", "159.99"),
        ("SKU2006-035", "119.99"),
    ]
    assert shop.stock("SKU2006-001") == (D(5), D(0))  # its reservation let go
    assert replayed["result"]["order_number"] == order["number"]
    assert {"kind": "shipping-not-landed", "shopify_shipping": "10.00"} in replayed["flags"]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        sign(b"another body"),
        sign(fixture_bytes("orders_create.json"), "not-the-secret") if FIXTURES.is_dir() else "x",
    ],
)
def test_a_missing_or_wrong_signature_is_401_and_writes_nothing(shop, client, signature):
    body = fixture_bytes("orders_create.json")
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": "w-1"}
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    response = client.post(WEBHOOK, content=body, headers=headers)
    assert_problem(response, 401, "invalid-signature")
    assert shop.count(SyncMessage) == 0
    assert shop.count(ot.OrderRow) == 0


def test_a_shop_without_a_connector_is_401_like_a_wrong_signature(shop, client):
    body = fixture_bytes("orders_create.json")
    response = client.post(
        f"{API}/connectors/shopify/other.myshopify.com/webhooks",
        content=body,
        headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": sign(body)},
    )
    assert_problem(response, 401, "invalid-signature")
    assert shop.count(SyncMessage) == 0


# -- duplicates ------------------------------------------------------------------------------------------


def test_a_replayed_delivery_is_answered_200_and_stores_nothing_new(shop):
    stocked(shop)
    first = shop.ok("orders/create", example_order(financial_status="paid"), webhook_id="delivery-1")
    again = shop.ok("orders/create", example_order(financial_status="paid"), webhook_id="delivery-1")
    assert (first["status"], first["duplicate"]) == ("processed", False)
    assert (again["message_id"], again["duplicate"]) == (first["message_id"], True)
    (message,) = shop.log()
    assert message["duplicate_deliveries"] == 1
    (order,) = shop.orders()
    assert order["paid_amount"] == "598.94"  # Shopify's total, once
    assert len(order["payments"]) == 1


def test_one_shopify_order_under_two_webhook_ids_lands_once_and_counts_the_duplicate(shop):
    stocked(shop)
    first = shop.ok("orders/create", example_order(financial_status="paid"))
    second = shop.ok("orders/create", example_order(financial_status="paid"))
    assert first["message_id"] != second["message_id"]
    (order,) = shop.orders()
    assert [m["duplicate_of"] for m in shop.log()] == [None, f"order:{order['id']}"]
    assert len(order["payments"]) == 1
    assert shop.stock("IPOD2008RED") == (D(5), D(1))  # reserved once


# -- the order's money and taxes ----------------------------------------------------------------------------


def test_shopify_prices_discounts_and_a_card_captured_through_the_shopify_gateway(shop):
    stocked(shop)
    answer = shop.ok("orders/create", example_order(financial_status="paid"))
    (order,) = shop.orders()
    # 199.00 less the TENOFF allocations (3.34, 3.33, 3.33): 587.00 net, 6 % of each line: 35.22.
    assert [(ln["unit_price"], ln["discount"], ln["net"], ln["tax"]) for ln in order["lines"]] == [
        ("199.00", "3.34", "195.66", "11.74"),
        ("199.00", "3.33", "195.67", "11.74"),
        ("199.00", "3.33", "195.67", "11.74"),
    ]
    assert (order["net_total"], order["tax_total"], order["gross_total"]) == ("587.00", "35.22", "622.22")
    (payment,) = order["payments"]
    assert (payment["kind"], payment["gateway"], payment["state"]) == ("card", "shopify", "captured")
    # Shopify collected 598.94: all of it is captured (the order owes more here), the difference flagged.
    assert payment["captured"] == "598.94"
    assert shop.balance("card_clearing") == D("598.94")
    assert shop.balance("customer_deposits") == D("-598.94")
    flags = {flag["kind"]: flag for flag in shop.message(answer["message_id"])["flags"]}
    # Shopify's example taxes 3.98 a line (11.94): ours are 35.22, beyond rounding.
    assert flags["tax-mismatch"]["shopify_tax"] == "11.94"
    assert flags["tax-mismatch"]["our_tax"] == "35.22"
    assert flags["payment-mismatch"] == {
        "kind": "payment-mismatch",
        "shopify_paid": "598.94",
        "order_total": "622.22",
    }


def test_taxes_that_agree_within_rounding_are_not_flagged(shop):
    stocked(shop)
    data = example_order(financial_status="paid", total_tax="35.22", total_price="622.22")
    answer = shop.ok("orders/create", data)
    assert shop.message(answer["message_id"])["flags"] == []
    data = example_order(financial_status="paid", id=450789470, total_tax="35.24", total_price="622.24")
    answer = shop.ok("orders/create", data)
    assert [f["kind"] for f in shop.message(answer["message_id"])["flags"]] == ["payment-mismatch"]


def test_shipping_lines_land_as_the_orders_shipping_when_the_connector_names_their_tax_category(
    shop, client, admin
):
    changed = client.patch(
        f"{API}/connectors/{shop.connector['id']}",
        json={"settings": {"max_attempts": 3, "retry_base_seconds": 60, "shipping_tax_category": "standard"}},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    stocked(shop)
    express = {
        "title": "Express",
        "code": "EXP",
        "price": "10.00",
        "discount_allocations": [{"amount": "4.00"}],
    }
    # 622.22 of goods and taxes, 6.00 of shipping after Shopify's 4.00 off, 6 % on it: 0.36.
    data = example_order(
        financial_status="paid", total_tax="35.58", total_price="628.58", shipping_lines=[express]
    )
    answer = shop.ok("orders/create", data)
    (order,) = shop.orders()
    shipping = order["shipping"]
    assert (shipping["method"], shipping["amount"], shipping["net"], shipping["tax"]) == (
        "EXP",
        "6.00",
        "6.00",
        "0.36",
    )
    assert (order["tax_total"], order["gross_total"], order["paid_amount"]) == ("35.58", "628.58", "628.58")
    assert shop.message(answer["message_id"])["flags"] == []


# -- out of order ------------------------------------------------------------------------------------------


def test_paid_before_create_ends_as_create_then_paid(shop):
    stocked(shop)
    pending = {"financial_status": "pending", "total_price": "622.22", "total_tax": "35.22"}
    paid = {**pending, "financial_status": "paid"}
    # Order A: paid first, then its create.
    shop.ok("orders/paid", example_order(**paid))
    late = shop.ok("orders/create", example_order(**pending))
    # Order B: in Shopify's order.
    shop.ok("orders/create", example_order(id=2, **pending))
    shop.ok("orders/paid", example_order(id=2, **paid))
    first, second = shop.orders()
    for order in (first, second):
        assert (order["state"], order["paid_amount"], order["deposit_balance"]) == (
            "confirmed",
            "622.22",
            "622.22",
        )
        ((payment),) = order["payments"]
        assert (payment["state"], payment["captured"]) == ("captured", "622.22")
    assert shop.message(late["message_id"])["duplicate_of"] == f"order:{first['id']}"
    assert shop.balance("card_clearing") == D("1244.44")


def test_an_authorization_is_captured_when_orders_paid_comes(shop):
    stocked(shop)
    common = {"total_price": "622.22", "total_tax": "35.22"}
    shop.ok("orders/create", example_order(financial_status="authorized", **common))
    (order,) = shop.orders()
    assert [(p["state"], p["authorized"], p["captured"]) for p in order["payments"]] == [
        ("authorized", "622.22", "0.00")
    ]
    shop.ok("orders/paid", example_order(financial_status="paid", **common))
    (order,) = shop.orders()
    assert [(p["state"], p["captured"]) for p in order["payments"]] == [("captured", "622.22")]


def fulfillment(order: dict, skus=EXAMPLE_SKUS, fulfillment_id: int = 255858046) -> dict:
    """A Fulfillment resource for the order's lines of ``skus`` (one each)."""
    return {
        "id": fulfillment_id,
        "order_id": order["id"],
        "status": "success",
        "line_items": [
            {"id": item["id"], "quantity": 1} for item in order["line_items"] if item["sku"] in skus
        ],
    }


def test_a_refund_lands_as_a_return_with_stock_and_books(shop, runtime):
    stocked(shop)
    data = example_order(financial_status="paid", total_price="622.22", total_tax="35.22")
    shop.ok("orders/create", data)
    shipped = shop.ok("fulfillments/create", fulfillment(data))
    assert shipped["status"] == "processed"
    (order,) = shop.orders()
    assert order["state"] == "fulfilled"
    assert shop.stock("IPOD2008BLACK") == (D(4), D(0))
    refund = shop.ok("refunds/create", fixture("refunds_create.json"))
    assert refund["status"] == "processed", shop.message(refund["message_id"])
    message = shop.message(refund["message_id"])
    (order,) = shop.orders()
    with runtime.session_factory() as session:
        (returned,) = session.scalars(select(ReturnRow)).all()
        assert str(returned.order_id) == order["id"]
        assert returned.status == "refunded"
        assert returned.note.startswith("Shopify refund 509562969")
    # legacy_restock: BLACK and GREEN are back in W1's sellable stock; RED stays sold.
    assert shop.stock("IPOD2008BLACK") == (D(5), D(0))
    assert shop.stock("IPOD2008GREEN") == (D(5), D(0))
    assert shop.stock("IPOD2008RED") == (D(4), D(0))
    # The money went back to the Shopify card: 195.66 + 11.74 and 195.67 + 11.74.
    assert message["result"]["return_number"] == returned.number
    (payment,) = order["payments"]
    assert (payment["gateway"], payment["refunded"], payment["state"]) == (
        "shopify",
        "414.81",
        "partially_refunded",
    )
    assert shop.balance("card_clearing") == D("622.22") - D("414.81")
    assert shop.balance("inventory") == D(100) * 14  # 15 received, 3 sold, 2 back at their cost
    assert message["flags"] == [
        {"kind": "refund-mismatch", "shopify_refunded": "209.00", "our_refund": "414.81"}
    ]
    # A second delivery of the same refund under another webhook id lands nothing more.
    again = shop.ok("refunds/create", fixture("refunds_create.json"))
    assert shop.message(again["message_id"])["duplicate_of"] == f"refund:{returned.id}"
    assert shop.stock("IPOD2008BLACK") == (D(5), D(0))


def test_a_refund_before_its_order_and_its_delivery_waits_and_lands_when_they_come(shop):
    stocked(shop)
    data = example_order(financial_status="paid", total_price="622.22", total_tax="35.22")
    early = shop.ok("refunds/create", fixture("refunds_create.json"))
    assert early["status"] == "failed"
    waiting = shop.message(early["message_id"])
    assert waiting["waits_for"] == "order:450789469" and "has not arrived" in waiting["error"]
    shop.ok("orders/create", data)  # the refund is retried at once, and waits for the delivery now
    waiting = shop.message(early["message_id"])
    assert (waiting["status"], waiting["attempts"]) == ("retried", 2)
    assert "not delivered yet" in waiting["error"]
    shop.ok("fulfillments/create", fulfillment(data))
    landed = shop.message(early["message_id"])
    assert (landed["status"], landed["attempts"]) == ("processed", 3)
    assert shop.stock("IPOD2008BLACK") == (D(5), D(0))


def test_a_fulfillment_before_its_order_waits_for_it(shop):
    stocked(shop)
    data = example_order(financial_status="paid", total_price="622.22", total_tax="35.22")
    early = shop.ok("fulfillments/create", fulfillment(data, skus=("IPOD2008RED",)))
    assert early["status"] == "failed"
    shop.ok("orders/create", data)
    assert shop.message(early["message_id"])["status"] == "processed"
    (order,) = shop.orders()
    assert order["state"] == "partially_fulfilled"
    assert [D(ln["fulfilled_quantity"]) for ln in order["lines"]] == [0, 1, 0]


def test_orders_cancelled_cancels_and_refunds_the_deposit_to_the_card(shop):
    stocked(shop)
    common = {"total_price": "622.22", "total_tax": "35.22"}
    shop.ok("orders/create", example_order(financial_status="paid", **common))
    shop.ok(
        "orders/cancelled",
        example_order(financial_status="refunded", cancelled_at="2026-12-01T10:00:00-05:00", **common),
    )
    (order,) = shop.orders()
    assert (order["state"], order["deposit_balance"]) == ("cancelled", "0.00")
    assert [(p["state"], p["refunded"]) for p in order["payments"]] == [("refunded", "622.22")]
    assert shop.stock("IPOD2008RED") == (D(5), D(0))
    assert shop.balance("card_clearing") == D(0)


# -- retries, dead letters, replay ---------------------------------------------------------------------------


def test_a_failing_message_is_retried_with_backoff_dead_lettered_and_replayed_after_a_fix(shop, runtime):
    stocked(shop, EXAMPLE_SKUS[:2])  # IPOD2008BLACK does not exist yet
    answer = shop.ok("orders/create", example_order(financial_status="paid"))
    first = shop.message(answer["message_id"])
    assert (first["status"], first["attempts"]) == ("failed", 1)
    assert "IPOD2008BLACK" in first["error"]
    received = dt.datetime.fromisoformat(first["received_at"])
    assert dt.datetime.fromisoformat(first["next_attempt_at"]) - received == dt.timedelta(seconds=60)

    def retry(at: dt.datetime) -> int:
        with transaction(runtime.session_factory) as session:
            return connectors.retry_due(session, at)

    assert retry(received + dt.timedelta(seconds=59)) == 0  # not due yet
    # The serving process's sweep retries what is due.
    assert sweeps.retry_connector_messages(runtime.session_factory, received + dt.timedelta(seconds=60)) == 1
    second = shop.message(answer["message_id"])
    assert (second["status"], second["attempts"]) == ("retried", 2)
    due = dt.datetime.fromisoformat(second["next_attempt_at"])
    assert due - (received + dt.timedelta(seconds=60)) == dt.timedelta(seconds=120)  # doubled
    assert retry(due) == 1
    third = shop.message(answer["message_id"])
    assert (third["status"], third["attempts"], third["next_attempt_at"]) == ("dead_lettered", 3, None)
    assert retry(due + dt.timedelta(days=1)) == 0  # a dead letter waits for a person
    assert shop.log(status="dead_lettered")[0]["id"] == answer["message_id"]
    assert shop.orders() == []

    shop.product("IPOD2008BLACK")  # the fix
    (replayed,) = shop.replay()
    assert (replayed["id"], replayed["status"], replayed["attempts"]) == (
        answer["message_id"],
        "processed",
        1,
    )
    (order,) = shop.orders()
    assert order["paid_amount"] == "598.94"
    assert shop.replay() == []  # nothing left to replay


def test_a_message_that_processes_cannot_be_replayed(shop, client, admin):
    stocked(shop)
    answer = shop.ok("orders/create", example_order(financial_status="paid"))
    response = client.post(
        f"{API}/connectors/{shop.connector['id']}/replay",
        json={"message_id": answer["message_id"]},
        headers=admin,
    )
    assert_problem(response, 409, "not-replayable", fields=("message_id",))


# -- the connectors API --------------------------------------------------------------------------------------


def test_the_secret_is_stored_encrypted_and_never_returned(shop, client, admin, runtime):
    connector = shop.connector
    assert "secret" not in connector and connector["has_secret"] is True
    assert connector["webhook_path"] == WEBHOOK
    listed = client.get(f"{API}/connectors", params={"company_id": shop.company_id}, headers=admin).json()
    assert [item["id"] for item in listed["items"]] == [connector["id"]] and listed["next_cursor"] is None
    assert "secret" not in client.get(f"{API}/connectors/{connector['id']}", headers=admin).json()
    with runtime.session_factory() as session:
        row = session.get(Connector, uuid.UUID(connector["id"]))
        assert row.secret and SECRET not in row.secret
        assert Fernet(runtime.settings.connector_key.encode()).decrypt(row.secret.encode()) == b"hush"


def test_connectors_refuse_bad_input_and_a_second_connector_for_a_shop(shop, client, admin):
    body = {"company_id": shop.company_id, "kind": "shopify", "name": SHOP, "secret": "x"}
    assert_problem(client.post(f"{API}/connectors", json=body, headers=admin), 409, "connector-exists")
    bad = {**body, "name": "not a shop"}
    assert_problem(client.post(f"{API}/connectors", json=bad, headers=admin), 422, fields=("name",))
    unsigned = {k: v for k, v in body.items() if k != "secret"} | {"name": "b.myshopify.com"}
    assert_problem(client.post(f"{API}/connectors", json=unsigned, headers=admin), 422, fields=("secret",))


def test_without_a_connector_key_no_secret_is_stored(shop, client, admin, runtime, monkeypatch):
    monkeypatch.setattr(runtime.settings, "connector_key", None)
    body = {"company_id": shop.company_id, "kind": "shopify", "name": "b.myshopify.com", "secret": "x"}
    assert_problem(client.post(f"{API}/connectors", json=body, headers=admin), 409, "connector-key-missing")


def test_the_sync_log_pages_and_needs_the_permission(shop, client, auth):
    stocked(shop)
    for n in range(3):
        shop.ok("orders/create", example_order(id=1000 + n, financial_status="paid"))
    url = f"{API}/connectors/{shop.connector['id']}/sync-log"
    finance = auth("finance", company="SHOP")
    page = client.get(url, params={"limit": 2}, headers=finance).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get(url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=finance).json()
    assert [m["external_id"] for m in page["items"] + rest["items"]] == ["1000", "1001", "1002"]
    assert rest["next_cursor"] is None
    cashier = auth("cashier", company="SHOP")
    assert_problem(client.get(url, headers=cashier), 403, "permission-denied")
    assert_problem(
        client.post(f"{API}/connectors/{shop.connector['id']}/replay", json={}, headers=finance),
        403,
        "permission-denied",
    )


def test_fixtures_are_unchanged():
    # The HMAC vector is over the exact bytes (../shared/fixtures/README.md).
    digest = hashlib.sha256(fixture_bytes("orders_create.json")).hexdigest()
    assert digest == "74618b1bde45bdade63753b045b181e5a2fdeebaaed5c1e182197ca812912ce5"
    assert fixture("refunds_create.json")["order_id"] == 450789469


def test_a_queued_connector_answers_at_once_and_its_sweep_lands_the_message(shop, runtime):
    stocked(shop)
    with transaction(runtime.session_factory) as session:
        row = session.get(Connector, uuid.UUID(shop.connector["id"]))
        row.settings = {**row.settings, "process": "queued"}
    answer = shop.ok("orders/create", example_order(financial_status="paid"), webhook_id="q-1")
    assert (answer["status"], answer["duplicate"]) == ("received", False)
    again = shop.ok("orders/create", example_order(financial_status="paid"), webhook_id="q-1")
    assert (again["message_id"], again["duplicate"]) == (answer["message_id"], True)
    assert shop.orders() == []
    assert sweeps.retry_connector_messages(runtime.session_factory) == 1
    message = shop.message(answer["message_id"])
    assert (message["status"], message["attempts"]) == ("processed", 1)
    (order,) = shop.orders()
    assert order["paid_amount"] == "598.94"


def test_create_and_paid_arriving_together_land_one_order(shop, runtime):
    """Shopify often sends orders/create and orders/paid at the same moment: on PostgreSQL two
    connections process them at once (one waits for the other on the order's lock); on SQLite one
    writer at a time. Either way one order lands, paid once, and both messages are processed."""
    stocked(shop)
    common = {"total_price": "622.22", "total_tax": "35.22"}
    bodies = {
        "orders/create": encode(example_order(financial_status="pending", **common)),
        "orders/paid": encode(example_order(financial_status="paid", **common)),
    }
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver(topic: str) -> None:
        try:
            with runtime.session_factory() as session:
                connector = session.get(Connector, uuid.UUID(shop.connector["id"]))
            delivery = connectors.Delivery(topic=topic, body=bodies[topic].decode(), webhook_id=topic)
            barrier.wait(timeout=30)
            with transaction(runtime.session_factory) as session:
                now = dt.datetime.now(dt.UTC)
                connectors.process(
                    session, connector, connectors.store(session, connector, delivery, now), now
                )
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(topic,)) for topic in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(m["status"] for m in shop.log()) == ["processed", "processed"]
    (order,) = shop.orders()
    assert [(p["state"], p["captured"]) for p in order["payments"]] == [("captured", "622.22")]
    assert shop.stock("IPOD2008RED") == (D(5), D(1))


def test_free_form_settings_keep_their_numbers_as_text(shop, client, admin):
    body = {
        "company_id": shop.company_id,
        "kind": "marketplace",
        "name": "erp",
        "settings": {"rate": 1.5, "nested": {"n": [1, 2.25]}},
    }
    response = client.post(f"{API}/connectors", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["settings"] == {"rate": "1.5", "nested": {"n": [1, "2.25"]}}
    bad = {**body, "name": "erp2", "settings": {"max_attempts": 0}}
    assert_problem(
        client.post(f"{API}/connectors", json=bad, headers=admin), 422, fields=("settings.max_attempts",)
    )


# -- the day a message is booked on ------------------------------------------------------------------


def _booked(runtime, shopify_id: int) -> tuple[dt.date, set[dt.date]]:
    """The day Shopify order ``shopify_id`` was placed on here, and the days of the entries it posted."""
    with runtime.session_factory() as session:
        order_id = session.scalar(
            select(ConnectorLink.internal_id).where(
                ConnectorLink.kind == "order", ConnectorLink.external_id == str(shopify_id)
            )
        )
        order = session.get(ot.OrderRow, order_id)
        events = select(Event.id).where(
            Event.correlation_id.in_(select(Event.correlation_id).where(Event.aggregate_id == order.id))
        )
        days = set(session.scalars(select(a.JournalEntry.date).where(a.JournalEntry.event_id.in_(events))))
        return order.ordered_at.date(), days


def test_an_order_is_booked_on_the_day_shopify_processed_it_within_the_clock_window(shop, runtime):
    stocked(shop)
    now = dt.datetime.now(dt.UTC)
    three_days_ago = (now - dt.timedelta(days=3)).replace(microsecond=0)
    shop.ok(
        "orders/create",
        example_order(financial_status="paid", processed_at=three_days_ago.isoformat(), id=1000),
    )
    ordered_on, entry_days = _booked(runtime, 1000)
    # A webhook that arrives (or a catch-up that pulls it) three days late books it on its own day.
    assert ordered_on == three_days_ago.date()
    assert entry_days == {three_days_ago.date()}


def test_an_order_older_than_the_clock_window_or_from_the_future_is_booked_now(shop, runtime):
    stocked(shop)
    today = dt.datetime.now(dt.UTC).date()
    # The fixture's own date (2008) is far outside the company's 30 days: booked today.
    shop.ok("orders/create", example_order(financial_status="paid", id=1001))
    assert _booked(runtime, 1001) == (today, {today})
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    shop.ok("orders/create", example_order(financial_status="paid", id=1002, processed_at=future))
    assert _booked(runtime, 1002) == (today, {today})


def test_an_order_dated_in_a_locked_period_is_booked_now(shop, runtime):
    stocked(shop)
    now = dt.datetime.now(dt.UTC)
    five_days_ago = now - dt.timedelta(days=5)
    with transaction(runtime.session_factory) as session:
        company = session.scalar(select(Company).where(Company.code == "SHOP"))
        settings = session.get(a.LedgerSettings, company.id)
        if settings is None:
            settings = a.LedgerSettings(company_id=company.id)
            session.add(settings)
        settings.lock_date = (now - dt.timedelta(days=2)).date()
    shop.ok(
        "orders/create",
        example_order(financial_status="paid", processed_at=five_days_ago.isoformat(), id=1003),
    )
    ordered_on, entry_days = _booked(runtime, 1003)
    assert ordered_on == now.date() and entry_days == {now.date()}
