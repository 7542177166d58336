"""Cash rounding at the till (issue 20, decision 0059, docs/pos.md#cash-rounding): a cash ticket settled
at its total rounded to the company's increment, a card paying that rounded total accepted, a cash refund
paid out rounded, the till's rounding checked, the differences posted to ``rounding`` at the close; and an
open session's ``expected_cash`` read over the API."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.accounting import tables as a
from retailcore.masterdata.tables import Account
from retailcore.orders.tables import OrderRow
from retailcore.pos.services import recompute_totals
from retailcore.pos.tables import PosSessionTotal

D = Decimal


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory, product_factory):
    store = store_factory("S1")
    for path, body in (
        (
            "tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "standard",
                "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}],
            },
        ),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    product = product_factory("COFFEE", category="Drinks")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    ).json()
    company_id = uuid.UUID(company["id"])

    def balance(role):
        with runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, Account.role == role)
            )
            return total if total is not None else D(0)

    def totals(session_id, kind):
        with runtime.session_factory() as session:
            return {
                row.key: row.amount
                for row in session.scalars(
                    select(PosSessionTotal).where(
                        PosSessionTotal.session_id == uuid.UUID(session_id), PosSessionTotal.kind == kind
                    )
                )
            }

    def orders():
        with runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(OrderRow))

    return {
        "product": product,
        "terminal": terminal,
        "cashier": auth("cashier", company="ACME", store="S1"),
        "finance": auth("finance", company="ACME"),
        "balance": balance,
        "totals": totals,
        "orders": orders,
        "runtime": runtime,
    }


def _now():
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()


def _sale(shop, price, *payments, rounding=None, quantity="1", **line):
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [{"product_id": shop["product"]["id"], "quantity": quantity, "unit_price": price, **line}],
        "payments": [{"payment_method_code": code, "amount": amount} for code, amount in payments],
    }
    if rounding is not None:
        sale["rounding"] = rounding
    return sale


def _open(client, shop):
    response = client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": shop["terminal"]["id"], "opening_float": "50.00"},
        headers=shop["cashier"],
    )
    assert response.status_code == 201, response.text
    return response.json()


def _batch(client, shop, session, *sales):
    return client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": list(sales)},
        headers=shop["cashier"],
    )


def _set_rounding(client, shop, increment="0.05", mode="half_up"):
    response = client.put(
        f"{API}/pos/cash-rounding", json={"increment": increment, "mode": mode}, headers=shop["finance"]
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_setting_is_read_and_written_by_finance(client, shop):
    assert client.get(f"{API}/pos/cash-rounding", headers=shop["finance"]).status_code == 404
    assert _set_rounding(client, shop)["increment"] == "0.05"
    assert client.get(f"{API}/pos/cash-rounding", headers=shop["cashier"]).json()["mode"] == "half_up"
    refused = client.put(f"{API}/pos/cash-rounding", json={"increment": "0.05"}, headers=shop["cashier"])
    assert refused.status_code == 403
    finer = client.put(f"{API}/pos/cash-rounding", json={"increment": "0.005"}, headers=shop["finance"])
    assert_problem(finer, 422)
    assert finer.json()["errors"][0]["field"] == "increment"
    assert _set_rounding(client, shop, "0.10", "down")["mode"] == "down"


def test_cash_and_card_tickets_and_a_cash_refund_are_rounded_and_the_close_posts_the_differences(
    client, admin, shop
):
    _set_rounding(client, shop)  # 0.05, half-up
    session = _open(client, shop)
    taken = _batch(
        client,
        shop,
        session,
        # A: 10.02 (8.35 net + 1.67 VAT) in cash: settled at 10.00, 20.00 given, 10.00 back. -0.02
        _sale(shop, "10.02", ("CASH", "20.00"), rounding="-0.02"),
        # B: 10.04 (8.37 + 1.67) by card at the rounded 10.05: not an overpayment. +0.01
        _sale(shop, "10.04", ("CARD", "10.05")),
        # C: 10.02 by card at the rounded 10.00: not an underpayment. -0.02
        _sale(shop, "10.02", ("CARD", "10.00")),
        # D: 10.03 by card, exactly: not rounded.
        _sale(shop, "10.03", ("CARD", "10.03"), rounding="0"),
    )
    assert taken.status_code == 200, taken.text
    assert shop["totals"](session["id"], "rounding") == {"": D("-0.03")}
    with shop["runtime"].session_factory() as db:  # an audit's rebuild from the orders finds the same
        assert recompute_totals(db, uuid.UUID(session["id"]))[("rounding", "")]["amount"] == D("-0.03")

    # An open session's expected cash is read over the API: 50.00 float + 10.00.
    opened = client.get(f"{API}/pos/sessions/{session['id']}", headers=shop["cashier"]).json()
    assert (opened["state"], opened["expected_cash"]) == ("open", "60.00")

    orders = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]
    first = next(o for o in orders if o["payments"][0]["kind"] == "cash")
    assert (first["gross_total"], first["change_given"], first["paid_amount"]) == ("10.02", "10.00", "10.00")
    # Refund A's coffee: 10.02 at the original prices, paid out 10.00 in cash. +0.02
    refund = _sale(shop, "10.02", ("CASH", "10.00"), quantity="-1", refund_of=first["lines"][0]["id"])
    taken = _batch(client, shop, session, refund)
    assert taken.status_code == 200, taken.text
    assert shop["totals"](session["id"], "rounding") == {"": D("-0.03"), "refund:": D("0.02")}
    opened = client.get(f"{API}/pos/sessions/{session['id']}", headers=shop["cashier"]).json()
    assert opened["expected_cash"] == "50.00"

    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "50.00", "CARD": "30.08"}},
        headers=shop["cashier"],
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["expected_cash"], closed.json()["cash_difference"]) == ("50.00", "0.00")
    balance = shop["balance"]
    assert balance("sales_revenue") == D("-33.43")  # 8.35 + 8.37 + 8.35 + 8.36 (10.03: 8.36 + 1.67)
    assert balance("card_clearing") == D("30.08")  # 10.05 + 10.00 + 10.03
    assert balance("sales_returns") == D("8.35")
    # The close debits 0.03 (the tickets took less than the goods), the refunds credit 0.02.
    assert balance("rounding") == D("0.01")
    assert balance("cash_drawer") == 0


def test_a_wrong_rounding_or_an_unrounded_cash_payment_refuses_the_batch_and_writes_nothing(client, shop):
    _set_rounding(client, shop)
    session = _open(client, shop)
    wrong = _batch(client, shop, session, _sale(shop, "10.02", ("CASH", "10.00"), rounding="-0.03"))
    assert_problem(wrong, 422, "rounding-mismatch")
    assert wrong.json()["errors"][0]["field"] == "sales.0.rounding"
    short = _batch(client, shop, session, _sale(shop, "10.03", ("CASH", "10.03")))
    assert_problem(short, 422, "payment-short")  # 10.03 in cash is settled at 10.05
    assert shop["orders"]() == 0
    assert shop["totals"](session["id"], "rounding") == {}


def test_without_the_setting_nothing_is_rounded(client, shop):
    session = _open(client, shop)
    short = _batch(client, shop, session, _sale(shop, "10.02", ("CASH", "10.00")))
    assert_problem(short, 422, "payment-short")
    wrong = _batch(client, shop, session, _sale(shop, "10.02", ("CASH", "10.02"), rounding="-0.02"))
    assert_problem(wrong, 422, "rounding-mismatch")
    assert (
        _batch(client, shop, session, _sale(shop, "10.02", ("CASH", "10.02"), rounding="0")).status_code
        == 200
    )
    assert shop["totals"](session["id"], "rounding") == {}
