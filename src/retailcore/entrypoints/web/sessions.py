"""Sign-in sessions and CSRF tokens of the back office (decision 0045, docs/security.md).

The session is a cookie, ``rc_session``, whose value is a small JSON document signed with HMAC-SHA256:
the user's id (absent before sign-in), a random CSRF token and an expiry. Nothing is kept on the server
but the key; every request still reads the user's row, so disabling a user ends their sessions at once.
The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (another site's form posts do not
carry it) and ``Secure`` when the request came over HTTPS.

CSRF: every form carries the session's token in a hidden ``csrf_token`` field, and every htmx request
sends it as the ``X-CSRF-Token`` header; a POST whose token is missing or differs from the cookie's is
refused with 403 before anything is read. A POST whose ``Origin`` header names another origin is refused
too. Signing in gives a new session (a new token), so a token seen before sign-in is worth nothing after.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

COOKIE = "rc_session"
LIFETIME_SECONDS = 8 * 3600
"""A sign-in lasts a working day; then the user signs in again."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class WebSession:
    csrf: str
    user_id: uuid.UUID | None = None
    expires: int = 0

    @staticmethod
    def fresh(user_id: uuid.UUID | None = None) -> WebSession:
        return WebSession(
            csrf=secrets.token_urlsafe(32), user_id=user_id, expires=int(time.time()) + LIFETIME_SECONDS
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, web_session: WebSession) -> str:
    body = json.dumps(
        {
            "u": str(web_session.user_id) if web_session.user_id else None,
            "c": web_session.csrf,
            "e": web_session.expires,
        },
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def unsign(key: bytes, value: str | None, now: float | None = None) -> WebSession | None:
    """The session a cookie holds, or None when it is absent, forged, malformed or expired."""
    if not value or "." not in value:
        return None
    body_text, _, mac_text = value.partition(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    try:
        data = json.loads(body)
        expires = int(data["e"])
        user_id = uuid.UUID(data["u"]) if data["u"] else None
        csrf = str(data["c"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < (now if now is not None else time.time()):
        return None
    return WebSession(csrf=csrf, user_id=user_id, expires=expires)


def session_key(request: Request) -> bytes:
    return request.app.state.web_session_key


def current(request: Request) -> WebSession | None:
    return unsign(session_key(request), request.cookies.get(COOKIE))


def set_cookie(request: Request, response: Response, web_session: WebSession) -> None:
    response.set_cookie(
        COOKIE,
        sign(session_key(request), web_session),
        max_age=LIFETIME_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def csrf_ok(request: Request, web_session: WebSession | None, sent: str | None) -> bool:
    """Whether a POST carries its session's CSRF token, and comes from this origin when it says."""
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        return False
    if web_session is None or not sent:
        return False
    return hmac.compare_digest(sent.encode(), web_session.csrf.encode())
