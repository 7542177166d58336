"""The interactive API docs, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, from the package's own files.

FastAPI's default pages load their scripts, styles and fonts from a CDN, and are blank without internet.
These load only what the app serves under ``/docs/assets/``: the pinned files of ``static/`` (its
README.md names their versions and licences, decision 0020). Each page also carries a content security
policy that lets the browser load nothing from elsewhere: ReDoc 2 shows Redocly's logo from Redocly's
CDN, which would otherwise tell a third party each time someone reads the docs.
"""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
ASSETS = "/docs/assets"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
FAVICON = f"{ASSETS}/swagger-ui/favicon-32x32.png"
SWAGGER_UI_PARAMETERS = {
    # The token pasted in "Authorize" survives a reload of the page (kept in the browser's storage
    # until "Logout").
    "persistAuthorization": True,
    # Swagger UI would otherwise send the document's address to an outside validator for a badge.
    "validatorUrl": None,
}


def _same_origin_only(page: HTMLResponse) -> Callable[[], HTMLResponse]:
    """A route that answers ``page`` with a policy that lets the browser load nothing from elsewhere,
    and run no script but the app's files and the page's own inline scripts (by their hashes)."""
    html = bytes(page.body).decode()
    scripts = ["'self'"] + [
        f"'sha256-{b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    ]
    policy = (
        f"default-src 'self'; script-src {' '.join(scripts)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; base-uri 'none'; form-action 'none'"
    )

    def route() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    return route


def install(app: FastAPI) -> None:
    """Serve the docs pages and their assets; create ``app`` with ``docs_url=None, redoc_url=None``."""
    for name in ("swagger-ui", "redoc"):
        app.mount(f"{ASSETS}/{name}", StaticFiles(directory=STATIC / name), name=f"docs-{name}")
    openapi_url = app.openapi_url or ""
    pages = {
        "/docs": get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT,
            swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=FAVICON,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        ),
        OAUTH2_REDIRECT: get_swagger_ui_oauth2_redirect_html(),
        "/redoc": get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        ),
    }
    for path, page in pages.items():
        app.add_api_route(path, _same_origin_only(page), include_in_schema=False)
