"""Many rows into one table, as fast as the backend allows, with the columns' own type checks.

PostgreSQL: ``COPY ... FROM STDIN`` (one statement, rows streamed), which is several times faster than
an ``executemany`` of single-row INSERTs. SQLite: ``executemany``, which is already in-process. Either
way every value goes through its column type's bind processing first (exact decimals are checked and
scaled, JSON dumped, datetimes kept in UTC), so what lands is what an ORM insert would write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in names]
    driver = connection.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    process(row[name]) if process is not None else row[name]
                    for name, process in zip(names, processors, strict=True)
                ]
            )
