"""Price lists against the database: choosing a price, events, constraints; and loading tax rules."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company, Product
from retailcore.pricing import price_lists as pl
from retailcore.pricing.tables import PriceListItem
from retailcore.pricing.taxes import TaxableLine, TaxSpec, compute_taxes, load_tax_rules

D = Decimal
DAY = dt.date(2026, 6, 15)


@pytest.fixture
def shop(runtime, client, admin, company, store_factory):
    """ACME (EUR) with stores S1, S2 and products A (list price 10.00) and B."""
    stores = {code: uuid.UUID(store_factory(code)["id"]) for code in ("S1", "S2")}
    products = {}
    for sku in ("A", "B"):
        body = {
            "company_id": company["id"],
            "sku": sku,
            "name": sku,
            "category": "General",
            "list_price": "10.00",
        }
        response = client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        products[sku] = uuid.UUID(response.json()["id"])

    class Shop:
        company_id = uuid.UUID(company["id"])
        store_ids = stores
        product_ids = products

        def create(self, code: str, prices: dict[str, str] | None = None, **fields) -> uuid.UUID:
            items = [
                {"product_id": products[sku], "unit_price": D(price)}
                for sku, price in (prices or {"A": "9"}).items()
            ]
            body = pl.CreatePriceList(
                code=code, name=code, currency=fields.pop("currency", "EUR"), items=items, **fields
            )
            with transaction(runtime.session_factory) as session:
                ctx = CommandContext(system_principal())
                return pl.create_price_list(session, ctx, session.get(Company, self.company_id), body).id

        def quote(self, sku: str = "A", **kwargs) -> pl.Quote:
            args = {"channel": "pos", "store_id": None, "currency": "EUR", "on": DAY, **kwargs}
            with runtime.session_factory() as session:
                company = session.get(Company, self.company_id)
                return pl.price_for(session, company, session.get(Product, products[sku]), **args)

        def run(self, work):
            with transaction(runtime.session_factory) as session:
                return work(session, CommandContext(system_principal()))

    return Shop()


def test_without_lists_the_list_price_applies_in_the_company_currency(shop):
    quote = shop.quote()
    assert (quote.unit_price, quote.source, quote.price_list_id) == (D("10.00"), "list_price", None)


def test_without_lists_a_foreign_currency_has_no_price(shop):
    with pytest.raises(pl.NoPrice, match="USD") as caught:
        shop.quote(currency="USD")
    assert [p.field for p in caught.value.problems] == ["currency"]


def test_the_most_specific_list_wins(shop):
    shop.create("GENERIC", {"A": "9.00"})
    assert shop.quote().source == "price_list:GENERIC"
    shop.create("GROUP", {"A": "8.50"}, customer_group="vip")
    assert shop.quote().source == "price_list:GENERIC"  # no group asked for
    assert shop.quote(customer_group="vip").unit_price == D("8.50")
    shop.create("POS", {"A": "8.00"}, channel="pos")
    assert shop.quote(customer_group="vip").source == "price_list:POS"  # channel beats group
    assert shop.quote(channel="web").source == "price_list:GENERIC"
    shop.create("S1", {"A": "7.00"}, store_id=shop.store_ids["S1"])
    assert shop.quote(store_id=shop.store_ids["S1"]).source == "price_list:S1"  # store beats channel
    assert shop.quote(store_id=shop.store_ids["S2"]).source == "price_list:POS"


def test_priority_then_code_break_ties(shop):
    shop.create("B-LIST", {"A": "9.00"})
    shop.create("A-LIST", {"A": "8.00"})
    assert shop.quote().source == "price_list:A-LIST"  # same priority: code order
    shop.create("C-LIST", {"A": "7.00"}, priority=5)
    assert shop.quote().source == "price_list:C-LIST"


def test_a_list_without_the_product_does_not_hide_a_generic_one(shop):
    shop.create("GENERIC", {"A": "9.00"})
    shop.create("POS", {"B": "4.00"}, channel="pos")
    assert shop.quote("A").source == "price_list:GENERIC"
    assert shop.quote("B").source == "price_list:POS"


def test_validity_dates_are_inclusive_and_inactive_lists_are_ignored(shop):
    list_id = shop.create("SUMMER", {"A": "5.00"}, valid_from=dt.date(2026, 6, 1), valid_to=DAY)
    assert shop.quote(on=DAY).source == "price_list:SUMMER"
    assert shop.quote(on=dt.date(2026, 6, 1)).source == "price_list:SUMMER"
    assert shop.quote(on=DAY + dt.timedelta(days=1)).source == "list_price"
    assert shop.quote(on=dt.date(2026, 5, 31)).source == "list_price"
    shop.run(lambda s, ctx: pl.update_price_list(s, ctx, list_id, pl.UpdatePriceList(active=False)))
    assert shop.quote(on=DAY).source == "list_price"


def test_quantity_breaks_take_the_biggest_break_reached(shop):
    list_id = shop.create("BREAKS", {"A": "9.00"})
    items = [
        pl.ItemIn(product_id=shop.product_ids["A"], unit_price=D("9.00")),
        pl.ItemIn(product_id=shop.product_ids["A"], unit_price=D("8.00"), min_quantity=D("10")),
        pl.ItemIn(product_id=shop.product_ids["A"], unit_price=D("7.1234"), min_quantity=D("100")),
    ]
    shop.run(lambda s, ctx: pl.replace_items(s, ctx, list_id, items))
    assert shop.quote(quantity=D("9.9999")).unit_price == D("9.00")
    assert shop.quote(quantity=D("10")).unit_price == D("8.00")
    quote = shop.quote(quantity=D("250"))
    assert (quote.unit_price, quote.min_quantity) == (D("7.1234"), D("100"))


def test_an_order_s_lines_priced_together_get_what_each_would_alone(shop, runtime):
    # Given a list with quantity breaks on A and nothing for B (B falls back to its list price)
    list_id = shop.create("BREAKS", {"A": "9.00"})
    items = [
        pl.ItemIn(product_id=shop.product_ids["A"], unit_price=D("9.00")),
        pl.ItemIn(product_id=shop.product_ids["A"], unit_price=D("8.00"), min_quantity=D("10")),
    ]
    shop.run(lambda s, ctx: pl.replace_items(s, ctx, list_id, items))
    wanted = [("A", D("2")), ("B", D("1")), ("A", D("12"))]  # A twice, below and above its break
    with runtime.session_factory() as session:
        company = session.get(Company, shop.company_id)
        products = {sku: session.get(Product, shop.product_ids[sku]) for sku in ("A", "B")}
        # When they are priced in one call
        quotes = pl.prices_for(
            session,
            company,
            [(products[sku], quantity) for sku, quantity in wanted],
            channel="pos",
            store_id=None,
            currency="EUR",
            on=DAY,
        )
    # Then each line gets the quote it gets alone, in the order asked
    assert [(q.unit_price, q.source) for q in quotes] == [
        (D("9.00"), "price_list:BREAKS"),
        (D("10.00"), "list_price"),
        (D("8.00"), "price_list:BREAKS"),
    ]
    assert quotes == [shop.quote(sku, quantity=quantity) for sku, quantity in wanted]


def test_a_foreign_currency_list_prices_in_its_currency(shop):
    shop.create("USD", {"A": "11.00"}, currency="USD")
    assert shop.quote(currency="USD").unit_price == D("11.00")
    assert shop.quote().source == "list_price"


def test_changes_record_events(shop, runtime):
    list_id = shop.create("EVENTS", {"A": "9.00"})
    shop.run(
        lambda s, ctx: pl.update_price_list(s, ctx, list_id, pl.UpdatePriceList(priority=3, name="EVENTS"))
    )
    shop.run(lambda s, ctx: pl.replace_items(s, ctx, list_id, []))
    with runtime.session_factory() as session:
        events = list(
            session.scalars(select(Event).where(Event.aggregate_id == list_id).order_by(Event.position))
        )
        assert not session.scalars(select(PriceListItem)).all()
    assert [e.type for e in events] == ["PriceListCreated", "PriceListChanged", "PriceListItemsReplaced"]
    assert events[0].payload["items"][0]["unit_price"] == "9.00"
    assert events[1].payload["changes"] == {"priority": {"from": 0, "to": 3}}  # unchanged name not listed
    assert events[2].payload["items"] == []


def test_refusals(shop):
    shop.create("TAKEN")
    with pytest.raises(Conflict) as taken:
        shop.create("TAKEN")
    assert [p.field for p in taken.value.problems] == ["code"]
    with pytest.raises(InvalidReference) as store:
        shop.create("NOSTORE", store_id=uuid.uuid4())
    assert [p.field for p in store.value.problems] == ["store_id"]
    list_id = shop.create("NOPRODUCT")
    unknown = [pl.ItemIn(product_id=uuid.uuid4(), unit_price=D("1"))]
    with pytest.raises(InvalidReference) as product:
        shop.run(lambda s, ctx: pl.replace_items(s, ctx, list_id, unknown))
    assert [p.field for p in product.value.problems] == ["items.0.product_id"]
    with pytest.raises(NotFound):
        shop.run(lambda s, ctx: pl.update_price_list(s, ctx, uuid.uuid4(), pl.UpdatePriceList(priority=1)))
    list_id = shop.create("DATES", valid_from=DAY)
    with pytest.raises(ValidationFailed):
        shop.run(
            lambda s, ctx: pl.update_price_list(
                s, ctx, list_id, pl.UpdatePriceList(valid_to=DAY - dt.timedelta(days=1))
            )
        )


def test_the_database_refuses_items_of_another_company_and_duplicate_breaks(shop, runtime):
    list_id = shop.create("DB", {"A": "9.00"})
    with pytest.raises(IntegrityError), transaction(runtime.session_factory) as session:
        session.add(
            PriceListItem(
                company_id=shop.company_id,
                price_list_id=list_id,
                product_id=shop.product_ids["A"],
                unit_price=D("1"),
                min_quantity=D("1"),
            )
        )
    with pytest.raises(IntegrityError), transaction(runtime.session_factory) as session:
        session.add(
            PriceListItem(
                company_id=uuid.uuid4(),
                price_list_id=list_id,
                product_id=shop.product_ids["B"],
                unit_price=D("1"),
                min_quantity=D("1"),
            )
        )


def test_load_tax_rules_feeds_the_engine(shop, runtime, client, admin, company):
    body = {
        "company_id": company["id"],
        "jurisdiction": "FR",
        "tax_category": "standard",
        "taxes": [{"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20", "rounding": "document"}],
    }
    assert client.post("/api/v1/tax-rules", json=body, headers=admin).status_code == 201
    with runtime.session_factory() as session:
        rules = load_tax_rules(session, shop.company_id, "FR")
    assert rules == {"standard": [TaxSpec("FR-VAT-20", "VAT 20%", D("20"), True, "document", 0)]}
    doc = compute_taxes([TaxableLine("1", D("12.00"), "standard")], rules, "EUR")
    assert (doc.net_total, doc.tax_total) == (D("10.00"), D("2.00"))
