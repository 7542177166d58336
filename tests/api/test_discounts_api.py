"""Discounts recorded per line with their source; manual discount limits and manager overrides at the
till; the margin floor and the permission on web discounts; contra-revenue posting (decision 0050)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.access.users import create_user, disable_user
from retailcore.accounting import tables as a
from retailcore.accounting.reports import trial_balance
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.promotions.tables import MarginFloor

VAT_20 = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}


def _stock(runtime, company_id, product_id, store_id, quantity, unit_cost):
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, uuid.UUID(company_id))

        def location(kind, store=None):
            for row in session.query(Location).filter_by(company_id=company.id, kind=kind):
                if store is None or row.store_id == uuid.UUID(store):
                    return row.id
            raise AssertionError(kind)

        move_stock(
            session,
            CommandContext(system_principal()),
            company,
            kind="receipt",
            lines=[
                MoveLine(
                    uuid.UUID(product_id),
                    Decimal(quantity),
                    location("supplier"),
                    location("stock", store_id),
                    Decimal(unit_cost),
                )
            ],
            date=dt.date(2026, 3, 1),
        )


@pytest.fixture
def till(runtime, client, admin, auth, company, store_factory, product_factory):
    """Store S1 with till T1, COFFEE at 20.00 incl. 20 % VAT (10 in stock at 8.00), a cashier's limit of
    10 % of the line, and back-office users: mia (manager of S1), otto (manager of S2), carl (cashier),
    old (a disabled manager)."""
    store = store_factory("S1")
    store_factory("S2")
    for path, body in (
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    product = product_factory("COFFEE", category="Drinks", list_price="20.00")
    _stock(runtime, company["id"], product["id"], store["id"], 10, "8.00")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    )
    assert terminal.status_code == 201, terminal.text
    with transaction(runtime.session_factory) as session:
        for name, role, at in (
            ("mia", "store_manager", "S1"),
            ("otto", "store_manager", "S2"),
            ("carl", "cashier", "S1"),
            ("old", "store_manager", "S1"),
        ):
            create_user(session, name, "a long password", role, company="ACME", store=at)
        disable_user(session, "old")
    policy = client.put(
        f"{API}/discount-policies", json={"company_id": company["id"], "max_percent": "10"}, headers=admin
    )
    assert policy.status_code == 200, policy.text
    cashier = auth("cashier", company="ACME", store="S1")
    session = client.post(f"{API}/pos/sessions", json={"terminal_id": terminal.json()["id"]}, headers=cashier)
    assert session.status_code == 201, session.text
    return {
        "company": company,
        "store": store,
        "product": product,
        "cashier": cashier,
        "manager": manager,
        "session": session.json(),
    }


def _sale(till, discount, override=None, paid="20.00"):
    line = {"product_id": till["product"]["id"], "quantity": 1, "unit_price": "20.00", "discount": discount}
    if override is not None:
        line["override"] = override
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
        "lines": [line],
        "payments": [{"payment_method_code": "CASH", "amount": paid}],
    }


def _sell(client, till, sale, headers=None):
    return client.post(
        f"{API}/pos/sessions/{till['session']['id']}/sales:batch",
        json={"sales": [sale]},
        headers=headers or till["cashier"],
    )


def _pos_lines(client, till):
    orders = client.get(
        f"{API}/orders",
        params={"company_id": till["company"]["id"], "channel": "pos"},
        headers=till["manager"],
    )
    assert orders.status_code == 200, orders.text
    return [line for order in orders.json()["items"] for line in order["lines"]]


def test_a_bare_discount_within_the_cashiers_limit_is_one_manual_discount(client, till):
    response = _sell(client, till, _sale(till, "2.00"))  # 10 % of 20.00: the limit itself

    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    [line] = _pos_lines(client, till)
    assert line["discount"] == "2.00"
    [discount] = line["discounts"]
    assert {k: discount[k] for k in ("source", "code", "amount", "promotion_id", "override")} == {
        "source": "manual",
        "code": "manual",
        "amount": "2.00",
        "promotion_id": None,
        "override": None,
    }
    assert discount["given_by"].startswith("token:")


def test_a_discount_beyond_the_limit_without_override_is_refused_and_nothing_is_written(
    client, till, snapshot
):
    before = snapshot()

    response = _sell(client, till, _sale(till, "2.01"))

    assert_problem(response, 422, "discount-refused", fields=("sales.0.lines.0.discount",))
    assert snapshot() == before


def test_a_managers_override_lets_the_discount_through_and_is_recorded(runtime, client, till):
    override = {"by": "mia", "reason": "damaged packaging"}

    response = _sell(client, till, _sale(till, "5.00", override))

    assert response.status_code == 200, response.text
    [line] = _pos_lines(client, till)
    [discount] = line["discounts"]
    assert (discount["amount"], discount["override"]) == ("5.00", override)
    with transaction(runtime.session_factory) as session:
        event = session.scalar(select(Event).where(Event.type == "PosSalesIngested"))
        [recorded] = event.payload["discount_overrides"]
    assert (recorded["by"], recorded["reason"], recorded["line"]) == ("mia", "damaged packaging", 0)
    assert Decimal(recorded["discount"]) == Decimal("5.00")


@pytest.mark.parametrize("who", ["carl", "nobody", "old", "otto"])
def test_an_override_by_someone_who_may_not_is_refused(client, till, snapshot, who):
    before = snapshot()

    response = _sell(client, till, _sale(till, "5.00", {"by": who, "reason": "because"}))

    body = assert_problem(response, 422, "discount-refused", fields=("sales.0.lines.0.override.by",))
    assert who in body["detail"]
    assert snapshot() == before


def test_a_store_managers_own_sale_needs_no_override(client, till):
    response = _sell(client, till, _sale(till, "5.00"), headers=till["manager"])

    assert response.status_code == 200, response.text
    [line] = _pos_lines(client, till)
    assert [d["amount"] for d in line["discounts"]] == ["5.00"]


def test_a_store_policy_beats_the_companys(client, admin, till):
    store_policy = {"company_id": till["company"]["id"], "store_id": "S1", "max_amount": "6.00"}
    assert client.put(f"{API}/discount-policies", json=store_policy, headers=admin).status_code == 200

    accepted = _sell(client, till, _sale(till, "6.00"))
    refused = _sell(client, till, _sale(till, "6.01"))

    assert accepted.status_code == 200, accepted.text
    assert_problem(refused, 422, "discount-refused", fields=("sales.0.lines.0.discount",))
    policies = client.get(
        f"{API}/discount-policies", params={"company_id": till["company"]["id"]}, headers=till["cashier"]
    )
    listed = policies.json()["items"]
    assert sorted((p["store_id"] is None, p["max_percent"], p["max_amount"]) for p in listed) == [
        (False, None, "6.00"),
        (True, "10.00", None),
    ]


def test_a_cashier_may_not_set_the_limits(client, till):
    response = client.put(
        f"{API}/discount-policies",
        json={"company_id": till["company"]["id"], "max_percent": "100"},
        headers=till["cashier"],
    )
    assert_problem(response, 403, "permission-denied")


# -- web orders -------------------------------------------------------------------------------------------


@pytest.fixture
def web(runtime, client, admin, auth, company, store_factory, product_factory):
    """Warehouse W1 with 5 SHIRT (30.00 incl. 20 % VAT: 25.00 net) at a cost of 10.00; margin floors:
    SHIRT 0.5 (net >= 15.00 a unit), its category Apparel 2.0."""
    warehouse = store_factory("W1", kind="warehouse")
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    shirt = product_factory("SHIRT", list_price="30.00", category="Apparel")
    _stock(runtime, company["id"], shirt["id"], warehouse["id"], 5, "10.00")
    with transaction(runtime.session_factory) as session:
        session.add(
            MarginFloor(
                company_id=uuid.UUID(company["id"]), product_id=uuid.UUID(shirt["id"]), floor=Decimal("0.5")
            )
        )
        session.add(MarginFloor(company_id=uuid.UUID(company["id"]), category="Apparel", floor=Decimal(2)))
    return {"company": company, "shirt": shirt, "manager": auth("store_manager", company="ACME")}


def _order(web, discount):
    return {
        "company_id": web["company"]["id"],
        "lines": [{"product_id": web["shirt"]["id"], "quantity": "2", "discount": discount}],
    }


def test_a_web_discount_above_the_floor_is_accepted_and_shown(runtime, client, web):
    # 60.00 - 12.00 = 48.00 incl. VAT: 40.00 net, above 2 x 10.00 x 1.5 = 30.00 (the product's floor
    # beats its category's, which would ask 60.00)
    response = client.post(f"{API}/orders", json=_order(web, "12.00"), headers=web["manager"])

    assert response.status_code == 201, response.text
    [line] = response.json()["lines"]
    assert (line["discount"], line["net"]) == ("12.00", "40.00")
    assert [(d["source"], d["amount"]) for d in line["discounts"]] == [("manual", "12.00")]
    with transaction(runtime.session_factory) as session:
        confirmed = session.scalar(select(Event).where(Event.type == "OrderConfirmed"))
        [trail] = confirmed.payload["line_discounts"]
    assert (trail["position"], trail["discounts"][0]["amount"]) == (1, "12.00")
    assert trail["discounts"][0]["given_by"].startswith("token:")


def test_a_web_discount_below_the_floor_is_refused(client, web, snapshot):
    before = snapshot()

    # 60.00 - 30.00 = 30.00 incl. VAT: 25.00 net, below 30.00
    response = client.post(f"{API}/orders", json=_order(web, "30.00"), headers=web["manager"])

    body = assert_problem(response, 422, "below-margin-floor", fields=("lines.0.discount",))
    assert "30.00" in body["errors"][0]["detail"]
    assert snapshot() == before


def test_a_web_discount_needs_the_permission(client, auth, web, snapshot):
    before = snapshot()
    cashier = auth("cashier", company="ACME")

    refused = client.post(f"{API}/orders", json=_order(web, "1.00"), headers=cashier)
    undiscounted = client.post(f"{API}/orders", json=_order(web, "0"), headers=cashier)

    assert_problem(refused, 403, "permission-denied", fields=("lines.0.discount",))
    assert undiscounted.status_code == 201, undiscounted.text
    assert undiscounted.json()["lines"][0]["discounts"] == []
    assert snapshot() != before


# -- posting ------------------------------------------------------------------------------------------------


def _by_role(session, company_id, entry_ids):
    rows = session.execute(
        select(Account.role, func.sum(a.JournalLine.debit), func.sum(a.JournalLine.credit))
        .join(Account, Account.id == a.JournalLine.account_id)
        .where(a.JournalLine.company_id == company_id, a.JournalLine.entry_id.in_(entry_ids))
        .group_by(Account.role)
    ).all()
    return {role: (debit, credit) for role, debit, credit in rows}


def _entries_of(session, company_id, event_type):
    return list(
        session.scalars(
            select(a.JournalEntry.id)
            .join(Event, Event.id == a.JournalEntry.event_id)
            .where(a.JournalEntry.company_id == company_id, Event.type == event_type)
        )
    )


def _balanced(session, company_id):
    unbalanced = session.execute(
        select(a.JournalLine.entry_id)
        .where(a.JournalLine.company_id == company_id)
        .group_by(a.JournalLine.entry_id)
        .having(func.sum(a.JournalLine.debit) != func.sum(a.JournalLine.credit))
    ).all()
    assert unbalanced == []
    report = trial_balance(session, company_id, dt.date(2026, 1, 1), dt.date(2036, 12, 31))
    assert report.balanced
    return {row.account_code: row for row in report.rows}


@pytest.mark.parametrize("mode", ["net", "contra"])
def test_a_pos_close_posts_discounts_net_or_to_contra_revenue(runtime, client, auth, till, mode):
    finance = auth("finance", company="ACME")
    chosen = client.put(
        f"{API}/discount-posting",
        json={"company_id": till["company"]["id"], "posting": mode},
        headers=finance,
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["posting"] == mode
    sale = _sale(till, "6.00", {"by": "mia", "reason": "loyal customer"}, paid="14.00")
    assert _sell(client, till, sale).status_code == 200
    closed = client.post(
        f"{API}/pos/sessions/{till['session']['id']}/close",
        json={"counted": {"CASH": "14.00"}},
        headers=till["cashier"],
    )
    assert closed.status_code == 200, closed.text

    company_id = uuid.UUID(till["company"]["id"])
    with transaction(runtime.session_factory) as session:
        by_role = _by_role(session, company_id, _entries_of(session, company_id, "PosSessionClosed"))
        rows = _balanced(session, company_id)
    # 14.00 incl. 20 % VAT: 11.67 net revenue; the 6.00 discount is 5.00 net of VAT
    revenue_debit, revenue_credit = by_role["sales_revenue"]
    if mode == "net":
        assert (revenue_debit, revenue_credit) == (Decimal(0), Decimal("11.67"))
        assert "sales_discounts" not in by_role
    else:
        assert (revenue_debit, revenue_credit) == (Decimal(0), Decimal("16.67"))
        assert by_role["sales_discounts"] == (Decimal("5.00"), Decimal(0))
        assert revenue_credit - by_role["sales_discounts"][0] == Decimal("11.67")
        assert rows["4020"].closing_balance == Decimal("5.00")
    assert rows["4000"].closing_balance == -revenue_credit


def test_a_web_order_fulfilled_posts_its_discounts_to_contra_revenue(runtime, client, auth, web):
    finance = auth("finance", company="ACME")
    assert (
        client.put(
            f"{API}/discount-posting",
            json={"company_id": web["company"]["id"], "posting": "contra"},
            headers=finance,
        ).status_code
        == 200
    )
    order = client.post(f"{API}/orders", json=_order(web, "12.00"), headers=web["manager"]).json()
    paid = client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_1", "amount": "48.00"},
        headers=web["manager"],
    )
    assert paid.status_code == 200, paid.text
    line_id = order["lines"][0]["id"]
    for _ in range(2):  # one shirt at a time: each delivery posts its share of the discount
        done = client.post(
            f"{API}/orders/{order['id']}/fulfillments",
            json={"lines": [{"line_id": line_id, "quantity": "1"}]},
            headers=web["manager"],
        )
        assert done.status_code == 200, done.text

    company_id = uuid.UUID(web["company"]["id"])
    with transaction(runtime.session_factory) as session:
        entries = _entries_of(session, company_id, "OrderFulfilled")
        first = _by_role(session, company_id, entries[:1])
        by_role = _by_role(session, company_id, entries)
        _balanced(session, company_id)
    assert len(entries) == 2
    assert first["sales_discounts"] == (Decimal("5.00"), Decimal(0))
    # 48.00 incl. VAT: 40.00 net; the 12.00 discount is 10.00 net of VAT
    assert by_role["sales_revenue"] == (Decimal(0), Decimal("50.00"))
    assert by_role["sales_discounts"] == (Decimal("10.00"), Decimal(0))
    assert by_role["output_tax"] == (Decimal(0), Decimal("8.00"))


def test_contra_posting_needs_a_sales_discounts_account(runtime, client, auth, company, snapshot):
    with transaction(runtime.session_factory) as session:
        for account in session.scalars(
            select(Account).where(
                Account.company_id == uuid.UUID(company["id"]), Account.role == "sales_discounts"
            )
        ):
            account.active = False
    finance = auth("finance", company="ACME")
    before = snapshot()

    response = client.put(
        f"{API}/discount-posting", json={"company_id": company["id"], "posting": "contra"}, headers=finance
    )

    assert_problem(response, 422, "no-sales-discounts-account", fields=("posting",))
    assert snapshot() == before


def test_a_sale_invoiced_at_the_till_posts_its_discounts_to_contra_revenue(
    runtime, client, admin, auth, till
):
    finance = auth("finance", company="ACME")
    body = {"company_id": till["company"]["id"], "posting": "contra"}
    assert client.put(f"{API}/discount-posting", json=body, headers=finance).status_code == 200
    customer = client.post(
        f"{API}/customers", json={"company_id": till["company"]["id"], "name": "Dana"}, headers=admin
    )
    assert customer.status_code == 201, customer.text
    sale = {
        **_sale(till, "6.00", {"by": "mia", "reason": "trade customer"}, paid="14.00"),
        "invoice": True,
        "customer_id": customer.json()["id"],
    }

    response = _sell(client, till, sale)

    assert response.status_code == 200, response.text
    company_id = uuid.UUID(till["company"]["id"])
    with transaction(runtime.session_factory) as session:
        by_role = _by_role(session, company_id, _entries_of(session, company_id, "InvoiceIssued"))
        _balanced(session, company_id)
    assert by_role["receivable"] == (Decimal("14.00"), Decimal(0))
    assert by_role["sales_revenue"] == (Decimal(0), Decimal("16.67"))
    assert by_role["sales_discounts"] == (Decimal("5.00"), Decimal(0))
    assert by_role["output_tax"] == (Decimal(0), Decimal("2.33"))
