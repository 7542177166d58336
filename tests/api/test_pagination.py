"""Cursor pagination of every collection: limit, next_cursor, no duplicates, no gaps."""

from __future__ import annotations

import base64
import uuid

import pytest
from apitools import API, assert_problem, ids, walk

COLLECTIONS = {
    "/products": lambda n, company: {
        "company_id": company["id"],
        "sku": f"P{n}",
        "name": f"P{n}",
        "category": "C",
        "list_price": "1",
    },
    "/customers": lambda n, company: {"company_id": company["id"], "name": f"Customer {n}"},
    "/stores": lambda n, company: {"company_id": company["id"], "code": f"S{n}", "name": f"S{n}"},
    "/payment-methods": lambda n, company: {
        "company_id": company["id"],
        "code": f"M{n}",
        "name": "M",
        "kind": "cash",
    },
    "/tax-rules": lambda n, company: {
        "company_id": company["id"],
        "jurisdiction": "FR",
        "tax_category": f"c{n}",
        "taxes": [{"code": "V", "name": "V", "rate_percent": "1"}],
    },
    "/companies": lambda n, company: {"code": f"CO{n}", "name": "Co", "currency": "EUR", "country": "FR"},
}


@pytest.mark.parametrize("path", list(COLLECTIONS))
@pytest.mark.parametrize("count", [5, 6])
def test_limit_2_walks_every_page_without_duplicates_or_gaps(client, admin, company, create, path, count):
    # given a collection of `count` new records (plus, for companies, ACME itself)
    created = [create(path, COLLECTIONS[path](n, company)) for n in range(count)]
    everything = client.get(f"{API}{path}", params={"limit": 500}, headers=admin).json()

    # when it is walked two by two
    walked = walk(client, path, admin, limit=2)

    # then every record is seen once, in the same order as in one big page
    assert everything["next_cursor"] is None
    assert ids(walked) == ids(everything["items"])
    assert len(set(ids(walked))) == len(walked)
    assert set(ids(created)) <= set(ids(walked))


def test_pages_have_the_asked_size_and_the_last_has_no_cursor(client, admin, product_factory):
    for n in range(5):
        product_factory(f"P{n}")

    first = client.get(f"{API}/products", params={"limit": 2}, headers=admin).json()
    second = client.get(
        f"{API}/products", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    third = client.get(
        f"{API}/products", params={"limit": 2, "cursor": second["next_cursor"]}, headers=admin
    ).json()

    assert [len(p["items"]) for p in (first, second, third)] == [2, 2, 1]
    assert first["next_cursor"] and second["next_cursor"]
    assert third["next_cursor"] is None
    assert [p["sku"] for p in first["items"] + second["items"] + third["items"]] == [
        "P0",
        "P1",
        "P2",
        "P3",
        "P4",
    ]


def test_an_exactly_full_last_page_has_no_cursor(client, admin, product_factory):
    for n in range(4):
        product_factory(f"P{n}")

    first = client.get(f"{API}/products", params={"limit": 2}, headers=admin).json()
    second = client.get(
        f"{API}/products", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin
    ).json()

    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


def test_a_filter_applies_across_pages(client, admin, product_factory):
    for n in range(7):
        product_factory(f"P{n}", category="Even" if n % 2 == 0 else "Odd")

    walked = walk(client, "/products", admin, limit=2, category="Even")

    assert [p["sku"] for p in walked] == ["P0", "P2", "P4", "P6"]


def test_records_created_while_walking_show_up_at_the_end(client, admin, product_factory):
    for n in range(3):
        product_factory(f"P{n}")
    first = client.get(f"{API}/products", params={"limit": 2}, headers=admin).json()
    product_factory("LATE")

    rest = client.get(
        f"{API}/products", params={"limit": 10, "cursor": first["next_cursor"]}, headers=admin
    ).json()

    assert [p["sku"] for p in first["items"] + rest["items"]] == ["P0", "P1", "P2", "LATE"]


@pytest.mark.parametrize(
    "path", ["/products", "/customers", "/stores", "/locations", "/accounts", "/companies"]
)
@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "!!!", "AAAA", base64.urlsafe_b64encode(b"short").decode(), "é"],
)
def test_an_invalid_cursor_is_a_422(client, admin, company, path, cursor):
    response = client.get(f"{API}{path}", params={"cursor": cursor}, headers=admin)

    assert_problem(response, 422, fields=("cursor",))


def test_a_well_formed_cursor_past_the_end_gives_an_empty_page(client, admin, product_factory):
    product_factory("P")
    past = base64.urlsafe_b64encode(uuid.UUID(int=2**128 - 1).bytes).decode().rstrip("=")

    response = client.get(f"{API}/products", params={"cursor": past}, headers=admin)

    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("limit", [0, -1, 501, "ten"])
def test_an_invalid_limit_is_a_422(client, admin, company, limit):
    assert_problem(
        client.get(f"{API}/products", params={"limit": limit}, headers=admin), 422, fields=("limit",)
    )


def test_the_default_page_holds_50(client, admin, company):
    page = client.get(f"{API}/accounts", headers=admin).json()

    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
