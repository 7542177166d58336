"""The POS screen's pricing mirror (``static/pricing.js``, decision 0082) against the one pricing
function (``promotions/engine.py``): thousands of generated baskets and books of promotions, of every
kind, stacking mode, scope, window and eligibility rule, priced by both; every line's amount, each of
its discounts (source, code, amount, promotion), its discount, net and floor flag, the promotions
applied and the shipping discounts must be the same to the digit. The promotions reach the mirror in
the catalogue's own shape (``pos.till.promotion_rule``), so the test also checks that the shape carries
everything the engine reads.

Also: local times as the server reads a sale's ``sold_at`` in the store's zone, and what the mirror
does with what it cannot price (an unknown kind, another version of the shape)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pricing_mirror import run
from retailcore.pos.till import PRICING_VERSION, promotion_rule
from retailcore.promotions.engine import PromotionBook
from retailcore.promotions.model import (
    PROMOTION_KINDS,
    Basket,
    BasketLine,
    BundleComponent,
    PricedBasket,
    Promotion,
    Target,
    Tier,
    Window,
)

D = Decimal
PRODUCTS = [uuid.uuid5(uuid.NAMESPACE_URL, f"mirror/product/{n}") for n in range(7)]
CATEGORY = {
    p: ("shirts", "shirts", "kitchen", "kitchen", "food", "food", "toys")[n] for n, p in enumerate(PRODUCTS)
}
STORES = [uuid.uuid5(uuid.NAMESPACE_URL, f"mirror/store/{n}") for n in range(2)]
CASES = 3000
SEED = 20261208


def _money(rng: random.Random, top: int = 200, places: int = 2) -> Decimal:
    return D(rng.randint(1, top * 10**places)).scaleb(-places)


def _percent(rng: random.Random) -> Decimal:
    return rng.choice([D(10), D(15), D(50), D(100), D("33.3"), D("12.5"), D("7"), D("0.5"), D(150), D(0)])


def _target(rng: random.Random) -> Target:
    shape = rng.random()
    if shape < 0.25:
        return Target()
    products = frozenset(rng.sample(PRODUCTS, rng.randint(0, 2)))
    categories = frozenset(rng.sample(sorted(set(CATEGORY.values())), rng.randint(0, 1)))
    if not products and not categories:
        products = frozenset({rng.choice(PRODUCTS)})
    return Target(products, categories)


def _time(rng: random.Random) -> dt.time:
    return dt.time(rng.randint(0, 23), rng.choice([0, 30]), rng.choice([0, 0, 59]))


def _promotion(rng: random.Random, n: int, kind: str) -> Promotion:
    fields: dict[str, Any] = {
        "stacking": rng.choice(["exclusive", "stackable", "stackable", "best"]),
        "priority": rng.randint(0, 3),
        "target": _target(rng),
    }
    if rng.random() < 0.15:
        fields["coupon_only"] = True
    if rng.random() < 0.2:
        fields["windows"] = tuple(
            Window(frozenset(rng.sample(range(7), rng.randint(1, 3))), _time(rng), _time(rng))
            for _ in range(rng.randint(1, 2))
        )
    if rng.random() < 0.15:
        fields["starts_at"] = dt.datetime(
            2026, 12, rng.randint(5, 9), rng.randint(0, 23), rng.choice([0, 30])
        )
    if rng.random() < 0.15:
        fields["ends_at"] = dt.datetime(2026, 12, rng.randint(6, 10), rng.randint(0, 23), rng.choice([0, 30]))
    if rng.random() < 0.1:
        fields["channels"] = frozenset(rng.sample(["pos", "web", "b2b"], rng.randint(1, 2)))
    if rng.random() < 0.1:
        fields["store_ids"] = frozenset(rng.sample(STORES, 1))
    if rng.random() < 0.1:
        fields["customer_groups"] = frozenset(rng.sample(["vip", "staff"], 1))
    if kind in ("percent_off", "amount_off"):
        fields["scope"] = rng.choice(["line", "category", "order"])
        if kind == "percent_off":
            fields["percent"] = _percent(rng)
        else:
            fields["amount"] = _money(rng, 30, rng.choice([0, 2, 3]))
    elif kind == "buy_x_get_y":
        fields["buy_quantity"] = D(rng.randint(1, 3))
        fields["get_quantity"] = rng.choice([D(1), D(2), D("1.5")])
        fields["percent"] = rng.choice([None, D(100), D(50), D("33.3")])
    elif kind == "mix_and_match":
        fields["buy_quantity"] = D(rng.randint(2, 4))
        fields["bundle_price"] = _money(rng, 60)
    elif kind == "bundle_price":
        parts = rng.sample(PRODUCTS, rng.randint(1, 3))
        fields["components"] = tuple(BundleComponent(p, D(rng.randint(1, 2))) for p in parts)
        fields["bundle_price"] = _money(rng, 80)
    elif kind == "tiered_spend":
        fields["tiers"] = tuple(
            Tier(_money(rng, 150), percent=_percent(rng))
            if rng.random() < 0.5
            else Tier(_money(rng, 150), amount=_money(rng, 40))
            for _ in range(rng.randint(1, 3))
        )
    elif kind == "free_shipping":
        fields["threshold"] = rng.choice([None, _money(rng, 100)])
    code = f"P{n:02d}{rng.choice(['', 'A', 'b'])}"
    return Promotion(id=uuid.UUID(int=rng.getrandbits(128)), code=code, kind=kind, **fields)  # type: ignore[arg-type]


def _line(rng: random.Random, key: str) -> BasketLine:
    product = rng.choice(PRODUCTS)
    quantity = D(rng.randint(1, 6)) if rng.random() < 0.7 else D(rng.randint(1, 5000)).scaleb(-3)
    return BasketLine(
        key=key,
        product_id=product,
        category=CATEGORY[product],
        quantity=quantity,
        unit_price=_money(rng, 90, rng.choice([2, 2, 2, 3, 4])),
        manual_discount=_money(rng, 10) if rng.random() < 0.15 else D(0),
        floor_amount=_money(rng, 40) if rng.random() < 0.2 else None,
    )


def _case(rng: random.Random) -> tuple[list[Promotion], Basket]:
    promotions = [_promotion(rng, n, rng.choice(PROMOTION_KINDS)) for n in range(rng.randint(1, 6))]
    keys = [str(k) for k in range(rng.randint(1, 12))]
    rng.shuffle(keys)  # "10" sorts before "2": the engine's order is the keys' text
    coupons = tuple((f"C-{p.code}", p.id) for p in promotions if p.coupon_only and rng.random() < 0.6)
    basket = Basket(
        lines=tuple(_line(rng, k) for k in keys),
        currency_decimals=rng.choice([2, 2, 2, 0, 3]),
        channel=rng.choice(["pos", "pos", "web"]),
        local_time=dt.datetime(2026, 12, 7, 0, 0) + dt.timedelta(minutes=rng.randint(0, 3 * 24 * 60)),
        store_id=rng.choice([*STORES, None]),
        customer_group=rng.choice([None, "vip", "staff"]),
        coupons=coupons,
        shipping=rng.choice([D(0), D(0), _money(rng, 15)]),
    )
    return promotions, basket


def _basket_json(basket: Basket) -> dict[str, Any]:
    return {
        "lines": [
            {
                "key": ln.key,
                "product_id": str(ln.product_id),
                "category": ln.category,
                "quantity": str(ln.quantity),
                "unit_price": str(ln.unit_price),
                "manual_discount": str(ln.manual_discount),
                "floor_amount": None if ln.floor_amount is None else str(ln.floor_amount),
            }
            for ln in basket.lines
        ],
        "currency_decimals": basket.currency_decimals,
        "channel": basket.channel,
        "local_time": basket.local_time.isoformat(),
        "store_id": None if basket.store_id is None else str(basket.store_id),
        "customer_group": basket.customer_group,
        "coupons": [[code, str(pid)] for code, pid in basket.coupons],
        "shipping": str(basket.shipping),
    }


def _pricing(promotions: list[Promotion]) -> dict[str, Any]:
    return {
        "version": PRICING_VERSION,
        "timezone": "UTC",
        "promotions": [promotion_rule(p).model_dump(mode="json") for p in promotions],
    }


def _discounts(found: list[dict[str, Any]]) -> list[tuple[str, str, Decimal, str | None]]:
    return [(d["source"], d["code"], D(d["amount"]), d["promotion_id"]) for d in found]


def _expected(priced: PricedBasket) -> dict[str, Any]:
    return {
        "lines": [
            {
                "key": ln.key,
                "amount": ln.amount,
                "discounts": [
                    (d.source, d.code, d.amount, None if d.promotion_id is None else str(d.promotion_id))
                    for d in ln.discounts
                ],
                "discount": ln.discount,
                "net": ln.net,
                "below_floor": ln.below_floor,
            }
            for ln in priced.lines
        ],
        "promotions": list(priced.promotions),
        "shipping_discounts": [
            (d.source, d.code, d.amount, str(d.promotion_id)) for d in priced.shipping_discounts
        ],
    }


def _got(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "lines": [
            {
                "key": ln["key"],
                "amount": D(ln["amount"]),
                "discounts": _discounts(ln["discounts"]),
                "discount": D(ln["discount"]),
                "net": D(ln["net"]),
                "below_floor": ln["below_floor"],
            }
            for ln in found["lines"]
        ],
        "promotions": found["promotions"],
        "shipping_discounts": _discounts(found["shipping_discounts"]),
    }


def test_the_mirror_prices_every_generated_basket_as_the_engine_does():
    rng = random.Random(SEED)
    cases = [_case(rng) for _ in range(CASES)]
    answers = run(
        [
            {"op": "price", "pricing": _pricing(promotions), "basket": _basket_json(b)}
            for promotions, b in cases
        ]
    )
    applied_kinds: set[str] = set()
    discounted = 0
    for (promotions, basket), answer in zip(cases, answers, strict=True):
        priced = PromotionBook(promotions).price(basket)
        assert _got(answer) == _expected(priced), (promotions, basket)
        by_code = {p.code: p for p in promotions}
        applied_kinds.update(by_code[code].kind for code in priced.promotions)
        discounted += priced.discount > 0
    # The generator reaches what it is meant to: every kind applied somewhere, most baskets discounted.
    assert applied_kinds == set(PROMOTION_KINDS)
    assert discounted > CASES // 2


def test_amounts_reach_the_screen_with_the_currencys_decimals():
    promotion = Promotion(
        id=uuid.uuid5(uuid.NAMESPACE_URL, "mirror/third"),
        code="THIRD",
        kind="percent_off",
        scope="order",
        percent=D("33.3333"),
    )
    lines = [
        BasketLine(str(k), PRODUCTS[k], CATEGORY[PRODUCTS[k]], D(1), D(price))
        for k, price in enumerate(["0.10", "0.10", "0.10"])
    ]
    basket = Basket(tuple(lines), 2, "pos", dt.datetime(2026, 12, 7, 12))
    (answer,) = run([{"op": "price", "pricing": _pricing([promotion]), "basket": _basket_json(basket)}])
    # 0.30 x 33.3333 % rounds to 0.10, spread pro rata: 0.03 each, and the cent left over goes to the
    # first line (equal remainders: the lower key).
    assert [d["amount"] for ln in answer["lines"] for d in ln["discounts"]] == ["0.04", "0.03", "0.03"]
    assert _got(answer) == _expected(PromotionBook([promotion]).price(basket))


def test_a_sales_local_time_is_the_stores_wall_clock_as_the_server_reads_it():
    instants = [
        "2026-03-29T00:59:59.999Z",  # Paris: the last second before summer time
        "2026-03-29T01:00:00.000Z",
        "2026-10-25T00:30:00.250Z",  # Paris: 02:30 summer time, the first of the two
        "2026-10-25T01:30:00.250Z",  # ... and the second
        "2026-12-07T23:15:00.000Z",
        "2026-12-31T18:45:30.123Z",
    ]
    zones = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
    requests = [{"op": "local", "instant": i, "timezone": z} for i in instants for z in zones]
    answers = run(requests)
    for request, answer in zip(requests, answers, strict=True):
        moment = dt.datetime.fromisoformat(request["instant"].replace("Z", "+00:00"))
        local = moment.astimezone(ZoneInfo(request["timezone"])).replace(tzinfo=None)
        assert answer == local.isoformat(timespec="microseconds"), request


def _catalogue(promotions: list[dict[str, Any]], version: int = PRICING_VERSION) -> dict[str, Any]:
    return {
        "store_id": str(STORES[0]),
        "minor_unit": 2,
        "pricing": {"version": version, "timezone": "Europe/Paris", "promotions": promotions},
    }


def _sale_line(product: uuid.UUID, quantity: str, price: str, discount: str = "0.00") -> dict[str, Any]:
    return {
        "product_id": str(product),
        "category": CATEGORY[product],
        "quantity": quantity,
        "unit_price": price,
        "discount": discount,
    }


def test_the_screen_gets_each_sale_lines_discounts_and_none_when_it_cannot_price():
    tee, mug = PRODUCTS[0], PRODUCTS[2]
    known = promotion_rule(
        Promotion(
            id=uuid.uuid5(uuid.NAMESPACE_URL, "mirror/b1g1"),
            code="TEE-B1G1",
            kind="buy_x_get_y",
            target=Target(frozenset({tee})),
            buy_quantity=D(1),
            get_quantity=D(1),
        )
    ).model_dump(mode="json")
    unknown = {**known, "id": str(uuid.uuid4()), "code": "MUG-NEW", "kind": "spend_and_get"}
    unknown["target"] = {"product_ids": [str(mug)], "categories": []}
    sold_at = "2026-12-07T11:00:00.000Z"
    answers = run(
        [
            # Two tees and a refunded mug (not priced, as on the server): the second tee free.
            {
                "op": "sale",
                "catalogue": _catalogue([known, unknown]),
                "lines": [_sale_line(tee, "2", "12.00"), _sale_line(mug, "-1", "8.00")],
                "soldAt": sold_at,
            },
            # A mug sold: the promotion of an unknown kind could apply, the mirror gives up.
            {
                "op": "sale",
                "catalogue": _catalogue([known, unknown]),
                "lines": [_sale_line(tee, "2", "12.00"), _sale_line(mug, "1", "8.00")],
                "soldAt": sold_at,
            },
            # Another version of the shape: nothing priced.
            {
                "op": "sale",
                "catalogue": _catalogue([known], version=PRICING_VERSION + 1),
                "lines": [_sale_line(tee, "2", "12.00")],
                "soldAt": sold_at,
            },
            # A catalogue cached before the mirror existed: nothing priced.
            {
                "op": "sale",
                "catalogue": {"store_id": str(STORES[0]), "minor_unit": 2},
                "lines": [_sale_line(tee, "2", "12.00")],
                "soldAt": sold_at,
            },
        ]
    )
    assert answers[0] == [[{"source": "promotion", "code": "TEE-B1G1", "amount": "12.00"}], []]
    assert answers[1:] == [None, None, None]


def test_the_mirrors_arithmetic_is_pythons_decimal_context():
    """Every +, -, x and / rounded to 28 significant digits, half-even, as the engine's Decimals are:
    the unit values and pro-rata shares the engine sorts and allocates by are such rounded results."""
    rng = random.Random(SEED)

    def operand() -> Decimal:
        digits = rng.randint(1, 30)
        value = D(rng.randint(1, 10**digits - 1)).scaleb(-rng.randint(0, 12))
        return -value if rng.random() < 0.2 else value

    cases = [(rng.choice(["add", "sub", "mul", "div"]), operand(), operand()) for _ in range(4000)]
    # Ties of the half-even rule, exactly: 29 significant digits ending in 5.
    cases += [
        ("add", D("1234567890123456789012345678.5"), D(0)),
        ("add", D("1234567890123456789012345677.5"), D(0)),
    ]
    cases += [("div", D(2), D(3)), ("div", D(1), D(7)), ("mul", D("0.1") ** 14, D("0.1") ** 14)]
    answers = run([{"op": "calc", "fn": fn, "a": str(a), "b": str(b)} for fn, a, b in cases])
    for (fn, a, b), answer in zip(cases, answers, strict=True):
        expected = {"add": D.__add__, "sub": D.__sub__, "mul": D.__mul__, "div": D.__truediv__}[fn](a, b)
        assert D(answer) == expected, (fn, a, b)
