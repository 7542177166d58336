"""What callers ask of the payments context (requests) and what they get back (views)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Day, Text
from retailcore.masterdata.commands import CompanyScoped, CurrencyCode, StoreRef

AmountIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
PaidBy = Literal["cash", "card", "on_account"]


class IssueGiftCard(CompanyScoped):
    amount: AmountIn = Field(description="The card's first balance, rounded to the currency's minor unit.")
    currency: CurrencyCode | None = Field(None, description="Defaults to the company's currency.")
    origin: Literal["sold", "given"] = Field(
        "sold",
        description="`sold`: paid for (`paid_by`), a liability, no revenue and no tax (a multi-purpose"
        " voucher); `given`: a promotion or goodwill, booked as customer_goodwill expense.",
    )
    paid_by: PaidBy = Field("card", description="sold: the tender that paid for the card.")
    store_id: StoreRef | None = Field(None, description="Code or id of the store that sold it (a dimension).")
    customer_id: uuid.UUID | None = Field(None, description="The customer it was sold or given to, if known.")
    expires_on: Day | None = Field(
        None, description="Last day of use; defaults to the company's policy (issue day + months to expiry)."
    )
    note: Text | None = Field(None, max_length=100, description="A reference kept on the issue movement.")


class ReloadGiftCard(CompanyScoped):
    amount: AmountIn
    paid_by: PaidBy = "card"
    store_id: StoreRef | None = None


class IssueStoreCredit(CompanyScoped):
    customer_id: uuid.UUID
    amount: AmountIn
    reason: Text = Field(max_length=100, description="Why the credit is given; kept as the reference.")


class SetGiftCardPolicy(CompanyScoped):
    months_to_expiry: int | None = Field(
        ..., ge=1, le=1200, description="Months from issue to expiry for new cards; null: never expire."
    )
    breakage: Literal["at_expiry", "never"] = "at_expiry"


class GiftCardView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    last4: str
    currency: str
    balance: DecimalStr
    state: str
    origin: str
    expires_on: dt.date | None
    customer_id: uuid.UUID | None
    created_at: dt.datetime


class IssuedGiftCardView(GiftCardView):
    code: str | None = Field(
        description="The card's code, shown once (only its hash is stored); null on an idempotent replay."
    )


class GiftCardMovementView(BaseModel):
    id: uuid.UUID
    kind: str
    amount: DecimalStr
    balance_after: DecimalStr
    reference: str
    created_at: dt.datetime


class GiftCardDetail(GiftCardView):
    movements: list[GiftCardMovementView]


class StoreCreditBalanceView(BaseModel):
    customer_id: uuid.UUID
    customer_code: str
    currency: str
    balance: DecimalStr


class StoreCreditMovementView(BaseModel):
    id: uuid.UUID
    kind: str
    source: str
    amount: DecimalStr
    balance_after: DecimalStr
    reference: str
    created_at: dt.datetime


class StoreCreditStatement(StoreCreditBalanceView):
    movements: list[StoreCreditMovementView] = Field(
        description="Oldest first; `balance_after` is the running balance."
    )


class GiftCardPolicyView(BaseModel):
    company_id: uuid.UUID
    months_to_expiry: int | None
    breakage: str


class ExpiredGiftCard(BaseModel):
    id: uuid.UUID
    last4: str
    currency: str
    breakage: DecimalStr
