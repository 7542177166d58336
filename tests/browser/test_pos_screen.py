"""The POS screen at /pos in a real browser (headless Debian chromium through Playwright), against
``retailcore serve``: a sale by barcode with a split tender; five sales rung up offline, a reload, and
a sync whose first answer is lost, leaving exactly five sales; a refund of an earlier receipt; a
manager's override; a close with a cash difference whose posted entry matches the screen; promotions
from the server's quote, and offline from the screen's mirror of the pricing function; a customer
paying by gift card, store credit and cash; a sale the server refuses set aside while the others
sync; exchanges for a dearer and a cheaper item; a sign-out that waits for the queue and revokes the
till token; a printed gift card sold. The figures are checked through the API, as the server holds them.

Screenshots go to the test's tmp_path, or to ``$RETAILCORE_UI_SCREENSHOTS`` (docs/pos.md shows those
in docs/img/: ``RETAILCORE_UI_SCREENSHOTS=docs/img pytest -p no:randomly tests/browser/test_pos_screen.py``).
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from retailcore.access.users import create_user
from retailcore.adapters.db import transaction
from retailcore.monitoring.tables import ExceptionCase
from retailcore.promotions.tables import PromotionRow
from webtools import API, PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
expect = sync_api.expect
expect.set_options(timeout=60_000)  # a busy 2-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COFFEE_EAN = "4006381333931"
TEA_EAN = "5901234123457"


@pytest.fixture
def till(runtime, client, admin, auth, company, store_factory) -> dict[str, Any]:
    """Store S1 with VAT 20 % included, cash, card and gift card tenders, coffee (3.60) and tea (2.50)
    with barcodes, a terminal T1, and users cashier1 and manager1."""
    for path, body in (
        (
            "tax-rules",
            {
                "jurisdiction": "FR",
                "tax_category": "standard",
                "taxes": [{"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}],
            },
        ),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "adyen"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    products = {}
    for sku, name, category, price, barcode in (
        ("COFFEE", "Coffee", "Drinks", "3.60", COFFEE_EAN),
        ("TEA", "Tea", "Drinks", "2.50", TEA_EAN),
        ("CAKE", "Cake", "Food", "4.80", None),
    ):
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": name,
            "category": category,
            "list_price": price,
            "cost_method": "average",
            "barcodes": [barcode] if barcode else [],
            "channels": ["pos", "web"],
        }
        response = client.post(f"{API}/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        products[sku] = response.json()
    store = store_factory("S1")
    manager = auth("store_manager", company="ACME", store="S1")
    terminal = client.post(
        f"{API}/pos/terminals",
        json={"store_id": store["id"], "code": "T1", "name": "Till 1"},
        headers=manager,
    ).json()
    with transaction(runtime.session_factory) as session:
        create_user(session, "cashier1", PASSWORD, "cashier", company="ACME", store="S1")
        create_user(session, "manager1", PASSWORD, "store_manager", company="ACME", store="S1")
    return {"products": products, "store": store, "terminal": terminal, "manager": manager, "admin": admin}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RETAILCORE_UI_SCREENSHOTS") or tmp_path / "img")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _start(page: Any, server: str, username: str = "cashier1", float_: str = "100.00") -> None:
    """Sign in, choose terminal T1 and open a session with ``float_`` (or continue the open one)."""
    page.goto(f"{server}/pos")
    expect(page).to_have_url(f"{server}/login?next=%2Fpos")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server}/pos")
    page.get_by_role("button", name="Use this terminal").click()
    open_button = page.get_by_role("button", name="Open session")
    scan = page.get_by_label("Barcode")
    expect(page.locator("#open-session:visible, #scan:visible").first).to_be_visible()
    if open_button.is_visible():
        page.get_by_label("Opening float").fill(float_)
        open_button.click()
    expect(scan).to_be_visible()
    # The service worker holds the shell once it is active (a reload offline needs it).
    page.wait_for_function("navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready")


def _scan(page: Any, code: str) -> None:
    scan = page.get_by_label("Barcode")
    scan.fill(code)
    scan.press("Enter")


def _tender(page: Any, method: str, amount: str, reference: str = "") -> None:
    page.get_by_label("Method").select_option(method)
    page.get_by_label("Amount", exact=True).fill(amount)
    if reference:
        page.get_by_label("Reference", exact=True).fill(reference)
    page.get_by_role("button", name="Add tender").click()


def _pay(page: Any, tenders: list[tuple[str, str, str]]) -> None:
    page.get_by_role("button", name="Pay").click()
    for method, amount, reference in tenders:
        _tender(page, method, amount, reference)
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt")).to_be_visible()


def _queued(page: Any) -> Any:
    return page.get_by_label("Sales queued")


def _sent(page: Any) -> None:
    """Wait until the sale on the receipt has left the till's queue: the server took it."""
    expect(page.locator("#receipt-status")).to_contain_text("Sent to the server")
    expect(_queued(page)).to_have_text("0")


def _session(client: Any, headers: dict[str, str], terminal_id: str) -> dict[str, Any]:
    items = client.get(
        f"{API}/pos/sessions", params={"terminal_id": terminal_id, "state": "open"}, headers=headers
    ).json()["items"]
    assert len(items) == 1
    return items[0]


def _orders(client: Any, headers: dict[str, str], session_id: str) -> list[dict[str, Any]]:
    orders = client.get(f"{API}/orders", params={"channel": "pos", "limit": 100}, headers=headers).json()
    return [o for o in orders["items"] if o["pos_session_id"] == session_id]


def test_a_sale_by_barcode_with_a_split_tender_reaches_the_session(visit, server, till, client, shots):
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    _scan(page, COFFEE_EAN)
    _scan(page, COFFEE_EAN)
    _scan(page, TEA_EAN)
    expect(page.locator("#cart-total")).to_have_text("9.70")
    page.screenshot(path=str(shots / "pos-cart.png"))
    page.get_by_role("button", name="Pay").click()
    _tender(page, "CARD", "5.00", "psp-4711")
    _tender(page, "CASH", "10.00")
    expect(page.locator("#change")).to_have_text("5.30")
    page.screenshot(path=str(shots / "pos-payment.png"))
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt [data-change]")).to_have_text("5.30")
    page.screenshot(path=str(shots / "pos-receipt.png"))
    _sent(page)

    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["sale_count"] == 1
    (order,) = _orders(client, till["manager"], session["id"])
    assert order["gross_total"] == "9.70"
    assert order["change_given"] == "5.30"
    client_uuid = page.locator("#receipt [data-client-uuid]").get_attribute("data-client-uuid")
    assert order["client_uuid"] == client_uuid
    payments = {
        p["payment_method_code"]: p
        for p in client.get(f"{API}/orders/{order['id']}", headers=till["manager"]).json()["payments"]
    }
    assert payments["CARD"]["captured"] == "5.00"
    assert payments["CARD"]["reference"] == "psp-4711"
    assert payments["CASH"]["captured"] == "4.70"
    visit.assert_self_contained()


def test_five_sales_rung_up_offline_survive_a_reload_and_a_lost_answer_and_land_once(
    visit, server, till, client, shots
):
    page = visit.page
    page.set_viewport_size({"width": 768, "height": 1024})
    _start(page, server)
    visit.context.set_offline(True)
    expect(page.locator("#net")).to_have_text("Offline")
    for n in range(5):
        _scan(page, COFFEE_EAN)
        for _ in range(n):
            _scan(page, TEA_EAN)
        _pay(page, [("CASH", "20.00", "")])
        page.get_by_role("button", name="Next sale").click()
    expect(_queued(page)).to_have_text("5")
    assert page.evaluate("document.documentElement.scrollWidth") <= 768  # a tablet held upright
    page.screenshot(path=str(shots / "pos-offline-queue.png"))
    page.reload()
    expect(page.get_by_label("Barcode")).to_be_visible()
    expect(_queued(page)).to_have_text("5")

    # The first batch reaches the server, which takes it, but its answer is lost on the way back.
    lost: list[str] = []

    def lose_the_answer(route: Any) -> None:
        if not lost:
            lost.append(route.request.url)
            route.fetch()  # the server takes the batch...
            route.abort("connectionreset")  # ...and the till never hears it
        else:
            route.continue_()

    page.route("**/sales:batch", lose_the_answer)
    visit.context.set_offline(False)
    expect(_queued(page)).to_have_text("0")
    assert len(lost) == 1

    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["sale_count"] == 5
    orders = _orders(client, till["manager"], session["id"])
    assert len(orders) == 5
    assert sorted(Decimal(o["gross_total"]) for o in orders) == [
        Decimal("3.60") + n * Decimal("2.50") for n in range(5)
    ]
    assert len({o["client_uuid"] for o in orders}) == 5
    visit.failed = [f for f in visit.failed if "sales:batch" not in f]  # the one we cut
    visit.assert_self_contained()


def test_a_refund_of_an_earlier_receipt_pays_out_at_the_original_price(visit, server, till, client, shots):
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    _scan(page, COFFEE_EAN)
    _scan(page, COFFEE_EAN)
    _pay(page, [("CASH", "7.20", "")])
    _sent(page)
    client_uuid = page.locator("#receipt [data-client-uuid]").get_attribute("data-client-uuid")
    number = client.get(f"{API}/pos/receipts/{client_uuid}", headers=till["manager"]).json()["number"]
    expect(page.locator("#receipt-status")).to_have_text(f"Sent to the server: receipt number {number}")
    page.get_by_role("button", name="Next sale").click()

    page.get_by_role("button", name="Refund").click()
    page.get_by_label("Receipt number").fill(number)
    page.get_by_role("button", name="Look up").click()
    page.get_by_label("COFFEE · 2.00 sold · 7.20").fill("1")
    page.get_by_label("Pay out by").select_option("CASH")
    expect(page.locator("#refund-total")).to_have_text("3.60")
    page.screenshot(path=str(shots / "pos-refund.png"))
    page.locator("#refund-complete").click()
    expect(page.locator("#receipt [data-total]")).to_have_text("3.60")
    _sent(page)

    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["expected_cash"] == "103.60"  # 100.00 float + 7.20 sold - 3.60 paid out
    refunds = {(t["kind"], t["key"]): t for t in session["totals"]}
    assert refunds[("tender", "refund:cash|")]["amount"] == "3.60"
    visit.assert_self_contained()


def test_a_discount_above_the_cashiers_limit_needs_a_managers_override(visit, server, till, client, shots):
    policy = client.put(f"{API}/discount-policies", json={"max_percent": "10"}, headers=till["admin"])
    assert policy.status_code == 200, policy.text
    page = visit.page
    page.set_viewport_size({"width": 768, "height": 1024})
    _start(page, server)
    _scan(page, COFFEE_EAN)
    page.get_by_role("button", name="Discount on Coffee").click()
    page.get_by_label("Amount off the line").fill("1.00")
    expect(page.get_by_label("Manager", exact=True)).to_be_visible()
    page.get_by_label("Manager", exact=True).fill("manager1")
    page.get_by_label("Manager's password").fill("not the password")
    page.get_by_label("Reason").fill("dented cup")
    page.get_by_role("button", name="Apply discount").click()
    expect(page.locator("#discount-message")).to_have_text("wrong user name or password")
    page.get_by_label("Manager's password").fill(PASSWORD)
    page.screenshot(path=str(shots / "pos-override.png"))
    page.get_by_role("button", name="Apply discount").click()
    expect(page.locator("#cart-lines")).to_contain_text("approved by manager1")
    expect(page.locator("#cart-total")).to_have_text("2.60")
    _pay(page, [("CASH", "2.60", "")])
    _sent(page)

    session = _session(client, till["manager"], till["terminal"]["id"])
    (order,) = _orders(client, till["manager"], session["id"])
    line = client.get(f"{API}/orders/{order['id']}", headers=till["manager"]).json()["lines"][0]
    assert (line["discount"], line["gross"]) == ("1.00", "2.60")
    (manual,) = [d for d in line["discounts"] if d["source"] == "manual"]
    assert manual["override"] == {"by": "manager1", "reason": "dented cup"}
    visit.assert_self_contained()


def test_a_close_with_a_cash_difference_posts_what_the_screen_showed(visit, server, till, client, shots):
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    _scan(page, COFFEE_EAN)
    _pay(page, [("CASH", "5.00", "")])
    page.get_by_role("button", name="Next sale").click()
    page.get_by_role("button", name="Cash in/out").click()
    page.get_by_label("Direction").select_option("out")
    page.get_by_label("Cash amount").fill("10.00")
    page.get_by_label("Why").fill("to the safe")
    page.get_by_role("button", name="Record").click()
    expect(page.locator("#sell-message")).to_have_text("Cash out: 10.00")
    page.get_by_role("button", name="Close session").click()
    expect(page.locator("#expected-cash")).to_have_text("93.60")  # 100.00 + 3.60 - 10.00
    # Beyond the company's approval threshold (20.00) a cashier may not close: the screen says who can.
    page.get_by_label("Counted Cash").fill("50.00")
    page.get_by_label("Counted Card").fill("0.00")
    page.locator("#close-apply").click()
    expect(page.locator("#close-message")).to_contain_text("A store manager must close this session.")
    page.get_by_label("Counted Cash").fill("93.10")
    page.get_by_label("Counted Card").fill("0.00")
    expect(page.locator("#close-difference")).to_have_text("-0.50")
    page.screenshot(path=str(shots / "pos-close.png"))
    page.locator("#close-apply").click()
    expect(page.locator("#setup-message")).to_contain_text("cash difference -0.50")

    sessions = client.get(
        f"{API}/pos/sessions", params={"terminal_id": till["terminal"]["id"]}, headers=till["manager"]
    ).json()["items"]
    (closed,) = sessions
    assert (closed["state"], closed["cash_difference"]) == ("closed", "-0.50")
    entries = client.get(
        f"{API}/journal-entries", params={"event_id": closed["closing_event_id"]}, headers=till["admin"]
    ).json()["items"]
    (entry,) = entries
    short = [line for line in entry["lines"] if line["account_code"] == "7000"]
    assert [(line["debit"], line["credit"]) for line in short] == [("0.50", "0.00")]
    visit.assert_self_contained()


def test_online_the_screen_takes_the_promotions_of_the_one_pricing_function(
    visit, server, till, client, runtime
):
    with transaction(runtime.session_factory) as session:
        row = PromotionRow(
            company_id=uuid.UUID(till["store"]["company_id"]),
            code="TEA10",
            name="Tea 10 % off",
            kind="percent_off",
            rule={"percent": "10", "product_ids": [till["products"]["TEA"]["id"]]},
            state="approved",
            created_by="test",
        )
        session.add(row)
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    expect(page.locator("#promotions")).to_contain_text("Tea 10 % off")
    _scan(page, TEA_EAN)
    _scan(page, TEA_EAN)
    expect(page.locator("#cart-total")).to_have_text("5.00")  # the snapshot's list price
    page.get_by_role("button", name="Pay").click()
    expect(page.locator("#due")).to_have_text("4.50")  # the quote's promotion
    _tender(page, "CASH", "4.50")
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt [data-total]")).to_have_text("4.50")
    _sent(page)

    session = _session(client, till["manager"], till["terminal"]["id"])
    (order,) = _orders(client, till["manager"], session["id"])
    line = client.get(f"{API}/orders/{order['id']}", headers=till["manager"]).json()["lines"][0]
    assert (line["gross"], line["discount"]) == ("4.50", "0.50")
    assert [(d["source"], d["code"], d["amount"]) for d in line["discounts"]] == [
        ("promotion", "TEA10", "0.50")
    ]
    visit.assert_self_contained()


def test_offline_the_screen_gives_the_promotions_the_servers_check_then_agrees_with(
    visit, server, till, client, runtime, shots
):
    with transaction(runtime.session_factory) as session:
        session.add(
            PromotionRow(
                company_id=uuid.UUID(till["store"]["company_id"]),
                code="TEA3FOR2",
                name="3 teas for the price of 2",
                kind="buy_x_get_y",
                rule={
                    "buy_quantity": "2",
                    "get_quantity": "1",
                    "product_ids": [till["products"]["TEA"]["id"]],
                },
                state="approved",
                created_by="test",
            )
        )
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    expect(page.locator("#promotions")).to_contain_text("3 teas for the price of 2")
    visit.context.set_offline(True)
    expect(page.locator("#net")).to_have_text("Offline")
    for _ in range(3):
        _scan(page, TEA_EAN)
    _scan(page, COFFEE_EAN)
    expect(page.locator("#cart-total")).to_have_text("11.10")  # the snapshot's list prices
    page.get_by_role("button", name="Pay").click()
    expect(page.locator("#due")).to_have_text("8.60")  # the third tea free, by the mirror
    _tender(page, "CASH", "10.00")
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt [data-total]")).to_have_text("8.60")
    expect(page.locator("#receipt")).to_contain_text("3 \N{MULTIPLICATION SIGN} Tea (\N{MINUS SIGN}2.50)")
    expect(page.locator("#receipt [data-change]")).to_have_text("1.40")
    page.screenshot(path=str(shots / "pos-offline-promotion.png"))
    expect(_queued(page)).to_have_text("1")
    visit.context.set_offline(False)
    _sent(page)

    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["sale_count"] == 1
    (order,) = _orders(client, till["manager"], session["id"])
    assert order["gross_total"] == "8.60"
    lines = {
        line["product_id"]: line
        for line in client.get(f"{API}/orders/{order['id']}", headers=till["manager"]).json()["lines"]
    }
    tea = lines[till["products"]["TEA"]["id"]]
    assert (tea["gross"], tea["discount"]) == ("5.00", "2.50")
    assert [(d["source"], d["code"], d["amount"]) for d in tea["discounts"]] == [
        ("promotion", "TEA3FOR2", "2.50")
    ]
    assert lines[till["products"]["COFFEE"]["id"]]["discounts"] == []
    with runtime.session_factory() as read:
        assert read.scalars(select(ExceptionCase).where(ExceptionCase.type == "pricing_mismatch")).all() == []
    visit.assert_self_contained()


def test_a_customer_pays_by_gift_card_store_credit_and_cash(visit, server, till, client, shots):
    admin = till["admin"]
    company_id = till["store"]["company_id"]
    for code, kind in (("GIFT", "gift_card"), ("CREDIT", "store_credit")):
        body = {"company_id": company_id, "code": code, "name": code.title(), "kind": kind}
        assert client.post(f"{API}/payment-methods", json=body, headers=admin).status_code == 201
    dana = client.post(
        f"{API}/customers",
        json={"company_id": company_id, "code": "DANA", "name": "Dana Smith"},
        headers=admin,
    ).json()
    credit = {"company_id": company_id, "customer_id": dana["id"], "amount": "5.00", "reason": "goodwill"}
    assert client.post(f"{API}/store-credits", json=credit, headers=admin).status_code == 201
    card = client.post(f"{API}/gift-cards", json={"company_id": company_id, "amount": "3.00"}, headers=admin)
    assert card.status_code == 201, card.text
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    for _ in range(3):
        _scan(page, COFFEE_EAN)
    expect(page.locator("#cart-total")).to_have_text("10.80")
    page.get_by_label("Customer").fill("Dana")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#customer-chosen")).to_have_text("Customer: Dana Smith (DANA)")
    page.get_by_role("button", name="Pay").click()
    _tender(page, "GIFT", "3.00", card.json()["code"])
    _tender(page, "CREDIT", "5.00")
    _tender(page, "CASH", "5.00")
    expect(page.locator("#change")).to_have_text("2.20")
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt [data-change]")).to_have_text("2.20")
    _sent(page)

    session = _session(client, till["manager"], till["terminal"]["id"])
    (order,) = _orders(client, till["manager"], session["id"])
    read = client.get(f"{API}/orders/{order['id']}", headers=till["manager"]).json()
    assert read["customer_id"] == dana["id"]
    paid = {p["payment_method_code"]: p["captured"] for p in read["payments"]}
    assert paid == {"GIFT": "3.00", "CREDIT": "5.00", "CASH": "2.80"}
    visit.assert_self_contained()


def test_a_sale_the_server_refuses_is_set_aside_and_the_others_still_sync(visit, server, till, client, shots):
    body = {
        "company_id": till["store"]["company_id"],
        "code": "GIFT",
        "name": "Gift card",
        "kind": "gift_card",
    }
    assert client.post(f"{API}/payment-methods", json=body, headers=till["admin"]).status_code == 201
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    visit.context.set_offline(True)
    expect(page.locator("#net")).to_have_text("Offline")
    _scan(page, COFFEE_EAN)
    _pay(page, [("GIFT", "3.60", "NO-SUCH-CARD-1")])  # no such card: the server will refuse it
    page.get_by_role("button", name="Next sale").click()
    _scan(page, TEA_EAN)
    _pay(page, [("CASH", "2.50", "")])
    expect(_queued(page)).to_have_text("2")
    visit.context.set_offline(False)
    expect(_queued(page)).to_have_text("0")
    expect(page.locator("#rejected-count")).to_have_text("1")
    page.locator("#rejected").click()
    expect(page.locator("#rejected-list")).to_contain_text("sales.0.payments.0.reference")
    page.screenshot(path=str(shots / "pos-refused.png"))

    session = _session(client, till["manager"], till["terminal"]["id"])
    (order,) = _orders(client, till["manager"], session["id"])
    assert order["gross_total"] == "2.50"
    visit.failed = []  # the refused batch's 422 is an answer, not a failed request
    visit.assert_self_contained()


def _sell_and_look_up(
    page: Any, client: Any, till: dict[str, Any], tenders: list[tuple[str, str, str]]
) -> str:
    """Pay the cart with ``tenders``, wait until the server has it: its receipt number."""
    _pay(page, tenders)
    _sent(page)
    client_uuid = page.locator("#receipt [data-client-uuid]").get_attribute("data-client-uuid")
    number = client.get(f"{API}/pos/receipts/{client_uuid}", headers=till["manager"]).json()["number"]
    page.get_by_role("button", name="Next sale").click()
    return number


def _take_back(page: Any, number: str, label: str) -> None:
    page.get_by_role("button", name="Exchange").click()
    page.get_by_label("Receipt to exchange from").fill(number)
    page.get_by_role("button", name="Find receipt").click()
    page.get_by_label(label).fill("1")
    page.get_by_role("button", name="Take back, then add new items").click()


def _add_by_search(page: Any, name: str) -> None:
    page.get_by_label("Search").fill(name)
    page.locator(f"#results button[data-sku='{name.upper()}']").click()


def _exchange_read(client: Any, till: dict[str, Any], client_uuid: str) -> tuple[dict, dict]:
    """The exchange's two halves as the server holds them: its order (the new goods) and its return
    (the goods taken back, numbered by the ticket's client uuid)."""
    headers = till["manager"]
    order = client.get(f"{API}/pos/receipts/{client_uuid}", headers=headers).json()
    returns = client.get(f"{API}/returns", params={"channel": "pos"}, headers=headers).json()["items"]
    (back,) = [r for r in returns if r["number"] == uuid.UUID(client_uuid).hex]
    return order, client.get(f"{API}/returns/{back['id']}", headers=headers).json()


def _moves(client: Any, till: dict[str, Any], sku: str) -> list[tuple[str, str]]:
    product_id = till["products"][sku]["id"]
    moves = client.get(
        f"{API}/stock/moves", params={"product_id": product_id, "limit": 50}, headers=till["admin"]
    ).json()["items"]
    return sorted((m["kind"], m["quantity"]) for m in moves)


def test_an_exchange_for_a_dearer_item_takes_the_difference_split_cash_and_card(
    visit, server, till, client, shots
):
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    _scan(page, COFFEE_EAN)
    _scan(page, TEA_EAN)
    number = _sell_and_look_up(page, client, till, [("CASH", "6.10", "")])
    original = client.get(f"{API}/pos/receipts/{number}", headers=till["manager"]).json()
    (tea_line,) = [line for line in original["lines"] if line["sku"] == "TEA"]

    _take_back(page, number, "Take back TEA · 1.00 sold · 2.50")
    expect(page.locator("#cart-lines tr.back")).to_contain_text("-2.50")
    _add_by_search(page, "Cake")
    expect(page.locator("#cart-total")).to_have_text("2.30")  # 4.80 new less 2.50 back
    page.screenshot(path=str(shots / "pos-exchange.png"))
    page.get_by_role("button", name="Pay").click()
    expect(page.locator("#due")).to_have_text("2.30")
    _tender(page, "CASH", "1.00")
    _tender(page, "CARD", "1.30", "psp-4712")
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt")).to_contain_text("Taken back (receipt")
    expect(page.locator("#receipt [data-back]")).to_contain_text("TEA")
    expect(page.locator("#receipt [data-back]")).to_contain_text("-2.50")
    expect(page.locator("#receipt [data-total]")).to_have_text("2.30")
    page.screenshot(path=str(shots / "pos-exchange-receipt.png"))
    _sent(page)

    client_uuid = page.locator("#receipt [data-client-uuid]").get_attribute("data-client-uuid")
    order, back = _exchange_read(client, till, client_uuid)
    assert [(line["sku"], line["quantity"], line["gross"]) for line in order["lines"]] == [
        ("CAKE", "1.00", "4.80")
    ]
    paid = sorted((p["kind"], p["payment_method_code"], p["captured"]) for p in order["payments"])
    assert paid == [("card", "CARD", "1.30"), ("cash", "CASH", "1.00"), ("exchange", None, "2.50")]
    assert [(line["order_line_id"], line["sku"]) for line in back["lines"]] == [(tea_line["id"], "TEA")]
    assert (back["order_id"], back["refunded_total"]) == (original["id"], "2.50")
    assert _moves(client, till, "TEA") == [("customer_return", "1.00"), ("delivery", "1.00")]
    assert _moves(client, till, "CAKE") == [("delivery", "1.00")]
    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["expected_cash"] == "107.10"  # 100.00 float + 6.10 + the 1.00 cash of the difference
    visit.assert_self_contained()


def test_an_exchange_for_a_cheaper_item_pays_the_difference_back(visit, server, till, client, shots):
    page = visit.page
    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet held upright
    _start(page, server)
    _scan(page, COFFEE_EAN)
    _add_by_search(page, "Cake")
    number = _sell_and_look_up(page, client, till, [("CASH", "8.40", "")])

    _take_back(page, number, "Take back CAKE · 1.00 sold · 4.80")
    _scan(page, TEA_EAN)
    expect(page.locator("#cart-total-label")).to_have_text("To pay back")
    expect(page.locator("#cart-total")).to_have_text("2.30")  # 4.80 back less 2.50 new
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    page.screenshot(path=str(shots / "pos-exchange-pay-back.png"))
    page.get_by_role("button", name="Pay").click()
    expect(page.locator("#due-label")).to_have_text("To pay back")
    _tender(page, "CASH", "2.30")
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt [data-total]")).to_have_text("2.30")
    expect(page.locator("#receipt")).to_contain_text("Paid back")
    _sent(page)

    client_uuid = page.locator("#receipt [data-client-uuid]").get_attribute("data-client-uuid")
    order, back = _exchange_read(client, till, client_uuid)
    assert [(line["sku"], line["gross"]) for line in order["lines"]] == [("TEA", "2.50")]
    assert [(p["kind"], p["captured"]) for p in order["payments"]] == [("exchange", "2.50")]
    assert [line["sku"] for line in back["lines"]] == ["CAKE"]
    assert back["refunded_total"] == "4.80"
    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["expected_cash"] == "106.10"  # 100.00 float + 8.40 sold - 2.30 paid back
    totals = {(t["kind"], t["key"]): t for t in session["totals"]}
    assert totals[("tender", "refund:cash|")]["amount"] == "2.30"
    assert totals[("tender", "refund:exchange|")]["amount"] == "2.50"
    assert _moves(client, till, "CAKE") == [("customer_return", "1.00"), ("delivery", "1.00")]
    visit.assert_self_contained()


def test_signing_out_waits_for_the_queue_then_revokes_the_till_token(visit, server, till, client):
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    token = page.evaluate("window.pos.state.token.token")
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/pos/terminals", headers=bearer).status_code == 200
    visit.context.set_offline(True)
    expect(page.locator("#net")).to_have_text("Offline")
    _scan(page, COFFEE_EAN)
    _pay(page, [("CASH", "3.60", "")])
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signout-message")).to_contain_text("1 sale(s) still queued on this till")
    assert client.get(f"{API}/pos/terminals", headers=bearer).status_code == 200  # still valid

    visit.context.set_offline(False)
    page.get_by_role("button", name="Back").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server}/login?next=%2Fpos")
    refused = client.get(f"{API}/pos/terminals", headers=bearer)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid-token")
    session = _session(client, till["manager"], till["terminal"]["id"])
    assert session["sale_count"] == 1  # synced before the token went
    visit.assert_self_contained()


def test_a_printed_gift_card_is_sold_with_a_coffee_and_paid_in_cash(visit, server, till, client, shots):
    body = {
        "company_id": till["store"]["company_id"],
        "code": "GIFT",
        "name": "Gift card",
        "kind": "gift_card",
    }
    assert client.post(f"{API}/payment-methods", json=body, headers=till["admin"]).status_code == 201
    page = visit.page
    page.set_viewport_size({"width": 1024, "height": 768})
    _start(page, server)
    _scan(page, COFFEE_EAN)
    page.get_by_role("button", name="Gift card").click()
    page.get_by_label("Card amount").fill("20.00")
    page.get_by_label("Printed code").fill("PHYS")
    page.get_by_role("button", name="Add the card").click()
    expect(page.locator("#gift-card-message")).to_contain_text("printed code")
    page.get_by_label("Printed code").fill("PHYS-0000-ABCD-7788")
    page.get_by_role("button", name="Add the card").click()
    expect(page.locator("#cart-lines [data-gift-card]")).to_contain_text("20.00")
    expect(page.locator("#cart-total")).to_have_text("23.60")  # 3.60 of coffee + the card's 20.00
    page.screenshot(path=str(shots / "pos-gift-card.png"))
    page.get_by_role("button", name="Pay").click()
    _tender(page, "GIFT", "5.00", "SOME-OTHER-CARD-1")  # beyond the goods: refused on the screen
    expect(page.locator("#pay-message")).to_contain_text("A gift card never pays a gift card")
    _tender(page, "CASH", "30.00")
    expect(page.locator("#change")).to_have_text("6.40")
    page.get_by_role("button", name="Complete sale").click()
    expect(page.locator("#receipt")).to_contain_text("Gift card ending 7788")
    expect(page.locator("#receipt")).not_to_contain_text("PHYS-0000-ABCD")  # the code is the card's secret
    expect(page.locator("#receipt [data-change]")).to_have_text("6.40")
    _sent(page)

    card = client.get(f"{API}/gift-cards/PHYS-0000-ABCD-7788", headers=till["admin"])
    assert card.status_code == 200, card.text
    assert (card.json()["balance"], card.json()["origin"], card.json()["last4"]) == ("20.00", "sold", "7788")
    session = _session(client, till["manager"], till["terminal"]["id"])
    (order,) = _orders(client, till["manager"], session["id"])
    assert (order["gross_total"], order["change_given"]) == ("3.60", "6.40")  # the card is no order line
    totals = {(t["kind"], t["key"]): t for t in session["totals"]}
    assert totals[("gift_cards", "")]["amount"] == "20.00"
    assert session["expected_cash"] == "123.60"  # 100.00 float + 3.60 + 20.00
    visit.assert_self_contained()
