"""The POS over HTTP: terminals, sessions, sales batches, cash movements, close with approval."""

from __future__ import annotations

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


def _sale(product_id, amount="3.60", method="CASH", paid="5.00"):
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": "2026-03-02T10:00:00Z",
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
    assert client.get(f"{API}/pos/terminals", headers=other).json() == []
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
