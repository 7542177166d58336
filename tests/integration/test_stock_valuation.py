"""Stock moves valued by FIFO, average and standard cost, and posted to the books through the rules."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal


@pytest.fixture
def shop(runtime, client, admin, company, store_factory):
    """Company ACME with store S1; returns a helper to make products and moves."""
    store = store_factory("S1")

    class Shop:
        company_id = uuid.UUID(company["id"])

        def location(self, kind: str) -> uuid.UUID:
            with runtime.session_factory() as session:
                query = select(Location.id).where(
                    Location.company_id == self.company_id, Location.kind == kind
                )
                if kind in ("stock", "backroom", "damaged"):
                    query = query.where(Location.store_id == uuid.UUID(store["id"]))
                return session.scalar(query)

        def product(self, sku: str, method: str, standard: str = "0") -> uuid.UUID:
            body = {
                "company_id": company["id"],
                "sku": sku,
                "name": sku,
                "category": "Cat/A",
                "list_price": "30",
                "cost_method": method,
                "standard_cost": standard,
            }
            response = client.post("/api/v1/products", json=body, headers=admin)
            assert response.status_code == 201, response.text
            return uuid.UUID(response.json()["id"])

        def move(self, kind, product, quantity, source, destination, unit_cost=None, day=1):
            with transaction(runtime.session_factory) as session:
                result = move_stock(
                    session,
                    CommandContext(system_principal()),
                    session.get(Company, self.company_id),
                    kind=kind,
                    lines=[
                        MoveLine(
                            product,
                            D(quantity),
                            self.location(source),
                            self.location(destination),
                            D(unit_cost) if unit_cost is not None else None,
                        )
                    ],
                    date=dt.date(2026, 3, day),
                    reference=f"{kind}-{day}",
                )
                return result.moves[0].value, result.exceptions

        def receive(self, product, quantity, cost, day=1):
            return self.move("receipt", product, quantity, "supplier", "stock", cost, day)[0]

        def sell(self, product, quantity, day=2):
            return self.move("delivery", product, quantity, "stock", "customer", day=day)

        def balance(self, role: str) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(
                        Account.company_id == self.company_id,
                        Account.role == role,
                        a.JournalLine.state == "posted",
                    )
                )
                return total if total is not None else D(0)

        def stock_value(self) -> Decimal:
            with runtime.session_factory() as session:
                return session.scalar(select(func.sum(i.ProductCost.value))) or D(0)

    return Shop()


def test_fifo_consumes_the_oldest_layers_first(shop):
    product = shop.product("F1", "fifo")
    shop.receive(product, "10", "10.00", day=1)
    shop.receive(product, "10", "12.00", day=2)
    cogs, _ = shop.sell(product, "15", day=3)
    assert cogs == D("160.00")  # 10 x 10.00 + 5 x 12.00
    assert shop.balance("cogs") == D("160.00")
    assert shop.balance("inventory") == D("60.00") == shop.stock_value()
    assert shop.balance("goods_received_not_invoiced") == D("-220.00")


def test_fifo_takes_only_the_layers_a_sale_needs_and_their_order_holds_across_sales(shop):
    """Many small layers (as customer returns leave): each sale reads only the oldest ones it needs,
    ends exactly on a layer's boundary or inside one, and the next sale goes on where it stopped."""
    product = shop.product("FL1", "fifo")
    for day, cost in enumerate(["1.00", "2.00", "3.00", "4.00", "5.00", "6.00"], start=1):
        shop.receive(product, "2", cost, day=day)
    assert shop.sell(product, "4", day=7)[0] == D("6.00")  # 2 x 1 + 2 x 2: ends on a boundary
    assert shop.sell(product, "3", day=8)[0] == D("10.00")  # 2 x 3 + 1 x 4: ends inside a layer
    assert shop.sell(product, "1", day=9)[0] == D("4.00")  # the rest of that layer
    # More than every open layer holds: 2 x 5 + 2 x 6, then 1 at the last cost (6.00).
    assert shop.sell(product, "5", day=10)[0] == D("28.00")
    assert shop.stock_value() == D("-6.00") == shop.balance("inventory")


def test_average_cost_blends_receipts(shop):
    product = shop.product("A1", "average")
    shop.receive(product, "10", "10.00")
    shop.receive(product, "10", "12.00")
    cogs, _ = shop.sell(product, "5")
    assert cogs == D("55.00")
    assert shop.balance("inventory") == D("165.00") == shop.stock_value()
    cogs, _ = shop.sell(product, "15")
    assert cogs == D("165.00")  # the last units take exactly what is left
    assert shop.balance("inventory") == 0 == shop.stock_value()


def test_standard_cost_books_the_purchase_price_variance(shop):
    product = shop.product("S1", "standard", standard="8.00")
    shop.receive(product, "10", "10.00")
    assert shop.balance("inventory") == D("80.00")
    assert shop.balance("price_variance") == D("20.00")
    assert shop.balance("goods_received_not_invoiced") == D("-100.00")
    cogs, _ = shop.sell(product, "4")
    assert cogs == D("32.00")


def test_a_sale_without_recorded_stock_goes_negative_and_is_corrected_when_goods_arrive(shop):
    product = shop.product("N1", "fifo")
    shop.receive(product, "1", "5.00", day=1)
    shop.sell(product, "1", day=2)
    cogs, exceptions = shop.sell(product, "3", day=3)  # nothing on record: still sold
    assert cogs == D("15.00")  # valued at the last cost
    assert [e.kind for e in exceptions] == ["negative_stock"]
    shop.receive(product, "5", "6.00", day=4)
    # 3 units sold at 5.00 really cost 6.00: 3.00 more COGS; 2 units left at 6.00
    assert shop.balance("cogs") == D("5.00") + D("15.00") + D("3.00")
    assert shop.balance("inventory") == D("12.00") == shop.stock_value()


def test_returns_re_enter_at_their_original_cost_and_scrap_goes_to_shrinkage(shop):
    product = shop.product("R1", "average")
    shop.receive(product, "2", "10.00")
    shop.sell(product, "2")
    shop.move("customer_return", product, "1", "customer", "damaged", unit_cost="10.00")
    assert shop.balance("damaged_goods") == D("10.00")
    shop.move("scrap", product, "1", "damaged", "inventory_loss")
    assert shop.balance("damaged_goods") == 0
    assert shop.balance("inventory_shrinkage") == D("10.00")


def test_moves_between_locations_keep_the_value_and_follow_the_accounts(shop):
    product = shop.product("T1", "fifo")
    shop.receive(product, "4", "2.50")
    shop.move("internal", product, "1", "stock", "damaged")
    assert (shop.balance("inventory"), shop.balance("damaged_goods")) == (D("7.50"), D("2.50"))
    shop.move("transfer_out", product, "3", "stock", "in_transit")
    assert (shop.balance("inventory"), shop.balance("stock_in_transit")) == (0, D("7.50"))
    shop.move("transfer_in", product, "2", "in_transit", "backroom")
    shop.move("transit_loss", product, "1", "in_transit", "inventory_loss")
    assert shop.balance("stock_in_transit") == 0
    assert shop.balance("inventory") == D("5.00")
    assert shop.balance("inventory_shrinkage") == D("2.50")
    assert shop.stock_value() == D("7.50")


@pytest.mark.parametrize(
    ("kind", "source", "destination", "field"),
    [
        ("receipt", "customer", "stock", "lines.0.from_location_id"),
        ("delivery", "stock", "supplier", "lines.0.to_location_id"),
        ("receipt", "supplier", "damaged", "lines.0.to_location_id"),
    ],
)
def test_moves_between_the_wrong_kinds_of_location_are_refused(shop, kind, source, destination, field):
    from retailcore.core.errors import ValidationFailed

    product = shop.product("X1", "fifo")
    with pytest.raises(ValidationFailed) as refused:
        shop.move(kind, product, "1", source, destination, unit_cost="1")
    assert refused.value.problems[0].field == field


@pytest.mark.parametrize(
    ("method", "correction"),
    [
        ("fifo", D("3.00")),  # 3 units sold at the last cost 5.00 really cost 6.00
        ("average", D("3.00")),
        ("standard", D("0.00")),  # at standard cost, missing units were already valued right
    ],
)
def test_negative_stock_is_corrected_for_every_method(shop, method, correction):
    product = shop.product(f"NEG-{method}", method, standard="5.00")
    shop.receive(product, "1", "5.00", day=1)
    shop.sell(product, "4", day=2)  # 3 units short
    shop.receive(product, "5", "6.00", day=3)
    left = D("2.00") * (D("6.00") if method != "standard" else D("5.00"))
    assert shop.balance("inventory") == left == shop.stock_value()
    assert shop.balance("cogs") == D("20.00") + correction


def test_partial_deliveries_and_a_return_at_the_original_cost_under_fifo(shop):
    product = shop.product("FR1", "fifo")
    shop.receive(product, "3", "4.00", day=1)
    shop.receive(product, "3", "7.00", day=2)
    first, _ = shop.sell(product, "2", day=3)
    second, _ = shop.sell(product, "2", day=4)
    assert (first, second) == (D("8.00"), D("11.00"))  # 2 x 4.00, then 4.00 + 7.00
    shop.move("customer_return", product, "1", "customer", "stock", unit_cost="4.00", day=5)
    third, _ = shop.sell(product, "3", day=6)
    assert third == D("18.00")  # the older 7.00 layer (2 left: 14.00) first, then the returned 4.00 unit
    assert shop.balance("inventory") == 0 == shop.stock_value()


def test_rows_the_session_already_holds_read_the_values_a_move_wrote(runtime, shop):
    """move_stock writes quants and product costs set-based, not through the ORM: copies of those rows
    that the caller's session loaded before the move must not keep the old values."""
    product = shop.product("HELD-1", "average")
    shop.receive(product, "10", "4.00")
    stock, customer = shop.location("stock"), shop.location("customer")
    with transaction(runtime.session_factory) as session:
        quant = session.get(i.StockQuant, (product, stock))
        cost = session.get(i.ProductCost, product)
        assert (quant.quantity, cost.quantity, cost.value) == (D("10"), D("10"), D("40.00"))
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, shop.company_id),
            kind="delivery",
            lines=[MoveLine(product, D("3"), stock, customer)],
            date=dt.date(2026, 3, 2),
        )
        assert (quant.quantity, quant.value) == (D("7"), D("28.00"))
        assert (cost.quantity, cost.value) == (D("7"), D("28.00"))
