"""Companies and stores named by code or id, everywhere; the installation's only company by default.

Issue 14 (decision 0021): ``company_id=DEMO`` used to answer 422 "valid UUID", and an installation-wide
token had to look the id up first. Now every ``company_id`` and ``store_id`` (query parameter or body
field) takes the code as well as the id, resolved in one place (``masterdata.services``); responses
still carry ids. The OpenAPI document is walked so that a parameter added later is held to the same
rule.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from apitools import API, assert_problem
from sqlalchemy import event

from retailcore.masterdata.commands import CODE_PATTERN

REF = "#/components/schemas/"


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


def names_a_company_or_store(name: str) -> bool:
    return name == "company_id" or name.endswith("store_id")


def is_reference(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A code-or-id: text with the code pattern (a UUID matches it too), never ``format: uuid``."""
    options = [resolve(doc, option) for option in resolve(doc, schema).get("anyOf", [schema])]
    texts = [option for option in options if option.get("type") != "null"]
    return bool(texts) and all(
        option.get("type") == "string" and option.get("pattern") == CODE_PATTERN and "format" not in option
        for option in texts
    )


def body_fields(doc: dict[str, Any], schema: dict[str, Any], path: str = "", depth: int = 0):
    schema = resolve(doc, schema)
    if depth > 6:
        return
    for option in schema.get("anyOf", []):
        yield from body_fields(doc, option, path, depth + 1)
    if schema.get("type") == "array":
        yield from body_fields(doc, schema.get("items", {}), f"{path}0.", depth + 1)
    for name, field in schema.get("properties", {}).items():
        yield f"{path}{name}", name, field
        yield from body_fields(doc, field, f"{path}{name}.", depth + 1)


def test_every_company_and_store_parameter_and_body_field_takes_a_code_or_an_id(client):
    doc = client.get(f"{API}/openapi.json").json()
    found, wrong = 0, []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if names_a_company_or_store(parameter["name"]) and parameter["in"] == "query":
                    found += 1
                    if not is_reference(doc, parameter["schema"]):
                        wrong.append(f"{method.upper()} {path} ?{parameter['name']}")
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            for where, name, field in body_fields(doc, content["schema"]) if content else ():
                if names_a_company_or_store(name):
                    found += 1
                    if not is_reference(doc, field):
                        wrong.append(f"{method.upper()} {path} body {where}")

    assert found > 80  # the walk found them (about 50 parameters and 40 body fields)
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def shop(client, admin, company, store_factory) -> dict[str, Any]:
    """ACME, alone in its installation, with two stores."""
    return {"S1": store_factory("S1"), "S2": store_factory("S2")}


def same_answer(
    client, path: str, headers: dict[str, str], name: str, values: list[Any], **params: Any
) -> list[str]:
    """The answers to ``path`` with each of ``values`` as ``name`` (None: left out) are one and the same."""
    answers = [
        client.get(f"{API}{path}", params={**params, **({name: value} if value else {})}, headers=headers)
        for value in values
    ]
    statuses = {answer.status_code for answer in answers}
    if statuses == {404}:
        # A singleton not set up yet (the loyalty programme): the same refusal, however the company is named.
        details = {answer.json().get("detail") for answer in answers}
        return [] if len(details) == 1 else [f"{path} ?{name}: 404s differ: {details}"]
    if statuses != {200}:
        seen = [(value, a.status_code, a.text[:160]) for value, a in zip(values, answers, strict=True)]
        return [f"{path} ?{name}: {seen}"]
    bodies = [answer.json() for answer in answers]
    return [] if all(body == bodies[0] for body in bodies) else [f"{path} ?{name}: answers differ"]


@pytest.fixture
def no_rate_limit(monkeypatch):
    """Requested before ``runtime``: the walk sends about 150 requests, faster than 50 a second on a quiet
    machine, and a 429 is not the answer it compares."""
    monkeypatch.setenv("RETAILCORE_RATE_LIMIT_PER_SECOND", "0")


def test_every_read_takes_the_company_by_code_by_id_or_not_at_all_when_it_is_the_only_one(
    no_rate_limit, client, admin, company, shop
):
    doc = client.get(f"{API}/openapi.json").json()
    failures: list[str] = []
    checked = 0
    for path, operations in doc["paths"].items():
        operation = operations.get("get")
        if operation is None or "{" in path:
            continue
        parameters = {p["name"]: p for p in operation.get("parameters", [])}
        if "company_id" not in parameters or any(p.get("required") for p in parameters.values()):
            continue
        checked += 1
        path = path.removeprefix(API)
        # Reports of a period need the period.
        period = {"date_from": "2026-01-01", "date_to": "2026-01-31"} if "date_to" in parameters else {}
        # Without a company, /tokens lists the installation-wide tokens too; with one, its tokens only.
        values = [company["id"], "ACME"] + ([] if path == "/tokens" else [None])
        failures += same_answer(client, path, admin, "company_id", values, **period)
        if "store_id" in parameters:
            failures += same_answer(client, path, admin, "store_id", [shop["S1"]["id"], "S1"], **period)

    assert checked > 35
    assert not failures, "\n".join(failures)


def test_the_printed_example_works_a_company_by_code_on_orders_and_reports(client, admin, company):
    orders = client.get(f"{API}/orders", params={"company_id": "ACME"}, headers=admin)
    report = client.get(
        f"{API}/reports/trial-balance",
        params={"company_id": "ACME", "date_from": "2026-01-01", "date_to": "2026-01-31"},
        headers=admin,
    )

    assert orders.status_code == 200, orders.text
    assert report.status_code == 200, report.text


def test_an_unknown_code_is_refused_naming_the_parameter(client, admin, company):
    response = client.get(f"{API}/orders", params={"company_id": "NOPE"}, headers=admin)

    problem = assert_problem(response, 422, "invalid-reference", fields=("company_id",))
    assert problem["detail"] == "no company 'NOPE'"


def test_another_companys_code_is_as_unknown_as_a_code_that_does_not_exist(
    client, auth, company, other_company
):
    acme = auth("admin", company="ACME")

    theirs = client.get(f"{API}/products", params={"company_id": "GLOBEX"}, headers=acme)
    nobody = client.get(f"{API}/products", params={"company_id": "NOPE"}, headers=acme)

    assert_problem(theirs, 422, "invalid-reference", fields=("company_id",))
    assert theirs.json()["errors"] == nobody.json()["errors"]


def test_a_company_token_defaults_to_its_company_whatever_else_exists(client, auth, company, other_company):
    finance = auth("finance", company="GLOBEX")

    response = client.get(f"{API}/journals", headers=finance)

    assert response.status_code == 200, response.text
    assert {journal["company_id"] for journal in response.json()["items"]} == {other_company["id"]}


def test_with_several_companies_an_installation_token_names_one_and_is_told_how(
    client, admin, company, other_company, snapshot
):
    before = snapshot()

    read = client.get(f"{API}/orders", headers=admin)
    write = client.post(f"{API}/customers", json={"name": "Ann"}, headers=admin)

    for response in (read, write):
        problem = assert_problem(response, 422, "company-required", fields=("company_id",))
        assert problem["detail"] == (
            "name the company with company_id, by its code or id: "
            "the installation has several companies (ACME, GLOBEX)"
        )
    assert snapshot() == before


def test_with_no_company_yet_the_refusal_says_to_create_one(client, admin):
    problem = assert_problem(client.get(f"{API}/orders", headers=admin), 422, "company-required")

    assert "no company yet" in problem["detail"] and "POST /api/v1/companies" in problem["detail"]


def test_the_only_company_is_the_default_for_reads_and_writes(client, admin, company):
    created = client.post(f"{API}/customers", json={"name": "Ann"}, headers=admin)
    listed = client.get(f"{API}/pos/terminals", headers=admin)

    assert created.status_code == 201, created.text
    assert created.json()["company_id"] == company["id"]
    assert listed.status_code == 200, listed.text


def test_a_code_that_reads_as_an_id_is_tried_as_an_id_then_as_a_code(client, admin):
    code = "0123456789abcdef0123456789abcdef"  # a valid code; also 32 hex digits, which parse as a UUID
    body = {"code": code, "name": "Hex", "currency": "EUR", "country": "FR"}
    hexed = client.post(f"{API}/companies", json=body, headers=admin).json()
    client.post(f"{API}/companies", json={**body, "code": "OTHER"}, headers=admin)

    by_code = client.post(f"{API}/customers", json={"company_id": code, "name": "Ann"}, headers=admin)
    by_id = client.post(f"{API}/customers", json={"company_id": hexed["id"], "name": "Bob"}, headers=admin)

    assert by_code.status_code == 201, by_code.text
    assert by_code.json()["company_id"] == by_id.json()["company_id"] == hexed["id"]


# -- bodies -------------------------------------------------------------------------------------------


def test_stores_in_bodies_are_named_by_code_and_answered_by_id(client, admin, company, shop, create):
    location = create(
        "/locations", {"company_id": "ACME", "code": "S1/X", "name": "X", "kind": "stock", "store_id": "S1"}
    )
    terminal = create("/pos/terminals", {"store_id": "S1", "code": "T1", "name": "Till"})
    price_list = create(
        "/price-lists", {"code": "S1", "name": "S1 prices", "currency": "EUR", "store_id": "S1"}
    )
    moved = client.patch(f"{API}/price-lists/{price_list['id']}", json={"store_id": "S2"}, headers=admin)

    assert location["store_id"] == terminal["store_id"] == price_list["store_id"] == shop["S1"]["id"]
    assert location["company_id"] == company["id"]
    assert moved.status_code == 200 and moved.json()["store_id"] == shop["S2"]["id"], moved.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/locations", {"code": "X", "name": "X", "kind": "stock", "store_id": "NOPE"}, "store_id"),
        ("/pos/terminals", {"store_id": "NOPE", "code": "T9", "name": "Till"}, "store_id"),
        ("/transfers", {"from_store_id": "S1", "to_store_id": "NOPE", "lines": []}, "to_store_id"),
        (
            "/journal-entries",
            {
                "date": "2026-03-02",
                "reference": "x",
                "lines": [
                    {"account_code": "1010", "debit": "1", "store_id": "S1"},
                    {"account_code": "3000", "credit": "1", "store_id": "NOPE"},
                ],
            },
            "lines.1.store_id",
        ),
    ],
)
def test_an_unknown_store_code_is_refused_naming_its_field(
    client, auth, company, shop, snapshot, path, body, field
):
    headers = auth("finance" if path == "/journal-entries" else "admin", company="ACME")
    if path == "/transfers":
        body["lines"] = [{"product_id": str(uuid.uuid4()), "quantity": "1"}]
    before = snapshot()

    response = client.post(f"{API}{path}", json=body, headers=headers)

    problem = assert_problem(response, 422, "invalid-reference", fields=(field,))
    assert "no store 'NOPE'" in problem["detail"]
    assert snapshot() == before


def test_a_store_token_names_another_store_only_where_the_other_end_is_meant(
    client, auth, company, shop, product_factory
):
    cashier = auth("store_manager", company="ACME", store="S1")
    product = product_factory("TEA")
    line = [{"product_id": product["id"], "quantity": "1"}]

    terminal = client.post(
        f"{API}/pos/terminals", json={"store_id": "S2", "code": "T9", "name": "X"}, headers=cashier
    )
    transfer = client.post(
        f"{API}/transfers", json={"from_store_id": "S1", "to_store_id": "S2", "lines": line}, headers=cashier
    )
    filtered = client.get(f"{API}/pos/sessions", params={"store_id": "S2"}, headers=cashier)

    assert_problem(terminal, 422, "invalid-reference", fields=("store_id",))
    assert transfer.status_code == 201, transfer.text
    assert transfer.json()["to_store_id"] == shop["S2"]["id"]
    assert_problem(filtered, 422, "invalid-reference", fields=("store_id",))


def test_a_ledger_event_names_its_store_by_code(client, auth, company, shop):
    finance = auth("finance", company="ACME")
    close = {
        "type": "PosSessionClosed",
        "store_id": "S1",
        "payload": {
            "date": "2026-11-27",
            "channel": "pos",
            "reference": "Z-report 42",
            "sales": [{"product_category": "Apparel", "net": "50.00", "tax": "0.00", "tax_base": "50.00"}],
            "tenders": [{"kind": "cash", "amount": "50.00"}],
        },
    }

    response = client.post(f"{API}/ledger/events", json=close, headers=finance)

    assert response.status_code == 201, response.text
    recorded = client.get(f"{API}/events", params={"type": "PosSessionClosed"}, headers=finance).json()
    assert [item["store_id"] for item in recorded["items"]] == [shop["S1"]["id"]]


def test_naming_a_company_by_code_adds_no_query_to_a_pos_batch(client, admin, company, shop, create, runtime):
    """The batch names its session: no company or store is looked up by code on the hot path."""
    create("/payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"})
    vat = {"code": "VAT20", "name": "VAT 20 %", "rate_percent": "20"}
    create("/tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [vat]})
    product = create("/products", {"sku": "TEA", "name": "Tea", "category": "Drinks", "list_price": "2.00"})
    terminal = create("/pos/terminals", {"store_id": "S1", "code": "T1", "name": "Till"})
    session = create("/pos/sessions", {"terminal_id": terminal["id"]})
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": "2026-03-02T10:00:00+01:00",
        "lines": [{"product_id": product["id"], "quantity": 1, "unit_price": "2.00"}],
        "payments": [{"payment_method_code": "CASH", "amount": "2.00"}],
    }
    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        response = client.post(
            f"{API}/pos/sessions/{session['id']}/sales:batch", json={"sales": [sale]}, headers=admin
        )
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)

    assert response.status_code == 200, response.text
    by_code = [s for s in statements if "companies.code =" in s or "stores.code =" in s]
    assert by_code == []
