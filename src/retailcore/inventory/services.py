"""Moving stock: every change of on hand is a move, valued when made, cached in quants, posted to the books.

One call of :func:`move_stock` is one business operation (a receipt, a delivery, a transfer leg, a
count...): it validates the lines, values each move by the product's cost method, updates the quants
and the company's product costs in the same transaction, and records one event whose payload the
ledger's posting rules turn into an entry (``GoodsReceived``, ``GoodsIssued``...). Values are rounded
to the company currency's minor unit at each move, so the valuation and the ledger agree to the cent.

Valued locations are the internal ones (stock, backroom, damaged) and ``in_transit``; suppliers,
customers and inventory loss are outside the company's stock. A completed physical sale is never
refused for lack of recorded stock: the quant goes negative and a stock exception is opened. A move
that takes out of a sellable place goods that were promised to orders there opens (or brings up to
date) an ``oversold`` exception naming those orders (:func:`_flag_oversold`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import Any, Protocol

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from retailcore.accounting.services import period_locked
from retailcore.accounting.tables import LedgerSettings
from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of, update_rows
from retailcore.core.currencies import round_to_currency
from retailcore.core.decimals import canonical
from retailcore.core.errors import FieldProblem, InvalidReference, ValidationFailed
from retailcore.core.ids import new_id, new_ids
from retailcore.eventlog.services import CommandContext, record
from retailcore.eventlog.tables import Event
from retailcore.inventory import tables as i
from retailcore.inventory.costing_tables import CostingSettings, ProductAccounts
from retailcore.inventory.reservation_tables import Reservation
from retailcore.masterdata import cache as masterdata_cache
from retailcore.masterdata.tables import Account, Company, Location, Product
from retailcore.monitoring import services as monitoring

ZERO = Decimal(0)
MOVES_OF_EVENT = "retailcore.inventory.moves_of_event"
"""``session.info`` key: the moves of the stock event being recorded, by event id, for its subscribers."""
INTERNAL = frozenset({"stock", "backroom", "damaged"})
SELLABLE = frozenset({"stock", "backroom"})
"""Locations whose stock can be promised: damaged goods and goods in transit cannot."""
VALUED = INTERNAL | {"in_transit"}
STOCK_ROLE = {
    "stock": "inventory",
    "backroom": "inventory",
    "damaged": "damaged_goods",
    "in_transit": "stock_in_transit",
}


@dataclass(frozen=True)
class KindSpec:
    sources: frozenset[str]
    destinations: frozenset[str]
    event_type: str


def _kinds(*names: str) -> frozenset[str]:
    return frozenset(names)


MOVES: dict[str, KindSpec] = {
    "receipt": KindSpec(_kinds("supplier"), _kinds("stock", "backroom"), "GoodsReceived"),
    "delivery": KindSpec(INTERNAL, _kinds("customer"), "GoodsIssued"),
    "customer_return": KindSpec(_kinds("customer"), INTERNAL, "ReturnReceived"),
    "internal": KindSpec(INTERNAL, INTERNAL, "StockMovedInternally"),
    "transfer_out": KindSpec(INTERNAL, _kinds("in_transit"), "TransferShipped"),
    "transfer_in": KindSpec(_kinds("in_transit"), INTERNAL, "TransferReceived"),
    "transit_loss": KindSpec(_kinds("in_transit"), _kinds("inventory_loss"), "StockScrapped"),
    "scrap": KindSpec(INTERNAL, _kinds("inventory_loss"), "StockScrapped"),
    "count_gain": KindSpec(_kinds("inventory_loss"), INTERNAL, "StockCounted"),
    "count_loss": KindSpec(INTERNAL, _kinds("inventory_loss"), "StockCounted"),
    "supplier_return": KindSpec(INTERNAL, _kinds("supplier"), "SupplierReturned"),
}


@dataclass(frozen=True)
class MoveLine:
    """One product's quantity to move. ``unit_cost`` is the purchase price of a receipt, or the original
    cost of a customer return (returns re-enter at the cost they left at); other kinds are valued by
    the product's cost method."""

    product_id: uuid.UUID
    quantity: Decimal
    from_location_id: uuid.UUID
    to_location_id: uuid.UUID
    unit_cost: Decimal | None = None
    kind: str | None = None
    """This line's kind where it is not the operation's: a POS batch's goods sold (``delivery``) and
    refunded (``customer_return``) move in one operation, one event, one availability update."""
    layer_id: uuid.UUID | None = None
    """FIFO: the layer these goods leave first (a return to vendor takes back its receipt's layer)."""


@dataclass(frozen=True, slots=True)
class Move:
    """A stock move as written (the row of ``stock_moves``)."""

    id: uuid.UUID
    company_id: uuid.UUID
    product_id: uuid.UUID
    from_location_id: uuid.UUID
    to_location_id: uuid.UUID
    quantity: Decimal
    kind: str
    unit_cost: Decimal
    value: Decimal
    date: dt.date
    reference: str
    event_id: uuid.UUID
    created_at: dt.datetime


MOVE_COLUMNS = tuple(f.name for f in dataclasses.fields(Move))


def _row(move: Move) -> dict[str, Any]:
    return {name: getattr(move, name) for name in MOVE_COLUMNS}  # asdict() deep-copies: too slow here


@dataclass
class MoveResult:
    moves: list[Move]
    """In the order they were made (by product, see :func:`move_stock`)."""
    event: Event
    exceptions: list[i.StockException] = field(default_factory=list)
    values: list[Decimal] = field(default_factory=list)
    """The value of each line, in the order the lines were given."""


def _load(session: Session, company: Company, lines: Sequence[MoveLine]) -> tuple[dict, dict]:
    """The operation's products and locations, as the columns moving stock reads (an operation of a
    POS batch has hundreds of products: plain rows, not ORM objects)."""
    product_ids = {line.product_id for line in lines}
    location_ids = {line.from_location_id for line in lines} | {line.to_location_id for line in lines}
    # A product's own expense account (decision 0061) replaces ``cogs`` on its lines.
    products = {
        row.id: row
        for row in session.execute(
            select(
                Product.id,
                Product.sku,
                Product.category,
                Product.cost_method,
                Product.standard_cost,
                Account.code.label("expense_account"),
            )
            .outerjoin(ProductAccounts, ProductAccounts.product_id == Product.id)
            .outerjoin(Account, Account.id == ProductAccounts.expense_account_id)
            .where(one_of(session, Product.id, product_ids), Product.company_id == company.id)
        )
    }
    locations = {
        row.id: row
        for row in session.execute(
            select(Location.id, Location.code, Location.kind, Location.store_id).where(
                one_of(session, Location.id, location_ids), Location.company_id == company.id
            )
        )
    }
    return products, locations


def _validate(operation_kind: str, lines: Sequence[MoveLine], products: dict, locations: dict) -> KindSpec:
    operation_spec = MOVES.get(operation_kind)
    if operation_spec is None:
        raise ValidationFailed(
            f"unknown move kind '{operation_kind}'", problems=[FieldProblem("kind", "unknown")]
        )
    if not lines:
        raise ValidationFailed("nothing to move", problems=[FieldProblem("lines", "empty")])
    for index, line in enumerate(lines):
        kind, spec = operation_kind, operation_spec
        if line.kind is not None and line.kind != operation_kind:
            kind, spec = line.kind, MOVES.get(line.kind)  # type: ignore[assignment]
            if spec is None:
                raise ValidationFailed(
                    f"unknown move kind '{kind}'", problems=[FieldProblem(f"lines.{index}.kind", "unknown")]
                )
        if line.product_id not in products:
            raise InvalidReference(
                f"no product {line.product_id}",
                problems=[FieldProblem(f"lines.{index}.product_id", "no such product")],
            )
        if line.quantity <= 0:
            raise ValidationFailed(
                "quantities are positive", problems=[FieldProblem(f"lines.{index}.quantity", "must be > 0")]
            )
        for name, location_id, allowed in (
            ("from_location_id", line.from_location_id, spec.sources),
            ("to_location_id", line.to_location_id, spec.destinations),
        ):
            location = locations.get(location_id)
            if location is None:
                raise InvalidReference(
                    f"no location {location_id}",
                    problems=[FieldProblem(f"lines.{index}.{name}", "no such location")],
                )
            if location.kind not in allowed:
                direction = "from" if name.startswith("from") else "to"
                raise ValidationFailed(
                    f"a {kind} goes {direction} {' or '.join(sorted(allowed))}, not {location.kind}",
                    problems=[FieldProblem(f"lines.{index}.{name}", f"{location.kind} location not allowed")],
                )
        if line.quantity != line.quantity.quantize(Decimal("0.0001")):
            raise ValidationFailed(
                "quantities have at most 4 decimals",
                problems=[FieldProblem(f"lines.{index}.quantity", "more than 4 decimals")],
            )
        same_store = locations[line.from_location_id].store_id == locations[line.to_location_id].store_id
        if kind == "internal" and not same_store:
            raise ValidationFailed(
                "an internal move stays in one store; between stores, use a transfer",
                problems=[FieldProblem(f"lines.{index}.to_location_id", "another store")],
            )
        if line.from_location_id == line.to_location_id:
            raise ValidationFailed(
                "a move goes somewhere else",
                problems=[FieldProblem(f"lines.{index}.to_location_id", "same location")],
            )
        if kind in ("receipt", "customer_return") and line.unit_cost is None:
            raise ValidationFailed(
                f"a {kind} needs the unit cost",
                problems=[FieldProblem(f"lines.{index}.unit_cost", "required")],
            )
        if line.unit_cost is not None and line.unit_cost < 0:
            raise ValidationFailed(
                "costs are not negative", problems=[FieldProblem(f"lines.{index}.unit_cost", "must be >= 0")]
            )
    return operation_spec


def product_cost(session: Session, company_id: uuid.UUID, product_id: uuid.UUID) -> i.ProductCost:
    """The company's stock of a product and its value, locked for this transaction (PostgreSQL)."""
    # populate_existing: after waiting for the lock, read the row as the other transaction left it.
    cost = session.scalar(
        select(i.ProductCost)
        .where(i.ProductCost.product_id == product_id, i.ProductCost.company_id == company_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if cost is None:
        cost = i.ProductCost(
            product_id=product_id,
            company_id=company_id,
            quantity=Decimal(0),
            value=Decimal(0),
            last_unit_cost=Decimal(0),
        )
        session.add(cost)
        session.flush()
    return cost


class CostMethod(Protocol):
    """What valuing a product reads of it: a ``Product`` or a row of its columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def cost_method(self) -> str: ...
    @property
    def standard_cost(self) -> Decimal: ...


@dataclass(slots=True)
class StockValue:
    """The company's quantity and value of a product (``product_costs``) or of a product at a
    location (``stock_quants``: no last unit cost, and the quantity reserved there), as an operation
    reads and changes it."""

    quantity: Decimal
    value: Decimal
    last_unit_cost: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)


def current_unit_cost(product: CostMethod, cost: i.ProductCost | StockValue) -> Decimal:
    """What one more or one fewer unit is worth now, by the product's cost method."""
    if product.cost_method == "standard":
        return product.standard_cost
    if cost.quantity > 0:
        return (cost.value / cost.quantity).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return cost.last_unit_cost or product.standard_cost


HELD = "retailcore.inventory.held"
"""``session.info`` key: (transaction, what :func:`held` keeps)."""


def held(session: Session) -> dict[Any, Any]:
    """What this context read in the current transaction (the innermost one: a savepoint's reads end
    with it), kept referenced. The session's identity map holds rows only weakly, so an order's second
    line would read again the rows its first line read; and a missing settings row is read every time."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    found = session.info.get(HELD)
    if found is None or found[0] is not transaction:
        found = session.info[HELD] = (transaction, {})
    return found[1]


def average_precision(session: Session, company_id: uuid.UUID) -> str:
    """The company's ``average_cost_precision`` (``unrounded`` unless set, decision 0061), read once per
    transaction (:func:`retailcore.inventory.costing.set_settings` forgets it)."""
    kept = held(session)
    precision = kept.get((CostingSettings, company_id))
    if precision is None:

        def load() -> str:
            settings = session.get(CostingSettings, company_id)
            return settings.average_cost_precision if settings is not None else "unrounded"

        # Behind the master stamp too (migration 0051): a sale's first move then reads no settings row.
        precision = masterdata_cache.cached(session, company_id, "costing.average_precision", load)
        kept[(CostingSettings, company_id)] = precision
    return precision


def running_average(
    product: CostMethod, cost: StockValue | i.ProductCost, currency: str, precision: str = "unrounded"
) -> Decimal:
    """The average unit cost of a product at average cost: value over quantity while there is stock
    (rounded to the currency's minor unit under the ``currency`` precision, else to 6 decimals), and
    the average stock last had when there is none or less than none (kept in ``last_unit_cost``)."""
    if cost.quantity > 0:
        average = cost.value / cost.quantity
        if precision == "currency":
            return round_to_currency(average, currency)
        return average.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return cost.last_unit_cost or product.standard_cost


def _open_layers_of(
    session: Session, company: Company, needed: dict[uuid.UUID, Decimal]
) -> dict[uuid.UUID, list[i.ValuationLayer]]:
    """The open layers the operation will consume, oldest first per product, locked in one query.

    Only the oldest layers that cover ``needed`` (the quantity leaving stock per product) are loaded:
    a product whose shelf is refilled by many small layers (every customer return adds one at its
    original cost) would otherwise load them all, each time it sells. A window sum gives each layer
    the quantity of the layers before it; those already covering the need are left in the database.
    Safe without locking the others: the caller holds the products' cost rows (:func:`_lock_rows`),
    which every operation consuming or adding layers takes first."""
    layer = i.ValuationLayer
    before = (
        func.sum(layer.remaining_quantity)
        .over(partition_by=layer.product_id, order_by=(layer.date, layer.id), rows=(None, -1))
        .label("before")
    )
    ranked = (
        select(layer.id, layer.product_id, before)
        .where(
            layer.company_id == company.id,
            one_of(session, layer.product_id, needed),
            layer.remaining_quantity > Decimal(0),
        )
        .subquery()
    )
    # The largest need bounds every product's rows in SQL; each product's own need, below.
    wanted = [
        row.id
        for row in session.execute(
            select(ranked.c.id, ranked.c.product_id, ranked.c.before).where(
                func.coalesce(ranked.c.before, ZERO) < max(needed.values())
            )
        )
        if (row.before or ZERO) < needed[row.product_id]
    ]
    found: dict[uuid.UUID, list[i.ValuationLayer]] = {product_id: [] for product_id in needed}
    if not wanted:
        return found
    for row in session.scalars(
        select(layer)
        .where(one_of(session, layer.id, wanted))
        .order_by(layer.product_id, layer.date, layer.id)
        .with_for_update()
    ):
        found[row.product_id].append(row)
    return found


def _first_layer(
    session: Session, company: Company, open_layers: dict[uuid.UUID, list[i.ValuationLayer]], line: MoveLine
) -> None:
    """Put the layer a line names first among its product's open layers (loaded and locked if the
    oldest ones did not include it)."""
    layers = open_layers.setdefault(line.product_id, [])
    chosen = next((layer for layer in layers if layer.id == line.layer_id), None)
    if chosen is None:
        chosen = session.scalar(
            select(i.ValuationLayer)
            .where(
                i.ValuationLayer.id == line.layer_id,
                i.ValuationLayer.company_id == company.id,
                i.ValuationLayer.product_id == line.product_id,
                i.ValuationLayer.remaining_quantity > ZERO,
            )
            .with_for_update()
        )
        if chosen is None:
            return
    else:
        layers.remove(chosen)
    layers.insert(0, chosen)


def _consume_fifo(
    product: CostMethod, cost: StockValue, layers: list[i.ValuationLayer], quantity: Decimal
) -> Decimal:
    """Take ``quantity`` out of the oldest layers; the part not covered by layers (negative stock) is
    valued at the last cost. Returns the unrounded value taken."""
    remaining = quantity
    value = Decimal(0)
    for layer in layers:
        if remaining <= 0:
            break
        if layer.remaining_quantity <= 0:
            continue
        taken = min(layer.remaining_quantity, remaining)
        layer.remaining_quantity -= taken
        value += taken * layer.unit_cost
        remaining -= taken
    if remaining > 0:
        value += remaining * (cost.last_unit_cost or product.standard_cost)
    return value


def _value_out(
    company: Company,
    product: CostMethod,
    cost: StockValue,
    quantity: Decimal,
    layers: list[i.ValuationLayer],
    precision: str = "unrounded",
) -> Decimal:
    """The value leaving the company's stock (delivery, scrap, loss), rounded; empties it exactly.

    At average cost every unit leaves at the running average, those that take stock below zero too
    (decision 0061); under the ``currency`` precision that average is first rounded to the cent."""
    if product.cost_method == "fifo":
        raw = _consume_fifo(product, cost, layers, quantity)
    elif product.cost_method == "average" and cost.quantity > 0 and precision == "unrounded":
        raw = cost.value / cost.quantity * quantity
    elif product.cost_method == "average":
        raw = quantity * running_average(product, cost, company.currency, precision)
    else:
        raw = quantity * current_unit_cost(product, cost)
    if product.cost_method != "standard" and quantity == cost.quantity:
        return cost.value  # the last units take exactly what is left: no residue of rounding
    return round_to_currency(raw, company.currency)


@dataclass
class _Valued:
    value: Decimal
    unit_cost: Decimal
    item: dict[str, Any]
    correction: Decimal = Decimal(0)
    layer: dict[str, Any] | None = None


def _value_in(
    company: Company,
    product: CostMethod,
    cost: StockValue,
    line: MoveLine,
    kind: str,
    move_id: uuid.UUID,
    date: dt.date,
) -> _Valued:
    """The value entering the company's stock, and a correction if it fills negative stock."""
    price = line.unit_cost if line.unit_cost is not None else current_unit_cost(product, cost)
    unit = product.standard_cost if product.cost_method == "standard" else price
    value = round_to_currency(line.quantity * unit, company.currency)
    item: dict[str, Any] = {"cost": value}
    if kind == "receipt":
        purchase_value = round_to_currency(line.quantity * price, company.currency)
        item["purchase_value"] = purchase_value
        if purchase_value != value:
            item["variance"] = purchase_value - value
    correction = Decimal(0)
    if product.cost_method != "standard" and cost.quantity < 0:
        # Units sold while stock was negative left at the last cost; now that their real cost is known,
        # the difference goes to COGS (positive: they cost more than we booked).
        covered = min(line.quantity, -cost.quantity)
        booked = cost.value / cost.quantity  # unit value the negative stock was carried at
        correction = round_to_currency(covered * (unit - booked), company.currency)
    layer = None
    if product.cost_method == "fifo":
        covered = min(line.quantity, max(-cost.quantity, Decimal(0)))
        if line.quantity - covered > 0:
            layer = {
                "id": new_id(),
                "company_id": company.id,
                "product_id": product.id,
                "move_id": move_id,
                "date": date,
                "quantity": line.quantity,
                "remaining_quantity": line.quantity - covered,
                "unit_cost": unit,
            }
    return _Valued(value=value, unit_cost=unit, item=item, correction=correction, layer=layer)


Place = tuple[uuid.UUID, uuid.UUID]
"""(product id, location id): a quant's key."""


def _lock_rows(
    session: Session,
    company: Company,
    lines: Sequence[MoveLine],
    locations: dict,
    unreserve: dict[Place, Decimal] | None = None,
) -> tuple[dict[uuid.UUID, StockValue], dict[Place, StockValue]]:
    """Read and lock, in one statement each, the company cost rows of the operation's products and the
    quants it changes, and insert the missing ones (at zero). Every operation takes cost rows before
    quants, each in id order, so two operations on the same products wait for each other instead of
    deadlocking; inserting a missing row takes its lock too (a concurrent first move waits or fails).

    Plain values, not ORM objects: :func:`_write_back` stores them with one statement per table. A
    quant's ``reserved`` is read with it (it is on the row locked anyway), so that finding an oversold
    place costs no query. ``unreserve``: quantities that leave the reserved quantity of existing quants
    (a reservation consumed), taken off as the rows are read; a quant inserted here has none."""
    session.flush()  # changes pending in the session (a reservation's quant) reach the rows first
    costs_table, quants_table = i.ProductCost.__table__, i.StockQuant.__table__
    product_ids = sorted({line.product_id for line in lines}, key=attrgetter("int"))
    costs = {
        row.product_id: StockValue(row.quantity, row.value, row.last_unit_cost)
        for row in session.execute(
            select(
                costs_table.c.product_id,
                costs_table.c.quantity,
                costs_table.c.value,
                costs_table.c.last_unit_cost,
            )
            .where(
                costs_table.c.company_id == company.id,
                one_of(session, costs_table.c.product_id, product_ids),
            )
            .order_by(costs_table.c.product_id)
            .with_for_update()
        )
    }
    missing_costs = [product_id for product_id in product_ids if product_id not in costs]
    insert_rows(
        session,
        costs_table,
        [
            {
                "product_id": product_id,
                "company_id": company.id,
                "quantity": ZERO,
                "value": ZERO,
                "last_unit_cost": ZERO,
            }
            for product_id in missing_costs
        ],
    )
    costs.update((product_id, StockValue(ZERO, ZERO, ZERO)) for product_id in missing_costs)
    pairs = {
        (line.product_id, location_id)
        for line in lines
        for location_id in (line.from_location_id, line.to_location_id)
        if locations[location_id].kind in VALUED
    }
    if not pairs:
        return costs, {}
    location_ids = sorted({location_id for _, location_id in pairs}, key=attrgetter("int"))
    quants: dict[Place, StockValue] = {}
    for row in session.execute(
        select(
            quants_table.c.product_id,
            quants_table.c.location_id,
            quants_table.c.quantity,
            quants_table.c.value,
            quants_table.c.reserved,
        )
        .where(
            one_of(session, quants_table.c.product_id, product_ids),
            one_of(session, quants_table.c.location_id, location_ids),
        )
        .order_by(quants_table.c.product_id, quants_table.c.location_id)
        .with_for_update()
    ):
        place = (row.product_id, row.location_id)
        if place in pairs:
            reserved = row.reserved - unreserve.get(place, ZERO) if unreserve else row.reserved
            quants[place] = StockValue(row.quantity, row.value, reserved=reserved)
    missing_quants = sorted(pairs.difference(quants), key=lambda pair: (pair[0].int, pair[1].int))
    insert_rows(
        session,
        quants_table,
        [
            {
                "product_id": product_id,
                "location_id": location_id,
                "company_id": company.id,
                "quantity": ZERO,
                "value": ZERO,
                "reserved": ZERO,
            }
            for product_id, location_id in missing_quants
        ],
    )
    quants.update((place, StockValue(ZERO, ZERO)) for place in missing_quants)
    return costs, quants


def _write_back(
    session: Session,
    company: Company,
    costs: dict[uuid.UUID, StockValue],
    quants: dict[Place, StockValue],
    reserved: bool = False,
) -> None:
    """Store what the operation changed, one statement per table (:func:`update_rows`), on rows it
    holds locked; the quants' reserved quantity too when ``reserved``. ORM copies of those rows that
    this session holds are expired, so that they read the new values."""
    update_rows(
        session,
        i.ProductCost.__table__,
        ("product_id",),
        ("quantity", "value", "last_unit_cost"),
        [(product_id, cost.quantity, cost.value, cost.last_unit_cost) for product_id, cost in costs.items()],
        i.ProductCost.__table__.c.company_id == company.id,
    )
    if reserved:
        columns: tuple[str, ...] = ("quantity", "value", "reserved")
        rows = [(*place, quant.quantity, quant.value, quant.reserved) for place, quant in quants.items()]
    else:
        columns = ("quantity", "value")
        rows = [(*place, quant.quantity, quant.value) for place, quant in quants.items()]
    update_rows(session, i.StockQuant.__table__, ("product_id", "location_id"), columns, rows)
    if session.identity_map:
        mapped = session.identity_map
        for product_id in costs:
            cached = mapped.get(identity_key(i.ProductCost, product_id))
            if cached is not None:
                session.expire(cached)
        for place in quants:
            cached = mapped.get(identity_key(i.StockQuant, place))
            if cached is not None:
                session.expire(cached)


def _flag_oversold(
    session: Session,
    ctx: CommandContext,
    company: Company,
    places: Sequence[Place],
    quants: dict[Place, StockValue],
    products: dict,
    locations: dict,
    unit_costs: dict[uuid.UUID, Decimal],
    *,
    event_id: uuid.UUID,
    reference: str,
    open_new: bool,
) -> list[i.StockException]:
    """Open an ``oversold`` exception per place where on hand no longer covers what is promised, naming
    the orders whose active reservations are there, or bring up to date the one still open or
    acknowledged there (:func:`retailcore.monitoring.services.record`, key ``oversold:<product>:<location>``;
    money at risk: the shortfall at the current unit cost). Runs only for places found short: the
    common move reads nothing here."""
    product_ids = {product_id for product_id, _ in places}
    location_ids = {location_id for _, location_id in places}
    promised: dict[Place, list[dict[str, str]]] = {place: [] for place in places}
    for row in session.execute(
        select(
            Reservation.id,
            Reservation.product_id,
            Reservation.location_id,
            Reservation.quantity,
            Reservation.channel,
            Reservation.order_ref,
            Reservation.order_line_ref,
        )
        .where(
            Reservation.company_id == company.id,
            Reservation.state == "active",
            one_of(session, Reservation.product_id, product_ids),
            one_of(session, Reservation.location_id, location_ids),
        )
        .order_by(Reservation.created_at, Reservation.id)
    ):
        if (row.product_id, row.location_id) in promised:
            promised[(row.product_id, row.location_id)].append(
                {
                    "order_ref": row.order_ref,
                    "order_line_ref": row.order_line_ref,
                    "channel": row.channel,
                    "quantity": canonical(row.quantity),
                    "reservation_id": str(row.id),
                }
            )
    flagged: list[i.StockException] = []
    for place in places:
        product, location = products[place[0]], locations[place[1]]
        quant = quants[place]
        shortfall = quant.reserved - quant.quantity
        orders = promised[place]
        refs = ", ".join(dict.fromkeys(order["order_ref"] for order in orders))
        message = (
            f"{product.sku} at {location.code} is oversold by {canonical(shortfall)}:"
            f" {canonical(quant.quantity)} on hand, {canonical(quant.reserved)} promised to {refs}"
        )
        facts = {
            "on_hand": canonical(quant.quantity),
            "reserved": canonical(quant.reserved),
            "shortfall": canonical(shortfall),
            "orders": orders,
            "last_event_id": str(event_id),
            "last_reference": reference,
        }
        # One unresolved exception per place: brought up to date (notes of acknowledgement stay),
        # locked meanwhile (quant lock first, as here); ``open_new=False`` opens none.
        exception = monitoring.record(
            session,
            ctx,
            company.id,
            type="oversold",
            key=f"oversold:{product.id}:{location.id}",
            message=message,
            amount_at_risk=round_to_currency(shortfall * unit_costs[place[0]], company.currency),
            currency=company.currency,
            store_id=location.store_id,
            product_id=product.id,
            location_id=location.id,
            details=facts,
            event_id=event_id,
            open_new=open_new,
        )
        if exception is not None:
            flagged.append(exception)
    return flagged


def move_stock(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    kind: str,
    lines: Sequence[MoveLine],
    date: dt.date,
    reference: str = "",
    details: dict[str, Any] | None = None,
    event_type: str | None = None,
    aggregate: tuple[str, uuid.UUID] | None = None,
    consumes_reservation: bool = False,
) -> MoveResult:
    """Make the moves of one operation, value them, and record the event the ledger posts.

    ``event_type`` replaces the kind's event when another event posts the value instead (POS sales:
    ``PosGoodsIssued`` has no rule, the session's close posts their COGS); ``aggregate`` names what the
    event belongs to (default: a new ``StockOperation``).

    When goods leave a sellable place (stock, backroom) and on hand there no longer covers what is
    reserved, the orders at risk are named in an ``oversold`` exception. ``consumes_reservation``: the
    goods are those a reservation held (``reservations.consume``): their quantity leaves the source
    quant's reserved quantity too, on the row this move locks and writes anyway, so the move takes
    nothing promised to others: an oversold exception still open there is brought up to date, none is
    opened.
    """
    # A move on a locked day would change a valuation finance has closed, even one no entry posts
    # (goods between two locations of one account, POS goods whose COGS the close posts).
    ledger = session.get(LedgerSettings, company.id)
    if ledger is not None:
        held(session)[LedgerSettings, company.id] = ledger  # the next move of this transaction reads no row
    if ledger is not None and ledger.lock_date is not None and date <= ledger.lock_date:
        raise period_locked(date, ledger.lock_date)
    products, locations = _load(session, company, lines)
    spec = _validate(kind, lines, products, locations)
    # Rows are locked product by product: taking them in one order everywhere avoids deadlocks between
    # two operations on the same products (the sort is stable, so one product's lines keep their order).
    given_order = sorted(range(len(lines)), key=lambda index: lines[index].product_id.int)
    lines = [lines[index] for index in given_order]
    items: list[dict[str, Any]] = []
    corrections: list[dict[str, Any]] = []
    moves: list[Move] = []
    exceptions: list[i.StockException] = []
    negatives: list[tuple[Row, Row, Decimal, Decimal]] = []  # product, place, on hand, unit cost
    event_id = new_id()  # moves point at the event recorded after they are valued
    unreserve: dict[Place, Decimal] | None = None
    if consumes_reservation:
        unreserve = {}
        for line in lines:
            place = (line.product_id, line.from_location_id)
            unreserve[place] = unreserve.get(place, ZERO) + line.quantity
    costs, quants = _lock_rows(session, company, lines, locations, unreserve)
    created_at = utcnow()
    new_layers: list[dict[str, Any]] = []
    # The FIFO products leaving stock: their open layers, locked in one query, consumed in memory.
    fifo_out: dict[uuid.UUID, Decimal] = {}
    for line in lines:
        if (
            products[line.product_id].cost_method == "fifo"
            and locations[line.from_location_id].kind in VALUED
            and locations[line.to_location_id].kind not in VALUED
        ):
            fifo_out[line.product_id] = fifo_out.get(line.product_id, ZERO) + line.quantity
    open_layers = _open_layers_of(session, company, fifo_out) if fifo_out else {}
    for line in lines:
        if line.layer_id is not None:  # a return to vendor leaves at its receipt's layer first
            _first_layer(session, company, open_layers, line)
    precision = average_precision(session, company.id)
    with session.no_autoflush:  # FIFO layers change in memory; the last flush writes them
        for line, move_id in zip(lines, new_ids(len(lines)), strict=True):
            product: Row = products[line.product_id]
            source: Row = locations[line.from_location_id]
            destination: Row = locations[line.to_location_id]
            cost = costs[product.id]
            line_kind = line.kind or kind

            layer: dict[str, Any] | None = None
            store_id = destination.store_id or source.store_id
            dims = {
                "product_category": product.category,
                "store_id": store_id,
                "product_id": product.id,
                "sku": product.sku,
                "quantity": line.quantity,
            }
            if product.expense_account:
                dims["accounts"] = {"cogs": product.expense_account}
            if source.kind not in VALUED:  # into stock
                valued = _value_in(company, product, cost, line, line_kind, move_id, date)
                layer = valued.layer
                value, stock_role = valued.value, STOCK_ROLE[destination.kind]
                cost.quantity += line.quantity
                cost.value += value - valued.correction
                if product.cost_method == "average":
                    if cost.quantity > 0:  # the running average, kept for when stock runs out
                        cost.last_unit_cost = running_average(product, cost, company.currency, precision)
                    elif not cost.last_unit_cost and line_kind == "receipt":
                        cost.last_unit_cost = line.unit_cost or cost.last_unit_cost
                elif line_kind == "receipt":
                    cost.last_unit_cost = line.unit_cost or cost.last_unit_cost
                item = {**valued.item, **dims, "location_id": destination.id, "stock_role": stock_role}
                if line_kind == "count_gain":
                    item = {**item, "difference": value}
                if valued.correction:
                    corrections.append(
                        {
                            **dims,
                            "amount": valued.correction,
                            "location_id": destination.id,
                            "stock_role": stock_role,
                        }
                    )
                target = quants[(product.id, destination.id)]
                target.quantity += line.quantity
                target.value += value - valued.correction
                unit_cost = valued.unit_cost
            elif destination.kind not in VALUED:  # out of stock
                if product.cost_method == "average" and cost.quantity > 0:
                    cost.last_unit_cost = running_average(product, cost, company.currency, precision)
                value = _value_out(
                    company, product, cost, line.quantity, open_layers.get(product.id, []), precision
                )
                if line_kind == "supplier_return":
                    purchase_value = value
                    if line.unit_cost is not None:
                        purchase_value = round_to_currency(line.quantity * line.unit_cost, company.currency)
                    dims = {**dims, "purchase_value": purchase_value, "variance": purchase_value - value}
                stock_role = STOCK_ROLE[source.kind]
                cost.quantity -= line.quantity
                cost.value -= value
                item = {"cost": value, **dims, "location_id": source.id, "stock_role": stock_role}
                if line_kind == "count_loss":
                    item = {**item, "difference": -value}
                origin = quants[(product.id, source.id)]
                origin.quantity -= line.quantity
                origin.value -= value
                unit_cost = (value / line.quantity).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
                if origin.quantity < 0 and line_kind == "delivery":
                    negatives.append((product, source, origin.quantity, unit_cost))
            else:  # between valued locations: the company's stock value does not change
                origin = quants[(product.id, source.id)]
                if origin.quantity > 0 and line.quantity >= origin.quantity:
                    value = origin.value
                elif origin.quantity > 0:
                    value = round_to_currency(
                        origin.value / origin.quantity * line.quantity, company.currency
                    )
                else:
                    value = round_to_currency(
                        line.quantity * current_unit_cost(product, cost), company.currency
                    )
                origin.quantity -= line.quantity
                origin.value -= value
                target = quants[(product.id, destination.id)]
                target.quantity += line.quantity
                target.value += value
                stock_role = STOCK_ROLE[source.kind]
                item = {
                    "cost": value,
                    **dims,
                    "location_id": source.id,
                    "stock_role": stock_role,
                    "to_role": STOCK_ROLE[destination.kind],
                    "to_location_id": destination.id,
                }
                unit_cost = (value / line.quantity).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
            # The move is written once, valued: done moves never change (the database refuses it).
            move = Move(
                id=move_id,
                company_id=company.id,
                product_id=product.id,
                from_location_id=source.id,
                to_location_id=destination.id,
                quantity=line.quantity,
                kind=line_kind,
                unit_cost=unit_cost,
                value=value,
                date=date,
                reference=reference[:200],
                event_id=event_id,
                created_at=created_at,
            )
            moves.append(move)
            if layer is not None:
                new_layers.append(layer)
            if line_kind != kind:
                item["kind"] = line_kind
            items.append(item)
    _write_back(session, company, costs, quants, reserved=consumes_reservation)
    # The operation's moves go in as one multi-row insert; the layers that point at them after it
    # (rows, not ORM objects: a POS batch's refunds add a layer per FIFO product and original cost).
    insert_rows(session, i.StockMove.__table__, [_row(move) for move in moves])
    insert_rows(session, i.ValuationLayer.__table__, new_layers)

    if event_type is None:
        event_type = spec.event_type
        if kind == "internal" and all(item["stock_role"] == item["to_role"] for item in items):
            event_type = "StockMoved"  # same account on both sides: nothing for the books, still audited
    payload = {"date": date, "reference": reference, "kind": kind, "items": items, **(details or {})}
    aggregate_type, aggregate_id = aggregate or ("StockOperation", uuid.uuid4())
    # The event's subscribers (availability) run inside record(): they get the moves from here rather
    # than reading back the rows just written.
    made = session.info.setdefault(MOVES_OF_EVENT, {})
    made[event_id] = moves
    try:
        event = record(
            session,
            ctx,
            type=event_type,
            company_id=company.id,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            payload=payload,
            store_id=items[0].get("store_id"),
            event_id=event_id,
        )
    finally:
        made.pop(event_id, None)
    if corrections:
        correction_event_id = new_id()
        for correction in corrections:
            session.add(
                i.StockValueAdjustment(
                    company_id=company.id,
                    product_id=correction["product_id"],
                    location_id=correction["location_id"],
                    date=date,
                    value=-correction["amount"],
                    event_id=correction_event_id,
                )
            )
        record(
            session,
            ctx,
            type="StockCostCorrected",
            company_id=company.id,
            aggregate_type="StockOperation",
            aggregate_id=event.aggregate_id,
            payload={"date": date, "reference": reference, "items": corrections},
            event_id=correction_event_id,
        )
    for product, source, quantity, unit_cost in negatives:
        # One unresolved exception per place: a second sale below zero counts one more occurrence.
        exceptions.append(
            monitoring.record(  # type: ignore[arg-type]
                session,
                ctx,
                company.id,
                type="negative_stock",
                key=f"negative_stock:{product.id}:{source.id}",
                message=f"{product.sku} at {source.code} is at {quantity} after a sale",
                amount_at_risk=round_to_currency(-quantity * unit_cost, company.currency),
                currency=company.currency,
                store_id=source.store_id,
                product_id=product.id,
                location_id=source.id,
                details={"quantity": str(quantity), "reference": reference},
                event_id=event.id,
            )
        )
    # Free unless a place is short: on hand and reserved were read with the quants' locks.
    short = [
        place for place, quant in quants.items() if quant.reserved > 0 and quant.quantity < quant.reserved
    ]
    if short:
        drained = {
            (line.product_id, line.from_location_id)
            for line in lines
            if locations[line.from_location_id].kind in SELLABLE
        }
        short = [place for place in short if place in drained]
    if short:
        exceptions += _flag_oversold(
            session,
            ctx,
            company,
            short,
            quants,
            products,
            locations,
            {place[0]: current_unit_cost(products[place[0]], costs[place[0]]) for place in short},
            event_id=event.id,
            reference=reference,
            open_new=not consumes_reservation,
        )
    session.flush()
    values: list[Decimal] = [Decimal(0)] * len(moves)
    for made, given in enumerate(given_order):
        values[given] = moves[made].value
    return MoveResult(moves=moves, event=event, exceptions=exceptions, values=values)
