"""Marketplace order reports in (``POST /connectors/{id}/imports``), on our own sample reports
(tests/fixtures/marketplace: written for these tests, modelled on typical marketplace reports).

MKT books in EUR in Germany with VAT 19 % included in prices; warehouse W1 holds 10 of each product at
a cost of 5.00. Each test asserts what lands: the sync log, the orders, their payments through the
marketplace's gateway into card clearing, stock and the books.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.connectors.tables import ConnectorLink, SyncMessage
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location, Product
from retailcore.orders import tables as ot

D = Decimal
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "marketplace"

AMAZON_LIKE = {
    "gateway": "amazon",
    "report": {
        "columns": {
            "order_id": "order-id",
            "line_id": "order-item-id",
            "date": "purchase-date",
            "sku": "sku",
            "quantity": "quantity-purchased",
            "unit_price": "item-price",
            "tax": "item-tax",
            "shipping": "shipping-price",
            "fees": "commission",
            "currency": "currency",
            "buyer": "buyer-email",
            "status": "order-status",
        },
        "shipped": ["Shipped"],
    },
}
ZALANDO_LIKE = {
    "report": {
        "records": "orders",
        "decimal": ",",
        "thousands": ".",
        "date_format": "%d.%m.%Y",
        "columns": {
            "order_id": "orderNumber",
            "line_id": "positionId",
            "date": "orderDate",
            "sku": "articleNumber",
            "quantity": "quantity",
            "unit_price": "price",
            "tax": "vat",
            "shipping": "shippingCost",
            "fees": "commission",
            "currency": "currency",
            "buyer": "customer",
            "status": "status",
        },
        "shipped": ["SHIPPED"],
    }
}
SKUS = ("MK-TEE", "MK-CAP", "MK-MUG")


@pytest.fixture
def market(runtime, client, admin):
    def post(path, body, status=201):
        response = client.post(f"{API}/{path}", json=body, headers=admin)
        assert response.status_code == status, response.text
        return response.json()

    company = post("companies", {"code": "MKT", "name": "Markt GmbH", "currency": "EUR", "country": "DE"})
    company_id = company["id"]
    post("stores", {"company_id": company_id, "code": "W1", "name": "Warehouse", "kind": "warehouse"})
    post(
        "tax-rules",
        {
            "company_id": company_id,
            "jurisdiction": "DE",
            "tax_category": "standard",
            "taxes": [{"code": "DE-VAT-19", "name": "VAT 19%", "rate_percent": "19", "price_included": True}],
        },
    )

    class Market:
        def __init__(self) -> None:
            self.company_id = company_id

        def connector(self, name: str, settings: dict) -> dict:
            body = {"company_id": company_id, "kind": "marketplace", "name": name, "settings": settings}
            return post("connectors", body)

        def product(self, sku: str, stock: int = 10) -> str:
            body = {
                "company_id": company_id,
                "sku": sku,
                "name": sku,
                "category": "Merch",
                "list_price": "99.00",
                "cost_method": "average",
                "channels": ["web", "marketplace"],
            }
            product_id = post("products", body)["id"]
            with transaction(runtime.session_factory) as session:
                company_row = session.get(Company, uuid.UUID(company_id))
                locations = dict(
                    session.execute(
                        select(Location.kind, Location.id).where(
                            Location.company_id == company_row.id, Location.kind.in_(("supplier", "stock"))
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
                            uuid.UUID(product_id), D(stock), locations["supplier"], locations["stock"], D(5)
                        )
                    ],
                    date=dt.date(2026, 10, 1),
                )
            return product_id

        def send(self, connector: dict, content: bytes, content_type="text/csv", **params):
            return client.post(
                f"{API}/connectors/{connector['id']}/imports",
                content=content,
                headers={**admin, "Content-Type": content_type},
                params=params,
            )

        def imported(self, connector: dict, content: bytes, content_type="text/csv") -> dict:
            response = self.send(connector, content, content_type)
            assert response.status_code == 200, response.text
            return response.json()

        def orders(self) -> dict[str, ot.OrderRow]:
            with runtime.session_factory() as session:
                rows = session.scalars(
                    select(ot.OrderRow).where(ot.OrderRow.company_id == uuid.UUID(company_id))
                ).all()
                links = dict(
                    session.execute(
                        select(ConnectorLink.internal_id, ConnectorLink.external_id).where(
                            ConnectorLink.kind == "order"
                        )
                    ).all()
                )
                session.expunge_all()
            return {links[row.id]: row for row in rows}

        def payments(self) -> list[ot.OrderPaymentRow]:
            with runtime.session_factory() as session:
                rows = session.scalars(
                    select(ot.OrderPaymentRow).where(ot.OrderPaymentRow.company_id == uuid.UUID(company_id))
                ).all()
                session.expunge_all()
            return list(rows)

        def log(self, connector: dict) -> list[dict]:
            response = client.get(
                f"{API}/connectors/{connector['id']}/sync-log", params={"limit": 500}, headers=admin
            )
            assert response.status_code == 200, response.text
            return response.json()["items"]

        def replay(self, connector: dict) -> list[dict]:
            response = client.post(f"{API}/connectors/{connector['id']}/replay", json={}, headers=admin)
            assert response.status_code == 200, response.text
            return response.json()["replayed"]

        def balance(self, role: str) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit - a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == uuid.UUID(company_id), Account.role == role)
                )
            return total or D(0)

        def entries(self) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.count()).select_from(a.JournalEntry))

        def messages(self) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.count()).select_from(SyncMessage))

        def stock(self, sku: str) -> tuple[Decimal, Decimal]:
            with runtime.session_factory() as session:
                row = session.execute(
                    select(i.StockQuant.quantity, i.StockQuant.reserved)
                    .join(Location, Location.id == i.StockQuant.location_id)
                    .join(Product, Product.id == i.StockQuant.product_id)
                    .where(Product.sku == sku, Location.kind == "stock")
                ).one()
            return row.quantity, row.reserved

    return Market()


def amazon_report() -> bytes:
    return (FIXTURES / "amazon_like.csv").read_bytes()


def test_a_report_lands_each_order_once_in_the_marketplace_channel_paid_through_its_gateway(market):
    for sku in SKUS:
        market.product(sku)
    amazon = market.connector("amazon-de", AMAZON_LIKE)

    summary = market.imported(amazon, amazon_report())

    assert (summary["orders"], summary["landed"], summary["duplicates"], summary["failed"]) == (3, 3, 0, 0)
    orders = market.orders()
    assert set(orders) == {"302-0000001", "302-0000002", "302-0000003"}
    assert {row.channel for row in orders.values()} == {"marketplace"}
    totals = {key: (row.gross_total, row.tax_total, row.state) for key, row in orders.items()}
    assert totals == {
        "302-0000001": (D("59.50"), D("9.50"), "fulfilled"),
        "302-0000002": (D("17.85"), D("2.85"), "confirmed"),
        "302-0000003": (D("23.80"), D("3.80"), "fulfilled"),
    }
    assert orders["302-0000001"].ordered_at.date() == dt.date(2026, 11, 2)
    payments = market.payments()
    assert {(p.gateway, p.captured) for p in payments} == {
        ("amazon", D("59.50")),
        ("amazon", D("17.85")),
        ("amazon", D("23.80")),
    }
    # The marketplace collected the money: it waits in card clearing for its settlement.
    assert market.balance("card_clearing") == D("101.15")
    # Revenue of what shipped (net of the VAT included), the rest a deposit until it ships.
    assert market.balance("sales_revenue") == -D("70.00")
    assert market.balance("output_tax") == -D("13.30")
    assert market.balance("customer_deposits") == -D("17.85")
    assert market.stock("MK-TEE") == (D(7), D(0))
    assert market.stock("MK-MUG") == (D(10), D(1))
    log = {m["external_id"]: m for m in market.log(amazon)}
    assert {m["status"] for m in log.values()} == {"processed"}
    assert {m["direction"] for m in log.values()} == {"inbound"}
    first = log["302-0000001"]
    assert first["topic"] == "marketplace/order"
    assert first["flags"] == [{"kind": "shipping-not-landed", "marketplace_shipping": "4.90"}]
    assert first["result"]["marketplace_fees"] == "8.93"
    assert first["result"]["buyer"] == "anna@example.com"


def test_importing_the_same_report_again_counts_duplicates_and_posts_nothing(market):
    for sku in SKUS:
        market.product(sku)
    amazon = market.connector("amazon-de", AMAZON_LIKE)
    market.imported(amazon, amazon_report())
    entries, clearing = market.entries(), market.balance("card_clearing")

    again = market.imported(amazon, amazon_report())

    assert (again["landed"], again["duplicates"], again["failed"]) == (0, 3, 0)
    assert len(market.orders()) == 3
    assert market.entries() == entries
    assert market.balance("card_clearing") == clearing
    duplicates = [m for m in market.log(amazon) if m["duplicate_of"]]
    assert len(duplicates) == 3
    assert {m["duplicate_of"] for m in duplicates} == {f"order:{row.id}" for row in market.orders().values()}


def test_an_order_shipped_in_a_later_report_is_fulfilled_once(market):
    for sku in SKUS:
        market.product(sku)
    amazon = market.connector("amazon-de", AMAZON_LIKE)
    market.imported(amazon, amazon_report())
    shipped = amazon_report().replace(b"Unshipped", b"Shipped")

    market.imported(amazon, shipped)
    market.imported(amazon, shipped)

    assert market.orders()["302-0000002"].state == "fulfilled"
    assert market.stock("MK-MUG") == (D(9), D(0))
    assert market.balance("customer_deposits") == D(0)


def test_a_bad_row_fails_its_order_alone_and_lands_when_replayed_after_the_product_exists(market):
    market.product("MK-TEE")
    market.product("MK-MUG")
    amazon = market.connector("amazon-de", AMAZON_LIKE)
    report = amazon_report().decode().splitlines()
    report[3] = report[3].replace("17.85", "17.8.5")  # order 302-0000002: an amount that is no number
    # 302-0000001 sells MK-CAP, which does not exist yet.

    summary = market.imported(amazon, "\n".join(report).encode())

    assert (summary["landed"], summary["failed"]) == (1, 2)
    errors = {f["order_id"]: f["error"] for f in summary["failures"]}
    assert "unknown-sku" in errors["302-0000001"] and "row 3.sku" in errors["302-0000001"]
    assert "row 4.item-price" in errors["302-0000002"] and "17.8.5" in errors["302-0000002"]
    assert set(market.orders()) == {"302-0000003"}

    market.product("MK-CAP")
    replayed = {m["external_id"]: m["status"] for m in market.replay(amazon)}

    assert replayed == {"302-0000001": "processed", "302-0000002": "retried"}
    orders = market.orders()
    assert set(orders) == {"302-0000001", "302-0000003"}
    assert orders["302-0000001"].gross_total == D("59.50")
    assert market.balance("card_clearing") == D("83.30")


def test_a_json_report_with_comma_decimals_in_a_multipart_upload(market, client, admin):
    market.product("MK-TEE")
    market.product("MK-MUG")
    zalando = market.connector("zalando-de", ZALANDO_LIKE)
    upload = (FIXTURES / "zalando_like.json").read_bytes()

    response = client.post(
        f"{API}/connectors/{zalando['id']}/imports",
        files={"file": ("zalando_like.json", upload, "application/json")},
        headers=admin,
    )

    assert response.status_code == 200, response.text
    assert response.json()["landed"] == 2
    orders = market.orders()
    assert (orders["10101010"].gross_total, orders["10101010"].state) == (D("23.80"), "fulfilled")
    assert (orders["10101011"].gross_total, orders["10101011"].tax_total) == (D("2035.70"), D("325.03"))
    assert orders["10101011"].ordered_at.date() == dt.date(2026, 11, 5)
    assert {p.gateway for p in market.payments()} == {"zalando-de"}
    assert market.balance("card_clearing") == D("2059.50")
    log = {m["external_id"]: m for m in market.log(zalando)}
    assert log["10101011"]["flags"] == [{"kind": "shipping-not-landed", "marketplace_shipping": "3.95"}]
    assert log["10101011"]["result"]["marketplace_fees"] == "152.68"


def test_a_tax_differing_from_ours_is_flagged(market):
    for sku in SKUS:
        market.product(sku)
    amazon = market.connector("amazon-de", AMAZON_LIKE)

    market.imported(amazon, amazon_report().replace(b",3.80,", b",4.00,"))

    log = {m["external_id"]: m for m in market.log(amazon)}
    assert log["302-0000003"]["flags"] == [
        {"kind": "tax-mismatch", "marketplace_tax": "4.00", "our_tax": "3.80", "difference": "0.20"}
    ]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({}, "settings.report"),
        (
            {"report": {"columns": {"order_id": "order-id", "quantity": "q", "unit_price": "p"}}},
            "settings.report.columns.sku",
        ),
        ({"report": {**AMAZON_LIKE["report"], "decimal": ";"}}, "settings.report.decimal"),
        (
            {"report": {"columns": {**AMAZON_LIKE["report"]["columns"], "colour": "c"}}},
            "settings.report.columns.colour",
        ),
    ],
)
def test_a_mapping_that_cannot_be_used_is_a_problem_naming_it_and_writes_nothing(market, settings, field):
    connector = market.connector("bad-mapping", settings)

    response = market.send(connector, amazon_report())

    assert_problem(response, 422, "invalid-mapping", fields=(field,))
    assert market.messages() == 0


def test_a_file_without_a_mapped_column_is_a_problem_naming_the_column_and_writes_nothing(market):
    amazon = market.connector("amazon-de", AMAZON_LIKE)
    report = amazon_report().replace(b"item-price", b"price")

    response = market.send(amazon, report)

    body = assert_problem(response, 422, "missing-columns", fields=("columns.unit_price",))
    assert "item-price" in body["detail"]
    assert market.messages() == 0
    assert_problem(market.send(amazon, b""), 422, "unreadable-report")
    assert_problem(market.send(amazon, b"[1, 2]", "application/json"), 422, "unreadable-report")
    assert market.messages() == 0


def test_importing_needs_a_marketplace_connector_and_the_permission(market, auth, client):
    amazon = market.connector("amazon-de", AMAZON_LIKE)
    response = client.post(
        f"{API}/connectors/{amazon['id']}/imports",
        content=amazon_report(),
        headers={**auth("cashier", company="MKT"), "Content-Type": "text/csv"},
    )
    assert response.status_code == 403, response.text
    assert market.messages() == 0


def test_a_retried_upload_with_its_idempotency_key_answers_the_first_result(market, client, admin):
    for sku in SKUS:
        market.product(sku)
    amazon = market.connector("amazon-de", AMAZON_LIKE)
    headers = {**admin, "Content-Type": "text/csv", "Idempotency-Key": "report-2026-11-02"}
    url = f"{API}/connectors/{amazon['id']}/imports"

    first = client.post(url, content=amazon_report(), headers=headers)
    again = client.post(url, content=amazon_report(), headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["landed"] == 3
    assert market.messages() == 3
