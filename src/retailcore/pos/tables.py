"""POS tables: terminals, sessions, ingested sales, running totals per session, cash movements, and
the inbox of sales accepted at the edge and posted later (``pos_inbox``, decision 0084).

``pos_session_totals`` holds one row per (session, kind, key) and is updated with set-based
``UPDATE ... SET x = x + :delta`` in the transaction that ingests each batch of sales, so closing a
session reads a handful of rows whatever the number of sales.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, TimestampsMixin, UTCDateTime, utcnow

TOTAL_KINDS = ("tax", "category", "tender", "cogs", "receivable", "gift_cards", "rounding")


class PosTerminal(IdMixin, TimestampsMixin, Base):
    __tablename__ = "pos_terminals"
    __table_args__ = (UniqueConstraint("company_id", "code"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    """The currency the till sells in when it is not the company's (docs/pos.md#foreign-currency-tills);
    null: the company's."""


class PosSession(IdMixin, TimestampsMixin, Base):
    __tablename__ = "pos_sessions"
    __table_args__ = (
        UniqueConstraint("terminal_id", "number"),
        CheckConstraint("state IN ('open', 'closed')", name="state"),
        CheckConstraint("opening_float >= 0", name="opening_float_not_negative"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"), index=True)
    terminal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pos_terminals.id"), index=True)
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="open")
    is_rescue: Mapped[bool] = mapped_column(default=False)
    opening_float: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    sale_count: Mapped[int] = mapped_column(default=0)
    """Sales ingested so far: numbers the session's sales (``T01-0007-00042``)."""
    counted: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Counted amounts per payment method code (decimal strings), as given at close."""
    differences: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Counted minus expected per payment method counted at close (decimal strings)."""
    expected_cash: Mapped[Decimal | None] = mapped_column(Amount())
    cash_difference: Mapped[Decimal | None] = mapped_column(Amount())
    """Counted minus expected cash: positive is over, negative is short."""
    closing_event_id: Mapped[uuid.UUID | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    """The terminal's currency when it is not the company's: every amount of the session (float, sales,
    totals, counts) is in it. Null: the company's."""
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    """Company currency per unit of ``currency``, fixed when the session opened (the rate of that day):
    the close and the cash movements are booked at it."""


class PosSessionTotal(IdMixin, Base):
    __tablename__ = "pos_session_totals"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "key"),
        CheckConstraint(
            "kind IN ('tax', 'category', 'tender', 'cogs', 'receivable', 'gift_cards', 'rounding')",
            name="kind",
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pos_sessions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    """Tax code, product category, ``kind|gateway`` of a tender, ``category|stock_role`` for COGS,
    ``""`` for receivable (what invoiced sales were paid at the till) and for ``rounding`` (the cash
    rounding: what the tenders took beyond the goods, negative when they took less; ``refund:`` for the
    refunds', positive when less was paid out than the goods given back were worth)."""
    net: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    tax: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    tax_base: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    amount: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    """Tenders, COGS, receivable, gift cards: their amount. Category: the discounts given on the
    category's lines, net of tax (posted apart when the company posts discounts to contra-revenue)."""


class PosCashMovement(IdMixin, Base):
    __tablename__ = "pos_cash_movements"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pos_sessions.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Amount())
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class PosCashRounding(Base):
    """A company's cash rounding at the till (docs/pos.md#cash-rounding): one row per company.

    increment
        The smallest amount cash changes hands in (``0.05``: five cents); a ticket paid (or refunded) in
        cash is settled at its total rounded to a multiple of it.
    mode
        ``half_up`` (to the nearest, halves away from zero), ``up`` or ``down`` (of the amount that changes
        hands, whichever way it goes: ``down`` takes less from a customer and pays less out on a refund).
    """

    __tablename__ = "pos_cash_rounding"
    __table_args__ = (
        CheckConstraint("increment > 0", name="increment_positive"),
        CheckConstraint("mode IN ('half_up', 'up', 'down')", name="mode"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    increment: Mapped[Decimal] = mapped_column(Amount())
    mode: Mapped[str] = mapped_column(String(16), default="half_up")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class PosCogsSettings(Base):
    """Where the COGS of a POS sale invoiced at the till is posted (decision 0060): ``at_close`` (with
    the session's closing entry, the default when the company has no row; decision 0009) or
    ``with_invoice`` (in the invoice's entry, as the sale's revenue is)."""

    __tablename__ = "pos_cogs_settings"
    __table_args__ = (
        CheckConstraint("pos_invoiced_cogs IN ('at_close', 'with_invoice')", name="pos_invoiced_cogs"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    pos_invoiced_cogs: Mapped[str] = mapped_column(String(16), default="at_close")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(default=1)


class PosInvoiceCogs(Base):
    """The COGS an invoice issued at the till posted itself (``with_invoice``): the session's close
    leaves it out, and the stock-ledger check does not count it as awaiting the close."""

    __tablename__ = "pos_invoice_cogs"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pos_sessions.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    cost: Mapped[Decimal] = mapped_column(Amount())


INBOX_STATES = ("pending", "ingested", "refused")


class PosInbox(IdMixin, Base):
    """A sales batch a till sent with ``Prefer: respond-async``, accepted and kept until a drain posts
    it (:mod:`retailcore.pos.inbox`, decision 0084).

    ``batch`` is the request's JSON body exactly as received (its amounts never went through a float or
    a re-encoding); the drain validates it again into :class:`~retailcore.pos.commands.SalesBatch`.
    ``caller`` is who sent it (token id, name, role and scope), checked when it was accepted, so that its
    sales are recorded as that caller's. A request enters once: ``(source, idempotency_key)`` is its
    Idempotency-Key, ``(company_id, uuid_key)`` its sales' client uuids (the one uuid of a one-sale
    request, a hash of the sorted uuids of a larger one). ``status``: ``pending`` until drained, then
    ``ingested`` (``result``: what the synchronous request would have answered) or ``refused``
    (``problem``: the RFC 9457 problem it would have answered).
    """

    __tablename__ = "pos_inbox"
    __table_args__ = (
        UniqueConstraint("source", "idempotency_key"),
        UniqueConstraint("company_id", "uuid_key"),
        CheckConstraint("status IN ('pending', 'ingested', 'refused')", name="status"),
        Index("ix_pos_inbox_status_session", "status", "session_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"))
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pos_sessions.id"))
    source: Mapped[str] = mapped_column(String(128))
    caller: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    uuid_key: Mapped[str] = mapped_column(String(80))
    client_uuids: Mapped[list[str]] = mapped_column(JSON)
    sale_count: Mapped[int]
    line_count: Mapped[int]
    batch: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ingested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON)
