"""/events: every change, in order, for admin, finance and the integrations that follow the log."""

from __future__ import annotations

import pytest
from apitools import API, assert_problem


def read_events(client, headers, **params):
    response = client.get(f"{API}/events", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_product_created_then_changed_is_two_events(client, admin, product_factory):
    # given a product created, then repriced
    product = product_factory("EVT-1", list_price="3.10", standard_cost="1.000001")
    client.patch(
        f"{API}/products/{product['id']}", json={"list_price": "3.20", "name": "Renamed"}, headers=admin
    )

    # when its events are read
    page = read_events(client, admin, aggregate_id=product["id"])

    # then there is one per change, in order, each with the record as it then was
    created, updated = page["items"]
    assert (created["type"], updated["type"]) == ("ProductCreated", "ProductUpdated")
    assert created["position"] < updated["position"]
    assert {e["aggregate_type"] for e in page["items"]} == {"Product"}
    assert created["payload"]["after"]["list_price"] == "3.10"
    assert created["payload"]["after"]["standard_cost"] == "1.000001"
    assert updated["payload"]["changes"] == {
        "name": {"from": "Product EVT-1", "to": "Renamed"},
        "list_price": {"from": "3.10", "to": "3.20"},
    }
    assert updated["payload"]["after"]["version"] == 2
    assert updated["company_id"] == product["company_id"]
    assert page["next_cursor"] is None


def test_events_name_who_caused_them_and_the_key_they_came_with(client, auth, company, runtime):
    headers = {**auth("integration", company="ACME"), "Idempotency-Key": "feed-7"}
    product = client.post(
        f"{API}/products",
        json={"sku": "K", "name": "K", "category": "C", "list_price": "1"},
        headers=headers,
    ).json()

    event = read_events(client, auth("finance", company="ACME"), aggregate_id=product["id"])["items"][0]

    assert event["actor"].startswith("token:integration-")
    assert event["source"].startswith("token:")
    assert event["idempotency_key"] == "feed-7"
    assert event["occurred_at"] and event["recorded_at"]


@pytest.mark.parametrize(
    ("params", "expected_types"),
    [
        ({"type": "ProductUpdated"}, ["ProductUpdated"]),
        ({"type": "ProductCreated"}, ["ProductCreated", "ProductCreated"]),
        ({"aggregate_type": "Store"}, ["StoreCreated"]),
        ({"type": "NoSuchEvent"}, []),
    ],
)
def test_events_are_filtered(client, admin, product_factory, store_factory, params, expected_types):
    product = product_factory("A")
    product_factory("B")
    store_factory("S1")
    client.patch(f"{API}/products/{product['id']}", json={"active": False}, headers=admin)

    page = read_events(client, admin, company_id=product["company_id"], **params)

    assert [e["type"] for e in page["items"]] == expected_types


def test_events_of_one_command_share_a_correlation_id(client, admin, store_factory):
    store = store_factory("S1")
    created = read_events(client, admin, aggregate_id=store["id"])["items"][0]

    page = read_events(client, admin, correlation_id=created["correlation_id"])

    assert sorted(e["type"] for e in page["items"]) == ["LocationCreated"] * 3 + ["StoreCreated"]


def test_the_log_is_read_page_by_page_with_after(client, admin, company, product_factory):
    for n in range(5):
        product_factory(f"P{n}")
    everything = read_events(client, admin, limit=1000)["items"]

    seen, after = [], 0
    while True:
        page = read_events(client, admin, after=after, limit=7)
        assert len(page["items"]) <= 7
        seen.extend(page["items"])
        if page["next_cursor"] is None:
            break
        after = int(page["next_cursor"])
        assert after == page["items"][-1]["position"]

    positions = [e["position"] for e in seen]
    assert positions == sorted(set(positions))
    assert seen == everything
    assert len(everything) > 7


def test_after_skips_what_was_already_read(client, admin, product_factory):
    product_factory("OLD")
    last = read_events(client, admin, limit=1000)["items"][-1]["position"]
    product_factory("NEW")

    page = read_events(client, admin, after=last)

    assert [(e["type"], e["payload"]["after"]["sku"]) for e in page["items"]] == [("ProductCreated", "NEW")]


@pytest.mark.parametrize("role", ["cashier", "store_manager"])
def test_store_staff_do_not_read_the_log(client, auth, company, role):
    assert_problem(client.get(f"{API}/events", headers=auth(role, company="ACME")), 403, "permission-denied")


def test_a_company_token_reads_only_its_companys_events(client, auth, admin, company, other_company, runtime):
    finance = auth("finance", company="GLOBEX")

    mine = read_events(client, finance, limit=1000)["items"]
    theirs = client.get(f"{API}/events", params={"company_id": company["id"]}, headers=finance)

    assert mine and {e["company_id"] for e in mine} == {other_company["id"]}
    assert_problem(theirs, 422, "invalid-reference", fields=("company_id",))
    assert len(read_events(client, admin, limit=1000)["items"]) > len(mine)


def test_a_store_token_reads_its_store_and_the_company_wide_events(
    client, auth, admin, company, store_factory
):
    store_a, store_b = store_factory("A"), store_factory("B")
    finance_a = auth("finance", company="ACME", store="A")

    seen = read_events(client, finance_a, limit=1000)["items"]

    store_ids = {e["store_id"] for e in seen}
    assert store_ids == {None, store_a["id"]}
    assert not any(e["aggregate_id"] == store_b["id"] for e in seen)
    hidden = [e for e in read_events(client, admin, limit=1000)["items"] if e["store_id"] == store_b["id"]]
    assert len(hidden) == 4  # the store and its three locations


@pytest.mark.parametrize(
    ("params", "field"),
    [({"after": -1}, "after"), ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"kind": "x"}, "kind")],
)
def test_invalid_event_queries_are_a_422(client, admin, params, field):
    assert_problem(client.get(f"{API}/events", params=params, headers=admin), 422, fields=(field,))
