"""The period close (issue 17, decision 0038): a shop whose month is in order (a closed POS session, a
Stripe payout of 3 charges, a refund and fees settled, and the bank statement that shows the payout
arrive) has a checklist with no red item, and closes: the lock date moves to the month's last day. One
planted fault at a time turns exactly its item red, and the close is refused naming it: a capture the
gateway skipped, an entry on the inventory account that no stock move explains, a POS session left open.

The settlement and statement fixtures are the bank tests' (tests/fixtures/external/stripe, tests/fixtures
/bank), their days moved into the current month: orders are placed now, and the period is this month.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from apitools import API, assert_problem
from settlement_shop import Shop

FIXTURES = Path(__file__).parents[1] / "fixtures"
TODAY = dt.datetime.now(dt.UTC).date()
PERIOD = TODAY.strftime("%Y-%m")
STRIPE = (FIXTURES / "external" / "stripe" / "balance_transactions_sample.csv").read_text()
PAYOUT_XML = (FIXTURES / "bank" / "stripe_payout.camt053.xml").read_text()
IBAN = "GB29 NWBK 6016 1331 9268 19"
CH1, CH2, PI3 = "ch_3RZaA1Kx7aZ3LmN01XyZ0001", "ch_3RZaB2Kx7aZ3LmN02XyZ0002", "pi_3RZaC3Kx7aZ3LmN03AbC0003"
LAST_DAY = (
    dt.date(TODAY.year + TODAY.month // 12, TODAY.month % 12 + 1, 1) - dt.timedelta(days=1)
).isoformat()


def this_month(text: str) -> str:
    return text.replace("2025-06-", f"{PERIOD}-")


@pytest.fixture
def shop(runtime, client, admin):
    return Shop(runtime, client, admin)


@pytest.fixture
def finance(auth, shop):
    return auth("finance", company="SHOP")


def month_in_order(client, admin, auth, finance, shop, skipped: bool = False, statement: bool = True) -> None:
    """A bank account with 1,000.00, three Stripe captures (and a refund) settled in one payout that the
    bank's statement shows arrive, and one POS session opened and closed. ``skipped``: a capture the
    gateway's file does not carry, made before the ones it settled. ``statement=False``: the bank's
    statement is not imported."""
    made = client.post(
        f"{API}/bank-accounts",
        json={"company_id": shop.company["id"], "code": "MAIN", "iban": IBAN, "amount_tolerance": "1.00"},
        headers=finance,
    )
    assert made.status_code == 201, made.text
    opening = {
        "company_id": shop.company["id"],
        "date": f"{PERIOD}-01",
        "reference": "opening balance",
        "lines": [
            {"account_code": shop.code_of("bank"), "debit": "1000.00"},
            {"account_code": shop.code_of("opening_balance"), "credit": "1000.00"},
        ],
    }
    assert client.post(f"{API}/journal-entries", json=opening, headers=finance).status_code == 201
    if skipped:
        shop.order("10.00", "stripe", "ch_skipped_by_the_gateway")
    first = shop.order("59.99", "stripe", CH1)
    shop.order("120.00", "stripe", CH2)
    shop.order("24.50", "stripe", PI3)
    card = first["payments"][0]
    refunded = client.post(
        f"{API}/orders/{first['id']}/payments/{card['id']}/refund", json={"amount": "20.00"}, headers=admin
    )
    assert refunded.status_code == 200, refunded.text
    body = {"company_id": shop.company["id"], "gateway": "stripe", "content": this_month(STRIPE)}
    settled = client.post(f"{API}/settlements", json=body, headers=finance)
    assert settled.status_code == 201, settled.text
    for mismatch in client.get(f"{API}/mismatches", params={"state": "open"}, headers=finance).json()[
        "items"
    ]:
        resolved = client.post(
            f"{API}/mismatches/{mismatch['id']}/resolve", json={"note": "seen"}, headers=finance
        )
        assert resolved.status_code == 200, resolved.text
    if statement:
        body = {"company_id": shop.company["id"], "content": this_month(PAYOUT_XML)}
        assert client.post(f"{API}/bank-statements", json=body, headers=finance).status_code == 201
    pos_session(client, admin, auth, shop, close=True)


def pos_session(client, admin, auth, shop, close: bool) -> dict:
    store = client.post(
        f"{API}/stores",
        json={"company_id": shop.company["id"], "code": "S1", "name": "Store 1", "kind": "store"},
        headers=admin,
    )
    assert store.status_code == 201, store.text
    manager = auth("store_manager", company="SHOP", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals", json={"store_id": store.json()["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    )  # fmt: skip
    assert terminal.status_code == 201, terminal.text
    cashier = auth("cashier", company="SHOP", store="S1")
    body = {"terminal_id": terminal.json()["id"], "opening_float": "0.00"}
    opened = client.post(f"{API}/pos/sessions", json=body, headers=cashier)
    assert opened.status_code == 201, opened.text
    if close:
        closed = client.post(
            f"{API}/pos/sessions/{opened.json()['id']}/close", json={"counted": {}}, headers=cashier
        )
        assert closed.status_code == 200, closed.text
    return opened.json()


def checklist(client, finance) -> dict:
    found = client.get(f"{API}/periods/{PERIOD}/close-checklist", headers=finance)
    assert found.status_code == 200, found.text
    return found.json()


def statuses(found: dict) -> dict[str, str]:
    return {item["code"]: item["status"] for item in found["items"]}


def item(found: dict, code: str) -> dict:
    [only] = [i for i in found["items"] if i["code"] == code]
    return only


IN_ORDER = {
    "pos_sessions": "green",
    "gateway:stripe": "green",
    "bank": "green",
    "stock": "green",
    "accruals": "green",
    "grni": "amber",
    "gift_cards": "green",
    "loyalty": "n/a",
    "customer_deposits": "green",
    "fx_revaluation": "n/a",
    "tax_return": "green",
}


def test_a_month_in_order_has_no_red_item_and_closes(client, admin, auth, finance, shop):
    month_in_order(client, admin, auth, finance, shop)

    found = checklist(client, finance)

    assert statuses(found) == IN_ORDER
    stripe = item(found, "gateway:stripe")["figures"]
    assert (stripe["settlement_lines_in_period"], stripe["open_mismatches"]) == (7, 0)
    # Captured 204.49, refunded 20.00, settled 184.49: clearing is empty and nothing is in flight.
    assert (stripe["clearing_balance"], stripe["in_flight"], stripe["clearing_unexplained"]) == (
        "0.00",
        "0.00",
        "0.00",
    )
    # The payout's 160.66 left transit when the statement showed it arrive.
    assert (stripe["transit_balance"], stripe["unpaid_batches"], stripe["transit_unexplained"]) == (
        "0.00",
        "0.00",
        "0.00",
    )
    [bank] = item(found, "bank")["figures"]["accounts"]
    assert (bank["statement_balance"], bank["ledger_balance"], bank["reconciled"]) == (
        "1160.66",
        "1160.66",
        True,
    )
    # The three web orders are paid and not shipped: 59.99 + 120.00 + 24.50 - 20.00 refunded = 184.49
    # paid and undelivered by their events, and in customer deposits.
    deposits = item(found, "customer_deposits")["figures"]
    assert (deposits["ledger_balance"], deposits["paid_not_delivered"], deposits["orders_with_deposit"]) == (
        "184.49",
        "184.49",
        3,
    )
    assert deposits["differing_orders"] == []

    # The report: CSV (one row per item) and HTML.
    as_csv = client.get(f"{API}/periods/{PERIOD}/close-checklist", params={"format": "csv"}, headers=finance)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {row["code"]: row["status"] for row in rows} == IN_ORDER
    page = client.get(f"{API}/periods/{PERIOD}/close-report", headers=finance)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f"Close checklist {PERIOD}" in page.text and "gateway:stripe" in page.text

    # Only finance closes a period (not even an admin), as only finance moves the lock date.
    by_admin = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=admin)
    assert_problem(by_admin, 403)
    # The amber accrual must be accepted by name; then the period is locked at its last day.
    refused = client.post(f"{API}/periods/{PERIOD}/close", json={}, headers=finance)
    assert_problem(refused, 409, "close-refused")
    assert "grni" in refused.json()["detail"]
    closed = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=finance)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["lock_date"], closed.json()["previous_lock_date"]) == (LAST_DAY, None)
    assert checklist(client, finance)["lock_date"] == LAST_DAY
    again = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=finance)
    assert_problem(again, 409, "period-closed")


def test_a_capture_the_gateway_skipped_turns_the_gateway_red(client, admin, auth, finance, shop):
    month_in_order(client, admin, auth, finance, shop, skipped=True)

    found = checklist(client, finance)

    assert statuses(found) == {**IN_ORDER, "gateway:stripe": "red"}
    stripe = item(found, "gateway:stripe")["figures"]
    assert (stripe["clearing_balance"], stripe["missing_from_settlement"]) == ("10.00", "10.00")
    assert (stripe["in_flight"], stripe["clearing_unexplained"]) == ("0.00", "10.00")
    assert [s["reference"] for s in stripe["skipped_captures"]] == ["ch_skipped_by_the_gateway"]
    refused = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=finance)
    assert_problem(refused, 409, "close-refused")
    assert "gateway:stripe" in refused.json()["detail"]


def test_a_payout_no_statement_shows_is_explained_in_transit_and_turns_the_bank_red(
    client, admin, auth, finance, shop
):
    month_in_order(client, admin, auth, finance, shop, statement=False)

    found = checklist(client, finance)

    assert statuses(found) == {**IN_ORDER, "bank": "red"}
    stripe = item(found, "gateway:stripe")["figures"]
    # The batch is not paid out yet: its 160.66 in transit is an open item, not a difference.
    assert (stripe["transit_balance"], stripe["unpaid_batches"], stripe["transit_unexplained"]) == (
        "160.66",
        "160.66",
        "0.00",
    )
    assert [b["net"] for b in stripe["batches"]] == ["160.66"]
    [bank] = item(found, "bank")["figures"]["accounts"]
    assert (bank["statement_balance"], bank["ledger_balance"], bank["reconciled"]) == (None, "1000.00", False)


def test_an_entry_on_the_inventory_account_turns_the_stock_red(client, admin, auth, finance, shop):
    month_in_order(client, admin, auth, finance, shop)
    entry = {
        "company_id": shop.company["id"],
        "date": f"{PERIOD}-01",
        "reference": "inventory by hand",
        "lines": [
            {"account_code": shop.code_of("inventory"), "debit": "5.00"},
            {"account_code": shop.code_of("opening_balance"), "credit": "5.00"},
        ],
    }
    assert client.post(f"{API}/journal-entries", json=entry, headers=finance).status_code == 201

    found = checklist(client, finance)

    assert statuses(found) == {**IN_ORDER, "stock": "red"}
    differences = {r["role"]: r["difference"] for r in item(found, "stock")["figures"]["roles"]}
    assert differences["inventory"] == "5.00"
    refused = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=finance)
    assert_problem(refused, 409, "close-refused")
    assert "stock" in refused.json()["detail"]


def test_an_open_pos_session_turns_its_item_red(client, admin, auth, finance, shop):
    month_in_order(client, admin, auth, finance, shop)
    left_open = pos_session_on_another_till(client, auth)

    found = checklist(client, finance)

    assert statuses(found) == {**IN_ORDER, "pos_sessions": "red"}
    figures = item(found, "pos_sessions")["figures"]
    assert (figures["sessions"], figures["open_at_period_end"]) == (2, 1)
    assert [s["id"] for s in figures["open_sessions"]] == [left_open["id"]]
    refused = client.post(f"{API}/periods/{PERIOD}/close", json={"accept": ["grni"]}, headers=finance)
    assert_problem(refused, 409, "close-refused")


def pos_session_on_another_till(client, auth) -> dict:
    manager = auth("store_manager", company="SHOP", store="S1")
    stores = client.get(f"{API}/pos/terminals", headers=manager).json()["items"]
    terminal = client.post(
        f"{API}/pos/terminals", json={"store_id": stores[0]["store_id"], "code": "T2", "name": "Till 2"},
        headers=manager,
    )  # fmt: skip
    assert terminal.status_code == 201, terminal.text
    opened = client.post(
        f"{API}/pos/sessions", json={"terminal_id": terminal.json()["id"], "opening_float": "0.00"},
        headers=auth("cashier", company="SHOP", store="S1"),
    )  # fmt: skip
    assert opened.status_code == 201, opened.text
    return opened.json()


def test_a_bad_period_is_refused_naming_it(client, finance, shop):
    bad = client.get(f"{API}/periods/2026-13/close-checklist", headers=finance)
    assert_problem(bad, 422)
    assert bad.json()["errors"][0]["field"] == "period"
