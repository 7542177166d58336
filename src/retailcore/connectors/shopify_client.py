"""Calls to a shop's Admin API (httpx), within Shopify's rate limits.

GraphQL (``POST /admin/api/<version>/graphql.json``) is limited by **calculated query cost**: each app
and shop has a leaky bucket of points (``maximumAvailable``) that refills at ``restoreRate`` points a
second; every answer reports the cost (``extensions.cost``: ``requestedQueryCost``, ``actualQueryCost``,
``throttleStatus {maximumAvailable, currentlyAvailable, restoreRate}``), and a request that costs more
than is left is refused with an error whose ``extensions.code`` is ``THROTTLED`` (HTTP 200, or 429).
:class:`TokenBucket` is our picture of that bucket: it waits **before** sending until the request's
cost (the ``requestedQueryCost`` last seen for the operation, else an estimate) is available, is
corrected by every answer's ``throttleStatus``, and a ``THROTTLED`` answer makes it wait for the
refill plus an exponential back-off before trying again (at most ``max_throttled_retries`` times).

REST (``GET``, the orders catch-up) is limited per request: a bucket of 40 calls that leaks 2 a second
(``X-Shopify-Shop-Api-Call-Limit: 32/40``), and a 429 with ``Retry-After`` when it is full. We wait
for ``Retry-After`` and try again, and slow down when the header shows the bucket nearly full.

The clock and the sleep are parameters, so tests run the throttle against the contract server's bucket
on a simulated clock, without waiting.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from retailcore.core.errors import Conflict

DEFAULT_VERSION = "2026-10"
"""The Admin API version called unless the connector's settings name another (``api_version``)."""
TIMEOUT_SECONDS = 10.0
MAX_THROTTLED_RETRIES = 6
REST_RETRIES = 5


class ShopifyError(Conflict):
    """A call to the shop failed. ``shopify-unreachable`` (network, 5xx) and ``shopify-throttled``
    (still throttled after the retries) are worth retrying later; ``shopify-refused`` (401/403: the
    access token) and ``shopify-error`` (an error in the answer) need a person."""

    retryable: bool = True


def _error(detail: str, code: str, *, retryable: bool) -> ShopifyError:
    error = ShopifyError(detail, code=code)
    error.retryable = retryable
    return error


@dataclass
class TokenBucket:
    """Our picture of Shopify's leaky bucket of cost points for one shop and app."""

    maximum: float = 1000.0
    restore_rate: float = 50.0
    clock: Callable[[], float] = time.monotonic
    available: float = field(default=-1.0)
    _at: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if self.available < 0:
            self.available = self.maximum
        self._at = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.available = min(self.maximum, self.available + (now - self._at) * self.restore_rate)
        self._at = now

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` points are available (0 when they are now)."""
        self._refill()
        if self.available >= cost:
            return 0.0
        return (min(cost, self.maximum) - self.available) / self.restore_rate

    def spend(self, cost: float) -> None:
        self._refill()
        self.available -= cost

    def observe(self, status: dict[str, Any]) -> None:
        """Take Shopify's ``throttleStatus`` as the truth."""
        try:
            self.maximum = float(status["maximumAvailable"])  # float-ok: cost points, not money
            self.restore_rate = float(status["restoreRate"])  # float-ok: cost points, not money
            self.available = float(status["currentlyAvailable"])  # float-ok: cost points, not money
        except (KeyError, TypeError, ValueError):
            return
        self._at = self.clock()


@dataclass
class CallStats:
    """What the throttle did during a run (reported by the CLI and the API)."""

    requests: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    cost: int = 0
    """The sum of ``actualQueryCost`` (``requestedQueryCost`` when Shopify reported no actual cost)."""


_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="?next"?')


class AdminApi:
    """One shop's Admin API: GraphQL with the cost throttle, REST pages with the call limit."""

    def __init__(
        self,
        shop: str,
        access_token: str,
        *,
        version: str = DEFAULT_VERSION,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        bucket: TokenBucket | None = None,
        max_wait: float | None = None,
        max_throttled_retries: int = MAX_THROTTLED_RETRIES,
    ) -> None:
        self.shop = shop
        self.version = version
        self.base_url = (base_url or f"https://{shop}").rstrip("/")
        self._http = httpx.Client(
            transport=transport,
            timeout=TIMEOUT_SECONDS,
            headers={
                "X-Shopify-Access-Token": access_token,
                "Accept": "application/json",
                "User-Agent": "retailcore",
            },
        )
        self._sleep = sleep
        self.bucket = bucket or TokenBucket(clock=clock)
        self.max_wait = max_wait
        """A wait longer than this is not waited: the call fails as throttled (a retry inside a
        database transaction must not hold it for long)."""
        self.max_throttled_retries = max_throttled_retries
        self.costs: dict[str, float] = {}
        """The ``requestedQueryCost`` last reported per operation: what the next one is expected to cost."""
        self.stats = CallStats()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.max_wait is not None and seconds > self.max_wait:
            raise _error(
                f"Shopify's rate limit needs a wait of {seconds:.1f} s; tried again later",
                "shopify-throttled",
                retryable=True,
            )
        self.stats.waited_seconds += seconds
        self._sleep(seconds)

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.stats.requests += 1
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise _error(
                f"the shop {self.shop} could not be reached: {type(error).__name__}: {error}",
                "shopify-unreachable",
                retryable=True,
            ) from None
        if response.status_code in (401, 403):
            raise _error(
                f"the shop {self.shop} refused the access token (HTTP {response.status_code}): check the"
                " connector's access token and the app's access scopes",
                "shopify-refused",
                retryable=False,
            )
        if response.status_code >= 500:
            raise _error(
                f"the shop {self.shop} answered HTTP {response.status_code}",
                "shopify-unreachable",
                retryable=True,
            )
        return response

    # -- GraphQL -----------------------------------------------------------------------------------

    def graphql(
        self, query: str, variables: dict[str, Any], *, operation: str, estimate: float = 10.0
    ) -> dict[str, Any]:
        """The ``data`` of one GraphQL call, after waiting for its cost; ``THROTTLED`` is retried."""
        url = f"{self.base_url}/admin/api/{self.version}/graphql.json"
        for attempt in range(self.max_throttled_retries + 1):
            cost = self.costs.get(operation, estimate)
            self._wait(self.bucket.wait_for(cost))
            self.bucket.spend(cost)
            response = self._send("POST", url, json={"query": query, "variables": variables})
            try:
                body = json.loads(response.text, parse_float=Decimal)
            except ValueError:
                raise _error(
                    f"the shop answered HTTP {response.status_code} with a body that is not JSON",
                    "shopify-unreachable",
                    retryable=True,
                ) from None
            extensions_cost = (body.get("extensions") or {}).get("cost") or {}
            if extensions_cost.get("throttleStatus"):
                self.bucket.observe(extensions_cost["throttleStatus"])
            if extensions_cost.get("requestedQueryCost") is not None:
                self.costs[operation] = float(extensions_cost["requestedQueryCost"])  # float-ok: points
            errors = body.get("errors") or []
            if response.status_code == 429 or any(_code(e) == "THROTTLED" for e in errors):
                self.stats.throttled += 1
                # The bucket now knows what is left: wait for the refill, plus a back-off that grows.
                self._wait(self.bucket.wait_for(self.costs.get(operation, cost)) + 0.5 * 2**attempt)
                continue
            spent = extensions_cost.get("actualQueryCost")
            self.stats.cost += int(
                spent if spent is not None else extensions_cost.get("requestedQueryCost") or 0
            )
            if response.status_code >= 400 or errors:
                messages = "; ".join(str(e.get("message")) for e in errors) or f"HTTP {response.status_code}"
                raise _error(f"Shopify refused {operation}: {messages}", "shopify-error", retryable=False)
            return body.get("data") or {}
        raise _error(
            f"{operation} was still throttled after {self.max_throttled_retries} retries",
            "shopify-throttled",
            retryable=True,
        )

    # -- REST ----------------------------------------------------------------------------------------

    def rest_pages(self, path: str, params: dict[str, Any], key: str) -> Iterator[list[dict[str, Any]]]:
        """Every page of a REST list (``key``: ``orders``), following the ``Link: <...>; rel="next"``
        header (cursor pagination: the next page's URL carries ``page_info`` and no other filter)."""
        url: str | None = f"{self.base_url}/admin/api/{self.version}/{path}"
        query: dict[str, Any] | None = params
        while url is not None:
            response = self._rest_get(url, query)
            try:
                body = json.loads(response.text, parse_float=Decimal)
            except ValueError:
                raise _error(
                    f"the shop answered {path} with a body that is not JSON",
                    "shopify-unreachable",
                    retryable=True,
                ) from None
            if response.status_code >= 400:
                raise _error(
                    f"Shopify refused {path}: HTTP {response.status_code} {body.get('errors', '')}",
                    "shopify-error",
                    retryable=False,
                )
            yield list(body.get(key) or [])
            found = _NEXT_LINK.search(response.headers.get("link", ""))
            url, query = (found.group(1), None) if found else (None, None)

    def _rest_get(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        for _ in range(REST_RETRIES + 1):
            response = self._send("GET", url, params=params)
            if response.status_code == 429:
                self.stats.throttled += 1
                self._wait(_seconds(response.headers.get("retry-after"), 2.0))
                continue
            used, _, limit = (response.headers.get("x-shopify-shop-api-call-limit") or "").partition("/")
            if used.isdigit() and limit.isdigit() and int(used) >= int(limit) - 2:
                self._wait(0.5)  # two calls leak out a second: let one go before the next page
            return response
        raise _error(
            f"{url} was still throttled after {REST_RETRIES} retries", "shopify-throttled", retryable=True
        )


def _code(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None
    return (error.get("extensions") or {}).get("code")


def _seconds(value: str | None, default: float) -> float:
    try:
        return max(float(value), 0.0) if value else default  # float-ok: a header's seconds
    except ValueError:
        return default
