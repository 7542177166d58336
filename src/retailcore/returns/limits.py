"""What an original order line can still give back: one conditional update per line, safe under
concurrency on both backends.

``order_line_returns`` holds per original order line the quantity claimed by returns (requested and
not cancelled) and the quantity refunded. A claim is a single ``UPDATE ... WHERE returned + q <= sold``:
on PostgreSQL the row lock makes a second, concurrent claim wait and re-check the condition against
the first one's result; SQLite writes one transaction at a time. A claim that does not fit updates no
row and is refused with ``409 return-exceeds-sold``. POS refunds at the till claim a batch's lines at
once on the same counter (:func:`claim_many`: the rows locked, checked, then one update for all).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import bindparam, func, literal, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from retailcore.adapters.queries import one_of, update_rows
from retailcore.core.errors import Conflict, FieldProblem
from retailcore.orders import tables as t
from retailcore.returns.tables import OrderLineReturn

__all__ = [
    "Claim",
    "claim_many",
    "claim_refundable",
    "claim_returnable",
    "release_returnable",
    "returned_so_far",
]


def _ensure_row(
    session: Session, company_id: uuid.UUID, order_id: uuid.UUID, order_line_id: uuid.UUID
) -> None:
    _missing_counters(session, company_id, [(order_line_id, order_id)])


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


class Claim(NamedTuple):
    order_id: uuid.UUID
    order_line_id: uuid.UUID
    quantity: Decimal
    field: str


def claim_many(session: Session, company_id: uuid.UUID, claims: list[Claim]) -> list[Decimal]:
    """Claim and refund at once (goods and money back in one step, a refund at the till) every claim,
    in order, on the counter :func:`claim_returnable` and :func:`claim_refundable` keep: refused
    (``409 return-exceeds-sold`` naming the claim's field, nothing written) unless what was sold less
    what was returned covers it. Returns each claim's refunded quantity *before* it (the refund's
    share of its line is read between before and after).

    Set-based for a POS batch. PostgreSQL: one statement for all (:func:`_claim_in_one`). SQLite (in
    process, no round trips, one writer at a time): one insert of the missing counter rows, one read of
    the counters, one update for all."""
    if not claims:
        return []
    seen: dict[uuid.UUID, uuid.UUID] = {}
    for claim in claims:
        seen.setdefault(claim.order_line_id, claim.order_id)
    if session.get_bind().dialect.name == "postgresql":
        return _claim_in_one(session, company_id, claims, seen)
    _missing_counters(session, company_id, sorted(seen.items()))
    ids = sorted(seen)
    counters = {
        line_id: [sold or Decimal(0), returned, refunded]
        for line_id, sold, returned, refunded in session.execute(
            select(
                OrderLineReturn.order_line_id,
                t.OrderLineRow.fulfilled_quantity,
                OrderLineReturn.returned_quantity,
                OrderLineReturn.refunded_quantity,
            )
            .join(t.OrderLineRow, t.OrderLineRow.id == OrderLineReturn.order_line_id)
            .where(one_of(session, OrderLineReturn.order_line_id, ids))
            .with_for_update(of=OrderLineReturn)
        )
    }
    befores = []
    for claim in claims:
        counter = counters[claim.order_line_id]
        sold, returned, refunded = counter
        if returned + claim.quantity > sold:
            left = max(sold - returned, Decimal(0))
            raise Conflict(
                f"only {left.normalize():f} of this order line can still be returned"
                f" ({sold.normalize():f} sold, {returned.normalize():f} already returned)",
                code="return-exceeds-sold",
                problems=[FieldProblem(claim.field, f"at most {left.normalize():f}")],
            )
        befores.append(refunded)
        counter[1], counter[2] = returned + claim.quantity, refunded + claim.quantity
    update_rows(
        session,
        OrderLineReturn.__table__,
        ("order_line_id",),
        ("returned_quantity", "refunded_quantity"),
        [(line_id, returned, refunded) for line_id, (_, returned, refunded) in sorted(counters.items())],
    )
    return befores


def _claim_in_one(
    session: Session, company_id: uuid.UUID, claims: list[Claim], orders: dict[uuid.UUID, uuid.UUID]
) -> list[Decimal]:
    """:func:`claim_many` on PostgreSQL: one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE
    ... WHERE returned + q <= sold RETURNING``, whatever the number of lines, where the insert, the
    locked read and the update were three statements (and three round trips, and the read's join).

    Each line's quantities are summed first (an upsert may touch a row once). A line without a counter
    row is inserted only if what it claims fits what was sold; a line with one is updated under its row
    lock, and the condition is checked against the row's latest committed version (``ON CONFLICT DO
    UPDATE`` waits for a concurrent claim's transaction and re-evaluates its ``WHERE`` on the result),
    which is what the ``FOR UPDATE`` read gave. Lines are taken in the order of their ids, so two
    batches lock shared lines in one order. A line missing from what the statement returns did not fit:
    the claim is refused as :func:`claim_many` refuses it, and the caller's transaction, refused, keeps
    nothing of the lines that did."""
    T = OrderLineReturn.__table__
    Line = t.OrderLineRow
    wanted: dict[uuid.UUID, Decimal] = {}
    for claim in claims:
        wanted[claim.order_line_id] = wanted.get(claim.order_line_id, Decimal(0)) + claim.quantity
    ids = sorted(wanted)
    given = (
        func.unnest(
            bindparam("line_ids", ids, type_=ARRAY(T.c.order_line_id.type)),
            bindparam("order_ids", [orders[line] for line in ids], type_=ARRAY(T.c.order_id.type)),
            bindparam("quantities", [wanted[line] for line in ids], type_=ARRAY(T.c.returned_quantity.type)),
        )
        .table_valued("order_line_id", "order_id", "quantity")
        .render_derived()
    )
    sold_given = select(Line.fulfilled_quantity).where(Line.id == given.c.order_line_id).scalar_subquery()
    statement = postgresql.insert(T).from_select(
        ["order_line_id", "company_id", "order_id", "returned_quantity", "refunded_quantity"],
        select(
            given.c.order_line_id,
            literal(company_id, T.c.company_id.type),
            given.c.order_id,
            given.c.quantity,
            given.c.quantity,
        ).where(given.c.quantity <= sold_given),
    )
    # The row in conflict is the line's counter, its order line the one of ``excluded``: named as text,
    # since a column of ``excluded`` (or of the target) would add that table to the subquery's FROM.
    in_conflict = literal_column("excluded.order_line_id", T.c.order_line_id.type)
    sold_counted = select(Line.fulfilled_quantity).where(Line.id == in_conflict).scalar_subquery()
    statement = statement.on_conflict_do_update(
        index_elements=["order_line_id"],
        set_={
            "returned_quantity": T.c.returned_quantity + statement.excluded.returned_quantity,
            "refunded_quantity": T.c.refunded_quantity + statement.excluded.refunded_quantity,
        },
        where=T.c.returned_quantity + statement.excluded.returned_quantity <= sold_counted,
    ).returning(T.c.order_line_id, T.c.refunded_quantity)
    refunded = dict(session.execute(statement).all())
    if len(refunded) != len(wanted):
        _refuse_claims(session, claims, set(wanted) - set(refunded))
    # Each claim's refunded quantity before it: the line's before the batch, then its earlier claims.
    running = {line: refunded[line] - wanted[line] for line in wanted}
    befores = []
    for claim in claims:
        befores.append(running[claim.order_line_id])
        running[claim.order_line_id] += claim.quantity
    return befores


def _refuse_claims(session: Session, claims: list[Claim], refused: set[uuid.UUID]) -> None:
    """Refuse the first claim, in order, of a line that did not fit, as :func:`claim_many` does."""
    counted = dict(
        session.execute(
            select(OrderLineReturn.order_line_id, OrderLineReturn.returned_quantity).where(
                one_of(session, OrderLineReturn.order_line_id, refused)
            )
        ).all()
    )
    sold = dict(
        session.execute(
            select(t.OrderLineRow.id, t.OrderLineRow.fulfilled_quantity).where(
                one_of(session, t.OrderLineRow.id, refused)
            )
        ).all()
    )
    returned = {line: counted.get(line, Decimal(0)) for line in refused}
    first = None
    for claim in claims:
        line = claim.order_line_id
        if line not in refused:
            continue
        first = first or claim
        have, delivered = returned[line], sold.get(line) or Decimal(0)
        if have + claim.quantity > delivered:
            first = claim
            break
        returned[line] = have + claim.quantity
    assert first is not None
    line = first.order_line_id
    have, delivered = returned[line], sold.get(line) or Decimal(0)
    left = max(delivered - have, Decimal(0))
    raise Conflict(
        f"only {left.normalize():f} of this order line can still be returned"
        f" ({delivered.normalize():f} sold, {have.normalize():f} already returned)",
        code="return-exceeds-sold",
        problems=[FieldProblem(first.field, f"at most {left.normalize():f}")],
    )


def _missing_counters(
    session: Session, company_id: uuid.UUID, lines: list[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    """Insert the counter rows of ``lines`` (order line id, order id) that do not exist yet.

    PostgreSQL: one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``, one statement whatever
    the number of lines (an ``executemany`` runs one statement per line on the server). SQLite: one
    cached ``executemany`` (a ``VALUES`` list of as many rows as lines would be compiled anew each batch).
    """
    T = OrderLineReturn.__table__
    if session.get_bind().dialect.name == "postgresql":
        given = (
            func.unnest(
                bindparam("line_ids", [line for line, _ in lines], type_=ARRAY(T.c.order_line_id.type)),
                bindparam("order_ids", [order for _, order in lines], type_=ARRAY(T.c.order_id.type)),
            )
            .table_valued("order_line_id", "order_id")
            .render_derived()
        )
        zero = literal(Decimal(0), T.c.returned_quantity.type)
        session.execute(
            postgresql.insert(T)
            .from_select(
                ["order_line_id", "company_id", "order_id", "returned_quantity", "refunded_quantity"],
                select(
                    given.c.order_line_id,
                    literal(company_id, T.c.company_id.type),
                    given.c.order_id,
                    zero,
                    zero,
                ),
            )
            .on_conflict_do_nothing(index_elements=["order_line_id"])
        )
        return
    session.execute(
        sqlite.insert(T).on_conflict_do_nothing(index_elements=["order_line_id"]),
        [
            {
                "order_line_id": line_id,
                "company_id": company_id,
                "order_id": order_id,
                "returned_quantity": Decimal(0),
                "refunded_quantity": Decimal(0),
            }
            for line_id, order_id in lines
        ],
    )
