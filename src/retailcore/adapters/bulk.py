"""Many rows into one table, as fast as the backend allows, with the columns' own type checks.

PostgreSQL: ``COPY ... FROM STDIN`` (one statement, rows streamed), which is several times faster than
an ``executemany`` of single-row INSERTs. SQLite: one ``executemany`` on the driver's cursor with the
values already converted. Either way every value goes through its column type's bind processing first
(exact decimals are checked and scaled, JSON dumped, datetimes kept in UTC), so what lands is what an
ORM insert would write; only SQLAlchemy's generic per-statement parameter handling is skipped, which
was most of the cost of a POS batch (tens of values per sale, a hundred thousand sales).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Null, Table, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine


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
        if (processor := _processor(table.c[name].type, dialect)) is not None
    ]
    return statement, processors


class JsonList(list):  # type: ignore[type-arg]
    """A list that carries its JSON text (``json.dumps`` of it), made once where the list is built and
    shared read-only (a POS memo's discount records, used by thousands of lines over many batches):
    :func:`insert_values` writes the text into a JSON column instead of dumping the list again. Where
    the text would not be exactly what the column type writes (a custom serializer), the list is
    dumped as any other. Anywhere else it is the list it holds."""

    __slots__ = ("json_text",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.json_text = json.dumps(self)


def _processor(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's bind processor; for ``COPY``, UUIDs and JSON as the text psycopg would write.

    psycopg dumps both in Python, row by row, where a batch repeats the same objects (the company id
    on every row, the taxes shared by lines): as text they go through :func:`_converted`, which
    converts a repeated object once, and ``COPY`` writes the text as it is. A :class:`JsonList` is
    written as its text on either backend when that is what the type would write."""
    if isinstance(column_type, JSON):
        if dialect.name == "postgresql":
            process = _json_text(column_type, dialect._json_serializer or json.dumps)
            plain = dialect._json_serializer is None
        else:
            process = column_type._cached_bind_processor(dialect)
            plain = (
                process is not None
                and dialect._json_serializer is None
                and column_type._str_impl.bind_processor(dialect) is None
            )
        return _prebuilt_json(process) if plain and process is not None else process
    if dialect.name == "postgresql" and isinstance(column_type, Uuid) and column_type.as_uuid:
        return _uuid_text
    return column_type._cached_bind_processor(dialect)


def _prebuilt_json(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def prebuilt(value: Any) -> Any:
        if value.__class__ is JsonList:
            return value.json_text
        return process(value)

    return prebuilt


def _uuid_text(value: Any) -> Any:
    return value.hex if value.__class__ is uuid.UUID else value


def _json_text(column_type: JSON, dumps: Callable[[Any], str]) -> Callable[[Any], str | None]:
    """What SQLAlchemy's JSON type binds (``None`` is JSON null unless ``none_as_null``), as text."""

    def process(value: Any) -> str | None:
        if value is column_type.NULL:
            value = None
        elif isinstance(value, Null) or (value is None and column_type.none_as_null):
            return None
        return dumps(value)

    return process


def _converted(table: Table, rows: Sequence[Sequence[Any]], processors: list, width: int) -> list[tuple]:
    """The rows with their values turned into driver values, column by column. A column often holds
    the same value object many times (the company, the order of three lines, a line's taxes, zero
    amounts, one timestamp): when at most half its values are distinct objects, each is converted once.
    Objects are told apart by identity, which is safe because the column keeps every one of them alive
    meanwhile. Transposing, counting and rebuilding run in C (``zip``, ``map``, ``dict``), so only the
    conversions themselves run Python code."""
    try:
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    except ValueError:
        columns = []
    if len(columns) != width:
        raise ValueError(f"every row of {table.name} must have {width} values")
    for position, process in processors:
        column = columns[position]
        ids = list(map(id, column))
        distinct = dict(zip(ids, column, strict=True))
        if len(distinct) * 2 <= len(column):
            converted = {key: process(value) for key, value in distinct.items()}
            columns[position] = list(map(converted.__getitem__, ids))
        else:
            columns[position] = list(map(process, column))
    return list(zip(*columns, strict=True))


def insert_values(
    session: Session, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (sequences of values in the order of ``names``) into ``table`` in the session's
    transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    statement, processors = _plan(table, tuple(names), dialect)
    rows = _converted(table, rows, processors, len(names))
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
        insert_values(session, table, names, [(row[names[0]],) for row in rows])
    else:
        insert_values(session, table, names, list(map(getter, rows)))
