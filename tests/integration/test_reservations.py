"""Reservations against stock quants, available-to-promise per channel, and the race for the last unit."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import Conflict, InvalidReference, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory import reservations as r
from retailcore.inventory import stock_queries as q
from retailcore.inventory import tables as i
from retailcore.inventory.reservation_tables import Reservation
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location
from support import POSTGRES_URL

D = Decimal


@pytest.fixture(autouse=True)
def _availability_published() -> None:
    # bootstrap does not install the reservations subscriptions yet; tests do.
    r.install()


@pytest.fixture
def shop(runtime, client, admin, company, store_factory):
    """ACME with stores S1 and S2; helpers to make products, receive, reserve and read quants."""
    stores = {code: uuid.UUID(store_factory(code)["id"]) for code in ("S1", "S2")}

    class Shop:
        company_id = uuid.UUID(company["id"])
        store_ids = stores

        def location(self, kind: str, store: str = "S1") -> uuid.UUID:
            with runtime.session_factory() as session:
                query = select(Location.id).where(
                    Location.company_id == self.company_id, Location.kind == kind
                )
                if kind in ("stock", "backroom", "damaged"):
                    query = query.where(Location.store_id == stores[store])
                return session.scalar(query)

        def product(self, sku: str, method: str = "average") -> uuid.UUID:
            body = {
                "company_id": company["id"],
                "sku": sku,
                "name": sku,
                "category": "Cat/A",
                "list_price": "30",
                "cost_method": method,
            }
            response = client.post("/api/v1/products", json=body, headers=admin)
            assert response.status_code == 201, response.text
            return uuid.UUID(response.json()["id"])

        def run(self, work: Any) -> Any:
            with transaction(runtime.session_factory) as session:
                company_row = session.get(Company, self.company_id)
                return work(session, CommandContext(system_principal()), company_row)

        def receive(self, product, quantity, cost="10.00", kind="stock", store="S1"):
            line = MoveLine(
                product, D(quantity), self.location("supplier"), self.location(kind, store), D(cost)
            )
            return self.run(
                lambda s, ctx, c: move_stock(
                    s, ctx, c, kind="receipt", lines=[line], date=dt.date(2026, 3, 1)
                )
            )

        def reserve(self, product, quantity, channel="web", kind="stock", store="S1", **extra):
            location = self.location(kind, store)
            return self.run(
                lambda s, ctx, c: r.reserve(
                    s,
                    ctx,
                    c,
                    product_id=product,
                    location_id=location,
                    quantity=D(quantity),
                    channel=channel,
                    order_ref=extra.pop("order_ref", "WEB-1"),
                    order_line_ref="1",
                    **extra,
                )
            )

        def quant(self, product, kind="stock", store="S1") -> tuple[Decimal, Decimal]:
            with runtime.session_factory() as session:
                row = session.get(i.StockQuant, (product, self.location(kind, store)))
                return (row.quantity, row.reserved) if row else (D(0), D(0))

        def availability(self, product, channel, store=None) -> q.AvailabilityView:
            with runtime.session_factory() as session:
                return q.availability(
                    session,
                    session.get(Company, self.company_id),
                    product_id=product,
                    channel=channel,
                    store_id=stores[store] if store else None,
                )

        def states(self) -> dict[str, str]:
            with runtime.session_factory() as session:
                return dict(session.execute(select(Reservation.order_ref, Reservation.state)).all())

        def events(self, type_: str, after: int = 0) -> list[Event]:
            with runtime.session_factory() as session:
                return list(
                    session.scalars(
                        select(Event)
                        .where(Event.type == type_, Event.position > after)
                        .order_by(Event.position)
                    )
                )

        def session(self):
            return runtime.session_factory()

        def last_position(self) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.max(Event.position))) or 0

        def balance(self, role: str) -> Decimal:
            with runtime.session_factory() as session:
                total = session.scalar(
                    select(func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit))
                    .join(Account, Account.id == a.JournalLine.account_id)
                    .where(Account.company_id == self.company_id, Account.role == role)
                )
                return total if total is not None else D(0)

    return Shop()


def published(events: list[Event]) -> dict[tuple[str, str, str], str]:
    """AvailabilityChanged payloads as {(product, location, channel): available}."""
    return {
        (e.payload["product_id"], e.payload["location_id"], channel): e.payload["available"][channel]
        for e in events
        for channel in e.payload["changed"]
    }


# -- reserving -------------------------------------------------------------------------------------


def test_a_reservation_beyond_what_is_available_is_refused(shop):
    product = shop.product("R1")
    shop.receive(product, "5")
    first = shop.reserve(product, "3")
    assert (first.state, first.quantity) == ("active", D("3"))

    with pytest.raises(Conflict) as refused:
        shop.reserve(product, "2.5", order_ref="WEB-2")

    assert refused.value.code == "insufficient-stock"
    assert [p.field for p in refused.value.problems] == ["quantity"]
    assert "2.00 available" in refused.value.problems[0].message
    assert shop.quant(product) == (D("5"), D("3"))
    assert shop.reserve(product, "2", order_ref="WEB-3").quantity == D("2")  # exactly what is left
    assert shop.quant(product) == (D("5"), D("5"))


def test_nothing_on_hand_at_the_location_means_nothing_to_reserve(shop):
    product = shop.product("R2")
    shop.receive(product, "5", store="S2")
    with pytest.raises(Conflict) as refused:
        shop.reserve(product, "1", store="S1")  # no quant at S1 at all
    assert refused.value.code == "insufficient-stock"
    assert shop.quant(product, store="S1") == (D(0), D(0))


def test_damaged_goods_and_bad_input_are_not_reservable(shop):
    product = shop.product("R3")
    shop.receive(product, "5")
    with pytest.raises(ValidationFailed) as damaged:
        shop.reserve(product, "1", kind="damaged")
    assert damaged.value.problems[0].field == "location_id"
    with pytest.raises(ValidationFailed) as channel:
        shop.reserve(product, "1", channel="fax")
    assert channel.value.problems[0].field == "channel"
    with pytest.raises(ValidationFailed) as quantity:
        shop.reserve(product, "0.00001")
    assert quantity.value.problems[0].field == "quantity"
    with pytest.raises(ValidationFailed) as expiry:
        shop.reserve(product, "1", expires_at=utcnow() - dt.timedelta(minutes=1))
    assert expiry.value.problems[0].field == "expires_at"
    with pytest.raises(InvalidReference) as unknown:
        shop.reserve(uuid.uuid4(), "1")
    assert unknown.value.problems[0].field == "product_id"
    assert shop.quant(product) == (D("5"), D("0"))


def test_release_gives_the_quantity_back_once(shop):
    product = shop.product("L1")
    shop.receive(product, "4")
    reservation = shop.reserve(product, "4")

    released = shop.run(lambda s, ctx, c: r.release(s, ctx, c, reservation.id, reason="order cancelled"))

    assert released.state == "released"
    assert shop.quant(product) == (D("4"), D("0"))
    with pytest.raises(Conflict) as again:
        shop.run(lambda s, ctx, c: r.release(s, ctx, c, reservation.id))
    assert again.value.code == "reservation-not-active"
    assert shop.quant(product) == (D("4"), D("0"))
    [event] = shop.events("ReservationReleased")
    assert event.payload["reason"] == "order cancelled"
    assert D(event.payload["quantity"]) == D("4")


def test_consume_delivers_the_reserved_quantity_and_posts_cogs(shop):
    product = shop.product("C1")
    shop.receive(product, "5", cost="10.00")
    reservation = shop.reserve(product, "2", channel="web", order_ref="WEB-77")
    mark = shop.last_position()

    consumed, result = shop.run(
        lambda s, ctx, c: r.consume(s, ctx, c, reservation.id, date=dt.date(2026, 3, 5))
    )

    assert consumed.state == "consumed"
    assert shop.quant(product) == (D("3"), D("0"))
    [move] = result.moves
    assert (move.kind, move.quantity, move.value, move.reference) == (
        "delivery",
        D("2"),
        D("20.00"),
        "WEB-77",
    )
    assert result.event.type == "GoodsIssued"
    assert result.event.payload["reservation_id"] == str(reservation.id)
    assert shop.balance("cogs") == D("20.00")
    assert shop.balance("inventory") == D("30.00")
    [event] = shop.events("ReservationConsumed", after=mark)
    assert event.payload["move_event_id"] == str(result.event.id)
    # On hand and reserved dropped together: what the channels may sell did not change.
    assert shop.events("AvailabilityChanged", after=mark) == []
    with pytest.raises(Conflict):
        shop.run(lambda s, ctx, c: r.consume(s, ctx, c, reservation.id))


def test_consuming_two_reservations_of_one_place_in_one_transaction_drops_each_from_reserved(shop):
    # Decision 0067: move_stock takes a consumed reservation's quantity off the quant's reserved quantity,
    # once per consumption, and the channels' values never change (safety stock held back or not).
    product = shop.product("C2")
    shop.receive(product, "6", cost="10.00")
    shop.run(lambda s, ctx, c: r.set_safety_stock(s, ctx, c, channel="web", quantity=D("2")))
    first = shop.reserve(product, "2", channel="web", order_ref="WEB-81")
    second = shop.reserve(product, "3", channel="web", order_ref="WEB-82")
    mark = shop.last_position()

    def both(s, ctx, c):
        partly, _ = r.consume(s, ctx, c, first.id, quantity=D("1"))
        whole, _ = r.consume(s, ctx, c, second.id)
        return partly, whole

    partly, whole = shop.run(both)

    assert (partly.state, partly.quantity, whole.state) == ("active", D("1"), "consumed")
    assert shop.quant(product) == (D("2"), D("1"))
    assert shop.events("AvailabilityChanged", after=mark) == []
    assert len(shop.events("GoodsIssued", after=mark)) == 2


def test_overdue_reservations_expire_and_free_their_stock(shop):
    product = shop.product("E1")
    shop.receive(product, "10")
    start = utcnow() - dt.timedelta(hours=3)
    cart = shop.reserve(
        product, "2", order_ref="CART-1", expires_at=start + dt.timedelta(minutes=30), now=start
    )
    later = shop.reserve(
        product, "3", order_ref="CART-2", expires_at=start + dt.timedelta(hours=2), now=start
    )
    paid = shop.reserve(product, "4", order_ref="PAID-1")
    assert shop.quant(product) == (D("10"), D("9"))

    expired = shop.run(lambda s, ctx, c: r.expire_reservations(s, ctx, c, start + dt.timedelta(hours=1)))

    assert [x.id for x in expired] == [cart.id]
    assert shop.quant(product) == (D("10"), D("7"))
    expired = shop.run(lambda s, ctx, c: r.expire_reservations(s, ctx, c, start + dt.timedelta(hours=1)))
    assert expired == []  # nothing twice
    expired = shop.run(lambda s, ctx, c: r.expire_reservations(s, ctx, c))
    assert [x.id for x in expired] == [later.id]
    assert shop.quant(product) == (D("10"), D("4"))
    assert shop.states() == {"CART-1": "expired", "CART-2": "expired", "PAID-1": "active"}
    assert [e.payload["order_ref"] for e in shop.events("ReservationExpired")] == ["CART-1", "CART-2"]
    assert paid.state == "active"


# -- available-to-promise --------------------------------------------------------------------------


def test_available_to_promise_holds_back_each_channels_safety_stock(shop):
    shirt, socks = shop.product("ATP-SHIRT"), shop.product("ATP-SOCKS")
    shop.receive(shirt, "10", kind="stock")
    shop.receive(shirt, "4", kind="backroom")
    shop.receive(shirt, "6", store="S2")
    shop.receive(socks, "1")
    shop.reserve(shirt, "2", channel="pos")

    def set_safety(channel, quantity, product=None):
        return shop.run(
            lambda s, ctx, c: r.set_safety_stock(
                s, ctx, c, channel=channel, quantity=D(quantity), product_id=product
            )
        )

    set_safety("web", "2")  # the web's default
    set_safety("web", "3", shirt)  # the shirt's own, for the web
    set_safety("marketplace", "5")

    web = shop.availability(shirt, "web", store="S1")
    # by location code: backroom 4 - 0 reserved - 3 = 1; stock 10 - 2 - 3 = 5
    assert [(loc.on_hand, loc.reserved, loc.safety_stock, loc.available) for loc in web.locations] == [
        (D("4"), D("0"), D("3"), D("1")),
        (D("10"), D("2"), D("3"), D("5")),
    ]
    assert (web.on_hand, web.reserved, web.available) == (D("14"), D("2"), D("6"))
    assert shop.availability(shirt, "web").available == D("9")  # S2 adds 6 - 3
    assert shop.availability(shirt, "pos", store="S1").available == D("12")  # no safety stock for the POS
    assert shop.availability(socks, "web").available == D("0")  # 1 - default 2: never below zero
    assert shop.availability(shirt, "marketplace", store="S1").available == D("3")  # 5 + 0
    # A product's own row wins even when it is zero.
    set_safety("web", "0", socks)
    assert shop.availability(socks, "web").available == D("1")


def test_every_change_of_atp_is_published_per_product_location_and_channel(shop):
    product = shop.product("PUB-1")
    stock = str(shop.location("stock"))
    key = str(product)

    mark = shop.last_position()
    shop.receive(product, "5")
    assert published(shop.events("AvailabilityChanged", after=mark)) == {
        (key, stock, "pos"): "5.0000",
        (key, stock, "web"): "5.0000",
        (key, stock, "marketplace"): "5.0000",
        (key, stock, "b2b"): "5.0000",
    }
    [first] = shop.events("AvailabilityChanged", after=mark)  # one per product and location
    assert first.payload["available"] == dict.fromkeys(("pos", "web", "marketplace", "b2b"), "5.0000")
    assert first.payload["store_id"] == str(shop.store_ids["S1"])
    assert first.store_id == shop.store_ids["S1"]

    mark = shop.last_position()
    shop.run(
        lambda s, ctx, c: r.set_safety_stock(s, ctx, c, channel="web", quantity=D("2"), product_id=product)
    )
    assert published(shop.events("AvailabilityChanged", after=mark)) == {(key, stock, "web"): "3.0000"}
    [only_web] = shop.events("AvailabilityChanged", after=mark)
    assert only_web.payload["changed"] == ["web"]
    assert only_web.payload["available"]["pos"] == "5.0000"  # unchanged channels carry their value

    mark = shop.last_position()
    reservation = shop.reserve(product, "4")
    assert published(shop.events("AvailabilityChanged", after=mark)) == {
        (key, stock, "pos"): "1.0000",
        (key, stock, "web"): "0.0000",  # 5 - 4 - 2 is below zero: nothing to promise
        (key, stock, "marketplace"): "1.0000",
        (key, stock, "b2b"): "1.0000",
    }

    mark = shop.last_position()
    shop.run(lambda s, ctx, c: r.release(s, ctx, c, reservation.id))
    changes = published(shop.events("AvailabilityChanged", after=mark))
    assert changes[(key, stock, "web")] == "3.0000" and changes[(key, stock, "pos")] == "5.0000"

    # Moving into damaged goods takes units out of what can be promised; damaged is not published.
    mark = shop.last_position()
    line = MoveLine(product, D("1"), shop.location("stock"), shop.location("damaged"))
    shop.run(lambda s, ctx, c: move_stock(s, ctx, c, kind="internal", lines=[line], date=dt.date(2026, 3, 2)))
    changes = published(shop.events("AvailabilityChanged", after=mark))
    assert {k[1] for k in changes} == {stock}
    assert changes[(key, stock, "pos")] == "4.0000"


def test_a_sale_without_stock_is_recorded_negative_and_publishes_zero_once(shop):
    product = shop.product("NEG-1")
    shop.receive(product, "1")
    mark = shop.last_position()
    line = MoveLine(product, D("3"), shop.location("stock"), shop.location("customer"))
    result = shop.run(
        lambda s, ctx, c: move_stock(s, ctx, c, kind="delivery", lines=[line], date=dt.date(2026, 3, 2))
    )
    assert [e.kind for e in result.exceptions] == ["negative_stock"]
    assert shop.quant(product) == (D("-2"), D("0"))
    assert set(published(shop.events("AvailabilityChanged", after=mark)).values()) == {"0.0000"}
    with pytest.raises(Conflict):
        shop.reserve(product, "1")
    # Going from -2 to -1 changes nothing a channel can sell: nothing is published.
    mark = shop.last_position()
    shop.receive(product, "1")
    assert shop.events("AvailabilityChanged", after=mark) == []


# -- the race for the last unit --------------------------------------------------------------------


@pytest.mark.skipif(not POSTGRES_URL, reason="row locks need PostgreSQL; SQLite has a single writer")
@pytest.mark.parametrize("round_", range(3))
def test_two_orders_racing_for_the_last_unit_one_wins(shop, runtime, round_):
    product = shop.product(f"LAST-{round_}")
    shop.receive(product, "1")
    location = shop.location("stock")
    barrier = threading.Barrier(2, timeout=10)
    outcomes: dict[str, Any] = {}

    def order(name: str) -> None:
        try:
            # Two sessions, two connections, two transactions that both start before either reserves.
            with transaction(runtime.session_factory) as session:
                company = session.get(Company, shop.company_id)
                session.get(i.StockQuant, (product, location))  # both have read the quant: 1 available
                barrier.wait()
                r.reserve(
                    session,
                    CommandContext(system_principal()),
                    company,
                    product_id=product,
                    location_id=location,
                    quantity=D("1"),
                    channel="web",
                    order_ref=name,
                )
            outcomes[name] = "reserved"
        except Conflict as refused:
            outcomes[name] = refused.code

    threads = [threading.Thread(target=order, args=(name,)) for name in ("ORDER-A", "ORDER-B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["insufficient-stock", "reserved"]
    assert shop.quant(product) == (D("1"), D("1"))
    assert list(shop.states().values()) == ["active"]


# -- oversold: goods promised to an order left another way -----------------------------------------


def _move(shop, kind, product, quantity, source, destination):
    line = MoveLine(product, D(quantity), source, destination)
    return shop.run(
        lambda s, ctx, c: move_stock(s, ctx, c, kind=kind, lines=[line], date=dt.date(2026, 3, 2))
    )


def _oversold(shop) -> list[i.StockException]:
    with shop.session() as session:
        return list(
            session.scalars(
                select(i.StockException)
                .where(i.StockException.kind == "oversold")
                .order_by(i.StockException.id)
            )
        )


@pytest.mark.parametrize(
    ("kind", "destination"),
    [
        ("scrap", "inventory_loss"),
        ("count_loss", "inventory_loss"),
        ("internal", "backroom"),
        ("transfer_out", "in_transit"),
        ("supplier_return", "supplier"),
    ],
)
def test_any_move_out_of_a_sellable_place_can_oversell_what_is_promised_there(shop, kind, destination):
    product = shop.product(f"OUT-{kind}")
    shop.receive(product, "3")
    shop.reserve(product, "2", order_ref="WEB-7")

    _move(shop, kind, product, "1", shop.location("stock"), shop.location(destination))
    assert _oversold(shop) == []  # 2 on hand, 2 promised: still whole

    result = _move(shop, kind, product, "1", shop.location("stock"), shop.location(destination))

    [exception] = _oversold(shop)
    assert [e.id for e in result.exceptions] == [exception.id]
    assert (exception.status, exception.product_id, exception.location_id, exception.store_id) == (
        "open",
        product,
        shop.location("stock"),
        shop.store_ids["S1"],
    )
    assert exception.event_id == result.event.id
    assert exception.details["shortfall"] == "1.00"
    assert [(o["order_ref"], o["order_line_ref"], o["quantity"]) for o in exception.details["orders"]] == [
        ("WEB-7", "1", "2.00")
    ]


def test_stock_short_without_promises_or_coming_in_is_not_oversold(shop):
    product = shop.product("NOT-OVERSOLD")
    shop.receive(product, "1")
    _move(shop, "delivery", product, "2", shop.location("stock"), shop.location("customer"))
    assert _oversold(shop) == []  # negative, but nobody was promised anything: negative_stock only

    other = shop.product("STILL-SHORT")
    shop.receive(other, "2")
    shop.reserve(other, "2")
    _move(shop, "scrap", other, "2", shop.location("stock"), shop.location("inventory_loss"))
    [opened] = _oversold(shop)
    shop.receive(other, "1")  # still short by one: goods coming in open nothing
    assert [e.id for e in _oversold(shop)] == [opened.id]


def test_a_move_that_oversells_nothing_reads_no_reservation_or_exception(shop, runtime):
    product = shop.product("HOT-PATH")
    shop.receive(product, "5")
    shop.reserve(product, "2")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        line = MoveLine(product, D("3"), shop.location("stock"), shop.location("customer"))
        with transaction(runtime.session_factory) as session:
            company = session.get(Company, shop.company_id)
            statements.clear()
            move_stock(
                session,
                CommandContext(system_principal()),
                company,
                kind="delivery",
                lines=[line],
                date=dt.date(2026, 3, 2),
            )
            made = list(statements)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)

    assert made  # the move itself was written
    assert [s for s in made if "reservations" in s or "stock_exceptions" in s] == []


def test_levels_at_reads_several_locations_at_once_as_stock_levels_does(shop):
    first, second = shop.product("L1"), shop.product("L2")
    shop.receive(first, "5")
    shop.receive(second, "2")
    shop.receive(first, "7", store="S2")
    shop.reserve(first, "3")
    s1, s2, empty = shop.location("stock"), shop.location("stock", "S2"), shop.location("backroom")

    with shop.session() as session:
        found = q.levels_at(session, shop.company_id, [s1, s2, empty])
        company = session.get(Company, shop.company_id)
        pages = {
            location: {
                item.product_id: (item.on_hand, item.reserved)
                for item in q.stock_levels(session, company, location_id=location, limit=1000).items
            }
            for location in (s1, s2, empty)
        }

    assert found == pages
    assert found[s1] == {first: (D("5"), D("3")), second: (D("2"), D("0"))}
    assert list(found[s1]) == sorted(found[s1])  # by product id, as stock_levels pages them
    assert found[s2] == {first: (D("7"), D("0"))}
    assert found[empty] == {}
