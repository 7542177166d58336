"""What callers ask of coupons (requests) and what they get back (views).

A coupon names its promotion by the promotion's ``code`` or id (``promotion``). Codes are typed as
printed: case, spaces and dashes do not matter (``xmas-7kq2`` is ``XMAS7KQ2``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Instant, text
from retailcore.masterdata.commands import CompanyScoped

MAX_BATCH = 10_000
"""The most codes one ``POST /coupons/generate`` makes."""

PromotionRef = Annotated[text(min_length=1, max_length=36), Field(description="The promotion's code or id.")]
CouponCode = text(min_length=3, max_length=64)
Prefix = text(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")
AmountIn = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]


class _Limits(CompanyScoped):
    promotion: PromotionRef
    max_uses_per_customer: int | None = Field(
        None, ge=1, le=1_000_000, description="Uses per customer; null: unlimited."
    )
    valid_from: Instant | None = Field(None, description="First instant of use (inclusive); null: now.")
    valid_to: Instant | None = Field(None, description="End of use (exclusive); null: never ends.")

    @model_validator(mode="after")
    def _window(self) -> _Limits:
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise ValueError("valid_to must be after valid_from")
        return self


class CreateCoupon(_Limits):
    """One code for a promotion: single-use (``max_uses`` 1) or multi-use."""

    code: CouponCode | None = Field(  # type: ignore[valid-type]
        None,
        description="The code to print (letters and digits; spaces and dashes are dropped). Null: one is"
        " drawn at random.",
    )
    max_uses: int | None = Field(1, ge=1, le=100_000_000, description="Uses in total; null: unlimited.")


class GenerateCoupons(_Limits):
    """A batch of single-use (by default) random codes."""

    count: int = Field(ge=1, le=MAX_BATCH)
    prefix: Prefix | None = Field(None, description="Letters and digits put before every code.")  # type: ignore[valid-type]
    max_uses: int | None = Field(1, ge=1, le=100_000_000, description="Uses of each code; null: unlimited.")
    batch: text(min_length=1, max_length=64) | None = Field(  # type: ignore[valid-type]
        None, description="A name for the batch (default: a new id); codes are listed by it."
    )


class RedeemCoupon(CompanyScoped):
    """A redemption made outside our channels (a web shop that applied the code itself)."""

    order_id: uuid.UUID = Field(description="The order the coupon was used on: one redemption per order.")
    customer_id: uuid.UUID | None = None
    amount: AmountIn = Field(description="What the coupon took off the order.")


class CouponView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    promotion_id: uuid.UUID
    promotion_code: str
    batch: str | None
    max_uses: int | None
    max_uses_per_customer: int | None
    uses: int
    uses_left: int | None = Field(description="Null: unlimited.")
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    active: bool
    valid_now: bool = Field(
        description="Active, within its window, not used up, and its promotion approved or active."
    )
    created_at: dt.datetime


class GeneratedCoupons(BaseModel):
    batch: str
    promotion_id: uuid.UUID
    count: int
    codes: list[str] = Field(description="Every code of the batch, in the order drawn.")


class RedemptionView(BaseModel):
    id: uuid.UUID
    coupon_id: uuid.UUID
    code: str
    order_id: uuid.UUID
    customer_id: uuid.UUID | None
    amount: DecimalStr
    redeemed_at: dt.datetime
    redeemed_by: str


class DeactivateCoupon(CompanyScoped):
    reason: text(min_length=1, max_length=200)  # type: ignore[valid-type]
