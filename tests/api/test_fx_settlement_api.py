"""The realized exchange difference when a foreign-currency till's money arrives in the company's
currency (issue 20, decision 0062, docs/pos.md#foreign-currency-tills): a USD session of an EUR company
booked at 0.90; its card sale settled by Stripe in EUR at 0.92 (a gain) or 0.88 (a loss); the clearing
account ends at zero in both currencies, the difference in fx_realized_gain or fx_realized_loss."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API
from sqlalchemy import func, select

from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.masterdata.tables import Account

D = Decimal
TODAY = dt.datetime.now(dt.UTC).date()
STRIPE_HEADER = (
    "balance_transaction_id,created_utc,created,available_on_utc,available_on,currency,gross,fee,net,"
    "reporting_category,source_id,description,customer_facing_amount,customer_facing_currency,"
    "automatic_payout_id,automatic_payout_effective_at_utc,automatic_payout_effective_at,customer_id,"
    "charge_id,payment_intent_id,payment_method_type,card_brand,payment_metadata[order_id]"
)


def _stripe(*rows: tuple[str, ...]) -> str:
    """Rows of (txn, category, gross, fee, charge, facing amount, facing currency, payout)."""
    at = f"{TODAY.isoformat()} 10:00:00"
    lines = [STRIPE_HEADER]
    for txn, category, gross, fee, charge, facing, facing_currency, payout in rows:
        net = D(gross) - D(fee)
        fields = [txn, at, at, at, at, "eur", gross, fee, f"{net:.2f}", category, charge, "", facing]
        fields += [facing_currency, payout, at, "", "", charge, "", "card", "visa", ""]
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


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
    product = product_factory("COFFEE", category="Drinks")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Dollar till", "currency": "USD"},
        headers=manager,
    )
    assert terminal.status_code == 201, terminal.text
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        session.add(
            a.ExchangeRate(
                company_id=company_id, currency="USD", rate_date=TODAY - dt.timedelta(days=1), rate=D("0.90")
            )
        )

    def balances(role):
        """{currency: (amount_currency, debit - credit)} of the role's journal lines."""
        with runtime.session_factory() as session:
            rows = session.execute(
                select(
                    a.JournalLine.currency,
                    func.sum(a.JournalLine.amount_currency),
                    func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit),
                )
                .join(Account, Account.id == a.JournalLine.account_id)
                .where(Account.company_id == company_id, Account.role == role)
                .group_by(a.JournalLine.currency)
            ).all()
            return {currency: (amount, value) for currency, amount, value in rows}

    cashier = auth("cashier", company="ACME", store="S1")
    session = client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": terminal.json()["id"], "opening_float": "100.00"},
        headers=cashier,
    ).json()
    assert (session["currency"], session["rate"]) == ("USD", "0.90")
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(),
        "lines": [{"product_id": product["id"], "quantity": "1", "unit_price": "12.00"}],
        "payments": [{"payment_method_code": "CARD", "amount": "12.00", "reference": "ch_usd_0001"}],
    }
    # And 2 coffees paid in cash, 24.00 USD: counted to the safe at the close.
    cash_sale = {
        **sale,
        "client_uuid": str(uuid.uuid4()),
        "payments": [{"payment_method_code": "CASH", "amount": "24.00"}],
    }
    cash_sale["lines"] = [{"product_id": product["id"], "quantity": "2", "unit_price": "12.00"}]
    sold = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch", json={"sales": [sale, cash_sale]}, headers=cashier
    )
    assert sold.status_code == 200, sold.text
    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "124.00", "CARD": "12.00"}},
        headers=cashier,
    )
    assert closed.status_code == 200, closed.text
    assert balances("card_clearing") == {"USD": (D("12.00"), D("10.80"))}  # 12.00 USD at 0.90
    assert balances("cash_in_transit") == {"USD": (D("24.00"), D("21.60"))}  # float out, 124.00 in
    return {
        "company": company,
        "balances": balances,
        "finance": auth("finance", company="ACME"),
        "manager": manager,
    }


@pytest.mark.parametrize(
    ("gross", "fee", "role", "difference"),
    [
        ("11.04", "0.30", "fx_realized_gain", D("-0.24")),  # 12.00 USD at 0.92: 0.24 more than booked
        ("10.56", "0.30", "fx_realized_loss", D("0.24")),  # at 0.88: 0.24 less
    ],
)
def test_a_dollar_card_sale_settled_in_euros_realizes_the_exchange_difference(
    client, admin, runtime, till, gross, fee, role, difference
):
    net = f"{D(gross) - D(fee):.2f}"
    content = _stripe(
        ("txn_fx_1", "charge", gross, fee, "ch_usd_0001", "12.00", "usd", "po_fx_1"),
        ("txn_fx_2", "payout", f"-{net}", "0.00", "", "", "", "po_fx_1"),
    )
    body = {"company_id": till["company"]["id"], "gateway": "stripe", "content": content}
    done = client.post(f"{API}/settlements", json=body, headers=till["finance"])
    assert done.status_code == 201, done.text
    result = done.json()
    assert result["matched"] == 1
    assert result["mismatches"] == 0  # no currency_conversion: the difference is posted, not raised
    balances = till["balances"]
    # The clearing account: 12.00 USD booked at 0.90 out at 0.90; the 11.04 (or 10.56) EUR the
    # settlement credited comes back from the difference account: zero in both currencies.
    assert balances("card_clearing") == {"USD": (D("0.00"), D("0.00")), "EUR": (D("0.00"), D("0.00"))}
    assert balances("gateway_fees") == {"EUR": (D("0.30"), D("0.30"))}
    assert balances("bank")["EUR"] == (D(net), D(net))
    # The difference account holds what arrived less what was booked: 10.80 debited (12.00 USD at
    # 0.90), what arrived credited; net a gain of 0.24 (credit) or a loss of 0.24 (debit).
    moved = balances(role)
    assert sum(value for _, value in moved.values()) == difference
    assert moved["USD"] == (D("12.00"), D("10.80"))
    other = "fx_realized_loss" if role == "fx_realized_gain" else "fx_realized_gain"
    assert balances(other) == {}

    with runtime.session_factory() as session:
        entries = session.scalar(select(func.count()).select_from(a.JournalEntry))
    again = client.post(f"{API}/settlements", json=body, headers=till["finance"])
    assert again.status_code in (200, 201), again.text
    assert again.json()["replayed"] is True
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(a.JournalEntry)) == entries


def test_a_converted_line_without_our_reference_is_matched_by_its_original_amount(client, admin, till):
    """Order-reference matching compares the sale's amount with the gateway's original (12.00 USD), not
    the converted one (10.56 EUR, 12 % off)."""
    orders = client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]
    number = orders[0]["number"]
    at = f"{TODAY.isoformat()} 10:00:00"
    row = ["txn_fx_9", at, at, at, at, "eur", "10.56", "0.00", "10.56", "charge", "", "", "12.00", "usd"]
    row += ["po_fx_9", at, "", "", "", "", "card", "visa", number]
    content = STRIPE_HEADER + "\n" + ",".join(row) + "\n"
    done = client.post(
        f"{API}/settlements",
        json={"company_id": till["company"]["id"], "gateway": "stripe", "content": content},
        headers=till["finance"],
    )
    assert done.status_code == 201, done.text
    assert done.json()["matched"] == 1
    assert till["balances"]("card_clearing")["USD"] == (D("0.00"), D("0.00"))
    assert sum(v for _, v in till["balances"]("fx_realized_loss").values()) == D("0.24")


STATEMENT_MAPPING = {
    "columns": {
        "date": "Booking date",
        "amount": "Amount",
        "currency": "Currency",
        "reference": "Bank reference",
        "remittance": "Details",
        "balance": "Balance",
    }
}


@pytest.mark.parametrize(
    ("credited", "role", "difference"),
    [
        ("22.08", "fx_realized_gain", D("-0.48")),  # 24.00 USD at the bank's 0.92
        ("21.12", "fx_realized_loss", D("0.48")),  # at 0.88
    ],
)
def test_dollar_cash_deposited_in_a_euro_bank_account_realizes_the_exchange_difference(
    client, till, credited, role, difference
):
    company_id, finance = till["company"]["id"], till["finance"]
    made = client.post(
        f"{API}/bank-accounts",
        json={"company_id": company_id, "code": "MAIN", "iban": "FR7630006000011234567890189"},
        headers=finance,
    )
    assert made.status_code == 201, made.text
    deposit = client.post(
        f"{API}/cash-deposits",
        json={
            "store_id": "S1",
            "reference": "SLIP-USD-1",
            "amount": "24.00",
            "currency": "USD",
            "deposited_on": TODAY.isoformat(),
        },
        headers=till["manager"],
    )
    assert deposit.status_code == 201, deposit.text
    assert (deposit.json()["currency"], deposit.json()["rate"]) == ("USD", "0.90")  # the session's

    statement = "Booking date,Amount,Currency,Bank reference,Details,Balance\n"
    statement += f"{TODAY.isoformat()},{credited},EUR,BNK-1,CASH DEPOSIT SLIP-USD-1,{credited}\n"
    body = {"company_id": company_id, "content": statement, "format": "csv", "account": "MAIN"}
    done = client.post(f"{API}/bank-statements", json={**body, "mapping": STATEMENT_MAPPING}, headers=finance)
    assert done.status_code == 201, done.text
    assert (done.json()["matched"], done.json()["unmatched"]) == (1, 0)

    balances = till["balances"]
    assert balances("bank") == {"EUR": (D(credited), D(credited))}
    # The safe: 24.00 USD in at 0.90 and out at 0.90; what the bank credited in and out in EUR.
    assert balances("cash_in_transit") == {"USD": (D("0.00"), D("0.00")), "EUR": (D("0.00"), D("0.00"))}
    assert sum(value for _, value in balances(role).values()) == difference
    assert balances("cash_difference_gain") == {} and balances("cash_difference_loss") == {}
    listed = client.get(f"{API}/cash-deposits", headers=finance).json()["items"]
    assert [(d["reference"], d["state"]) for d in listed] == [("SLIP-USD-1", "banked")]


def test_a_foreign_deposit_without_a_session_to_take_the_rate_from_names_the_rate(client, till):
    made = client.post(
        f"{API}/bank-accounts",
        json={"company_id": till["company"]["id"], "code": "MAIN", "iban": "FR7630006000011234567890189"},
        headers=till["finance"],
    )
    assert made.status_code == 201, made.text
    refused = client.post(
        f"{API}/cash-deposits",
        json={
            "store_id": "S1",
            "reference": "SLIP-CHF-1",
            "amount": "24.00",
            "currency": "CHF",
            "deposited_on": TODAY.isoformat(),
        },
        headers=till["manager"],
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "rate"
    assert client.get(f"{API}/cash-deposits", headers=till["finance"]).json()["items"] == []
