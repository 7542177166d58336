"""A product's own income and expense accounts over HTTP (decision 0061): a web order's revenue and
COGS land on them, other products' on the roles' accounts."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from apitools import API
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location

VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


def _balance(runtime, company_id: uuid.UUID, code: str) -> Decimal:
    with runtime.session_factory() as session:
        total = session.scalar(
            select(func.sum(a.JournalLine.credit) - func.sum(a.JournalLine.debit))
            .join(Account, Account.id == a.JournalLine.account_id)
            .where(Account.company_id == company_id, Account.code == code)
        )
        return total if total is not None else Decimal(0)


def test_a_products_own_accounts_take_its_revenue_and_cogs_on_a_web_order(
    runtime, client, admin, company, store_factory, product_factory
):
    warehouse = store_factory("W1", kind="warehouse")
    rule = {"company_id": company["id"], "jurisdiction": "FR", "tax_category": "standard", "taxes": [VAT_20]}
    assert client.post(f"{API}/tax-rules", json=rule, headers=admin).status_code == 201
    wrap = product_factory("WRAP", list_price="12.00")  # 10.00 net of 20% VAT
    shirt = product_factory("SHIRT", list_price="30.00")  # 25.00 net
    account = {"company_id": company["id"], "code": "4050", "name": "Gift wrap sales", "type": "income"}
    assert client.post(f"{API}/accounts", json=account, headers=admin).status_code == 201
    accounts = {"income_account": "4050", "expense_account": "5030"}
    response = client.put(f"{API}/products/{wrap['id']}/accounts", json=accounts, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"product_id": wrap["id"], **accounts}
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        supplier, stock = (
            session.scalar(
                select(Location.id).where(
                    Location.company_id == company_id,
                    Location.kind == kind,
                    *([Location.store_id == uuid.UUID(warehouse["id"])] if kind == "stock" else []),
                )
            )
            for kind in ("supplier", "stock")
        )
        move_stock(
            session,
            CommandContext(system_principal()),
            session.get(Company, company_id),
            kind="receipt",
            lines=[
                MoveLine(uuid.UUID(wrap["id"]), Decimal(5), supplier, stock, Decimal("2.00")),
                MoveLine(uuid.UUID(shirt["id"]), Decimal(5), supplier, stock, Decimal("9.00")),
            ],
            date=dt.date(2026, 3, 1),
        )
    body = {
        "company_id": company["id"],
        "lines": [
            {"product_id": wrap["id"], "quantity": "3"},
            {"product_id": shirt["id"], "quantity": "2"},
        ],
    }
    order = client.post(f"{API}/orders", json=body, headers=admin)
    assert order.status_code == 201, order.text
    done = client.post(f"{API}/orders/{order.json()['id']}/fulfillments", headers=admin)
    assert done.status_code == 200, done.text
    # Revenue: 3 x 10.00 to 4050, 2 x 25.00 to the sales_revenue role's 4000
    assert _balance(runtime, company_id, "4050") == Decimal("30.00")
    assert _balance(runtime, company_id, "4000") == Decimal("50.00")
    # COGS: 3 x 2.00 to 5030, 2 x 9.00 to the cogs role's 5000 (debits: negative here)
    assert _balance(runtime, company_id, "5030") == Decimal("-6.00")
    assert _balance(runtime, company_id, "5000") == Decimal("-18.00")
    cost = client.get(f"{API}/products/{wrap['id']}/cost", headers=admin).json()
    assert (cost["income_account"], cost["expense_account"]) == ("4050", "5030")
    # Back to the roles' accounts
    cleared = client.put(f"{API}/products/{wrap['id']}/accounts", json={}, headers=admin)
    assert cleared.json() == {"product_id": wrap["id"], "income_account": None, "expense_account": None}


def test_an_income_account_must_be_an_income_account(client, admin, company, product_factory):
    wrap = product_factory("WRAP", list_price="12.00")
    refused = client.put(
        f"{API}/products/{wrap['id']}/accounts", json={"income_account": "5000"}, headers=admin
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "income_account"
    missing = client.put(f"{API}/products/{uuid.uuid4()}/accounts", json={}, headers=admin)
    assert missing.status_code == 404
