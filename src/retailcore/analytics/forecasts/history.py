"""Daily demand history from the orders, as the ``unique_id, ds, y`` frame statsforecast reads.

One series per product and store (POS sales, and web or marketplace orders the store fulfils or
hands over: demand met from the store's shelf), and one per product for the web channel (web and
marketplace orders sourced from a warehouse, or from no store). B2B orders are left out: a wholesale
order is a negotiated one-off, not shelf demand.

* ``y`` is units ordered less units cancelled, of orders not cancelled: demand, not deliveries (a
  sold-out line that shipped late still was asked for on its day). Returns are not subtracted.
* The day is the UTC day of ``ordered_at`` (the till's clock for POS sales): one expression both
  backends group by in SQL. A store far from UTC files its late-evening sales on the next day; the
  weekly season absorbs most of that, and the analytics read models keep the store's local day.
* Exogenous columns: ``price`` (the day's highest unit price before discounts, the last one carried
  to days without sales) and ``promo`` (1 on a day where a unit sold with a discount). The company keeps
  no holiday calendar, so the weekday is left to the models' weekly season.
* Days without a sale are 0, from the company's first day with a sale in the window (a series that
  starts selling later has leading zeros, as M5's do).

One grouped query reads the window (a 40-store month: a few hundred thousand lines become at most
series x days rows); the zero-filling happens in pandas.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.orm import Session

from retailcore.analytics.forecasts.forecasting import require
from retailcore.masterdata.tables import Location, Store
from retailcore.orders.tables import OrderLineRow, OrderRow

if TYPE_CHECKING:
    import pandas as pd

DEMAND_CHANNELS = ("pos", "web", "marketplace")
WEB = "web"


@dataclass
class DemandHistory:
    """``frame``: ``unique_id, ds, y, price, promo``; ``series``: per ``unique_id`` its ``product_id``,
    ``channel`` (``store``/``web``), ``store_id`` (None for web) and ``location_id``."""

    frame: pd.DataFrame
    series: pd.DataFrame
    start: dt.date
    end: dt.date


def series_id(product_id: uuid.UUID, store_id: uuid.UUID | None) -> str:
    return f"{product_id}@{store_id or WEB}"


def _utc_day(session: Session):
    moment = func.coalesce(OrderRow.ordered_at, OrderRow.created_at)
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", moment), Date)
    return func.date(moment)


def stock_locations(session: Session, company_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """Each store's main stock location (``<CODE>/STOCK``, else its first stock location by code)."""
    rows = session.execute(
        select(Store.id, Store.code, Location.id, Location.code)
        .join(Location, (Location.store_id == Store.id) & (Location.company_id == Store.company_id))
        .where(Store.company_id == company_id, Location.kind == "stock", Location.active.is_(True))
        .order_by(Store.id, Location.code)
    )
    found: dict[uuid.UUID, uuid.UUID] = {}
    for store_id, store_code, location_id, location_code in rows:
        if location_code == f"{store_code}/STOCK" or store_id not in found:
            found[store_id] = location_id
    return found


def demand_rows(
    session: Session,
    company_id: uuid.UUID,
    start: dt.date,
    end: dt.date,
    product_ids: Collection[uuid.UUID] | None = None,
) -> list[Any]:
    """Units per product, series store (None for web), sourcing store of web orders and UTC day, from
    ``start`` to ``end`` inclusive, with the day's list price and whether a unit sold discounted."""
    day = _utc_day(session).label("day")
    units = OrderLineRow.quantity - OrderLineRow.cancelled_quantity
    at_store = (Store.kind == "store") & OrderRow.store_id.is_not(None)
    store_key = case((at_store, OrderRow.store_id), else_=None).label("series_store")
    source_store = case((at_store, None), else_=OrderRow.store_id).label("source_store")
    moment = func.coalesce(OrderRow.ordered_at, OrderRow.created_at)
    begin = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    query = (
        select(
            OrderLineRow.product_id,
            store_key,
            source_store,
            day,
            func.sum(units).label("units"),
            # The list price of the day (before discounts): prices change rarely within a day, and a
            # max keeps the column's exact type on both backends where a product of two would not.
            func.max(OrderLineRow.unit_price).label("price"),
            func.max(case((OrderLineRow.discount > Decimal(0), 1), else_=0)).label("promo"),
        )
        .join(
            OrderRow,
            (OrderRow.id == OrderLineRow.order_id) & (OrderRow.company_id == OrderLineRow.company_id),
        )
        .outerjoin(Store, Store.id == OrderRow.store_id)
        .where(
            OrderLineRow.company_id == company_id,
            OrderRow.channel.in_(DEMAND_CHANNELS),
            OrderRow.state != "cancelled",
            moment >= begin,
            moment < finish,
        )
        .group_by(OrderLineRow.product_id, store_key, source_store, day)
    )
    if product_ids is not None:
        query = query.where(OrderLineRow.product_id.in_(list(product_ids)))
    return list(session.execute(query).all())


def demand_history(session: Session, company_id: uuid.UUID, *, as_of: dt.date, days: int) -> DemandHistory:
    """The ``days`` days of demand ending on ``as_of`` (inclusive), every series with a sale in them."""
    pd, np = require()
    start = as_of - dt.timedelta(days=days - 1)
    rows = demand_rows(session, company_id, start, as_of)
    columns = ["product_id", "store_id", "source_store", "day", "units", "price", "promo"]
    raw = pd.DataFrame(rows, columns=columns)
    empty = pd.DataFrame({"unique_id": [], "ds": [], "y": [], "price": [], "promo": []})
    if raw.empty:
        series = pd.DataFrame(columns=["product_id", "channel", "store_id", "location_id"])
        return DemandHistory(empty, series, start, as_of)
    raw["units"] = raw["units"].astype(float)
    raw["price"] = raw["price"].astype(float)
    raw["ds"] = pd.to_datetime(raw["day"].astype(str))
    raw["unique_id"] = [series_id(p, s) for p, s in zip(raw["product_id"], raw["store_id"], strict=True)]
    daily = raw.groupby(["unique_id", "ds"], as_index=False).agg(
        y=("units", "sum"), price=("price", "max"), promo=("promo", "max")
    )

    # From the company's first day with a sale in the window: a company selling for a month is not
    # padded with two months of zeros it never had.
    first_day = raw["ds"].min()
    calendar = pd.date_range(first_day, as_of, freq="D")
    ids = np.sort(daily["unique_id"].unique())
    grid = pd.MultiIndex.from_product([ids, calendar], names=["unique_id", "ds"])
    frame = daily.set_index(["unique_id", "ds"]).reindex(grid).reset_index()
    frame["y"] = frame["y"].fillna(0.0).clip(lower=0)
    frame["promo"] = frame["promo"].fillna(0).astype(int)
    frame["price"] = frame.groupby("unique_id")["price"].transform(lambda p: p.ffill().bfill()).fillna(0.0)

    locations = stock_locations(session, company_id)
    warehouse = _busiest_source(raw, locations)
    first = raw.drop_duplicates("unique_id").set_index("unique_id")
    series = pd.DataFrame(
        {
            "product_id": first["product_id"],
            "channel": ["web" if s is None or pd.isna(s) else "store" for s in first["store_id"]],
            "store_id": [None if s is None or pd.isna(s) else s for s in first["store_id"]],
        },
        index=first.index,
    )
    series["location_id"] = [
        warehouse if store is None else locations.get(store) for store in series["store_id"]
    ]
    frame = frame[["unique_id", "ds", "y", "price", "promo"]]
    return DemandHistory(frame, series.loc[ids], first_day.date(), as_of)


def _busiest_source(raw: pd.DataFrame, locations: dict[uuid.UUID, uuid.UUID]) -> uuid.UUID | None:
    """The stock location of the warehouse that sourced most web units (replenishment plans the web
    channel there); None when web orders named no warehouse."""
    web = raw[raw["store_id"].isna() & raw["source_store"].notna()]
    if web.empty:
        return None
    busiest = web.groupby("source_store")["units"].sum().idxmax()
    return locations.get(busiest)
