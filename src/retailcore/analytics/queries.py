"""The KPIs, read from the daily read models (never from orders): one small grouped query per report.

Every report covers ``date_from``..``date_to`` (inclusive; default the 30 days to today), optionally one
store and one channel; a store-scoped caller sees its own store only (:func:`scope`). Ratios are
percentages with two decimals, ``null`` where their base is zero. Definitions, with a worked example:
docs/analytics.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import func, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting.reports import Report
from retailcore.analytics.tables import NO_STORE, DailyBaskets, DailyCounts, DailyReturns, DailySales
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.inventory.tables import StockQuant
from retailcore.masterdata.services import Ref, company_in_scope, store_in_scope
from retailcore.masterdata.tables import INTERNAL_LOCATION_KINDS, Location, Product, Store
from retailcore.monitoring.tables import UNRESOLVED, ExceptionCase

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
"""The longest period one request may cover (a day-grouped answer stays a few thousand rows)."""

SalesGroup = Literal["day", "store", "channel", "category"]
ReturnsGroup = Literal["day", "store", "channel", "reason", "category"]
BasketGroup = Literal["day", "store", "channel"]
StockGroup = Literal["store", "category"]
CountGroup = Literal["day", "store"]


def _sum(column: Any) -> Any:
    """``SUM`` that is zero over no rows, read back through the column's own type (exact decimals)."""
    return type_coerce(func.coalesce(func.sum(column), literal_column("0")), column.type)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole`` in percent, two decimals; None when ``whole`` is zero."""
    if not whole:
        return None
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(CENT)


def ratio(part: Decimal, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(CENT)


# -- scope -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a request covers: the company, the days, and optionally one store and one channel."""

    company_id: uuid.UUID
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None = None
    channel: str | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> Scope:
        """The period of the same length just before."""
        length = dt.timedelta(days=self.days)
        return replace(self, date_from=self.date_from - length, date_to=self.date_to - length)


def scope(
    session: Session,
    principal: Principal,
    *,
    company: Ref | None = None,
    store: Ref | None = None,
    channel: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> Scope:
    """Resolve a request's filters: an unknown (or unseen) store is a 422 naming ``store``; a caller
    scoped to a store gets that store; ``date_from`` after ``date_to`` is a 422 naming ``date_from``."""
    found = company_in_scope(session, principal, company)
    store_id = None
    if store is not None:
        named = store_in_scope(session, principal, store, company=found, field="store")
        store_id = named.id if named is not None else None
    elif principal.store_id is not None:
        store_id = principal.store_id
    end = date_to or today or dt.datetime.now(dt.UTC).date()
    start = date_from or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(
            "date_from is after date_to", problems=[FieldProblem("date_from", "must not be after date_to")]
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            f"a KPI request covers at most {MAX_DAYS} days",
            problems=[FieldProblem("date_from", f"at most {MAX_DAYS} days before date_to")],
        )
    return Scope(found.id, start, end, store_id, channel)


def _where(table: Any, where: Scope, *, channel: bool = True) -> list[Any]:
    conditions = [
        table.company_id == where.company_id,
        table.day >= where.date_from,
        table.day <= where.date_to,
    ]
    if where.store_id is not None:
        conditions.append(table.store_id == where.store_id)
    if channel and where.channel is not None:
        conditions.append(table.channel == where.channel)
    return conditions


MEMO = "retailcore.analytics.memo"
"""``session.info`` key of the grouped sums already read while :func:`memoised` is active."""


@contextmanager
def memoised(session: Session) -> Iterator[None]:
    """Within the block, each read model's sums for one scope and grouping are read once, and a scope's
    totals are added up from a grouping already read instead of scanning the days again: a report
    asks for its groups and its totals (one scan, not two), and the dashboard's thirteen reports share
    their scans (decision 0051). Reentrant; the sums are forgotten when the outermost block ends, so
    nothing outlives a request."""
    if MEMO in session.info:
        yield
        return
    session.info[MEMO] = {}
    try:
        yield
    finally:
        session.info.pop(MEMO, None)


def _memo(
    session: Session,
    name: str,
    where: Scope,
    group: str | None,
    read: Callable[[str | None], dict[Any, tuple]],
) -> dict[Any, tuple]:
    """``read(group)``, or what it gave already for this scope; totals (``group`` None) are the sum of
    any grouping read for the scope (every row of the scope falls in exactly one group), else of the
    grouping by store, read for the purpose (a few dozen rows, which later reports by store reuse)."""
    memo = session.info.get(MEMO)
    if memo is None:
        return read(group)
    key = ("sums", name, where, group)
    if key not in memo:
        if group is None:
            grouped = next((found for k, found in memo.items() if k[:3] == ("sums", name, where)), None)
            if grouped is None:
                grouped = memo["sums", name, where, "store"] = read("store")
            if not grouped:  # no row
                memo[key] = read(None)
            else:
                rows = iter(grouped.values())
                totals = [Decimal(value) for value in next(rows)]
                for values in rows:
                    totals = [total + Decimal(value) for total, value in zip(totals, values, strict=True)]
                memo[key] = {None: tuple(totals)}
        else:
            memo[key] = read(group)
    return memo[key]


def shared(report: Callable[..., Any]) -> Callable[..., Any]:
    """Run a report under :func:`memoised`: its totals come from its groups' sums."""

    @functools.wraps(report)
    def run(session: Session, *args: Any, **kwargs: Any) -> Any:
        with memoised(session):
            return report(session, *args, **kwargs)

    return run


def _store_codes(session: Session, company_id: uuid.UUID) -> dict[uuid.UUID, str]:
    memo = session.info.get(MEMO)
    if memo is not None and ("codes", company_id) in memo:
        return memo["codes", company_id]
    codes = dict(session.execute(select(Store.id, Store.code).where(Store.company_id == company_id)).all())
    codes[NO_STORE] = ""
    if memo is not None:
        memo["codes", company_id] = codes
    return codes


def _key(session: Session, table: Any, group: str) -> Any:
    return getattr(table, "store_id" if group == "store" else group)


def _grouped(
    session: Session, table: Any, conditions: list[Any], group: str | None, sums: Sequence[Any]
) -> dict[Any, tuple]:
    """The read model's ``sums`` per value of ``group`` (one row under ``None`` when not grouped)."""
    if group is None:
        return {None: tuple(session.execute(select(*sums).where(*conditions)).one())}
    key = _key(session, table, group)
    return {
        row[0]: tuple(row[1:]) for row in session.execute(select(key, *sums).where(*conditions).group_by(key))
    }


def _label(value: Any, group: str, codes: dict[uuid.UUID, str]) -> str:
    if group == "store":
        return codes.get(value, str(value))
    if group == "day":
        return value.isoformat()
    return str(value)


class _Table(Report):
    """A report whose rows are flat models (the CSV is one line per row)."""

    rows: list[Any]

    def table(self) -> tuple[list[str], list[list[Any]]]:
        if not self.rows:
            return [], []
        header = list(type(self.rows[0]).model_fields)
        return header, [[getattr(row, name) for name in header] for row in self.rows]


# -- sales -----------------------------------------------------------------------------------------


class SalesFigures(BaseModel):
    net_sales: DecimalStr
    cost_of_sales: DecimalStr
    gross_margin: DecimalStr
    margin_percent: DecimalStr | None
    list_amount: DecimalStr
    """Quantity x unit price before discounts, on the prices' basis (tax included where prices include it)."""
    discounts: DecimalStr
    discount_rate_percent: DecimalStr | None
    """Discounts / list amount (both on the prices' basis)."""
    units: DecimalStr
    lines: int


def _figures(
    net: Decimal, cost: Decimal, listed: Decimal, discount: Decimal, units: Decimal, lines: int
) -> dict[str, Any]:
    return {
        "net_sales": net,
        "cost_of_sales": cost,
        "gross_margin": net - cost,
        "margin_percent": percent(net - cost, net),
        "list_amount": listed,
        "discounts": discount,
        "discount_rate_percent": percent(discount, listed),
        "units": units,
        "lines": lines,
    }


class SalesRow(SalesFigures):
    group: str
    """The group's value: the day, the store's code, the channel or the category."""


class SalesComparison(BaseModel):
    date_from: dt.date
    date_to: dt.date
    totals: SalesFigures
    net_sales_change_percent: DecimalStr | None
    """This period's net sales against the previous period's, in percent (null if that was zero)."""
    gross_margin_change_percent: DecimalStr | None


class SalesReport(_Table):
    group_by: str
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None
    channel: str | None
    rows: list[SalesRow]
    totals: SalesFigures
    previous: SalesComparison

    def title(self) -> str:
        return f"Sales by {self.group_by} {self.date_from} to {self.date_to}"


SALES_SUMS = (
    _sum(DailySales.net),
    _sum(DailySales.cost),
    _sum(DailySales.list_amount),
    _sum(DailySales.discount),
    _sum(DailySales.units),
    _sum(DailySales.lines),
)
"""Built once: the dashboard asks for sales sums a few dozen times a request."""


def _sales_sums(session: Session, where: Scope, group: str | None) -> dict[Any, tuple]:
    sums = SALES_SUMS
    return _memo(
        session,
        "sales",
        where,
        group,
        lambda grouping: _grouped(session, DailySales, _where(DailySales, where), grouping, sums),
    )


def _exact(values: tuple) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal, int]:
    net, cost, listed, discount, units, lines = values
    return Decimal(net), Decimal(cost), Decimal(listed), Decimal(discount), Decimal(units), int(lines)


@shared
def sales(session: Session, where: Scope, group_by: str = "day") -> SalesReport:
    """Net sales, cost, gross margin and margin %, discounts and discount rate, units, per group; the
    totals, and the totals of the previous period of the same length."""
    codes = _store_codes(session, where.company_id)
    grouped = _sales_sums(session, where, group_by)
    rows = [
        SalesRow(group=_label(key, group_by, codes), **_figures(*_exact(values)))
        for key, values in sorted(grouped.items(), key=lambda item: _label(item[0], group_by, codes))
    ]
    total = _exact(_sales_sums(session, where, None)[None])
    before_scope = where.previous()
    before = _exact(_sales_sums(session, before_scope, None)[None])
    now_figures, before_figures = SalesFigures(**_figures(*total)), SalesFigures(**_figures(*before))
    return SalesReport(
        group_by=group_by,
        date_from=where.date_from,
        date_to=where.date_to,
        store_id=where.store_id,
        channel=where.channel,
        rows=rows,
        totals=now_figures,
        previous=SalesComparison(
            date_from=before_scope.date_from,
            date_to=before_scope.date_to,
            totals=before_figures,
            net_sales_change_percent=percent(total[0] - before[0], before[0]),
            gross_margin_change_percent=percent(
                now_figures.gross_margin - before_figures.gross_margin, before_figures.gross_margin
            ),
        ),
    )


# -- returns ---------------------------------------------------------------------------------------


class ReturnsRow(BaseModel):
    group: str
    returned_net: DecimalStr
    returned_units: DecimalStr
    return_lines: int
    net_sales: DecimalStr | None
    """The sales of the same group (null when grouped by reason: sales have no reason)."""
    units_sold: DecimalStr | None
    return_rate_value_percent: DecimalStr | None
    return_rate_units_percent: DecimalStr | None


class ReturnsReport(_Table):
    group_by: str
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None
    channel: str | None
    rows: list[ReturnsRow]
    totals: ReturnsRow

    def title(self) -> str:
        return f"Returns by {self.group_by} {self.date_from} to {self.date_to}"


def _returns_row(group: str, returned: tuple, sold: tuple | None) -> ReturnsRow:
    net, units, lines = Decimal(returned[0]), Decimal(returned[1]), int(returned[2])
    sold_net = Decimal(sold[0]) if sold is not None else None
    sold_units = Decimal(sold[4]) if sold is not None else None
    return ReturnsRow(
        group=group,
        returned_net=net,
        returned_units=units,
        return_lines=lines,
        net_sales=sold_net,
        units_sold=sold_units,
        return_rate_value_percent=percent(net, sold_net) if sold_net is not None else None,
        return_rate_units_percent=percent(units, sold_units) if sold_units is not None else None,
    )


@shared
def returns(session: Session, where: Scope, group_by: str = "channel") -> ReturnsReport:
    """Refunded value and units per group, and the return rates: refunded over sold, by value and by
    units, for the same days, stores and channel (returns count on the day the return was recorded)."""
    codes = _store_codes(session, where.company_id)
    sums = (
        _sum(DailyReturns.net),
        _sum(DailyReturns.units),
        _sum(DailyReturns.lines),
    )
    grouped = _grouped(session, DailyReturns, _where(DailyReturns, where), group_by, sums)
    sold = _sales_sums(session, where, None if group_by == "reason" else group_by)
    rows = [
        _returns_row(_label(k, group_by, codes), values, None if group_by == "reason" else sold.get(k))
        for k, values in sorted(grouped.items(), key=lambda item: _label(item[0], group_by, codes))
    ]
    total = tuple(session.execute(select(*sums).where(*_where(DailyReturns, where))).one())
    totals = _returns_row("total", total, _sales_sums(session, where, None)[None])
    return ReturnsReport(
        group_by=group_by,
        date_from=where.date_from,
        date_to=where.date_to,
        store_id=where.store_id,
        channel=where.channel,
        rows=rows,
        totals=totals,
    )


# -- baskets ---------------------------------------------------------------------------------------


class BasketRow(BaseModel):
    group: str
    baskets: int
    net_sales: DecimalStr
    units: DecimalStr
    average_basket: DecimalStr | None
    """Net sales per basket (an order, or a till receipt that sold goods)."""
    units_per_basket: DecimalStr | None


class BasketReport(_Table):
    group_by: str
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None
    channel: str | None
    rows: list[BasketRow]
    totals: BasketRow


def _basket_row(group: str, values: tuple) -> BasketRow:
    baskets, net, units = int(values[0]), Decimal(values[1]), Decimal(values[2])
    return BasketRow(
        group=group,
        baskets=baskets,
        net_sales=net,
        units=units,
        average_basket=ratio(net, baskets),
        units_per_basket=ratio(units, baskets),
    )


@shared
def basket(session: Session, where: Scope, group_by: str = "day") -> BasketReport:
    codes = _store_codes(session, where.company_id)
    sums = (
        _sum(DailyBaskets.baskets),
        _sum(DailyBaskets.net),
        _sum(DailyBaskets.units),
    )
    grouped = _grouped(session, DailyBaskets, _where(DailyBaskets, where), group_by, sums)
    rows = [
        _basket_row(_label(k, group_by, codes), values)
        for k, values in sorted(grouped.items(), key=lambda item: _label(item[0], group_by, codes))
    ]
    total = tuple(session.execute(select(*sums).where(*_where(DailyBaskets, where))).one())
    return BasketReport(
        group_by=group_by,
        date_from=where.date_from,
        date_to=where.date_to,
        store_id=where.store_id,
        channel=where.channel,
        rows=rows,
        totals=_basket_row("total", total),
    )


# -- sell-through ------------------------------------------------------------------------------------


class SellThroughRow(BaseModel):
    group: str
    units_sold: DecimalStr
    on_hand: DecimalStr
    """Units on hand now in the stores' internal locations (stock, backroom, damaged)."""
    sell_through_percent: DecimalStr | None
    """Units sold / (units sold + on hand)."""


class SellThroughReport(_Table):
    group_by: str
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None
    channel: str | None
    rows: list[SellThroughRow]
    totals: SellThroughRow


def _through(group: str, sold: Decimal, on_hand: Decimal) -> SellThroughRow:
    return SellThroughRow(
        group=group, units_sold=sold, on_hand=on_hand, sell_through_percent=percent(sold, sold + on_hand)
    )


@shared
def sell_through(session: Session, where: Scope, group_by: str = "category") -> SellThroughReport:
    """Units sold in the period per store or category, against those units plus what is on hand now.
    On hand is read from the stock quants (one row per product and location, not per sale)."""
    codes = _store_codes(session, where.company_id)
    grouped = _sales_sums(session, where, group_by)  # shared with the other reports' (units: 5th)
    sold = {k: Decimal(values[4]) for k, values in grouped.items()}
    on_hand_key = Location.store_id if group_by == "store" else Product.category
    query = (
        select(on_hand_key, _sum(StockQuant.quantity))
        .join(Location, Location.id == StockQuant.location_id)
        .join(Product, Product.id == StockQuant.product_id)
        .where(StockQuant.company_id == where.company_id, Location.kind.in_(INTERNAL_LOCATION_KINDS))
        .group_by(on_hand_key)
    )
    if where.store_id is not None:
        query = query.where(Location.store_id == where.store_id)
    memo = session.info.get(MEMO, {})  # on hand is now's, whatever the period: read once
    key = ("on_hand", where.company_id, where.store_id, group_by)
    if key not in memo:
        memo[key] = {k if k is not None else NO_STORE: Decimal(units) for k, units in session.execute(query)}
    on_hand = memo[key]
    keys = sorted(set(sold) | set(on_hand), key=lambda k: _label(k, group_by, codes))
    rows = [_through(_label(k, group_by, codes), sold.get(k, ZERO), on_hand.get(k, ZERO)) for k in keys]
    return SellThroughReport(
        group_by=group_by,
        date_from=where.date_from,
        date_to=where.date_to,
        store_id=where.store_id,
        channel=where.channel,
        rows=rows,
        totals=_through("total", sum(sold.values(), ZERO), sum(on_hand.values(), ZERO)),
    )


# -- counts: accuracy and shrinkage -------------------------------------------------------------------


class AccuracyRow(BaseModel):
    group: str
    sheets: int
    lines_counted: int
    lines_exact: int
    lines_within_tolerance: int
    accuracy_percent: DecimalStr | None
    """Lines counted exactly as expected / lines counted."""
    within_tolerance_percent: DecimalStr | None
    gain_value: DecimalStr
    loss_value: DecimalStr
    adjustment_value: DecimalStr
    """Gains plus losses: the stock value the counts had to correct, either way."""
    net_adjustment_value: DecimalStr
    """Gains minus losses."""


class AccuracyReport(_Table):
    group_by: str
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None
    rows: list[AccuracyRow]
    totals: AccuracyRow


COUNT_SUMS = ("sheets", "lines_counted", "lines_exact", "lines_within_tolerance", "gain_value", "loss_value")
COUNT_SUM_COLUMNS = [_sum(getattr(DailyCounts, name)) for name in COUNT_SUMS]


def _count_sums(session: Session, where: Scope, group: str | None) -> dict[Any, tuple]:
    sums = COUNT_SUM_COLUMNS
    conditions = _where(DailyCounts, where, channel=False)
    return _memo(
        session,
        "counts",
        replace(where, channel=None),
        group,
        lambda grouping: _grouped(session, DailyCounts, conditions, grouping, sums),
    )


def _accuracy_row(group: str, values: tuple) -> AccuracyRow:
    sheets, counted, exact, within = (int(v) for v in values[:4])
    gain, loss = Decimal(values[4]), Decimal(values[5])
    return AccuracyRow(
        group=group,
        sheets=sheets,
        lines_counted=counted,
        lines_exact=exact,
        lines_within_tolerance=within,
        accuracy_percent=percent(Decimal(exact), Decimal(counted)),
        within_tolerance_percent=percent(Decimal(within), Decimal(counted)),
        gain_value=gain,
        loss_value=loss,
        adjustment_value=gain + loss,
        net_adjustment_value=gain - loss,
    )


@shared
def stock_accuracy(session: Session, where: Scope, group_by: str = "store") -> AccuracyReport:
    codes = _store_codes(session, where.company_id)
    grouped = _count_sums(session, where, group_by)
    rows = [
        _accuracy_row(_label(k, group_by, codes), values)
        for k, values in sorted(grouped.items(), key=lambda item: _label(item[0], group_by, codes))
    ]
    return AccuracyReport(
        group_by=group_by,
        date_from=where.date_from,
        date_to=where.date_to,
        store_id=where.store_id,
        rows=rows,
        totals=_accuracy_row("total", _count_sums(session, where, None)[None]),
    )


class ShrinkageRow(BaseModel):
    group: str
    loss_value: DecimalStr
    """Stock value the approved counts found missing."""
    gain_value: DecimalStr
    net_sales: DecimalStr
    shrinkage_percent: DecimalStr | None
    """Loss value / net sales of the same stores and days."""
    net_shrinkage_percent: DecimalStr | None
    """(Loss - gain) / net sales."""


class ShrinkageReport(_Table):
    group_by: str
    date_from: dt.date
    date_to: dt.date
    store_id: uuid.UUID | None
    rows: list[ShrinkageRow]
    totals: ShrinkageRow


def _shrinkage_row(group: str, counts: tuple | None, sold: tuple | None) -> ShrinkageRow:
    loss = Decimal(counts[5]) if counts else ZERO
    gain = Decimal(counts[4]) if counts else ZERO
    net = Decimal(sold[0]) if sold else ZERO
    return ShrinkageRow(
        group=group,
        loss_value=loss,
        gain_value=gain,
        net_sales=net,
        shrinkage_percent=percent(loss, net),
        net_shrinkage_percent=percent(loss - gain, net),
    )


@shared
def shrinkage(session: Session, where: Scope, group_by: str = "store") -> ShrinkageReport:
    codes = _store_codes(session, where.company_id)
    sales_scope = replace(where, channel=None)
    counts = _count_sums(session, where, group_by)
    sold = _sales_sums(session, sales_scope, group_by)
    keys = sorted(set(counts) | set(sold), key=lambda k: _label(k, group_by, codes))
    return ShrinkageReport(
        group_by=group_by,
        date_from=where.date_from,
        date_to=where.date_to,
        store_id=where.store_id,
        rows=[_shrinkage_row(_label(k, group_by, codes), counts.get(k), sold.get(k)) for k in keys],
        totals=_shrinkage_row(
            "total", _count_sums(session, where, None)[None], _sales_sums(session, sales_scope, None)[None]
        ),
    )


# -- exceptions --------------------------------------------------------------------------------------


class ExceptionsRow(BaseModel):
    type: str
    currency: str
    open: int
    """Exceptions not resolved (open or acknowledged)."""
    money_at_risk: DecimalStr


class ExceptionsReport(_Table):
    store_id: uuid.UUID | None
    rows: list[ExceptionsRow]
    open: int
    money_at_risk: dict[str, DecimalStr]
    """Per currency."""


def open_exceptions(session: Session, where: Scope) -> ExceptionsReport:
    """Open exceptions of the console by type: how many, and the money at risk (as of now; the
    console's one table holds few unresolved rows)."""
    case = ExceptionCase
    query = (
        select(case.type, case.currency, func.count(), _sum(case.amount_at_risk))
        .where(case.company_id == where.company_id, case.status.in_(UNRESOLVED))
        .group_by(case.type, case.currency)
        .order_by(case.type, case.currency)
    )
    if where.store_id is not None:
        query = query.where(case.store_id == where.store_id)
    rows = [
        ExceptionsRow(type=kind, currency=currency, open=count, money_at_risk=Decimal(amount))
        for kind, currency, count, amount in session.execute(query)
    ]
    at_risk: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        at_risk[row.currency] += row.money_at_risk
    return ExceptionsReport(
        store_id=where.store_id, rows=rows, open=sum(row.open for row in rows), money_at_risk=dict(at_risk)
    )
