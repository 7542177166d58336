"""Every channel's way into the one pricing function (decision 0052, docs/promotions.md#every-channel).

POS batches, web, marketplace and b2b orders and ``/pricing/quote`` all build a
:class:`~retailcore.promotions.model.Basket` and call :meth:`PromotionBook.price
<retailcore.promotions.engine.PromotionBook.price>` on the company's book (:func:`book_for`). The
helpers here are what they share around that call, so that they build the same basket from the same
facts:

* :func:`local_time`: the basket's local wall-clock time, in the store's zone (the company's default
  zone for a channel without a store).
* :func:`customer_group`: the group a customer's baskets are priced for.
* :func:`records`: a priced line's discounts as an order line stores them (source, code, amount,
  promotion), the manual one with who gave it.
* :func:`offered`: the promotion and coupon discounts of a line in a comparable form, to check what a
  till applied against what the server computes.
* :class:`Prefilter`: which products any promotion of a book could touch, so a POS sale none of
  whose products a promotion targets skips the engine entirely.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.masterdata.tables import Customer
from retailcore.promotions.book import book_for
from retailcore.promotions.engine import PromotionBook
from retailcore.promotions.model import AppliedDiscount, PricedBasket, PricedLine
from retailcore.promotions.services import default_zone

__all__ = [
    "Prefilter",
    "book_for",
    "coupon_amounts",
    "customer_group",
    "local_time",
    "offered",
    "records",
]

Offered = tuple[tuple[str, str, Decimal], ...]
"""A line's promotion and coupon discounts as ``(source, code, amount)``, sorted."""


def local_time(session: Session, company_id: uuid.UUID, timezone: str | None, at: dt.datetime) -> dt.datetime:
    """``at`` as the naive wall-clock time of the store's ``timezone`` (None: the company's default
    zone, as :func:`~retailcore.promotions.services.default_zone` says)."""
    zone = ZoneInfo(timezone) if timezone else default_zone(session, company_id)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(zone).replace(tzinfo=None)


def customer_group(session: Session, company_id: uuid.UUID, customer_id: uuid.UUID | None) -> str | None:
    if customer_id is None:
        return None
    return session.scalar(
        select(Customer.customer_group).where(Customer.company_id == company_id, Customer.id == customer_id)
    )


def _record(discount: AppliedDiscount) -> dict[str, Any]:
    return {
        "source": discount.source,
        "code": discount.code,
        "amount": str(discount.amount),
        "promotion_id": str(discount.promotion_id) if discount.promotion_id else None,
    }


def records(
    discounts: Iterable[AppliedDiscount], given_by: str, override: Mapping[str, str] | None = None
) -> list[dict[str, Any]] | None:
    """The discounts as an order line keeps them (``order_lines.discounts``); None when there are none.
    A manual discount names who gave it and, beyond the cashier's limit, the manager's override."""
    found = []
    for discount in discounts:
        record = _record(discount)
        if discount.source == "manual":
            record["given_by"] = given_by
            if override is not None:
                record["override"] = dict(override)
        found.append(record)
    return found or None


def offered(line: PricedLine | Sequence[AppliedDiscount]) -> Offered:
    """The promotion and coupon discounts of a priced line (or of a list of discounts), comparable."""
    discounts = line.discounts if isinstance(line, PricedLine) else line
    return tuple(sorted((d.source, d.code, d.amount) for d in discounts if d.source != "manual"))


def coupon_amounts(priced: PricedBasket) -> dict[str, Decimal]:
    """What each coupon took off the basket (lines and shipping), by code."""
    taken: dict[str, Decimal] = {}
    for line in priced.lines:
        for d in line.discounts:
            if d.source == "coupon":
                taken[d.code] = taken.get(d.code, Decimal(0)) + d.amount
    for d in priced.shipping_discounts:
        if d.source == "coupon":
            taken[d.code] = taken.get(d.code, Decimal(0)) + d.amount
    return taken


class Prefilter:
    """Which products and categories any promotion of ``book`` targets. A basket none of whose lines
    :meth:`touches` can be priced without the engine: nothing but its manual discounts applies."""

    def __init__(self, book: PromotionBook) -> None:
        self.empty = not book.promotions
        self.everything = bool(book.everywhere)
        self.products = frozenset(book.by_product)
        self.categories = frozenset(book.by_category)
        # Where a promotion that does not price each line on its own can apply (see :meth:`line_local`).
        self.everywhere_local = all(_prices_lines_alone(r.promotion) for r in book.everywhere)
        self.joint_products = frozenset(
            p
            for p, rules in book.by_product.items()
            if not all(_prices_lines_alone(r.promotion) for r in rules)
        )
        self.joint_categories = frozenset(
            c
            for c, rules in book.by_category.items()
            if not all(_prices_lines_alone(r.promotion) for r in rules)
        )

    def touches(self, product_id: uuid.UUID, category: str) -> bool:
        if self.empty:
            return False
        return self.everything or product_id in self.products or category in self.categories

    def line_local(self, product_id: uuid.UUID, category: str) -> bool:
        """Every promotion that can touch this product prices each line on its own (line-scope percent
        or amount off, stackable): then a basket of such lines prices as each line alone."""
        return (
            self.everywhere_local
            and product_id not in self.joint_products
            and category not in self.joint_categories
        )


def _prices_lines_alone(promotion: Any) -> bool:
    return (
        promotion.kind in ("percent_off", "amount_off")
        and promotion.scope == "line"
        and promotion.stacking == "stackable"
    )
