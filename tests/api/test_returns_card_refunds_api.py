# ruff: noqa: F811  (`shop` is the fixture of test_returns_api, imported; tests take it as a parameter)
"""Card refunds left payable until the gateway confirms them; restocking fees carrying output tax; the
disposition rules over HTTP and in the CLI (issue 15, decision 0026)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import select
from test_returns_api import ask, shop  # noqa: F401

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company
from retailcore.returns import services as returns_services

D = Decimal


def _policy(client, admin, shop, **options):
    body = {"company_id": shop.company["id"], **options}
    response = client.post(f"{API}/return-policy", json=body, headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


def _returned(client, admin, shop, order, quantity="1", **fields):
    ret = ask(client, admin, shop, order, quantity=quantity, **fields)
    assert ret.status_code == 201, ret.text
    received = client.post(f"{API}/returns/{ret.json()['id']}/receive", headers=admin)
    assert received.status_code == 200, received.text
    return ret.json()


def _card(client, admin, order):
    return client.get(f"{API}/orders/{order['id']}", headers=admin).json()["payments"][0]


def test_a_card_refund_awaiting_the_gateway_stays_payable_until_confirmed(client, admin, shop, snapshot):
    policy = _policy(client, admin, shop, card_refunds_await_confirmation=True)
    assert (policy["card_refunds_await_confirmation"], policy["restocking_fee_taxable"]) == (True, True)
    order = shop.web_order()  # 87.00 on the card
    ret = _returned(client, admin, shop, order)

    refunded = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin)
    assert refunded.status_code == 200, refunded.text
    body = refunded.json()
    assert body["refunded_total"] == "29.00"
    [pending] = body["card_refunds"]
    assert (pending["status"], pending["amount"], pending["gateway"]) == ("pending", "29.00", "stripe")
    assert pending["reference"] == f"pi_{order['number']}"
    # Approved, not paid: the liability stays; the card's money has not moved yet, but is reserved.
    assert shop.balance("refunds_payable") == D("-29.00")
    assert shop.balance("sales_returns") == D("24.17")
    assert shop.balance("card_clearing") == D("87.00")
    card = _card(client, admin, order)
    assert (card["refunded"], card["state"]) == ("29.00", "partially_refunded")
    assert shop.unbalanced_entries() == []

    today = dt.datetime.now(dt.UTC).date().isoformat()
    trial = client.get(
        f"{API}/reports/trial-balance", params={"date_from": today, "date_to": today}, headers=admin
    )
    assert trial.status_code == 200, trial.text
    [payable] = [row for row in trial.json()["rows"] if row["account_code"] == "2230"]
    assert (payable["period_credit"], payable["closing_balance"]) == ("29.00", "-29.00")

    owed = client.get(f"{API}/returns/pending-refunds", headers=admin)
    assert owed.status_code == 200, owed.text
    [item] = owed.json()["items"]
    assert (item["id"], item["return_number"], item["amount"], item["age_days"]) == (
        pending["id"],
        ret["number"],
        "29.00",
        0,
    )

    url = f"{API}/returns/{ret['id']}/refunds/{pending['id']}/confirm"
    confirmed = client.post(url, headers=admin)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    assert shop.balance("refunds_payable") == 0
    assert shop.balance("card_clearing") == D("87.00") - D("29.00")
    after = snapshot()
    again = client.post(url, headers=admin)  # a replay, without an idempotency key: nothing moves
    assert again.status_code == 200 and again.json()["status"] == "confirmed"
    assert snapshot() == after
    assert shop.balance("card_clearing") == D("58.00")
    assert _card(client, admin, order)["refunded"] == "29.00"
    assert client.get(f"{API}/returns/pending-refunds", headers=admin).json()["items"] == []
    failed = client.post(f"{API}/returns/{ret['id']}/refunds/{pending['id']}/fail", headers=admin)
    assert_problem(failed, 409, "invalid-state-transition")
    assert shop.unbalanced_entries() == []


def test_a_pending_card_refund_reserves_the_card_and_a_card_reference_confirms_by_settlement(
    client, admin, runtime, shop, snapshot
):
    _policy(client, admin, shop, card_refunds_await_confirmation=True)
    # 60.00, of which 20.00 by card; the rest is owed.
    body = {"company_id": shop.company["id"], "lines": [{"product_id": shop.shirt["id"], "quantity": "2"}]}
    order = client.post(f"{API}/orders", json=body, headers=admin).json()
    client.post(
        f"{API}/orders/{order['id']}/payments",
        json={"gateway": "stripe", "reference": "pi_part", "amount": "20.00"},
        headers=admin,
    )
    order = client.post(f"{API}/orders/{order['id']}/fulfillments", headers=admin).json()
    captured = order["payments"][0]["id"]
    first = _returned(client, admin, shop, order)
    split = client.post(
        f"{API}/returns/{first['id']}/refund",
        json={
            "tenders": [
                {"kind": "card", "tender_id": captured, "amount": "20.00"},
                {"kind": "card", "gateway": "stripe", "reference": "card_9", "amount": "10.00"},
            ]
        },
        headers=admin,
    )
    assert split.status_code == 200, split.text
    by_reference = {refund["reference"]: refund for refund in split.json()["card_refunds"]}
    assert {ref: r["status"] for ref, r in by_reference.items()} == {
        "pi_part": "pending",
        "card_9": "pending",
    }
    assert shop.balance("refunds_payable") == D("-30.00")

    # The card's 20.00 is promised already: a second return cannot take it again while it is pending.
    second = _returned(client, admin, shop, order)
    before = snapshot()
    over = client.post(
        f"{API}/returns/{second['id']}/refund",
        json={
            "tenders": [
                {"kind": "card", "tender_id": captured, "amount": "20.00"},
                {"kind": "on_account", "amount": "10.00"},
            ]
        },
        headers=admin,
    )
    assert_problem(over, 409, "refund-exceeds-captured", ("tenders.0.amount",))
    assert snapshot() == before

    # The settlement (issue 17) confirms by gateway, reference and amount.
    company_id = uuid.UUID(shop.company["id"])
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, company_id)
        ctx = CommandContext(system_principal("settlements"))
        done = returns_services.confirm_card_refund(session, ctx, company, "stripe", "card_9", D("10.00"))
        assert done is not None and done.status == "confirmed"
        unknown = returns_services.confirm_card_refund(session, ctx, company, "stripe", "card_9", D("10.00"))
        assert unknown is None  # nothing pending matches any more
        paid = returns_services.confirm_card_refund(session, ctx, company, "stripe", "pi_part", D("20.00"))
        assert paid is not None and paid.status == "confirmed"
    assert shop.balance("refunds_payable") == 0
    assert shop.balance("card_clearing") == D("20.00") - D("30.00")
    assert shop.unbalanced_entries() == []


def test_a_refused_card_refund_frees_the_card_and_is_owed_until_reissued(client, admin, auth, shop):
    _policy(client, admin, shop, card_refunds_await_confirmation=True)
    order = shop.web_order()
    ret = _returned(client, admin, shop, order)
    [pending] = client.post(f"{API}/returns/{ret['id']}/refund", headers=admin).json()["card_refunds"]
    base = f"{API}/returns/{ret['id']}/refunds/{pending['id']}"

    cashier = auth("cashier", company="ACME", store="S1")
    assert_problem(client.post(f"{base}/fail", headers=cashier), 403, "permission-denied")
    assert_problem(
        client.post(
            f"{base}/reissue", json={"tenders": [{"kind": "cash", "amount": "29.00"}]}, headers=admin
        ),
        409,
        "invalid-state-transition",
    )
    failed = client.post(f"{base}/fail", json={"reason": "card expired"}, headers=admin)
    assert failed.status_code == 200, failed.text
    assert (failed.json()["status"], failed.json()["failure_reason"]) == ("failed", "card expired")
    card = _card(client, admin, order)
    assert (card["refunded"], card["state"]) == ("0.00", "captured")  # the card can give it back again
    assert shop.balance("refunds_payable") == D("-29.00")  # still owed to the customer
    assert shop.balance("card_clearing") == D("87.00")
    assert client.post(f"{base}/fail", headers=admin).json()["status"] == "failed"  # a replay
    assert_problem(client.post(f"{base}/confirm", headers=admin), 409, "invalid-state-transition")
    listed = client.get(f"{API}/returns/pending-refunds?status=failed", headers=admin).json()["items"]
    assert [item["id"] for item in listed] == [pending["id"]]

    wrong = client.post(
        f"{base}/reissue", json={"tenders": [{"kind": "cash", "amount": "28.00"}]}, headers=admin
    )
    assert_problem(wrong, 422, "tenders-do-not-add-up")
    # Retry on the card: a new pending refund, confirmed in turn.
    retried = client.post(
        f"{base}/reissue",
        json={"tenders": [{"kind": "card", "tender_id": card["id"], "amount": "29.00"}]},
        headers=admin,
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "reissued"
    refunds = client.get(f"{API}/returns/{ret['id']}", headers=admin).json()["card_refunds"]
    assert [r["status"] for r in refunds] == ["reissued", "pending"]
    confirmed = client.post(f"{API}/returns/{ret['id']}/refunds/{refunds[1]['id']}/confirm", headers=admin)
    assert confirmed.status_code == 200, confirmed.text
    assert shop.balance("refunds_payable") == 0
    assert shop.balance("card_clearing") == D("58.00")
    assert _card(client, admin, order)["refunded"] == "29.00"
    assert shop.unbalanced_entries() == []


def test_a_restocking_fee_carries_the_lines_output_tax_unless_the_policy_says_not(
    client, admin, runtime, shop
):
    order = shop.web_order()  # the line: 72.50 net + 14.50 VAT; one unit refunds 24.17 + 4.83
    ret = _returned(client, admin, shop, order)
    refunded = client.post(
        f"{API}/returns/{ret['id']}/refund", json={"restocking_fee": "5.00"}, headers=admin
    )
    assert refunded.status_code == 200, refunded.text
    assert (refunded.json()["refunded_total"], refunded.json()["restocking_fee"]) == ("24.00", "5.00")
    lines = _entry(runtime, shop, ret["number"], "SALES")
    # 0.83 = round(5.00 x 4.83 / 29.00): the fee is 4.17 net + 0.83 tax at the line's 20 %.
    assert sorted(line[:3] for line in lines) == sorted(
        [
            ("sales_returns", "debit", D("24.17")),
            ("output_tax", "debit", D("4.83")),
            ("refunds_payable", "credit", D("24.00")),
            ("restocking_fees", "credit", D("4.17")),
            ("output_tax", "credit", D("0.83")),
        ]
    )
    [fee_tax] = [line for line in lines if line[:2] == ("output_tax", "credit")]
    assert fee_tax[3] == D("4.17")  # the fee's net is the base of its tax
    assert shop.unbalanced_entries() == []

    _policy(client, admin, shop, restocking_fee_taxable=False)
    untaxed = _returned(client, admin, shop, order)
    client.post(f"{API}/returns/{untaxed['id']}/refund", json={"restocking_fee": "5.00"}, headers=admin)
    lines = _entry(runtime, shop, untaxed["number"], "SALES")
    assert ("restocking_fees", "credit", D("5.00")) in [line[:3] for line in lines]
    assert [line for line in lines if line[0] == "output_tax" and line[1] == "credit"] == []
    assert shop.balance("restocking_fees") == D("-9.17")
    assert shop.unbalanced_entries() == []


def _entry(runtime, shop, reference, journal):
    company_id = uuid.UUID(shop.company["id"])
    with runtime.session_factory() as session:
        rows = session.execute(
            select(Account.role, a.JournalLine.debit, a.JournalLine.credit, a.JournalLine.tax_base)
            .join(Account, Account.id == a.JournalLine.account_id)
            .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
            .join(a.Journal, a.Journal.id == a.JournalEntry.journal_id)
            .where(
                a.JournalEntry.reference == reference,
                a.Journal.code == journal,
                Account.company_id == company_id,
            )
        ).all()
    return [
        (role, "debit" if debit else "credit", debit or credit, tax_base)
        for role, debit, credit, tax_base in rows
    ]


@pytest.fixture
def rtv(runtime, shop):
    """A return-to-vendor location at S1 (a damaged-kind location coded S1-RTV)."""
    from retailcore.masterdata.tables import Location

    with transaction(runtime.session_factory) as session:
        session.add(
            Location(
                company_id=uuid.UUID(shop.company["id"]),
                store_id=uuid.UUID(shop.store["id"]),
                code="S1-RTV",
                name="S1 return to vendor",
                kind="damaged",
            )
        )
    return "S1-RTV"


def test_disposition_rules_are_read_replaced_and_validated(client, admin, auth, runtime, shop, snapshot):
    shown = client.get(f"{API}/return-dispositions", headers=admin)
    assert shown.status_code == 200, shown.text
    assert [
        (r["condition"], r["location_kind"], r["location_code"], r["valuation_role"], r["default"])
        for r in shown.json()["rules"]
    ] == [
        ("resaleable", "stock", None, "inventory", True),
        ("damaged", "damaged", None, "damaged_goods", True),
        ("defective", "damaged", "RTV", "damaged_goods", True),
    ]
    company = shop.company["id"]
    manager = auth("store_manager", company="ACME", store="S1")
    before = snapshot()
    for rules, status, field in (
        ([{"condition": "broken", "location_kind": "stock"}], 422, "rules.0.condition"),
        ([{"condition": "damaged", "location_kind": "shelf"}], 422, "rules.0.location_kind"),
        (
            [{"condition": "damaged", "location_kind": "damaged", "location_code": "NOPE"}],
            422,
            "rules.0.location_code",
        ),
        (
            [
                {"condition": "damaged", "location_kind": "stock"},
                {"condition": "damaged", "location_kind": "stock"},
            ],
            422,
            "rules.1.condition",
        ),
    ):
        refused = client.put(
            f"{API}/return-dispositions", json={"company_id": company, "rules": rules}, headers=admin
        )
        assert_problem(refused, status, fields=(field,))
    assert_problem(
        client.put(f"{API}/return-dispositions", json={"company_id": company, "rules": []}, headers=manager),
        403,
        "permission-denied",
    )
    assert snapshot() == before

    # Damaged goods go back on the shelf at this company (sold as seen).
    put = client.put(
        f"{API}/return-dispositions",
        json={"company_id": company, "rules": [{"condition": "damaged", "location_kind": "stock"}]},
        headers=admin,
    )
    assert put.status_code == 200, put.text
    damaged = next(r for r in put.json()["rules"] if r["condition"] == "damaged")
    assert (damaged["location_kind"], damaged["valuation_role"], damaged["default"]) == (
        "stock",
        "inventory",
        False,
    )
    assert client.get(f"{API}/return-dispositions", headers=admin).json() == put.json()
    order = shop.web_order()
    _returned(client, admin, shop, order, condition="damaged")
    assert shop.on_hand("stock", shop.store["id"]) == D(1)
    assert shop.on_hand("damaged", shop.store["id"]) == D(0)
    with runtime.session_factory() as session:
        changed = session.scalars(select(Event).where(Event.type == "ReturnDispositionsChanged")).one()
    assert changed.payload["after"][1]["location_kind"] == "stock"
    assert changed.payload["before"][1]["location_kind"] == "damaged"

    # Leaving a condition out puts its default back.
    reset = client.put(f"{API}/return-dispositions", json={"company_id": company, "rules": []}, headers=admin)
    assert all(r["default"] for r in reset.json()["rules"])

    from typer.testing import CliRunner

    from retailcore.entrypoints.cli.main import app

    listed = CliRunner().invoke(app, ["returns", "dispositions", "--output", "json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["rules"][2] == {
        "condition": "defective",
        "location_kind": "damaged",
        "location_code": "RTV",
        "valuation_role": "damaged_goods",
        "default": True,
    }
    table = CliRunner().invoke(app, ["returns", "dispositions"])
    assert table.exit_code == 0 and "resaleable" in table.stdout


def test_a_return_to_vendor_code_is_accepted_when_the_location_exists(client, admin, shop, rtv):
    put = client.put(
        f"{API}/return-dispositions",
        json={
            "company_id": shop.company["id"],
            "rules": [{"condition": "defective", "location_kind": "damaged", "location_code": "RTV"}],
        },
        headers=admin,
    )
    assert put.status_code == 200, put.text
    defective = next(r for r in put.json()["rules"] if r["condition"] == "defective")
    assert (defective["location_code"], defective["default"]) == ("RTV", False)
