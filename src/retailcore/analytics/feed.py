"""Feeding the KPI read models from the facts, incrementally and from scratch.

* **In the fact's own transaction.** The read models change in the transaction that records the fact
  (:mod:`retailcore.analytics.subscriptions`), so a dashboard never lags behind the books and there is
  no cursor to keep: a rolled-back batch takes its KPI rows with it.
* **POS batches add one aggregated upsert per batch**, not per line: on ``PosSalesIngested`` the
  database sums the batch's order lines per store and category, and its receipts per store (no line is
  read back), and the sums are added per (day, store, channel, category) and (day, store, channel) with
  one ``INSERT ... ON CONFLICT DO UPDATE`` each.
* **Every other order counts at delivery** (all but the tills' carry-out sales), from
  ``OrderFulfilled``: the delivered share of each line's net, list amount and discount (rounded
  cumulatively, as the order's revenue is), the delivered units, and the cost of the stock moves that
  delivery made (same command, the order's reference). An order is a basket on the day of its first
  delivery.
* **Returns and counts are refreshed by slice** (a store's day), at commit: a refund or an approved
  count marks its slice, and the slice is recomputed from its rows when the transaction commits (their
  rows change after the events are recorded, and a store's day has few of them).
* **The day is the store's local day**: the till's time of a POS sale, the delivery's time of another
  order, the time a return line was recorded, a count's own date. Orders without a store count in UTC
  under :data:`~retailcore.analytics.tables.NO_STORE`.
* :func:`rebuild` recomputes a company's read models from the raw rows (POS order lines, the log's
  ``OrderFulfilled`` events with the order lines and stock moves, return lines, count sheets), with the
  same functions: ``retailcore analytics rebuild`` after an upgrade (the migration creates the tables
  empty) or to check the incremental feed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, literal_column, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from retailcore.adapters.orm import Amount, Quantity
from retailcore.adapters.queries import one_of
from retailcore.analytics.tables import NO_STORE, DailyBaskets, DailyCounts, DailyReturns, DailySales
from retailcore.core.currencies import round_to_currency
from retailcore.eventlog.tables import Event
from retailcore.inventory.tables import StockMove
from retailcore.inventory.transfer_tables import CountLine, CountSheet
from retailcore.masterdata import cache as masterdata_cache
from retailcore.masterdata.tables import Company, Store
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.returns.tables import ReturnLineRow, ReturnRow

ZERO = Decimal(0)
UTC = ZoneInfo("UTC")
SalesKey = tuple[dt.date, uuid.UUID, str, str]
BasketKey = tuple[dt.date, uuid.UUID, str]
PENDING = "analytics.pending"
"""``session.info`` key: the returns and count slices to refresh at commit."""


# -- days ------------------------------------------------------------------------------------------


class Zones:
    """The stores' time zones, read once per use."""

    def __init__(self, session: Session, company_id: uuid.UUID) -> None:
        self.session, self.company_id = session, company_id
        self._zones: dict[uuid.UUID, ZoneInfo] = {NO_STORE: UTC}

    def zone(self, store_id: uuid.UUID | None) -> ZoneInfo:
        key = store_id or NO_STORE
        found = self._zones.get(key)
        if found is None:
            # The company's stores are behind its master stamp; a store of another company (never
            # expected) is read afresh, since only its own company's stamp follows it.
            zones = masterdata_cache.cached(
                self.session, self.company_id, "analytics.store_zones", self._load
            )
            name = (
                zones[key]
                if key in zones
                else self.session.scalar(select(Store.timezone).where(Store.id == key))
            )
            found = self._zones[key] = ZoneInfo(name) if name else UTC
        return found

    def _load(self) -> dict[uuid.UUID, str | None]:
        rows = self.session.execute(
            select(Store.id, Store.timezone).where(Store.company_id == self.company_id)
        )
        return {id: name for id, name in rows}

    def day(self, store_id: uuid.UUID | None, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.zone(store_id)).date()

    def bounds(self, store_id: uuid.UUID, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The UTC instants a local day of the store starts and ends (exclusive)."""
        zone = self.zone(store_id)
        start = dt.datetime.combine(day, dt.time(), zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


# -- upserts ---------------------------------------------------------------------------------------


def _insert(session: Session, table: Any) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


_UPSERTS: dict[tuple[str, Any], Any] = {}
"""The upsert of each read model per dialect, built once: building it (``excluded`` is a new alias each
time) cost more than running it, at every delivery."""


def _add(session: Session, table: Any, keys: Sequence[str], sums: Sequence[str], rows: list[dict]) -> None:
    """Add ``rows`` to the read model: new keys are inserted, existing ones get the sums added. One
    statement (``executemany``) for all rows."""
    if not rows:
        return
    key = (session.get_bind().dialect.name, table, tuple(keys), tuple(sums))
    statement = _UPSERTS.get(key)
    if statement is None:
        statement = _insert(session, table.__table__)
        statement = _UPSERTS[key] = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                name: getattr(table.__table__.c, name) + getattr(statement.excluded, name) for name in sums
            },
        )
    session.execute(statement, rows)


SALES_SUMS = ("net", "cost", "list_amount", "discount", "units", "lines")
BASKET_SUMS = ("baskets", "net", "units")


class SalesSums:
    """Sales and baskets being summed before they are added to the read models."""

    def __init__(self) -> None:
        self.sales: dict[SalesKey, list[Any]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO, ZERO, 0])
        self.baskets: dict[BasketKey, list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])

    def line(
        self,
        key: SalesKey,
        net: Decimal,
        cost: Decimal,
        list_amount: Decimal,
        discount: Decimal,
        units: Decimal,
        lines: int = 1,
    ) -> None:
        sums = self.sales[key]
        sums[0] += net
        sums[1] += cost
        sums[2] += list_amount
        sums[3] += discount
        sums[4] += units
        sums[5] += lines
        basket = self.baskets[key[:3]]
        basket[1] += net
        basket[2] += units

    def basket(self, key: BasketKey) -> None:
        self.baskets[key][0] += 1

    def write(self, session: Session, company_id: uuid.UUID) -> None:
        sales = [
            {
                "company_id": company_id,
                "day": day,
                "store_id": store,
                "channel": channel,
                "category": category,
                **dict(zip(SALES_SUMS, sums, strict=True)),
            }
            for (day, store, channel, category), sums in sorted(self.sales.items())
        ]
        baskets = [
            {
                "company_id": company_id,
                "day": day,
                "store_id": store,
                "channel": channel,
                **dict(zip(BASKET_SUMS, sums, strict=True)),
            }
            for (day, store, channel), sums in sorted(self.baskets.items())
        ]
        _add(session, DailySales, ("company_id", "day", "store_id", "channel", "category"), SALES_SUMS, sales)
        _add(session, DailyBaskets, ("company_id", "day", "store_id", "channel"), BASKET_SUMS, baskets)


# -- POS sales -------------------------------------------------------------------------------------

_LISTED = (
    case((OrderRow.prices_include_tax, OrderLineRow.gross), else_=OrderLineRow.net) + OrderLineRow.discount
)
"""A line's list amount (quantity x unit price, rounded like the receipt's line), on the prices' basis:
what the line came to after its discount (gross where prices include tax, else net), plus the discount."""

_POS_COLUMNS = (
    OrderRow.id,
    OrderRow.store_id,
    OrderRow.ordered_at,
    OrderRow.created_at,
    OrderLineRow.product_category,
    OrderLineRow.net,
    OrderLineRow.cost,
    type_coerce(_LISTED, Amount()),
    OrderLineRow.discount,
    OrderLineRow.quantity,
)


def _sum_pos(zones: Zones, rows: Iterable[Sequence[Any]], sums: SalesSums) -> int:
    """POS lines one by one (the rebuild, and a batch that spans a store's midnight)."""
    seen: set[uuid.UUID] = set()
    count = 0
    for order_id, store_id, ordered_at, created_at, category, net, cost, listed, discount, quantity in rows:
        store = store_id or NO_STORE
        day = zones.day(store_id, ordered_at or created_at)
        sums.line((day, store, "pos", category), net, cost, listed, discount, quantity)
        if order_id not in seen:
            seen.add(order_id)
            sums.basket((day, store, "pos"))
        count += 1
    return count


def _summed(expression: Any, kind: Any) -> Any:
    return type_coerce(func.coalesce(func.sum(expression), literal_column("0")), kind)


def pos_sales(session: Session, company_id: uuid.UUID, client_uuids: Sequence[uuid.UUID]) -> None:
    """Add a POS batch's sales (the orders of these terminal sale ids) to the read models.

    The database sums the batch's lines per store and category (a batch is minutes of one till's
    sales: one local day), so no line is read back into Python; a batch whose sales span a local
    midnight is summed line by line instead."""
    if not client_uuids:
        return
    batch = [OrderRow.company_id == company_id, one_of(session, OrderRow.client_uuid, client_uuids)]
    lines = select().select_from(OrderRow).join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
    grouped = session.execute(
        lines.add_columns(
            OrderRow.store_id,
            OrderLineRow.product_category,
            func.min(OrderRow.ordered_at),
            func.max(OrderRow.ordered_at),
            _summed(OrderLineRow.net, Amount()),
            _summed(OrderLineRow.cost, Amount()),
            _summed(_LISTED, Amount()),
            _summed(OrderLineRow.discount, Amount()),
            _summed(OrderLineRow.quantity, Quantity()),
            func.count(),
        )
        .where(*batch)
        .group_by(OrderRow.store_id, OrderLineRow.product_category)
    ).all()
    zones = Zones(session, company_id)
    sums = SalesSums()
    one_day = all(
        first is not None and last is not None and zones.day(store, first) == zones.day(store, last)
        for store, _, first, last, *_ in grouped
    )
    if not one_day:
        _sum_pos(zones, session.execute(lines.add_columns(*_POS_COLUMNS).where(*batch)), sums)
        sums.write(session, company_id)
        return
    for store_id, category, first, _, net, cost, listed, discount, units, count in grouped:
        key = (zones.day(store_id, first), store_id or NO_STORE, "pos", category)
        sums.line(key, net, cost, listed, discount, units, count)
    # Baskets: the batch's receipts that sold goods, per store (a receipt spans categories).
    for store_id, first, baskets in session.execute(
        lines.add_columns(
            OrderRow.store_id, func.min(OrderRow.ordered_at), func.count(func.distinct(OrderRow.id))
        )
        .where(*batch)
        .group_by(OrderRow.store_id)
    ):
        sums.baskets[(zones.day(store_id, first), store_id or NO_STORE, "pos")][0] += baskets
    sums.write(session, company_id)


# -- deliveries of other channels --------------------------------------------------------------------


def _share(amount: Decimal, before: Decimal, after: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """The part of a line amount belonging to the quantities ``before..after``, rounded cumulatively
    (the parts of a line add up to the line), as the order's revenue is."""

    def upto(done: Decimal) -> Decimal:
        return round_to_currency(amount * done / quantity, currency)

    return upto(after) - upto(before)


def _listed(order: OrderRow, line: OrderLineRow) -> Decimal:
    """The line's list amount, as :data:`_LISTED` reads it."""
    return (line.gross if order.prices_include_tax else line.net) + line.discount


def _delivery_costs(session: Session, order: OrderRow, event: Event) -> dict[uuid.UUID, Decimal]:
    """Per product, the stock value the delivery took out: the ``delivery`` moves of the order (its
    reference) made by the command that recorded ``event`` (its correlation id)."""
    command_events = select(Event.id).where(
        Event.correlation_id == event.correlation_id, Event.company_id == order.company_id
    )
    costs: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for product_id, value in session.execute(
        select(StockMove.product_id, StockMove.value).where(
            StockMove.company_id == order.company_id,
            StockMove.kind == "delivery",
            StockMove.reference == order.number,
            StockMove.event_id.in_(command_events),
        )
    ):
        costs[product_id] += value
    return costs


def add_delivery(
    zones: Zones,
    sums: SalesSums,
    order: OrderRow,
    lines: dict[uuid.UUID, OrderLineRow],
    delivered: Sequence[tuple[uuid.UUID, Decimal, Decimal]],
    costs: dict[uuid.UUID, Decimal],
    moment: dt.datetime,
) -> None:
    """One delivery of a non-POS order: ``delivered`` is ``(line id, quantity before, quantity now)``.
    The cost of a product goes to its first delivered line (an order has one line per product in
    practice; a product on two lines keeps its whole cost on the first)."""
    store = order.store_id or NO_STORE
    day = zones.day(order.store_id, moment)
    first_delivery = all(before == 0 for _, before, _ in delivered)
    costed: set[uuid.UUID] = set()
    for line_id, before, after in delivered:
        line = lines[line_id]
        cost = ZERO
        if line.product_id not in costed:
            costed.add(line.product_id)
            cost = costs.get(line.product_id, ZERO)
        sums.line(
            (day, store, order.channel, line.product_category),
            _share(line.net, before, after, line.quantity, order.currency),
            cost,
            _share(
                _listed(order, line),
                before,
                after,
                line.quantity,
                order.currency,
            ),
            _share(line.discount, before, after, line.quantity, order.currency),
            after - before,
            1,
        )
    if first_delivery and delivered:
        sums.basket((day, store, order.channel))


def _delivered(payload: dict[str, Any]) -> list[tuple[uuid.UUID, Decimal]]:
    return [(uuid.UUID(str(line["line_id"])), Decimal(str(line["quantity"]))) for line in payload["lines"]]


def _line(session: Session, order: OrderRow, line_id: uuid.UUID) -> OrderLineRow:
    line = session.get(OrderLineRow, line_id)
    if line is None or line.order_id != order.id:
        raise LookupError(f"order {order.number} has no line {line_id}")
    return line


def order_fulfilled(session: Session, event: Event) -> None:
    """Add a delivery, as it is recorded (the order's lines already carry it)."""
    order = session.get(OrderRow, event.aggregate_id)
    if order is None or order.fulfillment_mode == "carry_out":
        return  # a till's sale counts with its batch
    delivered = _delivered(event.payload)
    # Only the delivered lines are read, by key: the command that fulfilled them holds them in the
    # session, so this costs no query there.
    lines = {line_id: _line(session, order, line_id) for line_id, _ in delivered}
    parts = [
        (line_id, lines[line_id].fulfilled_quantity - q, lines[line_id].fulfilled_quantity)
        for line_id, q in delivered
    ]
    sums = SalesSums()
    zones = Zones(session, order.company_id)
    add_delivery(zones, sums, order, lines, parts, _delivery_costs(session, order, event), event.occurred_at)
    sums.write(session, order.company_id)


# -- returns and counts: slices refreshed at commit -------------------------------------------------


def mark(session: Session, kind: str, company_id: uuid.UUID, key: Any) -> None:
    """Refresh what ``key`` touches (a return's id, a count sheet's id) when the transaction commits."""
    session.info.setdefault(PENDING, set()).add((kind, company_id, key))


def refresh_pending(session: Session) -> None:
    """``before_commit``: recompute the slices of the returns and counts marked in this transaction.

    Each store's day is recomputed once per commit, however many returns of the transaction touched it:
    a till's batch records dozens of refunds of one store and day, and recomputing the day for each of
    them read the day's return lines again and again (a cost that grew with the day's refunds).
    """
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    returns: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for kind, company_id, key in sorted(pending, key=str):
        if kind == "returns":
            returns[company_id].append(key)
        elif kind == "counts":
            sheet = session.get(CountSheet, key)
            if sheet is not None and sheet.count_date is not None:
                refresh_counts(session, company_id, sheet.store_id, sheet.count_date)
    for company_id, keys in sorted(returns.items(), key=str):
        zones = Zones(session, company_id)
        slices = {
            (store_id, zones.day(store_id, created_at))
            for store_id, created_at in session.execute(
                select(ReturnLineRow.store_id, ReturnLineRow.created_at)
                .where(one_of(session, ReturnLineRow.return_id, keys))
                .distinct()
            )
        }
        for store_id, day in sorted(slices):
            refresh_returns(session, zones, company_id, store_id, day)


RETURN_SUMS = ("net", "units", "lines")


def _returns_rows(
    session: Session,
    zones: Zones,
    company_id: uuid.UUID,
    conditions: Sequence[Any],
    slice_: tuple[uuid.UUID, dt.date] | None = None,
) -> dict[tuple[dt.date, uuid.UUID, str, str, str], list[Any]]:
    """The sums of refunded return lines per store-local day, store, channel, reason and category. With
    ``slice_`` (a store and its day, which ``conditions`` already bound) every line is of that store and
    day: neither is read nor converted per line."""
    sums: dict[tuple[dt.date, uuid.UUID, str, str, str], list[Any]] = defaultdict(lambda: [ZERO, ZERO, 0])
    line = ReturnLineRow
    grouped = (line.channel, line.reason, line.product_category, line.refunded_net, line.refunded_quantity)
    where = (line.company_id == company_id, line.refunded_quantity > ZERO, *conditions)
    if slice_ is not None:
        store_id, day = slice_
        for channel, reason, category, net, quantity in session.execute(select(*grouped).where(*where)):
            _add_return(sums[(day, store_id, channel, reason, category)], net, quantity)
        return sums
    for store_id, created_at, channel, reason, category, net, quantity in session.execute(
        select(line.store_id, line.created_at, *grouped).where(*where)
    ):
        key = (zones.day(store_id, created_at), store_id, channel, reason, category)
        _add_return(sums[key], net, quantity)
    return sums


def _add_return(row: list[Any], net: Decimal, quantity: Decimal) -> None:
    row[0] += net
    row[1] += quantity
    row[2] += 1


def pos_refunds(session: Session, company_id: uuid.UUID, numbers: Sequence[str]) -> None:
    """Add a POS batch's refunds (the returns of these numbers, the refunds' client uuids) to their days
    of returns: one read of their lines and one upsert that adds them to their slices.

    A till's refund is a return recorded in this very transaction, refunded in full as it is recorded,
    so its lines are new to every slice and adding them is exact. Recomputing their store's day instead
    (as a return refunded later is, :func:`refresh_pending`) read back the returns by number, then
    the slices, then every return line of the day so far, and replaced the slice: five statements a
    batch and a read that grew with the day's refunds."""
    if not numbers:
        return
    line = ReturnLineRow
    zones = Zones(session, company_id)
    sums: dict[tuple[dt.date, uuid.UUID, str, str, str], list[Any]] = defaultdict(lambda: [ZERO, ZERO, 0])
    for store_id, created_at, channel, reason, category, net, quantity in session.execute(
        select(
            line.store_id,
            line.created_at,
            line.channel,
            line.reason,
            line.product_category,
            line.refunded_net,
            line.refunded_quantity,
        )
        .join(ReturnRow, ReturnRow.id == line.return_id)
        .where(
            ReturnRow.company_id == company_id,
            one_of(session, ReturnRow.number, numbers),
            line.refunded_quantity > ZERO,
        )
    ):
        _add_return(
            sums[(zones.day(store_id, created_at), store_id, channel, reason, category)], net, quantity
        )
    _add(session, DailyReturns, RETURN_KEYS, RETURN_SUMS, _returns_rows_of(company_id, sums))


RETURN_KEYS = ("company_id", "day", "store_id", "channel", "reason", "category")


def _returns_rows_of(company_id: uuid.UUID, sums: dict) -> list[dict[str, Any]]:
    return [
        {
            "company_id": company_id,
            "day": day,
            "store_id": store,
            "channel": channel,
            "reason": reason,
            "category": category,
            **dict(zip(RETURN_SUMS, values, strict=True)),
        }
        for (day, store, channel, reason, category), values in sorted(sums.items())
    ]


def _returns_insert(session: Session, company_id: uuid.UUID, sums: dict) -> None:
    rows = _returns_rows_of(company_id, sums)
    if rows:
        session.execute(DailyReturns.__table__.insert(), rows)


def refresh_returns(
    session: Session, zones: Zones, company_id: uuid.UUID, store_id: uuid.UUID, day: dt.date
) -> None:
    """Recompute one store's day of returns from its return lines."""
    start, end = zones.bounds(store_id, day)
    sums = _returns_rows(
        session,
        zones,
        company_id,
        [
            ReturnLineRow.store_id == store_id,
            ReturnLineRow.created_at >= start,
            ReturnLineRow.created_at < end,
        ],
        (store_id, day),
    )
    session.execute(
        delete(DailyReturns).where(
            DailyReturns.company_id == company_id, DailyReturns.store_id == store_id, DailyReturns.day == day
        )
    )
    _returns_insert(session, company_id, sums)


COUNT_SUMS = ("sheets", "lines_counted", "lines_exact", "lines_within_tolerance", "gain_value", "loss_value")


def _counts_rows(
    session: Session, company_id: uuid.UUID, conditions: Sequence[Any]
) -> dict[tuple[dt.date, uuid.UUID], list[Any]]:
    sheets = {
        sheet_id: (number, store_id, day)
        for sheet_id, number, store_id, day in session.execute(
            select(CountSheet.id, CountSheet.number, CountSheet.store_id, CountSheet.count_date).where(
                CountSheet.company_id == company_id, CountSheet.state == "approved", *conditions
            )
        )
    }
    sums: dict[tuple[dt.date, uuid.UUID], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, ZERO, ZERO])
    if not sheets:
        return sums
    by_number = {}
    for _sheet_id, (number, store_id, day) in sheets.items():
        sums[(day, store_id)][0] += 1
        by_number[number] = (day, store_id)
    for sheet_id, difference, within in session.execute(
        select(CountLine.sheet_id, CountLine.difference, CountLine.within_tolerance).where(
            one_of(session, CountLine.sheet_id, list(sheets)), CountLine.counted_quantity.is_not(None)
        )
    ):
        _, store_id, day = sheets[sheet_id]
        row = sums[(day, store_id)]
        row[1] += 1
        row[2] += 1 if difference == 0 else 0
        row[3] += 1 if within else 0
    for reference, kind, value in session.execute(
        select(StockMove.reference, StockMove.kind, StockMove.value).where(
            StockMove.company_id == company_id,
            StockMove.kind.in_(("count_gain", "count_loss")),
            one_of(session, StockMove.reference, list(by_number)),
        )
    ):
        row = sums[by_number[reference]]
        row[4 if kind == "count_gain" else 5] += value
    return sums


def _counts_insert(session: Session, company_id: uuid.UUID, sums: dict) -> None:
    rows = [
        {
            "company_id": company_id,
            "day": day,
            "store_id": store,
            **dict(zip(COUNT_SUMS, values, strict=True)),
        }
        for (day, store), values in sorted(sums.items())
    ]
    if rows:
        session.execute(DailyCounts.__table__.insert(), rows)


def refresh_counts(session: Session, company_id: uuid.UUID, store_id: uuid.UUID, day: dt.date) -> None:
    """Recompute one store's count day from its approved sheets."""
    sums = _counts_rows(session, company_id, [CountSheet.store_id == store_id, CountSheet.count_date == day])
    session.execute(
        delete(DailyCounts).where(
            DailyCounts.company_id == company_id, DailyCounts.store_id == store_id, DailyCounts.day == day
        )
    )
    _counts_insert(session, company_id, sums)


# -- rebuild ---------------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]
"""``(step, done, total)``: called as a rebuild advances."""

BATCH = 5000


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rebuild(session: Session, company_id: uuid.UUID, progress: Progress | None = None) -> dict[str, int]:
    """Recompute a company's read models from the raw rows, replacing what they held. Returns the
    number of source rows read per step."""
    tell = progress or (lambda step, done, total: None)
    for table in (DailySales, DailyBaskets, DailyReturns, DailyCounts):
        session.execute(delete(table).where(table.company_id == company_id))
    zones = Zones(session, company_id)
    sums = SalesSums()
    # POS sales: their lines, order by order.
    pos_orders = list(
        session.scalars(
            select(OrderRow.id)
            .where(OrderRow.company_id == company_id, OrderRow.fulfillment_mode == "carry_out")
            .order_by(OrderRow.id)
        )
    )
    pos_lines = 0
    for done, chunk in enumerate(_chunks(pos_orders, BATCH)):
        rows = session.execute(
            select(*_POS_COLUMNS)
            .join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
            .where(OrderRow.company_id == company_id, one_of(session, OrderRow.id, list(chunk)))
        )
        pos_lines += _sum_pos(zones, rows, sums)
        tell("POS sales", min((done + 1) * BATCH, len(pos_orders)), len(pos_orders))
    # Deliveries of other channels, replayed in log order.
    fulfilments = list(
        session.scalars(
            select(Event)
            .where(Event.company_id == company_id, Event.type == "OrderFulfilled")
            .order_by(Event.position)
        )
    )
    done_before: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
    for index, event in enumerate(fulfilments):
        order = session.get(OrderRow, event.aggregate_id)
        if order is None or order.fulfillment_mode == "carry_out":
            continue
        lines = {
            line.id: line
            for line in session.scalars(select(OrderLineRow).where(OrderLineRow.order_id == order.id))
        }
        parts = []
        for line_id, quantity in _delivered(event.payload):
            before = done_before[line_id]
            done_before[line_id] = before + quantity
            parts.append((line_id, before, before + quantity))
        costs = _delivery_costs(session, order, event)
        add_delivery(zones, sums, order, lines, parts, costs, event.occurred_at)
        if index % 200 == 0 or index == len(fulfilments) - 1:
            tell("deliveries", index + 1, len(fulfilments))
    sums.write(session, company_id)
    returns = _returns_rows(session, zones, company_id, [])
    _returns_insert(session, company_id, returns)
    tell("returns", 1, 1)
    counts = _counts_rows(session, company_id, [])
    _counts_insert(session, company_id, counts)
    tell("counts", 1, 1)
    session.flush()
    return {
        "pos_lines": pos_lines,
        "deliveries": len(fulfilments),
        "return_slices": len(returns),
        "count_slices": len(counts),
    }


def companies(session: Session) -> list[tuple[uuid.UUID, str]]:
    return list(session.execute(select(Company.id, Company.code).order_by(Company.code)).all())
