"""Loyalty over HTTP: the programme, enrolment, points earned on a delivered order, burned as a tender of
a web order, given back when the order is cancelled, taken back after a refund, revalued with the point
value. Every step checks the account and the ledger by account role: loyalty_liability always equals
the points outstanding x the point value, and every entry balances.

ACME sells in France (EUR) with VAT 20 % included; MUG sells at 12.00. A point is earned per euro paid
(rounded down) and is worth 0.05 EUR.
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
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.loyalty.services import points_for
from retailcore.loyalty.tables import LoyaltyAccount
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.orders.tables import OrderRow

D = Decimal


@pytest.fixture
def shop(runtime, client, admin, company, store_factory):
    store = store_factory("S1")
    company_id = company["id"]

    def send(path, body, status=201, method="post"):
        response = client.request(method, f"{API}/{path}", json=body, headers=admin)
        assert response.status_code == status, response.text
        return response.json()

    send(
        "tax-rules",
        {
            "company_id": company_id,
            "jurisdiction": "FR",
            "tax_category": "standard",
            "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20", "price_included": True}],
        },
    )
    for code, kind in (("POINTS", "loyalty"), ("CASH", "cash")):
        send("payment-methods", {"company_id": company_id, "code": code, "name": code, "kind": kind})
    mug = send(
        "products",
        {
            "company_id": company_id,
            "sku": "MUG",
            "name": "Mug",
            "category": "Home",
            "list_price": "12.00",
            "cost_method": "average",
            "channels": ["pos", "web"],
        },
    )["id"]
    anna = send("customers", {"company_id": company_id, "code": "ANNA", "name": "Anna"})["id"]
    ben = send("customers", {"company_id": company_id, "code": "BEN", "name": "Ben"})["id"]
    with transaction(runtime.session_factory) as session:
        row = session.get(Company, uuid.UUID(company_id))
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == row.id, Location.kind == "supplier")
        )
        stock = session.scalar(
            select(Location.id).where(Location.store_id == uuid.UUID(store["id"]), Location.kind == "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            row,
            kind="receipt",
            lines=[MoveLine(uuid.UUID(mug), D(50), supplier, stock, D("4.00"))],
            date=dt.date(2026, 3, 1),
        )

    class Shop:
        def __init__(self) -> None:
            self.company_id = company_id
            self.anna, self.ben = anna, ben

        post = staticmethod(send)

        def get(self, path, status=200, **params):
            response = client.get(f"{API}/{path}", params=params, headers=admin)
            assert response.status_code == status, response.text
            return response.json()

        def order(self, quantity="1", customer=None):
            return send(
                "orders",
                {"lines": [{"product_id": mug, "quantity": quantity}], "customer_id": customer or anna},
            )

        def pay(self, order, kind, amount, status=200):
            body = {"kind": kind, "amount": amount}
            if kind == "card":
                body |= {"gateway": "stripe", "reference": f"pi_{uuid.uuid4().hex[:8]}"}
            response = client.post(f"{API}/orders/{order['id']}/payments", json=body, headers=admin)
            assert response.status_code == status, response.text
            return response

        def till(self):
            terminal = send("pos/terminals", {"store_id": store["id"], "code": "T1", "name": "Till"})
            return send("pos/sessions", {"terminal_id": terminal["id"], "opening_float": "0.00"})

        def sale(self, payments, customer=None):
            sale = {
                "client_uuid": str(uuid.uuid4()),
                "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
                "lines": [{"product_id": mug, "quantity": "1", "unit_price": "12.00"}],
                "payments": [{"payment_method_code": code, "amount": amount} for code, amount in payments],
            }
            if customer:
                sale["customer_id"] = customer
            return sale

        def batch(self, pos_session, sales, status=200):
            response = client.post(
                f"{API}/pos/sessions/{pos_session['id']}/sales:batch", json={"sales": sales}, headers=admin
            )
            assert response.status_code == status, response.text
            return response

        def fulfil(self, order):
            response = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin)
            assert response.status_code == 200, response.text
            assert response.json()["state"] == "fulfilled"

        def earn(self, order, status=200):
            response = client.post(f"{API}/loyalty/earnings", json={"order_id": order["id"]}, headers=admin)
            assert response.status_code == status, response.text
            return response

        def account(self, customer=None):
            return self.get(f"loyalty/accounts/{customer or anna}")

        def balance(self, role) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit - a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == uuid.UUID(company_id), Account.role == role)
                )
                return total if total is not None else D(0)

        def entry(self, event_type) -> dict[str, Decimal]:
            """The last event of a type's journal lines: role -> debit - credit (checked balanced)."""
            with runtime.session_factory() as session:
                event_id = session.scalars(
                    select(Event.id).where(Event.type == event_type).order_by(Event.position.desc())
                ).first()
                assert event_id is not None, event_type
                rows = session.execute(
                    select(Account.role, a.JournalLine.debit - a.JournalLine.credit)
                    .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(a.JournalEntry.event_id == event_id)
                )
                result: dict[str, Decimal] = {}
                for role, amount in rows:
                    result[role] = result.get(role, D(0)) + amount
                assert sum(result.values(), D(0)) == 0, result  # balanced
                return result

        def check_liability(self):
            """The ledger's loyalty_liability is every account's points x the point value."""
            with runtime.session_factory() as session:
                points = session.scalar(select(func.coalesce(func.sum(LoyaltyAccount.balance), 0)))
            programme = self.get("loyalty/programme")
            assert programme["points_outstanding"] == points
            assert self.balance("loyalty_liability") == -D(programme["liability"])
            return points

    return Shop()


@pytest.fixture
def enrolled(shop):
    shop.post(
        "loyalty/programme",
        {"points_per_unit": "1", "rounding": "down", "point_value": "0.05"},
        status=200,
        method="put",
    )
    shop.post("loyalty/accounts", {"customer_id": shop.anna})
    return shop


def test_points_are_earned_once_on_a_delivered_order_and_booked_as_a_liability(enrolled):
    shop = enrolled
    order = shop.order("2")  # 24.00
    shop.pay(order, "card", "24.00")
    refused = shop.earn(order, status=409)  # not delivered yet
    assert_problem(refused, 409, "order-not-delivered", ("order_id",))
    shop.fulfil(order)
    earned = shop.earn(order).json()
    assert (earned["points"], earned["value"], earned["balance"]) == (24, "1.20", 24)
    assert shop.entry("LoyaltyPointsEarned") == {"loyalty_cost": D("1.20"), "loyalty_liability": D("-1.20")}
    again = shop.earn(order).json()  # a replay: the first earning, nothing more
    assert again == earned
    account = shop.account()
    assert account["balance"] == 24 and account["value"] == "1.20"
    assert [(m["kind"], m["points"], m["balance_after"], m["value"]) for m in account["movements"]] == [
        ("earn", 24, 24, "1.20")
    ]
    assert shop.check_liability() == 24


def test_points_burned_as_a_tender_pay_an_order_and_refusals_write_nothing(enrolled, snapshot):
    shop = enrolled
    first = shop.order("2")
    shop.pay(first, "card", "24.00")
    shop.fulfil(first)
    shop.earn(first)  # 24 points, worth 1.20

    order = shop.order()  # 12.00
    shop.pay(order, "loyalty", "1.00")  # 20 points
    assert shop.account()["balance"] == 4
    assert shop.entry("TenderAccepted") == {"loyalty_liability": D("1.00"), "customer_deposits": D("-1.00")}
    shop.check_liability()

    before = snapshot()
    short = shop.pay(order, "loyalty", "0.25", status=409)  # 5 points, 4 held
    assert_problem(short, 409, "insufficient-balance", ("amount",))
    odd = shop.pay(order, "loyalty", "0.03", status=422)  # not a whole number of points
    assert_problem(odd, 422, fields=("amount",))
    assert snapshot() == before
    assert shop.account()["balance"] == 4

    shop.pay(order, "card", "11.00")
    shop.fulfil(order)
    earned = shop.earn(order).json()  # on the 11.00 paid in money, not on the points
    assert earned["points"] == 11 and earned["balance"] == 15
    shop.check_liability()


def test_cancelling_an_order_gives_the_points_back(enrolled):
    shop = enrolled
    first = shop.order("2")
    shop.pay(first, "card", "24.00")
    shop.fulfil(first)
    shop.earn(first)
    order = shop.order()
    shop.pay(order, "loyalty", "0.50")  # 10 points
    assert shop.account()["balance"] == 14
    shop.post(f"orders/{order['id']}/cancel", {"reason": "changed mind"}, status=200)
    account = shop.account()
    assert account["balance"] == 24
    assert [(m["kind"], m["points"]) for m in account["movements"]] == [
        ("earn", 24),
        ("burn", -10),
        ("return", 10),
    ]
    assert shop.entry("TenderReturned") == {"customer_deposits": D("0.50"), "loyalty_liability": D("-0.50")}
    assert shop.balance("customer_deposits") == D(0)
    shop.check_liability()


def test_points_given_back_after_the_point_value_changed_keep_the_liability_true(enrolled):
    shop = enrolled
    first = shop.order("2")
    shop.pay(first, "card", "24.00")
    shop.fulfil(first)
    shop.earn(first)  # 24 points
    order = shop.order()
    shop.pay(order, "loyalty", "0.50")  # 10 points at 0.05
    shop.post("loyalty/programme", {"points_per_unit": "1", "point_value": "0.03"}, status=200, method="put")
    shop.check_liability()  # 14 points at 0.03
    shop.post(f"orders/{order['id']}/cancel", {"reason": "changed mind"}, status=200)
    account = shop.account()  # 0.50 at 0.03 is 16 whole points (0.48)
    assert account["movements"][-1]["kind"] == "return" and account["movements"][-1]["points"] == 16
    assert account["balance"] == 30
    assert shop.entry("LoyaltyLiabilityRevalued") == {
        "loyalty_liability": D("0.02"),
        "loyalty_cost": D("-0.02"),
    }
    shop.check_liability()


def test_a_refund_takes_the_points_back_and_a_new_point_value_revalues_them(enrolled):
    shop = enrolled
    order = shop.order("2")
    shop.pay(order, "card", "24.00")
    shop.fulfil(order)
    shop.earn(order)
    reversed_ = shop.post("loyalty/reversals", {"order_id": order["id"]}, status=200)
    assert (reversed_["points"], reversed_["balance"]) == (-24, 0)
    assert shop.entry("LoyaltyPointsReversed") == {"loyalty_liability": D("1.20"), "loyalty_cost": D("-1.20")}
    assert shop.post("loyalty/reversals", {"order_id": order["id"]}, status=200) == reversed_  # once
    shop.check_liability()

    other = shop.order("3")  # 36.00: 36 points
    shop.pay(other, "card", "36.00")
    shop.fulfil(other)
    shop.earn(other)
    changed = shop.post(
        "loyalty/programme", {"points_per_unit": "1", "point_value": "0.10"}, status=200, method="put"
    )
    assert (changed["points_outstanding"], changed["liability"]) == (36, "3.60")
    assert shop.entry("LoyaltyLiabilityRevalued") == {
        "loyalty_cost": D("1.80"),
        "loyalty_liability": D("-1.80"),
    }
    shop.check_liability()
    shop.post("loyalty/programme", {"points_per_unit": "1", "point_value": "0.04"}, status=200, method="put")
    assert shop.entry("LoyaltyLiabilityRevalued") == {
        "loyalty_liability": D("2.16"),
        "loyalty_cost": D("-2.16"),
    }
    shop.check_liability()


def test_only_enrolled_customers_earn_and_burn(enrolled, snapshot):
    shop = enrolled
    duplicate = shop.post("loyalty/accounts", {"customer_id": shop.anna}, status=409)
    assert duplicate["code"] == "loyalty-account-exists"
    unknown = shop.post("loyalty/accounts", {"customer_id": str(uuid.uuid4())}, status=422)
    assert unknown["code"] == "invalid-reference"
    order = shop.order(customer=shop.ben)
    before = snapshot()
    refused = shop.pay(order, "loyalty", "0.05", status=409)
    assert_problem(refused, 409, "loyalty-not-enrolled", ("amount",))
    assert snapshot() == before
    shop.pay(order, "card", "12.00")
    shop.fulfil(order)
    assert_problem(shop.earn(order, status=409), 409, "loyalty-not-enrolled", ("order_id",))
    page = shop.get("loyalty/accounts")
    assert [item["customer_id"] for item in page["items"]] == [shop.anna] and page["next_cursor"] is None


def test_without_a_programme_nothing_is_earned(shop):
    shop.post("loyalty/accounts", {"customer_id": shop.anna})
    shop.get("loyalty/programme", status=404)
    order = shop.order()
    shop.pay(order, "card", "12.00")
    shop.fulfil(order)
    assert_problem(shop.earn(order, status=409), 409, "loyalty-inactive")


def test_points_pay_at_the_till_and_the_close_books_them(enrolled, snapshot, runtime):
    shop = enrolled
    first = shop.order("2")
    shop.pay(first, "card", "24.00")
    shop.fulfil(first)
    shop.earn(first)  # 24 points
    till = shop.till()
    shop.batch(till, [shop.sale([("POINTS", "1.00"), ("CASH", "11.00")], customer=shop.anna)])
    account = shop.account()
    assert account["balance"] == 4 and account["movements"][-1]["kind"] == "burn"

    before = snapshot()
    short = shop.batch(
        till, [shop.sale([("POINTS", "1.00"), ("CASH", "11.00")], customer=shop.anna)], status=409
    )
    assert_problem(short, 409, "insufficient-balance", ("sales.0.payments.0.amount",))
    nobody = shop.batch(till, [shop.sale([("POINTS", "1.00"), ("CASH", "11.00")])], status=422)
    assert_problem(nobody, 422, "sale-refused", ("sales.0.payments.0.payment_method_code",))
    assert snapshot() == before

    with runtime.session_factory() as session:  # the till's sale earns on what was paid in money
        sale_id = session.scalar(select(OrderRow.id).where(OrderRow.channel == "pos"))
    earned = shop.earn({"id": str(sale_id)}).json()
    assert (earned["points"], earned["balance"]) == (11, 15)
    shop.post(f"pos/sessions/{till['id']}/close", {"counted": {"CASH": "11.00"}}, status=200)
    closing = shop.entry("PosSessionClosed")  # balanced
    assert closing["loyalty_liability"] == D("1.00") and closing["sales_revenue"] == D("-10.00")
    shop.check_liability()


def test_the_worked_example_of_the_docs(enrolled):
    """docs/coupons-and-loyalty.md, "points earned and burned, with the entries"."""
    shop = enrolled
    first = shop.order("2")  # 1. two mugs, 24.00, by card; fulfilled; 24 points
    shop.pay(first, "card", "24.00")
    shop.fulfil(first)
    shop.earn(first)
    assert shop.entry("LoyaltyPointsEarned") == {"loyalty_cost": D("1.20"), "loyalty_liability": D("-1.20")}
    assert (shop.account()["balance"], shop.balance("loyalty_liability")) == (24, D("-1.20"))
    mug = shop.order()  # 2. 1.00 in points (20)
    shop.pay(mug, "loyalty", "1.00")
    assert shop.entry("TenderAccepted") == {"loyalty_liability": D("1.00"), "customer_deposits": D("-1.00")}
    assert (shop.account()["balance"], shop.balance("loyalty_liability")) == (4, D("-0.20"))
    assert_problem(shop.pay(mug, "loyalty", "0.25", status=409), 409, "insufficient-balance")  # 3.
    shop.pay(mug, "card", "11.00")
    shop.fulfil(mug)  # 4. the rest by card; 11 points on the 11.00 paid in money
    assert shop.earn(mug).json()["points"] == 11
    assert shop.entry("LoyaltyPointsEarned") == {"loyalty_cost": D("0.55"), "loyalty_liability": D("-0.55")}
    assert (shop.account()["balance"], shop.balance("loyalty_liability")) == (15, D("-0.75"))
    shop.post(
        "loyalty/programme", {"points_per_unit": "1", "point_value": "0.10"}, status=200, method="put"
    )  # 5.
    assert shop.entry("LoyaltyLiabilityRevalued") == {
        "loyalty_cost": D("0.75"),
        "loyalty_liability": D("-0.75"),
    }
    assert shop.balance("loyalty_liability") == D("-1.50")
    movements = [(m["kind"], m["points"], m["balance_after"]) for m in shop.account()["movements"]]
    assert movements == [("earn", 24, 24), ("burn", -20, 4), ("earn", 11, 15)]
    shop.check_liability()


@pytest.mark.parametrize(
    ("amount", "rate", "rounding", "points"),
    [
        ("12.99", "1", "down", 12),
        ("12.50", "1", "half_up", 13),
        ("12.01", "1", "up", 13),
        ("12.99", "0.5", "down", 6),
        ("0.99", "1", "down", 0),
    ],
)
def test_points_are_whole_and_rounded_by_the_programme(amount, rate, rounding, points):
    assert points_for(D(amount), D(rate), rounding) == points


@pytest.mark.parametrize(
    "event_type", ["LoyaltyPointsEarned", "LoyaltyPointsReversed", "LoyaltyLiabilityRevalued"]
)
def test_loyalty_entries_are_refused_at_the_ledger_events_door(client, auth, shop, event_type):
    body = {
        "company_id": shop.company_id,
        "type": event_type,
        "payload": {"amount": "1.00", "direction": "up"},
    }
    refused = client.post(f"{API}/ledger/events", json=body, headers=auth("finance", company="ACME"))
    assert_problem(refused, 422, "balance-event-needs-its-flow", ("type",))
    assert "/loyalty/" in refused.json()["detail"]
