"""Query helpers that pick the cheaper SQL form per backend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, Table, any_, bindparam, cast, extract, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement


def one_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter instead of one per
    value. A POS batch looks up a thousand sale ids and a few hundred products at a time: each value
    of an ``IN`` list is a parameter that SQLAlchemy renders and psycopg converts, in Python, and a
    different number of them is a different statement to plan. The array is one parameter, one plan."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def update_rows(
    session: Session,
    table: Table,
    keys: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *criteria: ColumnElement[bool],
) -> None:
    """Set ``columns`` of many rows at once: each row gives the values of ``keys`` (which row) then of
    ``columns`` (its new values), through the columns' own types. ``criteria`` apply to every row.

    PostgreSQL: one ``UPDATE ... FROM unnest(:keys, :values...)``, one statement and one round trip
    whatever the number of rows. SQLite (in process, no round trips): one ``executemany``."""
    if not rows:
        return
    names = (*keys, *columns)
    if session.get_bind().dialect.name == "postgresql":
        arrays = [
            bindparam(f"all_{name}", [row[position] for row in rows], type_=ARRAY(table.c[name].type))
            for position, name in enumerate(names)
        ]
        given = func.unnest(*arrays).table_valued(*names).render_derived()
        session.execute(
            update(table)
            .where(*criteria, *(table.c[key] == given.c[key] for key in keys))
            .values({name: given.c[name] for name in columns})
        )
        return
    parameters = [f"key_{name}" for name in keys] + [f"new_{name}" for name in columns]
    session.execute(
        update(table)
        .where(*criteria, *(table.c[key] == bindparam(f"key_{key}", type_=table.c[key].type) for key in keys))
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns}),
        [dict(zip(parameters, row, strict=True)) for row in rows],
    )


def epoch_seconds(session: Session, column: Any) -> ColumnElement[int]:
    """Whole seconds since 1970 of a ``UTCDateTime`` column, as an integer expression: PostgreSQL's
    ``EXTRACT(EPOCH ...)``; on SQLite ``strftime('%s', ...)`` of the stored UTC text."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)
