"""A local Shopify Admin API contract server, for tests (a real Shopify cannot be reached from here).

It speaks what retailcore calls, as Shopify documents it (docs/integrations.md#shopify, the shared
fixtures' FORMATS.md 1.4, and the Admin API reference for ``inventorySetQuantities``,
``InventorySetQuantitiesUserErrorCode``, ``productVariants`` and the GraphQL rate limits):

* ``POST /admin/api/<version>/graphql.json`` with ``X-Shopify-Access-Token``:
  - ``inventorySetQuantities(input: {name, reason, referenceDocumentUri, quantities: [{inventoryItemId,
    locationId, quantity, changeFromQuantity}]})`` (``compareQuantity`` and ``ignoreCompareQuantity``
    before 2026-04): validated field by field; any user error and nothing is set (the changes of one
    call are one adjustment group); ``CHANGE_FROM_QUANTITY_STALE`` when the persisted quantity is not
    ``changeFromQuantity``; a missing ``changeFromQuantity`` key is a top-level error, as documented;
  - ``productVariants(first:, query: "sku:\\"A\\" OR ...")``;
  - aliased ``inventoryItem(id:) { inventoryLevel(locationId:) { quantities(names: ["available"]) } }``.
  Operations are told apart by name and read from ``variables`` only (this is not a GraphQL engine).
  **Cost**: every call has a requested cost (a mutation 10, a connection ``2 + first``, a level 3), and
  a leaky bucket (``bucket_size`` points, ``restore_rate`` a second, on the given clock) refuses a call
  costing more than is left with ``THROTTLED``; every answer carries ``extensions.cost`` with
  ``requestedQueryCost``, ``actualQueryCost`` and ``throttleStatus``. ``spent`` logs what was taken.
* ``GET /admin/api/<version>/orders.json?status=any&updated_at_min=&limit=`` with ``Link`` pagination
  (``page_info``) and the REST call limit (40 calls, 2 a second; 429 with ``Retry-After`` when full).

``handle`` answers one ``httpx.Request`` (``httpx.MockTransport(server.handle)``); ``asgi`` serves the
same over real HTTP (uvicorn), for the CLI's tests.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

REASONS = {
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
}


class Clock:
    """A simulated clock: ``sleep`` moves it on at once and remembers each wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _when(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class FakeShopify:
    def __init__(
        self,
        *,
        token: str = "shpat_test",
        bucket_size: float = 1000.0,
        restore_rate: float = 50.0,
        clock: Callable[[], float] = time.monotonic,
        rest_limit: int = 40,
    ) -> None:
        self.token = token
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.clock = clock
        self.available = bucket_size
        self._at = clock()
        self.started_at = self._at
        self.spent: list[tuple[float, int]] = []
        self.throttled = 0
        self.locations: set[str] = set()
        self.variants: dict[str, str] = {}
        """SKU -> inventory item gid."""
        self.levels: dict[tuple[str, str], int] = {}
        """(inventory item gid, location gid) -> available; a pair present is stocked there."""
        self.orders: list[dict[str, Any]] = []
        self.mutations: list[dict[str, Any]] = []
        self.rest_limit = rest_limit
        self.rest_used = 0.0
        self._rest_at = self._at

    # -- set-up ------------------------------------------------------------------------------------

    def add_location(self, number: int) -> str:
        gid = f"gid://shopify/Location/{number}"
        self.locations.add(gid)
        return gid

    def add_variant(self, sku: str, number: int, stocked_at: list[str], available: int = 0) -> str:
        gid = f"gid://shopify/InventoryItem/{number}"
        self.variants[sku] = gid
        for location in stocked_at:
            self.levels[(gid, location)] = available
        return gid

    def level(self, sku: str, location: str) -> int:
        return self.levels[(self.variants[sku], location)]

    def drain(self, points: float) -> None:
        """Another client of the same app took ``points`` from the bucket."""
        self._refill()
        self.available -= points

    # -- the bucket --------------------------------------------------------------------------------

    def _refill(self) -> None:
        now = self.clock()
        self.available = min(self.bucket_size, self.available + (now - self._at) * self.restore_rate)
        self._at = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.bucket_size,
                "currentlyAvailable": int(self.available),
                "restoreRate": self.restore_rate,
            },
        }

    def allowance(self) -> float:
        """The most a client may have spent so far: a full bucket plus what it restored since."""
        return self.bucket_size + (self.clock() - self.started_at) * self.restore_rate

    # -- HTTP --------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-shopify-access-token") != self.token:
            return httpx.Response(
                401,
                json={
                    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
                },
            )
        path = request.url.path
        if request.method == "POST" and re.fullmatch(r"/admin/api/[0-9a-z-]+/graphql\.json", path):
            version = path.split("/")[3]
            body = json.loads(request.content, parse_float=Decimal)
            return self._graphql(version, body.get("query") or "", body.get("variables") or {})
        if request.method == "GET" and re.fullmatch(r"/admin/api/[0-9a-z-]+/orders\.json", path):
            return self._orders(request)
        return httpx.Response(404, json={"errors": "Not Found"})

    async def asgi(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        query = scope.get("query_string", b"").decode()
        url = f"http://{dict(scope['headers']).get(b'host', b'shop').decode()}{scope['path']}" + (
            f"?{query}" if query else ""
        )
        request = httpx.Request(
            scope["method"],
            url,
            headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
            content=b"".join(chunks),
        )
        response = self.handle(request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.content})

    # -- GraphQL -----------------------------------------------------------------------------------

    def _graphql(self, version: str, query: str, variables: dict[str, Any]) -> httpx.Response:
        if "inventorySetQuantities" in query:
            requested, run = 10, lambda: self._set_quantities(version, variables)
        elif "productVariants" in query:
            requested, run = 2 + int(variables.get("first") or 0), lambda: self._variants(variables)
        elif "inventoryLevel" in query:
            count = len([k for k in variables if k.startswith("i")])
            requested, run = 3 * count, lambda: self._read_levels(variables)
        else:
            return httpx.Response(200, json={"errors": [{"message": "unknown operation"}]})
        self._refill()
        if requested > self.available:
            self.throttled += 1
            return httpx.Response(
                200,
                json={
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {"cost": self._cost(requested, None)},
                },
            )
        self.available -= requested
        self.spent.append((self.clock(), requested))
        answer = run()
        if "errors" in answer:
            return httpx.Response(
                200, json={**answer, "extensions": {"cost": self._cost(requested, requested)}}
            )
        return httpx.Response(
            200, json={"data": answer, "extensions": {"cost": self._cost(requested, requested)}}
        )

    def _set_quantities(self, version: str, variables: dict[str, Any]) -> dict[str, Any]:
        data = variables.get("input") or {}
        self.mutations.append(data)
        errors: list[dict[str, Any]] = []

        def error(code: str, message: str, *where: str) -> None:
            errors.append({"code": code, "field": ["input", *where], "message": message})

        if data.get("name") not in ("available", "on_hand"):
            error("INVALID_NAME", "The quantity name must be either 'available' or 'on_hand'.", "name")
        if data.get("reason") not in REASONS:
            error("INVALID_REASON", "The specified reason is invalid.", "reason")
        uri = data.get("referenceDocumentUri")
        if uri is not None and not re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", str(uri)):
            error(
                "INVALID_REFERENCE_DOCUMENT",
                "The specified reference document is invalid.",
                "referenceDocumentUri",
            )
        change_from = version >= "2026-04"
        seen = set()
        for n, quantity in enumerate(data.get("quantities") or []):
            where = ("quantities", str(n))
            if change_from and "changeFromQuantity" not in quantity:
                return {"errors": [{"message": "changeFromQuantity must be given (null to skip the check)"}]}
            item, location = quantity.get("inventoryItemId"), quantity.get("locationId")
            if (item, location) in seen:
                error("NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR", "duplicate", *where)
            seen.add((item, location))
            if item not in self.variants.values():
                error(
                    "INVALID_INVENTORY_ITEM",
                    "The specified inventory item could not be found.",
                    *where,
                    "inventoryItemId",
                )
                continue
            if location not in self.locations:
                error("INVALID_LOCATION", "The specified location could not be found.", *where, "locationId")
                continue
            if (item, location) not in self.levels:
                error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    "The specified inventory item is not stocked at the location.",
                    *where,
                    "locationId",
                )
                continue
            if not isinstance(quantity.get("quantity"), int) or quantity["quantity"] < 0:
                error("INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.", *where, "quantity")
                continue
            current = self.levels[(item, location)]
            if change_from:
                expected = quantity.get("changeFromQuantity")
                if expected is not None and expected != current:
                    error(
                        "CHANGE_FROM_QUANTITY_STALE",
                        "The changeFromQuantity value does not match persisted value.",
                        *where,
                        "changeFromQuantity",
                    )
            elif not data.get("ignoreCompareQuantity"):
                if "compareQuantity" not in quantity:
                    error("COMPARE_QUANTITY_REQUIRED", "compareQuantity must be given", *where)
                elif quantity["compareQuantity"] != current:
                    error(
                        "COMPARE_QUANTITY_STALE",
                        "The compareQuantity value does not match persisted value.",
                        *where,
                        "compareQuantity",
                    )
        if errors:
            return {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": errors}}
        changes = []
        for quantity in data.get("quantities") or []:
            key = (quantity["inventoryItemId"], quantity["locationId"])
            delta = quantity["quantity"] - self.levels[key]
            self.levels[key] = quantity["quantity"]
            changes.append(
                {"name": data["name"], "delta": delta, "quantityAfterChange": quantity["quantity"]}
            )
        return {
            "inventorySetQuantities": {
                "inventoryAdjustmentGroup": {
                    "reason": data["reason"],
                    "referenceDocumentUri": uri,
                    "changes": changes,
                },
                "userErrors": [],
            }
        }

    def _variants(self, variables: dict[str, Any]) -> dict[str, Any]:
        wanted = {
            re.sub(r"\\(.)", r"\1", raw)
            for raw in re.findall(r'sku:"((?:[^"\\]|\\.)*)"', str(variables.get("query") or ""))
        }
        nodes = [
            {"sku": sku, "inventoryItem": {"id": item}}
            for sku, item in sorted(self.variants.items())
            if sku in wanted
        ]
        return {"productVariants": {"nodes": nodes[: int(variables.get("first") or 0)]}}

    def _read_levels(self, variables: dict[str, Any]) -> dict[str, Any]:
        data = {}
        for key, item in variables.items():
            if not key.startswith("i"):
                continue
            n = key[1:]
            level = self.levels.get((item, variables.get(f"l{n}")))
            data[f"q{n}"] = {
                "inventoryLevel": None
                if level is None
                else {"quantities": [{"name": "available", "quantity": level}]}
            }
        return data

    # -- REST orders -------------------------------------------------------------------------------

    def _orders(self, request: httpx.Request) -> httpx.Response:
        now = self.clock()
        self.rest_used = max(0.0, self.rest_used - (now - self._rest_at) * 2)
        self._rest_at = now
        if self.rest_used + 1 > self.rest_limit:
            self.throttled += 1
            return httpx.Response(
                429, json={"errors": "Exceeded 2 calls per second"}, headers={"Retry-After": "1.0"}
            )
        self.rest_used += 1
        params = {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}
        if "page_info" in params:
            state = json.loads(base64.urlsafe_b64decode(params["page_info"]))
            offset, since, limit = state["offset"], state["since"], int(params.get("limit", state["limit"]))
        else:
            if params.get("status") != "any":
                return httpx.Response(400, json={"errors": {"status": "retailcore always asks for any"}})
            offset, since, limit = 0, params.get("updated_at_min"), int(params.get("limit", 50))
        if limit > 250:
            return httpx.Response(400, json={"errors": {"limit": "at most 250"}})
        chosen = sorted(
            (o for o in self.orders if since is None or _when(o["updated_at"]) >= _when(since)),
            key=lambda o: o["id"],
        )
        page = chosen[offset : offset + limit]
        headers = {"X-Shopify-Shop-Api-Call-Limit": f"{int(self.rest_used)}/{self.rest_limit}"}
        if offset + limit < len(chosen):
            token = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + limit, "since": since, "limit": limit}).encode()
            ).decode()
            base = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}"
            headers["Link"] = f'<{base}?{urlencode({"limit": limit, "page_info": token})}>; rel="next"'
        return httpx.Response(200, content=json.dumps({"orders": page}, default=str), headers=headers)


@contextlib.contextmanager
def served(server: FakeShopify) -> Iterator[str]:
    """Serve ``server`` over HTTP on a free port of 127.0.0.1 while inside; yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = uvicorn.Server(
        uvicorn.Config(server.asgi, host="127.0.0.1", port=port, log_level="warning", interface="asgi3")
    )
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    while not http.started:  # uvicorn sets it once it listens
        if not thread.is_alive():
            raise RuntimeError("the contract server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http.should_exit = True
        thread.join(10)
