"""The one pricing function: :meth:`PromotionBook.price` takes a basket and returns, per line, the
discounts of each promotion, coupon and manual discount, and whether the line ends below its floor.

PLACEHOLDER: only ``percent_off`` and ``amount_off`` at ``line`` scope, all stacked in priority order.
The full engine (every kind, the stacking modes, worst cases) replaces this module with the same
signatures.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from retailcore.promotions.model import (
    AppliedDiscount,
    Basket,
    BasketLine,
    PricedBasket,
    PricedLine,
    Promotion,
)


def _quantum(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def _applies(promotion: Promotion, basket: Basket) -> bool:
    if promotion.channels is not None and basket.channel not in promotion.channels:
        return False
    if promotion.store_ids is not None and basket.store_id not in promotion.store_ids:
        return False
    if promotion.customer_groups is not None and basket.customer_group not in promotion.customer_groups:
        return False
    if promotion.starts_at is not None and basket.local_time < promotion.starts_at:
        return False
    if promotion.ends_at is not None and basket.local_time >= promotion.ends_at:
        return False
    return not (promotion.coupon_only and promotion.id not in {pid for _, pid in basket.coupons})


class PromotionBook:
    """The promotions in force for a company, indexed for pricing baskets."""

    def __init__(self, promotions: Iterable[Promotion]) -> None:
        self.promotions = tuple(sorted(promotions, key=lambda p: (-p.priority, p.code)))

    def price(self, basket: Basket) -> PricedBasket:
        quantum = _quantum(basket.currency_decimals)
        applicable = [p for p in self.promotions if _applies(p, basket)]
        coupon_codes = {pid: code for code, pid in basket.coupons}
        used: list[str] = []
        lines = []
        for line in basket.lines:
            amount = (line.quantity * line.unit_price).quantize(quantum, ROUND_HALF_UP)
            left = amount
            discounts: list[AppliedDiscount] = []
            for promotion in applicable:
                if promotion.scope != "line" or not promotion.target.covers(line.product_id, line.category):
                    continue
                if promotion.kind == "percent_off" and promotion.percent is not None:
                    off = (left * promotion.percent / 100).quantize(quantum, ROUND_HALF_UP)
                elif promotion.kind == "amount_off" and promotion.amount is not None:
                    off = min(left, (promotion.amount * line.quantity).quantize(quantum, ROUND_HALF_UP))
                else:
                    continue
                if off <= 0:
                    continue
                coupon = coupon_codes.get(promotion.id)
                discounts.append(
                    AppliedDiscount(
                        "coupon" if coupon else "promotion", coupon or promotion.code, off, promotion.id
                    )
                )
                left -= off
                if promotion.code not in used:
                    used.append(promotion.code)
            if line.manual_discount > 0:
                off = min(left, line.manual_discount)
                discounts.append(AppliedDiscount("manual", "manual", off))
                left -= off
            floor = line.floor_amount
            lines.append(
                PricedLine(
                    key=line.key,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    amount=amount,
                    discounts=tuple(discounts),
                    discount=amount - left,
                    net=left,
                    below_floor=floor is not None and left < floor * line.quantity,
                )
            )
        return PricedBasket(lines=tuple(lines), promotions=tuple(used), shipping=basket.shipping)


def worst_case(promotion: Promotion, line: BasketLine) -> Decimal:
    """The least a unit of ``line``'s product can come to under ``promotion`` alone (before manual
    discounts), on the unit price's basis. Compare it with ``line.floor_amount`` to judge a breach."""
    if not promotion.target.covers(line.product_id, line.category):
        return line.unit_price
    if promotion.kind == "percent_off" and promotion.percent is not None:
        return line.unit_price * (1 - promotion.percent / 100)
    if promotion.kind == "amount_off" and promotion.amount is not None:
        return max(Decimal(0), line.unit_price - promotion.amount)
    return line.unit_price
