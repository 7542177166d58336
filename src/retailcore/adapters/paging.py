"""Keyset pagination: the one way lists are paged.

Rows are ordered by a unique column (ids are UUIDv7, so id order is creation order) and a page starts
after the last value the client saw; pages stay stable while others insert, and no OFFSET is scanned.
A list shown in a natural order that no single column makes unique (exchange rates by currency, then
date) is ordered by columns unique together, and its cursor is the id of the last row of a page.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from retailcore.core.errors import FieldProblem, ValidationFailed


def keyset_page(
    session: Session, query: Select[Any], column: InstrumentedAttribute[Any], limit: int, after: Any
) -> tuple[list[Any], Any]:
    """Up to ``limit`` rows of ``query`` ordered by ``column`` after ``after`` (None: from the start),
    and the value to pass as ``after`` for the next page (None on the last page)."""
    if after is not None:
        query = query.where(column > after)
    rows = list(session.scalars(query.order_by(column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (getattr(rows[-1], column.key) if more else None)


def keyset_page_in_order(
    session: Session,
    query: Select[Any],
    columns: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    after_id: uuid.UUID | None,
) -> tuple[list[Any], uuid.UUID | None]:
    """Up to ``limit`` rows of ``query`` ordered by ``columns`` (unique together) after the row whose id
    is ``after_id``, and the id of this page's last row to pass as ``after_id`` (None on the last page)."""
    if after_id is not None:
        anchor = session.get(columns[0].class_, after_id)
        if anchor is None:
            raise ValidationFailed(
                "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
            )
        after = tuple(getattr(anchor, column.key) for column in columns)
        query = query.where(tuple_(*columns) > tuple_(*after))
    rows = list(session.scalars(query.order_by(*columns).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)
