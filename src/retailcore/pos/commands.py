"""POS requests and views (validated before any service runs)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Instant, Text, text
from retailcore.masterdata.commands import Code, CompanyScoped, CurrencyCode, Name, Request, StoreRef
from retailcore.orders.discounts import OverrideIn
from retailcore.returns.tables import CONDITIONS, REASONS

Money = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Positive = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Signed = Annotated[Decimal, Field(max_digits=19, decimal_places=4, allow_inf_nan=False)]


MAX_SALES_PER_BATCH = 1000
MAX_LINES_PER_SALE = 500
MAX_LINES_PER_BATCH = 10_000
"""A batch is one transaction, which holds SQLite's only writer while it runs: its lines bound that time
(about a second for 10,000 lines on a small machine; docs/api.md, Limits)."""


class CreateTerminal(CompanyScoped):
    store_id: StoreRef = Field(description="Code or id of the store the terminal stands in.")
    code: Code
    name: Name
    currency: CurrencyCode | None = Field(
        None,
        description="The currency the till sells in, when not the company's"
        " (docs/pos.md#foreign-currency-tills): its sessions take the day's exchange rate when they open.",
    )


class OpenSession(Request):
    terminal_id: uuid.UUID
    opening_float: Money = Decimal(0)


class AppliedDiscountIn(Request):
    """A promotion or coupon discount the till applied to a line (docs/promotions.md#every-channel)."""

    source: Literal["promotion", "coupon"]
    code: Annotated[Text, Field(min_length=1, max_length=64)] = Field(
        description="The promotion's code, or the coupon's code."
    )
    amount: Positive = Field(description="Amount off the line, on the unit price's basis.")


class SaleLineIn(Request):
    product_id: uuid.UUID
    quantity: Signed = Field(
        description="Units sold; negative on a refund line (goods coming back, money paid out)."
    )
    unit_price: Money
    """Gross when the product's taxes are price-included, net otherwise. A refund line with
    ``refund_of`` is refunded at the original line's prices: its own unit price is not used."""
    discount: Money = Decimal(0)
    """Amount off the line given by hand (same basis as the unit price): recorded as one manual
    discount, given by the caller."""
    override: OverrideIn | None = Field(
        None,
        description="A manual discount beyond the cashier's limit (docs/discounts.md): the store manager"
        " who approved it (`by`, a user name) and why. Not needed on a store manager's or admin's sale.",
    )
    discounts: list[AppliedDiscountIn] = Field(
        default_factory=list,
        max_length=20,
        description="The promotion and coupon discounts the till applied (before the manual `discount`)."
        " The server prices the sale again with the same engine: a difference is accepted as sold and"
        " raises a `pricing_mismatch` exception.",
    )
    refund_of: uuid.UUID | None = Field(
        None,
        description="A refund line: the original order line (a POS sale of any store, or a delivered"
        " web order line). Without it, a refund line is a refund without a receipt (by the company's"
        " return policy), priced at its own unit price.",
    )
    reason: Literal[REASONS] = Field("other", description="A refund line: why the goods came back.")  # type: ignore[valid-type]
    condition: Literal[CONDITIONS] = Field(  # type: ignore[valid-type]
        "resaleable", description="A refund line: where the goods go (the returns dispositions)."
    )

    @field_validator("quantity")
    @classmethod
    def _not_zero(cls, quantity: Decimal) -> Decimal:
        if quantity == 0:
            raise ValueError("a line sells (positive) or refunds (negative), never zero")
        return quantity

    @model_validator(mode="after")
    def _signed(self) -> SaleLineIn:
        if self.quantity > 0 and self.refund_of is not None:
            raise ValueError("refund_of: only a refund line (negative quantity) refers to an original line")
        if self.override is not None and not self.discount:
            raise ValueError("override: only a line with a discount needs one")
        if self.discounts and self.quantity < 0:
            raise ValueError("discounts: a refund line is refunded at its original line's prices")
        return self

    @property
    def is_refund(self) -> bool:
        return self.quantity < 0


class PaymentIn(Request):
    payment_method_code: Code
    amount: Positive
    reference: Annotated[Text, Field(max_length=64)] | None = Field(
        None,
        description="A payment method of kind `gift_card`: the card's code (its balance is redeemed when"
        " the batch is taken). Store credit draws on the sale's `customer_id`. Kind `card`: the terminal's"
        " reference of the payment (the acquirer's, e.g. Adyen's psp reference), kept on the order payment"
        " where the gateway's settlement file finds it.",
    )


MAX_GIFT_CARDS_PER_SALE = 20


class GiftCardSaleIn(Request):
    """A gift card sold on the ticket: issued when the batch is taken, paid by the ticket's payments."""

    amount: Positive = Field(description="The card's first balance (no tax: a multi-purpose voucher).")
    code: Annotated[Text, Field(min_length=8, max_length=64)] | None = Field(
        None,
        description="The printed code of a physical card the till scanned (letters and digits; case,"
        " spaces and dashes do not matter); it must be new. Without it the system draws a code and"
        " answers it once, in the batch's `gift_cards`.",
    )


class SaleIn(Request):
    client_uuid: uuid.UUID
    sold_at: Instant
    lines: list[SaleLineIn] = Field(
        default_factory=list,
        max_length=MAX_LINES_PER_SALE,
        description="At least one line, unless the ticket only sells gift cards.",
    )
    gift_cards: list[GiftCardSaleIn] = Field(
        default_factory=list,
        max_length=MAX_GIFT_CARDS_PER_SALE,
        description="Gift cards sold on the ticket: their amounts are in what the payments must cover,"
        " never in revenue; not on a refund or an exchange.",
    )
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)
    customer_id: uuid.UUID | None = None
    coupons: list[Annotated[Text, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="Coupon codes the customer presented: redeemed when the batch is taken; a single-use"
        " code already used elsewhere is accepted (the customer has paid) and raises a `coupon_reuse`"
        " exception.",
    )
    rounding: Signed | None = Field(
        None,
        description="The cash rounding the till applied: the total the ticket was settled at minus its"
        " exact total (-0.02 for 10.02 paid 10.00 in cash). The server works it out again from the"
        " company's cash rounding (docs/pos.md#cash-rounding): a different one refuses the batch"
        " (`rounding-mismatch`). Left out, the server's is taken.",
    )
    invoice: bool = Field(
        default=False,
        description="The customer asked for an invoice: the sale is posted to their receivable. A sale "
        "paid (in part) on account is always invoiced.",
    )

    @model_validator(mode="after")
    def _sells_something(self) -> SaleIn:
        if not self.lines and not self.gift_cards:
            raise ValueError("a sale has at least one line or one gift card")
        return self


class SalesBatch(Request):
    sales: list[SaleIn] = Field(min_length=1, max_length=MAX_SALES_PER_BATCH)

    @field_validator("sales")
    @classmethod
    def _lines_in_bounds(cls, sales: list[SaleIn]) -> list[SaleIn]:
        lines = sum(len(sale.lines) for sale in sales)
        if lines > MAX_LINES_PER_BATCH:
            raise ValueError(
                f"the batch has {lines} lines, at most {MAX_LINES_PER_BATCH} are taken at once:"
                " send it in smaller batches"
            )
        return sales


class CashMovementIn(Request):
    direction: Literal["in", "out"]
    amount: Positive
    reason: text(min_length=1, max_length=200)


class CloseSession(Request):
    counted: dict[Text, Money] = Field(default_factory=dict)
    """Counted amount per payment method code; a cash method not named counts as 0."""


class SetCashRounding(CompanyScoped):
    increment: Positive = Field(
        description="The smallest amount cash changes hands in (0.05: five cents), in the company's currency."
    )
    mode: Literal["half_up", "up", "down"] = Field(
        "half_up",
        description="How a cash total becomes a multiple of the increment, on the amount changing hands:"
        " `half_up` to the nearest, `up` or `down`.",
    )


class CashRoundingView(BaseModel):
    company_id: uuid.UUID
    currency: str
    increment: DecimalStr
    mode: str
    updated_at: dt.datetime
    updated_by: str


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TerminalView(_View):
    id: uuid.UUID
    company_id: uuid.UUID
    store_id: uuid.UUID
    code: str
    name: str
    active: bool
    currency: str | None = None


class TotalView(_View):
    kind: str
    key: str
    net: DecimalStr
    tax: DecimalStr
    tax_base: DecimalStr
    amount: DecimalStr


class SessionView(_View):
    id: uuid.UUID
    company_id: uuid.UUID
    store_id: uuid.UUID
    terminal_id: uuid.UUID
    number: int
    state: str
    is_rescue: bool
    opening_float: DecimalStr
    opened_at: dt.datetime
    opened_by: str
    closed_at: dt.datetime | None
    closed_by: str | None
    sale_count: int
    counted: dict[str, str] | None
    differences: dict[str, str] | None
    """Counted minus expected per tender (``kind|gateway``) counted at close."""
    expected_cash: DecimalStr | None
    cash_difference: DecimalStr | None
    closing_event_id: uuid.UUID | None
    currency: str | None = None
    """The session's currency when it is not the company's (every amount above is in it)."""
    rate: DecimalStr | None = None
    """Company currency per unit of ``currency``, fixed at the open: what the close is booked at."""
    totals: list[TotalView] = Field(default_factory=list)


class SoldGiftCard(BaseModel):
    """A gift card a sale of the batch issued."""

    client_uuid: uuid.UUID
    """The sale (ticket) that sold it."""
    position: int
    """Its index in the sale's ``gift_cards``."""
    card_id: uuid.UUID
    last4: str
    amount: DecimalStr
    expires_on: dt.date | None
    code: str | None = None
    """The code the system drew, shown this once (null when the till sent the physical card's code, and
    in the stored answer an ``Idempotency-Key`` replays)."""


class BatchResult(BaseModel):
    session_id: uuid.UUID
    """The session the accepted sales went to (the rescue session when the one named was closed)."""
    accepted: int
    duplicates: int
    rescued: int
    gift_cards: list[SoldGiftCard] = Field(default_factory=list)
    """The gift cards the accepted sales issued (a duplicate sale's cards are not repeated)."""


def without_codes(body: dict[str, Any]) -> dict[str, Any]:
    """What an idempotent replay of a batch answers: everything but the drawn gift card codes."""
    return {**body, "gift_cards": [{**card, "code": None} for card in body.get("gift_cards", [])]}


class CashMovementView(_View):
    id: uuid.UUID
    session_id: uuid.UUID
    direction: str
    amount: DecimalStr
    reason: str
    created_at: dt.datetime
    created_by: str
