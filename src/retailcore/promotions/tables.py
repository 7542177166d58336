"""Promotions, margin floors, coupons and their redemptions, as stored.

A promotion's kind-specific parameters (percent, amounts, quantities, bundle components, tiers,
threshold, target products and categories) live in ``rule``, a JSON object whose keys are the fields
of :class:`retailcore.promotions.model.Promotion`; targeting that queries filter on (channels, stores,
customer groups, local start and end) has columns of its own. Decimal values in JSON are strings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, TimestampsMixin, UTCDateTime, utcnow

PROMOTION_STATES = ("draft", "submitted", "approved", "rejected", "scheduled", "active", "expired")


class PromotionRow(IdMixin, TimestampsMixin, Base):
    __tablename__ = "promotions"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        UniqueConstraint("company_id", "id"),
        CheckConstraint(
            "kind IN ('percent_off', 'amount_off', 'buy_x_get_y', 'mix_and_match', 'bundle_price',"
            " 'tiered_spend', 'free_shipping')",
            name="kind",
        ),
        CheckConstraint("stacking IN ('exclusive', 'stackable', 'best')", name="stacking"),
        CheckConstraint("scope IN ('line', 'category', 'order')", name="scope"),
        CheckConstraint(
            "state IN ('draft', 'submitted', 'approved', 'rejected', 'scheduled', 'active', 'expired')",
            name="state",
        ),
        CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name="validity"),
        Index("ix_promotions_company_state", "company_id", "state"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    kind: Mapped[str] = mapped_column(String(16))
    stacking: Mapped[str] = mapped_column(String(16), default="stackable")
    priority: Mapped[int] = mapped_column(default=0)
    scope: Mapped[str] = mapped_column(String(16), default="line")
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channels: Mapped[list[str] | None] = mapped_column(JSON)
    """Null: every channel."""
    store_ids: Mapped[list[str] | None] = mapped_column(JSON)
    """Null: every store (and channels without one)."""
    customer_groups: Mapped[list[str] | None] = mapped_column(JSON)
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))
    """Local wall-clock time in each store's zone (naive on purpose), inclusive."""
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=False))
    """Local wall-clock time, exclusive."""
    coupon_only: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(128))
    last_edited_by: Mapped[str | None] = mapped_column(String(128))
    """Who last changed it while a draft (four eyes: nor may they approve it). Migration 0036."""
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    """Who approved or rejected it."""
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(2000))
    override_by: Mapped[str | None] = mapped_column(String(128))
    """Who approved a margin-floor breach, with a role above the approver's."""
    override_reason: Mapped[str | None] = mapped_column(String(2000))


class MarginFloor(IdMixin, TimestampsMixin, Base):
    """The least margin over cost a product (or every product of a category) may sell at: the net
    price after every discount must stay at or above cost x (1 + floor). A product's floor beats its
    category's."""

    __tablename__ = "margin_floors"
    __table_args__ = (
        # Nulls are distinct in a unique constraint, so these say: one floor per product, one per category.
        UniqueConstraint("company_id", "product_id"),
        UniqueConstraint("company_id", "category"),
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]),
        CheckConstraint("(product_id IS NULL) <> (category IS NULL)", name="product_or_category"),
        CheckConstraint("floor > -1", name="floor_above_minus_one"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    product_id: Mapped[uuid.UUID | None]
    category: Mapped[str | None] = mapped_column(String(64))
    floor: Mapped[Decimal] = mapped_column(Rate())
    """A fraction: 0.10 keeps the net price at least 10 % above cost."""


class Coupon(IdMixin, TimestampsMixin, Base):
    """A code a customer presents to get a promotion. ``max_uses`` null: unlimited in total;
    ``max_uses_per_customer`` null: unlimited per customer. A single-use code has ``max_uses`` 1."""

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        ForeignKeyConstraint(["company_id", "promotion_id"], ["promotions.company_id", "promotions.id"]),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses_positive"),
        CheckConstraint(
            "max_uses_per_customer IS NULL OR max_uses_per_customer > 0",
            name="max_uses_per_customer_positive",
        ),
        CheckConstraint("max_uses IS NULL OR uses <= max_uses", name="uses_within_limit"),
        CheckConstraint("uses >= 0", name="uses_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    code: Mapped[str] = mapped_column(String(64))
    promotion_id: Mapped[uuid.UUID] = mapped_column(index=True)
    batch: Mapped[str | None] = mapped_column(String(64), index=True)
    """The generation batch that made it, if any."""
    max_uses: Mapped[int | None]
    max_uses_per_customer: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    """Redemptions so far; the conditional update that raises it is what lets one of two concurrent
    redemptions of a single-use code win."""
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)


class CouponRedemption(IdMixin, Base):
    __tablename__ = "coupon_redemptions"
    __table_args__ = (
        ForeignKeyConstraint(["coupon_id"], ["coupons.id"]),
        # One redemption per coupon per order: a replayed order never redeems twice.
        UniqueConstraint("coupon_id", "order_id"),
        Index("ix_coupon_redemptions_coupon_customer", "coupon_id", "customer_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    coupon_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    """The order or POS sale the coupon was redeemed on."""
    customer_id: Mapped[uuid.UUID | None]
    amount: Mapped[Decimal] = mapped_column(Amount())
    """What the coupon took off the order."""
    redeemed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    redeemed_by: Mapped[str] = mapped_column(String(128))


PRICE_CHANGE_STATES = ("draft", "submitted", "approved", "rejected", "applied")


class PriceChange(IdMixin, TimestampsMixin, Base):
    """A governed change of a price list's items (decision 0048): the complete new items, effective at
    a moment; drafted, submitted, approved by another person, then applied by the sweep when due (or at
    once on approval if already due), which replaces the list's items and records
    ``PriceListItemsReplaced`` as a direct edit does. Migration 0036."""

    __tablename__ = "price_changes"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "price_list_id"], ["price_lists.company_id", "price_lists.id"]),
        CheckConstraint("state IN ('draft', 'submitted', 'approved', 'rejected', 'applied')", name="state"),
        Index("ix_price_changes_company_state", "company_id", "state", "effective_at"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    price_list_id: Mapped[uuid.UUID] = mapped_column(index=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The list's complete new items: ``product_id``, ``unit_price`` and ``min_quantity`` (strings)."""
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(2000), default="")
    state: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(128))
    last_edited_by: Mapped[str | None] = mapped_column(String(128))
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(2000))
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
