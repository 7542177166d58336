"""Ledger tables: journals, entries and lines, periods, posting rules, exchange rates, matching.

Lines repeat their entry's ``date``, ``state`` and ``journal_id`` so that reports aggregate lines alone
with one index range scan (``ix_journal_lines_report``) instead of joining a million lines to their
entries. Those copies are written when the entry is posted and never change afterwards, because posted
entries never change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, TimestampsMixin, UTCDateTime, utcnow


class LedgerSettings(Base):
    """Per-company ledger settings; the lock date is moved only by finance (and audited)."""

    __tablename__ = "ledger_settings"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    lock_date: Mapped[dt.date | None] = mapped_column(Date)
    """Nothing may be posted on or before this date."""
    fiscal_year_start_month: Mapped[int] = mapped_column(default=1)
    version: Mapped[int] = mapped_column(default=1)


class FiscalYear(IdMixin, Base):
    __tablename__ = "fiscal_years"
    __table_args__ = (UniqueConstraint("company_id", "code"), UniqueConstraint("company_id", "start_date"))

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)

    periods: Mapped[list[Period]] = relationship(order_by="Period.start_date", lazy="selectin")


class Period(IdMixin, Base):
    """A month of a fiscal year. Locking is by the company's lock date, not per period."""

    __tablename__ = "periods"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        Index("ix_periods_company_dates", "company_id", "start_date", "end_date"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    fiscal_year_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("fiscal_years.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    """``2026-11``."""
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)


class Journal(IdMixin, Base):
    __tablename__ = "journals"
    __table_args__ = (UniqueConstraint("company_id", "code"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))


class PeriodBalance(Base):
    """The posted lines of one closed month summed per account and store (decision 0036).

    Written in one ``INSERT ... SELECT ... GROUP BY`` when the lock date passes the month's end
    (``balances.follow_lock``), deleted when it moves back before it. A closed month receives no entry
    (posting refuses dates on or before the lock date, and ``balances_through`` never passes it), so
    these rows never go stale. Reports read them for whole closed months and the lines for the rest.
    """

    __tablename__ = "period_balances"
    __table_args__ = (Index("ix_period_balances_company_month", "company_id", "month", "account_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    month: Mapped[dt.date] = mapped_column(Date)
    """The first day of the calendar month (periods are calendar months)."""
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    debit: Mapped[Decimal] = mapped_column(Amount())
    credit: Mapped[Decimal] = mapped_column(Amount())
    line_count: Mapped[int] = mapped_column(BigInteger())


class BalancesThrough(Base):
    """How far a company's ``period_balances`` reach: the last day of the last whole month on or before
    its lock date (see ``accounting/balances.py``). No row: no month is closed."""

    __tablename__ = "period_balances_through"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    through: Mapped[dt.date] = mapped_column(Date)


class JournalSequence(Base):
    """The next number of a journal in a year: posted entries are numbered without gaps, per journal
    and calendar year of their date (``POS/2026/000042``)."""

    __tablename__ = "journal_sequences"

    journal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journals.id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    next_number: Mapped[int] = mapped_column(default=1)


class JournalEntry(IdMixin, Base):
    """A balanced set of lines. ``draft`` may change; ``posted`` never does (reverse it instead)."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint("state IN ('draft', 'posted')", name="state"),
        UniqueConstraint("journal_id", "number"),
        Index("ix_journal_entries_company_date", "company_id", "date"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    journal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journals.id"))
    number: Mapped[str | None] = mapped_column(String(32))
    """``POS/2026/000042``, given when posted."""
    date: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(8), default="draft")
    reference: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    """The event that caused the entry (a manual entry's own ``JournalEntryRecorded``); an event is
    posted at most once."""
    rule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reversal_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    posted_by: Mapped[str | None] = mapped_column(String(128))
    posted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", order_by="JournalLine.sequence", cascade="all, delete-orphan", lazy="selectin"
    )


class JournalLine(IdMixin, Base):
    """One debit or credit.

    Fields:
      debit / credit: company currency, at most one non-zero, never negative.
      currency / amount_currency / rate: the transaction currency, the signed amount in it
        (debit positive) and the rate used (company currency per unit); for company-currency lines the
        currency is the company's and the rate 1.
      store_id, channel, product_category, location_id: dimensions, null where they do not apply.
      customer_id: the customer dimension, set on receivable lines only (docs/ledger.md#customers).
      tax_code / tax_base: set on tax lines and on the revenue or expense lines they are computed on,
        for the tax report.
      event_id: the event behind the line (the entry's, or a more specific one when aggregated).
    """

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint("debit >= 0 AND credit >= 0 AND NOT (debit > 0 AND credit > 0)", name="one_side"),
        Index("ix_journal_lines_report", "company_id", "state", "date", "account_id"),
        Index("ix_journal_lines_account_date", "account_id", "date"),
        Index("ix_journal_lines_entry", "entry_id"),
        Index("ix_journal_lines_customer", "company_id", "customer_id", "date"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(default=0)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    debit: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    credit: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    amount_currency: Mapped[Decimal] = mapped_column(Amount())
    rate: Mapped[Decimal] = mapped_column(Rate(), default=Decimal(1))
    label: Mapped[str] = mapped_column(String(300), default="")
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    channel: Mapped[str | None] = mapped_column(String(16))
    product_category: Mapped[str | None] = mapped_column(String(200))
    location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    tax_code: Mapped[str | None] = mapped_column(String(32))
    tax_base: Mapped[Decimal | None] = mapped_column(Amount())
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Copies of the entry's, for reports that read lines alone (see module docstring).
    journal_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    date: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(8), default="draft")

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")


class CustomerReceivableAccount(IdMixin, Base):
    """The receivable account of one customer or of a customer group, in place of the ``receivable``
    role's account (decision 0060). A customer's own row wins over its group's."""

    __tablename__ = "customer_receivable_accounts"
    __table_args__ = (
        CheckConstraint("(customer_id IS NULL) <> (customer_group IS NULL)", name="customer_or_group"),
        UniqueConstraint("company_id", "customer_id"),
        UniqueConstraint("company_id", "customer_group"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    customer_group: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LineMatch(IdMixin, Base):
    """Part (or all) of a debit line settled by part (or all) of a credit line on the same account."""

    __tablename__ = "line_matches"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    debit_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_lines.id"), index=True)
    credit_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_lines.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Amount())
    """Company currency."""
    reconciliation_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    """Groups the matches made together (one request)."""
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PostingRule(IdMixin, TimestampsMixin, Base):
    """Event type + conditions -> lines by account role. A change makes a new rule version effective
    from a date; the old one ends the day before. Entries already posted are never touched."""

    __tablename__ = "posting_rules"
    __table_args__ = (
        UniqueConstraint("company_id", "code", "valid_from"),
        Index("ix_posting_rules_company_event", "company_id", "event_type"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(64))
    """Stable name across versions (``pos-session-close``)."""
    name: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(64))
    journal_code: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(default=100)
    """Lower first; the first rule whose conditions match an event posts it."""
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(default=True)


class ExchangeRate(IdMixin, Base):
    """Company currency per one unit of ``currency`` on ``rate_date`` (used until the next rate)."""

    __tablename__ = "exchange_rates"
    __table_args__ = (UniqueConstraint("company_id", "currency", "rate_date"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    currency: Mapped[str] = mapped_column(String(3))
    rate_date: Mapped[dt.date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Rate())
    source: Mapped[str] = mapped_column(String(64), default="manual")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaxReturnBox(IdMixin, Base):
    """One box of a company's tax return: what it adds up, as data (decision 0041).

    ``terms`` is a list of ``{"measure": m, "tax_code": code or "*", "sign": "+" or "-"}`` where ``m`` is
    one of ``tax_collected``, ``tax_deductible``, ``base_collected``, ``base_deductible`` (the tax
    report's columns per tax code). A company with no rows uses the generic layout
    (``accounting.tax_return.DEFAULT_BOXES``); replacing the mapping replaces every row at once.
    """

    __tablename__ = "tax_return_boxes"
    __table_args__ = (UniqueConstraint("company_id", "box"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    box: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    terms: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerStamp(Base):
    """A token that changes whenever a company's ledger master data changes (decision 0064).

    Database triggers (migration 0049) give it a new value on every insert, update or delete of the
    company's ledger settings, fiscal years, journals, accounts and posting rules, whoever writes them
    (any API process, the CLI, a migration, a hand-made SQL fix). The value is never reused, even after
    a rollback (a PostgreSQL sequence; a 64-bit random number on SQLite), so a process that cached the
    master data under a token read inside a transaction that later rolled back cannot mistake that
    cache for the committed state. ``accounting.cache`` keeps each company's master data per process
    and reads this one row per posting to know whether it is still current.
    """

    __tablename__ = "ledger_stamps"

    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
