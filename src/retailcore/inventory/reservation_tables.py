"""Reservations of stock for order lines, and the safety stock each channel holds back.

A reservation ties a quantity of a product at one internal location to an order line of a channel.
While it is ``active`` its quantity is counted in ``stock_quants.reserved`` (same transaction), so
available = on hand - reserved. It ends ``released`` (cancelled), ``consumed`` (delivered: the
delivery move took the goods out) or ``expired`` (an unpaid web cart timed out). Ended
reservations are kept: they are the history of what was promised.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, IdMixin, Quantity, UTCDateTime, utcnow

RESERVATION_CHANNELS = ("pos", "web", "marketplace", "b2b")
RESERVATION_STATES = ("active", "released", "consumed", "expired")


class Reservation(IdMixin, Base):
    """A quantity promised to one order line, held at one location until delivered or let go."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive"),
        CheckConstraint("channel IN ('pos', 'web', 'marketplace', 'b2b')", name="channel"),
        CheckConstraint("state IN ('active', 'released', 'consumed', 'expired')", name="state"),
        # The expiry sweep reads active reservations by due time; the quant check by product/location.
        Index("ix_reservations_company_state_expires", "company_id", "state", "expires_at"),
        Index("ix_reservations_product_location", "product_id", "location_id", "state"),
        Index("ix_reservations_order", "company_id", "order_ref"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    channel: Mapped[str] = mapped_column(String(16))
    order_ref: Mapped[str] = mapped_column(String(100))
    order_line_ref: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(16), default="active")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When an unconfirmed reservation (an unpaid cart) lets go of the stock; null: never."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_by: Mapped[str] = mapped_column(String(128))


class ChannelSafetyStock(IdMixin, Base):
    """Units of a product each location holds back from a channel's available-to-promise.

    ``product_id`` null is the channel's default for every product without a row of its own.
    """

    __tablename__ = "channel_safety_stock"
    __table_args__ = (
        UniqueConstraint("company_id", "channel", "product_id"),
        # NULLs are distinct in a unique constraint on both backends, so the one default row per
        # channel needs a partial unique index of its own.
        Index(
            "uq_channel_safety_stock_default",
            "company_id",
            "channel",
            unique=True,
            sqlite_where=text("product_id IS NULL"),
            postgresql_where=text("product_id IS NULL"),
        ),
        CheckConstraint("quantity >= 0", name="not_negative"),
        CheckConstraint("channel IN ('pos', 'web', 'marketplace', 'b2b')", name="channel"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    channel: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))
