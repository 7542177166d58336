"""Matching settlement lines to our own card payments, set-based: a few ``UPDATE`` statements over all
the new lines of a file at once, never a query per line (decision 0035).

1. **By gateway reference**: the line's ``reference`` (Stripe charge, Adyen psp reference), then its
   ``reference2`` (Stripe payment intent), equal to a card payment's ``reference`` at that gateway.
2. **By order reference**, for what is left: the line's ``order_ref`` equal to an order's number, with a
   card payment at that gateway whose captured amount is within ``AMOUNT_WINDOW`` of the line's gross
   and an order created within ``[window_from, window_to]`` (the line's date minus ``DAYS_BEFORE``, plus
   ``DAYS_AFTER``). A line the gateway converted from the order's currency (a foreign-currency
   till's card sale settled in the company's) is compared by its ``original_gross`` instead.

Each step is one ``UPDATE ... FROM`` join that both backends run with the indexes on
``order_payments (company_id, gateway, reference)`` and ``orders (company_id, number)``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.settlements.tables import SettlementLine

PAYMENT_KINDS = (
    "charge",
    "refund",
    "refund_failure",
    "partial_capture_reversal",
    "dispute",
    "dispute_reversal",
)
"""Lines about one card payment; fees, payouts and adjustments are about the gateway account."""
AMOUNT_WINDOW = Decimal("0.10")
"""By order reference, the line's gross may differ from the captured amount by this share of it (a
partial capture, a converted amount): the difference then becomes a mismatch, not a miss."""
DAYS_BEFORE = 60
DAYS_AFTER = 1


def window(day: dt.date) -> tuple[dt.date, dt.date]:
    """The dates an order matched by reference to a line of ``day`` may have been created between."""
    return day - dt.timedelta(days=DAYS_BEFORE), day + dt.timedelta(days=DAYS_AFTER)


def match_file(session: Session, company_id: uuid.UUID, gateway: str, file_id: uuid.UUID) -> int:
    """Match the unmatched payment lines of one file; returns how many lines are matched after it.

    Each step is one ``UPDATE ... FROM`` join (PostgreSQL hashes or merges it; SQLite walks the
    reference index). Two payments of ours with one gateway reference would be ambiguous: the join then
    takes either, as the gateway reference is meant to be unique per gateway."""
    lines = SettlementLine.__table__
    payments = OrderPaymentRow.__table__
    orders = OrderRow.__table__
    todo = and_(
        lines.c.file_id == file_id,
        lines.c.payment_id.is_(None),
        lines.c.kind.in_(PAYMENT_KINDS),
    )
    for column in (lines.c.reference, lines.c.reference2):
        session.execute(
            update(lines)
            .where(
                todo,
                payments.c.company_id == company_id,
                payments.c.gateway == gateway,
                payments.c.reference == column,
            )
            .values(payment_id=payments.c.id, match="gateway_reference")
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(lines)
        .where(
            todo,
            orders.c.company_id == company_id,
            orders.c.number == lines.c.order_ref,
            orders.c.created_at >= lines.c.window_from,
            orders.c.created_at < lines.c.window_to,
            payments.c.company_id == company_id,
            payments.c.order_id == orders.c.id,
            payments.c.gateway == gateway,
            payments.c.kind == "card",
            or_(
                func.abs(payments.c.authorized - func.abs(lines.c.gross))
                <= payments.c.authorized * AMOUNT_WINDOW,
                # Sold in another currency (a foreign-currency till) and converted by the gateway:
                # the amounts compared are the sale's, the line's original (decision 0062).
                and_(
                    orders.c.currency == lines.c.original_currency,
                    func.abs(payments.c.authorized - func.abs(lines.c.original_gross))
                    <= payments.c.authorized * AMOUNT_WINDOW,
                ),
            ),
        )
        .values(payment_id=payments.c.id, match="order_reference")
        .execution_options(synchronize_session=False)
    )
    return (
        session.scalar(
            select(func.count())
            .select_from(lines)
            .where(lines.c.file_id == file_id, lines.c.payment_id.is_not(None))
        )
        or 0
    )
