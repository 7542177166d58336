"""Stock costing (decision 0061, docs/stock-valuation.md): average cost into negative stock and back, the
average-cost precision, a standard-cost change, returns to vendor and a product's own expense account,
each with the books and the valuation checked to agree."""

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
from retailcore.inventory import purchasing as po
from retailcore.inventory import tables as i
from retailcore.inventory.costing_tables import VendorReturnLine
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.inventory.valuation import check_agreement
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal


def nums(body: dict, *names: str) -> tuple[Decimal, ...]:
    return tuple(D(body[name]) for name in names)


class Shop:
    def __init__(self, runtime, client, admin, company, store) -> None:
        self.runtime, self.client, self.admin = runtime, client, admin
        self.company_id = uuid.UUID(company["id"])
        self.store_id = uuid.UUID(store["id"])

    def location(self, kind: str) -> uuid.UUID:
        with self.runtime.session_factory() as session:
            query = select(Location.id).where(Location.company_id == self.company_id, Location.kind == kind)
            if kind in ("stock", "backroom", "damaged"):
                query = query.where(Location.store_id == self.store_id)
            return session.scalar(query)

    def product(self, sku: str, method: str, standard: str = "0") -> uuid.UUID:
        body = {
            "company_id": str(self.company_id),
            "sku": sku,
            "name": sku,
            "category": "Cat/A",
            "list_price": "30",
            "cost_method": method,
            "standard_cost": standard,
        }
        response = self.client.post("/api/v1/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    def move(self, kind, product, quantity, source, destination, unit_cost=None, day=1) -> Decimal:
        with transaction(self.runtime.session_factory) as session:
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
            return result.moves[0].value

    def receive(self, product, quantity, cost, day=1) -> Decimal:
        return self.move("receipt", product, quantity, "supplier", "stock", cost, day)

    def sell(self, product, quantity, day=2) -> Decimal:
        return self.move("delivery", product, quantity, "stock", "customer", day=day)

    def purchase(self, product, quantity, price, day=1) -> dict:
        """A confirmed purchase order of one line, received whole on ``day``: the receipt."""
        with transaction(self.runtime.session_factory) as session:
            company = session.get(Company, self.company_id)
            ctx = CommandContext(system_principal())
            order = po.create_order(
                session,
                ctx,
                company,
                po.CreatePurchaseOrder(
                    supplier="Fabrikam",
                    supplier_ref="FAB",
                    store_id=self.store_id,
                    order_date=dt.date(2026, 3, 1),
                    expected_date=dt.date(2026, 3, 1),
                    lines=[po.OrderLineIn(product_id=product, quantity=D(quantity), unit_price=D(price))],
                ),
            )
            po.confirm_order(session, ctx, order)
            line_id = order.lines[0].id
            receipt = po.receive(
                session,
                ctx,
                po.RecordReceipt(
                    purchase_order_id=order.id,
                    date=dt.date(2026, 3, day),
                    lines=[
                        po.ReceiptLineIn(
                            po_line_id=line_id, quantity=D(quantity), location_id=self.location("stock")
                        )
                    ],
                ),
            )
            return po.receipt_view(session, receipt).model_dump()

    def balance(self, role: str | None = None, code: str | None = None) -> Decimal:
        with self.runtime.session_factory() as session:
            query = (
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == self.company_id, a.JournalLine.state == "posted")
            )
            query = query.where(Account.role == role) if role else query.where(Account.code == code)
            total = session.scalar(query)
            return total if total is not None else D(0)

    def stock(self) -> tuple[Decimal, Decimal, Decimal]:
        """Quantity, value and last (running) unit cost of the company's one product."""
        with self.runtime.session_factory() as session:
            row = session.scalars(select(i.ProductCost)).one()
            return row.quantity, row.value, row.last_unit_cost

    def agrees(self, day: int = 28) -> bool:
        with self.runtime.session_factory() as session:
            return check_agreement(session, self.company_id, dt.date(2026, 3, day)).agrees

    def api(self, method: str, path: str, headers=None, **kwargs):
        return self.client.request(method, f"/api/v1{path}", headers=headers or self.admin, **kwargs)


@pytest.fixture
def shop(runtime, client, admin, company, store_factory) -> Shop:
    return Shop(runtime, client, admin, company, store_factory("S1"))


# -- average cost into negative stock and back ------------------------------------------------------


def test_average_cost_delivering_into_negative_stock_values_the_missing_units_at_the_running_average(shop):
    product = shop.product("AVG-NEG", "average")
    shop.receive(product, "10", "10.00", day=1)
    shop.receive(product, "10", "12.00", day=2)  # 20 at an average of 11.00 (220.00)
    # 25 sold, 5 more than recorded: every unit at the running average 11.00 (the last receipt's
    # 12.00 would have made it 280.00)
    assert shop.sell(product, "25", day=3) == D("275.00")
    assert shop.stock() == (D("-5"), D("-55.00"), D("11.000000"))
    assert shop.balance("cogs") == D("275.00")
    # Another sale while negative: still at 11.00
    assert shop.sell(product, "1", day=4) == D("11.00")
    # Goods come in at 14.00: the 6 missing units really cost 14.00, 3.00 each more than booked,
    # 18.00 to COGS; the 4 units left are worth 4 x 14.00.
    assert shop.receive(product, "10", "14.00", day=5) == D("140.00")
    assert shop.stock() == (D("4"), D("56.00"), D("14.000000"))
    assert shop.balance("cogs") == D("275.00") + D("11.00") + D("18.00")
    assert shop.balance("inventory") == D("56.00")
    assert shop.agrees()


def test_a_receipt_smaller_than_the_shortfall_corrects_only_the_units_it_covers(shop):
    product = shop.product("AVG-PART", "average")
    shop.receive(product, "2", "10.00", day=1)
    assert shop.sell(product, "5", day=2) == D("50.00")  # 3 short, at 10.00
    shop.receive(product, "1", "13.00", day=3)  # covers 1 of 3: +3.00 COGS
    assert shop.stock() == (D("-2"), D("-20.00"), D("10.000000"))
    assert shop.balance("cogs") == D("53.00")
    shop.receive(product, "4", "13.00", day=4)  # covers the other 2 (+6.00), 2 left at 13.00
    assert shop.stock() == (D("2"), D("26.00"), D("13.000000"))
    assert shop.balance("cogs") == D("59.00")
    assert shop.agrees()


# -- the average-cost precision ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "first", "average"),
    [
        ("unrounded", D("30.01"), D("10.002500")),  # 3 x 10.0025 = 30.0075 -> 30.01
        ("currency", D("30.00"), D("10.00")),  # 3 x 10.00 (the average rounded to the cent)
    ],
)
def test_the_average_cost_precision_decides_the_cents_of_a_delivery(shop, precision, first, average):
    response = shop.api("PUT", "/stock/costing-settings", json={"average_cost_precision": precision})
    assert response.status_code == 200, response.text
    assert response.json()["average_cost_precision"] == precision
    product = shop.product(f"AVG-{precision}", "average")
    shop.receive(product, "3", "10.00", day=1)
    shop.receive(product, "1", "10.01", day=2)  # 40.01 for 4
    cost = shop.api("GET", f"/products/{product}/cost").json()
    assert D(cost["unit_cost"]) == average
    assert cost["average_cost_precision"] == precision
    assert shop.sell(product, "3", day=3) == first
    # The last unit takes exactly what is left: the two ways end at the same total
    assert shop.sell(product, "1", day=4) == D("40.01") - first
    assert shop.stock()[:2] == (0, 0)
    assert shop.agrees()


def test_an_unknown_precision_is_refused_naming_the_field(shop):
    response = shop.api("PUT", "/stock/costing-settings", json={"average_cost_precision": "cents"})
    assert response.status_code == 422
    assert "average_cost_precision" in response.text
    assert shop.api("GET", "/stock/costing-settings").json()["average_cost_precision"] == "unrounded"


# -- a standard-cost change ----------------------------------------------------------------------------


def test_a_standard_cost_change_revalues_the_stock_on_hand_against_price_variance(shop):
    product = shop.product("STD-1", "standard", standard="8.00")
    shop.receive(product, "10", "8.00", day=1)
    shop.move("internal", product, "3", "stock", "damaged", day=2)
    shop.sell(product, "2", day=3)  # 5 in stock, 3 damaged: 64.00
    assert shop.balance("inventory") == D("40.00")
    response = shop.api(
        "POST",
        f"/products/{product}/standard-cost",
        json={"standard_cost": "8.50", "effective_date": "2026-03-04", "reason": "new supplier price"},
        headers={**shop.admin, "Idempotency-Key": "std-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert nums(body, "old_cost", "new_cost", "quantity", "amount") == (8, D("8.5"), 8, 4)
    assert sorted((item["stock_role"], D(item["amount"])) for item in body["items"]) == [
        ("damaged_goods", D("1.5")),
        ("inventory", D("2.5")),
    ]
    # The books: stock up by 4.00 (5 x 0.50 and 3 x 0.50), price variance credited
    assert shop.balance("inventory") == D("42.50")
    assert shop.balance("damaged_goods") == D("25.50")
    assert shop.balance("price_variance") == D("-4.00")
    assert shop.agrees()
    # The same key again: the first answer, no second revaluation
    again = shop.api(
        "POST",
        f"/products/{product}/standard-cost",
        json={"standard_cost": "8.50", "effective_date": "2026-03-04", "reason": "new supplier price"},
        headers={**shop.admin, "Idempotency-Key": "std-1"},
    )
    assert again.json() == body
    assert shop.balance("price_variance") == D("-4.00")
    # Later moves go at the new cost; the cost API says so
    assert shop.sell(product, "1", day=5) == D("8.50")
    cost = shop.api("GET", f"/products/{product}/cost").json()
    assert nums(cost, "unit_cost", "quantity", "value") == (D("8.5"), 7, D("59.5"))
    assert {row["location_kind"]: D(row["value"]) for row in cost["locations"]} == {
        "stock": 34,
        "damaged": D("25.5"),
    }
    # Down again: stock credited, price variance debited
    response = shop.api(
        "POST",
        f"/products/{product}/standard-cost",
        json={"standard_cost": "8", "effective_date": "2026-03-06"},
    )
    assert D(response.json()["amount"]) == D("-3.5")
    assert shop.balance("price_variance") == D("-0.50")
    assert shop.agrees()


def test_a_standard_cost_change_is_refused_when_it_cannot_revalue(shop):
    fifo = shop.product("FIFO-1", "fifo")
    response = shop.api("POST", f"/products/{fifo}/standard-cost", json={"standard_cost": "3"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "standard_cost"
    standard = shop.product("STD-2", "standard", standard="5")
    shop.receive(standard, "2", "5", day=10)
    response = shop.api(
        "POST",
        f"/products/{standard}/standard-cost",
        json={"standard_cost": "6", "effective_date": "2026-03-09"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "effective_date"
    response = shop.api("POST", f"/products/{standard}/standard-cost", json={"standard_cost": "-1"})
    assert response.status_code == 422
    assert shop.balance("price_variance") == 0
    missing = shop.api("POST", f"/products/{uuid.uuid4()}/standard-cost", json={"standard_cost": "1"})
    assert missing.status_code == 404


# -- layers --------------------------------------------------------------------------------------------


def test_fifo_layers_and_the_cost_read_through_the_api(shop, auth, store_factory):
    product = shop.product("FIFO-L", "fifo")
    shop.receive(product, "10", "10.00", day=1)
    shop.receive(product, "10", "12.00", day=2)
    shop.sell(product, "15", day=3)
    page = shop.api("GET", "/stock/layers", params={"product_id": str(product), "limit": 1}).json()
    assert [nums(x, "quantity", "remaining_quantity", "unit_cost") for x in page["items"]] == [(10, 0, 10)]
    following = shop.api(
        "GET", "/stock/layers", params={"product_id": str(product), "cursor": page["next_cursor"]}
    ).json()
    assert [nums(x, "remaining_quantity", "remaining_value") for x in following["items"]] == [(5, 60)]
    assert following["next_cursor"] is None
    opened = shop.api("GET", "/stock/layers", params={"open_only": "true"}).json()["items"]
    assert [D(x["unit_cost"]) for x in opened] == [12]
    assert opened[0]["location_id"] == str(shop.location("stock"))
    elsewhere = shop.api("GET", "/stock/layers", params={"location_id": str(shop.location("backroom"))})
    assert elsewhere.json() == {"items": [], "next_cursor": None}
    # A store manager of another store sees none of S1's layers
    store_factory("S2")
    other = auth("store_manager", company="ACME", store="S2")
    assert shop.api("GET", "/stock/layers", headers=other).json() == {"items": [], "next_cursor": None}
    own = auth("store_manager", company="ACME", store="S1")
    assert len(shop.api("GET", "/stock/layers", headers=own).json()["items"]) == 2
    cost = shop.api("GET", f"/products/{product}/cost").json()
    assert cost["cost_method"] == "fifo"
    assert nums(cost, "unit_cost", "quantity", "value") == (12, 5, 60)


# -- returns to vendor ---------------------------------------------------------------------------------


def test_a_return_to_vendor_takes_back_its_receipts_layer_and_clears_the_accrual(shop):
    product = shop.product("RTV-1", "fifo")
    first = shop.purchase(product, "10", "10.00", day=1)
    shop.purchase(product, "10", "12.00", day=2)
    assert shop.balance("goods_received_not_invoiced") == D("-220.00")
    second = shop.purchase(product, "5", "13.00", day=3)  # layers: 10 @ 10, 10 @ 12, 5 @ 13
    line = second["lines"][0]
    response = shop.api(
        "POST",
        "/stock/vendor-returns",
        json={
            "receipt_id": str(second["id"]),
            "date": "2026-03-04",
            "reason": "damaged in transit",
            "lines": [{"receipt_line_id": str(line["id"]), "quantity": "2"}],
        },
    )
    assert response.status_code == 201, response.text
    returned = response.json()["lines"][0]
    # Out at the receipt's own layer (13.00), not the oldest (10.00)
    assert nums(returned, "value", "purchase_value") == (26, 26)
    assert shop.balance("goods_received_not_invoiced") == D("-259.00")  # 285.00 accrued - 26.00
    assert shop.balance("inventory") == D("259.00")
    layers = shop.api("GET", "/stock/layers", params={"product_id": str(product)}).json()["items"]
    assert [D(x["remaining_quantity"]) for x in layers] == [10, 10, 3]
    # More than is left to return on the line: refused, naming the line, nothing written
    too_many = shop.api(
        "POST",
        "/stock/vendor-returns",
        json={
            "receipt_id": str(second["id"]),
            "lines": [{"receipt_line_id": str(line["id"]), "quantity": "4"}],
        },
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "lines.0.quantity"
    # A line of another receipt
    wrong = shop.api(
        "POST",
        "/stock/vendor-returns",
        json={
            "receipt_id": str(second["id"]),
            "lines": [{"receipt_line_id": str(first["lines"][0]["id"]), "quantity": "1"}],
        },
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "lines.0.receipt_line_id"
    listed = shop.api("GET", "/stock/vendor-returns", params={"receipt_id": str(second["id"])}).json()
    assert [D(x["quantity"]) for x in listed["items"]] == [2]
    with shop.runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(VendorReturnLine)) == 1
    assert shop.agrees()


def test_a_return_to_vendor_at_average_cost_posts_the_difference_to_price_variance(shop):
    product = shop.product("RTV-AVG", "average")
    shop.purchase(product, "10", "10.00", day=1)
    receipt = shop.purchase(product, "10", "12.00", day=2)  # average 11.00
    response = shop.api(
        "POST",
        "/stock/vendor-returns",
        json={
            "receipt_id": str(receipt["id"]),
            "date": "2026-03-03",
            "lines": [{"receipt_line_id": str(receipt["lines"][0]["id"]), "quantity": "4"}],
        },
    )
    assert response.status_code == 201, response.text
    line = response.json()["lines"][0]
    assert nums(line, "value", "purchase_value") == (44, 48)  # 4 x 11.00 out, 4 x 12.00 accrued
    assert shop.balance("goods_received_not_invoiced") == D("-172.00")
    assert shop.balance("inventory") == D("176.00")
    assert shop.balance("price_variance") == D("-4.00")
    assert shop.agrees()


# -- a product's own expense account -----------------------------------------------------------------


def test_a_products_expense_account_takes_its_cogs_instead_of_the_cogs_role(shop):
    own = shop.product("OWN-1", "average")
    other = shop.product("OTHER-1", "average")
    response = shop.api("PUT", f"/products/{own}/accounts", json={"expense_account": "5030"})
    assert response.status_code == 200, response.text
    assert response.json() == {"product_id": str(own), "income_account": None, "expense_account": "5030"}
    for product in (own, other):
        shop.receive(product, "5", "4.00", day=1)
    shop.sell(own, "2", day=2)
    shop.sell(other, "3", day=2)
    assert shop.balance(code="5030") == D("8.00")
    assert shop.balance("cogs") == D("12.00")
    # Its cost correction after negative stock goes there too
    shop.sell(own, "4", day=3)  # 1 short, at 4.00
    shop.receive(own, "1", "7.00", day=4)  # +3.00
    assert shop.balance(code="5030") == D("8.00") + D("16.00") + D("3.00")
    assert shop.api("GET", f"/products/{own}/cost").json()["expense_account"] == "5030"
    # A balance-sheet account, or none that exists, is refused
    for code in ("1000", "9999"):
        refused = shop.api("PUT", f"/products/{own}/accounts", json={"expense_account": code})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "expense_account"
    assert shop.agrees()
