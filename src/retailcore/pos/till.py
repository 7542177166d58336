"""What the web POS screen reads to sell offline (docs/pos.md#the-pos-screen, decision 0079).

* **The catalogue snapshot** of a terminal: every product the store may sell at the till (active,
  ``available_pos``) with its barcodes, category, tax category and its **price-list price** for the
  ``pos`` channel, the terminal's store and currency on the store's day (the price lists' own
  :func:`~retailcore.pricing.price_lists.prices_for`, quantity 1); the store's tax rules per tax
  category; the promotions in force for the till (their names, shown) and, under ``pricing``, every
  pos promotion not yet ended with the full rule the pricing engine reads (:class:`TillPricing`, a
  versioned shape: the screen's JavaScript mirror of the engine prices offline from it, decision
  0082; the server still prices every sale again with the one pricing function); the company's
  payment methods; the manual discount limit and the cash rounding. The screen keeps it in IndexedDB
  and sells from it while the network is down.
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
from retailcore.promotions.book import IN_FORCE, book_for
from retailcore.promotions.model import Promotion
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


PRICING_VERSION = 1
"""The version of :class:`TillPricing`'s shape. The screen's mirror prices only a shape it knows (an
older or newer one: no promotion offline, the server flags the difference); raise it whenever a field
the engine reads is added or changes meaning."""


class TillTarget(BaseModel):
    """The products a promotion is about; both lists empty: every product."""

    product_ids: list[uuid.UUID]
    categories: list[str]


class TillTier(BaseModel):
    """A ``tiered_spend`` threshold: from ``threshold`` on, ``percent`` or ``amount`` off."""

    threshold: DecimalStr
    percent: DecimalStr | None
    amount: DecimalStr | None


class TillWindow(BaseModel):
    """A weekly window of the store's local time, ``start`` inclusive, ``end`` exclusive (``end`` not
    after ``start``: it crosses midnight)."""

    weekdays: list[int] = Field(description="0 = Monday ... 6 = Sunday.")
    start: dt.time
    end: dt.time


class TillBundleComponent(BaseModel):
    product_id: uuid.UUID
    quantity: DecimalStr


class TillPromotionRule(BaseModel):
    """One promotion as the pricing engine reads it (``promotions.model.Promotion``, field for field;
    docs/promotions.md says what each kind reads). Absent values are null, sets are sorted lists."""

    id: uuid.UUID
    code: str
    kind: str = Field(
        description="percent_off, amount_off, buy_x_get_y, mix_and_match, bundle_price, tiered_spend or"
        " free_shipping; a kind the screen does not know stops it pricing offline."
    )
    stacking: str = Field(description="exclusive, stackable or best.")
    priority: int
    scope: str = Field(description="line, category or order (percent_off and amount_off).")
    target: TillTarget
    percent: DecimalStr | None
    amount: DecimalStr | None
    buy_quantity: DecimalStr | None
    get_quantity: DecimalStr | None
    bundle_price: DecimalStr | None
    components: list[TillBundleComponent]
    tiers: list[TillTier]
    threshold: DecimalStr | None
    channels: list[str] | None = Field(description="Null: every channel.")
    store_ids: list[uuid.UUID] | None = Field(description="Null: every store.")
    customer_groups: list[str] | None = Field(description="Null: every customer.")
    starts_at: dt.datetime | None = Field(description="Local wall-clock time of the store, inclusive.")
    ends_at: dt.datetime | None = Field(description="Local wall-clock time of the store, exclusive.")
    windows: list[TillWindow] = Field(description="Empty: all day.")
    coupon_only: bool


class TillPricing(BaseModel):
    """What the screen's mirror of the pricing engine (``static/pricing.js``) prices a cart with."""

    version: int = Field(description=f"The shape's version ({PRICING_VERSION}).")
    timezone: str = Field(description="The store's time zone: promotions' times are its wall-clock times.")
    promotions: list[TillPromotionRule] = Field(
        description="Every approved promotion for the pos channel and this store that has not ended,"
        " including those starting later (the engine checks the time)."
    )


def promotion_rule(p: Promotion) -> TillPromotionRule:
    """The catalogue's shape of an engine :class:`Promotion` (nothing the engine reads is left out)."""
    return TillPromotionRule(
        id=p.id,
        code=p.code,
        kind=p.kind,
        stacking=p.stacking,
        priority=p.priority,
        scope=p.scope,
        target=TillTarget(
            product_ids=sorted(p.target.product_ids, key=str), categories=sorted(p.target.categories)
        ),
        percent=p.percent,
        amount=p.amount,
        buy_quantity=p.buy_quantity,
        get_quantity=p.get_quantity,
        bundle_price=p.bundle_price,
        components=[TillBundleComponent(product_id=c.product_id, quantity=c.quantity) for c in p.components],
        tiers=[TillTier(threshold=t.threshold, percent=t.percent, amount=t.amount) for t in p.tiers],
        threshold=p.threshold,
        channels=None if p.channels is None else sorted(p.channels),
        store_ids=None if p.store_ids is None else sorted(p.store_ids, key=str),
        customer_groups=None if p.customer_groups is None else sorted(p.customer_groups),
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        windows=[TillWindow(weekdays=sorted(w.weekdays), start=w.start, end=w.end) for w in p.windows],
        coupon_only=p.coupon_only,
    )


def _pricing(session: Session, company_id: uuid.UUID, store: Store, local: dt.datetime) -> TillPricing:
    """The company's book (the server's own, :func:`book_for`) cut to what this till can use."""
    return TillPricing(
        version=PRICING_VERSION,
        timezone=store.timezone or "UTC",
        promotions=[
            promotion_rule(p)
            for p in book_for(session, company_id).promotions
            if (p.channels is None or "pos" in p.channels)
            and (p.store_ids is None or store.id in p.store_ids)
            and (p.ends_at is None or p.ends_at > local)
        ],
    )


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
    promotions: list[TillPromotion] = Field(description="The promotions in force now, to show.")
    pricing: TillPricing
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
        pricing=_pricing(session, company.id, store, local.replace(tzinfo=None)),
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
