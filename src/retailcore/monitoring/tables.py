"""The exceptions console's one table.

An exception is raised by the context that finds the problem (inventory, purchasing, POS, connectors,
later settlements) through :func:`retailcore.monitoring.services.record` and worked by people:
``open`` -> ``acknowledged`` -> ``resolved`` (final; ``open`` -> ``resolved`` directly too).

A problem found again while its exception is not resolved does not open a second one: the producer
names it by a ``dedupe_key`` and the row counts ``occurrences``. ``open_key`` is that key while the row
is unresolved and null once resolved, so the unique ``(company_id, open_key)`` allows one unresolved
row per problem and any number of resolved ones (nulls are distinct on both backends).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, synonym

from retailcore.adapters.orm import Amount, Base, ExactDecimal, IdMixin, UTCDateTime, utcnow

STOCK_TYPES = (
    "oversold",  # on hand no longer covers what is promised to orders (inventory)
    "negative_stock",  # a sale took a place below zero (inventory)
    "stock_mismatch",  # a channel's quantity differs from ours (a connector's stock-mismatch flag)
    "bill_mismatch",  # a vendor bill off its purchase order and receipts (purchasing)
    "sale_clock_out_of_window",  # POS sales dated outside the till's window (pos)
    "sale_in_locked_period",  # POS sales dated in a locked period (pos)
    "sale_refused",  # a till batch accepted into the POS inbox was refused when posted (pos, decision 0084)
)
SYNC_TYPES = (
    "failed_sync",  # a connector message failed; retried with backoff
    "dead_letter",  # a connector message gave up (permanent error or max attempts); replay after a fix
    "duplicate",  # the same external resource or delivery arrived again: counted, never posted twice
    "tax_mismatch",  # the channel's tax differs from ours beyond rounding
    "payment_mismatch",  # order total, captured and settled amounts disagree
    "bank_unmatched",  # a bank statement entry matched to nothing of ours (banking, decision 0037)
    "sync_flag",  # any other flag a connector sets on a message that landed
)
PRICING_TYPES = (
    "pricing_mismatch",  # a till's promotion discounts differ from the server's pricing (pos, decision 0052)
    "coupon_reuse",  # a till redeemed a coupon already used up elsewhere (pos, decision 0052)
)
ANOMALY_TYPES = (
    "discount_anomaly",  # a cashier's or store's day of unusual manual discounts or overrides (analytics)
    "return_anomaly",  # a day of unusual no-receipt returns or cash refunds (analytics)
    "margin_anomaly",  # a day of unusual sales under the margin floor or under cost (analytics)
)
EXCEPTION_TYPES = (*SYNC_TYPES, *STOCK_TYPES, *PRICING_TYPES, *ANOMALY_TYPES)
SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "resolved")
UNRESOLVED = ("open", "acknowledged")


class ExceptionCase(IdMixin, Base):
    """One thing a person should look at, with what is at stake and who is on it.

    ``type``: one of :data:`EXCEPTION_TYPES` (``kind`` is the same column under the stock queue's old
    name). ``severity``: low, medium, high, critical. ``amount_at_risk``: money at stake, >= 0, in
    ``currency`` (the company's unless the producer said otherwise). ``stake``: the time-invariant part
    of the priority (severity x money), in thousandths, written with the row; the priority multiplies
    it by the age when read (:mod:`retailcore.monitoring.queries`). ``occurrences``: how often the
    problem was found while unresolved. Subject: ``store_id``, ``product_id``, ``location_id``,
    ``order_id``, ``connector_id``, ``sync_message_id``, as far as they apply. ``event_id``: the event
    that first raised it; the events ``ExceptionAcknowledged``, ``ExceptionAssigned`` and
    ``ExceptionResolved`` are its audit trail, and ``details`` keeps each person's note under the status
    they gave it (``acknowledged``, ``resolved``).
    """

    __tablename__ = "exceptions"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name="severity"),
        CheckConstraint("amount_at_risk >= 0", name="amount_at_risk"),
        CheckConstraint("occurrences >= 1", name="occurrences"),
        UniqueConstraint("company_id", "open_key"),
        Index("ix_exceptions_company_status", "company_id", "status"),
        Index("ix_exceptions_company_store", "company_id", "store_id"),
        Index("ix_exceptions_sync_message", "sync_message_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8), default="medium")
    status: Mapped[str] = mapped_column(String(16), default="open")
    amount_at_risk: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3))
    stake: Mapped[int] = mapped_column(default=2000)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(200))
    occurrences: Mapped[int] = mapped_column(default=1)
    owner: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(Text)
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    location_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    connector_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    sync_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    message: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Triage (decision 0076): the class, how sure (0..1) and who said so (rule, model or person).
    exception_class: Mapped[str | None] = mapped_column(String(32))
    class_confidence: Mapped[Decimal | None] = mapped_column(ExactDecimal(5, 4))
    class_source: Mapped[str | None] = mapped_column(String(8))

    kind = synonym("type")
    """The stock exceptions queue's name for ``type`` (inventory's code and old API clients)."""
