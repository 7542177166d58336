"""The shop every operational benchmark starts from, and the deterministic sales and orders it receives.

Built through the project's own services, the way ``retailcore init --demo`` builds its database: the
schema is migrated, the subscribers are installed (without them nothing would post), the demo company
is loaded (three shops and a web warehouse, about 200 products under VAT 20 % and 5.5 % included in the
price, cash and card payment methods, opening stock), then each selling location receives a large
quantity of every product so that no sale runs stock negative (a negative quant opens a stock
exception: a real cost, but not the common path we want to measure).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.model import system_principal
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.entrypoints.bootstrap import install_subscriptions
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.demo import load_demo
from retailcore.masterdata.tables import Company, Location, Product, Store
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.pos import commands as pos
from retailcore.pos import services as pos_services

STOCK_PER_PRODUCT = Decimal(1_000_000)
SHOPS = ("PAR01", "LYO01", "BDX01")
WAREHOUSE = "WEB01"
CENT = Decimal("0.01")


def ctx() -> CommandContext:
    """One command's context (its own correlation id), as each API request has."""
    return CommandContext(system_principal("benchmark"))


def reset(engine: Engine) -> None:
    """An empty, migrated database: PostgreSQL's schema public is dropped (a scratch database);
    a SQLite file is expected to be new."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(engine)


@dataclass
class Retail:
    company_id: uuid.UUID
    stores: dict[str, uuid.UUID]
    stock: dict[str, uuid.UUID]
    """Stock location per store code."""
    pos_products: list[tuple[uuid.UUID, Decimal]] = field(default_factory=list)
    """(id, list price) of the active products sold at the till."""
    web_products: list[tuple[uuid.UUID, Decimal]] = field(default_factory=list)


def set_up(factory: sessionmaker[Session], receive_at: tuple[str, ...] = SHOPS) -> Retail:
    install_subscriptions()
    with transaction(factory) as session:
        company = load_demo(session, ctx())
        company_id = company.id
    with transaction(factory) as session:
        company = session.get(Company, company_id)
        assert company is not None
        stores = dict(
            session.execute(select(Store.code, Store.id).where(Store.company_id == company_id)).all()
        )
        stock = dict(
            session.execute(
                select(Store.code, Location.id)
                .join(Store, Store.id == Location.store_id)
                .where(Location.company_id == company_id, Location.kind == "stock")
            ).all()
        )
        supplier = session.scalar(
            select(Location.id).where(Location.company_id == company_id, Location.kind == "supplier")
        )
        products = list(
            session.scalars(
                select(Product).where(Product.company_id == company_id, Product.active).order_by(Product.sku)
            )
        )
        for code in receive_at:
            move_stock(
                session,
                ctx(),
                company,
                kind="receipt",
                lines=[
                    MoveLine(
                        p.id, STOCK_PER_PRODUCT, supplier, stock[code], p.standard_cost or p.list_price / 2
                    )
                    for p in products
                ],
                date=dt.date.today(),
                reference="Benchmark stock",
            )
        retail = Retail(
            company_id=company_id,
            stores=stores,
            stock=stock,
            pos_products=[(p.id, p.list_price) for p in products if p.available_pos],
            web_products=[(p.id, p.list_price) for p in products if p.available_web],
        )
    return retail


@dataclass
class Till:
    """A fresh shop (``set_up``, stock received at PAR01 only) with one terminal and its open session."""

    engine: Engine
    factory: sessionmaker[Session]
    shop: Retail
    session_id: uuid.UUID


def open_till(url: str, terminal_code: str, terminal_name: str) -> Till:
    engine = make_engine(url)
    reset(engine)
    factory = make_session_factory(engine)
    shop = set_up(factory, receive_at=("PAR01",))
    with transaction(factory) as session:
        company = session.get(Company, shop.company_id)
        request = pos.CreateTerminal(store_id=shop.stores["PAR01"], code=terminal_code, name=terminal_name)
        terminal = pos_services.create_terminal(session, ctx(), company, request)
        session_id = pos_services.open_session(session, ctx(), terminal.id, Decimal("200.00")).id
    return Till(engine, factory, shop, session_id)


class Sales:
    """Deterministic POS sales: 3 lines of distinct products (1 to 3 units, one line in ten with a
    discount), tax included in the price; half paid by card to the cent, half in cash rounded up to
    the next 5 euros (the drawer gives change). Tracks the cash the drawer should hold."""

    def __init__(
        self,
        products: list[tuple[uuid.UUID, Decimal]],
        seed: int,
        pricer: Callable[[list[tuple[uuid.UUID, Decimal, Decimal, Decimal]]], list[list[Any]]] | None = None,
    ) -> None:
        self.products = products
        self.pricer = pricer
        """A till that knows the promotions: what it takes off each line (the same baskets are drawn
        with or without it)."""
        self.rng = random.Random(seed)
        self.cash = Decimal(0)
        self.card = Decimal(0)
        self.start = dt.datetime.now(dt.UTC).replace(hour=8, minute=0, second=0, microsecond=0)
        self.made = 0
        self.tender: dict[uuid.UUID, str] = {}
        """The tender each sale was paid with (a refund of it is paid out the same way)."""
        self.refundable: list[tuple[bytes, tuple[tuple[bytes, bytes, Decimal, Decimal], ...]]] = []
        """Sales taken and not refunded yet: ``(client uuid, ((order line, product, quantity, gross), ...))``,
        the ids as bytes: this list only grows, and UUID objects (and lists) are tracked by the cyclic
        garbage collector, so keeping tens of thousands of them would trigger collections inside the
        timed batches that the product itself does not cause. Bytes, Decimals and tuples of them are not
        tracked."""

    def refund(self) -> pos.SaleIn | None:
        """A refund of every line of an earlier sale (picked at random), paid out the way it was paid:
        whole lines come back at their own gross, so the till knows the amount."""
        if not self.refundable:
            return None
        rng = self.rng
        client_uuid, lines = self.refundable.pop(rng.randrange(len(self.refundable)))
        gross = sum((line_gross for _, _, _, line_gross in lines), Decimal(0))
        method = self.tender[uuid.UUID(bytes=client_uuid)]
        if method == "CARD":
            self.card -= gross
        else:
            self.cash -= gross
        self.made += 1
        return pos.SaleIn(
            client_uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
            sold_at=self.start + dt.timedelta(milliseconds=self.made * 300),
            lines=[
                pos.SaleLineIn(
                    product_id=uuid.UUID(bytes=product_id),
                    quantity=-quantity,
                    unit_price=Decimal(0),
                    refund_of=uuid.UUID(bytes=line_id),
                )
                for line_id, product_id, quantity, _ in lines
            ],
            payments=[pos.PaymentIn(payment_method_code=method, amount=gross)],
        )

    def sale(self) -> pos.SaleIn:
        rng = self.rng
        lines = []
        gross = Decimal(0)
        for product_id, price in rng.sample(self.products, 3):
            quantity = Decimal(rng.randint(1, 3))
            discount = Decimal("0.50") if rng.random() < 0.1 and price * quantity > 1 else Decimal(0)
            gross += (quantity * price).quantize(CENT) - discount
            lines.append((product_id, quantity, price, discount))
        applied: list[list[Any]] = self.pricer(lines) if self.pricer is not None else [[] for _ in lines]
        for found in applied:
            gross -= sum((d.amount for d in found), Decimal(0))
        lines = [
            pos.SaleLineIn(
                product_id=product_id, quantity=quantity, unit_price=price, discount=discount, discounts=found
            )
            if found
            else pos.SaleLineIn(product_id=product_id, quantity=quantity, unit_price=price, discount=discount)
            for (product_id, quantity, price, discount), found in zip(lines, applied, strict=True)
        ]
        if rng.random() < 0.5:
            payments = [pos.PaymentIn(payment_method_code="CARD", amount=gross)]
            self.card += gross
        else:
            tendered = (gross / 5).to_integral_value(rounding=ROUND_CEILING) * 5
            payments = [pos.PaymentIn(payment_method_code="CASH", amount=tendered)]
            self.cash += gross
        self.made += 1
        client_uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
        self.tender[client_uuid] = payments[0].payment_method_code
        return pos.SaleIn(
            client_uuid=client_uuid,
            sold_at=self.start + dt.timedelta(milliseconds=self.made * 300),
            lines=lines,
            payments=payments,
        )

    def batches(self, count: int, size: int, refund_share: float = 0.0) -> Iterator[list[pos.SaleIn]]:
        """``count`` sales in batches of ``size``, built one batch at a time (memory stays flat). With
        ``refund_share``, about that share of the lines are refund lines: a sale is replaced by the
        refund of a whole earlier sale (3 lines, like a sale) once earlier sales are known
        (:meth:`taken`)."""
        done = 0
        while done < count:
            n = min(size, count - done)
            batch = []
            for _ in range(n):
                refund = self.refund() if refund_share and self.rng.random() < refund_share else None
                batch.append(refund or self.sale())
            yield batch
            done += n

    def taken(self, session: Session, batch: list[pos.SaleIn]) -> None:
        """Learn the order lines of a batch's sales (untimed): they can be refunded in later batches."""
        wanted = [sale.client_uuid for sale in batch if sale.client_uuid in self.tender]
        found: dict[bytes, list[tuple[bytes, bytes, Decimal, Decimal]]] = {}
        for client_uuid, line_id, product_id, quantity, net, tax in session.execute(
            select(
                OrderRow.client_uuid,
                OrderLineRow.id,
                OrderLineRow.product_id,
                OrderLineRow.quantity,
                OrderLineRow.net,
                OrderLineRow.tax,
            )
            .join(OrderLineRow, OrderLineRow.order_id == OrderRow.id)
            .where(OrderRow.client_uuid.in_(wanted))
        ):
            found.setdefault(client_uuid.bytes, []).append(
                (line_id.bytes, product_id.bytes, quantity, net + tax)
            )
        self.refundable += [(client_uuid, tuple(lines)) for client_uuid, lines in sorted(found.items())]
