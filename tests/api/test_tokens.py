"""/tokens: issuing, listing, reading and revoking API tokens; expiry, last use, scope (decision 0016)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from apitools import API, assert_problem, events
from sqlalchemy import select, text, update

from retailcore.access.tables import ApiToken
from retailcore.adapters.db import WRITES, transaction
from retailcore.adapters.orm import utcnow

VIEW_FIELDS = {
    "id",
    "name",
    "prefix",
    "role",
    "company_id",
    "store_id",
    "created_at",
    "created_by",
    "expires_at",
    "revoked_at",
    "revoked_by",
    "last_used_at",
    "state",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(client, headers, expect: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post(f"{API}/tokens", json=body, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


def row_of(runtime, token_id: str) -> ApiToken:
    with runtime.session_factory() as session:
        row = session.get(ApiToken, uuid.UUID(token_id))
        assert row is not None
        return row


def set_columns(runtime, token_id: str, **values: Any) -> None:
    with transaction(runtime.session_factory) as session:
        session.execute(update(ApiToken).where(ApiToken.id == uuid.UUID(token_id)).values(**values))


# -- issuing ---------------------------------------------------------------------------------------


def test_an_admin_issues_a_token_shown_once_that_works_for_its_role(client, runtime, admin, company):
    response = client.post(
        f"{API}/tokens", json={"role": "cashier", "company": "ACME", "name": "till 1"}, headers=admin
    )

    assert response.status_code == 201, response.text
    issued = response.json()
    assert set(issued) == VIEW_FIELDS | {"token", "note"}
    assert response.headers["Location"] == f"/api/v1/tokens/{issued['id']}"
    assert issued["role"] == "cashier" and issued["company_id"] == company["id"]
    assert issued["state"] == "active" and issued["name"] == "till 1"
    assert issued["token"].startswith(issued["prefix"])
    # the secret works, with the cashier's permissions, and is stored only as its hash
    assert client.get(f"{API}/products", headers=bearer(issued["token"])).status_code == 200
    assert_problem(client.get(f"{API}/accounts", headers=bearer(issued["token"])), 403, "permission-denied")
    row = row_of(runtime, issued["id"])
    assert row.token_hash == hashlib.sha256(issued["token"].encode()).hexdigest()
    assert row.created_by.startswith("token:")
    # and it is never shown again
    read = client.get(f"{API}/tokens/{issued['id']}", headers=admin).json()
    assert set(read) == VIEW_FIELDS
    assert issued["token"] not in str(client.get(f"{API}/tokens", headers=admin).json())


def test_issuing_and_revoking_a_company_token_are_events_without_the_secret(client, runtime, admin, company):
    issued = issue(client, admin, role="integration", company_id=company["id"])
    revoked = client.post(f"{API}/tokens/{issued['id']}/revoke", headers=admin).json()

    created, revocation = events(runtime, aggregate_id=uuid.UUID(issued["id"]))
    assert (created.type, revocation.type) == ("ApiTokenCreated", "ApiTokenRevoked")
    assert created.company_id == uuid.UUID(company["id"]) and created.aggregate_type == "api_token"
    assert created.payload["role"] == "integration" and created.payload["prefix"] == issued["prefix"]
    assert revocation.payload["revoked_by"] == revoked["revoked_by"]
    digest = hashlib.sha256(issued["token"].encode()).hexdigest()
    for event in (created, revocation):
        assert issued["token"] not in str(event.payload) and digest not in str(event.payload)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "invalid-expiry"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "expires_at", "invalid-expiry"),
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at", "validation-failed"),
        ({"expires_in_days": 0}, "expires_in_days", "validation-failed"),
        ({"expires_in_days": 3000}, "expires_in_days", "validation-failed"),
        (
            {"expires_in_days": 3, "expires_at": "2030-01-01T00:00:00Z"},
            "expires_in_days",
            "validation-failed",
        ),
        ({"company": "NOPE"}, "company", "unknown-company"),
        ({"company_id": str(uuid.UUID(int=7))}, "company_id", "unknown-company"),
        ({"company": "ACME", "company_id": str(uuid.UUID(int=7))}, "company_id", "validation-failed"),
        ({"company": "ACME", "store": "NOPE"}, "store", "unknown-store"),
        ({"store": "S1"}, "company", "store-needs-company"),
        ({"role": "cashier"}, "company", "company-required"),
        ({"role": "wizard"}, "role", "validation-failed"),
        ({"name": ""}, "name", "validation-failed"),
        ({"secret": "mine"}, "secret", "validation-failed"),
    ],
)
def test_bad_requests_are_refused_naming_the_field_and_write_nothing(
    client, admin, company, snapshot, body, field, code
):
    before = snapshot()

    response = client.post(f"{API}/tokens", json={"role": "admin", **body}, headers=admin)

    assert_problem(response, 422, code, fields=(field,))
    assert snapshot() == before


def test_expires_in_days_and_expires_at_set_the_expiry(client, admin, company):
    before = utcnow()
    in_days = issue(client, admin, role="admin", company="ACME", expires_in_days=30)
    paris = dt.timezone(dt.timedelta(hours=2))
    chosen = (utcnow() + dt.timedelta(days=100)).astimezone(paris).replace(microsecond=0)
    at = issue(client, admin, role="admin", company="ACME", expires_at=chosen.isoformat())

    expiry = dt.datetime.fromisoformat(in_days["expires_at"])
    assert before + dt.timedelta(days=30) <= expiry <= utcnow() + dt.timedelta(days=30)
    assert dt.datetime.fromisoformat(at["expires_at"]) == chosen
    assert at["expires_at"].endswith(("Z", "+00:00"))


def test_a_token_with_an_expiry_issues_no_token_that_outlives_it(client, admin, company):
    expiring = issue(client, admin, role="admin", company="ACME", expires_in_days=10)
    headers = bearer(expiring["token"])

    for body in ({}, {"expires_in_days": 11}):
        response = client.post(f"{API}/tokens", json={"role": "cashier", **body}, headers=headers)
        assert_problem(response, 422, "invalid-expiry", fields=("expires_in_days" if body else "expires_at",))
    assert issue(client, headers, role="cashier", expires_in_days=9)["state"] == "active"


@pytest.mark.parametrize("role", ["cashier", "store_manager", "finance", "integration"])
def test_only_admins_read_or_write_tokens(client, auth, company, role):
    headers = auth(role, company="ACME")

    assert_problem(client.get(f"{API}/tokens", headers=headers), 403, "permission-denied")
    assert_problem(
        client.post(f"{API}/tokens", json={"role": "cashier"}, headers=headers), 403, "permission-denied"
    )


def test_a_replayed_creation_answers_the_same_token_without_its_secret(client, runtime, admin, company):
    headers = {**admin, "Idempotency-Key": "issue-till-1"}
    body = {"role": "cashier", "company": "ACME", "name": "till"}

    first = client.post(f"{API}/tokens", json=body, headers=headers)
    again = client.post(f"{API}/tokens", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert first.json()["token"].startswith("rc_") and first.json()["note"] is None
    assert again.json()["token"] is None and "shown only once" in again.json()["note"]
    assert {k: v for k, v in again.json().items() if k not in ("token", "note")} == {
        k: v for k, v in first.json().items() if k not in ("token", "note")
    }
    with runtime.session_factory() as session:
        assert len(session.scalars(select(ApiToken).where(ApiToken.name == "till")).all()) == 1
        stored = session.execute(text("SELECT response_body FROM idempotent_requests")).scalar_one()
    assert first.json()["token"] not in str(stored)


# -- expiry and revocation -------------------------------------------------------------------------


def test_an_expired_token_is_refused_saying_when_it_expired(client, runtime, admin, company):
    issued = issue(client, admin, role="cashier", company="ACME", expires_in_days=1)
    assert client.get(f"{API}/products", headers=bearer(issued["token"])).status_code == 200

    expired_at = utcnow().replace(microsecond=0) - dt.timedelta(seconds=1)
    set_columns(runtime, issued["id"], expires_at=expired_at)

    response = client.get(f"{API}/products", headers=bearer(issued["token"]))
    problem = assert_problem(response, 401, "expired-token")
    assert problem["detail"] == f"the bearer token expired at {expired_at:%Y-%m-%dT%H:%M:%SZ}"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get(f"{API}/tokens/{issued['id']}", headers=admin).json()["state"] == "expired"


def test_a_revoked_token_is_refused_at_once_and_revoking_again_changes_nothing(
    client, runtime, admin, company
):
    issued = issue(client, admin, role="store_manager", company="ACME")
    headers = bearer(issued["token"])
    assert client.get(f"{API}/products", headers=headers).status_code == 200

    revoked = client.post(f"{API}/tokens/{issued['id']}/revoke", headers=admin)
    again = client.post(f"{API}/tokens/{issued['id']}/revoke", headers=admin)

    assert revoked.status_code == again.status_code == 200
    assert revoked.json()["state"] == "revoked" and revoked.json()["revoked_by"].startswith("token:")
    assert again.json() == revoked.json()
    assert_problem(client.get(f"{API}/products", headers=headers), 401, "invalid-token")
    assert len(events(runtime, type="ApiTokenRevoked")) == 1
    assert row_of(runtime, issued["id"]).revoked_at is not None  # kept, never deleted


def test_a_token_may_revoke_itself(client, admin, company):
    issued = issue(client, admin, role="admin", company="ACME")
    headers = bearer(issued["token"])

    assert client.post(f"{API}/tokens/{issued['id']}/revoke", headers=headers).status_code == 200
    assert_problem(client.get(f"{API}/tokens", headers=headers), 401, "invalid-token")


# -- last use --------------------------------------------------------------------------------------


def test_last_use_is_written_once_and_not_again_within_the_minute(client, runtime, admin, company):
    issued = issue(client, admin, role="cashier", company="ACME")
    headers = bearer(issued["token"])
    assert row_of(runtime, issued["id"]).last_used_at is None

    client.get(f"{API}/products", headers=headers)
    first = row_of(runtime, issued["id"]).last_used_at
    client.get(f"{API}/products", headers=headers)
    client.post(f"{API}/customers", json={"name": "Ann"}, headers=headers)

    assert first is not None
    assert row_of(runtime, issued["id"]).last_used_at == first
    # a minute later, the next request writes it again
    set_columns(runtime, issued["id"], last_used_at=first - dt.timedelta(seconds=61))
    client.get(f"{API}/products", headers=headers)
    assert row_of(runtime, issued["id"]).last_used_at > first
    assert client.get(f"{API}/tokens/{issued['id']}", headers=admin).json()["last_used_at"] is not None


def test_a_refused_token_is_not_counted_as_used(client, runtime, admin, company):
    issued = issue(client, admin, role="cashier", company="ACME")
    client.post(f"{API}/tokens/{issued['id']}/revoke", headers=admin)

    client.get(f"{API}/products", headers=bearer(issued["token"]))

    assert row_of(runtime, issued["id"]).last_used_at is None


def test_a_busy_database_skips_the_last_use_and_the_request_still_succeeds(client, runtime, admin, company):
    issued = issue(client, admin, role="cashier", company="ACME")
    headers = bearer(issued["token"])
    # another writer holds the lock the stamp needs: SQLite's write lock, PostgreSQL's row lock
    with runtime.engine.connect() as holder:
        holder.execution_options(**WRITES)  # SQLite: BEGIN IMMEDIATE, the database's one writer
        # PostgreSQL: a row lock on the token (SQLite compiles no FOR UPDATE; its lock is the BEGIN's)
        holder.execute(select(ApiToken.id).where(ApiToken.id == uuid.UUID(issued["id"])).with_for_update())
        response = client.get(f"{API}/products", headers=headers)
        holder.rollback()

    assert response.status_code == 200
    assert row_of(runtime, issued["id"]).last_used_at is None
    client.get(f"{API}/products", headers=headers)
    assert row_of(runtime, issued["id"]).last_used_at is not None


# -- listing and scope -----------------------------------------------------------------------------


def test_the_list_filters_by_state_role_and_company_and_pages_by_id(
    client, runtime, admin, company, other_company
):
    active = issue(client, admin, role="cashier", company="ACME")
    revoked = issue(client, admin, role="cashier", company="ACME")
    expired = issue(client, admin, role="finance", company="ACME", expires_in_days=1)
    elsewhere = issue(client, admin, role="finance", company="GLOBEX")
    client.post(f"{API}/tokens/{revoked['id']}/revoke", headers=admin)
    set_columns(runtime, expired["id"], expires_at=utcnow() - dt.timedelta(minutes=1))

    def ids(**params: Any) -> list[str]:
        response = client.get(f"{API}/tokens", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    acme = company["id"]
    assert ids(company_id=acme, state="active") == [active["id"]]
    assert ids(company_id=acme, state="revoked") == [revoked["id"]]
    assert ids(company_id=acme, state="expired") == [expired["id"]]
    assert ids(company_id=acme) == [active["id"], revoked["id"], expired["id"]]
    assert ids(role="finance") == [expired["id"], elsewhere["id"]]
    everything = ids()
    assert everything[-4:] == [active["id"], revoked["id"], expired["id"], elsewhere["id"]]
    # pages of 2 walk the same list, neither repeating nor skipping
    walked, cursor = [], None
    while True:
        page = client.get(
            f"{API}/tokens", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=admin
        ).json()
        walked += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == everything
    assert_problem(
        client.get(f"{API}/tokens", params={"state": "lost"}, headers=admin), 422, fields=("state",)
    )


def test_a_company_admin_manages_its_company_tokens_only(client, admin, company, other_company):
    acme_admin = bearer(issue(client, admin, role="admin", company="ACME")["token"])
    theirs = issue(client, admin, role="cashier", company="GLOBEX")
    installation = issue(client, admin, role="admin")

    # what it issues is its company's, whether it names the company or not
    mine = issue(client, acme_admin, role="cashier")
    assert mine["company_id"] == company["id"]
    assert issue(client, acme_admin, role="admin")["company_id"] == company["id"]
    for body in ({"company": "GLOBEX"}, {"company_id": other_company["id"]}):
        response = client.post(f"{API}/tokens", json={"role": "cashier", **body}, headers=acme_admin)
        assert_problem(response, 422, "unknown-company", fields=tuple(body))
    # it neither sees nor revokes the other company's tokens, nor the installation-wide ones
    listed = [item["id"] for item in client.get(f"{API}/tokens", headers=acme_admin).json()["items"]]
    assert mine["id"] in listed and theirs["id"] not in listed and installation["id"] not in listed
    for other in (theirs, installation):
        assert_problem(client.get(f"{API}/tokens/{other['id']}", headers=acme_admin), 404, "not-found")
        response = client.post(f"{API}/tokens/{other['id']}/revoke", headers=acme_admin)
        assert_problem(response, 404, "not-found")
    assert client.get(f"{API}/products", headers=bearer(theirs["token"])).status_code == 200


def test_a_store_admin_manages_its_store_tokens_only(client, admin, company, store_factory):
    store_factory("S1")
    store_factory("S2")
    store_admin = bearer(issue(client, admin, role="admin", company="ACME", store="S1")["token"])
    company_wide = issue(client, admin, role="cashier", company="ACME")
    in_s2 = issue(client, admin, role="cashier", company="ACME", store="S2")

    mine = issue(client, store_admin, role="cashier")
    assert mine["store_id"] == issue(client, store_admin, role="cashier", store="S1")["store_id"]
    assert mine["store_id"] is not None
    assert_problem(
        client.post(f"{API}/tokens", json={"role": "cashier", "store": "S2"}, headers=store_admin),
        422,
        "unknown-store",
        fields=("store",),
    )
    listed = [item["id"] for item in client.get(f"{API}/tokens", headers=store_admin).json()["items"]]
    assert mine["id"] in listed and company_wide["id"] not in listed and in_s2["id"] not in listed
    for other in (company_wide, in_s2):
        assert_problem(client.get(f"{API}/tokens/{other['id']}", headers=store_admin), 404, "not-found")


def test_an_installation_admin_issues_tokens_for_any_company_and_installation_wide(
    client, admin, company, other_company
):
    installation = issue(client, admin, role="admin")
    theirs = issue(client, admin, role="store_manager", company=other_company["id"])

    assert installation["company_id"] is None
    assert theirs["company_id"] == other_company["id"]
    assert client.get(f"{API}/companies", headers=bearer(installation["token"])).status_code == 200
