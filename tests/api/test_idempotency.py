"""Idempotency-Key: a POST or PATCH sent twice is done once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from apitools import API, assert_problem, events
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from retailcore.entrypoints.api import deps
from retailcore.eventlog.tables import IdempotentRequest


def product_body(company: dict[str, Any], sku: str = "IDEM-1", **fields: Any) -> dict[str, Any]:
    return {
        "company_id": company["id"],
        "sku": sku,
        "name": "Mug",
        "category": "Kitchen",
        "list_price": "4.50",
        **fields,
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/products", lambda company: product_body(company)),
        ("/customers", lambda company: {"company_id": company["id"], "name": "Jane"}),
        ("/stores", lambda company: {"company_id": company["id"], "code": "S7", "name": "Seven"}),
    ],
    ids=["product", "customer-with-generated-code", "store-with-its-locations"],
)
def test_the_same_post_twice_with_one_key_creates_once_and_replays_the_response(
    client, admin, company, runtime, snapshot, path, body
):
    # given a request sent once with a key
    headers = {**admin, "Idempotency-Key": "order-42"}
    first = client.post(f"{API}{path}", json=body(company), headers=headers)
    assert first.status_code == 201, first.text
    after_first = snapshot()

    # when it is sent again, identical
    second = client.post(f"{API}{path}", json=body(company), headers=headers)

    # then the first response comes back, marked as a replay, and nothing more was written
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"] == f"{API}{path}/{first.json()['id']}"
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert snapshot() == after_first
    created = events(runtime, aggregate_id=uuid.UUID(first.json()["id"]))
    assert len(created) == 1
    assert created[0].idempotency_key == "order-42"


def test_a_replayed_company_creation_seeds_its_chart_once(client, admin, runtime):
    body = {"code": "ONCE", "name": "Once Ltd", "currency": "GBP", "country": "GB"}
    headers = {**admin, "Idempotency-Key": "company-once"}
    first = client.post(f"{API}/companies", json=body, headers=headers)
    count = len(events(runtime))

    second = client.post(f"{API}/companies", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert len(events(runtime)) == count
    assert len(events(runtime, type="CompanyCreated")) == 1


def test_without_a_key_the_same_post_twice_is_a_duplicate(client, admin, company):
    # the contrast: what the key protects against
    assert client.post(f"{API}/products", json=product_body(company), headers=admin).status_code == 201

    second = client.post(f"{API}/products", json=product_body(company), headers=admin)

    assert_problem(second, 409, "duplicate-sku")


@pytest.mark.parametrize(
    "second_request",
    [
        lambda client, company, headers: client.post(
            f"{API}/products", json=product_body(company, list_price="5.00"), headers=headers
        ),
        lambda client, company, headers: client.post(
            f"{API}/customers", json={"company_id": company["id"], "name": "Jane"}, headers=headers
        ),
    ],
    ids=["different-body", "different-path"],
)
def test_the_same_key_with_another_request_is_refused(client, admin, company, snapshot, second_request):
    # given a key already used for a product
    headers = {**admin, "Idempotency-Key": "k-1"}
    assert client.post(f"{API}/products", json=product_body(company), headers=headers).status_code == 201
    before = snapshot()

    # when it comes back with another request
    response = second_request(client, company, headers)

    # then that request is refused and nothing is written
    body = assert_problem(response, 422, "idempotency-key-reused")
    assert "k-1" in body["detail"]
    assert snapshot() == before


def test_different_tokens_may_use_the_same_key_independently(client, auth, company, runtime):
    # given two clients, each with its own token
    first_client = {**auth("integration", company="ACME"), "Idempotency-Key": "import-1"}
    second_client = {**auth("integration", company="ACME"), "Idempotency-Key": "import-1"}

    # when each sends its own request with the same key
    one = client.post(f"{API}/products", json=product_body(company, "ONE"), headers=first_client)
    two = client.post(f"{API}/products", json=product_body(company, "TWO"), headers=second_client)

    # then both are done: a key only identifies a request within one client
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert "Idempotent-Replayed" not in two.headers
    assert len(events(runtime, type="ProductCreated")) == 2


def test_a_request_refused_with_a_key_can_be_corrected_and_resent_with_that_key(
    client, admin, company, runtime
):
    headers = {**admin, "Idempotency-Key": "retry-me"}
    refused = client.post(f"{API}/products", json=product_body(company, list_price="-1"), headers=headers)
    assert_problem(refused, 422, fields=("list_price",))

    corrected = client.post(f"{API}/products", json=product_body(company), headers=headers)
    again = client.post(f"{API}/products", json=product_body(company), headers=headers)

    assert corrected.status_code == 201, corrected.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == corrected.json()
    assert len(events(runtime, type="ProductCreated")) == 1


def test_a_request_refused_as_a_duplicate_with_a_key_can_be_corrected(
    client, admin, company, product_factory
):
    product_factory("TAKEN")
    headers = {**admin, "Idempotency-Key": "dup-then-fix"}
    assert_problem(client.post(f"{API}/products", json=product_body(company, "TAKEN"), headers=headers), 409)

    corrected = client.post(f"{API}/products", json=product_body(company, "FREE"), headers=headers)

    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["sku"] == "FREE"


def test_a_patch_sent_twice_with_one_key_is_applied_once(client, admin, product_factory, runtime):
    # given a product at version 1
    product = product_factory("P")
    headers = {**admin, "Idempotency-Key": "reprice-1"}
    url = f"{API}/products/{product['id']}"

    # when the same change is sent twice with one key
    first = client.patch(url, json={"list_price": "12.00"}, headers=headers)
    second = client.patch(url, json={"list_price": "12.00"}, headers=headers)

    # then it was applied once
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert client.get(url, headers=admin).json()["version"] == 2
    assert len(events(runtime, type="ProductUpdated")) == 1


def test_only_the_first_response_is_kept_per_key(client, admin, company, runtime):
    headers = {**admin, "Idempotency-Key": "stored"}
    client.post(f"{API}/products", json=product_body(company), headers=headers)
    client.post(f"{API}/products", json=product_body(company), headers=headers)

    with runtime.session_factory() as session:
        stored = session.scalars(select(IdempotentRequest)).all()

    assert [(r.idempotency_key, r.status_code) for r in stored] == [("stored", 201)]


@pytest.mark.parametrize("key", ["", "   ", "x" * 256])
def test_a_blank_or_overlong_key_is_refused(client, admin, company, snapshot, key):
    before = snapshot()

    response = client.post(
        f"{API}/products", json=product_body(company), headers={**admin, "Idempotency-Key": key}
    )

    assert_problem(response, 422)
    assert snapshot() == before


class _LockCycle(Exception):
    """What psycopg raises when PostgreSQL breaks a deadlock by rolling one transaction back."""

    sqlstate = "40P01"


def _failing_encoder(failures: int) -> tuple[Any, list[int]]:
    """The response's encoding (``deps._content``) failing the first ``failures`` calls as a deadlock
    would: the command's work has run and written by then, in the transaction about to be rolled back."""
    content = deps._content

    calls: list[int] = []

    def encode(value: Any) -> Any:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("UPDATE journal_sequences ...", {}, _LockCycle("deadlock detected"))
        return content(value)

    return encode, calls


def test_a_command_rolled_back_by_a_deadlock_runs_again_and_writes_once(
    client, admin, company, runtime, monkeypatch
):
    # given a database that breaks a lock cycle by rolling back the command's first run
    encode, calls = _failing_encoder(failures=1)
    monkeypatch.setattr(deps, "_content", encode)

    # when a customer is created
    created = client.post(
        f"{API}/customers", json={"company_id": company["id"], "name": "Jane"}, headers=admin
    )

    # then the command ran twice, answered once, and the customer and its event exist once
    assert created.status_code == 201, created.text
    assert len(calls) == 2
    assert len(events(runtime, aggregate_id=uuid.UUID(created.json()["id"]))) == 1
    listed = client.get(f"{API}/customers", params={"company_id": company["id"]}, headers=admin).json()
    assert [c["name"] for c in listed["items"]].count("Jane") == 1


def test_a_command_that_keeps_deadlocking_gives_up_after_its_attempts_and_writes_nothing(
    client, admin, company, runtime, monkeypatch
):
    # given a database that rolls the command back every time
    encode, calls = _failing_encoder(failures=deps.TRANSIENT_ATTEMPTS)
    monkeypatch.setattr(deps, "_content", encode)

    # when a customer is created, it fails after its attempts
    with pytest.raises(OperationalError):
        client.post(f"{API}/customers", json={"company_id": company["id"], "name": "Jane"}, headers=admin)

    # then nothing was written
    assert len(calls) == deps.TRANSIENT_ATTEMPTS
    listed = client.get(f"{API}/customers", params={"company_id": company["id"]}, headers=admin).json()
    assert "Jane" not in [c["name"] for c in listed["items"]]
