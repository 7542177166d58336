"""Replenishment: where each product is bought and how long it takes, and the suggestions a run makes.

A suggestion is one product for one location: a purchase (the warehouse buys from the product's
supplier) or a transfer (a store is fed from the warehouse). It keeps the figures it was computed from
(mean, sigma, lead time, reorder point, order-up-to, position), so a buyer sees why it was made. A new
run replaces the company's open (``suggested``) suggestions; accepted and dismissed ones stay as the
record of what was decided (docs/intelligence.md, "Replenishment"; decision 0074).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, IdMixin, Quantity, Rate, UnitCost, UTCDateTime, utcnow

SUGGESTION_KINDS = ("purchase", "transfer")
SUGGESTION_STATES = ("suggested", "accepted", "dismissed")


class ReplenishmentSource(Base):
    """Where a product is bought: the supplier a PO names (there is no supplier master), its lead time
    in days and the price a suggested PO line carries (the product's standard cost when empty)."""

    __tablename__ = "replenishment_sources"
    __table_args__ = (CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    supplier: Mapped[str] = mapped_column(String(200))
    supplier_ref: Mapped[str | None] = mapped_column(String(64))
    lead_time_days: Mapped[int] = mapped_column()
    unit_price: Mapped[Decimal | None] = mapped_column(UnitCost())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ReplenishmentSuggestion(IdMixin, Base):
    """One suggested purchase or transfer of one product to one location, and what became of it."""

    __tablename__ = "replenishment_suggestions"
    __table_args__ = (
        CheckConstraint("kind IN ('purchase', 'transfer')", name="kind"),
        CheckConstraint("state IN ('suggested', 'accepted', 'dismissed')", name="state"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_replenishment_suggestions_company_state", "company_id", "state"),
        Index("ix_replenishment_suggestions_run", "run_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    run_id: Mapped[uuid.UUID] = mapped_column()
    as_of: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"))
    """The store (or warehouse) the goods go to."""
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    supplier: Mapped[str | None] = mapped_column(String(200))
    """Purchases: the supplier the PO names."""
    source_store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    """Transfers: the warehouse the goods leave."""
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal | None] = mapped_column(UnitCost())
    reorder_point: Mapped[Decimal] = mapped_column(Quantity())
    order_up_to: Mapped[Decimal] = mapped_column(Quantity())
    position: Mapped[Decimal] = mapped_column(Quantity())
    """On hand + on order (open PO lines, transfers in transit) - reserved, when suggested."""
    daily_mean: Mapped[Decimal] = mapped_column(Quantity())
    daily_sigma: Mapped[Decimal] = mapped_column(Quantity())
    lead_time_days: Mapped[int] = mapped_column()
    review_days: Mapped[int] = mapped_column()
    service_level: Mapped[Decimal] = mapped_column(Rate())
    model: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="suggested")
    purchase_order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("purchase_orders.id"))
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
