"""Margin leaks planted in the simulated trading, with their ground truth (issue 22).

Besides the high-discount cashier of :mod:`retailcore.simulation.campaigns`, three leaks are planted,
each through the public services as the real mistake or fraud would go through them:

* **Refund fraud**: one cashier at one store rings, for a few days, several refunds without a receipt
  a day, paid out in cash from the drawer (POS refund lines without ``refund_of``; the company's
  return policy lets cashiers do it), and a few sales after the store has closed. Every till also
  rings the odd ordinary no-receipt refund (:attr:`Profile.no_receipt_refund_percent`), so the
  fraud stands out from a background, not from nothing.
* **A promotion below the margin floor**: a margin floor is set on one product, then a promotion
  taking far more off it is drafted, refused at approval (``margin-floor-breach``) and approved by
  finance with the override; it runs for a few days in every store and on the web.
* **A price typo**: one store's POS price list for one product is entered with a digit dropped
  (:attr:`Profile.price_typo_divisor`) for a few days, then corrected; the store's tills sell at the
  list's price meanwhile, under cost.

Each case's subject and days are drawn from streams of their own (``leaks/...``) and recorded at the
end of the run as a ``SimulationGroundTruthRecorded`` event of the company (the contract in
docs/intelligence.md) and in the summary's ``ground_truth.cases``.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role, system_principal
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import tables as t
from retailcore.pos import commands as pc
from retailcore.pricing import price_lists as pl
from retailcore.pricing.tables import PriceList
from retailcore.promotions import commands as prc
from retailcore.promotions import floors
from retailcore.promotions import services as promotions
from retailcore.promotions.tables import MarginFloor, PromotionRow
from retailcore.returns import commands as rc
from retailcore.returns import services as returns
from retailcore.simulation.campaigns import approve_or_override, record_truth

if TYPE_CHECKING:
    from retailcore.pos.tables import PosSession
    from retailcore.simulation.campaigns import Campaigns
    from retailcore.simulation.simulator import Simulator
    from retailcore.simulation.world import SimProduct, SimStore

ZERO = Decimal(0)
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
AFTER_HOURS_MINUTE = 13 * 60
"""Minutes after 08:00 of an after-hours sale (21:00 on): the stores trade 08:00-18:00."""
NAMESPACE = uuid.UUID("0c6f3b1e-77a2-4f0e-9a51-2f4f1d7e9c03")


@dataclass
class Case:
    """One planted leak: its subject, its days and what it did."""

    kind: str
    first_day: int
    last_day: int
    store: SimStore | None = None
    cashier: str | None = None
    terminal: str | None = None
    product: SimProduct | None = None
    promotion: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def covers(self, day: int) -> bool:
        return self.first_day <= day <= self.last_day


@dataclass
class RefundStats:
    refunds: int = 0
    amount: Decimal = ZERO


class Leaks:
    def __init__(self, sim: Simulator, campaigns: Campaigns) -> None:
        self.sim = sim
        self.campaigns = campaigns
        self.profile = sim.profile
        self.world = sim.world
        self.company = sim.world.company
        self.cases: dict[str, Case] = {}
        self.refunds: dict[str, RefundStats] = defaultdict(RefundStats)
        """No-receipt cash refunds per cashier (user name)."""
        self.till_prices: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {}
        """(store, product) priced by the store's price list today, where it differs from the list price."""
        self.price_list_id: uuid.UUID | None = None
        self.typo_units: dict[int, Decimal] = defaultdict(lambda: ZERO)
        """Per day, units of the typo product the typo store sold (at whatever price was in force)."""
        self.typo_under_cost: dict[int, Decimal] = defaultdict(lambda: ZERO)
        self.promotion_units: dict[int, Decimal] = defaultdict(lambda: ZERO)

    # -- set-up --------------------------------------------------------------------------------------

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("/".join(str(p) for p in (self.sim.options.seed, "leaks", *parts)))

    def _window(self, rng: random.Random, length: int) -> tuple[int, int]:
        days = self.sim.options.days
        length = max(1, min(length, days))
        first = rng.randrange(days - length + 1)
        return first, first + length - 1

    def _ctx(self, principal: Principal, moment: dt.datetime) -> CommandContext:
        return CommandContext(principal, occurred_at=moment)

    def setup(self, session: Session, moment: dt.datetime) -> None:
        """Before the first day: the return policy the tills refund under, then each leak's subject
        and days, the margin floor and the misconfigured promotion, the typo store's price list."""
        profile = self.profile
        ctx = self._ctx(system_principal("simulator"), moment)
        policy = returns.policy_for(session, self.company.id)
        if not policy.no_receipt_allowed or "cashier" not in (policy.no_receipt_roles or []):
            returns.set_policy(
                session,
                ctx,
                self.company,
                rc.ReturnPolicyIn(
                    company_id=self.company.id,
                    no_receipt_allowed=True,
                    no_receipt_roles=["admin", "store_manager", "cashier"],
                    cash_refunds_allowed=policy.cash_refunds_allowed,
                    card_refunds_await_confirmation=policy.card_refunds_await_confirmation,
                    restocking_fee_taxable=policy.restocking_fee_taxable,
                ),
            )
        sweetheart = self.campaigns.anomaly(0)
        busy = {sweetheart.store}
        if profile.refund_fraud:
            self._choose_refund_fraud(busy)
        candidates = self._steady_sellers()
        if profile.price_typo and candidates:
            self._plant_price_typo(session, ctx, busy, candidates)
        if profile.below_margin_promotion and candidates:
            self._plant_below_margin(session, moment, candidates)

    def _steady_sellers(self) -> list[SimProduct]:
        """Products that sell most days at a store (so the leak shows), outside the seasonal
        promotions' categories (so no other discount blurs it), sold by the unit."""
        products = [
            p
            for p in self.world.products
            if p.pos
            and p.web
            and not p.weighed
            and not p.category.startswith("Apparel")
            and p.category != "Food/Coffee"
        ]
        products.sort(key=lambda p: (-p.weight, p.sku))
        return products[:12]

    def _choose_refund_fraud(self, busy: set[str]) -> None:
        rng = self._rng("refund_fraud")
        terminals = sorted(
            terminal
            for terminal, store in self.campaigns.terminal_store.items()
            if store.code not in busy or len(busy) >= len(self.world.stores)
        )
        terminal = rng.choice(terminals)
        store = self.campaigns.terminal_store[terminal]
        busy.add(store.code)
        first, last = self._window(rng, self.profile.refund_fraud_days)
        self.cases["refund_fraud"] = Case(
            "refund_fraud",
            first,
            last,
            store=store,
            cashier=self.campaigns.cashiers[terminal].actor,
            terminal=terminal,
            details={"refunds": 0, "refunded_amount": ZERO, "after_hours_sales": 0, "tickets": []},
        )

    def _plant_price_typo(
        self, session: Session, ctx: CommandContext, busy: set[str], candidates: list[SimProduct]
    ) -> None:
        rng = self._rng("price_typo")
        stores = sorted(
            (s for s in self.world.stores if s.code not in busy or len(busy) >= len(self.world.stores)),
            key=lambda s: s.code,
        )
        # A large store: the typo product then sells on most of the typo days.
        stores.sort(key=lambda s: -s.size_percent)
        store = stores[rng.randrange(max(1, len(stores) // 2))]
        busy.add(store.code)
        product = candidates[rng.randrange(len(candidates))]
        first, last = self._window(rng, self.profile.price_typo_days)
        typo = (product.list_price / self.profile.price_typo_divisor).quantize(CENT, ROUND_HALF_UP)
        code = f"TYPO-{store.code}-{self.sim.start:%Y%m%d}"
        found = session.scalar(
            select(PriceList.id).where(PriceList.company_id == self.company.id, PriceList.code == code)
        )
        if found is None:
            found = pl.create_price_list(
                session,
                ctx,
                self.company,
                pl.CreatePriceList(
                    company_id=self.company.id,
                    code=code,
                    name=f"{store.code} shelf prices",
                    currency=self.company.currency,
                    channel="pos",
                    store_id=store.id,
                    items=[pl.ItemIn(product_id=product.id, unit_price=product.list_price)],
                ),
            ).id
        self.price_list_id = found
        self.cases["price_typo"] = Case(
            "price_typo",
            first,
            last,
            store=store,
            product=product,
            details={
                "list_price": _cents(product.list_price),
                "typo_price": _cents(typo),
                "cost": _cents(product.cost),
                "price_list": code,
            },
        )

    def _plant_below_margin(
        self, session: Session, moment: dt.datetime, candidates: list[SimProduct]
    ) -> None:
        rng = self._rng("below_margin_promotion")
        typo = self.cases.get("price_typo")
        choices = [p for p in candidates if typo is None or p is not typo.product]
        product = choices[rng.randrange(len(choices))]
        first, last = self._window(rng, self.profile.below_margin_days)
        company = self.company
        code = f"CLEAR-{product.sku}-{self.sim.start:%Y%m%d}"
        admin = self._ctx(system_principal("simulator"), moment)
        floor = Decimal(self.profile.margin_floor_percent) / HUNDRED
        if session.scalar(select(MarginFloor.id).where(MarginFloor.product_id == product.id)) is None:
            floors.create_floor(
                session,
                admin,
                company,
                prc.CreateMarginFloor(company_id=company.id, product_id=product.id, floor=floor),
            )
        overridden = True
        if (
            session.scalar(
                select(PromotionRow.id).where(
                    PromotionRow.company_id == company.id, PromotionRow.code == code
                )
            )
            is None
        ):
            author = self._ctx(self.campaigns.author, moment)
            approver = self._ctx(self.campaigns.approver, moment + dt.timedelta(minutes=30))
            row = promotions.create_promotion(
                session,
                author,
                company,
                prc.CreatePromotion(
                    company_id=company.id,
                    code=code,
                    name=f"Clearance: {self.profile.below_margin_percent_off} % off {product.sku}",
                    kind="percent_off",
                    percent=Decimal(self.profile.below_margin_percent_off),
                    product_ids=[product.id],
                    channels=["pos", "web"],
                    starts_at=dt.datetime.combine(self.sim._date(first), dt.time()),
                    ends_at=dt.datetime.combine(self.sim._date(last + 1), dt.time()),
                ),
            )
            promotions.submit_promotion(session, author, row.id)
            overridden = approve_or_override(
                session,
                approver,
                company,
                row.id,
                "clearance",
                "clearance, below the floor to clear the shelf",
            )
        self.cases["below_margin_promotion"] = Case(
            "below_margin_promotion",
            first,
            last,
            product=product,
            promotion=code,
            details={
                "percent_off": self.profile.below_margin_percent_off,
                "margin_floor": str(floor),
                "list_price": _cents(product.list_price),
                "cost": _cents(product.cost),
                "approved_over_floor": overridden,
            },
        )

    # -- each day ------------------------------------------------------------------------------------

    def start_day(self, session: Session, day: int) -> None:
        """The typo is entered on its first day and corrected the day after its last, through the
        price list service; the tills read the store's price from the pricing service."""
        case = self.cases.get("price_typo")
        if case is None or self.price_list_id is None or day not in (case.first_day, case.last_day + 1):
            return
        assert case.product is not None and case.store is not None
        price = Decimal(case.details["typo_price"]) if day == case.first_day else case.product.list_price
        moment = dt.datetime.combine(self.sim._date(day), dt.time(7, 30), dt.UTC)
        pricing_manager = Principal(
            None, f"{self.company.code.lower()}-pricing-author", Role.pricing_manager, self.company.id, None
        )
        pl.replace_items(
            session,
            self._ctx(pricing_manager, moment),
            self.price_list_id,
            [pl.ItemIn(product_id=case.product.id, unit_price=price)],
        )
        row = session.get(t.Product, case.product.id)
        assert row is not None
        quote = pl.price_for(
            session,
            self.company,
            row,
            channel="pos",
            store_id=case.store.id,
            currency=self.company.currency,
            on=self.sim._date(day),
        )
        key = (case.store.id, case.product.id)
        if quote.unit_price == case.product.list_price:
            self.till_prices.pop(key, None)
        else:
            self.till_prices[key] = quote.unit_price

    def unit_price(self, store: SimStore, product: SimProduct) -> Decimal:
        return self.till_prices.get((store.id, product.id), product.list_price)

    # -- POS -----------------------------------------------------------------------------------------

    def refunds_at_till(
        self, day: int, store: SimStore, terminal: str, pos_session: PosSession, cash: Decimal
    ) -> list[pc.SaleIn]:
        """The till's no-receipt refunds of the day, paid out in cash (never more than ``cash``, what
        the drawer holds beyond its float): the fraudulent cashier's many, or the odd ordinary one."""
        rng = self._rng("refunds", terminal, day)
        case = self.cases.get("refund_fraud")
        fraud = case is not None and case.terminal == terminal and case.covers(day)
        if fraud:
            count = rng.randint(*self.profile.refund_fraud_per_day)
        else:
            count = 1 if rng.randrange(100) < self.profile.no_receipt_refund_percent else 0
        cashier = self.campaigns.cashiers[terminal].actor
        tickets = []
        for n in range(count):
            drawn = [self.sim.pos_products.draw(rng) for _ in range(3 if fraud else 1)]
            product = max((p for p in drawn if not p.weighed), key=lambda p: p.list_price, default=None)
            if product is None:
                continue
            amount = product.list_price
            if amount > cash:
                break
            cash -= amount
            minute = 270 + rng.randrange(330)
            client_uuid = uuid.uuid5(
                NAMESPACE, f"{self.company.code}/{terminal}/{self.sim._date(day)}/refund/{n}"
            )
            tickets.append(
                pc.SaleIn(
                    client_uuid=client_uuid,
                    sold_at=dt.datetime.combine(self.sim._date(day), dt.time(8), dt.UTC)
                    + dt.timedelta(minutes=minute, seconds=rng.randrange(60)),
                    lines=[
                        pc.SaleLineIn(
                            product_id=product.id,
                            quantity=Decimal(-1),
                            unit_price=product.list_price,
                            reason=rng.choice(("changed_mind", "wrong_size", "other")),
                        )
                    ],
                    payments=[pc.PaymentIn(payment_method_code="CASH", amount=amount)],
                )
            )
            stats = self.refunds[cashier]
            stats.refunds += 1
            stats.amount += amount
            if fraud:
                assert case is not None
                case.details["refunds"] += 1
                case.details["refunded_amount"] += amount
                case.details["tickets"].append(str(client_uuid))
        return tickets

    def after_hours_sales(self, day: int, terminal: str) -> tuple[int, random.Random]:
        """How many sales the fraudulent cashier rings after closing today (and their draws' stream)."""
        rng = self._rng("after_hours", terminal, day)
        case = self.cases.get("refund_fraud")
        if case is None or case.terminal != terminal or not case.covers(day):
            return 0, rng
        count = rng.randint(*self.profile.refund_fraud_after_hours)
        case.details["after_hours_sales"] += count
        return count, rng

    def record_sale(self, day: int, store: SimStore, sale: pc.SaleIn) -> None:
        typo = self.cases.get("price_typo")
        promotion = self.cases.get("below_margin_promotion")
        for line in sale.lines:
            if (
                typo is not None
                and typo.store is store
                and typo.product is not None
                and (line.product_id == typo.product.id)
            ):
                self.typo_units[day] += line.quantity
                if line.unit_price < typo.product.cost:
                    self.typo_under_cost[day] += line.quantity
            if (
                promotion is not None
                and promotion.product is not None
                and promotion.covers(day)
                and line.product_id == promotion.product.id
            ):
                self.promotion_units[day] += line.quantity

    # -- the end -------------------------------------------------------------------------------------

    def truths(self) -> list[dict[str, Any]]:
        """Each planted case as the ground-truth contract has it (docs/intelligence.md)."""
        found = []
        for kind in ("refund_fraud", "below_margin_promotion", "price_typo"):
            case = self.cases.get(kind)
            if case is None:
                continue
            details = dict(case.details)
            if kind == "refund_fraud":
                details["refunded_amount"] = _cents(details["refunded_amount"])
                others = [s for cashier, s in self.refunds.items() if cashier != case.cashier]
                details["other_cashiers_refunds"] = sum(s.refunds for s in others)
                details["other_cashiers_with_refunds"] = len(others)
            if kind == "price_typo":
                details["units_sold"] = {
                    self.sim._date(d).isoformat(): _units(q) for d, q in sorted(self.typo_units.items())
                }
                details["units_under_cost"] = _units(sum(self.typo_under_cost.values(), ZERO))
            if kind == "below_margin_promotion":
                details["pos_units_sold"] = _units(sum(self.promotion_units.values(), ZERO))
            found.append(
                {
                    "kind": kind,
                    "store": case.store.code if case.store is not None else None,
                    "cashier": case.cashier,
                    "terminal": case.terminal,
                    "product": case.product.sku if case.product is not None else None,
                    "products": [case.product.sku] if case.product is not None else [],
                    "promotion": case.promotion,
                    "from": self.sim._date(case.first_day).isoformat(),
                    "to": self.sim._date(case.last_day).isoformat(),
                    **details,
                }
            )
        return found

    def record_ground_truth(self, session: Session, moment: dt.datetime) -> list[dict[str, Any]]:
        ctx = self._ctx(system_principal("simulator"), moment)
        typo = self.cases.get("price_typo")
        if typo is not None and self.price_list_id is not None and self.till_prices:
            # The run ended before the correction's day: corrected now, so no later run or user of the
            # database inherits the typo.
            assert typo.product is not None
            pl.replace_items(
                session,
                ctx,
                self.price_list_id,
                [pl.ItemIn(product_id=typo.product.id, unit_price=typo.product.list_price)],
            )
            self.till_prices.clear()
        truths = self.truths()
        for truth in truths:
            record_truth(session, ctx, self.company.id, f"{truth['from']}/{truth['kind']}", truth)
        return truths


def after_hours_minute(rng: random.Random) -> int:
    """Minutes after 08:00 of a sale rung after closing: between 21:00 and 21:59."""
    return AFTER_HOURS_MINUTE + rng.randrange(60)


def _cents(amount: Decimal) -> str:
    """Money as the summary shows it: a row read back has four decimals, a fresh one two."""
    return str(amount.quantize(CENT, ROUND_HALF_UP))


def _units(quantity: Decimal) -> str:
    return str(quantity.quantize(Decimal("0.001")).normalize())
