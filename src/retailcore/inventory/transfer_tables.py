"""Transfers between stores and cycle counts: the documents; their stock moves live in ``stock_moves``.

A transfer or a count sheet never changes stock itself: it calls :func:`inventory.services.move_stock`,
which values the moves, updates the quants and records the event the ledger posts. These tables keep
what the documents need on top of that: who asked for what, what shipped, what arrived, what was lost,
what was counted.

Documents are numbered per company without gaps (``TR-000001``, ``CC-000001``) from
``transfer_count_sequences``, whose row is locked by the ``UPDATE`` that takes a number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from retailcore.adapters.orm import Base, IdMixin, Quantity, Rate, TimestampsMixin, UTCDateTime

TRANSFER_STATES = ("draft", "shipped", "partially_received", "received", "closed", "cancelled")
COUNT_STATES = ("open", "submitted", "approved", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class TransferCountSequence(Base):
    """The next number of a kind of document (``transfer``, ``count``) in a company."""

    __tablename__ = "transfer_count_sequences"

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_number: Mapped[int] = mapped_column(default=1)


class Transfer(IdMixin, TimestampsMixin, Base):
    """Goods sent from one store to another of the same company, through the company's in-transit
    location: ``draft -> shipped -> partially_received -> received -> closed``, or ``cancelled`` from
    draft (the state machine is in :mod:`retailcore.inventory.transfers`)."""

    __tablename__ = "transfers"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        # Composite keys: a transfer can never point at another company's store.
        # Named by hand: the naming convention would give both the same name (first column company_id).
        ForeignKeyConstraint(
            ["company_id", "from_store_id"],
            ["stores.company_id", "stores.id"],
            name="fk_transfers_from_store",
        ),
        ForeignKeyConstraint(
            ["company_id", "to_store_id"], ["stores.company_id", "stores.id"], name="fk_transfers_to_store"
        ),
        CheckConstraint(_one_of("state", TRANSFER_STATES), name="state"),
        CheckConstraint("from_store_id <> to_store_id", name="two_stores"),
        Index("ix_transfers_company_state", "company_id", "state"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(16))
    from_store_id: Mapped[uuid.UUID] = mapped_column(index=True)
    to_store_id: Mapped[uuid.UUID] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(24), default="draft")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    shipped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    shipped_by: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the last receipt was recorded."""
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(128))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[TransferLine]] = relationship(
        back_populates="transfer",
        cascade="all, delete-orphan",
        order_by="TransferLine.position",
        lazy="selectin",
    )


class TransferLine(IdMixin, Base):
    """One product of a transfer. ``received + lost <= shipped <= quantity`` always holds."""

    __tablename__ = "transfer_lines"
    __table_args__ = (
        UniqueConstraint("transfer_id", "product_id"),
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]),
        CheckConstraint("quantity > 0", name="positive"),
        CheckConstraint("shipped_quantity >= 0 AND shipped_quantity <= quantity", name="shipped"),
        CheckConstraint(
            "received_quantity >= 0 AND lost_quantity >= 0"
            " AND received_quantity + lost_quantity <= shipped_quantity",
            name="accounted",
        ),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[uuid.UUID] = mapped_column()
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    shipped_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    received_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    lost_quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))

    transfer: Mapped[Transfer] = relationship(back_populates="lines")


class CountSheet(IdMixin, TimestampsMixin, Base):
    """A cycle count of one internal location: ``open -> submitted -> approved``, or ``cancelled``
    before approval (``submitted -> open`` again by a recount)."""

    __tablename__ = "count_sheets"
    __table_args__ = (
        UniqueConstraint("company_id", "number"),
        ForeignKeyConstraint(["company_id", "store_id"], ["stores.company_id", "stores.id"]),
        CheckConstraint(_one_of("state", COUNT_STATES), name="state"),
        CheckConstraint(
            "(scope = 'all' AND category_prefix IS NULL)"
            " OR (scope = 'category' AND category_prefix IS NOT NULL)",
            name="scope",
        ),
        CheckConstraint("tolerance_percent >= 0", name="tolerance"),
        Index("ix_count_sheets_company_state", "company_id", "state"),
        Index("ix_count_sheets_store_date", "company_id", "store_id", "count_date"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    number: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[uuid.UUID] = mapped_column()
    """The store of the location (kept here so store-scoped tokens and reports filter cheaply)."""
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    scope: Mapped[str] = mapped_column(String(16))
    category_prefix: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="open")
    tolerance_percent: Mapped[Decimal] = mapped_column(Rate())
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(128))
    submitted_by: Mapped[str | None] = mapped_column(String(128))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    count_date: Mapped[dt.date | None] = mapped_column(Date)
    """The date of the adjustments posted at approval (what accuracy reports filter on)."""
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[CountLine]] = relationship(
        back_populates="sheet",
        cascade="all, delete-orphan",
        order_by="CountLine.position",
        lazy="selectin",
    )


class CountLine(IdMixin, Base):
    """One product of a count sheet.

    ``expected_quantity`` is the on hand at the location when the line was made (a snapshot);
    ``difference`` is ``counted - expected``. ``stock_moved`` flags a line whose on hand changed after
    the snapshot (seen at submission or approval): its difference is then not a clean measure and the
    line should be recounted.
    """

    __tablename__ = "count_lines"
    __table_args__ = (
        UniqueConstraint("sheet_id", "product_id"),
        ForeignKeyConstraint(["company_id", "product_id"], ["products.company_id", "products.id"]),
        CheckConstraint("counted_quantity IS NULL OR counted_quantity >= 0", name="counted"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    sheet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("count_sheets.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    product_id: Mapped[uuid.UUID] = mapped_column()
    expected_quantity: Mapped[Decimal] = mapped_column(Quantity())
    counted_quantity: Mapped[Decimal | None] = mapped_column(Quantity())
    difference: Mapped[Decimal | None] = mapped_column(Quantity())
    within_tolerance: Mapped[bool | None] = mapped_column()
    stock_moved: Mapped[bool] = mapped_column(default=False)
    adjusted_quantity: Mapped[Decimal | None] = mapped_column(Quantity())
    """What approval moved (counted minus on hand at approval): equals ``difference`` unless stock moved."""
    counted_by: Mapped[str | None] = mapped_column(String(128))
    counted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    sheet: Mapped[CountSheet] = relationship(back_populates="lines")
