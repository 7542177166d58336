"""Reservations, available-to-promise per channel, safety stock, and the handling of stock exceptions.

Reserving
---------
:func:`reserve` promises a quantity of a product at one sellable location (stock or backroom) to an
order line. It is refused (``insufficient-stock``) when the quantity exceeds what is available there,
on hand - reserved, and otherwise adds to ``stock_quants.reserved`` in the same transaction. The quant
row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL), so two orders racing for the last unit
are serialised: the second sees the first one's reservation and is refused. SQLite has a single writer,
which serialises them anyway. A missing quant means nothing was ever on hand there: the reservation is
refused without writing anything, so this module never creates quant rows (only ``move_stock`` does).

A reservation ends :func:`release`\\ d (cancelled), :func:`consume`\\ d (delivered: a ``delivery`` move
takes the goods out through :func:`~retailcore.inventory.services.move_stock`) or expired
(:func:`expire_reservations`, for unpaid carts). Lock order everywhere is reservation -> product
cost -> quant, the order ``move_stock`` itself uses, so these operations cannot deadlock with moves.

Available-to-promise
--------------------
Per product, sellable location and channel: ``on hand - reserved - safety stock``, where the safety
stock is the product's own row for the channel, else the channel's default, else zero. The published
value is never below zero. Every change of it is recorded as an ``AvailabilityChanged`` event for the
channels to pick up: reservations publish their own changes, and :func:`install` subscribes
:func:`publish_availability` to every stock move event, so receipts, sales, transfers and counts do too.

Stock exceptions
----------------
Exceptions (negative stock after a sale, goods promised to orders that left another way (``oversold``,
see :func:`~retailcore.inventory.services.move_stock`), a receipt that does not match its bill...) are
opened by the flows that find them, as rows of the one exceptions console
(:mod:`retailcore.monitoring`, decision 0031), where people acknowledge, assign and resolve them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of
from retailcore.core.decimals import canonical
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record, record_many, subscribe
from retailcore.eventlog.tables import Event
from retailcore.inventory import tables as i
from retailcore.inventory.reservation_tables import (
    RESERVATION_CHANNELS,
    ChannelSafetyStock,
    Reservation,
)
from retailcore.inventory.services import (
    MOVES_OF_EVENT,
    SELLABLE,
    MoveLine,
    MoveResult,
    held,
    move_stock,
)
from retailcore.masterdata.tables import Company, Location, Product

CHANNELS = RESERVATION_CHANNELS

MOVE_EVENT_TYPES = (
    "GoodsReceived",
    "GoodsIssued",
    "PosGoodsIssued",
    "PosGoodsReturned",
    "ReturnReceived",
    "StockMoved",
    "StockMovedInternally",
    "TransferShipped",
    "TransferReceived",
    "StockScrapped",
    "StockCounted",
    "SupplierReturned",
    "IntercompanyGoodsShipped",
    "IntercompanyGoodsArrived",
)
"""Events of ``move_stock``: each changes on hand somewhere, so possibly what can be promised."""

QUANTITY_QUANTUM = Decimal("0.0001")  # the scale of Quantity() columns

Key = tuple[uuid.UUID, uuid.UUID, str]
"""(product_id, location_id, channel)."""
Snapshot = dict[Key, Decimal]
"""Available-to-promise per product, location and channel at one moment."""

# Set in ``session.info`` while an operation publishes its own availability change (``consume``): the
# move it makes must not publish a half-done intermediate value.
_QUIET = "retailcore.inventory.availability_quiet"


# -- reading levels and available-to-promise -------------------------------------------------------


@dataclass(frozen=True)
class Level:
    on_hand: Decimal
    reserved: Decimal
    store_id: uuid.UUID | None


def _levels(
    session: Session,
    company_id: uuid.UUID,
    product_ids: Iterable[uuid.UUID],
    location_ids: Iterable[uuid.UUID] | None,
) -> dict[tuple[uuid.UUID, uuid.UUID], Level]:
    """On hand and reserved per product at sellable locations (all of the company's when
    ``location_ids`` is None). Plain columns, not ORM rows: always the database's current values."""
    query = (
        select(
            i.StockQuant.product_id,
            i.StockQuant.location_id,
            i.StockQuant.quantity,
            i.StockQuant.reserved,
            Location.store_id,
        )
        .join(Location, Location.id == i.StockQuant.location_id)
        .where(
            i.StockQuant.company_id == company_id,
            one_of(session, i.StockQuant.product_id, product_ids),
            Location.kind.in_(SELLABLE),
        )
    )
    if location_ids is not None:
        query = query.where(one_of(session, i.StockQuant.location_id, location_ids))
    return {
        (row.product_id, row.location_id): Level(row.quantity, row.reserved, row.store_id)
        for row in session.execute(query)
    }


SafetyTable = dict[tuple[str, uuid.UUID | None], Decimal]


def safety_table(session: Session, company_id: uuid.UUID, product_ids: Iterable[uuid.UUID]) -> SafetyTable:
    """Safety stock rows for these products and the channel defaults, by (channel, product or None)."""
    ids = list(product_ids)
    rows = session.execute(
        select(ChannelSafetyStock.channel, ChannelSafetyStock.product_id, ChannelSafetyStock.quantity).where(
            ChannelSafetyStock.company_id == company_id,
            one_of(session, ChannelSafetyStock.product_id, ids) | ChannelSafetyStock.product_id.is_(None),
        )
    )
    return {(row.channel, row.product_id): row.quantity for row in rows}


def safety_for(table: SafetyTable, channel: str, product_id: uuid.UUID) -> Decimal:
    """The product's own safety stock for the channel, else the channel default, else zero."""
    own = table.get((channel, product_id))
    if own is not None:
        return own
    return table.get((channel, None), Decimal(0))


def available_to_promise(on_hand: Decimal, reserved: Decimal, safety: Decimal) -> Decimal:
    """What a channel may sell: never below zero (negative stock promises nothing)."""
    return max(on_hand - reserved - safety, Decimal(0)).quantize(QUANTITY_QUANTUM)


def _snapshot_of(
    levels: dict[tuple[uuid.UUID, uuid.UUID], Level],
    safety: SafetyTable,
    on_hand_delta: dict[tuple[uuid.UUID, uuid.UUID], Decimal] | None = None,
) -> Snapshot:
    snapshot: Snapshot = {}
    for (product_id, location_id), level in levels.items():
        on_hand = level.on_hand - (on_hand_delta or {}).get((product_id, location_id), Decimal(0))
        for channel in CHANNELS:
            snapshot[(product_id, location_id, channel)] = available_to_promise(
                on_hand, level.reserved, safety_for(safety, channel, product_id)
            )
    return snapshot


def availability_snapshot(
    session: Session,
    company: Company,
    product_ids: Iterable[uuid.UUID],
    location_ids: Iterable[uuid.UUID] | None = None,
) -> Snapshot:
    """ATP per product, sellable location and channel now: take one before a change and pass it to
    :func:`publish_availability` after it, so only what changed is published."""
    ids = set(product_ids)
    return _snapshot_of(
        _levels(session, company.id, ids, location_ids), safety_table(session, company.id, ids)
    )


def publish_availability(
    session: Session,
    ctx: CommandContext,
    company: Company,
    product_ids: Iterable[uuid.UUID],
    location_ids: Iterable[uuid.UUID] | None = None,
    *,
    before: Snapshot | None = None,
) -> int:
    """Record ``AvailabilityChanged`` per product and sellable location whose value changed for a
    channel; returns how many events.

    With ``before`` (from :func:`availability_snapshot`), only the values that differ from it are
    published; without it every current value is (a full resend to the channels).
    ``location_ids`` None means every sellable location of the company.
    """
    ids = set(product_ids)
    levels = _levels(session, company.id, ids, location_ids)
    return _publish(session, ctx, company, levels, safety_table(session, company.id, ids), before)


def _publish(
    session: Session,
    ctx: CommandContext,
    company: Company,
    levels: dict[tuple[uuid.UUID, uuid.UUID], Level],
    safety: SafetyTable,
    before: Snapshot | None,
) -> int:
    """Record one ``AvailabilityChanged`` per product and location where a channel's value changed (one
    set-based insert), carrying every channel's value and naming the changed ones; returns how many."""
    after = _snapshot_of(levels, safety)
    zero = Decimal(0).quantize(QUANTITY_QUANTUM)
    # By the UUIDs' integers: the same order as their text (fixed-width hexadecimal), compared in C
    # (UUID's own comparisons are Python methods).
    places = sorted(
        {(product_id, location_id) for product_id, location_id, _ in after.keys() | (before or {}).keys()},
        key=lambda place: (place[0].int, place[1].int),
    )
    items: list[tuple[uuid.UUID, dict[str, Any], uuid.UUID | None]] = []
    for product_id, location_id in places:
        available = {channel: after.get((product_id, location_id, channel), zero) for channel in CHANNELS}
        changed = [
            channel
            for channel in CHANNELS
            if before is None
            or before.get((product_id, location_id, channel), Decimal(0)) != available[channel]
        ]
        if not changed:
            continue
        level = levels.get((product_id, location_id))
        store_id = (
            level.store_id
            if level
            else session.scalar(select(Location.store_id).where(Location.id == location_id))
        )
        payload = {
            "product_id": product_id,
            "location_id": location_id,
            "store_id": store_id,
            "available": available,
            "changed": changed,
        }
        items.append((product_id, payload, store_id))
    return record_many(
        session,
        ctx,
        type="AvailabilityChanged",
        company_id=company.id,
        aggregate_type="Availability",
        items=items,
    )


@contextmanager
def _quiet(session: Session) -> Iterator[None]:
    """Within it, stock moves do not publish availability: the caller publishes the net change."""
    previous = session.info.get(_QUIET, False)
    session.info[_QUIET] = True
    try:
        yield
    finally:
        session.info[_QUIET] = previous


def _on_stock_moved(session: Session, ctx: CommandContext, event: Event) -> None:
    """Publish the availability a stock move changed. The state before the move is the state after
    it minus the move's quantities, so no snapshot has to be taken in ``move_stock``."""
    if session.info.get(_QUIET):
        return
    session.flush()
    moves: Sequence[Any] | None = session.info.get(MOVES_OF_EVENT, {}).get(event.id)
    if moves is None:  # an event recorded elsewhere than move_stock: its moves are in the database
        moves = session.execute(
            select(
                i.StockMove.product_id,
                i.StockMove.from_location_id,
                i.StockMove.to_location_id,
                i.StockMove.quantity,
            ).where(i.StockMove.event_id == event.id)
        ).all()
    delta: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {}
    for move in moves:
        source = (move.product_id, move.from_location_id)
        destination = (move.product_id, move.to_location_id)
        delta[source] = delta.get(source, Decimal(0)) - move.quantity
        delta[destination] = delta.get(destination, Decimal(0)) + move.quantity
    if not delta:
        return
    company = session.get(Company, event.company_id)
    assert company is not None
    product_ids = {product for product, _ in delta}
    levels = _levels(session, company.id, product_ids, {location for _, location in delta})
    if not levels:
        return  # no sellable location involved (goods in transit, damaged, lost)
    safety = safety_table(session, company.id, product_ids)
    _publish(session, ctx, company, levels, safety, _snapshot_of(levels, safety, delta))


def install() -> None:
    """Publish availability after every stock move. The composition root must call this."""
    for event_type in MOVE_EVENT_TYPES:
        subscribe(event_type, _on_stock_moved)


# -- reservations ----------------------------------------------------------------------------------


def _check_quantity(quantity: Decimal, name: str = "quantity", *, positive: bool = True) -> None:
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise ValidationFailed("quantities are decimals", problems=[FieldProblem(name, "not a decimal")])
    if (quantity <= 0) if positive else (quantity < 0):
        rule = "must be > 0" if positive else "must be >= 0"
        raise ValidationFailed(f"{name} {rule}", problems=[FieldProblem(name, rule)])
    if quantity != quantity.quantize(QUANTITY_QUANTUM):
        raise ValidationFailed(
            "quantities have at most 4 decimals", problems=[FieldProblem(name, "at most 4 decimals")]
        )


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValidationFailed(
            f"unknown channel '{channel}'",
            problems=[FieldProblem("channel", f"one of {', '.join(CHANNELS)}")],
        )


def _product(session: Session, company: Company, product_id: uuid.UUID) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.company_id != company.id:
        raise InvalidReference(
            f"no product {product_id}", problems=[FieldProblem("product_id", "no such product")]
        )
    return product


def _sellable_location(
    session: Session, ctx: CommandContext, company: Company, location_id: uuid.UUID
) -> Location:
    location = session.get(Location, location_id)
    if (
        location is None
        or location.company_id != company.id
        or not ctx.principal.sees_store(location.store_id)
    ):
        raise InvalidReference(
            f"no location {location_id}", problems=[FieldProblem("location_id", "no such location")]
        )
    if location.kind not in SELLABLE:
        raise ValidationFailed(
            f"stock at a {location.kind} location cannot be reserved",
            problems=[FieldProblem("location_id", f"{location.kind} location not sellable")],
        )
    return location


def _locked_quant(session: Session, product_id: uuid.UUID, location_id: uuid.UUID) -> i.StockQuant | None:
    """The quant row, locked until the transaction ends (PostgreSQL) and re-read from the database:
    ``populate_existing`` refreshes a row this session loaded before the lock was granted."""
    return session.scalar(
        select(i.StockQuant)
        .where(i.StockQuant.product_id == product_id, i.StockQuant.location_id == location_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _payload(reservation: Reservation, store_id: uuid.UUID | None, **extra: Any) -> dict[str, Any]:
    return {
        "reservation_id": reservation.id,
        "product_id": reservation.product_id,
        "location_id": reservation.location_id,
        "store_id": store_id,
        "quantity": reservation.quantity,
        "channel": reservation.channel,
        "order_ref": reservation.order_ref,
        "order_line_ref": reservation.order_line_ref,
        **extra,
    }


def reserve(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    product_id: uuid.UUID,
    location_id: uuid.UUID,
    quantity: Decimal,
    channel: str,
    order_ref: str,
    order_line_ref: str = "",
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Reservation:
    """Promise ``quantity`` at ``location_id`` to an order line, or refuse with ``insufficient-stock``."""
    now = now or utcnow()
    _check_quantity(quantity)
    _check_channel(channel)
    if not order_ref.strip():
        raise ValidationFailed(
            "a reservation is for an order", problems=[FieldProblem("order_ref", "required")]
        )
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise ValidationFailed(
            "a reservation expires in the future, with a time zone",
            problems=[FieldProblem("expires_at", "must be an aware time in the future")],
        )
    product = _product(session, company, product_id)
    location = _sellable_location(session, ctx, company, location_id)
    quant = _locked_quant(session, product.id, location.id)
    available = quant.quantity - quant.reserved if quant is not None else Decimal(0)
    if quant is None or quantity > available:
        shown = canonical(max(available, Decimal(0)))
        raise Conflict(
            f"only {shown} of {product.sku} available at {location.code}, {canonical(quantity)} asked",
            code="insufficient-stock",
            problems=[FieldProblem("quantity", f"{shown} available")],
        )
    # The locked quant is the place's level (what ``_levels`` would read back): the snapshots before
    # and after come from it and one read of the safety stock, not from four queries.
    safety = safety_table(session, company.id, [product.id])
    place = (product.id, location.id)
    before = _snapshot_of({place: Level(quant.quantity, quant.reserved, location.store_id)}, safety)
    quant.reserved += quantity
    reservation = Reservation(
        company_id=company.id,
        product_id=product.id,
        location_id=location.id,
        quantity=quantity,
        channel=channel,
        order_ref=order_ref.strip(),
        order_line_ref=order_line_ref.strip(),
        state="active",
        expires_at=expires_at,
        created_by=ctx.actor,
        updated_by=ctx.actor,
    )
    session.add(reservation)
    session.flush()
    record(
        session,
        ctx,
        type="StockReserved",
        company_id=company.id,
        aggregate_type="Reservation",
        aggregate_id=reservation.id,
        payload=_payload(reservation, location.store_id, expires_at=expires_at, sku=product.sku),
        store_id=location.store_id,
    )
    after = {place: Level(quant.quantity, quant.reserved, location.store_id)}
    _publish(session, ctx, company, after, safety, before)
    return reservation


def _locked_reservation(
    session: Session, ctx: CommandContext, company: Company, reservation_id: uuid.UUID
) -> tuple[Reservation, Location]:
    reservation = session.scalar(
        select(Reservation)
        .where(Reservation.id == reservation_id, Reservation.company_id == company.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    location = _location(session, reservation.location_id) if reservation is not None else None
    if reservation is None or location is None or not ctx.principal.sees_store(location.store_id):
        raise NotFound(f"no reservation {reservation_id}")
    if reservation.state != "active":
        raise Conflict(
            f"the reservation is {reservation.state}, not active",
            code="reservation-not-active",
            problems=[FieldProblem("state", reservation.state)],
        )
    return reservation, location


def _let_go(
    session: Session,
    ctx: CommandContext,
    company: Company,
    reservation: Reservation,
    location: Location,
    *,
    state: str,
    event_type: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """End an active reservation without moving goods: its quantity is available again."""
    quant = _locked_quant(session, reservation.product_id, reservation.location_id)
    before = availability_snapshot(session, company, [reservation.product_id], [location.id])
    if quant is not None:
        quant.reserved -= reservation.quantity
    reservation.state = state
    reservation.updated_by = ctx.actor
    session.flush()
    record(
        session,
        ctx,
        type=event_type,
        company_id=company.id,
        aggregate_type="Reservation",
        aggregate_id=reservation.id,
        payload=_payload(reservation, location.store_id, **(extra or {})),
        store_id=location.store_id,
    )
    publish_availability(session, ctx, company, [reservation.product_id], [location.id], before=before)


def release(
    session: Session, ctx: CommandContext, company: Company, reservation_id: uuid.UUID, *, reason: str = ""
) -> Reservation:
    """Cancel an active reservation (the order line was cancelled or sourced elsewhere)."""
    reservation, location = _locked_reservation(session, ctx, company, reservation_id)
    _let_go(
        session,
        ctx,
        company,
        reservation,
        location,
        state="released",
        event_type="ReservationReleased",
        extra={"reason": reason},
    )
    return reservation


def _location(session: Session, location_id: uuid.UUID) -> Location | None:
    """``session.get``, the row kept referenced for the rest of the transaction (:func:`held`)."""
    location = session.get(Location, location_id)
    if location is not None:
        held(session)[Location, location_id] = location
    return location


def _customer_location(session: Session, company: Company) -> Location:
    """The company's customer location, looked up once per transaction."""
    kept = held(session)
    customer = kept.get(("customer", company.id))
    if customer is None:
        customer = session.scalar(
            select(Location).where(Location.company_id == company.id, Location.kind == "customer")
        )
        if customer is None:
            raise InvalidReference("the company has no customer location", code="no-customer-location")
        kept[("customer", company.id)] = customer
    return customer


def consume(
    session: Session,
    ctx: CommandContext,
    company: Company,
    reservation_id: uuid.UUID,
    *,
    quantity: Decimal | None = None,
    date: dt.date | None = None,
    reference: str | None = None,
) -> tuple[Reservation, MoveResult]:
    """Deliver a reservation: a ``delivery`` move from its location to the customer. On hand and
    reserved both drop, so ATP does not change.

    ``quantity`` delivers part of it (a partial shipment): the reservation stays active for the rest,
    its ``quantity`` being what is still held. Without it, or when it is everything, it is consumed.
    """
    reservation, location = _locked_reservation(session, ctx, company, reservation_id)
    delivered = reservation.quantity if quantity is None else quantity
    if delivered <= 0 or delivered > reservation.quantity:
        raise ValidationFailed(
            f"{delivered} cannot be delivered from a reservation of {reservation.quantity}",
            problems=[FieldProblem("quantity", f"must be > 0 and <= {reservation.quantity}")],
        )
    customer = _customer_location(session, company)
    # The quant's reserved quantity drops in move_stock (consumes_reservation), with the locks it takes
    # in its usual order (product cost, then quant) and the row it writes anyway.
    # Ended (or reduced) before the move, so an oversold place's orders at risk no longer name it.
    remaining = reservation.quantity - delivered
    if remaining:
        reservation.quantity = remaining
    else:
        reservation.state = "consumed"
    reservation.updated_by = ctx.actor
    with _quiet(session):
        result = move_stock(
            session,
            ctx,
            company,
            kind="delivery",
            lines=[MoveLine(reservation.product_id, delivered, location.id, customer.id)],
            date=date or (ctx.occurred_at or utcnow()).date(),
            reference=reference or reservation.order_ref,
            details={
                "reservation_id": reservation.id,
                "order_ref": reservation.order_ref,
                "order_line_ref": reservation.order_line_ref,
                "channel": reservation.channel,
            },
            consumes_reservation=True,
        )
    session.flush()
    record(
        session,
        ctx,
        type="ReservationConsumed",
        company_id=company.id,
        aggregate_type="Reservation",
        aggregate_id=reservation.id,
        payload=_payload(
            reservation,
            location.store_id,
            quantity=delivered,
            remaining=remaining,
            move_event_id=result.event.id,
        ),
        store_id=location.store_id,
    )
    # Nothing to publish: on hand and reserved dropped by the same quantity at the same place and the
    # safety stock did not change, so every channel's value is what it was (decision 0067).
    return reservation, result


def expire_reservations(
    session: Session, ctx: CommandContext, company: Company, now: dt.datetime | None = None
) -> list[Reservation]:
    """Let go of every active reservation whose ``expires_at`` has passed (unpaid carts).

    Rows another transaction holds (being consumed right now) are skipped on PostgreSQL rather than
    waited for; the next sweep sees them if they are still active.
    """
    now = now or utcnow()
    query = (
        select(Reservation)
        .where(
            Reservation.company_id == company.id,
            Reservation.state == "active",
            Reservation.expires_at.is_not(None),
            Reservation.expires_at <= now,
        )
        .order_by(Reservation.product_id, Reservation.location_id, Reservation.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    expired: list[Reservation] = []
    for reservation in session.scalars(query).all():
        location = session.get(Location, reservation.location_id)
        assert location is not None
        if not ctx.principal.sees_store(location.store_id):
            continue  # a store's token sweeps its own store only
        _let_go(
            session,
            ctx,
            company,
            reservation,
            location,
            state="expired",
            event_type="ReservationExpired",
            extra={"expires_at": reservation.expires_at},
        )
        expired.append(reservation)
    return expired


# -- safety stock ----------------------------------------------------------------------------------


def set_safety_stock(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    channel: str,
    quantity: Decimal,
    product_id: uuid.UUID | None = None,
) -> ChannelSafetyStock:
    """Set the units each sellable location holds back from a channel, for one product or (without
    ``product_id``) as the channel's default; publishes the availability it changes."""
    _check_channel(channel)
    _check_quantity(quantity, positive=False)
    if product_id is not None:
        _product(session, company, product_id)
    row = session.scalar(
        select(ChannelSafetyStock)
        .where(
            ChannelSafetyStock.company_id == company.id,
            ChannelSafetyStock.channel == channel,
            ChannelSafetyStock.product_id == product_id
            if product_id is not None
            else ChannelSafetyStock.product_id.is_(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    # A default touches every product in stock; a product's own row only that product.
    if product_id is not None:
        product_ids: set[uuid.UUID] = {product_id}
    else:
        product_ids = set(
            session.scalars(
                select(i.StockQuant.product_id)
                .join(Location, Location.id == i.StockQuant.location_id)
                .where(i.StockQuant.company_id == company.id, Location.kind.in_(SELLABLE))
                .distinct()
            )
        )
    before = availability_snapshot(session, company, product_ids)
    previous = row.quantity if row is not None else None
    if row is None:
        row = ChannelSafetyStock(company_id=company.id, channel=channel, product_id=product_id)
        session.add(row)
    row.quantity = quantity
    row.updated_by = ctx.actor
    session.flush()
    record(
        session,
        ctx,
        type="SafetyStockSet",
        company_id=company.id,
        aggregate_type="ChannelSafetyStock",
        aggregate_id=row.id,
        payload={"channel": channel, "product_id": product_id, "quantity": quantity, "previous": previous},
    )
    if product_ids:
        publish_availability(session, ctx, company, product_ids, before=before)
    return row
