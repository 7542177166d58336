"""The POS screen's reads and routes (docs/pos.md#the-pos-screen): a terminal's catalogue snapshot, a
receipt looked up by number or client_uuid, the screen's till token and the manager's check."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from pricing_mirror import run
from retailcore.access.users import create_user
from retailcore.adapters.db import transaction
from retailcore.monitoring.tables import ExceptionCase
from retailcore.pos.till import PRICING_VERSION
from retailcore.promotions.tables import PromotionRow
from webtools import API, PASSWORD, sign_in

VAT_20 = {"code": "VAT20", "name": "VAT 20%", "rate_percent": "20"}


@pytest.fixture
def till(runtime, client, admin, auth, company, store_factory) -> dict[str, Any]:
    """S1 with till T1 and S2 with T2; COFFEE (3.60, barcode, a pos price list at 3.20 in S1), TEA
    (2.50) and the not-at-the-till GIFTBOX; a cashier's limit of 10 %; users cashier1 and manager1 of
    S1, cashier2 of S2."""
    s1, s2 = store_factory("S1"), store_factory("S2")
    for path, body in (
        ("tax-rules", {"jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}),
        ("payment-methods", {"code": "CASH", "name": "Cash", "kind": "cash"}),
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "adyen"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    products = {}
    for sku, price, barcodes, at_till in (
        ("COFFEE", "3.60", ["4006381333931"], True),
        ("TEA", "2.50", [], True),
        ("GIFTBOX", "30.00", [], False),
    ):
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": sku.title(),
            "category": "Drinks",
            "list_price": price,
            "cost_method": "average",
            "barcodes": barcodes,
            "channels": ["pos", "web"] if at_till else ["web"],
        }
        response = client.post(f"{API}/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        products[sku] = response.json()
    listed = client.post(
        f"{API}/price-lists",
        json={
            "company_id": company["id"],
            "code": "S1POS",
            "name": "S1 till",
            "currency": "EUR",
            "channel": "pos",
            "store_id": s1["id"],
            "items": [{"product_id": products["COFFEE"]["id"], "unit_price": "3.20"}],
        },
        headers=admin,
    )
    assert listed.status_code == 201, listed.text
    policy = client.put(
        f"{API}/discount-policies", json={"company_id": company["id"], "max_percent": "10"}, headers=admin
    )
    assert policy.status_code == 200, policy.text
    manager = auth("store_manager", company="ACME", store="S1")
    terminals = {}
    for store, code in ((s1, "T1"), (s2, "T2")):
        response = client.post(
            f"{API}/pos/terminals",
            json={"store_id": store["id"], "code": code, "name": "Till"},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        terminals[code] = response.json()
    with transaction(runtime.session_factory) as session:
        create_user(session, "cashier1", PASSWORD, "cashier", company="ACME", store="S1")
        create_user(session, "manager1", PASSWORD, "store_manager", company="ACME", store="S1")
        create_user(session, "cashier2", PASSWORD, "cashier", company="ACME", store="S2")
    return {
        "products": products,
        "terminals": terminals,
        "S1": s1,
        "S2": s2,
        "manager": manager,
        "cashier": auth("cashier", company="ACME", store="S1"),
        "cashier2": auth("cashier", company="ACME", store="S2"),
    }


def test_the_catalogue_has_the_tills_products_prices_taxes_and_tenders(client, till):
    response = client.get(
        f"{API}/pos/terminals/{till['terminals']['T1']['id']}/catalogue", headers=till["cashier"]
    )

    assert response.status_code == 200, response.text
    catalogue = response.json()
    assert (catalogue["terminal_code"], catalogue["store_code"], catalogue["currency"]) == ("T1", "S1", "EUR")
    assert catalogue["minor_unit"] == 2
    products = {p["sku"]: p for p in catalogue["products"]}
    assert set(products) == {"COFFEE", "TEA"}  # GIFTBOX is not sold at the till
    assert (products["COFFEE"]["price"], products["COFFEE"]["price_source"]) == ("3.20", "price_list:S1POS")
    assert (products["TEA"]["price"], products["TEA"]["price_source"]) == ("2.50", "list_price")
    assert products["COFFEE"]["barcodes"] == ["4006381333931"]
    assert catalogue["taxes"]["standard"] == [
        {"code": "VAT20", "rate_percent": "20.00", "price_included": True, "kind": "percent"}
    ]
    assert [(m["code"], m["kind"]) for m in catalogue["payment_methods"]] == [
        ("CARD", "card"),
        ("CASH", "cash"),
    ]
    assert catalogue["discount_limit"] == {"max_percent": "10.00", "max_amount": None}
    assert catalogue["cash_rounding"] is None


def test_a_managers_catalogue_has_no_limit_and_another_stores_terminal_is_not_found(client, till):
    mine = client.get(
        f"{API}/pos/terminals/{till['terminals']['T1']['id']}/catalogue", headers=till["manager"]
    )
    assert mine.status_code == 200
    assert mine.json()["discount_limit"] is None
    # S2's price list does not apply: the list price
    other = client.get(
        f"{API}/pos/terminals/{till['terminals']['T2']['id']}/catalogue", headers=till["cashier2"]
    )
    assert {p["sku"]: p["price"] for p in other.json()["products"]}["COFFEE"] == "3.60"

    refused = client.get(
        f"{API}/pos/terminals/{till['terminals']['T2']['id']}/catalogue", headers=till["cashier"]
    )
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_receipt_is_found_by_its_number_and_by_its_client_uuid(client, till):
    opened = client.post(
        f"{API}/pos/sessions", json={"terminal_id": till["terminals"]["T1"]["id"]}, headers=till["cashier"]
    ).json()
    client_uuid = str(uuid.uuid4())
    sale = {
        "client_uuid": client_uuid,
        "sold_at": "2026-12-07T10:00:00Z",
        "lines": [{"product_id": till["products"]["COFFEE"]["id"], "quantity": "2", "unit_price": "3.20"}],
        "payments": [{"payment_method_code": "CASH", "amount": "6.40"}],
    }
    taken = client.post(
        f"{API}/pos/sessions/{opened['id']}/sales:batch", json={"sales": [sale]}, headers=till["cashier"]
    )
    assert taken.status_code == 200, taken.text

    by_uuid = client.get(f"{API}/pos/receipts/{client_uuid}", headers=till["cashier"])
    assert by_uuid.status_code == 200, by_uuid.text
    number = by_uuid.json()["number"]
    assert number.startswith("T1-")
    by_number = client.get(f"{API}/pos/receipts/{number}", headers=till["cashier"]).json()
    assert (by_number["client_uuid"], by_number["gross_total"]) == (client_uuid, "6.40")
    assert [(line["quantity"], line["gross"]) for line in by_number["lines"]] == [("2.00", "6.40")]

    assert client.get(f"{API}/pos/receipts/T1-9999-99999", headers=till["cashier"]).status_code == 404
    # another store's cashier does not see it
    assert client.get(f"{API}/pos/receipts/{number}", headers=till["cashier2"]).status_code == 404


def _signed_in(client: Any, username: str) -> str:
    assert sign_in(client, username).status_code == 303
    page = client.get("/pos")
    assert page.status_code == 200
    found = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    return found


def test_the_screen_needs_a_sign_in_and_its_till_token_is_the_users(client, till):
    response = client.get("/pos", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=%2Fpos")
    csrf = _signed_in(client, "cashier1")

    refused = client.post("/pos/till-token", json={})
    assert refused.status_code == 403
    issued = client.post("/pos/till-token", json={}, headers={"X-CSRF-Token": csrf})
    assert issued.status_code == 200, issued.text
    token = issued.json()
    assert (token["user"], token["role"], token["store_id"]) == ("cashier1", "cashier", till["S1"]["id"])
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert client.get(f"{API}/pos/terminals", headers=bearer).json()["items"][0]["code"] == "T1"
    # the token has the cashier's rights, no more
    assert (
        client.post(
            f"{API}/pos/terminals", json={"store_id": "S1", "code": "T9", "name": "x"}, headers=bearer
        ).status_code
        == 403
    )

    worker = client.get("/pos/sw.js")
    assert worker.headers["service-worker-allowed"] == "/pos"
    assert "caches.open" in worker.text


def test_a_managers_check_needs_the_right_password_and_a_manager(client, till):
    csrf = _signed_in(client, "cashier1")
    headers = {"X-CSRF-Token": csrf}
    store_id = till["S1"]["id"]

    ok = client.post(
        "/pos/manager-check",
        json={"username": "manager1", "password": PASSWORD, "store_id": store_id},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["by"] == "manager1"

    wrong = client.post(
        "/pos/manager-check",
        json={"username": "manager1", "password": "nope", "store_id": store_id},
        headers=headers,
    )
    assert wrong.status_code == 403
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["errors"][0]["field"] == "username"

    cashier = client.post(
        "/pos/manager-check",
        json={"username": "cashier2", "password": PASSWORD, "store_id": store_id},
        headers=headers,
    )
    assert cashier.status_code == 403
    assert "only a store manager" in cashier.json()["detail"]

    bad = client.post(
        "/pos/manager-check",
        json={"username": "manager1", "password": PASSWORD, "store_id": "S1"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "store_id"

    no_csrf = client.post(
        "/pos/manager-check", json={"username": "manager1", "password": PASSWORD, "store_id": store_id}
    )
    assert no_csrf.status_code == 403


def _promotions(runtime, company_id: str, s2: str, products: dict[str, Any]) -> None:
    """Promotions of several kinds and stacking modes in force for S1's till, and some that are not."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    coffee, tea = products["COFFEE"]["id"], products["TEA"]["id"]
    rows = [
        ("TEA10", "percent_off", "stackable", 0, {"percent": "10", "product_ids": [tea]}, {}),
        (
            "COFFEE3X2",
            "buy_x_get_y",
            "stackable",
            1,
            {"buy_quantity": "2", "get_quantity": "1", "product_ids": [coffee]},
            {},
        ),
        (
            "DRINKS3",
            "mix_and_match",
            "best",
            0,
            {"buy_quantity": "3", "bundle_price": "7.00", "categories": ["Drinks"]},
            {},
        ),
        (
            "BIG",
            "tiered_spend",
            "exclusive",
            0,
            {"tiers": [{"threshold": "30", "percent": "15"}], "categories": ["Drinks"]},
            {},
        ),
        (
            "NIGHT",
            "amount_off",
            "stackable",
            0,
            {"amount": "0.05", "product_ids": [tea]},
            {"windows": [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "22:00", "end": "21:59"}]},
        ),
        (
            "LATER",
            "percent_off",
            "stackable",
            0,
            {"percent": "50"},
            {"starts_at": now + dt.timedelta(days=30)},
        ),
        ("OVER", "percent_off", "stackable", 0, {"percent": "50"}, {"ends_at": now - dt.timedelta(days=30)}),
        ("WEB", "percent_off", "stackable", 0, {"percent": "50"}, {"channels": ["web"]}),
        ("S2ONLY", "percent_off", "stackable", 0, {"percent": "50"}, {"store_ids": [s2]}),
    ]
    with transaction(runtime.session_factory) as session:
        for code, kind, stacking, priority, rule, extra in rows:
            session.add(
                PromotionRow(
                    company_id=uuid.UUID(company_id),
                    code=code,
                    name=code,
                    kind=kind,
                    stacking=stacking,
                    priority=priority,
                    rule=rule,
                    state="approved",
                    created_by="test",
                    **extra,
                )
            )


def test_the_catalogues_promotion_rules_price_sales_the_way_the_server_checks_them(client, runtime, till):
    """The catalogue's ``pricing`` carries the rules of the promotions the till may give (not the web's,
    another store's or ended ones; a later one, yes: the mirror checks the time); the screen's mirror
    prices sales from it, and the server's check of the batch agrees with every line: no
    ``pricing_mismatch``, and the orders record the same discounts (decision 0082)."""
    products = till["products"]
    _promotions(runtime, till["S1"]["company_id"], till["S2"]["id"], products)
    catalogue = client.get(
        f"{API}/pos/terminals/{till['terminals']['T1']['id']}/catalogue", headers=till["cashier"]
    ).json()
    pricing = catalogue["pricing"]
    assert (pricing["version"], pricing["timezone"]) == (PRICING_VERSION, till["S1"]["timezone"])
    assert [p["code"] for p in pricing["promotions"]] == [
        "COFFEE3X2",
        "BIG",
        "DRINKS3",
        "LATER",
        "NIGHT",
        "TEA10",
    ]
    big = next(p for p in pricing["promotions"] if p["code"] == "BIG")
    assert (big["kind"], big["stacking"], big["target"]["categories"]) == (
        "tiered_spend",
        "exclusive",
        ["Drinks"],
    )
    assert big["tiers"] == [{"threshold": "30.00", "percent": "15.00", "amount": None}]

    by_sku = {p["sku"]: p for p in catalogue["products"]}
    carts = [
        [("TEA", "2")],
        [("COFFEE", "3")],
        [("COFFEE", "2"), ("TEA", "1")],
        [("TEA", "3"), ("COFFEE", "1"), ("TEA", "2")],
        [("COFFEE", "9"), ("TEA", "4")],  # over 30.00: the exclusive tier may win
        [("COFFEE", "1")],
    ]
    sold_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    lines_of = [
        [
            {
                "product_id": by_sku[sku]["id"],
                "category": by_sku[sku]["category"],
                "quantity": quantity,
                "unit_price": by_sku[sku]["price"],
                "discount": "0.00",
            }
            for sku, quantity in cart
        ]
        for cart in carts
    ]
    mirrored = run(
        [{"op": "sale", "catalogue": catalogue, "lines": lines, "soldAt": sold_at} for lines in lines_of]
    )
    assert all(found is not None for found in mirrored)
    assert any(d for found in mirrored for line in found for d in line)  # promotions did apply

    opened = client.post(
        f"{API}/pos/sessions", json={"terminal_id": till["terminals"]["T1"]["id"]}, headers=till["cashier"]
    ).json()
    sales = [
        {
            "client_uuid": str(uuid.uuid4()),
            "sold_at": sold_at,
            "lines": [
                {
                    "product_id": line["product_id"],
                    "quantity": line["quantity"],
                    "unit_price": line["unit_price"],
                    **({"discounts": found[n]} if found[n] else {}),
                }
                for n, line in enumerate(lines)
            ],
            "payments": [{"payment_method_code": "CASH", "amount": "100.00"}],
        }
        for lines, found in zip(lines_of, mirrored, strict=True)
    ]
    taken = client.post(
        f"{API}/pos/sessions/{opened['id']}/sales:batch", json={"sales": sales}, headers=till["cashier"]
    )
    assert taken.status_code == 200, taken.text

    with runtime.session_factory() as session:
        assert (
            session.scalars(select(ExceptionCase).where(ExceptionCase.type == "pricing_mismatch")).all() == []
        )
    for sale, found in zip(sales, mirrored, strict=True):
        order = client.get(f"{API}/pos/receipts/{sale['client_uuid']}", headers=till["cashier"]).json()
        recorded = [
            [(d["source"], d["code"], d["amount"]) for d in line["discounts"] if d["source"] != "manual"]
            for line in order["lines"]
        ]
        assert recorded == [[(d["source"], d["code"], d["amount"]) for d in line] for line in found]


def test_signing_out_revokes_the_till_token_and_ends_the_web_session(client, till, admin):
    csrf = _signed_in(client, "cashier1")
    token = client.post("/pos/till-token", json={}, headers={"X-CSRF-Token": csrf}).json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert client.get(f"{API}/pos/terminals", headers=bearer).status_code == 200

    assert client.post("/pos/sign-out").status_code == 401  # no token named: nothing revoked
    assert client.get(f"{API}/pos/terminals", headers=bearer).status_code == 200
    # An API token is not revoked by signing out of a till: the tokens API does that.
    other = client.post("/pos/sign-out", headers=till["cashier"])
    assert (other.status_code, other.json()["code"]) == (403, "not-a-till-token")
    assert client.get(f"{API}/pos/terminals", headers=till["cashier"]).status_code == 200

    signed_out = client.post("/pos/sign-out", headers=bearer)
    assert signed_out.status_code == 204, signed_out.text
    refused = client.get(f"{API}/pos/terminals", headers=bearer)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid-token")
    assert client.get("/pos", follow_redirects=False).status_code == 303  # the cookie is gone
    # The revocation is the access context's: listed as revoked, by the till token itself, with its event.
    (row,) = [
        t
        for t in client.get(f"{API}/tokens", params={"state": "revoked"}, headers=admin).json()["items"]
        if t["name"] == "till:cashier1"
    ]
    assert row["revoked_by"] == "token:till:cashier1"
    again = client.post("/pos/sign-out", headers=bearer)
    assert (again.status_code, again.json()["code"]) == (401, "invalid-token")
