"""Reading the exceptions console: one exception, and the list with its filters, by age or priority.

Priority = severity weight x class weight x (1 + log10(1 + money at risk)) x (1 + age in days). The
row keeps the first three factors as ``stake`` (thousandths); the age is counted here, at the time of
the request, so that an old problem climbs the list. In SQL the score is ``stake x (86400 + now -
created)`` in whole seconds (an integer on both backends); shown, it is divided by 86,400,000 and
given to the cent.

Pages are keyset pages like every list: by age (the default) the cursor is the last id (oldest
first); by priority it is ``<now>.<score>.<id>`` of the page's last row, so that every page of one
listing counts the age from the same instant and no row is skipped or shown twice as time passes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import epoch_seconds
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.masterdata.tables import Company
from retailcore.monitoring.commands import ExceptionPage, ExceptionView
from retailcore.monitoring.tables import UNRESOLVED, ExceptionCase

DAY = 86_400
SCALE = 1000 * DAY
CENT = Decimal("0.01")
Sort = Literal["age", "priority"]


def _seconds(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def priority(row: ExceptionCase, now: dt.datetime) -> Decimal:
    """The row's priority as of ``now`` (the same figure the list sorts by)."""
    score = row.stake * (DAY + _seconds(now) - _seconds(row.created_at))
    return (Decimal(score) / SCALE).quantize(CENT)


def view(row: ExceptionCase, now: dt.datetime | None = None) -> ExceptionView:
    now = now or utcnow()
    return ExceptionView(
        id=row.id,
        company_id=row.company_id,
        type=row.type,
        kind=row.type,
        severity=row.severity,
        status=row.status,
        amount_at_risk=row.amount_at_risk,
        currency=row.currency,
        priority=priority(row, now),
        exception_class=row.exception_class,
        class_confidence=row.class_confidence,
        class_source=row.class_source,
        age_seconds=max(_seconds(now) - _seconds(row.created_at), 0),
        occurrences=row.occurrences,
        owner=row.owner,
        resolution=row.resolution,
        dedupe_key=row.dedupe_key,
        store_id=row.store_id,
        product_id=row.product_id,
        location_id=row.location_id,
        order_id=row.order_id,
        connector_id=row.connector_id,
        sync_message_id=row.sync_message_id,
        message=row.message,
        details=row.details or {},
        event_id=row.event_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
    )


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
    )


LARGEST = 2**62
"""Bound of a cursor's numbers: both fit a 64-bit integer column's arithmetic."""


def _priority_cursor(cursor: str) -> tuple[int, int, uuid.UUID]:
    try:
        at, score, last = cursor.split(".")
        found = int(at), int(score), uuid.UUID(last)
    except ValueError:
        raise _bad_cursor() from None
    if not (0 <= found[0] < 2**40 and 0 <= found[1] < LARGEST):
        raise _bad_cursor()
    return found


def list_exceptions(
    session: Session,
    company: Company,
    *,
    visible_store_id: uuid.UUID | None = None,
    type: str | None = None,
    status: str | None = None,
    severity: str | None = None,
    store_id: uuid.UUID | None = None,
    owner: str | None = None,
    product_id: uuid.UUID | None = None,
    connector_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    sort: Sort = "age",
    limit: int = 50,
    cursor: str | None = None,
    now: dt.datetime | None = None,
    types: tuple[str, ...] | None = None,
) -> ExceptionPage:
    """The company's exceptions, oldest first or by priority (highest first). ``status`` also takes
    ``unresolved`` (open or acknowledged). A store-scoped caller (``visible_store_id``) sees its store's
    exceptions only."""
    query = select(ExceptionCase).where(ExceptionCase.company_id == company.id)
    for column, value in (
        (ExceptionCase.store_id, visible_store_id),
        (ExceptionCase.store_id, store_id),
        (ExceptionCase.type, type),
        (ExceptionCase.severity, severity),
        (ExceptionCase.owner, owner),
        (ExceptionCase.product_id, product_id),
        (ExceptionCase.connector_id, connector_id),
        (ExceptionCase.order_id, order_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if types is not None:
        query = query.where(ExceptionCase.type.in_(types))
    if status == "unresolved":
        query = query.where(ExceptionCase.status.in_(UNRESOLVED))
    elif status is not None:
        query = query.where(ExceptionCase.status == status)
    if sort == "priority":
        return _by_priority(session, query, limit, cursor, now)
    if cursor is not None:
        try:
            after = uuid.UUID(cursor)
        except ValueError:
            raise _bad_cursor() from None
        query = query.where(ExceptionCase.id > after)
    rows = list(session.scalars(query.order_by(ExceptionCase.id).limit(limit + 1)))
    now = now or utcnow()
    more = len(rows) > limit
    rows = rows[:limit]
    return ExceptionPage(
        items=[view(row, now) for row in rows], next_cursor=str(rows[-1].id) if more else None
    )


def _by_priority(session, query, limit: int, cursor: str | None, now: dt.datetime | None) -> ExceptionPage:  # type: ignore[no-untyped-def]
    if cursor is not None:
        at, last_score, last_id = _priority_cursor(cursor)
    else:
        at = _seconds(now or utcnow())
    score = (ExceptionCase.stake * (DAY + at - epoch_seconds(session, ExceptionCase.created_at))).label(
        "score"
    )
    if cursor is not None:
        query = query.where(or_(score < last_score, and_(score == last_score, ExceptionCase.id > last_id)))
    found = list(
        session.execute(query.add_columns(score).order_by(score.desc(), ExceptionCase.id).limit(limit + 1))
    )
    more = len(found) > limit
    found = found[:limit]
    as_of = dt.datetime.fromtimestamp(at, dt.UTC)
    items = [view(row, as_of) for row, _ in found]
    next_cursor = f"{at}.{found[-1][1]}.{found[-1][0].id}" if more else None
    return ExceptionPage(items=items, next_cursor=next_cursor)
