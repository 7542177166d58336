"""Authentication, the permission matrix and what each token may see."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from apitools import API, assert_problem, ids
from sqlalchemy import select

from retailcore.access.model import PERMISSIONS, system_principal
from retailcore.access.services import create_token, revoke_token
from retailcore.access.tables import ApiToken
from retailcore.adapters.db import transaction
from retailcore.core.errors import InvalidReference
from retailcore.eventlog.services import CommandContext

PRODUCT = {"sku": "AUTH-1", "name": "Thing", "category": "C", "list_price": "1.00"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/products"),
        ("get", "/companies"),
        ("post", "/products"),
        ("get", "/events"),
        ("get", "/accounts"),
    ],
)
def test_no_token_is_a_401_asking_for_a_bearer_token(client, method, path):
    response = client.request(method, f"{API}{path}", json={} if method == "post" else None)

    assert_problem(response, 401, "missing-token")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer rc_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "rc_no_scheme"],
    ids=["unknown", "empty", "basic-scheme", "no-scheme"],
)
def test_a_bad_token_is_a_401(client, company, authorization):
    response = client.get(f"{API}/companies", headers={"Authorization": authorization})

    assert_problem(response, 401, "invalid-token")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_token_is_a_401(client, runtime, auth):
    headers = auth("admin")
    assert client.get(f"{API}/companies", headers=headers).status_code == 200
    token = headers["Authorization"].removeprefix("Bearer ")
    with transaction(runtime.session_factory) as session:
        row = session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
        )
        revoke_token(session, CommandContext(system_principal()), row.id)

    assert_problem(client.get(f"{API}/companies", headers=headers), 401, "invalid-token")


def test_the_scheme_name_is_case_insensitive(client, admin):
    token = admin["Authorization"].removeprefix("Bearer ")

    assert client.get(f"{API}/companies", headers={"Authorization": f"bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("cashier", "post", "/products", PRODUCT),
        ("store_manager", "post", "/payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("cashier", "get", "/accounts", None),
        ("cashier", "get", "/events", None),
        ("store_manager", "get", "/events", None),
        ("finance", "post", "/stores", {"code": "S2", "name": "Two"}),
        ("integration", "post", "/tax-rules", {"jurisdiction": "FR", "tax_category": "x", "taxes": []}),
        ("cashier", "post", "/locations", {"code": "L", "name": "L", "kind": "supplier"}),
        ("store_manager", "post", "/accounts", {"code": "9", "name": "N", "type": "asset"}),
        ("finance", "post", "/companies", {"code": "NEW", "name": "N", "currency": "EUR", "country": "FR"}),
    ],
)
def test_a_role_without_the_permission_is_a_403_and_writes_nothing(
    client, auth, company, snapshot, role, method, path, body
):
    # given a token of a role the matrix does not allow here
    headers = auth(role, company="ACME")
    before = snapshot()

    # when it is used
    response = client.request(method, f"{API}{path}", json=body, headers=headers)

    # then it is forbidden, and nothing was written
    body = assert_problem(response, 403, "permission-denied")
    assert role in body["detail"]
    assert snapshot() == before


def test_a_patch_needs_the_write_permission_too(client, auth, product_factory, runtime):
    product = product_factory("P")

    response = client.patch(
        f"{API}/products/{product['id']}", json={"name": "Renamed"}, headers=auth("cashier", company="ACME")
    )

    assert_problem(response, 403, "permission-denied")
    assert client.get(f"{API}/products/{product['id']}", headers=auth("cashier", company="ACME")).json()[
        "name"
    ] == ("Product P")


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "status"),
    [
        ("integration", "post", "/products", PRODUCT, 201),
        ("cashier", "post", "/customers", {"name": "Walk-in"}, 201),
        ("store_manager", "post", "/customers", {"name": "Regular"}, 201),
        ("finance", "post", "/payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}, 201),
        (
            "finance",
            "post",
            "/tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "x",
                "taxes": [{"code": "V", "name": "V", "rate_percent": "20"}],
            },
            201,
        ),
        ("store_manager", "post", "/locations", {"code": "L", "name": "L", "kind": "supplier"}, 201),
        ("finance", "get", "/events", None, 200),
        ("integration", "get", "/events", None, 200),
        ("integration", "get", "/accounts", None, 200),
        ("cashier", "get", "/products", None, 200),
        ("cashier", "get", "/tax-rules", None, 200),
    ],
)
def test_a_role_with_the_permission_is_let_through(client, auth, company, role, method, path, body, status):
    response = client.request(method, f"{API}{path}", json=body, headers=auth(role, company="ACME"))

    assert response.status_code == status, response.text


# Every role reads master data, the pricing managers (decision 0048) included.
ALL_ROLES = {"cashier", "store_manager", "finance", "integration", "pricing_manager", "admin"}
MASTER_DATA_MATRIX = {
    "companies": (ALL_ROLES, {"admin"}),
    "stores": (ALL_ROLES, {"admin"}),
    "locations": (
        ALL_ROLES,
        {"admin", "store_manager"},
    ),
    "products": (ALL_ROLES, {"admin", "integration"}),
    "customers": (
        ALL_ROLES,
        {"admin", "integration", "store_manager", "cashier"},
    ),
    "payment_methods": (
        ALL_ROLES,
        {"admin", "finance"},
    ),
    "tax_rules": (ALL_ROLES, {"admin", "finance"}),
    "accounts": ({"admin", "finance", "integration"}, {"admin", "finance"}),
}


@pytest.mark.parametrize("collection", list(MASTER_DATA_MATRIX))
def test_the_master_data_permission_matrix(collection):
    # the master-data part of the matrix, pinned: a change to it must be deliberate
    readers, writers = MASTER_DATA_MATRIX[collection]

    assert {r.value for r in PERMISSIONS[f"{collection}:read"]} == readers
    assert {r.value for r in PERMISSIONS[f"{collection}:write"]} == writers
    assert {r.value for r in PERMISSIONS["events:read"]} == {"admin", "finance", "integration"}


def test_a_company_scoped_admin_cannot_create_companies(client, auth, company, snapshot):
    acme_admin = auth("admin", company="ACME")
    before = snapshot()

    response = client.post(
        f"{API}/companies",
        json={"code": "SIDE", "name": "Side Co", "currency": "EUR", "country": "FR"},
        headers=acme_admin,
    )

    assert_problem(response, 403, "permission-denied")
    assert snapshot() == before


# -- store scope ----------------------------------------------------------------------------------


@pytest.fixture
def two_stores(store_factory):
    return store_factory("A"), store_factory("B")


def test_a_store_token_lists_only_its_store(client, auth, two_stores):
    store_a, _ = two_stores
    cashier = auth("cashier", company="ACME", store="A")

    response = client.get(f"{API}/stores", headers=cashier)

    assert response.status_code == 200
    assert ids(response.json()["items"]) == [store_a["id"]]


def test_a_store_token_gets_404_for_another_store(client, auth, two_stores):
    store_a, store_b = two_stores
    cashier = auth("cashier", company="ACME", store="A")

    assert client.get(f"{API}/stores/{store_a['id']}", headers=cashier).status_code == 200
    assert_problem(client.get(f"{API}/stores/{store_b['id']}", headers=cashier), 404, "not-found")


def test_a_store_token_sees_its_stores_locations_and_the_companys_virtual_ones(
    client, admin, auth, two_stores
):
    store_a, store_b = two_stores
    everything = client.get(f"{API}/locations", headers=admin).json()["items"]
    cashier = auth("cashier", company="ACME", store="A")

    seen = client.get(f"{API}/locations", headers=cashier).json()["items"]

    expected = [loc for loc in everything if loc["store_id"] in (None, store_a["id"])]
    assert ids(seen) == ids(expected)
    assert {loc["code"] for loc in seen} == {
        "A/STOCK", "A/BACKROOM", "A/DAMAGED",
        "VIRTUAL/SUPPLIER", "VIRTUAL/CUSTOMER", "VIRTUAL/IN_TRANSIT", "VIRTUAL/INVENTORY_LOSS",
    }  # fmt: skip
    b_locations = [loc for loc in everything if loc["store_id"] == store_b["id"]]
    assert len(b_locations) == 3
    for location in b_locations:
        assert_problem(client.get(f"{API}/locations/{location['id']}", headers=cashier), 404)


def test_a_store_manager_cannot_change_another_stores_location(client, admin, auth, two_stores):
    b_stock = client.get(f"{API}/locations", params={"code": "B/STOCK"}, headers=admin).json()["items"][0]
    manager = auth("store_manager", company="ACME", store="A")

    response = client.patch(f"{API}/locations/{b_stock['id']}", json={"name": "Mine now"}, headers=manager)

    assert_problem(response, 404)
    assert client.get(f"{API}/locations/{b_stock['id']}", headers=admin).json()["name"] == b_stock["name"]


def test_a_store_manager_cannot_create_a_location_in_another_store(
    client, auth, company, two_stores, snapshot
):
    _, store_b = two_stores
    manager = auth("store_manager", company="ACME", store="A")
    before = snapshot()

    response = client.post(
        f"{API}/locations",
        json={"code": "B/SHELF", "name": "Shelf", "kind": "stock", "store_id": store_b["id"]},
        headers=manager,
    )

    assert_problem(response, 422, "invalid-reference", fields=("store_id",))
    assert snapshot() == before


# -- company scope --------------------------------------------------------------------------------


@pytest.fixture
def globex_records(create, other_company):
    product = create("/products", {"company_id": other_company["id"], **PRODUCT})
    customer = create("/customers", {"company_id": other_company["id"], "name": "Globex buyer"})
    return {"/products": product, "/customers": customer, "/companies": other_company}


@pytest.mark.parametrize("path", ["/products", "/customers", "/companies"])
@pytest.mark.parametrize("role", ["admin", "cashier", "finance"])
def test_a_token_of_one_company_cannot_see_another_companys_records(
    client, auth, company, globex_records, path, role
):
    # given a record of GLOBEX and a token of ACME
    record = globex_records[path]
    acme = auth(role, company="ACME")

    # when ACME reads it or lists the collection
    one = client.get(f"{API}{path}/{record['id']}", headers=acme)
    listed = client.get(f"{API}{path}", params={"limit": 500}, headers=acme)

    # then the record does not exist for ACME
    assert_problem(one, 404, "not-found")
    assert listed.status_code == 200
    assert record["id"] not in ids(listed.json()["items"])
    assert all(item.get("company_id", item["id"]) == company["id"] for item in listed.json()["items"])


def test_a_company_filter_cannot_widen_a_tokens_scope(client, auth, company, globex_records, other_company):
    acme = auth("admin", company="ACME")

    response = client.get(f"{API}/products", params={"company_id": other_company["id"]}, headers=acme)

    # Refused as a company that does not exist: the scope is not widened, nor is GLOBEX confirmed.
    assert_problem(response, 422, "invalid-reference", fields=("company_id",))
    assert response.json()["detail"] == f"no company '{other_company['id']}'"


def test_a_token_of_one_company_cannot_change_another_companys_record(
    client, auth, company, globex_records, admin
):
    product = globex_records["/products"]

    response = client.patch(
        f"{API}/products/{product['id']}", json={"name": "Hijacked"}, headers=auth("admin", company="ACME")
    )

    assert_problem(response, 404)
    assert client.get(f"{API}/products/{product['id']}", headers=admin).json()["name"] == "Thing"


def test_an_installation_admin_sees_every_company(client, admin, company, globex_records):
    listed = client.get(f"{API}/products", headers=admin).json()["items"]

    assert globex_records["/products"]["id"] in ids(listed)


# -- tokens at rest -------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_a_sha256_hash(client, runtime, auth, company):
    # given tokens just issued
    tokens = [
        auth("admin")["Authorization"].removeprefix("Bearer "),
        auth("cashier", company="ACME", store=None)["Authorization"].removeprefix("Bearer "),
    ]

    # when the token table is read
    with runtime.session_factory() as session:
        rows = session.execute(select(ApiToken.__table__)).mappings().all()

    # then no column of any row holds a token, and each token is found by its SHA-256 hash alone
    assert rows
    for token in tokens:
        assert token.startswith("rc_") and len(token) > 40
        assert not any(token in str(value) for row in rows for value in row.values())
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert [row["token_hash"] for row in rows if row["token_hash"] == digest] == [digest]
    assert all(len(row["token_hash"]) == 64 for row in rows)


@pytest.mark.parametrize("path", ["/health", "/openapi.json"])
def test_health_and_the_api_description_need_no_token(client, path):
    assert client.get(f"{API}{path}").status_code == 200


def test_a_token_for_an_unknown_company_cannot_be_issued(runtime):
    with pytest.raises(InvalidReference), transaction(runtime.session_factory) as session:
        create_token(session, role="cashier", company=str(uuid.uuid4()))
