"""What every master-data collection shares: create, read with ETag, PATCH with versions and If-Match."""

from __future__ import annotations

import uuid

import pytest
from apitools import API, assert_problem, events

# collection -> (a create body without company_id, a change)
COLLECTIONS = {
    "/companies": (
        {"code": "NEWCO", "name": "New Co", "currency": "EUR", "country": "DE"},
        {"name": "Newer Co"},
    ),
    "/stores": ({"code": "S1", "name": "Store 1", "kind": "warehouse"}, {"active": False}),
    "/locations": (
        {"code": "VIRTUAL/RMA", "name": "Returns", "kind": "supplier"},
        {"name": "Vendor returns"},
    ),
    "/products": ({"sku": "P1", "name": "P", "category": "C", "list_price": "2"}, {"list_price": "2.5"}),
    "/customers": ({"name": "Jane"}, {"email": "jane@example.com"}),
    "/payment-methods": ({"code": "GIFT", "name": "Gift card", "kind": "gift_card"}, {"name": "Gift"}),
    "/tax-rules": (
        {
            "jurisdiction": "FR",
            "tax_category": "standard",
            "taxes": [{"code": "V", "name": "V", "rate_percent": "20"}],
        },
        {"taxes": [{"code": "V", "name": "V", "rate_percent": "21"}]},
    ),
    "/accounts": ({"code": "699", "name": "Sundry", "type": "expense"}, {"reconcilable": True}),
}
AGGREGATES = {
    "/companies": "Company",
    "/stores": "Store",
    "/locations": "Location",
    "/products": "Product",
    "/customers": "Customer",
    "/payment-methods": "PaymentMethod",
    "/tax-rules": "TaxRule",
    "/accounts": "Account",
}


@pytest.fixture(params=list(COLLECTIONS))
def record(request, client, admin, company, runtime):
    """One freshly created record of each collection in turn: (path, record, change)."""
    path = request.param
    body, change = COLLECTIONS[path]
    if path != "/companies":
        body = {"company_id": company["id"], **body}
    response = client.post(f"{API}{path}", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{API}{path}/{response.json()['id']}"
    return path, response.json(), change


def test_a_created_record_is_read_back_with_its_version_as_etag(client, admin, record):
    path, created, _ = record

    response = client.get(f"{API}{path}/{created['id']}", headers=admin)

    assert response.status_code == 200
    assert response.json() == created
    assert created["version"] == 1
    assert response.headers["ETag"] == '"1"'


def test_creating_records_one_created_event(client, admin, record, runtime):
    path, created, _ = record

    recorded = events(runtime, aggregate_id=uuid.UUID(created["id"]))

    assert [e.type for e in recorded] == [f"{AGGREGATES[path]}Created"]
    assert recorded[0].payload["after"]["id"] == created["id"]


def test_a_patch_with_the_current_etag_changes_the_record_and_bumps_its_version(
    client, admin, record, runtime
):
    # given a record read with its ETag
    path, created, change = record
    etag = client.get(f"{API}{path}/{created['id']}", headers=admin).headers["ETag"]

    # when it is changed with If-Match
    response = client.patch(f"{API}{path}/{created['id']}", json=change, headers={**admin, "If-Match": etag})

    # then the change is applied, the rest kept, the version moved on and an event says what changed
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["version"] == 2
    for field in change:
        assert changed[field] != created[field]
    assert {k: v for k, v in changed.items() if k not in (*change, "version", "updated_at")} == {
        k: v for k, v in created.items() if k not in (*change, "version", "updated_at")
    }
    read = client.get(f"{API}{path}/{created['id']}", headers=admin)
    assert read.json() == changed
    assert read.headers["ETag"] == '"2"'
    updated = events(runtime, type=f"{AGGREGATES[path]}Updated")
    assert len(updated) == 1
    assert set(updated[0].payload["changes"]) == set(change)


def test_a_patch_with_a_stale_etag_is_a_412_and_changes_nothing(client, admin, record, snapshot):
    path, created, change = record
    client.patch(f"{API}{path}/{created['id']}", json=change, headers=admin)
    current = client.get(f"{API}{path}/{created['id']}", headers=admin).json()
    before = snapshot()

    response = client.patch(f"{API}{path}/{created['id']}", json=change, headers={**admin, "If-Match": '"1"'})

    body = assert_problem(response, 412, "version-mismatch")
    assert "version 2" in body["detail"]
    assert snapshot() == before
    assert client.get(f"{API}{path}/{created['id']}", headers=admin).json() == current


def test_the_same_patch_twice_changes_the_record_once(client, admin, record, runtime):
    path, created, change = record
    first = client.patch(f"{API}{path}/{created['id']}", json=change, headers=admin)
    count = len(events(runtime))

    second = client.patch(f"{API}{path}/{created['id']}", json=change, headers=admin)

    assert second.status_code == 200
    assert second.json()["version"] == first.json()["version"] == 2
    assert len(events(runtime)) == count
    assert client.get(f"{API}{path}/{created['id']}", headers=admin).headers["ETag"] == '"2"'


def test_an_empty_patch_changes_nothing(client, admin, record, runtime):
    path, created, _ = record
    count = len(events(runtime))

    response = client.patch(f"{API}{path}/{created['id']}", json={}, headers=admin)

    assert response.status_code == 200
    assert response.json() == created
    assert len(events(runtime)) == count


def test_a_patch_with_an_unknown_field_is_a_422(client, admin, record, snapshot):
    path, created, _ = record
    before = snapshot()

    response = client.patch(f"{API}{path}/{created['id']}", json={"nickname": "x"}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=("nickname",))
    assert snapshot() == before


def test_a_patch_of_an_unknown_id_is_a_404(client, admin, record):
    path, _, change = record

    assert_problem(client.patch(f"{API}{path}/{uuid.uuid4()}", json=change, headers=admin), 404, "not-found")
