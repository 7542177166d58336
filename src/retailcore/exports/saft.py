"""The SAF-T Financial file of a company for a month, written as a stream.

The tree is the Norwegian SAF-T Financial v1.30 schema (namespace ``urn:StandardAuditFile-Taxation-
Financial:NO``), the best documented public derivative of the OECD SAF-T 2.0 with an official XSD; the
tests validate every file they write against that XSD. What maps to what, and what does not map and why,
is in docs/exports.md; why this variant, and why streamed, in decision 0028.

lxml's incremental writer (``etree.xmlfile``) writes the document element by element into a sink whose
bytes are taken every ``FETCH`` lines: the only things held in memory are the chart, the stores and
locations, the tax codes and one chunk of lines. ``GeneralLedgerEntries`` starts with the period's totals,
which one aggregate query gives before the first line is read; the lines then follow journal by journal.
Every figure is a ledger value written in the schema's two decimals; a value that two decimals cannot
hold exactly is refused before the first byte (:func:`check_exportable`), never rounded.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree
from sqlalchemy import Integer, case, func, literal_column, or_, select, type_coerce
from sqlalchemy.orm import Session

from retailcore import __version__
from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount
from retailcore.core.currencies import minor_unit
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.exports.services import (
    FETCH,
    SAFT_LINE_COLUMNS,
    ExportPeriod,
    Peekable,
    Progress,
    accounts,
    location_codes,
    period_lines,
    period_totals,
    store_codes,
)
from retailcore.masterdata.tables import Company, Customer, Tax, TaxRule

NS = "urn:StandardAuditFile-Taxation-Financial:NO"
AUDIT_FILE_VERSION = "1.30"
SOFTWARE_COMPANY = "retailcore"
SOFTWARE_ID = "retailcore"
TAX_ROLES = frozenset({"output_tax", "input_tax"})
"""Accounts whose lines *are* tax: they carry the line's TaxInformation (docs/exports.md)."""
STANDARD_TAX_CODE = "NA"
"""Norway's standard VAT codes are a national list retailcore's tax codes are not mapped to (yet):
``NA``, which the schema's pattern admits, says so rather than guessing."""
PLACEHOLDER = "-"
"""What a mandatory field that retailcore does not keep (a contact person, a telephone) is filled with."""

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
"""Characters XML 1.0 cannot carry at all (not even escaped): control characters other than tab and line
breaks. A label may hold one (the API refuses only NUL); it is dropped from the file rather than break
the export halfway through the stream. The CSV files keep the text as it is."""

CENT = Decimal("0.01")
RATE_QUANTUM = Decimal("0.00000001")

L = a.JournalLine


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def money(value: Decimal) -> str:
    """A SAFmonetaryType: two decimals, exactly (:func:`check_exportable` made sure they suffice)."""
    cents = value.quantize(CENT)
    if cents != value:
        raise ValueError(f"{value} has more than two decimals")  # guarded before streaming
    return format(cents, "f")


def _text(value: str | None, limit: int) -> str:
    return (value or "")[:limit]


class _Sink:
    """Where lxml writes; the stream takes what it wrote so far as one chunk."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


class _Writer:
    """Shorthands over lxml's incremental writer."""

    def __init__(self, xf: Any) -> None:
        self.xf = xf

    def leaf(self, tag: str, value: Any) -> None:
        with self.xf.element(_q(tag)):
            self.xf.write(_NOT_XML.sub("", value) if isinstance(value, str) else str(value))

    def element(self, tag: str) -> Any:
        return self.xf.element(_q(tag))

    def amount(self, tag: str, value: Decimal, currency: tuple[str, Decimal, Decimal] | None = None) -> None:
        """An AmountStructure: the company-currency amount, and the transaction currency's when it is
        another one and two decimals hold it exactly (docs/exports.md)."""
        with self.element(tag):
            self.leaf("Amount", money(value))
            if currency is not None:
                code, amount, rate = currency
                self.leaf("CurrencyCode", code)
                self.leaf("CurrencyAmount", money(amount))
                if rate.quantize(RATE_QUANTUM) == rate and abs(rate) < Decimal(10) ** 10:
                    self.leaf("ExchangeRate", format(rate.quantize(RATE_QUANTUM), "f"))

    def balance(self, kind: str, value: Decimal) -> None:
        """``OpeningDebitBalance`` 12.00 for a debit balance, ``OpeningCreditBalance`` 12.00 for a credit
        one (a zero balance is a debit of 0.00, as the schema wants one of the two)."""
        if value >= 0:
            self.leaf(f"{kind}DebitBalance", money(value))
        else:
            self.leaf(f"{kind}CreditBalance", money(-value))


# -- before the first byte -------------------------------------------------------------------------


SAFT_YEARS = (1970, 2100)
"""The years SAF-T's ``PeriodYear`` admits."""


def check_exportable(company: Company, period: ExportPeriod | None = None) -> None:
    """Refuse what SAF-T cannot hold: a company currency with three decimals (KWD, BHD...), as its amounts
    have two (the ledger rounds every line to its currency's minor unit, so two suffice for every other
    company), and a period whose fiscal year is outside 1970-2100."""
    if period is not None and not SAFT_YEARS[0] <= period.year <= SAFT_YEARS[1]:
        expected = f"a month of a year SAF-T admits ({SAFT_YEARS[0]} to {SAFT_YEARS[1]})"
        raise ValidationFailed(
            f"period '{period.code}' is not {expected}", problems=[FieldProblem("period", expected)]
        )
    if minor_unit(company.currency) > 2:
        raise ValidationFailed(
            f"SAF-T amounts have two decimals; {company.currency} has {minor_unit(company.currency)}",
            code="not-exportable",
            problems=[FieldProblem("company_id", f"currency {company.currency} has more than two decimals")],
        )


def check_file(session: Session, company: Company, period: ExportPeriod) -> None:
    """:func:`check_exportable`, and no posted line of the month with a debit or credit that two decimals
    cannot hold (the ledger rounds every line to its currency's minor unit, so none should be; one scan of
    the month's lines makes sure before the first byte, rather than stop the stream halfway)."""
    check_exportable(company, period)
    scale = Amount().scale
    if session.get_bind().dialect.name == "sqlite":
        # The stored value is the amount scaled to an integer (adapters/orm.py): whole cents are multiples.
        def off_cent(column: Any) -> Any:
            return type_coerce(column, Integer()) % literal_column(str(10 ** (scale - 2))) != literal_column(
                "0"
            )
    else:

        def off_cent(column: Any) -> Any:
            return func.mod(column * literal_column("100"), literal_column("1")) != literal_column("0")

    found = session.execute(
        select(L.id)
        .where(
            L.company_id == company.id,
            L.state == "posted",
            L.date >= period.start,
            L.date <= period.end,
            or_(off_cent(L.debit), off_cent(L.credit)),
        )
        .limit(1)
    ).first()
    if found is not None:
        raise ValidationFailed(
            f"a posted line of {period.code} has an amount with more than two decimals ({found[0]})",
            code="not-exportable",
            problems=[FieldProblem("period", "holds an amount SAF-T's two decimals cannot carry")],
        )


@dataclass(frozen=True)
class TaxCodeInfo:
    code: str
    name: str
    percent: Decimal | None
    country: str


def tax_codes(session: Session, company: Company, period: ExportPeriod) -> dict[str, TaxCodeInfo]:
    """The company's taxes by code, plus any code the period's lines carry that no tax rule defines
    (a tax code posted by hand): every code a line refers to is in the TaxTable."""
    found: dict[str, TaxCodeInfo] = {}
    rows = session.execute(
        select(Tax.code, Tax.name, Tax.rate_percent, TaxRule.jurisdiction)
        .join(TaxRule, TaxRule.id == Tax.rule_id)
        .where(Tax.company_id == company.id)
        .order_by(Tax.code, TaxRule.jurisdiction)
    )
    for code, name, percent, jurisdiction in rows:
        found.setdefault(code, TaxCodeInfo(code, name, percent, _country(jurisdiction, company.country)))
    used = session.scalars(
        select(L.tax_code)
        .where(
            L.company_id == company.id,
            L.state == "posted",
            L.date >= period.start,
            L.date <= period.end,
            L.tax_code.is_not(None),
        )
        .distinct()
    )
    for code in used:
        found.setdefault(code, TaxCodeInfo(code, code, None, company.country))
    return dict(sorted(found.items()))


def _country(jurisdiction: str | None, default: str) -> str:
    """``FR`` or ``US-CA`` -> the country; anything else -> the company's."""
    head = (jurisdiction or "")[:2]
    if len(head) == 2 and head.isalpha() and ((jurisdiction or "")[2:3] in ("", "-", "_")):
        return head.upper()
    return default


def balances(
    session: Session, company_id: uuid.UUID, period: ExportPeriod
) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    """Per account: (opening balance, closing balance), debit minus credit, in one aggregate over the
    lines up to the period's end (conditional sums split before and within, as the trial balance does)."""
    before = L.date < period.start
    zero = literal_column("0")

    def total(expression: Any) -> Any:
        return type_coerce(func.coalesce(func.sum(expression), zero), Amount())

    rows = session.execute(
        select(
            L.account_id,
            total(case((before, L.debit - L.credit), else_=zero)),
            total(L.debit - L.credit),
        )
        .where(L.company_id == company_id, L.state == "posted", L.date <= period.end)
        .group_by(L.account_id)
    )
    return {row[0]: (row[1], row[2]) for row in rows}


# -- the file --------------------------------------------------------------------------------------


def saft_file(
    session: Session,
    company: Company,
    period: ExportPeriod,
    *,
    created: dt.date,
    user: str | None = None,
    progress: Progress | None = None,
) -> Iterator[bytes]:
    """The SAF-T file as chunks of UTF-8 bytes. :func:`check_exportable` first (the API and the CLI call
    it before they start answering, so that a refusal is a 422, not a broken download)."""
    check_exportable(company, period)
    chart = accounts(session, company.id)
    stores = store_codes(session, company.id)
    locations = location_codes(session, company.id)
    taxes = tax_codes(session, company, period)
    totals = period_totals(session, company.id, period)
    sink = _Sink()
    with etree.xmlfile(sink, encoding="UTF-8") as xf:
        xf.write_declaration()
        w = _Writer(xf)
        with xf.element(_q("AuditFile"), nsmap={None: NS}):
            _header(w, company, period, created, user)
            with w.element("MasterFiles"):
                _accounts(w, session, company, period, chart)
                yield from _customers(w, xf, sink, session, company)
                _tax_table(w, taxes)
                _analysis_types(w, session, company, period, stores, locations)
            xf.flush()
            yield sink.take()
            with w.element("GeneralLedgerEntries"):
                w.leaf("NumberOfEntries", totals.entries)
                w.leaf("TotalDebit", money(totals.debit))
                w.leaf("TotalCredit", money(totals.credit))
                done = 0
                rows = Peekable(period_lines(session, company.id, period, SAFT_LINE_COLUMNS))
                while rows.row is not None:
                    code, name = rows.row.journal_code, rows.row.journal_name
                    with w.element("Journal"):
                        w.leaf("JournalID", _text(code, 18))
                        w.leaf("Description", _text(name, 256))
                        w.leaf("Type", _text(code, 9))
                        for count in _transactions(
                            w, rows, code, period, company, chart, stores, locations, taxes
                        ):
                            done += count
                            xf.flush()
                            if progress:
                                progress(done, totals.lines)
                            yield sink.take()
    if progress:
        progress(totals.lines, totals.lines)
    yield sink.take()


def _header(w: _Writer, company: Company, period: ExportPeriod, created: dt.date, user: str | None) -> None:
    with w.element("Header"):
        w.leaf("AuditFileVersion", AUDIT_FILE_VERSION)
        w.leaf("AuditFileCountry", company.country)
        w.leaf("AuditFileDateCreated", created.isoformat())
        w.leaf("SoftwareCompanyName", SOFTWARE_COMPANY)
        w.leaf("SoftwareID", SOFTWARE_ID)
        w.leaf("SoftwareVersion", _text(__version__, 18))
        with w.element("Company"):
            # retailcore keeps no organisation number: the company's code stands in (docs/exports.md).
            w.leaf("RegistrationNumber", _text(company.code, 35))
            w.leaf("Name", _text(company.name, 256))
            with w.element("Contact"):
                with w.element("ContactPerson"):
                    w.leaf("FirstName", PLACEHOLDER)
                    w.leaf("LastName", PLACEHOLDER)
                w.leaf("Telephone", PLACEHOLDER)
        w.leaf("DefaultCurrencyCode", company.currency)
        with w.element("SelectionCriteria"):
            w.leaf("PeriodStart", period.number)
            w.leaf("PeriodStartYear", period.year)
            w.leaf("PeriodEnd", period.number)
            w.leaf("PeriodEndYear", period.year)
        w.leaf(
            "HeaderComment",
            f"Posted journal entries of {company.code} from {period.start.isoformat()} to "
            f"{period.end.isoformat()}; contact person and registration number are not kept by retailcore",
        )
        w.leaf("TaxAccountingBasis", "A")
        if user:
            w.leaf("UserID", _text(user, 256))


def _accounts(
    w: _Writer, session: Session, company: Company, period: ExportPeriod, chart: dict[uuid.UUID, Any]
) -> None:
    if not chart:
        return
    found = balances(session, company.id, period)
    zero = Decimal(0)
    with w.element("GeneralLedgerAccounts"):
        for account_id, account in chart.items():
            opening, closing = found.get(account_id, (zero, zero))
            with w.element("Account"):
                w.leaf("AccountID", account.code)
                w.leaf("AccountDescription", _text(account.name, 256))
                # No national standard account list is mapped: the grouping is retailcore's own type.
                w.leaf("GroupingCategory", "retailcore-account-type")
                w.leaf("GroupingCode", account.type)
                w.leaf("AccountType", "GL")
                w.balance("Opening", opening)
                w.balance("Closing", closing)


def customer_id(code: str, row_id: uuid.UUID) -> str:
    """The customer's code; its id's 32 hex digits when the code is longer than SAF-T's 35 characters."""
    return code if len(code) <= 35 else row_id.hex


def _customers(w: _Writer, xf: Any, sink: _Sink, session: Session, company: Company) -> Iterator[bytes]:
    rows = iter(
        session.execute(
            select(Customer.id, Customer.code, Customer.name, Customer.active)
            .where(Customer.company_id == company.id)
            .order_by(Customer.code)
            .execution_options(yield_per=FETCH)
        )
    )
    first = next(rows, None)
    if first is None:
        return  # the element needs one customer at least
    with w.element("Customers"):
        _customer(w, *first)
        for count, row in enumerate(rows, start=2):
            _customer(w, *row)
            if count % FETCH == 0:
                xf.flush()
                yield sink.take()


def _customer(w: _Writer, row_id: uuid.UUID, code: str, name: str, active: bool) -> None:
    with w.element("Customer"):
        w.leaf("Name", _text(name, 256) or code)
        w.leaf("CustomerID", customer_id(code, row_id))
        with w.element("PartyInfo"):
            w.leaf("Status", "Active" if active else "Passive")


def _tax_table(w: _Writer, taxes: dict[str, TaxCodeInfo]) -> None:
    if not taxes:
        return
    with w.element("TaxTable"), w.element("TaxTableEntry"):
        # The schema's only tax type is Norway's VAT ("MVA", "Merverdiavgift"); retailcore's taxes are
        # VAT or sales taxes, so every code is listed under it (docs/exports.md).
        w.leaf("TaxType", "MVA")
        w.leaf("Description", "Merverdiavgift")
        for info in taxes.values():
            with w.element("TaxCodeDetails"):
                w.leaf("TaxCode", _text(info.code, 70))
                w.leaf("Description", _text(info.name, 256))
                if info.percent is not None:
                    w.leaf("TaxPercentage", format(info.percent.normalize(), "f"))
                w.leaf("Country", info.country)
                w.leaf("StandardTaxCode", STANDARD_TAX_CODE)
                w.leaf("BaseRate", "100")


ANALYSIS_TYPES = {
    "STORE": "Store",
    "LOCATION": "Stock location",
    "CHANNEL": "Sales channel",
    "CATEGORY": "Product category",
}
"""The ledger's dimensions as SAF-T analysis types (codes of at most nine characters)."""


def _analysis_types(
    w: _Writer,
    session: Session,
    company: Company,
    period: ExportPeriod,
    stores: dict[uuid.UUID, tuple[str, str]],
    locations: dict[uuid.UUID, tuple[str, str]],
) -> None:
    """Every store and location of the company, and the channels and categories the period's lines
    carry (those two are free values on the lines, not master data)."""
    in_period = [
        L.company_id == company.id,
        L.state == "posted",
        L.date >= period.start,
        L.date <= period.end,
    ]
    channels = session.scalars(select(L.channel).where(*in_period, L.channel.is_not(None)).distinct())
    categories = session.scalars(
        select(L.product_category).where(*in_period, L.product_category.is_not(None)).distinct()
    )
    entries: list[tuple[str, str, str]] = []
    entries += sorted(("STORE", code, name) for code, name in stores.values())
    entries += sorted(("LOCATION", code, name) for code, name in locations.values())
    entries += sorted(("CHANNEL", value, value) for value in channels)
    entries += sorted(("CATEGORY", value, value) for value in categories)
    if not entries:
        return
    with w.element("AnalysisTypeTable"):
        for kind, code, name in entries:
            with w.element("AnalysisTypeTableEntry"):
                w.leaf("AnalysisType", kind)
                w.leaf("AnalysisTypeDescription", ANALYSIS_TYPES[kind])
                w.leaf("AnalysisID", _text(code, 35))
                w.leaf("AnalysisIDDescription", _text(name, 256) or code)


def _transactions(
    w: _Writer,
    rows: Peekable,
    journal_code: str,
    period: ExportPeriod,
    company: Company,
    chart: dict[uuid.UUID, Any],
    stores: dict[uuid.UUID, tuple[str, str]],
    locations: dict[uuid.UUID, tuple[str, str]],
    taxes: dict[str, TaxCodeInfo],
) -> Iterator[int]:
    """Write the journal's transactions, from the current row to the first of the next journal; yield
    the number of lines written every ``FETCH`` lines (the caller hands a chunk on then), and the rest
    at the end."""
    pending = 0
    while rows.row is not None and rows.row.journal_code == journal_code:
        row = rows.row
        entry_id = row.entry_id
        with w.element("Transaction"):
            w.leaf("TransactionID", _text(row.number, 70))
            w.leaf("Period", period.number)
            w.leaf("PeriodYear", period.year)
            w.leaf("TransactionDate", row.date.isoformat())
            if row.created_by and len(row.created_by) <= 35:
                w.leaf("SourceID", row.created_by)
            w.leaf("Description", _text(row.reference, 256) or row.number)
            w.leaf("SystemEntryDate", row.created_at.date().isoformat())
            w.leaf("GLPostingDate", (row.posted_at or row.created_at).date().isoformat())
            record = 0
            while rows.row is not None and rows.row.entry_id == entry_id:
                record += 1
                _line(w, rows.row, record, company, chart, stores, locations, taxes)
                pending += 1
                rows.advance()
        if pending >= FETCH:
            yield pending
            pending = 0
    yield pending


def _line(
    w: _Writer,
    row: Any,
    record: int,
    company: Company,
    chart: dict[uuid.UUID, Any],
    stores: dict[uuid.UUID, tuple[str, str]],
    locations: dict[uuid.UUID, tuple[str, str]],
    taxes: dict[str, TaxCodeInfo],
) -> None:
    account = chart[row.account_id]
    with w.element("Line"):
        w.leaf("RecordID", record)
        w.leaf("AccountID", account.code)
        if row.store_id is not None:
            _analysis(w, "STORE", stores[row.store_id][0] if row.store_id in stores else str(row.store_id))
        if row.location_id is not None:
            code = locations[row.location_id][0] if row.location_id in locations else str(row.location_id)
            _analysis(w, "LOCATION", code)
        if row.channel is not None:
            _analysis(w, "CHANNEL", row.channel)
        if row.product_category is not None:
            _analysis(w, "CATEGORY", row.product_category)
        event = row.event_id or row.entry_event_id
        if event is not None:
            w.leaf("SourceDocumentID", event.hex)
        w.leaf("Description", _text(row.label, 256) or _text(row.reference, 256) or row.number)
        currency = None
        if row.currency != company.currency:
            foreign = abs(row.amount_currency)
            if foreign.quantize(CENT) == foreign:
                currency = (row.currency, foreign, row.rate)
        credit = row.credit > 0
        w.amount("CreditAmount" if credit else "DebitAmount", row.credit if credit else row.debit, currency)
        if row.tax_code is not None and account.role in TAX_ROLES:
            info = taxes[row.tax_code]
            with w.element("TaxInformation"):
                w.leaf("TaxType", "MVA")
                w.leaf("TaxCode", _text(row.tax_code, 70))
                if info.percent is not None:
                    w.leaf("TaxPercentage", format(info.percent.normalize(), "f"))
                w.leaf("Country", info.country)
                if row.tax_base is not None:
                    w.leaf("TaxBase", format(row.tax_base.normalize(), "f"))
                w.amount(
                    "CreditTaxAmount" if credit else "DebitTaxAmount", row.credit if credit else row.debit
                )


def _analysis(w: _Writer, kind: str, value: str) -> None:
    with w.element("Analysis"):
        w.leaf("AnalysisType", kind)
        w.leaf("AnalysisID", _text(value, 35))  # as in the AnalysisTypeTable, whose IDs have 35 at most
