"""The OpenAPI document tells the truth about errors: each operation is probed the ways it can fail, and
every answer must be documented for it, as a problem document (docs/api.md, "Errors")."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from apitools import API, PROBLEM_JSON

from retailcore.access.model import PERMISSIONS, Role

METHODS = ("get", "post", "put", "patch", "delete")
SIGNED = f"{API}/connectors/shopify/{{shop}}/webhooks"
"""Shopify's webhooks carry no token: the shop's signature over the body is checked instead."""


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _assert_documented_problem(response, operation, path, method) -> dict[str, Any]:
    documented = operation["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method.upper()} {path} answered {status}, documented {sorted(documented)}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), (method, path, response.text)
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == response.status_code
    return body


def test_every_error_is_documented_as_a_problem(document):
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            assert response["content"] == {
                PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (method, path, status)


def test_protected_operations_declare_the_bearer_scheme_and_answer_401_without_a_token(client, document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    protected = 0
    for path, method, operation in _operations(document):
        if path == f"{API}/health":
            assert "security" not in operation and "401" not in operation["responses"]
            continue
        if path == SIGNED:
            assert "security" not in operation
            response = client.request(method, _url(path), content=b"{}")
            body = _assert_documented_problem(response, operation, path, method)
            assert (response.status_code, body["code"]) == (401, "invalid-signature")
            continue
        assert operation["security"] == [{"bearerAuth": []}], (method, path)
        response = client.request(method, _url(path))
        body = _assert_documented_problem(response, operation, path, method)
        assert response.status_code == 401 and body["code"] == "missing-token"
        assert response.headers["www-authenticate"] == "Bearer"
        protected += 1
    assert protected > 100


def test_a_role_without_the_permission_gets_a_documented_403(client, auth, company, document):
    tokens = {role: auth(role.value, company="ACME") for role in Role if role is not Role.admin}
    probed = 0
    for path, method, operation in _operations(document):
        permission = operation.get("x-permission")
        if permission is None:
            continue
        assert permission in PERMISSIONS, permission
        refused = [role for role in tokens if role not in PERMISSIONS[permission]]
        if not refused:
            continue
        response = client.request(method, _url(path), headers=tokens[refused[0]], json={})
        body = _assert_documented_problem(response, operation, path, method)
        assert (response.status_code, body["code"]) == (403, "permission-denied"), (method, path)
        probed += 1
    assert probed > 50


def test_unknown_ids_and_invalid_bodies_get_documented_answers(client, admin, auth, company, document):
    company_tokens = {role: auth(role.value, company="ACME") for role in Role}
    for path, method, operation in _operations(document):
        if path in (f"{API}/health", SIGNED):
            continue
        allowed = PERMISSIONS[operation["x-permission"]]
        token = admin if Role.admin in allowed else company_tokens[next(iter(sorted(allowed)))]
        params = {"company_id": company["id"]}
        if "{" in path:
            response = client.request(method, _url(path), headers=token, params=params, json={})
            body = _assert_documented_problem(response, operation, path, method)
            assert response.status_code in (403, 404, 422), (method, path, body)  # 403: a second permission
        if "requestBody" in operation:
            url = _url(path)
            response = client.request(method, url, headers=token, params=params, json={"__unknown__": 1})
            _assert_documented_problem(response, operation, path, method)


def test_a_method_a_path_does_not_have_is_405_with_allow(client, admin, document):
    for path, item in document["paths"].items():
        allowed = {method for method in item if method in METHODS}
        missing = next(method for method in ("delete", "put", "patch", "post") if method not in allowed)
        response = client.request(missing, _url(path), headers=admin)
        assert response.status_code == 405, (missing, path, response.status_code)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert response.json()["code"] == "method-not-allowed"
        assert {m.strip().lower() for m in response.headers["allow"].split(",")} >= allowed, path


def test_a_path_without_get_answers_405_to_get_even_where_an_id_path_would_match(client, admin, document):
    # GET /orders/expire-unpaid must not be taken for GET /orders/{order_id} (a 422 about the id).
    without_get = [path for path, item in document["paths"].items() if "get" not in item and "{" not in path]
    assert f"{API}/orders/expire-unpaid" in without_get
    for path in without_get:
        response = client.get(path, headers=admin)
        assert response.status_code == 405, (path, response.text)
        assert response.json()["code"] == "method-not-allowed"
        assert {m.strip().lower() for m in response.headers["allow"].split(",")} == set(
            document["paths"][path]
        )
