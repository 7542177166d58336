"""API tokens. Only a SHA-256 hash of each token is stored: tokens are 256-bit random secrets, so a
slow password hash would add latency to every request without adding safety."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Base, IdMixin, UTCDateTime, utcnow


class ApiToken(IdMixin, Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "role IN ('cashier', 'store_manager', 'finance', 'integration', 'pricing_manager', 'admin')",
            name="role",
        ),
        CheckConstraint("store_id IS NULL OR company_id IS NOT NULL", name="store_needs_company"),
    )

    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    """First characters of the token, shown in listings so a person can tell tokens apart."""
    role: Mapped[str] = mapped_column(String(16))
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True)
    """None only for an admin of the whole installation."""
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128))
    """Who issued it: ``cli`` or ``token:<name>`` of the admin that created it over the API."""
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """Refused from this instant on; null: until revoked."""
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When it last authenticated a request, to the minute (written at most once a minute)."""


class User(IdMixin, Base):
    """A person who signs in to the back office (``/``): a password hash (argon2id), never the password.

    The role and scope are the same as a token's, and map to the same :class:`Principal`."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('cashier', 'store_manager', 'finance', 'integration', 'pricing_manager', 'admin')",
            name="role",
        ),
        CheckConstraint("store_id IS NULL OR company_id IS NOT NULL", name="store_needs_company"),
    )

    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    company_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("companies.id"), index=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(128))
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    """Failed sign-ins in a row; reset by a successful one."""
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """Sign-in is refused until then (after too many failures in a row)."""
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RateLimitBucket(Base):
    """A token's request bucket shared by every API process (``RETAILCORE_RATE_LIMIT_STORE=database``,
    decision 0087): what :class:`~retailcore.access.rate_limit.TokenBuckets` keeps in memory, one row
    per token that has made a request. Rows are never deleted: one per token, and tokens are never
    deleted either."""

    __tablename__ = "rate_limit_buckets"

    token_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    level: Mapped[float] = mapped_column(Float)
    """Requests the token could make at ``stamp`` (fractions accumulate as time passes)."""
    stamp: Mapped[float] = mapped_column(Float)
    """Seconds since the epoch, by the clock of the API process that last took from the bucket."""
