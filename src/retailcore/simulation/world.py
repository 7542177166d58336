"""The simulated company: found or created through the master-data, POS and purchasing services.

A company that does not exist is created complete (stores, warehouse, taxes, payment methods, catalog,
b2b customers, terminals, opening stock received on purchase orders the day before the first day).
An existing one (the demo company) is reused: its stores, warehouse, products and payment methods,
with whatever is missing created.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.eventlog.services import CommandContext
from retailcore.inventory import purchasing as po
from retailcore.masterdata import commands as c
from retailcore.masterdata import services as s
from retailcore.masterdata import tables as t
from retailcore.masterdata.demo_catalog import demo_products
from retailcore.pos import commands as pc
from retailcore.pos import services as pos
from retailcore.pos.tables import PosTerminal
from retailcore.simulation.profile import Profile

PAYMENT_METHODS = (
    {"code": "CASH", "name": "Espèces", "kind": "cash"},
    {"code": "CARD", "name": "Carte bancaire", "kind": "card", "gateway": "adyen"},
    {"code": "WEBCARD", "name": "Carte en ligne", "kind": "card", "gateway": "stripe"},
    {"code": "GIFT", "name": "Carte cadeau", "kind": "gift_card"},
    {"code": "ACCOUNT", "name": "En compte", "kind": "on_account"},
)
B2B_CUSTOMERS = (
    ("B2B-001", "Hôtel du Parc SARL"),
    ("B2B-002", "Café des Arts"),
    ("B2B-003", "Agence Lumière Événements"),
    ("B2B-004", "Boutique Hôtel Marais"),
    ("B2B-005", "Bureau Central SAS"),
)
SUPPLIERS = {
    "Apparel": "Atelier Textile du Nord",
    "Footwear": "Chausseurs Réunis",
    "Home": "Maison & Table Distribution",
    "Food": "Épicerie Fine Import",
    "Beauty": "Laboratoires Provence",
    "Books": "Diffusion Livres France",
    "Electronics": "Connectique Europe",
    "Accessories": "Maroquinerie Atlantique",
}
PRODUCTS = 200


@dataclass
class SimProduct:
    id: uuid.UUID
    sku: str
    category: str
    list_price: Decimal
    cost: Decimal
    weighed: bool
    pos: bool
    web: bool
    marketplace: bool
    weight: int
    """Popularity: the share of demand this product draws."""


@dataclass
class SimStore:
    id: uuid.UUID
    code: str
    stock_location_id: uuid.UUID
    size_percent: int
    terminal_ids: list[uuid.UUID] = field(default_factory=list)
    terminal_codes: list[str] = field(default_factory=list)


@dataclass
class World:
    company: t.Company
    stores: list[SimStore]
    warehouse: SimStore
    products: list[SimProduct]
    customers: list[uuid.UUID]
    created: bool
    """True when this run created the company (and its opening stock)."""
    members: list[uuid.UUID] = field(default_factory=list)
    """Loyalty members (``M001``..): who returns without a customer are refunded to and who spend
    their store credit."""

    @property
    def by_id(self) -> dict[uuid.UUID, SimProduct]:
        return {p.id: p for p in self.products}


def store_units_per_day(profile: Profile, store: SimStore, scale: Decimal) -> Decimal:
    """Expected units a store sells a day (for stock levels): sales x ~1.8 lines x ~1.1 units."""
    return Decimal(profile.sales_per_store_day * store.size_percent) / 100 * scale * Decimal("1.95")


def daily_demand(world: World, product: SimProduct, units: Decimal, pos_only: bool = True) -> Decimal:
    products = [p for p in world.products if p.pos] if pos_only else world.products
    total = sum(p.weight for p in products) or 1
    return units * product.weight / total


def _ceil(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_CEILING)


def store_levels(profile: Profile, world: World, store: SimStore, scale: Decimal) -> dict[uuid.UUID, tuple]:
    """Per POS product: (minimum, target) stock of the store."""
    units = store_units_per_day(profile, store, scale)
    levels = {}
    for product in world.products:
        if not product.pos:
            continue
        demand = daily_demand(world, product, units)
        minimum = max(Decimal(2), _ceil(demand * profile.store_min_days))
        levels[product.id] = (minimum, max(minimum + 2, _ceil(demand * profile.store_target_days)))
    return levels


def network_demand(profile: Profile, world: World, scale: Decimal) -> dict[uuid.UUID, Decimal]:
    """Units per product a day the warehouse feeds: the stores' sales plus the web's."""
    store_units = sum((store_units_per_day(profile, s_, scale) for s_ in world.stores), Decimal(0))
    web_orders = Decimal(len(world.stores) * profile.web_orders_per_store_day[0])
    web_units = web_orders / profile.web_orders_per_store_day[1] * scale * 2
    total = sum(p.weight for p in world.products) or 1
    return {
        p.id: (daily_demand(world, p, store_units) if p.pos else Decimal(0)) + web_units * p.weight / total
        for p in world.products
    }


def warehouse_levels(profile: Profile, world: World, scale: Decimal) -> dict[uuid.UUID, tuple]:
    levels = {}
    for product_id, demand in network_demand(profile, world, scale).items():
        reorder = max(Decimal(10), _ceil(demand * profile.warehouse_reorder_days))
        levels[product_id] = (reorder, max(reorder + 10, _ceil(demand * profile.warehouse_target_days)))
    return levels


def supplier_of(product: SimProduct) -> str:
    return SUPPLIERS.get(product.category.split("/")[0], "Grossiste Général")


# -- finding or creating -------------------------------------------------------------------------------


def _create_company(session: Session, ctx: CommandContext, code: str) -> t.Company:
    company = s.create_company(
        session,
        ctx,
        c.CreateCompany(
            code=code,
            name=f"{code} Boutiques SAS",
            currency="EUR",
            country="FR",
            chart_template="generic_retail",
        ),
    )
    for category, tax_code, name, rate in (
        ("standard", "FR-VAT-20", "TVA 20 %", Decimal("20")),
        ("reduced", "FR-VAT-5.5", "TVA 5,5 %", Decimal("5.5")),
    ):
        s.create(
            session,
            ctx,
            s.TAX_RULE,
            c.CreateTaxRule(
                company_id=company.id,
                jurisdiction="FR",
                tax_category=category,
                taxes=[c.TaxLine(code=tax_code, name=name, rate_percent=rate, price_included=True)],
            ),
        )
    for spec in demo_products(PRODUCTS):
        s.create(session, ctx, s.PRODUCT, c.CreateProduct(company_id=company.id, **spec))
    return company


def _ensure_payment_methods(session: Session, ctx: CommandContext, company: t.Company) -> None:
    have = set(session.scalars(select(t.PaymentMethod.code).where(t.PaymentMethod.company_id == company.id)))
    for method in PAYMENT_METHODS:
        if method["code"] not in have:
            s.create(session, ctx, s.PAYMENT_METHOD, c.CreatePaymentMethod(company_id=company.id, **method))


def _ensure_stores(
    session: Session, ctx: CommandContext, company: t.Company, count: int
) -> tuple[list[t.Store], t.Store]:
    rows = list(
        session.scalars(
            select(t.Store)
            .where(t.Store.company_id == company.id, t.Store.active.is_(True))
            .order_by(t.Store.code)
        )
    )
    stores = [row for row in rows if row.kind == "store"][:count]
    warehouses = [row for row in rows if row.kind == "warehouse"]
    taken = {row.code for row in rows}
    number = 0
    while len(stores) < count:
        number += 1
        code = f"S{number:02d}"
        if code in taken:
            continue
        stores.append(
            s.create_store(
                session,
                ctx,
                c.CreateStore(
                    company_id=company.id,
                    code=code,
                    name=f"Boutique {code}",
                    kind="store",
                    timezone="Europe/Paris",
                ),
            )
        )
    if warehouses:
        warehouse = warehouses[0]
    else:
        warehouse = s.create_store(
            session,
            ctx,
            c.CreateStore(
                company_id=company.id,
                code="W01",
                name="Entrepôt web",
                kind="warehouse",
                timezone="Europe/Paris",
            ),
        )
    return stores, warehouse


def _stock_location(session: Session, store: t.Store) -> uuid.UUID:
    location = session.scalar(
        select(t.Location.id).where(t.Location.store_id == store.id, t.Location.kind == "stock")
    )
    assert location is not None, f"store {store.code} has no stock location"
    return location


def _ensure_customers(session: Session, ctx: CommandContext, company: t.Company) -> list[uuid.UUID]:
    existing = {
        row.code: row.id
        for row in session.scalars(select(t.Customer).where(t.Customer.company_id == company.id))
    }
    ids = []
    for code, name in B2B_CUSTOMERS:
        if code not in existing:
            row = s.create(
                session,
                ctx,
                s.CUSTOMER,
                c.CreateCustomer(company_id=company.id, code=code, name=name, credit_limit=Decimal("20000")),
            )
            existing[code] = row.id
        ids.append(existing[code])
    return ids


def _ensure_members(session: Session, ctx: CommandContext, company: t.Company, count: int) -> list[uuid.UUID]:
    existing = {
        row.code: row.id
        for row in session.scalars(
            select(t.Customer).where(t.Customer.company_id == company.id, t.Customer.code.like("M%"))
        )
    }
    ids = []
    for n in range(1, count + 1):
        code = f"M{n:03d}"
        if code not in existing:
            row = s.create(
                session,
                ctx,
                s.CUSTOMER,
                c.CreateCustomer(company_id=company.id, code=code, name=f"Membre {n}"),
            )
            existing[code] = row.id
        ids.append(existing[code])
    return ids


def _ensure_terminals(
    session: Session, ctx: CommandContext, company: t.Company, store: SimStore, count: int
) -> None:
    for n in range(1, count + 1):
        code = f"{store.code}-T{n}"
        terminal = session.scalar(
            select(PosTerminal).where(PosTerminal.company_id == company.id, PosTerminal.code == code)
        )
        if terminal is None:
            terminal = pos.create_terminal(
                session,
                ctx,
                company,
                pc.CreateTerminal(
                    company_id=company.id, store_id=store.id, code=code, name=f"Caisse {n} {store.code}"
                ),
            )
        store.terminal_ids.append(terminal.id)
        store.terminal_codes.append(code)


def load_world(
    session: Session,
    ctx: CommandContext,
    *,
    code: str,
    stores: int,
    seed: int,
    profile: Profile,
) -> World:
    company = session.scalar(select(t.Company).where(t.Company.code == code))
    created = company is None
    if company is None:
        company = _create_company(session, ctx, code)
    _ensure_payment_methods(session, ctx, company)
    store_rows, warehouse_row = _ensure_stores(session, ctx, company, stores)
    rng = random.Random(f"{seed}/world")
    sim_stores = [
        SimStore(row.id, row.code, _stock_location(session, row), rng.randint(*profile.store_size_percent))
        for row in store_rows
    ]
    for store in sim_stores:
        two = store.size_percent >= profile.two_terminals_above_percent
        _ensure_terminals(session, ctx, company, store, 2 if two else 1)
    warehouse = SimStore(warehouse_row.id, warehouse_row.code, _stock_location(session, warehouse_row), 100)
    products = []
    for row in session.scalars(
        select(t.Product)
        .where(t.Product.company_id == company.id, t.Product.active.is_(True))
        .order_by(t.Product.sku)
    ):
        # A heavy tail: a few best sellers, many slow movers.
        weight = 1 + rng.randrange(100) ** 2 // 500
        products.append(
            SimProduct(
                id=row.id,
                sku=row.sku,
                category=row.category,
                list_price=row.list_price,
                cost=row.standard_cost
                if row.standard_cost
                else (row.list_price / 2).quantize(Decimal("0.01")),
                weighed=row.unit_of_measure == "kg",
                pos=row.available_pos,
                web=row.available_web,
                marketplace=row.available_marketplace,
                weight=weight,
            )
        )
    world = World(
        company,
        sim_stores,
        warehouse,
        products,
        _ensure_customers(session, ctx, company),
        created,
        _ensure_members(session, ctx, company, profile.members),
    )
    return world


def receive_opening_stock(
    session: Session, ctx: CommandContext, world: World, profile: Profile, scale: Decimal, date: dt.date
) -> None:
    """Stock every store up to its target and the warehouse up to its target, on one purchase order per
    location received in full the day before the first simulated day."""
    plans = [(store, store_levels(profile, world, store, scale)) for store in world.stores]
    plans.append((world.warehouse, warehouse_levels(profile, world, scale)))
    by_id = world.by_id
    for store, levels in plans:
        lines = [
            po.OrderLineIn(product_id=product_id, quantity=target, unit_price=by_id[product_id].cost)
            for product_id, (_, target) in levels.items()
        ]
        order = po.create_order(
            session,
            ctx,
            world.company,
            po.CreatePurchaseOrder(
                company_id=world.company.id,
                supplier="Opening stock",
                store_id=store.id,
                order_date=date,
                expected_date=date,
                lines=lines,
            ),
        )
        po.confirm_order(session, ctx, order)
        received = [
            po.ReceiptLineIn(po_line_id=line.id, quantity=line.quantity, location_id=store.stock_location_id)
            for line in order.lines
        ]
        po.receive(
            session,
            ctx,
            po.RecordReceipt(
                purchase_order_id=order.id, date=date, reference="Opening stock", lines=received
            ),
        )
        bill_receipt(session, ctx, order, received, date, f"F{order.number}")


def bill_receipt(
    session: Session,
    ctx: CommandContext,
    order: Any,
    received: list[po.ReceiptLineIn],
    date: dt.date,
    reference: str,
) -> None:
    """The supplier's bill for what was just received, at the order's prices (it comes with the goods):
    the three-way match posts it, so goods received not invoiced clears."""
    prices = {line.id: line.unit_price for line in order.lines}
    po.record_vendor_bill(
        session,
        ctx,
        po.RecordVendorBill(
            purchase_order_id=order.id,
            bill_date=date,
            supplier_invoice_ref=reference,
            lines=[
                po.BillLineIn(
                    po_line_id=line.po_line_id, quantity=line.quantity, unit_price=prices[line.po_line_id]
                )
                for line in received
            ],
        ),
    )
