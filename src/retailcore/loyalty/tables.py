"""Loyalty programmes, accounts and the movements behind their balances (migration 0037).

Balances are whole points. Like gift cards (decision 0023), an account's ``balance`` is the sum of its
movements kept up to date in the same transaction, so that burning is one conditional ``UPDATE ...
WHERE balance >= :points`` and a balance enquiry is one row. Movements are append-only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, UTCDateTime, utcnow

ROUNDINGS = ("down", "half_up", "up")
MOVEMENT_KINDS = ("earn", "burn", "return", "reverse")
"""``earn``: points for an order; ``burn``: points spent as a tender; ``return``: a burn given back (the
order paid was cancelled); ``reverse``: points of an order taken back (the order was refunded)."""


class LoyaltyProgramme(Base):
    """A company's loyalty programme: one row per company.

    points_per_unit
        Points earned per unit of currency paid (``1``: a point per euro), before rounding.
    rounding
        How a fractional number of earned points becomes whole: ``down`` (the default), ``half_up``, ``up``.
    point_value
        What one point is worth when burned, in ``currency``; also what the liability is valued at per
        outstanding point (decision 0049: no expected-redemption rate is applied).
    """

    __tablename__ = "loyalty_programmes"
    __table_args__ = (
        CheckConstraint("points_per_unit >= 0", name="points_per_unit_not_negative"),
        CheckConstraint("point_value > 0", name="point_value_positive"),
        CheckConstraint("rounding IN ('down', 'half_up', 'up')", name="rounding"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    points_per_unit: Mapped[Decimal] = mapped_column(Rate())
    rounding: Mapped[str] = mapped_column(String(16), default="down")
    point_value: Mapped[Decimal] = mapped_column(Amount())
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))


class LoyaltyAccount(IdMixin, Base):
    """A customer's points with the company."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        UniqueConstraint("company_id", "customer_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    balance: Mapped[int] = mapped_column(default=0)
    """Points outstanding."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class LoyaltyMovement(IdMixin, Base):
    """A change of one account's points: ``points`` signed (positive adds), ``value`` what they are worth
    in the programme's currency at the point value of the day (signed the same way)."""

    __tablename__ = "loyalty_movements"
    __table_args__ = (
        CheckConstraint("kind IN ('earn', 'burn', 'return', 'reverse')", name="kind"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        # ``earn:<order id>`` and ``reverse:<order id>``: an order earns (and is reversed) once. Nulls are
        # distinct: burns and returns carry none.
        UniqueConstraint("company_id", "once_key"),
        Index("ix_loyalty_movements_account", "account_id", "id"),
        Index("ix_loyalty_movements_order", "order_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int]
    balance_after: Mapped[int]
    value: Mapped[Decimal] = mapped_column(Amount())
    order_id: Mapped[uuid.UUID | None]
    reference: Mapped[str] = mapped_column(String(100))
    """An order or POS sale number."""
    once_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
