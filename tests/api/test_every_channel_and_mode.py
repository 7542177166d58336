"""One order model, every channel and fulfillment mode, end to end over HTTP.

Each test drives the API as its users would and asserts what lands: stock on hand and reserved, the
reservations, and the exact journal lines of each posting point (role and label -> debit minus credit).
ACME sells in France with VAT 20 % included in prices; SHIRT costs 10.00 (average) and sells at 30.00
(25.00 net + 5.00 VAT); MUG costs 4.00 and sells at 12.00.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import tables as i
from retailcore.inventory.reservation_tables import Reservation
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal
VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20", "price_included": True}
SOLD_AT = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()  # inside the till clock window


@pytest.fixture
def retail(runtime, client, admin, company, store_factory):
    stores = {code: store_factory(code)["id"] for code in ("S1", "S2")}
    stores["W1"] = store_factory("W1", kind="warehouse")["id"]
    company_id = company["id"]

    def post(path, body, status=201, headers=admin):
        response = client.post(f"{API}/{path}", json=body, headers=headers)
        assert response.status_code == status, response.text
        return response.json()

    post(
        "tax-rules",
        {"company_id": company_id, "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]},
    )
    for code, kind, gateway in (
        ("CASH", "cash", None),
        ("CARD", "card", "stripe"),
        ("ACCOUNT", "on_account", None),
    ):
        post(
            "payment-methods",
            {"company_id": company_id, "code": code, "name": code, "kind": kind, "gateway": gateway},
        )
    products = {}
    for sku, price, category in (("SHIRT", "30.00", "Apparel"), ("MUG", "12.00", "Home")):
        body = {
            "company_id": company_id,
            "sku": sku,
            "name": sku,
            "category": category,
            "list_price": price,
            "cost_method": "average",
            "channels": ["pos", "web", "marketplace"],
        }
        products[sku] = post("products", body)["id"]
    customer = post(
        "customers", {"company_id": company_id, "code": "BIGCO", "name": "Big Co", "credit_limit": "5000"}
    )

    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, uuid.UUID(company_id))
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_row.id, Location.kind == "supplier")
        )
        lines = []
        for store_id in stores.values():
            stock = session.scalar(
                select(Location.id).where(Location.store_id == uuid.UUID(store_id), Location.kind == "stock")
            )
            lines.append(MoveLine(uuid.UUID(products["SHIRT"]), D(5), supplier, stock, D("10.00")))
            lines.append(MoveLine(uuid.UUID(products["MUG"]), D(5), supplier, stock, D("4.00")))
        move_stock(
            session,
            CommandContext(system_principal()),
            company_row,
            kind="receipt",
            lines=lines,
            date=dt.date(2026, 3, 1),
        )

    class Retail:
        def __init__(self) -> None:
            self.company_id = company_id
            self.stores = stores
            self.shirt = products["SHIRT"]
            self.mug = products["MUG"]
            self.customer = customer["id"]

        def post(self, path, body, status=201):
            return post(path, body, status=status)

        def order(self, lines, **fields):
            body = {"company_id": company_id, "lines": [self._line(line) for line in lines], **fields}
            return post("orders", body)

        @staticmethod
        def _line(line):
            product, quantity, *extra = line
            return {"product_id": product, "quantity": quantity, **(extra[0] if extra else {})}

        def act(self, order, action, body=None, status=200):
            return post(f"orders/{order['id']}/{action}", body or {}, status=status)

        def stock(self, product, store) -> tuple[Decimal, Decimal]:
            with runtime.session_factory() as session:
                row = session.execute(
                    select(i.StockQuant.quantity, i.StockQuant.reserved)
                    .join(Location, Location.id == i.StockQuant.location_id)
                    .where(
                        i.StockQuant.product_id == uuid.UUID(product),
                        Location.store_id == uuid.UUID(stores[store]),
                        Location.kind == "stock",
                    )
                ).one()
                return row.quantity, row.reserved

        def reservations(self, order) -> list[tuple[str, Decimal]]:
            with runtime.session_factory() as session:
                rows = session.execute(
                    select(Reservation.state, Reservation.quantity)
                    .where(Reservation.order_ref == order["number"])
                    .order_by(Reservation.order_line_ref)
                )
                return [(row.state, row.quantity) for row in rows]

        def entry(self, event_type, aggregate_id=None) -> dict[tuple[str, str], Decimal]:
            """The journal lines of the last event of a type: (role, label) -> debit - credit."""
            with runtime.session_factory() as session:
                query = select(Event.id).where(Event.type == event_type)
                if aggregate_id is not None:
                    query = query.where(Event.aggregate_id == uuid.UUID(str(aggregate_id)))
                event_id = session.scalars(query.order_by(Event.position.desc())).first()
                assert event_id is not None, event_type
                rows = session.execute(
                    select(Account.role, a.JournalLine.label, a.JournalLine.debit - a.JournalLine.credit)
                    .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(a.JournalEntry.event_id == event_id)
                )
                result: dict[tuple[str, str], Decimal] = {}
                for role, label, amount in rows:
                    result[(role, label)] = result.get((role, label), D(0)) + amount
                return result

        def balance(self, role) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit - a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == uuid.UUID(company_id), Account.role == role)
                )
                return total if total is not None else D(0)

        def stock_agrees(self) -> bool:
            response = client.get(f"{API}/stock/check", params={"company_id": company_id}, headers=admin)
            assert response.status_code == 200, response.text
            return response.json()["agrees"]

    return Retail()


SHIRT_SOLD = {
    ("sales_revenue", "Sales Apparel"): D("-25.00"),
    ("output_tax", "Sales tax FR-VAT-20"): D("-5.00"),
}


def test_web_ship_from_the_warehouse(retail):
    order = retail.order([(retail.shirt, "1")], channel="web", fulfillment_mode="ship")
    assert (order["fulfillment_mode"], order["store_id"]) == ("ship", retail.stores["W1"])
    assert retail.stock(retail.shirt, "W1") == (D(5), D(1))
    retail.act(order, "payments", {"gateway": "stripe", "reference": "pi_1", "amount": "30.00"})
    assert retail.entry("PaymentCaptured", order["id"]) == {
        ("card_clearing", f"Capture stripe {order['number']}"): D("30.00"),
        ("customer_deposits", f"Deposit {order['number']}"): D("-30.00"),
    }
    done = retail.act(order, "fulfillments")
    assert (done["state"], done["deposit_balance"], done["receivable_balance"]) == (
        "fulfilled",
        "0.00",
        "0.00",
    )
    assert done["lines"][0]["cost"] == "10.00"
    assert retail.entry("OrderFulfilled", order["id"]) == {
        ("customer_deposits", f"Deposit used {order['number']}"): D("30.00"),
        **SHIRT_SOLD,
    }
    assert retail.stock(retail.shirt, "W1") == (D(4), D(0))
    assert retail.reservations(order) == [("consumed", D(1))]
    assert retail.balance("cogs") == D("10.00")
    assert retail.stock_agrees()


def test_web_click_and_collect_at_the_pickup_store(retail):
    order = retail.order(
        [(retail.mug, "2")],
        channel="web",
        fulfillment_mode="click_and_collect",
        pickup_store_id=retail.stores["S2"],
    )
    assert (order["fulfillment_mode"], order["store_id"], order["gross_total"]) == (
        "click_and_collect",
        retail.stores["S2"],
        "24.00",
    )
    assert retail.stock(retail.mug, "S2") == (D(5), D(2))
    retail.act(order, "fulfillments")  # collected and paid at the counter: on the receivable
    assert retail.entry("OrderFulfilled", order["id"]) == {
        ("receivable", f"Due {order['number']}"): D("24.00"),
        ("sales_revenue", "Sales Home"): D("-20.00"),
        ("output_tax", "Sales tax FR-VAT-20"): D("-4.00"),
    }
    assert retail.stock(retail.mug, "S2") == (D(3), D(0))
    assert retail.balance("cogs") == D("8.00")


def test_web_ship_from_a_named_store(retail):
    order = retail.order(
        [(retail.shirt, "2")], channel="web", fulfillment_mode="ship_from_store", store_id=retail.stores["S1"]
    )
    assert retail.stock(retail.shirt, "S1") == (D(5), D(2))
    retail.act(order, "payments", {"gateway": "stripe", "reference": "pi_2", "amount": "60.00"})
    retail.act(order, "fulfillments")
    assert retail.stock(retail.shirt, "S1") == (D(3), D(0))
    assert retail.stock(retail.shirt, "W1") == (D(5), D(0))
    assert retail.entry("GoodsIssued") == {
        ("cogs", "COGS Apparel"): D("20.00"),
        ("inventory", "Stock out Apparel"): D("-20.00"),
    }


def test_marketplace_order_at_the_marketplace_price_paid_by_the_marketplace(retail):
    order = retail.order(
        [(retail.shirt, "1", {"unit_price": "27.60"})], channel="marketplace", fulfillment_mode="ship"
    )
    assert (order["channel"], order["gross_total"], order["net_total"], order["tax_total"]) == (
        "marketplace",
        "27.60",
        "23.00",
        "4.60",
    )
    # The marketplace collected the money: it sits in clearing under its name until its payout report.
    retail.act(order, "payments", {"gateway": "amazon", "reference": "AMZ-114-1", "amount": "27.60"})
    retail.act(order, "fulfillments")
    assert retail.entry("OrderFulfilled", order["id"]) == {
        ("customer_deposits", f"Deposit used {order['number']}"): D("27.60"),
        ("sales_revenue", "Sales Apparel"): D("-23.00"),
        ("output_tax", "Sales tax FR-VAT-20"): D("-4.60"),
    }
    assert retail.balance("card_clearing") == D("27.60")
    assert retail.stock(retail.shirt, "W1") == (D(4), D(0))


def test_web_prices_come_from_the_price_list(retail, client, admin):
    response = client.post(
        f"{API}/orders",
        json={
            "company_id": retail.company_id,
            "lines": [{"product_id": retail.shirt, "quantity": "1", "unit_price": "1.00"}],
        },
        headers=admin,
    )
    assert_problem(response, 422, fields=("lines.0.unit_price",))


def test_b2b_on_account_partial_deliveries_then_invoice_then_payment(retail, client, admin):
    order = retail.order(
        [(retail.shirt, "3", {"unit_price": "24.00"}), (retail.mug, "2")],
        channel="b2b",
        fulfillment_mode="ship",
        customer_id=retail.customer,
    )
    # 3 x 24.00 incl. VAT = 72.00 (60.00 + 12.00); 2 x 12.00 = 24.00 (20.00 + 4.00)
    assert (order["gross_total"], order["net_total"], order["tax_total"]) == ("96.00", "80.00", "16.00")
    retail.act(order, "payments", {"kind": "on_account", "amount": "96.00"})
    shirt_line = order["lines"][0]

    first = retail.act(order, "fulfillments", {"lines": [{"line_id": shirt_line["id"], "quantity": "1"}]})
    assert (first["state"], first["receivable_balance"]) == ("partially_fulfilled", "24.00")
    assert retail.entry("OrderFulfilled", order["id"]) == {
        ("receivable", f"Due {order['number']}"): D("24.00"),
        ("sales_revenue", "Sales Apparel"): D("-20.00"),
        ("output_tax", "Sales tax FR-VAT-20"): D("-4.00"),
    }
    assert retail.reservations(order) == [("active", D(2)), ("active", D(2))]
    assert retail.stock(retail.shirt, "W1") == (D(4), D(2))
    # An invoice waits for the order to be complete: refused, and no number is used up.
    refused = client.post(f"{API}/orders/{order['id']}/invoice", json={}, headers=admin)
    assert_problem(refused, 409, code="invalid-state-transition")

    retail.act(order, "fulfillments")  # the rest: 2 shirts and 2 mugs
    assert retail.entry("OrderFulfilled", order["id"]) == {
        ("receivable", f"Due {order['number']}"): D("72.00"),
        ("sales_revenue", "Sales Apparel"): D("-40.00"),
        ("sales_revenue", "Sales Home"): D("-20.00"),
        ("output_tax", "Sales tax FR-VAT-20"): D("-12.00"),
    }
    invoice = retail.act(order, "invoice", status=201)
    assert (invoice["number"], invoice["gross_total"], invoice["amount_due"], invoice["posting"]) == (
        "INV-2026-000001",
        "96.00",
        "96.00",
        "document",
    )
    assert [t["amount"] for t in invoice["taxes"]] == ["16.00"]
    got = client.get(f"{API}/orders/{order['id']}", headers=admin).json()
    assert (got["state"], got["invoice_number"]) == ("invoiced", "INV-2026-000001")
    listed = client.get(
        f"{API}/invoices",
        params={"customer_id": retail.customer, "company_id": retail.company_id},
        headers=admin,
    ).json()
    assert [i["number"] for i in listed["items"]] == ["INV-2026-000001"]
    assert retail.balance("receivable") == D("96.00")

    retail.act(order, "payments", {"gateway": "bank", "reference": "SEPA-1", "amount": "96.00"})
    assert retail.entry("PaymentCaptured", order["id"]) == {
        ("card_clearing", f"Capture bank {order['number']}"): D("96.00"),
        ("receivable", f"Paid {order['number']}"): D("-96.00"),
    }
    assert retail.balance("receivable") == D(0)
    assert retail.reservations(order) == [("consumed", D(2)), ("consumed", D(2))]
    assert retail.stock_agrees()


def test_partial_shares_of_a_line_add_up_to_the_line(retail):
    # 3 x 9.99 incl. VAT = 29.97: tax 4.995 -> 5.00, net 24.97. Thirds do not divide exactly.
    order = retail.order(
        [(retail.shirt, "3", {"unit_price": "9.99"})], channel="b2b", customer_id=retail.customer
    )
    line = order["lines"][0]
    assert (line["net"], line["tax"]) == ("24.97", "5.00")
    nets, taxes = D(0), D(0)
    for _ in range(3):
        retail.act(order, "fulfillments", {"lines": [{"line_id": line["id"], "quantity": "1"}]})
        entry = retail.entry("OrderFulfilled", order["id"])
        nets -= entry[("sales_revenue", "Sales Apparel")]
        taxes -= entry[("output_tax", "Sales tax FR-VAT-20")]
    assert (nets, taxes) == (D("24.97"), D("5.00"))


def test_draft_then_confirm_reserves_only_at_confirmation(retail, client, admin):
    draft = retail.order([(retail.shirt, "2")], confirm=False)
    assert draft["state"] == "draft"
    assert retail.stock(retail.shirt, "W1") == (D(5), D(0))
    assert retail.reservations(draft) == []
    confirmed = retail.act(draft, "confirm")
    assert confirmed["state"] == "confirmed"
    assert retail.stock(retail.shirt, "W1") == (D(5), D(2))
    again = client.post(f"{API}/orders/{draft['id']}/confirm", json={}, headers=admin)
    assert_problem(again, 409, code="invalid-state-transition")


def _gift_card(retail, amount):
    """A card sold for cash (gift_card_liability credited by ``amount``): its code."""
    return retail.post("gift-cards", {"amount": amount, "paid_by": "cash"})["code"]


def test_gift_card_and_card_on_one_order_cancelled_after_a_partial_shipment(retail, client, admin):
    code = _gift_card(retail, "10.00")
    order = retail.order([(retail.shirt, "1"), (retail.mug, "1")])
    retail.act(order, "payments", {"kind": "gift_card", "reference": code, "amount": "10.00"})
    assert retail.entry("TenderAccepted", order["id"]) == {
        ("gift_card_liability", "Paid by gift_card"): D("10.00"),
        ("customer_deposits", f"Deposit {order['number']}"): D("-10.00"),
    }
    paid = retail.act(order, "payments", {"gateway": "stripe", "reference": "pi_9", "amount": "32.00"})
    assert (paid["paid_amount"], paid["deposit_balance"]) == ("42.00", "42.00")
    shirt_line = order["lines"][0]
    retail.act(order, "fulfillments", {"lines": [{"line_id": shirt_line["id"], "quantity": "1"}]})
    cancelled = retail.act(order, "cancel", {"reason": "mug out of stock"})
    # The shirt left (30.00 from the deposit); the mug is cancelled and its 12.00 go back to the card.
    assert (cancelled["state"], cancelled["deposit_balance"], cancelled["receivable_balance"]) == (
        "fulfilled",
        "0.00",
        "0.00",
    )
    assert retail.entry("PaymentRefunded", order["id"]) == {
        ("customer_deposits", f"Deposit refunded {order['number']}"): D("12.00"),
        ("card_clearing", f"Refund stripe {order['number']}"): D("-12.00"),
    }
    assert retail.reservations(order) == [("consumed", D(1)), ("released", D(1))]
    assert retail.stock(retail.mug, "W1") == (D(5), D(0))
    assert retail.balance("customer_deposits") == D(0)
    # Sold for 10.00 (a liability), redeemed for 10.00 and kept: the stripe card got the refund.
    assert retail.balance("gift_card_liability") == D(0)
    assert retail.balance("card_clearing") == D("20.00")
    card = client.get(f"{API}/gift-cards/{code}", headers=admin).json()
    assert card["balance"] == "0.00"
    assert [(m["kind"], m["amount"]) for m in card["movements"]] == [("issue", "10.00"), ("redeem", "-10.00")]


def test_a_gift_card_paid_order_cancelled_gives_the_gift_card_back(retail, client, admin):
    code = _gift_card(retail, "12.00")
    order = retail.order([(retail.mug, "1")])
    retail.act(order, "payments", {"kind": "gift_card", "reference": code, "amount": "12.00"})
    retail.act(order, "cancel")
    assert retail.entry("TenderReturned", order["id"]) == {
        ("customer_deposits", f"Deposit returned {order['number']}"): D("12.00"),
        ("gift_card_liability", "Returned to gift_card"): D("-12.00"),
    }
    assert retail.balance("gift_card_liability") == D("-12.00")  # owed to the holder again
    assert retail.balance("customer_deposits") == D(0)
    assert retail.reservations(order) == [("released", D(1))]
    card = client.get(f"{API}/gift-cards/{code}", headers=admin).json()
    assert card["balance"] == "12.00"
    assert [m["kind"] for m in card["movements"]] == ["issue", "redeem", "refund"]


def test_pos_carry_out_sale_is_an_order_and_can_be_invoiced_afterwards(retail, client, admin):
    terminal = retail.post(
        "pos/terminals",
        {"company_id": retail.company_id, "store_id": retail.stores["S1"], "code": "T1", "name": "Till"},
    )
    session = retail.post("pos/sessions", {"terminal_id": terminal["id"], "opening_float": "50.00"})
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": SOLD_AT,
        "lines": [{"product_id": retail.shirt, "quantity": "1", "unit_price": "30.00"}],
        "payments": [{"payment_method_code": "CARD", "amount": "30.00"}],
    }
    batch = retail.post(f"pos/sessions/{session['id']}/sales:batch", {"sales": [sale]}, status=200)
    assert batch["accepted"] == 1
    orders = client.get(
        f"{API}/orders", params={"channel": "pos", "company_id": retail.company_id}, headers=admin
    ).json()["items"]
    assert len(orders) == 1
    pos_order = orders[0]
    assert (pos_order["fulfillment_mode"], pos_order["state"], pos_order["number"]) == (
        "carry_out",
        "fulfilled",
        "T1-0001-00001",
    )
    assert (pos_order["gross_total"], pos_order["lines"][0]["cost"]) == ("30.00", "10.00")
    assert pos_order["payments"][0]["payment_method_code"] == "CARD"
    assert retail.stock(retail.shirt, "S1") == (D(4), D(0))
    # The stock left at the sale, its COGS is posted at the close: the check knows it is on its way.
    assert retail.stock_agrees()

    refused = client.post(f"{API}/orders/{pos_order['id']}/cancel", json={}, headers=admin)
    assert_problem(refused, 409, code="pos-sale")
    invoice = retail.post(f"orders/{pos_order['id']}/invoice", {"customer_id": retail.customer})
    assert (invoice["posting"], invoice["gross_total"]) == ("document", "30.00")

    retail.post(
        f"pos/sessions/{session['id']}/close", {"counted": {"CASH": "50.00", "CARD": "30.00"}}, status=200
    )
    assert retail.entry("PosSessionClosed") == {
        ("card_clearing", "POS tender card"): D("30.00"),
        ("sales_revenue", "POS sales Apparel"): D("-25.00"),
        ("output_tax", "POS sales tax FR-VAT-20"): D("-5.00"),
        ("cogs", "POS COGS Apparel"): D("10.00"),
        ("inventory", "POS stock out Apparel"): D("-10.00"),
        ("cash_in_transit", "Counted cash to the safe"): D("50.00"),
        ("cash_drawer", "Counted cash to the safe"): D("-50.00"),
    }
    assert retail.balance("cash_drawer") == D(0)
    assert retail.stock_agrees()


def test_a_pos_customer_invoiced_at_the_till_goes_to_receivable(retail, client, admin):
    terminal = retail.post(
        "pos/terminals",
        {"company_id": retail.company_id, "store_id": retail.stores["S2"], "code": "T2", "name": "Till"},
    )
    session = retail.post("pos/sessions", {"terminal_id": terminal["id"]})
    line = {"product_id": retail.mug, "quantity": "2", "unit_price": "12.00"}
    invoiced = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": SOLD_AT,
        "lines": [line],
        "payments": [
            {"payment_method_code": "CASH", "amount": "4.00"},
            {"payment_method_code": "ACCOUNT", "amount": "20.00"},
        ],
        "customer_id": retail.customer,
    }
    plain = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": SOLD_AT,
        "lines": [line],
        "payments": [{"payment_method_code": "CASH", "amount": "24.00"}],
    }
    no_customer = {**invoiced, "client_uuid": str(uuid.uuid4()), "customer_id": None}
    refused = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch", json={"sales": [plain, no_customer]}, headers=admin
    )
    assert_problem(refused, 422, fields=("sales.1.payments.1.payment_method_code",))

    retail.post(f"pos/sessions/{session['id']}/sales:batch", {"sales": [invoiced, plain]}, status=200)
    invoices = client.get(f"{API}/invoices", params={"company_id": retail.company_id}, headers=admin).json()[
        "items"
    ]
    assert [(i["number"], i["posting"], i["gross_total"], i["amount_due"]) for i in invoices] == [
        ("INV-2026-000001", "receivable", "24.00", "20.00")
    ]
    assert retail.entry("InvoiceIssued") == {
        ("receivable", "Invoice INV-2026-000001"): D("24.00"),
        ("sales_revenue", "Invoice Home"): D("-20.00"),
        ("output_tax", "Invoice tax FR-VAT-20"): D("-4.00"),
    }
    retail.post(f"pos/sessions/{session['id']}/close", {"counted": {"CASH": "28.00"}}, status=200)
    # Only the plain sale's revenue is in the session; the 4.00 cash paid on the invoice settles it.
    assert retail.entry("PosSessionClosed") == {
        ("cash_drawer", "POS tender cash"): D("28.00"),
        ("receivable", "Paid at the till on invoices"): D("-4.00"),
        ("sales_revenue", "POS sales Home"): D("-20.00"),
        ("output_tax", "POS sales tax FR-VAT-20"): D("-4.00"),
        ("cogs", "POS COGS Home"): D("16.00"),
        ("inventory", "POS stock out Home"): D("-16.00"),
        ("cash_in_transit", "Counted cash to the safe"): D("28.00"),
        ("cash_drawer", "Counted cash to the safe"): D("-28.00"),
    }
    assert retail.balance("receivable") == D("20.00")
    assert retail.stock_agrees()


@pytest.mark.parametrize(
    ("included", "expected"),
    [
        # 3 lines of 0.99 incl. 20 % VAT: the document's tax is 2.97 / 6 = 0.495 -> 0.50 (per line: 0.51)
        (True, ("2.47", "0.50", "2.97")),
        # 3 lines of 0.99 net: 20 % of 2.97 = 0.594 -> 0.59 (per line 0.20 x 3 would give 0.60)
        (False, ("2.97", "0.59", "3.56")),
    ],
)
def test_order_totals_with_tax_included_and_excluded_rounded_per_document(
    client, admin, company, store_factory, included, expected
):
    store_factory("W1", kind="warehouse")
    tax = {**VAT_20, "price_included": included, "rounding": "document"}
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [tax]}
    created = client.post(f"{API}/tax-rules", json=rule, headers=admin)
    assert created.status_code == 201, created.text
    products = []
    for sku in ("A", "B", "C"):
        body = {"company_id": company["id"], "sku": sku, "name": sku, "category": "X", "list_price": "0.99"}
        products.append(client.post(f"{API}/products", json=body, headers=admin).json()["id"])
    order = client.post(
        f"{API}/orders",
        json={
            "company_id": company["id"],
            "channel": "b2b",
            "confirm": False,
            "customer_id": client.post(
                f"{API}/customers", json={"company_id": company["id"], "name": "C"}, headers=admin
            ).json()["id"],
            "lines": [{"product_id": p, "quantity": "1", "unit_price": "0.99"} for p in products],
        },
        headers=admin,
    )
    assert order.status_code == 201, order.text
    body = order.json()
    assert (body["net_total"], body["tax_total"], body["gross_total"]) == expected
    assert sum(D(line["tax"]) for line in body["lines"]) == D(expected[1])
