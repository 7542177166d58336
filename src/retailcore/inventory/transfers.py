"""Transfers between stores of one company, through the company's in-transit location.

State machine (the only transitions there are)::

    state               action     next state
    draft               ship       shipped
    draft               cancel     cancelled
    shipped             receive    partially_received, or received when nothing is outstanding
    partially_received  receive    partially_received, or received when nothing is outstanding
    shipped, partially_received, received
                        close      closed (what is still outstanding is written off as lost)

- ``ship`` moves every line from the source store's stock location to in transit
  (``transfer_out``: the ledger posts inventory -> stock_in_transit).
- ``receive`` moves what arrived from in transit into a location of the destination store
  (``transfer_in``: stock_in_transit -> inventory). Receipts may be partial; more than what is still
  outstanding on a line is refused and nothing is written.
- ``close`` writes off whatever shipped but never arrived (``transit_loss``: stock_in_transit ->
  inventory_shrinkage) and ends the transfer. Closing a fully received transfer writes off nothing.
- ``cancel`` is only possible before shipping: once goods left, the way out is receive or close.

Stock changes only through :func:`retailcore.inventory.services.move_stock`, which records the stock
events (``TransferShipped``, ``TransferReceived``, ``StockScrapped``) with the transfer's id and number
in their payload. The document itself records ``TransferCreated``, ``TransferClosed`` and
``TransferCancelled``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.adapters.sequences import take_next
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import tables as i
from retailcore.inventory.services import INTERNAL, MoveLine, move_stock
from retailcore.inventory.transfer_tables import Transfer, TransferCountSequence, TransferLine
from retailcore.masterdata.tables import Company, Location, Product, Store

QUANTUM = Decimal("0.0001")  # the scale of quantity columns


@dataclass(frozen=True)
class ProductQuantity:
    """A quantity of one product (a transfer line asked for, a quantity received)."""

    product_id: uuid.UUID
    quantity: Decimal


# -- shared by transfers and counts ------------------------------------------------------------------


def take_number(session: Session, company_id: uuid.UUID, kind: str, prefix: str) -> str:
    """The next document number of a kind in a company (``TR-000001``), without gaps.

    See :mod:`retailcore.adapters.sequences`: concurrent creators queue, a rollback gives the number back.
    """
    number = take_next(session, TransferCountSequence.__table__, {"company_id": company_id, "kind": kind})
    return f"{prefix}-{number:06d}"


def today(ctx: CommandContext) -> dt.date:
    """The business date of a command that names none: when it happened, else now (UTC)."""
    return (ctx.occurred_at or utcnow()).date()


def check_quantity(value: Decimal, field: str, *, zero_ok: bool = False) -> None:
    """Quantities are finite, positive (or zero where allowed) and fit the 4-decimal columns."""
    if not value.is_finite() or value < 0 or (value == 0 and not zero_ok):
        raise ValidationFailed(
            f"{field} must be {'>= 0' if zero_ok else '> 0'}",
            problems=[FieldProblem(field, "must be >= 0" if zero_ok else "must be > 0")],
        )
    if value != value.quantize(QUANTUM):
        raise ValidationFailed(
            f"{field} has more than 4 decimals", problems=[FieldProblem(field, "at most 4 decimals")]
        )


def virtual_location(session: Session, company_id: uuid.UUID, kind: str) -> Location:
    """The company's one virtual location of a kind (``in_transit``, ``inventory_loss``)."""
    location = session.scalar(
        select(Location)
        .where(Location.company_id == company_id, Location.kind == kind, Location.store_id.is_(None))
        .order_by(Location.code)
        .limit(1)
    )
    if location is None:  # only a broken company set-up gets here
        raise Conflict(f"the company has no {kind} location", code="missing-location")
    return location


def stock_location(session: Session, store: Store, field: str) -> Location:
    """A store's main stock location: ``<CODE>/STOCK`` if it exists, else its first active stock one."""
    candidates = list(
        session.scalars(
            select(Location)
            .where(
                Location.company_id == store.company_id,
                Location.store_id == store.id,
                Location.kind == "stock",
                Location.active.is_(True),
            )
            .order_by(Location.code)
        )
    )
    for location in candidates:
        if location.code == f"{store.code}/STOCK":
            return location
    if not candidates:
        raise ValidationFailed(
            f"store {store.code} has no stock location", problems=[FieldProblem(field, "no stock location")]
        )
    return candidates[0]


def _store(session: Session, company: Company, store_id: uuid.UUID, field: str) -> Store:
    store = session.get(Store, store_id)
    if store is None or store.company_id != company.id:
        raise InvalidReference(f"no store {store_id}", problems=[FieldProblem(field, "no such store")])
    if not store.active:
        raise ValidationFailed(f"store {store.code} is inactive", problems=[FieldProblem(field, "inactive")])
    return store


# -- reading -----------------------------------------------------------------------------------------


def get_transfer(
    session: Session, company_id: uuid.UUID | None, transfer_id: uuid.UUID, *, lock: bool = False
) -> Transfer:
    """A transfer by id (of the company, when one is given); ``lock`` holds its row until commit so two
    requests cannot both ship or both receive the same outstanding quantity."""
    query = select(Transfer).where(Transfer.id == transfer_id)
    if company_id is not None:
        query = query.where(Transfer.company_id == company_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    transfer = session.scalar(query)
    if transfer is None:
        raise NotFound(f"no transfer {transfer_id}")
    return transfer


def _state_conflict(transfer: Transfer, action: str, allowed: Sequence[str]) -> Conflict:
    return Conflict(
        f"transfer {transfer.number} is {transfer.state}: only a {' or '.join(allowed)} transfer can be"
        f" {action}",
        code="transfer-state",
        problems=[FieldProblem("state", transfer.state)],
    )


def _document(transfer: Transfer) -> dict[str, Any]:
    """What the stock events carry about the transfer that caused them."""
    return {
        "transfer_id": transfer.id,
        "transfer_number": transfer.number,
        "from_store_id": transfer.from_store_id,
        "to_store_id": transfer.to_store_id,
    }


def _lines_payload(transfer: Transfer) -> list[dict[str, Any]]:
    return [
        {
            "product_id": line.product_id,
            "quantity": line.quantity,
            "shipped_quantity": line.shipped_quantity,
            "received_quantity": line.received_quantity,
            "lost_quantity": line.lost_quantity,
        }
        for line in transfer.lines
    ]


# -- commands ----------------------------------------------------------------------------------------


def create_transfer(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    from_store_id: uuid.UUID,
    to_store_id: uuid.UUID,
    lines: Sequence[ProductQuantity],
    note: str = "",
) -> Transfer:
    """A draft transfer: nothing moves until it is shipped."""
    source = _store(session, company, from_store_id, "from_store_id")
    destination = _store(session, company, to_store_id, "to_store_id")
    if source.id == destination.id:
        raise ValidationFailed(
            "a transfer goes to another store",
            problems=[FieldProblem("to_store_id", "same as from_store_id")],
        )
    stock_location(session, source, "from_store_id")
    stock_location(session, destination, "to_store_id")
    if not lines:
        raise ValidationFailed("a transfer moves something", problems=[FieldProblem("lines", "empty")])
    known = set(
        session.scalars(
            select(Product.id).where(
                Product.company_id == company.id, Product.id.in_({line.product_id for line in lines})
            )
        )
    )
    seen: set[uuid.UUID] = set()
    for index, line in enumerate(lines):
        if line.product_id not in known:
            raise InvalidReference(
                f"no product {line.product_id}",
                problems=[FieldProblem(f"lines.{index}.product_id", "no such product")],
            )
        if line.product_id in seen:
            raise ValidationFailed(
                "one line per product",
                problems=[FieldProblem(f"lines.{index}.product_id", "listed twice")],
            )
        seen.add(line.product_id)
        check_quantity(line.quantity, f"lines.{index}.quantity")
    transfer = Transfer(
        company_id=company.id,
        number=take_number(session, company.id, "transfer", "TR"),
        from_store_id=source.id,
        to_store_id=destination.id,
        state="draft",
        note=note,
        created_by=ctx.actor,
        lines=[
            TransferLine(
                company_id=company.id,
                position=index,
                product_id=line.product_id,
                quantity=line.quantity,
                shipped_quantity=Decimal(0),
                received_quantity=Decimal(0),
                lost_quantity=Decimal(0),
            )
            for index, line in enumerate(lines)
        ],
    )
    session.add(transfer)
    session.flush()
    record(
        session,
        ctx,
        type="TransferCreated",
        company_id=company.id,
        aggregate_type="Transfer",
        aggregate_id=transfer.id,
        payload={
            "number": transfer.number,
            **_document(transfer),
            "note": note,
            "lines": _lines_payload(transfer),
        },
        store_id=transfer.from_store_id,
    )
    return transfer


def ship(
    session: Session,
    ctx: CommandContext,
    company: Company,
    transfer: Transfer,
    *,
    date: dt.date | None = None,
) -> Transfer:
    """Send every line from the source store's stock location into transit.

    Refused when the source does not have the goods available (on hand minus reserved): stock
    promised to an order must not leave the store silently.
    """
    if transfer.state != "draft":
        raise _state_conflict(transfer, "shipped", ["draft"])
    source = stock_location(session, session.get(Store, transfer.from_store_id), "from_store_id")
    in_transit = virtual_location(session, company.id, "in_transit")
    # Lock the source quants while checking them, so two shipments cannot both take the last units.
    quants = {
        row.product_id: row
        for row in session.scalars(
            select(i.StockQuant)
            .where(
                i.StockQuant.location_id == source.id,
                i.StockQuant.product_id.in_({line.product_id for line in transfer.lines}),
            )
            .with_for_update()
        )
    }
    short: list[FieldProblem] = []
    for index, line in enumerate(transfer.lines):
        quant = quants.get(line.product_id)
        available = (quant.quantity - quant.reserved) if quant is not None else Decimal(0)
        if available < line.quantity:
            short.append(
                FieldProblem(f"lines.{index}.quantity", f"only {available} available at {source.code}")
            )
    if short:
        raise Conflict(
            f"not enough stock at {source.code} to ship {transfer.number}",
            code="insufficient-stock",
            problems=short,
        )
    move_stock(
        session,
        ctx,
        company,
        kind="transfer_out",
        lines=[MoveLine(line.product_id, line.quantity, source.id, in_transit.id) for line in transfer.lines],
        date=date or today(ctx),
        reference=transfer.number,
        details=_document(transfer),
    )
    for line in transfer.lines:
        line.shipped_quantity = line.quantity
    transfer.state = "shipped"
    transfer.shipped_at = utcnow()
    transfer.shipped_by = ctx.actor
    transfer.version += 1
    session.flush()
    return transfer


def _receiving_location(session: Session, transfer: Transfer, location_id: uuid.UUID | None) -> Location:
    destination = session.get(Store, transfer.to_store_id)
    if location_id is None:
        return stock_location(session, destination, "location_id")
    location = session.get(Location, location_id)
    if (
        location is None
        or location.company_id != transfer.company_id
        or location.store_id != destination.id
        or location.kind not in INTERNAL
        or not location.active
    ):
        raise InvalidReference(
            f"no active location {location_id} of store {destination.code}",
            problems=[FieldProblem("location_id", "not a location of the destination store")],
        )
    return location


def receive(
    session: Session,
    ctx: CommandContext,
    company: Company,
    transfer: Transfer,
    *,
    lines: Sequence[ProductQuantity],
    location_id: uuid.UUID | None = None,
    date: dt.date | None = None,
) -> Transfer:
    """Take what arrived into a location of the destination store (its stock location by default).

    Every line is checked before anything moves: receiving more than is still outstanding on a line
    (shipped - received - lost) is refused as a whole.
    """
    if transfer.state not in ("shipped", "partially_received"):
        raise _state_conflict(transfer, "received", ["shipped", "partially_received"])
    location = _receiving_location(session, transfer, location_id)
    if not lines:
        raise ValidationFailed("nothing received", problems=[FieldProblem("lines", "empty")])
    by_product = {line.product_id: line for line in transfer.lines}
    seen: set[uuid.UUID] = set()
    for index, line in enumerate(lines):
        ours = by_product.get(line.product_id)
        if ours is None:
            raise InvalidReference(
                f"product {line.product_id} is not on {transfer.number}",
                problems=[FieldProblem(f"lines.{index}.product_id", "not on the transfer")],
            )
        if line.product_id in seen:
            raise ValidationFailed(
                "one line per product", problems=[FieldProblem(f"lines.{index}.product_id", "listed twice")]
            )
        seen.add(line.product_id)
        check_quantity(line.quantity, f"lines.{index}.quantity")
        outstanding = ours.shipped_quantity - ours.received_quantity - ours.lost_quantity
        if line.quantity > outstanding:
            raise ValidationFailed(
                f"{line.quantity} received but only {outstanding} outstanding on {transfer.number}",
                code="over-receipt",
                problems=[FieldProblem(f"lines.{index}.quantity", f"at most {outstanding}")],
            )
    in_transit = virtual_location(session, company.id, "in_transit")
    move_stock(
        session,
        ctx,
        company,
        kind="transfer_in",
        lines=[MoveLine(line.product_id, line.quantity, in_transit.id, location.id) for line in lines],
        date=date or today(ctx),
        reference=transfer.number,
        details=_document(transfer),
    )
    for line in lines:
        by_product[line.product_id].received_quantity += line.quantity
    done = all(
        line.received_quantity + line.lost_quantity == line.shipped_quantity for line in transfer.lines
    )
    transfer.state = "received" if done else "partially_received"
    transfer.received_at = utcnow()
    transfer.version += 1
    session.flush()
    return transfer


def close(
    session: Session,
    ctx: CommandContext,
    company: Company,
    transfer: Transfer,
    *,
    date: dt.date | None = None,
) -> Transfer:
    """End a shipped transfer: what never arrived is written off as lost in transit."""
    if transfer.state not in ("shipped", "partially_received", "received"):
        raise _state_conflict(transfer, "closed", ["shipped", "partially_received", "received"])
    date = date or today(ctx)
    missing = [
        (line, line.shipped_quantity - line.received_quantity - line.lost_quantity) for line in transfer.lines
    ]
    missing = [(line, quantity) for line, quantity in missing if quantity > 0]
    lost_value = Decimal(0)
    if missing:
        in_transit = virtual_location(session, company.id, "in_transit")
        loss = virtual_location(session, company.id, "inventory_loss")
        result = move_stock(
            session,
            ctx,
            company,
            kind="transit_loss",
            lines=[MoveLine(line.product_id, quantity, in_transit.id, loss.id) for line, quantity in missing],
            date=date,
            reference=transfer.number,
            details=_document(transfer),
        )
        lost_value = sum((move.value for move in result.moves), Decimal(0))
        for line, quantity in missing:
            line.lost_quantity += quantity
    transfer.state = "closed"
    transfer.closed_at = utcnow()
    transfer.closed_by = ctx.actor
    transfer.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="TransferClosed",
        company_id=company.id,
        aggregate_type="Transfer",
        aggregate_id=transfer.id,
        payload={
            "number": transfer.number,
            **_document(transfer),
            "date": date,
            "lost_value": lost_value,
            "lines": _lines_payload(transfer),
        },
        store_id=transfer.to_store_id,
    )
    return transfer


def cancel(session: Session, ctx: CommandContext, company: Company, transfer: Transfer) -> Transfer:
    """Drop a draft. Once shipped, goods are on the road: receive them or close with the loss."""
    if transfer.state != "draft":
        raise _state_conflict(transfer, "cancelled", ["draft"])
    transfer.state = "cancelled"
    transfer.cancelled_at = utcnow()
    transfer.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="TransferCancelled",
        company_id=company.id,
        aggregate_type="Transfer",
        aggregate_id=transfer.id,
        payload={"number": transfer.number, **_document(transfer)},
        store_id=transfer.from_store_id,
    )
    return transfer
