"""What orders, their lines and their payments refer to must exist: an order's company, store, customer
and POS session; a line's order, product and location; a payment's order. Inserts, updates and deletes
that would break that are refused on both backends, and nothing of the statement is written; deleting
an order deletes its lines and payments. SQLite checks with foreign keys; PostgreSQL with triggers that
check each inserting statement once (migrations 0012 to 0014, decisions 0012 and 0013)."""

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
from retailcore.masterdata.tables import Company, Customer, Location, Product, Store
from retailcore.orders import tables as t
from retailcore.pos import commands as c
from retailcore.pos import services as pos
from retailcore.pos.tables import PosSession
from support import POSTGRES_URL


def refused(message: str) -> str:
    """What the database says: PostgreSQL's triggers name the reference, SQLite's foreign keys don't."""
    return message if POSTGRES_URL else "FOREIGN KEY constraint failed"


def _ctx() -> CommandContext:
    return CommandContext(system_principal("test"))


def _other_company(session):
    return ms.create_company(
        session, _ctx(), mc.CreateCompany(code="OTHER", name="Other", currency="EUR", country="FR")
    )


@pytest.fixture
def sold(runtime):
    """The demo company (three of its products) with one POS sale: (company id, its order line)."""
    factory = runtime.session_factory
    with transaction(factory) as session:
        company = load_demo(session, _ctx(), products=3)  # three are enough for one sale
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
        other = _other_company(session)
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


# -- the keys of orders and of their payments ----------------------------------------------------------


def _row_of(row) -> dict:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def _order_of(factory, line: t.OrderLineRow) -> t.OrderRow:
    with factory() as session:
        order = session.get(t.OrderRow, line.order_id)
        session.expunge(order)
        return order


def _bare_store(session, company_id: uuid.UUID, code: str) -> Store:
    """A store with no locations (whose own keys would refuse its deletion first)."""
    store = Store(
        company_id=company_id,
        code=code,
        name=code,
        kind="store",
        timezone="Europe/Paris",
        tax_jurisdiction="FR",
    )
    session.add(store)
    session.flush()
    return store


def _counts(factory) -> tuple[int, int, int]:
    with factory() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (t.OrderRow, t.OrderLineRow, t.OrderPaymentRow)
        )


@pytest.mark.parametrize("through", ["orm insert", "bulk insert"])
@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        ("company_id", "an order refers to no company"),
        ("store_id", "an order refers to no store of its company"),
        ("customer_id", "an order refers to no customer"),
        ("pos_session_id", "an order refers to no POS session"),
    ],
)
def test_an_order_with_a_missing_reference_is_refused_with_its_whole_statement(
    runtime, sold, through, wrong, message
):
    _, line = sold
    factory = runtime.session_factory
    order = _row_of(_order_of(factory, line))
    before = _counts(factory)
    good = {**order, "id": uuid.uuid4(), "number": "GOOD-1", "client_uuid": uuid.uuid4()}
    bad = {**order, "id": uuid.uuid4(), "number": "BAD-1", "client_uuid": uuid.uuid4(), wrong: uuid.uuid4()}
    with pytest.raises(IntegrityError, match=refused(message)), transaction(factory) as session:
        if through == "bulk insert":
            insert_rows(session, t.OrderRow.__table__, [good, bad])
        else:
            session.execute(insert(t.OrderRow), [good, bad])
    assert _counts(factory) == before


def test_an_order_cannot_be_moved_to_another_companys_store(runtime, sold):
    _company_id, line = sold
    factory = runtime.session_factory
    with transaction(factory) as session:
        other = _other_company(session)
        foreign_store_id = _bare_store(session, other.id, "ELSEWHERE").id
    with (
        pytest.raises(IntegrityError, match=refused("no store of its company")),
        transaction(factory) as session,
    ):
        session.execute(
            update(t.OrderRow).where(t.OrderRow.id == line.order_id).values(store_id=foreign_store_id)
        )
    assert _order_of(factory, line).store_id != foreign_store_id
    with transaction(factory) as session:  # other columns change freely
        session.execute(update(t.OrderRow).where(t.OrderRow.id == line.order_id).values(reason="checked"))
    assert _order_of(factory, line).reason == "checked"


@pytest.mark.parametrize("child", ["line", "payment"])
def test_a_line_or_payment_of_a_missing_order_is_refused(runtime, sold, child):
    _company_id, line = sold
    factory = runtime.session_factory
    before = _counts(factory)
    if child == "line":
        table, message = t.OrderLineRow.__table__, "an order line refers to no order of its company"
        row = _copy_of(line, order_id=uuid.uuid4())
    else:
        with factory() as session:
            payment = _row_of(session.scalars(select(t.OrderPaymentRow)).one())
        table, message = t.OrderPaymentRow.__table__, "an order payment refers to no order of its company"
        row = {**payment, "id": uuid.uuid4(), "order_id": uuid.uuid4()}
    with pytest.raises(IntegrityError, match=refused(message)), transaction(factory) as session:
        insert_rows(session, table, [row])
    with pytest.raises(IntegrityError, match=refused(message)), transaction(factory) as session:
        session.execute(update(table).where(table.c.order_id == line.order_id).values(order_id=uuid.uuid4()))
    assert _counts(factory) == before


def test_deleting_an_order_deletes_its_lines_and_payments(runtime, sold):
    _, line = sold
    factory = runtime.session_factory
    assert _counts(factory) == (1, 1, 1)
    with transaction(factory) as session:
        session.execute(delete(t.OrderRow).where(t.OrderRow.id == line.order_id))
    assert _counts(factory) == (0, 0, 0)


@pytest.mark.parametrize(
    ("parent", "message"),
    [
        (Store, "the store has orders"),
        (PosSession, "the POS session has orders"),
        (Customer, "the customer has orders"),
    ],
)
def test_what_an_order_refers_to_cannot_be_deleted(runtime, sold, parent, message):
    """A store, POS session or customer that only an order refers to (the sale's own also have
    locations, totals..., whose keys would refuse first)."""
    _, line = sold
    factory = runtime.session_factory
    order = _order_of(factory, line)
    with transaction(factory) as session:
        if parent is Customer:
            made = ms.create(
                session, _ctx(), ms.CUSTOMER, mc.CreateCustomer(company_id=order.company_id, name="Ann")
            )
            column = "customer_id"
        elif parent is Store:
            made = _bare_store(session, order.company_id, "LONELY")
            column = "store_id"
        else:
            company = session.get(Company, order.company_id)
            terminal = pos.create_terminal(
                session, _ctx(), company, c.CreateTerminal(store_id=order.store_id, code="T2", name="T2")
            )
            made = pos.open_session(session, _ctx(), terminal.id, Decimal(0))
            column = "pos_session_id"
        parent_id = made.id
        session.execute(update(t.OrderRow).where(t.OrderRow.id == order.id).values({column: parent_id}))
    with pytest.raises(IntegrityError, match=refused(message)), transaction(factory) as session:
        session.execute(delete(parent).where(parent.id == parent_id))
    with factory() as session:
        assert session.get(parent, parent_id) is not None


def test_an_orders_key_cannot_change_under_its_lines(runtime, sold):
    _, line = sold
    factory = runtime.session_factory
    with pytest.raises(IntegrityError, match=refused("the order has lines")), transaction(factory) as session:
        session.execute(update(t.OrderRow).where(t.OrderRow.id == line.order_id).values(id=uuid.uuid4()))
    assert _order_of(factory, line).id == line.order_id
