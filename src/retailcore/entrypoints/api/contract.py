"""The OpenAPI document tells the truth about errors (docs/api.md, "Errors").

FastAPI documents the successes it sees in the routes' signatures and one generic 422. What else an
operation can answer follows from how it is built, so it is derived here, in one place, from the routes
themselves rather than written by hand on each:

* an operation behind a token (it depends on ``current_principal``) can answer 401, and 429 when the
  token goes over its rate; one that checks a permission, 403;
* one with path parameters, 404 (an id outside the token's scope is not found);
* one that writes (``writer``), 409 (a unique value taken, or a state conflict) and 422 for a reused
  ``Idempotency-Key``;
* one that takes ``If-Match``, 412;
* one with a body, 413 (too large) and 400 (a ``Content-Length`` that is not a number);
* one with any parameter or a body, 422.

Every error is ``application/problem+json`` with the ``Problem`` schema. Statuses a route declares
itself keep their description. The bearer scheme is declared, and applied to every protected
operation, so that clients (and Swagger UI's "Authorize") send the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from retailcore.entrypoints.api.problems import PROBLEM_JSON, send_problem

BEARER = "bearerAuth"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the input at fault (`lines.2.quantity`), or `body`.")
    pointer: str = Field(description="JSON Pointer into the request body (`#/lines/2/quantity`).")
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable `code` and the fields at fault."""

    type: str = Field(description="`urn:retailcore:problem:<code>`.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code (`validation-failed`, `not-found`...).")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldError] | None = Field(default=None, description="The inputs at fault, when input was.")


WHY = {
    400: "The request is malformed (a `Content-Length` that is not a number).",
    401: "No token, or a token that is unknown, revoked or expired.",
    403: "The token's role lacks the permission.",
    404: "No such resource in the token's scope.",
    409: "The request conflicts with the current state (a unique value taken, a state that forbids it).",
    412: "`If-Match` names a version that is no longer current.",
    413: "The request body is larger than the limit.",
    422: "Invalid input, a reference to something that does not exist, or a reused `Idempotency-Key`.",
    429: "The token made more requests than its rate allows; retry after `Retry-After` seconds.",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds to wait before the next request.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _headers(dependant: Dependant) -> Iterator[str]:
    for param in dependant.header_params:
        yield (param.alias or param.name).lower()
    for dependency in dependant.dependencies:
        yield from _headers(dependency)


def _parameters(dependant: Dependant) -> bool:
    return bool(dependant.query_params or dependant.path_params or dependant.header_params) or any(
        _parameters(dependency) for dependency in dependant.dependencies
    )


def possible_errors(route: APIRoute) -> set[int]:
    """The error statuses ``route`` can answer, from the way it is built."""
    from retailcore.entrypoints.api.deps import current_principal

    calls = list(_calls(route.dependant))
    statuses: set[int] = set()
    if current_principal in calls:
        statuses |= {401, 429}
    if _permission(route):
        statuses.add(403)
    if route.dependant.path_params:
        statuses.add(404)
    if any(getattr(call, "writes", False) for call in calls):
        statuses |= {409, 422}
    if "if-match" in set(_headers(route.dependant)):
        statuses.add(412)
    if route.body_field is not None:
        statuses |= {400, 413, 422}
    if _parameters(route.dependant):
        statuses.add(422)
    return statuses


def _problem_response(status: int, declared: dict[str, Any] | None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": (declared or {}).get("description") or WHY.get(status) or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def document(app: FastAPI, routers: Routers) -> dict[str, Any]:
    """The app's OpenAPI document with every error its routers' operations can answer."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=app.servers,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["FieldError"] = FieldError.model_json_schema()
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Problem"].pop("$defs", None)
    # FastAPI's own 422 body is not what this API answers: every error is a Problem.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`rc_...`): `retailcore token create` or `POST /api/v1/tokens`.",
    }
    for prefix, router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                _document_errors(schema, prefix + route.path_format, route)
    return schema


def _permission(route: APIRoute) -> str | None:
    return next(
        (call.permission for call in _calls(route.dependant) if getattr(call, "permission", None)), None
    )


def _document_errors(schema: dict[str, Any], path: str, route: APIRoute) -> None:
    errors = possible_errors(route)
    permission = _permission(route)
    for method in route.methods:
        operation = schema["paths"].get(path, {}).get(method.lower())
        if operation is None:
            continue
        responses = operation.setdefault("responses", {})
        for status in sorted(errors | {int(s) for s in responses if s.isdigit() and int(s) >= 400}):
            responses[str(status)] = _problem_response(status, responses.get(str(status)))
        if 401 in errors:
            operation["security"] = [{BEARER: []}]
        if permission:
            # The permission the token's role needs (docs/security.md has the matrix).
            operation["x-permission"] = permission


Routers = Sequence[tuple[str, APIRouter]]


def install(app: FastAPI, routers: Routers) -> None:
    """Serve :func:`document` (computed once) as the app's OpenAPI document; ``routers`` are the
    routers the app includes, each with the prefix it is included under."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, routers)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.allowed_methods = _allowed_methods(routers)


def _templates(routers: Routers) -> dict[str, set[str]]:
    """Every path template the routers serve, with its methods."""
    templates: dict[str, set[str]] = {}
    for prefix, router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                templates.setdefault(prefix + route.path_format, set()).update(route.methods)
    return templates


class LiteralPaths:
    """405 for a method a literal path does not have, where the router would take it for an id.

    ``GET /orders/expire-unpaid`` matches ``GET /orders/{order_id}``, which the router prefers to the
    literal path that has only ``POST``: the client would get a 422 about an invalid order id for a path
    the document says has no ``GET``. A dictionary lookup per request puts it right."""

    def __init__(self, app: ASGIApp, routers: Routers) -> None:
        self.app = app
        templates = _templates(routers)
        literal = {template: methods for template, methods in templates.items() if "{" not in template}
        patterns = [
            re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            for template in templates
            if "{" in template
        ]
        # Only the literal paths that a parameterised template also matches can be taken for an id.
        self.shadowed = {
            path: methods for path, methods in literal.items() if any(p.match(path) for p in patterns)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = self.shadowed.get(scope["path"])
            if methods is not None and scope["method"] not in methods:
                allow = ", ".join(sorted(methods))
                await send_problem(
                    send, 405, "method-not-allowed", "Method Not Allowed", scope["path"], [("Allow", allow)]
                )
                return
        await self.app(scope, receive, send)


def _allowed_methods(routers: Routers) -> Callable[[str], list[str]]:
    """``path -> methods`` of every operation whose path template matches it: the ``Allow`` header of a
    405, which names the path's methods from every route (the router only knows the first it tried)."""
    templates = _templates(routers)
    patterns = [
        (
            re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"),
            template.count("{"),
            methods,
        )
        for template, methods in templates.items()
    ]

    def allowed(path: str) -> list[str]:
        """The methods of the most literal templates that match (``/reservations/expire``, not
        ``/reservations/{reservation_id}``): the path the document describes."""
        matches = [(parameters, methods) for pattern, parameters, methods in patterns if pattern.match(path)]
        fewest = min((parameters for parameters, _ in matches), default=0)
        return sorted({m for parameters, methods in matches if parameters == fewest for m in methods})

    return allowed
