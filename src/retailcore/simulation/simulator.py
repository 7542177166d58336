"""Simulated trading, day by day, through the public services only.

Each simulated day runs in three kinds of transactions (so memory stays flat and a crash loses at most
one day's part):

1. **POS**, one transaction per store: every till opens a session with its float, sells (two batches
   of offline sales around a midday safe drop), and closes with the counted cash.
2. **Orders**: what was scheduled for today (shipments, partial parcels, collections, cancellations,
   b2b deliveries and invoices), the returns due today (requested, received and refunded through the
   returns service), then the day's new web, marketplace and b2b orders and the members' store credit
   spends.
3. **Back office**: transfers and purchase orders arriving today, replenishment (warehouse to store
   transfers, purchase orders to the warehouse), an occasional store-to-store transfer, the weekly
   cycle counts, and the card payouts of the sales two days ago.

Every command carries ``CommandContext(system_principal("simulator"), occurred_at=<simulated time>)``,
so postings, moves and closes are dated on the simulated day. All choices come from ``random.Random``
streams seeded with the seed and the concern (never the calendar, the clock or set order), so a seed
always gives the same trading whatever the start date.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.model import system_principal
from retailcore.accounting import commands as acc
from retailcore.accounting import operations as ledger_ops
from retailcore.accounting.services import account_for_role
from retailcore.adapters.db import transaction
from retailcore.analytics.forecasts.services import run_forecast
from retailcore.analytics.replenishment import services as replenishment
from retailcore.banking import commands as bankcmd
from retailcore.banking import services as banking
from retailcore.core.errors import RetailcoreError
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import counts as cnt
from retailcore.inventory import purchasing as po
from retailcore.inventory import tables as inv
from retailcore.inventory import transfers as tr
from retailcore.inventory.stock_queries import levels_at
from retailcore.masterdata import tables as t
from retailcore.orders import services as orders
from retailcore.orders import tables as ot
from retailcore.pos import commands as pc
from retailcore.pos import services as pos
from retailcore.pos.tables import PosSession
from retailcore.pricing.taxes import TaxableLine, compute_taxes, load_tax_rules
from retailcore.returns import commands as rc
from retailcore.returns import services as returns
from retailcore.simulation import demand, money
from retailcore.simulation import world as w
from retailcore.simulation.campaigns import Campaigns
from retailcore.simulation.leaks import Leaks
from retailcore.simulation.leaks import after_hours_minute as leaks_after_hours_minute
from retailcore.simulation.profile import PROFILE, Profile
from retailcore.simulation.shopify import GATEWAY as SHOPIFY
from retailcore.simulation.shopify import Shop, ShopifyWeb
from retailcore.simulation.summary import Counters, Summary, summarize

CENT = Decimal("0.01")
ZERO = Decimal(0)
UTC = dt.UTC
CLIENT_NAMESPACE = uuid.UUID("5b0f1f7e-3c52-4a8e-9d0e-6a7d2c1e0b11")
FORECAST_HORIZON_DAYS = 21
"""A weekly planning run covers its week, the longest supplier lead time and a review period."""

Progress = Callable[[str, int, int], None]
"""``progress(kind, done, total)`` with kind ``days`` or ``stores`` (the stores of the current day)."""


@dataclass(frozen=True)
class Options:
    company: str = "SIM"
    stores: int = 40
    days: int = 30
    seed: int = 1
    start: dt.date | None = None
    """First simulated day; default: ``days`` before today, so the history ends yesterday."""
    scale: Decimal = Decimal(1)
    """Multiplies the daily counts of sales and orders (0.1 for a quick run)."""
    return_rates: tuple[tuple[str, int], ...] = ()
    """``(category, percent)`` replacing the profile's return rates (``default`` for the others)."""
    settlement_files: Path | None = None
    """Where the gateways' settlement reports and the bank's statements are written (they are imported
    either way)."""
    faults: tuple[str, ...] = ()
    """Faults planted for the close checklist to find (:data:`FAULTS`)."""


FAULTS = ("unsettled-capture", "stock-difference", "settlement-mismatches")
"""``unsettled-capture``: one store card capture of the middle of the run never appears in Adyen's files;
``stock-difference``: an entry by hand on the inventory account on the middle day;
``settlement-mismatches``: Adyen lines settled short or over-refunded, each labelled with its class
(:func:`retailcore.simulation.money.plant_mismatches`; the triage's ground truth)."""


@dataclass
class _Weighted:
    """Products to draw by popularity (integer weights, bisect on the cumulative sums)."""

    products: list[w.SimProduct]
    cumulative: list[int] = field(default_factory=list)
    weights: list[int] | None = None
    """The draw's weights, one per product; default: the products' popularity."""

    def __post_init__(self) -> None:
        total = 0
        weights = self.weights if self.weights is not None else [p.weight for p in self.products]
        for weight in weights:
            total += weight
            self.cumulative.append(total)

    def draw(self, rng: random.Random) -> w.SimProduct:
        return self.products[bisect.bisect_right(self.cumulative, rng.randrange(self.cumulative[-1]))]


@dataclass
class _Planned:
    """An action on an order planned for a later day."""

    order_id: uuid.UUID
    action: str  # fulfil | fulfil_part | cancel | fulfil_invoice
    channel: str
    gateway: str | None = None
    line_ids: list[uuid.UUID] | None = None
    shopify: dict[str, Any] | None = None
    """A Shopify order (``--web-via shopify``): the action is a webhook to send, not a service call."""


@dataclass
class _Return:
    """A return planned for a later day: order lines (by position) and the quantities coming back."""

    channel: str
    store_id: uuid.UUID
    """The receiving store (or the warehouse, for goods posted back)."""
    lines: list[tuple[int, Decimal]]
    condition: str
    reason: str
    store_credit: bool
    member: uuid.UUID
    order_id: uuid.UUID | None = None
    client_uuid: uuid.UUID | None = None
    """POS sales are found by their terminal's id."""
    cross_channel: bool = False


@dataclass
class _Arrival:
    kind: str  # transfer | po
    document_id: uuid.UUID
    store_id: uuid.UUID


def _weighted(rng: random.Random, options: Sequence[tuple[Any, int]]) -> Any:
    ticket = rng.randrange(sum(weight for _, weight in options))
    for option, weight in options:
        if ticket < weight:
            return option
        ticket -= weight
    raise AssertionError("unreachable")


def _percent(rng: random.Random, percent: int) -> bool:
    return rng.randrange(100) < percent


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _scaled(count: Decimal) -> int:
    return int(count.to_integral_value(rounding=ROUND_HALF_UP))


def _whole(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def last_simulated_day(session: Session, company_code: str) -> dt.date | None:
    """The last day a POS session of the company was closed on (UTC date), if any."""
    company_id = session.scalar(select(t.Company.id).where(t.Company.code == company_code))
    if company_id is None:
        return None
    last = session.scalar(
        select(func.max(PosSession.closed_at)).where(
            PosSession.company_id == company_id, PosSession.state == "closed"
        )
    )
    return last.date() if last else None


class Simulator:
    def __init__(
        self,
        factory: sessionmaker[Session],
        options: Options,
        *,
        start: dt.date,
        profile: Profile = PROFILE,
        progress: Progress | None = None,
        shopify: ShopifyWeb | None = None,
    ) -> None:
        self.factory = factory
        self.shopify = shopify
        self.shop: Shop | None = None
        """The web shop as a Shopify shop (``shopify``): its orders go to the webhook endpoint."""
        self.shopify_today: dict[int, int] = defaultdict(int)
        self.options = options
        self.start = start
        self.profile = profile
        if options.return_rates:
            rates = dict(profile.return_percent_by_category)
            default = profile.return_default_percent
            for category, percent in options.return_rates:
                if category.lower() == "default":
                    default = percent
                else:
                    rates[category] = percent
            profile = replace(
                profile, return_percent_by_category=tuple(rates.items()), return_default_percent=default
            )
            self.profile = profile
        self.return_rates = {
            category.lower(): percent for category, percent in profile.return_percent_by_category
        }
        self.progress = progress or (lambda kind, done, total: None)
        self.scale = options.scale
        self.counters = Counters()
        self.plans: dict[int, list[_Planned]] = defaultdict(list)
        self.arrivals: dict[int, list[_Arrival]] = defaultdict(list)
        self.in_transit: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = defaultdict(lambda: ZERO)
        self.on_order: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
        self.available: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
        self.on_hand: dict[uuid.UUID, dict[uuid.UUID, Decimal]] = {}
        self.carry: dict[str, Decimal] = defaultdict(lambda: Decimal("0.5"))
        """Fractions of orders not placed yet (cumulative rounding): small scales still place an order
        every few days."""
        self.tills: dict[uuid.UUID, Decimal] = {}
        """Cash expected in each open session's drawer."""
        self.returns: dict[int, list[_Return]] = defaultdict(list)
        self.gift_cards: list[list[Any]] = []
        """``[code, balance]`` of the cards sold on earlier days with a balance left (codes are shown
        once, at the issue: the customer keeps them)."""
        self.new_gift_cards: list[list[Any]] = []
        self.credit: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
        """Store credit per customer, as the simulator gave and spent it."""
        self.deposits: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
        """Cash deposits (slip, amount) the bank books on a day."""
        self.open_batches: dict[str, tuple[str, list[money.Line]]] = {}
        """Per gateway, a batch reported but not paid out yet (its net was not above zero) and its lines."""
        self.unsettled: set[uuid.UUID] = set()
        """Card payments the gateways never settle (the planted ``unsettled-capture``)."""
        self.planted: dict[str, str] = {}
        """What each planted fault did, for the summary."""
        self.sources_set = False
        """``forecast`` replenishment: the products' suppliers and lead times are registered once."""

    # -- helpers ---------------------------------------------------------------------------------------

    def _rng(self, *parts: object) -> random.Random:
        return random.Random("/".join(str(p) for p in (self.options.seed, *parts)))

    def _ctx(self, day: int, hour: int, minute: int = 0) -> CommandContext:
        moment = dt.datetime.combine(self.start + dt.timedelta(days=day), dt.time(hour, minute), UTC)
        return CommandContext(system_principal("simulator"), occurred_at=moment)

    def _date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    @contextmanager
    def _attempt(self, session: Session, what: str) -> Iterator[None]:
        """Run one command in a savepoint: a refusal (no stock, a state conflict) is counted, not fatal."""
        try:
            with session.begin_nested():
                yield
        except RetailcoreError:
            self.counters.refused[what] += 1

    def _refresh(self, session: Session, stores: Sequence[w.SimStore]) -> None:
        """What each store (and the warehouse) has on hand and available, read in one query."""
        levels = levels_at(session, self.world.company.id, [store.stock_location_id for store in stores])
        for store in stores:
            found = levels[store.stock_location_id]
            self.available[store.id] = {product: have - held for product, (have, held) in found.items()}
            self.on_hand[store.id] = {product: on_hand for product, (on_hand, _) in found.items()}

    def _take(self, store: w.SimStore, product: w.SimProduct, quantity: Decimal) -> bool:
        """Take ``quantity`` from what this store has available (in memory, refreshed daily).

        Demand the shelf cannot serve is lost, never sold into negative stock (only the planted miscount
        does that): counted in units and at retail value, per channel (``store`` shelves, the
        ``warehouse`` for web and marketplace picks), with every attempt, for the stock-out rate."""
        channel = "warehouse" if store.id == self.world.warehouse.id else "store"
        self.counters.demand_lines[channel] += 1
        stock = self.available[store.id]
        if stock.get(product.id, ZERO) < quantity:
            self.counters.stockout_lines[channel] += 1
            self.counters.lost_units[channel] += quantity
            self.counters.lost_value[channel] += _money(quantity * product.list_price)
            return False
        stock[product.id] -= quantity
        return True

    def _quantity(self, rng: random.Random, product: w.SimProduct) -> Decimal:
        if product.weighed:
            return Decimal(rng.choice(self.profile.weighed_quantities))
        return Decimal(_weighted(rng, self.profile.quantity_weights))

    # -- the run ---------------------------------------------------------------------------------------

    def run(self) -> Summary:
        profile = self.profile
        with transaction(self.factory) as session:
            ctx = self._ctx(-1, 12)
            self.world = w.load_world(
                session,
                ctx,
                code=self.options.company,
                stores=self.options.stores,
                seed=self.options.seed,
                profile=profile,
            )
            if self.world.created:
                w.receive_opening_stock(session, ctx, self.world, profile, self.scale, self._date(-1))
            self.gateways = [
                (code, rate)
                for code, rate in profile.fee_per_ten_thousand
                if code != SHOPIFY or self.shopify is not None
            ]
            money.ensure_master_data(session, ctx, self.world.company, [code for code, _ in self.gateways])
            self.campaigns: Campaigns | None = None
            if profile.campaigns:
                self.campaigns = Campaigns(self)
                assert ctx.occurred_at is not None
                self.campaigns.setup(session, ctx.occurred_at)
            self.leaks: Leaks | None = None
            if profile.campaigns and profile.leaks:
                assert self.campaigns is not None and ctx.occurred_at is not None
                self.leaks = Leaks(self, self.campaigns)
                self.leaks.setup(session, ctx.occurred_at)
            if self.shopify is not None:
                company = self.world.company
                self.shop = Shop.connect(session, ctx, company, self.shopify)
                # The connector books a webhook's order on the order's own day when it falls in the
                # company's clock window (decision 0015): replaying past days, the window must reach them.
                back = (dt.datetime.now(UTC).date() - self.start).days + 1
                company.sale_clock_past_days = min(366, max(company.sale_clock_past_days, back))
                self.tax_rules = load_tax_rules(session, company.id, company.tax_jurisdiction)
                self.tax_categories = dict(
                    session.execute(
                        select(t.Product.id, t.Product.tax_category).where(t.Product.company_id == company.id)
                    ).all()
                )
        if self.options.settlement_files is not None:
            money.mapping_file(self.options.settlement_files)
        world = self.world
        self.by_id = world.by_id
        self.pos_products = _Weighted([p for p in world.products if p.pos])
        self.web_products = _Weighted([p for p in world.products if p.web])
        marketplace = [p for p in world.products if p.marketplace]
        self.marketplace_products = _Weighted(marketplace) if marketplace else None
        self.store_levels = {s.id: w.store_levels(profile, world, s, self.scale) for s in world.stores}
        self.warehouse_levels = w.warehouse_levels(profile, world, self.scale)
        self.store_weights = [(s, s.size_percent) for s in world.stores]
        with self.factory() as session:
            before = self._exceptions(session)
        for day in range(self.options.days):
            self.progress("days", day, self.options.days)
            if self.campaigns is not None:
                with transaction(self.factory) as session:
                    self.campaigns.sweep(session, day)
            with transaction(self.factory) as session:
                self._demand_of_day(session, day)
            with self.factory() as session:
                self._refresh(session, [*world.stores, world.warehouse])
            for index, store in enumerate(world.stores):
                self.progress("stores", index, len(world.stores))
                with transaction(self.factory) as session:
                    self._pos_day(session, day, store)
            self.progress("stores", len(world.stores), len(world.stores))
            with transaction(self.factory) as session:
                self._orders_day(session, day)
            if self.shop is not None:
                # After the orders' commit: the endpoint's transactions never wait for the simulator's.
                self.shop.flush()
            with transaction(self.factory) as session:
                self._back_office_day(session, day)
            self.gift_cards += self.new_gift_cards
            self.new_gift_cards = []
        self.progress("days", self.options.days, self.options.days)
        if self.campaigns is not None:
            with transaction(self.factory) as session:
                moment = self._ctx(self.options.days - 1, 23).occurred_at
                assert moment is not None
                self.campaigns.record_ground_truth(session, moment)
                if self.leaks is not None:
                    self.leaks.record_ground_truth(session, moment)
        with self.factory() as session:
            after = self._exceptions(session)
            opened = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in sorted(after)}
            self.counters.stock_exceptions = {"total": sum(opened.values()), **opened}
            summary = summarize(
                session,
                world.company,
                self.counters,
                start=self.start,
                days=self.options.days,
                stores=len(world.stores),
                seed=self.options.seed,
                scale=self.scale,
            )
            if self.shop is not None:
                summary["shopify"] = self.shop.summary(session)
            if self.campaigns is not None:
                summary.update(self.campaigns.summary())
                summary["ground_truth"]["cases"] = [
                    *self.campaigns.truths(),
                    *(self.leaks.truths() if self.leaks is not None else []),
                ]
            return summary

    def _demand_of_day(self, session: Session, day: int) -> None:
        """The day's draws: each product's share by its category's weekday and, while a promotion
        covers it, the promotion uplift (:mod:`retailcore.simulation.demand`); the typo, if today."""
        if self.leaks is not None:
            self.leaks.start_day(session, day)
        company_id = self.world.company.id
        date = self._date(day)
        first_store = self.world.stores[0].id if self.world.stores else None
        for attribute, channel, pool in (
            ("pos_products", "pos", [p for p in self.world.products if p.pos]),
            ("web_products", "web", [p for p in self.world.products if p.web]),
        ):
            promoted = demand.promoted_products(session, company_id, pool, date, channel, first_store)
            weights = demand.day_weights(self.profile, pool, day, promoted)
            setattr(self, attribute, _Weighted(pool, weights=weights))

    def _exceptions(self, session: Session) -> dict[str, int]:
        return dict(
            session.execute(
                select(inv.StockException.kind, func.count())
                .where(inv.StockException.company_id == self.world.company.id)
                .group_by(inv.StockException.kind)
            ).all()
        )

    # -- POS -------------------------------------------------------------------------------------------

    def _pos_day(self, session: Session, day: int, store: w.SimStore) -> None:
        profile = self.profile
        rng = self._rng("pos", store.code, day)
        traffic = Decimal(
            profile.sales_per_store_day
            * store.size_percent
            * profile.weekday_percent[day % 7]
            * demand.calendar_percent(profile, self._date(day))
        )
        count = _scaled(traffic / 1000000 * self.scale * Decimal(rng.randint(85, 115)) / 100)
        terminals = len(store.terminal_ids)
        sessions = []
        safe = ZERO
        """What the day adds to the store's safe: the counted cash and the drops, less floats and top-ups."""
        for n, terminal_id in enumerate(store.terminal_ids):
            opened = pos.open_session(session, self._ctx(day, 7, 45 + n), terminal_id, profile.opening_float)
            sessions.append(opened)
            safe -= profile.opening_float
            if _percent(rng, 5):
                self._cash(session, day, 8, opened.id, "in", Decimal("50.00"), "change top-up")
                self.tills[opened.id] = profile.opening_float + Decimal("50.00")
                safe -= Decimal("50.00")
            else:
                self.tills[opened.id] = profile.opening_float
        gift_rng = self._rng("gift", "pos", store.code, day)
        batches: dict[tuple[int, bool], list[pc.SaleIn]] = defaultdict(list)
        cards: dict[uuid.UUID, Decimal] = defaultdict(lambda: ZERO)
        for ticket in self._sell_gift_cards(day, gift_rng, store):
            batches[(0, True)].append(ticket)
            cards[sessions[0].id] += ticket.payments[0].amount
        minutes = sorted(rng.randrange(600) for _ in range(count))
        sold: list[pc.SaleIn] = []
        campaign_rng = self._rng("campaign", "pos", store.code, day)
        for number, minute in enumerate(minutes):
            till = number % terminals
            sale = self._sale(
                rng,
                gift_rng,
                day,
                store,
                sessions[till],
                number,
                minute,
                cards,
                session=session,
                campaign_rng=campaign_rng,
            )
            if sale is not None:
                batches[(till, minute < 270)].append(sale)
                sold.append(sale)
        if self.leaks is not None:
            self._leaks_at_tills(session, day, store, sessions, batches, cards)
        for till, pos_session in enumerate(sessions):
            # The midday safe drop, then the till's day in one batch before the close (decision 0080:
            # the batch's fixed cost, the stock operation above all, is paid once per till and day).
            if self.tills[pos_session.id] > profile.safe_drop_above:
                drop = ((self.tills[pos_session.id] - 200) / 100).to_integral_value(ROUND_FLOOR) * 100
                self._cash(session, day, 12, pos_session.id, "out", drop, "safe drop")
                self.tills[pos_session.id] -= drop
                safe += drop
            sales = batches.get((till, True), []) + batches.get((till, False), [])
            batch_ctx = self._ctx(day, 18)
            if self.campaigns is not None:
                batch_ctx = self.campaigns.cashier_ctx(store.terminal_codes[till], batch_ctx)
            for chunk in range(0, len(sales), 1000):
                pos.ingest_batch(session, batch_ctx, pos_session.id, sales[chunk : chunk + 1000])
                self.counters.pos_sales += len(sales[chunk : chunk + 1000])
            safe += self._close(session, day, rng, pos_session, cards[pos_session.id])
        if self.campaigns is not None:
            self.campaigns.earn_pos(session, self._ctx(day, 19, 30), self.campaigns.member_sales)
            self.campaigns.member_sales = []
        self._deposit(session, day, store, safe)
        returns_rng = self._rng("returns", "pos", store.code, day)
        for sale in sold:
            lines = [
                (position, self.by_id[line.product_id].category, line.quantity)
                for position, line in enumerate(sale.lines, start=1)
            ]
            self._draw_return(returns_rng, day, "pos", lines, store.id, client_uuid=sale.client_uuid)

    def _leaks_at_tills(
        self,
        session: Session,
        day: int,
        store: w.SimStore,
        sessions: list[PosSession],
        batches: dict[tuple[int, bool], list[pc.SaleIn]],
        cards: dict[uuid.UUID, Decimal],
    ) -> None:
        """Each till's no-receipt cash refunds and, for the fraudulent cashier, the sales rung after
        closing (:mod:`retailcore.simulation.leaks`), in the afternoon batch; from streams of their own."""
        leaks = self.leaks
        assert leaks is not None
        for till, pos_session in enumerate(sessions):
            terminal = store.terminal_codes[till]
            spare = self.tills[pos_session.id] - self.profile.opening_float
            for refund in leaks.refunds_at_till(day, store, terminal, pos_session, spare):
                batches[(till, False)].append(refund)
                self.tills[pos_session.id] -= refund.payments[0].amount
            count, rng = leaks.after_hours_sales(day, terminal)
            for n in range(count):
                minute = leaks_after_hours_minute(rng)
                sale = self._sale(
                    rng,
                    rng,
                    day,
                    store,
                    pos_session,
                    10_000 + n,
                    minute,
                    cards,
                    session=session,
                    campaign_rng=rng,
                )
                if sale is not None:
                    batches[(till, False)].append(sale)

    def _sell_gift_cards(self, day: int, rng: random.Random, store: w.SimStore) -> list[pc.SaleIn]:
        """Gift cards sold over the counter on their own tickets, paid by bank card at the terminal (the
        card payment, with the terminal's reference, is what Adyen settles). The printed codes are the
        simulator's (the customer keeps them)."""
        numerator, denominator = self.profile.gift_cards_per_store_day
        company = self.world.company.code
        tickets = []
        for n in range(self._count_of(f"gift/{store.code}", Decimal(numerator) / denominator)):
            amount = Decimal(_weighted(rng, self.profile.gift_card_amounts)).quantize(CENT)
            client_uuid = uuid.uuid5(CLIENT_NAMESPACE, f"{company}/{store.code}/gift/{self._date(day)}/{n}")
            code = f"GC{money.digest('gift', company, client_uuid, size=14)}".upper()
            tickets.append(
                pc.SaleIn(
                    client_uuid=client_uuid,
                    sold_at=dt.datetime.combine(self._date(day), dt.time(11, n % 60), UTC),
                    gift_cards=[pc.GiftCardSaleIn(amount=amount, code=code)],
                    payments=[
                        pc.PaymentIn(
                            payment_method_code="CARD",
                            amount=amount,
                            reference=money.psp_reference(client_uuid),
                        )
                    ],
                )
            )
            self.new_gift_cards.append([code, amount])
            self.counters.gift_cards_sold += 1
            self.counters.gift_cards_sold_amount += amount
        return tickets

    def _gift_card(self, rng: random.Random, due: Decimal) -> tuple[str, Decimal] | None:
        """A card sold on an earlier day pays ``due`` for as much as it holds: its code and the amount."""
        if not self.gift_cards:
            return None
        card = self.gift_cards[rng.randrange(len(self.gift_cards))]
        used = min(card[1], due)
        card[1] -= used
        if card[1] <= 0:
            self.gift_cards.remove(card)
        self.counters.gift_cards_redeemed += used
        return card[0], used

    def _cash(
        self,
        session: Session,
        day: int,
        hour: int,
        session_id: uuid.UUID,
        direction: str,
        amount: Decimal,
        why: str,
    ) -> None:
        pos.cash_movement(
            session,
            self._ctx(day, hour, 30),
            session_id,
            pc.CashMovementIn(direction=direction, amount=amount, reason=why),
        )
        self.counters.cash_movements += 1

    def _sale(
        self,
        rng: random.Random,
        gift_rng: random.Random,
        day: int,
        store: w.SimStore,
        pos_session: PosSession,
        number: int,
        minute: int,
        cards: dict[uuid.UUID, Decimal],
        *,
        session: Session | None = None,
        campaign_rng: random.Random | None = None,
    ) -> pc.SaleIn | None:
        profile = self.profile
        campaigns = self.campaigns
        terminal = store.terminal_codes[store.terminal_ids.index(pos_session.terminal_id)]
        lines = []
        gross = ZERO
        for _ in range(_weighted(rng, profile.lines_per_sale)):
            if rng.randrange(1000) < profile.out_of_system_stock_permille:
                product = rng.choice(self.pos_products.products)
                quantity = self._quantity(rng, product)
                self.available[store.id][product.id] = (
                    self.available[store.id].get(product.id, ZERO) - quantity
                )
            else:
                for _attempt in range(4):
                    product = self.pos_products.draw(rng)
                    quantity = self._quantity(rng, product)
                    if self._take(store, product, quantity):
                        break
                else:
                    self.counters.lost_pos_lines += 1
                    continue
            unit_price = product.list_price if self.leaks is None else self.leaks.unit_price(store, product)
            amount = _money(quantity * unit_price)
            discount = ZERO
            if _percent(rng, profile.line_discount_percent):
                discount = _money(amount / 10)
            override = None
            if campaigns is not None and campaign_rng is not None:
                discount, override = campaigns.manual_discount(campaign_rng, day, terminal, amount, discount)
            gross += amount - discount
            lines.append(
                pc.SaleLineIn(
                    product_id=product.id,
                    quantity=quantity,
                    unit_price=unit_price,
                    discount=discount,
                    override=override,
                )
            )
        if not lines:
            return None
        customer = None
        if campaigns is not None and campaign_rng is not None and session is not None:
            customer = campaigns.member(campaign_rng, profile.loyalty_pos_percent)
            # Promotions change on whole minutes: the sale's minute prices it as its second will.
            at = dt.datetime.combine(self._date(day), dt.time(8, 0), UTC) + dt.timedelta(minutes=minute)
            lines = campaigns.till_discounts(session, store.id, at, lines, customer)
            gross = sum(
                (
                    _money(line.quantity * line.unit_price)
                    - line.discount
                    - sum((d.amount for d in line.discounts), ZERO)
                    for line in lines
                ),
                ZERO,
            )
        payments: list[tuple[str, Decimal, Decimal, str | None]] = []
        gift = None
        if gift_rng.randrange(1000) < profile.gift_card_pos_permille:
            gift = self._gift_card(gift_rng, gross)
        if gift is not None:
            code, used = gift
            payments = [("GIFT", used, ZERO, code)]
            if gross > used:
                payments.append(("CARD", gross - used, ZERO, None))
        elif _percent(rng, profile.split_tender_percent) and gross > 20:
            cash = (gross / 2).to_integral_value(ROUND_FLOOR)
            payments = [("CASH", cash, cash, None), ("CARD", gross - cash, ZERO, None)]
        elif _percent(rng, profile.cash_percent):
            note = _weighted(rng, ((1, 25), (5, 30), (10, 25), (20, 15), (50, 5)))
            tendered = (gross / note).to_integral_value(ROUND_CEILING) * note
            tendered = max(tendered, gross).quantize(CENT)
            payments = [("CASH", tendered, gross, None)]
        else:
            payments = [("CARD", gross, ZERO, None)]
        for code, amount, kept, _ in payments:
            if code == "CASH":
                self.tills[pos_session.id] += kept
            elif code == "CARD":
                cards[pos_session.id] += amount
        sold_at = dt.datetime.combine(self._date(day), dt.time(8, 0), UTC) + dt.timedelta(
            minutes=minute, seconds=rng.randrange(60)
        )
        client_uuid = uuid.uuid5(
            CLIENT_NAMESPACE, f"{self.world.company.code}/{terminal}/{pos_session.number}/{number}"
        )
        sale = pc.SaleIn(
            client_uuid=client_uuid,
            sold_at=sold_at,
            lines=lines,
            customer_id=customer,
            payments=[
                pc.PaymentIn(
                    payment_method_code=code,
                    amount=amount,
                    reference=money.psp_reference(client_uuid) if code == "CARD" else reference,
                )
                for code, amount, _, reference in payments
            ],
        )
        if self.leaks is not None:
            self.leaks.record_sale(day, store, sale)
        if campaigns is not None:
            campaigns.record_sale(day, terminal, sale)
            if customer is not None:
                campaigns.member_sales.append(client_uuid)
        return sale

    def _deposit(self, session: Session, day: int, store: w.SimStore, amount: Decimal) -> None:
        """The store takes the day's cash from its safe to the bank (the floats stay): recorded tonight,
        booked by the bank the next day, where the statement's credit posts it (safe to bank)."""
        if amount <= 0:
            return
        slip = f"{store.code}-{self._date(day):%Y%m%d}"
        row = session.get(t.Store, store.id)
        assert row is not None
        banking.record_cash_deposit(
            session,
            self._ctx(day, 19, 40),
            self.world.company,
            row,
            bankcmd.RecordCashDeposit(
                store_id=store.id,
                bank_account=money.BANK_CODE,
                reference=slip,
                amount=amount,
                deposited_on=self._date(day),
            ),
        )
        self.deposits[day + 1].append((slip, amount))
        self.counters.cash_deposits += 1
        self.counters.cash_deposited += amount

    def _close(
        self, session: Session, day: int, rng: random.Random, pos_session: PosSession, card_total: Decimal
    ) -> Decimal:
        """Close the session with its counted amounts; the counted cash (to the safe)."""
        profile = self.profile
        expected = self.tills.pop(pos_session.id)
        draw = rng.randrange(100)
        difference = ZERO
        if draw >= profile.till_exact_percent + profile.till_shortage_over_threshold_percent:
            difference = Decimal(rng.randint(1, 500)) / 100 * rng.choice((-1, 1))
        elif draw >= profile.till_exact_percent:
            difference = -Decimal(rng.randint(2001, 6000)) / 100
        counted = {"CASH": max(expected + difference, ZERO), "CARD": card_total}
        closed = pos.close_session(session, self._ctx(day, 19, 15), pos_session.id, counted)
        self.counters.sessions += 1
        if closed.cash_difference:
            self.counters.cash_differences += 1
            self.counters.cash_difference_total += closed.cash_difference
            if abs(closed.cash_difference) > self.world.company.pos_approval_threshold:
                self.counters.cash_differences_over_threshold += 1
        return counted["CASH"]

    # -- web, marketplace, b2b -------------------------------------------------------------------------

    def _orders_day(self, session: Session, day: int) -> None:
        company = self.world.company
        for plan in self.plans.pop(day, []):
            ctx = self._ctx(day, 15)
            if plan.shopify is not None:
                self._shopify_plan(day, plan)
                continue
            if plan.action == "cancel":
                with self._attempt(session, "cancel"):
                    view = orders.cancel(
                        session, ctx, company, plan.order_id, orders.CancelOrder(reason="customer")
                    )
                    self.counters.cancelled[plan.channel] += 1
                continue
            body = None
            if plan.line_ids is not None:
                current = orders.get_order(session, ctx.principal, company, plan.order_id)
                body = orders.Fulfil(
                    lines=[
                        orders.FulfilledLine(line_id=line.id, quantity=line.quantity)
                        for line in current.lines
                        if line.id in plan.line_ids
                    ]
                )
            with self._attempt(session, "fulfil"):
                view = orders.fulfill(session, ctx, company, plan.order_id, body)
                if plan.action == "fulfil_part":
                    self.counters.partial_shipments += 1
                if plan.action == "fulfil_invoice":
                    orders.invoice_order(session, ctx, company, plan.order_id, orders.InvoiceOrder())
                    self.counters.invoices += 1
                if plan.channel in ("web", "marketplace") and view.state == "fulfilled":
                    self._draw_order_return(day, view)
                    if self.campaigns is not None and view.customer_id in self.campaigns.members:
                        self.campaigns.earn(session, ctx, view.id)
        for planned in self.returns.pop(day, []):
            with self._attempt(session, "return"):
                self._return(session, day, planned)
        rng = self._rng("web", day)
        profile = self.profile
        stores = len(self.world.stores)
        numerator, denominator = profile.web_orders_per_store_day
        count = _scaled(
            Decimal(
                stores
                * numerator
                * profile.web_weekday_percent[day % 7]
                * demand.calendar_percent(profile, self._date(day))
            )
            / denominator
            / 10000
            * self.scale
        )
        gift_rng = self._rng("gift", "web", day)
        self.campaign_rng = self._rng("campaign", "web", day)
        for n in range(count):
            self._web_order(session, day, rng, n * 600 // max(count, 1), gift_rng=gift_rng)
        numerator, denominator = profile.marketplace_orders_per_store_day
        count = self._count_of("marketplace", Decimal(stores * numerator) / denominator)
        if self.marketplace_products is not None:
            for n in range(count):
                self._marketplace_order(session, day, rng, n * 600 // max(count, 1))
        if day % 7 in profile.b2b_days:
            self._b2b_order(session, day, rng)
        credit_rng = self._rng("credit", day)
        for member in self.world.members:
            if self.credit[member] >= 1 and _percent(credit_rng, profile.store_credit_spend_percent):
                self._web_order(session, day, credit_rng, credit_rng.randrange(600), customer=member)
        if self.campaigns is not None:
            burn_rng = self._rng("campaign", "burn", day)
            for member in self.campaigns.burners(burn_rng):
                self._web_order(session, day, burn_rng, burn_rng.randrange(600), burner=member)

    # -- returns ---------------------------------------------------------------------------------------

    def _return_percent(self, category: str) -> int:
        return self.return_rates.get(category.split("/")[0].lower(), self.profile.return_default_percent)

    def _draw_return(
        self,
        rng: random.Random,
        day: int,
        channel: str,
        lines: Sequence[tuple[int, str, Decimal]],
        store_id: uuid.UUID,
        **found: Any,
    ) -> None:
        """Decide whether lines ``(position, category, quantity)`` of a sale come back, how many, when,
        in what condition and why; plan the return if it falls within the simulated days."""
        profile = self.profile
        chosen: list[tuple[int, Decimal]] = []
        for position, category, quantity in lines:
            if rng.randrange(100) < self._return_percent(category):
                back = quantity
                whole = quantity == quantity.to_integral_value()
                if whole and quantity >= 2 and _percent(rng, profile.partial_return_percent):
                    back = Decimal(rng.randint(1, int(quantity) - 1))
                chosen.append((position, back))
        if not chosen:
            return
        when = day + rng.randint(*profile.return_delay_days)
        condition = _weighted(rng, profile.return_conditions)
        if condition == "resaleable":
            reason = _weighted(rng, profile.return_reasons)
        elif condition == "damaged":
            reason = "other" if channel == "pos" else "damaged_in_transit"
        else:
            reason = "defective"
        store_credit = _percent(rng, profile.store_credit_refund_percent)
        member = rng.choice(self.world.members)
        cross_channel = False
        if channel == "web" and _percent(rng, profile.cross_channel_return_percent):
            store_id = _weighted(rng, self.store_weights).id
            cross_channel = True
        if when >= self.options.days:
            self.counters.returns_after_the_window += 1
            return
        self.returns[when].append(
            _Return(
                channel,
                store_id,
                chosen,
                condition,
                reason,
                store_credit,
                member,
                cross_channel=cross_channel,
                **found,
            )
        )

    def _draw_order_return(self, day: int, view: Any) -> None:
        """A delivered web or marketplace order may come back: by post to the warehouse, or (web, a
        share) to a store."""
        rng = self._rng("returns", view.number)
        lines = [(line.position, line.product_category, line.fulfilled_quantity) for line in view.lines]
        self._draw_return(rng, day, view.channel, lines, self.world.warehouse.id, order_id=view.id)

    def _return(self, session: Session, day: int, planned: _Return) -> None:
        """Request, receive and refund a return through the returns service, as the API does: the
        refund goes back to the order's cards (as far as they captured), the rest (cash, gift card)
        or all of it when the customer chose so, to store credit."""
        company = self.world.company
        ctx = self._ctx(day, 16)
        order_id = planned.order_id
        if order_id is None:
            order_id = session.scalar(
                select(ot.OrderRow.id).where(
                    ot.OrderRow.company_id == company.id, ot.OrderRow.client_uuid == planned.client_uuid
                )
            )
            if order_id is None:
                self.counters.refused["return"] += 1
                return
        order = orders.get_order(session, ctx.principal, company, order_id)
        by_position = {line.position: line for line in order.lines}
        lines: list[rc.ReturnLineIn] = []
        amount = ZERO
        units = ZERO
        for position, quantity in planned.lines:
            line = by_position[position]
            quantity = min(quantity, line.fulfilled_quantity)
            if quantity <= 0:
                continue
            source = session.get(ot.OrderLineRow, line.id)
            assert source is not None
            net, taxes = returns.line_refund(source, ZERO, quantity, order.currency)
            amount += net + sum((Decimal(str(tax["amount"])) for tax in taxes), ZERO)
            units += quantity
            lines.append(
                rc.ReturnLineIn(order_line_id=line.id, quantity=quantity, condition=planned.condition)
            )
        if not lines:
            return
        customer = order.customer_id or planned.member
        requested = returns.request_return(
            session,
            ctx,
            company,
            rc.RequestReturn(
                company_id=company.id,
                order_id=order.id,
                store_id=planned.store_id,
                customer_id=customer,
                reason=planned.reason,
                lines=lines,
            ),
        )
        returns.receive_return(session, ctx, company, requested.id, rc.ReceiveReturn())
        tenders: list[rc.RefundTenderIn] = []
        left = amount
        if not planned.store_credit:
            for payment in reversed(order.payments):
                refundable = payment.captured - payment.refunded
                if left > 0 and payment.kind == "card" and refundable > 0:
                    take = min(left, refundable)
                    tenders.append(rc.RefundTenderIn(kind="card", tender_id=payment.id, amount=take))
                    left -= take
        if left > 0:
            tenders.append(rc.RefundTenderIn(kind="store_credit", amount=left))
        refunded = returns.refund_return(
            session, ctx, company, requested.id, rc.RefundReturn(tenders=tenders if amount > 0 else None)
        )
        if left > 0:
            self.credit[customer] += left
            self.counters.store_credit_issued += left
            self.counters.returns_to_store_credit += 1
        self.counters.returns += 1
        self.counters.returned_units += units
        self.counters.refunds_total += refunded.refunded_total
        self.counters.returns_by_condition[planned.condition] += 1
        if planned.cross_channel:
            self.counters.cross_channel_returns += 1

    def _count_of(self, channel: str, expected: Decimal) -> int:
        """Today's orders of a channel at this scale; the fraction left over waits for the next day."""
        self.carry[channel] += expected * self.scale
        count = _whole(self.carry[channel])
        self.carry[channel] -= count
        return count

    def _pick(
        self, rng: random.Random, pool: _Weighted, store: w.SimStore, lines: int, quantity: Any
    ) -> list:
        picked: list[tuple[w.SimProduct, Decimal]] = []
        for _ in range(lines):
            for _attempt in range(4):
                product = pool.draw(rng)
                wanted = quantity(product)
                if all(p.id != product.id for p, _ in picked) and self._take(store, product, wanted):
                    picked.append((product, wanted))
                    break
        return picked

    def _place(self, session: Session, ctx: CommandContext, what: str, body: orders.PlaceOrder) -> Any:
        view = None
        with self._attempt(session, what):
            view = orders.place_order(session, ctx, self.world.company, body)
        return view

    def _web_order(
        self,
        session: Session,
        day: int,
        rng: random.Random,
        minute: int,
        *,
        gift_rng: random.Random | None = None,
        customer: uuid.UUID | None = None,
        burner: uuid.UUID | None = None,
    ) -> None:
        """A web order: paid by card, or first with a gift card (``gift_rng``) or the member
        ``customer``'s store credit for as much as it holds. With a Shopify shop, the card-paid ones are
        Shopify's (:meth:`_shopify_order`); store credit is ours, spent here."""
        if self.shop is not None and customer is None and burner is None:
            self._shopify_order(day, rng, minute)
            return
        profile = self.profile
        campaigns = self.campaigns
        buyer = customer or burner
        coupon = None
        if campaigns is not None and buyer is None:
            buyer = campaigns.member(self.campaign_rng, profile.loyalty_web_percent)
            coupon = campaigns.coupon(self.campaign_rng)
        ctx = self._ctx(day, 8 + minute // 60, minute % 60)
        collect = _percent(rng, profile.click_and_collect_percent)
        from_store = not collect and _percent(rng, profile.ship_from_store_percent)
        store = _weighted(rng, self.store_weights) if collect or from_store else self.world.warehouse
        picked = self._pick(
            rng, self.web_products, store, _weighted(rng, ((1, 60), (2, 28), (3, 12))), lambda p: Decimal(1)
        )
        if not picked and (collect or from_store):
            collect, from_store, store = False, False, self.world.warehouse
            picked = self._pick(rng, self.web_products, store, 1, lambda p: Decimal(1))
        if not picked:
            # The warehouse is short of what was drawn: the order service sources it from a store.
            product = self.web_products.draw(rng)
            picked = [(product, Decimal(1))]
        body = orders.PlaceOrder(
            company_id=self.world.company.id,
            channel="web",
            fulfillment_mode="click_and_collect" if collect else "ship_from_store" if from_store else "ship",
            pickup_store_id=store.id if collect else None,
            store_id=store.id if from_store else None,
            customer_id=buyer,
            lines=[orders.LineIn(product_id=p.id, quantity=q) for p, q in picked],
            coupons=[coupon.code] if coupon is not None else [],
        )
        view = None
        if campaigns is not None and coupon is not None:
            try:
                with session.begin_nested():
                    view = orders.place_order(session, ctx, self.world.company, body)
                campaigns.coupon_taken(coupon)
            except RetailcoreError as refused:
                campaigns.coupon_refused(coupon, refused)
                body = body.model_copy(update={"coupons": []})
        if view is None:
            view = self._place(session, ctx, "web order", body)
        if view is None:
            return
        self.counters.orders[f"web {view.fulfillment_mode}"] += 1
        if _percent(rng, profile.unpaid_cancel_percent):
            orders.cancel(
                session, ctx, self.world.company, view.id, orders.CancelOrder(reason="payment failed")
            )
            self.counters.cancelled["web"] += 1
            return
        due = view.gross_total
        if customer is not None:
            used = min(self.credit[customer], due)
            orders.take_payment(
                session,
                ctx,
                self.world.company,
                view.id,
                orders.TakePayment(kind="store_credit", amount=used),
            )
            self.credit[customer] -= used
            self.counters.store_credit_spent += used
            due -= used
        elif burner is not None and campaigns is not None:
            used = campaigns.burnable(session, burner, due)
            if used > 0:
                orders.take_payment(
                    session,
                    ctx,
                    self.world.company,
                    view.id,
                    orders.TakePayment(kind="loyalty", amount=used),
                )
                campaigns.burned(session, burner, used)
                due -= used
        elif gift_rng is not None and _percent(gift_rng, profile.gift_card_web_percent):
            gift = self._gift_card(gift_rng, due)
            if gift is not None:
                code, used = gift
                orders.take_payment(
                    session,
                    ctx,
                    self.world.company,
                    view.id,
                    orders.TakePayment(kind="gift_card", reference=code, amount=used),
                )
                due -= used
        if due > 0:
            orders.take_payment(
                session,
                ctx,
                self.world.company,
                view.id,
                orders.TakePayment(kind="card", gateway="stripe", reference=f"pi_{view.number}", amount=due),
            )
        if _percent(rng, profile.paid_cancel_percent):
            self.plans[day + rng.randint(0, 1)].append(_Planned(view.id, "cancel", "web", "stripe"))
            return
        if collect:
            self.plans[day + rng.randint(1, 3)].append(_Planned(view.id, "fulfil", "web"))
            return
        ship_day = day if _percent(rng, profile.same_day_ship_percent) else day + 1
        if len(view.lines) > 1 and _percent(rng, profile.partial_shipment_percent):
            first = [line.id for line in view.lines[: len(view.lines) - 1]]
            self.plans[ship_day].append(_Planned(view.id, "fulfil_part", "web", line_ids=first))
            self.plans[ship_day + 1].append(_Planned(view.id, "fulfil", "web"))
        else:
            self.plans[ship_day].append(_Planned(view.id, "fulfil", "web"))

    def _shopify_order(self, day: int, rng: random.Random, minute: int) -> None:
        """A web order of the Shopify shop: shipped from the warehouse, paid through Shopify, sent as
        webhooks after the day's commit (the endpoint places it); shipped or cancelled later by webhook."""
        assert self.shop is not None
        profile = self.profile
        company = self.world.company
        at = self._ctx(day, 8 + minute // 60, minute % 60).occurred_at
        assert at is not None
        picked = self._pick(
            rng,
            self.web_products,
            self.world.warehouse,
            _weighted(rng, ((1, 60), (2, 28), (3, 12))),
            lambda p: Decimal(1),
        )
        if not picked:
            # The warehouse is short of what was drawn: the order service sources it from a store.
            picked = [(self.web_products.draw(rng), Decimal(1))]
        taxes = compute_taxes(
            [
                TaxableLine(str(n), p.list_price * q, self.tax_categories[p.id])
                for n, (p, q) in enumerate(picked)
            ],
            self.tax_rules,
            company.currency,
        )
        included = all(
            spec.price_included for p, _ in picked for spec in self.tax_rules[self.tax_categories[p.id]]
        )
        self.shopify_today[day] += 1
        serial = self.shopify_today[day]
        order = self.shop.place(
            rng,
            order_id=int(self._date(day).strftime("%Y%m%d")) * 100_000 + serial,
            number=1000 + serial,
            created_at=at,
            currency=company.currency,
            lines=[(p.sku, p.list_price, q) for p, q in picked],
            total_tax=taxes.tax_total,
            taxes_included=included,
        )
        self.counters.orders["web shopify"] += 1
        if _percent(rng, profile.paid_cancel_percent):
            self.plans[day + 1].append(_Planned(uuid.UUID(int=0), "cancel", "web", SHOPIFY, shopify=order))
        elif _percent(rng, profile.same_day_ship_percent):
            # Shipped today: sometimes its fulfilment overtakes the order's own deliveries.
            self.shop.fulfil(rng, order, first=_percent(rng, self.shop.config.out_of_order_percent))
        else:
            self.plans[day + 1].append(_Planned(uuid.UUID(int=0), "fulfil", "web", SHOPIFY, shopify=order))

    def _shopify_plan(self, day: int, plan: _Planned) -> None:
        assert self.shop is not None and plan.shopify is not None
        rng = self._rng("shopify", day, plan.shopify["id"])
        if plan.action == "cancel":
            self.shop.cancel(rng, plan.shopify, self._ctx(day, 15).occurred_at or dt.datetime.now(UTC))
            self.counters.cancelled["web shopify"] += 1
        else:
            self.shop.fulfil(rng, plan.shopify)

    def _marketplace_order(self, session: Session, day: int, rng: random.Random, minute: int) -> None:
        assert self.marketplace_products is not None
        ctx = self._ctx(day, 8 + minute // 60, minute % 60)
        picked = self._pick(rng, self.marketplace_products, self.world.warehouse, 1, lambda p: Decimal(1))
        if not picked:
            return
        percent = self.profile.marketplace_price_percent
        body = orders.PlaceOrder(
            company_id=self.world.company.id,
            channel="marketplace",
            fulfillment_mode="ship",
            lines=[
                orders.LineIn(product_id=p.id, quantity=q, unit_price=_money(p.list_price * percent / 100))
                for p, q in picked
            ],
        )
        view = self._place(session, ctx, "marketplace order", body)
        if view is None:
            return
        self.counters.orders["marketplace"] += 1
        orders.take_payment(
            session,
            ctx,
            self.world.company,
            view.id,
            orders.TakePayment(
                kind="card", gateway="amazon", reference=f"AMZ-{view.number}", amount=view.gross_total
            ),
        )
        if _percent(rng, self.profile.paid_cancel_percent):
            self.plans[day].append(_Planned(view.id, "cancel", "marketplace", "amazon"))
        else:
            self.plans[day + 1].append(_Planned(view.id, "fulfil", "marketplace"))

    def _b2b_order(self, session: Session, day: int, rng: random.Random) -> None:
        profile = self.profile
        ctx = self._ctx(day, 10)
        picked = self._pick(
            rng,
            self.pos_products,
            self.world.warehouse,
            rng.randint(*profile.b2b_lines),
            lambda p: Decimal(rng.randint(*profile.b2b_quantity)),
        )
        if not picked:
            return
        percent = 100 - profile.b2b_discount_percent
        body = orders.PlaceOrder(
            company_id=self.world.company.id,
            channel="b2b",
            fulfillment_mode="ship",
            customer_id=rng.choice(self.world.customers),
            lines=[
                orders.LineIn(product_id=p.id, quantity=q, unit_price=_money(p.list_price * percent / 100))
                for p, q in picked
            ],
        )
        view = self._place(session, ctx, "b2b order", body)
        if view is None:
            return
        self.counters.orders["b2b"] += 1
        orders.take_payment(
            session,
            ctx,
            self.world.company,
            view.id,
            orders.TakePayment(kind="on_account", amount=view.gross_total),
        )
        self.plans[day + 1].append(_Planned(view.id, "fulfil_invoice", "b2b"))

    # -- back office -----------------------------------------------------------------------------------

    def _back_office_day(self, session: Session, day: int) -> None:
        rng = self._rng("office", day)
        self._arrivals(session, day, rng)
        self._refresh(session, [*self.world.stores, self.world.warehouse])
        if _percent(rng, self.profile.store_to_store_percent) and len(self.world.stores) > 1:
            self._store_to_store(session, day, rng)
        self._replenish_stores(session, day)
        self._reorder(session, day, rng)
        for index, store in enumerate(self.world.stores):
            if index % 7 == day % 7:
                self._count(session, day, rng, store, index)
        self._payouts(session, day)
        if "stock-difference" in self.options.faults and day == self.options.days // 2:
            self._plant_stock_difference(session, day)

    def _arrivals(self, session: Session, day: int, rng: random.Random) -> None:
        company = self.world.company
        ctx = self._ctx(day, 9)
        date = self._date(day)
        for arrival in self.arrivals.pop(day, []):
            if arrival.kind == "transfer":
                transfer = tr.get_transfer(session, company.id, arrival.document_id, lock=True)
                lines = []
                short = False
                skus = {p.id: p.sku for p in self.world.products}
                for line in sorted(transfer.lines, key=lambda line: skus.get(line.product_id, "")):
                    quantity = line.quantity
                    self.in_transit[(arrival.store_id, line.product_id)] -= line.quantity
                    if quantity >= 2 and rng.randrange(1000) < self.profile.transit_loss_permille:
                        quantity -= 1
                        short = True
                    lines.append(tr.ProductQuantity(line.product_id, quantity))
                tr.receive(session, ctx, company, transfer, lines=lines, date=date)
                self.counters.transfers_received += 1
                if short:
                    tr.close(session, ctx, company, transfer, date=date)
                    self.counters.transit_losses += 1
                continue
            order = po.get_order(session, ctx.principal, arrival.document_id)
            partial = order.state == "confirmed" and _percent(rng, self.profile.partial_receipt_percent)
            lines = []
            for line in order.lines:
                open_quantity = line.quantity - line.received_quantity
                quantity = open_quantity
                if partial:
                    quantity = (
                        open_quantity * self.profile.partial_receipt_share_percent / 100
                    ).to_integral_value(ROUND_FLOOR)
                if quantity > 0:
                    lines.append(
                        po.ReceiptLineIn(
                            po_line_id=line.id,
                            quantity=quantity,
                            location_id=self.world.warehouse.stock_location_id,
                        )
                    )
                    self.on_order[line.product_id] -= quantity
            if lines:
                po.receive(
                    session,
                    ctx,
                    po.RecordReceipt(
                        purchase_order_id=order.id,
                        date=date,
                        reference=f"BL {order.number}/{day}",
                        lines=lines,
                    ),
                )
                w.bill_receipt(session, ctx, order, lines, date, f"F{order.number}/{day}")
                self.counters.receipts += 1
            if partial:
                self.counters.partial_receipts += 1
                if _percent(rng, 30):
                    for line in order.lines:
                        self.on_order[line.product_id] -= line.quantity - line.received_quantity
                    po.close_order(session, ctx, order, reason="backorder dropped by the supplier")
                else:
                    self.arrivals[day + 2].append(arrival)

    def _ship_transfer(
        self,
        session: Session,
        day: int,
        source: w.SimStore,
        target: w.SimStore,
        lines: list[tr.ProductQuantity],
    ) -> None:
        company = self.world.company
        ctx = self._ctx(day, 20)
        transfer = None
        with self._attempt(session, "transfer"):
            transfer = tr.create_transfer(
                session, ctx, company, from_store_id=source.id, to_store_id=target.id, lines=lines
            )
            tr.ship(session, ctx, company, transfer, date=self._date(day))
        if transfer is None:
            return
        self.counters.transfers += 1
        for line in lines:
            self.in_transit[(target.id, line.product_id)] += line.quantity
        self.arrivals[day + 1].append(_Arrival("transfer", transfer.id, target.id))

    def _snapshot_inventory(self) -> None:
        """Stock at cost over the stores and the warehouse, once a day (after the day's arrivals)."""
        value = ZERO
        for store in [*self.world.stores, self.world.warehouse]:
            for product_id, quantity in self.on_hand[store.id].items():
                product = self.by_id.get(product_id)
                if product is not None and quantity > 0:
                    value += quantity * product.cost
        self.counters.inventory_value_days += _money(value)
        self.counters.inventory_snapshots += 1

    def _forecast_policy(self, day: int) -> bool:
        profile = self.profile
        return profile.replenishment == "forecast" and day >= profile.forecast_warmup_days

    def _replenish_from_forecasts(self, session: Session, day: int) -> None:
        """The ``forecast`` policy: the back office suggests and a buyer accepts everything; transfers
        are shipped tonight (they arrive tomorrow), POs arrive after the supplier's drawn lead time."""
        company = self.world.company
        ctx = self._ctx(day, 20)
        if not self.sources_set:
            for product in self.world.products:
                replenishment.set_source(
                    session,
                    ctx,
                    company,
                    product.id,
                    supplier=w.supplier_of(product),
                    lead_time_days=self.profile.po_lead_days[1],
                    unit_price=product.cost,
                )
            self.sources_set = True
        since = day - self.profile.forecast_warmup_days
        if self.profile.estimator == "forecast" and since % self.profile.forecast_every_days == 0:
            run_forecast(session, ctx, company, as_of=self._date(day), horizon=FORECAST_HORIZON_DAYS)
        run = replenishment.suggest(
            session,
            ctx,
            company,
            as_of=self._date(day),
            service_level=self.profile.service_level,
            review_days=self.profile.review_days,
            estimator=replenishment.ESTIMATORS[self.profile.estimator],
            run_every_days=self.profile.run_every_days,
            store_review_days=self.profile.store_review_days,
            class_service_levels=dict(self.profile.class_service_levels) or None,
        )
        if not run.suggestions:
            return
        accepted = replenishment.accept(session, ctx, company, [s_.id for s_ in run.suggestions])
        stores = {s_.id: s_ for s_ in [*self.world.stores, self.world.warehouse]}
        warehouse = self.available[self.world.warehouse.id]
        for transfer in accepted.transfers:
            shipped = False
            with self._attempt(session, "transfer"):
                tr.ship(session, ctx, company, transfer, date=self._date(day))
                shipped = True
            if not shipped:
                tr.cancel(session, ctx, company, transfer)
                continue
            self.counters.transfers += 1
            target = stores[transfer.to_store_id]
            for line in transfer.lines:
                self.in_transit[(target.id, line.product_id)] += line.quantity
                warehouse[line.product_id] = warehouse.get(line.product_id, ZERO) - line.quantity
            self.arrivals[day + 1].append(_Arrival("transfer", transfer.id, target.id))
        for order in accepted.purchase_orders:
            lead = self._rng("lead", day, order.supplier).randint(*self.profile.po_lead_days)
            for line in order.lines:
                self.on_order[line.product_id] += line.quantity
            self.counters.purchase_orders += 1
            self.arrivals[day + lead].append(_Arrival("po", order.id, self.world.warehouse.id))

    def _replenish_stores(self, session: Session, day: int) -> None:
        self._snapshot_inventory()
        if self._forecast_policy(day):
            self._replenish_from_forecasts(session, day)
            return
        warehouse = self.available[self.world.warehouse.id]
        for store in self.world.stores:
            stock = self.available[store.id]
            lines = []
            for product_id, (minimum, target) in self.store_levels[store.id].items():
                have = stock.get(product_id, ZERO) + self.in_transit[(store.id, product_id)]
                if have >= minimum:
                    continue
                quantity = min(target - have, warehouse.get(product_id, ZERO))
                if quantity >= 1:
                    quantity = quantity.to_integral_value(ROUND_FLOOR)
                    warehouse[product_id] -= quantity
                    lines.append(tr.ProductQuantity(product_id, quantity))
            if lines:
                self._ship_transfer(session, day, self.world.warehouse, store, lines)

    def _store_to_store(self, session: Session, day: int, rng: random.Random) -> None:
        source, target = rng.sample(self.world.stores, 2)
        lines = []
        for product_id, (minimum, target_level) in self.store_levels[target.id].items():
            have = self.available[target.id].get(product_id, ZERO) + self.in_transit[(target.id, product_id)]
            spare = (
                self.available[source.id].get(product_id, ZERO) - self.store_levels[source.id][product_id][0]
            )
            if have < minimum and spare >= 2:
                quantity = min(spare, target_level - have).to_integral_value(ROUND_FLOOR)
                if quantity >= 1:
                    self.available[source.id][product_id] -= quantity
                    lines.append(tr.ProductQuantity(product_id, quantity))
            if len(lines) == 5:
                break
        if lines:
            self._ship_transfer(session, day, source, target, lines)
            self.counters.store_to_store += 1

    def _reorder(self, session: Session, day: int, rng: random.Random) -> None:
        if self._forecast_policy(day):
            return  # the day's purchases came with the suggestions (_replenish_from_forecasts)
        stock = self.available[self.world.warehouse.id]
        by_supplier: dict[str, list[po.OrderLineIn]] = defaultdict(list)
        for product in self.world.products:
            reorder, target = self.warehouse_levels[product.id]
            position = stock.get(product.id, ZERO) + self.on_order[product.id]
            if position < reorder:
                quantity = (target - position).to_integral_value(ROUND_CEILING)
                by_supplier[w.supplier_of(product)].append(
                    po.OrderLineIn(product_id=product.id, quantity=quantity, unit_price=product.cost)
                )
                self.on_order[product.id] += quantity
        ctx = self._ctx(day, 20, 30)
        date = self._date(day)
        for supplier in sorted(by_supplier):
            lead = rng.randint(*self.profile.po_lead_days)
            order = po.create_order(
                session,
                ctx,
                self.world.company,
                po.CreatePurchaseOrder(
                    company_id=self.world.company.id,
                    supplier=supplier,
                    store_id=self.world.warehouse.id,
                    order_date=date,
                    expected_date=date + dt.timedelta(days=lead),
                    lines=by_supplier[supplier],
                ),
            )
            po.confirm_order(session, ctx, order)
            self.counters.purchase_orders += 1
            self.arrivals[day + lead].append(_Arrival("po", order.id, self.world.warehouse.id))

    def _count(self, session: Session, day: int, rng: random.Random, store: w.SimStore, index: int) -> None:
        profile = self.profile
        company = self.world.company
        categories = sorted({p.category for p in self.world.products if p.pos})
        category = categories[(day // 7 + index) % len(categories)]
        ctx = self._ctx(day, 20, 45)
        by_id = self.world.by_id
        sheet = cnt.create_sheet(
            session, ctx, company, location_id=store.stock_location_id, category_prefix=category
        )
        candidates = sorted(
            (line for line in sheet.lines if line.expected_quantity > 0 and line.product_id in by_id),
            key=lambda line: by_id[line.product_id].sku,
        )
        chosen = (
            candidates
            if len(candidates) <= profile.count_lines
            else rng.sample(candidates, profile.count_lines)
        )
        if not chosen:
            cnt.cancel(session, ctx, company, sheet)
            return
        entries = []
        for line in sorted(chosen, key=lambda line: by_id[line.product_id].sku):
            expected = line.expected_quantity
            counted = expected
            if not by_id[line.product_id].weighed:
                units = int(expected)
                lost = sum(1 for _ in range(units) if rng.randrange(1000) < profile.shrink_permille_per_unit)
                counted = expected - lost
                if _percent(rng, profile.found_percent_per_line):
                    counted += 1
            self.counters.counted_units += expected
            entries.append(cnt.CountEntry(line.product_id, counted))
        cnt.record_counts(session, ctx, company, sheet, entries)
        cnt.submit(session, ctx, company, sheet)
        cnt.approve(session, ctx, company, sheet, date=self._date(day))
        self.counters.count_sheets += 1
        for line in sheet.lines:
            if line.adjusted_quantity:
                if line.adjusted_quantity < 0:
                    self.counters.units_lost -= line.adjusted_quantity
                else:
                    self.counters.units_found += line.adjusted_quantity

    def _payouts(self, session: Session, day: int) -> None:
        """Each gateway's payout of the day, as its settlement report imported through the settlements
        service; then the bank's statement of the day (the payouts, yesterday's cash deposits) through
        the banking service (see ``money``)."""
        company = self.world.company
        ctx = self._ctx(day, 6)
        date = self._date(day)
        cutoff = dt.datetime.combine(
            date - dt.timedelta(days=self.profile.payout_delay_days - 1), dt.time(), UTC
        )
        entries: list[money.BankEntry] = []
        for gateway, rate in self.gateways:
            lines = money.due_lines(session, company, gateway, cutoff, rate, self.unsettled)
            if gateway == "adyen" and day >= self.options.days // 2:
                lines = self._plant_unsettled_capture(lines)
            for line in lines:
                if line.kind == "refund":
                    line.day = date
            batch, carried = self.open_batches.pop(gateway, (None, []))
            if not lines and not carried:
                continue
            batch = batch or money.batch_reference(company, gateway, date)
            payout = money.Payout(gateway, batch, date, carried + lines)
            if payout.net <= 0:
                # Refunds above the captures: the gateway reports its lines in a batch it pays out with
                # the next one (in transit meanwhile, explained by the unpaid batch).
                payout.paid = False
                self.open_batches[gateway] = (batch, payout.lines)
            result = money.import_settlement(session, ctx, company, payout, self.options.settlement_files)
            self.counters.settlement_lines += result.lines_new
            self.counters.settlement_mismatches += result.mismatches
            if not payout.paid:
                continue
            lines = payout.lines
            charges = [line for line in lines if line.kind == "charge"]
            self.counters.payouts += 1
            self.counters.payout_gross += sum((line.amount for line in charges), ZERO) - sum(
                (line.amount for line in lines if line.kind == "refund"), ZERO
            )
            self.counters.payout_fees += sum((line.fee for line in charges), ZERO)
            self.counters.payout_net += payout.net
            entries.append(
                money.BankEntry(
                    payout.net,
                    f"{company.code}{date:%Y%m%d}{gateway.upper()}",
                    f"{gateway.upper()} PAYOUT {payout.batch}",
                    gateway.capitalize(),
                )
            )
        for slip, amount in self.deposits.pop(day, []):
            entries.append(
                money.BankEntry(
                    amount, f"DEP{slip.replace('-', '')}", f"VERSEMENT ESPECES {slip}", company.name
                )
            )
        result = money.import_statement(session, ctx, company, date, entries, self.options.settlement_files)
        self.counters.bank_statements += 1
        self.counters.bank_entries += result.entries_new
        self.counters.bank_unmatched += result.unmatched

    def _plant_unsettled_capture(self, lines: list[money.Line]) -> list[money.Line]:
        """The planted ``unsettled-capture``: the first store card capture Adyen settles from the
        middle of the run on is left out of its files, for good. With ``settlement-mismatches``, Adyen's
        files from the middle of the run on also settle some lines differently (labelled, see
        ``money.plant_mismatches``)."""
        if money.MISMATCH_FAULT in self.options.faults:
            lines = money.plant_mismatches("adyen", lines)
            planted = sum(line.planted is not None for line in lines)
            if planted:  # the summary counts the run's total: the count leads its text
                earlier = int(self.counters.faults.get(money.MISMATCH_FAULT, "0").split()[0])
                self.counters.faults[money.MISMATCH_FAULT] = (
                    f"{earlier + planted} adyen line(s) settled differently, labelled as ground truth"
                )
        if "unsettled-capture" not in self.options.faults or self.unsettled:
            return lines
        skipped = next((line for line in lines if line.kind == "charge"), None)
        if skipped is None:
            return lines
        self.unsettled.add(skipped.payment_id)
        self.counters.faults["unsettled-capture"] = (
            f"adyen never settles order {skipped.order} ({skipped.reference}, {skipped.amount:.2f})"
        )
        return [line for line in lines if line.payment_id != skipped.payment_id]

    def _plant_stock_difference(self, session: Session, day: int) -> None:
        """The planted ``stock-difference``: 100.00 put on the inventory account by hand (against
        shrinkage), with no stock move behind it."""
        company = self.world.company
        inventory = account_for_role(session, company.id, "inventory")
        shrinkage = account_for_role(session, company.id, "inventory_shrinkage")
        amount = Decimal("100.00")
        ledger_ops.record_manual_entry(
            session,
            self._ctx(day, 21),
            company,
            acc.CreateJournalEntry(
                company_id=company.id,
                date=self._date(day),
                reference="Stock correction by hand (planted fault)",
                lines=[
                    acc.ManualLine(account_code=inventory.code, debit=amount),
                    acc.ManualLine(account_code=shrinkage.code, credit=amount),
                ],
            ),
        )
        self.counters.faults["stock-difference"] = (
            f"{amount} debited to {inventory.code} by hand on {self._date(day)}, no stock move"
        )


def simulate(
    factory: sessionmaker[Session],
    options: Options,
    *,
    today: dt.date | None = None,
    profile: Profile = PROFILE,
    progress: Progress | None = None,
    shopify: ShopifyWeb | None = None,
) -> Summary | None:
    """Run the simulation; ``None`` when the company's history already reaches the last day asked.

    Without ``options.start`` the history ends yesterday; a company that already has simulated days
    (``make demo`` run twice) continues from the day after its last one.
    """
    today = today or dt.date.today()
    start = options.start or today - dt.timedelta(days=options.days)
    end = start + dt.timedelta(days=options.days - 1)
    if options.start is None:
        with factory() as session:
            last = last_simulated_day(session, options.company)
        if last is not None and last >= start:
            start = last + dt.timedelta(days=1)
    days = (end - start).days + 1
    if days <= 0:
        return None
    options = Options(
        company=options.company,
        stores=options.stores,
        days=days,
        seed=options.seed,
        start=start,
        scale=options.scale,
        return_rates=options.return_rates,
        settlement_files=options.settlement_files,
        faults=options.faults,
    )
    return Simulator(factory, options, start=start, profile=profile, progress=progress, shopify=shopify).run()


__all__ = ["FAULTS", "Options", "Simulator", "last_simulated_day", "simulate"]
