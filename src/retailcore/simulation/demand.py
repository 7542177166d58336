"""The shape of the simulated demand: what a forecaster should be able to learn.

A product's units at a store on a day come from the store's traffic (its size, the weekday, the
mid-month payday, the public holidays of :attr:`Profile.holidays`) times the product's share of the
day's draws: its popularity (``SimProduct.weight``: fast movers and slow ones, the slowest selling a
unit every few days at a store, i.e. intermittent), its category's weekday profile
(:attr:`Profile.category_weekday_percent`) and, while an active promotion covers it, the promotion
uplift (:attr:`Profile.promotion_uplift_percent`).

Everything is an integer percent and the draws stay integer draws (``_Weighted`` bisects integer
cumulative weights), so no float ever decides a count. Which products a promotion covers today is
asked of the pricing engine itself (a one-line basket priced at the local noon of the day), so the
uplift follows the promotions exactly as the tills apply them (weekday windows, start and end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from retailcore.promotions import channels as pricing
from retailcore.promotions.model import Basket, BasketLine
from retailcore.simulation import world as w
from retailcore.simulation.profile import Profile

if TYPE_CHECKING:
    import uuid

PROMOTION_PROBE_QUANTITY = Decimal(3)
"""A buy-2-get-1 only shows on three units: the probe basket holds three."""


def calendar_percent(profile: Profile, date: dt.date) -> int:
    """The day's traffic from the calendar (payday and public holidays), in percent of a usual day."""
    percent = 100
    if date.day in profile.payday_days:
        percent = percent * profile.payday_percent // 100
    holiday = dict(profile.holidays).get(f"{date:%m-%d}")
    if holiday is not None:
        percent = percent * holiday // 100
    return percent


def category_weekday(profile: Profile, category: str, day: int) -> int:
    top = category.split("/")[0]
    for name, percents in profile.category_weekday_percent:
        if name == top:
            return percents[day % 7]
    return 100


def day_weights(
    profile: Profile, products: Iterable[w.SimProduct], day: int, promoted: set[uuid.UUID]
) -> list[int]:
    """Each product's integer weight in the day's draws."""
    uplift = 100 + profile.promotion_uplift_percent
    return [
        product.weight
        * category_weekday(profile, product.category, day)
        * (uplift if product.id in promoted else 100)
        for product in products
    ]


def promoted_products(
    session: Session,
    company_id: uuid.UUID,
    products: Iterable[w.SimProduct],
    date: dt.date,
    channel: str,
    store_id: uuid.UUID | None,
) -> set[uuid.UUID]:
    """The products an active promotion discounts on ``channel`` at the local noon of ``date``."""
    book = pricing.book_for(session, company_id)
    prefilter = pricing.Prefilter(book)
    noon = dt.datetime.combine(date, dt.time(12))
    found = set()
    for product in products:
        if not prefilter.touches(product.id, product.category):
            continue
        basket = Basket(
            lines=(
                BasketLine(
                    key="probe",
                    product_id=product.id,
                    category=product.category,
                    quantity=PROMOTION_PROBE_QUANTITY,
                    unit_price=product.list_price,
                    manual_discount=Decimal(0),
                ),
            ),
            currency_decimals=2,
            channel=channel,
            local_time=noon,
            store_id=store_id,
            customer_group=None,
        )
        line = book.price(basket).lines[0]
        if any(d.source != "manual" for d in line.discounts):
            found.add(product.id)
    return found
