"""Stores and locations: a store comes with its locations; internal locations belong to a store."""

from __future__ import annotations

import uuid

import pytest
from apitools import API, assert_problem, events, ids


def test_a_new_store_gets_its_stock_backroom_and_damaged_locations(client, admin, company, runtime):
    # when a store is created
    response = client.post(
        f"{API}/stores",
        json={"company_id": company["id"], "code": "PAR1", "name": "Paris 1", "timezone": "Europe/Paris"},
        headers=admin,
    )

    # then it exists, with one location of each internal kind
    assert response.status_code == 201, response.text
    store = response.json()
    assert response.headers["Location"] == f"{API}/stores/{store['id']}"
    assert (store["kind"], store["timezone"], store["active"], store["version"]) == (
        "store",
        "Europe/Paris",
        True,
        1,
    )
    locations = client.get(f"{API}/locations", params={"store_id": store["id"]}, headers=admin).json()[
        "items"
    ]
    assert sorted((loc["kind"], loc["code"]) for loc in locations) == [
        ("backroom", "PAR1/BACKROOM"),
        ("damaged", "PAR1/DAMAGED"),
        ("stock", "PAR1/STOCK"),
    ]
    assert all(loc["company_id"] == company["id"] for loc in locations)
    created = events(runtime, type="LocationCreated", store_id=uuid.UUID(store["id"]))
    assert len(created) == 3
    assert (
        len({e.correlation_id for e in created} | {events(runtime, type="StoreCreated")[0].correlation_id})
        == 1
    )


def test_a_store_may_be_created_without_locations(client, admin, company):
    response = client.post(
        f"{API}/stores",
        json={"company_id": company["id"], "code": "BARE", "name": "Bare", "create_default_locations": False},
        headers=admin,
    )

    assert response.status_code == 201, response.text
    assert client.get(
        f"{API}/locations", params={"store_id": response.json()["id"]}, headers=admin
    ).json() == {
        "items": [],
        "next_cursor": None,
    }


def test_a_store_is_read_with_its_etag_and_changed_by_patch(client, admin, store_factory, runtime):
    store = store_factory("S1")
    read = client.get(f"{API}/stores/{store['id']}", headers=admin)
    assert read.json() == store and read.headers["ETag"] == '"1"'

    response = client.patch(
        f"{API}/stores/{store['id']}",
        json={"timezone": "America/New_York", "tax_jurisdiction": "us-ny"},
        headers={**admin, "If-Match": read.headers["ETag"]},
    )

    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["timezone"], changed["tax_jurisdiction"], changed["version"]) == (
        "America/New_York",
        "US-NY",
        2,
    )
    assert (changed["name"], changed["code"], changed["kind"]) == (
        store["name"],
        store["code"],
        store["kind"],
    )
    update = events(runtime, type="StoreUpdated")
    assert [e.payload["changes"]["timezone"] for e in update] == [{"from": "UTC", "to": "America/New_York"}]
    assert update[0].store_id == uuid.UUID(store["id"])


def test_a_store_patch_with_a_stale_version_is_a_412(client, admin, store_factory, snapshot):
    store = store_factory("S1")
    client.patch(f"{API}/stores/{store['id']}", json={"name": "Renamed"}, headers=admin)
    before = snapshot()

    response = client.patch(
        f"{API}/stores/{store['id']}", json={"active": False}, headers={**admin, "If-Match": '"1"'}
    )

    assert_problem(response, 412)
    assert snapshot() == before
    assert client.get(f"{API}/stores/{store['id']}", headers=admin).json()["active"] is True


def test_a_store_patch_that_changes_nothing_keeps_the_version(client, admin, store_factory, runtime):
    store = store_factory("S1")
    count = len(events(runtime))

    response = client.patch(
        f"{API}/stores/{store['id']}", json={"name": store["name"], "timezone": "UTC"}, headers=admin
    )

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert len(events(runtime)) == count


@pytest.mark.parametrize(("change", "field"), [({"code": "NEW"}, "code"), ({"kind": "warehouse"}, "kind")])
def test_a_stores_code_and_kind_cannot_be_patched(client, admin, store_factory, change, field):
    store = store_factory("S1")

    assert_problem(
        client.patch(f"{API}/stores/{store['id']}", json=change, headers=admin), 422, fields=(field,)
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "warehouse"}, ["W1"]),
        ({"kind": "store"}, ["S1", "S2"]),
        ({"code": "S2"}, ["S2"]),
        ({"active": "false"}, ["S2"]),
        ({}, ["S1", "S2", "W1"]),
    ],
)
def test_stores_are_filtered(client, admin, store_factory, params, expected):
    stores = {
        code: store_factory(code, kind="warehouse" if code.startswith("W") else "store")
        for code in ("S1", "S2", "W1")
    }
    client.patch(f"{API}/stores/{stores['S2']['id']}", json={"active": False}, headers=admin)

    response = client.get(f"{API}/stores", params=params, headers=admin)

    assert response.status_code == 200, response.text
    assert ids(response.json()["items"]) == [stores[code]["id"] for code in expected]


def test_an_invalid_store_kind_filter_is_a_422(client, admin, company):
    assert_problem(
        client.get(f"{API}/stores", params={"kind": "kiosk"}, headers=admin), 422, fields=("kind",)
    )


# -- locations -------------------------------------------------------------------------------------


def test_an_internal_location_is_created_in_a_store_and_a_virtual_one_in_none(
    client, admin, company, store_factory
):
    store = store_factory("S1")

    shelf = client.post(
        f"{API}/locations",
        json={
            "company_id": company["id"],
            "code": "S1/SHELF-A",
            "name": "Shelf A",
            "kind": "stock",
            "store_id": store["id"],
        },
        headers=admin,
    )
    returns = client.post(
        f"{API}/locations",
        json={"company_id": company["id"], "code": "VIRTUAL/RETURNS", "name": "Returns", "kind": "customer"},
        headers=admin,
    )

    assert shelf.status_code == returns.status_code == 201, (shelf.text, returns.text)
    assert (shelf.json()["store_id"], shelf.json()["kind"]) == (store["id"], "stock")
    assert (returns.json()["store_id"], returns.json()["kind"]) == (None, "customer")
    assert client.get(f"{API}/locations/{shelf.json()['id']}", headers=admin).json() == shelf.json()


@pytest.mark.parametrize(
    ("kind", "with_store", "message"),
    [
        ("stock", False, "required for kind 'stock'"),
        ("backroom", False, "required for kind 'backroom'"),
        ("damaged", False, "required for kind 'damaged'"),
        ("supplier", True, "must be absent for kind 'supplier'"),
        ("in_transit", True, "must be absent for kind 'in_transit'"),
        ("inventory_loss", True, "must be absent for kind 'inventory_loss'"),
    ],
)
def test_internal_locations_need_a_store_and_virtual_ones_refuse_one(
    client, admin, company, store_factory, snapshot, kind, with_store, message
):
    store = store_factory("S1")
    body = {"company_id": company["id"], "code": "L", "name": "L", "kind": kind}
    if with_store:
        body["store_id"] = store["id"]
    before = snapshot()

    response = client.post(f"{API}/locations", json=body, headers=admin)

    problem = assert_problem(response, 422, "validation-failed", fields=("store_id",))
    assert problem["errors"] == [{"field": "store_id", "pointer": "#/store_id", "detail": message}]
    assert snapshot() == before


def test_a_location_is_changed_by_patch(client, admin, store_factory, runtime):
    store_factory("S1")
    stock = client.get(f"{API}/locations", params={"code": "S1/STOCK"}, headers=admin).json()["items"][0]

    response = client.patch(
        f"{API}/locations/{stock['id']}", json={"name": "Main floor", "active": False}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["active"], response.json()["version"]) == (
        "Main floor",
        False,
        2,
    )
    assert (response.json()["kind"], response.json()["store_id"]) == (stock["kind"], stock["store_id"])
    assert events(runtime, type="LocationUpdated")[0].payload["changes"] == {
        "name": {"from": stock["name"], "to": "Main floor"},
        "active": {"from": True, "to": False},
    }


@pytest.mark.parametrize(
    ("change", "field"), [({"store_id": None}, "store_id"), ({"kind": "damaged"}, "kind")]
)
def test_a_locations_store_and_kind_cannot_be_patched(client, admin, store_factory, change, field):
    store_factory("S1")
    stock = client.get(f"{API}/locations", params={"code": "S1/STOCK"}, headers=admin).json()["items"][0]

    assert_problem(
        client.patch(f"{API}/locations/{stock['id']}", json=change, headers=admin), 422, fields=(field,)
    )


def test_a_location_patch_with_a_stale_version_is_a_412(client, admin, store_factory):
    store_factory("S1")
    stock = client.get(f"{API}/locations", params={"code": "S1/STOCK"}, headers=admin).json()["items"][0]
    client.patch(f"{API}/locations/{stock['id']}", json={"name": "First"}, headers=admin)

    response = client.patch(
        f"{API}/locations/{stock['id']}", json={"name": "Second"}, headers={**admin, "If-Match": '"1"'}
    )

    assert_problem(response, 412, "version-mismatch")
    assert client.get(f"{API}/locations/{stock['id']}", headers=admin).json()["name"] == "First"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"store": "S1"}, ["S1/STOCK", "S1/BACKROOM", "S1/DAMAGED"]),
        ({"store": "S2", "kind": "damaged"}, ["S2/DAMAGED"]),
        ({"kind": "stock"}, ["S1/STOCK", "S2/STOCK"]),
        ({"kind": "supplier"}, ["VIRTUAL/SUPPLIER"]),
        ({"code": "S2/BACKROOM"}, ["S2/BACKROOM"]),
    ],
)
def test_locations_are_filtered(client, admin, store_factory, params, expected):
    stores = {code: store_factory(code) for code in ("S1", "S2")}
    query = dict(params)
    if "store" in query:
        query["store_id"] = stores[query.pop("store")]["id"]

    response = client.get(f"{API}/locations", params=query, headers=admin)

    assert response.status_code == 200, response.text
    assert sorted(loc["code"] for loc in response.json()["items"]) == sorted(expected)


def test_a_store_of_another_company_is_not_found(client, auth, store_factory, other_company):
    store = store_factory("S1")
    globex = auth("admin", company="GLOBEX")

    assert_problem(client.get(f"{API}/stores/{store['id']}", headers=globex), 404)
    assert client.get(f"{API}/stores", headers=globex).json()["items"] == []
    assert all(
        loc["store_id"] is None for loc in client.get(f"{API}/locations", headers=globex).json()["items"]
    )
