"""Orders as rows: the order, its lines and its payments, and the gap-free order number per company.

The rows persist the pure :class:`~retailcore.orders.model.Order` aggregate and its
:class:`~retailcore.orders.tenders.OrderPayments`; ``orders/services.py`` maps between the two. Every
table carries ``company_id``. Amounts are exact decimals (:func:`~retailcore.adapters.orm.Amount`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Quantity, TimestampsMixin, UTCDateTime

ORDER_CHANNELS = ("pos", "web", "marketplace", "b2b")
ORDER_MODES = ("carry_out", "ship", "click_and_collect", "ship_from_store")
ORDER_STATES = (
    "draft",
    "confirmed",
    "partially_fulfilled",
    "fulfilled",
    "invoiced",
    "cancelled",
    "closed",
)
PAYMENT_KINDS = ("cash", "card", "gift_card", "store_credit", "on_account", "exchange", "loyalty")
"""``exchange``: the part of a POS exchange's new goods paid by the goods it gave back (no payment
method; docs/decisions/0030-exchanges-and-gift-cards-at-the-till.md). ``loyalty``: loyalty points burned
(decision 0049)."""
PAYMENT_STATES = ("accepted", "authorized", "captured", "partially_refunded", "refunded", "voided")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OrderSequence(Base):
    """The next order number of a company (``SO-000042``), taken in the transaction that places the
    order: a rolled-back placement gives its number back, so numbers have no gaps."""

    __tablename__ = "order_sequences"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    next_number: Mapped[int] = mapped_column(default=1)


class OrderRow(IdMixin, TimestampsMixin, Base):
    """One order; ``id`` is the aggregate's ``order_id``."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        # A POS sale's terminal-generated id: a replayed sale is found and skipped.
        UniqueConstraint("company_id", "client_uuid"),
        # Lets lines and payments reference (company_id, id): never another company's order.
        UniqueConstraint("company_id", "id"),
        # The keys of orders and of their lines and payments: foreign keys on SQLite; on PostgreSQL,
        # triggers that check each inserting statement once instead of each row (migration 0014).
        ForeignKeyConstraint(["company_id"], ["companies.id"]).ddl_if(dialect="sqlite"),
        ForeignKeyConstraint(["company_id", "store_id"], ["stores.company_id", "stores.id"]).ddl_if(
            dialect="sqlite"
        ),
        ForeignKeyConstraint(["customer_id"], ["customers.id"]).ddl_if(dialect="sqlite"),
        ForeignKeyConstraint(["pos_session_id"], ["pos_sessions.id"]).ddl_if(dialect="sqlite"),
        CheckConstraint(_one_of("channel", ORDER_CHANNELS), name="channel"),
        CheckConstraint(_one_of("fulfillment_mode", ORDER_MODES), name="fulfillment_mode"),
        CheckConstraint(_one_of("state", ORDER_STATES), name="state"),
        Index("ix_orders_company_channel_state", "company_id", "channel", "state"),
        # The sweep of unpaid orders reads the few that wait for a payment, by due time.
        Index(
            "ix_orders_payment_due",
            "company_id",
            "payment_due_at",
            sqlite_where=text("payment_due_at IS NOT NULL"),
            postgresql_where=text("payment_due_at IS NOT NULL"),
        ),
    )

    company_id: Mapped[uuid.UUID]
    number: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    fulfillment_mode: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(24))
    store_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    """The sourcing store (warehouse or store whose stock leaves) or, for click-and-collect, the
    pickup store."""
    customer_id: Mapped[uuid.UUID | None]
    currency: Mapped[str] = mapped_column(String(3))
    prices_include_tax: Mapped[bool] = mapped_column(default=False)
    net_total: Mapped[Decimal] = mapped_column(Amount())
    tax_total: Mapped[Decimal] = mapped_column(Amount())
    gross_total: Mapped[Decimal] = mapped_column(Amount())
    reason: Mapped[str] = mapped_column(String(500), default="")
    """Why the order was cancelled; empty otherwise."""
    deposit_balance: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """Paid and not yet applied to goods delivered (``customer_deposits``)."""
    receivable_balance: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """Delivered and not yet paid (``receivable``)."""
    change_given: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """Cash handed back at the till (POS)."""
    pos_session_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    """POS sales: the session the sale was ingested into (its totals post at the session's close)."""
    client_uuid: Mapped[uuid.UUID | None]
    """POS sales: the terminal's id for the sale, the idempotency key of an offline sale."""
    ordered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the customer ordered (the terminal's clock for POS sales)."""
    payment_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """A confirmed order with nothing paid is cancelled, and its stock let go, after this instant
    (the company's ``unpaid_order_hold_minutes`` after confirmation); null once anything is paid."""
    created_by: Mapped[str] = mapped_column(String(128))
    updated_by: Mapped[str] = mapped_column(String(128))
    # Shipping (decision 0057): null ``shipping_amount`` is an order without a shipping charge.
    shipping_amount: Mapped[Decimal | None] = mapped_column(Amount())
    """The shipping charged before discounts, on the prices' basis (tax included when they are)."""
    shipping_discount: Mapped[Decimal | None] = mapped_column(Amount())
    """The sum of ``shipping_discounts``."""
    shipping_discounts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """Each discount of the shipping with its source (a free_shipping promotion, a coupon)."""
    shipping_tax_category: Mapped[str | None] = mapped_column(String(32))
    shipping_method: Mapped[str | None] = mapped_column(String(64))
    shipping_net: Mapped[Decimal | None] = mapped_column(Amount())
    shipping_tax: Mapped[Decimal | None] = mapped_column(Amount())
    shipping_taxes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """``[{code, rate_percent, base, amount}]`` as an order line keeps its taxes."""


class OrderLineRow(IdMixin, Base):
    """One order line; ``id`` is the aggregate's ``line_id``."""

    __tablename__ = "order_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_id", "order_id"], ["orders.company_id", "orders.id"], ondelete="CASCADE"
        ).ddl_if(dialect="sqlite"),
        # (company_id, product_id) is a product of the company and location_id a location. SQLite: these
        # foreign keys. PostgreSQL: triggers checking once per statement instead of once per row
        # (migrations 0012 and 0013, decisions 0012 and 0013).
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]).ddl_if(
            dialect="sqlite"
        ),
        ForeignKeyConstraint(["location_id"], ["locations.id"]).ddl_if(dialect="sqlite"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(
            "fulfilled_quantity >= 0 AND cancelled_quantity >= 0"
            " AND fulfilled_quantity + cancelled_quantity <= quantity",
            name="quantities",
        ),
        UniqueConstraint("order_id", "position"),
    )

    # The company is checked through the order: (company_id, order_id) references orders, whose
    # company_id references companies. The unique constraint below serves lookups by order.
    company_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    position: Mapped[int]
    product_id: Mapped[uuid.UUID]
    sku: Mapped[str] = mapped_column(String(64))
    product_category: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_price: Mapped[Decimal] = mapped_column(Amount())
    discount: Mapped[Decimal] = mapped_column(Amount())
    """The sum of :attr:`discounts`, on the unit price's basis."""
    discounts: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """Each discount the line got, with its source (:mod:`retailcore.orders.discounts`): ``[{source,
    code, amount, promotion_id, given_by, override: {by, reason}}]``, amounts as decimal strings. Null
    when the line has none, and on lines written before the records existed (a bare ``discount`` there
    reads as one manual discount)."""
    tax_category: Mapped[str] = mapped_column(String(32))
    net: Mapped[Decimal] = mapped_column(Amount())
    tax: Mapped[Decimal] = mapped_column(Amount())
    gross: Mapped[Decimal] = mapped_column(Amount())
    taxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """The line's taxes as computed at placement: ``[{code, rate_percent, base, amount}]``, strings."""
    fulfilled_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    cancelled_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    cost: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """The stock value the delivered quantity took out (COGS), summed over its deliveries."""
    location_id: Mapped[uuid.UUID | None]
    """Where the line is reserved and ships or is collected from."""
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reservations.id"))


class OrderPaymentRow(IdMixin, Base):
    """One tender of an order; ``id`` is the tender's ``tender_id``. Card payments carry gateway and
    reference and the authorized, captured and refunded amounts."""

    __tablename__ = "order_payments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_id", "order_id"], ["orders.company_id", "orders.id"], ondelete="CASCADE"
        ).ddl_if(dialect="sqlite"),
        UniqueConstraint("order_id", "gateway", "reference"),
        # Settlement lines find their card payment by the gateway's reference (settlements.matching).
        Index("ix_order_payments_gateway_reference", "company_id", "gateway", "reference"),
        CheckConstraint(_one_of("kind", PAYMENT_KINDS), name="kind"),
        CheckConstraint(_one_of("state", PAYMENT_STATES), name="state"),
        CheckConstraint(
            "captured >= 0 AND refunded >= 0 AND refunded <= captured AND captured <= authorized",
            name="amounts",
        ),
    )

    # The company is checked through the order: (company_id, order_id) references orders, whose
    # company_id references companies. The unique constraint below serves lookups by order.
    company_id: Mapped[uuid.UUID]
    order_id: Mapped[uuid.UUID]
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    payment_method_code: Mapped[str | None] = mapped_column(String(32))
    gateway: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(200))
    authorized: Mapped[Decimal] = mapped_column(Amount())
    captured: Mapped[Decimal] = mapped_column(Amount())
    refunded: Mapped[Decimal] = mapped_column(Amount())
    state: Mapped[str] = mapped_column(String(24))


class InvoiceRow(IdMixin, Base):
    """An invoice: the numbered claim on a customer for an order's goods. Numbers run per company and
    year without gaps (``INV-2026-000042``), taken in the transaction that issues the invoice. An issued
    invoice never changes; its lines are the order's at issue, kept as written."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        UniqueConstraint("order_id"),
        ForeignKeyConstraint(["company_id", "order_id"], ["orders.company_id", "orders.id"]),
        CheckConstraint("posting IN ('receivable', 'document')", name="posting"),
        Index("ix_invoices_company_date", "company_id", "date"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    net_total: Mapped[Decimal] = mapped_column(Amount())
    tax_total: Mapped[Decimal] = mapped_column(Amount())
    gross_total: Mapped[Decimal] = mapped_column(Amount())
    posting: Mapped[str] = mapped_column(String(16))
    """``receivable``: the invoice itself posted the sale to the customer's receivable (a POS sale
    invoiced at the till); ``document``: the revenue was recognised at fulfilment and the invoice
    numbers the claim."""
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    taxes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """Tax per code: ``[{code, base, amount}]`` (strings)."""
    event_id: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class DiscountPolicyRow(IdMixin, TimestampsMixin, Base):
    """The most a cashier may take off a POS line by hand, per company (``store_id`` null) or per store
    (which beats the company's). Beyond it the line needs a manager's override; a store manager's or an
    admin's own sale needs none. Both limits null, or no policy: no limit."""

    __tablename__ = "discount_policies"
    __table_args__ = (
        UniqueConstraint("company_id", "store_id"),
        # At most 100 is the request's check: amounts are scaled integers on SQLite.
        CheckConstraint("max_percent IS NULL OR max_percent >= 0", name="max_percent"),
        CheckConstraint("max_amount IS NULL OR max_amount >= 0", name="max_amount"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    max_percent: Mapped[Decimal | None] = mapped_column(Amount())
    """Percent of the line's amount (quantity x unit price)."""
    max_amount: Mapped[Decimal | None] = mapped_column(Amount())
    """Amount per line, on the unit price's basis."""
    updated_by: Mapped[str] = mapped_column(String(128))


class DiscountSettingsRow(Base):
    """How a company posts the discounts it gives (decision 0050): ``net`` (revenue credited net of
    them, the default when the company has no row) or ``contra`` (revenue before discounts, the
    discounts debited to the ``sales_discounts`` account)."""

    __tablename__ = "discount_settings"
    __table_args__ = (CheckConstraint("posting IN ('net', 'contra')", name="posting"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    posting: Mapped[str] = mapped_column(String(8), default="net")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(default=1)
