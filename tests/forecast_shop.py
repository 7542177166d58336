"""A shop with a known demand history, sold through the till API: the forecast tests' data."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

API = "/api/v1"
DAYS = 35
WEEKLY = [2, 3, 3, 4, 6, 9, 5]
"""COFFEE's units per weekday: a clear weekly pattern."""
TODAY = dt.datetime.now(dt.UTC).date()
AS_OF = TODAY - dt.timedelta(days=3)
"""Three days before today, so the first forecast days have actual units to compare."""


def history_day(offset: int) -> dt.date:
    return AS_OF - dt.timedelta(days=DAYS - 1 - offset)


def make_shop(client: Any, admin: dict[str, str], auth: Any, company: dict[str, Any]) -> dict[str, Any]:
    """Store S1 with a till; COFFEE sold every day on the weekly pattern for 35 days up to 3 days ago
    (and on the 3 days since); TEA sold one unit on every fourth day only."""

    def created(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        response = client.post(f"{API}/{path}", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    company_id = company["id"]
    store = created(
        "stores", {"company_id": company_id, "code": "S1", "name": "Store S1", "kind": "store"}, admin
    )
    created(
        "tax-rules",
        {"company_id": company_id, "jurisdiction": "FR", "tax_category": "standard", "taxes": []},
        admin,
    )
    created(
        "payment-methods", {"company_id": company_id, "code": "CASH", "name": "Cash", "kind": "cash"}, admin
    )
    coffee, tea = (
        created(
            "products",
            {"company_id": company_id, "sku": sku, "name": sku, "category": "Drinks", "list_price": price},
            admin,
        )
        for sku, price in (("COFFEE", "2.00"), ("TEA", "3.00"))
    )
    manager = auth("store_manager", company=company["code"], store="S1")
    terminal = created("pos/terminals", {"store_id": store["id"], "code": "T1", "name": "Till 1"}, manager)
    cashier = auth("cashier", company=company["code"], store="S1")
    session = created("pos/sessions", {"terminal_id": terminal["id"]}, cashier)
    sales = []
    for offset in range(DAYS + 3):
        day = history_day(offset)
        lines = [{"product_id": coffee["id"], "quantity": WEEKLY[day.weekday()], "unit_price": "2.00"}]
        if offset % 4 == 0:
            lines.append({"product_id": tea["id"], "quantity": 1, "unit_price": "3.00"})
        total = sum(Decimal(line["unit_price"]) * line["quantity"] for line in lines)
        sales.append(
            {
                "client_uuid": str(uuid.uuid4()),
                "sold_at": dt.datetime.combine(day, dt.time(12, 0), dt.UTC).isoformat(),
                "lines": lines,
                "payments": [{"payment_method_code": "CASH", "amount": str(total)}],
            }
        )
    response = client.post(
        f"{API}/pos/sessions/{session['id']}/sales:batch", json={"sales": sales}, headers=cashier
    )
    assert response.status_code in (200, 201), response.text
    return {"company": company, "store": store, "coffee": coffee, "tea": tea, "manager": manager}
