"""The KPI read models: daily aggregates, so that no dashboard request reads orders or their lines.

Every table is keyed by the company and the day (the store's local day, see docs/analytics.md) and
the dimensions its KPIs group by; the values are sums, so a period is the sum of its days and a
request reads a few hundred rows at most. Rows are only ever added to (``+=`` upserts) by the feed
(:mod:`retailcore.analytics.feed`), or replaced wholesale per slice (returns, counts) or per company
(``retailcore analytics rebuild``). ``store_id`` is never null: an order without a store is kept under
:data:`NO_STORE` (the nil UUID), so the key stays a primary key on both backends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, Quantity

NO_STORE = uuid.UUID(int=0)
"""The ``store_id`` of sales and returns of orders that name no store."""


class DailySales(Base):
    """Goods sold, per company, day, store, channel and product category.

    Fields:
      net: revenue net of tax (the lines' ``net``; for a partly delivered line, the delivered share).
      cost: the cost of goods sold (the stock value the delivery took out).
      list_amount: quantity x unit price before the line discounts, rounded like a receipt's line
        (on the prices' basis: tax included where the order's prices include tax).
      discount: the line discounts given (on the same basis as ``list_amount``).
      units: quantities sold, in the products' units.
      lines: order lines (or delivered parts of lines) counted.
    """

    __tablename__ = "analytics_daily_sales"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(200), primary_key=True)
    net: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    cost: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    list_amount: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    discount: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    units: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    lines: Mapped[int] = mapped_column(default=0)


class DailyBaskets(Base):
    """Baskets (an order or a till receipt that sold goods), per company, day, store and channel: the
    count and their net, for the average basket. An order delivered in parts counts once, on the day
    of its first delivery."""

    __tablename__ = "analytics_daily_baskets"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    baskets: Mapped[int] = mapped_column(default=0)
    net: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    units: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))


class DailyReturns(Base):
    """Goods refunded, per company, day (the local day the return was recorded at its receiving
    store), store, original channel, reason and product category: refunded net value and units, and
    the return lines."""

    __tablename__ = "analytics_daily_returns"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    category: Mapped[str] = mapped_column(String(200), primary_key=True)
    net: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    units: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    lines: Mapped[int] = mapped_column(default=0)


class DailyCounts(Base):
    """Approved cycle counts, per company, count day and store.

    Fields:
      sheets: count sheets approved.
      lines_counted: lines with a counted quantity.
      lines_exact: of those, lines counted exactly as expected (no difference).
      lines_within_tolerance: of those, lines within the sheet's tolerance.
      gain_value / loss_value: the stock value the approval's adjustments moved in (found) and out
        (missing, the shrinkage), both positive.
    """

    __tablename__ = "analytics_daily_counts"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sheets: Mapped[int] = mapped_column(default=0)
    lines_counted: Mapped[int] = mapped_column(default=0)
    lines_exact: Mapped[int] = mapped_column(default=0)
    lines_within_tolerance: Mapped[int] = mapped_column(default=0)
    gain_value: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    loss_value: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
