"""Every collection pages the same way: ``{"items": [...], "next_cursor": ...}``, ``limit`` and ``cursor``.

Issue 14 (decision 0021). The OpenAPI document is walked, so that a list added later is held to the
same shape: every GET without path parameters that answers a collection (an array, an object with
``items``, or an operation that takes ``limit`` or a cursor) declares the envelope, takes ``limit`` and
``cursor``, answers the envelope, and pages through a small collection one item at a time.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from apitools import API
from fastapi.testclient import TestClient

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.demo import load_demo

REF = "#/components/schemas/"

NOT_COLLECTIONS = {
    f"{API}/reports/general-ledger": "a report of one account: its `lines` come a page at a time with "
    "`cursor`, beside the balances that frame them (docs/reports.md)",
    f"{API}/reports/open-items": "a report as of a date: its `items` come with the totals per account and "
    "aging bucket they add up to, so they are not cut into pages (docs/fx-and-reconciliation.md)",
}
"""GET operations that look like collections (``items``, ``limit`` or ``cursor``) but are not, and why
(docs/api.md, "Pagination")."""

MADE_IN_TWOS = (
    "/pos/terminals",
    "/pos/sessions",
    "/journals",
    "/fiscal-years",
    "/posting-rules",
    "/stock/safety-stock",
    "/exchange-rates",
    "/events",
    "/products",
    "/stores",
)
"""Collections the fixture fills with at least two items, so that paging one at a time is exercised
(the lists that answered a bare array before issue 14 among them)."""


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


def json_schema(doc: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation["responses"]["200"].get("content", {})
    return resolve(doc, content.get("application/json", {}).get("schema", {}))


def is_collection(doc: dict[str, Any], operation: dict[str, Any]) -> bool:
    schema = json_schema(doc, operation)
    items = resolve(doc, schema.get("properties", {}).get("items", {}))
    names = {parameter["name"] for parameter in operation.get("parameters", [])}
    return schema.get("type") == "array" or items.get("type") == "array" or bool(names & {"limit", "cursor"})


def collections(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, operations in doc["paths"].items():
        operation = operations.get("get")
        if operation is None or "{" in path or path in NOT_COLLECTIONS:
            continue
        if is_collection(doc, operation):
            found.append((path, operation))
    return found


def nullable_string(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    options = [resolve(doc, option) for option in schema.get("anyOf", [schema])]
    return {option.get("type") for option in options} == {"string", "null"}


@pytest.fixture
def no_rate_limit(monkeypatch):
    """Requested before ``runtime``: the walk sends a few hundred requests in seconds."""
    monkeypatch.setenv("RETAILCORE_RATE_LIMIT_PER_SECOND", "0")


@pytest.fixture
def demo(no_rate_limit, runtime, client, auth) -> dict[str, Any]:
    """The demo company with a few products, and two of each kind of thing the lists above show."""
    with transaction(runtime.session_factory) as session:
        load_demo(session, CommandContext(system_principal("test")), products=3)
    admin = auth("admin", company="DEMO")
    finance = auth("finance", company="DEMO")

    def post(path: str, body: dict[str, Any], headers: dict[str, str] = admin, method: str = "POST") -> Any:
        response = client.request(method, f"{API}{path}", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    products = client.get(f"{API}/products", headers=admin).json()["items"]
    for code, store in (("T1", "PAR01"), ("T2", "LYO01")):
        terminal = post("/pos/terminals", {"store_id": store, "code": code, "name": f"Till {code}"})
        post("/pos/sessions", {"terminal_id": terminal["id"]})
    for channel in ("web", "marketplace"):
        post("/stock/safety-stock", {"channel": channel, "quantity": "1"}, method="PUT")
    for currency in ("USD", "GBP"):
        post("/exchange-rates", {"currency": currency, "date": "2026-03-02", "rate": "1.1"}, finance)
    post("/fiscal-years", {"start_date": "2030-01-01"}, finance)
    return {"admin": admin, "finance": finance, "products": products}


def test_every_collection_pages_the_same_way(demo, client):
    doc = client.get(f"{API}/openapi.json").json()
    found = collections(doc)
    failures: list[str] = []
    paged: dict[str, int] = {}
    for path, operation in found:
        where = f"GET {path}"
        schema = json_schema(doc, operation)
        properties = schema.get("properties", {})
        if schema.get("type") != "object" or set(properties) != {"items", "next_cursor"}:
            failures.append(f"{where}: the 200 schema is not the envelope {{items, next_cursor}}: {schema}")
            continue
        if resolve(doc, properties["items"]).get("type") != "array":
            failures.append(f"{where}: items is not an array")
        if not nullable_string(doc, properties["next_cursor"]):
            failures.append(f"{where}: next_cursor is not a string or null")
        if not {"items", "next_cursor"} <= set(schema.get("required", [])):
            failures.append(f"{where}: items and next_cursor are not both required")
        parameters = {p["name"]: p for p in operation.get("parameters", [])}
        if not {"limit", "cursor"} <= set(parameters):
            failures.append(f"{where}: takes {sorted(parameters)}, not limit and cursor")
            continue
        required = [name for name, p in parameters.items() if p.get("required")]
        if required:
            failures.append(f"{where}: a collection needs no filter, but requires {required}")
            continue
        problem, count = walk(client, path, demo)
        if problem:
            failures.append(f"{where}: {problem}")
        paged[path] = count

    assert len(found) >= 30  # the walk found the API's lists
    assert not failures, "\n".join(failures)
    thin = [path for path in MADE_IN_TWOS if paged.get(f"{API}{path}", 0) < 2]
    assert not thin, f"the fixture left these with fewer than two items: {thin}"


def walk(client: TestClient, path: str, demo: dict[str, Any]) -> tuple[str | None, int]:
    """Read ``path`` whole, then one item a page, following ``next_cursor``; what went wrong, and how
    many items there were."""
    headers = demo["admin"]
    whole = client.get(path, params={"limit": 500}, headers=headers)
    if whole.status_code == 403:
        headers = demo["finance"]
        whole = client.get(path, params={"limit": 500}, headers=headers)
    if whole.status_code != 200:
        return f"answered {whole.status_code}: {whole.text[:300]}", 0
    body = whole.json()
    if set(body) != {"items", "next_cursor"} or not isinstance(body["items"], list):
        return f"answered {sorted(body)}, not the envelope", 0
    if body["next_cursor"] is not None:
        return "the fixture's collection does not fit one page of 500", len(body["items"])
    expected = body["items"]
    seen: list[Any] = []
    cursor = None
    for _ in range(len(expected) + 1):
        page = client.get(
            path, params={"limit": 1, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        if page.status_code != 200:
            return f"a page after cursor {cursor!r} answered {page.status_code}: {page.text[:300]}", 0
        content = page.json()
        if set(content) != {"items", "next_cursor"} or len(content["items"]) > 1:
            return f"limit=1 answered {content}", 0
        seen.extend(content["items"])
        cursor = content["next_cursor"]
        if cursor is None:
            break
        if not isinstance(cursor, str):
            return f"next_cursor {cursor!r} is not a string", 0
    if seen != expected:
        return f"one item a page gave {len(seen)} items, one page of 500 gave {len(expected)}", 0
    return None, len(expected)


def test_a_cursor_the_api_did_not_issue_is_refused_naming_it(demo, client):
    for path, cursor in (
        ("/pos/sessions", str(uuid.uuid4())),
        ("/exchange-rates", str(uuid.uuid4())),
        ("/fiscal-years", "not-a-date"),
    ):
        response = client.get(f"{API}{path}", params={"cursor": cursor}, headers=demo["finance"])
        if response.status_code == 403:
            response = client.get(f"{API}{path}", params={"cursor": cursor}, headers=demo["admin"])
        if path == "/pos/sessions":
            # An id is a position in id order: a session opened later simply is not there.
            assert response.status_code == 200 and response.json()["items"] == [], response.text
            continue
        assert response.status_code == 422, response.text
        assert [error["field"] for error in response.json()["errors"]] == ["cursor"]


def test_events_page_with_cursor_and_still_take_after(demo, client):
    first = client.get(f"{API}/events", params={"limit": 2}, headers=demo["admin"]).json()
    by_cursor = client.get(
        f"{API}/events", params={"limit": 2, "cursor": first["next_cursor"]}, headers=demo["admin"]
    ).json()
    by_after = client.get(
        f"{API}/events", params={"limit": 2, "after": first["next_cursor"]}, headers=demo["admin"]
    ).json()
    both = client.get(
        f"{API}/events", params={"cursor": first["next_cursor"], "after": 1}, headers=demo["admin"]
    )

    assert by_cursor == by_after
    assert by_cursor["items"][0]["position"] == first["items"][-1]["position"] + 1
    assert both.status_code == 422
    assert [error["field"] for error in both.json()["errors"]] == ["after"]


def test_exchange_rates_keep_their_order_by_currency_then_date_across_pages(demo, client):
    for date in ("2026-03-01", "2026-03-03"):
        rate = {"currency": "USD", "date": date, "rate": "1.2"}
        assert client.post(f"{API}/exchange-rates", json=rate, headers=demo["finance"]).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/exchange-rates", params=params, headers=demo["finance"]).json()
        seen += [(rate["currency"], rate["date"]) for rate in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == [
        ("GBP", "2026-03-02"),
        ("USD", "2026-03-01"),
        ("USD", "2026-03-02"),
        ("USD", "2026-03-03"),
    ]
