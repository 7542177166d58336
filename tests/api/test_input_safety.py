"""Input the database cannot store, or dates no computation survives, are refused with a 422 everywhere.

Issue 13, items 2 and 3 (decision 0017): text with a NUL character or an unpaired surrogate, free-form
JSON too deep, dates and timestamps that are numbers or outside 1900-01-01..2199-12-31. The examples
of the issue come first; then a walk over the OpenAPI document sends such values to every parameter
and every string of every request body, so that an endpoint added later is held to the same rule.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from apitools import API, PROBLEM_JSON, assert_problem
from fastapi.testclient import TestClient

from retailcore.entrypoints.api.app import create_app

NUL = "a\x00b"
SURROGATE = "a\ud800b"  # what a JSON "\ud800" escape decodes to: not a character


def send_json(client, method: str, url: str, body: Any, headers: dict[str, str], **params: Any):
    """Send ``body`` as JSON escapes only (``\\u0000``, ``\\ud800``), as a client's encoder writes them."""
    if body is None:
        return client.request(method, url, headers=headers, params=params)
    content = json.dumps(body).encode("ascii")
    headers = {**headers, "Content-Type": "application/json"}
    return client.request(method, url, content=content, headers=headers, params=params)


@pytest.fixture
def finance(auth, company):
    return auth("finance", company="ACME")


@pytest.fixture
def shop(client, admin, company, create):
    """A store with a product, cash, a till and an open session: enough to sell."""
    store = create("/stores", {"company_id": company["id"], "code": "S1", "name": "Store 1"})
    product = create(
        "/products",
        {
            "company_id": company["id"],
            "sku": "TEA",
            "name": "Tea",
            "category": "Drinks",
            "list_price": "2.00",
        },
    )
    create("/payment-methods", {"company_id": company["id"], "code": "CASH", "name": "Cash", "kind": "cash"})
    terminal = create(
        "/pos/terminals", {"company_id": company["id"], "store_id": store["id"], "code": "T1", "name": "Till"}
    )
    session = create("/pos/sessions", {"terminal_id": terminal["id"]})
    return {"store": store, "product": product, "session": session}


def entry(date: str, reference: str = "Opening cash") -> dict[str, Any]:
    return {
        "date": date,
        "reference": reference,
        "lines": [
            {"account_code": "1010", "debit": "100.00"},
            {"account_code": "3000", "credit": "100.00"},
        ],
    }


# -- the examples ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/customers", {"name": NUL}, "name"),
        ("/customers", {"name": "Ann", "email": "ann\x00@example.com"}, "email"),
        ("/customers", {"name": SURROGATE}, "name"),
        ("/products", {"sku": "A", "name": "A", "category": NUL, "list_price": "1"}, "category"),
        (
            "/products",
            {"sku": "A", "name": "A", "category": "A", "list_price": "1", "description": NUL},
            "description",
        ),
    ],
)
def test_text_the_database_cannot_store_is_refused_and_nothing_is_written(
    client, admin, company, snapshot, path, body, field
):
    before = snapshot()

    response = send_json(client, "POST", f"{API}{path}", {"company_id": company["id"], **body}, admin)

    assert_problem(response, 422, "validation-failed", fields=(field,))
    assert snapshot() == before


def test_the_refusal_says_what_is_wrong_with_the_text(client, admin, company):
    response = client.post(f"{API}/customers", json={"company_id": company["id"], "name": NUL}, headers=admin)

    problem = assert_problem(response, 422, "validation-failed", fields=("name",))
    assert problem["errors"][0]["detail"] == "Text must not contain the NUL character (U+0000)"


def test_text_in_any_language_is_still_welcome(client, admin, company):
    name = "Zoë 李 😀"  # the emoji goes over the wire as a JSON surrogate pair, which is valid
    body = {"company_id": company["id"], "name": name}

    response = send_json(client, "POST", f"{API}/customers", body, admin)

    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/customers", {"q": NUL}),
        ("/customers", {"email": NUL}),
        ("/customers", {"code": NUL}),
        ("/products", {"sku": NUL}),
        ("/products", {"q": NUL}),
        ("/products", {"barcode": NUL}),
        ("/stock/moves", {"kind": NUL}),
        ("/reservations", {"order_ref": NUL}),
        ("/purchase-orders", {"supplier": NUL}),
    ],
)
def test_a_filter_with_a_nul_is_refused_naming_it(client, admin, company, path, params):
    response = client.get(f"{API}{path}", params={"company_id": company["id"], **params}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=tuple(params))


def test_a_nul_in_a_journal_entry_reference_is_refused(client, finance, snapshot):
    before = snapshot()

    response = send_json(client, "POST", f"{API}/journal-entries", entry("2026-11-15", NUL), finance)

    assert_problem(response, 422, "validation-failed", fields=("reference",))
    assert snapshot() == before


def test_a_sale_dated_in_year_9999_is_refused_not_a_500(client, admin, shop, snapshot):
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": "9999-12-31T23:00:00-05:00",
        "lines": [{"product_id": shop["product"]["id"], "quantity": 1, "unit_price": "2.00"}],
        "payments": [{"payment_method_code": "CASH", "amount": "2.00"}],
    }
    before = snapshot()

    response = client.post(
        f"{API}/pos/sessions/{shop['session']['id']}/sales:batch", json={"sales": [sale]}, headers=admin
    )

    problem = assert_problem(response, 422, "validation-failed", fields=("sales.0.sold_at",))
    assert "2199-12-31" in problem["errors"][0]["detail"]
    assert snapshot() == before


def test_a_journal_entry_dated_in_year_9999_is_refused_not_a_500(client, finance, snapshot):
    before = snapshot()

    response = client.post(f"{API}/journal-entries", json=entry("9999-12-31"), headers=finance)

    assert_problem(response, 422, "validation-failed", fields=("date",))
    assert snapshot() == before


@pytest.mark.parametrize("value", ["0", "86400", "1700000000", "2026-13-01", "1899-12-31", "2200-01-01"])
def test_a_date_filter_takes_iso_dates_in_range_only(client, finance, value):
    response = client.get(f"{API}/journal-entries", params={"date_from": value}, headers=finance)

    problem = assert_problem(response, 422, "validation-failed", fields=("date_from",))
    assert problem["errors"][0]["detail"]


def test_an_empty_report_date_still_counts_as_absent(client, finance):
    params = {"date_from": "", "date_to": "2026-11-30"}

    response = client.get(f"{API}/reports/trial-balance", params=params, headers=finance)

    problem = assert_problem(response, 422, "validation-failed", fields=("date_from",))
    assert problem["errors"] == [
        {"field": "date_from", "pointer": "#/date_from", "detail": "required (or give a period)"}
    ]


def test_a_number_is_not_a_date_in_a_body_either(client, finance):
    response = client.post(f"{API}/journal-entries", json=entry(0), headers=finance)  # type: ignore[arg-type]

    problem = assert_problem(response, 422, "validation-failed", fields=("date",))
    assert "YYYY-MM-DD" in problem["errors"][0]["detail"]


def test_the_first_and_last_days_of_the_range_are_dates(client, finance):
    for value in ("1900-01-01", "2199-12-31"):
        response = client.get(f"{API}/journal-entries", params={"date_to": value}, headers=finance)
        assert response.status_code == 200, response.text


def test_a_timestamp_needs_its_offset(client, admin, shop):
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": "2026-03-02T10:00:00",
        "lines": [{"product_id": shop["product"]["id"], "quantity": 1, "unit_price": "2.00"}],
        "payments": [{"payment_method_code": "CASH", "amount": "2.00"}],
    }

    response = client.post(
        f"{API}/pos/sessions/{shop['session']['id']}/sales:batch", json={"sales": [sale]}, headers=admin
    )

    assert_problem(response, 422, "validation-failed", fields=("sales.0.sold_at",))


def test_a_counted_tender_code_with_a_surrogate_is_refused_naming_the_key(client, admin, shop):
    response = send_json(
        client,
        "POST",
        f"{API}/pos/sessions/{shop['session']['id']}/close",
        {"counted": {SURROGATE: "1"}},
        admin,
    )

    problem = assert_problem(response, 422, "validation-failed")
    # pydantic names the key with U+FFFD for what is not a character: the answer stays valid UTF-8.
    assert [e["field"] for e in problem["errors"]] == ["counted.a\ufffd\ufffd\ufffdb.[key]"]


# -- free-form JSON -----------------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep (the object itself is level 1)."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_an_event_payload_names_the_path_of_a_nul(client, finance, snapshot):
    body = {"type": "PosDayClosed", "payload": {"date": "2026-11-27", "sales": [{"label": NUL}]}}
    before = snapshot()

    response = send_json(client, "POST", f"{API}/ledger/events", body, finance)

    problem = assert_problem(response, 422, "validation-failed", fields=("payload.sales.0.label",))
    assert "NUL" in problem["errors"][0]["detail"]
    assert snapshot() == before


def test_an_event_payload_key_with_a_surrogate_is_refused_at_its_object(client, finance):
    body = {"type": "PosDayClosed", "payload": {"sales": [{SURROGATE: "1"}]}}

    response = send_json(client, "POST", f"{API}/ledger/events", body, finance)

    problem = assert_problem(response, 422, "validation-failed", fields=("payload.sales.0",))
    assert "key" in problem["errors"][0]["detail"]


def test_json_nested_deeper_than_32_levels_is_refused(client, finance):
    body = {"type": "PosDayClosed", "payload": nested(33)}

    response = client.post(f"{API}/ledger/events", json=body, headers=finance)

    problem = assert_problem(response, 422, "validation-failed")
    assert problem["errors"][0]["field"] == "payload" + ".a" * 32
    assert "32 levels" in problem["errors"][0]["detail"]


def test_posting_rule_lines_and_conditions_are_checked_as_json(client, finance):
    rule = {
        "code": "odd-rule",
        "name": "Odd",
        "event_type": "PosDayClosed",
        "journal_code": "MISC",
        "conditions": {"channel": NUL},
        "lines": [{"side": "debit", "amount": "net", "account_role": "cash_drawer", "label": NUL}],
        "valid_from": "2026-01-01",
    }

    response = send_json(client, "POST", f"{API}/posting-rules", rule, finance)

    assert_problem(response, 422, "validation-failed", fields=("conditions.channel", "lines.0.label"))


def test_a_log_position_beyond_64_bits_is_refused_not_a_500(client, finance):
    response = client.get(f"{API}/events", params={"after": str(2**87)}, headers=finance)
    assert_problem(response, 422, "validation-failed", fields=("after",))
    assert client.get(f"{API}/events", params={"after": str(2**63 - 1)}, headers=finance).status_code == 200


def test_every_integer_a_client_sends_has_a_bound_the_database_can_hold(client):
    """Found by the fuzzer: ``/events?after=2**87`` overflowed SQLite's 64-bit integers (a 500)."""
    doc = client.get(f"{API}/openapi.json").json()

    def integers(schema: dict[str, Any], where: str, depth: int = 0) -> Iterator[str]:
        for shape in alternatives(doc, schema) if depth <= MAX_BODY_DEPTH else []:
            if shape.get("type") == "integer" and "maximum" not in shape:
                yield where
            for name, child in shape.get("properties", {}).items():
                yield from integers(child, f"{where}.{name}", depth + 1)
            if "items" in shape:
                yield from integers(shape["items"], f"{where}[]", depth + 1)

    unbounded = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                unbounded += integers(parameter["schema"], f"{where} {parameter['name']}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += integers(media["schema"], f"{where} body")
    assert unbounded == []


# -- every parameter and body field of the API --------------------------------------------------------

REF = "#/components/schemas/"
MAX_BODY_DEPTH = 6
DATE_PROBES = {
    "date": ["0", "9999-12-31", "2026-13-01", 0],
    "date-time": ["0", "9999-12-31T00:00:00Z", "2026-13-01T00:00:00Z", 0],
}


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(REF)]
    return schema


def alternatives(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null shapes a schema allows (``X | None`` is ``anyOf: [X, null]``)."""
    schema = resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        found = []
        for option in schema.get("anyOf", schema.get("oneOf")):
            found.extend(alternatives(doc, option))
        return found
    return [] if schema.get("type") == "null" else [schema]


Path = tuple[str | int, ...]
KEY = object()
"""In a path: the key of a free-form object (``{"<probe>": 1}``) rather than a value under it."""


def leaves(doc: dict[str, Any], schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, dict]]:
    """``(path, schema)`` of every string (or date) a body may hold, and of every free-form key."""
    if len(path) > MAX_BODY_DEPTH:
        return
    for shape in alternatives(doc, schema):
        kind = shape.get("type")
        if kind == "string":
            yield path, shape
        elif kind == "array":
            yield from leaves(doc, shape.get("items", {}), (*path, 0))
        elif kind == "object" and "properties" in shape:
            for name, prop in shape["properties"].items():
                yield from leaves(doc, prop, (*path, name))
        elif kind == "object":
            values = shape.get("additionalProperties", True)
            yield (*path, KEY), {"type": "string"}
            yield from leaves(doc, values if isinstance(values, dict) else {"type": "string"}, (*path, "k"))


def body_at(path: Path, value: Any) -> Any:
    for part in reversed(path):
        if part is KEY:
            value = {value: "1"}
        elif isinstance(part, int):
            value = [value]
        else:
            value = {part: value}
    return value


def field_of(path: Path) -> str:
    return ".".join(str(part) for part in path if part is not KEY)


SIGNED_FIRST = {"/api/v1/connectors/shopify/{shop}/webhooks"}
"""Webhooks whose sender's signature over the raw body is checked before anything in them is read: an
unsigned probe is 401 whatever it holds (tests/api/test_shopify_webhooks.py refuses bad signatures;
what a signed body holds is checked as it is mapped into orders)."""


def probes(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, dict, Any, str]]:
    """``(method, path, what, query, body, field)``: one refused value in one place of one operation."""
    for path, operations in doc["paths"].items():
        if path in SIGNED_FIRST:
            continue
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            url = path
            for parameter in parameters:
                if parameter["in"] == "path":
                    url = url.replace(f"{{{parameter['name']}}}", str(uuid.uuid4()))
            for parameter in parameters:
                name, where = parameter["name"], parameter["in"]
                for shape in alternatives(doc, parameter["schema"]):
                    shape = resolve(doc, shape.get("items", {})) if shape.get("type") == "array" else shape
                    if shape.get("type") != "string" or (shape.get("format") == "uuid" and where == "path"):
                        continue
                    values = [NUL, *DATE_PROBES.get(shape.get("format", ""), [])]
                    for value in (v for v in values if isinstance(v, str)):
                        if where == "query":
                            yield method, url, f"query {name}={value!r}", {name: value}, None, name
                        elif where == "path":
                            target = path.replace(f"{{{name}}}", quote(value, safe=""))
                            for other in parameters:  # the others as above
                                if other["in"] == "path" and other["name"] != name:
                                    target = target.replace(f"{{{other['name']}}}", str(uuid.uuid4()))
                            yield method, target, f"path {name}={value!r}", {}, None, name
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            for where, shape in leaves(doc, content["schema"]):
                if where and where[-1] is KEY:
                    for value in (NUL, SURROGATE):
                        body = body_at(where, value)
                        yield method, url, f"body key {field_of(where)}", {}, body, field_of(where)
                    continue
                values = [NUL, SURROGATE, *DATE_PROBES.get(shape.get("format", ""), [])]
                for value in values:
                    yield (
                        method,
                        url,
                        f"body {field_of(where)}={value!r}",
                        {},
                        body_at(where, value),
                        field_of(where),
                    )


def refusal_problem(response: Any, field: str) -> str | None:
    """What is wrong with the answer to a refused value, or None if it is the 422 expected."""
    if response.status_code != 422:
        return f"answered {response.status_code}: {response.text[:200]}"
    if not response.headers["content-type"].startswith(PROBLEM_JSON):
        return f"answered {response.headers['content-type']}"
    named = [error["field"] for error in response.json().get("errors", [])]
    if not any(name == field or name.startswith(f"{field}.") for name in named):
        return f"422 naming {named}, not {field}"
    return None


@pytest.fixture
def no_rate_limit(monkeypatch):
    """Requested before ``runtime``, whose settings read it: the walk sends ~940 requests in seconds."""
    monkeypatch.setenv("RETAILCORE_RATE_LIMIT_PER_SECOND", "0")


def test_every_parameter_and_body_string_refuses_what_cannot_be_stored(
    no_rate_limit, runtime, admin, finance, snapshot
):
    # A 500 is a finding to list with the others, not an exception that ends the walk.
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    doc = client.get(f"{API}/openapi.json").json()
    before = snapshot()
    token_of: dict[tuple[str, str], dict[str, str]] = {}
    failures = []
    count = 0
    for method, url, what, query, body, field in probes(doc):
        count += 1
        key = (method, url)
        for headers in [token_of[key]] if key in token_of else [admin, finance]:
            # Admin may do nearly everything; what only finance may do (the books) is tried as finance.
            response = send_json(client, method.upper(), url, body, headers, **query)
            if response.status_code != 403:
                token_of[key] = headers
                break
        problem = refusal_problem(response, field)
        if problem:
            failures.append(f"{method.upper()} {url} {what}: {problem}")

    assert count > 300  # the walk found the API (the strings and dates of ~140 operations)
    summary = f"{len(failures)} of {count} refused values were not refused well:"
    assert not failures, "\n".join([summary, *failures])
    assert snapshot() == before


# -- fiscal years far ahead ---------------------------------------------------------------------------


def test_an_entry_after_next_fiscal_year_needs_its_year_created_first(client, finance, snapshot):
    next_year = dt.datetime.now(dt.UTC).year + 1
    assert (
        client.post(f"{API}/journal-entries", json=entry(f"{next_year}-12-31"), headers=finance).status_code
        == 201
    )
    before = snapshot()

    refused = client.post(f"{API}/journal-entries", json=entry(f"{next_year + 1}-01-01"), headers=finance)

    problem = assert_problem(refused, 422, "no-fiscal-year", fields=("date",))
    assert "POST /fiscal-years" in problem["detail"]
    assert snapshot() == before
    created = client.post(
        f"{API}/fiscal-years", json={"start_date": f"{next_year + 1}-01-01"}, headers=finance
    )
    assert created.status_code == 201, created.text
    again = client.post(f"{API}/journal-entries", json=entry(f"{next_year + 1}-01-01"), headers=finance)
    assert again.status_code == 201, again.text


def test_the_last_fiscal_year_of_the_range_can_be_created_and_posted_to(client, finance):
    created = client.post(f"{API}/fiscal-years", json={"start_date": "2199-12-01"}, headers=finance)
    assert created.status_code == 201, created.text
    assert created.json()["periods"][-1] == {
        "code": "2200-11",
        "start_date": "2200-11-01",
        "end_date": "2200-11-30",
    }

    posted = client.post(f"{API}/journal-entries", json=entry("2199-12-31"), headers=finance)

    assert posted.status_code == 201, posted.text
    assert posted.json()["number"] == "MISC/2199/000001"
    too_late = client.post(f"{API}/fiscal-years", json={"start_date": "2200-01-01"}, headers=finance)
    assert_problem(too_late, 422, "validation-failed", fields=("start_date",))
