"""``retailcore promotions list|submit|approve|reject|override`` against the test database (ACME)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from retailcore.access.users import create_user, principal_of
from retailcore.adapters.db import transaction
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import company_in_scope
from retailcore.promotions import commands as c
from retailcore.promotions import services as svc

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def test_a_promotion_is_listed_and_decided_by_another_user(runtime, company):
    with transaction(runtime.session_factory) as session:
        ann = create_user(session, "ann", "ann-password-1", "pricing_manager", company="ACME")
        create_user(session, "bob", "bob-password-1", "pricing_manager", company="ACME")
        create_user(session, "cas", "cas-password-1", "cashier", company="ACME")
        acme = company_in_scope(session, principal_of(ann), "ACME")
        body = c.CreatePromotion(code="AUTUMN", name="Autumn", kind="percent_off", percent="10")
        svc.create_promotion(session, CommandContext(principal_of(ann)), acme, body)

    listed = cli("promotions", "list", "--company", "ACME")
    assert listed.exit_code == 0, listed.output
    assert "AUTUMN" in listed.output and "draft" in listed.output
    assert (
        cli("promotions", "list", "--company", "ACME", "--state", "active", "--output", "json").stdout.strip()
        == "[]"
    )
    assert cli("promotions", "list", "--state", "bogus").exit_code == 2

    assert cli("promotions", "submit", "AUTUMN", "--as", "ann", "--company", "ACME").exit_code == 0
    own = cli("promotions", "approve", "AUTUMN", "--as", "ann", "--company", "ACME")
    assert own.exit_code == 1 and "four eyes" in own.output
    cashier = cli("promotions", "approve", "AUTUMN", "--as", "cas", "--company", "ACME")
    assert cashier.exit_code == 1 and "may not promotions approve" in cashier.output
    unknown = cli("promotions", "approve", "AUTUMN", "--as", "nobody", "--company", "ACME")
    assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.output

    approved = cli("promotions", "approve", "AUTUMN", "--as", "bob", "--company", "ACME", "--reason", "ok")
    assert approved.exit_code == 0, approved.output
    assert "AUTUMN: active (by user:bob)" in approved.output
    rows = json.loads(cli("promotions", "list", "--company", "ACME", "--output", "json").stdout)
    assert [(r["code"], r["state"], r["decided_by"], r["created_by"]) for r in rows] == [
        ("AUTUMN", "active", "user:bob", "user:ann")
    ]
