"""The company's bank accounts, the statements their bank sends, the statements' entries, and the cash
deposits stores record before the bank confirms them.

A file is stored once per content hash, an entry once per bank account and key (the bank's
``AcctSvcrRef``, else a composite of date, amount, direction, references and its rank among identical
entries of the statement): importing a file or an entry again writes nothing. An entry changes only
when it is matched or resolved (``state``, ``match_kind``, ``matched_id``, ``entry_id``...).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, TimestampsMixin, UTCDateTime, utcnow

FORMATS = ("camt053", "csv")
ENTRY_STATES = ("unmatched", "matched", "resolved")
MATCH_KINDS = ("payout", "cash_deposit", "supplier_payment", "account")
DEPOSIT_STATES = ("pending", "banked")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class BankAccount(IdMixin, TimestampsMixin, Base):
    """A bank account of the company.

    iban
        The account's IBAN (spaces removed, upper case): how a CAMT.053 statement names it. For an
        account without an IBAN, any unique identifier the bank uses (``Acct/Id/Othr/Id``).
    currency
        The account's currency; every entry of its statements must be in it.
    account_id
        The ledger account whose balance the statement reconciles to. A gateway whose ``bank_account``
        is this ledger account pays out into this bank account.
    amount_tolerance, date_window_days
        Matching: an entry matches a payout, deposit or bill payment whose amount differs by at most
        ``amount_tolerance`` and whose date is at most ``date_window_days`` before (or after) it.
    """

    __tablename__ = "bank_accounts"
    __table_args__ = (UniqueConstraint("company_id", "iban"), UniqueConstraint("company_id", "code"))

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    iban: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    amount_tolerance: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    date_window_days: Mapped[int] = mapped_column(default=5)
    active: Mapped[bool] = mapped_column(default=True)


class BankStatementFile(IdMixin, Base):
    """One imported file, once per content hash and company."""

    __tablename__ = "bank_statement_files"
    __table_args__ = (
        UniqueConstraint("company_id", "content_sha256"),
        CheckConstraint(_one_of("format", FORMATS), name="format"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    content_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(128))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the import did: a replay answers it again."""


class BankStatement(IdMixin, Base):
    """One statement of a file (a CAMT.053 ``Stmt``; a CSV file is one), for one bank account.

    opening, closing
        The booked balances the bank states (``OPBD``, ``CLBD``), signed (credit positive); null when the
        file states none (a CSV without a balance column).
    closing_on
        The date of the closing balance: the statement's "as of".
    """

    __tablename__ = "bank_statements"
    __table_args__ = (Index("ix_bank_statements_account", "bank_account_id", "closing_on"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_statement_files.id"))
    bank_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_accounts.id"))
    reference: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    opening: Mapped[Decimal | None] = mapped_column(Amount())
    closing: Mapped[Decimal | None] = mapped_column(Amount())
    opening_on: Mapped[dt.date | None] = mapped_column(Date)
    closing_on: Mapped[dt.date | None] = mapped_column(Date)
    entries: Mapped[int]


class BankEntry(IdMixin, Base):
    """One booked entry of a statement, signed (credit, money in: positive).

    entry_key
        ``AcctSvcrRef`` (the bank's own reference), else a composite key (see the module).
    line
        Where the file has it: the CAMT.053 line of its ``Ntry`` element, the CSV's line number.
    reference, end_to_end_id, remittance, counterparty, counterparty_iban
        What matching reads: ``AcctSvcrRef``, ``EndToEndId``, ``RmtInf/Ustrd`` (and ``AddtlNtryInf``),
        the related party's name and account.
    state, match_kind, matched_id
        ``unmatched`` until matched (``payout``: a settlement batch; ``cash_deposit``: a cash deposit;
        ``supplier_payment``: a vendor bill; ``account``: a person chose the ledger account) or resolved
        by a person without posting.
    expected, entry_id
        What the matched item expected (the batch's net, the deposit, the bill), and the journal entry
        the match posted (null when it only confirmed what was posted before).
    """

    __tablename__ = "bank_entries"
    __table_args__ = (
        UniqueConstraint("company_id", "bank_account_id", "entry_key"),
        CheckConstraint(_one_of("state", ENTRY_STATES), name="state"),
        Index("ix_bank_entries_statement", "statement_id"),
        Index("ix_bank_entries_account_state", "bank_account_id", "state"),
        Index("ix_bank_entries_matched", "match_kind", "matched_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    bank_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_accounts.id"))
    statement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_statements.id"))
    line: Mapped[int]
    entry_key: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    booked_on: Mapped[dt.date] = mapped_column(Date)
    value_on: Mapped[dt.date | None] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    end_to_end_id: Mapped[str | None] = mapped_column(String(200))
    remittance: Mapped[str] = mapped_column(String(1000), default="")
    counterparty: Mapped[str | None] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="unmatched")
    match_kind: Mapped[str | None] = mapped_column(String(32))
    matched_id: Mapped[uuid.UUID | None]
    expected: Mapped[Decimal | None] = mapped_column(Amount())
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"))
    note: Mapped[str] = mapped_column(String(1000), default="")
    matched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    matched_by: Mapped[str | None] = mapped_column(String(128))


class CashDeposit(IdMixin, Base):
    """Cash a store took from its safe to the bank (the bag, the slip), waiting for the bank's credit.

    Recording it posts nothing: the cash is in the safe account (``cash_in_transit``, where the POS close
    handed it) until the bank statement's credit is matched, which posts safe to bank.
    """

    __tablename__ = "cash_deposits"
    __table_args__ = (
        UniqueConstraint("company_id", "store_id", "reference"),
        CheckConstraint(_one_of("state", DEPOSIT_STATES), name="state"),
        Index("ix_cash_deposits_company_state", "company_id", "state"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"))
    bank_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_accounts.id"))
    reference: Mapped[str] = mapped_column(String(64))
    """The deposit slip's number: what the bank usually repeats on the statement."""
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    """The rate foreign cash (``currency`` not the bank account's) was booked at; null otherwise. The
    bank's credit posts the realized exchange difference against it (decision 0062)."""
    deposited_on: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    bank_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bank_entries.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
