"""What the outbound half of a connector keeps between runs: its cursors, the Shopify inventory item of
each product, and the quantity last set in Shopify per product and location (decision 0032).

* ``connector_cursors``: one row per connector and job (``stock``: the last event log position whose
  availability changes were pushed; ``orders``: the ``updated_at`` of the last order pulled by the
  catch-up), with when and how the last run ended (``last_run``: counts, or the error).
* ``connector_items``: our product and Shopify's inventory item (``gid://shopify/InventoryItem/<id>``),
  found by SKU (``productVariants``) or given by hand; a product without one is not pushed.
* ``connector_stock_levels``: the quantity we last set for a product at a Shopify location, sent as
  ``changeFromQuantity`` on the next push so that Shopify refuses to overwrite a quantity that moved on
  its side since (a sale in Shopify, a person in the admin), and we see it (``stock-mismatch``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, UTCDateTime


class ConnectorCursor(Base):
    """How far one job of a connector has got (``stock``, ``orders``) and how its last run ended."""

    __tablename__ = "connector_cursors"

    connector_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[str | None] = mapped_column(String(64))
    """``stock``: an event log position (as text); ``orders``: an ISO 8601 ``updated_at``."""
    last_run: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The last run: ``{"at", "full", "sent", "batches", "failed", "mismatches", "error"}`` (per job)."""
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConnectorItem(Base):
    """A product and the Shopify inventory item its stock is pushed to."""

    __tablename__ = "connector_items"
    __table_args__ = (Index("ix_connector_items_item", "connector_id", "external_id"),)

    connector_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100))
    """``gid://shopify/InventoryItem/<id>``."""
    sku: Mapped[str] = mapped_column(String(64))
    """The SKU it was found by (``productVariants``), for a person reading the table."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ConnectorStockLevel(Base):
    """The quantity last set in Shopify for a product at a Shopify location."""

    __tablename__ = "connector_stock_levels"

    connector_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location: Mapped[str] = mapped_column(String(100), primary_key=True)
    """``gid://shopify/Location/<id>``."""
    quantity: Mapped[int]
    pushed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
