"""The web POS screen at ``/pos`` (docs/pos.md#the-pos-screen, decision 0079).

The screen is one page and plain ES modules (``static/``): it sells from a catalogue snapshot kept in
IndexedDB, queues every sale there with its ``client_uuid`` before anything else, and a sync loop
posts the queue to ``POST /api/v1/pos/sessions/{id}/sales:batch``. A service worker (``/pos/sw.js``,
scope ``/pos``) keeps the page and its files, so a reload while offline still opens the screen.

These routes are thin, as the back office's:

* ``GET /pos``: the screen, for a signed-in user (the back office's cookie; else the sign-in page).
* ``POST /pos/till-token``: the API token the screen talks to the API with, issued to the signed-in
  user (their role and scope, named ``till:<user name>``, one day), so the screen keeps syncing from
  IndexedDB when the cookie is gone or the page was reloaded offline. CSRF header required.
* ``POST /pos/manager-check``: a manager's user name and password, checked for a discount override
  at the terminal's store (a failed check counts as a failed sign-in, as on the sign-in page).
* ``POST /pos/sign-out``: revokes the till token the request bears (``Authorization: Bearer``) through
  the access context, as ``POST /api/v1/tokens/{id}/revoke`` does, and ends the back office's session
  (decision 0083). The screen refuses to sign out while sales are still queued.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from retailcore.access.model import Role
from retailcore.access.services import CreateToken, authenticate, issue_token, revoke_token
from retailcore.access.users import active_user, sign_in
from retailcore.adapters.db import begin_writing
from retailcore.core.errors import FieldProblem, RetailcoreError, Unauthenticated
from retailcore.entrypoints.api.problems import problem
from retailcore.entrypoints.web import routes as web
from retailcore.entrypoints.web import sessions as ws
from retailcore.eventlog.services import CommandContext
from retailcore.orders import discounts

HERE = Path(__file__).parent
STATIC = "/pos/static"
router = APIRouter(include_in_schema=False)
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
TOKEN_DAYS = 1
"""A till token lasts a day: the screen asks for a new one at its next sign-in."""
TILL_TOKEN_PREFIX = "till:"
"""The name of every token :func:`till_token` issues: only those revoke themselves at sign-out."""


def _problem(status: int, code: str, detail: str, field: str | None = None, why: str = "") -> JSONResponse:
    """A problem+json answer as the API's, naming the field at fault (``errors``)."""
    errors = [FieldProblem(field, why or detail)] if field else []
    return problem(status, code, detail, errors=errors, headers=web.HEADERS)


@router.get("/pos")
def screen(request: Request) -> Response:
    try:
        principal, web_session = web._principal(request)
    except web.SignInNeeded:
        return RedirectResponse("/login?next=%2Fpos", status_code=303)
    html = templates.get_template("screen.html").render(
        csrf=web_session.csrf, user=principal.name, role=principal.role.value, static=STATIC
    )
    return Response(html, media_type="text/html; charset=utf-8", headers=web.HEADERS)


@router.get("/pos/sw.js")
def service_worker() -> Response:
    # Served from /pos/ but controlling /pos itself: the header widens the worker's scope to it.
    return FileResponse(
        HERE / "static" / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/pos", "Cache-Control": "no-cache"},
    )


async def _json_command(request: Request) -> tuple[dict[str, Any], Any] | JSONResponse:
    web_session = ws.current(request)
    if not ws.csrf_ok(request, web_session, request.headers.get(ws.CSRF_HEADER)):
        return _problem(403, "csrf", "the CSRF token was refused: reload the page")
    try:
        principal, _ = web._principal(request)
    except web.SignInNeeded:
        return _problem(401, "sign-in-needed", "sign in again at /login?next=/pos")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _problem(422, "invalid-json", "the body is not JSON", "body", "not JSON")
    if not isinstance(body, dict):
        return _problem(422, "invalid-json", "the body is not an object", "body", "not an object")
    return body, principal


@router.post("/pos/till-token")
async def till_token(request: Request) -> Response:
    parsed = await _json_command(request)
    if isinstance(parsed, JSONResponse):
        return parsed
    _, principal = parsed
    username = principal.name.removeprefix("user:")

    def run() -> Any:
        with web._factory(request)() as session, session.begin():
            begin_writing(session)
            return issue_token(
                session,
                CommandContext(principal),
                CreateToken(
                    role=principal.role, name=f"{TILL_TOKEN_PREFIX}{username}", expires_in_days=TOKEN_DAYS
                ),
            )

    try:
        issued = await run_in_threadpool(run)
    except RetailcoreError as error:
        return _problem(422, error.code, error.detail)
    return JSONResponse(
        {
            "token": issued.token,
            "expires_at": issued.expires_at.isoformat() if issued.expires_at else None,
            "user": username,
            "role": principal.role.value,
            "store_id": str(issued.store_id) if issued.store_id else None,
        },
        headers=web.HEADERS,
    )


@router.post("/pos/manager-check")
async def manager_check(request: Request) -> Response:
    """Whether a manager's user name and password may approve a discount at a store:
    ``{username, password, store_id}`` -> ``{ok: true, by}`` or a problem naming the field."""
    parsed = await _json_command(request)
    if isinstance(parsed, JSONResponse):
        return parsed
    body, principal = parsed
    username = str(body.get("username", "")).strip()
    password = str(body.get("password", ""))
    try:
        store_id = uuid.UUID(str(body.get("store_id", "")))
    except ValueError:
        return _problem(422, "invalid-store", "store_id is not an id", "store_id", "not an id")
    if not username:
        return _problem(422, "override-refused", "name the manager", "username", "required")

    def run() -> str | None:
        with web._factory(request)() as session, session.begin():
            begin_writing(session)
            try:
                user = sign_in(session, username, password)
            except Unauthenticated as refused:
                return refused.detail  # the failure is counted: the transaction commits
            if active_user(session, user.id) is None or Role(user.role) not in discounts.OVERRIDING_ROLES:
                return f"user '{username}' is a {user.role}: only a store manager or an admin overrides"
            if principal.company_id is not None and user.company_id not in (None, principal.company_id):
                return f"user '{username}' is not a manager of this store"
            return discounts.overriders(
                session, principal.company_id or user.company_id, store_id, [username]
            )[username]

    refusal = await run_in_threadpool(run)
    if refusal is not None:
        return _problem(403, "override-refused", refusal, "username", refusal)
    return JSONResponse(
        {"ok": True, "by": username, "at": dt.datetime.now(dt.UTC).isoformat()}, headers=web.HEADERS
    )


@router.post("/pos/sign-out")
async def sign_out(request: Request) -> Response:
    """Revoke the till token the request bears and end the web session: ``204``. The bearer is what
    proves the caller holds that token (a page of another site cannot send the header, so no CSRF
    token is asked: signing out still works once the cookie has expired). A token that is already
    revoked or expired is ``401``, the cookie is dropped all the same; another kind of token is a
    ``403``: an API token is revoked through the tokens API."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _problem(401, "invalid-token", "send the till token: Authorization: Bearer <token>")

    def run() -> str | None:
        with web._factory(request)() as session:
            principal = authenticate(session, secret.strip())
        if principal.token_id is None or not principal.name.startswith(TILL_TOKEN_PREFIX):
            return principal.name
        with web._factory(request)() as session, session.begin():
            begin_writing(session)
            revoke_token(session, CommandContext(principal), principal.token_id)
        return None

    try:
        other = await run_in_threadpool(run)
    except Unauthenticated as refused:
        response: Response = _problem(401, refused.code, refused.detail)
    else:
        if other is not None:
            return _problem(
                403, "not-a-till-token", f"'{other}' is not a till token: revoke it with the tokens API"
            )
        response = Response(status_code=204, headers=web.HEADERS)
    response.delete_cookie(ws.COOKIE, path="/")
    return response


def install(app: FastAPI) -> None:
    """Serve the screen at ``/pos`` and its files at ``/pos/static``."""
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="pos-static")
    app.include_router(router)
