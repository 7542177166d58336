"""Declarative base and the column types every context's tables share.

Exact decimals on both backends
-------------------------------
PostgreSQL has ``NUMERIC``; SQLite has no decimal type and SQLAlchemy's ``Numeric`` goes through a
float there. :class:`ExactDecimal` therefore stores a fixed-scale *integer* on SQLite
(``Decimal('12.3400')`` at scale 4 is the integer ``123400``) and ``NUMERIC(precision, scale)`` on
PostgreSQL. Integers keep ``SUM()`` and comparisons exact inside SQLite too, which the ledger's
set-based reports depend on. A value with more decimals than the column's scale is refused, never
silently rounded: rounding is a business decision taken before storage.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, Numeric, TypeDecorator, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from retailcore.core.ids import new_id

# Named constraints make Alembic migrations deterministic and let SQLite batch migrations find them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        dict[str, Any]: JSON,
        uuid.UUID: Uuid,
    }


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal with a fixed scale, stored exactly on every backend (see module docstring)."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)

    def __repr__(self) -> str:  # how Alembic writes the type into migrations
        return f"ExactDecimal(precision={self.precision}, scale={self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def _checked(self, value: Decimal) -> Decimal:
        if not isinstance(value, Decimal) or isinstance(value, bool):
            # Floats and ints sneaking in here are bugs upstream: only Decimal is money or quantity.
            raise TypeError(f"ExactDecimal column expects Decimal, got {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"{value} cannot be stored")
        scaled = value.quantize(self._quantum)
        if scaled != value:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        # With `scale` decimals, more than `precision` digits means at least 10 ** (precision - scale).
        if abs(scaled) >= self._limit:
            raise ValueError(f"{value} has more than {self.precision} significant digits")
        return scaled

    def bind_processor(self, dialect: Dialect) -> Any:
        convert = self._sqlite_processor() if dialect.name == "sqlite" else super().bind_processor(dialect)
        # Bulk inserts bind tens of values per row (POS batches: hundreds of thousands per second), and
        # retail amounts repeat (prices, taxes, zero). A checked Decimal's stored form depends only on
        # its value, so it is remembered: equal Decimals (1.5 and 1.50) store the same. Only exact
        # Decimals are remembered, so a float or an int still gets its precise error every time.
        cache: dict[Decimal, Any] = {}

        def process(value: Decimal | None) -> Any:
            if value.__class__ is Decimal:
                stored = cache.get(value)
                if stored is not None:
                    return stored
                stored = convert(value)
                if len(cache) >= 4_096:  # bounded: totals and costs rarely repeat, prices do
                    cache.clear()
                cache[value] = stored
                return stored
            if value is None:
                return None
            return convert(value)  # raises the precise error for anything but a Decimal

        return process

    def _sqlite_processor(self) -> Any:
        """The same checks as process_bind_param, inlined into one closure (it runs per value)."""
        quantum, limit, scale = self._quantum, self._limit, self.scale
        checked = self._checked

        def process(value: Decimal) -> int:
            if value.__class__ is not Decimal or not value.is_finite():
                checked(value)  # raises the precise error
            scaled = value.quantize(quantum)
            if scaled != value or not -limit < scaled < limit:
                checked(value)  # raises the precise error
            return int(scaled.scaleb(scale))

        return process

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        scaled = self._checked(value)
        if dialect.name == "sqlite":
            return int(scaled.scaleb(self.scale))
        return scaled

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            if isinstance(value, float):  # float-ok: only reached if SQL mixed in a REAL; refuse it
                raise TypeError("SQLite returned a REAL for an exact decimal column")
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(self._quantum)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        # Literals compared with this column are bound through it, so `price > Decimal('5')` is
        # scaled the same way on SQLite.
        return self


def Amount() -> ExactDecimal:
    """Money amounts and prices: up to 4 decimals, enough for per-unit prices below the minor unit."""
    return ExactDecimal(19, 4)


def UnitCost() -> ExactDecimal:
    """Unit costs keep 6 decimals: costs of cheap items bought in bulk need them."""
    return ExactDecimal(19, 6)


def Quantity() -> ExactDecimal:
    """Quantities in the product's unit of measure (kg, l, ...), 4 decimals."""
    return ExactDecimal(19, 4)


def Rate() -> ExactDecimal:
    """Percent rates (tax rates) and exchange rates: 8 decimals."""
    return ExactDecimal(19, 8)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
        return value.astimezone(dt.UTC)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The text SQLAlchemy's SQLite DATETIME stores ("2026-11-27 10:30:00.000000"), written by
        # ``isoformat`` in C instead of a %-format of seven fields: bulk inserts bind a timestamp per
        # row. In UTC, isoformat ends with "+00:00" after those 26 characters (years have 4 digits).
        utc, naive = dt.UTC, self.process_bind_param

        def process(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                naive(value, dialect)  # raises the precise error
            return value.astimezone(utc).isoformat(" ", "microseconds")[:26]

        return process

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


class TimestampsMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Optimistic concurrency: clients may send If-Match with the version they read.
    version: Mapped[int] = mapped_column(default=1)
