"""The POS over HTTP: terminals, sessions, sales batches, cash movements, close with approval."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from apitools import API, assert_problem


@pytest.fixture
def pos(client, admin, auth, company, store_factory, product_factory):
    store = store_factory("S1")
    store_factory("S2")
    for path, body in (
        (
            "tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "standard",
                "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}],
            },
        ),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    product = product_factory("COFFEE", category="Drinks")
    manager = auth("store_manager", company="ACME", store="S1")
    response = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    )
    assert response.status_code == 201, response.text
    return {
        "terminal": response.json(),
        "product": product,
        "cashier": auth("cashier", company="ACME", store="S1"),
        "manager": manager,
        "other_cashier": auth("cashier", company="ACME", store="S2"),
    }


def _sale(product_id, amount="3.60", method="CASH", paid="5.00", sold_at=None):
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": sold_at or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
        "lines": [{"product_id": product_id, "quantity": 1, "unit_price": amount}],
        "payments": [{"payment_method_code": method, "amount": paid}],
    }


def _open(client, pos, opening_float="50.00"):
    response = client.post(
        f"{API}/pos/sessions",
        json={"terminal_id": pos["terminal"]["id"], "opening_float": opening_float},
        headers=pos["cashier"],
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_cashier_sells_replays_and_closes(client, pos):
    session = _open(client, pos)
    batch = {"sales": [_sale(pos["product"]["id"]), _sale(pos["product"]["id"], method="CARD", paid="3.60")]}
    url = f"{API}/pos/sessions/{session['id']}/sales:batch"

    first = client.post(url, json=batch, headers=pos["cashier"])
    again = client.post(url, json=batch, headers=pos["cashier"])

    assert first.status_code == 200, first.text
    assert {k: first.json()[k] for k in ("accepted", "duplicates", "rescued")} == {
        "accepted": 2,
        "duplicates": 0,
        "rescued": 0,
    }
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 2)
    read = client.get(f"{API}/pos/sessions/{session['id']}", headers=pos["cashier"]).json()
    totals = {(t["kind"], t["key"]): t for t in read["totals"]}
    assert totals[("tax", "VAT20")]["tax"] == "1.20"
    assert totals[("tender", "cash|")]["amount"] == "3.60"
    assert totals[("tender", "card|stripe")]["amount"] == "3.60"

    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "53.60"}},
        headers=pos["cashier"],
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert closed.json()["cash_difference"] == "0.00"
    assert closed.json()["closing_event_id"]


def test_a_large_shortage_needs_a_store_manager(client, pos):
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/close"
    movement = client.post(
        f"{API}/pos/sessions/{session['id']}/cash-movements",
        json={"direction": "in", "amount": "10.00", "reason": "change coins"},
        headers=pos["cashier"],
    )
    assert movement.status_code == 201, movement.text

    refused = client.post(url, json={"counted": {"CASH": "20.00"}}, headers=pos["cashier"])
    assert_problem(refused, 409, "needs-approval")

    approved = client.post(url, json={"counted": {"CASH": "20.00"}}, headers=pos["manager"])
    assert approved.status_code == 200, approved.text
    assert (approved.json()["expected_cash"], approved.json()["cash_difference"]) == ("60.00", "-40.00")


def test_a_late_batch_goes_to_a_rescue_session(client, pos):
    session = _open(client, pos)
    client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "50.00"}},
        headers=pos["cashier"],
    )
    response = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": [_sale(pos["product"]["id"])]},
        headers=pos["cashier"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["rescued"] == 1
    assert response.json()["session_id"] != session["id"]
    rescue = client.get(f"{API}/pos/sessions/{response.json()['session_id']}", headers=pos["cashier"]).json()
    assert rescue["is_rescue"] is True and rescue["state"] == "open"


def test_cashiers_only_see_their_store(client, pos):
    session = _open(client, pos)
    other = pos["other_cashier"]
    assert_problem(client.get(f"{API}/pos/sessions/{session['id']}", headers=other), 404)
    response = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": [_sale(pos["product"]["id"])]},
        headers=other,
    )
    assert_problem(response, 404)
    assert client.get(f"{API}/pos/terminals", headers=other).json() == {"items": [], "next_cursor": None}
    assert_problem(client.post(f"{API}/pos/terminals", json={}, headers=pos["cashier"]), 403)


def test_an_unpaid_sale_refuses_the_batch(client, pos):
    session = _open(client, pos)
    batch = {"sales": [_sale(pos["product"]["id"]), _sale(pos["product"]["id"], paid="1.00")]}
    response = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch", json=batch, headers=pos["cashier"]
    )
    assert_problem(response, 422, "payment-short", fields=("sales.1.payments",))
    read = client.get(f"{API}/pos/sessions/{session['id']}", headers=pos["cashier"]).json()
    assert read["totals"] == []


def test_only_the_cashier_who_opened_or_a_manager_closes_and_finance_never(client, auth, pos):
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/close"
    colleague = auth("cashier", company="ACME", store="S1")
    assert_problem(client.post(url, json={"counted": {"CASH": "50.00"}}, headers=colleague), 403)
    finance = auth("finance", company="ACME")
    assert_problem(client.post(url, json={"counted": {"CASH": "50.00"}}, headers=finance), 403)
    closed = client.post(url, json={"counted": {"CASH": "50.00"}}, headers=pos["cashier"])
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"


def test_the_approval_threshold_is_a_company_setting(client, admin, company, pos):
    patched = client.patch(
        f"{API}/companies/{company['id']}",
        json={"pos_approval_threshold": "50.00"},
        headers={**admin, "If-Match": str(company["version"])},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["pos_approval_threshold"] == "50.00"
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/close"
    closed = client.post(url, json={"counted": {"CASH": "10.00"}}, headers=pos["cashier"])  # 40.00 short
    assert closed.status_code == 200, closed.text
    assert closed.json()["cash_difference"] == "-40.00"


# -- a till's clock (decision 0015) -----------------------------------------------------------------


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()  # the test stores keep the default time zone, UTC


def _sell(client, pos, *sales):
    session = _open(client, pos)
    response = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch", json={"sales": list(sales)}, headers=pos["cashier"]
    )
    assert response.status_code == 200, response.text
    return session


def _move_dates(client, pos, product_id):
    moves = client.get(f"{API}/stock/moves", params={"product_id": product_id}, headers=pos["manager"])
    assert moves.status_code == 200, moves.text
    return [move["date"] for move in moves.json()["items"]]


def _exceptions(client, pos, kind):
    found = client.get(f"{API}/exceptions", params={"kind": kind}, headers=pos["manager"])
    assert found.status_code == 200, found.text
    return found.json()["items"]


def test_a_sale_dated_in_a_locked_period_lands_on_the_first_open_day(client, admin, auth, pos):
    finance = auth("finance", company="ACME")
    yesterday = _today() - dt.timedelta(days=1)
    locked = client.put(f"{API}/ledger/lock-date", json={"lock_date": yesterday.isoformat()}, headers=finance)
    assert locked.status_code == 200, locked.text
    valuation_url = f"{API}/reports/stock-valuation"
    before = client.get(valuation_url, params={"as_of": yesterday.isoformat()}, headers=finance).json()
    sold_at = dt.datetime.combine(yesterday, dt.time(10, 0), tzinfo=dt.UTC)
    sale = _sale(pos["product"]["id"], sold_at=sold_at.isoformat())

    _sell(client, pos, sale)

    assert _move_dates(client, pos, pos["product"]["id"]) == [_today().isoformat()]
    after = client.get(valuation_url, params={"as_of": yesterday.isoformat()}, headers=finance).json()
    assert after == before  # the locked day's valuation did not move
    orders = client.get(f"{API}/orders", params={"channel": "pos"}, headers=finance).json()["items"]
    assert [dt.datetime.fromisoformat(o["ordered_at"]) for o in orders] == [sold_at]  # the till's time kept
    [exception] = _exceptions(client, pos, "sale_in_locked_period")
    assert exception["status"] == "open"
    assert exception["details"]["sales"] == [
        {
            "client_uuid": sale["client_uuid"],
            "sold_at": sold_at.isoformat(),
            "booked_on": _today().isoformat(),
        }
    ]
    assert _exceptions(client, pos, "sale_clock_out_of_window") == []


def test_a_till_clock_far_off_books_on_the_day_received_and_the_stock_check_still_agrees(
    client, admin, auth, pos, product_factory
):
    product = product_factory("BEANS", category="Food", cost_method="standard", standard_cost="2.00")
    old = _sale(product["id"], sold_at="1990-01-01T10:00:00+00:00")
    future = _sale(product["id"], sold_at="2099-01-01T10:00:00+00:00")
    session = _sell(client, pos, old, future)
    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "57.20"}},
        headers=pos["cashier"],
    )
    assert closed.status_code == 200, closed.text

    assert _move_dates(client, pos, product["id"]) == [_today().isoformat()]
    [exception] = _exceptions(client, pos, "sale_clock_out_of_window")
    assert exception["details"]["count"] == 2
    assert {s["client_uuid"] for s in exception["details"]["sales"]} == {
        old["client_uuid"],
        future["client_uuid"],
    }
    check = client.get(f"{API}/stock/check", headers=auth("finance", company="ACME"))
    assert check.status_code == 200, check.text
    assert check.json()["agrees"] is True, check.json()
    inventory = next(role for role in check.json()["roles"] if role["role"] == "inventory")
    assert inventory["stock_value"] == "-4.00"  # two beans at the standard cost, sold without stock


def test_a_till_a_little_ahead_books_today_without_an_exception(client, admin, pos):
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()

    _sell(client, pos, _sale(pos["product"]["id"], sold_at=ahead))

    assert _move_dates(client, pos, pos["product"]["id"]) == [_today().isoformat()]
    assert _exceptions(client, pos, "sale_clock_out_of_window") == []


def test_a_company_may_refuse_sales_outside_the_clock_window(client, admin, company, pos, snapshot):
    changed = client.patch(
        f"{API}/companies/{company['id']}",
        json={"sale_clock_policy": "refuse", "sale_clock_past_days": 2},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    session = _open(client, pos)
    three_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).isoformat()
    batch = {"sales": [_sale(pos["product"]["id"]), _sale(pos["product"]["id"], sold_at=three_days_ago)]}
    before = snapshot()

    response = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch", json=batch, headers=pos["cashier"]
    )

    assert_problem(response, 422, "sale-clock-out-of-window", fields=("sales.1.sold_at",))
    assert snapshot() == before


def test_stock_does_not_move_on_a_locked_day(client, admin, auth, company, pos):
    finance = auth("finance", company="ACME")
    yesterday = _today() - dt.timedelta(days=1)
    client.put(f"{API}/ledger/lock-date", json={"lock_date": yesterday.isoformat()}, headers=finance)
    locations = client.get(f"{API}/locations", params={"kind": "stock"}, headers=pos["manager"]).json()[
        "items"
    ]
    body = {
        "company_id": company["id"],
        "kind": "scrap",
        "date": yesterday.isoformat(),
        "lines": [
            {"product_id": pos["product"]["id"], "quantity": "1", "from_location_id": locations[0]["id"]}
        ],
    }

    response = client.post(f"{API}/stock/moves", json=body, headers=admin)

    assert_problem(response, 409, "period-locked")
