"""Gift cards, store credit and the movements behind their balances.

A balance is the sum of its movements. The card's (or the customer's) ``balance`` column is that sum kept
up to date in the same transaction as each movement, so that a redemption can be one conditional
``UPDATE ... WHERE balance >= amount`` (two tills at the same instant never take a card below zero) and
a balance enquiry is one row. Movements are append-only: nothing updates or deletes them; a correction
is a new movement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, UTCDateTime, utcnow

GIFT_CARD_STATES = ("active", "expired")
GIFT_CARD_ORIGINS = ("sold", "given")
GIFT_CARD_MOVEMENTS = ("issue", "redeem", "reload", "refund", "expire")
STORE_CREDIT_MOVEMENTS = ("issue", "spend", "refund")
BREAKAGE_POLICIES = ("at_expiry", "never")


class GiftCard(IdMixin, Base):
    """One gift card. Its code is shown once, when it is issued; only its SHA-256 and last 4 characters
    are stored (decision 0023).

    code_hash
        SHA-256 (hex) of the normalised code (upper case, no spaces or dashes): how a card is found.
    last4
        The code's last four characters, to tell cards apart on screens and receipts.
    currency
        What the card holds; it pays only orders and sales in that currency.
    balance
        The sum of its movements; never negative (a check constraint says so too).
    state
        ``active``, or ``expired`` (final: what was left was recognised as breakage, or not, per policy).
    origin
        ``sold`` (paid for: a liability against the tender) or ``given`` (a promotion: a marketing cost).
    expires_on
        The last day it can be used; null: never expires.
    """

    __tablename__ = "gift_cards"
    __table_args__ = (
        UniqueConstraint("code_hash"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("state IN ('active', 'expired')", name="state"),
        CheckConstraint("origin IN ('sold', 'given')", name="origin"),
        Index("ix_gift_cards_company_state_expires", "company_id", "state", "expires_on"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Amount())
    state: Mapped[str] = mapped_column(String(16), default="active")
    origin: Mapped[str] = mapped_column(String(16))
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class GiftCardMovement(IdMixin, Base):
    """A change of one card's balance: ``amount`` is signed (positive adds to the balance)."""

    __tablename__ = "gift_card_movements"
    __table_args__ = (
        CheckConstraint("kind IN ('issue', 'redeem', 'reload', 'refund', 'expire')", name="kind"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_gift_card_movements_card", "card_id", "id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gift_cards.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Amount())
    balance_after: Mapped[Decimal] = mapped_column(Amount())
    reference: Mapped[str] = mapped_column(String(100))
    """What caused it: an order number, a POS sale number, ``expiry``, an issue's note."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class StoreCreditAccount(IdMixin, Base):
    """A customer's store credit with the company (in the company currency): the sum of its movements."""

    __tablename__ = "store_credit_accounts"
    __table_args__ = (
        UniqueConstraint("company_id", "customer_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Amount())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoreCreditMovement(IdMixin, Base):
    """A change of one customer's store credit: ``amount`` signed (positive adds to the balance).

    source
        Why: ``goodwill`` (a gesture, posted by payments), ``return`` (posted by the returns context),
        ``order`` (spent on an order or a POS sale, or given back when one is cancelled).
    """

    __tablename__ = "store_credit_movements"
    __table_args__ = (
        CheckConstraint("kind IN ('issue', 'spend', 'refund')", name="kind"),
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        Index("ix_store_credit_movements_account", "account_id", "id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("store_credit_accounts.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Amount())
    balance_after: Mapped[Decimal] = mapped_column(Amount())
    reference: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class GiftCardPolicy(Base):
    """A company's gift card policy; a company without a row has the defaults.

    months_to_expiry
        A card issued without an expiry date expires that many months after its issue; null: never.
    breakage
        ``at_expiry``: what is left on a card when it expires is recognised as income (gift_card_breakage);
        ``never``: the card expires for use but the liability stays (to be settled by hand).
    """

    __tablename__ = "gift_card_policies"
    __table_args__ = (
        CheckConstraint("months_to_expiry IS NULL OR months_to_expiry > 0", name="months_positive"),
        CheckConstraint("breakage IN ('at_expiry', 'never')", name="breakage"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    months_to_expiry: Mapped[int | None] = mapped_column(default=None)
    breakage: Mapped[str] = mapped_column(String(16), default="at_expiry")
