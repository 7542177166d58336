"""Requests and views of company groups and intercompany flows (decision 0040)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Day, text
from retailcore.masterdata.commands import Code, CompanyRef, Name

Reference = text(strip_whitespace=True, min_length=1, max_length=64)
LocationRef = text(strip_whitespace=True, min_length=1, max_length=64)
Sku = text(strip_whitespace=True, min_length=1, max_length=64)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateGroup(Request):
    code: Code
    name: Name
    parent_company_id: CompanyRef = Field(
        description="The parent: its currency is the group currency and its exchange rates translate."
    )


class AddMember(Request):
    company_id: CompanyRef


class FlowLine(Request):
    sku: Sku = Field(description="The product's SKU, the same in both companies' catalogues.")
    quantity: Decimal = Field(gt=0, allow_inf_nan=False)
    unit_price: Decimal = Field(
        ge=0, allow_inf_nan=False, description="Transfer price per unit, in the seller's currency."
    )


class IntercompanyFlow(Request):
    reference: Reference = Field(description="Unique per seller; a replay with it posts nothing.")
    date: Day
    seller_company_id: CompanyRef = Field(description="Company A: whose goods they are.")
    buyer_company_id: CompanyRef = Field(description="Company B: who sells them on, or receives them.")
    from_location: LocationRef = Field(description="The seller's location the goods leave (code or id).")
    lines: list[FlowLine] = Field(min_length=1, max_length=500)


class IntercompanySale(IntercompanyFlow):
    """Company A's goods sold by company B to B's customer (ship-from-store across entities)."""

    customer_net: Decimal = Field(
        ge=0, allow_inf_nan=False, description="B's sale to its customer, net of tax, B's currency."
    )
    customer_tax: Decimal = Field(Decimal(0), ge=0, allow_inf_nan=False, description="Its tax.")


class IntercompanyTransfer(IntercompanyFlow):
    """Company A's goods moved into a location of company B at the transfer price."""

    to_location: LocationRef = Field(description="The buyer's location the goods enter (code or id).")


class GroupView(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    currency: str
    parent_company_id: uuid.UUID
    members: list[uuid.UUID]


class DocumentView(BaseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    kind: str
    reference: str
    date: dt.date
    seller_company_id: uuid.UUID
    buyer_company_id: uuid.UUID
    currency: str
    amount: DecimalStr
    cost: DecimalStr
    buyer_currency: str
    buyer_amount: DecimalStr
    rate: DecimalStr
    seller_event_id: uuid.UUID
    buyer_event_id: uuid.UUID
    replayed: bool = False
