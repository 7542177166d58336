"""Master data tables: one source for every channel.

Every business table carries ``company_id`` so that a company's rows can be found, locked, exported
and one day distributed together. Codes (store code, SKU, payment method code, account code) are unique
per company, never across companies.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, TimestampsMixin, UnitCost


class Company(IdMixin, TimestampsMixin, Base):
    """A legal entity keeping its own books in one currency."""

    __tablename__ = "companies"
    __table_args__ = (
        CheckConstraint(
            "sale_clock_past_days >= 0 AND sale_clock_future_days >= 0", name="sale_clock_window"
        ),
        CheckConstraint("sale_clock_policy IN ('book_on_receipt', 'refuse')", name="sale_clock_policy"),
        CheckConstraint(
            "unpaid_order_hold_minutes IS NULL OR unpaid_order_hold_minutes > 0", name="unpaid_order_hold"
        ),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    """ISO 4217 code of the company's accounting currency."""
    country: Mapped[str] = mapped_column(String(2))
    """ISO 3166-1 alpha-2 code."""
    tax_jurisdiction: Mapped[str] = mapped_column(String(32))
    """Jurisdiction whose tax rules apply by default (a store may override it)."""
    chart_template: Mapped[str | None] = mapped_column(String(64))
    pos_approval_threshold: Mapped[Decimal] = mapped_column(Amount(), default=Decimal("20"))
    """A POS session whose counted cash differs from the expected by more than this needs a store
    manager (``pos:approve``) to close."""
    sale_clock_past_days: Mapped[int] = mapped_column(default=30)
    sale_clock_future_days: Mapped[int] = mapped_column(default=1)
    """The window around the server's clock in which a till's ``sold_at`` is believed (decision 0015)."""
    sale_clock_policy: Mapped[str] = mapped_column(String(16), default="book_on_receipt")
    """What a sale dated outside that window gets: ``book_on_receipt`` (booked on the day it reached
    the server, with an exception) or ``refuse`` (the batch is refused, naming the sale)."""
    unpaid_order_hold_minutes: Mapped[int | None] = mapped_column(default=1440)
    """How long a confirmed web or marketplace order with nothing paid keeps its stock before it is
    cancelled; null: until someone cancels it."""


class Store(IdMixin, TimestampsMixin, Base):
    """A shop or a warehouse: a place that holds stock and, for shops, sells at a POS."""

    __tablename__ = "stores"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        # Lets locations reference (company_id, id) so a location can never hang off another
        # company's store.
        UniqueConstraint("company_id", "id"),
        CheckConstraint("kind IN ('store', 'warehouse')", name="kind"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    tax_jurisdiction: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)


INTERNAL_LOCATION_KINDS = ("stock", "backroom", "damaged")
VIRTUAL_LOCATION_KINDS = ("supplier", "customer", "in_transit", "inventory_loss")


class Location(IdMixin, TimestampsMixin, Base):
    """Where goods are. Internal locations belong to a store; virtual ones are the other ends of moves
    (goods come from a supplier, go to a customer, travel in transit, get lost)."""

    __tablename__ = "locations"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        ForeignKeyConstraint(["company_id", "store_id"], ["stores.company_id", "stores.id"]),
        CheckConstraint(
            "(kind IN ('stock', 'backroom', 'damaged') AND store_id IS NOT NULL)"
            " OR (kind IN ('supplier', 'customer', 'in_transit', 'inventory_loss') AND store_id IS NULL)",
            name="kind_store",
        ),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)


class Product(IdMixin, TimestampsMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("company_id", "sku"),
        UniqueConstraint("company_id", "id"),
        CheckConstraint("cost_method IN ('fifo', 'average', 'standard')", name="cost_method"),
        Index("ix_products_company_category", "company_id", "category"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(String(4000))
    category: Mapped[str] = mapped_column(String(200))
    """Slash-separated path (``Apparel/Tops``): a reporting and posting dimension."""
    unit_of_measure: Mapped[str] = mapped_column(String(16))
    tax_category: Mapped[str] = mapped_column(String(32))
    cost_method: Mapped[str] = mapped_column(String(16))
    list_price: Mapped[Decimal] = mapped_column(Amount())
    """Price in the company currency before any price list, tax as the tax rule says."""
    standard_cost: Mapped[Decimal] = mapped_column(UnitCost())
    available_pos: Mapped[bool] = mapped_column(default=True)
    available_web: Mapped[bool] = mapped_column(default=True)
    available_marketplace: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)

    barcodes: Mapped[list[ProductBarcode]] = relationship(
        back_populates="product",
        cascade="all, delete-orphan",
        order_by="ProductBarcode.position",
        lazy="selectin",
    )


class ProductBarcode(IdMixin, Base):
    __tablename__ = "product_barcodes"
    __table_args__ = (
        UniqueConstraint("company_id", "barcode"),
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(index=True)
    barcode: Mapped[str] = mapped_column(String(48))
    position: Mapped[int] = mapped_column(default=0)

    product: Mapped[Product] = relationship(back_populates="barcodes")


class Customer(IdMixin, TimestampsMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        Index("ix_customers_company_email", "company_id", "email"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    credit_limit: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    customer_group: Mapped[str | None] = mapped_column(String(64))
    """What price lists and promotions target (``retail``, ``staff``, ``vip``...); None: no group."""
    """How much the customer may owe on account, in company currency; zero means no credit."""
    active: Mapped[bool] = mapped_column(default=True)


PAYMENT_METHOD_KINDS = ("cash", "card", "gift_card", "store_credit", "on_account")


class PaymentMethod(IdMixin, TimestampsMixin, Base):
    __tablename__ = "payment_methods"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        CheckConstraint(
            "kind IN ('cash', 'card', 'gift_card', 'store_credit', 'on_account', 'loyalty')", name="kind"
        ),
        CheckConstraint("(kind = 'card') = (gateway IS NOT NULL)", name="card_gateway"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str | None] = mapped_column(String(64))
    """Card gateway (``stripe``, ``adyen``...): card money clears per gateway."""
    active: Mapped[bool] = mapped_column(default=True)
    split_receivable_per_customer: Mapped[bool] = mapped_column(default=False)
    """What this method pays at the till on invoices is credited to each customer's receivable at the
    session's close (one line per customer) instead of one aggregate line (decision 0060)."""


class TaxRule(IdMixin, TimestampsMixin, Base):
    """Which taxes a product of a tax category bears in a jurisdiction."""

    __tablename__ = "tax_rules"
    __table_args__ = (UniqueConstraint("company_id", "jurisdiction", "tax_category"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(32))
    tax_category: Mapped[str] = mapped_column(String(32))

    taxes: Mapped[list[Tax]] = relationship(
        back_populates="rule", cascade="all, delete-orphan", order_by="Tax.sequence", lazy="selectin"
    )


class Tax(IdMixin, Base):
    """One tax of a rule. Several taxes apply in ``sequence`` order (e.g. state and county tax)."""

    __tablename__ = "taxes"
    __table_args__ = (
        UniqueConstraint("rule_id", "code"),
        CheckConstraint("rounding IN ('line', 'document')", name="rounding"),
        CheckConstraint("kind IN ('percent', 'fixed', 'division', 'group')", name="kind"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tax_rules.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    """Stable code the tax report and posting rules group by (``FR-VAT-20``)."""
    name: Mapped[str] = mapped_column(String(200))
    rate_percent: Mapped[Decimal] = mapped_column(Rate())
    price_included: Mapped[bool] = mapped_column(default=True)
    rounding: Mapped[str] = mapped_column(String(16), default="line")
    sequence: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(16), default="percent")
    """``percent``, ``fixed`` (``amount`` per unit), ``division`` (rate of the gross) or ``group``."""
    amount: Mapped[Decimal | None] = mapped_column(Amount())
    """A fixed tax's amount per unit, in the document currency."""
    affects_base: Mapped[bool] = mapped_column(default=False)
    """Cascading: this tax's amount raises the base of the taxes after it."""
    parent_code: Mapped[str | None] = mapped_column(String(32))
    """Set on a group's child: the code of its group (a tax of the same rule)."""

    rule: Mapped[TaxRule] = relationship(back_populates="taxes")


class TaxSettings(Base):
    """A company's tax rounding conventions (see :class:`retailcore.pricing.taxes.TaxConventions`).

    One row per company, absent until set: the defaults then apply. Only tax rounding lives here."""

    __tablename__ = "tax_settings"
    __table_args__ = (
        CheckConstraint("rounding IN ('per_tax', 'line', 'global')", name="rounding"),
        CheckConstraint("included_rounding IN ('tax_first', 'base_first')", name="included_rounding"),
        CheckConstraint("included_remainder IN ('last', 'first')", name="included_remainder"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    rounding: Mapped[str] = mapped_column(String(16))
    included_rounding: Mapped[str] = mapped_column(String(16))
    included_remainder: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(default=1)


class Account(IdMixin, TimestampsMixin, Base):
    """An account of the chart. ``role`` is how posting rules find it (DESIGN section 3)."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("company_id", "code"),
        Index("ix_accounts_company_role", "company_id", "role"),
        CheckConstraint("type IN ('asset', 'liability', 'equity', 'income', 'expense')", name="type"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(48))
    reconcilable: Mapped[bool] = mapped_column(default=False)
    currency: Mapped[str | None] = mapped_column(String(3))
    """Set only for accounts kept in a foreign currency (a USD bank account of a EUR company)."""
    active: Mapped[bool] = mapped_column(default=True)


class MasterStamp(Base):
    """A token that changes whenever the master data a sale or an order reads changes (decision 0070).

    Database triggers (migration 0050) give it a new value on every insert, update or delete of the
    company's taxes, tax rules, tax settings, payment methods, POS cash rounding, promotions, stores and
    price lists, whoever writes them. The value is never reused, even after a rollback (a PostgreSQL
    sequence; a 64-bit random number on SQLite). ``masterdata.cache`` reads it once per transaction and
    keeps what it loaded of those tables per process under it. The ledger has its own
    (:class:`retailcore.accounting.tables.LedgerStamp`).
    """

    __tablename__ = "master_stamps"

    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
