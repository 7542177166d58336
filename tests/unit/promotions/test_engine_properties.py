"""Properties of the pricing engine over random baskets and random books of promotions of every kind
and stacking mode: amounts stay within the line, sums are exact, the order given does not matter, and
the chosen option takes at least as much as any other."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from promotion_builders import D, basket, pid, promo

from retailcore.promotions.engine import PromotionBook, allocate
from retailcore.promotions.model import (
    PROMOTION_KINDS,
    Basket,
    BasketLine,
    BundleComponent,
    PricedBasket,
    Target,
    Tier,
    Window,
)

PRODUCTS = ["tee", "polo", "oxford", "mug", "scarf"]
CATEGORY = {"tee": "shirts", "polo": "shirts", "oxford": "shirts", "mug": "kitchen", "scarf": "accessories"}

money = st.decimals(min_value=D("0.01"), max_value=D(500), places=2)
quantities = st.one_of(st.integers(1, 7).map(Decimal), st.decimals(D("0.1"), D(5), places=3))


@st.composite
def targets(draw) -> Target:
    products = draw(st.frozensets(st.sampled_from(PRODUCTS), max_size=2))
    categories = draw(st.frozensets(st.sampled_from(sorted(set(CATEGORY.values()))), max_size=1))
    return Target(frozenset(pid(p) for p in products), categories)


@st.composite
def promotions(draw, code: str):
    kind = draw(st.sampled_from(list(PROMOTION_KINDS)))
    common = {
        "stacking": draw(st.sampled_from(["exclusive", "stackable", "best"])),
        "priority": draw(st.integers(0, 3)),
        "target": draw(targets()),
        "coupon_only": draw(st.booleans()),
    }
    if draw(st.booleans()):
        common["windows"] = (Window(frozenset({0}), dt.time(10), dt.time(14)),)  # holds at Monday noon
    if kind in ("percent_off", "amount_off"):
        scope = draw(st.sampled_from(["line", "category", "order"]))
        if kind == "percent_off":
            return promo(code, kind, scope=scope, percent=draw(st.decimals(1, 100, places=1)), **common)
        return promo(code, kind, scope=scope, amount=draw(money), **common)
    if kind == "buy_x_get_y":
        return promo(
            code,
            kind,
            buy_quantity=D(draw(st.integers(1, 3))),
            get_quantity=D(draw(st.integers(1, 2))),
            percent=draw(st.sampled_from([D(100), D(50), D("33.3")])),
            **common,
        )
    if kind == "mix_and_match":
        return promo(code, kind, buy_quantity=D(draw(st.integers(2, 4))), bundle_price=draw(money), **common)
    if kind == "bundle_price":
        parts = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=3, unique=True))
        components = tuple(BundleComponent(pid(p), D(draw(st.integers(1, 2)))) for p in parts)
        return promo(code, kind, components=components, bundle_price=draw(money), **common)
    if kind == "tiered_spend":
        tiers = tuple(
            Tier(draw(money), percent=draw(st.decimals(1, 50, places=0)))
            if draw(st.booleans())
            else Tier(draw(money), amount=draw(money))
            for _ in range(draw(st.integers(1, 3)))
        )
        return promo(code, kind, tiers=tiers, **common)
    return promo(code, kind, threshold=draw(money), **common)


@st.composite
def baskets(draw) -> Basket:
    products = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=4))
    lines = tuple(
        BasketLine(
            key=f"l{k}",
            product_id=pid(p),
            category=CATEGORY[p],
            quantity=draw(quantities),
            unit_price=draw(money),
            manual_discount=draw(st.sampled_from([D(0), D(0), D("1.00"), D("25.00")])),
            floor_amount=draw(st.none() | money),
        )
        for k, p in enumerate(products)
    )
    return basket(
        *lines,
        shipping=draw(st.sampled_from([D(0), D("4.95")])),
        currency_decimals=draw(st.sampled_from([0, 2, 3])),
    )


books = st.integers(0, 8).flatmap(lambda n: st.tuples(*(promotions(f"P{k}") for k in range(n))))


def by_key(priced: PricedBasket) -> dict:
    return {ln.key: ln for ln in priced.lines}


@settings(max_examples=200, deadline=None)
@given(baskets(), books)
def test_amounts_stay_within_each_line_and_sum_exactly(b, promos):
    priced = PromotionBook(promos).price(b)
    q = Decimal(1).scaleb(-b.currency_decimals)
    for source, ln in zip(b.lines, priced.lines, strict=True):
        assert ln.key == source.key
        assert ln.amount == (source.quantity * source.unit_price).quantize(q, ROUND_HALF_UP)
        assert 0 <= ln.discount <= ln.amount
        assert ln.discount == sum((d.amount for d in ln.discounts), D(0))
        assert ln.net == ln.amount - ln.discount >= 0
        assert all(d.amount > 0 and d.amount == d.amount.quantize(q) for d in ln.discounts)
        assert ln.below_floor == (
            source.floor_amount is not None and ln.net < source.quantity * source.floor_amount
        )
    shipping = sum((d.amount for d in priced.shipping_discounts), D(0))
    assert shipping <= b.shipping
    assert priced.discount == sum((ln.discount for ln in priced.lines), D(0)) + shipping
    applied = {d.promotion_id for ln in priced.lines for d in ln.discounts if d.source != "manual"}
    applied |= {d.promotion_id for d in priced.shipping_discounts}
    assert {p.code for p in promos if p.id in applied} == set(priced.promotions)


@settings(max_examples=200, deadline=None)
@given(baskets(), books, st.randoms(use_true_random=False))
def test_the_order_of_lines_promotions_and_coupons_does_not_matter(b, promos, rnd: random.Random):
    coupons = [(f"C{k}", p.id) for k, p in enumerate(promos) if rnd.random() < 0.5]
    coupons += [(f"D{k}", p.id) for k, p in enumerate(promos) if rnd.random() < 0.2]
    b = replace(b, coupons=tuple(coupons))
    first = PromotionBook(promos).price(b)
    for ln in first.lines:
        for d in ln.discounts:
            if d.source == "coupon":
                assert d.code == min(code for code, pid in coupons if pid == d.promotion_id)
    lines = list(b.lines)
    rnd.shuffle(lines)
    shuffled = list(promos)
    rnd.shuffle(shuffled)
    rnd.shuffle(coupons)
    again = PromotionBook(shuffled).price(replace(b, lines=tuple(lines), coupons=tuple(coupons)))
    assert by_key(first) == by_key(again)
    assert first.promotions == again.promotions
    assert first.shipping_discounts == again.shipping_discounts


@settings(max_examples=200, deadline=None)
@given(baskets())
def test_without_promotions_the_net_is_the_amount_less_the_manual_discount(b):
    priced = PromotionBook([]).price(b)
    q = Decimal(1).scaleb(-b.currency_decimals)
    for source, ln in zip(b.lines, priced.lines, strict=True):
        assert ln.net == max(D(0), ln.amount - source.manual_discount.quantize(q, ROUND_HALF_UP))
    assert priced.promotions == () and priced.shipping_discounts == ()


def promotion_discount(priced: PricedBasket) -> Decimal:
    lines = sum((d.amount for ln in priced.lines for d in ln.discounts if d.source != "manual"), D(0))
    return lines + sum((d.amount for d in priced.shipping_discounts), D(0))


@settings(max_examples=200, deadline=None)
@given(baskets(), books)
def test_the_customer_gets_at_least_what_any_exclusive_or_the_stack_alone_gives(b, promos):
    chosen = promotion_discount(PromotionBook(promos).price(b))
    for p in promos:
        if p.stacking == "exclusive":
            assert chosen >= promotion_discount(PromotionBook([p]).price(b))
    stackable = [p for p in promos if p.stacking == "stackable"]
    assert chosen >= promotion_discount(PromotionBook(stackable).price(b))


@settings(max_examples=200, deadline=None)
@given(baskets(), books)
def test_the_chosen_option_is_the_best_of_the_options_computed_one_by_one(b, promos):
    """Against the definition, without the engine's shortcuts (shared prefix, pruning): each exclusive
    alone, and the stackable chain with each ``best`` made stackable in its place."""
    stackable = [p for p in promos if p.stacking == "stackable"]
    bests = [p for p in promos if p.stacking == "best"]
    options = [promotion_discount(PromotionBook([p]).price(b)) for p in promos if p.stacking == "exclusive"]
    chains = [[*stackable, replace(best, stacking="stackable")] for best in bests] or [stackable]
    options += [promotion_discount(PromotionBook(chain).price(b)) for chain in chains]
    assert promotion_discount(PromotionBook(promos).price(b)) == max(options)


@given(
    st.decimals(0, 1000, places=2),
    st.lists(st.decimals(D("0.01"), 1000, places=2), min_size=1, max_size=6),
)
def test_allocate_sums_to_the_total_and_respects_each_weight(total, weights):
    parts = allocate(total, weights, 2)
    assert sum(parts, D(0)) == min(total, sum(weights))
    assert all(0 <= part <= w for part, w in zip(parts, weights, strict=True))
