"""Margin floors: setting them (``/margin-floors``), and what a promotion would do to them.

A floor is a fraction of cost per product or per category (the product's beats its category's);
:func:`retailcore.promotions.book.floors` turns it into the least a unit may come to.
:func:`floor_breaches` prices every targeted product with a floor at its lowest price where the
promotion applies and asks the engine's ``worst_case`` how low the promotion alone can take it. Events:
``MarginFloorCreated``, ``MarginFloorChanged``, ``MarginFloorRemoved``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    ValidationFailed,
)
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company, Product
from retailcore.pricing.tables import PriceList, PriceListItem
from retailcore.pricing.taxes import load_tax_rules
from retailcore.promotions import commands as c
from retailcore.promotions.book import (
    fields_of,
    floors,
    to_model,
)
from retailcore.promotions.engine import worst_case
from retailcore.promotions.governance import expect_version, plain
from retailcore.promotions.model import BasketLine
from retailcore.promotions.tables import MarginFloor, PromotionRow


def _targeted_products(
    session: Session, company_id: uuid.UUID, product_ids: set[uuid.UUID], categories: set[str]
) -> list[Product]:
    query = select(Product).where(Product.company_id == company_id, Product.active.is_(True))
    if product_ids or categories:
        conditions = []
        if product_ids:
            conditions.append(Product.id.in_(product_ids))
        if categories:
            conditions.append(Product.category.in_(categories))
        query = query.where(or_(*conditions))
    return list(session.scalars(query.order_by(Product.sku)))


@dataclass(frozen=True)
class Breach:
    product_id: uuid.UUID
    sku: str
    unit_price: Decimal
    worst_case: Decimal
    floor: Decimal
    unit_cost: Decimal
    fraction: Decimal
    source: str

    def payload(self) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "sku": self.sku,
            "unit_price": plain(self.unit_price),
            "worst_case": plain(self.worst_case),
            "floor": plain(self.floor),
            "unit_cost": plain(self.unit_cost),
            "margin_floor": plain(self.fraction),
            "floor_source": self.source,
        }


def _lowest_prices(
    session: Session, company: Company, row: PromotionRow, products: list[Product]
) -> dict[uuid.UUID, Decimal]:
    """Per product, the lowest price it sells at where ``row`` applies: its list price, or an active
    price list's item in the company currency whose channel, store and group the promotion reaches."""
    prices = {p.id: p.list_price for p in products}
    if not products:
        return prices
    query = (
        select(PriceListItem.product_id, func.min(PriceListItem.unit_price))
        .join(PriceList, PriceList.id == PriceListItem.price_list_id)
        .where(
            PriceList.company_id == company.id,
            PriceList.active.is_(True),
            PriceList.currency == company.currency,
            PriceListItem.product_id.in_(prices),
        )
        .group_by(PriceListItem.product_id)
    )
    if row.channels is not None:
        query = query.where(or_(PriceList.channel.is_(None), PriceList.channel.in_(row.channels)))
    if row.store_ids is not None:
        query = query.where(
            or_(PriceList.store_id.is_(None), PriceList.store_id.in_([uuid.UUID(s) for s in row.store_ids]))
        )
    if row.customer_groups is not None:
        query = query.where(
            or_(PriceList.customer_group.is_(None), PriceList.customer_group.in_(row.customer_groups))
        )
    for product_id, price in session.execute(query):
        prices[product_id] = min(prices[product_id], price)
    return prices


def floor_breaches(session: Session, company: Company, row: PromotionRow) -> list[Breach]:
    """The targeted products that ``row`` alone can take below their margin floor (the engine's
    worst case at the product's lowest price where the promotion applies)."""
    promotion_fields = fields_of(row)
    products = _targeted_products(
        session, company.id, set(promotion_fields["product_ids"]), set(promotion_fields["categories"])
    )
    rules = load_tax_rules(session, company.id, company.tax_jurisdiction)
    found = floors(session, company.id, products, tax_rules=rules)
    products = [p for p in products if p.id in found]
    prices = _lowest_prices(session, company, row, products)
    promotion = to_model(row)
    breaches = []
    for product in products:
        floor = found[product.id]
        line = BasketLine(
            key=product.sku,
            product_id=product.id,
            category=product.category,
            quantity=Decimal(1),
            unit_price=prices[product.id],
            floor_amount=floor.amount,
        )
        worst = worst_case(promotion, line)
        if worst < floor.amount:
            breaches.append(
                Breach(
                    product.id,
                    product.sku,
                    prices[product.id],
                    worst,
                    floor.amount,
                    floor.unit_cost,
                    floor.fraction,
                    floor.source,
                )
            )
    return breaches


# -- margin floors -----------------------------------------------------------------------------------


def get_floor(session: Session, principal: Principal, floor_id: uuid.UUID) -> MarginFloor:
    row = session.get(MarginFloor, floor_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no margin floor {floor_id}")
    return row


def _floor_payload(row: MarginFloor) -> dict[str, Any]:
    return {"product_id": row.product_id, "category": row.category, "floor": row.floor}


def create_floor(
    session: Session, ctx: CommandContext, company: Company, body: c.CreateMarginFloor
) -> MarginFloor:
    if (body.product_id is None) == (body.category is None):
        raise ValidationFailed(
            "a margin floor is for a product or for a category",
            problems=[FieldProblem("product_id", "give product_id or category, not both nor neither")],
        )
    if body.product_id is not None:
        product = session.get(Product, body.product_id)
        if product is None or product.company_id != company.id:
            raise InvalidReference(
                f"no product {body.product_id} in {company.code}",
                problems=[FieldProblem("product_id", "no such product")],
            )
        taken = select(MarginFloor.id).where(
            MarginFloor.company_id == company.id, MarginFloor.product_id == body.product_id
        )
        field_name = "product_id"
    else:
        known = session.scalar(
            select(Product.id)
            .where(Product.company_id == company.id, Product.category == body.category)
            .limit(1)
        )
        if known is None:
            raise InvalidReference(
                f"no product of {company.code} is in {body.category!r}",
                problems=[FieldProblem("category", "no such category")],
            )
        taken = select(MarginFloor.id).where(
            MarginFloor.company_id == company.id, MarginFloor.category == body.category
        )
        field_name = "category"
    if session.scalar(taken) is not None:
        raise Conflict(
            f"that {field_name.replace('_id', '')} has a floor already: change it",
            problems=[FieldProblem(field_name, "has a floor already")],
        )
    row = MarginFloor(
        company_id=company.id, product_id=body.product_id, category=body.category, floor=body.floor
    )
    session.add(row)
    session.flush()
    record(
        session,
        ctx,
        type="MarginFloorCreated",
        company_id=company.id,
        aggregate_type="MarginFloor",
        aggregate_id=row.id,
        payload=_floor_payload(row),
    )
    return row


def update_floor(
    session: Session,
    ctx: CommandContext,
    floor_id: uuid.UUID,
    body: c.UpdateMarginFloor,
    *,
    expected_version: int | None = None,
) -> MarginFloor:
    row = get_floor(session, ctx.principal, floor_id)
    expect_version("margin floor", row, expected_version)
    if row.floor == body.floor:
        return row
    before = row.floor
    row.floor = body.floor
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="MarginFloorChanged",
        company_id=row.company_id,
        aggregate_type="MarginFloor",
        aggregate_id=row.id,
        payload={**_floor_payload(row), "changes": {"floor": {"from": before, "to": row.floor}}},
    )
    return row


def delete_floor(
    session: Session, ctx: CommandContext, floor_id: uuid.UUID, *, expected_version: int | None = None
) -> c.MarginFloorView:
    row = get_floor(session, ctx.principal, floor_id)
    expect_version("margin floor", row, expected_version)
    gone = c.MarginFloorView.model_validate(row)
    record(
        session,
        ctx,
        type="MarginFloorRemoved",
        company_id=row.company_id,
        aggregate_type="MarginFloor",
        aggregate_id=row.id,
        payload=_floor_payload(row),
    )
    session.delete(row)
    session.flush()
    return gone
