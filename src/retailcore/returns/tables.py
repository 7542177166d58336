"""Returns as rows: the return, its lines, what each original order line has given back, the company's
return policy and disposition rules, and credit notes.

Every table carries ``company_id``. Amounts are exact decimals. ``order_line_returns`` is the one
counter per original order line that makes "never refunded beyond what was sold minus what was already
returned" a single conditional ``UPDATE`` (:func:`retailcore.returns.limits.claim_returnable`).
Reporting columns (reason, channel, store, category, cashier, customer, no-receipt) are copied onto
each return line with indexes, so returns by reason or per cashier never scan orders.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Quantity, TimestampsMixin, UTCDateTime

RETURN_STATUSES = ("requested", "received", "inspected", "refunded", "cancelled")
CONDITIONS = ("resaleable", "damaged", "defective")
REASONS = ("changed_mind", "wrong_size", "damaged_in_transit", "defective", "not_as_described", "other")
DISPOSITION_KINDS = ("stock", "backroom", "damaged")
CARD_REFUND_STATUSES = ("pending", "confirmed", "failed", "reissued")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReturnRow(IdMixin, TimestampsMixin, Base):
    """One return: goods coming back from a customer, against an original order or none."""

    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        CheckConstraint(_one_of("status", RETURN_STATUSES), name="status"),
        CheckConstraint("refunded_total >= 0 AND restocking_fee >= 0", name="amounts"),
        Index("ix_returns_company_status", "company_id", "status"),
        Index("ix_returns_order", "order_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    """The original order; null for a no-receipt return."""
    order_number: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    """The original order's channel (``pos`` for a no-receipt return at a till)."""
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"), index=True)
    """The receiving store or warehouse."""
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16))
    no_receipt: Mapped[bool] = mapped_column(default=False)
    currency: Mapped[str] = mapped_column(String(3))
    refunded_total: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """What went back to the customer, after restocking fees."""
    restocking_fee: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    created_by: Mapped[str] = mapped_column(String(128))
    updated_by: Mapped[str] = mapped_column(String(128))


class ReturnLineRow(IdMixin, Base):
    """One line of a return, with the reporting dimensions copied from the return."""

    __tablename__ = "return_lines"
    __table_args__ = (
        UniqueConstraint("return_id", "position"),
        CheckConstraint(_one_of("condition", CONDITIONS), name="condition"),
        CheckConstraint(
            "quantity > 0 AND received_quantity >= 0 AND received_quantity <= quantity"
            " AND refunded_quantity >= 0 AND refunded_quantity <= received_quantity",
            name="quantities",
        ),
        Index("ix_return_lines_reason", "company_id", "reason", "created_at"),
        Index("ix_return_lines_channel", "company_id", "channel", "created_at"),
        Index("ix_return_lines_store", "company_id", "store_id", "created_at"),
        Index("ix_return_lines_category", "company_id", "product_category", "created_at"),
        Index("ix_return_lines_cashier", "company_id", "created_by", "created_at"),
        Index("ix_return_lines_no_receipt", "company_id", "no_receipt", "customer_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"))
    position: Mapped[int]
    order_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("order_lines.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    sku: Mapped[str] = mapped_column(String(64))
    product_category: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    received_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    refunded_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    condition: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id"))
    """Where the received goods went (the disposition of their condition)."""
    unit_price: Mapped[Decimal | None] = mapped_column(Amount())
    """No-receipt returns: the price refunded per unit (on the tax rule's basis)."""
    tax_category: Mapped[str] = mapped_column(String(32))
    cost: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """The stock value the received goods came back at (the original sale's unit cost)."""
    refunded_net: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    refunded_tax: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    # Reporting dimensions, copied from the return.
    reason: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID | None]
    no_receipt: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OrderLineReturn(Base):
    """What one original order line has given back: claimed by open returns and refunded. The check
    ``returned_quantity <= sold`` is the conditional update of :mod:`retailcore.returns.limits`."""

    __tablename__ = "order_line_returns"
    __table_args__ = (
        CheckConstraint(
            "returned_quantity >= 0 AND refunded_quantity >= 0 AND refunded_quantity <= returned_quantity",
            name="quantities",
        ),
    )

    order_line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("order_lines.id"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    returned_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    refunded_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))


class ReturnPolicy(Base):
    """A company's return policy; a company without a row has the defaults (no no-receipt returns, no
    cash refunds of goods not paid in cash)."""

    __tablename__ = "return_policies"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    no_receipt_allowed: Mapped[bool] = mapped_column(default=False)
    no_receipt_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Roles that may take a no-receipt return (empty: store managers and admins)."""
    cash_refunds_allowed: Mapped[bool] = mapped_column(default=False)
    """Cash out of the drawer even when the original sale was not paid in cash."""
    card_refunds_await_confirmation: Mapped[bool] = mapped_column(default=False)
    """Card refunds stay payable (``refunds_payable``) until the gateway confirms them
    (:class:`CardRefundRow`); off: a card refund is paid when it is approved."""
    restocking_fee_taxable: Mapped[bool] = mapped_column(default=True)
    """A restocking fee carries output tax at the refunded lines' rates (decision 0026)."""


class ReturnDisposition(Base):
    """Where returned goods of a condition go, per company: rules as data (defaults in
    :data:`retailcore.returns.dispositions.DEFAULT_DISPOSITIONS`)."""

    __tablename__ = "return_dispositions"
    __table_args__ = (
        CheckConstraint(_one_of("condition", CONDITIONS), name="condition"),
        CheckConstraint(_one_of("location_kind", DISPOSITION_KINDS), name="location_kind"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    condition: Mapped[str] = mapped_column(String(16), primary_key=True)
    location_kind: Mapped[str] = mapped_column(String(16))
    location_code: Mapped[str | None] = mapped_column(String(64))
    """A location of that kind with this code at the receiving store (``RTV``), else the first one."""


class CardRefundRow(IdMixin, Base):
    """A refund to a card waiting for the gateway's word (policy ``card_refunds_await_confirmation``).

    ``pending``: approved, booked to ``refunds_payable``, the original card's refunded amount already
    raised (so the card can never give back more than it captured, pending refunds included).
    ``confirmed``: paid, ``refunds_payable`` cleared against the gateway's clearing account.
    ``failed``: the gateway refused; the card's amount is released and the refund is still owed
    (still in ``refunds_payable``) until it is ``reissued`` to another tender or the card again."""

    __tablename__ = "return_card_refunds"
    __table_args__ = (
        CheckConstraint(_one_of("status", CARD_REFUND_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_return_card_refunds_status", "company_id", "status", "created_at"),
        Index("ix_return_card_refunds_gateway", "company_id", "gateway", "reference"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id"), index=True)
    return_number: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    tender_id: Mapped[uuid.UUID | None]
    """The original order's card payment; null for a card named by gateway and reference."""
    gateway: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(200))
    """The card payment's gateway reference (or the card reference given)."""
    amount: Mapped[Decimal] = mapped_column(Amount())
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))


class CreditNoteRow(IdMixin, Base):
    """A credit note against an invoice: numbered per company and year without gaps (``CN-2026-000001``)."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        Index("ix_credit_notes_company_date", "company_id", "date"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(32))
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    invoice_number: Mapped[str] = mapped_column(String(32))
    return_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("returns.id"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    net_total: Mapped[Decimal] = mapped_column(Amount())
    tax_total: Mapped[Decimal] = mapped_column(Amount())
    gross_total: Mapped[Decimal] = mapped_column(Amount())
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))
