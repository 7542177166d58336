# ruff: noqa: F811  (the fixtures of test_promotions_governance are imported, then named as parameters)
"""Promotion governance fixes (decision 0056): the exclusive-overlap check at approval reads the weekly
windows (Mondays and Tuesdays do not meet; overlapping hours on a shared day do, a window crossing
midnight included), and a store-scoped pricing manager governs only promotions of its own store (403
``store-scope`` naming ``store_ids``, nothing written)."""

from __future__ import annotations

from apitools import API, assert_problem
from test_promotions_governance import people, products, promotion, submitted  # noqa: F401

from retailcore.promotions.services import week_intervals


def _exclusive(company, code, product, *windows):
    return promotion(
        company,
        code,
        percent="5",
        stacking="exclusive",
        product_ids=[product],
        windows=[{"weekdays": days, "start": start, "end": end} for days, start, end in windows],
    )


def _approve(client, headers, promotion_id):
    return client.post(f"{API}/promotions/{promotion_id}/approve", json={}, headers=headers)


def test_exclusive_promotions_on_different_weekdays_do_not_overlap_and_shared_hours_do(
    client, company, products, people, snapshot
):
    tea = products["TEA"]["id"]
    ann, bob = people["ann"], people["bob"]
    monday = submitted(client, ann, _exclusive(company, "MON", tea, ([0], "09:00", "12:00")))
    tuesday = submitted(client, ann, _exclusive(company, "TUE", tea, ([1], "09:00", "12:00")))
    assert _approve(client, bob, monday["id"]).status_code == 200
    assert _approve(client, bob, tuesday["id"]).status_code == 200  # another day: no overlap
    late_monday = submitted(client, ann, _exclusive(company, "MONL", tea, ([0, 3], "11:30", "13:00")))
    before = snapshot()
    refused = _approve(client, bob, late_monday["id"])
    body = assert_problem(refused, 409, "exclusive-overlap", fields=("stacking",))
    assert "MON" in body["detail"] and "TUE" not in body["detail"]
    assert snapshot() == before
    # Touching windows (12:00 ends, 12:00 starts) do not share a minute.
    noon = submitted(client, ann, _exclusive(company, "NOON", tea, ([0], "12:00", "14:00")))
    assert _approve(client, bob, noon["id"]).status_code == 200
    # No windows at all meets every window.
    always = submitted(
        client, ann, promotion(company, "ALL", percent="5", stacking="exclusive", product_ids=[tea])
    )
    assert_problem(_approve(client, bob, always["id"]), 409, "exclusive-overlap")


def test_week_intervals_follow_the_engine_reading_of_windows():
    assert week_intervals(None) is None and week_intervals([]) is None
    assert week_intervals([{"weekdays": [0], "start": "09:00", "end": "12:00"}]) == [(540, 720)]
    # Friday 22:00-02:00 crosses midnight into Saturday.
    assert week_intervals([{"weekdays": [4], "start": "22:00", "end": "02:00"}]) == [
        (4 * 1440 + 1320, 5 * 1440 + 120)
    ]
    # Sunday's late window wraps to Monday morning.
    assert week_intervals([{"weekdays": [6], "start": "23:00", "end": "01:00"}]) == [
        (6 * 1440 + 1380, 10080),
        (0, 60),
    ]
    # start == end: the whole 24 hours.
    assert week_intervals([{"weekdays": [2], "start": "00:00", "end": "00:00"}]) == [(2880, 4320)]


def test_a_store_scoped_pricing_manager_governs_only_its_own_store(
    client, auth, company, products, people, store_factory, snapshot
):
    store_factory("S1")
    store_factory("S2")
    local = auth("pricing_manager", company="ACME", store="S1")
    tea = products["TEA"]["id"]
    before = snapshot()
    wide = client.post(
        f"{API}/promotions", json=promotion(company, "WIDE", percent="5", product_ids=[tea]), headers=local
    )
    assert_problem(wide, 403, "store-scope", fields=("store_ids",))
    other = client.post(
        f"{API}/promotions",
        json=promotion(company, "OTHER", percent="5", product_ids=[tea], store_ids=["S1", "S2"]),
        headers=local,
    )
    assert other.status_code == 422, other.text  # S2 is not visible to a token of S1
    assert any(e["field"].startswith("store_ids") for e in other.json()["errors"])
    assert snapshot() == before
    mine = submitted(
        client, local, promotion(company, "MINE", percent="5", product_ids=[tea], store_ids=["S1"])
    )
    # A company-wide promotion drafted by a company-level manager: the store's manager may not approve it.
    company_wide = submitted(client, people["ann"], promotion(company, "CO", percent="5", product_ids=[tea]))
    before = snapshot()
    assert_problem(_approve(client, local, company_wide["id"]), 403, "store-scope", fields=("store_ids",))
    refused = client.post(
        f"{API}/promotions/{company_wide['id']}/reject", json={"reason": "no"}, headers=local
    )
    assert_problem(refused, 403, "store-scope", fields=("store_ids",))
    assert snapshot() == before
    # Company-level people govern both; the store's own promotion is approved by another person.
    assert _approve(client, people["bob"], company_wide["id"]).status_code == 200
    assert _approve(client, people["bob"], mine["id"]).status_code == 200


def _price_list(client, headers, company, code, tea, store=None):
    body = {
        "company_id": company["id"],
        "code": code,
        "name": code,
        "currency": "EUR",
        "items": [{"product_id": tea, "unit_price": "9.00"}],
        **({"store_id": store} if store else {}),
    }
    response = client.post(f"{API}/price-lists", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _price_change(price_list, tea, price="8.50"):
    return {
        "price_list_id": price_list["id"],
        "items": [{"product_id": tea, "unit_price": price}],
        "effective_at": "2199-01-01T00:00:00+01:00",
        "reason": "new season",
    }


def test_a_store_scoped_pricing_manager_governs_only_its_own_stores_price_changes(
    client, admin, auth, company, products, people, store_factory, snapshot
):
    store_factory("S1")
    local = auth("pricing_manager", company="ACME", store="S1")
    other_local = auth("pricing_manager", company="ACME", store="S1")
    tea = products["TEA"]["id"]
    retail = _price_list(client, admin, company, "RETAIL", tea)  # company-wide
    shop = _price_list(client, admin, company, "S1LIST", tea, store="S1")
    before = snapshot()
    # Drafting a change of the company-wide list: refused, nothing written.
    wide = client.post(f"{API}/price-changes", json=_price_change(retail, tea), headers=local)
    assert_problem(wide, 403, "store-scope", fields=("price_list_id",))
    assert snapshot() == before
    # A company-level manager's change of the company-wide list: the store's manager may not approve,
    # reject, edit or submit it.
    company_wide = client.post(f"{API}/price-changes", json=_price_change(retail, tea), headers=people["ann"])
    assert company_wide.status_code == 201, company_wide.text
    url = f"{API}/price-changes/{company_wide.json()['id']}"
    assert_problem(client.post(f"{url}/submit", headers=local), 403, "store-scope", fields=("price_list_id",))
    edited = client.patch(url, json={"reason": "mine now"}, headers=local)
    assert_problem(edited, 403, "store-scope", fields=("price_list_id",))
    assert client.post(f"{url}/submit", headers=people["ann"]).status_code == 200
    before = snapshot()
    approved = client.post(f"{url}/approve", json={}, headers=local)
    assert_problem(approved, 403, "store-scope", fields=("price_list_id",))
    rejected = client.post(f"{url}/reject", json={"reason": "no"}, headers=local)
    assert_problem(rejected, 403, "store-scope", fields=("price_list_id",))
    assert snapshot() == before
    assert client.get(url, headers=admin).json()["state"] == "submitted"
    # The store's own list: drafted and submitted by one store manager, approved by another of the store.
    mine = client.post(f"{API}/price-changes", json=_price_change(shop, tea, "7.00"), headers=local)
    assert mine.status_code == 201, mine.text
    mine_url = f"{API}/price-changes/{mine.json()['id']}"
    assert client.post(f"{mine_url}/submit", headers=local).json()["state"] == "submitted"
    assert client.post(f"{mine_url}/approve", json={}, headers=other_local).json()["state"] == "approved"
    # Company-level people still govern the company-wide list.
    assert client.post(f"{url}/approve", json={}, headers=people["bob"]).json()["state"] == "approved"
