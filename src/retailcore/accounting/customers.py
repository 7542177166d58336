"""Customers in the books (decision 0060, docs/ledger.md#customers-in-the-books).

* **Receivable account per customer or group.** ``customer_receivable_accounts`` names, for one
  customer or one ``customer_group``, the account its receivable lines are posted to in place of the
  ``receivable`` role's account (the customer's own row wins over its group's;
  :func:`retailcore.accounting.services.receivable_account_for`).
* **The customer dimension.** Every receivable line of an event that names a ``customer_id`` carries
  it (``journal_lines.customer_id``): invoices, order fulfilments and payments, the POS close's
  per-customer credits. Only receivable lines: revenue and tax lines of the same entry do not.
* **A statement from the ledger.** :func:`statement` reads the posted lines of one customer: the
  balance before the period, the period's lines with a running balance, and the items still open
  (their residual after the reconciliation's matches, accounting/reconciliation.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import and_, func, literal_column, select, tuple_, type_coerce
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.adapters.orm import Amount, utcnow
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.commands import Code, CompanyScoped, CustomerGroup
from retailcore.masterdata.tables import Account, Company, Customer

ZERO = Decimal(0)
L = a.JournalLine
R = a.CustomerReceivableAccount


class SetCustomerReceivableAccount(CompanyScoped):
    customer_id: uuid.UUID | None = Field(None, description="The customer (or give `customer_group`).")
    customer_group: CustomerGroup | None = Field(None, description="A customer group (or `customer_id`).")
    account: Code = Field(description="The code of an active asset account of the chart.")

    @model_validator(mode="after")
    def _one_of(self) -> SetCustomerReceivableAccount:
        if (self.customer_id is None) == (self.customer_group is None):
            raise ValueError("give exactly one of customer_id and customer_group")
        return self


class CustomerReceivableAccountView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    customer_id: uuid.UUID | None
    customer_group: str | None
    account: str
    updated_by: str


def _view(row: a.CustomerReceivableAccount, code: str) -> CustomerReceivableAccountView:
    return CustomerReceivableAccountView(
        id=row.id,
        company_id=row.company_id,
        customer_id=row.customer_id,
        customer_group=row.customer_group,
        account=code,
        updated_by=row.updated_by,
    )


def _customer(session: Session, company: Company, customer_id: uuid.UUID, field: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.company_id != company.id:
        raise InvalidReference(
            f"no customer {customer_id} in this company",
            code="unknown-customer",
            problems=[FieldProblem(field, "unknown customer")],
        )
    return customer


def set_receivable_account(
    session: Session, ctx: CommandContext, company: Company, request: SetCustomerReceivableAccount
) -> CustomerReceivableAccountView:
    """Set (or replace) the receivable account of a customer or a group, from the next posting on."""
    if request.customer_id is not None:
        _customer(session, company, request.customer_id, "customer_id")
    account = session.scalar(
        select(Account).where(Account.company_id == company.id, Account.code == request.account)
    )
    if account is None or not account.active or account.type != "asset":
        raise InvalidReference(
            f"no active asset account {request.account} in the chart",
            code="unknown-account",
            problems=[FieldProblem("account", "not an active asset account of the chart")],
        )
    where = (
        R.customer_id == request.customer_id
        if request.customer_id is not None
        else R.customer_group == request.customer_group
    )
    row = session.scalar(select(R).where(R.company_id == company.id, where).with_for_update())
    before = None
    if row is None:
        row = R(
            company_id=company.id,
            customer_id=request.customer_id,
            customer_group=request.customer_group,
            account_id=account.id,
            updated_by=ctx.actor,
            updated_at=utcnow(),
        )
        session.add(row)
    else:
        before = session.get(Account, row.account_id).code  # type: ignore[union-attr]
        row.account_id, row.updated_by, row.updated_at = account.id, ctx.actor, utcnow()
    session.flush()
    record(
        session,
        ctx,
        type="CustomerReceivableAccountSet",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={
            "customer_id": request.customer_id,
            "customer_group": request.customer_group,
            "account": account.code,
            "before": before,
        },
    )
    return _view(row, account.code)


def receivable_accounts(
    session: Session, company: Company, *, limit: int, cursor: uuid.UUID | None
) -> tuple[list[CustomerReceivableAccountView], uuid.UUID | None]:
    query = (
        select(R, Account.code).join(Account, Account.id == R.account_id).where(R.company_id == company.id)
    )
    if cursor is not None:
        query = query.where(R.id > cursor)
    rows = list(session.execute(query.order_by(R.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return [_view(row, code) for row, code in rows], (rows[-1][0].id if more else None)


class StatementLine(BaseModel):
    line_id: uuid.UUID
    date: dt.date
    entry_id: uuid.UUID
    entry_number: str | None
    account: str
    label: str
    debit: DecimalStr
    credit: DecimalStr
    balance: DecimalStr
    """The running balance after this line (debit positive: the customer owes)."""


class OpenItem(BaseModel):
    line_id: uuid.UUID
    date: dt.date
    entry_number: str | None
    label: str
    amount: DecimalStr
    """Signed: an invoice positive, an unapplied payment negative."""
    open_amount: DecimalStr
    """Signed, what the reconciliation has not matched yet."""


class Statement(BaseModel):
    customer_id: uuid.UUID
    customer_code: str
    currency: str
    date_from: dt.date | None
    date_to: dt.date
    opening_balance: DecimalStr
    closing_balance: DecimalStr
    items: list[StatementLine]
    next_cursor: uuid.UUID | None
    open_items: list[OpenItem]
    open_total: DecimalStr


def _signed(debit: Decimal, credit: Decimal) -> Decimal:
    return debit - credit


def statement(
    session: Session,
    company: Company,
    customer_id: uuid.UUID,
    *,
    date_from: dt.date | None,
    date_to: dt.date,
    limit: int,
    cursor: uuid.UUID | None,
) -> Statement:
    """The customer's posted lines: before ``date_from`` as the opening balance, from it to ``date_to``
    one by one with the running balance (a page of ``limit`` after ``cursor``), the open items as of
    ``date_to`` (every page repeats them, and the closing balance)."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.company_id != company.id:
        raise NotFound(f"no customer {customer_id}")
    if date_from is not None and date_from > date_to:
        raise ValidationFailed(
            "date_from is after date_to", problems=[FieldProblem("date_from", "after date_to")]
        )
    mine = (L.company_id == company.id, L.customer_id == customer_id, L.state == "posted")
    amount = type_coerce(func.coalesce(func.sum(L.debit - L.credit), literal_column("0")), Amount())

    def total(*where: Any) -> Decimal:
        return session.scalar(select(amount).where(*mine, *where)) or ZERO

    opening = total(L.date < date_from) if date_from is not None else ZERO
    closing = total(L.date <= date_to)
    in_period = [*mine, L.date <= date_to]
    if date_from is not None:
        in_period.append(L.date >= date_from)
    balance = opening
    if cursor is not None:
        anchor = session.get(L, cursor)
        if anchor is None or anchor.customer_id != customer_id or anchor.company_id != company.id:
            raise ValidationFailed(
                "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
            )
        before = tuple_(L.date, L.id) <= tuple_(anchor.date, anchor.id)
        balance += session.scalar(select(amount).where(*in_period, before)) or ZERO
        in_period.append(tuple_(L.date, L.id) > tuple_(anchor.date, anchor.id))
    rows = list(
        session.execute(
            select(L, a.JournalEntry.number, Account.code)
            .join(a.JournalEntry, a.JournalEntry.id == L.entry_id)
            .join(Account, Account.id == L.account_id)
            .where(*in_period)
            .order_by(L.date, L.id)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for line, number, code in rows:
        balance += _signed(line.debit, line.credit)
        items.append(
            StatementLine(
                line_id=line.id,
                date=line.date,
                entry_id=line.entry_id,
                entry_number=number,
                account=code,
                label=line.label,
                debit=line.debit,
                credit=line.credit,
                balance=balance,
            )
        )
    candidates = list(
        session.execute(
            select(L, a.JournalEntry.number)
            .join(a.JournalEntry, a.JournalEntry.id == L.entry_id)
            .where(*mine, L.date <= date_to)
            .order_by(L.date, L.id)
        )
    )
    matched = _matched_by(session, [line.id for line, _ in candidates], date_to)
    open_items = []
    for line, number in candidates:
        signed = _signed(line.debit, line.credit)
        left = abs(signed) - matched.get(line.id, ZERO)
        if left:
            open_items.append(
                OpenItem(
                    line_id=line.id,
                    date=line.date,
                    entry_number=number,
                    label=line.label,
                    amount=signed,
                    open_amount=left if signed > 0 else -left,
                )
            )
    return Statement(
        customer_id=customer.id,
        customer_code=customer.code,
        currency=company.currency,
        date_from=date_from,
        date_to=date_to,
        opening_balance=opening,
        closing_balance=closing,
        items=items,
        next_cursor=rows[-1][0].id if more else None,
        open_items=open_items,
        open_total=sum((item.open_amount for item in open_items), ZERO),
    )


def _matched_by(session: Session, line_ids: list[uuid.UUID], as_of: dt.date) -> dict[uuid.UUID, Decimal]:
    """Matched amounts per line counting only matches whose other line is dated on or before ``as_of``."""
    if not line_ids:
        return {}
    other = a.JournalLine.__table__.alias("other")
    M = a.LineMatch
    found: dict[uuid.UUID, Decimal] = {}
    for mine_col, other_col in ((M.debit_line_id, M.credit_line_id), (M.credit_line_id, M.debit_line_id)):
        rows = session.execute(
            select(mine_col, M.amount)
            .join(other, and_(other.c.id == other_col, other.c.date <= as_of))
            .where(mine_col.in_(line_ids))
        )
        for line_id, matched in rows:
            found[line_id] = found.get(line_id, ZERO) + matched
    return found


__all__ = [
    "CustomerReceivableAccountView",
    "SetCustomerReceivableAccount",
    "Statement",
    "receivable_accounts",
    "set_receivable_account",
    "statement",
]
