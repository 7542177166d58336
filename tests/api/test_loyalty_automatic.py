# ruff: noqa: F811  (the fixtures of test_loyalty_api are imported, then named as parameters)
"""Loyalty points earned and taken back without anyone asking (decision 0056): a web order earns when it
is delivered, a POS sale at its session's close (in bulk), and refunds take points back in proportion to
the goods refunded, never below zero. The explicit endpoints never double the automatic path. Every step
checks the ledger: loyalty_liability is the points outstanding x the point value, every entry balances.

The shop of ``test_loyalty_api``: EUR, VAT 20 % included, MUG at 12.00, a point per euro paid (rounded
down), worth 0.05.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from apitools import API
from sqlalchemy import func, select
from test_loyalty_api import enrolled, shop  # noqa: F401  (fixtures)

from retailcore.eventlog.tables import Event
from retailcore.loyalty.automatic import reversal_target
from retailcore.orders.tables import OrderRow

D = Decimal


def _events(runtime, event_type):
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.type == event_type))


def _return(shop, client, admin, order, quantity):
    body = {
        "company_id": shop.company_id,
        "order_id": order["id"],
        "store_id": "S1",
        "reason": "wrong_size",
        "lines": [
            {"order_line_id": order["lines"][0]["id"], "quantity": quantity, "condition": "resaleable"}
        ],
    }
    asked = client.post(f"{API}/returns", json=body, headers=admin)
    assert asked.status_code == 201, asked.text
    ret = asked.json()
    assert client.post(f"{API}/returns/{ret['id']}/receive", headers=admin).status_code == 200
    refunded = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)
    assert refunded.status_code == 200, refunded.text
    return refunded.json()


def test_a_web_order_earns_when_it_is_delivered_in_full_and_the_endpoint_does_not_earn_twice(
    enrolled, client, admin, runtime
):
    shop = enrolled
    order = shop.order("2")  # 24.00
    shop.pay(order, "card", "24.00")
    half = client.post(
        f"{API}/orders/{order['id']}/fulfillments",
        json={"lines": [{"line_id": order["lines"][0]["id"], "quantity": "1"}]},
        headers=admin,
    )
    assert half.status_code == 200, half.text
    assert half.json()["state"] != "fulfilled"
    assert shop.account()["balance"] == 0  # a partial delivery earns nothing yet
    shop.fulfil(order)  # the rest: the order is delivered, 24 points
    account = shop.account()
    assert account["balance"] == 24
    assert [(m["kind"], m["points"]) for m in account["movements"]] == [("earn", 24)]
    assert shop.entry("LoyaltyPointsEarned") == {"loyalty_cost": D("1.20"), "loyalty_liability": D("-1.20")}
    again = shop.earn(order).json()  # the explicit endpoint answers the automatic earning
    assert (again["points"], again["balance"]) == (24, 24)
    assert _events(runtime, "LoyaltyPointsEarned") == 1
    assert shop.check_liability() == 24


def test_a_customer_not_enrolled_or_no_programme_delivers_without_points(shop, client, admin, runtime):
    order = shop.order(customer=shop.ben)  # no programme, Ben not enrolled: the delivery still goes through
    shop.pay(order, "card", "12.00")
    shop.fulfil(order)
    assert _events(runtime, "LoyaltyPointsEarned") == 0


def test_refunds_take_points_back_in_proportion_to_the_goods_returned(enrolled, client, admin, runtime):
    shop = enrolled
    order = shop.order("3")  # 36.00: 36 points
    shop.pay(order, "card", "36.00")
    shop.fulfil(order)
    assert shop.account()["balance"] == 36
    _return(shop, client, admin, order, "1")  # a third of the goods back: 12 points
    account = shop.account()
    assert account["balance"] == 24
    assert account["movements"][-1]["kind"] == "reverse" and account["movements"][-1]["points"] == -12
    assert shop.entry("LoyaltyPointsReversed") == {"loyalty_liability": D("0.60"), "loyalty_cost": D("-0.60")}
    shop.check_liability()
    # The explicit reversal takes back only what the refund left: 24, not 36.
    rest = shop.post("loyalty/reversals", {"order_id": order["id"]}, status=200)
    assert (rest["points"], rest["balance"]) == (-24, 0)
    _return(shop, client, admin, order, "2")  # the rest back: nothing more to take
    assert shop.account()["balance"] == 0
    assert _events(runtime, "LoyaltyPointsReversed") == 2
    assert shop.check_liability() == 0


def test_a_refund_takes_back_at_most_the_balance_and_the_shortfall_later(enrolled, client, admin):
    shop = enrolled
    order = shop.order("3")  # 36 points
    shop.pay(order, "card", "36.00")
    shop.fulfil(order)
    other = shop.order("3")
    shop.pay(other, "loyalty", "1.50")  # 30 points burned: 6 left
    shop.pay(other, "card", "34.50")
    assert shop.account()["balance"] == 6
    _return(shop, client, admin, order, "1")  # 12 owed, 6 held: 6 taken, never below zero
    assert shop.account()["balance"] == 0
    shop.fulfil(other)  # 34.50 paid in money: 34 points
    assert shop.account()["balance"] == 34
    _return(shop, client, admin, order, "1")  # 24 owed in all, 6 taken: 18 now
    account = shop.account()
    assert account["balance"] == 16
    assert [m["points"] for m in account["movements"] if m["kind"] == "reverse"] == [-6, -18]
    shop.check_liability()


def test_pos_sales_earn_at_the_close_in_bulk_once_and_refunds_at_a_later_close(
    enrolled, client, admin, runtime
):
    shop = enrolled
    shop.post("loyalty/accounts", {"customer_id": shop.ben})
    till = shop.till()
    shop.batch(
        till,
        [
            shop.sale([("CASH", "12.00")], customer=shop.anna),
            shop.sale([("CASH", "12.00")], customer=shop.anna),
            shop.sale([("CASH", "12.00")], customer=shop.ben),
            shop.sale([("CASH", "12.00")]),  # no customer
        ],
    )
    assert shop.account()["balance"] == 0  # nothing at the batch
    with runtime.session_factory() as session:  # Ben's sale earned by hand before the close
        ben_sale = session.scalar(select(OrderRow.id).where(OrderRow.customer_id == uuid.UUID(shop.ben)))
    assert shop.earn({"id": str(ben_sale)}).json()["points"] == 12
    closing = client.post(
        f"{API}/pos/sessions/{till['id']}/close",
        json={"counted": {"CASH": "48.00"}},
        headers=admin | {"Idempotency-Key": "close-1"},
    )
    assert closing.status_code == 200, closing.text
    assert shop.account()["balance"] == 24 and shop.account(shop.ben)["balance"] == 12
    assert shop.entry("LoyaltyPointsEarned") == {"loyalty_cost": D("1.20"), "loyalty_liability": D("-1.20")}
    assert _events(runtime, "LoyaltyPointsEarned") == 2  # Ben's by hand, the close's one for Anna's two
    replay = client.post(
        f"{API}/pos/sessions/{till['id']}/close",
        json={"counted": {"CASH": "48.00"}},
        headers=admin | {"Idempotency-Key": "close-1"},
    )
    assert replay.status_code == 200 and _events(runtime, "LoyaltyPointsEarned") == 2
    assert shop.account()["balance"] == 24
    shop.check_liability()

    # A refund of one of Anna's mugs at the next session: 12 points back at its close.
    shop.post("return-policy", {"company_id": shop.company_id, "cash_refunds_allowed": True}, status=200)
    with runtime.session_factory() as session:
        anna_sale = session.scalar(select(OrderRow.id).where(OrderRow.customer_id == uuid.UUID(shop.anna)))
    line_id = shop.get(f"orders/{anna_sale}")["lines"][0]["id"]
    second = shop.post("pos/sessions", {"terminal_id": till["terminal_id"], "opening_float": "20.00"})
    refund = shop.sale([("CASH", "12.00")])
    refund["lines"][0] |= {"quantity": "-1", "refund_of": line_id, "reason": "wrong_size"}
    shop.batch(second, [refund])
    assert shop.account()["balance"] == 24  # not at the batch
    shop.post(f"pos/sessions/{second['id']}/close", {"counted": {"CASH": "8.00"}}, status=200)
    account = shop.account()
    assert account["balance"] == 12 and account["movements"][-1]["points"] == -12
    shop.check_liability()


def test_the_reversal_target_is_proportional_rounded_half_up_and_capped():
    assert reversal_target(36, D("12.00"), D("36.00")) == 12
    assert reversal_target(10, D("5.00"), D("20.00")) == 3  # 2.5 -> 3
    assert reversal_target(10, D("40.00"), D("20.00")) == 10
    assert reversal_target(0, D("5.00"), D("20.00")) == 0
    assert reversal_target(10, D("5.00"), D("0")) == 0


def test_the_close_checklist_measures_the_points_liability(enrolled, client, admin, auth):
    shop = enrolled
    finance = auth("finance", company="ACME")
    period = dt.datetime.now(dt.UTC).strftime("%Y-%m")

    def loyalty_item():
        found = client.get(f"{API}/periods/{period}/close-checklist", headers=finance)
        assert found.status_code == 200, found.text
        [only] = [i for i in found.json()["items"] if i["code"] == "loyalty"]
        return only

    order = shop.order("2")  # 24 points, 1.20
    shop.pay(order, "card", "24.00")
    shop.fulfil(order)
    till = shop.till()
    shop.batch(till, [shop.sale([("POINTS", "1.00"), ("CASH", "11.00")], customer=shop.anna)])  # 20 burned
    found = loyalty_item()  # 4 points (0.20) and 1.00 burned at a till still open: the ledger holds 1.20
    assert found["status"] == "green"
    assert found["figures"] == {
        "ledger_liability": "1.20",
        "points_outstanding": 4,
        "point_value": "0.05",
        "outstanding_value": "0.20",
        "burned_at_open_tills": "1.00",
        "difference": "0.00",
    }
    shop.post(f"pos/sessions/{till['id']}/close", {"counted": {"CASH": "11.00"}}, status=200)
    found = loyalty_item()  # the close moved the 1.00 and earned the sale's 11 points (0.55)
    assert found["status"] == "green"
    assert (found["figures"]["ledger_liability"], found["figures"]["points_outstanding"]) == ("0.75", 15)
    by_hand = {
        "company_id": shop.company_id,
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "reference": "points by hand",
        "lines": [
            {"account_code": "6045", "debit": "0.30"},
            {"account_code": "2240", "credit": "0.30"},
        ],
    }
    assert client.post(f"{API}/journal-entries", json=by_hand, headers=finance).status_code == 201
    found = loyalty_item()
    assert found["status"] == "red"
    assert (found["figures"]["ledger_liability"], found["figures"]["difference"]) == ("1.05", "0.30")
    assert found["action"]
