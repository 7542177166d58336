"""A small shop for the back office's tests (tests/api/test_web_*.py, tests/browser/test_back_office.py):
two stores, S1 and S2, each with a till, a POS session with a cash sale and a card sale (S1's open,
S2's closed, so its sales are in the books); a stock
exception; and users of several roles, all with the password ``PASSWORD``."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.access.users import create_user
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location
from retailcore.monitoring import services as exceptions

API = "/api/v1"
PASSWORD = "correct horse battery"
USERS = {
    "manager1": ("store_manager", "S1"),
    "cashier1": ("cashier", "S1"),
    "cashier2": ("cashier", "S2"),
    "finance": ("finance", None),
    "boss": ("admin", None),
}


def build_shop(
    runtime: Any, client: Any, admin: dict[str, str], auth: Any, company: dict[str, Any], store_factory: Any
) -> dict[str, Any]:
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
        ("payment-methods", {"code": "CARD", "name": "Card", "kind": "card", "gateway": "stripe"}),
    ):
        response = client.post(f"{API}/{path}", json={"company_id": company["id"], **body}, headers=admin)
        assert response.status_code == 201, response.text
    body = {"company_id": company["id"], "sku": "COFFEE", "name": "Coffee", "category": "Drinks"}
    response = client.post(
        f"{API}/products", json={**body, "list_price": "3.60", "cost_method": "average"}, headers=admin
    )
    assert response.status_code == 201, response.text
    product = response.json()
    company_id = uuid.UUID(company["id"])
    shop: dict[str, Any] = {"product": product, "sessions": {}, "orders": {}}
    for code in ("S1", "S2"):
        store = store_factory(code)
        with transaction(runtime.session_factory) as session:
            supplier = session.scalar(
                select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
            )
            stock = session.scalar(
                select(Location.id).where(
                    Location.store_id == uuid.UUID(store["id"]), Location.kind == "stock"
                )
            )
            move_stock(
                session,
                CommandContext(system_principal()),
                session.get(Company, company_id),
                kind="receipt",
                lines=[MoveLine(uuid.UUID(product["id"]), Decimal(10), supplier, stock, Decimal("1.50"))],
                date=dt.date.today() - dt.timedelta(days=1),
            )
        manager = auth("store_manager", company="ACME", store=code)
        terminal = client.post(
            f"{API}/pos/terminals",
            json={"store_id": store["id"], "code": f"T{code}", "name": "Till"},
            headers=manager,
        ).json()
        opened = client.post(
            f"{API}/pos/sessions",
            json={"terminal_id": terminal["id"], "opening_float": "50.00"},
            headers=manager,
        ).json()
        sold_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
        sales = [
            {
                "client_uuid": str(uuid.uuid4()),
                "sold_at": sold_at,
                "lines": [{"product_id": product["id"], "quantity": 2, "unit_price": "3.60"}],
                "payments": [{"payment_method_code": method, "amount": "7.20"}],
            }
            for method in ("CASH", "CARD")
        ]
        batch = client.post(
            f"{API}/pos/sessions/{opened['id']}/sales:batch", json={"sales": sales}, headers=manager
        )
        assert batch.status_code == 200, batch.text
        shop["sessions"][code] = opened
        if code == "S2":  # S2's sales are in the books; S1's session stays open, to close from its page
            closed = client.post(
                f"{API}/pos/sessions/{opened['id']}/close",
                json={"counted": {"CASH": "57.20", "CARD": "7.20"}},
                headers=manager,
            )
            assert closed.status_code == 200, closed.text
        shop[code] = store
    for order in client.get(f"{API}/orders?channel=pos", headers=admin).json()["items"]:
        code = "S1" if order["store_id"] == shop["S1"]["id"] else "S2"
        shop["orders"].setdefault(code, []).append(order)
    with transaction(runtime.session_factory) as session:
        for username, (role, store_code) in USERS.items():
            create_user(session, username, PASSWORD, role, company="ACME", store=store_code)
        raised = exceptions.record(
            session,
            CommandContext(system_principal()),
            company_id,
            type="negative_stock",
            message="COFFEE went below zero in S1",
            key="web-test",
            severity="high",
            amount_at_risk=Decimal("12.00"),
            store_id=uuid.UUID(shop["S1"]["id"]),
            product_id=uuid.UUID(product["id"]),
        )
        assert raised is not None
        shop["exception_id"] = raised.id
    return shop


STRIPE_HEADER = (
    (Path(__file__).parent / "fixtures" / "external" / "stripe" / "balance_transactions_sample.csv")
    .read_text()
    .splitlines()[0]
)
PAYOUT = "po_web_1"


def stripe_row(txn: str, gross: str, fee: str, charge: str) -> str:
    """A charge balance transaction in the published sample's columns, paid out in ``PAYOUT``."""
    at = f"{dt.date.today().isoformat()} 10:00:00"
    net = str(Decimal(gross) - Decimal(fee))
    fields = [txn, at, at, at, at, "eur", gross, fee, net, "charge", charge, "", gross, "eur", PAYOUT, at]
    fields += [at, "", charge, "", "card", "visa", ""]
    return ",".join(fields)


def settle_unknown_charges(client: Any, admin: dict[str, str], auth: Any, company: dict[str, Any]) -> Any:
    """A Stripe gateway for ACME and a settlement file of one payout holding two charges nobody sold
    (t1 5.00, fee 0.45; t2 8.00, fee 0.53): two ``unmatched`` mismatches. The finance token's headers."""
    made = client.post(
        f"{API}/gateways",
        json={"company_id": company["id"], "code": "stripe", "format": "stripe", "fee_rate": "0.029",
              "fee_fixed": "0.30"},
        headers=admin,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    rows = [stripe_row("t1", "5.00", "0.45", "ch_nobody"), stripe_row("t2", "8.00", "0.53", "ch_who")]
    finance = auth("finance", company="ACME")
    imported = client.post(
        f"{API}/settlements",
        json={
            "company_id": company["id"],
            "gateway": "stripe",
            "content": "\n".join([STRIPE_HEADER, *rows, ""]),
        },
        headers=finance,
    )
    assert imported.status_code == 201, imported.text
    return finance


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Sign ``client`` in through the form; the answer to the POST."""
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
