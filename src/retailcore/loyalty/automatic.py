"""Points earned when a sale is final and taken back when its goods come back, without anyone asking
(decision 0056).

Rules of the flow:

* **A web, marketplace or b2b order earns on delivery**: the ``OrderFulfilled`` that leaves it
  ``fulfilled`` (every line handed over) earns through :func:`retailcore.loyalty.earning.earn_for_order`,
  in the fulfilment's transaction. A partial fulfilment earns nothing yet; an invoice earns nothing (the
  goods, not the paper, make a sale final; a b2b order invoiced before delivery earns when delivered).
* **A POS sale with a customer earns at its session's close**, in bulk: the close reads the session's
  sales with an enrolled customer that have not earned yet (one query), moves each account's balance once
  and posts one ``LoyaltyPointsEarned`` for the session. The batch ingest is not touched (it is the
  speed-critical path). Until the close, ``POST /loyalty/earnings`` can still earn a sale by hand.
* **Once.** Every earning carries ``once_key`` ``earn:<order id>`` (unique per company), whichever path
  wrote it: a replayed fulfilment or close, or the explicit endpoint before or after, never earns twice.
* **Goods back take points back in proportion**: after a refund is approved (``ReturnRefundApproved``,
  settled when the transaction commits, once the return's lines carry the refund) and at a POS session's
  close for the refunds its batches took, the order's points taken back are brought to ``round_half_up(
  earned x goods refunded (gross) / order gross)``, at most what was earned. The target is cumulative, so
  a replay or a second look takes nothing more.
* **Never below zero**: a reversal takes at most what the account holds; points burned meanwhile stay
  burned. The shortfall is owed: a later reversal of the same order takes it if the balance allows.

Downstream of orders and returns (it reads their rows); only the composition root installs it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from retailcore.adapters.bulk import insert_values
from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of, update_rows
from retailcore.core.errors import Conflict
from retailcore.core.ids import new_ids
from retailcore.eventlog.services import CommandContext, record, subscribe
from retailcore.eventlog.tables import Event
from retailcore.loyalty.earning import EARNING_STATES, LOYALTY, earn_for_order
from retailcore.loyalty.services import points_for, programme_of, record_points_event, value_of
from retailcore.loyalty.tables import LoyaltyAccount, LoyaltyMovement
from retailcore.masterdata.tables import Company
from retailcore.orders.tables import OrderPaymentRow, OrderRow
from retailcore.returns.tables import ReturnLineRow, ReturnRow

__all__ = ["install", "reversal_target", "settle_reversal"]

PENDING = "loyalty.reversals"


# -- earning ---------------------------------------------------------------------------------------------


def _delivered(session: Session, ctx: CommandContext, event: Event) -> None:
    order = session.get(OrderRow, event.aggregate_id)
    if (
        order is None
        or order.channel == "pos"
        or order.customer_id is None
        or order.state not in EARNING_STATES
    ):
        return
    company = session.get(Company, order.company_id)
    assert company is not None
    try:
        earn_for_order(session, ctx, company, order.id)
    except Conflict:
        # Not enrolled, no active programme, another currency: nothing to earn. earn_for_order refuses
        # before it writes anything.
        return


def earn_at_close(
    session: Session,
    ctx: CommandContext,
    company_id: uuid.UUID,
    session_id: uuid.UUID,
    reference: str,
    store_id: Any,
) -> int:
    """The points of a closed POS session's sales with an enrolled customer, not earned yet: one movement
    per sale (``earn:<order id>``), the accounts' balances set in one statement, one
    ``LoyaltyPointsEarned`` for the session. Returns the points earned."""
    programme = programme_of(session, company_id)
    if programme is None or not programme.active:
        return 0
    sales = select(OrderRow.id).where(
        OrderRow.company_id == company_id, OrderRow.pos_session_id == session_id
    )
    rows = session.execute(
        select(OrderRow.id, OrderRow.number, OrderRow.gross_total, LoyaltyAccount.id)
        .join(
            LoyaltyAccount,
            (LoyaltyAccount.company_id == OrderRow.company_id)
            & (LoyaltyAccount.customer_id == OrderRow.customer_id),
        )
        .where(
            OrderRow.company_id == company_id,
            OrderRow.pos_session_id == session_id,
            OrderRow.state.in_(EARNING_STATES),
            OrderRow.currency == programme.currency,
        )
        .order_by(OrderRow.id)
    ).all()
    if not rows:
        return 0
    # The accounts' rows locked and read in one statement (in id order: two closes never deadlock) before
    # what was earned already is read: an earning by hand of one of these sales has committed, or waits.
    # Their new balances are written in one more statement, the movements in one bulk insert.
    held = dict(
        session.execute(
            select(LoyaltyAccount.id, LoyaltyAccount.balance)
            .where(LoyaltyAccount.id.in_(sorted({account_id for *_, account_id in rows})))
            .order_by(LoyaltyAccount.id)
            .with_for_update()
        ).all()
    )
    earned = set(
        session.scalars(
            select(LoyaltyMovement.order_id).where(
                LoyaltyMovement.company_id == company_id,
                LoyaltyMovement.kind == "earn",
                LoyaltyMovement.order_id.in_(sales),
            )
        )
    )
    by_points = dict(
        session.execute(
            select(OrderPaymentRow.order_id, func.sum(OrderPaymentRow.captured))
            .where(
                OrderPaymentRow.company_id == company_id,
                OrderPaymentRow.kind == LOYALTY,
                OrderPaymentRow.order_id.in_(sales),
            )
            .group_by(OrderPaymentRow.order_id)
        ).all()
    )
    per_account: dict[uuid.UUID, list[tuple[uuid.UUID, str, int]]] = defaultdict(list)
    for order_id, number, gross, account_id in rows:
        if order_id in earned:
            continue
        basis = max(gross - (by_points.get(order_id) or Decimal(0)), Decimal(0))
        points = points_for(basis, programme.points_per_unit, programme.rounding)
        if points > 0:
            per_account[account_id].append((order_id, number, points))
    if not per_account:
        return 0
    at = ctx.occurred_at or utcnow()
    total_points, total_value, balances, movements = 0, Decimal(0), [], []
    ids = iter(new_ids(sum(len(earnings) for earnings in per_account.values())))
    for account_id, earnings in per_account.items():
        running = held[account_id]
        for order_id, number, points in earnings:
            running += points
            value = value_of(points, programme)
            total_points += points
            total_value += value
            movements.append(
                (next(ids), company_id, account_id, "earn", points, running, value, order_id, number[:100],
                 f"earn:{order_id}", at, ctx.actor)
            )  # fmt: skip
        balances.append((account_id, running))
    update_rows(session, LoyaltyAccount.__table__, ("id",), ("balance",), balances)
    insert_values(session, LoyaltyMovement.__table__, MOVEMENT_COLUMNS, movements)
    for loaded in list(session.identity_map.values()):  # balances changed under the identity map
        if isinstance(loaded, LoyaltyAccount) and loaded.id in held:
            session.expire(loaded, ["balance"])
    record(
        session,
        ctx,
        type="LoyaltyPointsEarned",
        company_id=company_id,
        aggregate_type="PosSession",
        aggregate_id=session_id,
        payload={
            "session_id": session_id,
            "currency": programme.currency,
            "points": total_points,
            "point_value": programme.point_value,
            "amount": total_value,
            "sales": len(movements),
            "accounts": len(per_account),
            "order_ref": reference,
            "reference": reference,
            "store_id": store_id,
        },
        store_id=store_id,
    )
    return total_points


MOVEMENT_COLUMNS = (
    "id", "company_id", "account_id", "kind", "points", "balance_after", "value", "order_id", "reference",
    "once_key", "created_at", "created_by",
)  # fmt: skip


# -- taking back -------------------------------------------------------------------------------------------


def reversal_target(earned: int, refunded: Decimal, gross: Decimal) -> int:
    """The points an order's refunds take back in all (pure): ``earned x refunded / gross``, rounded half
    up, at most ``earned``."""
    if earned <= 0 or refunded <= 0 or gross <= 0:
        return 0
    share = (Decimal(earned) * refunded / gross).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return min(earned, int(share))


def settle_reversal(session: Session, ctx: CommandContext, company_id: uuid.UUID, order_id: uuid.UUID) -> int:
    """Bring the points taken back from an order to :func:`reversal_target` of what its returns refunded
    so far (``LoyaltyPointsReversed`` for the difference), at most what the account holds. Returns the
    points taken back now."""
    earning = session.scalar(
        select(LoyaltyMovement).where(
            LoyaltyMovement.company_id == company_id, LoyaltyMovement.once_key == f"earn:{order_id}"
        )
    )
    programme = programme_of(session, company_id)
    order = session.get(OrderRow, order_id)
    if earning is None or programme is None or order is None:
        return 0
    session.execute(  # the account's row lock first: its balance and movements cannot change under us,
        # and a concurrent refund of the order has committed before we read what was refunded
        update(LoyaltyAccount)
        .where(LoyaltyAccount.id == earning.account_id)
        .values(balance=LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    )
    refunded = session.scalar(
        select(func.sum(ReturnLineRow.refunded_net + ReturnLineRow.refunded_tax))
        .join(ReturnRow, ReturnRow.id == ReturnLineRow.return_id)
        .where(ReturnRow.company_id == company_id, ReturnRow.order_id == order_id)
    ) or Decimal(0)
    target = reversal_target(earning.points, refunded, order.gross_total)
    if target <= 0:
        return 0
    account = session.get(LoyaltyAccount, earning.account_id, populate_existing=True)
    assert account is not None
    taken = -(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyMovement.points), 0)).where(
                LoyaltyMovement.company_id == company_id,
                LoyaltyMovement.order_id == order_id,
                LoyaltyMovement.kind == "reverse",
            )
        )
        or 0
    )
    points = min(target - taken, account.balance)
    if points <= 0:
        return 0
    balance = session.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.id == account.id)
        .values(balance=LoyaltyAccount.balance - points)
        .returning(LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.refresh(account)
    value = value_of(points, programme)
    session.add(
        LoyaltyMovement(
            company_id=company_id,
            account_id=account.id,
            kind="reverse",
            points=-points,
            balance_after=balance,
            value=-value,
            order_id=order.id,
            reference=order.number[:100],
            once_key=None,
            created_by=ctx.actor,
            **({"created_at": ctx.occurred_at} if ctx.occurred_at else {}),
        )
    )
    session.flush()
    record_points_event(
        session,
        ctx,
        account,
        "LoyaltyPointsReversed",
        programme,
        points,
        value,
        order,
        refunded=refunded,
        earned=earning.points,
    )
    return points


def _refund_approved(session: Session, ctx: CommandContext, event: Event) -> None:
    row = session.get(ReturnRow, event.aggregate_id)
    if row is None or row.order_id is None:
        return
    # The approval is recorded before the return's lines carry the refund: settled at commit.
    session.info.setdefault(PENDING, {})[(row.company_id, row.order_id)] = ctx


def _session_closed(session: Session, ctx: CommandContext, event: Event) -> None:
    payload = event.payload
    earn_at_close(
        session, ctx, event.company_id, event.aggregate_id, payload.get("reference") or "", event.store_id
    )
    numbers: set[str] = set()
    for batch in session.scalars(
        select(Event.payload).where(
            Event.company_id == event.company_id,
            Event.type == "PosSalesIngested",
            Event.aggregate_id == event.aggregate_id,
        )
    ):
        numbers.update(uuid.UUID(value).hex for value in (batch or {}).get("refunds", ()))
    if not numbers:
        return
    orders = session.scalars(
        select(ReturnRow.order_id)
        .where(
            ReturnRow.company_id == event.company_id,
            ReturnRow.number.in_(sorted(numbers)),
            ReturnRow.order_id.is_not(None),
        )
        .distinct()
    )
    # Only orders that earned points have points to take back: one query for the session's refunded
    # orders, instead of reading each order and its earning (a session may hold hundreds of refunds).
    keys = {f"earn:{order_id}": order_id for order_id in set(orders)}
    earned = session.scalars(
        select(LoyaltyMovement.once_key).where(
            LoyaltyMovement.company_id == event.company_id, one_of(session, LoyaltyMovement.once_key, keys)
        )
    )
    for order_id in sorted({keys[key] for key in earned}, key=str):
        settle_reversal(session, ctx, event.company_id, order_id)


def _before_commit(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if pending:
        for (company_id, order_id), ctx in sorted(pending.items(), key=lambda item: str(item[0][1])):
            settle_reversal(session, ctx, company_id, order_id)


def _after_soft_rollback(session: Session, previous_transaction: object) -> None:
    session.info.pop(PENDING, None)


def install() -> None:
    subscribe("OrderFulfilled", _delivered)
    subscribe("PosSessionClosed", _session_closed)
    subscribe("ReturnRefundApproved", _refund_approved)
    if not sa_event.contains(Session, "before_commit", _before_commit):
        sa_event.listen(Session, "before_commit", _before_commit)
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)
