"""The command line: init, db, token. (Product import has its own module.)"""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.access.tables import ApiToken
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.cli.main import app
from retailcore.inventory.tables import StockQuant
from retailcore.masterdata.tables import Product, Store

runner = CliRunner()


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_init_demo_loads_data_and_prints_a_working_admin_token(runtime):
    result = runner.invoke(app, ["init", "--demo"])
    assert result.exit_code == 0, result.output
    token = last_line(result.stdout)
    assert token.startswith("rc_")

    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 200
        assert session.scalar(select(func.count()).select_from(Store)) == 4
    with TestClient(create_app(runtime)) as client:
        response = client.get("/api/v1/products?limit=1", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


def test_the_demo_starts_with_stock_that_agrees_with_its_books(runtime):
    assert runner.invoke(app, ["init", "--demo"]).exit_code == 0
    with runtime.session_factory() as session:
        on_hand = session.scalar(select(func.sum(StockQuant.quantity)))
    assert on_hand > 0
    check = runner.invoke(app, ["stock", "check", "--company", "DEMO"])
    assert check.exit_code == 0, check.output
    assert "agree" in check.stdout


def test_init_demo_twice_keeps_one_demo_company(runtime):
    assert runner.invoke(app, ["init", "--demo"]).exit_code == 0
    again = runner.invoke(app, ["init", "--demo"])
    assert again.exit_code == 0
    assert "already loaded" in again.stdout
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 200


def test_token_create_prints_the_token_alone_on_the_last_line(runtime, company, store_factory):
    store_factory("S1")
    result = runner.invoke(
        app, ["token", "create", "--role", "cashier", "--company", "ACME", "--store", "S1"]
    )
    assert result.exit_code == 0, result.output
    token = last_line(result.stdout)
    assert token.startswith("rc_") and " " not in token
    with runtime.session_factory() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.role == "cashier")).one()
    assert row.store_id is not None
    assert token not in (row.token_hash, row.prefix, row.name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "wizard"], "unknown role"),
        (["--role", "cashier"], "must be scoped to a company"),
        (["--role", "cashier", "--company", "NOPE"], "no company 'NOPE'"),
        (["--role", "admin", "--store", "S1"], "needs a company"),
    ],
)
def test_token_create_refuses_bad_input_with_a_message(runtime, company, args, message):
    def tokens() -> int:
        with runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(ApiToken))

    before = tokens()
    result = runner.invoke(app, ["token", "create", *args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert tokens() == before


def test_db_upgrade_creates_the_database_and_current_compares_it_with_the_code(tmp_path, monkeypatch):
    fresh = tmp_path / "fresh.db"
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{fresh}")
    missing = runner.invoke(app, ["db", "current"])
    assert missing.exit_code == 2 and f"there is no database at {fresh}" in missing.stderr
    assert not fresh.exists()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.stdout
    assert runner.invoke(app, ["db", "current"]).exit_code == 0
    assert runner.invoke(app, ["db", "downgrade", "-1"]).exit_code == 0
    assert runner.invoke(app, ["db", "current"]).exit_code == 3


@pytest.fixture
def empty_database(tmp_path, monkeypatch):
    """A SQLite file that exists but was never migrated."""
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{path}")
    return path


def test_serve_refuses_an_unmigrated_database(empty_database):
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: the database has no retailcore schema, or an older one",
        "hint: run 'retailcore db upgrade' first",
    ]


COMMANDS_ON_A_DATABASE = [
    ["stock", "check", "--company", "DEMO"],
    ["token", "create", "--role", "admin"],
    ["simulate", "--stores", "1", "--days", "1"],
    ["report", "trial-balance", "--company", "DEMO", "--period", "2026"],
    ["orders", "list", "--company", "DEMO"],
]


@pytest.mark.parametrize("command", COMMANDS_ON_A_DATABASE)
def test_commands_on_an_unmigrated_database_say_to_upgrade_it(empty_database, command):
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert [line for line in result.stderr.splitlines() if line] == [  # a progress bar may end blank
        "error: the database has no retailcore schema, or an older one",
        "hint: run 'retailcore db upgrade' (or 'retailcore init --demo' for a demo) first",
    ]
    assert empty_database.exists()  # the user's file, even empty, stays


@pytest.mark.parametrize("command", COMMANDS_ON_A_DATABASE)
def test_commands_on_a_database_that_does_not_exist_leave_no_file_behind(tmp_path, monkeypatch, command):
    missing = tmp_path / "typo.db"
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{missing}")
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: there is no database at {missing}",
        "hint: create it with 'retailcore db upgrade' (or 'retailcore init --demo' for a demo), or point"
        " RETAILCORE_DATABASE_URL at yours",
    ]
    assert list(tmp_path.iterdir()) == []
