"""The API describes itself, and reports its health without a token."""

from __future__ import annotations

import pytest
from apitools import API

COLLECTIONS = [
    "/companies",
    "/stores",
    "/locations",
    "/products",
    "/customers",
    "/payment-methods",
    "/tax-rules",
    "/accounts",
]


@pytest.fixture
def openapi(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("path", COLLECTIONS)
def test_openapi_lists_every_collection_with_its_operations(openapi, path):
    paths = openapi["paths"]

    assert set(paths[f"{API}{path}"]) == {"get", "post"}
    assert set(paths[f"{API}{path}/{{item_id}}"]) == {"get", "patch"}
    post = paths[f"{API}{path}"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])
    assert "Idempotency-Key" in [p["name"] for p in post.get("parameters", [])]


def test_openapi_lists_the_event_log_and_health(openapi):
    assert "get" in openapi["paths"][f"{API}/events"]
    assert "get" in openapi["paths"][f"{API}/health"]
    assert openapi["info"]["title"] == "retailcore"


def test_docs_serve_html(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"{API}/openapi.json" in response.text


def test_health_needs_no_token(client):
    response = client.get(f"{API}/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"
