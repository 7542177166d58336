"""Exchanges at the till (issue 15, flow "exchange"): one ticket with refund lines and new sale lines,
settled together. The refund part is priced at the original line's share (after the counter claim), the
sale part is an order paid by the ``exchange`` tender up to that value; the customer pays or gets back
only the difference; ``refunds_payable`` carries the exchange and is back at zero after the close."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select
from test_pos_refunds_api import _batch, _close, _now, _open, _sale, _sold_line, shop  # noqa: F401

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.inventory.tables import StockMove
from retailcore.masterdata.tables import Company, Location
from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.pos.services import recompute_totals, running_totals, totals_as_dict
from retailcore.returns.tables import ReturnRow

D = Decimal


@pytest.fixture
def tea(shop, product_factory):  # noqa: F811
    """A second product, in stock at S1: 10 teas received at 2.00, sold at 6.00 (5.00 + 1.00 VAT)."""
    product = product_factory("TEA", category="Food", cost_method="average")
    company_id = uuid.UUID(shop["company"]["id"])
    store_id = uuid.UUID(shop["tills"]["S1"]["terminal"]["store_id"])
    with transaction(shop["runtime"].session_factory) as session:
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        stock = session.scalar(
            select(Location.id).where(Location.store_id == store_id, Location.kind == "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[MoveLine(uuid.UUID(product["id"]), D(10), supplier, stock, D("2.00"))],
            date=dt.date(2026, 3, 1),
        )
    return product


def _exchange(shop, tea, line_id, back="-1", teas=1, payments=(), **extra):  # noqa: F811
    """Coffees of ``line_id`` brought back (6.00 each at the original share), teas taken at 6.00."""
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [
            {
                "product_id": shop["product"]["id"],
                "quantity": back,
                "unit_price": "6.30",
                "refund_of": line_id,
                "reason": "changed_mind",
            },
            {"product_id": tea["id"], "quantity": teas, "unit_price": "6.00"},
        ],
        "payments": list(payments),
        **extra,
    }


def _stock(shop, product):  # noqa: F811
    store_id = uuid.UUID(shop["tills"]["S1"]["terminal"]["store_id"])
    with shop["runtime"].session_factory() as session:
        location = session.scalar(
            select(Location.id).where(Location.store_id == store_id, Location.kind == "stock")
        )
        moved = session.execute(
            select(StockMove.quantity, StockMove.from_location_id, StockMove.to_location_id).where(
                StockMove.product_id == uuid.UUID(product["id"])
            )
        ).all()
    return sum((D(q) if to == location else -D(q) for q, frm, to in moved if location in (frm, to)), D(0))


def _exchange_order(shop, exchange):  # noqa: F811
    with shop["runtime"].session_factory() as session:
        order = session.scalar(
            select(OrderRow).where(OrderRow.client_uuid == uuid.UUID(exchange["client_uuid"]))
        )
        payments = session.execute(
            select(OrderPaymentRow.kind, OrderPaymentRow.captured)
            .where(OrderPaymentRow.order_id == order.id)
            .order_by(OrderPaymentRow.position)
        ).all()
        back = session.scalar(
            select(ReturnRow).where(ReturnRow.number == uuid.UUID(exchange["client_uuid"]).hex)
        )
        return order, [(kind, D(amount)) for kind, amount in payments], back


def test_an_even_exchange_pays_nothing_and_the_close_nets_refunds_payable_to_zero(
    client,
    admin,
    shop,  # noqa: F811
    tea,
):
    session = _open(client, shop)
    assert _batch(client, shop, session, _sale(shop)).status_code == 200  # 2 coffees, 12.00 cash
    line_id = _sold_line(client, admin)
    exchange = _exchange(shop, tea, line_id)  # a coffee (6.00) for a tea (6.00)
    taken = _batch(client, shop, session, exchange)
    assert taken.status_code == 200, taken.text
    assert taken.json()["accepted"] == 1
    assert shop["returned"](line_id) == (D(1), D(1))
    assert (_stock(shop, shop["product"]), _stock(shop, tea)) == (D(9), D(9))
    order, payments, back = _exchange_order(shop, exchange)
    assert (order.gross_total, order.change_given, payments) == (D("6.00"), D(0), [("exchange", D("6.00"))])
    assert (back.channel, back.status, back.refunded_total, back.number) == (
        "pos",
        "refunded",
        D("6.00"),
        uuid.UUID(exchange["client_uuid"]).hex,
    )
    assert order.number == f"{back.note.split()[-1]}"  # one ticket, one number
    shown = client.get(f"{API}/orders/{order.id}", headers=admin).json()
    assert [(p["kind"], p["payment_method_code"], p["captured"]) for p in shown["payments"]] == [
        ("exchange", None, "6.00")
    ]
    report = client.get(f"{API}/returns/report?by=reason", headers=admin).json()["items"]
    assert [(row["key"], row["refunded_net"], row["refunded_tax"]) for row in report] == [
        ("changed_mind", "5.00", "1.00")
    ]

    again = _batch(client, shop, session, exchange)  # resent: taken once
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 1)
    assert shop["returned"](line_id) == (D(1), D(1))
    with shop["runtime"].session_factory() as db:
        sale_totals = totals_as_dict(running_totals(db, uuid.UUID(session["id"])))
        rebuilt = recompute_totals(db, uuid.UUID(session["id"]))
        assert sale_totals[("tender", "exchange|")]["amount"] == D("6.00")
        assert sale_totals[("tender", "refund:exchange|")]["amount"] == D("6.00")
        assert rebuilt[("tender", "exchange|")]["amount"] == D("6.00")

    closed = _close(client, shop, session, {"CASH": "62.00"})  # 50 float + 12.00: the exchange moves no cash
    assert (closed["expected_cash"], closed["cash_difference"]) == ("62.00", "0.00")
    balance = shop["balance"]
    assert balance("refunds_payable") == 0
    assert balance("sales_revenue") == D("-15.00")  # 10.00 coffee + 5.00 tea
    assert balance("sales_returns") == D("5.00")
    assert balance("output_tax") == D("-2.00")  # 2.00 + 1.00 sold, 1.00 back
    assert balance("cash_drawer") == 0
    assert balance("cogs") == D("3.50")  # 3.00 coffee - 1.50 back + 2.00 tea
    assert balance("inventory") == D("31.50")  # 15.00 + 20.00 received - 3.50


def test_the_customer_pays_the_difference_in_cash_with_change_or_by_card(
    client,
    admin,
    shop,  # noqa: F811
    tea,
):
    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    # A coffee (6.00) for two teas (12.00): 6.00 due, 10.00 in cash, 4.00 change.
    cash = _exchange(
        shop, tea, line_id, teas=2, payments=[{"payment_method_code": "CASH", "amount": "10.00"}]
    )
    card = _exchange(shop, tea, line_id, teas=2, payments=[{"payment_method_code": "CARD", "amount": "6.00"}])
    short = _exchange(
        shop, tea, line_id, teas=2, payments=[{"payment_method_code": "CARD", "amount": "5.00"}]
    )
    refused = _batch(client, shop, session, short)
    assert_problem(refused, 422, "payment-short")
    assert refused.json()["errors"][0]["field"] == "sales.0.payments"
    assert shop["returned"](line_id) == (D(0), D(0))  # the claim went with the refused batch
    over = _exchange(shop, tea, line_id, teas=2, payments=[{"payment_method_code": "CARD", "amount": "7.00"}])
    assert_problem(_batch(client, shop, session, over), 422, "overpaid")
    taken = _batch(client, shop, session, cash, card)
    assert taken.status_code == 200, taken.text
    order, payments, _ = _exchange_order(shop, cash)
    assert (order.gross_total, order.change_given) == (D("12.00"), D("4.00"))
    assert payments == [("cash", D("6.00")), ("exchange", D("6.00"))]
    assert _exchange_order(shop, card)[1] == [("card", D("6.00")), ("exchange", D("6.00"))]
    assert shop["returned"](line_id) == (D(2), D(2))
    assert (_stock(shop, shop["product"]), _stock(shop, tea)) == (D(10), D(6))

    closed = _close(client, shop, session, {"CASH": "68.00", "CARD": "6.00"})  # 50 + 12.00 + 6.00
    assert (closed["expected_cash"], closed["cash_difference"]) == ("68.00", "0.00")
    assert closed["differences"] == {"card|stripe": "0.00", "cash|": "0.00"}
    balance = shop["balance"]
    assert balance("refunds_payable") == 0
    assert balance("card_clearing") == D("6.00")
    assert balance("sales_revenue") == D("-30.00")  # 10.00 coffee + 4 teas at 5.00
    assert balance("sales_returns") == D("10.00")
    assert balance("output_tax") == D("-4.00")  # 2.00 + 4.00 - 2.00
    assert balance("cogs") == D("8.00")  # 3.00 - 3.00 back + 4 teas at 2.00


def test_the_customer_gets_the_difference_back_exactly(
    client,
    admin,
    shop,  # noqa: F811
    tea,
):
    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    # Two coffees (12.00) for a tea (6.00): 6.00 paid out, exactly.
    wrong = _exchange(
        shop, tea, line_id, back="-2", payments=[{"payment_method_code": "CASH", "amount": "5.00"}]
    )
    refused = _batch(client, shop, session, wrong)
    assert_problem(refused, 422, "refund-tenders-mismatch")
    assert "6.00" in refused.json()["errors"][0]["detail"]
    invoiced = _exchange(
        shop,
        tea,
        line_id,
        back="-2",
        payments=[{"payment_method_code": "CASH", "amount": "6.00"}],
        invoice=True,
    )
    assert_problem(_batch(client, shop, session, invoiced), 422, "sale-refused")
    exchange = _exchange(
        shop, tea, line_id, back="-2", payments=[{"payment_method_code": "CASH", "amount": "6.00"}]
    )
    taken = _batch(client, shop, session, exchange)
    assert taken.status_code == 200, taken.text
    order, payments, back = _exchange_order(shop, exchange)
    assert (order.gross_total, payments, back.refunded_total) == (
        D("6.00"),
        [("exchange", D("6.00"))],
        D("12.00"),
    )
    assert (_stock(shop, shop["product"]), _stock(shop, tea)) == (D(10), D(9))

    closed = _close(client, shop, session, {"CASH": "56.00"})  # 50 + 12.00 - 6.00 paid out
    assert (closed["expected_cash"], closed["cash_difference"]) == ("56.00", "0.00")
    balance = shop["balance"]
    assert balance("refunds_payable") == 0
    assert balance("cash_drawer") == 0
    assert balance("sales_revenue") == D("-15.00")
    assert balance("sales_returns") == D("10.00")
    assert balance("output_tax") == D("-1.00")  # 2.00 + 1.00 - 2.00


def test_an_exchange_that_gives_back_more_than_was_sold_is_refused_and_writes_nothing(
    client,
    admin,
    shop,  # noqa: F811
    tea,
):
    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    cashier = shop["tills"]["S1"]["cashier"]
    before = client.get(f"{API}/pos/sessions/{session['id']}", headers=cashier).json()
    refused = _batch(client, shop, session, _exchange(shop, tea, line_id, back="-3"))
    assert_problem(refused, 409, "return-exceeds-sold")
    assert refused.json()["errors"][0]["field"] == "sales.0.lines.0.quantity"
    assert shop["returned"](line_id) == (D(0), D(0))
    assert (_stock(shop, shop["product"]), _stock(shop, tea)) == (D(8), D(10))
    after = client.get(f"{API}/pos/sessions/{session['id']}", headers=cashier).json()
    assert (after["sale_count"], after["totals"]) == (before["sale_count"], before["totals"])
    with shop["runtime"].session_factory() as db:
        assert db.scalar(select(func.count(OrderRow.id))) == 1
        assert db.scalar(select(func.count(ReturnRow.id))) == 0


def test_the_difference_given_back_can_go_onto_a_gift_card(
    client,
    admin,
    shop,  # noqa: F811
    tea,
):
    company_id = shop["company"]["id"]
    method = {"company_id": company_id, "code": "GIFT", "name": "Gift card", "kind": "gift_card"}
    assert client.post(f"{API}/payment-methods", json=method, headers=admin).status_code == 201
    code = client.post(
        f"{API}/gift-cards", json={"company_id": company_id, "amount": "5.00"}, headers=admin
    ).json()["code"]
    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    # Two coffees (12.00) for a tea (6.00): the 6.00 left goes onto the card.
    payout = {"payment_method_code": "GIFT", "amount": "6.00", "reference": code}
    taken = _batch(client, shop, session, _exchange(shop, tea, line_id, back="-2", payments=[payout]))
    assert taken.status_code == 200, taken.text
    assert client.get(f"{API}/gift-cards/{code}", headers=admin).json()["balance"] == "11.00"
    closed = _close(client, shop, session, {"CASH": "62.00"})  # no cash left the drawer
    assert closed["cash_difference"] == "0.00"
    balance = shop["balance"]
    assert balance("refunds_payable") == 0
    assert balance("gift_card_liability") == D("-11.00")  # 5.00 sold + 6.00 paid out onto it
    assert balance("sales_returns") == D("10.00")
