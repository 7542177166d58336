"""Requests of the promotions context: promotions and their governance, margin floors, governed price
changes and price quotes; and the views answered.

Shapes only (types, ranges, units); what needs the database (known products, categories and stores)
and what depends on the kind (which parameters a ``buy_x_get_y`` needs) is checked by
:mod:`retailcore.promotions.services`, each refusal naming its field (:func:`kind_problems`).

Times: ``starts_at`` and ``ends_at`` are **local wall-clock** times without an offset
(``2026-12-24T00:00``), read in each store's time zone (see :mod:`retailcore.promotions.model`); a price
change's ``effective_at`` is a moment (with its offset), since a price list has no zone of its own.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem
from retailcore.core.inputs import FIRST_DAY, LAST_DAY, Instant, text
from retailcore.masterdata.commands import (
    Code,
    CompanyScoped,
    CurrencyCode,
    CustomerGroup,
    Name,
    Request,
    StoreRef,
)
from retailcore.pricing.price_lists import Items
from retailcore.promotions.model import PROMOTION_KINDS, PromotionKind, Scope, Stacking

Channel = Literal["pos", "web", "marketplace", "b2b"]
CHANNELS: tuple[str, ...] = ("pos", "web", "marketplace", "b2b")

Amount = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
"""A positive amount of money, up to 4 decimals."""
NonNegativeAmount = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
PercentOff = Annotated[Decimal, Field(gt=0, le=100, max_digits=19, decimal_places=4, allow_inf_nan=False)]
"""A percentage off: above 0, at most 100."""
QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Category = text(strip_whitespace=True, min_length=1, max_length=200)
Reason = text(strip_whitespace=True, min_length=1, max_length=2000)
FloorFraction = Annotated[Decimal, Field(gt=-1, le=100, max_digits=19, decimal_places=6, allow_inf_nan=False)]
"""A margin floor as a fraction of cost: 0.10 keeps the net price 10 % above cost; above -1."""

_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?")
LOCAL_FORM = (
    "a local date and time without an offset (YYYY-MM-DDTHH:MM[:SS]), "
    f"from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
)


def _local_form(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _LOCAL.fullmatch(value):
        return value
    raise PydanticCustomError("local_datetime_form", "Input should be " + LOCAL_FORM)


def _local_range(value: dt.datetime) -> dt.datetime:
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise PydanticCustomError("local_datetime_range", "Input should be " + LOCAL_FORM)
    return value


LocalDateTime = Annotated[dt.datetime, BeforeValidator(_local_form), AfterValidator(_local_range)]
"""A wall-clock time where the sale happens, naive on purpose: read in each store's time zone."""


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("each value may appear only once")
    return values


def _time(value: Any) -> Any:
    if isinstance(value, dt.time) or (
        isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", value)
    ):
        return value
    raise PydanticCustomError("time_form", "Input should be a time of day, HH:MM")


TimeOfDay = Annotated[dt.time, BeforeValidator(_time)]


class WindowIn(Request):
    """A weekly window: ``weekdays`` (0 = Monday .. 6 = Sunday), from ``start`` to ``end`` (exclusive)."""

    weekdays: Annotated[list[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1, max_length=7)]
    start: TimeOfDay
    end: TimeOfDay


class ComponentIn(Request):
    product_id: uuid.UUID
    quantity: QuantityIn = Decimal(1)


class TierIn(Request):
    threshold: Amount
    percent: PercentOff | None = None
    amount: Amount | None = None


ProductIds = Annotated[list[uuid.UUID], Field(max_length=10_000), AfterValidator(_distinct)]
Categories = Annotated[list[Category], Field(max_length=1_000), AfterValidator(_distinct)]


class _PromotionFields(Request):
    """The fields a promotion is made of; every one optional here, see :class:`CreatePromotion`."""

    name: Name | None = None
    description: text(max_length=2000) | None = None
    kind: PromotionKind | None = None
    stacking: Stacking | None = None
    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    scope: Scope | None = None
    percent: PercentOff | None = None
    amount: Amount | None = None
    buy_quantity: QuantityIn | None = None
    get_quantity: QuantityIn | None = None
    bundle_price: NonNegativeAmount | None = None
    components: Annotated[list[ComponentIn], Field(max_length=100)] | None = None
    tiers: Annotated[list[TierIn], Field(max_length=100)] | None = None
    threshold: NonNegativeAmount | None = None
    product_ids: ProductIds | None = Field(
        None, description="Targeted products; with categories empty too: all."
    )
    categories: Categories | None = None
    channels: Annotated[list[Channel], Field(min_length=1), AfterValidator(_distinct)] | None = Field(
        None, description="Null: every channel."
    )
    store_ids: Annotated[list[StoreRef], Field(min_length=1, max_length=10_000)] | None = Field(
        None, description="Store codes or ids; null: every store, and channels without one."
    )
    customer_groups: Annotated[list[CustomerGroup], Field(min_length=1), AfterValidator(_distinct)] | None = (
        Field(None, description="Null: every customer, with a group or not.")
    )
    windows: Annotated[list[WindowIn], Field(max_length=50)] | None = None
    starts_at: LocalDateTime | None = Field(None, description="Local wall-clock time, inclusive.")
    ends_at: LocalDateTime | None = Field(None, description="Local wall-clock time, exclusive.")
    coupon_only: bool | None = None


class CreatePromotion(CompanyScoped, _PromotionFields):
    code: Code
    name: Name
    kind: PromotionKind
    stacking: Stacking = "stackable"
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)
    scope: Scope = "line"
    description: text(max_length=2000) = ""
    coupon_only: bool = False


class UpdatePromotion(_PromotionFields):
    """PATCH: only the fields sent change (null clears an optional one). Drafts and rejected ones only."""


RULE_FIELDS = (
    "percent",
    "amount",
    "buy_quantity",
    "get_quantity",
    "bundle_price",
    "components",
    "tiers",
    "threshold",
    "product_ids",
    "categories",
)
"""The fields kept in a promotion's JSON ``rule``."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "percent_off": ("percent",),
    "amount_off": ("amount",),
    "buy_x_get_y": ("buy_quantity", "get_quantity"),
    "mix_and_match": ("buy_quantity", "bundle_price"),
    "bundle_price": ("components", "bundle_price"),
    "tiered_spend": ("tiers",),
    "free_shipping": (),
}
"""What each kind cannot do without (``buy_x_get_y``'s ``percent`` defaults to 100: free)."""
assert set(REQUIRED) == set(PROMOTION_KINDS)


def kind_problems(fields: dict[str, Any]) -> list[FieldProblem]:
    """What is wrong with a promotion's fields for its kind (``fields``: the merged values)."""
    kind = fields["kind"]
    problems = [
        FieldProblem(name, f"required for a {kind} promotion")
        for name in REQUIRED[kind]
        if fields.get(name) in (None, [])
    ]
    if kind == "mix_and_match" and fields.get("buy_quantity") is not None and fields["buy_quantity"] < 2:
        problems.append(FieldProblem("buy_quantity", "a mix and match takes at least 2 units"))
    if kind == "bundle_price":
        seen = [
            c["product_id"] if isinstance(c, dict) else c.product_id for c in fields.get("components") or []
        ]
        if len(set(seen)) != len(seen):
            problems.append(FieldProblem("components", "each product may appear only once"))
    if kind == "tiered_spend":
        tiers = [t if isinstance(t, dict) else t.model_dump() for t in fields.get("tiers") or []]
        for n, tier in enumerate(tiers):
            if (tier.get("percent") is None) == (tier.get("amount") is None):
                problems.append(FieldProblem(f"tiers.{n}", "give either percent or amount"))
        thresholds = [Decimal(str(t["threshold"])) for t in tiers]
        if len(set(thresholds)) != len(thresholds):
            problems.append(FieldProblem("tiers", "each threshold may appear only once"))
    if fields.get("scope") in ("category", "order") and kind not in ("percent_off", "amount_off"):
        problems.append(FieldProblem("scope", "only percent_off and amount_off take a scope other than line"))
    start, end = fields.get("starts_at"), fields.get("ends_at")
    if start is not None and end is not None and not start < end:
        problems.append(FieldProblem("ends_at", "must be after starts_at"))
    for n, window in enumerate(fields.get("windows") or []):
        start_time = window["start"] if isinstance(window, dict) else window.start
        end_time = window["end"] if isinstance(window, dict) else window.end
        if isinstance(start_time, str):
            start_time, end_time = dt.time.fromisoformat(start_time), dt.time.fromisoformat(end_time)
        if not start_time < end_time:
            problems.append(FieldProblem(f"windows.{n}.end", "must be after start"))
    return problems


class Decision(Request):
    """Why: optional on approval, required on rejection and override."""

    reason: Reason | None = None


class ReasonRequired(Request):
    reason: Reason


class ComponentView(BaseModel):
    product_id: uuid.UUID
    quantity: DecimalStr


class TierView(BaseModel):
    threshold: DecimalStr
    percent: DecimalStr | None = None
    amount: DecimalStr | None = None


class WindowView(BaseModel):
    weekdays: list[int]
    start: dt.time
    end: dt.time


class PromotionView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    name: str
    description: str
    kind: str
    stacking: str
    priority: int
    scope: str
    percent: DecimalStr | None = None
    amount: DecimalStr | None = None
    buy_quantity: DecimalStr | None = None
    get_quantity: DecimalStr | None = None
    bundle_price: DecimalStr | None = None
    components: list[ComponentView] = []
    tiers: list[TierView] = []
    threshold: DecimalStr | None = None
    product_ids: list[uuid.UUID] = []
    categories: list[str] = []
    channels: list[str] | None
    store_ids: list[uuid.UUID] | None
    customer_groups: list[str] | None
    windows: list[WindowView]
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    coupon_only: bool
    state: str
    created_by: str
    last_edited_by: str | None
    submitted_by: str | None
    submitted_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    override_by: str | None
    override_reason: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


# -- margin floors -----------------------------------------------------------------------------------


class CreateMarginFloor(CompanyScoped):
    """A floor for one product or for every product of a category (one of the two)."""

    product_id: uuid.UUID | None = None
    category: Category | None = None
    floor: FloorFraction


class UpdateMarginFloor(Request):
    floor: FloorFraction


class MarginFloorView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    product_id: uuid.UUID | None
    category: str | None
    floor: DecimalStr
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


# -- governed price changes --------------------------------------------------------------------------


class CreatePriceChange(CompanyScoped):
    price_list_id: uuid.UUID
    items: Items = Field(description="The list's complete new items, as PUT /price-lists/{id}/items takes.")
    effective_at: Instant = Field(description="When the new items apply (a moment, with its offset).")
    reason: text(max_length=2000) = ""


class UpdatePriceChange(Request):
    items: Items | None = None
    effective_at: Instant | None = None
    reason: text(max_length=2000) | None = None


class PriceChangeItemView(BaseModel):
    product_id: uuid.UUID
    unit_price: DecimalStr
    min_quantity: DecimalStr


class PriceChangeView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    price_list_id: uuid.UUID
    items: list[PriceChangeItemView]
    effective_at: dt.datetime
    reason: str
    state: str
    created_by: str
    last_edited_by: str | None
    submitted_by: str | None
    submitted_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_reason: str | None
    applied_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


# -- quotes ------------------------------------------------------------------------------------------


class QuoteLineIn(Request):
    product_id: uuid.UUID
    quantity: QuantityIn
    manual_discount: NonNegativeAmount = Decimal(0)


class QuoteShippingIn(Request):
    amount: NonNegativeAmount = Field(description="Shipping charged before discounts, on the prices' basis.")
    tax_category: text(min_length=1, max_length=32) = Field(  # type: ignore[valid-type]
        description="The tax category the charge is taxed under."
    )
    method: text(min_length=1, max_length=64) | None = None  # type: ignore[valid-type]


class PriceQuote(CompanyScoped):
    """Price a basket as a channel would: price lists, promotions in force, coupons, manual discounts,
    taxes. Exactly what a web order or the POS verification computes for the same basket."""

    channel: Channel
    store_id: StoreRef | None = Field(None, description="Store code or id: its lists, in its time zone.")
    customer_id: uuid.UUID | None = Field(None, description="Its customer group applies.")
    customer_group: CustomerGroup | None = Field(None, description="When no customer is given.")
    at: Instant | None = Field(None, description="When the sale happens; defaults to now.")
    currency: CurrencyCode | None = Field(None, description="Defaults to the company currency.")
    lines: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=1_000)]
    coupons: list[text(min_length=1, max_length=64)] = Field(  # type: ignore[valid-type]
        default_factory=list,
        max_length=20,
        description="Coupon codes presented: validated (422/409 naming `coupons.N`), never redeemed.",
    )
    shipping: QuoteShippingIn | None = Field(
        None,
        description="The shipping charge, as a web, marketplace or b2b order would carry it (not on the"
        " pos channel): free_shipping promotions apply to it and it is taxed with the lines.",
    )


class QuoteDiscountView(BaseModel):
    source: str
    code: str
    amount: DecimalStr
    promotion_id: uuid.UUID | None = None


class QuoteLineView(BaseModel):
    product_id: uuid.UUID
    quantity: DecimalStr
    unit_price: DecimalStr
    price_source: str
    amount: DecimalStr
    discounts: list[QuoteDiscountView]
    discount: DecimalStr
    net: DecimalStr
    """Excluding tax, after every discount."""
    tax: DecimalStr
    gross: DecimalStr
    cost: DecimalStr
    """Unit cost today (the product's cost method)."""
    margin: DecimalStr
    """net - cost x quantity."""
    floor_amount: DecimalStr | None
    """The least a unit may come to on the unit price's basis; null without a floor."""
    below_floor: bool


class QuoteShippingView(BaseModel):
    method: str | None
    tax_category: str
    amount: DecimalStr
    discounts: list[QuoteDiscountView]
    discount: DecimalStr
    net: DecimalStr
    tax: DecimalStr
    gross: DecimalStr


class QuoteView(BaseModel):
    currency: str
    channel: str
    store_id: uuid.UUID | None
    customer_group: str | None
    local_time: dt.datetime
    prices_include_tax: bool
    lines: list[QuoteLineView]
    shipping: QuoteShippingView | None = None
    """The shipping asked for, its discounts and taxes (part of ``discount``, ``net``, ``tax``, ``gross``;
    not of ``margin``, which is the goods')."""
    promotions: list[str]
    discount: DecimalStr
    net: DecimalStr
    tax: DecimalStr
    gross: DecimalStr
    cost: DecimalStr
    margin: DecimalStr
    below_floor: bool


PromotionState = Literal["draft", "submitted", "approved", "rejected", "scheduled", "active", "expired"]
PriceChangeState = Literal["draft", "submitted", "approved", "rejected", "applied"]
