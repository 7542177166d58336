"""Price lists: prices per channel, store, customer group and currency, valid between two dates.

A list with ``channel``, ``store_id`` or ``customer_group`` null applies to every channel, store or
group; :func:`retailcore.pricing.price_lists.price_for` picks the most specific list that prices a
product. Items may carry quantity breaks (``min_quantity``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Quantity, TimestampsMixin

PRICE_LIST_CHANNELS = ("pos", "web", "marketplace", "b2b")


class PriceList(IdMixin, TimestampsMixin, Base):
    __tablename__ = "price_lists"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        # Lets items reference (company_id, id), so an item can never hang off another company's list.
        UniqueConstraint("company_id", "id"),
        ForeignKeyConstraint(["company_id", "store_id"], ["stores.company_id", "stores.id"]),
        CheckConstraint("channel IS NULL OR channel IN ('pos', 'web', 'marketplace', 'b2b')", name="channel"),
        CheckConstraint("valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to", name="validity"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str | None] = mapped_column(String(16))
    """Null: every channel."""
    store_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    """Null: every store."""
    customer_group: Mapped[str | None] = mapped_column(String(64))
    """Null: every customer, with or without a group."""
    priority: Mapped[int] = mapped_column(default=0)
    """Breaks ties between equally specific lists: the higher wins."""
    valid_from: Mapped[dt.date | None]
    valid_to: Mapped[dt.date | None]
    """Inclusive: the list still applies on this day."""
    active: Mapped[bool] = mapped_column(default=True)


class PriceListItem(IdMixin, Base):
    __tablename__ = "price_list_items"
    __table_args__ = (
        UniqueConstraint("price_list_id", "product_id", "min_quantity"),
        ForeignKeyConstraint(
            ["company_id", "price_list_id"],
            ["price_lists.company_id", "price_lists.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("min_quantity > 0", name="min_quantity_positive"),
        # Quotes look a product up across the company's lists.
        Index("ix_price_list_items_company_product", "company_id", "product_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    price_list_id: Mapped[uuid.UUID]
    product_id: Mapped[uuid.UUID]
    unit_price: Mapped[Decimal] = mapped_column(Amount())
    """In the list's currency; up to 4 decimals, as cheap items sold by weight need them."""
    min_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(1))
    """The item applies from this quantity on (a quantity break); 1 for the plain price."""
