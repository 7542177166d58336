"""A shop selling in USD whose web orders are paid by card at Stripe or Adyen, for the settlement tests:
``shop.order("59.99", gateway="stripe", reference="ch_...")`` places, pays (captures) and fulfils one
order of that gross amount."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from apitools import API
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal
ZERO_TAX = {"code": "US-NONE", "name": "No sales tax", "rate_percent": "0"}


class Shop:
    def __init__(self, runtime: Any, client: Any, headers: dict[str, str], currency: str = "USD") -> None:
        self.runtime, self.client, self.headers = runtime, client, headers
        made = client.post(
            f"{API}/companies",
            json={"code": "SHOP", "name": "Shop", "currency": currency, "country": "US"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        self.company = made.json()
        self.id = uuid.UUID(self.company["id"])
        warehouse = client.post(
            f"{API}/stores",
            json={"company_id": self.company["id"], "code": "W1", "name": "Warehouse", "kind": "warehouse"},
            headers=headers,
        )
        assert warehouse.status_code == 201, warehouse.text
        self.warehouse = warehouse.json()
        rule = {
            "company_id": self.company["id"],
            "jurisdiction": "US",
            "tax_category": "standard",
            "taxes": [ZERO_TAX],
        }
        ruled = client.post(f"{API}/tax-rules", json=rule, headers=headers)
        assert ruled.status_code == 201, ruled.text
        self.products: dict[str, dict[str, Any]] = {}

    def _product(self, price: str) -> dict[str, Any]:
        if price not in self.products:
            body = {
                "company_id": self.company["id"],
                "sku": f"P{price.replace('.', '-')}",
                "name": f"Product at {price}",
                "category": "General",
                "list_price": price,
            }
            made = self.client.post(f"{API}/products", json=body, headers=self.headers)
            assert made.status_code == 201, made.text
            self.products[price] = made.json()
            with transaction(self.runtime.session_factory) as session:
                company = session.get(Company, self.id)

                def location(kind: str, store_id: Any = None) -> uuid.UUID:
                    query = select(Location.id).where(Location.company_id == self.id, Location.kind == kind)
                    if store_id is not None:
                        query = query.where(Location.store_id == store_id)
                    return session.scalar(query)

                move_stock(
                    session,
                    CommandContext(system_principal()),
                    company,
                    kind="receipt",
                    lines=[
                        MoveLine(
                            uuid.UUID(made.json()["id"]),
                            D(100),
                            location("supplier"),
                            location("stock", uuid.UUID(self.warehouse["id"])),
                            D(1),
                        )
                    ],
                    date=dt.date(2025, 5, 1),
                )
        return self.products[price]

    def order(
        self, gross: str, gateway: str | None = None, reference: str | None = None, pay: bool = True
    ) -> dict[str, Any]:
        product = self._product(gross)
        body = {"company_id": self.company["id"], "lines": [{"product_id": product["id"], "quantity": "1"}]}
        placed = self.client.post(f"{API}/orders", json=body, headers=self.headers)
        assert placed.status_code == 201, placed.text
        order = placed.json()
        assert order["gross_total"] == gross, order
        if pay:
            paid = self.client.post(
                f"{API}/orders/{order['id']}/payments",
                json={"gateway": gateway, "reference": reference, "amount": gross},
                headers=self.headers,
            )
            assert paid.status_code == 200, paid.text
        return self.client.get(f"{API}/orders/{order['id']}", headers=self.headers).json()

    def balance(self, code: str) -> Decimal:
        with self.runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == self.id, Account.code == code)
            )
            return total if total is not None else D(0)

    def code_of(self, role: str) -> str:
        with self.runtime.session_factory() as session:
            return session.scalar(
                select(Account.code)
                .where(Account.company_id == self.id, Account.role == role)
                .order_by(Account.code)
            )

    def unbalanced_entries(self) -> list[Any]:
        with self.runtime.session_factory() as session:
            return list(
                session.execute(
                    select(a.JournalLine.entry_id)
                    .group_by(a.JournalLine.entry_id)
                    .having(func.sum(a.JournalLine.debit) != func.sum(a.JournalLine.credit))
                )
            )
