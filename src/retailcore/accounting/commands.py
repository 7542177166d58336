"""Requests to the ledger: manual entries, reversals, posting rule versions, lock date, postable events."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from retailcore.accounting.posting.engine import RuleLine
from retailcore.core.inputs import Day, Instant, JsonObject, Text, text
from retailcore.masterdata.commands import COMPANY_DEFAULT, Code, CompanyRef, CurrencyCode, StoreRef

LedgerAmount = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
ExchangeRateValue = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=8, allow_inf_nan=False)]
Label = text(strip_whitespace=True, max_length=300)
EventType = text(strip_whitespace=True, pattern=r"^[A-Z][A-Za-z]{1,63}$")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ManualLine(Request):
    """One line of a manual entry. Amounts are in ``currency`` (default: the company's)."""

    account_id: uuid.UUID | None = None
    account_code: Text | None = Field(default=None, description="Alternative to account_id.")
    debit: LedgerAmount = Decimal(0)
    credit: LedgerAmount = Decimal(0)
    currency: CurrencyCode | None = None
    rate: ExchangeRateValue | None = Field(
        default=None, description="Defaults to the rate of the entry's date."
    )
    label: Label = ""
    store_id: StoreRef | None = Field(default=None, description="Store code or id.")
    channel: Literal["pos", "web", "marketplace", "b2b"] | None = None
    product_category: text(max_length=200) | None = None
    location_id: uuid.UUID | None = None
    tax_code: text(max_length=32) | None = None
    tax_base: Annotated[Decimal, Field(max_digits=19, decimal_places=4)] | None = None

    @model_validator(mode="after")
    def _one_side_one_account(self) -> ManualLine:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError("a line has either a debit or a credit, greater than zero")
        if (self.account_id is None) == (self.account_code is None):
            raise ValueError("a line names its account by account_id or account_code, not both")
        return self


class CreateJournalEntry(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    journal_code: Code = "MISC"
    date: Day
    reference: text(strip_whitespace=True, min_length=1, max_length=200)
    lines: Annotated[list[ManualLine], Field(min_length=2, max_length=500)]
    post: bool = Field(
        default=True, description="Post at once; false keeps a draft to review and post later."
    )


class ReverseJournalEntry(Request):
    date: Day | None = Field(default=None, description="Defaults to the original entry's date.")
    reference: text(max_length=200) | None = None


class MoveLockDate(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    lock_date: Day | None = Field(description="Nothing may be posted on or before it; null unlocks all.")


class CreateFiscalYear(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    start_date: Day


def _valid_rule_lines(lines: list[JsonObject]) -> list[JsonObject]:
    from retailcore.masterdata.chart import AccountRole

    roles = {role.value for role in AccountRole}
    for index, line in enumerate(lines):
        try:
            parsed = RuleLine.from_dict(line)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"line {index}: {exc}") from None
        role = parsed.account_role
        if role is not None and not role.startswith("$") and role not in roles:
            raise ValueError(f"line {index}: unknown account role '{parsed.account_role}'")
        unknown = set(line) - {
            "side",
            "amount",
            "account_role",
            "account_code",
            "for_each",
            "where",
            "label",
            "optional",
        }
        if unknown:
            raise ValueError(f"line {index}: unknown keys {sorted(unknown)}")
    return lines


RuleLines = Annotated[
    list[JsonObject], Field(min_length=1, max_length=100), AfterValidator(_valid_rule_lines)
]


class CreatePostingRule(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    code: text(strip_whitespace=True, pattern=r"^[a-z0-9-]{1,64}$")
    name: text(strip_whitespace=True, min_length=1, max_length=200)
    event_type: EventType
    journal_code: Code
    priority: int = Field(default=100, ge=0, le=10_000)
    conditions: JsonObject = Field(default_factory=dict)
    lines: RuleLines
    valid_from: Day


class ChangePostingRule(Request):
    """A new version of a rule, in force from ``valid_from``; fields not sent are kept."""

    valid_from: Day
    name: text(strip_whitespace=True, min_length=1, max_length=200) | None = None
    journal_code: Code | None = None
    priority: int | None = Field(default=None, ge=0, le=10_000)
    conditions: JsonObject | None = None
    lines: RuleLines | None = None
    active: bool | None = None


class RecordLedgerEvent(Request):
    """A postable commercial event from an external system (a POS, a web shop, a settlement file)."""

    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)
    type: EventType
    aggregate_id: uuid.UUID | None = Field(
        default=None, description="What the event is about; generated if absent."
    )
    store_id: StoreRef | None = Field(default=None, description="Store code or id.")
    occurred_at: Instant | None = Field(default=None, description="With a time zone offset.")
    payload: JsonObject
