"""The back office over HTTP (no browser): sign-in, the session cookie's flags, CSRF refusals, the
lockout, disabled users, store scope, the pages and their CSV, and closing a POS session from its page.
Browser tests of the same pages: tests/browser/test_back_office.py."""

from __future__ import annotations

import csv
import io
import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from retailcore.access import users
from retailcore.access.tables import User
from retailcore.adapters.db import transaction
from retailcore.eventlog.tables import Event
from retailcore.monitoring.tables import ExceptionCase
from retailcore.pos.tables import PosSession
from webtools import PASSWORD, build_shop, csrf_of, sign_in


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory):
    return build_shop(runtime, client, admin, auth, company, store_factory)


def test_a_password_is_stored_as_an_argon2id_hash_that_verifies_it_and_no_other(runtime, company):
    with transaction(runtime.session_factory) as session:
        user = users.create_user(session, "ann", "s3cret-enough", "finance", company="ACME")
        stored = user.password_hash
    assert stored.startswith("$argon2id$") and "s3cret-enough" not in stored
    assert users.verify_password(stored, "s3cret-enough")
    assert not users.verify_password(stored, "s3cret-enougH")
    assert not users.verify_password("not a hash", "s3cret-enough")


def test_a_short_password_and_a_scope_less_cashier_are_refused(runtime, company):
    with transaction(runtime.session_factory) as session:
        with pytest.raises(users.ValidationFailed) as short:
            users.create_user(session, "bob", "short", "admin")
        assert short.value.problems[0].field == "password"
        with pytest.raises(users.ValidationFailed) as unscoped:
            users.create_user(session, "bob", "long enough", "cashier")
        assert unscoped.value.code == "company-required"


def test_every_page_needs_a_sign_in(client):
    for path in ("/", "/orders", "/accounting/profit-and-loss", "/exceptions"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_sign_in_sets_an_httponly_samesite_lax_cookie_and_a_new_csrf_token(client, shop):
    before = csrf_of(client.get("/login").text)
    response = sign_in(client, "finance")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("rc_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "finance" in page.text
    assert csrf_of(page.text) != before
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client, shop):
    wrong = sign_in(client, "finance", "wrong password")
    unknown = sign_in(client, "nobody", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong user name or password" in wrong.text and "wrong user name or password" in unknown.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_five_failures_lock_the_user_even_against_the_right_password(runtime, client, shop):
    for _ in range(users.MAX_FAILURES):
        assert sign_in(client, "finance", "wrong password").status_code == 401
    locked = sign_in(client, "finance", PASSWORD)
    assert locked.status_code == 401 and "locked until" in locked.text
    with runtime.session_factory() as session:
        user = session.scalar(select(User).where(User.username == "finance"))
        assert user is not None and user.locked_until is not None


def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused_and_changes_nothing(
    runtime, client, shop
):
    sign_in(client, "manager1")
    session_id = shop["sessions"]["S1"]["id"]
    path = f"/pos/sessions/{session_id}/close"
    token = csrf_of(client.get(f"/pos/sessions/{session_id}").text)
    missing = client.post(path, data={"counted.CASH": "57.20"}, follow_redirects=False)
    forged = client.post(path, data={"counted.CASH": "57.20", "csrf_token": "x" * 43}, follow_redirects=False)
    elsewhere = client.post(
        path,
        data={"counted.CASH": "57.20", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert missing.status_code == forged.status_code == elsewhere.status_code == 403
    with runtime.session_factory() as session:
        assert session.get(PosSession, uuid.UUID(session_id)).state == "open"
    login = client.post("/login", data={"username": "finance", "password": PASSWORD}, follow_redirects=False)
    assert login.status_code == 403


def test_a_forged_or_tampered_cookie_is_no_session(client, shop):
    sign_in(client, "finance")
    value = client.cookies["rc_session"]
    body, _, mac = value.partition(".")
    client.cookies.set("rc_session", f"{body}x.{mac}")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_disabled_user_is_refused_at_the_next_request(runtime, client, shop):
    sign_in(client, "finance")
    assert client.get("/").status_code == 200
    with transaction(runtime.session_factory) as session:
        users.disable_user(session, "finance")
    assert client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(client, "finance").status_code == 401


def test_a_cashier_sees_its_own_stores_orders_and_sessions_only(client, shop):
    assert sign_in(client, "cashier1").status_code == 303
    listed = client.get("/orders").text
    own, other = shop["orders"]["S1"][0], shop["orders"]["S2"][0]
    assert own["number"] in listed and other["number"] not in listed
    assert client.get(f"/orders/{own['id']}").status_code == 200
    assert client.get(f"/orders/{other['id']}").status_code == 404
    assert client.get(f"/pos/sessions/{shop['sessions']['S1']['id']}").status_code == 200
    assert client.get(f"/pos/sessions/{shop['sessions']['S2']['id']}").status_code == 404
    assert client.get("/accounting/profit-and-loss").status_code == 403
    assert client.get("/close").status_code == 403


def test_an_order_page_shows_its_lines_payments_moves_entries_and_events_in_order(runtime, client, shop):
    sign_in(client, "boss")
    order = shop["orders"]["S1"][0]
    page = client.get(f"/orders/{order['id']}").text
    assert "COFFEE" in page and order["number"] in page
    positions = [int(p) for p in re.findall(r'<tr id="event-[^"]+"><td>(\d+)</td>', page)]
    assert positions and positions == sorted(positions)
    # A POS sale is recorded with its session: the batch that brought it, the goods it took.
    aggregates = [uuid.UUID(order["id"]), uuid.UUID(order["pos_session_id"])]
    with runtime.session_factory() as session:
        types = {e.type for e in session.scalars(select(Event).where(Event.aggregate_id.in_(aggregates)))}
    assert {"PosSalesIngested", "PosGoodsIssued"} <= types and all(t in page for t in types)


def test_the_profit_and_loss_drills_down_to_journal_lines_and_their_events(client, shop):
    # S2's session was closed (webtools): its sales are in the books.
    sign_in(client, "finance")
    report = client.get("/accounting/profit-and-loss").text
    accounts = re.findall(r'href="(/accounting/accounts/[^"]+)"', report)
    assert accounts
    ledger = client.get(accounts[0].replace("&amp;", "&"))
    assert ledger.status_code == 200
    entries = re.findall(r'href="(/accounting/entries/[^"]+)"', ledger.text)
    assert entries
    entry = client.get(entries[0])
    assert entry.status_code == 200 and 'id="event-' in entry.text
    printable = client.get("/accounting/profit-and-loss?printable=true")
    assert printable.status_code == 200 and "<nav" not in printable.text


def test_every_table_downloads_as_csv(client, shop):
    sign_in(client, "boss")
    for path, table in (
        ("/orders", "orders"),
        ("/pos/sessions", "sessions"),
        ("/stock", "levels"),
        ("/stock", "valuation"),
        ("/accounting/trial-balance", "trial-balance"),
        ("/accounting/profit-and-loss", "profit-and-loss"),
        ("/exceptions", "exceptions"),
    ):
        assert f"csv={table}" in client.get(path).text
        response = client.get(f"{path}?csv={table}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert next(csv.reader(io.StringIO(response.text)))
    orders = list(csv.DictReader(io.StringIO(client.get("/orders?csv=orders").text)))
    assert {row["number"] for row in orders} == {o["number"] for c in ("S1", "S2") for o in shop["orders"][c]}


def test_a_store_manager_closes_a_session_from_its_page(runtime, client, shop):
    sign_in(client, "manager1")
    session_id = shop["sessions"]["S1"]["id"]
    page = client.get(f"/pos/sessions/{session_id}").text
    assert "Close session" in page
    # Expected cash: the 50.00 float and the 7.20 cash sale; counted 2.00 short.
    assert "57.20" in page
    closed = client.post(
        f"/pos/sessions/{session_id}/close",
        data={"csrf_token": csrf_of(page), "counted.CASH": "55.20", "counted.CARD": "7.20"},
        follow_redirects=False,
    )
    assert closed.status_code == 303, closed.text
    with runtime.session_factory() as session:
        row = session.get(PosSession, uuid.UUID(session_id))
        assert row.state == "closed" and row.cash_difference == Decimal("-2.00")
    assert "-2.00" in client.get(f"/pos/sessions/{session_id}").text


def test_an_exception_is_resolved_from_the_console(runtime, client, shop):
    sign_in(client, "manager1")
    page = client.get("/exceptions").text
    assert f'id="exception-{shop["exception_id"]}"' in page
    resolved = client.post(
        f"/exceptions/{shop['exception_id']}/resolve",
        data={"csrf_token": csrf_of(page), "note": "counted again: fine", "status": "unresolved"},
        follow_redirects=False,
    )
    assert resolved.status_code == 303, resolved.text
    with runtime.session_factory() as session:
        row = session.get(ExceptionCase, shop["exception_id"])
        assert row.status == "resolved"
    assert f'id="exception-{shop["exception_id"]}"' not in client.get("/exceptions").text


def test_an_accounts_journal_lines_are_filtered_by_store_channel_and_category(client, shop):
    # S2's session was closed (webtools): its sales are in the books, with S2, pos and Drinks on the lines.
    sign_in(client, "finance")
    split = client.get("/accounting/profit-and-loss?group_by=store_id").text
    links = [link.replace("&amp;", "&") for link in re.findall(r'href="(/accounting/accounts/[^"]+)"', split)]
    assert links and all("store=S2" in link for link in links)
    account = links[0].split("?")[0]

    def lines(**filters: str) -> list[dict[str, str]]:
        response = client.get(account, params={**filters, "csv": "ledger"})
        assert response.status_code == 200, response.text
        rows = csv.DictReader(io.StringIO(response.text))
        return [row for row in rows if row["kind"] not in ("opening", "closing")]

    every = lines()
    assert every
    assert lines(store="S2") == every
    assert lines(store="S2", channel="pos", category="Drinks") == every
    assert lines(store="S1") == [] and lines(channel="web") == [] and lines(category="Shoes") == []
    page = client.get(account, params={"store": "S1"}).text
    assert "No line in the period." in page and "Only the lines carrying S1" in page
    wrong = client.get(account, params={"channel": "telepathy"})
    assert wrong.status_code == 422 and "channel" in wrong.text
    unknown = client.get(account, params={"store": "NOPE"})
    assert unknown.status_code in (404, 422) and "store" in unknown.text
