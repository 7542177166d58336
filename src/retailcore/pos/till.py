"""What the web POS screen reads to sell offline (docs/pos.md#the-pos-screen, decision 0079).

* **The catalogue snapshot** of a terminal: every product the store may sell at the till (active,
  ``available_pos``) with its barcodes, category, tax category and its **price-list price** for the
  ``pos`` channel, the terminal's store and currency on the store's day (the price lists' own
  :func:`~retailcore.pricing.price_lists.prices_for`, quantity 1); the store's tax rules per tax
  category; the promotions in force for the till (shown, not computed: the server prices every sale
  again with the one pricing function); the company's payment methods; the manual discount limit and
  the cash rounding. The screen keeps it in IndexedDB and sells from it while the network is down.
* **A receipt** looked up by its number (``T1-0007-00042``) or the sale's ``client_uuid`` (what the
  screen prints before the sale is synced): the order as ``GET /orders/{id}`` shows it, for a refund.

Reads only; scoped like the terminals and sessions (a store's user sees its store's terminals only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, lazyload

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.currencies import minor_unit
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import NotFound
from retailcore.masterdata.tables import Company, PaymentMethod, Product, ProductBarcode, Store
from retailcore.orders import discounts
from retailcore.orders import services as orders
from retailcore.orders.tables import OrderRow
from retailcore.pos import cash_rounding
from retailcore.pos.services import _terminal
from retailcore.pricing.price_lists import prices_for
from retailcore.pricing.taxes import load_tax_rules
from retailcore.promotions.book import IN_FORCE
from retailcore.promotions.tables import PromotionRow

PRICE_CHUNK = 2_000
"""Products priced per query of the price lists' items (keeps the ``IN`` list short on SQLite)."""


class TillTax(BaseModel):
    code: str
    rate_percent: DecimalStr
    price_included: bool
    kind: str


class TillProduct(BaseModel):
    id: uuid.UUID
    sku: str
    name: str
    category: str
    tax_category: str
    barcodes: list[str]
    price: DecimalStr = Field(
        description="The price-list price for the till (quantity 1), tax as the rule says."
    )
    price_source: str = Field(description="`price_list:<code>` or `list_price`.")


class TillPromotion(BaseModel):
    code: str
    name: str
    description: str
    kind: str
    coupon_only: bool


class TillPaymentMethod(BaseModel):
    code: str
    name: str
    kind: str


class TillDiscountLimit(BaseModel):
    max_percent: DecimalStr | None
    max_amount: DecimalStr | None


class TillCashRounding(BaseModel):
    increment: DecimalStr
    mode: str


class TillCatalogue(BaseModel):
    terminal_id: uuid.UUID
    terminal_code: str
    store_id: uuid.UUID
    store_code: str
    currency: str
    minor_unit: int
    day: dt.date = Field(description="The store's day the prices are for.")
    generated_at: dt.datetime
    taxes: dict[str, list[TillTax]] = Field(description="Tax category -> the store's taxes, in order.")
    products: list[TillProduct]
    promotions: list[TillPromotion]
    payment_methods: list[TillPaymentMethod]
    discount_limit: TillDiscountLimit | None = Field(description="Null: no limit for this user.")
    cash_rounding: TillCashRounding | None


def _promotions(
    session: Session, company_id: uuid.UUID, store_id: uuid.UUID, local: dt.datetime
) -> list[TillPromotion]:
    """The promotions in force for the pos channel at this store now (their windows and targets are
    the pricing function's to apply)."""
    P = PromotionRow
    rows = session.scalars(
        select(P)
        .where(
            P.company_id == company_id,
            P.state.in_(IN_FORCE),
            or_(P.starts_at.is_(None), P.starts_at <= local),
            or_(P.ends_at.is_(None), P.ends_at > local),
        )
        .order_by(P.code)
    )
    return [
        TillPromotion(
            code=row.code,
            name=row.name,
            description=row.description,
            kind=row.kind,
            coupon_only=row.coupon_only,
        )
        for row in rows
        if (row.channels is None or "pos" in row.channels)
        and (row.store_ids is None or str(store_id) in row.store_ids)
    ]


def catalogue(session: Session, principal: Principal, terminal_id: uuid.UUID) -> TillCatalogue:
    """The terminal's catalogue snapshot (module docstring)."""
    terminal = _terminal(session, principal, terminal_id)
    company = session.get(Company, terminal.company_id)
    store = session.get(Store, terminal.store_id)
    assert company is not None and store is not None
    now = utcnow()
    local = now.astimezone(ZoneInfo(store.timezone or "UTC"))
    currency = terminal.currency or company.currency
    products = list(
        session.scalars(
            select(Product)
            .options(lazyload(Product.barcodes))
            .where(
                Product.company_id == company.id, Product.active.is_(True), Product.available_pos.is_(True)
            )
            .order_by(Product.sku)
        )
    )
    barcodes: dict[uuid.UUID, list[str]] = {}
    for product_id, barcode in session.execute(
        select(ProductBarcode.product_id, ProductBarcode.barcode)
        .where(ProductBarcode.company_id == company.id)
        .order_by(ProductBarcode.product_id, ProductBarcode.position)
    ):
        barcodes.setdefault(product_id, []).append(barcode)
    priced: list[TillProduct] = []
    for start in range(0, len(products), PRICE_CHUNK):
        chunk = products[start : start + PRICE_CHUNK]
        quotes = prices_for(
            session,
            company,
            [(product, Decimal(1)) for product in chunk],
            channel="pos",
            store_id=store.id,
            currency=currency,
            on=local.date(),
        )
        priced.extend(
            TillProduct(
                id=product.id,
                sku=product.sku,
                name=product.name,
                category=product.category,
                tax_category=product.tax_category,
                barcodes=barcodes.get(product.id, []),
                price=quote.unit_price,
                price_source=quote.source,
            )
            for product, quote in zip(chunk, quotes, strict=True)
        )
    rules = load_tax_rules(session, company.id, store.tax_jurisdiction or company.tax_jurisdiction)
    methods = session.scalars(
        select(PaymentMethod)
        .where(PaymentMethod.company_id == company.id, PaymentMethod.active.is_(True))
        .order_by(PaymentMethod.code)
    )
    limit = None
    if principal.role not in discounts.UNLIMITED_ROLES:
        found = discounts.limit_for(session, company.id, store.id)
        if found is not None:
            limit = TillDiscountLimit(max_percent=found.max_percent, max_amount=found.max_amount)
    rounding = cash_rounding.of_company(session, company.id) if currency == company.currency else None
    return TillCatalogue(
        terminal_id=terminal.id,
        terminal_code=terminal.code,
        store_id=store.id,
        store_code=store.code,
        currency=currency,
        minor_unit=minor_unit(currency),
        day=local.date(),
        generated_at=now,
        taxes={
            category: [
                TillTax(
                    code=t.code, rate_percent=t.rate_percent, price_included=t.price_included, kind=t.kind
                )
                for t in taxes
            ]
            for category, taxes in rules.items()
        },
        products=priced,
        promotions=_promotions(session, company.id, store.id, local.replace(tzinfo=None)),
        payment_methods=[TillPaymentMethod(code=m.code, name=m.name, kind=m.kind) for m in methods],
        discount_limit=limit,
        cash_rounding=TillCashRounding(increment=rounding.increment, mode=rounding.mode)
        if rounding
        else None,
    )


def receipt(session: Session, principal: Principal, company: Company, number: str) -> orders.OrderView:
    """The till sale whose receipt carries ``number``: its order number, or its ``client_uuid``."""
    query = select(OrderRow.id).where(OrderRow.company_id == company.id, OrderRow.channel == "pos")
    try:
        by_uuid: uuid.UUID | None = uuid.UUID(number.strip())
    except ValueError:
        by_uuid = None
    if by_uuid is not None:
        query = query.where(OrderRow.client_uuid == by_uuid)
    else:
        query = query.where(OrderRow.number == number.strip())
    order_id = session.scalar(query)
    if order_id is None:
        raise NotFound(f"no till receipt {number}")
    return orders.get_order(session, principal, company, order_id)
