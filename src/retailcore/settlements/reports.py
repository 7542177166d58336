"""Settlement lag: how long card money takes from the sale to the gateway's settlement and payout, and
what is still in flight.

Per gateway, for the settlement lines of the period matched to one of our card payments: the days from
the order's day to the line's settlement day and to its batch's payout day (average, 90th percentile,
longest), and the gross settled. Beside them, what is captured and not settled yet at the period's end:
the card payments at the gateway with no settled charge line, their amount and the oldest one's age.
A growing lag, or money in flight for longer than the gateway's usual lag, is what finance chases.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Date, and_, cast, exists, func, select, type_coerce
from sqlalchemy.orm import Session

from retailcore.accounting.reports import Report
from retailcore.adapters.orm import Amount
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.settlements.tables import Gateway, SettlementBatch, SettlementLine

ZERO = Decimal(0)
SETTLED_KINDS = ("charge",)
"""The lines that settle a sale (refunds, fees and payouts are not a sale's money arriving)."""


class SettlementLagRow(BaseModel):
    gateway: str
    currency: str
    settled_lines: int
    settled_gross: DecimalStr
    days_to_settle_avg: DecimalStr | None
    days_to_settle_p90: int | None
    days_to_settle_max: int | None
    days_to_payout_avg: DecimalStr | None
    in_flight_payments: int
    in_flight_amount: DecimalStr
    oldest_in_flight_days: int | None


class SettlementLag(Report):
    date_from: dt.date
    date_to: dt.date
    rows: list[SettlementLagRow]

    def title(self) -> str:
        return f"Settlement lag {self.date_from} to {self.date_to}"

    def table(self) -> tuple[list[str], list[list[Any]]]:
        header = list(SettlementLagRow.model_fields)
        return header, [[getattr(row, name) for name in header] for row in self.rows]

    def summary(self) -> list[tuple[str, Any]]:
        return [
            ("settled lines", sum(row.settled_lines for row in self.rows)),
            ("payments in flight", sum(row.in_flight_payments for row in self.rows)),
        ]


def _percentile(days: list[tuple[int, int]], share: Decimal) -> int:
    """The nearest-rank percentile of sorted ``(days, how many lines)``."""
    rank = max(1, math.ceil(share * sum(count for _, count in days)))
    seen = 0
    for value, count in days:
        seen += count
        if seen >= rank:
            return value
    return days[-1][0]


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite keeps UTC text; date() gives 'YYYY-MM-DD'


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def settlement_lag(
    session: Session, company_id: uuid.UUID, date_from: dt.date | None, date_to: dt.date | None
) -> SettlementLag:
    """The lag report for settlement lines dated ``date_from``..``date_to`` (default: the last 30 days
    to today), and what is in flight at ``date_to``."""
    end = date_to or dt.datetime.now(dt.UTC).date()
    start = date_from or end - dt.timedelta(days=29)
    if start > end:
        raise ValidationFailed(
            "date_from is after date_to", problems=[FieldProblem("date_from", "must not be after date_to")]
        )
    gateways = {
        row.id: row for row in session.scalars(select(Gateway).where(Gateway.company_id == company_id))
    }
    line, payment, order, batch = SettlementLine, OrderPaymentRow, OrderRow, SettlementBatch
    # Summed in SQL per gateway, sale day, settlement day and payout day: a month of a chain's card
    # sales is tens of thousands of lines, but only a few hundred such groups.
    sold_on = _utc_day(session, order.ordered_at)
    settled: dict[uuid.UUID, list[tuple[int, int | None, int, Decimal]]] = defaultdict(list)
    for gateway_id, sold_day, settled_on, paid_on, count, gross in session.execute(
        select(
            line.gateway_id,
            sold_on,
            line.occurred_on,
            batch.paid_on,
            func.count(),
            type_coerce(func.sum(line.gross), Amount()),
        )
        .join(payment, payment.id == line.payment_id)
        .join(order, and_(order.company_id == payment.company_id, order.id == payment.order_id))
        .outerjoin(batch, batch.id == line.batch_id)
        .where(
            line.company_id == company_id,
            line.kind.in_(SETTLED_KINDS),
            line.occurred_on >= start,
            line.occurred_on <= end,
        )
        .group_by(line.gateway_id, sold_on, line.occurred_on, batch.paid_on)
    ):
        sale_day = _as_date(sold_day) if sold_day is not None else settled_on
        settled[gateway_id].append(
            (
                max((settled_on - sale_day).days, 0),
                max((paid_on - sale_day).days, 0) if paid_on is not None else None,
                count,
                gross,
            )
        )
    # Captured at a gateway, ordered by the period's end, and no charge of it settled (by then).
    charge_settled = exists().where(
        line.payment_id == payment.id, line.kind.in_(SETTLED_KINDS), line.occurred_on <= end
    )
    in_flight: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    codes = {gateway.code for gateway in gateways.values()}
    if codes:
        for code, ordered_at, captured, refunded in session.execute(
            select(payment.gateway, order.ordered_at, payment.captured, payment.refunded)
            .join(order, and_(order.company_id == payment.company_id, order.id == payment.order_id))
            .where(
                payment.company_id == company_id,
                payment.gateway.in_(sorted(codes)),
                payment.captured > ZERO,
                order.ordered_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC),
                ~charge_settled,
            )
        ):
            age = (end - ordered_at.date()).days if ordered_at is not None else 0
            in_flight[code].append((age, captured - refunded))
    rows = []
    for gateway in sorted(gateways.values(), key=lambda g: g.code):
        groups = settled.get(gateway.id, [])
        to_settle = sorted((days, count) for days, _, count, _ in groups)
        to_payout = [(days, count) for _, days, count, _ in groups if days is not None]
        flying = in_flight.get(gateway.code, [])
        rows.append(
            SettlementLagRow(
                gateway=gateway.code,
                currency=gateway.currency,
                settled_lines=sum(count for _, count in to_settle),
                settled_gross=sum((gross for _, _, _, gross in groups), ZERO),
                days_to_settle_avg=_average(to_settle),
                days_to_settle_p90=_percentile(to_settle, Decimal("0.9")) if to_settle else None,
                days_to_settle_max=to_settle[-1][0] if to_settle else None,
                days_to_payout_avg=_average(to_payout),
                in_flight_payments=len(flying),
                in_flight_amount=sum((amount for _, amount in flying), ZERO),
                oldest_in_flight_days=max((age for age, _ in flying), default=None),
            )
        )
    return SettlementLag(date_from=start, date_to=end, rows=rows)


def _average(days: list[tuple[int, int]]) -> Decimal | None:
    """The mean of ``(days, how many lines)``, to a tenth of a day."""
    lines = sum(count for _, count in days)
    if not lines:
        return None
    return (Decimal(sum(value * count for value, count in days)) / lines).quantize(Decimal("0.1"))
