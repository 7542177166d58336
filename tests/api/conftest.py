"""Fixtures of the API tests, on top of the project-wide ones in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from apitools import API, table_counts
from fastapi.testclient import TestClient

from retailcore.entrypoints.bootstrap import Runtime

Factory = Callable[..., dict[str, Any]]


@pytest.fixture
def snapshot(runtime: Runtime) -> Callable[[], dict[str, int]]:
    """``snapshot()`` -> rows per table, to compare before and after a refused request."""
    return lambda: table_counts(runtime)


@pytest.fixture
def product_factory(client: TestClient, admin: dict[str, str], company: dict[str, Any]) -> Factory:
    """``product_factory("SKU-1", list_price="3.50")`` -> the created product (in ACME)."""

    def make(sku: str, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": f"Product {sku}",
            "category": "General",
            "list_price": "10.00",
            **fields,
        }
        response = client.post(f"{API}/products", json=body, headers=headers or admin)
        assert response.status_code == 201, response.text
        return response.json()

    return make


@pytest.fixture
def other_company(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """A second company, GLOBEX (USD, United States), to check isolation between companies."""
    response = client.post(
        f"{API}/companies",
        json={"code": "GLOBEX", "name": "Globex Corp", "currency": "USD", "country": "US"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def create(client: TestClient, admin: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """``create("/customers", {...})`` -> the created record, asserting a 201."""

    def make(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = client.post(f"{API}{path}", json=body, headers=headers or admin)
        assert response.status_code == 201, response.text
        return response.json()

    return make
