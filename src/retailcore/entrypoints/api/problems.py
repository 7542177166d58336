"""RFC 9457 problem details for every error the API returns.

Each problem has a stable ``code`` (also the tail of its ``type`` URN) and, when input was at fault,
``errors``: a list of ``{"field", "pointer", "detail"}``, so a client can show the message beside the
field. ``field`` is a dotted path (``barcodes.1``), ``pointer`` the JSON Pointer into the request body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from retailcore.access.rate_limit import RateLimited
from retailcore.core import errors as e

PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[e.RetailcoreError], int] = {
    e.ValidationFailed: 422,
    e.InvalidReference: 422,
    e.IdempotencyKeyReused: 422,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.Unauthenticated: 401,
    e.PermissionDenied: 403,
    RateLimited: 429,
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: Sequence[e.FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, code, detail, instance=instance, errors=errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    status: int, code: str, detail: str, *, instance: str | None = None, errors: Sequence[e.FieldProblem] = ()
) -> dict[str, Any]:
    """The problem document :func:`problem` answers, as data (a refusal kept for later: the POS inbox)."""
    body: dict[str, Any] = {
        "type": f"urn:retailcore:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = [
            {"field": p.field, "pointer": "#/" + p.field.replace(".", "/"), "detail": p.message}
            for p in errors
        ]
    return body


async def send_problem(
    send: Send, status: int, code: str, detail: str, instance: str, headers: Sequence[tuple[str, str]] = ()
) -> None:
    """Answer a problem from an ASGI middleware, in front of the app (no exception handler there)."""
    body = json.dumps(
        {
            "type": f"urn:retailcore:problem:{code}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
            "instance": instance,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def status_of(exc: e.RetailcoreError) -> int:
    return next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)


def from_domain_error(request: Request, exc: e.RetailcoreError) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem(
        status, exc.code, exc.detail, instance=request.url.path, errors=exc.problems, headers=headers
    )


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def from_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        loc = error.get("loc", ())
        if error.get("type") == "json_invalid":
            problems.append(e.FieldProblem("body", f"invalid JSON: {error.get('ctx', {}).get('error', '')}"))
            continue
        message = error.get("msg", "invalid")
        if error.get("type") == "missing":
            message = "required"
        problems.append(e.FieldProblem(_field_of(loc), message))
    fields = ", ".join(dict.fromkeys(p.field for p in problems))
    return problem(
        422, "validation-failed", f"invalid input: {fields}", instance=request.url.path, errors=problems
    )


class EdgeProblem(StarletteHTTPException):
    """A problem found while FastAPI reads the request, where only HTTP exceptions pass through
    unchanged (any other error there becomes a bare 400)."""

    def __init__(self, status: int, code: str, detail: str, problems: Sequence[e.FieldProblem] = ()) -> None:
        super().__init__(status, detail)
        self.code = code
        self.problems = problems


def from_http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if isinstance(exc, EdgeProblem):
        return problem(exc.status_code, exc.code, exc.detail, instance=request.url.path, errors=exc.problems)
    headers = exc.headers
    allowed = getattr(request.app.state, "allowed_methods", None)
    if exc.status_code == 405 and allowed is not None:
        headers = {**(headers or {}), "Allow": ", ".join(allowed(request.url.path))}
    code = {
        404: "not-found",
        405: "method-not-allowed",
        413: "payload-too-large",
        422: "validation-failed",
    }.get(exc.status_code, "http-error")
    return problem(exc.status_code, code, str(exc.detail), instance=request.url.path, headers=headers)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")
_PG_UNIQUE = re.compile(r"Key \((?P<cols>[^)]+)\)=")


def from_integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
    """A race the services' own checks could not see (two writers at once): still a clean 409."""
    message = str(exc.orig)
    match = _SQLITE_UNIQUE.search(message) or _PG_UNIQUE.search(message)
    if match:
        field = match.group("cols").split(",")[-1].strip().split(".")[-1]
        return problem(
            409,
            f"duplicate-{field.replace('_', '-')}",
            f"{field} already exists",
            instance=request.url.path,
            errors=[e.FieldProblem(field, "already exists")],
        )
    return problem(409, "conflict", "the request conflicts with existing data", instance=request.url.path)
