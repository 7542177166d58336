"""Customers in the books and where an invoiced POS sale's COGS is posted (decision 0060).

The till: COFFEE at 20.00 including 20 % VAT (16.67 net, 3.33 tax), 10 in stock at 8.00; CASH, and CARD
(stripe) whose payments on invoices are split per customer at the close.
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
from retailcore.masterdata.tables import Account, Company, Location
from retailcore.pos.services import recompute_totals, running_totals, totals_as_dict

VAT_20 = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}
TODAY = dt.date.today()
UNTIL = TODAY + dt.timedelta(days=2)
"""Past the sales' local day whatever the hour (the store's day may be ahead of UTC's)."""


def _stock(runtime, company_id, product_id, store_id, quantity, unit_cost):
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, uuid.UUID(company_id))
        locations = {
            (row.kind, row.store_id): row.id
            for row in session.query(Location).filter_by(company_id=company.id)
        }
        move_stock(
            session,
            CommandContext(system_principal()),
            company,
            kind="receipt",
            lines=[
                MoveLine(
                    uuid.UUID(product_id),
                    Decimal(quantity),
                    locations[("supplier", None)],
                    locations[("stock", uuid.UUID(store_id))],
                    Decimal(unit_cost),
                )
            ],
            date=dt.date(2026, 3, 1),
        )


@pytest.fixture
def till(runtime, client, admin, auth, company, store_factory, product_factory):
    store = store_factory("S1")
    for path, body in (
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        (
            "payment-methods",
            {
                "code": "CARD",
                "name": "Card",
                "kind": "card",
                "gateway": "stripe",
                "split_receivable_per_customer": True,
            },
        ),
        ("payment-methods", {"code": "ACCOUNT", "name": "On account", "kind": "on_account"}),
        ("customers", {"code": "DANA", "name": "Dana", "customer_group": "trade"}),
        ("customers", {"code": "EVE", "name": "Eve", "customer_group": "trade"}),
        ("customers", {"code": "FRED", "name": "Fred"}),
        ("accounts", {"code": "411TRADE", "name": "Trade customers", "type": "asset", "reconcilable": True}),
        ("accounts", {"code": "411EVE", "name": "Eve", "type": "asset", "reconcilable": True}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    customers = {
        c["code"]: c["id"]
        for c in client.get(f"{API}/customers", params={"company_id": company["id"]}, headers=admin).json()[
            "items"
        ]
    }
    product = product_factory("COFFEE", category="Drinks", list_price="20.00")
    _stock(runtime, company["id"], product["id"], store["id"], 10, "8.00")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    )
    assert terminal.status_code == 201, terminal.text
    cashier = auth("cashier", company="ACME", store="S1")
    session = client.post(f"{API}/pos/sessions", json={"terminal_id": terminal.json()["id"]}, headers=cashier)
    assert session.status_code == 201, session.text
    return {
        "company": company,
        "company_id": uuid.UUID(company["id"]),
        "product": product,
        "customers": customers,
        "session": session.json(),
        "cashier": cashier,
        "manager": manager,
        "finance": auth("finance", company="ACME"),
    }


def _sale(till, *, customer=None, invoice=False, payments=(("CASH", "20.00"),)):
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
        "lines": [{"product_id": till["product"]["id"], "quantity": 1, "unit_price": "20.00"}],
        "payments": [{"payment_method_code": code, "amount": amount} for code, amount in payments],
    }
    if customer is not None:
        sale["customer_id"] = till["customers"][customer]
    if invoice:
        sale["invoice"] = True
    return sale


def _sell(client, till, *sales):
    response = client.post(
        f"{API}/pos/sessions/{till['session']['id']}/sales:batch",
        json={"sales": list(sales)},
        headers=till["cashier"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(sales)


def _close(client, till, cash):
    closed = client.post(
        f"{API}/pos/sessions/{till['session']['id']}/close",
        json={"counted": {"CASH": cash, "CARD": "0.00"}},
        headers=till["manager"],
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["cash_difference"] == "0.00"


def _by_role(session, company_id, event_type):
    rows = session.execute(
        select(Account.role, func.sum(a.JournalLine.debit), func.sum(a.JournalLine.credit))
        .join(Account, Account.id == a.JournalLine.account_id)
        .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
        .join(Event, Event.id == a.JournalEntry.event_id)
        .where(a.JournalLine.company_id == company_id, Event.type == event_type)
        .group_by(Account.role)
    ).all()
    return {role: (debit, credit) for role, debit, credit in rows}


def _balanced(session, company_id):
    unbalanced = session.execute(
        select(a.JournalLine.entry_id)
        .where(a.JournalLine.company_id == company_id)
        .group_by(a.JournalLine.entry_id)
        .having(func.sum(a.JournalLine.debit) != func.sum(a.JournalLine.credit))
    ).all()
    assert unbalanced == []


def _awaiting(client, till):
    check = client.get(
        f"{API}/stock/check", params={"company_id": str(till["company_id"])}, headers=till["finance"]
    )
    assert check.status_code == 200, check.text
    return check.json()


# -- COGS placement ---------------------------------------------------------------------------------


def test_the_cogs_placement_is_at_the_close_until_finance_chooses(client, till, admin):
    url = f"{API}/pos-cogs-placement"
    read = client.get(url, headers=till["finance"])
    assert read.status_code == 200, read.text
    assert read.json()["pos_invoiced_cogs"] == "at_close"
    assert read.json()["version"] == 0

    assert_problem(client.put(url, json={"pos_invoiced_cogs": "later"}, headers=till["finance"]), 422)
    assert (
        client.put(url, json={"pos_invoiced_cogs": "with_invoice"}, headers=till["cashier"]).status_code
        == 403
    )

    chosen = client.put(url, json={"pos_invoiced_cogs": "with_invoice"}, headers=till["finance"])
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["pos_invoiced_cogs"], chosen.json()["version"]) == ("with_invoice", 1)
    assert client.get(url, headers=till["finance"]).json()["pos_invoiced_cogs"] == "with_invoice"


def test_with_invoice_is_refused_while_the_invoice_rule_posts_no_cogs(runtime, client, till):
    """A company that edited its invoice rule before this release has no COGS lines in it: choosing
    ``with_invoice`` then would post that COGS nowhere, so it is refused and nothing changes."""
    with transaction(runtime.session_factory) as session:
        rule = session.scalar(
            select(a.PostingRule).where(
                a.PostingRule.company_id == till["company_id"], a.PostingRule.code == "invoice-to-receivable"
            )
        )
        rule.lines = [line for line in rule.lines if line.get("for_each") != "cogs"]

    refused = client.put(
        f"{API}/pos-cogs-placement", json={"pos_invoiced_cogs": "with_invoice"}, headers=till["finance"]
    )

    assert_problem(refused, 422, "invoice-rule-posts-no-cogs", fields=("pos_invoiced_cogs",))
    assert client.get(f"{API}/pos-cogs-placement", headers=till["finance"]).json()["version"] == 0


@pytest.mark.parametrize(
    ("placement", "invoice_cogs", "close_cogs"),
    [("at_close", None, Decimal("16.00")), ("with_invoice", Decimal("8.00"), Decimal("8.00"))],
)
def test_an_invoiced_sale_posts_its_cogs_once_where_the_setting_says(
    runtime, client, till, placement, invoice_cogs, close_cogs
):
    """Two sales of one COFFEE (cost 8.00): one invoiced at the till to Dana, one not. ``at_close``:
    the invoice posts revenue only, the close both COGS (16.00). ``with_invoice``: the invoice posts its
    own 8.00 of COGS, the close the other 8.00. Either way 16.00 of COGS in all, the stock check agrees
    before the close (what awaits it is only what the close will post) and after."""
    chosen = client.put(
        f"{API}/pos-cogs-placement", json={"pos_invoiced_cogs": placement}, headers=till["finance"]
    )
    assert chosen.status_code == 200, chosen.text
    _sell(client, till, _sale(till, customer="DANA", invoice=True), _sale(till))

    check = _awaiting(client, till)
    assert check["agrees"] is True, check
    awaiting = sum((Decimal(row["awaiting_posting"]) for row in check["roles"]), Decimal(0))
    assert awaiting == close_cogs

    with transaction(runtime.session_factory) as session:
        kept = totals_as_dict(running_totals(session, uuid.UUID(till["session"]["id"])))
        rebuilt = recompute_totals(session, uuid.UUID(till["session"]["id"]))
        assert {k: v for k, v in kept.items() if any(v.values())} == {
            k: v for k, v in rebuilt.items() if any(v.values())
        }
        invoice = _by_role(session, till["company_id"], "InvoiceIssued")
    assert invoice["receivable"] == (Decimal("20.00"), Decimal(0))
    assert invoice["sales_revenue"] == (Decimal(0), Decimal("16.67"))
    assert invoice.get("cogs", (None, None))[0] == invoice_cogs
    assert invoice.get("inventory", (None, None))[1] == invoice_cogs

    _close(client, till, "40.00")

    with transaction(runtime.session_factory) as session:
        close = _by_role(session, till["company_id"], "PosSessionClosed")
        _balanced(session, till["company_id"])
        everything = session.execute(
            select(func.sum(a.JournalLine.debit))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(a.JournalLine.company_id == till["company_id"], Account.role == "cogs")
        ).scalar()
    assert close["cogs"] == (close_cogs, Decimal(0))
    assert everything == Decimal("16.00")  # never twice, never missing
    assert _awaiting(client, till)["agrees"] is True


def test_a_sale_keeps_the_placement_it_was_ingested_under(runtime, client, till):
    """Switching to ``with_invoice`` after a sale was ingested does not take that sale's COGS off the
    close: its invoice did not post it."""
    _sell(client, till, _sale(till, customer="DANA", invoice=True))
    chosen = client.put(
        f"{API}/pos-cogs-placement", json={"pos_invoiced_cogs": "with_invoice"}, headers=till["finance"]
    )
    assert chosen.status_code == 200, chosen.text
    _close(client, till, "20.00")

    with transaction(runtime.session_factory) as session:
        assert _by_role(session, till["company_id"], "PosSessionClosed")["cogs"] == (
            Decimal("8.00"),
            Decimal(0),
        )
        assert "cogs" not in _by_role(session, till["company_id"], "InvoiceIssued")


# -- customers in the books ---------------------------------------------------------------------------


def _receivable_lines(session, company_id):
    return session.execute(
        select(a.JournalLine.customer_id, Account.code, a.JournalLine.debit, a.JournalLine.credit, Event.type)
        .join(Account, Account.id == a.JournalLine.account_id)
        .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
        .join(Event, Event.id == a.JournalEntry.event_id)
        .where(
            a.JournalLine.company_id == company_id,
            (a.JournalLine.customer_id.is_not(None)) | (Account.role == "receivable"),
        )
        .order_by(a.JournalLine.date, a.JournalLine.id)
    ).all()


def test_receivable_accounts_per_group_and_customer_the_dimension_and_the_split_close(runtime, client, till):
    """Dana (group trade) and Eve (group trade, an account of her own) each buy a COFFEE invoiced at the
    till paid by CARD (split per customer); Fred (no group) one paid in CASH (aggregated). The invoices
    debit 411TRADE for Dana, 411EVE for Eve, the role's account for Fred; the close credits Dana's and
    Eve's accounts one line each, with the customer, and the role's account once for Fred."""
    ids = till["customers"]
    url = f"{API}/customer-receivable-accounts"
    for body in (
        {"customer_group": "trade", "account": "411TRADE"},
        {"customer_id": ids["EVE"], "account": "411EVE"},
    ):
        response = client.put(url, json=body, headers=till["finance"])
        assert response.status_code == 200, response.text
    listed = client.get(url, params={"limit": 1}, headers=till["finance"])
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 1 and listed.json()["next_cursor"]
    rest = client.get(
        url, params={"limit": 1, "cursor": listed.json()["next_cursor"]}, headers=till["finance"]
    )
    assert {item["account"] for item in listed.json()["items"] + rest.json()["items"]} == {
        "411TRADE",
        "411EVE",
    }

    _sell(
        client,
        till,
        _sale(till, customer="DANA", invoice=True, payments=(("CARD", "20.00"),)),
        _sale(till, customer="EVE", invoice=True, payments=(("CARD", "20.00"),)),
        _sale(till, customer="FRED", invoice=True),
    )
    _close(client, till, "20.00")

    with transaction(runtime.session_factory) as session:
        _balanced(session, till["company_id"])
        lines = _receivable_lines(session, till["company_id"])
        receivable = session.scalar(
            select(Account.code).where(Account.company_id == till["company_id"], Account.role == "receivable")
        )
    dana, eve, fred = (uuid.UUID(ids[code]) for code in ("DANA", "EVE", "FRED"))
    assert sorted((str(c), code, d, cr, t) for c, code, d, cr, t in lines) == sorted(
        [
            (str(dana), "411TRADE", Decimal("20.00"), Decimal(0), "InvoiceIssued"),
            (str(eve), "411EVE", Decimal("20.00"), Decimal(0), "InvoiceIssued"),
            (str(fred), receivable, Decimal("20.00"), Decimal(0), "InvoiceIssued"),
            (str(dana), "411TRADE", Decimal(0), Decimal("20.00"), "PosSessionClosed"),
            (str(eve), "411EVE", Decimal(0), Decimal("20.00"), "PosSessionClosed"),
            ("None", receivable, Decimal(0), Decimal("20.00"), "PosSessionClosed"),  # aggregated
        ]
    )


def test_a_customer_statement_from_the_ledger(runtime, client, till):
    """Dana (group trade: 411TRADE): an invoice of 20.00 put on account, then one of 20.00 paid by CARD
    at the till (split per customer). Her statement: +20.00, +20.00, -20.00 (the close), closing balance
    20.00; every line is open until reconciled, then only the invoice on account; from tomorrow the
    opening balance is 20.00 and no lines."""
    group = {"customer_group": "trade", "account": "411TRADE"}
    assert (
        client.put(f"{API}/customer-receivable-accounts", json=group, headers=till["finance"]).status_code
        == 200
    )
    _sell(client, till, _sale(till, customer="DANA", invoice=True, payments=(("ACCOUNT", "20.00"),)))
    _sell(client, till, _sale(till, customer="DANA", invoice=True, payments=(("CARD", "20.00"),)))
    _close(client, till, "0.00")
    dana = till["customers"]["DANA"]
    url = f"{API}/customers/{dana}/statement"

    statement = client.get(url, params={"date_to": UNTIL.isoformat()}, headers=till["finance"])
    assert statement.status_code == 200, statement.text
    body = statement.json()
    assert body["opening_balance"] == "0.00"
    assert [(i["debit"], i["credit"], i["balance"]) for i in body["items"]] == [
        ("20.00", "0.00", "20.00"),
        ("20.00", "0.00", "40.00"),
        ("0.00", "20.00", "20.00"),
    ]
    assert body["closing_balance"] == "20.00"
    assert body["next_cursor"] is None
    assert [i["open_amount"] for i in body["open_items"]] == ["20.00", "20.00", "-20.00"]
    assert body["open_total"] == "20.00"

    page = client.get(url, params={"date_to": UNTIL.isoformat(), "limit": 2}, headers=till["finance"]).json()
    assert [i["balance"] for i in page["items"]] == ["20.00", "40.00"]
    following = client.get(
        url,
        params={"date_to": UNTIL.isoformat(), "limit": 2, "cursor": page["next_cursor"]},
        headers=till["finance"],
    ).json()
    assert [i["balance"] for i in following["items"]] == ["20.00"]  # carried over from the first page
    assert following["next_cursor"] is None

    by_customer = client.get(
        f"{API}/reports/trial-balance",
        params={"date_from": "2026-01-01", "date_to": UNTIL.isoformat(), "group_by": "customer_id"},
        headers=till["finance"],
    )
    assert by_customer.status_code == 200, by_customer.text
    [trade] = [row for row in by_customer.json()["rows"] if row["account_code"] == "411TRADE"]
    assert (trade["dimensions"]["customer_id"], trade["closing_balance"]) == (dana, "20.00")

    # Reconciling the card invoice with the close's credit leaves the invoice on account open.
    card_invoice, close_credit = body["items"][1]["line_id"], body["items"][2]["line_id"]
    reconciled = client.post(
        f"{API}/reconciliations", json={"line_ids": [card_invoice, close_credit]}, headers=till["finance"]
    )
    assert reconciled.status_code == 201, reconciled.text
    after = client.get(url, params={"date_to": UNTIL.isoformat()}, headers=till["finance"]).json()
    assert [(i["line_id"], i["open_amount"]) for i in after["open_items"]] == [
        (body["items"][0]["line_id"], "20.00")
    ]
    assert (after["open_total"], after["closing_balance"]) == ("20.00", "20.00")
    assert {i["account"] for i in after["items"]} == {"411TRADE"}

    later = (UNTIL + dt.timedelta(days=1)).isoformat()
    tomorrow = client.get(url, params={"date_from": later, "date_to": later}, headers=till["finance"]).json()
    assert (tomorrow["opening_balance"], tomorrow["items"], tomorrow["closing_balance"]) == (
        "20.00",
        [],
        "20.00",
    )

    eve = client.get(
        f"{API}/customers/{till['customers']['EVE']}/statement",
        params={"date_to": UNTIL.isoformat()},
        headers=till["finance"],
    ).json()
    assert (eve["closing_balance"], eve["items"], eve["open_items"]) == ("0.00", [], [])


def test_statement_and_receivable_accounts_refuse_bad_requests(client, till):
    url = f"{API}/customer-receivable-accounts"
    ids = till["customers"]
    both = client.put(
        url,
        json={"customer_id": ids["DANA"], "customer_group": "trade", "account": "411TRADE"},
        headers=till["finance"],
    )
    assert_problem(both, 422)
    unknown = client.put(url, json={"customer_group": "trade", "account": "NOPE"}, headers=till["finance"])
    assert_problem(unknown, 422, fields=("account",))
    revenue = client.put(url, json={"customer_group": "trade", "account": "707"}, headers=till["finance"])
    assert revenue.status_code == 422
    stranger = client.put(
        url, json={"customer_id": str(uuid.uuid4()), "account": "411EVE"}, headers=till["finance"]
    )
    assert_problem(stranger, 422, fields=("customer_id",))
    assert (
        client.put(
            url, json={"customer_group": "trade", "account": "411TRADE"}, headers=till["cashier"]
        ).status_code
        == 403
    )
    assert client.get(url, headers=till["finance"]).json() == {"items": [], "next_cursor": None}

    statement = f"{API}/customers/{ids['DANA']}/statement"
    assert client.get(f"{API}/customers/{uuid.uuid4()}/statement", headers=till["finance"]).status_code == 404
    assert client.get(statement, headers=till["cashier"]).status_code == 403
    backwards = client.get(
        statement, params={"date_from": "2026-12-02", "date_to": "2026-12-01"}, headers=till["finance"]
    )
    assert_problem(backwards, 422, fields=("date_from",))


def test_a_payment_method_says_whether_it_splits_the_receivable_per_customer(client, till, admin):
    methods = client.get(f"{API}/payment-methods", headers=admin).json()["items"]
    flags = {m["code"]: m["split_receivable_per_customer"] for m in methods}
    assert flags == {"CASH": False, "CARD": True, "ACCOUNT": False}
    card = next(m for m in methods if m["code"] == "CARD")

    changed = client.patch(
        f"{API}/payment-methods/{card['id']}", json={"split_receivable_per_customer": False}, headers=admin
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["split_receivable_per_customer"] is False
    assert_problem(
        client.patch(
            f"{API}/payment-methods/{card['id']}",
            json={"split_receivable_per_customer": "maybe"},
            headers=admin,
        ),
        422,
        fields=("split_receivable_per_customer",),
    )


def test_a_close_rule_edited_before_the_split_still_balances_with_one_aggregate_line(runtime, client, till):
    """A company whose close rule has no ``customer_payments`` line (edited before decision 0060): a CARD
    payment on Dana's invoice is credited to the aggregate receivable line, and the close posts."""
    with transaction(runtime.session_factory) as session:
        rule = session.scalar(
            select(a.PostingRule).where(
                a.PostingRule.company_id == till["company_id"], a.PostingRule.code == "pos-session-close"
            )
        )
        rule.lines = [line for line in rule.lines if line.get("for_each") != "customer_payments"]
    _sell(client, till, _sale(till, customer="DANA", invoice=True, payments=(("CARD", "20.00"),)))

    _close(client, till, "0.00")

    with transaction(runtime.session_factory) as session:
        _balanced(session, till["company_id"])
        closing = [
            line for line in _receivable_lines(session, till["company_id"]) if line[4] == "PosSessionClosed"
        ]
    assert [(line[0], line[3]) for line in closing] == [(None, Decimal("20.00"))]
