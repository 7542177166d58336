"""Fixtures of the exceptions console's tests: a Shopify shop (SHOP, USD, 6 % tax on top, products
with 5 in stock at 100.00, a connector giving up after 3 attempts) and a store chain (ACME, EUR, stores
S1 and S2, TEE with 10 in S1 and 3 in S2 at 4.00).

Shopify cannot be reached from here: the webhooks are Shopify's published example order
(tests/fixtures/external/shopify), signed as Shopify signs them, posted to our endpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location

D = Decimal
API = "/api/v1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "external" / "shopify"
SHOP = "example.myshopify.com"
SECRET = "hush"
EXAMPLE_SKUS = ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")


def example_order(**changes: Any) -> dict[str, Any]:
    """Shopify's REST example order 450789469 (three iPods at 199.00, 598.94 paid, 11.94 tax)."""
    data = json.loads((FIXTURES / "order_rest_example_450789469.json").read_bytes(), parse_float=D)
    data.update(changes)
    return data


def receive(
    runtime, company_id: uuid.UUID, product_id: str, quantity: str, cost: str, store: str | None = None
):
    with transaction(runtime.session_factory) as session:
        query = select(Location.kind, Location.id).where(
            Location.company_id == company_id, Location.kind.in_(("supplier", "stock"))
        )
        places = {}
        for kind, location_id in session.execute(query):
            places.setdefault(kind, location_id)
        if store is not None:
            places["stock"] = store
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[
                MoveLine(uuid.UUID(product_id), D(quantity), places["supplier"], places["stock"], D(cost))
            ],
            date=dt.date(2026, 3, 1),
        )


@pytest.fixture
def post(client, admin):
    def make(path: str, body: dict[str, Any], status: int = 201, headers: dict[str, str] | None = None):
        response = client.post(f"{API}/{path}", json=body, headers=headers or admin)
        assert response.status_code == status, response.text
        return response.json()

    return make


@pytest.fixture
def shop(runtime, client, admin, post, monkeypatch):
    monkeypatch.setattr(runtime.settings, "connector_key", Fernet.generate_key().decode())
    company = post("companies", {"code": "SHOP", "name": "Shop Inc", "currency": "USD", "country": "US"})
    post("stores", {"company_id": company["id"], "code": "W1", "name": "Warehouse", "kind": "warehouse"})
    post(
        "tax-rules",
        {
            "company_id": company["id"],
            "jurisdiction": "US",
            "tax_category": "standard",
            "taxes": [{"code": "US-ST-6", "name": "State Tax", "rate_percent": "6", "price_included": False}],
        },
    )
    connector = post(
        "connectors",
        {
            "company_id": company["id"],
            "kind": "shopify",
            "name": SHOP,
            "secret": SECRET,
            "settings": {"max_attempts": 3, "retry_base_seconds": 60},
        },
    )

    class Shop:
        company_id = uuid.UUID(company["id"])

        def __init__(self) -> None:
            self.connector = connector

        def product(self, sku: str) -> str:
            body = {
                "company_id": company["id"],
                "sku": sku,
                "name": sku,
                "category": "Audio",
                "list_price": "199.00",
                "cost_method": "average",
                "channels": ["web"],
            }
            product_id = post("products", body)["id"]
            receive(runtime, self.company_id, product_id, "5", "100")
            return product_id

        def deliver(self, data: dict[str, Any], webhook_id: str | None = None, topic: str = "orders/create"):
            body = json.dumps(data, default=str).encode()
            signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
            response = client.post(
                f"{API}/connectors/shopify/{SHOP}/webhooks",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Shopify-Topic": topic,
                    "X-Shopify-Hmac-Sha256": signature,
                    "X-Shopify-Shop-Domain": SHOP,
                    "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
                },
            )
            assert response.status_code == 200, response.text
            return response.json()

        def exceptions(self, **params: Any) -> list[dict[str, Any]]:
            response = client.get(
                f"{API}/exceptions",
                params={"company_id": company["id"], "limit": 500, **params},
                headers=admin,
            )
            assert response.status_code == 200, response.text
            return response.json()["items"]

        def orders(self) -> list[dict[str, Any]]:
            response = client.get(f"{API}/orders", params={"company_id": company["id"]}, headers=admin)
            assert response.status_code == 200, response.text
            return response.json()["items"]

    return Shop()


@pytest.fixture
def chain(runtime, client, admin, company, store_factory, product_factory_acme):
    """ACME with S1 and S2; TEE: 10 in S1's stock, 3 in S2's, at 4.00."""
    stores = {code: store_factory(code)["id"] for code in ("S1", "S2")}

    class Chain:
        company_id = uuid.UUID(company["id"])
        store_ids = stores
        tee = product_factory_acme("TEE")

        def location(self, kind: str, store: str = "S1") -> uuid.UUID:
            with runtime.session_factory() as session:
                query = select(Location.id).where(
                    Location.company_id == self.company_id, Location.kind == kind
                )
                if kind == "stock":
                    query = query.where(Location.store_id == uuid.UUID(stores[store]))
                return session.scalar(query)

        def sell(self, quantity: str, store: str = "S1"):
            line = MoveLine(
                uuid.UUID(self.tee), D(quantity), self.location("stock", store), self.location("customer")
            )
            with transaction(runtime.session_factory) as session:
                return move_stock(
                    session,
                    CommandContext(system_principal()),
                    session.get(Company, self.company_id),
                    kind="delivery",
                    lines=[line],
                    date=dt.date(2026, 3, 2),
                )

        def exceptions(self, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
            response = client.get(
                f"{API}/exceptions",
                params={**({} if headers else {"company_id": company["id"]}), "limit": 500, **params},
                headers=headers or admin,
            )
            assert response.status_code == 200, response.text
            return response.json()["items"]

    chain = Chain()
    receive(runtime, chain.company_id, chain.tee, "10", "4", store=chain.location("stock", "S1"))
    receive(runtime, chain.company_id, chain.tee, "3", "4", store=chain.location("stock", "S2"))
    return chain


@pytest.fixture
def product_factory_acme(client, admin, company):
    def make(sku: str) -> str:
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": sku,
            "category": "General",
            "list_price": "10.00",
            "cost_method": "average",
        }
        response = client.post(f"{API}/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    return make


@pytest.fixture
def example():
    """``example(**changes)`` -> Shopify's example order, changed."""
    return example_order
