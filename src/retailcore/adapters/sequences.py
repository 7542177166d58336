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

_ADVANCES: dict[tuple[Table, tuple[str, ...], int | None], Update] = {}
"""The advancing UPDATE per counter table, key columns and extra value returned (by its id: a SQL
expression compares into SQL, not into a bool), built once: building it per number cost about as much
as running it (every posted entry and every till receipt takes one)."""


def _advance_statement(table: Table, names: tuple[str, ...], also: Any = None) -> Update:
    cache_key = (table, names, None if also is None else id(also))
    statement = _ADVANCES.get(cache_key)
    if statement is None:
        returned = [table.c.next_number] if also is None else [table.c.next_number, also]
        statement = (
            update(table)
            .where(and_(*(table.c[name] == bindparam(f"key_{name}") for name in names)))
            .values(next_number=table.c.next_number + 1)
            .returning(*returned)
        )
        _ADVANCES[cache_key] = statement
    return statement


def _advance(session: Session, table: Table, key: Mapping[str, Any]) -> int | None:
    names = tuple(sorted(key))
    statement = _advance_statement(table, names)
    taken = session.execute(statement, {f"key_{name}": key[name] for name in names}).scalar()
    return None if taken is None else taken - 1


_UNREAD = object()


def take_next_reading(
    session: Session,
    table: Table,
    key: Mapping[str, Any],
    also: Any,
    params: Mapping[str, Any],
    **row: Any,
) -> tuple[int, Any]:
    """:func:`take_next`, returning as well the value of ``also`` (a scalar subquery built once by the
    caller, with its own bound ``params``) read by the same statement: one round trip for a number and
    a check that goes with it. The value is :data:`UNREAD` when the number was the key's first (its
    row inserted, nothing read): the caller reads it on its own then."""
    names = tuple(sorted(key))
    statement = _advance_statement(table, names, also)
    taken = session.execute(statement, {**{f"key_{name}": key[name] for name in names}, **params}).first()
    if taken is not None:
        return taken[0] - 1, taken[1]
    return take_next(session, table, key, **row), UNREAD


UNREAD: Any = _UNREAD
"""What :func:`take_next_reading` returns for the value it did not read."""


def give_back(session: Session, table: Table, key: Mapping[str, Any]) -> None:
    """Return the number just taken for ``key`` in this transaction, which turned out not to be used
    (its row is still locked by this transaction, so no one took the next one meanwhile)."""
    session.execute(
        update(table)
        .where(and_(*(table.c[name] == value for name, value in key.items())))
        .values(next_number=table.c.next_number - 1)
    )


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
