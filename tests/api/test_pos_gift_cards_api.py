"""Gift cards sold at the till (issue 15): a ticket's ``gift_cards`` are issued when the batch is taken,
paid by the ticket's tenders, never revenue (no tax: a multi-purpose voucher); the liability moves at
the session's close (``gift_cards_sold``). A drawn code is answered once, in the batch's answer.

The shop of ``test_gift_cards_api``: VAT 20 % included, MUG at 12.00 (10.00 + 2.00 VAT).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from apitools import API, assert_problem
from sqlalchemy import func, select
from test_gift_cards_api import SOLD_AT, _sale, shop  # noqa: F401

from retailcore.payments.tables import GiftCard

D = Decimal


def _ticket(shop, payments, cards, lines=True):  # noqa: F811
    sale = _sale(shop.mug, payments) if lines else {"client_uuid": str(uuid.uuid4()), "sold_at": SOLD_AT}
    return {**sale, "payments": payments, "gift_cards": cards}


def _cards(runtime) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(GiftCard))


def test_a_card_sold_at_the_till_is_a_liability_redeemed_later_at_the_till_and_on_the_web(
    shop,  # noqa: F811
    runtime,
):
    till = shop.till()  # float 0.00
    # A mug (12.00) and a 50.00 card, 70.00 in cash: 8.00 change.
    ticket = _ticket(shop, [{"payment_method_code": "CASH", "amount": "70.00"}], [{"amount": "50.00"}])
    answer = shop.batch(till, [ticket]).json()
    (sold,) = answer["gift_cards"]
    code = sold["code"]
    assert len(code) == 19 and sold["last4"] == code[-4:]
    assert (sold["client_uuid"], sold["position"], sold["amount"]) == (ticket["client_uuid"], 0, "50.00")
    card = shop.card(code)
    assert (card["balance"], card["origin"], card["expires_on"]) == ("50.00", "sold", sold["expires_on"])
    order = shop.get("orders", channel="pos")["items"][0]
    assert (order["gross_total"], order["change_given"]) == ("12.00", "8.00")  # the card is not goods

    again = shop.batch(till, [ticket]).json()  # resent: taken once, the code not shown again
    assert (again["accepted"], again["duplicates"], again["gift_cards"]) == (0, 1, [])
    assert _cards(runtime) == 1

    # Redeemed at the till: a mug paid by the card.
    shop.batch(
        till, [_sale(shop.mug, [{"payment_method_code": "GIFT", "amount": "12.00", "reference": code}])]
    )
    assert shop.card(code)["balance"] == "38.00"

    closed = shop.post(f"pos/sessions/{till['id']}/close", {"counted": {"CASH": "62.00"}}, status=200)
    assert (closed["expected_cash"], closed["cash_difference"]) == ("62.00", "0.00")
    closing = shop.entry("PosSessionClosed")
    assert closing["gift_card_liability"] == D("-38.00")  # 50.00 sold, 12.00 redeemed
    assert closing["sales_revenue"] == D("-20.00")  # two mugs, never the card
    assert closing["output_tax"] == D("-4.00")
    assert sum(closing.values()) == 0
    assert shop.balance("gift_card_liability") == -D(shop.card(code)["balance"])

    # Redeemed on the web.
    shop.pay(shop.web_order("1"), "gift_card", "12.00", code)
    assert shop.card(code)["balance"] == "26.00"
    assert shop.balance("gift_card_liability") == D("-26.00")
    assert shop.balance("sales_revenue") == D("-20.00")


def test_a_scanned_card_keeps_its_code_and_a_card_never_pays_a_card(shop, runtime):  # noqa: F811
    till = shop.till()
    printed = "PHYS-0000-ABCD-7788"
    only_a_card = _ticket(
        shop,
        [{"payment_method_code": "CARD", "amount": "25.00"}],
        [{"amount": "25.00", "code": printed}],
        False,
    )
    (sold,) = shop.batch(till, [only_a_card]).json()["gift_cards"]
    assert (sold["code"], sold["last4"], sold["amount"]) == (None, "7788", "25.00")
    assert shop.card("phys0000abcd7788")["balance"] == "25.00"  # as typed: case and dashes do not matter

    twice = _ticket(
        shop,
        [{"payment_method_code": "CARD", "amount": "10.00"}],
        [{"amount": "10.00", "code": printed}],
        False,
    )
    refused = shop.batch(till, [twice], status=409)
    assert_problem(refused, 409, "gift-card-exists")
    assert refused.json()["errors"][0]["field"] == "sales.0.gift_cards.0.code"

    by_card = _ticket(
        shop,
        [{"payment_method_code": "GIFT", "amount": "20.00", "reference": printed}],
        [{"amount": "20.00"}],
        False,
    )
    refused = shop.batch(till, [by_card], status=422)
    assert_problem(refused, 422, "sale-refused")
    assert refused.json()["errors"][0]["field"] == "sales.0.payments"
    short = _ticket(shop, [{"payment_method_code": "CASH", "amount": "30.00"}], [{"amount": "20.00"}])
    assert_problem(shop.batch(till, [short], status=422), 422, "payment-short")  # 12.00 + 20.00 due
    invoiced = {**_ticket(shop, [], [{"amount": "20.00"}]), "invoice": True, "customer_id": shop.customer}
    assert_problem(shop.batch(till, [invoiced], status=422), 422, "sale-refused")
    nothing = {"client_uuid": str(uuid.uuid4()), "sold_at": SOLD_AT, "payments": []}
    assert shop.batch(till, [nothing], status=422).status_code == 422
    assert _cards(runtime) == 1
    assert shop.card(printed)["balance"] == "25.00"

    closed = shop.post(
        f"pos/sessions/{till['id']}/close", {"counted": {"CASH": "0.00", "CARD": "25.00"}}, status=200
    )
    assert closed["differences"] == {"card|stripe": "0.00", "cash|": "0.00"}
    assert shop.entry("PosSessionClosed") == {"card_clearing": D("25.00"), "gift_card_liability": D("-25.00")}
    assert shop.balance("gift_card_liability") == D("-25.00")


def test_a_replayed_batch_answer_never_shows_a_drawn_code_again(shop, client, admin):  # noqa: F811
    till = shop.till()
    ticket = _ticket(shop, [{"payment_method_code": "CASH", "amount": "10.00"}], [{"amount": "10.00"}], False)
    headers = {**admin, "Idempotency-Key": str(uuid.uuid4())}
    first = client.post(
        f"{API}/pos/sessions/{till['id']}/sales:batch", json={"sales": [ticket]}, headers=headers
    )
    replay = client.post(
        f"{API}/pos/sessions/{till['id']}/sales:batch", json={"sales": [ticket]}, headers=headers
    )
    assert first.status_code == replay.status_code == 200, replay.text
    code = first.json()["gift_cards"][0]["code"]
    assert code and shop.card(code)["balance"] == "10.00"
    assert replay.json()["gift_cards"][0]["code"] is None
    assert replay.json()["gift_cards"][0]["card_id"] == first.json()["gift_cards"][0]["card_id"]
