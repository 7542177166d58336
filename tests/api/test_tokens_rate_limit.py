"""Requests per token: 429 with Retry-After past the bucket (docs/api.md, "Limits"; decisions 0016
and 0087: the buckets in each process's memory, or in the database every process shares)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from apitools import API, assert_problem
from fastapi.testclient import TestClient

from retailcore.access.rate_limit import DatabaseBuckets, RateLimited, TokenBuckets
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import bootstrap
from retailcore.entrypoints.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limited_client(database_url: str, rate: float, burst: int, store: str = "memory") -> Iterator[TestClient]:
    runtime = bootstrap(
        Settings(
            database_url=database_url,
            rate_limit_per_second=rate,
            rate_limit_burst=burst,
            rate_limit_store=store,
        )
    )
    try:
        with TestClient(create_app(runtime)) as client:
            yield client
    finally:
        runtime.engine.dispose()


@pytest.fixture
def slow_client(database_url: str) -> Iterator[TestClient]:
    """An app whose tokens may make 3 requests, then one every 100 seconds."""
    yield from limited_client(database_url, rate=0.01, burst=3)


def test_past_its_burst_a_token_gets_429_with_retry_after(slow_client, auth):
    headers = auth("admin")
    other = auth("admin")

    statuses = [slow_client.get(f"{API}/companies", headers=headers).status_code for _ in range(3)]
    refused = slow_client.get(f"{API}/companies", headers=headers)

    assert statuses == [200, 200, 200]
    problem = assert_problem(refused, 429, "rate-limited")
    assert "retry in" in problem["detail"]
    # a whole number of seconds, at least 1: an empty bucket refills one request in 100 s
    assert 90 <= int(refused.headers["Retry-After"]) <= 100
    # writes count too, and each token has a bucket of its own
    assert_problem(
        slow_client.post(f"{API}/companies", json={"code": "X"}, headers=headers), 429, "rate-limited"
    )
    assert slow_client.get(f"{API}/companies", headers=other).status_code == 200


def test_an_unknown_token_is_a_401_not_a_429(slow_client):
    for _ in range(5):
        response = slow_client.get(f"{API}/companies", headers={"Authorization": "Bearer rc_nobody"})
        assert_problem(response, 401, "invalid-token")


def test_a_rate_of_zero_turns_the_limit_off(database_url, auth):
    for client in limited_client(database_url, rate=0, burst=1):
        headers = auth("admin")
        assert {client.get(f"{API}/companies", headers=headers).status_code for _ in range(10)} == {200}


# -- the buckets themselves, on a clock the test moves ---------------------------------------------


def test_a_bucket_refills_at_the_rate_and_says_how_long_to_wait():
    clock = FakeClock()
    buckets = TokenBuckets(rate=2, burst=4, clock=clock)
    token = uuid.uuid4()

    for _ in range(4):
        buckets.take(token)
    with pytest.raises(RateLimited) as refused:
        buckets.take(token)
    assert refused.value.retry_after == 1  # half a second, rounded up to a whole one

    clock.now += 0.5
    buckets.take(token)  # one request back
    with pytest.raises(RateLimited):
        buckets.take(token)
    clock.now += 60
    for _ in range(4):  # full again, but no fuller than the burst
        buckets.take(token)
    with pytest.raises(RateLimited):
        buckets.take(token)


def test_a_slow_rate_asks_for_the_whole_seconds_it_takes():
    clock = FakeClock()
    buckets = TokenBuckets(rate=0.25, burst=1, clock=clock)
    token = uuid.uuid4()
    buckets.take(token)
    clock.now += 1

    with pytest.raises(RateLimited) as refused:
        buckets.take(token)

    assert refused.value.retry_after == 3


def test_idle_buckets_are_forgotten_and_the_map_stays_bounded():
    clock = FakeClock()
    buckets = TokenBuckets(rate=10, burst=5, clock=clock, max_buckets=100)

    for _ in range(3):
        buckets.take(uuid.uuid4())
    assert len(buckets) == 3
    clock.now += 0.5  # 5 / 10 s: every one of them is full again
    buckets.take(uuid.uuid4())
    assert len(buckets) == 1

    for _ in range(250):
        buckets.take(uuid.uuid4())
    assert len(buckets) == 100


def test_a_busy_token_keeps_its_bucket_while_idle_ones_go():
    clock = FakeClock()
    buckets = TokenBuckets(rate=1, burst=2, clock=clock)
    busy, idle = uuid.uuid4(), uuid.uuid4()
    buckets.take(idle)
    for _ in range(2):
        buckets.take(busy)

    clock.now += 1.9  # 1.9 requests back: one goes, the next finds 0.9
    buckets.take(busy)
    with pytest.raises(RateLimited):
        buckets.take(busy)
    assert len(buckets) == 2
    clock.now += 0.2
    buckets.take(busy)
    assert len(buckets) == 1  # the idle one, untouched for 2.1 s, was full and is gone


def test_threads_sharing_a_bucket_get_exactly_the_burst():
    buckets = TokenBuckets(rate=0.001, burst=50, clock=FakeClock())
    token = uuid.uuid4()
    granted: list[int] = []
    start = threading.Barrier(8)

    def client() -> None:
        start.wait()
        for _ in range(20):
            try:
                buckets.take(token)
            except RateLimited:
                continue
            granted.append(1)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 50


def test_a_zero_rate_never_refuses():
    buckets = TokenBuckets(rate=0, burst=0, clock=FakeClock())
    token = uuid.uuid4()
    for _ in range(1000):
        buckets.take(token)
    assert not buckets.enabled and len(buckets) == 0


# -- the database store: one bucket per token for every process (decision 0087) ---------------------


def test_two_api_processes_on_the_database_store_spend_from_one_bucket(database_url, auth):
    """Two applications on one database stand for two API nodes behind a load balancer."""
    headers = auth("admin")
    other = auth("admin")
    nodes = [limited_client(database_url, rate=0.01, burst=3, store="database") for _ in range(2)]
    first, second = (next(node) for node in nodes)
    try:
        statuses = [
            client.get(f"{API}/companies", headers=headers).status_code for client in (first, second, first)
        ]
        refused = [client.get(f"{API}/companies", headers=headers) for client in (second, first)]

        assert statuses == [200, 200, 200]
        for response in refused:
            problem = assert_problem(response, 429, "rate-limited")
            assert "retry in" in problem["detail"]
            assert 90 <= int(response.headers["Retry-After"]) <= 100  # one request back: 1 / 0.01 s
        assert second.get(f"{API}/companies", headers=other).status_code == 200
    finally:
        for node in nodes:
            node.close()


def test_the_memory_store_gives_each_process_a_bucket_of_its_own(database_url, auth):
    headers = auth("admin")
    nodes = [limited_client(database_url, rate=0.01, burst=2) for _ in range(2)]
    first, second = (next(node) for node in nodes)
    try:
        statuses = [client.get(f"{API}/companies", headers=headers).status_code for client in (first, first)]
        assert statuses == [200, 200]
        assert first.get(f"{API}/companies", headers=headers).status_code == 429
        assert second.get(f"{API}/companies", headers=headers).status_code == 200
    finally:
        for node in nodes:
            node.close()


def test_a_database_bucket_refills_at_the_rate_up_to_the_burst(runtime):
    clock = FakeClock()
    buckets = DatabaseBuckets(runtime.session_factory, rate=2, burst=4, clock=clock)
    token, other = uuid.uuid4(), uuid.uuid4()

    for _ in range(4):
        buckets.take(token)
    with pytest.raises(RateLimited) as refused:
        buckets.take(token)
    assert refused.value.retry_after == 1
    buckets.take(other)  # a bucket of its own

    clock.now += 0.5
    buckets.take(token)  # one request back
    with pytest.raises(RateLimited):
        buckets.take(token)
    clock.now += 0.25  # half a request: still refused, and the refusal keeps the half
    with pytest.raises(RateLimited):
        buckets.take(token)
    clock.now += 0.25
    buckets.take(token)
    clock.now += 60
    for _ in range(4):  # full again, but no fuller than the burst
        buckets.take(token)
    with pytest.raises(RateLimited):
        buckets.take(token)


def test_a_database_bucket_never_refills_backwards_from_a_clock_behind_its_stamp(runtime):
    """Two nodes' clocks disagree a little: the one behind takes from the bucket, never adds to it."""
    ahead, behind = FakeClock(), FakeClock()
    behind.now -= 5
    token = uuid.uuid4()
    first = DatabaseBuckets(runtime.session_factory, rate=1, burst=2, clock=ahead)
    second = DatabaseBuckets(runtime.session_factory, rate=1, burst=2, clock=behind)

    first.take(token)
    second.take(token)
    with pytest.raises(RateLimited):
        second.take(token)
    behind.now += 5.5  # half a second past the stamp the first node wrote: half a request
    with pytest.raises(RateLimited):
        second.take(token)
    behind.now += 0.5
    second.take(token)


def test_threads_sharing_a_database_bucket_get_exactly_the_burst(runtime):
    buckets = DatabaseBuckets(runtime.session_factory, rate=0.001, burst=20, clock=FakeClock())
    token = uuid.uuid4()
    granted: list[int] = []
    start = threading.Barrier(4)

    def client() -> None:
        start.wait()
        for _ in range(10):
            try:
                buckets.take(token)
            except RateLimited:
                continue
            granted.append(1)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 20


def test_a_zero_rate_on_the_database_store_writes_nothing(runtime):
    from sqlalchemy import func, select

    from retailcore.access.tables import RateLimitBucket

    buckets = DatabaseBuckets(runtime.session_factory, rate=0, burst=5)
    for _ in range(10):
        buckets.take(uuid.uuid4())
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(RateLimitBucket)) == 0


def test_a_database_bucket_taken_on_the_callers_autocommit_session_is_committed(runtime):
    """The API passes the session that read the token (autocommit on PostgreSQL), or one whose read
    ended; the take is committed either way, and SQLite takes its own transaction."""
    from sqlalchemy import select

    from retailcore.access.tables import RateLimitBucket

    buckets = DatabaseBuckets(runtime.session_factory, rate=0.001, burst=3, clock=FakeClock())
    token = uuid.uuid4()
    postgres = runtime.engine.dialect.name == "postgresql"
    with runtime.session_factory() as session:
        if postgres:
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        buckets.take(token, session)
        session.rollback()  # what authenticate does before stamping a token's last use
        buckets.take(token, session)
    with runtime.session_factory() as session:
        assert session.scalar(select(RateLimitBucket.level).where(RateLimitBucket.token_id == token)) == 1
    buckets.take(token)
    with pytest.raises(RateLimited):
        buckets.take(token)
