"""Many rows into one table, as fast as the backend allows, with the columns' own type checks.

PostgreSQL: ``COPY ... FROM STDIN`` (one statement, rows streamed), which is several times faster than
an ``executemany`` of single-row INSERTs. SQLite: one ``executemany`` on the driver's cursor with the
values already converted. Either way every value goes through its column type's bind processing first
(exact decimals are checked and scaled, JSON dumped, datetimes kept in UTC), so what lands is what an
ORM insert would write; only SQLAlchemy's generic per-statement parameter handling is skipped, which
was most of the cost of a POS batch (tens of values per sale, a hundred thousand sales).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


@lru_cache(maxsize=256)
def _plan(
    table: Table, names: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[tuple[int, Callable[[Any], Any]]]]:
    """The statement and the (position, processor) of the columns whose type converts values."""
    for name in names:
        if name not in table.c:
            raise KeyError(f"{table.name} has no column {name}")
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    if dialect.name == "postgresql":
        statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
    else:
        marks = ", ".join("?" for _ in names)
        statement = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"
    processors = [
        (position, processor)
        for position, name in enumerate(names)
        if (processor := table.c[name].type._cached_bind_processor(dialect)) is not None
    ]
    return statement, processors


def _convert(rows: Sequence[list[Any]], processors: list) -> None:
    """Turn the rows' values into driver values, in place. Rows of one batch share many value objects
    (the company, the order of three lines, a line's taxes, zero amounts, one timestamp): a value object
    seen before in this call reuses its converted form instead of being converted again. Objects are
    told apart by identity, which is safe because ``rows`` keeps every one of them alive meanwhile."""
    seen: list[dict[int, Any]] = [{} for _ in processors]
    for values in rows:
        for (position, process), done in zip(processors, seen, strict=True):
            value = values[position]
            key = id(value)
            if key in done:
                values[position] = done[key]
            else:
                values[position] = done[key] = process(value)


def insert_values(session: Session, table: Table, names: Sequence[str], rows: Sequence[list[Any]]) -> None:
    """Insert ``rows`` (lists of values in the order of ``names``) into ``table`` in the session's
    transaction. The lists are converted in place: the caller hands them over."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    statement, processors = _plan(table, tuple(names), dialect)
    width = len(names)
    if any(len(values) != width for values in rows):
        raise ValueError(f"every row of {table.name} must have {width} values")
    _convert(rows, processors)
    driver_error = dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(statement) as copy:
                for values in rows:
                    copy.write_row(values)
        else:
            cursor.executemany(statement, rows)
    except driver_error as error:
        # The same exception classes SQLAlchemy raises (IntegrityError...), so callers catch one kind.
        raise DBAPIError.instance(statement, None, error, driver_error, dialect=dialect) from error
    finally:
        cursor.close()


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    names = tuple(rows[0])
    getter = itemgetter(*names)
    if len(names) == 1:
        insert_values(session, table, names, [[row[names[0]]] for row in rows])
    else:
        insert_values(session, table, names, [list(getter(row)) for row in rows])
