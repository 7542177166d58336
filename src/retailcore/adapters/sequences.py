"""Gap-free document numbers: one counter row per key, advanced inside the transaction that uses it.

``UPDATE ... SET next_number = next_number + 1 RETURNING`` locks the counter row until the transaction
ends, so concurrent users queue for it and a rolled-back transaction gives its number back: numbers
have no gaps. The first number of a key inserts the row; when two transactions do that at the same
instant, the loser's insert fails on the primary key once the winner commits, and it takes the next
number from the winner's row instead (inside a savepoint, so its transaction carries on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, Update, and_, bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

_ADVANCES: dict[tuple[Table, tuple[str, ...]], Update] = {}
"""The advancing UPDATE per counter table and key columns, built once: building it per number cost about
as much as running it (every posted entry and every till receipt takes one)."""


def _advance_statement(table: Table, names: tuple[str, ...]) -> Update:
    statement = _ADVANCES.get((table, names))
    if statement is None:
        statement = (
            update(table)
            .where(and_(*(table.c[name] == bindparam(f"key_{name}") for name in names)))
            .values(next_number=table.c.next_number + 1)
            .returning(table.c.next_number)
        )
        _ADVANCES[(table, names)] = statement
    return statement


def _advance(session: Session, table: Table, key: Mapping[str, Any]) -> int | None:
    names = tuple(sorted(key))
    statement = _advance_statement(table, names)
    taken = session.execute(statement, {f"key_{name}": key[name] for name in names}).scalar()
    return None if taken is None else taken - 1


def take_next(session: Session, table: Table, key: Mapping[str, Any], **row: Any) -> int:
    """The next number of ``key`` in the counter ``table`` (columns ``key`` + ``next_number``);
    ``row`` gives the other columns of a new counter row."""
    number = _advance(session, table, key)
    if number is not None:
        return number
    try:
        with session.begin_nested():
            session.execute(insert(table).values(**key, **row, next_number=2))
        return 1
    except IntegrityError:
        number = _advance(session, table, key)  # another transaction created the row meanwhile
        assert number is not None
        return number
