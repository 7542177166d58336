"""Anomaly detection on discounts and returns (issue 22, decision 0075), end to end on a small shop made
through the API: a cashier who discounts deep, a store whose cashier takes no-receipt refunds in cash,
and ordinary cashiers; scans through the API and the CLI, alerts as exceptions (once)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.entrypoints.cli.main import app as cli_app
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location
from retailcore.monitoring.tables import ExceptionCase

D = Decimal
STORES = ("S1", "S2", "S3", "S4")
TODAY = dt.datetime.now(dt.UTC).date()
WINDOW = {
    "from": (TODAY - dt.timedelta(days=1)).isoformat(),
    "to": (TODAY + dt.timedelta(days=1)).isoformat(),
}


def _now() -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()


def _sale(product_id: str, discount: str = "0") -> dict:
    paid = D("20.00") - D(discount)
    line = {"product_id": product_id, "quantity": 2, "unit_price": "10.00"}
    if D(discount):
        line["discount"] = discount
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [line],
        "payments": [{"payment_method_code": "CASH", "amount": str(paid)}],
    }


def _no_receipt_refund(product_id: str) -> dict:
    return {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [{"product_id": product_id, "quantity": "-4", "unit_price": "10.00", "reason": "other"}],
        "payments": [{"payment_method_code": "CASH", "amount": "40.00"}],
    }


@pytest.fixture
def shop(runtime, client, admin, auth, company, store_factory, product_factory):
    """S1's cashier discounts 40 % of every line; S4's cashier also refunds six times without a
    receipt, in cash; S2 and S3 sell as usual."""
    stores = {code: store_factory(code) for code in STORES}
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
        (
            "return-policy",
            {"no_receipt_allowed": True, "no_receipt_roles": ["cashier"], "cash_refunds_allowed": True},
        ),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code in (200, 201), response.text
    product = product_factory("MUG", category="Kitchen", list_price="10.00", cost_method="average")
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        stocks = session.scalars(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "stock")
        ).all()
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[MoveLine(uuid.UUID(product["id"]), D(50), supplier, stock, D("4.00")) for stock in stocks],
            date=TODAY - dt.timedelta(days=2),
        )
    for code, store in stores.items():
        manager = auth("store_manager", company="ACME", store=code)
        cashier = auth("cashier", company="ACME", store=code)
        terminal = client.post(
            f"{API}/pos/terminals",
            json={"store_id": store["id"], "code": f"T{code}", "name": f"Till {code}"},
            headers=manager,
        ).json()
        session = client.post(
            f"{API}/pos/sessions",
            json={"terminal_id": terminal["id"], "opening_float": "100.00"},
            headers=cashier,
        ).json()
        sales = [_sale(product["id"], "8.00" if code == "S1" else "0") for _ in range(4)]
        if code == "S4":
            sales += [_no_receipt_refund(product["id"]) for _ in range(6)]
        response = client.post(
            f"{API}/pos/sessions/{session['id']}/sales:batch", json={"sales": sales}, headers=cashier
        )
        assert response.status_code == 200, response.text
    return {"company": company, "stores": stores, "runtime": runtime}


def _scan(client, admin, **body):
    return client.post(f"{API}/anomalies/scans", json={"company": "ACME", **WINDOW, **body}, headers=admin)


def test_the_deep_discounter_and_the_refunding_store_are_flagged_and_explained(client, admin, shop):
    scan = _scan(client, admin)
    assert scan.status_code == 201, scan.text
    assert scan.json()["from"] == WINDOW["from"] and scan.json()["rows"] >= 8

    items = client.get(f"{API}/anomalies", headers=admin).json()["items"]
    by_subject = {(item["store_code"], item["cashier"] is None): item for item in items}
    discounter = by_subject[("S1", False)]
    assert discounter["kind"] == "discount_anomaly"
    assert discounter["explanation"][0]["feature"] == "discount_rate"
    assert discounter["explanation"][0]["value"] == "0.4000"
    assert D(discounter["explanation"][0]["z"]) >= 8  # decimal strings, as every stored figure
    assert D(discounter["features"]["z"]["discount_rate"]) == D(discounter["explanation"][0]["z"])
    assert D(discounter["amount_at_risk"]) > 0
    refunds = by_subject[("S4", True)]  # the store's day: the till's cash paid out counts there
    assert refunds["kind"] == "return_anomaly"
    explained = {entry["feature"] for entry in refunds["explanation"]}
    assert explained & {"no_receipt_refunds", "cash_refunds", "refund_rate"}
    assert refunds["features"]["values"]["cash_refunds"] == "240.00"
    assert refunds["features"]["values"]["no_receipt_returns"] == "6"
    cashier = by_subject[("S4", False)]  # and the cashier who took them, with the cash they paid out
    assert cashier["kind"] == "return_anomaly"
    assert cashier["cashier"].startswith("token:cashier")
    assert cashier["features"]["values"]["cash_refunds"] == "240.00"
    assert cashier["features"]["values"]["no_receipt_returns"] == "6"
    assert not {store for store, _ in by_subject} & {"S2", "S3"}  # ordinary cashiers are not flagged
    assert [item["score"] for item in items] == sorted((item["score"] for item in items), key=D, reverse=True)


def test_alerts_become_exceptions_once_and_each_scan_is_an_event(client, admin, runtime, shop):
    assert _scan(client, admin).status_code == 201
    assert _scan(client, admin).status_code == 201

    with runtime.session_factory() as session:
        cases = session.execute(
            select(ExceptionCase.type, ExceptionCase.dedupe_key, ExceptionCase.occurrences).where(
                ExceptionCase.type.in_(("discount_anomaly", "return_anomaly", "margin_anomaly"))
            )
        ).all()
        events = session.scalar(select(func.count()).where(Event.type == "AnomalyScanCompleted"))
    keys = [key for _, key, _ in cases]
    assert len(keys) == len(set(keys)) >= 3
    assert all(occurrences == 1 for _, _, occurrences in cases)
    assert any(key.startswith("anomaly:S1:") and kind == "discount_anomaly" for kind, key, _ in cases)
    assert events == 2
    items = client.get(f"{API}/anomalies", headers=admin).json()["items"]
    assert all(item["exception_id"] for item in items)
    scans = client.get(f"{API}/anomalies/scans?limit=1", headers=admin).json()
    assert len(scans["items"]) == 1 and scans["next_cursor"]


def test_the_list_filters_and_pages(client, admin, auth, shop):
    assert _scan(client, admin).status_code == 201
    s1 = client.get(f"{API}/anomalies?store=S1", headers=admin).json()["items"]
    assert s1 and {item["store_code"] for item in s1} == {"S1"}
    cashier = next(item["cashier"] for item in s1 if item["cashier"])
    mine = client.get(f"{API}/anomalies", params={"cashier": cashier}, headers=admin).json()["items"]
    assert {item["cashier"] for item in mine} == {cashier}
    s1_manager = auth("store_manager", company="ACME", store="S1")
    theirs = client.get(f"{API}/anomalies", headers=s1_manager).json()["items"]
    assert theirs and {item["store_code"] for item in theirs} == {"S1"}
    assert client.get(f"{API}/anomalies?store=S4", headers=s1_manager).status_code == 422
    elsewhere = client.get(f"{API}/anomalies?day=2020-01-01", headers=admin).json()
    assert elsewhere == {"items": [], "next_cursor": None}
    first = client.get(f"{API}/anomalies?limit=1", headers=admin).json()
    second = client.get(f"{API}/anomalies?limit=1&cursor={first['next_cursor']}", headers=admin).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
    assert D(second["items"][0]["score"]) <= D(first["items"][0]["score"])


def test_bad_input_is_a_problem_naming_the_field(client, admin, shop):
    assert_problem(client.get(f"{API}/anomalies?day=2026-02-30", headers=admin), 422)
    assert "day" in client.get(f"{API}/anomalies?day=2026-02-30", headers=admin).text
    unknown_store = client.get(f"{API}/anomalies?store=NOPE", headers=admin)
    assert unknown_store.status_code == 422 and "store" in unknown_store.text
    backwards = _scan(client, admin, **{"from": "2026-03-02", "to": "2026-03-01"})
    assert backwards.status_code == 422 and '"from"' in backwards.text
    unknown_company = _scan(client, admin, company="NOPE")
    assert unknown_company.status_code == 422 and '"company"' in unknown_company.text
    assert _scan(client, admin, extra=1).status_code == 422
    with_scans = client.get(f"{API}/anomalies/scans", headers=admin).json()
    assert with_scans == {"items": [], "next_cursor": None}  # nothing was written


def test_the_cli_scans_prints_the_alerts_and_exits_non_zero_on_bad_input(shop):
    runner = CliRunner(env={"COLUMNS": "200"})
    scanned = runner.invoke(
        cli_app,
        ["anomalies", "scan", "--company", "ACME", "--from", WINDOW["from"], "--to", WINDOW["to"], "-q"],
    )
    assert scanned.exit_code == 0, scanned.output
    assert "flagged" in scanned.stdout and "discount_rate 0.4000" in scanned.stdout
    backwards = runner.invoke(
        cli_app, ["anomalies", "scan", "--company", "ACME", "--from", "2026-03-02", "--to", "2026-03-01"]
    )
    assert backwards.exit_code == 1
    assert runner.invoke(cli_app, ["anomalies", "scan", "--company", "NOPE"]).exit_code == 1
    assert runner.invoke(cli_app, ["anomalies", "scan", "--from", "2026-02-30"]).exit_code == 2


def test_sales_under_the_margin_floor_are_a_margin_anomaly(client, admin, auth, shop):
    floor = client.post(
        f"{API}/margin-floors",
        json={"company_id": shop["company"]["id"], "category": "Kitchen", "floor": "0.2"},
        headers=admin,
    )
    assert floor.status_code == 201, floor.text
    cashier = auth("cashier", company="ACME", store="S2")
    session = client.get(f"{API}/pos/sessions?state=open", headers=admin).json()["items"]
    till = next(s for s in session if s["store_id"] == shop["stores"]["S2"]["id"])
    product_id = client.get(f"{API}/products?sku=MUG", headers=admin).json()["items"][0]["id"]
    # Ten lines at 5.00 with VAT: 4.17 net each, under cost 4.00 x 1.2 but not under cost (S1's
    # discounted lines, 5.00 net a unit, stay above the floor).
    sale = {
        "client_uuid": str(uuid.uuid4()),
        "sold_at": _now(),
        "lines": [{"product_id": product_id, "quantity": 1, "unit_price": "5.00"} for _ in range(10)],
        "payments": [{"payment_method_code": "CASH", "amount": "50.00"}],
    }
    taken = client.post(
        f"{API}/pos/sessions/{till['id']}/sales:batch", json={"sales": [sale]}, headers=cashier
    )
    assert taken.status_code == 200, taken.text

    assert _scan(client, admin).status_code == 201
    items = client.get(f"{API}/anomalies?store=S2", headers=admin).json()["items"]
    row = next(item for item in items if item["cashier"])
    assert row["kind"] == "margin_anomaly"
    assert row["explanation"][0]["feature"] == "under_floor_lines"
    assert row["features"]["values"]["under_floor_lines"] == "10"
    assert row["features"]["values"]["under_cost_lines"] == "0"
