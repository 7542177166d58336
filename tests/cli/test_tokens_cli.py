"""retailcore token create | list | revoke: expiry, a readable list, revocation by id or prefix."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from retailcore.access.tables import ApiToken
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.cli.main import app
from retailcore.eventlog.tables import Event

runner = CliRunner()


def cli(*args: str, exit_code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == exit_code, result.output
    return result


def create(*args: str) -> str:
    """A new token's secret (the last line)."""
    return cli("token", "create", *args).stdout.strip().splitlines()[-1]


def row_by_secret(runtime, secret: str) -> ApiToken:
    with runtime.session_factory() as session:
        return session.scalars(select(ApiToken).where(ApiToken.prefix == secret[:10])).one()


def answers(runtime, secret: str) -> int:
    with TestClient(create_app(runtime)) as client:
        return client.get("/api/v1/companies", headers={"Authorization": f"Bearer {secret}"}).status_code


def token_count(runtime) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(ApiToken))


@pytest.mark.parametrize(
    ("option", "lifetime"),
    [("30d", dt.timedelta(days=30)), ("12h", dt.timedelta(hours=12)), ("90m", dt.timedelta(minutes=90))],
)
def test_create_expires_in_a_duration(runtime, company, option, lifetime):
    before = utcnow()
    result = cli("token", "create", "--role", "finance", "--company", "ACME", "--expires-in", option)

    row = row_by_secret(runtime, result.stdout.strip().splitlines()[-1])
    assert before + lifetime <= row.expires_at <= utcnow() + lifetime
    assert row.created_by == "cli"
    assert "expires " in result.stdout


def test_create_expires_at_an_instant_read_as_utc_without_an_offset(runtime, company):
    instant = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)

    secret = create("--role", "admin", "--expires-at", instant.replace(tzinfo=None).isoformat())

    assert row_by_secret(runtime, secret).expires_at == instant


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["--expires-in", "soon"], 2, "not a duration"),
        (["--expires-in", "0d"], 2, "not a duration"),
        (["--expires-at", "tomorrow"], 2, "not an ISO 8601"),
        (["--expires-in", "1d", "--expires-at", "2030-01-01"], 2, "not both"),
        (["--expires-at", "2020-01-01T00:00:00Z"], 1, "not in the future"),
        (["--expires-in", "2000d"], 1, "at most 5 years"),
        (["--name", "x" * 101], 1, "name"),
    ],
)
def test_create_refuses_a_bad_expiry_or_name(runtime, company, args, exit_code, message):
    before = token_count(runtime)

    result = cli("token", "create", "--role", "admin", *args, exit_code=exit_code)

    assert message in result.stderr
    assert token_count(runtime) == before


def test_create_records_an_event_for_a_company_token(runtime, company):
    secret = create("--role", "cashier", "--company", "ACME", "--name", "till")

    with runtime.session_factory() as session:
        event = session.scalars(select(Event).where(Event.type == "ApiTokenCreated")).one()
    assert event.actor == "cli" and event.payload["name"] == "till"
    assert secret not in str(event.payload)


def test_list_shows_the_active_tokens_and_all_of_them_with_all(runtime, company):
    create("--role", "cashier", "--company", "ACME", "--name", "till-one")
    gone = create("--role", "finance", "--company", "ACME", "--name", "books")
    create("--role", "admin", "--name", "root")
    cli("token", "revoke", gone[:10])

    active = cli("token", "list").stdout
    everything = cli("token", "list", "--all").stdout
    acme = cli("token", "list", "--company", "ACME").stdout

    for header in ("prefix", "name", "role", "scope", "created", "expires", "last used", "state"):
        assert header in active
    assert "till-one" in active and "root" in active and "books" not in active
    assert "books" in everything and "revoked" in everything
    assert "till-one" in acme and "root" not in acme
    assert "installation" in active and "ACME" in active and "never" in active


def test_list_says_so_when_there_is_nothing_to_list(runtime, company):
    assert "no active tokens" in cli("token", "list", "--company", "ACME").stdout
    cli("token", "list", "--company", "NOPE", exit_code=1)


def test_revoke_by_prefix_refuses_the_token_at_once(runtime, company):
    secret = create("--role", "admin", "--name", "ops")
    assert answers(runtime, secret) == 200

    result = cli("token", "revoke", secret[:10])

    assert "revoked admin token" in result.stdout and "ops" in result.stdout
    assert answers(runtime, secret) == 401
    row = row_by_secret(runtime, secret)
    assert row.revoked_by == "cli" and row.revoked_at is not None


def test_revoke_by_id_or_by_the_secret_itself_and_twice_is_harmless(runtime, company):
    by_id = create("--role", "admin")
    leaked = create("--role", "cashier", "--company", "ACME")

    cli("token", "revoke", str(row_by_secret(runtime, by_id).id))
    cli("token", "revoke", leaked)
    again = cli("token", "revoke", leaked)

    assert answers(runtime, by_id) == answers(runtime, leaked) == 401
    assert "already revoked" in again.stdout
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).where(Event.type == "ApiTokenRevoked")) == 1


def test_revoke_refuses_an_ambiguous_or_unknown_reference(runtime, company):
    first = create("--role", "admin", "--name", "first")
    second = create("--role", "admin", "--name", "second")
    with transaction(runtime.session_factory) as session:  # prefixes that start alike
        for name, prefix in (("first", "rc_zzAAAAA"), ("second", "rc_zzBBBBB")):
            session.execute(update(ApiToken).where(ApiToken.name == name).values(prefix=prefix))

    ambiguous = cli("token", "revoke", "rc_zz", exit_code=1)
    unknown = cli("token", "revoke", "rc_nothing", exit_code=1)
    # a prefix is matched with its case (SQLite's LIKE would take "rc_ZZ" for "rc_zz")
    other_case = cli("token", "revoke", "rc_ZZ", exit_code=1)

    assert "matches several tokens" in ambiguous.stderr
    assert "rc_zzAAAAA (first)" in ambiguous.stderr and "rc_zzBBBBB (second)" in ambiguous.stderr
    assert "no token 'rc_nothing'" in unknown.stderr and "no token 'rc_ZZ'" in other_case.stderr
    assert answers(runtime, first) == answers(runtime, second) == 200
    cli("token", "revoke", "rc_zzA")
    assert (answers(runtime, first), answers(runtime, second)) == (401, 200)
