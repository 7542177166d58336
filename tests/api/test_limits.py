"""Bounded requests: a body too large, a batch with too many lines, JSON nested too deeply are refused
before anything is parsed at length, and nothing is written (docs/api.md, Limits)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from apitools import API, assert_problem

from retailcore.entrypoints.settings import Settings
from retailcore.pos.commands import MAX_LINES_PER_BATCH, MAX_LINES_PER_SALE

LIMIT = Settings().max_body_bytes


@pytest.fixture
def session_id(client, admin, company, store_factory):
    store = store_factory("S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"company_id": company["id"], "store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=admin,
    )
    assert terminal.status_code == 201, terminal.text
    opened = client.post(f"{API}/pos/sessions", json={"terminal_id": terminal.json()["id"]}, headers=admin)
    assert opened.status_code == 201, opened.text
    return opened.json()["id"]


def _sale(lines: int) -> dict:
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": dt.datetime.now(dt.UTC).isoformat(),
        "lines": [{"product_id": str(uuid.uuid4()), "quantity": "1", "unit_price": "1.00"}] * lines,
        "payments": [],
    }


def test_a_body_over_the_limit_is_refused_from_its_content_length(client, admin, session_id, snapshot):
    before = snapshot()
    body = b'{"sales": [' + b" " * (LIMIT + 1) + b"]}"

    response = client.post(
        f"{API}/pos/sessions/{session_id}/sales:batch",
        content=body,
        headers={**admin, "Content-Type": "application/json"},
    )

    assert_problem(response, 413, "payload-too-large")
    assert snapshot() == before


def test_a_body_over_the_limit_without_a_length_is_refused_while_it_is_read(
    client, admin, session_id, snapshot
):
    before = snapshot()

    def chunks():
        yield b'{"sales": ['
        for _ in range(LIMIT // 65536 + 2):
            yield b" " * 65536
        yield b"]}"

    response = client.post(
        f"{API}/pos/sessions/{session_id}/sales:batch",
        content=chunks(),
        headers={**admin, "Content-Type": "application/json"},
    )

    assert "content-length" not in response.request.headers  # sent chunked
    assert_problem(response, 413, "payload-too-large")
    assert snapshot() == before


def test_a_content_length_that_is_not_a_number_is_a_bad_request(client, admin, session_id):
    response = client.post(
        f"{API}/pos/sessions/{session_id}/sales:batch",
        content=b"{}",
        headers={**admin, "Content-Type": "application/json", "Content-Length": "lots"},
    )

    assert_problem(response, 400, "bad-content-length")


def test_a_batch_with_too_many_lines_is_refused(client, admin, session_id, snapshot):
    per_sale = MAX_LINES_PER_SALE
    sales = [_sale(per_sale) for _ in range(MAX_LINES_PER_BATCH // per_sale + 1)]
    before = snapshot()

    response = client.post(
        f"{API}/pos/sessions/{session_id}/sales:batch", json={"sales": sales}, headers=admin
    )

    problem = assert_problem(response, 422, "validation-failed", fields=("sales",))
    assert f"at most {MAX_LINES_PER_BATCH}" in problem["errors"][0]["detail"]
    assert snapshot() == before


def test_a_sale_with_too_many_lines_is_refused(client, admin, session_id, snapshot):
    before = snapshot()

    response = client.post(
        f"{API}/pos/sessions/{session_id}/sales:batch",
        json={"sales": [_sale(MAX_LINES_PER_SALE + 1)]},
        headers=admin,
    )

    assert_problem(response, 422, "validation-failed", fields=("sales.0.lines",))
    assert snapshot() == before


def test_json_nested_too_deeply_is_refused(client, admin, company, snapshot):
    before = snapshot()
    deep = "[" * 100_000 + "]" * 100_000

    response = client.post(
        f"{API}/customers",
        content=f'{{"company_id": "{company["id"]}", "name": {deep}}}'.encode(),
        headers={**admin, "Content-Type": "application/json"},
    )

    assert_problem(response, 422, "json-too-deep", fields=("body",))
    assert snapshot() == before


def test_a_body_under_the_limit_goes_through(client, admin, company):
    response = client.post(
        f"{API}/customers",
        content=json.dumps({"company_id": company["id"], "name": "Ada"}).encode(),
        headers={**admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text
