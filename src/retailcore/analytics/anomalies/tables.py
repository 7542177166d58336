"""Anomaly scans and the rows they scored (migration 0054, decision 0075).

One ``anomaly_scans`` row per scan of a company's days; one ``anomalies`` row per cashier x store x
local day (and one per store x day, ``cashier`` null) of the scan, flagged or not, so a scan can be
read back whole (the scores' plot, the false-positive rate). ``features`` holds the raw values as
decimal strings and the robust z of each; ``explanation`` the top contributing features in words.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Rate, UTCDateTime, utcnow


class AnomalyScan(IdMixin, Base):
    __tablename__ = "anomaly_scans"
    __table_args__ = (Index("ix_anomaly_scans_company_created", "company_id", "created_at"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    rows: Mapped[int]
    flagged: Mapped[int]
    threshold: Mapped[Decimal] = mapped_column(Rate())
    """The isolation score at and above which a row is flagged (with a robust z of at least
    :data:`~retailcore.analytics.anomalies.services.Z_SUPPORT`); a single feature beyond the rule's z
    flags too."""
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The detector's parameters as run (rule z, support z, window, peer group)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))


class AnomalyRow(IdMixin, Base):
    __tablename__ = "anomalies"
    __table_args__ = (
        Index("ix_anomalies_scan_score", "scan_id", "flagged", "score"),
        Index("ix_anomalies_scan_store_day", "scan_id", "store_id", "day"),
    )

    scan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("anomaly_scans.id", ondelete="CASCADE"))
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id"))
    store_code: Mapped[str] = mapped_column(String(64))
    cashier: Mapped[str | None] = mapped_column(String(128))
    """The till user; null: the store's whole day."""
    day: Mapped[dt.date] = mapped_column(Date)
    score: Mapped[Decimal] = mapped_column(Rate())
    kind: Mapped[str | None] = mapped_column(String(32))
    """The exception type a flagged row raises (``discount_anomaly``...); null when not flagged."""
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    flagged: Mapped[bool] = mapped_column(default=False)
    amount_at_risk: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    exception_id: Mapped[uuid.UUID | None]
