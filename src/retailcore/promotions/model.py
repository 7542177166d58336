"""Promotions as data, a basket to price, and what pricing returns: the contract of the one pricing
function (:mod:`retailcore.promotions.engine`) that every channel calls.

Everything here is pure and immutable: no I/O, ``Decimal`` amounts only. The promotions context loads
approved promotions from the database into :class:`Promotion` values; POS batches, web orders,
marketplace and b2b orders and ``/pricing/quote`` build a :class:`Basket` and get a
:class:`PricedBasket` back.

Amounts are on the basis of the line's unit price: gross when the line's taxes are price-included,
net otherwise. The engine never computes tax; callers tax the discounted amounts with
:mod:`retailcore.pricing.taxes`.

Times: a promotion's ``starts_at``/``ends_at`` and its weekly windows are *local wall-clock* times,
read in the time zone of the store selling (the company's first store's zone, or UTC, for channels
without a store). So "from 24 December 00:00" starts at each store's own midnight. The caller passes
the basket's local time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

PromotionKind = Literal[
    "percent_off",
    "amount_off",
    "buy_x_get_y",
    "mix_and_match",
    "bundle_price",
    "tiered_spend",
    "free_shipping",
]
PROMOTION_KINDS: tuple[PromotionKind, ...] = (
    "percent_off",
    "amount_off",
    "buy_x_get_y",
    "mix_and_match",
    "bundle_price",
    "tiered_spend",
    "free_shipping",
)

Scope = Literal["line", "category", "order"]
"""What a ``percent_off`` or ``amount_off`` applies to: each targeted line on its own (``amount`` is per
unit), the targeted lines together (``amount`` once, spread over them), or the whole basket (``amount``
once, spread over every line)."""

Stacking = Literal["exclusive", "stackable", "best"]
"""``exclusive``: applies alone. ``stackable``: combines with every other stackable promotion, in
priority order, each on what the previous ones left. ``best``: at most one ``best`` promotion joins the
stackable ones, the one giving the customer most. The customer then gets whichever of these options
(each exclusive promotion alone, or the stackable ones plus the best ``best``) takes the most off;
ties go to the higher priority, then the lower code."""

DiscountSource = Literal["promotion", "coupon", "manual"]


@dataclass(frozen=True)
class Target:
    """The products a promotion is about. Both sets empty: every product."""

    product_ids: frozenset[uuid.UUID] = frozenset()
    categories: frozenset[str] = frozenset()

    def covers(self, product_id: uuid.UUID, category: str) -> bool:
        if not self.product_ids and not self.categories:
            return True
        return product_id in self.product_ids or category in self.categories


@dataclass(frozen=True)
class Tier:
    """A spend threshold of a ``tiered_spend`` promotion: from ``threshold`` on (targeted lines' amount
    before promotions), ``percent`` or ``amount`` off. The highest tier reached applies."""

    threshold: Decimal
    percent: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class Window:
    """A weekly window of local time: ``weekdays`` (0 = Monday), from ``start`` (inclusive) to ``end``
    (exclusive) on those days."""

    weekdays: frozenset[int]
    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class BundleComponent:
    product_id: uuid.UUID
    quantity: Decimal


@dataclass(frozen=True)
class Promotion:
    """One approved promotion, as the engine sees it. Which fields a kind reads:

    * ``percent_off``: ``scope``, ``target``, ``percent``.
    * ``amount_off``: ``scope``, ``target``, ``amount`` (per unit for ``line``, once otherwise).
    * ``buy_x_get_y``: buy ``buy_quantity`` targeted units, get the next ``get_quantity`` targeted units
      at ``percent`` off (100: free); the cheapest units are the ones discounted; repeats.
    * ``mix_and_match``: any ``buy_quantity`` targeted units together for ``bundle_price``; repeats;
      the cheapest combinations are not favoured: units are taken most expensive first.
    * ``bundle_price``: one of each ``components`` (with their quantities) together for
      ``bundle_price``; repeats.
    * ``tiered_spend``: ``tiers`` on the targeted lines' amount; the discount is spread over them.
    * ``free_shipping``: the basket's shipping is free from ``threshold`` on (targeted lines' amount).
    """

    id: uuid.UUID
    code: str
    kind: PromotionKind
    stacking: Stacking = "stackable"
    priority: int = 0
    scope: Scope = "line"
    target: Target = field(default_factory=Target)
    percent: Decimal | None = None
    amount: Decimal | None = None
    buy_quantity: Decimal | None = None
    get_quantity: Decimal | None = None
    bundle_price: Decimal | None = None
    components: tuple[BundleComponent, ...] = ()
    tiers: tuple[Tier, ...] = ()
    threshold: Decimal | None = None
    channels: frozenset[str] | None = None
    """None: every channel."""
    store_ids: frozenset[uuid.UUID] | None = None
    """None: every store, and channels without a store."""
    customer_groups: frozenset[str] | None = None
    """None: every customer, with a group or not."""
    starts_at: dt.datetime | None = None
    """Local wall-clock time (naive), inclusive."""
    ends_at: dt.datetime | None = None
    """Local wall-clock time (naive), exclusive."""
    windows: tuple[Window, ...] = ()
    """Empty: all day, every day between ``starts_at`` and ``ends_at``."""
    coupon_only: bool = False
    """Applies only to a basket presenting a coupon that grants it (see :attr:`Basket.coupons`)."""


@dataclass(frozen=True)
class BasketLine:
    key: str
    """The caller's name for the line (its index or id); results carry it back."""
    product_id: uuid.UUID
    category: str
    quantity: Decimal
    unit_price: Decimal
    """Before any discount, from the price list (or the till, where the channel prices itself)."""
    manual_discount: Decimal = Decimal(0)
    """Amount off the line given by hand (a cashier), applied after the promotions."""
    floor_amount: Decimal | None = None
    """The least the line may come to per unit after every discount, on the unit price's basis (the
    caller turns cost x (1 + margin floor) into it, adding included taxes). None: no floor."""


@dataclass(frozen=True)
class Basket:
    lines: tuple[BasketLine, ...]
    currency_decimals: int
    channel: str
    local_time: dt.datetime
    """Naive wall-clock time where the sale happens."""
    store_id: uuid.UUID | None = None
    customer_group: str | None = None
    coupons: tuple[tuple[str, uuid.UUID], ...] = ()
    """Validated coupons: (code, id of the promotion it grants)."""
    shipping: Decimal = Decimal(0)


@dataclass(frozen=True)
class AppliedDiscount:
    source: DiscountSource
    code: str
    """The promotion's code, the coupon's code, or ``manual``."""
    amount: Decimal
    promotion_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PricedLine:
    key: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    """quantity x unit price, rounded to the currency."""
    discounts: tuple[AppliedDiscount, ...]
    discount: Decimal
    """The sum of :attr:`discounts`."""
    net: Decimal
    """amount - discount: what the line comes to, on the unit price's basis, before tax handling."""
    below_floor: bool = False
    """The line ends below ``quantity x floor_amount``."""


@dataclass(frozen=True)
class PricedBasket:
    lines: tuple[PricedLine, ...]
    promotions: tuple[str, ...]
    """Codes of the promotions applied, in the order applied."""
    shipping: Decimal
    shipping_discounts: tuple[AppliedDiscount, ...] = ()

    @property
    def discount(self) -> Decimal:
        return sum((line.discount for line in self.lines), Decimal(0)) + sum(
            (d.amount for d in self.shipping_discounts), Decimal(0)
        )

    @property
    def below_floor(self) -> tuple[str, ...]:
        return tuple(line.key for line in self.lines if line.below_floor)
