"""The append-only event log and the record of idempotent requests.

``position`` gives every event its place in one total order (consumers and the outbox relay keep
their position in it). Rows are only ever inserted: no code path updates or deletes them, and on
PostgreSQL a trigger refuses it (see the first migration).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, UTCDateTime, utcnow
from retailcore.core.ids import new_id

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
Position = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """One fact that happened, in the words of the business.

    Fields:
      position: place in the log's total order (auto-increment).
      id: the event's own UUID, used as the message id when published (deduplicated downstream).
      company_id: the company the fact belongs to.
      store_id: the store it concerns, if any (lets store-scoped readers filter).
      type: past-tense name (``ProductCreated``).
      aggregate_type / aggregate_id: what the fact is about.
      payload: the fact's data as JSON (amounts as strings, never floats).
      source / idempotency_key: who recorded it at the edge and the key the edge sent; unique
        together, so a replayed command can never record the same fact twice.
      occurred_at: when it happened at the edge; recorded_at: when we stored it.
      actor: who caused it (``token:<name>``, ``cli``...).
      correlation_id: shared by every event of one command (a company and its seeded chart).
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "idempotency_key"),
        Index("ix_events_company_position", "company_id", "position"),
        Index("ix_events_aggregate", "aggregate_id", "position"),
        Index("ix_events_company_type", "company_id", "type"),
    )

    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    store_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    correlation_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    """Shared by all events one command recorded."""


class IdempotentRequest(Base):
    """The first response to a request sent with an ``Idempotency-Key``, replayed on repeats.

    ``fingerprint`` hashes the method, path and body: the same key with another request is refused.
    Only successful responses are kept, so a request that failed validation wrote nothing and may be
    corrected and sent again with the same key.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("source", "idempotency_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    source: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayPosition(Base):
    """How far a relay has published the log (``retailcore relay``, docs/integrations.md).

    One row per relay name. ``position`` is the last log position whose event the message broker
    acknowledged; it only moves forward, and only after every event up to it was acknowledged, so a
    relay that dies re-sends at most its last unacknowledged batch (which the broker's duplicate window
    drops). ``published`` counts the events this relay had acknowledged, ``duplicates`` those the broker
    reported as already stored (re-sends after a crash).
    """

    __tablename__ = "relay_positions"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    published: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
