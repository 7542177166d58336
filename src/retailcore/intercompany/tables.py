"""Company groups and intercompany flows (decision 0040, docs/multi-company.md).

* ``company_groups``: a group of companies reported together in one currency; its parent company keeps
  the exchange rates the group's reports translate with (group currency per unit of a member's).
* ``company_group_members``: a company belongs to one group at most (the parent is a member).
* ``intercompany_accounts``: per company, counterparty and role, the account the flows post to, so the
  balance with each counterparty is an account balance (period balances keep it, the reports stay
  O(accounts)).
* ``intercompany_documents``: one row per flow (a sale of A's goods by B, a transfer from A to B), its
  reference unique per seller: a replay finds it and posts nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, TimestampsMixin, UTCDateTime, utcnow


class CompanyGroup(IdMixin, TimestampsMixin, Base):
    __tablename__ = "company_groups"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    """The group (presentation) currency; the parent company's own currency."""
    parent_company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    """Whose exchange rates translate the members' books."""


class CompanyGroupMember(IdMixin, Base):
    __tablename__ = "company_group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("company_groups.id"), index=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IntercompanyAccount(IdMixin, Base):
    __tablename__ = "intercompany_accounts"
    __table_args__ = (UniqueConstraint("company_id", "counterparty_id", "role"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    counterparty_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    role: Mapped[str] = mapped_column(String(48))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), unique=True)


class IntercompanyDocument(IdMixin, Base):
    __tablename__ = "intercompany_documents"
    __table_args__ = (
        UniqueConstraint("seller_company_id", "reference"),
        CheckConstraint("kind IN ('sale', 'transfer')", name="kind"),
    )

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("company_groups.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64))
    date: Mapped[dt.date] = mapped_column(Date)
    seller_company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    buyer_company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    """The seller's currency: the transfer price is stated in it."""
    amount: Mapped[Decimal] = mapped_column(Amount())
    """Transfer price, seller's currency."""
    cost: Mapped[Decimal] = mapped_column(Amount())
    """The goods' cost on the seller's books when they left (seller's currency)."""
    buyer_currency: Mapped[str] = mapped_column(String(3))
    buyer_amount: Mapped[Decimal] = mapped_column(Amount())
    """Transfer price in the buyer's currency, at the buyer's rate of the date."""
    rate: Mapped[Decimal] = mapped_column(Rate())
    """Buyer's currency per unit of the seller's."""
    fingerprint: Mapped[str] = mapped_column(String(64))
    """Hash of the request: the same reference with other content is refused."""
    seller_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    buyer_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
