"""Refunds at the till (issue 15, flow 1): refund lines in a POS batch, against an earlier sale's line
of any session or store, at the original line's prices and cost, on the returns context's counter."""

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
from retailcore.inventory.tables import StockMove
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.orders.tables import OrderRow
from retailcore.returns.tables import OrderLineReturn, ReturnRow

D = Decimal


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory, product_factory):
    stores = {code: store_factory(code) for code in ("S1", "S2")}
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
    product = product_factory("COFFEE", category="Drinks", cost_method="average")
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        stock = session.scalar(
            select(Location.id).where(
                Location.store_id == uuid.UUID(stores["S1"]["id"]), Location.kind == "stock"
            )
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[MoveLine(uuid.UUID(product["id"]), D(10), supplier, stock, D("1.50"))],
            date=dt.date(2026, 3, 1),
        )
    tills = {}
    for code, store in stores.items():
        manager = auth("store_manager", company="ACME", store=code)
        terminal = client.post(
            f"{API}/pos/terminals",
            json={"store_id": store["id"], "code": f"T{code}", "name": f"Till {code}"},
            headers=manager,
        ).json()
        tills[code] = {
            "terminal": terminal,
            "manager": manager,
            "cashier": auth("cashier", company="ACME", store=code),
        }

    def balance(role):
        with runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, Account.role == role)
            )
            return total if total is not None else D(0)

    def stock_at(store_code):
        with runtime.session_factory() as session:
            location = session.scalar(
                select(Location.id).where(
                    Location.store_id == uuid.UUID(stores[store_code]["id"]), Location.kind == "stock"
                )
            )
            quantity_in = session.scalar(
                select(func.coalesce(func.sum(StockMove.quantity), 0)).where(
                    StockMove.to_location_id == location
                )
            )
            quantity_out = session.scalar(
                select(func.coalesce(func.sum(StockMove.quantity), 0)).where(
                    StockMove.from_location_id == location
                )
            )
            return D(quantity_in) - D(quantity_out)

    def returned(line_id):
        with runtime.session_factory() as session:
            row = session.get(OrderLineReturn, uuid.UUID(line_id))
            return (row.returned_quantity, row.refunded_quantity) if row else (D(0), D(0))

    return {
        "company": company,
        "product": product,
        "tills": tills,
        "balance": balance,
        "stock_at": stock_at,
        "returned": returned,
        "runtime": runtime,
    }


def _now():
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()


def _open(client, shop, store="S1", opening_float="50.00"):
    till = shop["tills"][store]
    response = client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": till["terminal"]["id"], "opening_float": opening_float},
        headers=till["cashier"],
    )
    assert response.status_code == 201, response.text
    return response.json()


def _batch(client, shop, session, *sales, store="S1", headers=None):
    return client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": list(sales)},
        headers=headers or shop["tills"][store]["cashier"],
    )


def _sale(shop, method="CASH"):
    # 2 at 6.30 less 0.60: 12.00 gross, 10.00 net and 2.00 VAT (prices include VAT).
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [
            {"product_id": shop["product"]["id"], "quantity": 2, "unit_price": "6.30", "discount": "0.60"}
        ],
        "payments": [{"payment_method_code": method, "amount": "12.00"}],
    }


def _refund(shop, line_id, quantity="-1", paid="6.00", method="CASH", **line):
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [
            {
                "product_id": shop["product"]["id"],
                "quantity": quantity,
                "unit_price": "6.30",
                "refund_of": line_id,
                "reason": "wrong_size",
                **line,
            }
        ],
        "payments": [{"payment_method_code": method, "amount": paid}],
    }


def _sold_line(client, admin, method="cash"):
    orders = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]
    order = next(o for o in orders if o["payments"][0]["kind"] == method)
    return order["lines"][0]["id"]


def _close(client, shop, session, counted, store="S1"):
    response = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": counted},
        headers=shop["tills"][store]["cashier"],
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_refund_in_the_same_session_is_at_the_original_prices_and_cost_and_the_close_posts_it(
    client, admin, shop
):
    session = _open(client, shop)
    assert _batch(client, shop, session, _sale(shop)).status_code == 200
    line_id = _sold_line(client, admin)
    refund = _refund(shop, line_id)  # 1 of 2: half the discounted line, 5.00 net and 1.00 VAT
    taken = _batch(client, shop, session, refund)
    assert taken.status_code == 200, taken.text
    assert taken.json()["accepted"] == 1
    assert shop["returned"](line_id) == (D(1), D(1))
    assert shop["stock_at"]("S1") == D(9)  # 10 in, 2 sold, 1 back
    assert shop["balance"]("inventory") == D("15.00")  # out and back both wait for the close

    closed = _close(client, shop, session, {"CASH": "56.00"})  # 50 float + 12.00 - 6.00 paid out
    assert (closed["expected_cash"], closed["cash_difference"]) == ("56.00", "0.00")
    balance = shop["balance"]
    assert balance("sales_revenue") == D("-10.00")
    assert balance("sales_returns") == D("5.00")
    assert balance("output_tax") == D("-1.00")
    assert balance("cash_drawer") == 0
    assert balance("cogs") == D("1.50")
    assert balance("inventory") == D("13.50")

    report = client.get(f"{API}/returns/report?by=reason", headers=admin).json()["items"]
    assert [(row["key"], row["refunded_net"], row["refunded_tax"]) for row in report] == [
        ("wrong_size", "5.00", "1.00")
    ]
    cashier = client.get(f"{API}/returns/report?by=cashier", headers=admin).json()["items"]
    assert [(row["key"].split("-")[0], row["refunded_quantity"]) for row in cashier] == [
        ("token:cashier", "1.00")
    ]


def test_a_refund_records_its_cashier_and_the_cash_it_paid_out(client, admin, runtime, shop):
    """The return row carries the cashier who rang the refund up (the batch's, as its sales); the
    batch's event carries each refund's cash, which the anomaly features count per cashier."""
    session = _open(client, shop)
    assert _batch(client, shop, session, _sale(shop), _sale(shop, "CARD")).status_code == 200
    cash_line, card_line = _sold_line(client, admin, "cash"), _sold_line(client, admin, "card")
    in_cash, to_card = _refund(shop, cash_line), _refund(shop, card_line, method="CARD")
    assert _batch(client, shop, session, in_cash, to_card).status_code == 200
    with runtime.session_factory() as db:
        refunded_by = set(db.scalars(select(ReturnRow.created_by)))
        sold_by = set(db.scalars(select(OrderRow.created_by).where(OrderRow.channel == "pos")))
        ingested = select(Event).where(Event.type == "PosSalesIngested")
        events = db.scalars(ingested.order_by(Event.position)).all()
    assert refunded_by == sold_by and next(iter(sold_by)).startswith("token:cashier")
    assert [event.actor for event in events] == [*sold_by] * 2
    assert events[1].payload["refund_cash"] == {in_cash["client_uuid"]: "6.00"}  # the card refund: no cash
    assert "refund_cash" not in events[0].payload  # a batch of sales only


def test_a_refund_in_a_later_session_at_another_store_is_paid_to_the_card(client, admin, shop):
    first = _open(client, shop)
    assert _batch(client, shop, first, _sale(shop, "CARD")).status_code == 200
    _close(client, shop, first, {"CASH": "50.00", "CARD": "12.00"})
    line_id = _sold_line(client, admin, "card")
    later = _open(client, shop, store="S2", opening_float="20.00")
    refund = _refund(shop, line_id, quantity="-2", paid="12.00", method="CARD", condition="resaleable")
    taken = _batch(client, shop, later, refund, store="S2")
    assert taken.status_code == 200, taken.text
    assert shop["stock_at"]("S2") == D(2)
    closed = _close(client, shop, later, {"CASH": "20.00", "CARD": "0.00"}, store="S2")
    assert closed["cash_difference"] == "0.00"
    assert closed["differences"]["card|stripe"] == "12.00"  # counted 0 against 12.00 paid out
    assert shop["balance"]("sales_returns") == D("10.00")
    assert shop["balance"]("card_clearing") == 0  # 12.00 taken, 12.00 paid back
    assert shop["balance"]("inventory") == D("15.00")  # every unit back at 1.50
    by_store = client.get(f"{API}/returns/report?by=store", headers=admin).json()["items"]
    assert [row["key"] for row in by_store] == [shop["tills"]["S2"]["terminal"]["store_id"]]


def test_an_over_refund_is_refused_and_writes_nothing_and_returns_share_the_counter(client, admin, shop):
    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    refused = _batch(client, shop, session, _refund(shop, line_id, quantity="-3", paid="18.00"))
    assert_problem(refused, 409, "return-exceeds-sold")
    assert refused.json()["errors"][0]["field"] == "sales.0.lines.0.quantity"
    assert shop["returned"](line_id) == (D(0), D(0))
    assert shop["stock_at"]("S1") == D(8)

    returned = client.post(
        f"{API}/returns",
        json={
            "order_id": client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"][0]["id"],
            "store_id": "S1",
            "reason": "changed_mind",
            "lines": [{"order_line_id": line_id, "quantity": "1"}],
        },
        headers=admin,
    )
    assert returned.status_code == 201, returned.text
    both = _batch(client, shop, session, _refund(shop, line_id, quantity="-2", paid="12.00"))
    assert_problem(both, 409, "return-exceeds-sold")  # 2 sold, 1 claimed by /returns
    assert _batch(client, shop, session, _refund(shop, line_id)).status_code == 200
    assert shop["returned"](line_id) == (D(2), D(1))


def test_a_refund_of_an_unknown_line_or_paid_out_wrong_is_refused(client, shop):
    session = _open(client, shop)
    unknown = _batch(client, shop, session, _sale(shop), _refund(shop, str(uuid.uuid4())))
    assert_problem(unknown, 422, "unknown-order-line")
    assert unknown.json()["errors"][0]["field"] == "sales.1.lines.0.refund_of"
    assert (
        client.get(f"{API}/pos/sessions/{session['id']}", headers=shop["tills"]["S1"]["cashier"]).json()[
            "sale_count"
        ]
        == 0
    )


def test_a_refund_without_receipt_only_by_policy(client, admin, shop):
    session = _open(client, shop)
    no_receipt = _refund(shop, None, paid="6.30")
    refused = _batch(client, shop, session, no_receipt, headers=shop["tills"]["S1"]["manager"])
    assert_problem(refused, 422, "no-receipt-not-allowed")
    policy = client.post(
        f"{API}/return-policy",
        json={"company_id": shop["company"]["id"], "no_receipt_allowed": True},
        headers=admin,
    )
    assert policy.status_code in (200, 201), policy.text
    cashier = _batch(client, shop, session, no_receipt)
    assert_problem(cashier, 422, "no-receipt-not-allowed")  # by role: managers only
    taken = _batch(client, shop, session, no_receipt, headers=shop["tills"]["S1"]["manager"])
    assert taken.status_code == 200, taken.text
    assert shop["stock_at"]("S1") == D(11)
    report = client.get(f"{API}/returns/report?by=reason&no_receipt=true", headers=admin).json()["items"]
    assert [(row["refunded_net"], row["refunded_tax"]) for row in report] == [("5.25", "1.05")]


def test_a_resent_batch_with_a_refund_is_taken_once(client, admin, shop):
    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    refund = _refund(shop, line_id)
    first = _batch(client, shop, session, refund)
    again = _batch(client, shop, session, refund)
    assert (first.json()["accepted"], again.json()["accepted"], again.json()["duplicates"]) == (1, 0, 1)
    assert shop["returned"](line_id) == (D(1), D(1))
    assert shop["stock_at"]("S1") == D(9)
    with shop["runtime"].session_factory() as db:
        assert db.scalar(select(func.count(ReturnRow.id)).where(ReturnRow.channel == "pos")) == 1
    closed = _close(client, shop, session, {"CASH": "56.00"})
    assert closed["cash_difference"] == "0.00"


def test_goods_refunded_at_the_till_publish_their_availability(client, admin, shop):
    """Resaleable goods back on the shelf can be sold online again: the refund's stock operation
    publishes the availability it changed, as the sale's does (it was missing: web channels kept
    showing the lower quantity until the next move of the product)."""
    from retailcore.eventlog.tables import Event

    session = _open(client, shop)
    _batch(client, shop, session, _sale(shop))
    line_id = _sold_line(client, admin)
    with shop["runtime"].session_factory() as db:
        before = db.scalar(select(func.max(Event.position)))
    assert _batch(client, shop, session, _refund(shop, line_id, condition="resaleable")).status_code == 200
    with shop["runtime"].session_factory() as db:
        published = db.scalars(
            select(Event).where(Event.type == "AvailabilityChanged", Event.position > before)
        ).all()
    assert {event.payload["product_id"] for event in published} == {shop["product"]["id"]}
    (event,) = published
    assert D(event.payload["available"]["web"]) == D(9)  # 10 received, 2 sold, 1 back
