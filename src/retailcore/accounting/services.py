"""The ledger's services: set up a company's books, post entries (from events or by hand), reverse them,
keep periods and the lock date.

Every entry passes through :func:`post_entry`, which enforces the ledger's invariants in one place:
accounts exist and are active, nothing lands on or before the lock date, each currency balances (a
difference below one minor unit per line goes to the ``rounding`` account, anything larger is refused),
amounts are converted to the company currency at the rate of the entry's date, and posted entries get
a gap-free number per journal. Posted rows are immutable (database triggers refuse changes); a
correction is a reversal: a new entry with every side swapped, linked to the original.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Uuid, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from retailcore.accounting import balances, cache
from retailcore.accounting import tables as a
from retailcore.accounting.cache import AccountRef, JournalRef, LedgerData
from retailcore.accounting.posting.engine import (
    DraftLine,
    PostingError,
    Rule,
    RuleLine,
    draft_lines,
    select_rule,
    to_decimal,
)
from retailcore.accounting.posting.rulebook import DEFAULT_RULES, JOURNALS
from retailcore.adapters.orm import utcnow
from retailcore.adapters.sequences import UNREAD, give_back, take_next, take_next_reading
from retailcore.core.currencies import minor_unit, round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id, new_ids
from retailcore.core.inputs import FIRST_DAY
from retailcore.eventlog.services import CommandContext, claim_new, record
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company, Customer

Side = Literal["debit", "credit"]


# -- errors with stable codes ----------------------------------------------------------------------


def period_locked(date: dt.date, lock_date: dt.date) -> Conflict:
    return Conflict(
        f"the books are locked up to {lock_date.isoformat()}: nothing can be posted on {date.isoformat()}",
        code="period-locked",
        problems=[FieldProblem("date", f"on or before the lock date {lock_date.isoformat()}")],
    )


# -- set-up ----------------------------------------------------------------------------------------


def settings_for(session: Session, company_id: uuid.UUID) -> a.LedgerSettings:
    settings = session.get(a.LedgerSettings, company_id)
    if settings is None:
        settings = a.LedgerSettings(company_id=company_id)
        session.add(settings)
        session.flush()
    return settings


def set_up_ledger(session: Session, company_id: uuid.UUID) -> None:
    """Settings, journals and the default posting rules of a new company (idempotent)."""
    settings_for(session, company_id)
    refresh_default_rules(session, company_id)


def refresh_default_rules(session: Session, company_id: uuid.UUID) -> list[str]:
    """Bring a company's posting rules up to this release's defaults, for databases set up before.

    A missing default rule (or journal) is added. A default rule finance never changed (one version,
    in force since the ledger was set up) takes the new definition; one finance did change is left as
    it is, and its code is returned so an upgrade can say which rules need a look.
    """
    existing = set(session.scalars(select(a.Journal.code).where(a.Journal.company_id == company_id)))
    for code, name in JOURNALS.items():
        if code not in existing:
            session.add(a.Journal(company_id=company_id, code=code, name=name))
    kept_as_edited: list[str] = []
    # Every version of every rule in one read: a read per rule would flush the rules added before it
    # one at a time.
    versions_by_code: dict[str, list[a.PostingRule]] = {}
    for version in session.scalars(select(a.PostingRule).where(a.PostingRule.company_id == company_id)):
        versions_by_code.setdefault(version.code, []).append(version)
    for rule in DEFAULT_RULES:
        versions = versions_by_code.get(rule["code"], [])
        if not versions:
            session.add(
                a.PostingRule(
                    company_id=company_id,
                    code=rule["code"],
                    name=rule["name"],
                    event_type=rule["event_type"],
                    journal_code=rule["journal_code"],
                    priority=rule.get("priority", 100),
                    conditions=rule.get("conditions", {}),
                    lines=rule["lines"],
                    valid_from=dt.date(1900, 1, 1),
                )
            )
            continue
        current = versions[0]
        untouched = len(versions) == 1 and current.valid_from == dt.date(1900, 1, 1) and current.active
        wanted = (rule["name"], rule.get("conditions", {}), rule["lines"])
        if (current.name, current.conditions, current.lines) == wanted:
            continue
        if untouched:
            current.name, current.conditions, current.lines = wanted
        else:
            kept_as_edited.append(rule["code"])
    session.flush()
    return kept_as_edited


def journal(session: Session, company_id: uuid.UUID, code: str) -> a.Journal:
    found = session.scalar(
        select(a.Journal).where(a.Journal.company_id == company_id, a.Journal.code == code)
    )
    if (
        found is None
        and session.scalar(select(a.Journal.id).where(a.Journal.company_id == company_id)) is None
    ):
        set_up_ledger(session, company_id)  # a company made before its ledger was installed
        return journal(session, company_id, code)
    if found is None:
        raise InvalidReference(
            f"no journal '{code}'", problems=[FieldProblem("journal_code", "no such journal")]
        )
    return found


def fiscal_year_for(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, date: dt.date
) -> a.FiscalYear:
    """The fiscal year holding ``date``, created with its twelve monthly periods when missing.

    Created on demand only from :data:`FIRST_DAY` to the end of the fiscal year after the current
    one (the command's ``occurred_at``, when a simulation replays another time, else the server's
    date): an entry dated further ahead is far more likely a typo than a plan, and a year made for it
    would sit in the books. A later year is created on purpose with ``POST /fiscal-years``.
    """
    found = session.scalar(
        select(a.FiscalYear).where(
            a.FiscalYear.company_id == company_id,
            a.FiscalYear.start_date <= date,
            a.FiscalYear.end_date >= date,
        )
    )
    if found is not None:
        return found
    start_month = settings_for(session, company_id).fiscal_year_start_month
    today = (ctx.occurred_at or utcnow()).date()
    last_on_demand = _add_months(_fiscal_year_start(today, start_month), 24) - dt.timedelta(days=1)
    if not FIRST_DAY <= date <= last_on_demand:
        raise ValidationFailed(
            f"there is no fiscal year holding {date.isoformat()}: one is created on the first posting only "
            f"from {FIRST_DAY.isoformat()} to {last_on_demand.isoformat()} (the end of next fiscal year); "
            "create it first with POST /fiscal-years",
            code="no-fiscal-year",
            problems=[FieldProblem("date", "in no fiscal year; create the fiscal year first")],
        )
    return create_fiscal_year(session, company_id, _fiscal_year_start(date, start_month))


def _fiscal_year_start(day: dt.date, start_month: int) -> dt.date:
    """The first day of the fiscal year holding ``day``, for years starting in ``start_month``."""
    return dt.date(day.year if day.month >= start_month else day.year - 1, start_month, 1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def create_fiscal_year(session: Session, company_id: uuid.UUID, start: dt.date) -> a.FiscalYear:
    if start.day != 1:
        raise ValidationFailed(
            "a fiscal year starts on the first of a month",
            problems=[FieldProblem("start_date", "not the 1st")],
        )
    end = _add_months(start, 12) - dt.timedelta(days=1)
    overlap = session.scalar(
        select(a.FiscalYear.id).where(
            a.FiscalYear.company_id == company_id,
            a.FiscalYear.start_date <= end,
            a.FiscalYear.end_date >= start,
        )
    )
    if overlap is not None:
        raise Conflict(
            "the fiscal year overlaps an existing one",
            code="fiscal-year-overlap",
            problems=[FieldProblem("start_date", "overlaps an existing fiscal year")],
        )
    code = str(start.year) if start.month == 1 else f"{start.year}-{end.year % 100:02d}"
    fiscal_year = a.FiscalYear(company_id=company_id, code=code, start_date=start, end_date=end)
    session.add(fiscal_year)
    session.flush()
    for month in range(12):
        first = _add_months(start, month)
        session.add(
            a.Period(
                company_id=company_id,
                fiscal_year_id=fiscal_year.id,
                code=f"{first.year}-{first.month:02d}",
                start_date=first,
                end_date=_add_months(first, 1) - dt.timedelta(days=1),
            )
        )
    session.flush()
    return fiscal_year


def move_lock_date(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, lock_date: dt.date | None
) -> a.LedgerSettings:
    settings = settings_for(session, company_id)
    previous = settings.lock_date
    if previous == lock_date:
        return settings
    settings.lock_date = lock_date
    settings.version += 1
    balances.follow_lock(session, company_id, lock_date)
    record(
        session,
        ctx,
        type="LockDateMoved",
        company_id=company_id,
        aggregate_type="Ledger",
        aggregate_id=company_id,
        payload={"from": previous, "to": lock_date},
    )
    return settings


# -- exchange rates --------------------------------------------------------------------------------


def rate_on(session: Session, company: Company, currency: str, date: dt.date) -> Decimal:
    """Company currency per unit of ``currency``: the latest rate on or before ``date``."""
    if currency == company.currency:
        return Decimal(1)
    rate = session.scalar(
        select(a.ExchangeRate.rate)
        .where(
            a.ExchangeRate.company_id == company.id,
            a.ExchangeRate.currency == currency,
            a.ExchangeRate.rate_date <= date,
        )
        .order_by(a.ExchangeRate.rate_date.desc())
        .limit(1)
    )
    if rate is None:
        raise ValidationFailed(
            f"no {currency} exchange rate on or before {date.isoformat()}",
            code="no-exchange-rate",
            problems=[FieldProblem("currency", f"no rate for {currency}")],
        )
    return rate


# -- entries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """A line to post. ``amount`` is positive, in ``currency``; ``rate`` defaults to the date's rate.

    ``company_amount`` fixes the company-currency value instead of converting ``amount`` (revaluation,
    rounding and reversal lines); such a line's ``tax_base`` is in company currency too. Otherwise
    ``tax_base`` is in ``currency`` and converted like the amount.
    """

    account_id: uuid.UUID
    side: Side
    amount: Decimal
    currency: str
    rate: Decimal | None = None
    company_amount: Decimal | None = None
    label: str = ""
    store_id: uuid.UUID | None = None
    channel: str | None = None
    product_category: str | None = None
    location_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    tax_code: str | None = None
    tax_base: Decimal | None = None
    event_id: uuid.UUID | None = None


def _signed(line: LineInput, value: Decimal) -> Decimal:
    return value if line.side == "debit" else -value


def rounding_account(session: Session, company_id: uuid.UUID) -> Account:
    return account_for_role(session, company_id, "rounding")


def account_for_role(session: Session, company_id: uuid.UUID, role: str) -> Account:
    found = session.scalar(
        select(Account)
        .where(Account.company_id == company_id, Account.role == role, Account.active.is_(True))
        .order_by(Account.code)
        .limit(1)
    )
    if found is None:
        raise no_account_for_role(role)
    return found


def no_account_for_role(role: str) -> ValidationFailed:
    """The refusal of a posting whose role no active account of the chart carries (read fresh or cached)."""
    return ValidationFailed(
        f"the chart has no active account with role '{role}'",
        code="no-account-for-role",
        problems=[FieldProblem("account_role", f"no account with role {role}")],
    )


def balance_lines(
    session: Session, company: Company, date: dt.date, lines: Sequence[LineInput]
) -> list[tuple[LineInput, Decimal, Decimal]]:
    """Round, check the balance per currency, convert: (line, signed amount_currency, signed company value).

    A difference below one minor unit per line of a currency goes to the rounding account; more is refused.
    """
    if not lines:
        raise ValidationFailed("an entry needs lines", problems=[FieldProblem("lines", "empty")])
    rates: dict[str, Decimal] = {}
    balanced: list[tuple[LineInput, Decimal, Decimal]] = []
    for line in lines:  # the caller's order is kept; rounding lines come last
        if line.amount < 0:
            raise ValidationFailed(
                "line amounts are positive; use the other side",
                problems=[FieldProblem("lines", "negative amount")],
            )
        if line.rate is None and line.currency not in rates:
            rates[line.currency] = rate_on(session, company, line.currency, date)
        line_rate = line.rate if line.rate is not None else rates[line.currency]
        amount = _signed(line, round_to_currency(line.amount, line.currency))
        value = (
            _signed(line, round_to_currency(line.company_amount, company.currency))
            if line.company_amount is not None
            else round_to_currency(amount * line_rate, company.currency)
        )
        balanced.append((replace(line, rate=line_rate), amount, value))

    rounding: Account | None = None
    currencies = list(dict.fromkeys(line.currency for line in lines))
    for currency in currencies:
        group = [row for row in balanced if row[0].currency == currency]
        difference = sum((row[1] for row in group), Decimal(0))
        if not difference:
            continue
        tolerance = Decimal(1).scaleb(-minor_unit(currency)) * len(group)
        if abs(difference) >= tolerance:
            raise ValidationFailed(
                f"the entry does not balance in {currency}: debits exceed credits by {difference}",
                code="unbalanced-entry",
                problems=[FieldProblem("lines", f"unbalanced by {difference} {currency}")],
            )
        rounding = rounding or rounding_account(session, company.id)
        rate = group[0][0].rate or Decimal(1)
        side: Side = "credit" if difference > 0 else "debit"
        fix = LineInput(rounding.id, side, abs(difference), currency, rate=rate, label="Rounding")
        balanced.append((fix, -difference, round_to_currency(-difference * rate, company.currency)))

    value_difference = sum((r[2] for r in balanced), Decimal(0))
    if value_difference:
        tolerance = Decimal(1).scaleb(-minor_unit(company.currency)) * len(balanced)
        if abs(value_difference) >= tolerance:
            raise ValidationFailed(
                f"the entry does not balance in {company.currency} after conversion ({value_difference})",
                code="unbalanced-entry",
                problems=[FieldProblem("lines", f"unbalanced by {value_difference} {company.currency}")],
            )
        rounding = rounding or rounding_account(session, company.id)
        # A conversion difference has no foreign amount: it is pure company-currency value.
        first_foreign = next((c for c in currencies if c != company.currency), company.currency)
        fix = LineInput(
            rounding.id,
            "credit" if value_difference > 0 else "debit",
            Decimal(0),
            first_foreign,
            rate=Decimal(0),
            label="Conversion rounding",
        )
        balanced.append((fix, Decimal(0), -value_difference))
    return balanced


def post_entry(
    session: Session,
    ctx: CommandContext,
    *,
    company: Company,
    journal_code: str,
    date: dt.date,
    reference: str,
    lines: Sequence[LineInput],
    event_id: uuid.UUID | None = None,
    rule_id: uuid.UUID | None = None,
    reversal_of: a.JournalEntry | None = None,
    post: bool = True,
) -> a.JournalEntry:
    """Write an entry (posted unless ``post`` is false) after every check in the module docstring."""
    return _post_entry(
        session,
        ctx,
        cache.ledger_of(session, company.id),
        company=company,
        journal_code=journal_code,
        date=date,
        reference=reference,
        lines=lines,
        event_id=event_id,
        rule_id=rule_id,
        reversal_of=reversal_of,
        post=post,
    )


def _post_entry(
    session: Session,
    ctx: CommandContext,
    ledger: LedgerData,
    *,
    company: Company,
    journal_code: str,
    date: dt.date,
    reference: str,
    lines: Sequence[LineInput],
    event_id: uuid.UUID | None,
    rule_id: uuid.UUID | None,
    reversal_of: a.JournalEntry | None,
    post: bool,
) -> a.JournalEntry:
    """:func:`post_entry` with the company's master data as ``ledger`` (read in this transaction just
    before, see ``accounting/cache.py``)."""
    lock_date = ledger.lock_date if ledger.has_settings else settings_for(session, company.id).lock_date
    if lock_date is not None and date <= lock_date:
        raise period_locked(date, lock_date)
    if not ledger.in_fiscal_year(date):
        fiscal_year_for(session, ctx, company.id, date)
    target_journal: a.Journal | JournalRef = ledger.journals.get(journal_code) or journal(
        session, company.id, journal_code
    )
    _check_accounts(ledger, {line.account_id for line in lines})
    balanced = balance_lines(session, company, date, lines)
    if post:
        return _write_posted(
            session,
            ctx,
            company=company,
            target_journal=target_journal,
            date=date,
            reference=reference,
            balanced=balanced,
            event_id=event_id,
            rule_id=rule_id,
            reversal_of=reversal_of,
        )
    entry = a.JournalEntry(
        company_id=company.id,
        journal_id=target_journal.id,
        date=date,
        reference=reference[:200],
        event_id=event_id,
        rule_id=rule_id,
        reversal_of_id=reversal_of.id if reversal_of else None,
        created_by=ctx.actor,
        state="draft",
    )
    for row in _line_rows(company, target_journal, date, balanced, event_id, "draft"):
        entry.lines.append(a.JournalLine(**row))
    session.add(entry)
    session.flush()
    return entry


def _line_rows(
    company: Company,
    target_journal: a.Journal | JournalRef,
    date: dt.date,
    balanced: list[tuple[LineInput, Decimal, Decimal]],
    event_id: uuid.UUID | None,
    state: str,
) -> list[dict[str, Any]]:
    """Every column of the entry's lines but ``entry_id``."""
    ids = new_ids(len(balanced))
    return [
        {
            "id": ids[sequence],
            "company_id": company.id,
            "sequence": sequence,
            "account_id": line.account_id,
            "debit": value if value > 0 else Decimal(0),
            "credit": -value if value < 0 else Decimal(0),
            "currency": line.currency,
            "amount_currency": amount,
            "rate": line.rate if line.rate is not None else Decimal(1),
            "label": line.label[:300],
            "store_id": line.store_id,
            "channel": line.channel,
            "product_category": line.product_category,
            "location_id": line.location_id,
            "customer_id": line.customer_id,
            "tax_code": line.tax_code,
            "tax_base": _base_in_company_currency(line, company),
            "event_id": line.event_id or event_id,
            "journal_id": target_journal.id,
            "date": date,
            "state": state,
        }
        for sequence, (line, amount, value) in enumerate(balanced)
    ]


_entries = a.JournalEntry.__table__
_lines = a.JournalLine.__table__
# Built once: building a statement costs more than running it on this path (once per entry).
_INSERT_ENTRY = insert(_entries)
_INSERT_LINES = insert(_lines)
_sequences = a.JournalSequence.__table__


def _write_posted(
    session: Session,
    ctx: CommandContext,
    *,
    company: Company,
    target_journal: a.Journal | JournalRef,
    date: dt.date,
    reference: str,
    balanced: list[tuple[LineInput, Decimal, Decimal]],
    event_id: uuid.UUID | None,
    rule_id: uuid.UUID | None,
    reversal_of: a.JournalEntry | None,
) -> a.JournalEntry:
    """Write an entry and its lines posted, numbered, in two INSERTs, and hand them to the session as
    if loaded (decision 0071).

    Posted rows are final, so nothing is written before the guard and the number: an entry the guard
    refuses leaves no row at all. The rows go in through the Core (the ORM's unit of work was most of
    a posting's CPU, and writing drafts to post them cost an UPDATE of the entry and one of the lines);
    the returned entry and its lines are then made persistent with exactly the values written, so
    the identity map serves them to later queries of the transaction as it did before.
    """
    # The guard is read by the statement that takes the number (under the posting lock), and the number
    # given back if the guard refuses: one round trip fewer for every entry, one more for a refused one.
    balances.lock_for_posting(session)
    sequence_key = {"journal_id": target_journal.id, "year": date.year}
    number, through = take_next_reading(
        session,
        _sequences,
        sequence_key,
        balances.THROUGH_OF,
        {"guard_company_id": company.id},
        company_id=target_journal.company_id,
    )
    if through is UNREAD:  # the journal's first number this year: nothing was read with it
        through = balances.through(session, company.id)
    if through is not None and date <= through:
        give_back(session, _sequences, sequence_key)
        raise period_locked(date, through)
    now = utcnow()
    entry_row: dict[str, Any] = {
        "id": new_id(),
        "company_id": company.id,
        "journal_id": target_journal.id,
        "number": f"{target_journal.code}/{date.year}/{number:06d}",
        "date": date,
        "state": "posted",
        "reference": reference[:200],
        "event_id": event_id,
        "rule_id": rule_id,
        "reversal_of_id": reversal_of.id if reversal_of else None,
        "created_by": ctx.actor,
        "created_at": now,
        "posted_by": ctx.actor,
        "posted_at": now,
    }
    line_rows = _line_rows(company, target_journal, date, balanced, event_id, "posted")
    for row in line_rows:
        row["entry_id"] = entry_row["id"]
    session.execute(_INSERT_ENTRY, entry_row)
    session.execute(_INSERT_LINES, line_rows)
    entry = a.JournalEntry(**entry_row)
    entry.lines = [a.JournalLine(**row) for row in line_rows]
    for line in entry.lines:
        make_transient_to_detached(line)
    make_transient_to_detached(entry)
    session.add(entry)  # persistent, unchanged: the session writes nothing more for it
    return entry


def _base_in_company_currency(line: LineInput, company: Company) -> Decimal | None:
    """Tax bases are reported in the company currency, like the tax itself. The base is a magnitude:
    whether it adds to or reduces the reported base follows the side of its tax line."""
    if line.tax_base is None:
        return None
    base = abs(line.tax_base)
    # A line with a fixed company amount (a reversal) carries its base in company currency already.
    if line.currency == company.currency or line.rate is None or line.company_amount is not None:
        return round_to_currency(base, company.currency)
    return round_to_currency(base * line.rate, company.currency)


def _check_accounts(ledger: LedgerData, account_ids: set[uuid.UUID]) -> None:
    for account_id in account_ids:
        account = ledger.accounts.get(account_id)
        if account is None:
            raise InvalidReference(
                f"no account {account_id}", problems=[FieldProblem("lines.account", "no such account")]
            )
        if not account.active:
            raise ValidationFailed(
                f"account {account.code} is inactive",
                problems=[FieldProblem("lines.account", f"account {account.code} is inactive")],
            )


_POST_LINES = (
    update(_lines)
    .where(_lines.c.entry_id == bindparam("posted_entry", type_=Uuid()), _lines.c.state == "draft")
    .values(state="posted")
)
_ENTRY_OF_EVENT = select(a.JournalEntry).where(a.JournalEntry.event_id == bindparam("event_id", type_=Uuid()))


def _mark_posted(
    session: Session, ctx: CommandContext, entry: a.JournalEntry, target_journal: a.Journal | JournalRef
) -> None:
    # A draft becomes posted here (an entry posted at once, in _write_posted): never into a month whose
    # balances are kept (they would go stale). The lock date check of every caller already refuses it;
    # this holds even if it did not.
    through = balances.posting_through(session, entry.company_id)
    if through is not None and entry.date <= through:
        raise period_locked(entry.date, through)
    number = _take_number(session, target_journal, entry.date.year)
    entry.number = f"{target_journal.code}/{entry.date.year}/{number:06d}"
    entry.state = "posted"
    entry.posted_at = utcnow()
    entry.posted_by = ctx.actor
    # One statement for all the lines (the ORM would update them one by one); the loaded lines are told
    # their new state without being marked as changed.
    session.execute(_POST_LINES, {"posted_entry": entry.id})
    for line in entry.lines:
        set_committed_value(line, "state", "posted")
    session.flush()


def _take_number(session: Session, target_journal: a.Journal | JournalRef, year: int) -> int:
    """The next number of the journal's year, taken atomically: the UPDATE locks the sequence row, so two
    transactions posting at once get different numbers (the second waits for the first to commit)."""
    return take_next(
        session,
        a.JournalSequence.__table__,
        {"journal_id": target_journal.id, "year": year},
        company_id=target_journal.company_id,
    )


def post_draft(session: Session, ctx: CommandContext, entry: a.JournalEntry) -> a.JournalEntry:
    if entry.state == "posted":
        raise Conflict(f"entry {entry.number} is already posted", code="entry-posted")
    settings = settings_for(session, entry.company_id)
    if settings.lock_date is not None and entry.date <= settings.lock_date:
        raise period_locked(entry.date, settings.lock_date)
    _mark_posted(session, ctx, entry, session.get(a.Journal, entry.journal_id))
    return entry


def reverse_entry(
    session: Session,
    ctx: CommandContext,
    entry: a.JournalEntry,
    *,
    date: dt.date | None = None,
    reference: str | None = None,
    event_id: uuid.UUID | None = None,
) -> a.JournalEntry:
    """A new posted entry with every side swapped, linked to the original, at the same rates."""
    if entry.state != "posted":
        raise Conflict(
            "only posted entries are reversed; change or delete a draft instead", code="entry-not-posted"
        )
    if session.scalar(select(a.JournalEntry.id).where(a.JournalEntry.reversal_of_id == entry.id)) is not None:
        raise Conflict(f"entry {entry.number} is already reversed", code="entry-already-reversed")
    company = session.get(Company, entry.company_id)
    lines = [
        LineInput(
            account_id=line.account_id,
            side="credit" if line.debit > 0 or (line.debit == 0 and line.amount_currency > 0) else "debit",
            amount=abs(line.amount_currency),
            currency=line.currency,
            rate=line.rate,
            company_amount=line.debit or line.credit,
            label=f"Reversal: {line.label}"[:300],
            store_id=line.store_id,
            channel=line.channel,
            product_category=line.product_category,
            location_id=line.location_id,
            customer_id=line.customer_id,
            tax_code=line.tax_code,
            tax_base=line.tax_base,
            event_id=event_id or line.event_id,
        )
        for line in entry.lines
    ]
    target = session.get(a.Journal, entry.journal_id)
    return post_entry(
        session,
        ctx,
        company=company,
        journal_code=target.code,
        date=date or entry.date,
        reference=reference or f"Reversal of {entry.number}",
        lines=lines,
        event_id=event_id,
        reversal_of=entry,
    )


# -- posting events by rules -----------------------------------------------------------------------


def rules_for(session: Session, company_id: uuid.UUID, event_type: str) -> list[Rule]:
    return cache.ledger_of(session, company_id).rules.get(event_type, [])


def to_rule(row: a.PostingRule) -> Rule:
    return Rule(
        id=row.id,
        code=row.code,
        event_type=row.event_type,
        journal_code=row.journal_code,
        lines=tuple(RuleLine.from_dict(line) for line in row.lines),
        conditions=row.conditions,
        priority=row.priority,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
    )


def _resolve(ledger: LedgerData, draft: DraftLine) -> AccountRef:
    if draft.account_role:
        found = ledger.account_by_role.get(draft.account_role)
        if found is None:
            raise no_account_for_role(draft.account_role)
        return found
    found = ledger.account_by_code.get(draft.account_code or "")
    if found is None:
        raise ValidationFailed(f"the chart has no account {draft.account_code}", code="no-account-for-code")
    return found


def _customer_of(draft: DraftLine) -> uuid.UUID | None:
    """The customer dimension of a receivable line (none on any other line)."""
    if draft.account_role != "receivable":
        return None
    return _uuid_or_none(draft.dimensions.get("customer_id"))


def receivable_account_for(
    session: Session, company_id: uuid.UUID, customer_id: uuid.UUID, cache: dict[str, Account]
) -> uuid.UUID:
    """The customer's own receivable account, else its group's, else the ``receivable`` role's."""
    key = f"customer:{customer_id}"
    if key not in cache:
        R = a.CustomerReceivableAccount
        group = select(Customer.customer_group).where(Customer.id == customer_id).scalar_subquery()
        found = session.execute(
            select(R.account_id, R.customer_id)
            .where(R.company_id == company_id, or_(R.customer_id == customer_id, R.customer_group == group))
            .order_by(R.customer_id.is_(None))
            .limit(1)
        ).first()
        cache[key] = (
            session.get(Account, found[0])
            if found is not None
            else account_for_role(session, company_id, "receivable")
        )
    return cache[key].id


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(
            f"'{value}' is not an id", problems=[FieldProblem("payload", "bad id")]
        ) from None


def post_event(session: Session, ctx: CommandContext, event: Event) -> a.JournalEntry | None:
    """Post an event by the first matching rule in force on its date; None if no rule applies."""
    payload: dict[str, Any] = event.payload or {}
    company = session.get(Company, event.company_id)
    try:
        date = dt.date.fromisoformat(payload["date"]) if payload.get("date") else event.occurred_at.date()
    except ValueError:
        raise ValidationFailed(
            "payload.date is not an ISO date", problems=[FieldProblem("payload.date", "not a date")]
        ) from None
    ledger = cache.ledger_of(session, company.id)
    rule = select_rule(ledger.rules.get(event.type, []), event.type, payload, date)
    if rule is None:
        return None
    # An event is posted once, however often it is delivered; one just recorded has no entry yet.
    if not claim_new(event):
        existing = session.scalar(_ENTRY_OF_EVENT, {"event_id": event.id})
        if existing is not None:
            return existing
    try:
        drafts = draft_lines(rule, payload)
    except PostingError as exc:
        raise ValidationFailed(
            str(exc), code="unpostable-event", problems=[FieldProblem("payload", str(exc))]
        ) from None
    if not drafts:
        return None
    currency = payload.get("currency") or company.currency
    # A rate the event fixed (a foreign-currency POS session's, decision 0059); the date's otherwise.
    rate = to_decimal(payload["rate"], "payload.rate") if payload.get("rate") else None
    receivables: dict[str, Account] = {}
    lines = [
        LineInput(
            account_id=(
                _resolve(ledger, draft).id
                if _customer_of(draft) is None
                else receivable_account_for(session, company.id, _customer_of(draft), receivables)
            ),
            side=draft.side,
            amount=draft.amount,
            currency=currency,
            rate=rate,
            label=draft.label,
            store_id=_uuid_or_none(draft.dimensions.get("store_id")),
            channel=draft.dimensions.get("channel"),
            product_category=draft.dimensions.get("product_category"),
            location_id=_uuid_or_none(draft.dimensions.get("location_id")),
            customer_id=_customer_of(draft),
            tax_code=draft.tax_code,
            tax_base=draft.tax_base,
        )
        for draft in drafts
    ]
    return _post_entry(
        session,
        ctx,
        ledger,
        company=company,
        journal_code=rule.journal_code,
        date=date,
        reference=str(payload.get("reference") or f"{event.type} {event.aggregate_id}"),
        lines=lines,
        event_id=event.id,
        rule_id=rule.id,
        reversal_of=None,
        post=True,
    )


def entries(session: Session, ids: Iterable[uuid.UUID]) -> list[a.JournalEntry]:
    return list(session.scalars(select(a.JournalEntry).where(a.JournalEntry.id.in_(list(ids)))))


def get_entry(
    session: Session, company_ids: Iterable[uuid.UUID] | None, entry_id: uuid.UUID
) -> a.JournalEntry:
    entry = session.get(a.JournalEntry, entry_id)
    if entry is None or (company_ids is not None and entry.company_id not in set(company_ids)):
        raise NotFound(f"no journal entry {entry_id}")
    return entry
