"""Test fixtures. Every test runs against a real, migrated database.

SQLite (the default): the schema is migrated once into a template file, and each test gets a copy.
PostgreSQL (when ``RETAILCORE_TEST_DATABASE_URL`` is set): the schema is migrated once, and every
table is truncated after each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from retailcore.access.services import create_token
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, transaction
from retailcore.adapters.schema import metadata
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.settings import Settings
from support import POSTGRES_URL


def pytest_report_header() -> str:
    return f"retailcore test database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite'}"


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    if POSTGRES_URL:
        engine = make_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        migrations.upgrade(engine)
        engine.dispose()
        return POSTGRES_URL
    template = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrations.upgrade(engine)
    engine.dispose()
    return str(template)


@pytest.fixture
def database_url(_migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A URL to a migrated, empty database for this test alone."""
    if POSTGRES_URL:
        yield POSTGRES_URL
        engine = make_engine(POSTGRES_URL)
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return
    path = tmp_path / "test.db"
    shutil.copyfile(_migrated_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def runtime(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    # The CLI bootstraps from the environment, so tests point it at the same database.
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", database_url)
    # No background sweeper: a test that wants one builds its own runtime with an interval.
    runtime = bootstrap(Settings(database_url=database_url, sweep_interval_seconds=0))
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
def auth(runtime: Runtime) -> TokenFactory:
    """``auth("cashier", company="ACME", store="S1")`` -> headers with a fresh bearer token."""

    def make(role: str = "admin", company: str | None = None, store: str | None = None) -> dict[str, str]:
        with transaction(runtime.session_factory) as session:
            issued = create_token(session, role=role, company=company, store=store)
        return {"Authorization": f"Bearer {issued.token}"}

    return make


@pytest.fixture
def admin(auth: TokenFactory) -> dict[str, str]:
    return auth("admin")


@pytest.fixture
def company(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """A company ACME (EUR, France) with the generic retail chart."""
    response = client.post(
        "/api/v1/companies",
        json={"code": "ACME", "name": "Acme Retail", "currency": "EUR", "country": "FR"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def store_factory(
    client: TestClient, admin: dict[str, str], company: dict[str, Any]
) -> Callable[..., dict[str, Any]]:
    def make(code: str, kind: str = "store") -> dict[str, Any]:
        response = client.post(
            "/api/v1/stores",
            json={"company_id": company["id"], "code": code, "name": f"Store {code}", "kind": kind},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        return response.json()

    return make
