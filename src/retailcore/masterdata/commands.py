"""Requests to create or change master data, validated before any service runs.

Money, prices and costs are ``Decimal`` with the column's scale as their limit: a value with more
decimals is refused (422) rather than rounded behind the caller's back. Update requests list every
field as optional; only the fields sent are changed (PATCH semantics).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, TypeAdapter, WithJsonSchema

from retailcore.core.currencies import is_currency
from retailcore.core.inputs import Text, text
from retailcore.masterdata.barcodes import validate_barcode
from retailcore.masterdata.chart import AccountRole, AccountType

CODE_PATTERN = r"^[A-Za-z0-9._-]+$"
Code = text(strip_whitespace=True, min_length=1, max_length=32, pattern=CODE_PATTERN)
Name = text(strip_whitespace=True, min_length=1, max_length=200)
Price = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Cost = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=6, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=19, decimal_places=8, allow_inf_nan=False)]


def _currency(value: str) -> str:
    value = value.upper()
    if not is_currency(value):
        raise ValueError(f"'{value}' is not an ISO 4217 currency code")
    return value


# Text's check runs before a type's own validator, which may quote the value in its message.
CurrencyCode = Annotated[text(strip_whitespace=True, min_length=3, max_length=3), AfterValidator(_currency)]
CountryCode = text(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
Jurisdiction = text(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9-]{2,32}$")
TaxCategory = text(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_]{1,32}$")
Sku = text(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")
Barcode = Annotated[Text, AfterValidator(validate_barcode)]

Channel = Literal["pos", "web", "marketplace"]
CostMethod = Literal["fifo", "average", "standard"]
UnitOfMeasure = Literal["unit", "pack", "kg", "g", "l", "ml", "m", "cm"]
StoreKind = Literal["store", "warehouse"]
LocationKind = Literal["stock", "backroom", "damaged", "supplier", "customer", "in_transit", "inventory_loss"]
PaymentMethodKind = Literal["cash", "card", "gift_card", "store_credit", "on_account", "loyalty"]
TaxRounding = Literal["line", "document"]
TaxKind = Literal["percent", "fixed", "division", "group"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _timezone(value: str) -> str:
    from zoneinfo import available_timezones

    if value not in available_timezones():
        raise ValueError(f"'{value}' is not an IANA time zone")
    return value


TimeZone = Annotated[Text, AfterValidator(_timezone)]


class Request(BaseModel):
    # Unknown fields are refused: a typo in a field name must not silently do nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


_REFERENCE_TEXT = TypeAdapter(text(strip_whitespace=True, min_length=1, max_length=36, pattern=CODE_PATTERN))


def _reference_text(value: Any) -> uuid.UUID | str:
    # An id a Python caller hands over (the CLI, the simulator) is taken as it is; text is checked as text.
    return value if isinstance(value, uuid.UUID) else _REFERENCE_TEXT.validate_python(value)


def _reference(noun: str, example: str) -> Any:
    """A company or store as a request names it: its code or its id (docs/api.md, "Companies and stores
    by code or id"; decision 0021). The text is kept as sent until ``masterdata.services`` resolves it
    (a text that reads as a UUID is tried as an id first, then as a code); a request it resolved holds
    the id from then on, so the type is either."""
    schema = _REFERENCE_TEXT.json_schema()
    return Annotated[
        uuid.UUID | str,
        PlainValidator(_reference_text),
        WithJsonSchema({**schema, "description": f"{noun} code or id", "examples": [example]}),
    ]


CompanyRef = _reference("company", "DEMO")
"""A company named by code (``DEMO``) or id; responses always carry the id."""
StoreRef = _reference("store", "PAR01")
"""A store named by code (``PAR01``, within the request's company) or id; responses always carry the id."""

COMPANY_DEFAULT = (
    "Company code or id. Defaults to the token's company; for an installation-wide token, to the "
    "installation's only company (required when there are several)."
)


class CompanyScoped(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)


class CreateCompany(Request):
    code: Code
    name: Name
    currency: CurrencyCode
    country: CountryCode
    tax_jurisdiction: Jurisdiction | None = Field(default=None, description="Defaults to the country code.")
    chart_template: Text | None = Field(
        default="generic_retail", description="Chart of accounts template to load; null loads none."
    )


class UpdateCompany(Request):
    name: Name | None = None
    tax_jurisdiction: Jurisdiction | None = None
    pos_approval_threshold: (
        Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)] | None
    ) = Field(
        default=None,
        description="A POS cash difference above this needs a store manager to close the session.",
    )
    sale_clock_past_days: Annotated[int, Field(ge=0, le=366)] | None = Field(
        default=None,
        description="A POS sale dated more than this many days before the server's clock is out of the "
        "till clock window (docs/pos.md, 'A till's clock').",
    )
    sale_clock_future_days: Annotated[int, Field(ge=0, le=31)] | None = Field(
        default=None, description="A POS sale dated more than this many days after the server's clock is out."
    )
    sale_clock_policy: Literal["book_on_receipt", "refuse"] | None = Field(
        default=None,
        description="A sale outside the window is booked on the day it reached the server, with a stock "
        "exception (`book_on_receipt`), or refuses its batch (`refuse`).",
    )
    unpaid_order_hold_minutes: Annotated[int, Field(gt=0, le=60 * 24 * 366)] | None = Field(
        default=None,
        description="How long a confirmed web or marketplace order with nothing paid keeps its stock "
        "before the sweep cancels it; null: they keep it until someone cancels them.",
    )


class CreateStore(CompanyScoped):
    code: Code
    name: Name
    kind: StoreKind = "store"
    timezone: TimeZone = "UTC"
    tax_jurisdiction: Jurisdiction | None = None
    active: bool = True
    create_default_locations: bool = Field(
        default=True, description="Also create the store's stock, backroom and damaged locations."
    )


class UpdateStore(Request):
    name: Name | None = None
    timezone: TimeZone | None = None
    tax_jurisdiction: Jurisdiction | None = None
    active: bool | None = None


class CreateLocation(CompanyScoped):
    code: text(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")
    name: Name
    kind: LocationKind
    store_id: StoreRef | None = Field(
        default=None, description="Store code or id: required for internal kinds, absent for virtual."
    )
    active: bool = True


class UpdateLocation(Request):
    name: Name | None = None
    active: bool | None = None


def _unique_items(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("values must be unique")
    return values


class CreateProduct(CompanyScoped):
    sku: Sku
    name: text(strip_whitespace=True, min_length=1, max_length=300)
    description: text(max_length=4000) | None = None
    category: text(strip_whitespace=True, min_length=1, max_length=200)
    unit_of_measure: UnitOfMeasure = "unit"
    tax_category: TaxCategory = "standard"
    cost_method: CostMethod = "fifo"
    list_price: Price
    standard_cost: Cost = Decimal(0)
    barcodes: Annotated[list[Barcode], AfterValidator(_unique_items), Field(max_length=20)] = Field(
        default_factory=list
    )
    channels: Annotated[list[Channel], AfterValidator(_unique_items)] = Field(
        default_factory=lambda: ["pos", "web"]
    )
    active: bool = True


class UpdateProduct(Request):
    sku: Sku | None = None
    name: text(strip_whitespace=True, min_length=1, max_length=300) | None = None
    description: text(max_length=4000) | None = None
    category: text(strip_whitespace=True, min_length=1, max_length=200) | None = None
    unit_of_measure: UnitOfMeasure | None = None
    tax_category: TaxCategory | None = None
    cost_method: CostMethod | None = None
    list_price: Price | None = None
    standard_cost: Cost | None = None
    barcodes: Annotated[list[Barcode], AfterValidator(_unique_items), Field(max_length=20)] | None = None
    channels: Annotated[list[Channel], AfterValidator(_unique_items)] | None = None
    active: bool | None = None


def _email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value


Email = Annotated[text(strip_whitespace=True, to_lower=True, max_length=320), AfterValidator(_email)]
CustomerGroup = text(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
"""A customer group (``staff``, ``vip``): what price lists and promotions target."""
Phone = text(strip_whitespace=True, max_length=40, pattern=r"^[0-9+() .-]{3,40}$")


class CreateCustomer(CompanyScoped):
    code: text(strip_whitespace=True, min_length=1, max_length=64) | None = Field(
        default=None, description="Customer number; generated when absent."
    )
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    credit_limit: Price = Decimal(0)
    customer_group: CustomerGroup | None = None
    active: bool = True


class UpdateCustomer(Request):
    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    credit_limit: Price | None = None
    customer_group: CustomerGroup | None = None
    active: bool | None = None


class CreatePaymentMethod(CompanyScoped):
    code: Code
    name: Name
    kind: PaymentMethodKind
    gateway: text(strip_whitespace=True, to_lower=True, pattern=r"^[A-Za-z0-9_-]{1,64}$") | None = None
    active: bool = True
    split_receivable_per_customer: bool = Field(
        False,
        description="What this method pays at the till on invoices is credited to each customer's"
        " receivable at the session's close (one line per customer) instead of one aggregate line.",
    )


class UpdatePaymentMethod(Request):
    name: Name | None = None
    active: bool | None = None
    split_receivable_per_customer: bool | None = None


class TaxChild(Request):
    """A tax of a group (docs/pricing-and-tax.md#tax-kinds)."""

    code: Code
    name: Name
    kind: Literal["percent", "fixed", "division"] = "percent"
    rate_percent: Percent | None = Field(None, description="Required for percent and division taxes.")
    amount: Price | None = Field(None, description="A fixed tax's amount per unit; required for fixed taxes.")
    price_included: bool = True
    affects_base: bool = Field(False, description="Cascading: the amount raises the base of later taxes.")
    rounding: TaxRounding = "line"


class TaxLine(TaxChild):
    kind: TaxKind = "percent"  # type: ignore[assignment]
    children: list[TaxChild] | None = Field(
        None, max_length=10, description="A group's taxes, applied in this order in its place."
    )


def _distinct_tax_codes(taxes: list[TaxLine]) -> list[TaxLine]:
    codes = [t.code for t in taxes] + [c.code for t in taxes for c in t.children or ()]
    if len(set(codes)) != len(codes):
        raise ValueError("tax codes must be unique within a rule")
    return taxes


TaxLines = Annotated[list[TaxLine], Field(min_length=0, max_length=10), AfterValidator(_distinct_tax_codes)]
"""A rule's taxes; an empty list is a zero-rated (or exempt) rule."""


class CreateTaxRule(CompanyScoped):
    jurisdiction: Jurisdiction
    tax_category: TaxCategory
    taxes: TaxLines


class UpdateTaxRule(Request):
    taxes: TaxLines | None = None


class CreateAccount(CompanyScoped):
    code: Code
    name: Name
    type: AccountType
    role: AccountRole | None = None
    reconcilable: bool = False
    currency: CurrencyCode | None = None
    active: bool = True


class UpdateAccount(Request):
    name: Name | None = None
    role: AccountRole | None = None
    reconcilable: bool | None = None
    active: bool | None = None
