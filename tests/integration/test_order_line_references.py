"""An order line's product and location must exist: inserts, updates and deletes that would break that
are refused on both backends, and nothing of the statement is written. PostgreSQL checks them once per
statement by triggers (migration 0012), SQLite by its foreign keys (migration 0013)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from retailcore.access.model import system_principal
from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import commands as mc
from retailcore.masterdata import services as ms
from retailcore.masterdata.demo import load_demo
from retailcore.masterdata.tables import Location, Product, Store
from retailcore.orders import tables as t
from retailcore.pos import commands as c
from retailcore.pos import services as pos
from support import POSTGRES_URL


def refused(message: str) -> str:
    """What the database says: PostgreSQL's triggers name the reference, SQLite's foreign keys don't."""
    return message if POSTGRES_URL else "FOREIGN KEY constraint failed"


def _ctx() -> CommandContext:
    return CommandContext(system_principal("test"))


@pytest.fixture
def sold(runtime):
    """The demo company with one POS sale of one product: (company id, its order line)."""
    factory = runtime.session_factory
    with transaction(factory) as session:
        company = load_demo(session, _ctx())
        store = session.scalars(
            select(Store).where(Store.company_id == company.id).order_by(Store.code)
        ).first()
        product = session.scalars(
            select(Product)
            .where(Product.company_id == company.id, Product.available_pos)
            .order_by(Product.sku)
        ).first()
        terminal = pos.create_terminal(
            session, _ctx(), company, c.CreateTerminal(store_id=store.id, code="T1", name="T")
        )
        session_id = pos.open_session(session, _ctx(), terminal.id, Decimal(0)).id
        price = product.list_price
        sale = c.SaleIn(
            client_uuid=uuid.uuid4(),
            sold_at=dt.datetime.now(dt.UTC),
            lines=[c.SaleLineIn(product_id=product.id, quantity=Decimal(1), unit_price=price)],
            payments=[c.PaymentIn(payment_method_code="CARD", amount=price)],
        )
        pos.ingest_batch(session, _ctx(), session_id, [sale])
        company_id = company.id
    with factory() as session:
        line = session.scalars(select(t.OrderLineRow)).one()
        session.expunge(line)
    return company_id, line


def _line_count(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(t.OrderLineRow))


def _copy_of(line: t.OrderLineRow, **changes) -> dict:
    row = {column.key: getattr(line, column.key) for column in t.OrderLineRow.__table__.columns}
    return {**row, "id": uuid.uuid4(), "position": line.position + 1, **changes}


@pytest.mark.parametrize("through", ["orm insert", "bulk insert"])
@pytest.mark.parametrize("wrong", ["unknown product", "unknown location"])
def test_a_line_with_a_missing_reference_is_refused_with_its_whole_statement(runtime, sold, through, wrong):
    _, line = sold
    factory = runtime.session_factory
    good = _copy_of(line)
    bad = _copy_of(line, position=line.position + 2)
    if wrong == "unknown product":
        bad["product_id"] = uuid.uuid4()
    else:
        bad["location_id"] = uuid.uuid4()
    with pytest.raises(IntegrityError, match=refused("refers to no")), transaction(factory) as session:
        if through == "bulk insert":
            insert_rows(session, t.OrderLineRow.__table__, [good, bad])
        else:
            session.execute(insert(t.OrderLineRow), [good, bad])
            session.flush()
    assert _line_count(factory) == 1


def test_another_companys_product_is_refused(runtime, sold):
    _, line = sold
    factory = runtime.session_factory
    with transaction(factory) as session:
        other = ms.create_company(
            session, _ctx(), mc.CreateCompany(code="OTHER", name="Other", currency="EUR", country="FR")
        )
        foreign = ms.create(
            session,
            _ctx(),
            ms.PRODUCT,
            mc.CreateProduct(company_id=other.id, sku="X-1", name="X", category="x", list_price=Decimal(1)),
        ).id
    with (
        pytest.raises(IntegrityError, match=refused("refers to no product")),
        transaction(factory) as session,
    ):
        session.execute(insert(t.OrderLineRow), [_copy_of(line, product_id=foreign)])
    assert _line_count(factory) == 1


def test_a_line_cannot_be_moved_to_a_missing_product_or_location(runtime, sold):
    _, line = sold
    factory = runtime.session_factory
    for change in ({"product_id": uuid.uuid4()}, {"location_id": uuid.uuid4()}):
        with pytest.raises(IntegrityError, match=refused("refers to no")), transaction(factory) as session:
            session.execute(update(t.OrderLineRow).where(t.OrderLineRow.id == line.id).values(**change))
    with factory() as session:
        stored = session.get(t.OrderLineRow, line.id)
        assert (stored.product_id, stored.location_id) == (line.product_id, line.location_id)
    with transaction(factory) as session:  # a change that keeps valid references goes through
        session.execute(update(t.OrderLineRow).where(t.OrderLineRow.id == line.id).values(location_id=None))


def test_a_product_or_location_on_order_lines_cannot_be_deleted(runtime, sold):
    company_id, line = sold
    factory = runtime.session_factory
    # A product and a location that only an order line refers to (the sold ones also have stock moves,
    # whose own foreign keys would refuse first).
    with transaction(factory) as session:
        product_id = ms.create(
            session,
            _ctx(),
            ms.PRODUCT,
            mc.CreateProduct(
                company_id=company_id, sku="LONELY", name="L", category="x", list_price=Decimal(1)
            ),
        ).id
        location = Location(company_id=company_id, store_id=None, code="SPARE", name="Spare", kind="customer")
        session.add(location)
        session.flush()
        location_id = location.id
        session.execute(
            insert(t.OrderLineRow), [_copy_of(line, product_id=product_id, location_id=location_id)]
        )
    with (
        pytest.raises(IntegrityError, match=refused("product is on order lines")),
        transaction(factory) as session,
    ):
        session.execute(delete(Product).where(Product.id == product_id))
    with (
        pytest.raises(IntegrityError, match=refused("location is on order lines")),
        transaction(factory) as session,
    ):
        session.execute(delete(Location).where(Location.id == location_id))
    with factory() as session:
        assert session.get(Product, product_id) is not None
        assert session.get(Location, location_id) is not None
    with transaction(factory) as session:  # once no line refers to them, they can go
        session.execute(delete(t.OrderLineRow).where(t.OrderLineRow.product_id == product_id))
        session.execute(delete(Product).where(Product.id == product_id))
        session.execute(delete(Location).where(Location.id == location_id))
