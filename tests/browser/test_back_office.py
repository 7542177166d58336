"""The back office in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright),
with every address but this machine's unreachable, against ``retailcore serve``.

Sign in; search an order and open it; drill from a P&L figure to its journal lines (filtered by store
and channel) and the events behind them; close a POS session from its page; receive and refund a
return from its page; resolve an exception and a settlement mismatch; a
cashier cannot see another store's pages; the dashboard draws its charts from the data, filters by
store, and a margin figure drills down to journal lines and their events. Each test checks the page
loaded nothing from elsewhere.
Screenshots of the main pages go to the test's tmp_path, or to ``$RETAILCORE_UI_SCREENSHOTS`` when set
(docs/ui.md shows the ones in docs/ui/:
``RETAILCORE_UI_SCREENSHOTS=docs/ui pytest tests/browser/test_back_office.py``).

Skipped, saying why, without Debian's ``chromium`` or the ``playwright`` package (conftest.py).
"""

from __future__ import annotations

import os
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from retailcore.monitoring.tables import ExceptionCase
from retailcore.pos.tables import PosSession
from retailcore.returns.tables import ReturnRow
from retailcore.settlements.tables import Mismatch
from webtools import API, PASSWORD, build_shop, settle_unknown_charges

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
expect = sync_api.expect
expect.set_options(timeout=60_000)  # a busy 2-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory):
    return build_shop(runtime, client, admin, auth, company, store_factory)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RETAILCORE_UI_SCREENSHOTS") or tmp_path / "ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/")
    expect(page).to_have_url(f"{server}/login?next=%2F")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    _settled(page)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    _settled(page)


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Sections").get_by_role("link", name=name).click()
    page.wait_for_load_state("load")


def _settled(page: Any) -> None:
    """Wait until the page has loaded its script (htmx): leaving it before would abort that request,
    which ``assert_self_contained`` counts as a failed request."""
    page.wait_for_load_state("load")


def test_a_user_signs_in_with_the_keyboard_and_the_pages_load_nothing_from_elsewhere(
    visit, server, shop, shots
):
    page = visit.page
    page.goto(f"{server}/login")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("boss")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.screenshot(path=str(shots / "sign-in.png"))
    _settled(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.screenshot(path=str(shots / "dashboard.png"))
    for name, heading, shot in (
        ("POS sessions", "POS sessions", "pos-sessions"),
        ("Stock", "Stock", "stock"),
        ("Close checklist", "Close checklist", "close-checklist"),
        ("Exceptions", "Exceptions", "exceptions"),
    ):
        _nav(page, name)
        expect(page.get_by_role("heading", name=heading, exact=False).first).to_be_visible()
        page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)
    _nav(page, "Close checklist")
    page.get_by_role("link", name="Printable report").click()  # the close checklist's printable report
    expect(page.get_by_role("heading", name="Close report", exact=False).first).to_be_visible()
    page.screenshot(path=str(shots / "close-report.png"), full_page=True)
    for name, heading in (("trial-balance", "Trial balance"), ("balance-sheet", "Balance sheet")):
        page.goto(f"{server}/accounting/{name}")
        expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        _settled(page)
    # A tablet held upright: the sections go above the page, nothing is wider than the screen.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{server}/orders")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(shots / "orders-tablet.png"))
    visit.assert_self_contained()


def test_an_order_is_searched_by_its_number_and_shows_its_trail(visit, server, shop, shots):
    page = visit.page
    _sign_in(page, server, "boss")
    order = shop["orders"]["S1"][0]
    _nav(page, "Orders")
    page.get_by_label("Order number").fill(order["number"])
    _settled(page)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#orders tbody tr")
    expect(rows).to_have_count(1)
    page.screenshot(path=str(shots / "orders.png"))
    _settled(page)
    page.get_by_role("link", name=order["number"]).click()
    expect(page.get_by_role("heading", name=f"Order {order['number']}")).to_be_visible()
    for section in ("Lines", "Payments", "Stock moves", "Journal entries", "Events, in order"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    expect(page.locator("table.events")).to_contain_text("PosSalesIngested")
    page.screenshot(path=str(shots / "order.png"), full_page=True)
    visit.assert_self_contained()


def test_a_figure_of_the_profit_and_loss_drills_down_to_journal_lines_and_their_events(
    visit, server, shop, shots
):
    page = visit.page
    _sign_in(page, server, "finance")
    _nav(page, "Accounting")
    expect(page.get_by_role("heading", name="Profit and loss")).to_be_visible()
    page.screenshot(path=str(shots / "profit-and-loss.png"), full_page=True)
    figure = page.locator("table.report tbody a[aria-label*='lines of account']").first
    _settled(page)
    figure.click()
    expect(page.get_by_role("heading", name="Account")).to_be_visible()
    _settled(page)
    page.get_by_label("Store").select_option("S2")  # the closed session's store: its lines carry S2
    page.get_by_label("Channel").select_option("pos")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Only the lines carrying S2, pos")).to_be_visible()
    expect(page).to_have_url(re.compile(r"store=S2&channel=pos"))
    page.screenshot(path=str(shots / "account.png"), full_page=True)
    _settled(page)
    page.locator("table tbody a[href^='/accounting/entries/']").first.click()
    expect(page.get_by_role("heading", name="Journal entry")).to_be_visible()
    expect(page.get_by_role("heading", name="The events behind it, in order")).to_be_visible()
    expect(page.locator("table.events")).to_contain_text("PosSessionClosed")
    page.screenshot(path=str(shots / "journal-entry.png"), full_page=True)
    visit.assert_self_contained()


def test_a_store_manager_closes_a_pos_session_from_its_page(visit, server, shop, runtime, shots):
    page = visit.page
    _sign_in(page, server, "manager1")
    _nav(page, "POS sessions")
    session_id = shop["sessions"]["S1"]["id"]
    page.locator(f"a[href='/pos/sessions/{session_id}']").click()
    _settled(page)
    expect(page.locator("#expected-cash")).to_have_text("57.20")
    page.get_by_label("Counted Cash (CASH, cash)").fill("56.70")
    page.get_by_label("Counted Card (CARD)").fill("7.20")
    page.screenshot(path=str(shots / "pos-close.png"), full_page=True)
    _settled(page)
    page.get_by_role("button", name="Close session").click()
    expect(page.locator("#close-result")).to_contain_text("-0.50")
    with runtime.session_factory() as session:
        closed = session.get(PosSession, uuid.UUID(session_id))
        assert closed is not None and closed.state == "closed"
    visit.assert_self_contained()


def test_an_exception_is_resolved_from_the_console(visit, server, shop, runtime):
    page = visit.page
    _sign_in(page, server, "manager1")
    _nav(page, "Exceptions")
    row = page.locator(f"#exception-{shop['exception_id']}")
    row.get_by_label("Note").fill("recounted: the shelf was right")
    _settled(page)
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator(f"#exception-{shop['exception_id']}")).to_have_count(0)
    with runtime.session_factory() as session:
        found = session.scalar(select(ExceptionCase).where(ExceptionCase.id == shop["exception_id"]))
        assert found is not None and found.status == "resolved"
    visit.assert_self_contained()


def test_a_cashier_cannot_see_another_stores_pages(visit, server, shop):
    page = visit.page
    _sign_in(page, server, "cashier1")
    other = shop["orders"]["S2"][0]
    response = page.goto(f"{server}/orders/{other['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"{server}/pos/sessions/{shop['sessions']['S2']['id']}")
    assert response is not None and response.status == 404
    response = page.goto(f"{server}/accounting/profit-and-loss")
    assert response is not None and response.status == 403
    page.goto(f"{server}/orders")
    expect(page.locator("#orders")).not_to_contain_text(other["number"])
    expect(page.locator("#orders")).to_contain_text(shop["orders"]["S1"][0]["number"])


def _csp_complaints(page: Any) -> list[str]:
    """What the console says the page's Content-Security-Policy refused (inline scripts or styles)."""
    complaints: list[str] = []

    def heard(message: Any) -> None:
        if "Content Security Policy" in message.text:
            complaints.append(message.text)

    page.on("console", heard)
    return complaints


def _value(page: Any, key: str) -> Decimal:
    return Decimal(page.locator(f"#tile-{key}").get_attribute("data-value") or "NaN")


def _points(page: Any, chart: str) -> int:
    canvas = page.locator(f"#chart-{chart}")
    expect(canvas).to_have_attribute("data-points", re.compile(r"^[0-9]+$"))
    return int(canvas.get_attribute("data-points") or 0)


def test_the_dashboard_draws_its_charts_from_the_data_and_filters_by_store(visit, server, shop, shots):
    page = visit.page
    complaints = _csp_complaints(page)
    _sign_in(page, server, "boss")
    assert _value(page, "net_sales") == Decimal("24.00")
    # Sales and margin of the 30 days (two series); by store: S1 and S2, two bars each.
    assert _points(page, "days") == 60
    assert _points(page, "store") == 4
    assert _points(page, "channel") == 2 and _points(page, "category") == 2
    drawn = page.evaluate(
        "() => { const c = document.getElementById('chart-store');"
        " const g = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let inked = 0; for (let i = 3; i < g.length; i += 4) { if (g[i] > 0) inked++; } return inked; }"
    )
    assert drawn > 0, "the store chart's canvas is blank"
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    page.get_by_label("Store", exact=True).select_option("S1")
    _settled(page)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"store=S1"))
    assert _value(page, "net_sales") == Decimal("12.00")
    assert _points(page, "store") == 2
    expect(page.locator("#table-margin-by-store tbody")).to_contain_text("S1")
    expect(page.locator("#table-margin-by-store tbody")).not_to_contain_text("S2")
    # A tablet held upright: the tiles wrap, the charts shrink, nothing is wider than the screen.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.reload()
    page.wait_for_load_state("load")
    assert _points(page, "days") == 60
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(shots / "dashboard-tablet.png"), full_page=True)
    assert complaints == []
    visit.assert_self_contained()


def test_a_margin_figure_of_the_dashboard_drills_down_to_journal_lines_and_their_events(
    visit, server, shop, shots
):
    page = visit.page
    _sign_in(page, server, "finance")
    margin = page.locator("#tile-gross_margin a")
    expect(margin).to_have_attribute("aria-label", re.compile("the journal lines behind it"))
    _settled(page)
    margin.click()
    expect(page.get_by_role("heading", name="Profit and loss")).to_be_visible()
    expect(page).to_have_url(re.compile(r"date_from=.*date_to="))
    _settled(page)
    page.locator("table.report tbody a[aria-label*='lines of account']").first.click()
    expect(page.get_by_role("heading", name="Account")).to_be_visible()
    _settled(page)
    page.locator("table tbody a[href^='/accounting/entries/']").first.click()
    expect(page.get_by_role("heading", name="The events behind it, in order")).to_be_visible()
    expect(page.locator("table.events")).to_contain_text("PosSessionClosed")
    visit.assert_self_contained()


def test_a_settlement_mismatch_is_resolved_from_its_page(
    visit, server, shop, runtime, client, admin, auth, company, shots
):
    finance = settle_unknown_charges(client, admin, auth, company)
    first = client.get("/api/v1/mismatches", headers=finance).json()["items"][0]
    page = visit.page
    _sign_in(page, server, "finance")
    _nav(page, "Settlements & mismatches")
    expect(page.get_by_role("heading", name="Settlements & mismatches")).to_be_visible()
    page.screenshot(path=str(shots / "settlements.png"), full_page=True)
    _settled(page)
    page.locator("a[href^='/settlements/batches/']").first.click()
    expect(page.locator("main")).to_contain_text("unmatched")
    page.screenshot(path=str(shots / "settlement-batch.png"), full_page=True)
    _settled(page)
    page.go_back()
    page.wait_for_load_state("load")
    page.get_by_role("link", name="2 open mismatches").click()
    row = page.locator(f"#mismatch-{first['id']}")
    expect(row).to_contain_text(first["amount_at_risk"])
    page.screenshot(path=str(shots / "mismatches.png"), full_page=True)
    row.get_by_label("Note").fill("not ours: written off")
    row.get_by_label("Post").select_option("write_off")
    _settled(page)
    row.get_by_role("button", name="Resolve").click()
    expect(page.locator(f"#mismatch-{first['id']}")).to_have_count(0)
    with runtime.session_factory() as session:
        found = session.get(Mismatch, uuid.UUID(first["id"]))
        assert found is not None and found.state == "resolved" and found.resolved_by == "user:finance"
        assert found.entry_id is not None
    visit.assert_self_contained()


def test_a_store_manager_receives_and_refunds_a_return_from_its_page(
    visit, server, shop, runtime, client, auth, shots
):
    order = shop["orders"]["S1"][0]
    made = client.post(
        f"{API}/returns",
        json={
            "order_id": order["id"],
            "store_id": "S1",
            "reason": "changed_mind",
            "lines": [{"order_line_id": order["lines"][0]["id"], "quantity": "1"}],
        },
        headers=auth("store_manager", company="ACME", store="S1"),
    )
    assert made.status_code == 201, made.text
    returned = made.json()
    page = visit.page
    _sign_in(page, server, "manager1")
    _nav(page, "Returns")
    expect(page.locator(f"#return-{returned['id']}")).to_contain_text("requested")
    page.screenshot(path=str(shots / "returns.png"), full_page=True)
    _settled(page)
    page.get_by_role("link", name=returned["number"]).click()
    expect(page.get_by_role("heading", name=f"Return {returned['number']}")).to_be_visible()
    _settled(page)
    page.get_by_role("button", name="Receive the goods").click()
    expect(page.get_by_role("button", name="Refund")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("received")
    page.get_by_label("Restocking fee (EUR)").fill("0.60")
    page.screenshot(path=str(shots / "return.png"), full_page=True)
    _settled(page)
    page.get_by_role("button", name="Refund").click()
    expect(page.locator("dl.facts")).to_contain_text("refunded")
    expect(page.locator("dl.facts")).to_contain_text("3.00 EUR")
    expect(page.get_by_role("heading", name="Act on this return")).to_have_count(0)
    with runtime.session_factory() as session:
        found = session.get(ReturnRow, uuid.UUID(returned["id"]))
        assert found is not None and found.status == "refunded"
    visit.assert_self_contained()
