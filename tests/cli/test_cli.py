"""The command line: init, db, token. (Product import has its own module.)"""

from __future__ import annotations

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


def test_db_upgrade_and_current_on_an_empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert runner.invoke(app, ["db", "current"]).exit_code == 3
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.stdout
    assert runner.invoke(app, ["db", "current"]).exit_code == 0


def test_serve_refuses_an_unmigrated_database(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "retailcore db upgrade" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["stock", "check", "--company", "DEMO"],
        ["token", "create", "--role", "admin"],
        ["simulate", "--stores", "1", "--days", "1"],
    ],
)
def test_commands_on_an_unmigrated_database_say_to_upgrade_it(tmp_path, monkeypatch, command):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    assert "retailcore db upgrade" in result.stderr
    assert "Traceback" not in result.output
