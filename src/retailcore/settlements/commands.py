"""What callers ask of the settlements context (requests) and what they get back (views)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import JsonObject, Text, text
from retailcore.masterdata.commands import CompanyScoped, CurrencyCode

GatewayCode = text(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9_.-]{1,64}$")
AccountRef = Annotated[Text, Field(min_length=1, max_length=64)]
RateIn = Annotated[Decimal, Field(ge=0, le=1, max_digits=19, decimal_places=4, allow_inf_nan=False)]
FixedIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Format = Literal["stripe", "adyen", "csv"]
ACCOUNT = "Account code or id; default: the company's account with role {role}."


class CreateGateway(CompanyScoped):
    code: GatewayCode = Field(description="What card payments name as their gateway (`stripe`).")  # type: ignore[valid-type]
    name: Text | None = Field(None, max_length=200)
    format: Format = Field(description="How its settlement files are read.")
    currency: CurrencyCode | None = Field(None, description="Settlement currency; default the company's.")
    clearing_account: AccountRef | None = Field(None, description=ACCOUNT.format(role="card_clearing"))
    fee_account: AccountRef | None = Field(None, description=ACCOUNT.format(role="gateway_fees"))
    chargeback_account: AccountRef | None = Field(None, description=ACCOUNT.format(role="dispute_receivable"))
    transit_account: AccountRef | None = Field(None, description=ACCOUNT.format(role="cash_in_transit"))
    bank_account: AccountRef | None = Field(None, description=ACCOUNT.format(role="bank"))
    fee_rate: RateIn | None = Field(None, description="Contract fee per charge: gross x rate + fixed.")
    fee_fixed: FixedIn | None = None


class UpdateGateway(CompanyScoped):
    name: Text | None = Field(None, max_length=200)
    format: Format | None = None
    currency: CurrencyCode | None = None
    clearing_account: AccountRef | None = None
    fee_account: AccountRef | None = None
    chargeback_account: AccountRef | None = None
    transit_account: AccountRef | None = None
    bank_account: AccountRef | None = None
    fee_rate: RateIn | None = None
    fee_fixed: FixedIn | None = None
    active: bool | None = None


class GatewayView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    name: str
    format: str
    currency: str
    clearing_account: str
    fee_account: str
    chargeback_account: str
    transit_account: str
    bank_account: str
    fee_rate: DecimalStr | None
    fee_fixed: DecimalStr | None
    active: bool


class ImportSettlement(CompanyScoped):
    gateway: GatewayCode = Field(
        description="The gateway's code; `stripe` and `adyen` are created on first use."
    )  # type: ignore[valid-type]
    filename: Text = Field("upload.csv", max_length=255)
    content: text(max_length=64_000_000) = Field(description="The file's text (CSV), as the gateway sent it.")  # type: ignore[valid-type]
    mapping: JsonObject | None = Field(
        None, description="For a `csv` gateway: the column mapping (docs/payments.md)."
    )


class ImportResult(BaseModel):
    file_id: uuid.UUID
    gateway: str
    filename: str
    replayed: bool = Field(description="True: this exact file was imported before; nothing was written.")
    lines_read: int
    lines_new: int
    matched: int
    mismatches: int
    batches: list[str]
    entries: list[uuid.UUID]


class BatchView(BaseModel):
    id: uuid.UUID
    gateway: str
    reference: str
    currency: str
    lines: int
    gross: DecimalStr
    fees: DecimalStr
    net: DecimalStr
    payout: DecimalStr | None
    paid_on: dt.date | None


class LineView(BaseModel):
    id: uuid.UUID
    batch: str | None
    line_number: int
    line_key: str
    kind: str
    gateway_type: str
    occurred_on: dt.date
    currency: str
    gross: DecimalStr
    fee: DecimalStr
    net: DecimalStr
    reference: str | None
    order_ref: str | None
    payment_id: uuid.UUID | None
    order_id: uuid.UUID | None
    order_number: str | None
    match: str | None


class MismatchView(BaseModel):
    id: uuid.UUID
    gateway: str
    line_id: uuid.UUID
    line_key: str
    kind: str
    amount_at_risk: DecimalStr
    currency: str
    since: dt.date
    age_days: int
    suggestion: str
    details: dict[str, Any]
    state: str
    note: str
    resolved_at: dt.datetime | None
    resolved_by: str | None
    entry_id: uuid.UUID | None


class ResolveMismatch(CompanyScoped):
    note: Text = Field(min_length=1, max_length=1000, description="Why, for the audit trail.")
    adjustment: Literal["none", "write_off", "dispute_lost", "exchange_difference"] = Field(
        "none",
        description=(
            "What to post: `none`; `write_off` (the amount at risk between the clearing account and the"
            " gateway's fee account); `dispute_lost` (a chargeback's disputed amount from the gateway's"
            " chargeback account to chargebacks, the loss); `exchange_difference` (clearing against"
            " fx_realized_gain or fx_realized_loss)."
        ),
    )
