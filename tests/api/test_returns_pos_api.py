"""A POS sale returned at the till: cash back for a cash sale, the card back for a card sale, goods back
at the cost the sale took them out at; and two returns of one line at once never exceed what was sold."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.returns import limits
from retailcore.returns.tables import OrderLineReturn

D = Decimal


@pytest.fixture
def till(runtime, client, admin, auth, company, store_factory, product_factory):
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
            date=dt.date(2026, 3, 1),
        )
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    ).json()
    cashier = auth("cashier", company="ACME", store="S1")
    opened = client.post(
        f"{API}/pos/sessions", json={"terminal_id": terminal["id"], "opening_float": "50.00"}, headers=cashier
    ).json()
    sold_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    sales = [
        {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": sold_at,
            "lines": [{"product_id": product["id"], "quantity": 2, "unit_price": "3.60"}],
            "payments": [{"payment_method_code": method, "amount": "7.20"}],
        }
        for method in ("CASH", "CARD")
    ]
    batch = client.post(
        f"{API}/pos/sessions/{opened['id']}/sales:batch", json={"sales": sales}, headers=cashier
    )
    assert batch.status_code == 200, batch.text
    orders = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]

    def balance(role):
        with runtime.session_factory() as session:
            total = session.scalar(
                select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, Account.role == role)
            )
            return total if total is not None else D(0)

    by_kind = {order["payments"][0]["kind"]: order for order in orders}
    return {
        "cashier": cashier,
        "cash_sale": by_kind["cash"],
        "card_sale": by_kind["card"],
        "balance": balance,
    }


def _return(client, headers, order, quantity="1"):
    response = client.post(
        f"{API}/returns",
        json={
            "order_id": order["id"],
            "store_id": "S1",
            "reason": "changed_mind",
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": quantity}],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_cash_sale_is_refunded_in_cash_and_a_card_sale_to_its_card(client, till):
    cashier = till["cashier"]
    cash = _return(client, cashier, till["cash_sale"])
    received = client.post(f"{API}/returns/{cash['id']}/receive", headers=cashier)
    assert received.status_code == 200, received.text
    assert received.json()["lines"][0]["cost"] == "1.50"  # the cost the sale took it out at
    refunded = client.post(f"{API}/returns/{cash['id']}/refund", headers=cashier)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["refunded_total"] == "3.60"
    assert till["balance"]("sales_returns") == D("3.00")
    assert till["balance"]("output_tax") == D("0.60")  # the session is open: only the return posted

    card = _return(client, cashier, till["card_sale"], quantity="2")
    client.post(f"{API}/returns/{card['id']}/receive", headers=cashier)
    assert client.post(f"{API}/returns/{card['id']}/refund", headers=cashier).status_code == 200
    order = client.get(f"{API}/orders/{till['card_sale']['id']}", headers=cashier).json()
    assert (order["payments"][0]["refunded"], order["payments"][0]["state"]) == ("7.20", "refunded")
    assert till["balance"]("card_clearing") == D("-7.20")  # the sale's capture posts at the close
    assert till["balance"]("refunds_payable") == 0
    # 10 in at 1.50 and 3 back at 1.50; the 4 sold leave the books with the session's close.
    assert till["balance"]("inventory") == D("15.00") + D("4.50")


def test_two_returns_of_one_line_at_once_never_exceed_what_was_sold(runtime, client, till):
    order = till["cash_sale"]
    line = order["lines"][0]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def claim():
        barrier.wait(timeout=10)  # both start together (SQLite then queues them for its write lock)
        try:
            with transaction(runtime.session_factory) as session:
                limits.claim_returnable(
                    session,
                    company_id=uuid.UUID(order["company_id"]),
                    order_id=uuid.UUID(order["id"]),
                    order_line_id=uuid.UUID(line["id"]),
                    quantity=D(2),
                )
            outcomes.append("claimed")
        except Conflict as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["claimed", "return-exceeds-sold"]
    assert_problem(_return_response(client, till, order), 409, "return-exceeds-sold")


def _return_response(client, till, order):
    return client.post(
        f"{API}/returns",
        json={
            "order_id": order["id"],
            "store_id": "S1",
            "reason": "changed_mind",
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": "1"}],
        },
        headers=till["cashier"],
    )


def _claims(order, *quantities):
    line = order["lines"][0]
    return [
        limits.Claim(uuid.UUID(order["id"]), uuid.UUID(line["id"]), D(quantity), f"claims.{n}")
        for n, quantity in enumerate(quantities)
    ]


def test_a_batch_claims_lines_with_and_without_counters_in_order(runtime, client, till):
    """A till's batch claims several lines at once (``claim_many``, one statement on PostgreSQL): lines
    whose counter exists (a return claimed one of them) and lines without one; two claims on one line
    each get the refunded quantity before them; a claim that does not fit is refused by its own field,
    the first that does not fit, and nothing of the batch is kept."""
    cash, card = till["cash_sale"], till["card_sale"]
    company_id = uuid.UUID(cash["company_id"])
    _return(client, till["cashier"], cash)  # the cash line's counter exists: 1 of its 2 returned
    with transaction(runtime.session_factory) as session:
        befores = limits.claim_many(session, company_id, [*_claims(card, "1", "1"), *_claims(cash, "1")])
    assert befores == [D(0), D(1), D(0)]
    with runtime.session_factory() as session:
        counters = {
            row.order_line_id: (row.returned_quantity, row.refunded_quantity)
            for row in session.scalars(select(OrderLineReturn))
        }
    assert counters == {
        uuid.UUID(card["lines"][0]["id"]): (D(2), D(2)),
        uuid.UUID(cash["lines"][0]["id"]): (D(2), D(1)),
    }
    with pytest.raises(Conflict) as refused, transaction(runtime.session_factory) as session:
        limits.claim_many(session, company_id, _claims(cash, "0.5"))  # nothing left: 2 sold, 2 returned
    assert refused.value.code == "return-exceeds-sold"
    assert [problem.field for problem in refused.value.problems] == ["claims.0"]
    assert "2 sold, 2 already returned" in refused.value.detail


def test_a_second_claim_on_one_line_that_does_not_fit_is_refused_by_its_field(runtime, till):
    cash = till["cash_sale"]
    with pytest.raises(Conflict) as refused, transaction(runtime.session_factory) as session:
        limits.claim_many(session, uuid.UUID(cash["company_id"]), _claims(cash, "1.5", "1"))
    assert [problem.field for problem in refused.value.problems] == ["claims.1"]
    assert "only 0.5 of this order line" in refused.value.detail
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OrderLineReturn)) == 0


def test_two_batches_claiming_one_line_at_once_never_exceed_what_was_sold(runtime, till):
    """Two tills' batches claim the same line at the same moment (on PostgreSQL for real: the second
    waits for the first's row lock, then re-checks against what it committed)."""
    cash = till["cash_sale"]
    company_id = uuid.UUID(cash["company_id"])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def claim():
        barrier.wait(timeout=10)
        try:
            with transaction(runtime.session_factory) as session:
                limits.claim_many(session, company_id, _claims(cash, "1", "0.5"))
            outcomes.append("claimed")
        except Conflict as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["claimed", "return-exceeds-sold"]
    with runtime.session_factory() as session:
        row = session.get(OrderLineReturn, uuid.UUID(cash["lines"][0]["id"]))
        assert (row.returned_quantity, row.refunded_quantity) == (D("1.5"), D("1.5"))
