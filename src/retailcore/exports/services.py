"""Exports of the books for a period: the general ledger and the journals as CSV (SAF-T: ``saft.py``).

An export is a *file for someone else's system*, not a report: every posted line of the period, in a
stable order, with nothing summed away. A month of a 40-store chain is millions of lines, so nothing here
holds the period in memory: the lines are read with a server-side cursor (``yield_per``: psycopg's named
cursor on PostgreSQL, SQLite's stepping cursor) and written out a chunk at a time, as bytes a caller sends
on (the API's streamed response, the CLI's file). Memory stays flat whatever the period holds (see
docs/benchmarks.md, "Exports").

One export reads one snapshot (:func:`snapshot`): its totals, master data and lines agree with each other
even while tills keep posting. Only posted lines count (drafts never leave the system), and amounts are
Decimals end to end, written in the ledger's canonical form (``12.50``), never through a float.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount
from retailcore.core.decimals import canonical
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.core.inputs import day_in_range
from retailcore.masterdata.tables import Account, Location, Store

L = a.JournalLine
E = a.JournalEntry

FETCH = 5_000
"""Rows per fetch of the cursor, and per chunk written: big enough to amortise the round trips, small
enough that a chunk is a few hundred kilobytes."""

Progress = Callable[[int, int], None]
"""``(lines done, lines in all)``: the CLI's progress bar."""

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
PERIOD_EXPECTED = "a month, YYYY-MM (2026-11)"


@dataclass(frozen=True)
class ExportPeriod:
    """A calendar month, and where it falls in the company's fiscal year (SAF-T's ``Period`` and
    ``PeriodYear``: the month's number in its fiscal year and the year the fiscal year starts in; the
    calendar month and year when no fiscal year covers it yet)."""

    code: str
    start: dt.date
    end: dt.date
    number: int
    year: int


def parse_period(value: str | None) -> tuple[dt.date, dt.date]:
    """``2026-11`` -> its first and last day, or a 422 naming ``period``."""
    text = (value or "").strip()
    match = _PERIOD.match(text)
    if match is not None and 1 <= int(match[2]) <= 12:
        start = dt.date(int(match[1]), int(match[2]), 1)
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        if day_in_range(start) and day_in_range(end):
            return start, end
    if not text:
        raise ValidationFailed("period is required", problems=[FieldProblem("period", "required")])
    raise ValidationFailed(
        f"period '{value}' is not {PERIOD_EXPECTED}", problems=[FieldProblem("period", PERIOD_EXPECTED)]
    )


def resolve_period(session: Session, company_id: uuid.UUID, value: str | None) -> ExportPeriod:
    start, end = parse_period(value)
    fiscal = session.execute(
        select(a.FiscalYear.start_date).where(
            a.FiscalYear.company_id == company_id,
            a.FiscalYear.start_date <= start,
            a.FiscalYear.end_date >= end,
        )
    ).scalar()
    if fiscal is None:
        return ExportPeriod(start.strftime("%Y-%m"), start, end, start.month, start.year)
    number = (start.year - fiscal.year) * 12 + start.month - fiscal.month + 1
    return ExportPeriod(start.strftime("%Y-%m"), start, end, number, fiscal.year)


def snapshot(session: Session) -> None:
    """Make the session's reads one snapshot. SQLite's explicit ``BEGIN`` (adapters/db.py) already is
    one; PostgreSQL's default READ COMMITTED would let a sale posted mid-export into the lines but not
    into the totals written before them, so the export reads REPEATABLE READ. Call before any query."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


# -- what the exports read -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodTotals:
    entries: int
    lines: int
    debit: Decimal
    credit: Decimal


def _sum(column: Any) -> Any:
    """A typed SUM: read back through ExactDecimal, so exact on SQLite too (as reports.py does)."""
    return type_coerce(func.coalesce(func.sum(column), literal_column("0")), Amount())


def period_totals(session: Session, company_id: uuid.UUID, period: ExportPeriod) -> PeriodTotals:
    """Entries, lines, debits and credits of the period's posted lines: one aggregate, no row read."""
    row = session.execute(
        select(func.count(func.distinct(L.entry_id)), func.count(), _sum(L.debit), _sum(L.credit)).where(
            *_period_lines(company_id, period)
        )
    ).one()
    return PeriodTotals(int(row[0]), int(row[1]), row[2], row[3])


def _period_lines(company_id: uuid.UUID, period: ExportPeriod) -> list[Any]:
    # The leading columns of ix_journal_lines_report, then its date range.
    return [L.company_id == company_id, L.state == "posted", L.date >= period.start, L.date <= period.end]


@dataclass(frozen=True)
class AccountInfo:
    code: str
    name: str
    type: str
    role: str | None


def accounts(session: Session, company_id: uuid.UUID) -> dict[uuid.UUID, AccountInfo]:
    """The chart (a few hundred rows at most): looked up per line in memory, not joined per line."""
    rows = session.execute(
        select(Account.id, Account.code, Account.name, Account.type, Account.role)
        .where(Account.company_id == company_id)
        .order_by(Account.code)
    )
    return {row[0]: AccountInfo(row[1], row[2], row[3], row[4]) for row in rows}


def store_codes(session: Session, company_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, str]]:
    rows = session.execute(select(Store.id, Store.code, Store.name).where(Store.company_id == company_id))
    return {row[0]: (row[1], row[2]) for row in rows}


def location_codes(session: Session, company_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, str]]:
    rows = session.execute(
        select(Location.id, Location.code, Location.name).where(Location.company_id == company_id)
    )
    return {row[0]: (row[1], row[2]) for row in rows}


GL_LINE_COLUMNS = (
    L.entry_id,
    L.sequence,
    L.account_id,
    L.debit,
    L.credit,
    L.currency,
    L.amount_currency,
    L.rate,
    L.label,
    L.store_id,
    L.channel,
    L.product_category,
    L.location_id,
    L.tax_code,
    L.tax_base,
    L.event_id,
    L.date,
    E.number,
    E.reference,
    E.event_id.label("entry_event_id"),
)
"""What the GL export reads of each line and its entry."""
SAFT_LINE_COLUMNS = (*GL_LINE_COLUMNS, E.created_by, E.created_at, E.posted_at)
"""The SAF-T file's transactions also say who made them and when."""


def period_lines(
    session: Session, company_id: uuid.UUID, period: ExportPeriod, columns: tuple[Any, ...] = GL_LINE_COLUMNS
) -> Iterator[Any]:
    """The period's posted lines with their journal's code and name, journal by journal (by code), entry
    by entry (date, number), each entry's lines in their order: streamed, ``FETCH`` rows at a time.

    One query and one sort for the whole period, not one per journal: the report index
    (company, state, date, account) has no journal, so a query per journal would read every line of the
    period once per journal."""
    statement = (
        select(*columns, a.Journal.code.label("journal_code"), a.Journal.name.label("journal_name"))
        .join(E, E.id == L.entry_id)
        .join(a.Journal, a.Journal.id == L.journal_id)
        .where(*_period_lines(company_id, period))
        .order_by(a.Journal.code, L.date, E.number, L.entry_id, L.sequence, L.id)
        .execution_options(yield_per=FETCH)
    )
    yield from session.execute(statement)


class Peekable:
    """The current row of a stream, and the next on :meth:`advance` (``row`` is None at the end)."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._rows = rows
        self.row: Any = next(rows, None)

    def advance(self) -> None:
        self.row = next(self._rows, None)


# -- CSV -------------------------------------------------------------------------------------------


_FORMATS: dict[type, Callable[[Any], str]] = {
    str: str,
    int: str,
    Decimal: canonical,
    dt.date: dt.date.isoformat,
    dt.datetime: dt.datetime.isoformat,
    uuid.UUID: str,
    type(None): lambda _: "",
}
"""How each type a cell can hold is written (one dictionary lookup per cell: millions of them)."""


def _cell(value: Any) -> str:
    return _FORMATS[type(value)](value)


class _CsvChunks:
    """A csv.writer whose output is taken as UTF-8 bytes every ``FETCH`` rows."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.rows = 0

    def row(self, values: list[Any]) -> bytes | None:
        self.writer.writerow([_cell(value) for value in values])
        self.rows += 1
        return self.take() if self.rows % FETCH == 0 else None

    def take(self) -> bytes:
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer.seek(0)
        self.buffer.truncate()
        return data


GL_COLUMNS = [
    "date",
    "journal",
    "entry_number",
    "line",
    "account_code",
    "account_name",
    "debit",
    "credit",
    "currency",
    "amount_currency",
    "store",
    "channel",
    "product_category",
    "location",
    "tax_code",
    "tax_base",
    "description",
    "reference",
    "source_event",
]
"""The GL export's header: one row per posted journal line (docs/exports.md)."""


def general_ledger_csv(
    session: Session, company_id: uuid.UUID, period: ExportPeriod, progress: Progress | None = None
) -> Iterator[bytes]:
    """One row per posted line of the period, journal by journal (by code), entry by entry."""
    chart = accounts(session, company_id)
    stores = store_codes(session, company_id)
    locations = location_codes(session, company_id)
    total = period_totals(session, company_id, period).lines if progress else 0
    out = _CsvChunks()
    out.writer.writerow(GL_COLUMNS)
    done = 0
    line_number = 0
    previous: uuid.UUID | None = None
    for row in period_lines(session, company_id, period):
        line_number = line_number + 1 if row.entry_id == previous else 1
        previous = row.entry_id
        account = chart[row.account_id]
        chunk = out.row(
            [
                row.date,
                row.journal_code,
                row.number,
                line_number,
                account.code,
                account.name,
                row.debit,
                row.credit,
                row.currency,
                row.amount_currency,
                stores[row.store_id][0] if row.store_id in stores else row.store_id,
                row.channel,
                row.product_category,
                locations[row.location_id][0] if row.location_id in locations else row.location_id,
                row.tax_code,
                row.tax_base,
                row.label,
                row.reference,
                row.event_id or row.entry_event_id,
            ]
        )
        done += 1
        if chunk is not None:
            if progress:
                progress(done, total)
            yield chunk
    if progress:
        progress(done, total)
    yield out.take()


JOURNAL_COLUMNS = [
    "date",
    "journal",
    "entry_number",
    "reference",
    "lines",
    "debit",
    "credit",
    "reversal_of",
    "source_event",
    "created_by",
    "created_at",
    "posted_by",
    "posted_at",
]
"""The journal export's header: one row per posted entry (docs/exports.md)."""


def journal_csv(
    session: Session, company_id: uuid.UUID, period: ExportPeriod, progress: Progress | None = None
) -> Iterator[bytes]:
    """One row per posted entry of the period with its line count and totals, summed by the database
    (one ``GROUP BY`` over the period's lines), journal by journal, entry by entry."""
    reversed_entry = a.JournalEntry.__table__.alias("reversed_entry")
    totals = (
        select(
            L.entry_id,
            func.count().label("lines"),
            _sum(L.debit).label("debit"),
            _sum(L.credit).label("credit"),
        )
        .where(*_period_lines(company_id, period))
        .group_by(L.entry_id)
        .subquery()
    )
    statement = (
        select(
            E.date,
            a.Journal.code,
            E.number,
            E.reference,
            totals.c.lines,
            totals.c.debit,
            totals.c.credit,
            reversed_entry.c.number.label("reversal_of"),
            E.event_id,
            E.created_by,
            E.created_at,
            E.posted_by,
            E.posted_at,
        )
        .join(totals, totals.c.entry_id == E.id)
        .join(a.Journal, a.Journal.id == E.journal_id)
        .outerjoin(reversed_entry, reversed_entry.c.id == E.reversal_of_id)
        .order_by(a.Journal.code, E.date, E.number, E.id)
        .execution_options(yield_per=FETCH)
    )
    total = period_totals(session, company_id, period).entries if progress else 0
    out = _CsvChunks()
    out.writer.writerow(JOURNAL_COLUMNS)
    done = 0
    for row in session.execute(statement):
        done += 1
        chunk = out.row(list(row))
        if chunk is not None:
            if progress:
                progress(done, total)
            yield chunk
    if progress:
        progress(done, total)
    yield out.take()
