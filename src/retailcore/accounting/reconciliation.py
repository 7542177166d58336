"""Matching posted lines of a reconcilable account against each other, and the open items left over.

A :class:`~retailcore.accounting.tables.LineMatch` says "this much of that debit line is settled by
that credit line", in company currency. Matches are bookkeeping about lines, not entries: they are made
and removed without posting anything, so unreconciling is a plain delete (audited by an event).

Rules:

* Only posted lines of one reconcilable account of one company are matched together. Lines of other
  companies are reported exactly like ids that do not exist, so a caller cannot probe them.
* The *residual* of a line is ``|debit - credit| - sum(matches of the line)``. A line whose residual is
  zero is fully reconciled and refused in a new reconciliation.
* Debit lines are settled by credit lines oldest first (by date, then by creation order), each match
  taking as much as both lines still have: a payment larger than the oldest invoice moves on to the
  next one, a smaller one leaves that invoice partially open.
* Matching is in company currency. Foreign-currency lines are matched on their company-currency value;
  a realized exchange difference is not computed here.

Open items as of a date are the lines dated on or before it whose residual, counting only matches
whose other line is also dated on or before it, is not zero: a payment received in May does not settle
an invoice in an aged balance as of April. Lines carry no due date, so age is counted from the line's
date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from sqlalchemy import delete, func, select, type_coerce, union_all
from sqlalchemy.orm import Session, aliased

from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount
from retailcore.core.decimals import canonical
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Account

AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    (">90", 91, None),
)
"""Aging buckets: label, first and last age in days (inclusive; None: no upper bound)."""

BUCKET_LABELS = tuple(label for label, _, _ in AGING_BUCKETS)


def bucket_for(age_days: int) -> str:
    """The aging bucket of an item ``age_days`` old."""
    for label, first, last in AGING_BUCKETS:
        if age_days >= first and (last is None or age_days <= last):
            return label
    return BUCKET_LABELS[0]  # a negative age cannot happen (items are dated on or before as_of)


@dataclass(frozen=True)
class Match:
    id: uuid.UUID
    reconciliation_id: uuid.UUID
    account_id: uuid.UUID
    debit_line_id: uuid.UUID
    credit_line_id: uuid.UUID
    amount: Decimal

    @classmethod
    def of(cls, row: a.LineMatch) -> Match:
        return cls(
            row.id, row.reconciliation_id, row.account_id, row.debit_line_id, row.credit_line_id, row.amount
        )

    def to_json(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "debit_line_id": str(self.debit_line_id),
            "credit_line_id": str(self.credit_line_id),
            "amount": canonical(self.amount),
        }


@dataclass(frozen=True)
class LineResidual:
    """A line of a reconciliation request after it was matched."""

    line_id: uuid.UUID
    side: Literal["debit", "credit"]
    amount: Decimal
    """``|debit - credit|``, company currency."""
    matched: Decimal
    """Everything matched on the line so far, this reconciliation included."""
    residual: Decimal
    """``amount - matched``: what is still open."""


@dataclass(frozen=True)
class ReconciliationResult:
    reconciliation_id: uuid.UUID
    company_id: uuid.UUID
    account_id: uuid.UUID
    matches: list[Match]
    lines: list[LineResidual]

    @property
    def fully_reconciled(self) -> bool:
        """True when every line of the request has nothing left open."""
        return all(line.residual == 0 for line in self.lines)

    @property
    def matched_total(self) -> Decimal:
        return sum((match.amount for match in self.matches), Decimal(0))


# -- matching --------------------------------------------------------------------------------------


def matched_amounts(session: Session, line_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """Amount matched so far per line (either side), in one query."""
    ids = list(line_ids)
    if not ids:
        return {}
    sides = union_all(
        select(a.LineMatch.debit_line_id.label("line_id"), a.LineMatch.amount.label("amount")).where(
            a.LineMatch.debit_line_id.in_(ids)
        ),
        select(a.LineMatch.credit_line_id.label("line_id"), a.LineMatch.amount.label("amount")).where(
            a.LineMatch.credit_line_id.in_(ids)
        ),
    ).subquery()
    total = type_coerce(func.sum(sides.c.amount), Amount())
    rows = session.execute(select(sides.c.line_id, total).group_by(sides.c.line_id))
    return {line_id: amount for line_id, amount in rows}


def reconcile(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, line_ids: Sequence[uuid.UUID]
) -> ReconciliationResult:
    """Match the given lines (debits against credits, oldest first) and record ``LinesReconciled``."""
    ids = list(line_ids)
    if not ids:
        raise ValidationFailed(
            "name the lines to reconcile", problems=[FieldProblem("line_ids", "at least two lines")]
        )
    first_index: dict[uuid.UUID, int] = {}
    for index, line_id in enumerate(ids):
        if line_id in first_index:
            raise ValidationFailed(
                f"line {line_id} is listed twice",
                code="duplicate-line",
                problems=[FieldProblem(f"line_ids.{index}", f"same as line_ids.{first_index[line_id]}")],
            )
        first_index[line_id] = index

    # Locked in id order so that two reconciliations of overlapping lines wait for each other instead
    # of both reading the same residuals and matching the same money twice (PostgreSQL).
    rows = list(
        session.scalars(
            select(a.JournalLine)
            .where(a.JournalLine.id.in_(ids), a.JournalLine.company_id == company_id)
            .order_by(a.JournalLine.id)
            .with_for_update()
        )
    )
    found = {row.id: row for row in rows}
    missing = [index for index, line_id in enumerate(ids) if line_id not in found]
    if missing:
        raise InvalidReference(
            f"no journal line {ids[missing[0]]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            code="line-not-found",
            problems=[FieldProblem(f"line_ids.{index}", "no such line") for index in missing],
        )
    drafts = [index for index, line_id in enumerate(ids) if found[line_id].state != "posted"]
    if drafts:
        raise ValidationFailed(
            "only posted lines are reconciled; post the draft entry first",
            code="line-not-posted",
            problems=[FieldProblem(f"line_ids.{index}", "the line's entry is a draft") for index in drafts],
        )
    account_ids = {row.account_id for row in rows}
    if len(account_ids) > 1:
        raise ValidationFailed(
            "lines of different accounts cannot be reconciled together",
            code="different-accounts",
            problems=[FieldProblem("line_ids", f"the lines are on {len(account_ids)} accounts")],
        )
    account = session.get(Account, account_ids.pop())
    assert account is not None
    if not account.reconcilable:
        raise ValidationFailed(
            f"account {account.code} is not reconcilable",
            code="account-not-reconcilable",
            problems=[FieldProblem("line_ids", f"account {account.code} is not reconcilable")],
        )

    already = matched_amounts(session, ids)
    open_amount = {
        row.id: row.debit + row.credit - already.get(row.id, Decimal(0)) for row in rows
    }  # one of debit and credit is zero, so their sum is |debit - credit|
    closed = [index for index, line_id in enumerate(ids) if open_amount[line_id] <= 0]
    if closed:
        raise Conflict(
            "a line is already fully reconciled (or has no amount to match)",
            code="line-already-reconciled",
            problems=[FieldProblem(f"line_ids.{index}", "nothing left to match") for index in closed],
        )
    oldest_first = sorted(rows, key=lambda row: (row.date, row.id))
    debits = [row for row in oldest_first if row.debit > 0]
    credits = [row for row in oldest_first if row.credit > 0]
    if not debits or not credits:
        raise ValidationFailed(
            "a reconciliation needs at least one debit line and one credit line",
            code="nothing-to-match",
            problems=[FieldProblem("line_ids", f"only {'debit' if debits else 'credit'} lines")],
        )

    reconciliation_id = new_id()
    matches: list[a.LineMatch] = []
    remaining = dict(open_amount)
    d = c = 0
    while d < len(debits) and c < len(credits):
        debit, credit = debits[d], credits[c]
        amount = min(remaining[debit.id], remaining[credit.id])
        matches.append(
            a.LineMatch(
                company_id=company_id,
                account_id=account.id,
                debit_line_id=debit.id,
                credit_line_id=credit.id,
                amount=amount,
                reconciliation_id=reconciliation_id,
                created_by=ctx.actor,
            )
        )
        remaining[debit.id] -= amount
        remaining[credit.id] -= amount
        if remaining[debit.id] == 0:
            d += 1
        if remaining[credit.id] == 0:
            c += 1
    session.add_all(matches)
    session.flush()

    result = ReconciliationResult(
        reconciliation_id=reconciliation_id,
        company_id=company_id,
        account_id=account.id,
        matches=[Match.of(row) for row in matches],
        lines=[
            LineResidual(
                line_id=line_id,
                side="debit" if found[line_id].debit > 0 else "credit",
                amount=found[line_id].debit + found[line_id].credit,
                matched=found[line_id].debit + found[line_id].credit - remaining[line_id],
                residual=remaining[line_id],
            )
            for line_id in ids
        ],
    )
    record(
        session,
        ctx,
        type="LinesReconciled",
        company_id=company_id,
        aggregate_type="Reconciliation",
        aggregate_id=reconciliation_id,
        payload={
            "account_id": account.id,
            "account_code": account.code,
            "matches": [match.to_json() for match in result.matches],
            "residuals": {str(line.line_id): canonical(line.residual) for line in result.lines},
            "fully_reconciled": result.fully_reconciled,
        },
    )
    return result


def get_reconciliation(
    session: Session, company_id: uuid.UUID | None, reconciliation_id: uuid.UUID
) -> list[Match]:
    """The matches of one reconciliation; ``company_id`` None means any company (installation-wide)."""
    query = select(a.LineMatch).where(a.LineMatch.reconciliation_id == reconciliation_id)
    if company_id is not None:
        query = query.where(a.LineMatch.company_id == company_id)
    rows = list(session.scalars(query.order_by(a.LineMatch.id)))
    if not rows:
        raise NotFound(f"no reconciliation {reconciliation_id}")
    return [Match.of(row) for row in rows]


def unreconcile(
    session: Session, ctx: CommandContext, company_id: uuid.UUID | None, reconciliation_id: uuid.UUID
) -> list[Match]:
    """Remove the matches of one reconciliation and record ``LinesUnreconciled``; returns them."""
    removed = get_reconciliation(session, company_id, reconciliation_id)
    session.execute(
        delete(a.LineMatch)
        .where(a.LineMatch.id.in_([match.id for match in removed]))
        .execution_options(synchronize_session="fetch")
    )
    owner = session.scalar(
        select(a.JournalLine.company_id).where(a.JournalLine.id == removed[0].debit_line_id)
    )
    assert owner is not None
    record(
        session,
        ctx,
        type="LinesUnreconciled",
        company_id=owner,
        aggregate_type="Reconciliation",
        aggregate_id=reconciliation_id,
        payload={
            "account_id": removed[0].account_id,
            "matches": [match.to_json() for match in removed],
        },
    )
    return removed


# -- open items ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenItem:
    line_id: uuid.UUID
    entry_id: uuid.UUID
    entry_number: str | None
    reference: str
    account_id: uuid.UUID
    account_code: str
    date: dt.date
    label: str
    currency: str
    amount_currency: Decimal
    debit: Decimal
    credit: Decimal
    matched: Decimal
    """Matched as of the report date (matches with lines dated later do not count)."""
    residual: Decimal
    """``debit + credit - matched``: unsigned, as in the module docstring."""
    age_days: int
    bucket: str

    @property
    def side(self) -> Literal["debit", "credit"]:
        return "debit" if self.debit > 0 else "credit"

    @property
    def open_balance(self) -> Decimal:
        """The residual with the line's sign: debit positive, credit negative."""
        return self.residual if self.debit > 0 else -self.residual


@dataclass
class AccountOpenTotal:
    account_id: uuid.UUID
    account_code: str
    account_name: str
    items: int = 0
    open_balance: Decimal = Decimal(0)
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKET_LABELS, Decimal(0)))


@dataclass
class OpenItemsReport:
    company_id: uuid.UUID
    as_of: dt.date
    account_id: uuid.UUID | None
    items: list[OpenItem]
    accounts: list[AccountOpenTotal]
    buckets: dict[str, Decimal]
    """Signed open balance per aging bucket, over all accounts."""
    total: Decimal


def open_items(
    session: Session, company_id: uuid.UUID, account_id: uuid.UUID | None, as_of: dt.date
) -> OpenItemsReport:
    """Lines of reconcilable accounts with a residual as of ``as_of``, aged, with totals.

    One query: matches are summed per line in a subquery (only those whose other line is dated on or
    before ``as_of``), joined to the lines, and lines with nothing open are filtered out in SQL.
    """
    account: Account | None = None
    if account_id is not None:
        account = session.get(Account, account_id)
        if account is None or account.company_id != company_id:
            raise InvalidReference(
                f"no account {account_id}", problems=[FieldProblem("account_id", "no such account")]
            )
        if not account.reconcilable:
            raise ValidationFailed(
                f"account {account.code} is not reconcilable: it has no open items",
                code="account-not-reconcilable",
                problems=[FieldProblem("account_id", "not a reconcilable account")],
            )

    other = aliased(a.JournalLine)
    scope = [a.LineMatch.company_id == company_id]
    if account_id is not None:
        scope.append(a.LineMatch.account_id == account_id)
    sides = union_all(
        select(a.LineMatch.debit_line_id.label("line_id"), a.LineMatch.amount.label("amount"))
        .join(other, other.id == a.LineMatch.credit_line_id)
        .where(*scope, other.date <= as_of),
        select(a.LineMatch.credit_line_id.label("line_id"), a.LineMatch.amount.label("amount"))
        .join(other, other.id == a.LineMatch.debit_line_id)
        .where(*scope, other.date <= as_of),
    ).subquery()
    matched_per_line = (
        select(sides.c.line_id, type_coerce(func.sum(sides.c.amount), Amount()).label("matched"))
        .group_by(sides.c.line_id)
        .subquery()
    )
    matched = type_coerce(func.coalesce(matched_per_line.c.matched, 0), Amount())
    # Every operand is an Amount (scale 4): on SQLite the arithmetic works on the stored scaled integers
    # and stays exact (0 is 0 at any scale); type_coerce turns the result back into a Decimal.
    residual = type_coerce(a.JournalLine.debit + a.JournalLine.credit - matched, Amount())

    query = (
        select(
            a.JournalLine.id,
            a.JournalLine.entry_id,
            a.JournalEntry.number,
            a.JournalEntry.reference,
            Account.id,
            Account.code,
            Account.name,
            a.JournalLine.date,
            a.JournalLine.label,
            a.JournalLine.currency,
            a.JournalLine.amount_currency,
            a.JournalLine.debit,
            a.JournalLine.credit,
            matched,
            residual,
        )
        .join(Account, Account.id == a.JournalLine.account_id)
        .join(a.JournalEntry, a.JournalEntry.id == a.JournalLine.entry_id)
        .outerjoin(matched_per_line, matched_per_line.c.line_id == a.JournalLine.id)
        .where(
            a.JournalLine.company_id == company_id,
            a.JournalLine.state == "posted",
            a.JournalLine.date <= as_of,
            Account.reconcilable.is_(True),
            residual != Decimal(0),
        )
        .order_by(Account.code, a.JournalLine.date, a.JournalLine.id)
    )
    if account_id is not None:
        query = query.where(a.JournalLine.account_id == account_id)

    items: list[OpenItem] = []
    accounts: dict[uuid.UUID, AccountOpenTotal] = {}
    buckets = dict.fromkeys(BUCKET_LABELS, Decimal(0))
    for row in session.execute(query):
        (line_id, entry_id, number, reference, acc_id, code, name, date, label, currency, amount_currency,
         debit, credit, matched_value, residual_value) = row  # fmt: skip
        age = (as_of - date).days
        item = OpenItem(
            line_id=line_id,
            entry_id=entry_id,
            entry_number=number,
            reference=reference,
            account_id=acc_id,
            account_code=code,
            date=date,
            label=label,
            currency=currency,
            amount_currency=amount_currency,
            debit=debit,
            credit=credit,
            matched=matched_value,
            residual=residual_value,
            age_days=age,
            bucket=bucket_for(age),
        )
        items.append(item)
        total = accounts.setdefault(acc_id, AccountOpenTotal(acc_id, code, name))
        total.items += 1
        total.open_balance += item.open_balance
        total.buckets[item.bucket] += item.open_balance
        buckets[item.bucket] += item.open_balance
    return OpenItemsReport(
        company_id=company_id,
        as_of=as_of,
        account_id=account_id,
        items=items,
        accounts=list(accounts.values()),
        buckets=buckets,
        total=sum((total.open_balance for total in accounts.values()), Decimal(0)),
    )
