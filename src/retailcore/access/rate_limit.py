"""Requests per token: a token bucket per API token, in one server process or in the database.

Each token has a bucket of ``burst`` requests that refills at ``rate`` requests per second; a request
takes one, and a request that finds the bucket empty is refused with the seconds until one is back.

Two stores (``RETAILCORE_RATE_LIMIT_STORE``):

- ``memory`` (the default, :class:`TokenBuckets`): the process's memory. With several worker processes
  or API nodes a token gets a bucket in each (docs/api.md, "Limits"; decision 0016).
- ``database`` (:class:`DatabaseBuckets`): one row per token in ``rate_limit_buckets``, refilled and
  taken by one upsert per request, so every process and node behind a load balancer spends from the
  same bucket (decision 0087).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Float, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.tables import RateLimitBucket
from retailcore.adapters.db import begin_writing
from retailcore.core.errors import RetailcoreError

MAX_BUCKETS = 100_000
"""Buckets kept at most; past it the least recently used goes first (see :meth:`TokenBuckets.take`)."""


@dataclass
class RateLimited(RetailcoreError):
    """Too many requests with one token: try again in ``retry_after`` seconds."""

    code: str = "rate-limited"
    retry_after: int = 1


@dataclass
class _Bucket:
    level: float
    """Requests the token may make right now (fractions accumulate as time passes)."""
    updated: float
    """The clock's reading when ``level`` was last computed."""


class TokenBuckets:
    """A bucket per token id, safe to use from the threads that run the routes.

    ``rate`` <= 0 turns the limit off. A bucket left alone for ``burst / rate`` seconds is full again,
    so it is forgotten: a token that comes back gets a full bucket, the same as if it had been kept.
    That keeps the map as small as the set of tokens active in the last few seconds.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._max_buckets = max_buckets
        self._idle_after = self.burst / rate if rate > 0 else math.inf
        self._buckets: OrderedDict[uuid.UUID, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, token_id: uuid.UUID, autocommit: Session | None = None) -> None:
        """Spend one request of the token's bucket, or raise :class:`RateLimited` (``autocommit`` is
        for :class:`DatabaseBuckets`, ignored here)."""
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            self._forget_idle(now)
            bucket = self._buckets.pop(token_id, None)
            if bucket is None:
                bucket = _Bucket(level=float(self.burst), updated=now)  # float-ok: requests, not money
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.level = min(float(self.burst), bucket.level + elapsed * self.rate)  # float-ok
                bucket.updated = now
            # Most recently used last: the idle ones are always at the front.
            self._buckets[token_id] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
            if bucket.level >= 1.0:
                bucket.level -= 1.0
                return
            wait = (1.0 - bucket.level) / self.rate
        raise _refused(self.rate, self.burst, wait)

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < self._idle_after:
                return
            self._buckets.popitem(last=False)


class Limiter(Protocol):
    """What a route's authentication asks of a store of buckets."""

    @property
    def enabled(self) -> bool: ...

    def take(self, token_id: uuid.UUID, autocommit: Session | None = None) -> None: ...


def _refused(rate: float, burst: int, wait: float) -> RateLimited:
    retry_after = max(1, math.ceil(wait))
    return RateLimited(
        f"too many requests with this token: at most {rate:g} a second"
        f" (bursts of {burst}); retry in {retry_after} s",
        retry_after=retry_after,
    )


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


class DatabaseBuckets:
    """The buckets of :class:`TokenBuckets`, kept in ``rate_limit_buckets``: one statement per request.

    An ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING``: a token's first request inserts a
    bucket with ``burst - 1`` left; later ones refill the stored level by the time since its stamp
    (capped at ``burst``) and take one, but only where that leaves at least nothing (the ``WHERE`` of
    the update). A refused request changes nothing and returns no row. The row lock the upsert takes
    serialises the requests of one token across processes, for the statement only: on PostgreSQL it
    runs in autocommit, so nothing else holds it.

    The clock is each process's wall clock (seconds since the epoch): nodes' clocks a few milliseconds
    apart only move a refill by that much, and a clock behind the stamp refills nothing (never a
    negative refill). A refusal's ``Retry-After`` is the time one request takes to come back
    (``1 / rate``, at least 1 s): the statement does not return the level it did not change.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._factory = factory
        self._clock = clock
        self._statements: dict[str, Any] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _statement(self, dialect: str) -> Any:
        found = self._statements.get(dialect)
        if found is not None:
            return found
        table = RateLimitBucket.__table__
        if dialect == "postgresql":
            insert: Any = postgresql.insert(table)
            least, greatest = func.least, func.greatest
        else:
            insert = sqlite.insert(table)
            least, greatest = func.min, func.max  # SQLite's scalar min and max of several arguments
        now = bindparam("now", type_=Float)
        burst = bindparam("burst", type_=Float)
        refilled = least(
            burst, table.c.level + greatest(0.0, now - table.c.stamp) * bindparam("rate", type_=Float)
        )
        statement = (
            insert.values(token_id=bindparam("token"), level=burst - 1.0, stamp=now)
            .on_conflict_do_update(
                index_elements=[table.c.token_id],
                set_={"level": refilled - 1.0, "stamp": greatest(table.c.stamp, now)},
                where=refilled >= 1.0,
            )
            .returning(table.c.level)
        )
        self._statements[dialect] = statement
        return statement

    def take(self, token_id: uuid.UUID, autocommit: Session | None = None) -> None:
        """Spend one request of the token's bucket, or raise :class:`RateLimited`.

        ``autocommit``: a PostgreSQL session whose connection is in autocommit already (the one that
        just read the token): the statement runs on it, sparing a checkout, its ping and two changes
        of isolation level, which together cost more than the statement (docs/scaling.md)."""
        if not self.enabled:
            return
        values = {"token": token_id, "now": self._clock(), "burst": self.burst, "rate": self.rate}
        if autocommit is not None and autocommit.get_bind().dialect.name == "postgresql":
            # Its read may have ended (authenticate rolls back before stamping a token's last use):
            # then the connection is procured again, in autocommit.
            options = {} if autocommit.in_transaction() else {"execution_options": _AUTOCOMMIT}
            connection = autocommit.connection(**options)
            taken = connection.execute(self._statement("postgresql"), values).first()
            if taken is None:
                raise _refused(self.rate, self.burst, 1.0 / self.rate)
            return
        with self._factory() as session:
            dialect = session.get_bind().dialect.name
            if dialect == "postgresql":
                connection = session.connection(execution_options=_AUTOCOMMIT)
                taken = connection.execute(self._statement(dialect), values).first()
            else:
                with session.begin():
                    begin_writing(session)  # SQLite: BEGIN IMMEDIATE, after this process's writer lock
                    taken = session.execute(self._statement(dialect), values).first()
        if taken is None:
            raise _refused(self.rate, self.burst, 1.0 / self.rate)
