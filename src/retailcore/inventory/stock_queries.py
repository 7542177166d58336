"""Reading stock: levels per product and location, available-to-promise per channel, moves,
reservations and exceptions, as the API returns them.

Lists use keyset pagination (``limit`` + the ``next_cursor`` of the previous page), so a page costs
the same at the start and at the end of a large table. ``visible_store_id`` is the store a
store-scoped token is limited to: such a caller sees its store's locations and rows only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from retailcore.adapters.paging import keyset_page
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, InvalidReference, ValidationFailed
from retailcore.inventory import tables as i
from retailcore.inventory.reservation_tables import ChannelSafetyStock, Reservation
from retailcore.inventory.reservations import SELLABLE, available_to_promise, safety_for, safety_table
from retailcore.masterdata.tables import Company, Location, Product

# -- views -----------------------------------------------------------------------------------------


class LevelView(BaseModel):
    product_id: uuid.UUID
    sku: str
    location_id: uuid.UUID
    location_code: str
    location_kind: str
    store_id: uuid.UUID | None
    on_hand: DecimalStr
    reserved: DecimalStr
    available: DecimalStr
    """On hand - reserved, as it is (negative when a sale took more than was recorded)."""
    value: DecimalStr


class LocationAvailability(BaseModel):
    location_id: uuid.UUID
    location_code: str
    store_id: uuid.UUID | None
    on_hand: DecimalStr
    reserved: DecimalStr
    safety_stock: DecimalStr
    available: DecimalStr


class AvailabilityView(BaseModel):
    product_id: uuid.UUID
    sku: str
    channel: str
    store_id: uuid.UUID | None
    on_hand: DecimalStr
    reserved: DecimalStr
    available: DecimalStr
    """Sum over the sellable locations of what each can promise (never below zero)."""
    locations: list[LocationAvailability]


class MoveView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    product_id: uuid.UUID
    from_location_id: uuid.UUID
    to_location_id: uuid.UUID
    quantity: DecimalStr
    kind: str
    unit_cost: DecimalStr
    value: DecimalStr
    date: dt.date
    reference: str
    event_id: uuid.UUID
    created_at: dt.datetime


class ReservationView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: DecimalStr
    channel: str
    order_ref: str
    order_line_ref: str
    state: str
    expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    updated_by: str


class SafetyStockView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    channel: str
    product_id: uuid.UUID | None
    quantity: DecimalStr
    updated_at: dt.datetime
    updated_by: str


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None


def _page(rows: Sequence[Any], limit: int, cursor_of: Any) -> tuple[list[Any], str | None]:
    more = len(rows) > limit
    rows = list(rows[:limit])
    return rows, (cursor_of(rows[-1]) if more and rows else None)


def _uuid_cursor(cursor: str, name: str = "cursor") -> uuid.UUID:
    try:
        return uuid.UUID(cursor)
    except ValueError:
        raise ValidationFailed(
            "not a cursor this list returned", problems=[FieldProblem(name, "invalid")]
        ) from None


def _store_locations(company_id: uuid.UUID, store_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    return select(Location.id).where(Location.company_id == company_id, Location.store_id == store_id)


# -- levels ----------------------------------------------------------------------------------------


def stock_levels(
    session: Session,
    company: Company,
    *,
    visible_store_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    sku: str | None = None,
    location_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    only_nonzero: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """On hand, reserved, available and value per product and valued location, by product then
    location. The cursor is ``<product_id>:<location_id>`` of the last row."""
    query = (
        select(i.StockQuant, Product.sku, Location.code, Location.kind, Location.store_id)
        .join(Product, Product.id == i.StockQuant.product_id)
        .join(Location, Location.id == i.StockQuant.location_id)
        .where(i.StockQuant.company_id == company.id)
        .order_by(i.StockQuant.product_id, i.StockQuant.location_id)
    )
    if visible_store_id is not None:
        query = query.where(Location.store_id == visible_store_id)
    if product_id is not None:
        query = query.where(i.StockQuant.product_id == product_id)
    if sku is not None:
        query = query.where(Product.sku == sku)
    if location_id is not None:
        query = query.where(i.StockQuant.location_id == location_id)
    if store_id is not None:
        query = query.where(Location.store_id == store_id)
    if only_nonzero:
        query = query.where(
            or_(
                i.StockQuant.quantity != Decimal(0),
                i.StockQuant.reserved != Decimal(0),
                i.StockQuant.value != Decimal(0),
            )
        )
    if cursor:
        product_part, _, location_part = cursor.partition(":")
        after_product, after_location = _uuid_cursor(product_part), _uuid_cursor(location_part)
        query = query.where(
            or_(
                i.StockQuant.product_id > after_product,
                and_(i.StockQuant.product_id == after_product, i.StockQuant.location_id > after_location),
            )
        )
    rows, next_cursor = _page(
        session.execute(query.limit(limit + 1)).all(),
        limit,
        lambda row: f"{row[0].product_id}:{row[0].location_id}",
    )
    items = [
        LevelView(
            product_id=quant.product_id,
            sku=row_sku,
            location_id=quant.location_id,
            location_code=code,
            location_kind=kind,
            store_id=row_store,
            on_hand=quant.quantity,
            reserved=quant.reserved,
            available=quant.quantity - quant.reserved,
            value=quant.value,
        )
        for quant, row_sku, code, kind, row_store in rows
    ]
    return Page(items=items, next_cursor=next_cursor)


def levels_at(
    session: Session, company_id: uuid.UUID, location_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, tuple[Decimal, Decimal]]]:
    """``{location: {product: (on_hand, reserved)}}`` for several locations in one query, each
    location's products in :func:`stock_levels`' order (by product id). A snapshot for callers that
    read every level of many locations at once (the simulator's shelves, twice a simulated day):
    plain rows, no pages and no entities loaded into the session."""
    found: dict[uuid.UUID, dict[uuid.UUID, tuple[Decimal, Decimal]]] = {
        location_id: {} for location_id in location_ids
    }
    if not found:
        return found
    quant = i.StockQuant
    rows = session.execute(
        select(quant.location_id, quant.product_id, quant.quantity, quant.reserved)
        .where(quant.company_id == company_id, quant.location_id.in_(list(found)))
        .order_by(quant.product_id, quant.location_id)
    )
    for location_id, product_id, on_hand, reserved in rows:
        found[location_id][product_id] = (on_hand, reserved)
    return found


def availability(
    session: Session,
    company: Company,
    *,
    product_id: uuid.UUID,
    channel: str,
    store_id: uuid.UUID | None = None,
    visible_store_id: uuid.UUID | None = None,
) -> AvailabilityView:
    """Available-to-promise of a product for a channel, per sellable location and in total, across
    the company or in one store."""
    product = session.get(Product, product_id)
    if product is None or product.company_id != company.id:
        raise InvalidReference(
            f"no product {product_id}", problems=[FieldProblem("product_id", "no such product")]
        )
    query = (
        select(
            i.StockQuant.location_id,
            i.StockQuant.quantity,
            i.StockQuant.reserved,
            Location.code,
            Location.store_id,
        )
        .join(Location, Location.id == i.StockQuant.location_id)
        .where(
            i.StockQuant.company_id == company.id,
            i.StockQuant.product_id == product.id,
            Location.kind.in_(SELLABLE),
        )
        .order_by(Location.code)
    )
    if visible_store_id is not None:
        query = query.where(Location.store_id == visible_store_id)
    if store_id is not None:
        query = query.where(Location.store_id == store_id)
    safety = safety_for(safety_table(session, company.id, [product.id]), channel, product.id)
    locations = [
        LocationAvailability(
            location_id=row.location_id,
            location_code=row.code,
            store_id=row.store_id,
            on_hand=row.quantity,
            reserved=row.reserved,
            safety_stock=safety,
            available=available_to_promise(row.quantity, row.reserved, safety),
        )
        for row in session.execute(query)
    ]
    return AvailabilityView(
        product_id=product.id,
        sku=product.sku,
        channel=channel,
        store_id=store_id,
        on_hand=sum((loc.on_hand for loc in locations), Decimal(0)),
        reserved=sum((loc.reserved for loc in locations), Decimal(0)),
        available=sum((loc.available for loc in locations), Decimal(0)),
        locations=locations,
    )


# -- moves -----------------------------------------------------------------------------------------


def list_moves(
    session: Session,
    company: Company,
    *,
    visible_store_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    kind: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    event_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Moves in the order they were made. A location (or store) filter matches either end."""
    query = select(i.StockMove).where(i.StockMove.company_id == company.id)
    for scope in (visible_store_id, store_id):
        if scope is not None:
            locations = _store_locations(company.id, scope)
            query = query.where(
                or_(i.StockMove.from_location_id.in_(locations), i.StockMove.to_location_id.in_(locations))
            )
    if product_id is not None:
        query = query.where(i.StockMove.product_id == product_id)
    if location_id is not None:
        query = query.where(
            or_(i.StockMove.from_location_id == location_id, i.StockMove.to_location_id == location_id)
        )
    if kind is not None:
        query = query.where(i.StockMove.kind == kind)
    if date_from is not None:
        query = query.where(i.StockMove.date >= date_from)
    if date_to is not None:
        query = query.where(i.StockMove.date <= date_to)
    if event_id is not None:
        query = query.where(i.StockMove.event_id == event_id)
    rows, last_id = keyset_page(
        session, query, i.StockMove.id, limit, _uuid_cursor(cursor) if cursor else None
    )
    next_cursor = str(last_id) if last_id else None
    return Page(items=[MoveView.model_validate(r) for r in rows], next_cursor=next_cursor)


# -- reservations ----------------------------------------------------------------------------------


def list_reservations(
    session: Session,
    company: Company,
    *,
    visible_store_id: uuid.UUID | None = None,
    state: str | None = None,
    channel: str | None = None,
    order_ref: str | None = None,
    product_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    store_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    query = select(Reservation).where(Reservation.company_id == company.id)
    for scope in (visible_store_id, store_id):
        if scope is not None:
            query = query.where(Reservation.location_id.in_(_store_locations(company.id, scope)))
    for column, value in (
        (Reservation.state, state),
        (Reservation.channel, channel),
        (Reservation.order_ref, order_ref),
        (Reservation.product_id, product_id),
        (Reservation.location_id, location_id),
    ):
        if value is not None:
            query = query.where(column == value)
    rows, last_id = keyset_page(
        session, query, Reservation.id, limit, _uuid_cursor(cursor) if cursor else None
    )
    next_cursor = str(last_id) if last_id else None
    return Page(items=[ReservationView.model_validate(r) for r in rows], next_cursor=next_cursor)


def reservation_view(session: Session, reservation: Reservation) -> ReservationView:
    return ReservationView.model_validate(reservation)


def safety_stock_page(
    session: Session, company: Company, *, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[ChannelSafetyStock], uuid.UUID | None]:
    """The company's safety stock settings in the order they were first set, ``limit`` after ``cursor``."""
    query = select(ChannelSafetyStock).where(ChannelSafetyStock.company_id == company.id)
    return keyset_page(session, query, ChannelSafetyStock.id, limit, cursor)
