"""The ledger's reports: trial balance, general ledger, profit and loss, balance sheet, tax report.

Every report is a pure query function ``(session, company_id, parameters) -> model`` over posted journal
lines only (``state = 'posted'``): drafts never count. Lines repeat their entry's date, state and journal,
so the reports aggregate ``journal_lines`` alone, in one set-based ``GROUP BY`` each, along the
``ix_journal_lines_report`` index (company, state, date, account); the database does the summing, Python
only labels and orders the aggregated rows (one per account and dimension value, never one per line).

Sign conventions (see docs/reports.md):
  * trial balance and general ledger balances are *debit minus credit* (a credit balance is negative);
  * profit and loss shows income as credit minus debit and expenses as debit minus credit, so both are
    positive in the normal case, and the net result is income minus expenses;
  * the balance sheet shows assets as debit minus credit, liabilities and equity as credit minus debit;
  * the tax report shows tax collected (output tax) as credit minus debit and tax deductible (input
    tax) as debit minus credit.

Amounts are Decimals end to end. ``SUM`` runs on the exact column type (scaled integers on SQLite,
``NUMERIC`` on PostgreSQL) and every aggregate is typed with :func:`Amount` so the values come back
through :class:`~retailcore.adapters.orm.ExactDecimal`, never through a float.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from retailcore.accounting import balances
from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount
from retailcore.core.decimals import DecimalStr, canonical
from retailcore.core.errors import FieldProblem, InvalidReference, ValidationFailed
from retailcore.core.inputs import FIRST_DAY, LAST_DAY, day_in_range
from retailcore.masterdata.tables import Account, Customer, Location, Store

ZERO = Decimal(0)
L = a.JournalLine
B = a.PeriodBalance

DIMENSIONS: dict[str, Any] = {
    "store_id": L.store_id,
    "channel": L.channel,
    "product_category": L.product_category,
    "location_id": L.location_id,
    "customer_id": L.customer_id,
    "journal": L.journal_id,
}
"""Dimensions a report may group by, and the line column each reads."""

BALANCE_SHEET_TYPES = ("asset", "liability", "equity")
RESULT_TYPES = ("income", "expense")

GENERAL_LEDGER_MAX_LIMIT = 10_000

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- parameters ------------------------------------------------------------------------------------


def parse_date(value: str | dt.date | None, field: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` date within the accepted range (``core/inputs.py``), or a 422 naming ``field``.

    Only the plain ISO form is accepted: generic parsers also take Unix timestamps or week dates,
    which in a report filter are far more likely typos than intent.
    """
    if value is None or isinstance(value, dt.date):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        day = dt.date.fromisoformat(text)
        if not day_in_range(day):
            raise ValueError(text)
        return day
    except ValueError:
        expected = f"not a date (YYYY-MM-DD, {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})"
        raise ValidationFailed(
            f"{field} '{value}' is {expected}", problems=[FieldProblem(field, expected)]
        ) from None


def require_date(value: str | dt.date | None, field: str) -> dt.date:
    """As :func:`parse_date`, and a 422 naming ``field`` when there is no date at all."""
    parsed = parse_date(value, field)
    if parsed is None:
        raise ValidationFailed(f"{field} is required", problems=[FieldProblem(field, "required")])
    return parsed


def parse_group_by(values: Iterable[str] | str | None, *, single: bool = False) -> list[str]:
    """Dimension names from repeated and/or comma-separated values, validated, duplicates dropped."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    names: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name not in DIMENSIONS:
                raise ValidationFailed(
                    f"cannot group by '{name}'; dimensions are {', '.join(DIMENSIONS)}",
                    problems=[FieldProblem("group_by", f"unknown dimension '{name}'")],
                )
            if name not in names:
                names.append(name)
    if single and len(names) > 1:
        raise ValidationFailed(
            "this report groups by one dimension at most",
            problems=[FieldProblem("group_by", "one dimension at most")],
        )
    return names


@dataclass(frozen=True)
class DateRange:
    date_from: dt.date
    date_to: dt.date
    period: str | None = None


def resolve_range(
    session: Session,
    company_id: uuid.UUID,
    date_from: dt.date | None,
    date_to: dt.date | None,
    period: str | None = None,
) -> DateRange:
    """Dates from ``date_from``/``date_to`` or from a period code (``2026-11``; a fiscal year: ``2026``)."""
    if period:
        if date_from is not None or date_to is not None:
            raise ValidationFailed(
                "give either a period or dates, not both",
                problems=[FieldProblem("period", "given together with dates")],
            )
        found = session.execute(
            select(a.Period.start_date, a.Period.end_date).where(
                a.Period.company_id == company_id, a.Period.code == period
            )
        ).first()
        found = (
            found
            or session.execute(
                select(a.FiscalYear.start_date, a.FiscalYear.end_date).where(
                    a.FiscalYear.company_id == company_id, a.FiscalYear.code == period
                )
            ).first()
        )
        if found is None:
            raise ValidationFailed(
                f"no period or fiscal year '{period}'", problems=[FieldProblem("period", "no such period")]
            )
        return DateRange(found[0], found[1], period)
    missing = [name for name, value in (("date_from", date_from), ("date_to", date_to)) if value is None]
    if missing:
        raise ValidationFailed(
            f"give {' and '.join(missing)} (or a period)",
            problems=[FieldProblem(name, "required (or give a period)") for name in missing],
        )
    assert date_from is not None and date_to is not None  # narrowed above, for the type checker
    if date_from > date_to:
        raise ValidationFailed(
            f"date_from {date_from.isoformat()} is after date_to {date_to.isoformat()}",
            problems=[FieldProblem("date_from", "after date_to")],
        )
    return DateRange(date_from, date_to)


# -- shared SQL pieces ------------------------------------------------------------------------------


def _posted(company_id: uuid.UUID) -> list[ColumnElement[bool]]:
    # The leading columns of ix_journal_lines_report, then the date range narrows the same index.
    return [L.company_id == company_id, L.state == "posted"]


def _money(expression: Any) -> Any:
    """Type an aggregate as an amount, so it is read back through ExactDecimal (exact on SQLite)."""
    return type_coerce(expression, Amount())


def _sum(expression: Any) -> Any:
    return _money(func.coalesce(func.sum(expression), literal_column("0")))


def _when(condition: ColumnElement[bool], value: Any) -> Any:
    # A literal 0 rather than a bound Decimal keeps the SQL constant and needs no per-dialect binding.
    return case((condition, value), else_=literal_column("0"))


def _combined(parts: list[Any], dimension_count: int, amounts: Sequence[str]) -> Any:
    """The aggregates of lines (and of kept period balances) summed again per account and dimension
    values, as one subquery. With the lines alone it is their aggregate as it is."""
    if len(parts) == 1:
        return parts[0].subquery()
    union = union_all(*parts).subquery()
    keys = [union.c.account_id, *(union.c[f"d{i}"] for i in range(dimension_count))]
    return (
        select(*(key.label(key.name) for key in keys), *(_sum(union.c[name]).label(name) for name in amounts))
        .group_by(*keys)
        .subquery()
    )


def _closed_months(cut: balances.Split) -> ColumnElement[bool]:
    """The kept balances of the whole closed months inside a report's range."""
    if cut.closed is None:
        return false()
    return and_(B.month >= cut.closed[0], B.month <= cut.closed[1])


def _labels(session: Session, company_id: uuid.UUID, dimension: str, values: set[Any]) -> dict[Any, str]:
    """Readable names of id dimensions: store, location and customer codes, journal codes. One query per
    kind."""
    values = {v for v in values if v is not None}
    if not values:
        return {}
    model = {"store_id": Store, "location_id": Location, "journal": a.Journal, "customer_id": Customer}.get(
        dimension
    )
    if model is None:
        return {}
    rows = session.execute(
        select(model.id, model.code).where(model.company_id == company_id, model.id.in_(values))
    )
    return {row[0]: row[1] for row in rows}


def _dimension_values(
    session: Session, company_id: uuid.UUID, dimensions: Sequence[str], rows: Sequence[Any], offset: int
) -> list[tuple[dict[str, str | None], dict[str, str | None]]]:
    """Per aggregated row: (dimension values, labels). Journals are shown by code, not by id."""
    labels = {
        name: _labels(session, company_id, name, {row[offset + i] for row in rows})
        for i, name in enumerate(dimensions)
    }
    result = []
    for row in rows:
        values: dict[str, str | None] = {}
        names: dict[str, str | None] = {}
        for i, name in enumerate(dimensions):
            raw = row[offset + i]
            label = labels[name].get(raw) if raw is not None else None
            if name == "journal":
                values[name] = label if label is not None else (str(raw) if raw is not None else None)
            else:
                values[name] = str(raw) if raw is not None else None
            names[name] = label if label is not None else values[name]
        result.append((values, names))
    return result


def _order_key(code: str, labels: dict[str, str | None]) -> tuple[Any, ...]:
    # Lines without a dimension value (None) sort first on both backends.
    return (code, *((value is not None, value or "") for value in labels.values()))


def cell_text(value: Any) -> str:
    """A report cell as text: canonical decimals (``5.00``), ISO dates, empty for none."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class Report(BaseModel):
    """What every report can do besides being JSON: a flat table, for CSV files and the CLI."""

    def table(self) -> tuple[list[str], list[list[Any]]]:
        raise NotImplementedError

    def summary(self) -> list[tuple[str, Any]]:
        """Totals shown under the CLI table."""
        return []

    def title(self) -> str:
        return type(self).__name__

    def to_csv(self) -> str:
        """The table as CSV: a header row, then one row per data row; amounts as plain decimals."""
        header, rows = self.table()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([cell_text(value) for value in row] for row in rows)
        return buffer.getvalue()


# -- trial balance ---------------------------------------------------------------------------------


class TrialBalanceRow(BaseModel):
    account_id: uuid.UUID
    account_code: str
    account_name: str
    account_type: str
    dimensions: dict[str, str | None]
    """Grouping values: ids for ``store_id``/``location_id``, the code for ``journal``; null where the
    lines carry none."""
    labels: dict[str, str | None]
    """The same values made readable (store and location codes)."""
    opening_balance: DecimalStr
    period_debit: DecimalStr
    period_credit: DecimalStr
    closing_balance: DecimalStr


class TrialBalanceTotals(BaseModel):
    opening_balance: DecimalStr
    period_debit: DecimalStr
    period_credit: DecimalStr
    closing_balance: DecimalStr


class TrialBalance(Report):
    company_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    period: str | None
    group_by: list[str]
    rows: list[TrialBalanceRow]
    totals: TrialBalanceTotals
    balanced: bool
    """Debits equal credits in the period, and opening and closing balances each sum to zero."""

    def title(self) -> str:
        return f"Trial balance {self.date_from} to {self.date_to}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["account_code", "account_name", "account_type", *self.group_by]
        header += ["opening_balance", "period_debit", "period_credit", "closing_balance"]
        rows = [
            [
                row.account_code,
                row.account_name,
                row.account_type,
                *(row.labels[name] for name in self.group_by),
                row.opening_balance,
                row.period_debit,
                row.period_credit,
                row.closing_balance,
            ]
            for row in self.rows
        ]
        return header, rows

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("total period debit", self.totals.period_debit),
            ("total period credit", self.totals.period_credit),
            ("balanced", "yes" if self.balanced else "NO"),
        ]


def trial_balance(
    session: Session,
    company_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    *,
    period: str | None = None,
    group_by: Sequence[str] = (),
) -> TrialBalance:
    """Per account (and dimension values): opening balance before ``date_from``, the period's debits and
    credits, closing balance at ``date_to``.

    One aggregate over the lines up to ``date_to``: conditional sums split them into before and within
    the period, so the opening balance costs no second scan.
    """
    span = resolve_range(session, company_id, date_from, date_to, period)
    dimensions = parse_group_by(group_by)
    columns = [DIMENSIONS[name] for name in dimensions]
    cut = balances.split(span.date_from, span.date_to, balances.through_for(session, company_id, dimensions))
    before = L.date < span.date_from
    parts = [
        select(
            L.account_id.label("account_id"),
            *(column.label(f"d{i}") for i, column in enumerate(columns)),
            _sum(_when(before, L.debit - L.credit)).label("opening"),
            _sum(_when(~before, L.debit)).label("debit"),
            _sum(_when(~before, L.credit)).label("credit"),
        )
        .where(*_posted(company_id), L.date <= span.date_to, *balances.lines_outside(cut))
        .group_by(L.account_id, *columns)
    ]
    if cut.lines_from is not None:  # closed months: their kept sums instead of their lines
        kept = [balances.BALANCE_DIMENSIONS[name] for name in dimensions]
        opening = B.month < cut.lines_from
        in_range = _closed_months(cut)
        parts.append(
            select(
                B.account_id.label("account_id"),
                *(column.label(f"d{i}") for i, column in enumerate(kept)),
                _sum(_when(opening, B.debit - B.credit)).label("opening"),
                _sum(_when(in_range, B.debit)).label("debit"),
                _sum(_when(in_range, B.credit)).label("credit"),
            )
            .where(B.company_id == company_id, or_(opening, in_range))
            .group_by(B.account_id, *kept)
        )
    aggregate = _combined(parts, len(columns), ("opening", "debit", "credit"))
    statement = select(
        Account.id,
        Account.code,
        Account.name,
        Account.type,
        *(aggregate.c[f"d{i}"] for i in range(len(columns))),
        aggregate.c.opening,
        aggregate.c.debit,
        aggregate.c.credit,
    ).join(aggregate, aggregate.c.account_id == Account.id)
    rows = [row for row in session.execute(statement) if row.opening or row.debit or row.credit]
    described = _dimension_values(session, company_id, dimensions, rows, offset=4)
    report_rows = [
        TrialBalanceRow(
            account_id=row.id,
            account_code=row.code,
            account_name=row.name,
            account_type=row.type,
            dimensions=values,
            labels=labels,
            opening_balance=row.opening,
            period_debit=row.debit,
            period_credit=row.credit,
            closing_balance=row.opening + row.debit - row.credit,
        )
        for row, (values, labels) in zip(rows, described, strict=True)
    ]
    report_rows.sort(key=lambda r: _order_key(r.account_code, r.labels))
    totals = TrialBalanceTotals(
        opening_balance=sum((r.opening_balance for r in report_rows), ZERO),
        period_debit=sum((r.period_debit for r in report_rows), ZERO),
        period_credit=sum((r.period_credit for r in report_rows), ZERO),
        closing_balance=sum((r.closing_balance for r in report_rows), ZERO),
    )
    return TrialBalance(
        company_id=company_id,
        date_from=span.date_from,
        date_to=span.date_to,
        period=span.period,
        group_by=dimensions,
        rows=report_rows,
        totals=totals,
        balanced=(
            totals.period_debit == totals.period_credit
            and totals.opening_balance == 0
            and totals.closing_balance == 0
        ),
    )


# -- general ledger --------------------------------------------------------------------------------


class LedgerAccount(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    type: str


class LedgerLine(BaseModel):
    line_id: uuid.UUID
    entry_id: uuid.UUID
    date: dt.date
    entry_number: str | None
    journal: str
    reference: str
    label: str
    debit: DecimalStr
    credit: DecimalStr
    balance: DecimalStr
    """Running balance (debit minus credit) after this line, from the opening balance."""


class GeneralLedger(Report):
    company_id: uuid.UUID
    account: LedgerAccount
    date_from: dt.date
    date_to: dt.date
    period: str | None
    opening_balance: DecimalStr
    period_debit: DecimalStr
    period_credit: DecimalStr
    closing_balance: DecimalStr
    """At ``date_to``, whatever page this is."""
    lines: list[LedgerLine]
    first_page: bool
    next_cursor: str | None
    """Pass as ``cursor`` for the following lines; null on the last page."""

    def title(self) -> str:
        return f"General ledger {self.account.code} {self.account.name}, {self.date_from} to {self.date_to}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["kind", "date", "entry_number", "journal", "reference", "label", "debit", "credit"]
        header.append("balance")
        rows: list[list[Any]] = []
        if self.first_page:
            rows.append(["opening", self.date_from, "", "", "", "Opening balance", "", ""])
            rows[-1].append(self.opening_balance)
        for line in self.lines:
            rows.append(
                [
                    "line",
                    line.date,
                    line.entry_number,
                    line.journal,
                    line.reference,
                    line.label,
                    line.debit,
                    line.credit,
                    line.balance,
                ]
            )
        if self.next_cursor is None:
            rows.append(["closing", self.date_to, "", "", "", "Closing balance"])
            rows[-1] += [self.period_debit, self.period_credit, self.closing_balance]
        return header, rows

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("opening balance", self.opening_balance),
            ("period debit", self.period_debit),
            ("period credit", self.period_credit),
            ("closing balance", self.closing_balance),
        ]


def encode_ledger_cursor(date: dt.date, line_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(date.toordinal().to_bytes(4, "big") + line_id.bytes).decode().rstrip("=")


def decode_ledger_cursor(cursor: str) -> tuple[dt.date, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 20:
            raise ValueError(cursor)
        return dt.date.fromordinal(int.from_bytes(raw[:4], "big")), uuid.UUID(bytes=raw[4:])
    except ValueError:
        raise ValidationFailed(
            "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
        ) from None


def resolve_account(session: Session, company_id: uuid.UUID, ref: str | uuid.UUID) -> Account:
    """An account of the company by id or by code; a 422 naming ``account`` otherwise."""
    account: Account | None = None
    try:
        account_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        account_id = None
    if account_id is not None:
        account = session.get(Account, account_id)
    if account is None:
        account = session.scalar(
            select(Account).where(Account.company_id == company_id, Account.code == str(ref))
        )
    if account is None or account.company_id != company_id:
        raise InvalidReference(f"no account '{ref}'", problems=[FieldProblem("account", "no such account")])
    return account


def general_ledger(
    session: Session,
    company_id: uuid.UUID,
    account_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    *,
    period: str | None = None,
    limit: int = 1000,
    cursor: str | None = None,
    store_id: uuid.UUID | None = None,
    channel: str | None = None,
    product_category: str | None = None,
) -> GeneralLedger:
    """One account's posted lines in the period with a running balance, a page at a time.

    ``store_id``, ``channel`` and ``product_category`` keep only the lines carrying that dimension
    value (the back office's drill-down from a P&L split); the opening balance, the totals and the
    running balance are then those of the kept lines.

    Pages follow a keyset on (date, line id); line ids are UUIDv7, so lines of one day come in posting
    order. The balance brought into a page is one aggregate over the lines before it, so every page
    costs the same however deep it is, and the running balance inside the page is a window function.
    """
    span = resolve_range(session, company_id, date_from, date_to, period)
    if not 1 <= limit <= GENERAL_LEDGER_MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {GENERAL_LEDGER_MAX_LIMIT}",
            problems=[FieldProblem("limit", f"between 1 and {GENERAL_LEDGER_MAX_LIMIT}")],
        )
    account = resolve_account(session, company_id, account_id)
    after: ColumnElement[bool] | None = None
    if cursor:
        cursor_date, cursor_id = decode_ledger_cursor(cursor)
        if not span.date_from <= cursor_date <= span.date_to:
            raise ValidationFailed(
                "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
            )
        after = or_(L.date > cursor_date, and_(L.date == cursor_date, L.id > cursor_id))
    mine = [*_posted(company_id), L.account_id == account.id]
    for column, value in (
        (L.store_id, store_id),
        (L.channel, channel),
        (L.product_category, product_category),
    ):
        if value is not None:
            mine.append(column == value)
    in_period = L.date >= span.date_from
    carried = _sum(_when(~after, L.debit - L.credit)) if after is not None else _money(literal_column("0"))
    totals = session.execute(
        select(
            _sum(_when(~in_period, L.debit - L.credit)).label("opening"),
            _sum(_when(in_period, L.debit)).label("debit"),
            _sum(_when(in_period, L.credit)).label("credit"),
            carried.label("carried"),
        ).where(*mine, L.date <= span.date_to)
    ).one()
    brought = totals.carried if after is not None else totals.opening

    running = _money(func.sum(L.debit - L.credit).over(order_by=(L.date, L.id), rows=(None, 0)))
    page = (
        select(
            L.id,
            L.entry_id,
            L.date,
            a.JournalEntry.number,
            a.Journal.code,
            a.JournalEntry.reference,
            L.label,
            L.debit,
            L.credit,
            running.label("running"),
        )
        .join(a.JournalEntry, a.JournalEntry.id == L.entry_id)
        .join(a.Journal, a.Journal.id == L.journal_id)
        .where(*mine, in_period, L.date <= span.date_to, *([after] if after is not None else []))
        .order_by(L.date, L.id)
        .limit(limit + 1)
    )
    rows = list(session.execute(page))
    more = len(rows) > limit
    rows = rows[:limit]
    lines = [
        LedgerLine(
            line_id=row.id,
            entry_id=row.entry_id,
            date=row.date,
            entry_number=row.number,
            journal=row.code,
            reference=row.reference,
            label=row.label,
            debit=row.debit,
            credit=row.credit,
            balance=brought + row.running,
        )
        for row in rows
    ]
    return GeneralLedger(
        company_id=company_id,
        account=LedgerAccount(id=account.id, code=account.code, name=account.name, type=account.type),
        date_from=span.date_from,
        date_to=span.date_to,
        period=span.period,
        opening_balance=totals.opening,
        period_debit=totals.debit,
        period_credit=totals.credit,
        closing_balance=totals.opening + totals.debit - totals.credit,
        lines=lines,
        first_page=cursor is None,
        next_cursor=encode_ledger_cursor(rows[-1].date, rows[-1].id) if more else None,
    )


# -- profit and loss -------------------------------------------------------------------------------


class ProfitAndLossRow(BaseModel):
    account_id: uuid.UUID
    account_code: str
    account_name: str
    account_type: str
    dimension: str | None
    """Value of the ``group_by`` dimension (null when not grouped or when the lines carry none)."""
    label: str | None
    amount: DecimalStr
    """Income: credit minus debit. Expense: debit minus credit."""


class ProfitAndLossResult(BaseModel):
    dimension: str | None
    label: str | None
    income: DecimalStr
    expenses: DecimalStr
    net_result: DecimalStr


class ProfitAndLoss(Report):
    company_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    period: str | None
    group_by: str | None
    income: list[ProfitAndLossRow]
    expenses: list[ProfitAndLossRow]
    total_income: DecimalStr
    total_expenses: DecimalStr
    net_result: DecimalStr
    """Total income minus total expenses: positive is a profit."""
    results: list[ProfitAndLossResult]
    """The net result per value of the ``group_by`` dimension (one row when not grouped)."""

    def title(self) -> str:
        return f"Profit and loss {self.date_from} to {self.date_to}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["section", "account_code", "account_name"]
        header += [self.group_by] if self.group_by else []
        header.append("amount")
        rows = [
            [
                section,
                row.account_code,
                row.account_name,
                *([row.label] if self.group_by else []),
                row.amount,
            ]
            for section, section_rows in (("income", self.income), ("expense", self.expenses))
            for row in section_rows
        ]
        return header, rows

    def summary(self) -> list[tuple[str, Any]]:
        lines: list[tuple[str, Any]] = [
            ("total income", self.total_income),
            ("total expenses", self.total_expenses),
            ("net result", self.net_result),
        ]
        if self.group_by:
            lines += [(f"net result {r.label or '(none)'}", r.net_result) for r in self.results]
        return lines


def profit_and_loss(
    session: Session,
    company_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    *,
    period: str | None = None,
    group_by: str | None = None,
) -> ProfitAndLoss:
    """Income and expense accounts over the period, optionally split by one dimension."""
    span = resolve_range(session, company_id, date_from, date_to, period)
    dimensions = parse_group_by(group_by, single=True)
    columns = [DIMENSIONS[name] for name in dimensions]
    # Aggregate the lines first, then join the few resulting rows to the chart: joining first lets the
    # planner loop over accounts with one random-access heap scan each, several times slower on a
    # million lines than one sequential pass.
    cut = balances.split(span.date_from, span.date_to, balances.through_for(session, company_id, dimensions))
    parts = [
        select(
            L.account_id.label("account_id"),
            *(column.label(f"d{i}") for i, column in enumerate(columns)),
            _sum(L.debit).label("debit"),
            _sum(L.credit).label("credit"),
        )
        .where(
            *_posted(company_id),
            L.date >= span.date_from,
            L.date <= span.date_to,
            *balances.lines_outside(cut),
        )
        .group_by(L.account_id, *columns)
    ]
    if cut.closed is not None:  # whole closed months in the range: their kept sums
        kept = [balances.BALANCE_DIMENSIONS[name] for name in dimensions]
        parts.append(
            select(
                B.account_id.label("account_id"),
                *(column.label(f"d{i}") for i, column in enumerate(kept)),
                _sum(B.debit).label("debit"),
                _sum(B.credit).label("credit"),
            )
            .where(B.company_id == company_id, _closed_months(cut))
            .group_by(B.account_id, *kept)
        )
    aggregate = _combined(parts, len(columns), ("debit", "credit"))
    statement = (
        select(
            Account.id,
            Account.code,
            Account.name,
            Account.type,
            *(aggregate.c[f"d{i}"] for i in range(len(columns))),
            aggregate.c.debit,
            aggregate.c.credit,
        )
        .join(aggregate, aggregate.c.account_id == Account.id)
        .where(Account.type.in_(RESULT_TYPES))
    )
    rows = list(session.execute(statement))
    described = _dimension_values(session, company_id, dimensions, rows, offset=4)
    income: list[ProfitAndLossRow] = []
    expenses: list[ProfitAndLossRow] = []
    results: dict[str | None, list[Any]] = {}
    for row, (values, labels) in zip(rows, described, strict=True):
        is_income = row.type == "income"
        amount = row.credit - row.debit if is_income else row.debit - row.credit
        if not amount:
            continue  # moves that cancel out (an entry and its reversal) are noise in a P&L
        value = values[dimensions[0]] if dimensions else None
        label = labels[dimensions[0]] if dimensions else None
        (income if is_income else expenses).append(
            ProfitAndLossRow(
                account_id=row.id,
                account_code=row.code,
                account_name=row.name,
                account_type=row.type,
                dimension=value,
                label=label,
                amount=amount,
            )
        )
        result = results.setdefault(value, [label, ZERO, ZERO])
        result[1 if is_income else 2] += amount
    for section in (income, expenses):
        section.sort(key=lambda r: (r.account_code, r.label is not None, r.label or ""))
    total_income = sum((r.amount for r in income), ZERO)
    total_expenses = sum((r.amount for r in expenses), ZERO)
    if not dimensions:
        results = {None: [None, total_income, total_expenses]}
    return ProfitAndLoss(
        company_id=company_id,
        date_from=span.date_from,
        date_to=span.date_to,
        period=span.period,
        group_by=dimensions[0] if dimensions else None,
        income=income,
        expenses=expenses,
        total_income=total_income,
        total_expenses=total_expenses,
        net_result=total_income - total_expenses,
        results=sorted(
            (
                ProfitAndLossResult(
                    dimension=value, label=label, income=inc, expenses=exp, net_result=inc - exp
                )
                for value, (label, inc, exp) in results.items()
            ),
            key=lambda r: (r.label is not None, r.label or ""),
        ),
    )


# -- balance sheet ---------------------------------------------------------------------------------


class BalanceSheetRow(BaseModel):
    account_id: uuid.UUID | None
    """Null on the unclosed-result row, which no account carries yet."""
    account_code: str | None
    account_name: str
    balance: DecimalStr
    """Assets: debit minus credit. Liabilities and equity: credit minus debit."""


class BalanceSheet(Report):
    company_id: uuid.UUID
    as_of: dt.date
    assets: list[BalanceSheetRow]
    liabilities: list[BalanceSheetRow]
    equity: list[BalanceSheetRow]
    """Equity accounts, then the unclosed result as its own row."""
    unclosed_result: DecimalStr
    """Income minus expenses not yet closed into equity by closing entries (current-year earnings)."""
    total_assets: DecimalStr
    total_liabilities: DecimalStr
    total_equity: DecimalStr
    """Including the unclosed result."""
    total_liabilities_and_equity: DecimalStr
    balanced: bool
    """Assets equal liabilities plus equity."""

    def title(self) -> str:
        return f"Balance sheet as of {self.as_of}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["section", "account_code", "account_name", "balance"]
        rows = [
            [section, row.account_code, row.account_name, row.balance]
            for section, section_rows in (
                ("asset", self.assets),
                ("liability", self.liabilities),
                ("equity", self.equity),
            )
            for row in section_rows
        ]
        return header, rows

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("total assets", self.total_assets),
            ("total liabilities", self.total_liabilities),
            ("total equity", self.total_equity),
            ("liabilities and equity", self.total_liabilities_and_equity),
            ("balanced", "yes" if self.balanced else "NO"),
        ]


UNCLOSED_RESULT_NAME = "Current year earnings (unclosed result)"


def balance_sheet(session: Session, company_id: uuid.UUID, as_of: dt.date) -> BalanceSheet:
    """Balances of every account at ``as_of`` (inclusive), with income and expense accounts folded into
    one unclosed-result row of equity, so that assets equal liabilities plus equity."""
    # Aggregated before the join to the chart, as in profit_and_loss; whole closed months before the
    # date from their kept balances, the rest from the lines.
    cut = balances.split(as_of + dt.timedelta(days=1), as_of, balances.through_for(session, company_id, []))
    parts = [
        select(L.account_id.label("account_id"), _sum(L.debit - L.credit).label("net"))
        .where(*_posted(company_id), L.date <= as_of, *balances.lines_outside(cut))
        .group_by(L.account_id)
    ]
    if cut.lines_from is not None:
        parts.append(
            select(B.account_id.label("account_id"), _sum(B.debit - B.credit).label("net"))
            .where(B.company_id == company_id, B.month < cut.lines_from)
            .group_by(B.account_id)
        )
    aggregate = _combined(parts, 0, ("net",))
    statement = (
        select(Account.id, Account.code, Account.name, Account.type, aggregate.c.net)
        .join(aggregate, aggregate.c.account_id == Account.id)
        .order_by(Account.code)
    )
    sections: dict[str, list[BalanceSheetRow]] = {kind: [] for kind in BALANCE_SHEET_TYPES}
    unclosed = ZERO
    for row in session.execute(statement):
        if row.type in RESULT_TYPES:
            unclosed -= row.net  # income is a credit: credit minus debit
            continue
        if not row.net:
            continue
        balance = row.net if row.type == "asset" else -row.net
        sections[row.type].append(
            BalanceSheetRow(account_id=row.id, account_code=row.code, account_name=row.name, balance=balance)
        )
    if unclosed:
        sections["equity"].append(
            BalanceSheetRow(
                account_id=None, account_code=None, account_name=UNCLOSED_RESULT_NAME, balance=unclosed
            )
        )
    total_assets = sum((r.balance for r in sections["asset"]), ZERO)
    total_liabilities = sum((r.balance for r in sections["liability"]), ZERO)
    total_equity = sum((r.balance for r in sections["equity"]), ZERO)
    return BalanceSheet(
        company_id=company_id,
        as_of=as_of,
        assets=sections["asset"],
        liabilities=sections["liability"],
        equity=sections["equity"],
        unclosed_result=unclosed,
        total_assets=total_assets,
        total_liabilities=total_liabilities,
        total_equity=total_equity,
        total_liabilities_and_equity=total_liabilities + total_equity,
        balanced=total_assets == total_liabilities + total_equity,
    )


# -- tax report ------------------------------------------------------------------------------------


class TaxRow(BaseModel):
    tax_code: str | None
    """Null for lines on a tax account that carry no tax code (manual entries)."""
    period: str
    """Month code, ``2026-11``."""
    base_collected: DecimalStr
    tax_collected: DecimalStr
    base_deductible: DecimalStr
    tax_deductible: DecimalStr
    net_payable: DecimalStr
    """Tax collected minus tax deductible."""


class TaxPeriodTotal(BaseModel):
    period: str
    tax_collected: DecimalStr
    tax_deductible: DecimalStr
    net_payable: DecimalStr


class TaxReport(Report):
    company_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    period: str | None
    rows: list[TaxRow]
    periods: list[TaxPeriodTotal]
    total_collected: DecimalStr
    total_deductible: DecimalStr
    net_payable: DecimalStr

    def title(self) -> str:
        return f"Tax report {self.date_from} to {self.date_to}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = ["period", "tax_code", "base_collected", "tax_collected", "base_deductible"]
        header += ["tax_deductible", "net_payable"]
        rows = [
            [
                row.period,
                row.tax_code,
                row.base_collected,
                row.tax_collected,
                row.base_deductible,
                row.tax_deductible,
                row.net_payable,
            ]
            for row in self.rows
        ]
        return header, rows

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("tax collected", self.total_collected),
            ("tax deductible", self.total_deductible),
            ("net payable", self.net_payable),
        ]


def _month_code(session: Session, column: Any) -> Any:
    """``YYYY-MM`` of a date column. Periods are calendar months whose codes read exactly so."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def tax_report(
    session: Session,
    company_id: uuid.UUID,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    *,
    period: str | None = None,
) -> TaxReport:
    """Tax collected (``output_tax`` accounts) and deductible (``input_tax``) per tax code and month.

    The taxable base is the sum of ``tax_base`` on those tax lines, each taken with the sign of the tax
    the line carries: a line that reduces the tax (a return, a reversal) reduces the base too, whichever
    sign the posting stored the base with.
    """
    span = resolve_range(session, company_id, date_from, date_to, period)
    is_output = Account.role == "output_tax"
    tax = case((is_output, L.credit - L.debit), else_=L.debit - L.credit)
    # Compared with a literal: a bound 0 would go through ExactDecimal, which only takes Decimals.
    base = case((tax >= literal_column("0"), func.abs(L.tax_base)), else_=-func.abs(L.tax_base))
    month = _month_code(session, L.date)
    statement = (
        select(
            L.tax_code,
            month.label("month"),
            Account.role,
            _sum(tax).label("tax"),
            _sum(base).label("base"),
        )
        .join(Account, Account.id == L.account_id)
        .where(
            *_posted(company_id),
            L.date >= span.date_from,
            L.date <= span.date_to,
            Account.company_id == company_id,
            Account.role.in_(("output_tax", "input_tax")),
        )
        .group_by(L.tax_code, month, Account.role)
    )
    cells: dict[tuple[str | None, str], dict[str, Decimal]] = {}
    for row in session.execute(statement):
        cell = cells.setdefault((row.tax_code, row.month), {})
        side = "collected" if row.role == "output_tax" else "deductible"
        cell[f"tax_{side}"] = cell.get(f"tax_{side}", ZERO) + row.tax
        cell[f"base_{side}"] = cell.get(f"base_{side}", ZERO) + row.base
    rows: list[TaxRow] = []
    for (tax_code, month_code), cell in sorted(cells.items(), key=lambda i: (i[0][1], i[0][0] or "")):
        collected = cell.get("tax_collected", ZERO)
        deductible = cell.get("tax_deductible", ZERO)
        rows.append(
            TaxRow(
                tax_code=tax_code,
                period=month_code,
                base_collected=cell.get("base_collected", ZERO),
                tax_collected=collected,
                base_deductible=cell.get("base_deductible", ZERO),
                tax_deductible=deductible,
                net_payable=collected - deductible,
            )
        )
    by_period: dict[str, list[Decimal]] = {}
    for row in rows:
        total = by_period.setdefault(row.period, [ZERO, ZERO])
        total[0] += row.tax_collected
        total[1] += row.tax_deductible
    total_collected = sum((r.tax_collected for r in rows), ZERO)
    total_deductible = sum((r.tax_deductible for r in rows), ZERO)
    return TaxReport(
        company_id=company_id,
        date_from=span.date_from,
        date_to=span.date_to,
        period=span.period,
        rows=rows,
        periods=[
            TaxPeriodTotal(period=code, tax_collected=c, tax_deductible=d, net_payable=c - d)
            for code, (c, d) in by_period.items()
        ],
        total_collected=total_collected,
        total_deductible=total_deductible,
        net_payable=total_collected - total_deductible,
    )
