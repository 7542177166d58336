"""Reads routed to a replica (a PostgreSQL streaming standby), with a bounded staleness (decision 0086).

The rules:

* Only reads that ask for it are routed (reports, KPIs, exports, the back office's pages: an explicit
  dependency in the API); everything else, and every write, uses the primary. Nothing is routed by
  looking at SQL.
* A routed read goes to the replica only while the replica's last check says it is at most
  ``max_lag_ms`` behind, counting the age of the check itself: the check is cached ``check_ms`` and a
  replica that stopped replaying meanwhile would be that much further behind.
* Staleness is measured from positions in the write-ahead log: the primary's insert position, read
  first, and the replica's replay position, read second. A replica that has replayed past the
  primary's position is not behind at all (every commit visible on the primary when it was asked is
  on the replica). Otherwise it is behind by at most the smaller of two upper bounds: the time since
  the last check whose primary position it has passed (it holds everything committed before then),
  and the age of the last transaction it replayed (``now() - pg_last_xact_replay_timestamp()``, high
  after a quiet spell). A replica is never used when it may be further behind than the bound.
* A client that wrote carries the primary's position after its write (``RC-Min-LSN``); its routed
  reads go to the primary until the replica's checked replay position has passed it
  (read-your-writes).
* A replica that cannot be reached, or fails a read with an operational error (closed connection,
  a query cancelled by a conflict with recovery), sends the read to the primary, which runs it
  again: reads write nothing, so running one twice is harmless. The replica is then considered down
  until the next check.
* Every read is counted by where it went and, for the primary, why; the state changes are logged.

SQLite has no replication: a read URL on SQLite (used by tests) reads as if it had no lag and gives
no positions.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("retailcore.replica")

T = TypeVar("T")

PRIMARY = "primary"
REPLICA = "replica"

# Why a routed read went to the primary.
LAGGING = "lagging"
UNAVAILABLE = "unavailable"
OWN_WRITE = "own-write"
REPLICA_ERROR = "replica-error"
REASONS = (LAGGING, UNAVAILABLE, OWN_WRITE, REPLICA_ERROR)

CONNECT_TIMEOUT_SECONDS = 2
"""A replica URL without its own ``connect_timeout`` gets this one: a replica that does not answer must
not hold a request (or the check) for the operating system's TCP timeout."""


def replica_url(url: str) -> str:
    """``url`` with a short connect timeout when it is PostgreSQL's and does not set one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return parsed.render_as_string(hide_password=False)


# -- positions in the write-ahead log -----------------------------------------------------------------


def format_lsn(position: int) -> str:
    """PostgreSQL's own text for a WAL position: ``16/B374D848``."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def parse_lsn(value: str) -> int | None:
    """The position ``value`` names (``16/B374D848``), or None when it is not one."""
    found = _LSN.fullmatch(value.strip())
    return None if found is None else (int(found[1], 16) << 32) | int(found[2], 16)


_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


# -- measuring the replica ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One look at the replica: its replay position and how far behind the primary it is."""

    replay_position: int | None
    lag_ms: int | None
    """None: unknown (a standby that has replayed no transaction since it started)."""


class Probe(Protocol):
    """How the primary's position and the replica's state are read (PostgreSQL's, SQLite's, a test's)."""

    def primary_position(self, primary: Session) -> int | None: ...

    def measure(self, primary: Session, replica: Session) -> Measure: ...


# Positions as numbers: an LSN minus '0/0' is its byte offset (numeric), which needs no parsing.
_PRIMARY_POSITION = text("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(),"
    " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END"
    " - '0/0'::pg_lsn,"
    " (extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint"
)


def staleness_ms(
    seen: list[tuple[int, float]], replayed: int | None, last_replay_age_ms: int | None, now: float
) -> int | None:
    """How far behind a replica that has replayed up to ``replayed`` is, at most: the time since the
    latest of the primary's positions ``seen`` (position, ``time.monotonic()``) it has passed, or the age
    of the last transaction it replayed, whichever is smaller; None when neither is known."""
    bounds = [] if last_replay_age_ms is None else [max(last_replay_age_ms, 0)]
    if replayed is not None:
        passed = [when for position, when in seen if position <= replayed]
        if passed:
            bounds.append(round((now - max(passed)) * 1000))
    return min(bounds) if bounds else None


class PostgresProbe:
    """Positions from PostgreSQL's WAL functions.

    The insert position, not the write position: with ``synchronous_commit = off`` a commit is
    visible before its record is written out, and the insert position is past it at once. A "replica"
    that is not in recovery (the primary itself, or a promoted standby) is read as caught up. The
    primary's positions of the recent checks are kept (see :func:`staleness_ms`); the routing calls
    ``measure`` from one thread at a time."""

    KEPT = 64

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: list[tuple[int, float]] = []

    def primary_position(self, primary: Session) -> int | None:
        value = primary.scalar(_PRIMARY_POSITION)
        return None if value is None else int(value)

    def measure(self, primary: Session, replica: Session) -> Measure:
        # The primary first: whatever it had committed then, a replica replayed past it has too.
        wanted = self.primary_position(primary)
        now = self._clock()
        in_recovery, replayed, age_ms = replica.execute(_REPLICA_STATE).one()
        replayed = None if replayed is None else int(replayed)
        if wanted is not None:
            self._seen = [*self._seen[-self.KEPT :], (wanted, now)]
        if not in_recovery or (replayed is not None and wanted is not None and replayed >= wanted):
            self._seen = self._seen[-1:]
            return Measure(replayed, 0)
        return Measure(replayed, staleness_ms(self._seen, replayed, age_ms, now))


class SqliteProbe:
    """SQLite has no replication: the "replica" is the same file, never behind; no positions."""

    def primary_position(self, primary: Session) -> int | None:
        return None

    def measure(self, primary: Session, replica: Session) -> Measure:
        replica.execute(text("SELECT 1"))  # that it can be opened at all
        return Measure(None, 0)


def probe_for(engine: Engine) -> Probe:
    return PostgresProbe() if engine.dialect.name == "postgresql" else SqliteProbe()


# -- the routing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaState:
    """The last check of the replica."""

    checked_at: float
    """``time.monotonic()`` of the check."""
    reachable: bool
    lag_ms: int | None
    replay_position: int | None
    error: str | None = None


@dataclass(frozen=True)
class Route:
    """Where one routed read goes, and why when it is the primary."""

    target: str
    reason: str | None = None


def is_replica_failure(exc: BaseException) -> bool:
    """Whether a read failed because of the replica (connection, server, recovery conflict), so that the
    primary can answer it instead; an error of the query itself would fail there too."""
    if isinstance(exc, PoolTimeout | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class ReadRouting:
    """The primary's and the replica's session factories, and which one each routed read uses."""

    def __init__(
        self,
        primary: sessionmaker[Session],
        replica: sessionmaker[Session],
        *,
        max_lag_ms: float,
        check_ms: float,
        probe: Probe | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_ms = max_lag_ms
        self.check_ms = check_ms
        engine = replica.kw["bind"]
        self.probe = probe or probe_for(engine)
        self._clock = clock
        self._state: ReplicaState | None = None
        self._checking = threading.Lock()
        self._counting = threading.Lock()
        self.reads: Counter[str] = Counter()
        """Routed reads by where they went: ``replica``, or ``primary:<reason>``."""

    # -- the check, cached ------------------------------------------------------------------------------

    def state(self) -> ReplicaState:
        """The replica's state, checked again when the last check is older than ``check_ms``. While one
        thread checks, the others go on with the last state (its age is counted against the bound)."""
        state = self._state
        if state is not None and self._age_ms(state) < self.check_ms:
            return state
        if not self._checking.acquire(blocking=state is None):
            return state  # type: ignore[return-value]  # blocking when there is none: never None here
        try:
            state = self._state
            if state is None or self._age_ms(state) >= self.check_ms:
                state = self._check()
                self._changed(self._state, state)
                self._state = state
            return state
        finally:
            self._checking.release()

    def _check(self) -> ReplicaState:
        try:
            with self.primary() as primary, self.replica() as replica:
                measure = self.probe.measure(primary, replica)
        except DBAPIError as exc:
            if not is_replica_failure(exc):
                raise
            return ReplicaState(self._clock(), False, None, None, f"{type(exc.orig).__name__}")
        except PoolTimeout as exc:
            return ReplicaState(self._clock(), False, None, None, type(exc).__name__)
        return ReplicaState(self._clock(), True, measure.lag_ms, measure.replay_position)

    def _changed(self, before: ReplicaState | None, after: ReplicaState) -> None:
        was, now = (self.status(before) if before else "ok"), self.status(after)
        if was != now:
            level = logging.INFO if now == "ok" else logging.WARNING
            detail = after.error or f"lag {after.lag_ms} ms, bound {self.max_lag_ms} ms"
            log.log(level, "read replica %s: %s", now, detail)

    def mark_down(self, exc: BaseException) -> None:
        """A read on the replica failed: the replica is down until the next check."""
        state = ReplicaState(self._clock(), False, None, None, type(getattr(exc, "orig", exc)).__name__)
        self._changed(self._state, state)
        self._state = state

    def _age_ms(self, state: ReplicaState) -> float:
        return (self._clock() - state.checked_at) * 1000

    def status(self, state: ReplicaState) -> str:
        """``ok``, ``lagging`` (past the bound, or unknown) or ``unavailable``."""
        if not state.reachable:
            return UNAVAILABLE
        if state.lag_ms is None or state.lag_ms > self.max_lag_ms:
            return LAGGING
        return "ok"

    # -- the decision -----------------------------------------------------------------------------------

    def route(self, min_position: int | None = None) -> Route:
        """Where a routed read goes now; ``min_position``: the client's last write must be visible."""
        state = self.state()
        if not state.reachable:
            return Route(PRIMARY, UNAVAILABLE)
        if state.lag_ms is None or state.lag_ms + self._age_ms(state) > self.max_lag_ms:
            return Route(PRIMARY, LAGGING)
        replayed = state.replay_position
        if min_position is not None and (replayed is None or replayed < min_position):
            return Route(PRIMARY, OWN_WRITE)
        return Route(REPLICA)

    def _count(self, route: Route) -> None:
        with self._counting:
            self.reads[route.target if route.reason is None else f"{route.target}:{route.reason}"] += 1

    def read(self, work: Callable[[Session], T], min_position: int | None = None) -> T:
        """``work`` run in a session of the routed database."""
        route = self.route(min_position)
        if route.target == PRIMARY:
            self._count(route)
            with self.primary() as session:
                return work(session)
        try:
            with self.replica() as session:
                result = work(session)
        except DBAPIError as exc:
            if not is_replica_failure(exc):
                raise
            return self._again_on_primary(exc, work)
        except PoolTimeout as exc:
            return self._again_on_primary(exc, work)
        self._count(route)
        return result

    def _again_on_primary(self, exc: BaseException, work: Callable[[Session], T]) -> T:
        log.warning("read replica failed a read (%s); the primary answers it", exc)
        self.mark_down(exc)
        self._count(Route(PRIMARY, REPLICA_ERROR))
        with self.primary() as session:
            return work(session)

    def stream(self, work: Callable[[Session], Iterator[T]], min_position: int | None = None) -> Iterator[T]:
        """``work``'s chunks from a session of the routed database. A replica that fails before the
        first chunk hands the whole stream to the primary; once chunks are sent, a failure ends it."""
        route = self.route(min_position)
        if route.target == REPLICA:
            with self.replica() as session:
                chunks = work(session)
                try:
                    first = next(chunks, _END)
                except (DBAPIError, PoolTimeout) as exc:
                    if not is_replica_failure(exc):
                        raise
                    log.warning("read replica failed a stream (%s); the primary answers it", exc)
                    self.mark_down(exc)
                    route = Route(PRIMARY, REPLICA_ERROR)
                else:
                    self._count(route)
                    if first is not _END:
                        yield first
                        yield from chunks
                    return
        self._count(route)
        with self.primary() as session:
            yield from work(session)

    # -- for writers and for /health --------------------------------------------------------------------

    def written_position(self) -> int | None:
        """The primary's position now: after a write's commit, past that write."""
        with self.primary() as session:
            if session.get_bind().dialect.name == "postgresql":
                # One statement, no transaction around it: one round trip after each change, not three.
                session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return self.probe.primary_position(session)

    def report(self) -> dict[str, Any]:
        """The replica's state and the routed reads, for ``/health``."""
        state = self.state()
        with self._counting:
            reads = dict(sorted(self.reads.items()))
        return {
            "status": self.status(state),
            "lag_ms": state.lag_ms,
            "max_lag_ms": self.max_lag_ms,
            "replay_lsn": None if state.replay_position is None else format_lsn(state.replay_position),
            "checked_ms_ago": round(self._age_ms(state)),
            "error": state.error,
            "reads": reads,
        }


_END: Any = object()
