"""The exports of the books: SAF-T validated against the official XSD, and its figures against the ledger;
the GL and journal CSV against the trial balance.

Two ledgers: the hand-made one of tests/integration/test_reports.py (ACME: taxes, a draft, a reversal, a
return; plus a USD sale here), and a few simulated trading days (POS sales, web, marketplace and B2B
orders, purchases, transfers, all through the real services) that straddle a month end, so that the
exported month opens with balances.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from integration.test_reports import build_ledger
from retailcore.access.model import system_principal
from retailcore.accounting import reports
from retailcore.accounting import tables as a
from retailcore.accounting.services import LineInput, post_entry
from retailcore.adapters.db import transaction
from retailcore.core.errors import ValidationFailed
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.exports import saft
from retailcore.exports import services as x
from retailcore.masterdata.tables import Account, Company
from retailcore.simulation import Options, simulate

D = Decimal
XSD = Path(
    os.environ.get(
        "RETAILCORE_SAFT_XSD",
        Path(__file__).resolve().parents[1]
        / "fixtures/external/saft/Norwegian_SAF-T_Financial_Schema_v_1.30.xsd",
    )
)
"""The official schema, as published (tests/fixtures/external/README.md says where from)."""
NS = {"s": saft.NS}


def load_schema() -> etree.XMLSchema:
    if not XSD.is_file():
        pytest.fail(f"the SAF-T schema is not at {XSD}; set RETAILCORE_SAFT_XSD to the .xsd file")
    return etree.XMLSchema(etree.parse(str(XSD)))


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return load_schema()


def export_saft(runtime: Runtime, company_code: str, period: str) -> bytes:
    with runtime.session_factory() as session:
        x.snapshot(session)
        company = session.scalar(select(Company).where(Company.code == company_code))
        assert company is not None
        span = x.resolve_period(session, company.id, period)
        saft.check_file(session, company, span)
        return b"".join(saft.saft_file(session, company, span, created=dt.date(2026, 12, 6), user="test"))


def export_csv(runtime: Runtime, company_code: str, period: str, kind: str) -> list[dict[str, str]]:
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == company_code))
        assert company_id is not None
        span = x.resolve_period(session, company_id, period)
        write = x.general_ledger_csv if kind == "gl" else x.journal_csv
        data = b"".join(write(session, company_id, span)).decode("utf-8")
    return list(csv.DictReader(io.StringIO(data)))


def validated(schema: etree.XMLSchema, data: bytes) -> etree._Element:
    document = etree.fromstring(data)
    schema.assertValid(document)
    return document


def amount(element: etree._Element | None) -> Decimal:
    return D(element.text) if element is not None and element.text else D(0)


def ledger_lines(runtime: Runtime, company_code: str, start: dt.date, end: dt.date) -> list[tuple]:
    """(entry number, account code, debit, credit) of every posted line of the range, from the tables."""
    with runtime.session_factory() as session:
        rows = session.execute(
            select(a.JournalEntry.number, Account.code, a.JournalLine.debit, a.JournalLine.credit)
            .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
            .join(Account, Account.id == a.JournalLine.account_id)
            .join(Company, Company.id == a.JournalLine.company_id)
            .where(
                Company.code == company_code,
                a.JournalLine.state == "posted",
                a.JournalLine.date >= start,
                a.JournalLine.date <= end,
            )
        )
        return sorted((number, code, debit, credit) for number, code, debit, credit in rows)


def file_lines(document: etree._Element) -> list[tuple]:
    found = []
    for transaction_ in document.iterfind(".//s:Transaction", NS):
        number = transaction_.findtext("s:TransactionID", namespaces=NS)
        for line in transaction_.iterfind("s:Line", NS):
            found.append(
                (
                    number,
                    line.findtext("s:AccountID", namespaces=NS),
                    amount(line.find("s:DebitAmount/s:Amount", NS)),
                    amount(line.find("s:CreditAmount/s:Amount", NS)),
                )
            )
    return sorted(found)


def assert_agrees_with_the_ledger(runtime: Runtime, document: etree._Element, code: str, period: str) -> None:
    """Totals, every line (exact amounts), and opening + movements = closing per account, which are the
    trial balance's."""
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == code))
        span = x.resolve_period(session, company_id, period)
        trial = reports.trial_balance(session, company_id, span.start, span.end)
    lines = ledger_lines(runtime, code, span.start, span.end)
    entries = document.find("s:GeneralLedgerEntries", NS)
    total_debit = sum((line[2] for line in lines), D(0))
    total_credit = sum((line[3] for line in lines), D(0))
    assert D(entries.findtext("s:TotalDebit", namespaces=NS)) == total_debit == trial.totals.period_debit
    assert D(entries.findtext("s:TotalCredit", namespaces=NS)) == total_credit == total_debit
    assert (
        int(entries.findtext("s:NumberOfEntries", namespaces=NS))
        == len(entries.findall(".//s:Transaction", NS))
        == len({line[0] for line in lines})
    )
    assert file_lines(document) == lines  # every line, to the cent, none added, none lost

    moved: dict[str, Decimal] = defaultdict(D)
    for _, account, debit, credit in lines:
        moved[account] += debit - credit
    by_code = {row.account_code: row for row in trial.rows}
    for account in document.iterfind("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", NS):
        account_code = account.findtext("s:AccountID", namespaces=NS)
        opening = amount(account.find("s:OpeningDebitBalance", NS)) - amount(
            account.find("s:OpeningCreditBalance", NS)
        )
        closing = amount(account.find("s:ClosingDebitBalance", NS)) - amount(
            account.find("s:ClosingCreditBalance", NS)
        )
        assert opening + moved[account_code] == closing, account_code
        row = by_code.get(account_code)
        assert (opening, closing) == ((row.opening_balance, row.closing_balance) if row else (0, 0)), (
            account_code
        )


# -- the hand-made ledger --------------------------------------------------------------------------


@pytest.fixture
def acme(runtime: Runtime):
    ledger = build_ledger(runtime)
    ctx = CommandContext(system_principal("test"))
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, ledger.company_id)
        # A sale in dollars at 0.9: the line keeps its USD amount beside the EUR one.
        post_entry(
            session,
            ctx,
            company=company,
            journal_code="POS",
            date=dt.date(2026, 11, 18),
            reference="USD sale",
            lines=[
                LineInput(
                    ledger.accounts["1000"],
                    "debit",
                    D("110.10"),
                    "USD",
                    rate=D("0.9"),
                    label="Cash <&> \x0bbox",
                ),
                LineInput(ledger.accounts["4000"], "credit", D("110.10"), "USD", rate=D("0.9")),
            ],
        )
    return ledger


def test_saft_of_a_month_validates_and_agrees_with_the_ledger(runtime, acme, schema):
    document = validated(schema, export_saft(runtime, "ACME", "2026-11"))

    assert_agrees_with_the_ledger(runtime, document, "ACME", "2026-11")
    header = document.find("s:Header", NS)
    assert header.findtext("s:SoftwareID", namespaces=NS) == "retailcore"
    assert header.findtext("s:DefaultCurrencyCode", namespaces=NS) == "EUR"
    assert header.findtext("s:Company/s:Name", namespaces=NS) == "Acme"
    assert header.findtext("s:SelectionCriteria/s:PeriodStart", namespaces=NS) == "11"
    # The draft of 999.00 and GLOBEX's sale of 777.00 are not in it.
    amounts = {line[2] + line[3] for line in file_lines(document)}
    assert D("999") not in amounts and D("777") not in amounts
    # Journals by code, each with its transactions.
    assert [j.findtext("s:JournalID", namespaces=NS) for j in document.iterfind(".//s:Journal", NS)] == [
        "MISC",
        "POS",
        "PURCH",
        "STOCK",
    ]


def test_saft_lines_carry_dimensions_tax_and_the_foreign_currency(runtime, acme, schema):
    document = validated(schema, export_saft(runtime, "ACME", "2026-11"))
    lines = list(document.iterfind(".//s:Line", NS))

    usd = next(line for line in lines if line.find("s:DebitAmount/s:CurrencyCode", NS) is not None)
    assert usd.findtext("s:DebitAmount/s:Amount", namespaces=NS) == "99.09"
    assert usd.findtext("s:DebitAmount/s:CurrencyAmount", namespaces=NS) == "110.10"
    assert D(usd.findtext("s:DebitAmount/s:ExchangeRate", namespaces=NS)) == D("0.9")
    # Markup is escaped; a control character XML cannot carry is dropped (the CSV keeps it).
    assert usd.findtext("s:Description", namespaces=NS) == "Cash <&> box"

    taxed = [line for line in lines if line.find("s:TaxInformation", NS) is not None]
    assert {line.findtext("s:AccountID", namespaces=NS) for line in taxed} == {"2100", "1300"}
    vat_55 = next(t for t in taxed if t.findtext("s:TaxInformation/s:TaxCode", namespaces=NS) == "FR-VAT-5.5")
    info = vat_55.find("s:TaxInformation", NS)
    assert info.findtext("s:CreditTaxAmount/s:Amount", namespaces=NS) == "0.55"
    assert D(info.findtext("s:TaxBase", namespaces=NS)) == D(10)
    codes = {e.findtext("s:TaxCode", namespaces=NS) for e in document.iterfind(".//s:TaxCodeDetails", NS)}
    assert {"FR-VAT-20", "FR-VAT-5.5"} <= codes  # every code a line carries is in the table

    web = next(
        line
        for line in lines
        if any(an.findtext("s:AnalysisID", namespaces=NS) == "web" for an in line.iterfind("s:Analysis", NS))
    )
    analysis = {
        an.findtext("s:AnalysisType", namespaces=NS): an.findtext("s:AnalysisID", namespaces=NS)
        for an in web.iterfind("s:Analysis", NS)
    }
    assert analysis["STORE"] == "B" and analysis["CHANNEL"] == "web"
    table = {
        (e.findtext("s:AnalysisType", namespaces=NS), e.findtext("s:AnalysisID", namespaces=NS))
        for e in document.iterfind(".//s:AnalysisTypeTableEntry", NS)
    }
    assert {("STORE", "A"), ("STORE", "B"), ("CHANNEL", "web"), ("CHANNEL", "pos")} <= table


def test_an_empty_month_still_validates(runtime, acme, schema):
    document = validated(schema, export_saft(runtime, "ACME", "2027-02"))

    entries = document.find("s:GeneralLedgerEntries", NS)
    assert entries.findtext("s:NumberOfEntries", namespaces=NS) == "0"
    assert entries.findtext("s:TotalDebit", namespaces=NS) == "0.00"
    assert entries.find("s:Journal", NS) is None
    # The balances carried in: bank 10,000 - 500 = 9,500.00 opens and closes the month.
    bank = next(
        acc
        for acc in document.iterfind(".//s:GeneralLedgerAccounts/s:Account", NS)
        if acc.findtext("s:AccountID", namespaces=NS) == "1100"
    )
    assert bank.findtext("s:OpeningDebitBalance", namespaces=NS) == "9500.00"
    assert bank.findtext("s:ClosingDebitBalance", namespaces=NS) == "9500.00"


def test_a_company_without_any_entry_validates(runtime, company, schema):
    validated(schema, export_saft(runtime, company["code"], "2026-11"))


def test_gl_csv_has_every_line_and_agrees_with_the_trial_balance(runtime, acme):
    rows = export_csv(runtime, "ACME", "2026-11", "gl")

    assert list(rows[0]) == x.GL_COLUMNS
    with runtime.session_factory() as session:
        trial = reports.trial_balance(session, acme.company_id, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert len(rows) == len(ledger_lines(runtime, "ACME", dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [D(0), D(0)])
    for row in rows:
        sums[row["account_code"]][0] += D(row["debit"])
        sums[row["account_code"]][1] += D(row["credit"])
    assert {code: tuple(v) for code, v in sums.items()} == {
        row.account_code: (row.period_debit, row.period_credit)
        for row in trial.rows
        if row.period_debit or row.period_credit
    }
    usd = next(row for row in rows if row["currency"] == "USD" and row["debit"] != "0.00")
    assert (usd["debit"], usd["amount_currency"], usd["reference"]) == ("99.09", "110.10", "USD sale")
    web = [row for row in rows if row["channel"] == "web"]
    assert web and {row["store"] for row in web} == {"B"}


def test_journal_csv_has_one_row_per_entry(runtime, acme):
    rows = export_csv(runtime, "ACME", "2026-11", "journals")

    lines = ledger_lines(runtime, "ACME", dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert len(rows) == len({line[0] for line in lines})
    assert sum(int(row["lines"]) for row in rows) == len(lines)
    assert all(row["debit"] == row["credit"] for row in rows)  # every entry balances
    reversal = next(row for row in rows if row["reversal_of"])
    reversed_ = next(row for row in rows if row["entry_number"] == reversal["reversal_of"])
    assert reversed_["debit"] == reversal["debit"] == "240.00"


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "11-2026", "2026-1", "2026", "", "2026-11-01", "1850-01"]
)
def test_a_bad_period_is_refused_naming_the_field(bad):
    with pytest.raises(ValidationFailed) as refused:
        x.parse_period(bad)
    assert [p.field for p in refused.value.problems] == ["period"]


def test_a_currency_with_three_decimals_is_refused_for_saft(runtime):
    with transaction(runtime.session_factory) as session:
        from retailcore.masterdata.commands import CreateCompany
        from retailcore.masterdata.services import create_company

        company = create_company(
            session,
            CommandContext(system_principal("test")),
            CreateCompany(code="KW", name="Kuwait", currency="KWD", country="KW"),
        )
        with pytest.raises(ValidationFailed) as refused:
            saft.check_exportable(company)
    assert refused.value.code == "not-exportable"


def test_the_fiscal_period_number_follows_the_fiscal_year(runtime, acme):
    with runtime.session_factory() as session:
        span = x.resolve_period(session, acme.company_id, "2026-11")
        fiscal = session.execute(
            select(func.min(a.FiscalYear.start_date)).where(a.FiscalYear.company_id == acme.company_id)
        ).scalar()
    assert fiscal is not None and fiscal.month == 1
    assert (span.number, span.year, span.start, span.end) == (
        11,
        2026,
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 30),
    )


# -- simulated trading -----------------------------------------------------------------------------


def test_a_simulated_month_end_exports_validate_and_agree(runtime, schema):
    # Three days of one store's trading: 30 March to 1 April 2026, so April opens with March's balances.
    simulate(
        runtime.session_factory,
        Options(company="SIM", stores=1, days=3, seed=3, start=dt.date(2026, 3, 30), scale=D("0.3")),
    )
    for period in ("2026-03", "2026-04"):
        document = validated(schema, export_saft(runtime, "SIM", period))
        assert_agrees_with_the_ledger(runtime, document, "SIM", period)
        assert int(document.findtext(".//s:NumberOfEntries", namespaces=NS)) > 0
    april = document
    opening = [
        acc
        for acc in april.iterfind(".//s:GeneralLedgerAccounts/s:Account", NS)
        if amount(acc.find("s:OpeningDebitBalance", NS)) or amount(acc.find("s:OpeningCreditBalance", NS))
    ]
    assert opening  # March's trading carried into April
    assert april.find(".//s:Customers/s:Customer", NS) is not None
    channels = {
        e.findtext("s:AnalysisID", namespaces=NS)
        for e in april.iterfind(".//s:AnalysisTypeTableEntry", NS)
        if e.findtext("s:AnalysisType", namespaces=NS) == "CHANNEL"
    }
    assert "pos" in channels

    rows = export_csv(runtime, "SIM", "2026-03", "gl")
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == "SIM"))
        trial = reports.trial_balance(session, company_id, dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert sum(D(row["debit"]) for row in rows) == trial.totals.period_debit
    assert sum(D(row["credit"]) for row in rows) == trial.totals.period_credit
    assert uuid.UUID(rows[0]["source_event"])


def test_small_chunks_write_the_same_files(runtime, acme, monkeypatch):
    # The files are handed on a chunk at a time; where the chunks end must not change a byte.
    whole = (
        export_saft(runtime, "ACME", "2026-11"),
        export_csv(runtime, "ACME", "2026-11", "gl"),
        export_csv(runtime, "ACME", "2026-11", "journals"),
    )
    monkeypatch.setattr(x, "FETCH", 2)
    monkeypatch.setattr(saft, "FETCH", 2)
    with runtime.session_factory() as session:
        company = session.scalar(select(Company).where(Company.code == "ACME"))
        span = x.resolve_period(session, company.id, "2026-11")
        chunks = list(saft.saft_file(session, company, span, created=dt.date(2026, 12, 6), user="test"))
    assert len(chunks) > 5
    assert b"".join(chunks) == whole[0]
    assert export_csv(runtime, "ACME", "2026-11", "gl") == whole[1]
    assert export_csv(runtime, "ACME", "2026-11", "journals") == whole[2]


def test_an_amount_two_decimals_cannot_hold_is_refused_before_the_first_byte(runtime, acme):
    # The ledger rounds every line to the cent; a line written otherwise (here straight into the
    # tables) must stop the SAF-T export before it starts, not halfway through the stream.
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, acme.company_id)
        journal = session.scalar(
            select(a.Journal).where(a.Journal.company_id == company.id, a.Journal.code == "MISC")
        )
        entry_id = uuid.uuid4()
        common = {"company_id": company.id, "journal_id": journal.id, "date": dt.date(2026, 11, 29)}
        session.add(
            a.JournalEntry(
                id=entry_id, number="MISC/X/1", state="posted", reference="by hand", created_by="t", **common
            )
        )
        session.flush()
        for sequence, (account, debit, credit) in enumerate(
            [("6000", D("0.125"), D(0)), ("1100", D(0), D("0.125"))]
        ):
            session.add(
                a.JournalLine(
                    entry_id=entry_id,
                    sequence=sequence,
                    account_id=acme.accounts[account],
                    debit=debit,
                    credit=credit,
                    currency="EUR",
                    amount_currency=debit - credit,
                    state="posted",
                    **common,
                )
            )
    with runtime.session_factory() as session:
        company = session.get(Company, acme.company_id)
        span = x.resolve_period(session, company.id, "2026-11")
        with pytest.raises(ValidationFailed) as refused:
            saft.check_file(session, company, span)
        saft.check_file(session, company, x.resolve_period(session, company.id, "2026-10"))  # October is fine
    assert refused.value.code == "not-exportable"
