"""Odoo's two documented external APIs behind one small interface (docs/integrations.md#odoo).

* **JSON-RPC** (Odoo up to 18; deprecated in 19, removed in 22): ``POST /jsonrpc`` with
  ``{"jsonrpc": "2.0", "method": "call", "params": {"service": ..., "method": ..., "args": [...]}}``.
  ``common.authenticate(db, login, key, {})`` answers the user id (``false`` for a refused login), then
  every call is ``object.execute_kw(db, uid, key, model, method, args, kwargs)``. Errors come back as a
  JSON-RPC ``error`` object whose ``data`` holds Odoo's exception name and message.
* **JSON-2** (Odoo 19+): ``POST /json/2/<model>/<method>`` with ``Authorization: bearer <API key>``,
  ``X-Odoo-Database`` and the method's parameters by name (``ids``, ``domain``, ``fields``,
  ``vals_list``, ``vals``); 200 and the result as JSON, or 4xx/5xx and ``{name, message, ...}``.

Each call is one transaction at Odoo's end, never chained: the caller makes a sequence of calls safe to
repeat (search by external id before create), not atomic.

Amounts: Python's ``json`` cannot write a Decimal, and a float would not be exact, so bodies are written
by :func:`dumps`, which writes every Decimal as the JSON number of its exact decimal digits
(``Decimal("119.10")`` -> ``119.10``). Answers are read with Decimals for every number with a fraction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import httpx

from retailcore.core.errors import Conflict, FieldProblem

PROTOCOLS = ("jsonrpc", "json2")


class OdooError(Conflict):
    """Odoo refused a call, or could not be reached; ``detail`` says which and Odoo's own words."""

    def __init__(self, detail: str, code: str = "odoo-error", problems: list[FieldProblem] | None = None):
        super().__init__(detail, code=code, problems=problems or [])


def dumps(value: Any) -> str:
    """JSON text with every Decimal as an exact JSON number (never through a float)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        text = format(value, "f")
        return text if text not in ("-0", "-0.0") else text.lstrip("-")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


class Client(Protocol):
    """What the connector asks of Odoo, the same over both protocols."""

    def search_read(
        self, model: str, domain: list[Any], fields: list[str], limit: int | None = None
    ) -> list[dict[str, Any]]: ...

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> list[int]: ...

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> bool: ...

    def call(self, model: str, method: str, ids: list[int]) -> Any: ...

    def close(self) -> None: ...


Trace = Callable[[str], None]
"""Told ``model.method`` before each call (the sync log's record of what a message sent)."""


class _Transport:
    def __init__(self, url: str, timeout: float, trace: Trace | None, http: httpx.Client | None) -> None:
        self.url = url.rstrip("/")
        self._trace = trace or (lambda _call: None)
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            return self._http.post(
                f"{self.url}{path}",
                content=dumps(body).encode(),
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise OdooError(
                f"cannot reach Odoo at {self.url}: {exc.__class__.__name__}: {exc}", code="odoo-unreachable"
            ) from None

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return loads(response.content)
        except ValueError:
            raise OdooError(
                f"Odoo answered {response.status_code} with a body that is not JSON: {response.text[:200]!r}",
                code="odoo-bad-answer",
            ) from None


def _refusal(name: str | None, message: str | None, what: str, status: int | None = None) -> OdooError:
    """Odoo's exception, in words: ``odoo.exceptions.AccessDenied`` is a refused login or key."""
    short = (name or "error").rsplit(".", 1)[-1]
    text = (message or "").strip() or short
    if short in ("AccessDenied", "Unauthorized") or status == 401:
        return OdooError(
            f"Odoo refused the credentials ({short}: {text}): check the connector's database, login and"
            " API key",
            code="odoo-access-denied",
        )
    if short == "AccessError" or status == 403:
        return OdooError(f"Odoo's user may not {what} ({short}: {text})", code="odoo-access-error")
    if short in ("MissingError",) or status == 404:
        return OdooError(f"Odoo has no {what} ({short}: {text})", code="odoo-missing")
    if short in ("ValidationError", "UserError", "RedirectWarning"):
        return OdooError(f"Odoo refused {what}: {text} ({short})", code="odoo-validation")
    return OdooError(f"Odoo failed {what}: {text} ({short})", code="odoo-error")


class JsonRpcClient(_Transport):
    """``/jsonrpc``: ``common.authenticate`` once, then ``object.execute_kw`` per call."""

    def __init__(
        self,
        url: str,
        database: str,
        login: str,
        key: str,
        *,
        timeout: float = 30.0,
        trace: Trace | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(url, timeout, trace, http)
        self.database, self.login, self._key = database, login, key
        self._uid: int | None = None
        self._id = 0

    def rpc(self, service: str, method: str, args: list[Any], what: str) -> Any:
        self._id += 1
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": self._id,
            "params": {"service": service, "method": method, "args": args},
        }
        response = self._post("/jsonrpc", body)
        if response.status_code == 404:
            raise OdooError(
                f"{self.url} has no /jsonrpc endpoint (Odoo 22 removed it): use the protocol json2",
                code="odoo-missing",
            )
        answer = self._json(response)
        if not isinstance(answer, dict):
            raise OdooError(f"Odoo answered {what} with {answer!r}", code="odoo-bad-answer")
        if answer.get("error"):
            error = answer["error"]
            data = error.get("data") or {}
            raise _refusal(data.get("name"), data.get("message") or error.get("message"), what)
        if response.status_code >= 400:
            raise OdooError(f"Odoo answered {what} with HTTP {response.status_code}", code="odoo-error")
        return answer.get("result")

    def uid(self) -> int:
        if self._uid is None:
            self._trace("common.authenticate")
            uid = self.rpc("common", "authenticate", [self.database, self.login, self._key, {}], "the login")
            if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
                raise OdooError(
                    f"Odoo refused the login {self.login!r} on database {self.database!r}: check the"
                    " connector's database, login and API key",
                    code="odoo-access-denied",
                )
            self._uid = uid
        return self._uid

    def execute_kw(
        self, model: str, method: str, args: list[Any], kwargs: dict[str, Any] | None = None
    ) -> Any:
        uid = self.uid()
        self._trace(f"{model}.{method}")
        params = [self.database, uid, self._key, model, method, args]
        if kwargs:
            params.append(kwargs)
        return self.rpc("object", "execute_kw", params, f"{model}.{method}")

    def search_read(
        self, model: str, domain: list[Any], fields: list[str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"fields": fields}
        if limit is not None:
            kwargs["limit"] = limit
        return self.execute_kw(model, "search_read", [domain], kwargs)

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> list[int]:
        created = self.execute_kw(model, "create", [vals_list])
        return created if isinstance(created, list) else [created]

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> bool:
        return bool(self.execute_kw(model, "write", [ids, vals]))

    def call(self, model: str, method: str, ids: list[int]) -> Any:
        return self.execute_kw(model, method, [ids])


class Json2Client(_Transport):
    """``/json/2/<model>/<method>``: a bearer API key, the database in a header, arguments by name."""

    def __init__(
        self,
        url: str,
        database: str,
        key: str,
        *,
        timeout: float = 30.0,
        trace: Trace | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(url, timeout, trace, http)
        self.database, self._key = database, key

    def send(self, model: str, method: str, body: dict[str, Any]) -> Any:
        self._trace(f"{model}.{method}")
        headers = {"Authorization": f"bearer {self._key}"}
        if self.database:
            headers["X-Odoo-Database"] = self.database
        response = self._post(f"/json/2/{model}/{method}", body, headers)
        answer = self._json(response)
        if response.status_code >= 400:
            data = answer if isinstance(answer, dict) else {}
            raise _refusal(data.get("name"), data.get("message"), f"{model}.{method}", response.status_code)
        return answer

    def search_read(
        self, model: str, domain: list[Any], fields: list[str], limit: int | None = None
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"domain": domain, "fields": fields}
        if limit is not None:
            body["limit"] = limit
        return self.send(model, "search_read", body)

    def create(self, model: str, vals_list: list[dict[str, Any]]) -> list[int]:
        created = self.send(model, "create", {"vals_list": vals_list})
        return created if isinstance(created, list) else [created]

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> bool:
        return bool(self.send(model, "write", {"ids": ids, "vals": vals}))

    def call(self, model: str, method: str, ids: list[int]) -> Any:
        return self.send(model, method, {"ids": ids})


def connect(
    *,
    protocol: str,
    url: str,
    database: str,
    login: str | None,
    key: str,
    timeout: float = 30.0,
    trace: Trace | None = None,
    http: httpx.Client | None = None,
) -> Client:
    """The client of the connector's ``protocol`` (``json2`` for Odoo 19+, ``jsonrpc`` before)."""
    if protocol == "jsonrpc":
        if not login:
            raise OdooError(
                "the jsonrpc protocol needs the Odoo user's login (settings.login)",
                code="odoo-misconfigured",
                problems=[FieldProblem("settings.login", "required for jsonrpc")],
            )
        return JsonRpcClient(url, database, login, key, timeout=timeout, trace=trace, http=http)
    return Json2Client(url, database, key, timeout=timeout, trace=trace, http=http)
