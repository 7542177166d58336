"""The back office's promotions section in a real browser (headless Chromium, as
test_back_office.py): a pricing manager submits a promotion and may not approve it himself (four
eyes, shown on the page); a second pricing manager approves it; a promotion that takes a product below
its margin floor is refused, with the product and its numbers, and finance approves it over the floor
with a reason; a cashier gets the 403 page. Each test checks the pages loaded nothing from elsewhere.

Screenshots of the list and of a promotion go to the test's tmp_path, or to
``$RETAILCORE_UI_SCREENSHOTS`` (docs/ui.md: ``RETAILCORE_UI_SCREENSHOTS=docs/ui pytest
tests/browser/test_promotions_pages.py``).
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from retailcore.access.users import create_user, principal_of
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company
from retailcore.promotions import commands as c
from retailcore.promotions import price_changes as changes
from retailcore.promotions import services as promotions
from retailcore.promotions.tables import PriceChange, PromotionRow
from webtools import API, PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
expect = sync_api.expect
expect.set_options(timeout=60_000)  # a busy 2-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]

USERS = {
    "pm1": ("pricing_manager", None),
    "pm2": ("pricing_manager", None),
    "finance": ("finance", None),
    "cashier1": ("cashier", "S1"),
}


@pytest.fixture
def shop(runtime, client, admin, company, store_factory) -> dict[str, Any]:
    """Store S1; TEA (list 10.00, standard cost 5.00, Drinks) with a margin floor of 0.10 (5.50 a
    unit) and MUG (20.00, cost 8.00, no floor); the users of ``USERS``, password ``PASSWORD``."""
    store_factory("S1")
    products = {}
    for sku, price, cost, category in (
        ("TEA", "10.00", "5.00", "Drinks"),
        ("MUG", "20.00", "8.00", "Kitchen"),
    ):
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": f"Product {sku}",
            "category": category,
            "list_price": price,
            "cost_method": "standard",
            "standard_cost": cost,
        }
        response = client.post(f"{API}/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        products[sku] = response.json()
    floor = client.post(
        f"{API}/margin-floors", json={"product_id": products["TEA"]["id"], "floor": "0.10"}, headers=admin
    )
    assert floor.status_code == 201, floor.text
    with transaction(runtime.session_factory) as session:
        users = {
            name: create_user(session, name, PASSWORD, role, company="ACME", store=store)
            for name, (role, store) in USERS.items()
        }
        principals = {name: principal_of(user) for name, user in users.items()}
    return {"products": products, "principals": principals, "company_id": uuid.UUID(company["id"])}


def draft(runtime: Any, shop: dict[str, Any], by: str, code: str, **fields: Any) -> uuid.UUID:
    """A promotion drafted by ``by`` through the service the API's POST /promotions calls."""
    with transaction(runtime.session_factory) as session:
        company = session.get_one(Company, shop["company_id"])
        body = c.CreatePromotion(code=code, name=f"Promo {code}", kind="percent_off", **fields)
        return promotions.create_promotion(session, CommandContext(shop["principals"][by]), company, body).id


def promotion(runtime: Any, promotion_id: uuid.UUID) -> PromotionRow:
    with runtime.session_factory() as session:
        row = session.get(PromotionRow, promotion_id)
        assert row is not None
        session.expunge(row)
        return row


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RETAILCORE_UI_SCREENSHOTS") or tmp_path / "ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _settled(page: Any) -> None:
    """Wait until the page has loaded its script (htmx) before leaving it (test_back_office.py)."""
    page.wait_for_load_state("load")


def _sign_in(page: Any, server: str, username: str, target: str = "/promotions") -> None:
    page.goto(f"{server}/login?next={target}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    _settled(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")


def _sign_out(page: Any) -> None:
    _settled(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state("load")


def _open(page: Any, code: str) -> None:
    _settled(page)
    page.locator(f"#promotion-{code}").get_by_role("link", name=code).click()
    expect(page.get_by_role("heading", name=f"Promotion {code}")).to_be_visible()
    _settled(page)


def test_a_promotion_is_submitted_refused_to_its_author_and_approved_by_another(
    visit, server, shop, runtime, shots
):
    mug = draft(
        runtime,
        shop,
        "pm1",
        "MUG10",
        percent=Decimal("10"),
        product_ids=[shop["products"]["MUG"]["id"]],
        store_ids=["S1"],
        channels=["pos"],
    )
    other = draft(runtime, shop, "pm1", "ALL5", percent=Decimal("5"))
    with transaction(runtime.session_factory) as session:
        promotions.submit_promotion(session, CommandContext(shop["principals"]["pm1"]), other)
    page = visit.page
    _sign_in(page, server, "pm1")
    expect(page.get_by_role("heading", name="Promotions", exact=True)).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Promotions")
    ).to_have_attribute("aria-current", "page")
    _open(page, "MUG10")
    expect(page.locator("#rule")).to_have_text("10% off each targeted line")
    expect(page.locator("#targeting")).to_have_text("products MUG; channels pos; stores S1")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("#done")).to_have_text("Submitted for approval.")
    expect(page.locator("#state")).to_have_text("submitted")

    # The author may not approve: the page says why, under the API's 403, and nothing changes.
    _settled(page)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Approve", exact=True).click()
    assert answer.value.status == 403
    expect(page.locator("#problem")).to_contain_text("four-eyes")
    expect(page.locator("#problem")).to_contain_text("user:pm1 drafted, changed or submitted this promotion")
    row = promotion(runtime, mug)
    assert row.state == "submitted" and row.decided_by is None
    _sign_out(page)

    # A second pricing manager finds it first in the queue and approves it.
    _sign_in(page, server, "pm2")
    queue = page.locator("#promotions tbody tr")
    expect(queue).to_have_count(2)
    assert sorted(queue.nth(i).get_attribute("id") for i in range(2)) == ["promotion-ALL5", "promotion-MUG10"]
    expect(page.locator("#promotion-MUG10")).to_contain_text("awaiting approval")
    page.screenshot(path=str(shots / "promotions.png"), full_page=True)
    _open(page, "MUG10")
    page.get_by_label("Approval note (optional)").fill("spring range")
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.locator("#done")).to_have_text("Approved.")
    expect(page.locator("#state")).to_have_text("active")
    trail = page.locator("#trail tbody")
    for event in ("PromotionCreated", "PromotionSubmitted", "PromotionApproved", "PromotionActivated"):
        expect(trail).to_contain_text(event)
    expect(trail).to_contain_text("spring range")
    page.screenshot(path=str(shots / "promotion.png"), full_page=True)
    row = promotion(runtime, mug)
    assert row.state == "active" and row.decided_by == "user:pm2" and row.decision_reason == "spring range"

    # The trail as CSV, like every table of the back office.
    csv = page.request.get(f"{server}/promotions/{row.id}?csv=trail")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text().splitlines()
    assert lines[0] == "position,occurred_at,event,by,reason"
    assert [line.split(",")[2] for line in lines[1:]] == [
        "PromotionCreated",
        "PromotionSubmitted",
        "PromotionApproved",
        "PromotionActivated",
    ]
    # Rejecting says why: the form asks for it and the trail keeps it.
    page.goto(f"{server}/promotions/{other}")
    page.get_by_label("Why reject").fill("too broad: every product")
    _settled(page)
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("#done")).to_have_text("Rejected.")
    expect(page.locator("#trail tbody")).to_contain_text("too broad: every product")
    assert promotion(runtime, other).state == "rejected"
    page.goto(f"{server}/promotions?state=rejected")
    expect(page.locator("#promotions tbody tr")).to_have_count(1)
    visit.assert_self_contained()


def test_a_floor_breach_is_refused_with_its_numbers_and_finance_approves_it_over_the_floor(
    visit, server, shop, runtime, shots
):
    # Cost 5.00 x 1.10 = 5.50; half off 10.00 leaves 5.00.
    found = draft(
        runtime, shop, "pm1", "HALF", percent=Decimal("50"), product_ids=[shop["products"]["TEA"]["id"]]
    )
    with transaction(runtime.session_factory) as session:
        promotions.submit_promotion(session, CommandContext(shop["principals"]["pm1"]), found)
    page = visit.page
    _sign_in(page, server, "pm2", f"/promotions/{found}")
    expect(page.get_by_role("heading", name="Promotion HALF")).to_be_visible()
    assert (
        page.get_by_role("button", name="Approve over the margin floor").count() == 0
    )  # not a pricing manager's
    _settled(page)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Approve", exact=True).click()
    assert answer.value.status == 409
    problem = page.locator("#problem")
    expect(problem).to_contain_text("margin-floor-breach")
    expect(problem).to_contain_text("HALF can take 1 product(s) below their margin floor")
    fields = page.locator("#problem-fields tbody tr")
    expect(fields).to_have_count(1)
    expect(fields.first).to_contain_text("products.TEA")
    expect(fields.first).to_contain_text("price 10, worst case 5 < floor 5.5 (unit cost 5, margin floor 0.1")
    assert promotion(runtime, found).state == "submitted"
    page.screenshot(path=str(shots / "promotion-floor-breach.png"), full_page=True)
    _sign_out(page)

    _sign_in(page, server, "finance", f"/promotions/{found}")
    expect(page.get_by_role("heading", name="Promotion HALF")).to_be_visible()
    # No reason: the browser asks for one (required); sent anyway, the service refuses it (422).
    reason = page.get_by_label("Why approve below the margin floor")
    expect(reason).to_have_attribute("required", "")
    reason.fill("end of line clearance")
    _settled(page)
    page.get_by_role("button", name="Approve over the margin floor").click()
    expect(page.locator("#done")).to_contain_text("Approved over its margin floors")
    expect(page.locator("#override")).to_have_text("user:finance: end of line clearance")
    expect(page.locator("#trail tbody")).to_contain_text("end of line clearance")
    row = promotion(runtime, found)
    assert (row.state, row.override_by, row.override_reason) == (
        "active",
        "user:finance",
        "end of line clearance",
    )
    # A tablet held upright: nothing is wider than the screen.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.reload()
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for tab in ("Price changes", "Margin floors", "Coupons", "Loyalty"):
        page.get_by_role("navigation", name="Promotions section").get_by_role("link", name=tab).click()
        expect(page.get_by_role("heading", name=tab, exact=True)).to_be_visible()
        _settled(page)
    page.get_by_role("navigation", name="Promotions section").get_by_role(
        "link", name="Margin floors"
    ).click()
    expect(page.locator("#margin-floors tbody")).to_contain_text("TEA")
    expect(page.locator("#margin-floors tbody")).to_contain_text("0.1")
    visit.assert_self_contained()


def test_an_override_without_a_reason_is_refused_on_the_page(visit, server, shop, runtime):
    found = draft(
        runtime, shop, "pm1", "HALF", percent=Decimal("50"), product_ids=[shop["products"]["TEA"]["id"]]
    )
    with transaction(runtime.session_factory) as session:
        promotions.submit_promotion(session, CommandContext(shop["principals"]["pm1"]), found)
    page = visit.page
    _sign_in(page, server, "finance", f"/promotions/{found}")
    expect(page.get_by_role("heading", name="Promotion HALF")).to_be_visible()
    page.locator("#override-reason").evaluate("input => input.removeAttribute('required')")
    _settled(page)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Approve over the margin floor").click()
    assert answer.value.status == 422
    expect(page.locator("#problem")).to_contain_text("a reason is needed")
    expect(page.locator("#problem-fields")).to_contain_text("reason")
    assert promotion(runtime, found).state == "submitted"
    visit.assert_self_contained()


def test_a_cashier_cannot_see_the_promotions_pages(visit, server, shop, runtime):
    found = draft(runtime, shop, "pm1", "MUG10", percent=Decimal("10"))
    page = visit.page
    _sign_in(page, server, "cashier1", "/")
    for path in (
        "/promotions",
        f"/promotions/{found}",
        "/price-changes",
        "/margin-floors",
        "/coupons",
        "/loyalty",
        "/promotions?csv=promotions",
    ):
        response = page.goto(f"{server}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    # A forged POST (with the page's CSRF token) is refused too, and changes nothing.
    page.goto(f"{server}/")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(f"{server}/promotions/{found}/submit", form={"csrf_token": token or ""})
    assert answer.status == 403
    assert promotion(runtime, found).state == "draft"


def test_a_price_change_is_approved_and_coupons_and_loyalty_are_looked_up(
    visit, server, shop, runtime, client, admin, company
):
    tea = shop["products"]["TEA"]["id"]
    price_list = client.post(
        f"{API}/price-lists",
        json={"company_id": company["id"], "code": "RETAIL", "name": "Retail", "currency": "EUR",
              "items": [{"product_id": tea, "unit_price": "9.00"}]},
        headers=admin,
    ).json()  # fmt: skip
    with transaction(runtime.session_factory) as session:
        ctx = CommandContext(shop["principals"]["pm1"])
        body = c.CreatePriceChange(
            price_list_id=price_list["id"],
            items=[{"product_id": tea, "unit_price": "8.50"}],
            effective_at="2199-01-01T00:00:00+01:00",
            reason="new season",
        )
        company_row = session.get_one(Company, shop["company_id"])
        change = changes.create_price_change(session, ctx, company_row, body)
        changes.submit_price_change(session, ctx, change.id)
        change_id = change.id
    coupon_promotion = draft(runtime, shop, "pm1", "WELCOME", percent=Decimal("5"), coupon_only=True)
    generated = client.post(
        f"{API}/coupons",
        json={"company_id": company["id"], "promotion": "WELCOME", "code": "HELLO-2026", "max_uses": 3},
        headers=admin,
    )
    assert generated.status_code == 201, generated.text
    assert coupon_promotion
    customer = client.post(
        f"{API}/customers", json={"company_id": company["id"], "code": "ANNA", "name": "Anna"}, headers=admin
    )
    assert customer.status_code == 201, customer.text
    opened = client.post(
        f"{API}/loyalty/accounts", json={"customer_id": customer.json()["id"]}, headers=admin
    )
    assert opened.status_code == 201, opened.text

    page = visit.page
    _sign_in(page, server, "pm2", "/price-changes")
    row = page.locator(f"#change-{change_id}")
    expect(row).to_contain_text("RETAIL")
    expect(row).to_contain_text("awaiting approval")
    _settled(page)
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("#done")).to_have_text("Approved.")
    expect(page.locator(f"#change-{change_id}")).to_contain_text("user:pm2")
    with runtime.session_factory() as session:
        approved = session.get_one(PriceChange, change_id)
        assert (approved.state, approved.decided_by) == ("approved", "user:pm2")

    _settled(page)
    page.get_by_role("navigation", name="Promotions section").get_by_role("link", name="Coupons").click()
    page.get_by_label("Coupon code").fill("hello 2026")
    _settled(page)
    page.get_by_role("button", name="Look up").click()
    coupon = page.locator("#coupon")
    expect(coupon).to_contain_text("WELCOME")
    expect(coupon).to_contain_text("Uses left")
    expect(coupon.locator("dd").nth(3)).to_have_text("3")
    expect(coupon).to_contain_text("no")  # its promotion is a draft: not usable yet
    page.get_by_label("Coupon code").fill("NOSUCHCODE")
    _settled(page)
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("alert")).to_contain_text("no coupon with this code")

    _settled(page)  # leaving before htmx has loaded aborts its request, which the visit counts as failed
    page.get_by_role("navigation", name="Promotions section").get_by_role("link", name="Loyalty").click()
    page.get_by_label("Customer code").fill("ANNA")
    _settled(page)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#account")).to_contain_text("0 points")
    expect(page.locator("#movements tbody")).to_contain_text("None.")
    csv = page.request.get(f"{server}/loyalty?customer=ANNA&csv=movements")
    assert csv.status == 200 and csv.text().splitlines()[0].startswith("created_at,kind,points")
    visit.assert_self_contained()


def test_an_exclusive_overlap_is_refused_naming_the_other_promotion(visit, server, shop, runtime):
    tea = shop["products"]["TEA"]["id"]
    first = draft(
        runtime, shop, "pm1", "SOLO1", percent=Decimal("5"), product_ids=[tea], stacking="exclusive"
    )
    second = draft(
        runtime, shop, "pm1", "SOLO2", percent=Decimal("5"), product_ids=[tea], stacking="exclusive"
    )
    with transaction(runtime.session_factory) as session:
        promotions.submit_promotion(session, CommandContext(shop["principals"]["pm1"]), first)
        promotions.submit_promotion(session, CommandContext(shop["principals"]["pm1"]), second)
        promotions.approve_promotion(session, CommandContext(shop["principals"]["pm2"]), first, c.Decision())
    page = visit.page
    _sign_in(page, server, "pm2", f"/promotions/{second}")
    expect(page.get_by_role("heading", name="Promotion SOLO2")).to_be_visible()
    # Without the page's CSRF token (a forged form), the approval is refused and nothing changes.
    forged = page.request.post(f"{server}/promotions/{second}/approve", form={"reason": "x"})
    assert forged.status == 403 and "CSRF token refused" in forged.text()
    assert promotion(runtime, second).state == "submitted"
    _settled(page)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Approve", exact=True).click()
    assert answer.value.status == 409
    expect(page.locator("#problem")).to_contain_text("exclusive-overlap")
    expect(page.locator("#problem")).to_contain_text("exclusive promotion SOLO2 overlaps exclusive SOLO1")
    expect(page.locator("#problem-fields")).to_contain_text("overlaps SOLO1 (active)")
    assert promotion(runtime, second).state == "submitted"
    visit.assert_self_contained()
