"""What callers ask of the banking context (requests) and what they get back (views)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Day, JsonObject, Text, text
from retailcore.masterdata.commands import CompanyScoped, CurrencyCode, StoreRef

BankCode = text(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{1,32}$")
Iban = text(strip_whitespace=True, pattern=r"^[A-Za-z0-9 ]{5,64}$")
BankRef = text(strip_whitespace=True, pattern=r"^[A-Za-z0-9 _.-]{1,64}$")
AccountRef = Annotated[Text, Field(min_length=1, max_length=64)]
Tolerance = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Money = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
ForeignRate = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=8, allow_inf_nan=False)]


class CreateBankAccount(CompanyScoped):
    code: BankCode = Field(description="A short name (`MAIN`).")  # type: ignore[valid-type]
    name: Text | None = Field(None, max_length=200)
    iban: Iban = Field(description="The IBAN (or the bank's account id) as statements name it.")  # type: ignore[valid-type]
    currency: CurrencyCode | None = Field(None, description="Default: the company's.")
    account: AccountRef | None = Field(None, description="Ledger account code or id; default role bank.")
    amount_tolerance: Tolerance = Field(Decimal("0.00"), description="Matching: largest amount difference.")
    date_window_days: int = Field(5, ge=0, le=90, description="Matching: days between the dates, at most.")


class UpdateBankAccount(CompanyScoped):
    name: Text | None = Field(None, max_length=200)
    account: AccountRef | None = None
    amount_tolerance: Tolerance | None = None
    date_window_days: int | None = Field(None, ge=0, le=90)
    active: bool | None = None


class BankAccountView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    name: str
    iban: str
    currency: str
    account: str
    amount_tolerance: DecimalStr
    date_window_days: int
    active: bool


class ImportStatement(CompanyScoped):
    filename: Text = Field("statement.xml", max_length=255)
    format: Literal["camt053", "csv"] = "camt053"
    content: text(max_length=64_000_000) = Field(description="The file's text (CAMT.053 XML or CSV).")  # type: ignore[valid-type]
    account: BankRef | None = Field(  # type: ignore[valid-type]
        None, description="The bank account's IBAN or code: required for CSV, checked against CAMT.053."
    )
    mapping: JsonObject | None = Field(None, description="For CSV: the column mapping (docs/payments.md).")


class StatementResult(BaseModel):
    file_id: uuid.UUID
    filename: str
    replayed: bool = Field(description="True: this exact file was imported before; nothing was written.")
    statements: int
    entries_read: int
    entries_new: int
    matched: int
    unmatched: int
    entries: list[uuid.UUID] = Field(description="Journal entries the matches posted.")


class StatementView(BaseModel):
    id: uuid.UUID
    file_id: uuid.UUID
    bank_account: str
    reference: str
    currency: str
    opening: DecimalStr | None
    closing: DecimalStr | None
    opening_on: dt.date | None
    closing_on: dt.date | None
    entries: int


class EntryView(BaseModel):
    id: uuid.UUID
    bank_account: str
    statement_id: uuid.UUID
    line: int
    entry_key: str
    amount: DecimalStr
    currency: str
    booked_on: dt.date
    value_on: dt.date | None
    reference: str | None
    end_to_end_id: str | None
    remittance: str
    counterparty: str | None
    state: str
    match_kind: str | None
    matched_id: uuid.UUID | None
    matched_ref: str | None = Field(None, description="The payout batch, deposit slip or bill number.")
    expected: DecimalStr | None
    entry_id: uuid.UUID | None
    note: str
    matched_at: dt.datetime | None
    matched_by: str | None


class MatchEntry(CompanyScoped):
    kind: Literal["payout", "cash_deposit", "supplier_payment", "account"] = Field(
        description="What the entry is: a payout batch, a cash deposit, a vendor bill, or a ledger account."
    )
    target_id: uuid.UUID | None = Field(
        None, description="The settlement batch, cash deposit or vendor bill (not for `account`)."
    )
    account: AccountRef | None = Field(None, description="For `account`: the ledger account's code or id.")
    note: Text = Field(min_length=1, max_length=1000, description="Why, for the audit trail.")


class ResolveEntry(CompanyScoped):
    note: Text = Field(
        min_length=1, max_length=1000, description="Why nothing is posted, for the audit trail."
    )


class RecordCashDeposit(CompanyScoped):
    store_id: StoreRef = Field(description="The store whose safe the cash came from.")
    bank_account: text(min_length=1, max_length=64) | None = Field(  # type: ignore[valid-type]
        None, description="The bank account's code or IBAN; default: the company's only bank account."
    )
    reference: Annotated[Text, Field(min_length=1, max_length=64)] = Field(description="The slip's number.")
    amount: Money = Field(description="In `currency`: the cash as counted into the bag.")
    deposited_on: Day
    currency: CurrencyCode | None = Field(
        None,
        description="The cash's currency when it is not the bank account's (a foreign-currency till's"
        " takings, decision 0062): the bank credits it converted, and the difference to what it was"
        " booked at is posted as a realized exchange gain or loss. Default: the bank account's.",
    )
    rate: ForeignRate | None = Field(
        None,
        description="Company currency per unit: the rate the foreign cash was booked at. Default: the"
        " rate of the store's last closed POS session in `currency`.",
    )


class CashDepositView(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    bank_account: str
    reference: str
    amount: DecimalStr
    currency: str
    rate: DecimalStr | None = Field(
        None, description="The rate foreign cash was booked at; null: in the bank account's currency."
    )
    deposited_on: dt.date
    state: str
    bank_entry_id: uuid.UUID | None


class ReconciliationItem(BaseModel):
    kind: str = Field(description="`in_bank_not_in_books` or `in_books_not_in_bank`.")
    what: str
    date: dt.date | None
    amount: DecimalStr
    id: uuid.UUID


class Reconciliation(BaseModel):
    bank_account: str
    as_of: dt.date | None = Field(description="The latest statement's closing date (or the date asked).")
    statement_balance: DecimalStr | None
    ledger_balance: DecimalStr
    difference: DecimalStr = Field(description="Statement minus ledger.")
    explained: DecimalStr = Field(description="What the open items account for.")
    unexplained: DecimalStr
    reconciled: bool = Field(description="Statement = ledger and no open item.")
    items: list[ReconciliationItem]
