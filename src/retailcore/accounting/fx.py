"""Exchange rates and the period-end revaluation of foreign-currency balances.

Rates
-----
A rate is *company currency per one unit* of a foreign currency, valid from its date until the next
rate of that currency (:func:`retailcore.accounting.services.rate_on`). Setting a rate for a
company, currency and date that already has one is refused unless the caller says ``replace``: a rate
silently overwritten by a second feed would change the value of every entry posted afterwards without
anyone noticing. Entries already posted keep the rate written on their lines, so replacing a rate never
changes the books retroactively. Every change records an ``ExchangeRateSet`` event.

Revaluation
-----------
At a period end, open foreign-currency balances of *monetary* accounts are restated at the closing
rate. Monetary means: the account is reconcilable (receivables, payables, bank, clearing: items that
will be settled in the foreign currency) or it is kept in a foreign currency (``Account.currency`` is
set). Income, expense and inventory accounts carry historical values at the rate of the transaction
date and are deliberately left alone, as accounting standards (IAS 21) ask.

For each such account and foreign currency with a non-zero balance in that currency, the difference
between the balance at the ``as_of`` rate and the booked company-currency balance is posted in one
``FX`` entry dated ``as_of``: a value-only line on the account (amount 0 in the foreign currency, the
difference as company-currency value) against the ``fx_unrealized_gain`` or ``fx_unrealized_loss``
account, in the same currency so every currency still balances. The entry is reversed the next day, so
the following period starts again from historical values and the next revaluation restates it afresh.
On reconcilable accounts, each revaluation line is matched with its reversal so the pair does not show
up as open items once both dates have passed.

A balance whose foreign amount is zero but whose company value is not is a *realized* difference (an
item settled at another rate than it was booked at), not something to revalue, and is skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from typing import Literal

from sqlalchemy import Select, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from retailcore.accounting import reconciliation, services
from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount
from retailcore.adapters.paging import keyset_page_in_order
from retailcore.core.currencies import is_currency, round_to_currency
from retailcore.core.decimals import canonical
from retailcore.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company

RATE_PLACES = 8
"""Decimals an exchange rate may have (the ``Rate()`` column's scale)."""
RATE_INTEGER_DIGITS = 11
"""Digits before the point: the column holds 19 significant digits, 8 of them decimals."""

REVALUATION_JOURNAL = "FX"

# Names a revaluation run of one company and date: the LedgerRevalued event's aggregate id, so that
# "was this date already revalued?" is one indexed lookup rather than a search through payloads.
_REVALUATION_NAMESPACE = uuid.UUID("0b6f3f0e-6a0c-4f55-9a57-5d1c1e2f7a11")


# -- checks ----------------------------------------------------------------------------------------


def check_currency(company: Company, currency: object, field_name: str = "currency") -> str:
    """``currency`` if it is an ISO 4217 code other than the company's; ValidationFailed otherwise."""
    if not is_currency(currency):
        raise ValidationFailed(
            f"{currency!r} is not an ISO 4217 currency code (three upper-case letters)",
            code="unknown-currency",
            problems=[FieldProblem(field_name, "not an ISO 4217 currency code")],
        )
    assert isinstance(currency, str)
    if currency == company.currency:
        raise ValidationFailed(
            f"{currency} is the company currency: its rate is always 1",
            code="company-currency",
            problems=[FieldProblem(field_name, "the company currency has no exchange rate")],
        )
    return currency


def check_rate(value: object, field_name: str = "rate") -> Decimal:
    """A positive Decimal with at most 8 decimals that fits the rate column; never a float."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(
            f"{field_name}: {message}", code="invalid-rate", problems=[FieldProblem(field_name, message)]
        )

    if isinstance(value, bool) or not isinstance(value, Decimal):
        # A float would already have lost the rate's exact value; refuse it rather than guess.
        raise refuse(f"must be a decimal number, not {type(value).__name__}")
    if not value.is_finite():
        raise refuse("must be a finite number")
    if value <= 0:
        raise refuse("must be greater than 0")
    if _decimal_places(value) > RATE_PLACES:
        raise refuse(f"has more than {RATE_PLACES} decimal places")
    if value.adjusted() + 1 > RATE_INTEGER_DIGITS:
        raise refuse(f"has more than {RATE_INTEGER_DIGITS} digits before the decimal point")
    return value


def _decimal_places(value: Decimal) -> int:
    """Decimals that carry a non-zero digit, read off the digit tuple: ``normalize()`` would round a
    long value to the context's precision first and could hide a ninth decimal."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0")
    if not text:
        return 0
    return max(0, -(exponent + len(digits) - len(text)))


def _to_minor_unit(value: Decimal, currency: str) -> Decimal:
    # Half-up to the minor unit, as services.post_entry rounds conversions; a wide local context keeps
    # the product of a 19-digit amount and a 19-digit rate exact before that one rounding.
    with localcontext() as context:
        context.prec = 60
        return round_to_currency(value, currency)


# -- rates -----------------------------------------------------------------------------------------


def _record_rate_set(
    session: Session, ctx: CommandContext, row: a.ExchangeRate, previous: Decimal | None
) -> None:
    record(
        session,
        ctx,
        type="ExchangeRateSet",
        company_id=row.company_id,
        aggregate_type="ExchangeRate",
        aggregate_id=row.id,
        payload={
            "currency": row.currency,
            "date": row.rate_date,
            "rate": canonical(row.rate),
            "previous_rate": canonical(previous) if previous is not None else None,
            "source": row.source,
        },
    )


def _exists_conflict(currency: str, rate_date: dt.date, existing: Decimal) -> Conflict:
    return Conflict(
        f"a {currency} rate for {rate_date.isoformat()} already exists ({canonical(existing)});"
        " send replace=true to change it",
        code="exchange-rate-exists",
        problems=[FieldProblem("date", f"{currency} already has a rate on this date")],
    )


def set_rate(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    currency: str,
    rate_date: dt.date,
    rate: Decimal,
    replace: bool = False,
    source: str = "manual",
) -> a.ExchangeRate:
    """Store the rate of ``currency`` on ``rate_date``; an existing one only changes with ``replace``."""
    currency = check_currency(company, currency)
    rate = check_rate(rate)
    existing = session.scalar(
        select(a.ExchangeRate)
        .where(
            a.ExchangeRate.company_id == company.id,
            a.ExchangeRate.currency == currency,
            a.ExchangeRate.rate_date == rate_date,
        )
        .with_for_update()
    )
    if existing is not None:
        if not replace:
            raise _exists_conflict(currency, rate_date, existing.rate)
        previous = existing.rate
        existing.rate = rate
        existing.source = source[:64]
        session.flush()
        _record_rate_set(session, ctx, existing, previous)
        return existing
    row = a.ExchangeRate(
        company_id=company.id, currency=currency, rate_date=rate_date, rate=rate, source=source[:64]
    )
    session.add(row)
    session.flush()
    _record_rate_set(session, ctx, row, None)
    return row


def _rates(
    company_id: uuid.UUID, currency: str | None, date_from: dt.date | None, date_to: dt.date | None
) -> Select[tuple[a.ExchangeRate]]:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationFailed(
            "date_from is after date_to", problems=[FieldProblem("date_to", "before date_from")]
        )
    query = select(a.ExchangeRate).where(a.ExchangeRate.company_id == company_id)
    if currency is not None:
        query = query.where(a.ExchangeRate.currency == currency)
    if date_from is not None:
        query = query.where(a.ExchangeRate.rate_date >= date_from)
    if date_to is not None:
        query = query.where(a.ExchangeRate.rate_date <= date_to)
    return query


RATE_ORDER = (a.ExchangeRate.currency, a.ExchangeRate.rate_date)


def list_rates(
    session: Session,
    company_id: uuid.UUID,
    *,
    currency: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> list[a.ExchangeRate]:
    """The company's rates by currency then date, optionally one currency and a date range."""
    query = _rates(company_id, currency, date_from, date_to)
    return list(session.scalars(query.order_by(*RATE_ORDER)))


def rates_page(
    session: Session,
    company_id: uuid.UUID,
    *,
    currency: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[a.ExchangeRate], uuid.UUID | None]:
    """A page of :func:`list_rates` after the rate ``cursor``, and the cursor of the next page."""
    query = _rates(company_id, currency, date_from, date_to)
    return keyset_page_in_order(session, query, RATE_ORDER, limit, cursor)


def get_rate(session: Session, company_ids: Sequence[uuid.UUID] | None, rate_id: uuid.UUID) -> a.ExchangeRate:
    """One rate by id; rates of companies outside ``company_ids`` (None: all) are not found."""
    row = session.get(a.ExchangeRate, rate_id)
    if row is None or (company_ids is not None and row.company_id not in company_ids):
        raise NotFound(f"no exchange rate {rate_id}")
    return row


def rate_lookup(session: Session, company: Company, currency: str, on: dt.date) -> Decimal:
    """The rate a transaction in ``currency`` dated ``on`` is booked at (the latest on or before it)."""
    if currency != company.currency:
        check_currency(company, currency)
    return services.rate_on(session, company, currency, on)


# -- CSV import ------------------------------------------------------------------------------------

CSV_COLUMNS = ("date", "currency", "rate")
IMPORT_CHUNK = 500
"""Rows written per flush during an import."""
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RowError:
    """Why one line of a rates file is refused. ``line`` counts from 1, the header's line."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class RatesImportRejected(ValidationFailed):
    """The file is not acceptable as a whole; nothing was written. ``rows`` lists every problem."""

    code: str = "rates-import-rejected"
    rows: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedRate:
    line: int
    rate_date: dt.date
    currency: str
    rate: Decimal


@dataclass(frozen=True)
class RatesImportReport:
    created: int
    replaced: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.replaced + self.unchanged


def _rejected(errors: list[RowError]) -> RatesImportRejected:
    errors = sorted(errors, key=lambda error: error.line)
    return RatesImportRejected(
        f"the rates file has {len(errors)} problem(s)",
        problems=[
            FieldProblem(f"line.{e.line}" + (f".{e.column}" if e.column else ""), e.message) for e in errors
        ],
        rows=errors,
    )


def parse_rates_csv(company: Company, text: str) -> list[ParsedRate]:
    """Read ``date,currency,rate`` rows (header required, any column order) or raise with every problem."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _rejected([RowError(1, None, f"not a CSV file: {exc}")]) from None
    if header is None or not any(cell.strip() for cell in header):
        raise _rejected([RowError(1, None, "the file is empty: expected the header date,currency,rate")])
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in CSV_COLUMNS if name not in names]
    unknown = [name for name in names if name not in CSV_COLUMNS]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if repeated:
            parts.append(f"repeated column(s) {', '.join(repeated)}")
        raise _rejected(
            [RowError(1, None, "the header must name date, currency and rate: " + "; ".join(parts))]
        )
    position = {name: names.index(name) for name in CSV_COLUMNS}

    errors: list[RowError] = []
    parsed: list[ParsedRate] = []
    seen: dict[tuple[str, dt.date], int] = {}
    end_of_previous = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(end_of_previous + 1, None, f"unreadable CSV: {exc}"))
            break
        line, end_of_previous = end_of_previous + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (a trailing newline, a spreadsheet's empty rows) carry nothing
        if len(cells) != len(names):
            errors.append(RowError(line, None, f"expected {len(names)} cells, found {len(cells)}"))
            continue
        row_errors: list[RowError] = []
        date_text = cells[position["date"]].strip()
        rate_date: dt.date | None = None
        try:
            if not _ISO_DATE.match(date_text):
                raise ValueError
            rate_date = dt.date.fromisoformat(date_text)
        except ValueError:
            row_errors.append(RowError(line, "date", f"{date_text!r} is not a date (YYYY-MM-DD)"))
        currency = cells[position["currency"]].strip().upper()
        try:
            check_currency(company, currency)
        except ValidationFailed as exc:
            row_errors.append(RowError(line, "currency", exc.detail))
        rate_text = cells[position["rate"]].strip()
        rate: Decimal | None = None
        try:
            rate = check_rate(Decimal(rate_text))
        except InvalidOperation:
            row_errors.append(
                RowError(line, "rate", f"{rate_text!r} is not a decimal number (use a dot: 1.0845)")
            )
        except ValidationFailed as exc:
            row_errors.append(RowError(line, "rate", exc.detail.removeprefix("rate: ")))
        if row_errors:
            errors.extend(row_errors)
            continue
        assert rate_date is not None and rate is not None
        first = seen.setdefault((currency, rate_date), line)
        if first != line:
            errors.append(
                RowError(line, None, f"{currency} on {rate_date.isoformat()} is already on line {first}")
            )
            continue
        parsed.append(ParsedRate(line, rate_date, currency, rate))
    if errors:
        raise _rejected(errors)
    if not parsed:
        raise _rejected([RowError(1, None, "the file has a header but no rates")])
    return parsed


def import_rates(
    session: Session,
    ctx: CommandContext,
    company: Company,
    text: str,
    *,
    replace: bool = False,
    source: str = "import",
    progress: Callable[[int, int], object] | None = None,
) -> RatesImportReport:
    """Import a rates CSV all or nothing.

    A row equal to a stored rate is left as it is (re-running a file is harmless); a row that differs
    from a stored rate is refused unless ``replace``. Every problem of the file is reported at once, with
    its line, before anything is written.
    """
    rows = parse_rates_csv(company, text)
    # One query for every stored rate the file could collide with, not one per row.
    currencies = sorted({row.currency for row in rows})
    first, last = min(row.rate_date for row in rows), max(row.rate_date for row in rows)
    stored = {
        (row.currency, row.rate_date): row
        for row in session.scalars(
            select(a.ExchangeRate).where(
                a.ExchangeRate.company_id == company.id,
                a.ExchangeRate.currency.in_(currencies),
                a.ExchangeRate.rate_date.between(first, last),
            )
        )
    }
    conflicts = [
        RowError(
            row.line,
            "rate",
            f"{row.currency} already has the rate {canonical(existing.rate)} on"
            f" {row.rate_date.isoformat()}; import with replace to change it",
        )
        for row in rows
        if (existing := stored.get((row.currency, row.rate_date))) is not None
        and existing.rate != row.rate
        and not replace
    ]
    if conflicts:
        raise _rejected(conflicts)

    created = replaced = unchanged = 0
    for done, row in enumerate(rows, start=1):
        existing = stored.get((row.currency, row.rate_date))
        if existing is None:
            # The id is minted here rather than at flush so the event can name the row without a
            # flush per row; rows and events go to the database a chunk at a time.
            new = a.ExchangeRate(
                id=new_id(),
                company_id=company.id,
                currency=row.currency,
                rate_date=row.rate_date,
                rate=row.rate,
                source=source[:64],
            )
            session.add(new)
            _record_rate_set(session, ctx, new, None)
            created += 1
        elif existing.rate != row.rate:
            previous, existing.rate, existing.source = existing.rate, row.rate, source[:64]
            _record_rate_set(session, ctx, existing, previous)
            replaced += 1
        else:
            unchanged += 1
        if done % IMPORT_CHUNK == 0:
            session.flush()
        if progress is not None:
            progress(done, len(rows))
    session.flush()
    return RatesImportReport(created=created, replaced=replaced, unchanged=unchanged)


# -- revaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevaluedBalance:
    """One account's open balance in one foreign currency, restated at the ``as_of`` rate."""

    account_id: uuid.UUID
    account_code: str
    account_name: str
    currency: str
    amount_currency: Decimal
    """The open balance in the foreign currency (debit positive)."""
    rate: Decimal
    booked: Decimal
    """Company-currency balance as booked (debit positive)."""
    revalued: Decimal
    """``amount_currency`` at ``rate``, rounded half-up to the company currency's minor unit."""
    difference: Decimal
    """``revalued - booked``: positive is a gain, negative a loss."""

    @property
    def kind(self) -> Literal["gain", "loss", "none"]:
        return "gain" if self.difference > 0 else "loss" if self.difference < 0 else "none"


@dataclass(frozen=True)
class RevaluationResult:
    """What :func:`revalue` did; ``entry`` and ``reversal`` are None when nothing needed revaluing."""

    company_id: uuid.UUID
    as_of: dt.date
    balances: list[RevaluedBalance]
    entry: a.JournalEntry | None = None
    reversal: a.JournalEntry | None = None

    @property
    def total_gain(self) -> Decimal:
        return sum((b.difference for b in self.balances if b.difference > 0), Decimal(0))

    @property
    def total_loss(self) -> Decimal:
        return sum((-b.difference for b in self.balances if b.difference < 0), Decimal(0))


def revaluation_key(company_id: uuid.UUID, as_of: dt.date) -> uuid.UUID:
    """Stable id of the revaluation of one company at one date (the ``LedgerRevalued`` aggregate)."""
    return uuid.uuid5(_REVALUATION_NAMESPACE, f"{company_id}:{as_of.isoformat()}")


def revaluation_done(session: Session, company_id: uuid.UUID, as_of: dt.date) -> bool:
    return (
        session.scalar(
            select(Event.position).where(
                Event.aggregate_id == revaluation_key(company_id, as_of),
                Event.company_id == company_id,
                Event.type == "LedgerRevalued",
            )
        )
        is not None
    )


def open_foreign_balances(session: Session, company: Company, as_of: dt.date) -> list[RevaluedBalance]:
    """Foreign balances of monetary accounts on ``as_of`` with their restated value (one query)."""
    amount = type_coerce(func.sum(a.JournalLine.amount_currency), Amount())
    booked = type_coerce(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit), Amount())
    rows = session.execute(
        select(Account.id, Account.code, Account.name, a.JournalLine.currency, amount, booked)
        .join(Account, Account.id == a.JournalLine.account_id)
        .where(
            a.JournalLine.company_id == company.id,
            a.JournalLine.state == "posted",
            a.JournalLine.date <= as_of,
            a.JournalLine.currency != company.currency,
            or_(Account.reconcilable.is_(True), Account.currency.is_not(None)),
        )
        .group_by(Account.id, Account.code, Account.name, a.JournalLine.currency)
        .having(amount != Decimal(0))
        .order_by(Account.code, a.JournalLine.currency)
    ).all()
    rates: dict[str, Decimal] = {}
    balances = []
    for account_id, code, name, currency, balance, booked_value in rows:
        if currency not in rates:
            rates[currency] = services.rate_on(session, company, currency, as_of)
        revalued = _to_minor_unit(balance * rates[currency], company.currency)
        balances.append(
            RevaluedBalance(
                account_id=account_id,
                account_code=code,
                account_name=name,
                currency=currency,
                amount_currency=balance,
                rate=rates[currency],
                booked=booked_value,
                revalued=revalued,
                difference=revalued - booked_value,
            )
        )
    return balances


def revalue(session: Session, ctx: CommandContext, company: Company, as_of: dt.date) -> RevaluationResult:
    """Post the revaluation of ``company``'s open foreign balances at ``as_of`` and its reversal.

    Refused (409 ``already-revalued``) if this date was revalued before. Nothing to revalue posts
    nothing and records nothing.
    """
    # Lock the FX journal first: two revaluations of one date then run one after the other, and the
    # second sees the first's event and stops (PostgreSQL; SQLite has a single writer anyway).
    fx_journal = services.journal(session, company.id, REVALUATION_JOURNAL)
    session.scalar(select(a.Journal.id).where(a.Journal.id == fx_journal.id).with_for_update())
    if revaluation_done(session, company.id, as_of):
        raise Conflict(
            f"the ledger was already revalued on {as_of.isoformat()}",
            code="already-revalued",
            problems=[FieldProblem("as_of", "already revalued on this date")],
        )
    balances = open_foreign_balances(session, company, as_of)
    to_post = [b for b in balances if b.difference != 0]
    if not to_post:
        return RevaluationResult(company.id, as_of, balances)

    gain = (
        services.account_for_role(session, company.id, "fx_unrealized_gain")
        if any(b.difference > 0 for b in to_post)
        else None
    )
    loss = (
        services.account_for_role(session, company.id, "fx_unrealized_loss")
        if any(b.difference < 0 for b in to_post)
        else None
    )
    lines: list[services.LineInput] = []
    for balance in to_post:
        up = balance.difference > 0
        counter = gain if up else loss
        assert counter is not None
        value = abs(balance.difference)
        label = f"FX revaluation {balance.account_code} {balance.currency} at {canonical(balance.rate)}"
        # Amount 0 in the foreign currency on both lines: the foreign balance is unchanged and the
        # currency still balances; only the company-currency value moves.
        lines.append(
            services.LineInput(
                balance.account_id,
                "debit" if up else "credit",
                Decimal(0),
                balance.currency,
                rate=balance.rate,
                company_amount=value,
                label=label,
            )
        )
        lines.append(
            services.LineInput(
                counter.id,
                "credit" if up else "debit",
                Decimal(0),
                balance.currency,
                rate=balance.rate,
                company_amount=value,
                label=label,
            )
        )
    entry = services.post_entry(
        session,
        ctx,
        company=company,
        journal_code=REVALUATION_JOURNAL,
        date=as_of,
        reference=f"FX revaluation {as_of.isoformat()}",
        lines=lines,
    )
    reversal = services.reverse_entry(
        session,
        ctx,
        entry,
        date=as_of + dt.timedelta(days=1),
        reference=f"Reversal of FX revaluation {as_of.isoformat()}",
    )
    _match_with_reversal(session, ctx, company, entry, reversal)
    record(
        session,
        ctx,
        type="LedgerRevalued",
        company_id=company.id,
        aggregate_type="Revaluation",
        aggregate_id=revaluation_key(company.id, as_of),
        payload={
            "as_of": as_of,
            "entry_id": entry.id,
            "entry_number": entry.number,
            "reversal_id": reversal.id,
            "reversal_number": reversal.number,
            "balances": [
                {
                    "account_id": b.account_id,
                    "account_code": b.account_code,
                    "currency": b.currency,
                    "amount_currency": canonical(b.amount_currency),
                    "rate": canonical(b.rate),
                    "booked": canonical(b.booked),
                    "revalued": canonical(b.revalued),
                    "difference": canonical(b.difference),
                }
                for b in balances
            ],
        },
    )
    return RevaluationResult(company.id, as_of, balances, entry, reversal)


def _match_with_reversal(
    session: Session, ctx: CommandContext, company: Company, entry: a.JournalEntry, reversal: a.JournalEntry
) -> None:
    """Match each revaluation line on a reconcilable account with its reversal line.

    The two cancel out; matched, they leave open-item reports once the reversal date has passed. A
    reversal line is the original's account and currency with debit and credit swapped.
    """
    reconcilable = set(
        session.scalars(
            select(Account.id).where(
                Account.id.in_({line.account_id for line in entry.lines}), Account.reconcilable.is_(True)
            )
        )
    )
    unpaired = sorted(reversal.lines, key=lambda line: line.sequence)
    for original in sorted(entry.lines, key=lambda line: line.sequence):
        if original.account_id not in reconcilable or not (original.debit or original.credit):
            continue
        opposite = next(
            line
            for line in unpaired
            if (line.account_id, line.currency, line.debit, line.credit)
            == (original.account_id, original.currency, original.credit, original.debit)
        )
        unpaired.remove(opposite)
        reconciliation.reconcile(session, ctx, company.id, [original.id, opposite.id])


def revaluation_entries(session: Session, company_id: uuid.UUID, as_of: dt.date) -> list[a.JournalEntry]:
    """The revaluation entry of ``as_of`` and its reversal, if that date was revalued."""
    event = session.scalar(
        select(Event).where(
            Event.aggregate_id == revaluation_key(company_id, as_of),
            Event.company_id == company_id,
            Event.type == "LedgerRevalued",
        )
    )
    if event is None:
        return []
    ids = [uuid.UUID(event.payload["entry_id"]), uuid.UUID(event.payload["reversal_id"])]
    return sorted(services.entries(session, ids), key=lambda entry: entry.date)


# -- realized differences -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Realized:
    """Foreign money turned into the company's (decision 0062): ``foreign`` in ``currency``, booked at
    ``rate`` (``booked`` in the company's currency), ``settled`` what arrived; ``difference`` is
    ``settled - booked``: a gain when positive, a loss when negative."""

    currency: str
    foreign: Decimal
    rate: Decimal
    booked: Decimal
    settled: Decimal
    difference: Decimal
    entries: list[uuid.UUID] = field(default_factory=list)


def realized_difference(
    company: Company, currency: str, foreign: Decimal, rate: Decimal, settled: Decimal
) -> Realized:
    """What ``foreign`` was booked at (rounded once, as the close booked it) and the difference (pure)."""
    booked = round_to_currency(foreign * rate, company.currency)
    settled = round_to_currency(settled, company.currency)
    return Realized(currency, foreign, rate, booked, settled, settled - booked)


def realize(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    aggregate_type: str,
    aggregate_id: uuid.UUID,
    account_code: str,
    currency: str,
    rate: Decimal,
    foreign: Decimal,
    settled: Decimal,
    date: dt.date,
    what: str,
) -> Realized:
    """Post the realized exchange difference of ``foreign`` (``currency``, booked at ``rate`` on the
    account ``account_code``) that arrived as ``settled`` in the company's currency: two events through
    the rules ``fx-settled-foreign`` and ``fx-settled-received`` (the rulebook's ``FX_SETTLEMENT_RULES``
    says why two). Idempotent through its callers: each calls it once per settled item (a settlement
    file's new lines, a deposit banked once)."""
    result = realized_difference(company, currency, foreign, rate, settled)
    role = "fx_realized_gain" if result.difference >= 0 else "fx_realized_loss"
    common = {
        "account": account_code,
        "difference_role": role,
        "what": what,
        "date": date.isoformat(),
        "reference": f"FX {what}"[:200],
        "settled_currency": company.currency,
        "booked": canonical(result.booked),
        "difference": canonical(result.difference),
    }
    entries = []
    for event_type, payload in (
        (
            "ForeignMoneySettled",
            {**common, "currency": currency, "rate": canonical(rate), "amount": canonical(foreign)},
        ),
        (
            "ForeignMoneyReceived",
            {**common, "currency": company.currency, "amount": canonical(result.settled)},
        ),
    ):
        event = record(
            session,
            ctx,
            type=event_type,
            company_id=company.id,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload=payload,
        )
        session.flush()
        entry = session.scalar(select(a.JournalEntry.id).where(a.JournalEntry.event_id == event.id))
        if entry is not None:
            entries.append(entry)
    return Realized(**{**result.__dict__, "entries": entries})
