"""The per-process cache of the master data sales and orders read (decision 0070): a change committed
elsewhere is seen by the next transaction, one made earlier in the same transaction (flushed or not, by
the ORM, Core or plain SQL) by the next read, and one rolled back, to a savepoint or whole, is never
taken for the committed state; a transaction that only reads reads the stamp once."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.inventory.costing_tables import CostingSettings
from retailcore.masterdata import cache
from retailcore.masterdata.tables import Company, PaymentMethod, Product, Store, Tax, TaxRule, TaxSettings
from retailcore.orders.tables import DiscountSettingsRow
from retailcore.pos import cash_rounding
from retailcore.pos.tables import PosCashRounding
from retailcore.pricing import price_lists as pl
from retailcore.pricing.tables import PriceList, PriceListItem
from retailcore.pricing.taxes import RETAILCORE, load_tax_conventions, load_tax_rules
from retailcore.promotions.book import book_for
from retailcore.promotions.services import default_zone
from retailcore.promotions.tables import PromotionRow

D = Decimal
DAY = dt.date(2026, 6, 15)


@pytest.fixture
def company_id(runtime, company, store_factory) -> uuid.UUID:
    """ACME with store S1 (Europe/Paris), a tax rule of its own (jurisdiction XX), a cash rounding, a
    payment method, an active promotion, a product P and a price list for it."""
    company_id = uuid.UUID(company["id"])
    store_factory("S1")
    with transaction(runtime.session_factory) as session:
        session.execute(update(Store).where(Store.company_id == company_id).values(timezone="Europe/Paris"))
        rule = TaxRule(company_id=company_id, jurisdiction="XX", tax_category="test")
        rule.taxes = [Tax(company_id=company_id, code="XX-20", name="XX 20%", rate_percent=D("20"))]
        product = Product(
            company_id=company_id,
            sku="P",
            name="P",
            category="General",
            unit_of_measure="unit",
            tax_category="test",
            cost_method="average",
            list_price=D("10.00"),
            standard_cost=D("0"),
        )
        session.add_all(
            [
                rule,
                PosCashRounding(company_id=company_id, increment=D("0.05"), mode="half_up", updated_by="t"),
                PaymentMethod(company_id=company_id, code="TESTPM", name="Test", kind="cash"),
                PromotionRow(
                    company_id=company_id,
                    code="TENOFF",
                    name="Ten off",
                    kind="percent_off",
                    rule={"percent": "10"},
                    state="active",
                    created_by="test",
                ),
                product,
            ]
        )
        session.flush()
        listed = PriceList(company_id=company_id, code="WEB", name="Web", currency="EUR", channel="web")
        session.add(listed)
        session.flush()
        session.add(
            PriceListItem(
                company_id=company_id, price_list_id=listed.id, product_id=product.id, unit_price=D("9.00")
            )
        )
    return company_id


def rate(session: Session, company_id: uuid.UUID) -> Decimal:
    return load_tax_rules(session, company_id, "XX")["test"][0].rate_percent


def method_active(session: Session, company_id: uuid.UUID) -> bool:
    def load() -> bool:
        return session.get(PaymentMethod, _method_id(session, company_id)).active

    return cache.cached(session, company_id, "test_method", load)


def _method_id(session: Session, company_id: uuid.UUID) -> uuid.UUID:
    return session.query(PaymentMethod.id).filter_by(company_id=company_id, code="TESTPM").scalar()


def web_price(session: Session, company_id: uuid.UUID) -> Decimal:
    company = session.get(Company, company_id)
    product = session.query(Product).filter_by(company_id=company_id, sku="P").one()
    args = {"store_id": None, "currency": "EUR", "on": DAY}
    return pl.price_for(session, company, product, channel="web", **args).unit_price


def everything(session: Session, company_id: uuid.UUID) -> tuple[object, ...]:
    """What each cached reader gives now."""
    return (
        rate(session, company_id),
        load_tax_conventions(session, company_id).rounding,
        cash_rounding.of_company(session, company_id),
        tuple(p.code for p in book_for(session, company_id).promotions),
        str(default_zone(session, company_id)),
        web_price(session, company_id),
        method_active(session, company_id),
    )


BEFORE = (
    D("20"),
    "per_tax",
    cash_rounding.Rounding(D("0.05"), "half_up"),
    ("TENOFF",),
    "Europe/Paris",
    D("9.00"),
    True,
)
AFTER = (
    D("5.5"),
    "global",
    cash_rounding.Rounding(D("0.10"), "down"),
    (),
    "America/New_York",
    D("10.00"),
    False,
)


def change_everything(session: Session, company_id: uuid.UUID) -> None:
    """Plain Core updates, as another process or a hand-made fix would make them."""
    session.execute(update(Tax).where(Tax.company_id == company_id).values(rate_percent=D("5.5")))
    session.add(
        TaxSettings(
            company_id=company_id, rounding="global", included_rounding="tax_first", included_remainder="last"
        )
    )
    session.execute(
        update(PosCashRounding)
        .where(PosCashRounding.company_id == company_id)
        .values(increment=D("0.10"), mode="down")
    )
    session.execute(update(PromotionRow).where(PromotionRow.company_id == company_id).values(state="expired"))
    session.execute(update(Store).where(Store.company_id == company_id).values(timezone="America/New_York"))
    session.execute(update(PriceList).where(PriceList.company_id == company_id).values(active=False))
    session.execute(update(PaymentMethod).where(PaymentMethod.company_id == company_id).values(active=False))


def test_changes_committed_elsewhere_are_seen_by_the_next_transaction(runtime, company_id):
    with runtime.session_factory() as session:
        assert everything(session, company_id) == BEFORE  # fills this process's cache
    with runtime.session_factory() as session:
        assert everything(session, company_id) == BEFORE  # from it
    with transaction(runtime.session_factory) as other:
        change_everything(other, company_id)
    with runtime.session_factory() as session:
        assert everything(session, company_id) == AFTER


def test_a_change_made_earlier_in_the_transaction_is_seen(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        assert everything(session, company_id) == BEFORE
        change_everything(session, company_id)
        assert everything(session, company_id) == AFTER


def test_an_unflushed_orm_change_is_flushed_and_seen(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        assert rate(session, company_id) == D("20")
        tax = session.query(Tax).filter_by(company_id=company_id).one()
        tax.rate_percent = D("7")  # pending: the cache flushes it first, as a query would
        assert rate(session, company_id) == D("7")
        session.get(PosCashRounding, company_id).mode = "up"
        assert cash_rounding.of_company(session, company_id) == cash_rounding.Rounding(D("0.05"), "up")


def test_plain_sql_written_on_the_connection_is_seen(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        assert rate(session, company_id) == D("20")
        session.connection().execute(
            update(Tax).where(Tax.company_id == company_id).values(rate_percent=D("8"))
        )
        assert rate(session, company_id) == D("8")


def test_a_rolled_back_change_is_not_taken_for_the_committed_state(runtime, company_id):
    with runtime.session_factory() as session:
        before = cache.stamp(session, company_id)
    session = runtime.session_factory()
    try:
        change_everything(session, company_id)
        assert everything(session, company_id) == AFTER  # cached under the uncommitted token
        session.rollback()
        assert everything(session, company_id) == BEFORE
    finally:
        session.close()
    with runtime.session_factory() as session:
        assert cache.stamp(session, company_id) == before
        assert everything(session, company_id) == BEFORE


def test_a_savepoint_rolled_back_takes_its_change_with_it(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        assert everything(session, company_id) == BEFORE
        savepoint = session.begin_nested()
        change_everything(session, company_id)
        assert everything(session, company_id) == AFTER
        savepoint.rollback()
        assert everything(session, company_id) == BEFORE


def test_every_cached_table_renews_the_stamp(runtime, company_id):
    def token() -> int | None:
        with runtime.session_factory() as session:
            return cache.stamp(session, company_id)

    seen = {token()}
    assert None not in seen
    changes = [
        update(Tax).where(Tax.company_id == company_id).values(name="Renamed"),
        update(TaxRule).where(TaxRule.company_id == company_id).values(tax_category="other"),
        update(PaymentMethod).where(PaymentMethod.company_id == company_id).values(name="Renamed"),
        update(PosCashRounding).where(PosCashRounding.company_id == company_id).values(updated_by="x"),
        update(PromotionRow).where(PromotionRow.company_id == company_id).values(priority=3),
        update(Store).where(Store.company_id == company_id).values(name="Renamed"),
        update(PriceList).where(PriceList.company_id == company_id).values(priority=3),
    ]
    for change in changes:
        with transaction(runtime.session_factory) as session:
            session.execute(change)
        now = token()
        assert now not in seen, change
        seen.add(now)
    with transaction(runtime.session_factory) as session:
        session.add(
            TaxSettings(
                company_id=company_id,
                rounding="line",
                included_rounding="tax_first",
                included_remainder="last",
            )
        )
    assert token() not in seen
    seen.add(token())
    # Migration 0051: the discount and costing settings a sale and a fulfilment read.
    with transaction(runtime.session_factory) as session:
        session.add(
            DiscountSettingsRow(company_id=company_id, posting="contra", updated_at=utcnow(), updated_by="t")
        )
    assert token() not in seen
    seen.add(token())
    with transaction(runtime.session_factory) as session:
        session.add(CostingSettings(company_id=company_id, average_cost_precision="currency"))
    assert token() not in seen
    with runtime.session_factory() as session:
        assert cache.stamp(session, uuid.uuid4()) is None


def test_a_transaction_that_only_reads_reads_the_stamp_once(runtime, company_id):
    statements: list[str] = []

    def seen(connection, cursor, statement, *args) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    with runtime.session_factory() as session:
        everything(session, company_id)  # fills the cache
        company = session.get(Company, company_id)
        product = session.query(Product).filter_by(company_id=company_id, sku="P").one()
        session.expunge_all()
    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        with runtime.session_factory() as session:
            load_tax_rules(session, company_id, "XX")
            load_tax_conventions(session, company_id)
            cash_rounding.of_company(session, company_id)
            book_for(session, company_id)
            default_zone(session, company_id)
            # No list applies to the POS channel: the list price, and nothing read.
            quote = pl.prices_for(
                session, company, [(product, D(1))], channel="pos", store_id=None, currency="EUR", on=DAY
            )[0]
            assert quote.source == "list_price"
            assert len(statements) == 1 and "master_stamps" in statements[0], statements
            # A write to a table no trigger watches keeps the token (a sale writes its lines, moves and
            # entries between its reads); a write to a stamped table makes the next read take it again.
            session.execute(update(Company).where(Company.id == company_id).values(name="Acme"))
            load_tax_rules(session, company_id, "XX")
            assert len(statements) == 2, statements
            session.execute(update(Store).where(Store.company_id == company_id).values(name="Renamed"))
            load_tax_rules(session, company_id, "XX")
            assert "master_stamps" in statements[3], statements  # then the rules again, under the new token
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)


def test_a_company_without_a_stamp_is_read_afresh(runtime):
    with runtime.session_factory() as session:
        nobody = uuid.uuid4()
        assert cache.stamp(session, nobody) is None
        assert load_tax_rules(session, nobody, "XX") == {}
        assert load_tax_conventions(session, nobody) == RETAILCORE
        assert cash_rounding.of_company(session, nobody) is None
