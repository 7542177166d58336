"""Keyset pagination: the one way lists are paged.

Rows are ordered by a unique column (ids are UUIDv7, so id order is creation order) and a page starts
after the last value the client saw; pages stay stable while others insert, and no OFFSET is scanned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session


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
