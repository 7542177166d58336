"""Stored demand forecasts: one row per run, one row per series and future day (docs/intelligence.md,
decision 0073). Runs are only ever added; readers take a company's latest run for its ``as_of``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, IdMixin, Quantity, Rate, UTCDateTime, utcnow

CHANNELS = ("store", "web")
"""``store``: POS sales and orders fulfilled at the store; ``web``: web and marketplace orders shipped
from a warehouse, one series per product."""


class ForecastRun(IdMixin, Base):
    """One forecasting run of a company: what it read, which models it tried and how they scored.

    ``summary`` holds ``{"mase": {model: mean backtest MASE}, "chosen": {model: series}}``, the means
    over the series where the model was scored (decimal strings, never floats).
    """

    __tablename__ = "forecast_runs"
    __table_args__ = (Index("ix_forecast_runs_company_as_of", "company_id", "as_of"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    as_of: Mapped[dt.date] = mapped_column(Date)
    """The last day of history; forecasts start the day after."""
    horizon: Mapped[int]
    history_days: Mapped[int]
    series: Mapped[int]
    models: Mapped[list[str]] = mapped_column(JSON)
    duration_seconds: Mapped[Decimal] = mapped_column(Rate())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Forecast(IdMixin, Base):
    """The forecast of one series for one day. ``store_id`` is null for the web channel;
    ``location_id`` is where the demand is served from (the store's stock location, or the warehouse's
    that ships most web orders), what replenishment plans for."""

    __tablename__ = "forecasts"
    __table_args__ = (
        CheckConstraint("channel IN ('store', 'web')", name="channel"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index("ix_forecasts_run_product", "run_id", "product_id"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(8))
    store_id: Mapped[uuid.UUID | None]
    location_id: Mapped[uuid.UUID | None]
    day: Mapped[dt.date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    model: Mapped[str] = mapped_column(String(32))
    sigma: Mapped[Decimal] = mapped_column(Quantity())
    """The standard deviation of the chosen model's one-day error in its backtest."""
    mase: Mapped[Decimal | None] = mapped_column(Rate())
    """The chosen model's backtest MASE; null when the series had too little history to backtest."""
