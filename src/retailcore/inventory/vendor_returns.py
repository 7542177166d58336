"""Returns to vendor: goods of a purchase receipt sent back to the supplier (decision 0061).

Each line names a receipt line and a quantity, at most what that line received less what was already
sent back. The goods leave the location they were received into through ``move_stock``
(``supplier_return``): under FIFO they take the receipt's own layer first, so they leave at the cost
they came in at; at average or standard cost, at the current unit cost. The books
(``SupplierReturned``): goods received not invoiced debited with the purchase value (what the receipt
accrued), stock credited with the value leaving, the difference to ``price_variance``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.inventory.costing_tables import VendorReturnLine
from retailcore.inventory.purchasing_tables import Receipt
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location

ZERO = Decimal(0)


@dataclass(frozen=True)
class ReturnLineRequest:
    receipt_line_id: uuid.UUID
    quantity: Decimal


@dataclass(frozen=True)
class VendorReturn:
    operation_id: uuid.UUID
    receipt_id: uuid.UUID
    event_id: uuid.UUID
    date: dt.date
    lines: list[VendorReturnLine]


def returned_so_far(session: Session, receipt_line_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    return dict(
        session.execute(
            select(VendorReturnLine.receipt_line_id, func.sum(VendorReturnLine.quantity))
            .where(VendorReturnLine.receipt_line_id.in_(list(receipt_line_ids)))
            .group_by(VendorReturnLine.receipt_line_id)
        ).all()
    )


def return_to_vendor(
    session: Session,
    ctx: CommandContext,
    company: Company,
    receipt_id: uuid.UUID,
    lines: Sequence[ReturnLineRequest],
    *,
    date: dt.date,
    reason: str = "",
    visible_store_id: uuid.UUID | None = None,
) -> VendorReturn:
    receipt = session.scalar(
        select(Receipt).where(Receipt.id == receipt_id, Receipt.company_id == company.id).with_for_update()
    )
    if receipt is None or (visible_store_id is not None and receipt.store_id != visible_store_id):
        raise NotFound(f"no receipt {receipt_id}")
    if not lines:
        raise ValidationFailed("nothing to return", problems=[FieldProblem("lines", "empty")])
    if date < receipt.date:
        raise ValidationFailed(
            f"goods go back after they came: the receipt is dated {receipt.date}",
            problems=[FieldProblem("date", "before the receipt")],
        )
    by_id = {line.id: line for line in receipt.lines}
    before = returned_so_far(session, list(by_id))
    asked: dict[uuid.UUID, Decimal] = {}
    for index, line in enumerate(lines):
        received = by_id.get(line.receipt_line_id)
        if received is None:
            raise InvalidReference(
                f"receipt {receipt.number} has no line {line.receipt_line_id}",
                problems=[FieldProblem(f"lines.{index}.receipt_line_id", "not a line of this receipt")],
            )
        if line.quantity <= 0:
            raise ValidationFailed(
                "quantities are positive", problems=[FieldProblem(f"lines.{index}.quantity", "must be > 0")]
            )
        asked[line.receipt_line_id] = asked.get(line.receipt_line_id, ZERO) + line.quantity
        left = received.quantity - before.get(received.id, ZERO)
        if asked[line.receipt_line_id] > left:
            raise ValidationFailed(
                f"line {received.sequence} of receipt {receipt.number} can give back {left}, not"
                f" {asked[line.receipt_line_id]}",
                problems=[FieldProblem(f"lines.{index}.quantity", f"more than the {left} left to return")],
            )
    supplier = session.scalar(
        select(Location.id).where(Location.company_id == company.id, Location.kind == "supplier").limit(1)
    )
    if supplier is None:
        raise ValidationFailed(
            "the company has no supplier location", problems=[FieldProblem("receipt_id", "")]
        )
    layers = dict(
        session.execute(
            select(i.ValuationLayer.move_id, i.ValuationLayer.id).where(
                i.ValuationLayer.move_id.in_([by_id[line.receipt_line_id].move_id for line in lines])
            )
        ).all()
    )
    move_lines = [
        MoveLine(
            product_id=by_id[line.receipt_line_id].product_id,
            quantity=line.quantity,
            from_location_id=by_id[line.receipt_line_id].location_id,
            to_location_id=supplier,
            unit_cost=by_id[line.receipt_line_id].unit_price,
            layer_id=layers.get(by_id[line.receipt_line_id].move_id),
        )
        for line in lines
    ]
    operation_id = uuid.uuid4()
    result = move_stock(
        session,
        ctx,
        company,
        kind="supplier_return",
        lines=move_lines,
        date=date,
        reference=f"Return {receipt.number}",
        details={"receipt_id": receipt.id, "receipt_number": receipt.number, "reason": reason},
        aggregate=("StockOperation", operation_id),
    )
    moves_by_line = {}
    # result.values follows the given order; the moves are in product order: match by value order.
    made = sorted(result.moves, key=lambda move: move.product_id.int)
    given = sorted(range(len(move_lines)), key=lambda index: move_lines[index].product_id.int)
    for made_index, given_index in enumerate(given):
        moves_by_line[given_index] = made[made_index]
    rows = []
    for index, line in enumerate(lines):
        received = by_id[line.receipt_line_id]
        move = moves_by_line[index]
        row = VendorReturnLine(
            company_id=company.id,
            operation_id=operation_id,
            receipt_id=receipt.id,
            receipt_line_id=received.id,
            product_id=received.product_id,
            location_id=received.location_id,
            quantity=line.quantity,
            unit_price=received.unit_price,
            value=move.value,
            purchase_value=round_to_currency(line.quantity * received.unit_price, company.currency),
            move_id=move.id,
            date=date,
            reason=reason,
            event_id=result.event.id,
            created_by=ctx.actor,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return VendorReturn(
        operation_id=operation_id, receipt_id=receipt.id, event_id=result.event.id, date=date, lines=rows
    )


def list_returns(
    session: Session,
    company: Company,
    *,
    receipt_id: uuid.UUID | None,
    limit: int,
    cursor: uuid.UUID | None,
    visible_store_id: uuid.UUID | None = None,
) -> tuple[list[VendorReturnLine], uuid.UUID | None]:
    """Returned lines by id; a store-scoped caller sees its store's receipts' only."""
    query = select(VendorReturnLine).where(VendorReturnLine.company_id == company.id)
    if visible_store_id is not None:
        query = query.where(
            VendorReturnLine.receipt_id.in_(select(Receipt.id).where(Receipt.store_id == visible_store_id))
        )
    if receipt_id is not None:
        query = query.where(VendorReturnLine.receipt_id == receipt_id)
    return keyset_page(session, query, VendorReturnLine.id, limit, cursor)
