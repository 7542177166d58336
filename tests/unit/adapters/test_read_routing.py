"""Which database a routed read uses (decision 0086): the replica while its checked lag, plus the age of
the check, is within the bound and it has replayed the caller's last write; the primary otherwise, and
when the replica cannot be reached or fails a read. The probe and the clock are fakes; the two
"databases" are in-memory SQLite engines that are never written."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from retailcore.adapters.replica import (
    CONNECT_TIMEOUT_SECONDS,
    Measure,
    ReadRouting,
    format_lsn,
    parse_lsn,
    replica_url,
    staleness_ms,
)


@dataclass
class FakeProbe:
    lag_ms: int | None = 0
    replayed: int | None = 1_000
    written: int = 2_000
    down: bool = False
    checks: int = 0

    def primary_position(self, primary: Session) -> int | None:
        return self.written

    def measure(self, primary: Session, replica: Session) -> Measure:
        self.checks += 1
        if self.down:
            raise OperationalError("SELECT pg_is_in_recovery()", {}, ConnectionRefusedError("refused"))
        return Measure(self.replayed, self.lag_ms)


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000


@pytest.fixture
def engines():
    primary, replica = create_engine("sqlite://"), create_engine("sqlite://")
    yield primary, replica
    primary.dispose()
    replica.dispose()


def routing(engines, probe: FakeProbe, clock: Clock, max_lag_ms: float = 5000, check_ms: float = 1000):
    primary, replica = engines
    return ReadRouting(
        sessionmaker(primary),
        sessionmaker(replica),
        max_lag_ms=max_lag_ms,
        check_ms=check_ms,
        probe=probe,
        clock=clock,
    )


def test_a_replica_within_the_bound_answers(engines):
    reads = routing(engines, FakeProbe(lag_ms=4000), Clock())
    assert reads.route().target == "replica"


@pytest.mark.parametrize(
    ("lag_ms", "check_age_ms", "target"),
    [(4999, 0, "replica"), (5001, 0, "primary"), (4000, 900, "replica"), (4500, 900, "primary")],
)
def test_the_age_of_the_check_counts_against_the_bound(engines, lag_ms, check_age_ms, target):
    clock = Clock()
    reads = routing(engines, FakeProbe(lag_ms=lag_ms), clock)
    reads.state()
    clock.advance(check_age_ms)
    route = reads.route()
    assert route.target == target
    assert route.reason == (None if target == "replica" else "lagging")


def test_a_replica_of_unknown_lag_is_not_used(engines):
    assert routing(engines, FakeProbe(lag_ms=None), Clock()).route().reason == "lagging"


def test_the_check_is_cached_for_its_interval(engines):
    probe, clock = FakeProbe(), Clock()
    reads = routing(engines, probe, clock, check_ms=1000)
    for _ in range(5):
        reads.route()
        clock.advance(150)
    assert probe.checks == 1  # 600 ms of reads, one check
    clock.advance(400)
    reads.route()
    assert probe.checks == 2


def test_an_unreachable_replica_sends_reads_to_the_primary_until_a_later_check(engines):
    probe, clock = FakeProbe(down=True), Clock()
    reads = routing(engines, probe, clock)
    assert (reads.route().target, reads.route().reason) == ("primary", "unavailable")
    assert reads.report()["status"] == "unavailable" and reads.report()["error"] == "ConnectionRefusedError"
    probe.down = False
    assert reads.route().target == "primary"  # the down state is reused for the check's interval
    clock.advance(1000)
    assert reads.route().target == "replica"


def test_a_client_reads_its_own_write_on_the_primary_until_the_replica_replayed_it(engines):
    probe, clock = FakeProbe(replayed=1_000), Clock()
    reads = routing(engines, probe, clock)
    written = reads.written_position()
    assert written == 2_000
    assert (reads.route(written).target, reads.route(written).reason) == ("primary", "own-write")
    assert reads.route(999).target == "replica"  # an older write is on the replica already
    assert reads.route(None).target == "replica"  # other clients are not held back
    probe.replayed = 2_000
    clock.advance(1000)
    assert reads.route(written).target == "replica"


def test_reads_are_counted_by_where_they_went_and_why(engines):
    probe, clock = FakeProbe(), Clock()
    reads = routing(engines, probe, clock)
    one = lambda session: session.scalar(text("SELECT 1"))  # noqa: E731
    assert reads.read(one) == 1
    assert reads.read(one, min_position=5_000) == 1
    probe.lag_ms = 60_000
    clock.advance(1000)
    assert reads.read(one) == 1
    assert reads.report()["reads"] == {"primary:lagging": 1, "primary:own-write": 1, "replica": 1}
    assert reads.report()["status"] == "lagging" and reads.report()["lag_ms"] == 60_000


def test_a_read_the_replica_fails_is_answered_by_the_primary(engines):
    primary, replica = engines
    reads = routing(engines, FakeProbe(), Clock())
    binds = []

    def work(session: Session) -> str:
        binds.append(session.get_bind())
        if session.get_bind() is replica:
            raise OperationalError(
                "SELECT", {}, Exception("canceling statement due to conflict with recovery")
            )
        return "answer"

    assert reads.read(work) == "answer"
    assert binds == [replica, primary]
    assert reads.report()["reads"] == {"primary:replica-error": 1}
    assert reads.route().reason == "unavailable"  # until the next check


def test_an_error_of_the_query_itself_is_not_retried_on_the_primary(engines):
    reads = routing(engines, FakeProbe(), Clock())
    calls = []

    def work(session: Session) -> None:
        calls.append(1)
        raise ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))

    with pytest.raises(ProgrammingError):
        reads.read(work)
    assert len(calls) == 1


def test_a_stream_the_replica_fails_before_its_first_chunk_comes_from_the_primary(engines):
    _, replica = engines
    reads = routing(engines, FakeProbe(), Clock())

    def chunks(session: Session):
        if session.get_bind() is replica:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        yield b"a"
        yield b"b"

    assert list(reads.stream(chunks)) == [b"a", b"b"]
    assert reads.report()["reads"] == {"primary:replica-error": 1}


def test_a_stream_from_the_replica(engines):
    reads = routing(engines, FakeProbe(), Clock())
    assert list(reads.stream(lambda session: iter([b"x", b"y"]))) == [b"x", b"y"]
    assert list(reads.stream(lambda session: iter([]))) == []
    assert reads.report()["reads"] == {"replica": 2}


@pytest.mark.parametrize("position", [0, 1, 0x16_B374D848, (0xFFFFFFFF << 32) | 0xFFFFFFFF])
def test_a_wal_position_reads_back_as_written(position):
    assert parse_lsn(format_lsn(position)) == position


def test_wal_positions_in_postgresqls_notation():
    assert format_lsn(0x16_B374D848) == "16/B374D848"
    assert parse_lsn("0/3430FF8") == 0x3430FF8


@pytest.mark.parametrize("value", ["", "16", "/1", "1/", "x/1", "1/2/3", "123456789/1", "1/-2", "1 / 2"])
def test_a_malformed_wal_position_is_none(value):
    assert parse_lsn(value) is None


def test_a_postgresql_replica_url_gets_a_short_connect_timeout_unless_it_has_one():
    assert f"connect_timeout={CONNECT_TIMEOUT_SECONDS}" in replica_url("postgresql://u@h:5433/db")
    assert "connect_timeout=9" in replica_url("postgresql://u@h:5433/db?connect_timeout=9")
    assert replica_url("sqlite:///x.db") == "sqlite:///x.db"


def test_staleness_is_the_time_since_the_last_primary_position_the_replica_passed():
    seen = [(100, 10.0), (200, 11.0), (300, 12.0)]
    # Replayed 250: it holds what the primary had at 11.0, not yet what it had at 12.0.
    assert staleness_ms(seen, 250, None, now=12.5) == 1500
    # A recent replayed transaction is the smaller bound.
    assert staleness_ms(seen, 250, 40, now=12.5) == 40
    # After a quiet spell the last transaction is old; the positions still bound the lag.
    assert staleness_ms(seen, 300, 3_600_000, now=12.2) == 200


def test_staleness_is_unknown_when_nothing_bounds_it():
    assert staleness_ms([(100, 10.0)], 50, None, now=11.0) is None
    assert staleness_ms([], None, None, now=11.0) is None
    assert staleness_ms([(100, 10.0)], 50, 700, now=11.0) == 700
