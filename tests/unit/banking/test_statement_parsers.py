"""The CAMT.053 and CSV readers and the matching, without a database, on our samples."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from retailcore.banking import bank_csv, camt053, matching
from retailcore.banking.camt053 import StatementRefused

D = Decimal
BANK = Path(__file__).parents[2] / "fixtures" / "bank"
MIXED = (BANK / "store_and_suppliers.camt053.xml").read_bytes()


def test_a_camt053_001_08_statement_is_read_with_its_balances_and_entries():
    [statement] = camt053.parse(MIXED)

    assert (statement.account, statement.currency) == ("GB29NWBK60161331926819", "USD")
    assert (statement.opening, statement.closing, statement.closing_on) == (
        D("1160.66"),
        D("1073.16"),
        dt.date(2025, 6, 12),
    )
    assert [e.amount for e in statement.entries] == [D("850.00"), D("-1000.00"), D("-12.50"), D("75.00")]
    payment = statement.entries[1]
    assert (payment.end_to_end_id, payment.remittance, payment.counterparty, payment.counterparty_iban) == (
        "PAY-BILL-000001",
        "BILL-000001 INV-7781",
        "Fabrikam Textiles",
        "DE89370400440532013000",
    )
    assert statement.entries[3].reference is None


def test_pending_entries_are_skipped_and_reversals_book_the_other_way():
    text = MIXED.decode()
    pending = text.replace("<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>", 1).replace(">1073.16<", ">223.16<")
    reversed_ = text.replace(
        "<CdtDbtInd>DBIT</CdtDbtInd>", "<CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd>", 1
    )
    reversed_ = reversed_.replace(">1073.16<", ">3073.16<")

    assert len(camt053.parse(pending.encode())[0].entries) == 3
    assert camt053.parse(reversed_.encode())[0].entries[1].amount == D("1000.00")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda t: t.replace("<BookgDt>\n          <Dt>2025-06-11</Dt>\n        </BookgDt>", ""),
         "statement 1, entry 2 (line 64): no booking date (BookgDt)"),
        (lambda t: t.replace(">850.00<", ">85O.00<"),
         "statement 1, entry 1 (line 42): '85O.00' is not an amount"),
        (lambda t: t.replace("<IBAN>GB29NWBK60161331926819</IBAN>", ""), "statement 1: no account"),
        (lambda t: t.replace('<Amt Ccy="USD">12.50', '<Amt Ccy="EUR">12.50'),
         "statement 1, entry 3 (line 100): currency EUR, the statement's is USD"),
        (lambda t: "<Document/>", "not a CAMT.053 document"),
    ],
)  # fmt: skip
def test_a_bad_camt053_names_its_entry(fault, message):
    with pytest.raises(StatementRefused) as refused:
        camt053.parse(fault(MIXED.decode()).encode())

    assert message in str(refused.value)


def test_a_csv_statement_checks_its_running_balance():
    text = (BANK / "statement.csv").read_text()
    mapping = {"columns": {"date": "Booking date", "amount": "Amount", "balance": "Balance"}}

    statement = bank_csv.parse(text, mapping, "X", "USD")
    assert (statement.opening, statement.closing) == (D("1073.16"), D("1053.16"))
    with pytest.raises(
        StatementRefused, match=r"line 3: balance 1053\.17 is not the previous 1033\.16 plus 20\.00"
    ):
        bank_csv.parse(text.replace("1053.16", "1053.17"), mapping, "X", "USD")
    with pytest.raises(StatementRefused, match="line 1: wrong header: no column Saldo"):
        bank_csv.parse(text, {"columns": {"date": "Booking date", "amount": "Saldo"}}, "X", "USD")


def _entry(amount: str, day: int, text: str = "") -> camt053.ParsedEntry:
    return camt053.ParsedEntry(1, 1, D(amount), "USD", dt.date(2025, 6, day), remittance=text)


def test_matching_prefers_a_reference_then_the_closest_amount_within_the_tolerance_and_window():
    a, b, c, bill = (uuid.uuid4() for _ in range(4))
    expected = [
        matching.Expected("payout", a, D("100.00"), dt.date(2025, 6, 1), ("po_A",)),
        matching.Expected("payout", b, D("100.40"), dt.date(2025, 6, 1), ("po_B",)),
        matching.Expected("cash_deposit", c, D("50.00"), dt.date(2025, 5, 1), ("SLIP-9",)),
        matching.Expected(
            "supplier_payment", bill, D("-80.00"), dt.date(2025, 6, 1), ("BILL-1",), by_amount=False
        ),
    ]
    e1, e2, e3, e4, e5 = (uuid.uuid4() for _ in range(5))
    entries = [
        (e1, _entry("100.30", 3)),  # closest amount: po_B (0.10 away), but e2 names po_B
        (e2, _entry("100.40", 3, "PAYOUT po_B")),
        (e3, _entry("50.00", 3)),  # the deposit is a month older than the window
        (e4, _entry("-80.00", 3)),  # a bill needs its reference
        (e5, _entry("-80.00", 4, "BILL-1")),
    ]

    found = matching.match(entries, expected, D("0.50"), 5)

    assert {k: v.id for k, v in found.items()} == {e1: a, e2: b, e5: bill}


def test_a_reference_counts_only_as_a_whole_word():
    assert matching._names("ADYEN PAYOUT 42 / BATCH", "42")
    assert not matching._names("ADYEN TX4815162342XT", "42")


def test_foreign_cash_is_matched_by_its_slip_within_its_own_tolerance_never_by_amount_alone():
    """24.00 USD booked at 0.90 is expected at 21.60 EUR; the bank's 22.08 (0.92) names the slip and
    is 0.48 away, beyond the account's 0.10 but within the deposit's own 2.16 (decision 0062)."""
    usd, other = uuid.uuid4(), uuid.uuid4()
    day = dt.date(2025, 6, 1)
    expected = [
        matching.Expected("cash_deposit", usd, D("21.60"), day, ("SLIP-USD-1",), False, D("2.16")),
        matching.Expected("cash_deposit", other, D("30.00"), day, ("SLIP-7",), False, D("3.00")),
    ]
    e1, e2, e3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    entries = [
        (e1, _entry("22.08", 2, "CASH DEPOSIT SLIP-USD-1")),
        (e2, _entry("30.00", 2)),  # the right amount, no slip: not matched
        (e3, _entry("40.00", 2, "SLIP-7")),  # the slip, 10.00 off: beyond its tolerance
    ]

    found = matching.match(entries, expected, D("0.10"), 5)

    assert {k: v.id for k, v in found.items()} == {e1: usd}
