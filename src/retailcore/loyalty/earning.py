"""Earning points on orders, and taking them back on a refund (decision 0049).

Downstream of the orders context: it reads an order's state, customer, total and loyalty tenders.
:mod:`retailcore.loyalty.services` (the programme, accounts, burning) stays upstream of orders, which
burns points through it as a tender.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from retailcore.core.errors import Conflict, FieldProblem, InvalidReference
from retailcore.eventlog.services import CommandContext
from retailcore.loyalty import commands as c
from retailcore.loyalty.services import (
    append_movement,
    earned_view,
    enrolled_account,
    move_points,
    movement_once,
    points_for,
    programme_of,
    record_points_event,
    running_programme,
    value_of,
)
from retailcore.loyalty.tables import LoyaltyAccount, LoyaltyMovement
from retailcore.masterdata.tables import Company
from retailcore.orders.tables import OrderPaymentRow, OrderRow

__all__ = ["earn_for_order", "reverse_for_order"]

EARNING_STATES = frozenset({"fulfilled", "invoiced", "closed"})
"""Goods delivered: a POS sale is born fulfilled."""
LOYALTY = "loyalty"


def _order(session: Session, company: Company, order_id: uuid.UUID, field: str) -> OrderRow:
    row = session.get(OrderRow, order_id)
    if row is None or row.company_id != company.id:
        raise InvalidReference(f"no order {order_id}", problems=[FieldProblem(field, "no such order")])
    return row


def _paid_by_points(session: Session, order: OrderRow) -> Decimal:
    return session.scalar(
        select(func.coalesce(func.sum(OrderPaymentRow.captured), 0)).where(
            OrderPaymentRow.company_id == order.company_id,
            OrderPaymentRow.order_id == order.id,
            OrderPaymentRow.kind == LOYALTY,
        )
    ) or Decimal(0)


def earn_for_order(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, *, field: str = "order_id"
) -> c.Earned:
    """Points for a delivered order, once (``LoyaltyPointsEarned``, posted loyalty_cost / loyalty_liability
    at the points' value). The basis is the order's gross total less what points paid. Refused: an
    unknown order (``422``), an order not delivered yet (``409 order-not-delivered``), no customer or no
    account (``409 loyalty-not-enrolled``), no active programme (``409 loyalty-inactive``). Nothing to
    earn (0 points) writes nothing."""
    order = _order(session, company, order_id, field)
    programme = running_programme(session, company.id, field)
    account = enrolled_account(session, company.id, order.customer_id, field)
    key = f"earn:{order.id}"
    if (existing := movement_once(session, company.id, key)) is not None:
        return earned_view(account, order.id, existing)
    if order.state not in EARNING_STATES:
        raise Conflict(
            f"order {order.number} is {order.state}: points are earned once it is delivered",
            code="order-not-delivered",
            problems=[FieldProblem(field, f"is {order.state}")],
        )
    if order.currency != programme.currency:
        raise Conflict(
            f"order {order.number} is in {order.currency}, the programme in {programme.currency}",
            code="loyalty-currency",
            problems=[FieldProblem(field, f"not in {programme.currency}")],
        )
    basis = max(order.gross_total - _paid_by_points(session, order), Decimal(0))
    points = points_for(basis, programme.points_per_unit, programme.rounding)
    if points <= 0:
        return earned_view(account, order.id, None)
    balance = move_points(session, account, points)
    assert balance is not None
    value = value_of(points, programme)
    movement = append_movement(
        session,
        ctx,
        account,
        kind="earn",
        points=points,
        balance=balance,
        value=value,
        reference=order.number,
        order_id=order.id,
        once_key=key,
    )
    record_points_event(
        session, ctx, account, "LoyaltyPointsEarned", programme, points, value, order, basis=basis
    )
    return earned_view(account, order.id, movement)


def reverse_for_order(
    session: Session, ctx: CommandContext, company: Company, order_id: uuid.UUID, *, field: str = "order_id"
) -> c.Earned:
    """Take back the points an order earned (it was refunded) and its refunds did not take back already
    (:mod:`retailcore.loyalty.automatic`): at most what the account still holds, once
    (``LoyaltyPointsReversed``, posted loyalty_liability / loyalty_cost). An order that earned
    nothing reverses nothing."""
    order = _order(session, company, order_id, field)
    account = enrolled_account(session, company.id, order.customer_id, field)
    key = f"reverse:{order.id}"
    if (existing := movement_once(session, company.id, key)) is not None:
        return earned_view(account, order.id, existing)
    earned = movement_once(session, company.id, f"earn:{order.id}")
    programme = programme_of(session, company.id)
    if earned is None or programme is None:
        return earned_view(account, order.id, None)
    session.execute(  # the row lock first: what the account holds cannot change under us
        update(LoyaltyAccount)
        .where(LoyaltyAccount.id == account.id)
        .values(balance=LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    )
    session.refresh(account)
    taken = -(
        session.scalar(  # what refunds took back already (loyalty.automatic): never twice
            select(func.coalesce(func.sum(LoyaltyMovement.points), 0)).where(
                LoyaltyMovement.company_id == company.id,
                LoyaltyMovement.order_id == order.id,
                LoyaltyMovement.kind == "reverse",
            )
        )
        or 0
    )
    points = min(earned.points - taken, account.balance)
    if points <= 0:
        return earned_view(account, order.id, None)
    balance = move_points(session, account, -points, at_least=points)
    assert balance is not None
    value = value_of(points, programme)
    movement = append_movement(
        session,
        ctx,
        account,
        kind="reverse",
        points=-points,
        balance=balance,
        value=-value,
        reference=order.number,
        order_id=order.id,
        once_key=key,
    )
    record_points_event(session, ctx, account, "LoyaltyPointsReversed", programme, points, value, order)
    return earned_view(account, order.id, movement)
