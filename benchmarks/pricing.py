"""Pricing a basket against a book of active promotions (issue 19): ``PromotionBook.price``, pure Python,
no database.

A catalogue of ``--products`` products in ``--categories`` categories (prices 0.50 to 120.00), and
``--promotions`` active promotions of every kind in realistic proportions: percent or amount off a
handful of products, a category or the order; buy X get Y and mix and match on a category or a few
products; bundles of 2 or 3 products; spend tiers; free shipping; a few coupon-only, some limited to a
channel, a customer group or a weekly window. About 70 % stackable, 15 % ``best``, 15 % exclusive.
Baskets of ``--lines`` lines of random products (1 to 3 units, one line in five with a manual discount),
web or POS, some with a coupon, at random times of a week. Each basket is priced once per run; the
script reports the median, p95 and p99 per basket over all runs (wall clock, and the thread's CPU time,
which other processes on the machine disturb less), and how many promotions each basket
looked at (the index's candidates) and how many applied.

    .venv/bin/python benchmarks/pricing.py                 # 200 promotions, 3,000 products
    .venv/bin/python benchmarks/pricing.py --promotions 1000 --products 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import platform
import random
import statistics
import sys
import time
import uuid
from decimal import Decimal

from retailcore.promotions.engine import PromotionBook
from retailcore.promotions.model import (
    Basket,
    BasketLine,
    BundleComponent,
    Promotion,
    Target,
    Tier,
    Window,
)

D = Decimal
MONDAY = dt.datetime(2026, 12, 7)


def catalogue(rnd: random.Random, products: int, categories: int) -> list[tuple[uuid.UUID, str, Decimal]]:
    return [
        (
            uuid.UUID(int=rnd.getrandbits(128)),
            f"cat-{rnd.randrange(categories):02d}",
            D(rnd.randint(50, 12000)) / 100,
        )
        for _ in range(products)
    ]


def book(rnd: random.Random, count: int, items: list, categories: int) -> list[Promotion]:
    promos = []
    for n in range(count):
        code = f"PROMO-{n:04d}"
        roll = rnd.random()
        few = frozenset(rnd.choice(items)[0] for _ in range(rnd.randint(1, 12)))
        category = frozenset({f"cat-{rnd.randrange(categories):02d}"})
        target = Target(product_ids=few) if rnd.random() < 0.6 else Target(categories=category)
        common = {
            "stacking": rnd.choices(["stackable", "best", "exclusive"], [70, 15, 15])[0],
            "priority": rnd.randint(0, 5),
        }
        if rnd.random() < 0.15:
            common["channels"] = frozenset({rnd.choice(["web", "pos"])})
        if rnd.random() < 0.10:
            common["customer_groups"] = frozenset({"members"})
        if rnd.random() < 0.15:
            common["windows"] = (Window(frozenset(range(5)), dt.time(17), dt.time(19)),)
        if rnd.random() < 0.05:
            common["coupon_only"] = True
        if roll < 0.35:
            kind, fields = (
                "percent_off",
                {"target": target, "percent": D(rnd.choice([5, 10, 15, 20, 25, 30]))},
            )
        elif roll < 0.50:
            kind, fields = "amount_off", {"target": target, "amount": D(rnd.choice([1, 2, 5]))}
        elif roll < 0.55:
            scope = rnd.choice(["category", "order"])
            kind = rnd.choice(["percent_off", "amount_off"])
            fields = {"scope": scope, "target": Target(categories=category)}
            fields |= {"percent": D(10)} if kind == "percent_off" else {"amount": D(5)}
        elif roll < 0.68:
            kind = "buy_x_get_y"
            fields = {"target": target, "buy_quantity": D(rnd.randint(1, 2)), "get_quantity": D(1)}
            fields["percent"] = D(rnd.choice([50, 100]))
        elif roll < 0.78:
            kind, fields = (
                "mix_and_match",
                {"target": target, "buy_quantity": D(3), "bundle_price": D(rnd.randint(10, 60))},
            )
        elif roll < 0.88:
            parts = rnd.sample(items, rnd.randint(2, 3))
            components = tuple(BundleComponent(p, D(1)) for p, _, _ in parts)
            value = sum((price for _, _, price in parts), D(0))
            kind, fields = (
                "bundle_price",
                {"components": components, "bundle_price": (value * D("0.8")).quantize(D("0.01"))},
            )
        elif roll < 0.95:
            tiers = (Tier(D(50), percent=D(5)), Tier(D(100), percent=D(10)), Tier(D(250), amount=D(40)))
            kind, fields = (
                "tiered_spend",
                {"tiers": tiers, "target": target if rnd.random() < 0.5 else Target()},
            )
        else:
            kind, fields = "free_shipping", {"threshold": D(rnd.choice([0, 30, 50]))}
        promos.append(
            Promotion(id=uuid.UUID(int=rnd.getrandbits(128)), code=code, kind=kind, **common, **fields)
        )
    return promos


def baskets(rnd: random.Random, count: int, lines: int, items: list, promos: list[Promotion]) -> list[Basket]:
    coupon_promos = [p for p in promos if p.coupon_only]
    out = []
    for _ in range(count):
        chosen = rnd.sample(items, lines)
        basket_lines = tuple(
            BasketLine(
                key=str(k),
                product_id=product,
                category=category,
                quantity=D(rnd.choice([1, 1, 1, 2, 2, 3])),
                unit_price=price,
                manual_discount=D(rnd.choice([1, 2])) if rnd.random() < 0.2 else D(0),
                floor_amount=(price * D("0.6")).quantize(D("0.01")),
            )
            for k, (product, category, price) in enumerate(chosen)
        )
        coupons = ()
        if coupon_promos and rnd.random() < 0.1:
            p = rnd.choice(coupon_promos)
            coupons = ((f"C-{rnd.getrandbits(32):08x}", p.id),)
        out.append(
            Basket(
                lines=basket_lines,
                currency_decimals=2,
                channel=rnd.choice(["pos", "pos", "web"]),
                local_time=MONDAY + dt.timedelta(minutes=rnd.randrange(7 * 24 * 60)),
                customer_group=rnd.choice([None, None, "members"]),
                coupons=coupons,
                shipping=D("4.95"),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--promotions", type=int, default=200)
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--categories", type=int, default=50)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument(
        "--baskets", type=int, default=5000, help="distinct baskets, each priced once per run"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()

    rnd = random.Random(args.seed)
    items = catalogue(rnd, args.products, args.categories)
    promos = book(rnd, args.promotions, items, args.categories)
    started = time.perf_counter()
    promotion_book = PromotionBook(promos)
    built = time.perf_counter() - started
    work = baskets(rnd, args.baskets, args.lines, items, promos)

    looked = [len(promotion_book.candidates(b)) for b in work]
    priced = [promotion_book.price(b) for b in work]  # warm up
    applied = [len(p.promotions) for p in priced]

    samples: list[int] = []
    cpu: list[int] = []
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    price = promotion_book.price
    gc.disable()
    try:
        for _ in range(args.runs):
            for b in work:
                c0 = cpu_clock()
                t0 = clock()
                price(b)
                samples.append(clock() - t0)
                cpu.append(cpu_clock() - c0)
    finally:
        gc.enable()
    samples.sort()
    cpu.sort()

    def pct(p: float, of: list[int] = samples) -> float:
        return of[min(len(of) - 1, int(p * len(of)))] / 1000

    print(f"python {platform.python_version()} on {platform.machine()}, load average {os.getloadavg()}")
    print(
        f"{args.promotions} promotions, {args.products} products, "
        f"{args.categories} categories, {args.lines} lines"
    )
    print(f"book built in {built * 1000:.1f} ms")
    print(
        f"promotions looked at per basket: median {statistics.median(looked)}, max {max(looked)}; "
        f"applied: mean {statistics.mean(applied):.2f}, max {max(applied)}; "
        f"baskets with a discount: {sum(1 for p in priced if p.discount) / len(priced):.0%}"
    )
    print(
        f"{len(samples)} pricings: median {pct(0.5):.1f} us, p95 {pct(0.95):.1f} us, p99 {pct(0.99):.1f} us, "
        f"max {samples[-1] / 1000:.0f} us"
    )
    print(f"CPU time (this thread): median {pct(0.5, cpu):.1f} us, p95 {pct(0.95, cpu):.1f} us")
    if pct(0.5) >= 1000:
        print("target missed: median >= 1 ms", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
