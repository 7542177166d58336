"""Read models of master data, as the API returns them. Amounts are serialised as strings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from retailcore.core.decimals import DecimalStr
from retailcore.masterdata import tables as t


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class CompanyView(View):
    code: str
    name: str
    currency: str
    country: str
    tax_jurisdiction: str
    chart_template: str | None
    pos_approval_threshold: DecimalStr
    sale_clock_past_days: int
    sale_clock_future_days: int
    sale_clock_policy: str
    unpaid_order_hold_minutes: int | None


class StoreView(View):
    company_id: uuid.UUID
    code: str
    name: str
    kind: str
    timezone: str
    tax_jurisdiction: str | None
    active: bool


class LocationView(View):
    company_id: uuid.UUID
    store_id: uuid.UUID | None
    code: str
    name: str
    kind: str
    active: bool


class ProductView(View):
    company_id: uuid.UUID
    sku: str
    name: str
    description: str | None
    category: str
    unit_of_measure: str
    tax_category: str
    cost_method: str
    list_price: DecimalStr
    standard_cost: DecimalStr
    barcodes: list[str]
    channels: list[str]
    active: bool

    @classmethod
    def of(cls, product: t.Product) -> ProductView:
        return cls.model_validate(
            {
                **{
                    name: getattr(product, name)
                    for name in cls.model_fields
                    if name not in ("barcodes", "channels")
                },
                "barcodes": [b.barcode for b in product.barcodes],
                "channels": product_channels(product),
            }
        )


def product_channels(product: t.Product) -> list[str]:
    flags = {
        "pos": product.available_pos,
        "web": product.available_web,
        "marketplace": product.available_marketplace,
    }
    return [channel for channel, available in flags.items() if available]


class CustomerView(View):
    company_id: uuid.UUID
    code: str
    name: str
    email: str | None
    phone: str | None
    credit_limit: DecimalStr
    customer_group: str | None = None
    active: bool


class PaymentMethodView(View):
    company_id: uuid.UUID
    code: str
    name: str
    kind: str
    gateway: str | None
    active: bool
    split_receivable_per_customer: bool = False


class TaxView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    kind: str = "percent"
    rate_percent: DecimalStr
    amount: DecimalStr | None = None
    price_included: bool
    affects_base: bool = False
    rounding: str


class TaxLineView(TaxView):
    children: list[TaxView] = Field(default_factory=list, description="A group's taxes, in order.")


class TaxRuleView(View):
    company_id: uuid.UUID
    jurisdiction: str
    tax_category: str
    taxes: list[TaxLineView] = Field(description="Empty for a zero-rated (or exempt) rule.")

    @field_validator("taxes", mode="before")
    @classmethod
    def _groups_hold_their_children(cls, value: Any) -> Any:
        rows = list(value)
        if not rows or not isinstance(rows[0], t.Tax):
            return value
        children: dict[str, list[t.Tax]] = {}
        for row in rows:
            if row.parent_code is not None:
                children.setdefault(row.parent_code, []).append(row)
        return [
            {
                **TaxView.model_validate(row).model_dump(),
                "children": [
                    TaxView.model_validate(c)
                    for c in sorted(children.get(row.code, []), key=lambda c: c.sequence)
                ],
            }
            for row in sorted(rows, key=lambda r: r.sequence)
            if row.parent_code is None
        ]


class AccountView(View):
    company_id: uuid.UUID
    code: str
    name: str
    type: str
    role: str | None
    reconcilable: bool
    currency: str | None
    active: bool
