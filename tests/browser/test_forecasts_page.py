"""The back office's forecasts page in a real browser (headless Chromium, as test_back_office.py):
after a run, a store manager sees each series' forecast against the units sold, with its inline SVG,
and the page loads nothing from elsewhere; before any run it says how to make one."""

from __future__ import annotations

from typing import Any

import pytest

from forecast_shop import AS_OF, make_shop
from retailcore.access.users import create_user
from retailcore.adapters.db import transaction
from webtools import API, PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
pytest.importorskip("statsforecast")
expect = sync_api.expect
expect.set_options(timeout=60_000)  # a busy 2-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/login?next=/forecasts")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def test_the_page_shows_forecasts_against_actuals_and_is_self_contained(
    visit, server, runtime, client, admin, auth, company
):
    make_shop(client, admin, auth, company)
    with transaction(runtime.session_factory) as session:
        create_user(session, "mia", PASSWORD, "store_manager", company="ACME", store="S1")
    page = visit.page
    _sign_in(page, server, "mia")
    expect(page.get_by_role("heading", name="Demand forecasts")).to_be_visible()
    expect(page.get_by_text("No forecast yet")).to_be_visible()

    ran = client.post(f"{API}/forecasts/runs", json={"horizon": 7, "as_of": AS_OF.isoformat()}, headers=admin)
    assert ran.status_code == 201, ran.text
    page.reload()
    page.wait_for_load_state("load")
    rows = page.locator("tbody tr").filter(has=page.locator("svg"))
    expect(rows).to_have_count(2)
    coffee = rows.filter(has_text="COFFEE")
    expect(coffee).to_contain_text("S1")
    expect(coffee.get_by_role("img", name="COFFEE forecast against actuals")).to_be_visible()
    # Three of the seven forecast days are past: COFFEE's "sold so far" column is filled.
    expect(coffee.locator("td").nth(6)).not_to_have_text("")
    expect(
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Forecasts")
    ).to_have_attribute("aria-current", "page")
    visit.assert_self_contained()
