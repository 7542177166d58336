"""Cycle counts: count what is on a shelf, compare with the books, post the difference.

A count sheet covers one internal location and either every product with stock there or every
product of a category (``Apparel`` covers ``Apparel`` and ``Apparel/Tops``). State machine::

    state       action    next state
    open        count     open       (partial updates, as many times as needed)
    open        submit    submitted
    submitted   recount   open       (lines whose stock moved get a fresh snapshot and must be counted again)
    submitted   approve   approved   (posts the adjustments)
    open, submitted
                cancel    cancelled

Expected quantity: a snapshot of on hand when the line is made (at sheet creation, or when a product
not on the sheet is counted). The snapshot is what counters are measured against, so it must not
drift while they count. If on hand changes after the snapshot (a sale, a receipt during the count), the
line is flagged ``stock_moved`` at submission and approval; approval then refuses (``count-stale``)
unless told to accept the moves, and ``recount`` re-snapshots those lines.

Approval moves, per counted line, ``counted - on hand at approval`` between the location and the
company's inventory loss location (``count_gain`` / ``count_loss`` through
:func:`~retailcore.inventory.services.move_stock`), so on hand equals what was counted, and the ledger
posts ``StockCounted`` (inventory against inventory_shrinkage). Uncounted lines are left alone.

Accuracy of a sheet: the share of counted lines whose ``|counted - expected|`` is within the sheet's
tolerance, a percent of the expected quantity; a line expected at zero must count zero.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import tables as i
from retailcore.inventory.services import INTERNAL, MoveLine, move_stock
from retailcore.inventory.transfer_tables import CountLine, CountSheet
from retailcore.inventory.transfers import check_quantity, take_number, today, virtual_location
from retailcore.masterdata.tables import Company, Location, Product

DEFAULT_TOLERANCE = Decimal(2)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class CountEntry:
    """What a counter found of one product; ``None`` clears an earlier count."""

    product_id: uuid.UUID
    counted_quantity: Decimal | None


@dataclass(frozen=True)
class Accuracy:
    """Counted lines, how many were within tolerance, and the share in percent (None if none counted)."""

    lines_counted: int
    lines_within_tolerance: int

    @property
    def percent(self) -> Decimal | None:
        if not self.lines_counted:
            return None
        share = Decimal(self.lines_within_tolerance) * HUNDRED / Decimal(self.lines_counted)
        return share.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def within_tolerance(expected: Decimal, counted: Decimal, tolerance_percent: Decimal) -> bool:
    """Is a count close enough to the books? Zero expected must count zero (a percent of 0 is 0)."""
    return abs(counted - expected) * HUNDRED <= abs(expected) * tolerance_percent


def sheet_accuracy(sheet: CountSheet) -> Accuracy:
    counted = [line for line in sheet.lines if line.counted_quantity is not None]
    return Accuracy(len(counted), sum(1 for line in counted if line.within_tolerance))


def _on_hand(
    session: Session, location_id: uuid.UUID, product_ids: Sequence[uuid.UUID], *, lock: bool = False
) -> dict[uuid.UUID, Decimal]:
    """On hand per product at the location; ``lock`` keeps the quants still until commit, so the
    adjustment computed from them is the one that makes on hand equal the count."""
    if not product_ids:
        return {}
    query = select(i.StockQuant.product_id, i.StockQuant.quantity).where(
        i.StockQuant.location_id == location_id, i.StockQuant.product_id.in_(set(product_ids))
    )
    rows = session.execute(query.with_for_update() if lock else query)
    return {product_id: quantity for product_id, quantity in rows}


def _in_category(prefix: str) -> Any:
    """Products of a category path and its sub-categories (``Apparel`` -> ``Apparel/Tops``, not
    ``Apparel2``)."""
    return or_(Product.category == prefix, Product.category.startswith(prefix + "/", autoescape=True))


def _refresh(line: CountLine, tolerance: Decimal) -> None:
    if line.counted_quantity is None:
        line.difference = None
        line.within_tolerance = None
    else:
        line.difference = line.counted_quantity - line.expected_quantity
        line.within_tolerance = within_tolerance(line.expected_quantity, line.counted_quantity, tolerance)


def _state_conflict(sheet: CountSheet, action: str, allowed: Sequence[str]) -> Conflict:
    return Conflict(
        f"count sheet {sheet.number} is {sheet.state}: only an {' or '.join(allowed)} sheet can be {action}",
        code="count-state",
        problems=[FieldProblem("state", sheet.state)],
    )


def _record(session: Session, ctx: CommandContext, sheet: CountSheet, type: str, **payload: Any) -> None:
    record(
        session,
        ctx,
        type=type,
        company_id=sheet.company_id,
        aggregate_type="CountSheet",
        aggregate_id=sheet.id,
        payload={"number": sheet.number, "location_id": sheet.location_id, **payload},
        store_id=sheet.store_id,
    )


# -- reading -----------------------------------------------------------------------------------------


def get_sheet(
    session: Session, company_id: uuid.UUID | None, sheet_id: uuid.UUID, *, lock: bool = False
) -> CountSheet:
    """A count sheet by id; ``lock`` holds its row so a sheet cannot be approved twice at once."""
    query = select(CountSheet).where(CountSheet.id == sheet_id)
    if company_id is not None:
        query = query.where(CountSheet.company_id == company_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    sheet = session.scalar(query)
    if sheet is None:
        raise NotFound(f"no count sheet {sheet_id}")
    return sheet


def accuracy_report(
    session: Session,
    company_id: uuid.UUID,
    *,
    store_id: uuid.UUID | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> tuple[int, Accuracy]:
    """Accuracy over the approved sheets of a company (or store) counted in a date range: the number
    of sheets and the lines within tolerance among all counted lines (one SQL query)."""
    conditions = [CountSheet.company_id == company_id, CountSheet.state == "approved"]
    if store_id is not None:
        conditions.append(CountSheet.store_id == store_id)
    if date_from is not None:
        conditions.append(CountSheet.count_date >= date_from)
    if date_to is not None:
        conditions.append(CountSheet.count_date <= date_to)
    sheets, counted, within = session.execute(
        select(
            func.count(func.distinct(CountSheet.id)),
            func.count(CountLine.counted_quantity),
            func.count(CountLine.id).filter(CountLine.within_tolerance.is_(True)),
        )
        .select_from(CountSheet)
        .outerjoin(CountLine, CountLine.sheet_id == CountSheet.id)
        .where(*conditions)
    ).one()
    return sheets, Accuracy(counted, within)


# -- commands ----------------------------------------------------------------------------------------


def create_sheet(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    location_id: uuid.UUID,
    category_prefix: str | None = None,
    tolerance_percent: Decimal = DEFAULT_TOLERANCE,
    note: str = "",
) -> CountSheet:
    """Open a sheet with a line per product to count and its on hand now as the expected quantity.

    Without a category: every product with non-zero stock at the location. With one: every active
    product of the category, plus inactive ones that still have stock there.
    """
    location = session.get(Location, location_id)
    if location is None or location.company_id != company.id:
        raise InvalidReference(
            f"no location {location_id}", problems=[FieldProblem("location_id", "no such location")]
        )
    if location.kind not in INTERNAL or not location.active:
        raise ValidationFailed(
            "counts are of active stock, backroom or damaged locations",
            problems=[FieldProblem("location_id", f"{location.kind} location not countable")],
        )
    if not tolerance_percent.is_finite() or not Decimal(0) <= tolerance_percent <= HUNDRED:
        raise ValidationFailed(
            "tolerance is a percent", problems=[FieldProblem("tolerance_percent", "between 0 and 100")]
        )
    prefix = category_prefix.strip().strip("/") if category_prefix is not None else None
    if category_prefix is not None and not prefix:
        raise ValidationFailed(
            "a category prefix names a category", problems=[FieldProblem("category_prefix", "empty")]
        )
    has_stock = (
        select(i.StockQuant.product_id)
        .where(i.StockQuant.location_id == location.id, i.StockQuant.quantity != Decimal(0))
        .scalar_subquery()
    )
    query = select(Product.id).where(Product.company_id == company.id).order_by(Product.sku)
    if prefix is None:
        query = query.where(Product.id.in_(has_stock))
    else:
        query = query.where(_in_category(prefix), or_(Product.active.is_(True), Product.id.in_(has_stock)))
    product_ids = list(session.scalars(query))
    on_hand = _on_hand(session, location.id, product_ids)
    sheet = CountSheet(
        company_id=company.id,
        number=take_number(session, company.id, "count", "CC"),
        store_id=location.store_id,
        location_id=location.id,
        scope="all" if prefix is None else "category",
        category_prefix=prefix,
        state="open",
        tolerance_percent=tolerance_percent,
        note=note,
        created_by=ctx.actor,
        lines=[
            CountLine(
                company_id=company.id,
                position=index,
                product_id=product_id,
                expected_quantity=on_hand.get(product_id, Decimal(0)),
                stock_moved=False,
            )
            for index, product_id in enumerate(product_ids)
        ],
    )
    session.add(sheet)
    session.flush()
    _record(
        session,
        ctx,
        sheet,
        "CountSheetCreated",
        scope=sheet.scope,
        category_prefix=prefix,
        tolerance_percent=tolerance_percent,
        lines=[
            {"product_id": ln.product_id, "expected_quantity": ln.expected_quantity} for ln in sheet.lines
        ],
    )
    return sheet


def record_counts(
    session: Session, ctx: CommandContext, company: Company, sheet: CountSheet, entries: Sequence[CountEntry]
) -> CountSheet:
    """Record counted quantities while the sheet is open (any subset, any number of times).

    A product found that is not on the sheet gets a line, with its on hand now as the expected
    quantity, if it belongs to the sheet's category.
    """
    if sheet.state != "open":
        raise _state_conflict(sheet, "counted", ["open"])
    if not entries:
        raise ValidationFailed("nothing counted", problems=[FieldProblem("lines", "empty")])
    by_product = {line.product_id: line for line in sheet.lines}
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(
                Product.company_id == company.id, Product.id.in_({e.product_id for e in entries})
            )
        )
    }
    seen: set[uuid.UUID] = set()
    for index, entry in enumerate(entries):
        product = products.get(entry.product_id)
        if product is None:
            raise InvalidReference(
                f"no product {entry.product_id}",
                problems=[FieldProblem(f"lines.{index}.product_id", "no such product")],
            )
        if entry.product_id in seen:
            raise ValidationFailed(
                "one count per product", problems=[FieldProblem(f"lines.{index}.product_id", "listed twice")]
            )
        seen.add(entry.product_id)
        if entry.counted_quantity is not None:
            check_quantity(entry.counted_quantity, f"lines.{index}.counted_quantity", zero_ok=True)
        prefix = sheet.category_prefix
        outside = prefix is not None and not (
            product.category == prefix or product.category.startswith(prefix + "/")
        )
        if entry.product_id not in by_product and outside:
            raise ValidationFailed(
                f"{product.sku} is not in category {prefix}",
                problems=[FieldProblem(f"lines.{index}.product_id", "outside the sheet's category")],
            )
    new = [e.product_id for e in entries if e.product_id not in by_product]
    on_hand = _on_hand(session, sheet.location_id, new)
    now = utcnow()
    for entry in entries:
        line = by_product.get(entry.product_id)
        if line is None:
            line = CountLine(
                company_id=company.id,
                position=len(sheet.lines),
                product_id=entry.product_id,
                expected_quantity=on_hand.get(entry.product_id, Decimal(0)),
                stock_moved=False,
            )
            sheet.lines.append(line)
            by_product[entry.product_id] = line
        line.counted_quantity = entry.counted_quantity
        line.counted_by = ctx.actor if entry.counted_quantity is not None else None
        line.counted_at = now if entry.counted_quantity is not None else None
        _refresh(line, sheet.tolerance_percent)
    sheet.version += 1
    session.flush()
    _record(
        session,
        ctx,
        sheet,
        "CountLinesRecorded",
        lines=[{"product_id": e.product_id, "counted_quantity": e.counted_quantity} for e in entries],
    )
    return sheet


def _flag_moves(session: Session, sheet: CountSheet, *, lock: bool = False) -> dict[uuid.UUID, Decimal]:
    """Flag lines whose on hand is no longer the snapshot; returns on hand now per product."""
    on_hand = _on_hand(session, sheet.location_id, [line.product_id for line in sheet.lines], lock=lock)
    for line in sheet.lines:
        line.stock_moved = on_hand.get(line.product_id, Decimal(0)) != line.expected_quantity
    return on_hand


def submit(session: Session, ctx: CommandContext, company: Company, sheet: CountSheet) -> CountSheet:
    """Hand the sheet over for approval. Lines whose stock moved since the snapshot are flagged."""
    if sheet.state != "open":
        raise _state_conflict(sheet, "submitted", ["open"])
    if not any(line.counted_quantity is not None for line in sheet.lines):
        raise ValidationFailed("nothing was counted", problems=[FieldProblem("lines", "no counted line")])
    _flag_moves(session, sheet)
    sheet.state = "submitted"
    sheet.submitted_by = ctx.actor
    sheet.submitted_at = utcnow()
    sheet.version += 1
    session.flush()
    accuracy = sheet_accuracy(sheet)
    _record(
        session,
        ctx,
        sheet,
        "CountSheetSubmitted",
        lines_counted=accuracy.lines_counted,
        lines_within_tolerance=accuracy.lines_within_tolerance,
        stock_moved=[line.product_id for line in sheet.lines if line.stock_moved],
    )
    return sheet


def recount(session: Session, ctx: CommandContext, company: Company, sheet: CountSheet) -> CountSheet:
    """Back to open: lines whose stock moved since the snapshot get a fresh one and lose their count
    (they must be counted again); other counts stay."""
    if sheet.state not in ("open", "submitted"):
        raise _state_conflict(sheet, "recounted", ["open", "submitted"])
    on_hand = _on_hand(session, sheet.location_id, [line.product_id for line in sheet.lines])
    reset = []
    for line in sheet.lines:
        now = on_hand.get(line.product_id, Decimal(0))
        if now != line.expected_quantity:
            line.expected_quantity = now
            line.counted_quantity = line.counted_by = line.counted_at = None
            reset.append(line.product_id)
        line.stock_moved = False
        _refresh(line, sheet.tolerance_percent)
    sheet.state = "open"
    sheet.submitted_by = sheet.submitted_at = None
    sheet.version += 1
    session.flush()
    _record(session, ctx, sheet, "CountSheetReopened", recount=reset)
    return sheet


def approve(
    session: Session,
    ctx: CommandContext,
    company: Company,
    sheet: CountSheet,
    *,
    date: dt.date | None = None,
    accept_stock_moves: bool = False,
) -> CountSheet:
    """Post the differences: on hand at the location becomes what was counted, line by line.

    Refused (``count-stale``) when on hand of a counted line changed since its snapshot, unless
    ``accept_stock_moves``: the count then wins over the moves made since.
    """
    if sheet.state != "submitted":
        raise _state_conflict(sheet, "approved", ["submitted"])
    date = date or today(ctx)
    on_hand = _flag_moves(session, sheet, lock=True)
    counted = [line for line in sheet.lines if line.counted_quantity is not None]
    stale = [
        FieldProblem(
            f"lines.{sheet.lines.index(line)}.counted_quantity",
            f"on hand went from {line.expected_quantity} to {on_hand.get(line.product_id, Decimal(0))}"
            " since the snapshot: recount",
        )
        for line in counted
        if line.stock_moved
    ]
    if stale and not accept_stock_moves:
        raise Conflict(
            f"stock moved at the location since {sheet.number} was made",
            code="count-stale",
            problems=stale,
        )
    loss = virtual_location(session, company.id, "inventory_loss")
    gains: list[MoveLine] = []
    losses: list[MoveLine] = []
    for line in counted:
        assert line.counted_quantity is not None  # narrowed above
        adjustment = line.counted_quantity - on_hand.get(line.product_id, Decimal(0))
        line.adjusted_quantity = adjustment
        if adjustment > 0:
            gains.append(MoveLine(line.product_id, adjustment, loss.id, sheet.location_id))
        elif adjustment < 0:
            losses.append(MoveLine(line.product_id, -adjustment, sheet.location_id, loss.id))
    details = {"count_sheet_id": sheet.id, "count_sheet_number": sheet.number}
    value = Decimal(0)
    for kind, lines in (("count_gain", gains), ("count_loss", losses)):
        if lines:
            result = move_stock(
                session,
                ctx,
                company,
                kind=kind,
                lines=lines,
                date=date,
                reference=sheet.number,
                details=details,
            )
            sign = 1 if kind == "count_gain" else -1
            value += sign * sum((move.value for move in result.moves), Decimal(0))
    sheet.state = "approved"
    sheet.approved_by = ctx.actor
    sheet.approved_at = utcnow()
    sheet.count_date = date
    sheet.version += 1
    session.flush()
    accuracy = sheet_accuracy(sheet)
    _record(
        session,
        ctx,
        sheet,
        "CountSheetApproved",
        date=date,
        value=value,
        lines_counted=accuracy.lines_counted,
        lines_within_tolerance=accuracy.lines_within_tolerance,
        accuracy_percent=accuracy.percent,
        adjustments=[
            {"product_id": line.product_id, "quantity": line.adjusted_quantity}
            for line in counted
            if line.adjusted_quantity
        ],
    )
    return sheet


def cancel(session: Session, ctx: CommandContext, company: Company, sheet: CountSheet) -> CountSheet:
    """Drop a sheet before approval: nothing was posted, nothing is."""
    if sheet.state not in ("open", "submitted"):
        raise _state_conflict(sheet, "cancelled", ["open", "submitted"])
    sheet.state = "cancelled"
    sheet.cancelled_at = utcnow()
    sheet.version += 1
    session.flush()
    _record(session, ctx, sheet, "CountSheetCancelled")
    return sheet
