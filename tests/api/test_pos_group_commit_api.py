"""Group commit (decision 0078): one-sale requests of a till session share one batch and one transaction,
and each request still gets its own answer."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import test_pos_api
from apitools import API, assert_problem
from sqlalchemy import func, select
from test_pos_api import _open, _sale

from retailcore.access.model import Principal, Role
from retailcore.core.errors import ValidationFailed
from retailcore.entrypoints.api.app import bind
from retailcore.eventlog.tables import Event
from retailcore.orders.tables import OrderRow
from retailcore.pos import commands as c
from retailcore.pos import group_commit
from retailcore.pos.group_commit import GroupCommit

THREADS = 4


@pytest.fixture
def pos(client, admin, auth, company, store_factory, product_factory):
    """test_pos_api's shop: store S1, VAT 20 %, cash and card, coffee at 3.60, terminal T1, a cashier."""
    return test_pos_api.pos.__wrapped__(client, admin, auth, company, store_factory, product_factory)


PER_THREAD = 8


def _sales_of(runtime, session_id) -> int:
    with runtime.session_factory() as session:
        return session.scalar(
            select(func.count()).select_from(OrderRow).where(OrderRow.pos_session_id == uuid.UUID(session_id))
        )


def _close(client, pos, session, cash):
    closed = client.post(
        f"{API}/pos/sessions/{session['id']}/close", json={"counted": {"CASH": cash}}, headers=pos["cashier"]
    )
    assert closed.status_code == 200, closed.text
    return closed.json()


def test_concurrent_one_sale_requests_all_land_exactly_once_and_the_close_balances(runtime, client, pos):
    assert client.app.state.pos_group_commit is not None  # on by default
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/sales:batch"
    sales = [[_sale(pos["product"]["id"]) for _ in range(PER_THREAD)] for _ in range(THREADS)]

    def till(mine):
        answers = [client.post(url, json={"sales": [sale]}, headers=pos["cashier"]) for sale in mine]
        # The till resends its first sale (it never saw the answer): a duplicate, whichever batch took it.
        answers.append(client.post(url, json={"sales": [mine[0]]}, headers=pos["cashier"]))
        return answers

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [answer for batch in pool.map(till, sales) for answer in batch]

    assert all(answer.status_code == 200 for answer in answers), [
        a.text for a in answers if a.status_code != 200
    ]
    bodies = [answer.json() for answer in answers]
    assert sum(body["accepted"] for body in bodies) == THREADS * PER_THREAD
    assert sum(body["duplicates"] for body in bodies) == THREADS
    assert {(body["accepted"], body["duplicates"]) for body in bodies} == {(1, 0), (0, 1)}
    assert {body["session_id"] for body in bodies} == {session["id"]}
    assert _sales_of(runtime, session["id"]) == THREADS * PER_THREAD
    cash = Decimal("50.00") + Decimal("3.60") * THREADS * PER_THREAD
    closed = _close(client, pos, session, str(cash))
    assert closed["cash_difference"] == "0.00"


def test_a_bad_sale_among_concurrent_good_ones_gets_its_own_422(runtime, client, pos):
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/sales:batch"
    good = [[_sale(pos["product"]["id"]) for _ in range(PER_THREAD)] for _ in range(THREADS)]
    bad = _sale(pos["product"]["id"], paid="1.00")
    good[2].insert(PER_THREAD // 2, bad)

    def till(mine):
        return [(sale, client.post(url, json={"sales": [sale]}, headers=pos["cashier"])) for sale in mine]

    with ThreadPoolExecutor(THREADS) as pool:
        answers = [answer for batch in pool.map(till, good) for answer in batch]

    for sale, answer in answers:
        if sale is bad:
            body = assert_problem(answer, 422, "payment-short", fields=("sales.0.payments",))
            assert body["detail"].startswith("sale 0 of the batch was refused")
        else:
            assert answer.status_code == 200, answer.text
            assert answer.json()["accepted"] == 1
    assert _sales_of(runtime, session["id"]) == THREADS * PER_THREAD
    closed = _close(client, pos, session, str(Decimal("50.00") + Decimal("3.60") * THREADS * PER_THREAD))
    assert closed["cash_difference"] == "0.00"


def test_an_idempotency_key_replay_answers_the_stored_response(client, pos):
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/sales:batch"
    sale = _sale(pos["product"]["id"])
    headers = {**pos["cashier"], "Idempotency-Key": "till-1-sale-1"}

    first = client.post(url, json={"sales": [sale]}, headers=headers)
    again = client.post(url, json={"sales": [sale]}, headers=headers)
    other = client.post(url, json={"sales": [_sale(pos["product"]["id"])]}, headers=headers)

    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 1
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the stored answer: accepted 1, not a duplicate count
    assert_problem(other, 422, "idempotency-key-reused")


# -- the writer itself, with the requests of one batch put together on purpose --------------------------


@pytest.fixture
def writer(runtime, client, pos, company):
    session = _open(client, pos)
    principal = Principal(
        None, "cashier", Role.cashier, uuid.UUID(company["id"]), uuid.UUID(pos["terminal"]["store_id"])
    )
    group = GroupCommit(runtime.session_factory, window=0.002)
    return group, principal, uuid.UUID(session["id"]), session


def _queued(group: GroupCommit, count: int) -> None:
    deadline = time.monotonic() + 10
    while group.waiting() < count:
        assert time.monotonic() < deadline, "the requests never queued"
        time.sleep(0.001)


def _together(group, principal, session_id, requests):
    """Submit ``requests`` while a first request holds the writer, so that they form the next batch."""
    release, holding = threading.Event(), threading.Event()

    def hold(_session):
        holding.set()
        release.wait(10)

    outcomes: list = [None] * len(requests)

    def submit(position, sales, **hooks):
        try:
            outcomes[position] = group.submit(principal, session_id, sales, **hooks)
        except Exception as refused:  # the test looks at each request's own refusal
            outcomes[position] = refused

    first = threading.Thread(target=group.submit, args=(principal, session_id, []), kwargs={"replay": hold})
    first.start()
    assert holding.wait(10)
    threads = []
    for position, sales in enumerate(requests):
        thread = threading.Thread(target=submit, args=(position, sales))
        thread.start()
        threads.append(thread)
        _queued(group, position + 1)  # in this order
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    return outcomes


def _sale_in(pos, **fields):
    return c.SaleIn.model_validate(_sale(pos["product"]["id"], **fields))


def test_one_batch_answers_each_request_its_own_result_and_refusal(runtime, client, pos, writer):
    group, principal, session_id, session = writer
    good = _sale_in(pos)
    bad_request = [_sale_in(pos), _sale_in(pos, paid="1.00")]  # all or nothing, as a request alone
    resent = good.model_copy()  # the same client_uuid
    last = _sale_in(pos)

    outcomes = _together(group, principal, session_id, [[good], bad_request, [resent], [last]])

    assert isinstance(outcomes[1], ValidationFailed)
    assert outcomes[1].code == "payment-short"
    assert [p.field for p in outcomes[1].problems] == ["sales.1.payments"]  # its own index, not the batch's 2
    assert outcomes[1].detail.startswith("sale 1 of the batch was refused")
    assert (outcomes[0].accepted, outcomes[0].duplicates) == (1, 0)
    assert (outcomes[2].accepted, outcomes[2].duplicates) == (0, 1)  # the same client_uuid, one batch
    assert outcomes[2].session_id == session_id
    assert (outcomes[3].accepted, outcomes[3].duplicates) == (1, 0)
    assert _sales_of(runtime, session["id"]) == 2
    with runtime.session_factory() as read:
        batches = read.scalar(select(func.count()).select_from(Event).where(Event.type == "PosSalesIngested"))
    assert batches == 1  # the three good requests in one batch (the holder's empty batch records nothing)
    assert group.batches == 2


def test_a_batch_that_fails_for_no_one_request_runs_each_request_alone(
    runtime, client, pos, writer, monkeypatch
):
    group, principal, session_id, session = writer
    real = group_commit.svc.ingest

    def shared_fails(session, ctx, named, batch):
        if len(batch) > 1:
            raise RuntimeError("the shared transaction failed")
        return real(session, ctx, named, batch)

    monkeypatch.setattr(group_commit.svc, "ingest", shared_fails)

    outcomes = _together(group, principal, session_id, [[_sale_in(pos)] for _ in range(3)])

    assert [(o.accepted, o.duplicates) for o in outcomes] == [(1, 0)] * 3
    assert _sales_of(runtime, session["id"]) == 3


def test_a_window_of_zero_turns_group_commit_off(runtime, client, pos):
    settings = runtime.settings.model_copy(update={"pos_group_commit_window_ms": 0})
    bind(client.app, dataclasses.replace(runtime, settings=settings))
    assert client.app.state.pos_group_commit is None
    session = _open(client, pos)
    url = f"{API}/pos/sessions/{session['id']}/sales:batch"

    answer = client.post(
        url, json={"sales": [_sale(pos["product"]["id"], paid="1.00")]}, headers=pos["cashier"]
    )
    taken = client.post(url, json={"sales": [_sale(pos["product"]["id"])]}, headers=pos["cashier"])

    assert_problem(answer, 422, "payment-short", fields=("sales.0.payments",))
    assert taken.json()["accepted"] == 1
