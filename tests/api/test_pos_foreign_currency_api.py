"""A till selling in a foreign currency (issue 20, decision 0059, docs/pos.md#foreign-currency-tills): the
session fixes the day's rate when it opens; sales, tenders, totals and counts are in its currency; the
close is booked at the session's rate (amounts in both currencies, tax bases too), its cost of sales in
the company's currency."""

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
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

D = Decimal
TODAY = dt.datetime.now(dt.UTC).date()


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
        ("payment-methods", {"code": "GIFT", "name": "Gift card", "kind": "gift_card"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    product = product_factory("COFFEE", category="Drinks", cost_method="average")
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        stock = session.scalar(
            select(Location.id).where(Location.store_id == uuid.UUID(store["id"]), Location.kind == "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[MoveLine(uuid.UUID(product["id"]), D(10), supplier, stock, D("1.50"))],
            date=TODAY - dt.timedelta(days=30),
        )
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Dollar till", "currency": "USD"},
        headers=manager,
    )
    assert terminal.status_code == 201, terminal.text

    def set_rate(day, rate):
        with transaction(runtime.session_factory) as session:
            session.add(a.ExchangeRate(company_id=company_id, currency="USD", rate_date=day, rate=D(rate)))

    def lines(role):
        """(currency, amount_currency, debit - credit, tax_base) of the role's journal lines, summed."""
        with runtime.session_factory() as session:
            row = session.execute(
                select(
                    a.JournalLine.currency,
                    func.sum(a.JournalLine.amount_currency),
                    func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit),
                    func.sum(a.JournalLine.tax_base),
                )
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, Account.role == role)
                .group_by(a.JournalLine.currency)
            ).all()
            return [tuple(r) for r in row]

    return {
        "product": product,
        "terminal": terminal.json(),
        "cashier": auth("cashier", company="ACME", store="S1"),
        "set_rate": set_rate,
        "lines": lines,
    }


def _sale(shop, quantity, *payments, **extra):
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(),
        "lines": [{"product_id": shop["product"]["id"], "quantity": quantity, "unit_price": "12.00"}],
        "payments": [{"payment_method_code": code, "amount": amount} for code, amount in payments],
        **extra,
    }


def _open(client, shop):
    return client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": shop["terminal"]["id"], "opening_float": "100.00"},
        headers=shop["cashier"],
    )


def test_a_dollar_session_sells_and_closes_in_dollars_booked_in_euros_at_its_rate(client, admin, shop):
    assert shop["terminal"]["currency"] == "USD"
    refused = _open(client, shop)  # no USD rate yet
    assert_problem(refused, 422, "no-exchange-rate")
    assert refused.json()["errors"][0]["field"] == "terminal_id"

    shop["set_rate"](TODAY - dt.timedelta(days=1), "0.9")  # 0.90 EUR per USD
    opened = _open(client, shop)
    assert opened.status_code == 201, opened.text
    session = opened.json()
    assert (session["currency"], session["rate"]) == ("USD", "0.90")
    batch = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={
            "sales": [
                # 2 x 12.00 USD (VAT included): 20.00 net + 4.00 VAT, 30.00 cash given, 6.00 back.
                _sale(shop, "2", ("CASH", "30.00")),
                # 1 x 12.00 USD by card: 10.00 net + 2.00 VAT.
                _sale(shop, "1", ("CARD", "12.00")),
            ]
        },
        headers=shop["cashier"],
    )
    assert batch.status_code == 200, batch.text
    orders = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]
    assert {o["currency"] for o in orders} == {"USD"}
    running = client.get(f"{API}/pos/sessions/{session['id']}", headers=shop["cashier"]).json()
    assert running["expected_cash"] == "124.00"  # USD: 100.00 float + 24.00
    assert {(t["kind"], t["key"]): t["tax_base"] for t in running["totals"] if t["kind"] == "tax"} == {
        ("tax", "VAT20"): "30.00"
    }

    shop["set_rate"](TODAY, "0.8")  # today's rate moves: the session keeps its own
    moved = client.post(
        f"{API}/pos/sessions/{session['id']}/cash-movements",
        json={"direction": "out", "amount": "20.00", "reason": "to the safe"},
        headers=shop["cashier"],
    )
    assert moved.status_code == 201, moved.text
    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "104.00", "CARD": "12.00"}},
        headers=shop["cashier"],
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["expected_cash"], closed.json()["cash_difference"]) == ("104.00", "0.00")

    lines = shop["lines"]
    assert lines("sales_revenue") == [("USD", D("-30.00"), D("-27.00"), None)]
    assert lines("output_tax") == [("USD", D("-6.00"), D("-5.40"), D("27.00"))]  # base 30.00 USD
    assert lines("card_clearing") == [("USD", D("12.00"), D("10.80"), None)]
    # Float in (100.00), the sales' cash (24.00), 20.00 out, the count to the safe (104.00): all at 0.90.
    assert lines("cash_drawer") == [("USD", D("0.00"), D("0.00"), None)]
    assert lines("cash_in_transit") == [("USD", D("24.00"), D("21.60"), None)]
    # The cost of the 3 coffees sold, in euros, in its own entry.
    assert lines("cogs") == [("EUR", D("4.50"), D("4.50"), None)]


def test_a_dollar_till_takes_cash_and_cards_only(client, shop):
    shop["set_rate"](TODAY - dt.timedelta(days=1), "0.9")
    session = _open(client, shop).json()
    refused = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": [_sale(shop, "1", ("GIFT", "12.00"), **{"payments": [
            {"payment_method_code": "GIFT", "amount": "12.00", "reference": "GC-00000001"}
        ]})]},
        headers=shop["cashier"],
    )  # fmt: skip
    assert_problem(refused, 422, "sale-refused")
    assert refused.json()["errors"][0]["field"] == "sales.0.payments.0.payment_method_code"


def test_a_dollar_refund_at_the_dollar_till_is_booked_at_the_sessions_rate(client, admin, shop):
    shop["set_rate"](TODAY - dt.timedelta(days=1), "0.9")
    session = _open(client, shop).json()
    batch = f"{API}/pos/sessions/{session['id']}/sales:batch"
    sold = client.post(batch, json={"sales": [_sale(shop, "1", ("CASH", "12.00"))]}, headers=shop["cashier"])
    assert sold.status_code == 200, sold.text
    line_id = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"][0]["lines"][0]["id"]
    refund = _sale(shop, "-1", ("CASH", "12.00"))
    refund["lines"][0]["refund_of"] = line_id
    taken = client.post(batch, json={"sales": [refund]}, headers=shop["cashier"])
    assert taken.status_code == 200, taken.text
    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "100.00"}},
        headers=shop["cashier"],
    )
    assert closed.status_code == 200, closed.text
    lines = shop["lines"]
    assert lines("sales_returns") == [("USD", D("10.00"), D("9.00"), None)]
    assert lines("sales_revenue") == [("USD", D("-10.00"), D("-9.00"), None)]
    # 2.00 USD out and back; each line keeps its base (10.00 USD, 9.00 EUR), the sale's and the return's
    assert lines("output_tax") == [("USD", D("0.00"), D("0.00"), D("18.00"))]
    assert lines("cash_drawer") == [("USD", D("0.00"), D("0.00"), None)]
    assert lines("cogs") == []  # out and back at the same cost: nothing to post
