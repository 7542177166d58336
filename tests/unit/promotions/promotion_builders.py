"""Builders for the pure pricing engine's tests (no database), shared by test_engine*.py."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from retailcore.promotions.engine import PromotionBook
from retailcore.promotions.model import Basket, BasketLine, PricedBasket, Promotion

D = Decimal
MONDAY_NOON = dt.datetime(2026, 12, 7, 12, 0)
"""7 December 2026 is a Monday."""


def pid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"product/{name}")


def promo(code: str, kind: str, **fields: Any) -> Promotion:
    return Promotion(id=uuid.uuid5(uuid.NAMESPACE_URL, f"promotion/{code}"), code=code, kind=kind, **fields)  # type: ignore[arg-type]


def line(
    key: str,
    product: str,
    quantity: str,
    unit_price: str,
    category: str = "shirts",
    *,
    manual: str = "0",
    floor: str | None = None,
) -> BasketLine:
    return BasketLine(
        key=key,
        product_id=pid(product),
        category=category,
        quantity=D(quantity),
        unit_price=D(unit_price),
        manual_discount=D(manual),
        floor_amount=None if floor is None else D(floor),
    )


def basket(*lines: BasketLine, **fields: Any) -> Basket:
    fields.setdefault("currency_decimals", 2)
    fields.setdefault("channel", "pos")
    fields.setdefault("local_time", MONDAY_NOON)
    return Basket(lines=tuple(lines), **fields)


def price(promotions: list[Promotion], b: Basket) -> PricedBasket:
    return PromotionBook(promotions).price(b)


def discounts(priced: PricedBasket) -> dict[str, Decimal]:
    """Each line's total discount, by key."""
    return {ln.key: ln.discount for ln in priced.lines}
