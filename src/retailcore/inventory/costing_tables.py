"""Stock costing's own tables: the company's costing settings, a product's own income and expense
accounts, and returns to vendor (decision 0061)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Quantity, UnitCost, UTCDateTime, utcnow

PRECISIONS = ("unrounded", "currency")


class CostingSettings(Base):
    """Per company: how the average unit cost is kept. ``unrounded`` (the default): the average is the
    stock's value over its quantity, to 6 decimals; ``currency``: rounded to the currency's minor unit
    after each receipt, and deliveries are valued at that rounded unit cost (as Odoo does)."""

    __tablename__ = "costing_settings"
    __table_args__ = (
        CheckConstraint("average_cost_precision IN ('unrounded', 'currency')", name="average_cost_precision"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    average_cost_precision: Mapped[str] = mapped_column(String(16), default="unrounded")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class ProductAccounts(Base):
    """A product's own income and expense accounts: they replace the ``sales_revenue`` and ``cogs``
    roles on that product's lines (the category's, or the chart's, otherwise)."""

    __tablename__ = "product_accounts"

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    income_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    expense_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class VendorReturnLine(IdMixin, Base):
    """Goods of a purchase receipt's line sent back to the supplier: one ``supplier_return`` move."""

    __tablename__ = "vendor_return_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="positive"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    operation_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    """The return (all its lines): the ``SupplierReturned`` event's aggregate."""
    receipt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("receipts.id"), index=True)
    receipt_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("receipt_lines.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(UnitCost())
    """The receipt line's purchase price: what the goods were accrued at."""
    value: Mapped[Decimal] = mapped_column(Amount())
    """What the move took out of stock valuation."""
    purchase_value: Mapped[Decimal] = mapped_column(Amount())
    move_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stock_moves.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500), default="")
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
