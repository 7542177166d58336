"""The POS inbox (decision 0084): a batch sent with ``Prefer: respond-async`` is recorded and answered 202,
then posted by a drain; replays enter once, a refusal sinks only its own request, a close posts what was
accepted, and two drainers never take a row twice."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import test_pos_api
from apitools import API, assert_problem
from sqlalchemy import func, select
from test_pos_api import _open, _sale
from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app as cli_app
from retailcore.entrypoints.inbox import Drainer, describe, drain_now
from retailcore.eventlog.tables import Event
from retailcore.monitoring.tables import ExceptionCase
from retailcore.orders.tables import OrderRow
from retailcore.pos import commands as c
from retailcore.pos import inbox
from retailcore.pos.tables import PosInbox
from support import POSTGRES_URL

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture
def pos(client, admin, auth, company, store_factory, product_factory):
    """test_pos_api's shop: store S1, VAT 20 %, cash and card, coffee at 3.60, terminal T1, a cashier."""
    return test_pos_api.pos.__wrapped__(client, admin, auth, company, store_factory, product_factory)


def _send(client, pos, session, sales, **headers):
    return client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": sales},
        headers={**pos["cashier"], **ASYNC, **headers},
    )


def _count(runtime, model, *where) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _orders(runtime, session) -> int:
    return _count(runtime, OrderRow, OrderRow.pos_session_id == uuid.UUID(session["id"]))


def test_an_async_batch_is_accepted_then_posted_and_its_status_says_so(runtime, client, pos):
    session = _open(client, pos)
    sale = _sale(pos["product"]["id"])

    accepted = _send(client, pos, session, [sale])

    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["Preference-Applied"] == "respond-async"
    location = accepted.headers["Location"]
    assert location == f"/api/v1/pos/inbox/{accepted.json()['id']}"
    assert accepted.json()["status"] == "pending"
    assert _orders(runtime, session) == 0  # recorded, not yet posted
    pending = client.get(location, headers=pos["cashier"])
    assert pending.status_code == 200, pending.text
    assert (pending.json()["status"], pending.json()["result"]) == ("pending", None)

    done = drain_now(runtime.session_factory)

    assert (done.ingested, done.sales, done.refused) == (1, 1, 0)
    status = client.get(location, headers=pos["cashier"]).json()
    assert status["status"] == "ingested" and status["ingested_at"]
    assert {k: status["result"][k] for k in ("accepted", "duplicates", "rescued")} == {
        "accepted": 1,
        "duplicates": 0,
        "rescued": 0,
    }
    [posted] = status["sales"]
    assert posted["client_uuid"] == sale["client_uuid"]
    assert posted["number"].startswith("T1-") and posted["order_id"]
    assert _orders(runtime, session) == 1
    # Another store's cashier does not see it.
    assert_problem(client.get(location, headers=pos["other_cashier"]), 404, "not-found")


def test_without_the_preference_the_request_is_answered_as_before(runtime, client, pos):
    session = _open(client, pos)

    answer = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch",
        json={"sales": [_sale(pos["product"]["id"])]},
        headers={**pos["cashier"], "Prefer": "return=minimal"},
    )

    assert answer.status_code == 200, answer.text
    assert "Preference-Applied" not in answer.headers
    assert answer.json()["accepted"] == 1
    assert _count(runtime, PosInbox) == 0


def test_a_replay_is_answered_the_same_202_and_enters_once(runtime, client, pos):
    session = _open(client, pos)
    sale = _sale(pos["product"]["id"])

    first = _send(client, pos, session, [sale], **{"Idempotency-Key": "sale-1"})
    again = _send(client, pos, session, [sale], **{"Idempotency-Key": "sale-1"})
    other_key = _send(client, pos, session, [sale], **{"Idempotency-Key": "sale-1-resent"})
    no_key = _send(client, pos, session, [sale])
    reused = _send(client, pos, session, [_sale(pos["product"]["id"])], **{"Idempotency-Key": "sale-1"})

    assert [r.status_code for r in (first, again, other_key, no_key)] == [202] * 4
    assert {r.json()["id"] for r in (first, again, other_key, no_key)} == {first.json()["id"]}
    assert {r.headers["Location"] for r in (first, again, other_key, no_key)} == {first.headers["Location"]}
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_problem(reused, 422, "idempotency-key-reused")
    assert _count(runtime, PosInbox) == 1

    drain_now(runtime.session_factory)
    after = _send(client, pos, session, [sale], **{"Idempotency-Key": "sale-1"})

    assert (after.status_code, after.json()["status"]) == (202, "ingested")
    assert _orders(runtime, session) == 1


def test_a_refused_sale_is_recorded_and_raised_once_while_the_others_of_the_drain_land(runtime, client, pos):
    session = _open(client, pos)
    product = pos["product"]["id"]
    good = [_sale(product), _sale(product, method="CARD", paid="3.60")]
    short = _sale(product, paid="1.00")  # 3.60 due: refused by ingest, not by the request's shape
    rows = [_send(client, pos, session, [sale]) for sale in (good[0], short, good[1])]
    assert [r.status_code for r in rows] == [202, 202, 202]

    done = drain_now(runtime.session_factory)

    assert (done.ingested, done.sales, done.refused) == (2, 2, 1)
    assert done.batches == 1  # the two good ones again in one batch, without the refused one
    refused = client.get(rows[1].headers["Location"], headers=pos["cashier"]).json()
    assert refused["status"] == "refused" and refused["refused_at"]
    problem = refused["problem"]
    assert (problem["status"], problem["code"]) == (422, "payment-short")
    assert [e["field"] for e in problem["errors"]] == ["sales.0.payments"]
    assert problem["detail"].startswith("sale 0 of the batch was refused")
    assert problem["instance"] == f"/api/v1/pos/sessions/{session['id']}/sales:batch"
    for landed in (rows[0], rows[2]):
        assert client.get(landed.headers["Location"], headers=pos["cashier"]).json()["status"] == "ingested"
    assert _orders(runtime, session) == 2

    found = client.get(f"{API}/exceptions", params={"kind": "sale_refused"}, headers=pos["manager"])
    assert found.status_code == 200, found.text
    [raised] = found.json()["items"]
    assert raised["severity"] == "high" and raised["amount_at_risk"] == "1.00"
    assert raised["details"]["client_uuids"] == [short["client_uuid"]]
    # Drained again (nothing pending) and the same request sent again: still one row, one exception.
    drain_now(runtime.session_factory)
    assert _send(client, pos, session, [short]).json()["status"] == "refused"
    assert _count(runtime, ExceptionCase, ExceptionCase.type == "sale_refused") == 1


def test_a_close_posts_what_the_inbox_accepted_first(runtime, client, pos):
    session = _open(client, pos)
    for _ in range(3):
        assert _send(client, pos, session, [_sale(pos["product"]["id"])]).status_code == 202

    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close",
        json={"counted": {"CASH": "60.80"}},
        headers=pos["cashier"],
    )

    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"
    assert closed.json()["cash_difference"] == "0.00"  # 50.00 float + 3 x 3.60: the three sales are in
    assert _orders(runtime, session) == 3
    assert _count(runtime, PosInbox, PosInbox.status == "pending") == 0


def test_the_cli_drains_what_is_pending(runtime, client, pos):
    session = _open(client, pos)
    _send(client, pos, session, [_sale(pos["product"]["id"])])
    _send(client, pos, session, [_sale(pos["product"]["id"], paid="0.50")])

    ran = CliRunner().invoke(cli_app, ["pos", "drain", "--session", session["id"]])

    assert ran.exit_code == 0, ran.output
    assert "ingested 1 batches (1 sales)" in ran.output
    assert "refused 1" in ran.output and "payment-short" not in ran.output
    assert _count(runtime, PosInbox, PosInbox.status == "pending") == 0


def test_the_drainer_thread_posts_what_its_process_accepted(runtime, client, pos):
    session = _open(client, pos)
    drainer = Drainer(runtime.session_factory, 0.01)
    client.app.state.pos_inbox_drainer = drainer
    drainer.start()
    try:
        accepted = _send(client, pos, session, [_sale(pos["product"]["id"])])
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 30  # a bound for a loaded machine, not a speed check
        status = "pending"
        while status == "pending" and time.monotonic() < deadline:
            time.sleep(0.01)
            status = client.get(accepted.headers["Location"], headers=pos["cashier"]).json()["status"]
    finally:
        drainer.stop()
        client.app.state.pos_inbox_drainer = None
    assert status == "ingested"
    assert _orders(runtime, session) == 1


def test_the_prefer_header_is_read_as_rfc_7240_says():
    assert inbox.wants_async("respond-async")
    assert inbox.wants_async("return=minimal, Respond-Async; wait=5")
    assert inbox.wants_async("respond-async=")
    assert not inbox.wants_async(None)
    assert not inbox.wants_async("return=representation")
    assert not inbox.wants_async("respond-asyncly")


@pytest.mark.skipif(
    not POSTGRES_URL, reason="row claims of several drainers: PostgreSQL (one writer on SQLite)"
)
def test_two_drainers_at_once_never_ingest_a_row_twice(runtime, client, pos):
    second = client.post(
        f"{API}/pos/terminals",
        json={"store_id": pos["terminal"]["store_id"], "code": "T2", "name": "Till 2"},
        headers=pos["manager"],
    )
    assert second.status_code == 201, second.text
    sessions = [_open(client, pos), _open(client, {**pos, "terminal": second.json()})]
    count = 24
    for n in range(count):
        accepted = _send(client, pos, sessions[n % 2], [_sale(pos["product"]["id"])])
        assert accepted.status_code == 202, accepted.text
    start = threading.Barrier(2)
    results: list[inbox.Drained] = []
    failures: list[BaseException] = []

    def drainer() -> None:
        try:
            start.wait()
            results.append(inbox.drain(runtime.session_factory, describe, until_empty=True))
        except BaseException as failed:
            failures.append(failed)

    threads = [threading.Thread(target=drainer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures
    assert sum(r.ingested for r in results) == count  # each row taken by exactly one of them
    assert sum(r.sales for r in results) == count
    assert _count(runtime, PosInbox, PosInbox.status == "ingested") == count
    with runtime.session_factory() as session:
        rows = session.scalars(select(PosInbox)).all()
        assert sum(row.result["accepted"] for row in rows) == count
        assert sum(row.result["duplicates"] for row in rows) == 0
        events = session.scalars(select(Event).where(Event.type == "PosSalesIngested")).all()
        taken = [sale for event in events for sale in event.payload["accepted"]]
    assert len(taken) == len(set(taken)) == count
    assert sum(_orders(runtime, s) for s in sessions) == count


def test_a_batch_that_sells_gift_cards_is_not_taken_into_the_inbox():
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": "2026-12-01T10:00:00Z",
        "gift_cards": [{"amount": "50.00"}],
        "payments": [{"payment_method_code": "CASH", "amount": "50.00"}],
    }
    line = {"product_id": str(uuid.uuid4()), "quantity": 1, "unit_price": "3.60"}
    plain = {**sale, "client_uuid": str(uuid.uuid4()), "gift_cards": [], "lines": [line]}

    assert not inbox.takes(c.SalesBatch.model_validate({"sales": [plain, sale]}).sales)  # codes: 200 only
    assert inbox.takes(c.SalesBatch.model_validate({"sales": [plain]}).sales)
