"""Requests per token: a token bucket per API token, in one server process.

Each token has a bucket of ``burst`` requests that refills at ``rate`` requests per second; a request
takes one, and a request that finds the bucket empty is refused with the seconds until one is back.
The buckets live in the process's memory: with several worker processes a token gets a bucket in
each (docs/api.md, "Limits"; decision 0016).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

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

    def take(self, token_id: uuid.UUID) -> None:
        """Spend one request of the token's bucket, or raise :class:`RateLimited`."""
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
        retry_after = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many requests with this token: at most {self.rate:g} a second"
            f" (bursts of {self.burst}); retry in {retry_after} s",
            retry_after=retry_after,
        )

    def _forget_idle(self, now: float) -> None:
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < self._idle_after:
                return
            self._buckets.popitem(last=False)
