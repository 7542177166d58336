"""What an original order line can still give back: one conditional update per line, safe under
concurrency on both backends.

``order_line_returns`` holds per original order line the quantity claimed by returns (requested and
not cancelled) and the quantity refunded. A claim is a single ``UPDATE ... WHERE returned + q <= sold``:
on PostgreSQL the row lock makes a second, concurrent claim wait and re-check the condition against
the first one's result; SQLite writes one transaction at a time. A claim that does not fit updates no
row and is refused with ``409 return-exceeds-sold``. POS refunds at the till reuse
:func:`claim_returnable` as it is.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from retailcore.core.errors import Conflict, FieldProblem
from retailcore.orders import tables as t
from retailcore.returns.tables import OrderLineReturn

__all__ = ["claim_refundable", "claim_returnable", "release_returnable", "returned_so_far"]


def _ensure_row(
    session: Session, company_id: uuid.UUID, order_id: uuid.UUID, order_line_id: uuid.UUID
) -> None:
    values = {
        "order_line_id": order_line_id,
        "company_id": company_id,
        "order_id": order_id,
        "returned_quantity": Decimal(0),
        "refunded_quantity": Decimal(0),
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(OrderLineReturn)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["order_line_id"])
    )
    session.execute(statement)


def claim_returnable(
    session: Session,
    *,
    company_id: uuid.UUID,
    order_id: uuid.UUID,
    order_line_id: uuid.UUID,
    quantity: Decimal,
    field: str = "quantity",
) -> Decimal:
    """Claim ``quantity`` of an original order line for a return: refused (``409 return-exceeds-sold``,
    nothing written) unless sold (delivered) minus already returned covers it. Returns the line's
    returned quantity after the claim."""
    _ensure_row(session, company_id, order_id, order_line_id)
    sold = (
        select(t.OrderLineRow.fulfilled_quantity).where(t.OrderLineRow.id == order_line_id).scalar_subquery()
    )
    returned = session.execute(
        update(OrderLineReturn)
        .where(
            OrderLineReturn.order_line_id == order_line_id,
            OrderLineReturn.returned_quantity + quantity <= sold,
        )
        .values(returned_quantity=OrderLineReturn.returned_quantity + quantity)
        .returning(OrderLineReturn.returned_quantity)
        .execution_options(synchronize_session=False)
    ).scalar()
    if returned is None:
        have = returned_so_far(session, order_line_id)
        delivered = session.scalar(sold.element) or Decimal(0)  # type: ignore[attr-defined]
        left = max(delivered - have, Decimal(0))
        raise Conflict(
            f"only {left.normalize():f} of this order line can still be returned"
            f" ({delivered.normalize():f} sold, {have.normalize():f} already returned)",
            code="return-exceeds-sold",
            problems=[FieldProblem(field, f"at most {left.normalize():f}")],
        )
    return returned


def release_returnable(session: Session, order_line_id: uuid.UUID, quantity: Decimal) -> None:
    """Give back a claim that will not be refunded (a return cancelled before its goods arrived)."""
    session.execute(
        update(OrderLineReturn)
        .where(OrderLineReturn.order_line_id == order_line_id)
        .values(returned_quantity=OrderLineReturn.returned_quantity - quantity)
        .execution_options(synchronize_session=False)
    )


def claim_refundable(session: Session, order_line_id: uuid.UUID, quantity: Decimal) -> Decimal:
    """Count ``quantity`` as refunded on the original line; returns the refunded quantity *before*
    (the refund's share of the line is read between before and after). Never beyond what returns
    claimed, which is never beyond what was sold."""
    after = session.execute(
        update(OrderLineReturn)
        .where(
            OrderLineReturn.order_line_id == order_line_id,
            OrderLineReturn.refunded_quantity + quantity <= OrderLineReturn.returned_quantity,
        )
        .values(refunded_quantity=OrderLineReturn.refunded_quantity + quantity)
        .returning(OrderLineReturn.refunded_quantity)
        .execution_options(synchronize_session=False)
    ).scalar()
    if after is None:
        raise Conflict(
            "this order line cannot be refunded beyond what was returned",
            code="refund-exceeds-returned",
            problems=[FieldProblem("quantity", "more than returned")],
        )
    return after - quantity


def returned_so_far(session: Session, order_line_id: uuid.UUID) -> Decimal:
    found = session.scalar(
        select(OrderLineReturn.returned_quantity).where(OrderLineReturn.order_line_id == order_line_id)
    )
    return found if found is not None else Decimal(0)
