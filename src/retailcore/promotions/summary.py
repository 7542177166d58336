"""Promotions as people read them: the back office's reading of the promotions context (docs/ui.md,
decision 0053).

* :func:`review_queue`: the company's promotions, the approval queue (``submitted``) first, then by
  code; :func:`price_change_queue` the same for governed price changes.
* :func:`rule_in_words` and :func:`targeting_in_words`: a promotion's rule and targeting as sentences
  (``10% off each targeted line``; ``products COFFEE, TEA; channels pos; stores S1``).
* :func:`decision_trail`: the events of a promotion or price change, in log order: who drafted,
  submitted, approved or rejected it, when and why (the ``reason`` of each event's payload).
* :func:`coupon_batches`: each coupon batch with its promotion, codes, uses and codes used up;
  :func:`margin_floor_table` the floors by category and product.

Reads only; nothing here writes or records an event. Amounts stay ``Decimal`` and print as short text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Product, Store
from retailcore.pricing.tables import PriceList
from retailcore.promotions import commands as c
from retailcore.promotions.governance import plain
from retailcore.promotions.services import promotions_query
from retailcore.promotions.tables import Coupon, MarginFloor, PriceChange, PromotionRow

QUEUE_FIRST = "submitted"
"""The state a reviewer acts on: listed first."""

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SCOPES = {"line": "each targeted line", "category": "the targeted lines together", "order": "the whole order"}


def review_queue(
    session: Session, company_id: uuid.UUID, state: str | None = None, limit: int = 500
) -> list[PromotionRow]:
    """The company's promotions in ``state`` (``approved``: scheduled and active), submitted first."""
    query = promotions_query(company_id, state)
    first = case((PromotionRow.state == QUEUE_FIRST, 0), else_=1)
    return list(session.scalars(query.order_by(first, PromotionRow.code).limit(limit)))


def price_change_queue(
    session: Session, company_id: uuid.UUID, state: str | None = None, limit: int = 500
) -> list[PriceChange]:
    """The company's price changes in ``state``, submitted first, then by when they take effect."""
    query = select(PriceChange).where(PriceChange.company_id == company_id)
    if state:
        query = query.where(PriceChange.state == state)
    first = case((PriceChange.state == QUEUE_FIRST, 0), else_=1)
    return list(session.scalars(query.order_by(first, PriceChange.effective_at, PriceChange.id).limit(limit)))


def _skus(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Product.id, Product.sku).where(Product.id.in_(ids))).tuples().all())


def rule_in_words(session: Session, view: c.PromotionView) -> str:
    """What the promotion gives, in one sentence (docs/promotions.md's table of kinds)."""
    scope = SCOPES.get(view.scope, view.scope)
    if view.kind == "percent_off":
        return f"{plain(view.percent or 0)}% off {scope}"
    if view.kind == "amount_off":
        each = " per unit" if view.scope == "line" else ""
        return f"{plain(view.amount or 0)} off{each}, {scope}"
    if view.kind == "buy_x_get_y":
        off = "free" if view.percent is None or view.percent == 100 else f"{plain(view.percent)}% off"
        return (
            f"buy {plain(view.buy_quantity or 0)} targeted units, get {plain(view.get_quantity or 0)}"
            f" more {off} (the cheapest), repeated"
        )
    if view.kind == "mix_and_match":
        price = plain(view.bundle_price or 0)
        return f"any {plain(view.buy_quantity or 0)} targeted units for {price}, repeated"
    if view.kind == "bundle_price":
        skus = _skus(session, [part.product_id for part in view.components])
        parts = " + ".join(
            f"{plain(part.quantity)} x {skus.get(part.product_id, str(part.product_id))}"
            for part in view.components
        )
        return f"{parts} together for {plain(view.bundle_price or 0)}, repeated"
    if view.kind == "tiered_spend":
        tiers = "; ".join(
            f"from {plain(t.threshold)}: "
            + (f"{plain(t.percent)}% off" if t.percent else f"{plain(t.amount or 0)} off")
            for t in view.tiers
        )
        return f"on the targeted lines' amount, the highest tier reached: {tiers}"
    if view.kind == "free_shipping":
        return f"free shipping when the targeted lines reach {plain(view.threshold or 0)}"
    return view.kind


@dataclass(frozen=True)
class Targeting:
    """Who and what a promotion is for; ``None`` lists mean everyone (every channel, store, group)."""

    products: list[str]
    categories: list[str]
    channels: list[str] | None
    stores: list[str] | None
    customer_groups: list[str] | None
    windows: list[str]

    def words(self) -> str:
        parts = []
        if self.products or self.categories:
            if self.products:
                parts.append("products " + ", ".join(self.products))
            if self.categories:
                parts.append("categories " + ", ".join(self.categories))
        else:
            parts.append("every product")
        parts.append("channels " + ", ".join(self.channels) if self.channels else "every channel")
        parts.append("stores " + ", ".join(self.stores) if self.stores else "every store")
        if self.customer_groups:
            parts.append("customer groups " + ", ".join(self.customer_groups))
        return "; ".join(parts)


def targeting(session: Session, view: c.PromotionView) -> Targeting:
    skus = _skus(session, view.product_ids)
    stores: list[str] | None = None
    if view.store_ids:
        codes = dict(
            session.execute(select(Store.id, Store.code).where(Store.id.in_(view.store_ids))).tuples().all()
        )
        stores = sorted(codes.get(store, str(store)) for store in view.store_ids)
    windows = [
        f"{', '.join(WEEKDAYS[d] for d in sorted(w.weekdays))} {w.start:%H:%M}-{w.end:%H:%M}"
        for w in view.windows
    ]
    return Targeting(
        products=sorted(skus.get(p, str(p)) for p in view.product_ids),
        categories=list(view.categories),
        channels=view.channels,
        stores=stores,
        customer_groups=view.customer_groups,
        windows=windows,
    )


def decision_trail(session: Session, company_id: uuid.UUID, aggregate_id: uuid.UUID) -> list[Event]:
    """The record's events, in log order (drafted, changed, submitted, approved or rejected, ...)."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.company_id == company_id, Event.aggregate_id == aggregate_id)
            .order_by(Event.position)
        )
    )


def why(event: Event) -> str:
    """The reason an event's payload gives (a rejection's, an override's), or ''."""
    payload: dict[str, Any] = event.payload or {}
    override = payload.get("override") or {}
    return str(payload.get("reason") or override.get("reason") or "")


@dataclass(frozen=True)
class CouponBatch:
    batch: str
    promotion_code: str
    codes: int
    uses: int
    used_up: int


def coupon_batches(session: Session, company_id: uuid.UUID, limit: int = 500) -> list[CouponBatch]:
    """Each generated batch: its promotion, how many codes, their uses, how many are used up."""
    used_up = func.sum(case((Coupon.uses >= Coupon.max_uses, 1), else_=0))
    rows = session.execute(
        select(Coupon.batch, PromotionRow.code, func.count(), func.sum(Coupon.uses), used_up)
        .join(PromotionRow, PromotionRow.id == Coupon.promotion_id)
        .where(Coupon.company_id == company_id, Coupon.batch.is_not(None))
        .group_by(Coupon.batch, PromotionRow.code)
        .order_by(Coupon.batch)
        .limit(limit)
    ).tuples()
    return [
        CouponBatch(batch or "", code, int(codes), int(uses or 0), int(up or 0))
        for batch, code, codes, uses, up in rows
    ]


@dataclass(frozen=True)
class FloorLine:
    product: str
    """The product's SKU, or '' for a category's floor."""
    category: str
    floor: Decimal
    """The least margin as a fraction of unit cost (0.1: the price stays 10% above cost)."""


def margin_floor_table(session: Session, company_id: uuid.UUID, limit: int = 1000) -> list[FloorLine]:
    """The company's margin floors: categories first, then products, each by name."""
    rows = session.execute(
        select(Product.sku, MarginFloor.category, MarginFloor.floor)
        .outerjoin(Product, Product.id == MarginFloor.product_id)
        .where(MarginFloor.company_id == company_id)
        .order_by(MarginFloor.category.is_(None), MarginFloor.category, Product.sku)
        .limit(limit)
    ).tuples()
    return [FloorLine(sku or "", category or "", floor) for sku, category, floor in rows]


def price_list_codes(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The codes of the price lists the changes are for."""
    if not ids:
        return {}
    return dict(
        session.execute(select(PriceList.id, PriceList.code).where(PriceList.id.in_(ids))).tuples().all()
    )
