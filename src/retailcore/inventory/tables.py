"""Stock: moves between locations, cached quantities and values, valuation layers.

Quantities live in moves; ``stock_quants`` caches on hand (and its value) per product and location,
updated in the same transaction as each move, so that on hand always equals the sum of the moves.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from retailcore.adapters.orm import Amount, Base, IdMixin, Quantity, UnitCost, UTCDateTime, utcnow
from retailcore.monitoring.tables import ExceptionCase

MOVE_KINDS = (
    "receipt",  # supplier -> internal
    "delivery",  # internal -> customer
    "customer_return",  # customer -> internal
    "internal",  # internal -> internal of the same store (stock to backroom, to damaged)
    "transfer_out",  # internal -> in transit
    "transfer_in",  # in transit -> internal
    "transit_loss",  # in transit -> inventory loss
    "scrap",  # internal -> inventory loss
    "count_gain",  # inventory loss -> internal
    "count_loss",  # internal -> inventory loss
    "supplier_return",  # internal -> supplier
)


class StockMove(IdMixin, Base):
    """A quantity of a product that went from one location to another. Done moves never change.

    ``value`` is what the move took out of (or brought into) stock valuation, in company currency,
    fixed when the move was made: valuation reads moves, it never re-prices them.
    """

    __tablename__ = "stock_moves"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive"),
        Index("ix_stock_moves_product_date", "company_id", "product_id", "date"),
        Index("ix_stock_moves_from", "from_location_id", "product_id"),
        Index("ix_stock_moves_to", "to_location_id", "product_id"),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    from_location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    to_location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    kind: Mapped[str] = mapped_column(String(24))
    unit_cost: Mapped[Decimal] = mapped_column(UnitCost())
    value: Mapped[Decimal] = mapped_column(Amount())
    date: Mapped[dt.date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200), default="")
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    """The event that caused the move (``GoodsReceived``, ``GoodsIssued``...)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockValueAdjustment(IdMixin, Base):
    """A change of stock value without a change of quantity: negative stock re-costed when goods arrive.
    With the moves, it is all the valuation report needs to rebuild value at any date."""

    __tablename__ = "stock_value_adjustments"
    __table_args__ = (Index("ix_stock_value_adjustments_product_date", "company_id", "product_id", "date"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    value: Mapped[Decimal] = mapped_column(Amount())
    """Signed: added to the location's stock value."""
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockQuant(Base):
    """On hand and its value per product and location: a cache of the moves, same transaction."""

    __tablename__ = "stock_quants"

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    value: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    reserved: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))


class ValuationLayer(IdMixin, Base):
    """A FIFO layer: what came in at one cost and how much of it is still in stock (per company)."""

    __tablename__ = "valuation_layers"
    __table_args__ = (Index("ix_valuation_layers_open", "company_id", "product_id", "remaining_quantity"),)

    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    move_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stock_moves.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    remaining_quantity: Mapped[Decimal] = mapped_column(Quantity())
    unit_cost: Mapped[Decimal] = mapped_column(UnitCost())


class ProductCost(Base):
    """Per company and product: quantity and value in stock (all valued locations), last unit cost."""

    __tablename__ = "product_costs"

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("companies.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal(0))
    value: Mapped[Decimal] = mapped_column(Amount(), default=Decimal(0))
    last_unit_cost: Mapped[Decimal] = mapped_column(UnitCost(), default=Decimal(0))


StockException = ExceptionCase
"""Stock exceptions are rows of the one exceptions console (``monitoring``, decision 0031): negative
stock after a sale, oversold places, bills off their receipt. Raised through
:func:`retailcore.monitoring.services.record`; ``kind`` is the console's ``type``."""
