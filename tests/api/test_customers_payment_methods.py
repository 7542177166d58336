"""Customers and payment methods."""

from __future__ import annotations

import re

import pytest
from apitools import API, assert_problem, events, ids

# -- customers -------------------------------------------------------------------------------------


def test_a_customer_gets_a_generated_code_and_a_lowercased_email(client, admin, company):
    response = client.post(
        f"{API}/customers",
        json={
            "company_id": company["id"],
            "name": "Jane Doe",
            "email": " Jane.Doe@Example.COM ",
            "phone": "+33 1 23",
        },
        headers=admin,
    )

    assert response.status_code == 201, response.text
    customer = response.json()
    assert re.fullmatch(r"C-[0-9A-F]{10}", customer["code"])
    assert (customer["email"], customer["phone"], customer["credit_limit"]) == (
        "jane.doe@example.com",
        "+33 1 23",
        "0.00",
    )
    assert response.headers["Location"] == f"{API}/customers/{customer['id']}"
    read = client.get(f"{API}/customers/{customer['id']}", headers=admin)
    assert read.json() == customer
    assert read.headers["ETag"] == '"1"'


def test_two_customers_without_a_code_get_different_codes(create, company):
    first = create("/customers", {"company_id": company["id"], "name": "A"})
    second = create("/customers", {"company_id": company["id"], "name": "B"})

    assert first["code"] != second["code"]


def test_a_customer_patch_changes_only_what_is_sent(client, admin, create, company, runtime):
    customer = create(
        "/customers", {"company_id": company["id"], "code": "C-1", "name": "Jane", "email": "j@x.io"}
    )

    response = client.patch(
        f"{API}/customers/{customer['id']}", json={"credit_limit": "150.5", "phone": None}, headers=admin
    )

    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["credit_limit"], changed["version"], changed["email"], changed["name"]) == (
        "150.50",
        2,
        "j@x.io",
        "Jane",
    )
    assert events(runtime, type="CustomerUpdated")[0].payload["changes"] == {
        "credit_limit": {"from": "0.00", "to": "150.50"}
    }


def test_a_customer_patch_that_changes_nothing_keeps_the_version(client, admin, create, company, runtime):
    customer = create("/customers", {"company_id": company["id"], "name": "Jane", "email": "j@x.io"})
    count = len(events(runtime))

    response = client.patch(f"{API}/customers/{customer['id']}", json={"email": "J@X.IO"}, headers=admin)

    assert response.json()["version"] == 1
    assert len(events(runtime)) == count


def test_a_customer_patch_with_a_stale_version_is_a_412(client, admin, create, company):
    customer = create("/customers", {"company_id": company["id"], "name": "Jane"})
    client.patch(f"{API}/customers/{customer['id']}", json={"name": "Janet"}, headers=admin)

    response = client.patch(
        f"{API}/customers/{customer['id']}", json={"name": "Joan"}, headers={**admin, "If-Match": '"1"'}
    )

    assert_problem(response, 412)
    assert client.get(f"{API}/customers/{customer['id']}", headers=admin).json()["name"] == "Janet"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"code": "C-2"}, ["bob"]),
        ({"email": "ALICE@shop.example"}, ["alice"]),
        ({"q": "ali"}, ["alice"]),
        ({"q": "SHOP.EXAMPLE"}, ["alice", "bob"]),
        ({"q": "c-3"}, ["carol"]),
        ({"active": "false"}, ["carol"]),
        ({"q": "_"}, []),
    ],
)
def test_customers_are_filtered(client, admin, create, company, params, expected):
    people = {
        "alice": create(
            "/customers",
            {"company_id": company["id"], "code": "C-1", "name": "Alice", "email": "alice@shop.example"},
        ),
        "bob": create(
            "/customers",
            {"company_id": company["id"], "code": "C-2", "name": "Bob", "email": "bob@shop.example"},
        ),
        "carol": create(
            "/customers", {"company_id": company["id"], "code": "C-3", "name": "Carol", "active": False}
        ),
    }

    response = client.get(f"{API}/customers", params=params, headers=admin)

    assert response.status_code == 200, response.text
    assert ids(response.json()["items"]) == [people[name]["id"] for name in expected]


# -- payment methods -------------------------------------------------------------------------------


def test_a_card_payment_method_names_its_gateway(client, admin, company):
    response = client.post(
        f"{API}/payment-methods",
        json={
            "company_id": company["id"],
            "code": "VISA",
            "name": "Visa",
            "kind": "card",
            "gateway": "Stripe",
        },
        headers=admin,
    )

    assert response.status_code == 201, response.text
    method = response.json()
    assert (method["kind"], method["gateway"], method["active"]) == ("card", "stripe", True)
    assert client.get(f"{API}/payment-methods/{method['id']}", headers=admin).json() == method


@pytest.mark.parametrize("kind", ["cash", "gift_card", "store_credit", "on_account"])
def test_other_payment_methods_have_no_gateway(create, company, kind):
    method = create(
        "/payment-methods", {"company_id": company["id"], "code": kind.upper(), "name": kind, "kind": kind}
    )

    assert method["gateway"] is None


def test_a_payment_method_patch_changes_only_what_is_sent(client, admin, create, company):
    method = create(
        "/payment-methods", {"company_id": company["id"], "code": "CASH", "name": "Cash", "kind": "cash"}
    )

    response = client.patch(f"{API}/payment-methods/{method['id']}", json={"active": False}, headers=admin)

    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k not in ("updated_at",)} == {
        **{k: v for k, v in method.items() if k not in ("updated_at",)},
        "active": False,
        "version": 2,
    }


@pytest.mark.parametrize(("change", "field"), [({"gateway": "adyen"}, "gateway"), ({"kind": "card"}, "kind")])
def test_a_payment_methods_kind_and_gateway_cannot_be_patched(client, admin, create, company, change, field):
    method = create(
        "/payment-methods", {"company_id": company["id"], "code": "CASH", "name": "Cash", "kind": "cash"}
    )

    response = client.patch(f"{API}/payment-methods/{method['id']}", json=change, headers=admin)

    assert_problem(response, 422, fields=(field,))


@pytest.mark.parametrize(
    ("params", "expected"),
    [({"kind": "card"}, ["VISA", "AMEX"]), ({"gateway": "adyen"}, ["AMEX"]), ({"kind": "cash"}, ["CASH"])],
)
def test_payment_methods_are_filtered(client, admin, create, company, params, expected):
    for code, kind, gateway in (
        ("VISA", "card", "stripe"),
        ("AMEX", "card", "adyen"),
        ("CASH", "cash", None),
    ):
        create(
            "/payment-methods",
            {"company_id": company["id"], "code": code, "name": code, "kind": kind, "gateway": gateway},
        )

    response = client.get(f"{API}/payment-methods", params=params, headers=admin)

    assert [m["code"] for m in response.json()["items"]] == expected
