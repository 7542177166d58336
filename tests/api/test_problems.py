"""Refused input: RFC 9457 problem documents that name the field, and nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from apitools import API, assert_problem, ean13

DROP = object()
STORE = "<store id>"

VALID: dict[str, dict[str, Any]] = {
    "/products": {"sku": "P-1", "name": "Pen", "category": "Office", "list_price": "1.50"},
    "/companies": {"code": "NEWCO", "name": "New Co", "currency": "EUR", "country": "DE"},
    "/stores": {"code": "S9", "name": "Store 9"},
    "/locations": {"code": "LOC-1", "name": "Shelf", "kind": "stock", "store_id": STORE},
    "/customers": {"name": "Jane Doe"},
    "/payment-methods": {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"},
    "/tax-rules": {
        "jurisdiction": "FR",
        "tax_category": "reduced",
        "taxes": [{"code": "VAT-5", "name": "VAT 5.5%", "rate_percent": "5.5"}],
    },
    "/accounts": {"code": "9999", "name": "Misc", "type": "expense"},
}


def body_for(path: str, company: dict[str, Any], store: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = dict(VALID[path])
    if path != "/companies":
        body["company_id"] = company["id"]
    body.update(changes)
    return {k: (store["id"] if v == STORE else v) for k, v in body.items() if v is not DROP}


@pytest.fixture
def store(store_factory):
    return store_factory("S1")


@pytest.mark.parametrize("path", list(VALID))
def test_the_valid_bodies_used_below_are_accepted(client, admin, company, store, path):
    # given a body that the invalid cases below each break in one way
    body = body_for(path, company, store)

    # when it is sent unchanged
    response = client.post(f"{API}{path}", json=body, headers=admin)

    # then it is accepted, so each refusal below is caused by its one change
    assert response.status_code == 201, response.text


INVALID = [
    # products
    ("/products", {"name": DROP}, "name"),
    ("/products", {"sku": DROP}, "sku"),
    ("/products", {"name": 123}, "name"),
    ("/products", {"list_price": "-1"}, "list_price"),
    ("/products", {"list_price": "1.23456"}, "list_price"),
    ("/products", {"list_price": 1.23456}, "list_price"),
    ("/products", {"list_price": "abc"}, "list_price"),
    ("/products", {"list_price": "NaN"}, "list_price"),
    ("/products", {"standard_cost": "0.1234567"}, "standard_cost"),
    ("/products", {"standard_cost": "-0.01"}, "standard_cost"),
    ("/products", {"colour": "red"}, "colour"),
    ("/products", {"barcodes": ["4006381333932"]}, "barcodes.0"),
    ("/products", {"barcodes": ["4006381333931", "bad code"]}, "barcodes.1"),
    ("/products", {"barcodes": ["4006381333931", "4006381333931"]}, "barcodes"),
    ("/products", {"channels": ["shop"]}, "channels.0"),
    ("/products", {"sku": "has space"}, "sku"),
    ("/products", {"active": "maybe"}, "active"),
    ("/products", {"cost_method": "lifo"}, "cost_method"),
    # companies
    ("/companies", {"currency": "EURO"}, "currency"),
    ("/companies", {"currency": "ABC"}, "currency"),
    ("/companies", {"country": "France"}, "country"),
    ("/companies", {"code": DROP}, "code"),
    ("/companies", {"chart_template": "no_such_chart"}, "chart_template"),
    # stores
    ("/stores", {"timezone": "Mars/Olympus"}, "timezone"),
    ("/stores", {"kind": "kiosk"}, "kind"),
    ("/stores", {"code": ""}, "code"),
    ("/stores", {"name": DROP}, "name"),
    ("/stores", {"company_id": "not-a-uuid"}, "company_id"),
    # locations
    ("/locations", {"store_id": DROP}, "store_id"),
    ("/locations", {"kind": "supplier"}, "store_id"),
    ("/locations", {"kind": "shelf"}, "kind"),
    # customers
    ("/customers", {"email": "not-an-email"}, "email"),
    ("/customers", {"credit_limit": "-5"}, "credit_limit"),
    ("/customers", {"phone": "call me"}, "phone"),
    # payment methods
    ("/payment-methods", {"gateway": DROP}, "gateway"),
    ("/payment-methods", {"kind": "cash"}, "gateway"),
    ("/payment-methods", {"kind": "cheque"}, "kind"),
    # tax rules
    ("/tax-rules", {"taxes": [{"code": "E", "name": "E", "kind": "fixed"}]}, "taxes.0.amount"),
    ("/tax-rules", {"taxes": [{"code": "G", "name": "G", "kind": "group"}]}, "taxes.0.children"),
    (
        "/tax-rules",
        {"taxes": [{"code": "D", "name": "D", "kind": "division", "rate_percent": "100"}]},
        "taxes.0.rate_percent",
    ),
    ("/tax-rules", {"taxes": [{"code": "V", "name": "V", "rate_percent": "101"}]}, "taxes.0.rate_percent"),
    ("/tax-rules", {"taxes": [{"code": "V", "name": "V"}]}, "taxes.0.rate_percent"),
    (
        "/tax-rules",
        {
            "taxes": [
                {"code": "V", "name": "V", "rate_percent": "5"},
                {"code": "V", "name": "W", "rate_percent": "1"},
            ]
        },
        "taxes",
    ),
    ("/tax-rules", {"jurisdiction": "F"}, "jurisdiction"),
    # accounts
    ("/accounts", {"type": "asset-ish"}, "type"),
    ("/accounts", {"currency": "ZZZ"}, "currency"),
    ("/accounts", {"role": "petty_cash"}, "role"),
]


@pytest.mark.parametrize(("path", "changes", "field"), INVALID)
def test_invalid_input_is_a_422_problem_naming_the_field_and_writes_nothing(
    client, admin, company, store, snapshot, path, changes, field
):
    # given a body with one thing wrong
    body = body_for(path, company, store, **changes)
    before = snapshot()

    # when it is posted
    response = client.post(f"{API}{path}", json=body, headers=admin)

    # then it is refused with a problem naming the field, and no row nor event was written
    assert_problem(response, 422, fields=(field,))
    assert snapshot() == before


def test_a_problem_names_every_invalid_field_at_once(client, admin, company, snapshot):
    before = snapshot()

    response = client.post(
        f"{API}/products",
        json={"company_id": company["id"], "sku": "X", "list_price": "-3", "colour": "red"},
        headers=admin,
    )

    body = assert_problem(
        response, 422, "validation-failed", fields=("name", "category", "list_price", "colour")
    )
    assert {e["field"] for e in body["errors"]} == {"name", "category", "list_price", "colour"}
    assert next(e for e in body["errors"] if e["field"] == "name")["detail"] == "required"
    assert "list_price" in body["detail"]
    assert body["instance"] == f"{API}/products"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("content", "field"),
    [("{not json", "body"), ("[1, 2]", "body"), ("", "body")],
    ids=["malformed", "not-an-object", "empty"],
)
def test_a_body_that_is_not_a_json_object_is_a_422_problem(client, admin, company, snapshot, content, field):
    before = snapshot()

    response = client.post(
        f"{API}/products", content=content, headers={**admin, "Content-Type": "application/json"}
    )

    assert_problem(response, 422, "validation-failed", fields=(field,))
    assert snapshot() == before


@pytest.mark.parametrize(
    ("sent", "expected"),
    [(19.99, "19.99"), (0.1, "0.10"), (100, "100.00"), (0.3, "0.30"), (1.2345, "1.2345")],
)
def test_json_number_prices_are_read_exactly(client, admin, company, sent, expected):
    # given a price sent as a JSON number rather than a string
    body = {"company_id": company["id"], "sku": "NUM", "name": "N", "category": "C", "list_price": sent}

    # when the product is created and read back
    created = client.post(f"{API}/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    read = client.get(f"{API}/products/{created.json()['id']}", headers=admin)

    # then the price is the decimal that was written, not its nearest binary float
    assert created.json()["list_price"] == expected
    assert read.json()["list_price"] == expected


def test_a_raw_json_number_with_many_digits_is_not_rounded_through_a_float(client, admin, company):
    # given a price that is the exact value of the binary float nearest 0.1: parsed as a float it would
    # turn into 0.1 and be accepted; parsed as a decimal it has more than 4 decimals
    content = (
        f'{{"company_id": "{company["id"]}", "sku": "RAW", "name": "R", "category": "C", '
        '"list_price": 0.1000000000000000055511151231257827}'
    )

    # when it is sent as a raw JSON number
    response = client.post(
        f"{API}/products", content=content, headers={**admin, "Content-Type": "application/json"}
    )

    # then it is refused rather than silently rounded
    assert_problem(response, 422, fields=("list_price",))


# -- references to things that do not exist ------------------------------------------------------


def test_an_unknown_company_id_is_a_422_invalid_reference(client, admin, company, snapshot):
    before = snapshot()
    for path in ("/products", "/stores", "/customers", "/accounts"):
        body = body_for(path, company, {"id": None}, company_id=str(uuid.uuid4()))

        response = client.post(f"{API}{path}", json=body, headers=admin)

        assert_problem(response, 422, "invalid-reference", fields=("company_id",))
    assert snapshot() == before


def test_a_location_in_an_unknown_store_is_a_422_invalid_reference(client, admin, company, snapshot):
    before = snapshot()
    body = {
        "company_id": company["id"],
        "code": "L",
        "name": "L",
        "kind": "stock",
        "store_id": str(uuid.uuid4()),
    }

    response = client.post(f"{API}/locations", json=body, headers=admin)

    assert_problem(response, 422, "invalid-reference", fields=("store_id",))
    assert snapshot() == before


def test_a_location_in_another_companys_store_is_a_422_invalid_reference(
    client, admin, company, other_company, create, snapshot
):
    # given a store of GLOBEX
    foreign = create("/stores", {"company_id": other_company["id"], "code": "G1", "name": "Globex 1"})
    before = snapshot()

    # when an ACME location is put in it
    response = client.post(
        f"{API}/locations",
        json={
            "company_id": company["id"],
            "code": "L",
            "name": "L",
            "kind": "stock",
            "store_id": foreign["id"],
        },
        headers=admin,
    )

    # then it is refused as a reference to a store that does not exist for ACME
    assert_problem(response, 422, "invalid-reference", fields=("store_id",))
    assert snapshot() == before


def test_a_company_token_cannot_create_in_another_company(client, auth, company, other_company, snapshot):
    acme_admin = auth("admin", company="ACME")
    before = snapshot()

    response = client.post(
        f"{API}/products",
        json={**VALID["/products"], "company_id": other_company["id"]},
        headers=acme_admin,
    )

    assert_problem(response, 422, "invalid-reference", fields=("company_id",))
    assert snapshot() == before


def test_an_installation_wide_token_names_the_company_when_there_are_several(
    client, admin, company, other_company, snapshot
):
    before = snapshot()

    response = client.post(f"{API}/products", json=VALID["/products"], headers=admin)

    problem = assert_problem(response, 422, "company-required", fields=("company_id",))
    assert "(ACME, GLOBEX)" in problem["detail"]
    assert snapshot() == before


def test_a_company_token_creates_in_its_own_company_by_default(client, auth, company):
    response = client.post(f"{API}/products", json=VALID["/products"], headers=auth("admin", company="ACME"))

    assert response.status_code == 201, response.text
    assert response.json()["company_id"] == company["id"]


# -- duplicates ---------------------------------------------------------------------------------


def test_a_duplicate_sku_is_a_409_naming_sku(client, admin, company, product_factory, snapshot):
    product_factory("TSH-1")
    before = snapshot()

    response = client.post(
        f"{API}/products",
        json={
            "company_id": company["id"],
            "sku": "TSH-1",
            "name": "Other",
            "category": "C",
            "list_price": "1",
        },
        headers=admin,
    )

    body = assert_problem(response, 409, "duplicate-sku", fields=("sku",))
    assert "TSH-1" in body["detail"]
    assert snapshot() == before


def test_a_duplicate_barcode_is_a_409_naming_the_barcode(client, admin, company, product_factory, snapshot):
    product_factory("A", barcodes=[ean13(400638133393)])
    before = snapshot()

    response = client.post(
        f"{API}/products",
        json={
            "company_id": company["id"],
            "sku": "B",
            "name": "B",
            "category": "C",
            "list_price": "1",
            "barcodes": [ean13(590123412345), ean13(400638133393)],
        },
        headers=admin,
    )

    assert_problem(response, 409, "duplicate-barcode", fields=("barcodes.1",))
    assert snapshot() == before


def test_the_same_sku_and_barcode_may_exist_in_two_companies(client, admin, other_company, product_factory):
    product_factory("TSH-1", barcodes=["4006381333931"])

    response = client.post(
        f"{API}/products",
        json={
            "company_id": other_company["id"],
            "sku": "TSH-1",
            "name": "T",
            "category": "C",
            "list_price": "1",
            "barcodes": ["4006381333931"],
        },
        headers=admin,
    )

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("path", "first", "second", "code", "field"),
    [
        ("/stores", {"code": "S1", "name": "One"}, {"code": "S1", "name": "Two"}, "duplicate-code", "code"),
        (
            "/payment-methods",
            {"code": "CASH", "name": "Cash", "kind": "cash"},
            {"code": "CASH", "name": "Cash again", "kind": "cash"},
            "duplicate-code",
            "code",
        ),
        (
            "/customers",
            {"code": "C-1", "name": "Jane"},
            {"code": "C-1", "name": "John"},
            "duplicate-code",
            "code",
        ),
        (
            "/accounts",
            {"code": "9000", "name": "Misc", "type": "expense"},
            {"code": "9000", "name": "Other", "type": "income"},
            "duplicate-code",
            "code",
        ),
        (
            "/tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "standard",
                "taxes": [{"code": "V", "name": "V", "rate_percent": "20"}],
            },
            {
                "jurisdiction": "fr",
                "tax_category": "STANDARD",
                "taxes": [{"code": "W", "name": "W", "rate_percent": "5"}],
            },
            "duplicate-tax-rule",
            "tax_category",
        ),
    ],
    ids=[
        "store-code",
        "payment-method-code",
        "customer-code",
        "account-code",
        "tax-rule-jurisdiction-category",
    ],
)
def test_a_duplicate_is_a_409_naming_the_field(
    client, admin, company, snapshot, path, first, second, code, field
):
    # given a record
    created = client.post(f"{API}{path}", json={"company_id": company["id"], **first}, headers=admin)
    assert created.status_code == 201, created.text
    before = snapshot()

    # when another one collides with it
    response = client.post(f"{API}{path}", json={"company_id": company["id"], **second}, headers=admin)

    # then it is refused naming the field, and nothing is written
    assert_problem(response, 409, code, fields=(field,))
    assert snapshot() == before


def test_a_duplicate_company_code_is_a_409(client, admin, company, snapshot):
    before = snapshot()

    response = client.post(
        f"{API}/companies",
        json={"code": "ACME", "name": "Another Acme", "currency": "USD", "country": "US"},
        headers=admin,
    )

    assert_problem(response, 409, "duplicate-code", fields=("code",))
    assert snapshot() == before


def test_a_duplicate_location_code_is_a_409(client, admin, company, store_factory, snapshot):
    store_factory("S1")  # creates S1/STOCK
    before = snapshot()

    response = client.post(
        f"{API}/locations",
        json={"company_id": company["id"], "code": "VIRTUAL/SUPPLIER", "name": "Again", "kind": "supplier"},
        headers=admin,
    )

    assert_problem(response, 409, "duplicate-code", fields=("code",))
    assert snapshot() == before


# -- other problems -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/products", "/stores", "/locations", "/customers", "/accounts", "/companies"]
)
def test_an_unknown_id_is_a_404_problem(client, admin, company, path):
    response = client.get(f"{API}{path}/{uuid.uuid4()}", headers=admin)

    assert_problem(response, 404, "not-found")


def test_a_malformed_id_is_a_422_problem(client, admin):
    response = client.get(f"{API}/products/not-a-uuid", headers=admin)

    assert_problem(response, 422, "validation-failed", fields=("item_id",))


def test_an_unknown_route_is_a_404_problem(client, admin):
    assert_problem(client.get(f"{API}/nothing-here", headers=admin), 404, "not-found")


def test_a_wrong_method_is_a_405_problem(client, admin):
    assert_problem(client.delete(f"{API}/products", headers=admin), 405, "method-not-allowed")
