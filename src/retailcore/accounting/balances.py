"""Period balances: the posted lines of closed months, summed per account and store (decision 0036).

A month is *closed* when the company's lock date is on or after its last day. Nothing posts on or before
the lock date, so a closed month's lines never change and their sums can be kept: ``period_balances``
holds one row per company, month, account and store with the month's debits, credits and line count.
The reports read those rows for whole closed months and the lines only for the rest (the open tail and
the part of a month a date range cuts), so a trial balance or balance sheet costs about the accounts
times the closed months plus the open lines, not the whole history.

``period_balances_through`` holds the last day the rows cover (a month end, never after the lock
date). :func:`follow_lock` keeps it in step whenever the lock date moves: forward, it sums the newly
closed months in one ``INSERT ... SELECT ... GROUP BY``; back, it deletes the months reopened. The
posting funnel (:func:`posting_through`, read by ``services`` before an entry is written) refuses any
entry dated on or before that day, whatever the lock date says, so the rows cannot go stale even if the
lock date were changed by hand.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Uuid, and_, bindparam, cast, delete, func, insert, or_, select, text, type_coerce
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount

L = a.JournalLine
B = a.PeriodBalance

BALANCE_DIMENSIONS: dict[str, Any] = {"store_id": B.store_id}
"""Report dimensions the balances keep; grouping by another one reads the lines."""


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def closed_through(lock_date: dt.date | None) -> dt.date | None:
    """The last day of the last whole month on or before ``lock_date``: what the balances may cover."""
    if lock_date is None:
        return None
    if lock_date == next_month(lock_date) - dt.timedelta(days=1):
        return lock_date
    return month_start(lock_date) - dt.timedelta(days=1)


def _month_of(session: Session, column: Any) -> Any:
    """The first day of a date column's month, as a date."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc("month", column), Date)
    return func.date(column, "start of month")


_THROUGH = select(a.BalancesThrough.through).where(
    a.BalancesThrough.company_id == bindparam("company_id", type_=Uuid())
)
"""Built once: every posting runs it (see through)."""


def through(session: Session, company_id: uuid.UUID) -> dt.date | None:
    """The last day the company's kept balances cover (None: no month is closed)."""
    # Read afresh, never from the session's identity map: the posting guard must see a close that
    # committed while its transaction waited (see follow_lock).
    return session.scalar(_THROUGH, {"company_id": company_id})


_LINES_LOCKED = "accounting.journal_lines_locked"
"""``session.info`` key: the (sub)transaction that holds the posting lock, see :func:`posting_through`."""


def posting_through(session: Session, company_id: uuid.UUID) -> dt.date | None:
    """:func:`through` for a posting about to write its lines, read so that no lock-date move can slip
    between the read and the lines.

    On PostgreSQL the transaction first takes the lock the lines' INSERT would take (ROW EXCLUSIVE on
    ``journal_lines``, held until it ends). :func:`follow_lock`'s SHARE lock conflicts with it: a move
    that came first has committed before this read (which then sees its coverage and refuses), and one
    that comes later waits for this transaction and sums its lines. Taking it before the read lets the
    entry be written posted in one go, with nothing to undo when the guard refuses. It is taken once per
    (sub)transaction: a savepoint rolled back releases the locks taken inside it, so a savepoint that
    did not take it does not count. SQLite serialises writers with the database lock already.
    """
    lock_for_posting(session)
    return through(session, company_id)


def lock_for_posting(session: Session) -> None:
    """The lock of :func:`posting_through` alone, for a caller that reads the guard (:data:`THROUGH_OF`)
    within its next statement."""
    if session.get_bind().dialect.name == "postgresql":
        current = session.get_nested_transaction() or session.get_transaction()
        if session.info.get(_LINES_LOCKED) is not current:
            session.execute(_LOCK_LINES)
            session.info[_LINES_LOCKED] = current


THROUGH_OF = (
    select(a.BalancesThrough.through)
    .where(a.BalancesThrough.company_id == bindparam("guard_company_id", type_=Uuid()))
    .scalar_subquery()
)
""":func:`through` as a scalar subquery (bound parameter ``guard_company_id``: an UPDATE reserves its
table's column names), to read the guard in the same statement as something else."""


_LOCK_LINES = text("LOCK TABLE journal_lines IN ROW EXCLUSIVE MODE")


def _set_through(session: Session, company_id: uuid.UUID, day: dt.date | None) -> None:
    row = session.get(a.BalancesThrough, company_id)
    if day is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(a.BalancesThrough(company_id=company_id, through=day))
    else:
        row.through = day
    session.flush()


def _insert_months(session: Session, company_id: uuid.UUID, after: dt.date | None, through: dt.date) -> None:
    """Sum the posted lines dated after ``after`` (all history when None) up to ``through`` into one row
    per month, account and store: one set-based statement."""
    month = _month_of(session, L.date)
    conditions = [L.company_id == company_id, L.state == "posted", L.date <= through]
    if after is not None:
        conditions.append(L.date > after)
    summed = (
        select(
            L.company_id,
            month.label("month"),
            L.account_id,
            L.store_id,
            func.sum(L.debit),
            func.sum(L.credit),
            func.count(),
        )
        .where(*conditions)
        .group_by(L.company_id, month, L.account_id, L.store_id)
    )
    columns = ["company_id", "month", "account_id", "store_id", "debit", "credit", "line_count"]
    session.execute(insert(B).from_select(columns, summed))


def follow_lock(session: Session, company_id: uuid.UUID, lock_date: dt.date | None) -> None:
    """Bring the company's balances in step with its (new) lock date: delete the months it reopened,
    sum the months it closed. Called in the transaction that moves the lock date."""
    target = closed_through(lock_date)
    current = through(session, company_id)
    if target == current:
        return
    if current is not None and (target is None or target < current):
        reopened = delete(B).where(B.company_id == company_id)
        if target is not None:
            reopened = reopened.where(B.month > target)
        session.execute(reopened)
        current = target
    if target is not None and (current is None or target > current):
        if session.get_bind().dialect.name == "postgresql":
            # Wait for the transactions writing lines to finish, and hold new ones until this commits:
            # the sums then include every line posted under the old lock date, and a posting that was
            # waiting sees the new coverage in its guard (posting_through) and is refused.
            # SQLite writers are serialised by the database lock already.
            session.execute(text("LOCK TABLE journal_lines IN SHARE MODE"))
        _insert_months(session, company_id, current, target)
    _set_through(session, company_id, target)


def rebuild(
    session: Session,
    company_id: uuid.UUID,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Recompute the company's balances from its lines, a month at a time (a maintenance command: the
    rows are only ever wrong if someone edited the database by hand). Returns the rows written."""
    settings = session.get(a.LedgerSettings, company_id)
    if settings is None:
        return 0
    session.execute(delete(B).where(B.company_id == company_id))
    target = closed_through(settings.lock_date)
    _set_through(session, company_id, target)
    if target is None:
        return 0
    first = session.scalar(
        select(func.min(L.date)).where(L.company_id == company_id, L.state == "posted", L.date <= target)
    )
    months: list[tuple[dt.date | None, dt.date]] = []
    if first is not None:
        start = month_start(first)
        while start <= target:
            end = next_month(start) - dt.timedelta(days=1)
            months.append((start - dt.timedelta(days=1), end))
            start = next_month(start)
    for done, (after, through) in enumerate(months, start=1):
        _insert_months(session, company_id, after, through)
        if progress is not None:
            progress(done, len(months))
    session.flush()
    return session.scalar(select(func.count()).select_from(B).where(B.company_id == company_id)) or 0


@dataclass(frozen=True)
class Difference:
    month: dt.date
    account_id: uuid.UUID
    store_id: uuid.UUID | None
    kept: tuple[Decimal, Decimal, int]
    """Debit, credit and line count in ``period_balances``."""
    lines: tuple[Decimal, Decimal, int]
    """The same summed from the lines."""


def differences(session: Session, company_id: uuid.UUID) -> list[Difference]:
    """Where the kept balances disagree with the lines they sum (empty when all is well)."""
    covered = through(session, company_id)
    zero = (Decimal(0), Decimal(0), 0)
    kept = {
        (row.month, row.account_id, row.store_id): (row.debit, row.credit, row.line_count)
        for row in session.scalars(select(B).where(B.company_id == company_id))
    }
    summed: dict[tuple[dt.date, uuid.UUID, uuid.UUID | None], tuple[Decimal, Decimal, int]] = {}
    if covered is not None:
        month = _month_of(session, L.date)
        statement = (
            select(
                month.label("month"),
                L.account_id,
                L.store_id,
                type_coerce(func.sum(L.debit), Amount()).label("debit"),
                type_coerce(func.sum(L.credit), Amount()).label("credit"),
                func.count().label("count"),
            )
            .where(L.company_id == company_id, L.state == "posted", L.date <= covered)
            .group_by(month, L.account_id, L.store_id)
        )
        for row in session.execute(statement):
            day = row.month if isinstance(row.month, dt.date) else dt.date.fromisoformat(row.month)
            summed[(day, row.account_id, row.store_id)] = (row.debit, row.credit, row.count)
    return [
        Difference(key[0], key[1], key[2], kept.get(key, zero), summed.get(key, zero))
        for key in sorted(set(kept) | set(summed), key=lambda k: (k[0], str(k[1]), str(k[2])))
        if kept.get(key, zero) != summed.get(key, zero)
    ]


@dataclass(frozen=True)
class Split:
    """How a report over ``date_from``..``date_to`` divides between kept balances and lines.

    * months starting before ``lines_from`` come from the balances (they are all before the range);
    * lines from ``lines_from`` on are read, except those of ``closed`` (a run of whole closed months
      inside the range, which come from the balances too).
    Without balances, ``lines_from`` and ``closed`` are None: every line is read.
    """

    lines_from: dt.date | None
    closed: tuple[dt.date, dt.date] | None


def split(date_from: dt.date, date_to: dt.date, through: dt.date | None) -> Split:
    if through is None:
        return Split(None, None)
    lines_from = min(month_start(date_from), through + dt.timedelta(days=1))
    first = date_from if date_from.day == 1 else next_month(date_from)
    last = min(closed_through(date_to) or date_to, through)
    return Split(lines_from, (first, last) if first <= last else None)


def through_for(session: Session, company_id: uuid.UUID, dimensions: list[str]) -> dt.date | None:
    """How far the balances may serve a report grouped by ``dimensions`` (None: read the lines only)."""
    if any(name not in BALANCE_DIMENSIONS for name in dimensions):
        return None
    return through(session, company_id)


def lines_outside(span: Split) -> list[Any]:
    """Conditions on ``journal_lines.date`` selecting the lines the balances do not cover: at most two
    plain date ranges (before and after the closed months inside the report's range), so the planner
    scans those ranges of ``ix_journal_lines_report`` rather than filtering the closed months out."""
    if span.lines_from is None:
        return []
    if span.closed is None:
        return [L.date >= span.lines_from]
    after = L.date > span.closed[1]
    if span.lines_from >= span.closed[0]:  # nothing to read before the closed months
        return [after]
    before = and_(L.date >= span.lines_from, L.date < span.closed[0])
    return [or_(before, after)]
