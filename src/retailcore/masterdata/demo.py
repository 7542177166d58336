"""Demo data: one French retailer with three shops, a web warehouse and about 200 products.

Loaded through the same services as the API, so the demo also fills the event log like real use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata import tables as t
from retailcore.masterdata.demo_catalog import DEMO_COMPANY_NAME, DEMO_CURRENCY, demo_products, demo_stores

DEMO_COMPANY_CODE = "DEMO"


def demo_loaded(session: Session) -> t.Company | None:
    return session.scalar(select(t.Company).where(t.Company.code == DEMO_COMPANY_CODE))


def load_demo(
    session: Session,
    ctx: CommandContext,
    *,
    products: int = 200,
    progress: Callable[[int], None] | None = None,
) -> t.Company:
    company = s.create_company(
        session,
        ctx,
        c.CreateCompany(
            code=DEMO_COMPANY_CODE,
            name=DEMO_COMPANY_NAME,
            currency=DEMO_CURRENCY,
            country="FR",
            chart_template="generic_retail",
        ),
    )
    for store in demo_stores():
        s.create_store(session, ctx, c.CreateStore(company_id=company.id, **store))
    for rule in (
        ("standard", "FR-VAT-20", "TVA 20 %", Decimal("20")),
        ("reduced", "FR-VAT-5.5", "TVA 5,5 %", Decimal("5.5")),
    ):
        category, code, name, rate = rule
        s.create(
            session,
            ctx,
            s.TAX_RULE,
            c.CreateTaxRule(
                company_id=company.id,
                jurisdiction="FR",
                tax_category=category,
                taxes=[c.TaxLine(code=code, name=name, rate_percent=rate, price_included=True)],
            ),
        )
    for method in (
        {"code": "CASH", "name": "Espèces", "kind": "cash"},
        {"code": "CARD", "name": "Carte bancaire", "kind": "card", "gateway": "adyen"},
        {"code": "WEBCARD", "name": "Carte en ligne", "kind": "card", "gateway": "stripe"},
        {"code": "GIFT", "name": "Carte cadeau", "kind": "gift_card"},
    ):
        s.create(session, ctx, s.PAYMENT_METHOD, c.CreatePaymentMethod(company_id=company.id, **method))
    created = []
    for index, product in enumerate(demo_products(products)):
        created.append(s.create(session, ctx, s.PRODUCT, c.CreateProduct(company_id=company.id, **product)))
        if progress:
            progress(index + 1)
    _opening_stock(session, ctx, company, created)
    return company


def _opening_stock(
    session: Session, ctx: CommandContext, company: t.Company, products: list[t.Product]
) -> None:
    """Every shop and the web warehouse start with stock received at standard cost, so the demo's
    stock levels, valuation and books are not empty (and agree)."""
    from retailcore.inventory.services import MoveLine, move_stock

    supplier = session.scalar(
        select(t.Location.id).where(t.Location.company_id == company.id, t.Location.kind == "supplier")
    )
    stock_locations = session.execute(
        select(t.Location.id, t.Store.kind)
        .join(t.Store, t.Store.id == t.Location.store_id)
        .where(t.Location.company_id == company.id, t.Location.kind == "stock")
        .order_by(t.Store.code)
    ).all()
    for location_id, store_kind in stock_locations:
        quantity = Decimal(60) if store_kind == "warehouse" else Decimal(12)
        lines = [
            MoveLine(
                product.id, quantity, supplier, location_id, product.standard_cost or product.list_price / 2
            )
            for product in products
            if product.active
        ]
        move_stock(
            session,
            ctx,
            company,
            kind="receipt",
            lines=lines,
            date=dt.date.today() - dt.timedelta(days=60),  # before any simulated history
            reference="Opening stock",
        )
