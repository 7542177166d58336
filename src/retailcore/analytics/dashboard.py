"""The back office's dashboard: the KPIs of :mod:`retailcore.analytics.queries` for one period, each beside
the previous period's value. Every figure here is read by the same query functions the ``/kpis`` routes
call (no second computation), so the page and the API answer the same numbers for the same filters.

Definitions: docs/analytics.md; the page: docs/ui.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting.reports import cell_text
from retailcore.analytics import queries as q
from retailcore.analytics.tables import DailySales
from retailcore.masterdata.tables import Product, Store

Unit = Literal["money", "percent", "count"]


@dataclass(frozen=True)
class Tile:
    """One KPI: this period's value, the previous period's, and the change: in percent of the previous
    value for amounts and counts, in percentage points for rates (None where it cannot be computed)."""

    key: str
    label: str
    unit: Unit
    value: Decimal | None
    previous: Decimal | None = None
    change: Decimal | None = None
    margin: bool = False
    """A margin figure: the page links it to the journal lines behind it."""
    note: str = ""


def tile(
    key: str,
    label: str,
    unit: Unit,
    value: Any,
    previous: Any = None,
    *,
    compared: bool = True,
    margin: bool = False,
    note: str = "",
) -> Tile:
    now = None if value is None else Decimal(value)
    before = None if previous is None else Decimal(previous)
    change = None
    if compared and now is not None and before is not None:
        change = (now - before).quantize(q.CENT) if unit == "percent" else q.percent(now - before, before)
    return Tile(key, label, unit, now, before if compared else None, change, margin, note)


@dataclass
class Dashboard:
    where: q.Scope
    previous: q.Scope
    tiles: list[Tile]
    by_day: q.SalesReport
    by_channel: q.SalesReport
    by_store: q.SalesReport
    by_category: q.SalesReport
    exceptions: q.ExceptionsReport
    extra: dict[str, Any] = field(default_factory=dict)


def visible_stores(session: Session, principal: Principal, company_id: uuid.UUID) -> list[tuple[str, str]]:
    """The (code, name) of the company's stores the caller sees, for the store filter: a store's user
    gets its own store only."""
    stores = session.scalars(select(Store).where(Store.company_id == company_id).order_by(Store.code))
    return [(store.code, store.name) for store in stores if principal.sees_store(store.id)]


def product_categories(session: Session, company_id: uuid.UUID) -> list[str]:
    """The company's product categories, for the category filters (what the posting rules copy onto
    the journal lines and the sales read model groups by)."""
    found = session.scalars(
        select(Product.category).where(Product.company_id == company_id, Product.category != "").distinct()
    )
    return sorted(category for category in found if category)


def last_day_with_sales(
    session: Session, company_id: uuid.UUID, store_id: uuid.UUID | None, today: dt.date
) -> dt.date | None:
    """The latest day up to ``today`` with sales in the read model (of one store when given)."""
    query = select(func.max(DailySales.day)).where(
        DailySales.company_id == company_id, DailySales.day <= today
    )
    if store_id is not None:
        query = query.where(DailySales.store_id == store_id)
    return session.scalar(query)


def default_period(
    session: Session, company_id: uuid.UUID, store_id: uuid.UUID | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """The 30 days ending on the last day with sales (the 30 days to today when there is none)."""
    end = last_day_with_sales(session, company_id, store_id, today) or today
    return end - dt.timedelta(days=q.DEFAULT_DAYS - 1), end


def dashboard(session: Session, where: q.Scope) -> Dashboard:
    """The dashboard's figures for ``where``, compared with the period of the same length before it.

    The reports share their reads (:func:`queries.memoised`): each read model is scanned once per scope
    and grouping, and the previous period's reports, of which only the totals are shown, are asked by
    store (sell-through by category, to share the stock on hand), so that period is read once.
    """
    with q.memoised(session):
        return _dashboard(session, where)


def _dashboard(session: Session, where: q.Scope) -> Dashboard:
    before = where.previous()
    by_day = q.sales(session, where, "day")
    now, then = by_day.totals, by_day.previous.totals
    returns_now, returns_then = q.returns(session, where, "channel"), q.returns(session, before, "store")
    basket_now, basket_then = q.basket(session, where, "day"), q.basket(session, before, "store")
    through_now = q.sell_through(session, where, "category")
    through_then = q.sell_through(session, before, "category")
    accuracy_now = q.stock_accuracy(session, where, "store")
    accuracy_then = q.stock_accuracy(session, before, "store")
    shrink_now, shrink_then = q.shrinkage(session, where, "store"), q.shrinkage(session, before, "store")
    exceptions = q.open_exceptions(session, where)
    at_risk = ", ".join(f"{cell_text(amount)} {code}" for code, amount in exceptions.money_at_risk.items())
    tiles = [
        tile("net_sales", "Net sales", "money", now.net_sales, then.net_sales),
        tile("gross_margin", "Gross margin", "money", now.gross_margin, then.gross_margin, margin=True),
        tile("margin_percent", "Margin %", "percent", now.margin_percent, then.margin_percent, margin=True),
        tile(
            "discount_rate_percent",
            "Discount rate",
            "percent",
            now.discount_rate_percent,
            then.discount_rate_percent,
        ),
        tile(
            "return_rate_value_percent",
            "Return rate (value)",
            "percent",
            returns_now.totals.return_rate_value_percent,
            returns_then.totals.return_rate_value_percent,
        ),
        tile(
            "average_basket",
            "Average basket",
            "money",
            basket_now.totals.average_basket,
            basket_then.totals.average_basket,
        ),
        tile(
            "sell_through_percent",
            "Sell-through",
            "percent",
            through_now.totals.sell_through_percent,
            through_then.totals.sell_through_percent,
            note="against the units on hand now",
        ),
        tile(
            "stock_accuracy_percent",
            "Stock accuracy",
            "percent",
            accuracy_now.totals.accuracy_percent,
            accuracy_then.totals.accuracy_percent,
            note="lines counted exactly, approved counts",
        ),
        tile(
            "shrinkage_percent",
            "Shrinkage",
            "percent",
            shrink_now.totals.shrinkage_percent,
            shrink_then.totals.shrinkage_percent,
            note="count losses over net sales",
        ),
        tile(
            "open_exceptions",
            "Open exceptions",
            "count",
            exceptions.open,
            compared=False,
            note=f"now; money at risk {at_risk or '0.00'}",
        ),
    ]
    return Dashboard(
        where=where,
        previous=before,
        tiles=tiles,
        by_day=by_day,
        by_channel=q.sales(session, where, "channel"),
        by_store=q.sales(session, where, "store"),
        by_category=q.sales(session, where, "category"),
        exceptions=exceptions,
    )
