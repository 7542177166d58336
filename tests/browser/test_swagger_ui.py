"""The interactive docs in a real browser: headless Chromium, with every address but this machine's
unreachable, against the real server (``retailcore serve``).

Skipped, saying why, without Debian's ``chromium`` or the ``playwright`` package (conftest.py).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
expect = sync_api.expect
expect.set_options(timeout=60_000)  # a large document on a busy 2-core machine (a load of 10 took over 15 s)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# ReDoc 2 shows Redocly's logo from Redocly's CDN: the page's policy refuses it (docs.py).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def _operations(server: str) -> dict[tuple[str, str], bool]:
    """``(method, path) -> whether it needs a token`` for every operation of the OpenAPI document."""
    with urllib.request.urlopen(f"{server}/api/v1/openapi.json", timeout=10) as response:
        paths = json.load(response)["paths"]
    return {
        (method.upper(), path): bool(operation.get("security"))
        for path, methods in paths.items()
        for method, operation in methods.items()
    }


_SHOWN = """() => [...document.querySelectorAll('.opblock')].map(op => [
    op.querySelector('.opblock-summary-method').textContent,
    op.querySelector('.opblock-summary-path').dataset.path,
    op.querySelector('.authorization__btn')?.getAttribute('aria-label') ?? null,
])"""
_SCROLL = """() => new Promise(done => {
    const before = window.scrollY;
    window.scrollBy(0, window.innerHeight);
    requestAnimationFrame(() => requestAnimationFrame(() => done(window.scrollY > before)));
})"""


def _locks(page: Any) -> dict[tuple[str, str], str | None]:
    """``(method, path) -> its lock's label`` for every operation Swagger UI shows. It renders only the
    operations near the window, so the page is scrolled from top to bottom."""
    page.evaluate("window.scrollTo(0, 0)")
    shown: dict[tuple[str, str], str | None] = {}
    while True:
        shown |= {(method, path): lock for method, path, lock in page.evaluate(_SHOWN)}
        if not page.evaluate(_SCROLL):
            return shown


def _reveal(page: Any, locator: Any) -> Any:
    """``locator`` once Swagger UI renders it: the page is scrolled from the top until it does (only the
    operations near the window are rendered, so one further down the document is not there at first)."""
    page.evaluate("window.scrollTo(0, 0)")
    while locator.count() == 0 and page.evaluate(_SCROLL):
        pass
    return locator


def _swagger_ui(page: Any, server: str) -> None:
    page.goto(f"{server}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("retailcore")
    expect(page.locator(".opblock").first).to_be_visible()


def test_in_swagger_ui_a_user_sees_the_locks_authorizes_and_lists_the_companies(
    visit, server, company, admin
):
    page = visit.page
    operations = _operations(server)
    _swagger_ui(page, server)

    # Served by the app alone, with a lock on every operation that needs a token: all but /health.
    locks = _locks(page)
    assert locks.keys() == operations.keys()
    assert {op for op, lock in locks.items() if lock} == {op for op, token in operations.items() if token}
    # Shopify's webhook carries the shop's signature, not a token.
    assert sorted(op for op, token in operations.items() if not token) == [
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/connectors/shopify/{shop}/webhooks"),
    ]
    assert set(locks.values()) == {"authorization button unlocked", None}

    page.locator("button.btn.authorize").click()
    page.locator(".auth-container input[type=text]").fill(admin["Authorization"].removeprefix("Bearer "))
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.locator(".auth-btn-wrapper button.btn-done").click()
    operation = _reveal(
        page, page.locator(".opblock-get").filter(has=page.locator('[data-path="/api/v1/companies"]'))
    )
    operation.locator(".opblock-summary-control").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()

    response = operation.locator(".live-responses-table tbody .response")
    expect(response.locator(".response-col_status")).to_have_text("200")
    expect(response.locator(".response-col_description")).to_contain_text(company["id"])
    expect(response.locator(".response-col_description")).to_contain_text(f'"code": "{company["code"]}"')

    # The token outlives a new visit to the page (persistAuthorization): the locks show locked.
    _swagger_ui(page, server)
    expect(page.locator('.opblock [aria-label="authorization button locked"]').first).to_be_visible()
    expect(page.locator('.opblock [aria-label="authorization button unlocked"]')).to_have_count(0)
    visit.assert_self_contained()


def test_redoc_renders_from_the_app_alone(visit, server):
    page = visit.page

    with page.expect_event("requestfailed", lambda request: request.url == REDOCLY_LOGO):
        page.goto(f"{server}/redoc")

    expect(page.locator("h1").first).to_contain_text("retailcore")
    expect(page.locator("[data-section-id='tag/companies']")).to_have_count(1)
    visit.assert_self_contained(refused=(REDOCLY_LOGO,))
