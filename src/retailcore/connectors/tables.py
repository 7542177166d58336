"""Connectors as rows: their configuration, the sync log of every message, and the links between an
external id (a Shopify order, line, fulfilment or refund) and what it became here.

``connectors.secret`` holds the connector's secret (Shopify's app client secret) encrypted with the
installation's key (:mod:`retailcore.connectors.vault`); it is never returned. The sync log keeps each
message's payload, so a failed or dead-lettered one can be processed again after a fix.
``connector_links`` is what makes a connector idempotent on the business side: one Shopify order id
lands one order, whatever delivered it and however often; one retailcore product is one Odoo product.
``connector_entries`` is an outbound connector's cursor over the ledger: each posted journal entry it
has taken into a message (an Odoo move), at most once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, IdMixin, TimestampsMixin, UTCDateTime

CONNECTOR_KINDS = ("shopify", "marketplace", "odoo")
DIRECTIONS = ("inbound", "outbound")
MESSAGE_STATUSES = ("received", "processed", "failed", "retried", "dead_lettered")
LINK_KINDS = ("order", "line", "fulfillment", "refund", "product", "customer", "move")
"""Shopify's order, line, fulfillment and refund; Odoo's product.product, res.partner and account.move."""


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Connector(IdMixin, TimestampsMixin, Base):
    """One connection of a company to an outside system: a Shopify shop, a marketplace, an Odoo database."""

    __tablename__ = "connectors"
    __table_args__ = (
        # A webhook names its shop, not our company: one shop domain is one connector installation-wide.
        UniqueConstraint("kind", "name"),
        CheckConstraint(_one_of("kind", CONNECTOR_KINDS), name="kind"),
        Index("ix_connectors_company", "company_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    """Shopify: the shop's ``*.myshopify.com`` domain, as Shopify sends it in ``X-Shopify-Shop-Domain``."""
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret: Mapped[str | None] = mapped_column(Text)
    """Fernet token of the secret (never returned, never logged)."""
    previous_secret: Mapped[str | None] = mapped_column(Text)
    """The secret before the last rotation: Shopify may sign with it for up to an hour after."""
    access_token: Mapped[str | None] = mapped_column(Text)
    """Fernet token of the Admin API access token (Shopify: the stock push and the orders catch-up call
    the shop with it); never returned, never logged."""
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    updated_by: Mapped[str] = mapped_column(String(128))


class SyncMessage(IdMixin, Base):
    """One message in or out of a connector, with what became of it."""

    __tablename__ = "sync_messages"
    __table_args__ = (
        # Shopify sends the same X-Shopify-Webhook-Id on every retry of one delivery.
        UniqueConstraint("connector_id", "webhook_id"),
        CheckConstraint(_one_of("direction", DIRECTIONS), name="direction"),
        CheckConstraint(_one_of("status", MESSAGE_STATUSES), name="status"),
        Index("ix_sync_messages_connector", "connector_id", "id"),
        Index("ix_sync_messages_due", "status", "next_attempt_at"),
        Index("ix_sync_messages_waiting", "connector_id", "waits_for"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    connector_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(64))
    """The resource's id at the other end (Shopify's order id, refund id...)."""
    webhook_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    waits_for: Mapped[str | None] = mapped_column(String(100))
    """What a failed message waits for (``order:<shopify id>``): retried at once when it lands."""
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_deliveries: Mapped[int] = mapped_column(default=0)
    """The same delivery (webhook id) received again: answered 200, stored once."""
    duplicate_of: Mapped[str | None] = mapped_column(String(64))
    """Set when the resource had already landed through another message: ``order:<our order id>``."""
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """What a person should look at although the message landed: ``tax-mismatch``, ``payment-mismatch``."""
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the message became here (order id and number, return id...)."""
    body: Mapped[str] = mapped_column(Text)
    """The message exactly as received, for replay: parsed again each time with numbers as Decimals
    (Shopify sends some amounts as JSON numbers, and ids beyond 2^53)."""
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConnectorLink(Base):
    """An external id and what it became here: a Shopify order and our order, its lines and ours."""

    __tablename__ = "connector_links"
    __table_args__ = (CheckConstraint(_one_of("kind", LINK_KINDS), name="kind"),)

    connector_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    internal_id: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConnectorEntry(Base):
    """A posted journal entry an outbound connector has taken, and the message (Odoo move) it went into.

    The primary key makes the cursor exact: an entry is taken once per connector, however often the
    push runs, and an entry posted later (a reversal) goes into a message of its own."""

    __tablename__ = "connector_entries"
    __table_args__ = (Index("ix_connector_entries_key", "connector_id", "move_key"),)

    connector_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_messages.id", ondelete="CASCADE"))
    move_key: Mapped[str] = mapped_column(String(64))
    """The aggregation key: the Odoo move's external id is ``retailcore.move_<key>``."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
