"""Stored promotions as the engine sees them, the book of a company's promotions in force, and the
margin floors callers hand the engine.

* :func:`to_model` turns a :class:`~retailcore.promotions.tables.PromotionRow` into a
  :class:`~retailcore.promotions.model.Promotion`; :func:`rule_of` builds the JSON ``rule`` (Decimals as
  strings, ids as text) from request fields.
* :func:`book_for` is the :class:`~retailcore.promotions.engine.PromotionBook` of every approved
  promotion not expired (states ``approved``, ``scheduled``, ``active``: the engine itself checks the
  local time, so a scheduled promotion is in force the moment it starts, before any sweep). Books are
  cached per company and process behind the master-data stamp (decision 0070, ``masterdata/cache.py``):
  a promotion approved, edited or expired in another process is seen by the next transaction, one
  changed earlier in the same transaction by its next call.
* :func:`floors` and :func:`floor_amounts`: per product, the least a unit may come to: cost x
  (1 + floor), the product's floor beating its category's, plus the price-included taxes when prices
  include them. Cost is the product's current unit cost by its own cost method (standard: the
  standard cost; average and FIFO: the company's stock value over quantity, or the last unit cost when
  out of stock), as inventory values the next unit
  (:func:`retailcore.inventory.services.current_unit_cost`), decision 0048.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.inventory.services import current_unit_cost
from retailcore.inventory.tables import ProductCost
from retailcore.masterdata.cache import cached
from retailcore.masterdata.tables import Company, Product
from retailcore.pricing.taxes import TaxSpec
from retailcore.promotions.engine import PromotionBook
from retailcore.promotions.model import BundleComponent, Promotion, Target, Tier, Window
from retailcore.promotions.tables import MarginFloor, PromotionRow

IN_FORCE = ("approved", "scheduled", "active")
"""Approved promotions not (yet) expired: what pricing considers; the engine checks the time."""

_DECIMALS = ("percent", "amount", "buy_quantity", "get_quantity", "bundle_price", "threshold")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def rule_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON ``rule`` of a promotion from its fields (request values or views)."""
    rule: dict[str, Any] = {}
    for name in _DECIMALS:
        if fields.get(name) is not None:
            rule[name] = str(fields[name])
    components = fields.get("components") or []
    if components:
        rule["components"] = [
            {"product_id": str(_get(c, "product_id")), "quantity": str(_get(c, "quantity"))}
            for c in components
        ]
    tiers = fields.get("tiers") or []
    if tiers:
        rule["tiers"] = [
            {
                "threshold": str(_get(t, "threshold")),
                **({"percent": str(_get(t, "percent"))} if _get(t, "percent") is not None else {}),
                **({"amount": str(_get(t, "amount"))} if _get(t, "amount") is not None else {}),
            }
            for t in tiers
        ]
    rule["product_ids"] = sorted(str(p) for p in fields.get("product_ids") or [])
    rule["categories"] = sorted(fields.get("categories") or [])
    return rule


def _get(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name)


def windows_of(windows: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "weekdays": sorted(set(_get(w, "weekdays"))),
            "start": _time_text(_get(w, "start")),
            "end": _time_text(_get(w, "end")),
        }
        for w in windows
    ]


def _time_text(value: Any) -> str:
    return value.isoformat(timespec="minutes") if isinstance(value, dt.time) else str(value)


def fields_of(row: PromotionRow) -> dict[str, Any]:
    """A row's fields as a request would give them (the rule unpacked), for views and merges."""
    rule = row.rule or {}
    return {
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "kind": row.kind,
        "stacking": row.stacking,
        "priority": row.priority,
        "scope": row.scope,
        **{name: _dec(rule.get(name)) for name in _DECIMALS},
        "components": [
            {"product_id": uuid.UUID(c["product_id"]), "quantity": Decimal(c["quantity"])}
            for c in rule.get("components", [])
        ],
        "tiers": [
            {
                "threshold": Decimal(t["threshold"]),
                "percent": _dec(t.get("percent")),
                "amount": _dec(t.get("amount")),
            }
            for t in rule.get("tiers", [])
        ],
        "product_ids": [uuid.UUID(p) for p in rule.get("product_ids", [])],
        "categories": list(rule.get("categories", [])),
        "channels": None if row.channels is None else list(row.channels),
        "store_ids": None if row.store_ids is None else [uuid.UUID(s) for s in row.store_ids],
        "customer_groups": None if row.customer_groups is None else list(row.customer_groups),
        "windows": list(row.windows or []),
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "coupon_only": row.coupon_only,
    }


def to_model(row: PromotionRow) -> Promotion:
    """The engine's view of a stored promotion."""
    f = fields_of(row)
    return Promotion(
        id=row.id,
        code=row.code,
        kind=row.kind,  # type: ignore[arg-type]
        stacking=row.stacking,  # type: ignore[arg-type]
        priority=row.priority,
        scope=row.scope,  # type: ignore[arg-type]
        target=Target(frozenset(f["product_ids"]), frozenset(f["categories"])),
        percent=f["percent"],
        amount=f["amount"],
        buy_quantity=f["buy_quantity"],
        get_quantity=f["get_quantity"],
        bundle_price=f["bundle_price"],
        components=tuple(BundleComponent(c["product_id"], c["quantity"]) for c in f["components"]),
        tiers=tuple(Tier(t["threshold"], t["percent"], t["amount"]) for t in f["tiers"]),
        threshold=f["threshold"],
        channels=None if f["channels"] is None else frozenset(f["channels"]),
        store_ids=None if f["store_ids"] is None else frozenset(f["store_ids"]),
        customer_groups=None if f["customer_groups"] is None else frozenset(f["customer_groups"]),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        windows=tuple(
            Window(
                frozenset(w["weekdays"]), dt.time.fromisoformat(w["start"]), dt.time.fromisoformat(w["end"])
            )
            for w in f["windows"]
        ),
        coupon_only=row.coupon_only,
    )


# -- the book, cached per company --------------------------------------------------------------------


def book_for(session: Session, company_id: uuid.UUID) -> PromotionBook:
    """The company's :class:`PromotionBook` of approved promotions not expired (module docstring)."""
    return cached(session, company_id, "promotion_book", lambda: _book(session, company_id))


def _book(session: Session, company_id: uuid.UUID) -> PromotionBook:
    rows = session.scalars(
        select(PromotionRow).where(PromotionRow.company_id == company_id, PromotionRow.state.in_(IN_FORCE))
    )
    return PromotionBook([to_model(row) for row in rows])


# -- margin floors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """A product's floor: the fraction that applies, where it comes from, the unit cost, and the least
    a unit may come to (net of tax, and on the unit price's basis)."""

    product_id: uuid.UUID
    fraction: Decimal
    source: str
    """``product`` or ``category:<name>``."""
    unit_cost: Decimal
    net_amount: Decimal
    """cost x (1 + fraction)."""
    amount: Decimal
    """``net_amount`` plus the price-included taxes, when the prices include them."""


def unit_costs(
    session: Session, company_id: uuid.UUID, products: Iterable[Product]
) -> dict[uuid.UUID, Decimal]:
    """Each product's current unit cost by its cost method (module docstring); read, never locked."""
    products = list(products)
    ids = [p.id for p in products]
    costs = {
        row.product_id: row
        for row in (
            session.scalars(
                select(ProductCost).where(
                    ProductCost.company_id == company_id, ProductCost.product_id.in_(ids)
                )
            )
            if ids
            else []
        )
    }
    result = {}
    for product in products:
        row = costs.get(product.id)
        if row is None:
            result[product.id] = product.standard_cost
        else:
            result[product.id] = current_unit_cost(product, row)
    return result


def floors(
    session: Session,
    company: Company | uuid.UUID,
    products: Iterable[Product],
    *,
    tax_rules: Mapping[str, list[TaxSpec]] | None = None,
) -> dict[uuid.UUID, Floor]:
    """The floors of the products that have one (others are absent), with where each comes from.
    ``tax_rules`` (from :func:`retailcore.pricing.taxes.load_tax_rules`): when a product's taxes are
    price-included, the floor is raised by them, so it compares with prices that include tax."""
    company_id = company.id if isinstance(company, Company) else company
    products = list(products)
    if not products:
        return {}
    rows = list(session.scalars(select(MarginFloor).where(MarginFloor.company_id == company_id)))
    by_product = {f.product_id: f.floor for f in rows if f.product_id is not None}
    by_category = {f.category: f.floor for f in rows if f.category is not None}
    wanted = [p for p in products if p.id in by_product or p.category in by_category]
    costs = unit_costs(session, company_id, wanted)
    result = {}
    for product in wanted:
        if product.id in by_product:
            fraction, source = by_product[product.id], "product"
        else:
            fraction, source = by_category[product.category], f"category:{product.category}"
        net = costs[product.id] * (1 + fraction)
        included = sum(
            (t.rate_percent for t in (tax_rules or {}).get(product.tax_category, []) if t.price_included),
            Decimal(0),
        )
        result[product.id] = Floor(
            product.id, fraction, source, costs[product.id], net, net * (1 + included / 100)
        )
    return result


def floor_amounts(
    session: Session,
    company: Company | uuid.UUID,
    products: Iterable[Product],
    *,
    tax_rules: Mapping[str, list[TaxSpec]] | None = None,
) -> dict[uuid.UUID, Decimal]:
    """Per product with a floor, the least a unit may come to: what
    :attr:`retailcore.promotions.model.BasketLine.floor_amount` takes (see :func:`floors`)."""
    return {
        product_id: floor.amount
        for product_id, floor in floors(session, company, products, tax_rules=tax_rules).items()
    }
