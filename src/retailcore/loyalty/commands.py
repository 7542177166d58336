"""What callers ask of the loyalty context (requests) and what they get back (views)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from retailcore.core.decimals import DecimalStr
from retailcore.masterdata.commands import CompanyScoped

PointValue = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
EarnRate = Annotated[Decimal, Field(ge=0, le=1000, max_digits=19, decimal_places=8, allow_inf_nan=False)]


class SetProgramme(CompanyScoped):
    points_per_unit: EarnRate = Field(
        description="Points earned per unit of currency paid (1: a point per euro)."
    )
    rounding: Literal["down", "half_up", "up"] = Field("down", description="Earned points are whole.")
    point_value: PointValue = Field(
        description="What a point is worth when burned, in the company's currency; the liability is valued at"
        " it (a change revalues the points outstanding: `LoyaltyLiabilityRevalued`)."
    )
    active: bool = Field(True, description="false: no points are earned or burned.")


class OpenAccount(CompanyScoped):
    customer_id: uuid.UUID


class EarnForOrder(CompanyScoped):
    order_id: uuid.UUID


class ProgrammeView(BaseModel):
    company_id: uuid.UUID
    currency: str
    points_per_unit: DecimalStr
    rounding: str
    point_value: DecimalStr
    active: bool
    points_outstanding: int
    liability: DecimalStr = Field(
        description="points_outstanding x point_value: the loyalty_liability it books."
    )


class MovementView(BaseModel):
    id: uuid.UUID
    kind: str
    points: int
    balance_after: int
    value: DecimalStr
    order_id: uuid.UUID | None
    reference: str
    created_at: dt.datetime


class AccountView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    customer_id: uuid.UUID
    balance: int = Field(description="Points outstanding.")
    value: DecimalStr = Field(description="balance x the programme's point value.")
    created_at: dt.datetime


class AccountDetail(AccountView):
    movements: list[MovementView]
    next_cursor: uuid.UUID | None = Field(description="More movements: pass it as `cursor`.")


class Earned(BaseModel):
    account_id: uuid.UUID
    order_id: uuid.UUID
    points: int
    value: DecimalStr
    balance: int
