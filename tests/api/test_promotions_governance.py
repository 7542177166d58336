"""Promotion and price governance over HTTP (decision 0048): drafts, four eyes, margin floors and
overrides, exclusive overlaps, the sweep's scheduled activation, governed price changes and quotes."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from apitools import API, assert_problem, events

from retailcore.adapters.db import transaction
from retailcore.entrypoints.sweeps import sweep_companies
from retailcore.inventory.tables import ProductCost
from retailcore.promotions.book import book_for
from retailcore.promotions.tables import PromotionRow


def book_codes(runtime, company):
    with runtime.session_factory() as session:
        return [p.code for p in book_for(session, uuid.UUID(company["id"])).promotions]


VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


@pytest.fixture
def people(auth, company):
    """Two pricing managers (four eyes), finance, a cashier."""
    return {
        "ann": auth("pricing_manager", company="ACME"),
        "bob": auth("pricing_manager", company="ACME"),
        "fin": auth("finance", company="ACME"),
        "cashier": auth("cashier", company="ACME"),
    }


@pytest.fixture
def products(product_factory):
    """TEA (list 10.00, standard cost 5.00, category Drinks) and MUG (20.00, cost 8.00, Kitchen)."""
    return {
        "TEA": product_factory(
            "TEA", list_price="10.00", category="Drinks", cost_method="standard", standard_cost="5.00"
        ),
        "MUG": product_factory(
            "MUG", list_price="20.00", category="Kitchen", cost_method="standard", standard_cost="8.00"
        ),
    }


def promotion(company, code="TEA10", **fields):
    return {
        "company_id": company["id"],
        "code": code,
        "name": f"Promo {code}",
        "kind": "percent_off",
        **fields,
    }


def draft(client, headers, body):
    response = client.post(f"{API}/promotions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def submitted(client, headers, body):
    created = draft(client, headers, body)
    response = client.post(f"{API}/promotions/{created['id']}/submit", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def state_of(client, headers, promotion_id):
    row = client.get(f"{API}/promotions/{promotion_id}", headers=headers).json()
    return row["state"], row["version"]


def promotion_events(runtime, promotion_id):
    return [e.type for e in events(runtime, aggregate_id=uuid.UUID(promotion_id))]


def test_draft_submit_and_approve_by_another_person(client, runtime, company, products, people, snapshot):
    body = promotion(company, percent="10", product_ids=[products["TEA"]["id"]], channels=["pos", "web"])
    created = draft(client, people["ann"], body)
    assert (created["state"], created["percent"], created["last_edited_by"]) == ("draft", "10.00", None)
    assert created["product_ids"] == [products["TEA"]["id"]]
    assert created["channels"] == ["pos", "web"]
    url = f"{API}/promotions/{created['id']}"
    with runtime.session_factory() as session:
        rule = session.get(PromotionRow, uuid.UUID(created["id"])).rule
    assert rule == {"percent": "10", "product_ids": [products["TEA"]["id"]], "categories": []}
    assert book_codes(runtime, company) == []

    sent = client.post(f"{url}/submit", headers=people["ann"])
    assert sent.json()["state"] == "submitted"
    assert sent.json()["submitted_by"] == created["created_by"]

    before = snapshot()
    own = client.post(f"{url}/approve", json={}, headers=people["ann"])
    assert_problem(own, 403, "four-eyes")
    assert snapshot() == before
    assert state_of(client, people["ann"], created["id"]) == ("submitted", 2)

    cashier = client.post(f"{url}/approve", json={}, headers=people["cashier"])
    assert_problem(cashier, 403, "permission-denied")

    approved = client.post(f"{url}/approve", json={"reason": "autumn range"}, headers=people["bob"])
    assert approved.status_code == 200, approved.text
    result = approved.json()
    assert result["state"] == "active"  # no start: in force at once
    assert result["decided_by"] != result["created_by"]
    assert result["decision_reason"] == "autumn range"
    assert promotion_events(runtime, created["id"]) == [
        "PromotionCreated",
        "PromotionSubmitted",
        "PromotionApproved",
        "PromotionActivated",
    ]
    assert book_codes(runtime, company) == ["TEA10"]
    listed = client.get(f"{API}/promotions", params={"state": "active"}, headers=people["cashier"]).json()
    assert [row["code"] for row in listed["items"]] == ["TEA10"]
    in_force = client.get(f"{API}/promotions", params={"state": "approved"}, headers=people["cashier"]).json()
    assert [row["code"] for row in in_force["items"]] == ["TEA10"]


def test_only_drafts_and_rejected_ones_change_and_rejecting_says_why(
    client, runtime, company, products, people
):
    created = submitted(client, people["ann"], promotion(company, percent="10"))
    url = f"{API}/promotions/{created['id']}"

    assert_problem(
        client.patch(url, json={"percent": "15"}, headers=people["ann"]), 409, "invalid-transition"
    )
    no_reason = client.post(f"{url}/reject", json={}, headers=people["bob"])
    assert_problem(no_reason, 422, fields=("reason",))
    assert state_of(client, people["ann"], created["id"])[0] == "submitted"

    rejected = client.post(f"{url}/reject", json={"reason": "too deep"}, headers=people["bob"])
    assert (rejected.json()["state"], rejected.json()["decision_reason"]) == ("rejected", "too deep")

    stale = client.patch(url, json={"percent": "8"}, headers={**people["ann"], "If-Match": '"1"'})
    assert_problem(stale, 412, "version-mismatch")
    edited = client.patch(url, json={"percent": "8"}, headers={**people["ann"], "If-Match": '"3"'})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["state"], edited.json()["percent"], edited.json()["version"]) == (
        "draft",
        "8.00",
        4,
    )
    again = client.post(f"{url}/submit", headers=people["ann"])
    assert again.json()["state"] == "submitted"
    assert promotion_events(runtime, created["id"]) == [
        "PromotionCreated",
        "PromotionSubmitted",
        "PromotionRejected",
        "PromotionChanged",
        "PromotionSubmitted",
    ]
    changed = events(runtime, type="PromotionChanged")[0]
    assert changed.payload["changes"]["percent"] == {"from": "10.00", "to": "8.00"}
    assert changed.payload["state"] == {"from": "rejected", "to": "draft"}


def test_the_last_editor_may_not_approve_either(client, company, products, people):
    created = draft(client, people["ann"], promotion(company, percent="10"))
    url = f"{API}/promotions/{created['id']}"
    assert client.patch(url, json={"percent": "12"}, headers=people["bob"]).status_code == 200
    assert client.post(f"{url}/submit", headers=people["ann"]).status_code == 200
    assert_problem(client.post(f"{url}/approve", json={}, headers=people["bob"]), 403, "four-eyes")


def test_a_margin_floor_breach_is_refused_then_overridden_by_finance(
    client, runtime, admin, company, products, people, snapshot
):
    tea = products["TEA"]
    floor = client.post(
        f"{API}/margin-floors", json={"product_id": tea["id"], "floor": "0.10"}, headers=people["ann"]
    )
    assert floor.status_code == 201, floor.text
    # Cost 5.00 x 1.10 = 5.50; half off 10.00 leaves 5.00.
    created = submitted(
        client, people["ann"], promotion(company, "HALF", percent="50", product_ids=[tea["id"]])
    )
    url = f"{API}/promotions/{created['id']}"

    before = snapshot()
    refused = client.post(f"{url}/approve", json={}, headers=people["bob"])
    body = assert_problem(refused, 409, "margin-floor-breach", fields=("products.TEA",))
    assert "worst case 5" in body["errors"][0]["detail"] and "floor 5.5" in body["errors"][0]["detail"]
    assert snapshot() == before
    assert state_of(client, people["ann"], created["id"]) == ("submitted", 2)

    not_above = client.post(f"{url}/override", json={"reason": "clearance"}, headers=people["bob"])
    assert_problem(not_above, 403, "permission-denied")
    assert snapshot() == before
    no_reason = client.post(f"{url}/override", json={}, headers=people["fin"])
    assert_problem(no_reason, 422, fields=("reason",))
    assert snapshot() == before

    overridden = client.post(
        f"{url}/override", json={"reason": "end of line clearance"}, headers=people["fin"]
    )
    assert overridden.status_code == 200, overridden.text
    result = overridden.json()
    assert result["state"] == "active"
    assert result["override_by"] == result["decided_by"]
    assert result["override_reason"] == "end of line clearance"
    approved = events(runtime, type="PromotionApproved")[-1]
    assert approved.payload["override"]["reason"] == "end of line clearance"
    assert approved.payload["override"]["breaches"][0] == {
        "product_id": tea["id"],
        "sku": "TEA",
        "unit_price": "10",
        "worst_case": "5",
        "floor": "5.5",
        "unit_cost": "5",
        "margin_floor": "0.1",
        "floor_source": "product",
    }


def test_a_category_floor_applies_and_a_product_floor_beats_it(client, company, products, people):
    client.post(f"{API}/margin-floors", json={"category": "Drinks", "floor": "0.50"}, headers=people["ann"])
    # 30 % off TEA leaves 7.00; the category's 7.50 is breached...
    created = submitted(client, people["ann"], promotion(company, "T30", percent="30", categories=["Drinks"]))
    refused = client.post(f"{API}/promotions/{created['id']}/approve", json={}, headers=people["bob"])
    assert_problem(refused, 409, "margin-floor-breach", fields=("products.TEA",))
    # ... but TEA's own floor of 0.20 (6.00) is not.
    client.post(
        f"{API}/margin-floors",
        json={"product_id": products["TEA"]["id"], "floor": "0.20"},
        headers=people["ann"],
    )
    approved = client.post(f"{API}/promotions/{created['id']}/approve", json={}, headers=people["bob"])
    assert approved.status_code == 200, approved.text


def test_overlapping_exclusive_promotions_are_refused_at_approval(
    client, company, products, people, snapshot
):
    tea = products["TEA"]["id"]
    first = submitted(
        client, people["ann"], promotion(company, "EXA", percent="5", stacking="exclusive", product_ids=[tea])
    )
    assert (
        client.post(f"{API}/promotions/{first['id']}/approve", json={}, headers=people["bob"]).status_code
        == 200
    )
    # Same product through its category, every channel, an overlapping time: refused.
    second = submitted(
        client,
        people["ann"],
        promotion(
            company,
            "EXB",
            percent="5",
            stacking="exclusive",
            categories=["Drinks"],
            starts_at="2026-01-01T00:00",
        ),
    )
    before = snapshot()
    refused = client.post(f"{API}/promotions/{second['id']}/approve", json={}, headers=people["bob"])
    body = assert_problem(refused, 409, "exclusive-overlap", fields=("stacking",))
    assert "EXA" in body["detail"]
    assert snapshot() == before
    # Another channel set apart from the first's does not overlap... the first has every channel, so a
    # promotion on MUG only (another product) is fine.
    third = submitted(
        client,
        people["ann"],
        promotion(company, "EXC", percent="5", stacking="exclusive", product_ids=[products["MUG"]["id"]]),
    )
    assert (
        client.post(f"{API}/promotions/{third['id']}/approve", json={}, headers=people["bob"]).status_code
        == 200
    )


def test_the_sweep_activates_and_expires_scheduled_promotions(client, runtime, company, products, people):
    created = submitted(
        client,
        people["ann"],
        promotion(company, "XMAS", percent="10", starts_at="2199-12-24T00:00", ends_at="2199-12-27T00:00"),
    )
    approved = client.post(f"{API}/promotions/{created['id']}/approve", json={}, headers=people["bob"])
    assert approved.json()["state"] == "scheduled"
    # Pricing does not wait for the sweep: a scheduled promotion is in the book, the engine checks the time.
    assert book_codes(runtime, company) == ["XMAS"]

    before_start = sweep_companies(
        runtime.session_factory, now=dt.datetime(2199, 12, 23, 23, 0, tzinfo=dt.UTC)
    )
    assert before_start[0].promotions_activated == []
    swept = sweep_companies(runtime.session_factory, now=dt.datetime(2199, 12, 24, 0, 30, tzinfo=dt.UTC))
    assert swept[0].promotions_activated == ["XMAS"]
    assert state_of(client, people["ann"], created["id"])[0] == "active"
    again = sweep_companies(runtime.session_factory, now=dt.datetime(2199, 12, 24, 1, 0, tzinfo=dt.UTC))
    assert again[0].promotions_activated == []
    ended = sweep_companies(runtime.session_factory, now=dt.datetime(2199, 12, 27, 0, 0, tzinfo=dt.UTC))
    assert ended[0].promotions_expired == ["XMAS"]
    assert state_of(client, people["ann"], created["id"])[0] == "expired"
    assert book_codes(runtime, company) == []
    assert promotion_events(runtime, created["id"])[-2:] == ["PromotionActivated", "PromotionExpired"]


def test_every_bad_input_is_a_422_naming_the_field_with_nothing_written(
    client, company, products, people, snapshot, store_factory
):
    before = snapshot()
    tea = products["TEA"]["id"]
    cases = [
        (promotion(company, percent="150"), "percent"),
        (promotion(company, percent="0"), "percent"),
        (promotion(company), "percent"),
        (promotion(company, kind="amount_off", amount="-1"), "amount"),
        (promotion(company, kind="buy_x_get_y", buy_quantity="2"), "get_quantity"),
        (promotion(company, kind="tiered_spend", tiers=[{"threshold": "50"}]), "tiers.0"),
        (promotion(company, kind="bundle_price", bundle_price="5"), "components"),
        (
            promotion(company, percent="10", product_ids=["00000000-0000-0000-0000-000000000001"]),
            "product_ids.0",
        ),
        (promotion(company, percent="10", categories=["Nope"]), "categories.0"),
        (promotion(company, percent="10", store_ids=["NOPE"]), "store_ids.0"),
        (promotion(company, percent="10", channels=["fax"]), "channels.0"),
        (
            promotion(company, percent="10", starts_at="2026-02-01T00:00", ends_at="2026-01-01T00:00"),
            "ends_at",
        ),
        (promotion(company, percent="10", starts_at="2026-02-01T00:00+01:00"), "starts_at"),
        (promotion(company, percent="10", kind="percent_off", stacking="loud"), "stacking"),
        (
            promotion(company, percent="10", windows=[{"weekdays": [7], "start": "09:00", "end": "10:00"}]),
            "windows.0.weekdays.0",
        ),
        (
            promotion(company, percent="10", windows=[{"weekdays": [1], "start": "11:00", "end": "10:00"}]),
            "windows.0.end",
        ),
    ]
    for body, field in cases:
        response = client.post(f"{API}/promotions", json=body, headers=people["ann"])
        assert_problem(response, 422, fields=(field,))
    assert snapshot() == before
    draft(client, people["ann"], promotion(company, percent="10", product_ids=[tea]))
    taken = client.post(f"{API}/promotions", json=promotion(company, percent="10"), headers=people["ann"])
    assert_problem(taken, 409, "conflict", fields=("code",))


def test_margin_floors_crud_with_events(client, runtime, company, products, people, snapshot):
    tea = products["TEA"]["id"]
    created = client.post(
        f"{API}/margin-floors", json={"product_id": tea, "floor": "0.15"}, headers=people["ann"]
    )
    assert created.status_code == 201, created.text
    floor = created.json()
    assert (floor["product_id"], floor["category"], floor["floor"]) == (tea, None, "0.15")
    before = snapshot()
    for body, field in [
        ({"product_id": tea, "category": "Drinks", "floor": "0.1"}, "product_id"),
        ({"floor": "0.1"}, "product_id"),
        ({"category": "Drinks", "floor": "-1"}, "floor"),
        ({"category": "Nope", "floor": "0.1"}, "category"),
    ]:
        response = client.post(f"{API}/margin-floors", json=body, headers=people["ann"])
        assert response.status_code == 422 and field in {e["field"] for e in response.json()["errors"]}
    again = client.post(
        f"{API}/margin-floors", json={"product_id": tea, "floor": "0.2"}, headers=people["ann"]
    )
    assert_problem(again, 409, fields=("product_id",))
    assert_problem(
        client.post(
            f"{API}/margin-floors", json={"category": "Drinks", "floor": "0.1"}, headers=people["cashier"]
        ),
        403,
    )
    assert snapshot() == before
    url = f"{API}/margin-floors/{floor['id']}"
    changed = client.patch(url, json={"floor": "0.25"}, headers={**people["fin"], "If-Match": '"1"'})
    assert (changed.json()["floor"], changed.json()["version"]) == ("0.25", 2)
    assert client.delete(url, headers=people["ann"]).status_code == 200
    assert client.get(url, headers=people["ann"]).status_code == 404
    assert [e.type for e in events(runtime, aggregate_type="MarginFloor")] == [
        "MarginFloorCreated",
        "MarginFloorChanged",
        "MarginFloorRemoved",
    ]


def test_governed_price_changes_apply_at_their_time(client, runtime, admin, company, products, people):
    tea = products["TEA"]["id"]
    price_list = client.post(
        f"{API}/price-lists",
        json={
            "company_id": company["id"],
            "code": "RETAIL",
            "name": "Retail",
            "currency": "EUR",
            "items": [{"product_id": tea, "unit_price": "9.00"}],
        },
        headers=admin,
    ).json()
    body = {
        "price_list_id": price_list["id"],
        "items": [{"product_id": tea, "unit_price": "8.50"}],
        "effective_at": "2199-01-01T00:00:00+01:00",
        "reason": "new season",
    }
    created = client.post(f"{API}/price-changes", json=body, headers=people["ann"])
    assert created.status_code == 201, created.text
    change = created.json()
    url = f"{API}/price-changes/{change['id']}"
    assert client.post(f"{url}/submit", headers=people["ann"]).json()["state"] == "submitted"
    assert_problem(client.post(f"{url}/approve", json={}, headers=people["ann"]), 403, "four-eyes")
    approved = client.post(f"{url}/approve", json={}, headers=people["bob"])
    assert approved.json()["state"] == "approved"
    items = client.get(f"{API}/price-lists/{price_list['id']}", headers=admin).json()["items"]
    assert [i["unit_price"] for i in items] == ["9.00"]

    early = sweep_companies(runtime.session_factory, now=dt.datetime(2198, 12, 31, 22, 59, tzinfo=dt.UTC))
    assert early[0].price_changes == []
    swept = sweep_companies(runtime.session_factory, now=dt.datetime(2198, 12, 31, 23, 0, tzinfo=dt.UTC))
    assert [str(i) for i in swept[0].price_changes] == [change["id"]]
    items = client.get(f"{API}/price-lists/{price_list['id']}", headers=admin).json()["items"]
    assert [i["unit_price"] for i in items] == ["8.50"]
    assert client.get(url, headers=people["cashier"]).json()["state"] == "applied"
    assert [e.type for e in events(runtime, aggregate_type="PriceChange")] == [
        "PriceChangeCreated",
        "PriceChangeSubmitted",
        "PriceChangeApproved",
        "PriceChangeApplied",
    ]
    assert events(runtime, type="PriceListItemsReplaced")[-1].payload["items"][0]["unit_price"] == "8.50"
    bad = client.post(
        f"{API}/price-changes",
        json={**body, "items": [{"product_id": "00000000-0000-0000-0000-000000000001", "unit_price": "1"}]},
        headers=people["ann"],
    )
    assert_problem(bad, 422, fields=("items.0.product_id",))
    naive = client.post(
        f"{API}/price-changes", json={**body, "effective_at": "2199-01-01T00:00"}, headers=people["ann"]
    )
    assert_problem(naive, 422, fields=("effective_at",))


def test_a_quote_shows_the_discount_taxes_margin_and_floor(
    client, admin, company, products, people, store_factory
):
    store = store_factory("S1")
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    tea, mug = products["TEA"]["id"], products["MUG"]["id"]
    client.post(f"{API}/margin-floors", json={"product_id": tea, "floor": "0.50"}, headers=people["ann"])
    created = submitted(
        client,
        people["ann"],
        promotion(company, "VIP10", percent="10", product_ids=[tea], customer_groups=["vip"]),
    )
    # 10 % off 10.00 incl. VAT = 9.00; TEA's floor is 5.00 x 1.5 x 1.2 = 9.00: not breached.
    assert (
        client.post(f"{API}/promotions/{created['id']}/approve", json={}, headers=people["bob"]).status_code
        == 200
    )
    customer = client.post(
        f"{API}/customers",
        json={"company_id": company["id"], "name": "Vera", "customer_group": "vip"},
        headers=admin,
    ).json()
    assert customer["customer_group"] == "vip"

    body = {
        "channel": "pos",
        "store_id": store["id"],
        "customer_id": customer["id"],
        "lines": [
            {"product_id": tea, "quantity": "2"},
            {"product_id": mug, "quantity": "1", "manual_discount": "2.00"},
        ],
    }
    response = client.post(f"{API}/pricing/quote", json=body, headers=people["cashier"])
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["customer_group"], result["promotions"], result["prices_include_tax"]) == (
        "vip",
        ["VIP10"],
        True,
    )
    tea_line, mug_line = result["lines"]
    assert tea_line["discounts"] == [
        {"source": "promotion", "code": "VIP10", "amount": "2.00", "promotion_id": created["id"]}
    ]
    assert (tea_line["amount"], tea_line["gross"], tea_line["net"], tea_line["tax"]) == (
        "20.00",
        "18.00",
        "15.00",
        "3.00",
    )
    assert (tea_line["cost"], tea_line["margin"], tea_line["floor_amount"], tea_line["below_floor"]) == (
        "5.00",
        "5.00",
        "9.00",
        False,
    )
    assert mug_line["discounts"] == [
        {"source": "manual", "code": "manual", "amount": "2.00", "promotion_id": None}
    ]
    assert (mug_line["gross"], mug_line["margin"], mug_line["floor_amount"]) == ("18.00", "7.00", None)
    assert (result["gross"], result["discount"], result["margin"]) == ("36.00", "4.00", "12.00")

    # Without the group, no promotion; a deep manual discount goes below the floor.
    plain = client.post(
        f"{API}/pricing/quote",
        json={
            "channel": "pos",
            "store_id": store["id"],
            "lines": [{"product_id": tea, "quantity": "1", "manual_discount": "3"}],
        },
        headers=people["cashier"],
    ).json()
    assert (
        plain["promotions"] == []
        and plain["lines"][0]["below_floor"] is True
        and plain["below_floor"] is True
    )
    # The customer leaves the group: its quote loses the promotion.
    moved = client.patch(f"{API}/customers/{customer['id']}", json={"customer_group": None}, headers=admin)
    assert moved.status_code == 200 and moved.json()["customer_group"] is None
    left = client.post(f"{API}/pricing/quote", json=body, headers=people["cashier"]).json()
    assert left["customer_group"] is None and left["promotions"] == []
    unknown = client.post(
        f"{API}/pricing/quote",
        json={
            "channel": "pos",
            "lines": [{"product_id": "00000000-0000-0000-0000-000000000001", "quantity": "1"}],
        },
        headers=people["cashier"],
    )
    assert_problem(unknown, 422, fields=("lines.0.product_id",))


def test_a_scheduled_promotion_prices_baskets_from_its_local_start_before_any_sweep(
    client, admin, company, products, people, store_factory
):
    store = store_factory("S1")  # Europe/Paris unless told otherwise
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    created = submitted(
        client,
        people["ann"],
        promotion(company, "NYE", percent="20", starts_at="2199-12-31T18:00", ends_at="2199-12-31T23:00"),
    )
    approved = client.post(f"{API}/promotions/{created['id']}/approve", json={}, headers=people["bob"])
    assert approved.json()["state"] == "scheduled"
    zone = client.get(f"{API}/stores/{store['id']}", headers=admin).json()["timezone"]
    offset = dt.datetime(2199, 12, 31, tzinfo=ZoneInfo(zone)).utcoffset()

    def quoted(local):
        moment = (dt.datetime(2199, 12, 31, *local) - offset).replace(tzinfo=dt.UTC)
        body = {
            "channel": "pos",
            "store_id": store["id"],
            "at": moment.isoformat(),
            "lines": [{"product_id": products["TEA"]["id"], "quantity": "1"}],
        }
        response = client.post(f"{API}/pricing/quote", json=body, headers=people["cashier"])
        assert response.status_code == 200, response.text
        return response.json()

    assert quoted((17, 59))["promotions"] == []
    in_force = quoted((18, 0))
    assert in_force["promotions"] == ["NYE"] and in_force["gross"] == "8.00"
    assert in_force["local_time"] == "2199-12-31T18:00:00"
    assert quoted((23, 0))["promotions"] == []


def test_drafting_honours_the_idempotency_key(client, company, people, snapshot):
    headers = {**people["ann"], "Idempotency-Key": "promo-1"}
    first = client.post(f"{API}/promotions", json=promotion(company, percent="10"), headers=headers)
    before = snapshot()
    again = client.post(f"{API}/promotions", json=promotion(company, percent="10"), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert snapshot() == before


def test_an_average_cost_product_is_floored_at_its_stock_value_over_quantity(
    client, runtime, company, product_factory, people
):
    jam = product_factory(
        "JAM", list_price="10.00", category="Food", cost_method="average", standard_cost="1"
    )
    with transaction(runtime.session_factory) as session:
        session.add(
            ProductCost(
                product_id=uuid.UUID(jam["id"]),
                company_id=uuid.UUID(company["id"]),
                quantity=Decimal(10),
                value=Decimal(60),
                last_unit_cost=Decimal(7),
            )
        )
    client.post(f"{API}/margin-floors", json={"category": "Food", "floor": "0"}, headers=people["ann"])
    created = submitted(
        client, people["ann"], promotion(company, "JAM45", percent="45", product_ids=[jam["id"]])
    )
    refused = client.post(f"{API}/promotions/{created['id']}/approve", json={}, headers=people["bob"])
    body = assert_problem(refused, 409, "margin-floor-breach", fields=("products.JAM",))
    assert (
        "worst case 5.5 < floor 6 (unit cost 6, margin floor 0 from category:Food)"
        in body["errors"][0]["detail"]
    )


def test_an_override_keeps_four_eyes(client, auth, company, products, people):
    boss = auth("admin", company="ACME")
    client.post(
        f"{API}/margin-floors",
        json={"product_id": products["TEA"]["id"], "floor": "0.5"},
        headers=people["ann"],
    )
    created = submitted(
        client, boss, promotion(company, "DEEP", percent="60", product_ids=[products["TEA"]["id"]])
    )
    url = f"{API}/promotions/{created['id']}"
    assert_problem(client.post(f"{url}/override", json={"reason": "mine"}, headers=boss), 403, "four-eyes")
    assert client.post(f"{url}/override", json={"reason": "agreed"}, headers=people["fin"]).status_code == 200


def test_a_patch_resolves_stores_by_code_and_a_new_kind_drops_the_old_parameters(
    client, runtime, company, products, people, store_factory
):
    store = store_factory("S1")
    created = draft(client, people["ann"], promotion(company, percent="10"))
    url = f"{API}/promotions/{created['id']}"
    patched = client.patch(
        url,
        json={"kind": "buy_x_get_y", "buy_quantity": "2", "get_quantity": "1", "store_ids": ["S1"]},
        headers=people["ann"],
    )
    assert patched.status_code == 200, patched.text
    result = patched.json()
    assert (result["kind"], result["percent"], result["buy_quantity"], result["store_ids"]) == (
        "buy_x_get_y",
        "100.00",
        "2.00",
        [store["id"]],
    )
    missing = client.patch(url, json={"kind": "amount_off"}, headers=people["ann"])
    assert_problem(missing, 422, fields=("amount",))
    bad_store = client.patch(url, json={"store_ids": ["NOPE"]}, headers=people["ann"])
    assert_problem(bad_store, 422, fields=("store_ids.0",))
    assert client.get(url, headers=people["ann"]).json()["version"] == 2
    assert [e.type for e in events(runtime, aggregate_id=uuid.UUID(created["id"]))] == [
        "PromotionCreated",
        "PromotionChanged",
    ]


def test_a_rejected_price_change_is_edited_and_resubmitted(client, admin, company, products, people):
    tea = products["TEA"]["id"]
    price_list = client.post(
        f"{API}/price-lists",
        json={"company_id": company["id"], "code": "R", "name": "R", "currency": "EUR"},
        headers=admin,
    ).json()
    body = {
        "price_list_id": price_list["id"],
        "items": [{"product_id": tea, "unit_price": "8.00"}],
        "effective_at": "2199-01-01T00:00:00Z",
    }
    unknown_list = client.post(
        f"{API}/price-changes",
        json={**body, "price_list_id": "00000000-0000-0000-0000-000000000001"},
        headers=people["ann"],
    )
    assert_problem(unknown_list, 422, fields=("price_list_id",))
    change = client.post(f"{API}/price-changes", json=body, headers=people["ann"]).json()
    url = f"{API}/price-changes/{change['id']}"
    client.post(f"{url}/submit", headers=people["ann"])
    assert_problem(client.post(f"{url}/reject", json={}, headers=people["bob"]), 422, fields=("reason",))
    rejected = client.post(f"{url}/reject", json={"reason": "too low"}, headers=people["bob"])
    assert rejected.json()["state"] == "rejected"
    edited = client.patch(
        url, json={"items": [{"product_id": tea, "unit_price": "8.50"}]}, headers=people["bob"]
    )
    assert (edited.json()["state"], edited.json()["last_edited_by"]) == ("draft", edited.json()["decided_by"])
    client.post(f"{url}/submit", headers=people["ann"])
    # Bob edited it last: he may not approve it now; Ann submitted it: nor may she.
    assert_problem(client.post(f"{url}/approve", json={}, headers=people["bob"]), 403, "four-eyes")
    assert_problem(client.post(f"{url}/approve", json={}, headers=people["ann"]), 403, "four-eyes")
    third = client.post(f"{url}/approve", json={}, headers=admin)
    assert third.json()["state"] == "approved"
