"""Promotions, coupons, loyalty and the cashiers' manual discounts in the simulation (issue 19).

Everything goes through the contexts' public services, as the API would:

* **Seasonal promotions** drafted by one pricing manager, submitted, and approved by another (four
  eyes, :mod:`retailcore.promotions.services`), with the simulated time as "now": approved before the
  first day they are ``scheduled``; the daily sweep (also at the simulated time) makes them ``active``
  and, for the one that ends mid-run, ``expired``. A weekend percent off apparel (POS and web), a buy 2
  get 1 on coffee (POS and web, the first half of the run) and a tiered spend threshold (web).
  They are priced by the one pricing function: the web order service prices its orders itself; the
  simulated till prices its basket with the same book (as a till that priced offline) and sends the
  promotion discounts with the sale, which the server prices again and compares.
* **Web coupons**: a batch of single-use codes granting a coupon-only 10 % off the web order. A share
  of web orders presents an unused code of the batch; a share of those attempts presents a code used
  already, which the order service refuses (``409 coupon-used-up``): counted, and the customer
  orders without it.
* **Loyalty**: the members (``M001``..) have accounts; a share of POS sales and web orders are
  theirs, and earn points once delivered (:func:`retailcore.loyalty.earning.earn_for_order`, once per
  order); some members with points pay part of a web order with them (a ``loyalty`` tender).
* **Manual discounts**: each till's sales are sent with its cashier's identity (a ``cashier`` role
  scoped to the store), under a company limit (:attr:`Profile.discount_limit_percent`). One cashier
  per simulated month of 30 days gives manual discounts far more often and far deeper; beyond the
  limit the store's manager approves them (an override naming the manager). That cashier, the days
  and the tickets are the **ground truth** for an anomaly detector: in the summary
  (``ground_truth``) and, in the database, as a ``SimulationGroundTruthRecorded`` event of the
  company (aggregate ``SimulationGroundTruth``).

Every draw comes from streams of its own (``campaign/...``), so the rest of the trading is drawn as
without them.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role, system_principal
from retailcore.access.tables import User
from retailcore.access.users import create_user
from retailcore.core.errors import Conflict, RetailcoreError
from retailcore.eventlog.services import CommandContext, record
from retailcore.loyalty import commands as lc
from retailcore.loyalty import services as loyalty
from retailcore.loyalty.earning import earn_for_order
from retailcore.masterdata import tables as t
from retailcore.orders import discounts
from retailcore.orders import tables as ot
from retailcore.pos import commands as pc
from retailcore.promotions import channels as pricing
from retailcore.promotions import commands as prc
from retailcore.promotions import coupon_commands as cc
from retailcore.promotions import coupons
from retailcore.promotions import services as promotions
from retailcore.promotions.model import Basket, BasketLine
from retailcore.promotions.tables import Coupon as CouponRow
from retailcore.promotions.tables import PromotionRow

if TYPE_CHECKING:
    from retailcore.simulation.simulator import Simulator
    from retailcore.simulation.world import SimStore

ZERO = Decimal(0)
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MONTH_DAYS = 30
"""A simulated month: the high-discount cashier is drawn again every 30 days."""
UTC = dt.UTC


def record_truth(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, key: str, payload: dict[str, Any]
) -> None:
    """One planted case as a ``SimulationGroundTruthRecorded`` event of the company, its aggregate id
    derived from ``key`` (the case's first day and subject), for a detector to be scored against."""
    record(
        session,
        ctx,
        type="SimulationGroundTruthRecorded",
        company_id=company_id,
        aggregate_type="SimulationGroundTruth",
        aggregate_id=uuid.uuid5(uuid.NAMESPACE_URL, f"retailcore-sim/{company_id}/{key}"),
        payload=payload,
    )


def approve_or_override(
    session: Session,
    approver: CommandContext,
    company: t.Company,
    promotion_id: uuid.UUID,
    reason: str,
    why: str,
) -> bool:
    """Approve a submitted promotion; when its margin floor refuses, the company's finance approves it
    over the floor an hour later, giving ``why`` (the override). True when it was overridden."""
    try:
        with session.begin_nested():
            promotions.approve_promotion(
                session, approver, promotion_id, prc.Decision(reason=reason), now=approver.occurred_at
            )
    except Conflict as refused:
        if refused.code != "margin-floor-breach":
            raise
        finance = CommandContext(
            Principal(None, f"{company.code.lower()}-finance", Role.finance, company.id, None),
            occurred_at=approver.occurred_at + dt.timedelta(minutes=30),
        )
        promotions.approve_promotion(
            session, finance, promotion_id, prc.Decision(reason=why), override=True, now=finance.occurred_at
        )
        return True
    return False


def _percent(rng: random.Random, percent: int) -> bool:
    return rng.randrange(100) < percent


@dataclass
class Coupon:
    code: str
    reuse: bool
    """True: a code already redeemed, presented again (the order service refuses it)."""


@dataclass
class CashierStats:
    sales: int = 0
    lines: int = 0
    discounted_lines: int = 0
    overrides: int = 0
    line_amount: Decimal = ZERO
    discount_amount: Decimal = ZERO

    def rate(self) -> Decimal:
        """Manual discounts as a percent of the lines' amounts."""
        if not self.line_amount:
            return ZERO
        return (self.discount_amount * HUNDRED / self.line_amount).quantize(CENT, ROUND_HALF_UP)


@dataclass
class Anomaly:
    """One month's high-discount cashier: the ground truth."""

    month: int
    cashier: str
    store: str
    terminal: str
    first_day: dt.date
    last_day: dt.date
    tickets: list[str] = field(default_factory=list)
    """Client uuids of the cashier's sales with a manual discount in the month."""
    overrides: int = 0


class Campaigns:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.profile = sim.profile
        self.world = sim.world
        self.company = sim.world.company
        code = self.company.code.lower()
        self.author = Principal(None, f"{code}-pricing-author", Role.pricing_manager, self.company.id, None)
        self.approver = Principal(
            None, f"{code}-pricing-approver", Role.pricing_manager, self.company.id, None
        )
        self.cashiers: dict[str, Principal] = {}
        """Per terminal code, its cashier (as the till's token would be: role cashier, the store's)."""
        self.terminal_store: dict[str, SimStore] = {}
        for store in self.world.stores:
            for terminal in store.terminal_codes:
                self.terminal_store[terminal] = store
                self.cashiers[terminal] = Principal(
                    None, f"cashier-{terminal.lower()}", Role.cashier, self.company.id, store.id
                )
        self.managers: dict[uuid.UUID, str] = {}
        self.zones: dict[uuid.UUID, str | None] = {}
        self.promotion_codes: dict[str, str] = {}
        """What each promotion is (weekend, b2g1, tiered, coupon) -> its code."""
        self.fresh_codes: list[str] = []
        self.used_codes: list[str] = []
        self.members = set(self.world.members)
        self.points: dict[uuid.UUID, int] = defaultdict(int)
        self.counters: Counter[str] = Counter()
        self.points_earned = 0
        self.points_burned = 0
        self.burned_amount = ZERO
        self.stats: dict[str, CashierStats] = defaultdict(CashierStats)
        self.anomalies: dict[int, Anomaly] = {}
        self.book: Any = None
        """The promotions' book the tills price with today (read after the day's sweep)."""
        self._prefilter: tuple[Any, pricing.Prefilter] | None = None
        self.groups: dict[uuid.UUID | None, str | None] = {}
        self.member_sales: list[uuid.UUID] = []
        """Client uuids of today's POS sales to members (points earned once the batch is taken)."""

    # -- set-up --------------------------------------------------------------------------------------

    def _ctx(self, principal: Principal, moment: dt.datetime) -> CommandContext:
        return CommandContext(principal, occurred_at=moment)

    def setup(self, session: Session, moment: dt.datetime) -> None:
        """Before the first day: the discount limit, the stores' managers, the promotions (approved by
        another person), the coupon batch, the loyalty programme and the members' accounts."""
        profile = self.profile
        ctx = self._ctx(system_principal("simulator"), moment)
        company = self.company
        if discounts.limit_for(session, company.id, None) is None:
            discounts.set_policy(
                session,
                ctx,
                company,
                discounts.SetDiscountPolicy(
                    company_id=company.id, max_percent=profile.discount_limit_percent
                ),
            )
        for store in self.world.stores:
            name = f"{company.code}-{store.code}-manager".lower()
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(
                    session,
                    name,
                    f"sim-{uuid.uuid5(uuid.NAMESPACE_URL, name).hex}",
                    Role.store_manager,
                    company=str(company.id),
                    store=str(store.id),
                    created_by="simulator",
                )
            self.managers[store.id] = name
        self.zones = {
            row.id: row.timezone
            for row in session.execute(
                select(t.Store.id, t.Store.timezone).where(t.Store.company_id == company.id)
            )
        }
        self._promotions(session, moment)
        self._coupons(session, ctx, moment)
        if loyalty.programme_of(session, company.id) is None:
            loyalty.set_programme(
                session,
                ctx,
                company,
                lc.SetProgramme(
                    company_id=company.id,
                    points_per_unit=profile.loyalty_points_per_unit,
                    point_value=profile.loyalty_point_value,
                ),
            )
        for member in self.world.members:
            try:
                with session.begin_nested():
                    view = loyalty.open_account(
                        session, ctx, company, lc.OpenAccount(company_id=company.id, customer_id=member)
                    )
                self.points[member] = view.balance
            except Conflict:  # enrolled by an earlier run
                self.points[member] = loyalty.account_detail(session, company, member, limit=1).balance

    def _promotions(self, session: Session, moment: dt.datetime) -> None:
        sim = self.sim
        company = self.company
        start = sim.start
        end = sim.start + dt.timedelta(days=sim.options.days)
        middle = sim.start + dt.timedelta(days=max(1, sim.options.days // 2))
        suffix = f"{start:%Y%m%d}"
        categories = {p.category for p in self.world.products}

        def local(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time())

        drafts: list[tuple[str, dict[str, Any]]] = []
        apparel = sorted(c for c in categories if c.startswith("Apparel"))
        if apparel:
            drafts.append(
                (
                    "weekend",
                    {
                        "code": f"WKND15-{suffix}",
                        "name": "Weekend: 15 % off apparel",
                        "kind": "percent_off",
                        "percent": Decimal(15),
                        "categories": apparel,
                        "channels": ["pos", "web"],
                        "windows": [{"weekdays": [5, 6], "start": "00:00", "end": "23:59"}],
                        "starts_at": local(start),
                        "ends_at": local(end),
                    },
                )
            )
        coffee = sorted(c for c in categories if c == "Food/Coffee")
        if coffee:
            drafts.append(
                (
                    "b2g1",
                    {
                        "code": f"COFFEE3-{suffix}",
                        "name": "Coffee: buy 2, get 1 free",
                        "kind": "buy_x_get_y",
                        "buy_quantity": Decimal(2),
                        "get_quantity": Decimal(1),
                        "categories": coffee,
                        "channels": ["pos", "web"],
                        "starts_at": local(start),
                        "ends_at": local(middle),
                    },
                )
            )
        drafts.append(
            (
                "tiered",
                {
                    "code": f"SPEND-{suffix}",
                    "name": "Spend 60, save 5 %; spend 120, save 10 %",
                    "kind": "tiered_spend",
                    "tiers": [
                        {"threshold": Decimal(60), "percent": Decimal(5)},
                        {"threshold": Decimal(120), "percent": Decimal(10)},
                    ],
                    "channels": ["web"],
                    "starts_at": local(start),
                    "ends_at": local(end),
                },
            )
        )
        drafts.append(
            (
                "coupon",
                {
                    "code": f"WEB10-{suffix}",
                    "name": "Web coupon: 10 % off the order",
                    "kind": "percent_off",
                    "scope": "order",
                    "percent": Decimal(10),
                    "channels": ["web"],
                    "coupon_only": True,
                    "priority": -1,
                    "starts_at": local(start),
                    "ends_at": local(end),
                },
            )
        )
        author = self._ctx(self.author, moment)
        approver = self._ctx(self.approver, moment + dt.timedelta(minutes=30))
        for what, fields in drafts:
            if (
                session.scalar(
                    select(PromotionRow.id).where(
                        PromotionRow.company_id == company.id,
                        PromotionRow.code == fields["code"],
                    )
                )
                is not None
            ):
                self.promotion_codes[what] = fields["code"]
                continue
            row = promotions.create_promotion(
                session, author, company, prc.CreatePromotion(company_id=company.id, **fields)
            )
            promotions.submit_promotion(session, author, row.id)
            if approve_or_override(
                session,
                approver,
                company,
                row.id,
                "seasonal plan",
                "seasonal plan, below the floor on purpose",
            ):
                self.counters["promotion_overrides"] += 1
            self.promotion_codes[what] = fields["code"]
            self.counters["promotions_approved"] += 1

    def _coupons(self, session: Session, ctx: CommandContext, moment: dt.datetime) -> None:
        company = self.company
        code = self.promotion_codes["coupon"]
        batch = f"SIM-{code}"
        existing = []
        if session.scalar(
            select(CouponRow.id).where(CouponRow.company_id == company.id, CouponRow.batch == batch)
        ):
            existing = coupons.batch_codes(session, company, batch)
        if existing:
            self.fresh_codes = [c.code for c in existing if c.uses == 0]
            self.used_codes = [c.code for c in existing if c.uses]
            return
        start = dt.datetime.combine(self.sim.start, dt.time(), UTC) - dt.timedelta(days=1)
        generated = coupons.generate_coupons(
            session,
            ctx,
            company,
            cc.GenerateCoupons(
                company_id=company.id,
                promotion=code,
                count=self.profile.coupon_batch,
                prefix="WEB",
                batch=batch,
                valid_from=start,
                valid_to=start + dt.timedelta(days=self.sim.options.days + 2),
            ),
        )
        # The batch's codes are drawn at random by the service: handed out in a seeded order.
        self.fresh_codes = sorted(generated.codes)
        random.Random(f"{self.sim.options.seed}/campaign/coupons").shuffle(self.fresh_codes)
        self.counters["coupons_generated"] += generated.count

    # -- the daily sweep -----------------------------------------------------------------------------

    def sweep(self, session: Session, day: int) -> None:
        """The promotions' sweep at the start of the simulated day (as ``retailcore serve`` runs it)."""
        moment = dt.datetime.combine(self.sim._date(day), dt.time(0, 5), UTC)
        done = promotions.sweep(
            session, self._ctx(system_principal("simulator"), moment), self.company, moment
        )
        self.book = None
        self.counters["promotions_activated"] += len(done.activated)
        self.counters["promotions_expired"] += len(done.expired)

    # -- POS -----------------------------------------------------------------------------------------

    def cashier_ctx(self, terminal: str, ctx: CommandContext) -> CommandContext:
        """The batch sent with the till's cashier's identity, at the batch's simulated time."""
        return CommandContext(self.cashiers[terminal], occurred_at=ctx.occurred_at)

    def anomaly(self, day: int) -> Anomaly:
        month = day // MONTH_DAYS
        found = self.anomalies.get(month)
        if found is None:
            terminals = sorted(self.cashiers)
            terminal = random.Random(f"{self.sim.options.seed}/campaign/anomaly/{month}").choice(terminals)
            first = month * MONTH_DAYS
            last = min(self.sim.options.days, first + MONTH_DAYS) - 1
            found = self.anomalies[month] = Anomaly(
                month,
                self.cashiers[terminal].actor,
                self.terminal_store[terminal].code,
                terminal,
                self.sim._date(first),
                self.sim._date(last),
            )
        return found

    def manual_discount(
        self, rng: random.Random, day: int, terminal: str, amount: Decimal, usual: Decimal
    ) -> tuple[Decimal, pc.OverrideIn | None]:
        """The manual discount of a line of ``amount`` (``usual``: what the ordinary draw gave) and the
        manager's override when it is beyond the limit. The month's high-discount cashier discounts
        far more lines, far deeper."""
        profile = self.profile
        discount = usual
        if self.anomaly(day).terminal == terminal and _percent(rng, profile.high_discount_line_percent):
            depth = rng.randint(*profile.high_discount_depth_percent)
            discount = (amount * depth / HUNDRED).quantize(CENT, ROUND_FLOOR)
        override = None
        if discount * HUNDRED > amount * profile.discount_limit_percent:
            store = self.terminal_store[terminal]
            override = pc.OverrideIn(by=self.managers[store.id], reason="customer complaint")
        return discount, override

    def record_sale(self, day: int, terminal: str, sale: pc.SaleIn) -> None:
        stats = self.stats[self.cashiers[terminal].actor]
        stats.sales += 1
        discounted = False
        for line in sale.lines:
            stats.lines += 1
            stats.line_amount += (line.quantity * line.unit_price).quantize(CENT, ROUND_HALF_UP)
            if line.discount:
                discounted = True
                stats.discounted_lines += 1
                stats.discount_amount += line.discount
                if line.override is not None:
                    stats.overrides += 1
        anomaly = self.anomaly(day)
        if discounted and anomaly.terminal == terminal:
            anomaly.tickets.append(str(sale.client_uuid))
            anomaly.overrides += sum(1 for line in sale.lines if line.override is not None)

    def member(self, rng: random.Random, percent: int) -> uuid.UUID | None:
        if not self.world.members or not _percent(rng, percent):
            return None
        return self.world.members[rng.randrange(len(self.world.members))]

    def till_discounts(
        self,
        session: Session,
        store_id: uuid.UUID,
        sold_at: dt.datetime,
        lines: list[pc.SaleLineIn],
        customer_id: uuid.UUID | None,
    ) -> list[pc.SaleLineIn]:
        """The till prices its basket with the book in force, as the server will (lines keyed by their
        position in the sale), and sends the promotion discounts with each line."""
        if self.book is None:  # once a day: only the sweep changes promotions, and pricing checks times
            self.book = pricing.book_for(session, self.company.id)
        book = self.book
        if self._prefilter is None or self._prefilter[0] is not book:
            self._prefilter = (book, pricing.Prefilter(book))
        prefilter = self._prefilter[1]
        by_id = self.sim.by_id
        if not any(prefilter.touches(line.product_id, by_id[line.product_id].category) for line in lines):
            return lines
        if customer_id not in self.groups:
            self.groups[customer_id] = pricing.customer_group(session, self.company.id, customer_id)
        group = self.groups[customer_id]
        basket = Basket(
            lines=tuple(
                BasketLine(
                    key=str(n),
                    product_id=line.product_id,
                    category=by_id[line.product_id].category,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    manual_discount=line.discount,
                )
                for n, line in enumerate(lines)
            ),
            currency_decimals=2,
            channel="pos",
            local_time=pricing.local_time(session, self.company.id, self.zones.get(store_id), sold_at),
            store_id=store_id,
            customer_group=group,
        )
        priced = {line.key: line for line in book.price(basket).lines}
        found = []
        for n, line in enumerate(lines):
            applied = [
                pc.AppliedDiscountIn(source=d.source, code=d.code, amount=d.amount)
                for d in priced[str(n)].discounts
                if d.source != "manual"
            ]
            if applied:
                self.counters["pos_promotion_lines"] += 1
                update: dict[str, Any] = {"discounts": applied}
                amount = (line.quantity * line.unit_price).quantize(CENT, ROUND_HALF_UP)
                if line.discount and sum((d.amount for d in applied), ZERO) + line.discount > amount:
                    # A unit the promotion gives away (a buy 2 get 1 on the discounted line) is not
                    # marked down by hand as well: the line would go below zero.
                    update |= {"discount": ZERO, "override": None}
                line = line.model_copy(update=update)
            found.append(line)
        return found

    def earn_pos(self, session: Session, ctx: CommandContext, client_uuids: list[uuid.UUID]) -> None:
        """Points for the members' POS sales just taken (a POS sale is delivered at once)."""
        if not client_uuids:
            return
        order_ids = session.scalars(
            select(ot.OrderRow.id)
            .where(ot.OrderRow.company_id == self.company.id, ot.OrderRow.client_uuid.in_(client_uuids))
            .order_by(ot.OrderRow.number)
        ).all()
        for order_id in order_ids:
            self.earn(session, ctx, order_id)

    # -- web -----------------------------------------------------------------------------------------

    def coupon(self, rng: random.Random) -> Coupon | None:
        """A coupon the web customer presents, if any: an unused code of the batch, or (a share of the
        attempts) one used already."""
        profile = self.profile
        if not _percent(rng, profile.coupon_web_percent):
            return None
        if self.used_codes and _percent(rng, profile.coupon_reuse_percent):
            return Coupon(self.used_codes[rng.randrange(len(self.used_codes))], reuse=True)
        if not self.fresh_codes:
            return None
        return Coupon(self.fresh_codes[-1], reuse=False)

    def coupon_taken(self, coupon: Coupon) -> None:
        if coupon.reuse:  # pragma: no cover - the service refuses it
            self.counters["coupon_reuse_accepted"] += 1
            return
        self.fresh_codes.remove(coupon.code)
        self.used_codes.append(coupon.code)
        self.counters["coupons_redeemed"] += 1

    def coupon_refused(self, coupon: Coupon, error: RetailcoreError) -> None:
        self.counters["coupon_reuse_refused" if coupon.reuse else "coupon_refused"] += 1

    def earn(self, session: Session, ctx: CommandContext, order_id: uuid.UUID) -> None:
        try:
            with session.begin_nested():
                earned = earn_for_order(session, ctx, self.company, order_id)
        except RetailcoreError:
            self.counters["earn_refused"] += 1
            return
        if earned.points:
            self.points_earned += earned.points
            self.counters["orders_earning"] += 1
        self.points[_customer_of(session, order_id)] = earned.balance

    def burners(self, rng: random.Random) -> list[uuid.UUID]:
        """Members with enough points who spend some today on a web order."""
        profile = self.profile
        return [
            member
            for member in self.world.members
            if self.points[member] >= profile.loyalty_burn_min_points
            and _percent(rng, profile.loyalty_burn_percent)
        ]

    def burnable(self, session: Session, member: uuid.UUID, due: Decimal) -> Decimal:
        """What the member's points pay of ``due`` (whole points, read from the account)."""
        balance = loyalty.account_detail(session, self.company, member, limit=1).balance
        self.points[member] = balance
        programme = loyalty.programme_of(session, self.company.id)
        assert programme is not None
        value = (balance * programme.point_value).quantize(CENT, ROUND_FLOOR)
        return min(value, due)

    def burned(self, session: Session, member: uuid.UUID, amount: Decimal) -> None:
        programme = loyalty.programme_of(session, self.company.id)
        assert programme is not None
        points = int(amount / programme.point_value)
        self.points[member] -= points
        self.points_burned += points
        self.burned_amount += amount
        self.counters["loyalty_tenders"] += 1

    # -- the end -------------------------------------------------------------------------------------

    def record_ground_truth(self, session: Session, moment: dt.datetime) -> None:
        """The months' high-discount cashiers as an event of the company, for a detector to be scored."""
        ctx = self._ctx(system_principal("simulator"), moment)
        for anomaly in sorted(self.anomalies.values(), key=lambda a: a.month):
            record_truth(
                session, ctx, self.company.id, f"{anomaly.first_day}/{anomaly.terminal}", self._case(anomaly)
            )

    def _case(self, anomaly: Anomaly) -> dict[str, Any]:
        """The month's high-discount cashier as the ground-truth contract has it (docs/intelligence.md)."""
        return {
            "kind": "high_manual_discounts",
            "product": None,
            "products": [],
            "promotion": None,
            **self._truth(anomaly),
        }

    def truths(self) -> list[dict[str, Any]]:
        return [self._case(a) for a in sorted(self.anomalies.values(), key=lambda a: a.month)]

    def _truth(self, anomaly: Anomaly) -> dict[str, Any]:
        stats = self.stats[anomaly.cashier]
        return {
            "cashier": anomaly.cashier,
            "store": anomaly.store,
            "terminal": anomaly.terminal,
            "from": anomaly.first_day.isoformat(),
            "to": anomaly.last_day.isoformat(),
            "sales": stats.sales,
            "discounted_lines": stats.discounted_lines,
            "overrides": anomaly.overrides,
            "discount_rate_percent": str(stats.rate()),
            "tickets": list(anomaly.tickets),
        }

    def summary(self) -> dict[str, Any]:
        flagged = {a.cashier for a in self.anomalies.values()}
        others = CashierStats()
        for cashier, stats in self.stats.items():
            if cashier not in flagged:
                others.line_amount += stats.line_amount
                others.discount_amount += stats.discount_amount
                others.discounted_lines += stats.discounted_lines
                others.lines += stats.lines
        c = self.counters
        return {
            "promotions": {
                "approved": c["promotions_approved"],
                "approved_over_floor": c["promotion_overrides"],
                "activated": c["promotions_activated"],
                "expired": c["promotions_expired"],
                "pos_lines_discounted": c["pos_promotion_lines"],
            },
            "coupons": {
                "generated": c["coupons_generated"],
                "redeemed": c["coupons_redeemed"],
                "reuse_refused": c["coupon_reuse_refused"],
                "refused_otherwise": c["coupon_refused"],
            },
            "loyalty": {
                "orders_earning": c["orders_earning"],
                "points_earned": self.points_earned,
                "points_burned": self.points_burned,
                "burned_amount": str(self.burned_amount.quantize(CENT)),
                "loyalty_tenders": c["loyalty_tenders"],
            },
            "manual_discounts": {
                "lines": sum(s.discounted_lines for s in self.stats.values()),
                "overrides": sum(s.overrides for s in self.stats.values()),
                "others_rate_percent": str(others.rate()),
            },
            "ground_truth": {
                "high_discount_cashiers": [
                    self._truth(a) for a in sorted(self.anomalies.values(), key=lambda a: a.month)
                ]
            },
        }


def _customer_of(session: Session, order_id: uuid.UUID) -> uuid.UUID:
    customer = session.scalar(select(ot.OrderRow.customer_id).where(ot.OrderRow.id == order_id))
    assert customer is not None
    return customer
