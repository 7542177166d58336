"""Test fixtures. Every test runs against a real, migrated database.

SQLite (the default): the schema is migrated once into a template file, and each test gets a copy.
PostgreSQL (when ``RETAILCORE_TEST_DATABASE_URL`` is set): the schema is migrated once, and every
table is truncated after each test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from retailcore.access.services import create_token
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, transaction
from retailcore.adapters.schema import metadata
from retailcore.entrypoints.api.app import bind, create_app
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.settings import Settings
from support import POSTGRES_URL


def pytest_report_header() -> str:
    return f"retailcore test database: {'PostgreSQL ' + POSTGRES_URL if POSTGRES_URL else 'SQLite'}"


def _worker_database(base_url: str) -> str:
    """This xdist worker's own PostgreSQL database, created empty beside the base one (``<db>_gw0``);
    without xdist, the base database itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return base_url
    url = make_url(base_url)
    name = f"{url.database}_{worker}"
    admin = make_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if POSTGRES_URL:
        url = _worker_database(POSTGRES_URL)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
            # Tests do not test durability across a crash: a commit need not wait for its WAL flush.
            connection.execute(
                text(f'ALTER DATABASE "{make_url(url).database}" SET synchronous_commit = off')
            )
        migrations.upgrade(engine)
        engine.dispose()
        yield url
        if url != POSTGRES_URL:
            admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
            admin.dispose()
        return
    template = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    migrations.upgrade(engine)
    engine.dispose()
    yield str(template)


def _emptying_statement(engine: Engine) -> str:
    """Delete every row and restart the sequences, in one round trip.

    ``DELETE`` rather than ``TRUNCATE``: truncating 55 tables makes 55 new files and takes 0.2-1.7 s,
    deleting the few rows a test wrote takes 20 ms. Triggers are off for it
    (``session_replication_role = replica``, a superuser's setting): the append-only and immutability
    triggers would refuse the deletes, and the foreign keys need no order then."""
    with engine.connect() as connection:
        sequences = connection.scalars(
            text("SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace")
        ).all()
    return "; ".join(
        [
            "SET LOCAL session_replication_role = replica",
            *(f'DELETE FROM "{table.name}"' for table in metadata.sorted_tables),
            *(f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in sequences),
        ]
    )


@pytest.fixture(scope="session")
def _emptier(_migrated_template: str) -> Iterator[Callable[[], None]]:
    """``empty()`` deletes what a test wrote to the PostgreSQL database (SQLite tests get a new copy)."""
    if not POSTGRES_URL:
        yield lambda: None
        return
    engine = make_engine(_migrated_template)
    statement = text(_emptying_statement(engine))

    def empty() -> None:
        with engine.begin() as connection:
            connection.execute(statement)

    yield empty
    engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one SQLite file this process's tests use in turn, each on a fresh copy of the template."""
    return tmp_path_factory.mktemp("database") / "test.db"


@pytest.fixture
def database_url(_migrated_template: str, _emptier: Callable[[], None], _sqlite_path: Path) -> Iterator[str]:
    """A URL to a migrated, empty database for this test alone.

    The URL is the same for every test of a process (the database behind it is new), so that
    :func:`runtime` can keep one engine per process."""
    if POSTGRES_URL:
        yield _migrated_template
        _emptier()
        return
    # A new file, not the old one overwritten: a connection a test leaked keeps the old file.
    for leftover in (
        _sqlite_path,
        *(_sqlite_path.with_name(_sqlite_path.name + s) for s in ("-wal", "-shm")),
    ):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(_migrated_template, _sqlite_path)
    yield f"sqlite:///{_sqlite_path}"


_runtimes: dict[str, Runtime] = {}


@pytest.fixture
def runtime(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The runtime of the process's database, with its connections closed after each test.

    One engine per process and settings: an engine compiles each SQL statement once and keeps it, and
    a new engine per test made every test compile again what the one before had (a tenth of the
    suite's time)."""
    # The CLI bootstraps from the environment, so tests point it at the same database.
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", database_url)
    # No background sweeper nor POS inbox drainer: a test that wants one builds its own runtime with
    # an interval.
    settings = Settings(database_url=database_url, sweep_interval_seconds=0, pos_inbox_interval_ms=0)
    key = settings.model_dump_json()
    runtime = _runtimes.get(key)
    if runtime is None:
        runtime = _runtimes[key] = bootstrap(settings)
    yield runtime
    runtime.engine.dispose()


_shared_apps: dict[int, FastAPI] = {}


def app_for(runtime: Runtime) -> FastAPI:
    """The test process's application, rebound to this test's runtime.

    The application is the same for every test but for its database: building one per test made
    FastAPI rebuild each router's routes on its first request, a quarter of the API tests' time.
    Settings read only when the middleware is built (``max_body_bytes``) key their own application."""
    app = _shared_apps.get(runtime.settings.max_body_bytes)
    if app is None:
        app = _shared_apps[runtime.settings.max_body_bytes] = create_app(runtime)
    else:
        bind(app, runtime)
    return app


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(app_for(runtime)) as test_client:
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
