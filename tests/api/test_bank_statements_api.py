"""Bank statements over HTTP (issue 17, decision 0037): a CAMT.053 statement matching the Stripe payout a
settlement import left in transit, a store's cash deposit, a supplier payment, unmatched entries raised
to the exceptions console and worked by hand, re-imports that change nothing, bad files refused naming
their entry with nothing written, and the reconciliation of the bank account to its statement."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from apitools import API
from settlement_shop import Shop
from sqlalchemy import func, select

from retailcore.banking.tables import BankEntry, BankStatement, BankStatementFile, CashDeposit
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Location
from retailcore.monitoring.tables import ExceptionCase

D = Decimal
FIXTURES = Path(__file__).parents[1] / "fixtures"
STRIPE = (FIXTURES / "external" / "stripe" / "balance_transactions_sample.csv").read_text()
PAYOUT_XML = (FIXTURES / "bank" / "stripe_payout.camt053.xml").read_text()
MIXED_XML = (FIXTURES / "bank" / "store_and_suppliers.camt053.xml").read_text()
CSV = (FIXTURES / "bank" / "statement.csv").read_text()
MAPPING = (FIXTURES / "bank" / "statement_mapping.json").read_text()
IBAN = "GB29 NWBK 6016 1331 9268 19"
PAYOUT = "po_1RbQx2Kx7aZ3LmN0pQrStUvW"
CH1, CH2, PI3 = "ch_3RZaA1Kx7aZ3LmN01XyZ0001", "ch_3RZaB2Kx7aZ3LmN02XyZ0002", "pi_3RZaC3Kx7aZ3LmN03AbC0003"


@pytest.fixture
def shop(runtime, client, admin):
    return Shop(runtime, client, admin)


@pytest.fixture
def finance(auth, shop):
    return auth("finance", company="SHOP")


@pytest.fixture
def bank(client, finance, shop):
    """The shop's bank account (ledger role bank, where Stripe pays out) with 1,000.00 opening balance."""
    made = client.post(
        f"{API}/bank-accounts",
        json={"company_id": shop.company["id"], "code": "MAIN", "iban": IBAN, "amount_tolerance": "1.00"},
        headers=finance,
    )
    assert made.status_code == 201, made.text
    opening = {
        "company_id": shop.company["id"],
        "date": "2025-06-01",
        "reference": "opening balance",
        "lines": [
            {"account_code": shop.code_of("bank"), "debit": "1000.00"},
            {"account_code": shop.code_of("opening_balance"), "credit": "1000.00"},
        ],
    }
    posted = client.post(f"{API}/journal-entries", json=opening, headers=finance)
    assert posted.status_code == 201, posted.text
    return made.json()


@pytest.fixture
def settled(client, admin, finance, shop, bank):
    """The settlement tests' Stripe payout: 3 charges, a refund, a dispute won, Radar; 160.66 in transit."""
    first = shop.order("59.99", "stripe", CH1)
    shop.order("120.00", "stripe", CH2)
    shop.order("24.50", "stripe", PI3)
    card = first["payments"][0]
    refunded = client.post(
        f"{API}/orders/{first['id']}/payments/{card['id']}/refund", json={"amount": "20.00"}, headers=admin
    )
    assert refunded.status_code == 200, refunded.text
    body = {"company_id": shop.company["id"], "gateway": "stripe", "content": STRIPE}
    done = client.post(f"{API}/settlements", json=body, headers=finance)
    assert done.status_code == 201, done.text
    assert shop.balance(shop.code_of("cash_in_transit")) == D("160.66")
    return done.json()


def upload(client, headers, shop, content, **fields):
    body = {"company_id": shop.company["id"], "content": content, **fields}
    return client.post(f"{API}/bank-statements", json=body, headers=headers)


def imported(client, headers, shop, content, **fields):
    done = upload(client, headers, shop, content, **fields)
    assert done.status_code == 201, done.text
    return done.json()


def entries(client, headers, **params):
    listed = client.get(f"{API}/bank-statements/entries", params=params, headers=headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


def posted_lines(client, headers, entry_id):
    entry = client.get(f"{API}/journal-entries/{entry_id}", headers=headers).json()
    return sorted((line["account_code"], line["debit"], line["credit"]) for line in entry["lines"])


def counts(runtime):
    with runtime.session_factory() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (BankStatementFile, BankStatement, BankEntry, CashDeposit, ExceptionCase, Event)
        )


def bill_of_1000(client, admin, finance, shop, runtime):
    """A posted vendor bill BILL-000001 of 1,000.00 (10 x 100.00, no tax) from Fabrikam Textiles."""
    product = shop._product("100.00")
    with runtime.session_factory() as session:
        location = session.scalar(
            select(Location.id).where(
                Location.store_id == uuid.UUID(shop.warehouse["id"]), Location.kind == "stock"
            )
        )
    order = {
        "company_id": shop.company["id"],
        "supplier": "Fabrikam Textiles",
        "store_id": shop.warehouse["id"],
        "order_date": "2025-06-01",
        "lines": [{"product_id": product["id"], "quantity": "10", "unit_price": "100.00"}],
    }
    made = client.post(f"{API}/purchase-orders", json=order, headers=admin)
    assert made.status_code == 201, made.text
    po = client.post(f"{API}/purchase-orders/{made.json()['id']}/confirm", headers=admin).json()
    line = po["lines"][0]["id"]
    receipt = {
        "purchase_order_id": po["id"],
        "date": "2025-06-02",
        "lines": [{"po_line_id": line, "quantity": "10", "location_id": str(location)}],
    }
    assert client.post(f"{API}/receipts", json=receipt, headers=admin).status_code == 201
    bill = {
        "purchase_order_id": po["id"],
        "bill_date": "2025-06-03",
        "supplier_invoice_ref": "INV-7781",
        "lines": [{"po_line_id": line, "quantity": "10", "unit_price": "100.00", "tax": "0"}],
    }
    billed = client.post(f"{API}/vendor-bills", json=bill, headers=finance)
    assert billed.status_code == 201, billed.text
    assert (billed.json()["number"], billed.json()["total"], billed.json()["state"]) == (
        "BILL-000001",
        "1000.00",
        "matched",
    )
    return billed.json()


# -- the Stripe payout ----------------------------------------------------------------------------------


def test_a_camt053_statement_matches_the_stripe_payout_and_moves_transit_to_the_bank(
    client, finance, shop, settled, runtime
):
    bank_code, transit = shop.code_of("bank"), shop.code_of("cash_in_transit")

    result = imported(client, finance, shop, PAYOUT_XML, filename="stripe_payout.camt053.xml")

    assert (result["replayed"], result["statements"], result["entries_read"]) == (False, 1, 1)
    assert (result["entries_new"], result["matched"], result["unmatched"]) == (1, 1, 0)
    [entry_id] = result["entries"]
    # 160.66 from transit (the batch's net) to the bank: the payout is now where the bank says it is.
    assert posted_lines(client, finance, entry_id) == sorted(
        [(bank_code, "160.66", "0.00"), (transit, "0.00", "160.66")]
    )
    assert shop.balance(transit) == D("0.00")
    assert shop.balance(bank_code) == D("1160.66")
    [entry] = entries(client, finance)
    assert (entry["state"], entry["match_kind"], entry["matched_ref"]) == ("matched", "payout", PAYOUT)
    assert (entry["amount"], entry["expected"], entry["booked_on"]) == ("160.66", "160.66", "2025-06-09")
    matches = client.get(f"{API}/bank-statements/matches", headers=finance).json()["items"]
    assert [m["id"] for m in matches] == [entry["id"]]

    reconciled = client.get(f"{API}/bank-accounts/MAIN/reconciliation", headers=finance).json()
    assert reconciled == {
        "bank_account": "MAIN",
        "as_of": "2025-06-09",
        "statement_balance": "1160.66",
        "ledger_balance": "1160.66",
        "difference": "0.00",
        "explained": "0.00",
        "unexplained": "0.00",
        "reconciled": True,
        "items": [],
    }
    assert shop.unbalanced_entries() == []

    # The gateway's payout report comes after the bank's statement: its payout line is recorded on the
    # batch, and not posted out of transit a second time.
    at = "2025-06-06 00:00:00"
    first = ["txn_payout_1", at, at, at, at, "usd", "-160.66", "0.00", "-160.66", "payout", PAYOUT]
    payout_line = ",".join([*first, "Payout", "-160.66", "usd", PAYOUT, at, at, "", "", "", "", "", ""])
    body = {
        "company_id": shop.company["id"],
        "gateway": "stripe",
        "content": f"{STRIPE.splitlines()[0]}\n{payout_line}\n",
    }
    later = client.post(f"{API}/settlements", json=body, headers=finance)
    assert later.status_code == 201, later.text
    assert shop.balance(transit) == D("0.00")
    assert shop.balance(bank_code) == D("1160.66")
    assert shop.unbalanced_entries() == []


def test_importing_the_same_statement_again_changes_nothing(client, finance, shop, settled, runtime):
    first = imported(client, finance, shop, PAYOUT_XML)
    before = counts(runtime)
    balance = shop.balance(shop.code_of("bank"))

    again = imported(client, finance, shop, PAYOUT_XML)
    # The same entries in another file (another statement id, a byte apart): no entry is new.
    overlapping = imported(client, finance, shop, PAYOUT_XML.replace("STMT-20250609-USD", "STMT-COPY"))

    assert again == {**first, "replayed": True}
    assert (overlapping["replayed"], overlapping["entries_new"], overlapping["entries"]) == (False, 0, [])
    after = counts(runtime)
    assert after[2:5] == before[2:5]  # no entry, deposit or exception more
    assert shop.balance(shop.code_of("bank")) == balance


# -- a store's cash deposit, a supplier payment, what matches nothing ---------------------------------------


def test_a_cash_deposit_and_a_supplier_payment_are_matched_and_the_rest_raised(
    client, admin, finance, shop, settled, runtime, auth
):
    imported(client, finance, shop, PAYOUT_XML)
    bill = bill_of_1000(client, admin, finance, shop, runtime)
    manager = auth("store_manager", company="SHOP", store="W1")
    deposit = client.post(
        f"{API}/cash-deposits",
        json={"store_id": "W1", "reference": "SLIP-000123", "amount": "850.00", "deposited_on": "2025-06-09"},
        headers=manager,
    )
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["state"] == "pending"
    payables, safe, bank_code = (
        shop.code_of("payables"),
        shop.code_of("cash_in_transit"),
        shop.code_of("bank"),
    )
    assert shop.balance(payables) == D("-1000.00")

    result = imported(client, finance, shop, MIXED_XML, filename="store_and_suppliers.camt053.xml")

    assert (result["entries_new"], result["matched"], result["unmatched"]) == (4, 2, 2)
    deposit_entry, bill_entry = result["entries"]
    assert posted_lines(client, finance, deposit_entry) == sorted(
        [(bank_code, "850.00", "0.00"), (safe, "0.00", "850.00")]
    )
    assert posted_lines(client, finance, bill_entry) == sorted(
        [(bank_code, "0.00", "1000.00"), (payables, "1000.00", "0.00")]
    )
    assert shop.balance(payables) == D("0.00")
    listed = client.get(f"{API}/cash-deposits", headers=finance).json()["items"]
    assert [(d["reference"], d["state"]) for d in listed] == [("SLIP-000123", "banked")]
    by_line = {e["line"]: e for e in entries(client, finance, statement_id=_statement(client, finance, 2))}
    assert [(e["state"], e["match_kind"], e["matched_ref"]) for _, e in sorted(by_line.items())] == [
        ("matched", "cash_deposit", "SLIP-000123"),
        ("matched", "supplier_payment", bill["number"]),
        ("unmatched", None, None),
        ("unmatched", None, None),
    ]

    # The bank fee and the insurance credit are one console exception each.
    console = client.get(f"{API}/exceptions", params={"type": "bank_unmatched"}, headers=finance).json()
    assert sorted((x["amount_at_risk"], x["status"]) for x in console["items"]) == [
        ("12.50", "open"),
        ("75.00", "open"),
    ]

    # Reconciliation: the statement (1,073.16) against the books (1,010.66), explained by the two.
    figures = client.get(f"{API}/bank-accounts/MAIN/reconciliation", headers=finance).json()
    assert (figures["statement_balance"], figures["ledger_balance"]) == ("1073.16", "1010.66")
    assert (figures["difference"], figures["explained"], figures["unexplained"]) == ("62.50", "62.50", "0.00")
    assert figures["reconciled"] is False
    assert sorted((i["kind"], i["amount"]) for i in figures["items"]) == [
        ("in_bank_not_in_books", "-12.50"),
        ("in_bank_not_in_books", "75.00"),
    ]

    # Finance works them: the fee to an expense account, the credit resolved (booked elsewhere).
    fee = next(e for e in by_line.values() if e["amount"] == "-12.50")
    credit = next(e for e in by_line.values() if e["amount"] == "75.00")
    fees = shop.code_of("gateway_fees")
    matched = client.post(
        f"{API}/bank-statements/entries/{fee['id']}/match",
        json={"kind": "account", "account": fees, "note": "monthly account fee"},
        headers=finance,
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["state"] == "matched" and matched.json()["matched_by"].startswith("token:finance")
    assert posted_lines(client, finance, matched.json()["entry_id"]) == sorted(
        [(bank_code, "0.00", "12.50"), (fees, "12.50", "0.00")]
    )
    resolved = client.post(
        f"{API}/bank-statements/entries/{credit['id']}/resolve",
        json={"note": "insurance claim, booked by the accountant"},
        headers=finance,
    )
    assert resolved.status_code == 200, resolved.text
    again = client.post(
        f"{API}/bank-statements/entries/{credit['id']}/resolve", json={"note": "twice"}, headers=finance
    )
    assert again.status_code == 409
    console = client.get(f"{API}/exceptions", params={"type": "bank_unmatched"}, headers=finance).json()
    assert sorted(x["status"] for x in console["items"]) == ["resolved", "resolved"]
    with runtime.session_factory() as session:
        trail = session.scalars(
            select(Event.type).where(Event.type.in_(["BankEntryMatched", "BankEntryResolved"]))
        ).all()
    assert sorted(trail).count("BankEntryMatched") == 4 and "BankEntryResolved" in trail
    assert shop.unbalanced_entries() == []


def _statement(client, headers, electronic_sequence_rank):
    """The id of the n-th statement imported (by closing date)."""
    listed = client.get(f"{API}/bank-statements", headers=headers).json()["items"]
    ordered = sorted(listed, key=lambda s: s["closing_on"])
    return ordered[electronic_sequence_rank - 1]["id"]


def test_a_payout_within_the_tolerance_posts_the_difference_to_the_gateways_fees(
    client, finance, shop, settled
):
    short = PAYOUT_XML.replace(">160.66<", ">160.16<").replace(">1160.66<", ">1160.16<")

    result = imported(client, finance, shop, short)

    assert result["matched"] == 1
    assert posted_lines(client, finance, result["entries"][0]) == sorted(
        [
            (shop.code_of("bank"), "160.16", "0.00"),
            (shop.code_of("cash_in_transit"), "0.00", "160.66"),
            (shop.code_of("gateway_fees"), "0.50", "0.00"),
        ]
    )


def test_a_payout_beyond_the_tolerance_stays_unmatched_and_is_matched_by_hand(client, finance, shop, settled):
    far = PAYOUT_XML.replace(">160.66<", ">150.66<").replace(">1160.66<", ">1150.66<")

    result = imported(client, finance, shop, far)

    assert (result["matched"], result["unmatched"]) == (0, 1)
    [entry] = entries(client, finance, state="unmatched")
    batch = client.get(f"{API}/settlements", headers=finance).json()["items"][0]
    matched = client.post(
        f"{API}/bank-statements/entries/{entry['id']}/match",
        json={"kind": "payout", "target_id": batch["id"], "note": "Stripe withheld 10.00 reserve"},
        headers=finance,
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["matched_ref"] == PAYOUT
    assert shop.balance(shop.code_of("cash_in_transit")) == D("0.00")
    twice = client.post(
        f"{API}/bank-statements/entries/{entry['id']}/match",
        json={"kind": "payout", "target_id": batch["id"], "note": "again"},
        headers=finance,
    )
    assert twice.status_code == 409


def test_a_csv_statement_with_a_mapping_is_imported(client, finance, shop, bank):
    result = imported(
        client,
        finance,
        shop,
        CSV,
        format="csv",
        account="MAIN",
        mapping=json.loads(MAPPING),
        filename="s.csv",
    )

    assert (result["entries_new"], result["matched"], result["unmatched"]) == (2, 0, 2)
    statements = client.get(f"{API}/bank-statements", headers=finance).json()["items"]
    assert [(s["opening"], s["closing"], s["closing_on"]) for s in statements] == [
        ("1073.16", "1053.16", "2025-06-13")
    ]


# -- bad files ------------------------------------------------------------------------------------------


BAD = {
    "truncated": (PAYOUT_XML[: PAYOUT_XML.index("<AcctSvcrRef>")], "file.line.", "not well-formed XML"),
    "unknown currency": (
        PAYOUT_XML.replace('<Amt Ccy="USD">160.66', '<Amt Ccy="XYZ">160.66'),
        "file.line.49",
        "entry 1 (line 49): unknown currency 'XYZ'",
    ),
    "balances": (
        PAYOUT_XML.replace(">1160.66<", ">1160.00<"),
        "file",
        "opening balance 1000.00 + entries 160.66 = 1160.66, not the closing balance 1160.00",
    ),
    "no amount": (
        PAYOUT_XML.replace('<Amt Ccy="USD">160.66</Amt>', ""),
        "file.line.49",
        "entry 1 (line 49): no amount (Amt)",
    ),
    "bad direction": (
        PAYOUT_XML.replace(
            "<CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>", "<CdtDbtInd>CR</CdtDbtInd>\n        <Sts>"
        ),
        "file.line.",
        "entry 1 (line 49): CdtDbtInd 'CR' is neither CRDT nor DBIT",
    ),
    "unknown IBAN": (
        PAYOUT_XML.replace("GB29NWBK60161331926819", "DE89370400440532013000"),
        "file",
        "unknown bank account DE89370400440532013000",
    ),
    "not camt.053": (
        PAYOUT_XML.replace("camt.053.001.02", "camt.052.001.02"),
        "file.line.2",
        "not a CAMT.053 document",
    ),
}


@pytest.mark.parametrize("fault", sorted(BAD))
def test_a_bad_statement_is_refused_naming_the_entry_and_nothing_is_written(
    client, finance, shop, settled, runtime, fault
):
    content, field, message = BAD[fault]
    before, balance = counts(runtime), shop.balance(shop.code_of("bank"))

    refused = upload(client, finance, shop, content)

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "bank-statement-refused"
    assert problem["errors"][0]["field"].startswith(field)
    assert message in problem["detail"]
    assert counts(runtime) == before
    assert shop.balance(shop.code_of("bank")) == balance


def test_a_statement_of_another_account_than_named_is_refused(client, finance, shop, bank):
    other = client.post(
        f"{API}/bank-accounts",
        json={"company_id": shop.company["id"], "code": "SAVINGS", "iban": "GB94BARC10201530093459"},
        headers=finance,
    )
    assert other.status_code == 201, other.text

    refused = upload(client, finance, shop, PAYOUT_XML, account="SAVINGS")

    assert refused.status_code == 422
    assert "not of GB94BARC10201530093459" in refused.json()["detail"]


def test_bank_accounts_are_listed_and_changed_by_finance_only(client, finance, shop, bank, auth):
    listed = client.get(f"{API}/bank-accounts", headers=finance).json()["items"]
    assert [(a["code"], a["iban"], a["currency"], a["account"]) for a in listed] == [
        ("MAIN", "GB29NWBK60161331926819", "USD", shop.code_of("bank"))
    ]
    changed = client.patch(f"{API}/bank-accounts/MAIN", json={"date_window_days": 10}, headers=finance)
    assert changed.status_code == 200 and changed.json()["date_window_days"] == 10
    cashier = auth("cashier", company="SHOP")
    assert client.get(f"{API}/bank-accounts", headers=cashier).status_code == 403
    assert upload(client, cashier, shop, PAYOUT_XML).status_code == 403


def test_the_reconciliation_as_of_a_day_before_any_statement_has_no_statement_balance(
    client, finance, shop, bank
):
    figures = client.get(
        f"{API}/bank-accounts/MAIN/reconciliation", params={"as_of": dt.date(2025, 6, 2).isoformat()},
        headers=finance,
    ).json()  # fmt: skip
    assert (figures["statement_balance"], figures["ledger_balance"], figures["reconciled"]) == (
        None,
        "1000.00",
        False,
    )


def test_an_adyen_payout_the_settlement_posted_is_confirmed_not_posted_again(client, admin, auth, runtime):
    shop = Shop(runtime, client, admin, currency="EUR")
    finance = auth("finance", company="SHOP")
    made = client.post(
        f"{API}/bank-accounts",
        json={"company_id": shop.company["id"], "code": "EUR", "iban": "DE89370400440532013000"},
        headers=finance,
    )
    assert made.status_code == 201, made.text
    adyen = (FIXTURES / "external" / "adyen" / "settlement_detail_sample.csv").read_text()
    body = {"company_id": shop.company["id"], "gateway": "adyen", "content": adyen}
    assert client.post(f"{API}/settlements", json=body, headers=finance).status_code == 201
    bank_code = shop.code_of("bank")
    assert shop.balance(bank_code) == D("165.83")  # the MerchantPayout line posted transit to bank
    before = client.get(f"{API}/bank-accounts/EUR/reconciliation", params={"as_of": "2025-06-06"},
                        headers=finance).json()  # fmt: skip
    assert [(i["kind"], i["what"], i["amount"]) for i in before["items"]] == [
        ("in_books_not_in_bank", "payout 42", "165.83")
    ]
    statement = (
        PAYOUT_XML.replace("GB29NWBK60161331926819", "DE89370400440532013000")
        .replace('Ccy="USD"', 'Ccy="EUR"')
        .replace("<Ccy>USD</Ccy>", "<Ccy>EUR</Ccy>")
        .replace(">1000.00<", ">0.00<")
        .replace(">160.66<", ">165.83<")
        .replace(">1160.66<", ">165.83<")
        .replace("STRIPE", "ADYEN TX4815162342XT")
    )

    result = imported(client, finance, shop, statement)

    assert (result["matched"], result["entries"]) == (1, [])
    assert shop.balance(bank_code) == D("165.83")
    [entry] = entries(client, finance)
    assert (entry["match_kind"], entry["matched_ref"], entry["entry_id"]) == ("payout", "42", None)
    after = client.get(f"{API}/bank-accounts/EUR/reconciliation", headers=finance).json()
    assert (after["statement_balance"], after["ledger_balance"], after["reconciled"]) == (
        "165.83",
        "165.83",
        True,
    )


@pytest.mark.parametrize("path", ["bank-statements", "bank-statements/entries", "bank-statements/matches"])
def test_a_list_filtered_by_an_unknown_bank_account_is_a_bad_request_naming_it(client, finance, shop, path):
    answer = client.get(f"{API}/{path}", params={"account": "NOPE"}, headers=finance)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["account"]
