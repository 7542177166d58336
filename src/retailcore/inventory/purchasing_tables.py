"""Purchasing: purchase orders, receipts against them, vendor bills matched to both.

A purchase order (PO) says what was ordered from a supplier, at what price, for which store. Receipts
record what arrived (stock comes in through ``inventory.services.move_stock``); vendor bills record
what the supplier invoices, three-way matched against the order (price) and the receipts (quantity).
``received_quantity`` and ``billed_quantity`` on a PO line are running totals kept in the same
transaction as the receipt or bill that changes them, so the backorder (ordered - received) and what
is still to be billed (received - billed) are read straight off the line.

There is no supplier master yet: a PO names its supplier as text, with an optional reference (the
supplier's code in another system).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retailcore.adapters.orm import (
    Amount,
    Base,
    IdMixin,
    Quantity,
    Rate,
    TimestampsMixin,
    UnitCost,
    UTCDateTime,
    utcnow,
)

PO_STATES = ("draft", "confirmed", "partially_received", "received", "closed", "cancelled")
BILL_STATES = ("matched", "exception", "posted", "cancelled")


class PurchasingSequence(Base):
    """The next number of a kind of purchasing document (``PO``, ``RC``, ``BILL``) in a company.

    Numbers are taken by an ``UPDATE ... RETURNING`` in the transaction that creates the document, so
    a rolled-back creation gives its number back: numbers have no gaps.
    """

    __tablename__ = "purchasing_sequences"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    next_number: Mapped[int] = mapped_column(default=1)


class PurchasingSettings(Base):
    """Per company: how far a billed unit price may stray from the ordered one and still match."""

    __tablename__ = "purchasing_settings"
    __table_args__ = (
        CheckConstraint("price_tolerance_percent >= 0", name="percent_not_negative"),
        CheckConstraint("price_tolerance_amount >= 0", name="amount_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    price_tolerance_percent: Mapped[Decimal] = mapped_column(Rate())
    price_tolerance_amount: Mapped[Decimal] = mapped_column(UnitCost())
    """Per unit, in company currency."""
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class PurchaseOrder(IdMixin, TimestampsMixin, Base):
    """An order to a supplier for goods delivered to one store. States: see ``docs/purchasing.md``."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        ForeignKeyConstraint(["company_id", "store_id"], ["stores.company_id", "stores.id"]),
        CheckConstraint(
            "state IN ('draft', 'confirmed', 'partially_received', 'received', 'closed', 'cancelled')",
            name="state",
        ),
        Index("ix_purchase_orders_company_state", "company_id", "state"),
        Index("ix_purchase_orders_company_supplier", "company_id", "supplier"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(32))
    supplier: Mapped[str] = mapped_column(String(200))
    supplier_ref: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[uuid.UUID] = mapped_column(index=True)
    currency: Mapped[str] = mapped_column(String(3))
    order_date: Mapped[dt.date] = mapped_column(Date)
    expected_date: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(24), default="draft")
    notes: Mapped[str] = mapped_column(String(2000), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the order was closed or cancelled."""
    closed_by: Mapped[str | None] = mapped_column(String(128))

    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="order",
        order_by="PurchaseOrderLine.sequence",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class PurchaseOrderLine(IdMixin, Base):
    """One product ordered, at one unit price, with what has arrived and been billed so far."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        CheckConstraint("received_quantity >= 0", name="received_not_negative"),
        CheckConstraint("billed_quantity >= 0", name="billed_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    purchase_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    sequence: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[uuid.UUID] = mapped_column(index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(UnitCost())
    received_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    billed_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")

    @property
    def backorder_quantity(self) -> Decimal:
        """Ordered and not yet received (never negative)."""
        return max(self.quantity - self.received_quantity, Decimal(0))


class Receipt(IdMixin, Base):
    """Goods that arrived against a PO, in one delivery. ``event_id`` is the ``GoodsReceived`` event."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        ForeignKeyConstraint(["company_id", "store_id"], ["stores.company_id", "stores.id"]),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(32))
    purchase_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200), default="")
    """The supplier's delivery note, if any."""
    event_id: Mapped[uuid.UUID] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[ReceiptLine]] = relationship(
        back_populates="receipt",
        order_by="ReceiptLine.sequence",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class ReceiptLine(IdMixin, Base):
    """A quantity of one PO line put into one location, valued by the stock move it made."""

    __tablename__ = "receipt_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    receipt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("receipts.id"), index=True)
    sequence: Mapped[int] = mapped_column(default=0)
    po_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_order_lines.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(UnitCost())
    """The PO price the goods were received at (what goods received not invoiced was credited with)."""
    purchase_value: Mapped[Decimal] = mapped_column(Amount())
    move_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stock_moves.id"))

    receipt: Mapped[Receipt] = relationship(back_populates="lines")


class VendorBill(IdMixin, TimestampsMixin, Base):
    """A supplier's invoice for (part of) a PO.

    ``matched``: the three-way match held and the bill was posted when recorded. ``exception``: it did
    not; nothing is posted and a ``bill_mismatch`` stock exception is open. ``posted``: finance approved
    the exception and the bill was posted anyway. ``cancelled``: an exception bill withdrawn.
    """

    __tablename__ = "vendor_bills"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        CheckConstraint("state IN ('matched', 'exception', 'posted', 'cancelled')", name="state"),
        Index("ix_vendor_bills_company_state", "company_id", "state"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(32))
    purchase_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_orders.id"), index=True)
    supplier: Mapped[str] = mapped_column(String(200))
    supplier_invoice_ref: Mapped[str] = mapped_column(String(64), default="")
    bill_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16))
    net_amount: Mapped[Decimal] = mapped_column(Amount())
    tax_amount: Mapped[Decimal] = mapped_column(Amount())
    total: Mapped[Decimal] = mapped_column(Amount())
    created_by: Mapped[str] = mapped_column(String(128))
    exception_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("exceptions.id"))
    posted_event_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    """The ``VendorBillRecorded`` event the ledger posted (null while in exception or cancelled)."""
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(128))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[VendorBillLine]] = relationship(
        back_populates="bill",
        order_by="VendorBillLine.sequence",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class VendorBillLine(IdMixin, Base):
    """A billed quantity of one PO line at the supplier's unit price, with its tax."""

    __tablename__ = "vendor_bill_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        CheckConstraint("tax >= 0", name="tax_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    bill_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vendor_bills.id"), index=True)
    sequence: Mapped[int] = mapped_column(default=0)
    po_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("purchase_order_lines.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(UnitCost())
    po_unit_price: Mapped[Decimal] = mapped_column(UnitCost())
    """The ordered price when the bill was matched, kept so the match can be explained later."""
    net_amount: Mapped[Decimal] = mapped_column(Amount())
    tax_code: Mapped[str | None] = mapped_column(String(32))
    tax: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))

    bill: Mapped[VendorBill] = relationship(back_populates="lines")
