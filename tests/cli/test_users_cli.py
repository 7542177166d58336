"""``retailcore users create|list|disable``, and the demo's back-office login (docs/security.md)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from retailcore.access.tables import User
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.cli.main import DEMO_PASSWORD, DEMO_USER, app
from webtools import sign_in

runner = CliRunner()


def test_a_user_is_created_listed_and_disabled_and_its_password_is_never_shown(runtime):
    assert runner.invoke(app, ["init", "--demo"]).exit_code == 0
    created = runner.invoke(
        app,
        ["users", "create", "tom", "--role", "cashier", "--company", "DEMO", "--store", "BDX01"],
        input="tom-password\ntom-password\n",
    )
    assert created.exit_code == 0, created.output
    assert "user tom created: cashier, company DEMO, store BDX01" in created.output
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0 and "tom" in listed.output and "BDX01" in listed.output
    assert "tom-password" not in listed.output
    with runtime.session_factory() as session:
        tom = session.scalar(select(User).where(User.username == "tom"))
        assert tom is not None and tom.role == "cashier" and tom.password_hash.startswith("$argon2id$")
    assert runner.invoke(app, ["users", "disable", "tom"]).exit_code == 0
    assert "disabled" in runner.invoke(app, ["users", "list"]).output


def test_a_cashier_without_a_company_or_a_short_password_is_refused_with_a_nonzero_exit(runtime):
    assert runner.invoke(app, ["init"]).exit_code == 0
    unscoped = runner.invoke(app, ["users", "create", "x", "--role", "cashier", "--password", "long enough"])
    assert unscoped.exit_code == 1 and "company" in unscoped.output
    short = runner.invoke(app, ["users", "create", "x", "--role", "admin", "--password", "short"])
    assert short.exit_code == 1 and "8 characters" in short.output
    assert runner.invoke(app, ["users", "disable", "nobody"]).exit_code == 1


def test_the_demo_login_signs_in_to_the_back_office(runtime):
    assert runner.invoke(app, ["init", "--demo"]).exit_code == 0
    with TestClient(create_app(runtime)) as client:
        assert sign_in(client, DEMO_USER, DEMO_PASSWORD).status_code == 303
        assert client.get("/orders").status_code == 200
