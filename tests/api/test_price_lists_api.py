"""Price lists and quotes over HTTP."""

from __future__ import annotations

import pytest
from apitools import API, assert_problem, events, walk


@pytest.fixture
def products(product_factory):
    return {sku: product_factory(sku, list_price="10.00")["id"] for sku in ("A", "B")}


def price_list(company, code="RETAIL", **fields):
    return {"company_id": company["id"], "code": code, "name": f"List {code}", "currency": "EUR", **fields}


def test_create_read_and_list(client, admin, company, products, store_factory):
    store = store_factory("S1")
    body = price_list(
        company,
        channel="pos",
        store_id=store["id"],
        priority=2,
        valid_from="2026-01-01",
        items=[{"product_id": products["A"], "unit_price": "9.5"}],
    )
    response = client.post(f"{API}/price-lists", json=body, headers=admin)

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{API}/price-lists/{created['id']}"
    assert created["items"] == [{"product_id": products["A"], "unit_price": "9.50", "min_quantity": "1.00"}]
    assert (created["channel"], created["store_id"], created["valid_to"]) == ("pos", store["id"], None)

    read = client.get(f"{API}/price-lists/{created['id']}", headers=admin)
    assert read.json() == created
    assert read.headers["ETag"] == '"1"'

    client.post(f"{API}/price-lists", json=price_list(company, "WEB", channel="web"), headers=admin)
    listed = walk(client, "/price-lists", admin, limit=1, company_id=company["id"])
    assert [row["code"] for row in listed] == ["RETAIL", "WEB"]
    web = client.get(
        f"{API}/price-lists", params={"channel": "web", "company_id": company["id"]}, headers=admin
    ).json()["items"]
    assert [row["code"] for row in web] == ["WEB"]
    by_store = client.get(
        f"{API}/price-lists", params={"store_id": store["id"], "company_id": company["id"]}, headers=admin
    ).json()
    assert [row["code"] for row in by_store["items"]] == ["RETAIL"]
    assert [e.type for e in events(client.app.state.runtime, aggregate_type="PriceList")] == [
        "PriceListCreated",
        "PriceListCreated",
    ]


def test_create_is_idempotent(client, admin, company, snapshot):
    headers = {**admin, "Idempotency-Key": "pl-1"}
    first = client.post(f"{API}/price-lists", json=price_list(company), headers=headers)
    before = snapshot()
    again = client.post(f"{API}/price-lists", json=price_list(company), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert snapshot() == before


def test_patch_and_replace_items(client, admin, company, products):
    created = client.post(f"{API}/price-lists", json=price_list(company), headers=admin).json()
    url = f"{API}/price-lists/{created['id']}"

    patched = client.patch(url, json={"priority": 7, "active": False}, headers={**admin, "If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["priority"], patched.json()["active"], patched.json()["version"]) == (7, False, 2)
    stale = client.patch(url, json={"priority": 1}, headers={**admin, "If-Match": '"1"'})
    assert_problem(stale, 412, "version-mismatch")

    items = [
        {"product_id": products["A"], "unit_price": "9.00"},
        {"product_id": products["A"], "unit_price": "8.00", "min_quantity": "10"},
        {"product_id": products["B"], "unit_price": "1.2345"},
    ]
    replaced = client.put(f"{url}/items", json=items, headers=admin)
    assert replaced.status_code == 200, replaced.text
    assert len(replaced.json()["items"]) == 3
    again = client.put(f"{url}/items", json=items[2:], headers=admin)
    assert again.json()["items"] == [
        {"product_id": products["B"], "unit_price": "1.2345", "min_quantity": "1.00"}
    ]


def test_quotes(client, admin, company, products, store_factory):
    store = store_factory("S1")
    params = {
        "product_id": products["A"],
        "channel": "pos",
        "date": "2026-06-15",
        "company_id": company["id"],
    }
    fallback = client.get(f"{API}/prices", params=params, headers=admin)
    assert fallback.status_code == 200, fallback.text
    assert fallback.json() == {
        "product_id": products["A"],
        "quantity": "1.00",
        "unit_price": "10.00",
        "currency": "EUR",
        "source": "list_price",
        "price_list_id": None,
        "min_quantity": None,
    }
    items = [
        {"product_id": products["A"], "unit_price": "7.00"},
        {"product_id": products["A"], "unit_price": "6.00", "min_quantity": "12"},
    ]
    created = client.post(
        f"{API}/price-lists", json=price_list(company, "S1", store_id=store["id"], items=items), headers=admin
    ).json()
    in_store = client.get(
        f"{API}/prices", params={**params, "store_id": store["id"], "quantity": "12"}, headers=admin
    ).json()
    assert (in_store["unit_price"], in_store["source"], in_store["price_list_id"]) == (
        "6.00",
        "price_list:S1",
        created["id"],
    )
    elsewhere = client.get(f"{API}/prices", params=params, headers=admin).json()
    assert elsewhere["source"] == "list_price"
    undated = {name: value for name, value in params.items() if name != "date"}
    # Without a date the store's today applies, and the list has no dates, so it still applies.
    today = client.get(f"{API}/prices", params={**undated, "store_id": store["id"]}, headers=admin)
    assert today.status_code == 200, today.text
    assert today.json()["unit_price"] == "7.00"


def test_quote_errors_name_the_field(client, admin, company, products):
    no_price = client.get(
        f"{API}/prices",
        params={
            "product_id": products["A"],
            "channel": "pos",
            "currency": "USD",
            "company_id": company["id"],
        },
        headers=admin,
    )
    assert_problem(no_price, 422, "no-price", fields=("currency",))
    unknown = client.get(
        f"{API}/prices",
        params={"product_id": company["id"], "channel": "pos", "company_id": company["id"]},
        headers=admin,
    )
    assert_problem(unknown, 422, "invalid-reference", fields=("product_id",))
    bad_quantity = client.get(
        f"{API}/prices",
        params={"product_id": products["A"], "channel": "pos", "quantity": "0", "company_id": company["id"]},
        headers=admin,
    )
    assert_problem(bad_quantity, 422)


def test_refusals_write_nothing(client, admin, company, products, snapshot):
    client.post(f"{API}/price-lists", json=price_list(company), headers=admin)
    before = snapshot()
    taken = client.post(f"{API}/price-lists", json=price_list(company), headers=admin)
    assert_problem(taken, 409, "conflict", fields=("code",))
    store = client.post(
        f"{API}/price-lists", json=price_list(company, "X", store_id=company["id"]), headers=admin
    )
    assert_problem(store, 422, "invalid-reference", fields=("store_id",))
    dates = client.post(
        f"{API}/price-lists",
        json=price_list(company, "Y", valid_from="2026-02-01", valid_to="2026-01-01"),
        headers=admin,
    )
    assert_problem(dates, 422)
    created = client.get(f"{API}/price-lists", params={"company_id": company["id"]}, headers=admin).json()[
        "items"
    ][0]
    duplicate = [{"product_id": products["A"], "unit_price": "1"}] * 2
    dup = client.put(f"{API}/price-lists/{created['id']}/items", json=duplicate, headers=admin)
    assert_problem(dup, 422, "validation-failed", fields=("items.1",))
    missing = [{"product_id": company["id"], "unit_price": "1"}]
    ref = client.put(f"{API}/price-lists/{created['id']}/items", json=missing, headers=admin)
    assert_problem(ref, 422, "invalid-reference", fields=("items.0.product_id",))
    floaty = client.put(
        f"{API}/price-lists/{created['id']}/items",
        json=[{"product_id": products["A"], "unit_price": "1.00001"}],
        headers=admin,
    )
    assert_problem(floaty, 422)
    assert_problem(client.get(f"{API}/price-lists/{company['id']}", headers=admin), 404, "not-found")
    assert snapshot() == before


def test_permissions_and_isolation(client, auth, admin, company, other_company):
    created = client.post(f"{API}/price-lists", json=price_list(company), headers=admin).json()
    cashier = auth("cashier", company="ACME")
    assert client.get(f"{API}/price-lists/{created['id']}", headers=cashier).status_code == 200
    assert_problem(
        client.post(f"{API}/price-lists", json=price_list(company, "Z"), headers=cashier),
        403,
        "permission-denied",
    )
    globex = auth("admin", company="GLOBEX")
    assert_problem(client.get(f"{API}/price-lists/{created['id']}", headers=globex), 404)
    assert client.get(f"{API}/price-lists", headers=globex).json()["items"] == []
