"""Plain helpers for the API tests: problem documents, row counts, the event log, valid barcodes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from retailcore.adapters.schema import metadata
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.tables import Event
from retailcore.masterdata.barcodes import gtin_check_digit

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"


def assert_problem(
    response: Any, status: int, code: str | None = None, fields: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check an RFC 9457 problem document and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status
    assert body["type"] == f"urn:retailcore:problem:{body['code']}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if code is not None:
        assert body["code"] == code, body
    errors = body.get("errors", [])
    for error in errors:
        assert error.keys() == {"field", "pointer", "detail"}
        assert error["pointer"] == "#/" + error["field"].replace(".", "/")
        assert error["detail"]
    named = {error["field"] for error in errors}
    for name in fields:
        assert name in named, body
    return body


def table_counts(runtime: Runtime) -> dict[str, int]:
    """Rows in every table: compare two of these to prove a request wrote nothing."""
    with runtime.session_factory() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in metadata.sorted_tables
        }


def events(runtime: Runtime, **filters: Any) -> list[Event]:
    """Events in log order, optionally filtered by column values (``type="ProductCreated"``)."""
    query = select(Event).order_by(Event.position)
    for name, value in filters.items():
        query = query.where(getattr(Event, name) == value)
    with runtime.session_factory() as session:
        return list(session.scalars(query))


def ean13(stem: int) -> str:
    """A valid EAN-13 built from a 12-digit stem."""
    body = f"{stem:012d}"
    return body + gtin_check_digit(body)


def walk(client: Any, path: str, headers: dict[str, str], limit: int = 2, **params: Any) -> list[dict]:
    """Follow ``next_cursor`` from the first page to the last; return every item in order."""
    items: list[dict] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{API}{path}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]
