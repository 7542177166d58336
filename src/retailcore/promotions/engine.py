"""The one pricing function: :meth:`PromotionBook.price` takes a basket and returns, per line, the
discounts of each promotion, coupon and manual discount, and whether the line ends below its floor.
Pure: no I/O, ``Decimal`` only, the same answer for the same basket whatever the order of its lines or of
the promotions given. Decision 0047 explains the choices; docs/promotions.md has worked baskets.

The POS screen prices offline with a JavaScript mirror of this module
(``entrypoints/web/pos/static/pricing.js``, decision 0082), held to the same answers by
``tests/unit/promotions/test_pricing_mirror.py``: a change here changes the mirror in the same commit.

Rules of the engine:

* **Which promotions are looked at.** :class:`PromotionBook` indexes the promotions once, by product id,
  by category and "everywhere" (no target, ``order`` scope, or bundles by their components' products),
  so a basket only looks at the promotions its lines can trigger. A promotion then applies when the
  basket's channel, store, customer group and local time match, one of its weekly windows (if any)
  holds, and, for ``coupon_only``, a presented coupon grants it.
* **Weekly windows** are local times, ``start`` inclusive, ``end`` exclusive. A window whose ``end`` is
  not after its ``start`` crosses midnight: it opens on each listed weekday at ``start`` and closes the
  next day at ``end`` (Friday 22:00-02:00 holds until Saturday 01:59:59). ``start == end`` is 24 hours
  from ``start`` (00:00-00:00: the whole listed days).
* **Stacking.** Options: each eligible ``exclusive`` promotion alone, and the ``stackable`` ones in
  priority order (higher first, then lower code), each on what the previous left, joined by the one
  ``best`` promotion that makes that option take most off (it takes its place in the same order). The
  option taking most off the basket (lines and shipping) wins; ties go to the option whose leading
  promotion has the higher priority, then the lower code. Manual discounts come last, on what is left.
* **Money.** Every discount is rounded to ``basket.currency_decimals`` with ROUND_HALF_UP. An amount
  spread over several lines (``category``/``order`` scope, mix and match, bundles, tiers) is rounded
  once and allocated pro rata by largest remainder (ties to the lower line key), so the parts sum to it
  exactly. A discount never exceeds what is left on its line: discounts never take a line below zero. A line
  whose amount is zero or negative (a returned line) takes no discount.
* **Units.** Unit kinds (buy X get Y, mix and match, bundles) count whole units (2.5 kg is 2 units),
  each worth what is left on its line divided by the line's quantity.
* **Thresholds** (tiers, free shipping) read the targeted lines' amounts before any promotion, so they
  do not depend on the stacking order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from retailcore.promotions.model import (
    AppliedDiscount,
    Basket,
    BasketLine,
    PricedBasket,
    PricedLine,
    Promotion,
    Window,
)

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_QUANTA: dict[int, Decimal] = {}


def _quantum(decimals: int) -> Decimal:
    q = _QUANTA.get(decimals)
    if q is None:
        q = _QUANTA[decimals] = _ONE.scaleb(-decimals)
    return q


def in_window(window: Window, moment: dt.datetime) -> bool:
    """Whether the local ``moment`` falls in the weekly ``window`` (see the module docstring for
    windows crossing midnight)."""
    day = moment.weekday()
    time = moment.time()
    if window.start < window.end:
        return day in window.weekdays and window.start <= time < window.end
    if day in window.weekdays and time >= window.start:
        return True
    return (day - 1) % 7 in window.weekdays and time < window.end


def _whole(quantity: Decimal) -> int:
    return int(quantity) if quantity > 0 else 0


def _as_int(value: Decimal | None) -> int:
    if value is None or value <= 0 or value != value.to_integral_value():
        return 0
    return int(value)


class _Rule:
    """A promotion prepared for pricing: its sort rank and the values its kind reads."""

    __slots__ = (
        "amount",
        "apply",
        "buy",
        "categories",
        "components",
        "everything",
        "factor",
        "get",
        "kind",
        "price",
        "products",
        "promotion",
        "rank",
        "threshold",
        "tiers",
    )

    def __init__(self, promotion: Promotion, rank: int) -> None:
        p = promotion
        self.promotion = p
        self.rank = rank
        self.kind = p.kind
        self.products = p.target.product_ids
        self.categories = p.target.categories
        # ``order`` scope of percent/amount off is the whole basket: the target is not read.
        self.everything = (not self.products and not self.categories) or (
            p.kind in ("percent_off", "amount_off") and p.scope == "order"
        )
        percent = p.percent
        if p.kind == "buy_x_get_y" and percent is None:
            percent = _HUNDRED
        self.factor = None if percent is None else min(max(percent, _ZERO), _HUNDRED) / _HUNDRED
        self.amount = p.amount if p.amount is not None and p.amount > 0 else None
        self.buy = _as_int(p.buy_quantity)
        self.get = _as_int(p.get_quantity)
        self.price = p.bundle_price if p.bundle_price is not None and p.bundle_price >= 0 else None
        components: dict[uuid.UUID, int] = {}
        for c in p.components:
            components[c.product_id] = components.get(c.product_id, 0) + _as_int(c.quantity)
        self.components = components if components and all(components.values()) else {}
        self.tiers = tuple(sorted(p.tiers, key=lambda t: t.threshold, reverse=True))
        self.threshold = p.threshold if p.threshold is not None else _ZERO
        self.apply: Callable[[_Rule, _Pricing, list[Decimal], Decimal], tuple[list, Decimal]] = _KINDS[p.kind]

    def eligible(self, basket: Basket, granted: dict[uuid.UUID, str]) -> bool:
        p = self.promotion
        if p.channels is not None and basket.channel not in p.channels:
            return False
        if p.store_ids is not None and basket.store_id not in p.store_ids:
            return False
        if p.customer_groups is not None and basket.customer_group not in p.customer_groups:
            return False
        moment = basket.local_time
        if p.starts_at is not None and moment < p.starts_at:
            return False
        if p.ends_at is not None and moment >= p.ends_at:
            return False
        if p.windows and not any(in_window(w, moment) for w in p.windows):
            return False
        return not (p.coupon_only and p.id not in granted)

    def targeted(self, lines: list[BasketLine]) -> list[int]:
        if self.everything:
            return list(range(len(lines)))
        products, categories = self.products, self.categories
        return [i for i, ln in enumerate(lines) if ln.product_id in products or ln.category in categories]


class _Pricing:
    """One basket being priced: its lines sorted by key, their amounts, the quantum."""

    __slots__ = ("amounts", "lines", "q", "shipping", "targets")

    def __init__(self, lines: list[BasketLine], amounts: list[Decimal], q: Decimal, shipping: Decimal):
        self.lines = lines
        self.amounts = amounts
        self.q = q
        self.shipping = shipping
        self.targets: dict[int, tuple[list[int], Decimal]] = {}

    def targeted(self, rule: _Rule) -> list[int]:
        """The lines ``rule`` targets (computed once per basket)."""
        return self.targeted_and_spent(rule)[0]

    def targeted_and_spent(self, rule: _Rule) -> tuple[list[int], Decimal]:
        """The lines ``rule`` targets and their amount before any promotion."""
        found = self.targets.get(rule.rank)
        if found is None:
            idx = rule.targeted(self.lines)
            found = self.targets[rule.rank] = (idx, sum((self.amounts[i] for i in idx), _ZERO))
        return found


# -- allocation -------------------------------------------------------------------------------------


def _round_shares(shares: list[tuple[int, Decimal]], total: Decimal, q: Decimal) -> list[tuple[int, Decimal]]:
    """Round exact ``shares`` (in line order) down to ``q`` and give the quanta still missing to reach
    ``total`` to the largest remainders, ties to the earlier line."""
    floors = [e.quantize(q, ROUND_DOWN) for _, e in shares]
    extra = int((total - sum(floors)) / q)
    if extra > 0:
        order = sorted(range(len(shares)), key=lambda k: (floors[k] - shares[k][1], k))
        for k in order[:extra]:
            floors[k] += q
    return [(shares[k][0], floors[k]) for k in range(len(shares)) if floors[k] > 0]


def _spread(total: Decimal, weights: list[tuple[int, Decimal]], q: Decimal) -> list[tuple[int, Decimal]]:
    """Allocate the rounded ``total`` over ``weights`` (line index, what is left), pro rata, never more
    than a line's weight."""
    weights = [(i, w) for i, w in weights if w > 0]
    if total <= 0 or not weights:
        return []
    whole = sum(w for _, w in weights)
    if total >= whole:
        total = whole.quantize(q, ROUND_DOWN)  # weights need not be whole quanta (bundle units)
        if total <= 0:
            return []
    return _round_shares([(i, total * w / whole) for i, w in weights], total, q)


def allocate(total: Decimal, weights: Iterable[Decimal], decimals: int) -> list[Decimal]:
    """``total`` (already rounded to ``decimals``) spread over ``weights`` pro rata by largest remainder:
    the parts sum to ``total`` exactly (up to the weights' own sum). For callers spreading an amount the
    same way the engine does."""
    ws = list(weights)
    parts = dict(_spread(total, list(enumerate(ws)), _quantum(decimals)))
    return [parts.get(i, _ZERO) for i in range(len(ws))]


# -- the kinds --------------------------------------------------------------------------------------
# Each takes the rule, the basket, what is left per line and of shipping, and returns the discounts
# (line index, amount), in line order, and the shipping discount.

_Result = tuple[list[tuple[int, Decimal]], Decimal]


def _percent_off(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    f = rule.factor
    if f is None:
        return [], _ZERO
    q = ctx.q
    idx = ctx.targeted(rule)
    if rule.promotion.scope == "line":
        out = []
        for i in idx:
            rest = left[i]
            if rest > 0:
                off = min(rest, (rest * f).quantize(q, ROUND_HALF_UP))
                if off > 0:
                    out.append((i, off))
        return out, _ZERO
    base = sum(left[i] for i in idx)
    return _spread((base * f).quantize(q, ROUND_HALF_UP), [(i, left[i]) for i in idx], q), _ZERO


def _amount_off(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    amount = rule.amount
    if amount is None:
        return [], _ZERO
    q = ctx.q
    idx = ctx.targeted(rule)
    if rule.promotion.scope == "line":
        out = []
        for i in idx:
            rest = left[i]
            if rest > 0:
                off = min(rest, (amount * ctx.lines[i].quantity).quantize(q, ROUND_HALF_UP))
                if off > 0:
                    out.append((i, off))
        return out, _ZERO
    return _spread(amount.quantize(q, ROUND_HALF_UP), [(i, left[i]) for i in idx], q), _ZERO


def _units(idx: list[int], ctx: _Pricing, left: list[Decimal]) -> list[tuple[Decimal, int, int]]:
    """(unit value, line index, whole units) of the lines ``idx`` with something left."""
    runs = []
    for i in idx:
        line = ctx.lines[i]
        n = _whole(line.quantity)
        if n and left[i] > 0:
            runs.append((left[i] / line.quantity, i, n))
    return runs


def _buy_x_get_y(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    f = rule.factor
    if not rule.buy or not rule.get or not f:
        return [], _ZERO
    runs = _units(ctx.targeted(rule), ctx, left)
    free = sum(n for _, _, n in runs) // (rule.buy + rule.get) * rule.get
    if not free:
        return [], _ZERO
    q = ctx.q
    out = []
    for _, i, n in sorted(runs):  # cheapest units first, ties to the earlier line
        take = min(n, free)
        free -= take
        off = min(left[i], (left[i] * take * f / ctx.lines[i].quantity).quantize(q, ROUND_HALF_UP))
        if off > 0:
            out.append((i, off))
        if not free:
            break
    out.sort()
    return out, _ZERO


def _mix_and_match(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    size, price = rule.buy, rule.price
    if not size or price is None:
        return [], _ZERO
    runs = sorted(_units(ctx.targeted(rule), ctx, left), key=lambda r: (-r[0], r[1]))
    groups = sum(n for _, _, n in runs) // size
    if not groups:
        return [], _ZERO
    shares: dict[int, Decimal] = {}
    pos = 0
    value, line, rest = runs[0]
    while groups:
        if rest >= size:  # whole groups from one line: all alike
            m = min(groups, rest // size)
            d = value * size - price
            if d > 0:
                shares[line] = shares.get(line, _ZERO) + d * m
            groups -= m
            rest -= m * size
        else:  # one group across lines, most expensive first
            parts = []
            need = size
            while need:
                take = min(need, rest)
                parts.append((line, value, take))
                need -= take
                rest -= take
                if not rest and need:
                    pos += 1
                    value, line, rest = runs[pos]
            whole = sum(v * t for _, v, t in parts)
            d = whole - price
            if d > 0:
                for i, v, t in parts:
                    shares[i] = shares.get(i, _ZERO) + d * v * t / whole
            groups -= 1
        if not rest and groups:
            pos += 1
            value, line, rest = runs[pos]
    if not shares:
        return [], _ZERO
    ordered = sorted(shares.items())
    total = sum(e for _, e in ordered).quantize(ctx.q, ROUND_HALF_UP)
    return [(i, min(off, left[i])) for i, off in _round_shares(ordered, total, ctx.q)], _ZERO


def _bundle_price(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    components, price = rule.components, rule.price
    if not components or price is None:
        return [], _ZERO
    lines = ctx.lines
    runs: dict[uuid.UUID, list[tuple[Decimal, int, int]]] = {p: [] for p in components}
    for i, line in enumerate(lines):
        if line.product_id in runs:
            n = _whole(line.quantity)
            if n and left[i] > 0:
                runs[line.product_id].append((left[i] / line.quantity, i, n))
    bundles = min(sum(n for _, _, n in runs[p]) // qty for p, qty in components.items())
    if not bundles:
        return [], _ZERO
    weights: dict[int, Decimal] = {}
    for p, qty in components.items():
        need = bundles * qty
        for value, i, n in sorted(runs[p], key=lambda r: (-r[0], r[1])):  # most expensive units first
            take = min(n, need)
            need -= take
            weights[i] = weights.get(i, _ZERO) + value * take
            if not need:
                break
    discount = sum(weights.values()) - price * bundles
    if discount <= 0:
        return [], _ZERO
    return _spread(discount.quantize(ctx.q, ROUND_HALF_UP), sorted(weights.items()), ctx.q), _ZERO


def _tiered_spend(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    idx, spent = ctx.targeted_and_spent(rule)
    for tier in rule.tiers:
        if spent >= tier.threshold:
            break
    else:
        return [], _ZERO
    q = ctx.q
    if tier.percent is not None:
        base = sum(left[i] for i in idx)
        total = (base * min(max(tier.percent, _ZERO), _HUNDRED) / _HUNDRED).quantize(q, ROUND_HALF_UP)
    elif tier.amount is not None and tier.amount > 0:
        total = tier.amount.quantize(q, ROUND_HALF_UP)
    else:
        return [], _ZERO
    return _spread(total, [(i, left[i]) for i in idx], q), _ZERO


def _free_shipping(rule: _Rule, ctx: _Pricing, left: list[Decimal], ship: Decimal) -> _Result:
    if ship <= 0:
        return [], _ZERO
    idx, spent = ctx.targeted_and_spent(rule)
    if not idx or spent < rule.threshold:
        return [], _ZERO
    return [], ship


_KINDS: dict[str, Callable[[_Rule, _Pricing, list[Decimal], Decimal], _Result]] = {
    "percent_off": _percent_off,
    "amount_off": _amount_off,
    "buy_x_get_y": _buy_x_get_y,
    "mix_and_match": _mix_and_match,
    "bundle_price": _bundle_price,
    "tiered_spend": _tiered_spend,
    "free_shipping": _free_shipping,
}

_Applied = list[tuple[_Rule, list[tuple[int, Decimal]], Decimal]]


_State = tuple[list[Decimal], Decimal, Decimal, int]
"""What is left per line and of shipping, what was taken, and how many promotions took something."""


def _run(
    rules: Iterable[_Rule],
    ctx: _Pricing,
    start: _State | None = None,
    applied: _Applied | None = None,
    states: list[_State] | None = None,
) -> tuple[Decimal, _Applied]:
    """Apply ``rules`` in order, each on what the previous left (from ``start``, after ``applied``):
    what they take off in all, and each one's part. ``states`` collects the state before each rule and
    the final one, for the ``best`` promotions to start from."""
    if start is None:
        left, ship, taken = list(ctx.amounts), ctx.shipping, _ZERO
    else:
        left, ship, taken = list(start[0]), start[1], start[2]
    applied = [] if applied is None else list(applied)
    for rule in rules:
        if states is not None:
            states.append((list(left), ship, taken, len(applied)))
        offs, ship_off = rule.apply(rule, ctx, left, ship)
        if not offs and not ship_off:
            continue
        for i, off in offs:
            left[i] -= off
            taken += off
        ship -= ship_off
        taken += ship_off
        applied.append((rule, offs, ship_off))
    if states is not None:
        states.append((left, ship, taken, len(applied)))
    return taken, applied


class PromotionBook:
    """The promotions in force for a company, indexed for pricing baskets."""

    def __init__(self, promotions: Iterable[Promotion]) -> None:
        ordered = sorted(promotions, key=lambda p: (-p.priority, p.code, p.id))
        self.promotions = tuple(ordered)
        self.rules = tuple(_Rule(p, rank) for rank, p in enumerate(ordered))
        self.by_product: dict[uuid.UUID, tuple[_Rule, ...]] = {}
        self.by_category: dict[str, tuple[_Rule, ...]] = {}
        everywhere: list[_Rule] = []
        by_product: dict[uuid.UUID, list[_Rule]] = {}
        by_category: dict[str, list[_Rule]] = {}
        for rule in self.rules:
            if rule.kind == "bundle_price":
                for product in rule.components:
                    by_product.setdefault(product, []).append(rule)
            elif rule.everything:
                everywhere.append(rule)
            else:
                for product in rule.products:
                    by_product.setdefault(product, []).append(rule)
                for category in rule.categories:
                    by_category.setdefault(category, []).append(rule)
        self.everywhere = tuple(everywhere)
        self.by_product = {k: tuple(v) for k, v in by_product.items()}
        self.by_category = {k: tuple(v) for k, v in by_category.items()}

    def candidates(self, basket: Basket) -> list[_Rule]:
        """The promotions the basket's lines can trigger, whether or not they are in force now."""
        found: dict[int, _Rule] = {r.rank: r for r in self.everywhere}
        by_product, by_category = self.by_product, self.by_category
        for line in basket.lines:
            for r in by_product.get(line.product_id, ()):
                found[r.rank] = r
            for r in by_category.get(line.category, ()):
                found[r.rank] = r
        return [found[k] for k in sorted(found)]

    def price(self, basket: Basket) -> PricedBasket:
        q = _quantum(basket.currency_decimals)
        order = sorted(range(len(basket.lines)), key=lambda k: (basket.lines[k].key, k))
        lines = [basket.lines[k] for k in order]
        amounts = [(ln.quantity * ln.unit_price).quantize(q, ROUND_HALF_UP) for ln in lines]
        shipping = basket.shipping if basket.shipping > 0 else _ZERO
        ctx = _Pricing(lines, amounts, q, shipping)

        granted: dict[uuid.UUID, str] = {}
        for code, pid in sorted(basket.coupons):
            granted.setdefault(pid, code)
        rules = [r for r in self.candidates(basket) if r.eligible(basket, granted)]
        applied = self._choose(rules, ctx) if rules else []

        per_line: list[list[AppliedDiscount]] = [[] for _ in lines]
        left = list(amounts)
        ship_discounts = []
        used = []
        for rule, offs, ship_off in applied:
            p = rule.promotion
            coupon = granted.get(p.id)
            source, code = ("coupon", coupon) if coupon else ("promotion", p.code)
            for i, off in offs:
                per_line[i].append(AppliedDiscount(source, code, off, p.id))
                left[i] -= off
            if ship_off:
                ship_discounts.append(AppliedDiscount(source, code, ship_off, p.id))
            used.append(p.code)

        priced: list[PricedLine | None] = [None] * len(lines)
        for i, line in enumerate(lines):
            discounts = per_line[i]
            rest = left[i]
            if line.manual_discount > 0 and rest > 0:
                off = min(rest, line.manual_discount.quantize(q, ROUND_HALF_UP))
                if off > 0:
                    discounts.append(AppliedDiscount("manual", "manual", off))
                    rest -= off
            floor = line.floor_amount
            priced[order[i]] = PricedLine(
                key=line.key,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=amounts[i],
                discounts=tuple(discounts),
                discount=amounts[i] - rest,
                net=rest,
                below_floor=floor is not None and rest < floor * line.quantity,
            )
        return PricedBasket(
            lines=tuple(priced),  # type: ignore[arg-type]
            promotions=tuple(used),
            shipping=basket.shipping,
            shipping_discounts=tuple(ship_discounts),
        )

    @staticmethod
    def _choose(rules: list[_Rule], ctx: _Pricing) -> _Applied:
        """The stacking modes: each exclusive alone, or the stackable ones plus the best ``best``.

        A promotion that takes nothing from the untouched basket takes nothing after others either
        (what is left only shrinks; thresholds and unit counts read the untouched basket), so each
        exclusive and ``best`` one is first tried alone, and a ``best`` taking nothing is not tried
        in the chain. (Stackable ones taking nothing cost little in the chain: not tried alone.)"""
        alone: dict[int, tuple[Decimal, _Applied]] = {}
        for rule in rules:
            if rule.promotion.stacking != "stackable":
                alone[rule.rank] = _run((rule,), ctx)
        rules = [r for r in rules if r.promotion.stacking == "stackable" or alone[r.rank][0] > 0]
        if not rules:
            return []
        stackable = [r for r in rules if r.promotion.stacking == "stackable"]
        bests = [r for r in rules if r.promotion.stacking == "best"]
        options: list[tuple[Decimal, int, _Applied]] = []

        def lead(applied: _Applied) -> int:
            return min((r.rank for r, _, _ in applied), default=1 << 30)

        if bests:
            # The stackable ones run once; each ``best`` starts from the state before the first
            # stackable promotion ranked after it, then the rest follow.
            states: list[_State] = []
            _, base = _run(stackable, ctx, states=states)
            ranks = [r.rank for r in stackable]
            chosen = None
            for best in bests:  # in rank order: a tie keeps the higher priority, lower code
                k = bisect_left(ranks, best.rank)
                state = states[k]
                taken, applied = _run([best, *stackable[k:]], ctx, state, base[: state[3]])
                if chosen is None or taken > chosen[0]:
                    chosen = (taken, applied)
            assert chosen is not None
            options.append((chosen[0], lead(chosen[1]), chosen[1]))
        elif stackable:
            taken, applied = _run(stackable, ctx)
            options.append((taken, lead(applied), applied))
        for rule in rules:
            if rule.promotion.stacking == "exclusive":
                taken, applied = alone[rule.rank]
                options.append((taken, rule.rank, applied))
        taken, _, applied = min(options, key=lambda o: (-o[0], o[1]))
        return applied if taken > 0 else []


# -- worst case -------------------------------------------------------------------------------------


def worst_case(promotion: Promotion, line: BasketLine, *, others: Iterable[BasketLine] = ()) -> Decimal:
    """The least a unit of ``line``'s product can come to under ``promotion`` alone (before manual
    discounts), on the unit price's basis, in the basket that triggers the promotion most deeply.
    Compare it with ``line.floor_amount`` to judge a breach. Not rounded.

    * percent off (any scope), a percent tier: ``unit x (1 - percent)``.
    * amount off: ``unit - amount``, at least 0 (at ``category``/``order`` scope, or for an amount
      tier, the basket holding just this unit, or just enough of it to reach the tier, takes it all).
    * buy X get Y: the average unit of a group made only of this product, ``unit x (X + Y x (1 -
      percent)) / (X + Y)``: buy 1 get 1 free is half price (decision 0047 says why not the free unit).
    * mix and match: ``N`` units for a price, this unit grouped with the ``N - 1`` dearest targeted
      products of ``others`` (or more of itself), the price spread pro rata by value.
    * bundle price: the bundle's price spread pro rata by value over its components, priced from
      ``line`` and ``others``; a component without a price there cannot be bounded: 0.
    * free shipping, or a product the promotion does not cover: the unit price.
    """
    p = promotion
    unit = line.unit_price
    rule = _Rule(p, 0)
    if p.kind == "bundle_price":
        if line.product_id not in rule.components or rule.price is None:
            return unit
        prices = {o.product_id: o.unit_price for o in others}
        prices[line.product_id] = unit
        if any(c not in prices for c in rule.components):
            return _ZERO
        whole = sum(prices[c] * n for c, n in rule.components.items())
        return unit if whole <= rule.price else unit * rule.price / whole
    covered = rule.everything or line.product_id in rule.products or line.category in rule.categories
    if not covered:
        return unit
    if p.kind == "percent_off":
        return unit if rule.factor is None else unit * (_ONE - rule.factor)
    if p.kind == "amount_off":
        return unit if rule.amount is None else max(_ZERO, unit - rule.amount)
    if p.kind == "buy_x_get_y":
        if not rule.buy or not rule.get or rule.factor is None:
            return unit
        return unit * (rule.buy + rule.get * (_ONE - rule.factor)) / (rule.buy + rule.get)
    if p.kind == "mix_and_match":
        if not rule.buy or rule.price is None:
            return unit
        dearer = sorted(
            (
                o.unit_price
                for o in others
                if o.product_id != line.product_id
                and (rule.everything or o.product_id in rule.products or o.category in rule.categories)
            ),
            reverse=True,
        )[: rule.buy - 1]
        dearer += [unit] * (rule.buy - 1 - len(dearer))
        whole = unit + sum(dearer)
        return unit if whole <= rule.price else unit * rule.price / whole
    if p.kind == "tiered_spend":
        least = unit
        for tier in p.tiers:
            if tier.percent is not None:
                least = min(least, unit * (_ONE - min(max(tier.percent, _ZERO), _HUNDRED) / _HUNDRED))
            elif tier.amount is not None and tier.amount > 0 and unit > 0:
                least = min(least, max(_ZERO, unit - tier.amount * unit / max(tier.threshold, unit)))
        return least
    return unit
