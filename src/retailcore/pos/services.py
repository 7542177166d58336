"""POS sessions: open with a float, ingest offline sales in batches, move cash, close as a check.

* A sale is identified by the terminal's ``client_uuid`` (unique per company): a sale already ingested
  is a duplicate and changes nothing, so a terminal may resend a batch as often as it likes.
* A batch is atomic: a sale that cannot be accepted (unknown product, payments short of the gross...)
  refuses the whole batch, naming the sale's index; nothing of the batch is written.
* Each accepted sale is taxed by the pricing tax engine and recorded in the one order model (channel
  ``pos``, ``carry_out``, :mod:`retailcore.orders.carry_out`); the batch's goods leave the store's
  STOCK location by :func:`~retailcore.inventory.services.move_stock`, valued at sale time, and the
  sales' revenue, tax, tenders and COGS are added to the session's running totals, all in the same
  transaction. Nothing is posted per sale (except a sale invoiced at the till, whose invoice posts it
  to the customer's receivable).
* The float is posted when the session opens (safe -> drawer), cash movements when they happen.
* Closing reads only the running totals: it compares counted amounts with the expected ones and records
  one ``PosSessionClosed`` event the ledger posts as one aggregated entry: tenders, revenue per
  category, tax per code, COGS, the cash difference, and the counted cash handed over to the safe (so
  the drawer account is back at zero after every close).
* Sales for a closed session go to the terminal's rescue session (opened on demand), never lost.
* A sale whose lines have negative quantities is a refund (:mod:`retailcore.pos.refunds`): claimed on
  the returns context's counter, recorded as a return, its goods back at the original cost; it joins
  the totals under ``refund:`` keys and the close posts it as one ``ReturnRefunded`` entry.
* A sale with negative and positive lines is an exchange: its refund part is claimed first, its sale
  part is an order paid by the internal ``exchange`` tender up to the refund's value, and the payments
  settle only the difference (decision 0030).
* A sale's ``gift_cards`` are issued by the payments context when the batch is taken; their amounts
  join the session's ``gift_cards`` total, which the close credits to gift_card_liability.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting.tables import JournalEntry, LedgerSettings
from retailcore.adapters.bulk import JsonList
from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of
from retailcore.core.currencies import minor_unit, round_to_currency
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from retailcore.core.ids import new_id, new_ids
from retailcore.eventlog.services import CommandContext, record
from retailcore.eventlog.tables import Event
from retailcore.inventory.services import STOCK_ROLE, MoveLine, move_stock
from retailcore.inventory.tables import StockMove
from retailcore.loyalty import services as loyalty
from retailcore.masterdata import cache as master_data
from retailcore.masterdata.tables import (
    Company,
    Customer,
    Location,
    MasterStamp,
    PaymentMethod,
    Product,
    Store,
)
from retailcore.monitoring import services as monitoring
from retailcore.orders import discounts
from retailcore.orders.carry_out import CarryOutSale, known_client_uuids, record_carry_out, session_sales
from retailcore.orders.invoices import issue as issue_invoice
from retailcore.orders.tables import OrderRow
from retailcore.payments import services as pay
from retailcore.pos import cash_rounding, revenue
from retailcore.pos import commands as c
from retailcore.pos import currency as till_currency
from retailcore.pos import receivables as pos_receivables
from retailcore.pos import refunds as pos_refunds
from retailcore.pos.refunds import refuse as _refuse
from retailcore.pos.tables import PosCashMovement, PosSession, PosSessionTotal, PosTerminal
from retailcore.pricing.taxes import (
    LineTaxes,
    NoTaxRule,
    TaxableLine,
    TaxSpec,
    compute_taxes,
    load_tax_rules,
    tax_line_alone,
)
from retailcore.promotions import channels as pricing
from retailcore.promotions.coupons import find_coupon, normalise_code
from retailcore.promotions.coupons import redeem as redeem_coupon
from retailcore.promotions.model import AppliedDiscount, Basket, BasketLine
from retailcore.promotions.tables import Coupon
from retailcore.returns.services import policy_for

ZERO = Decimal(0)
ONE = Decimal(1)
_NO_SESSION_YET = uuid.UUID(int=0)  # a priced sale's session, until the batch assigns it
AMOUNTS = ("net", "tax", "tax_base", "amount")
Totals = dict[tuple[str, str], dict[str, Decimal]]


# -- lookups in scope -----------------------------------------------------------------------------


def _terminal(
    session: Session, principal: Principal, terminal_id: uuid.UUID, lock: bool = False
) -> PosTerminal:
    query = select(PosTerminal).where(PosTerminal.id == terminal_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    terminal = session.scalar(query)
    if terminal is None or not principal.sees_company(terminal.company_id):
        raise NotFound(f"no POS terminal {terminal_id}")
    if not principal.sees_store(terminal.store_id):
        raise NotFound(f"no POS terminal {terminal_id}")
    return terminal


def get_session(
    session: Session, principal: Principal, session_id: uuid.UUID, lock: bool = False
) -> PosSession:
    query = select(PosSession).where(PosSession.id == session_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    pos_session = session.scalar(query)
    if (
        pos_session is None
        or not principal.sees_company(pos_session.company_id)
        or not principal.sees_store(pos_session.store_id)
    ):
        raise NotFound(f"no POS session {session_id}")
    return pos_session


# -- terminals and sessions -----------------------------------------------------------------------


def create_terminal(
    session: Session, ctx: CommandContext, company: Company, request: c.CreateTerminal
) -> PosTerminal:
    store = session.get(Store, request.store_id)
    if store is None or store.company_id != company.id or not ctx.principal.sees_store(store.id):
        raise InvalidReference(
            f"no store {request.store_id}", problems=[FieldProblem("store_id", "no such store")]
        )
    taken = session.scalar(
        select(PosTerminal.id).where(PosTerminal.company_id == company.id, PosTerminal.code == request.code)
    )
    if taken is not None:
        raise Conflict(
            f"a POS terminal with code '{request.code}' already exists",
            code="duplicate-code",
            problems=[FieldProblem("code", "already exists")],
        )
    terminal = PosTerminal(company_id=company.id, store_id=store.id, code=request.code, name=request.name)
    if request.currency is not None and request.currency != company.currency:
        terminal.currency = request.currency
    session.add(terminal)
    session.flush()
    record(
        session,
        ctx,
        type="PosTerminalCreated",
        company_id=company.id,
        aggregate_type="PosTerminal",
        aggregate_id=terminal.id,
        payload={
            "code": terminal.code,
            "name": terminal.name,
            "store_id": store.id,
            **({"currency": terminal.currency} if terminal.currency else {}),
        },
        store_id=store.id,
    )
    return terminal


def _new_session(
    session: Session, ctx: CommandContext, terminal: PosTerminal, opening_float: Decimal, rescue: bool
) -> PosSession:
    number = session.scalar(
        select(func.coalesce(func.max(PosSession.number), 0)).where(PosSession.terminal_id == terminal.id)
    )
    company = session.get(Company, terminal.company_id)
    assert company is not None
    date = _local_date(session, terminal.store_id, ctx)
    currency, rate = till_currency.fix_rate(session, company, terminal, date)
    pos_session = PosSession(
        company_id=terminal.company_id,
        store_id=terminal.store_id,
        terminal_id=terminal.id,
        number=number + 1,
        state="open",
        is_rescue=rescue,
        opening_float=opening_float,
        opened_at=_now(ctx),
        opened_by=ctx.actor,
        currency=currency,
        rate=rate,
    )
    session.add(pos_session)
    session.flush()
    record(
        session,
        ctx,
        type="PosSessionOpened",
        company_id=terminal.company_id,
        aggregate_type="PosSession",
        aggregate_id=pos_session.id,
        payload={
            "date": date,
            "reference": f"POS {terminal.code}/{pos_session.number} float",
            "terminal_id": terminal.id,
            "store_id": terminal.store_id,
            "channel": "pos",
            "number": pos_session.number,
            "opening_float": opening_float,
            "is_rescue": rescue,
            **till_currency.booked(pos_session),
        },
        store_id=terminal.store_id,
    )
    return pos_session


def open_session(
    session: Session, ctx: CommandContext, terminal_id: uuid.UUID, opening_float: Decimal
) -> PosSession:
    """Open the terminal's session; a terminal has at most one open (non-rescue) session."""
    try:
        terminal = _terminal(session, ctx.principal, terminal_id, lock=True)
    except NotFound as missing:
        # Named in the body, not the path: a reference to nothing is invalid input (docs/api.md).
        raise InvalidReference(
            missing.detail, problems=[FieldProblem("terminal_id", "no such POS terminal")]
        ) from None
    if not terminal.active:
        raise Conflict(f"POS terminal {terminal.code} is inactive", code="terminal-inactive")
    already = session.scalar(
        select(PosSession.id).where(
            PosSession.terminal_id == terminal.id, PosSession.state == "open", PosSession.is_rescue.is_(False)
        )
    )
    if already is not None:
        raise Conflict(f"POS terminal {terminal.code} already has an open session", code="session-open")
    company = session.get(Company, terminal.company_id)
    assert company is not None
    if round_to_currency(opening_float, terminal.currency or company.currency) != opening_float:
        raise ValidationFailed(
            "the opening float has more decimals than the currency",
            problems=[FieldProblem("opening_float", "too many decimals")],
        )
    return _new_session(session, ctx, terminal, opening_float, rescue=False)


def _rescue_session(session: Session, ctx: CommandContext, terminal_id: uuid.UUID) -> PosSession:
    terminal = _terminal(session, ctx.principal, terminal_id, lock=True)
    rescue = session.scalar(
        select(PosSession).where(
            PosSession.terminal_id == terminal.id, PosSession.state == "open", PosSession.is_rescue.is_(True)
        )
    )
    return rescue or _new_session(session, ctx, terminal, ZERO, rescue=True)


# -- running totals -------------------------------------------------------------------------------


def _total(totals: Totals, kind: str, key: str) -> dict[str, Decimal]:
    row = totals.get((kind, key))
    if row is None:
        row = totals[(kind, key)] = dict.fromkeys(AMOUNTS, ZERO)
    return row


_TOTALS_UPSERT: dict[str, Any] = {}
"""The running totals' upsert per dialect, built once: building it (and its ``excluded`` alias) per batch
costs more CPU than running it, for a batch of one sale."""


def _totals_upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    statement = _TOTALS_UPSERT.get(dialect)
    if statement is None:
        T = PosSessionTotal.__table__
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(T)
        statement = _TOTALS_UPSERT[dialect] = insert.on_conflict_do_update(
            index_elements=[T.c.session_id, T.c.kind, T.c.key],
            set_={name: T.c[name] + insert.excluded[name] for name in AMOUNTS},
        )
    return statement


def _apply_totals(session: Session, session_id: uuid.UUID, totals: Totals) -> None:
    """Add deltas to the running totals, set-based: one upsert (an executemany) inserts the keys the
    session has not and adds to the ones it has (``SET x = x + excluded.x``).

    The caller holds the session row's lock, so no other transaction writes the same keys meanwhile.
    """
    if not totals:
        return
    session.execute(
        _totals_upsert(session),
        [
            {"id": new_id(), "session_id": session_id, "kind": kind, "key": key, **delta}
            for (kind, key), delta in sorted(totals.items())
        ],
    )


def running_totals(session: Session, session_id: uuid.UUID) -> list[PosSessionTotal]:
    return list(
        session.scalars(
            select(PosSessionTotal)
            .where(PosSessionTotal.session_id == session_id)
            .order_by(PosSessionTotal.kind, PosSessionTotal.key)
            .execution_options(populate_existing=True)
        )
    )


def _sale_totals(
    totals: Totals,
    sale: CarryOutSale,
    split: frozenset[str] = frozenset(),
    own: revenue.Own = revenue.NONE,
) -> None:
    """What one sale adds to its session's totals. An invoiced sale's revenue is posted by its invoice:
    the session only takes its goods (COGS, unless its invoice posts it: pos/receivables.py), its
    tenders and, against them, the receivable they pay (per customer for the ``split`` methods).
    ``own`` are the products' own income and expense accounts: their revenue and COGS are kept apart
    (pos/revenue.py)."""
    stock_role = STOCK_ROLE["stock"]
    for line in sale.lines:
        if not sale.extra.get(pos_receivables.WITH_INVOICE):
            cogs_key = revenue.cogs_key(line["category"], stock_role, line, own.expense)
            _total(totals, "cogs", cogs_key)["amount"] += line["cost"]
        if sale.invoiced:
            continue
        category = _total(totals, "category", revenue.key(line["category"], line, own.income))
        category["net"] += line["net"]
        category["tax"] += line["tax"]
        if line["discount"]:  # a category's ``amount``: its discounts net of tax (contra posting)
            category["amount"] += discounts.discount_net(
                line["discount"], line["taxes"], sale.prices_include_tax, sale.currency
            )
        for tax in line["taxes"]:
            by_code = _total(totals, "tax", tax["code"])
            by_code["tax"] += Decimal(tax["amount"])
            by_code["tax_base"] += Decimal(tax["base"])
    for tender in sale.tenders:
        if tender["kind"] == "on_account":
            continue  # a claim on the customer, carried by the invoice's receivable
        _total(totals, "tender", f"{tender['kind']}|{tender['gateway'] or ''}")["amount"] += tender["amount"]
    if sale.invoiced and sale.paid:
        for key, amount in pos_receivables.receivable_keys(sale, split).items():
            _total(totals, "receivable", key)["amount"] += amount
    cards = sum((card["amount"] for card in sale.extra.get("gift_cards", ())), ZERO)
    if cards:
        _total(totals, "gift_cards", "")["amount"] += cards
    if not sale.invoiced:  # the cash rounding: what the tenders took beyond the goods and gift cards
        rounding = sum((tender["amount"] for tender in sale.tenders), ZERO) - sale.gross - cards
        if rounding:
            _total(totals, "rounding", "")["amount"] += rounding


def recompute_totals(session: Session, session_id: uuid.UUID) -> Totals:
    """The totals rebuilt from the session's sales. For tests and audits only: closing never calls it."""
    totals: Totals = {}
    sales = session_sales(session, session_id)
    pos_receivables.flag_recorded(session, sales)
    pos_session = session.get(PosSession, session_id)
    split = (
        pos_receivables.split_methods(session, pos_session.company_id, sales) if pos_session else frozenset()
    )
    own = revenue.accounts_of(session, (line for sale in sales for line in sale.lines))
    for sale in sales:
        _sale_totals(totals, sale, split, own)
    return totals


def totals_as_dict(rows: Sequence[PosSessionTotal]) -> Totals:
    return {(r.kind, r.key): {name: getattr(r, name) for name in AMOUNTS} for r in rows}


# -- sales ----------------------------------------------------------------------------------------


class _Item(NamedTuple):
    """What pricing a line needs of its product, read once per batch."""

    id: uuid.UUID
    sku: str
    category: str
    tax_category: str
    taxes: tuple[TaxSpec, ...]
    line_rounded: bool
    """Every tax of the category rounds per line: the line is taxed alone (and cached)."""
    price_included: frozenset[bool]
    fixed: bool = False
    """A tax of the category is fixed (an amount a unit): the line's taxes depend on its quantity."""


class _Method(NamedTuple):
    code: str
    kind: str
    gateway: str | None
    active: bool


def _methods(session: Session, company_id: uuid.UUID) -> dict[str, _Method]:
    return {
        m.code: _Method(m.code, m.kind, m.gateway, m.active)
        for m in session.execute(
            select(PaymentMethod.code, PaymentMethod.kind, PaymentMethod.gateway, PaymentMethod.active).where(
                PaymentMethod.company_id == company_id
            )
        )
    }


class _Calendar(NamedTuple):
    """Which day a sale is booked on (docs/decisions/0015-a-tills-clock.md): the server's clock, not
    the till's, has the last word, and nothing lands on a locked day."""

    today: dt.date
    """The server's day in the store's time zone: no sale is booked later than this."""
    earliest: dt.datetime
    latest: dt.datetime
    """``sold_at`` outside [earliest, latest] is not believed (the company's clock window)."""
    lock_date: dt.date | None
    refuse: bool
    """The company refuses a batch with a sale outside the window instead of booking it today."""


OUT_OF_WINDOW, LOCKED = "sale_clock_out_of_window", "sale_in_locked_period"
BALANCE_KINDS = ("gift_card", "store_credit", "loyalty")


class _Redemption(NamedTuple):
    """A gift card or store credit payment of a sale: its balance is taken when the batch is recorded."""

    index: int
    payment: int
    sale: CarryOutSale
    kind: str
    reference: str
    amount: Decimal


class _Context:
    """What every sale of a batch needs, loaded once."""

    def __init__(
        self,
        session: Session,
        pos_session: PosSession,
        batch: Sequence[c.SaleIn],
        now: dt.datetime,
        principal: Principal | None = None,
    ) -> None:
        # One statement for the three rows and the master-data stamp, not four: a batch of one sale (a
        # connected till) pays this per sale.
        company, store, terminal, stamp = session.execute(
            select(Company, Store, PosTerminal, MasterStamp.token)
            .select_from(Company)
            .join(Store, Store.id == pos_session.store_id)
            .join(PosTerminal, PosTerminal.id == pos_session.terminal_id)
            .outerjoin(MasterStamp, MasterStamp.company_id == Company.id)
            .where(Company.id == pos_session.company_id)
        ).one()
        master_data.seed(session, company.id, stamp)
        self.company, self.store, self.terminal = company, store, terminal
        self.currency = till_currency.of_session(pos_session, company)
        self.foreign = self.currency != company.currency
        """A till selling in a foreign currency (docs/pos.md#foreign-currency-tills): cash and cards only,
        no gift cards, no invoices."""
        self.decimals = minor_unit(self.currency)
        self.zone = ZoneInfo(store.timezone or "UTC")
        ledger = session.get(LedgerSettings, company.id)
        # Held for the batch: the stock move reads the same row by key (session.get), and the session's
        # identity map keeps only the objects something refers to; held, that read is not a query.
        self._ledger = ledger
        self.calendar = _Calendar(
            today=now.astimezone(self.zone).date(),
            earliest=now - dt.timedelta(days=company.sale_clock_past_days),
            latest=now + dt.timedelta(days=company.sale_clock_future_days),
            lock_date=ledger.lock_date if ledger is not None else None,
            refuse=company.sale_clock_policy == "refuse",
        )
        self.redemptions: list[_Redemption] = []
        """Gift card and store credit tenders of the batch: their balances move once the sales are priced."""
        self.rebooked: dict[str, list[CarryOutSale]] = {OUT_OF_WINDOW: [], LOCKED: []}
        """The sales booked on another day than their own, by reason: each reason opens an exception."""
        self.rules = load_tax_rules(session, company.id, store.tax_jurisdiction or company.tax_jurisdiction)
        self.taxed_lines: dict[tuple[str, Decimal, Decimal], _Taxed] = {}
        self.originals = pos_refunds.load_originals(session, company.id, batch)
        """The original order lines the batch's refund lines name."""
        self._session = session
        self._policy: Any = None
        # Manual discounts: the cashier's limit and the overriding users, read only for a batch that
        # has discounts (most lines have none: nothing more to read).
        self.unlimited = principal is None or principal.role in discounts.UNLIMITED_ROLES
        self.discount_limit: discounts.Limit | None = None
        self.overriders: dict[str, str | None] = {}
        self.overrides: list[dict[str, Any]] = []
        """The batch's manual discounts a manager approved, for the ingest event."""
        if any(line.discount for sale in batch for line in sale.lines):
            if not self.unlimited:
                self.discount_limit = discounts.limit_for(session, company.id, store.id)
            named = {line.override.by for sale in batch for line in sale.lines if line.override is not None}
            self.overriders = discounts.overriders(session, company.id, store.id, named)
        product_ids = {line.product_id for sale in batch for line in sale.lines}
        # Columns, not ORM objects: a batch touches hundreds of products and needs four fields of each.
        self.products: dict[uuid.UUID, _Item] = {}
        for row in session.execute(
            select(Product.id, Product.sku, Product.category, Product.tax_category).where(
                Product.company_id == company.id, one_of(session, Product.id, product_ids)
            )
        ):
            taxes = tuple(self.rules.get(row.tax_category, ()))
            self.products[row.id] = _Item(
                row.id,
                row.sku,
                row.category,
                row.tax_category,
                taxes,
                all(self.rules.conventions.mode(tax) == "line" for tax in taxes),
                frozenset(tax.price_included for tax in taxes),
                any(tax.kind == "fixed" for tax in taxes),
            )
        customer_ids = {sale.customer_id for sale in batch if sale.customer_id is not None}
        self.customers: dict[uuid.UUID, str | None] = {}
        """The batch's customers (id -> customer group, for pricing)."""
        if customer_ids:
            for customer in session.execute(
                select(Customer.id, Customer.customer_group).where(
                    Customer.company_id == company.id, Customer.id.in_(customer_ids)
                )
            ):
                self.customers[customer.id] = customer.customer_group
        self._pricing(session, batch)
        self.methods = master_data.cached(
            session, company.id, "pos_methods", lambda: _methods(session, company.id)
        )
        """The company's payment methods by code (shared by every batch: read-only)."""
        self.cash_rounding = None if self.foreign else cash_rounding.of_company(session, company.id)
        """The company's cash rounding (docs/pos.md#cash-rounding), or None; in its currency only."""
        # The store's stock location and the company's customer location, in one statement.
        found: dict[str, Location] = {}
        for location in session.scalars(
            select(Location).where(
                Location.company_id == company.id,
                or_(
                    and_(Location.store_id == store.id, Location.kind == "stock"),
                    Location.kind == "customer",
                ),
            )
        ):
            found.setdefault(location.kind, location)
        self.stock, self.customer = found.get("stock"), found.get("customer")
        if self.stock is None or self.customer is None:
            raise Conflict(f"store {store.code} has no stock location to sell from", code="no-stock-location")

    def _pricing(self, session: Session, batch: Sequence[c.SaleIn]) -> None:
        """The promotions in force, read once per batch (docs/promotions.md#every-channel). No
        promotion in force and no sale sending promotion discounts or coupons: ``book`` stays None and
        the batch is priced as before, nothing more is read."""
        self.book: Any = None
        self.prefilter: pricing.Prefilter | None = None
        self.promotion_ids: dict[str, uuid.UUID] = {}
        self.coupons: dict[str, Coupon | None] = {}
        self.priced_memo: dict[tuple[Any, ...], Any] = {}
        self.eligible: dict[tuple[Any, ...], dict[tuple[Any, ...], Any]] = {}
        """The book's memo (see _verify) for each minute, customer group and coupons of the batch."""
        self.reach: dict[int, tuple[bool, bool]] = {}
        self.mismatches: list[dict[str, Any]] = []
        """Sales whose till's promotion discounts differ from the server's: one exception per batch."""
        self.coupon_uses: list[tuple[CarryOutSale, int, Coupon, Decimal]] = []
        """(sale, position in its ``coupons``, coupon, what it took): redeemed once the sales are written."""
        self.coupon_reuses: list[dict[str, Any]] = []
        book = pricing.book_for(session, self.company.id)
        codes = {normalise_code(code) for sale in batch for code in sale.coupons}
        sends = any(line.discounts for sale in batch for line in sale.lines)
        if not book.promotions and not codes and not sends:
            return
        self.book = book
        self.priced_memo = _memo_of(book)
        self.prefilter = pricing.Prefilter(book)
        self.promotion_ids = {p.code: p.id for p in book.promotions}
        self.coupons = {code: find_coupon(session, self.company.id, code) for code in sorted(codes)}
        # Promotions start, end and open their windows on whole minutes: the promotions eligible for a
        # sale are then worked out once a minute (see _verify).
        self.by_minute = all(
            (p.starts_at is None or (p.starts_at.second, p.starts_at.microsecond) == (0, 0))
            and (p.ends_at is None or (p.ends_at.second, p.ends_at.microsecond) == (0, 0))
            and all((w.start.second, w.end.second) == (0, 0) for w in p.windows)
            for p in book.promotions
        )

    def refund_policy(self) -> Any:
        """The company's return policy (read once, when a refund has no receipt)."""
        if self._policy is None:
            self._policy = policy_for(self._session, self.company.id)
        return self._policy


class _Taxed(NamedTuple):
    """A line as taxed, with its taxes as an order line stores them (shared by the batch's lines with
    the same tax category and amount: read-only)."""

    net: Decimal
    tax: Decimal
    gross: Decimal
    taxes: tuple[dict[str, str], ...]


def _taxed(line: LineTaxes) -> _Taxed:
    return _Taxed(
        line.net,
        line.tax,
        line.gross,
        tuple(t.as_json() for t in line.taxes),
    )


def _tax(
    ctx: _Context, items: list[_Item], grosses: list[Decimal], quantities: list[Decimal] | None = None
) -> list[_Taxed]:
    """The sale's lines taxed. Lines whose taxes all round per line are taxed alone (exactly what the
    document computation gives them; from the batch's memo, else the process-wide cache); otherwise
    the sale is taxed as one document. ``quantities`` (default 1 each) only matter to fixed taxes."""
    if quantities is None:
        quantities = [ONE] * len(items)
    if all(item.line_rounded for item in items):
        memo = ctx.taxed_lines
        taxed_lines = []
        for item, gross, quantity in zip(items, grosses, quantities, strict=True):
            # Only a fixed tax depends on the quantity: other lines share their memo entries.
            per_unit = quantity if item.fixed else ONE
            taxed = memo.get((item.tax_category, gross, per_unit))
            if taxed is None:
                taxed = memo[(item.tax_category, gross, per_unit)] = _taxed(
                    tax_line_alone(item.taxes, gross, ctx.currency, ctx.rules.conventions, per_unit)
                )
            taxed_lines.append(taxed)
        return taxed_lines
    taxable = [
        TaxableLine(key=str(n), amount=gross, tax_category=item.tax_category, quantity=quantity)
        for n, (item, gross, quantity) in enumerate(zip(items, grosses, quantities, strict=True))
    ]
    return [_taxed(line) for line in compute_taxes(taxable, ctx.rules, ctx.currency).lines]


def _booking_day(ctx: _Context, index: int, sold_at: dt.datetime) -> tuple[dt.date, list[str]]:
    """The day a sale is booked on, and why it is not its own local day (if it is not).

    A ``sold_at`` inside the clock window is believed, but never books later than the server's day
    (a till a little ahead books today); outside the window the sale is booked today, or refused if
    the company says so. A day on or before the lock date moves to the first open day."""
    calendar = ctx.calendar
    reasons: list[str] = []
    if calendar.earliest <= sold_at <= calendar.latest:
        day = min(sold_at.astimezone(ctx.zone).date(), calendar.today)
    elif calendar.refuse:
        raise _refuse(
            index,
            "sold_at",
            f"{sold_at.isoformat()} is outside the till clock window ({calendar.earliest:%Y-%m-%d} to"
            f" {calendar.latest:%Y-%m-%d}): check the till's clock",
            code="sale-clock-out-of-window",
        )
    else:
        day = calendar.today
        reasons.append(OUT_OF_WINDOW)
    if calendar.lock_date is not None and day <= calendar.lock_date:
        day = calendar.lock_date + dt.timedelta(days=1)
        reasons.append(LOCKED)
    return day, reasons


def _price_sale(
    ctx: _Context,
    index: int,
    sale: c.SaleIn,
    order_id: uuid.UUID,
    credit: Decimal | None = None,
    actor: str = "",
) -> CarryOutSale:
    """Tax the sale, check its payments and give change: the sale as it will be recorded.

    ``credit``: the sale part of an exchange (its positive lines), and what its refund part is worth at
    the original prices. The order is paid by the ``exchange`` tender up to that value; the ticket's
    payments cover the rest (change in cash, as for any sale) or, when the refund is worth more, are
    the refund's payouts (:func:`pos_refunds.settle_exchange`)."""
    currency = ctx.currency
    exchange = credit is not None
    booked_on, rebooked = _booking_day(ctx, index, sale.sold_at)
    if sale.customer_id is not None and sale.customer_id not in ctx.customers:
        raise _refuse(index, "customer_id", "no such customer")
    if exchange and sale.invoice:
        raise _refuse(index, "invoice", "a refund or an exchange at the till is not invoiced")
    if ctx.foreign and (sale.invoice or sale.gift_cards):
        where = "invoice" if sale.invoice else "gift_cards"
        raise _refuse(index, where, f"a till selling in {currency} neither invoices nor sells gift cards")
    selling = [(n, line) for n, line in enumerate(sale.lines) if not (exchange and line.is_refund)]
    items: list[_Item] = []
    grosses: list[Decimal] = []
    taken_off: list[Decimal] = []  # each line's discounts: manual, the till's promotions and coupons
    for n, line in selling:
        item = ctx.products.get(line.product_id)
        if item is None:
            raise _refuse(index, f"lines.{n}.product_id", "no such product")
        if item.tax_category not in ctx.rules:
            raise _refuse(index, "lines", str(NoTaxRule(item.tax_category)), code="no-tax-rule")
        discount = line.discount
        amount = round_to_currency(line.quantity * line.unit_price, currency)
        gross = amount - discount
        if line.discounts:  # the promotions and coupons the till applied (decimals: see _verify)
            for applied in line.discounts:
                gross -= applied.amount
        if gross < 0 or (discount and round_to_currency(discount, currency) != discount):
            raise _refuse(index, f"lines.{n}.discount", "the discount is invalid for this line")
        if discount:
            refused = discounts.check_manual(
                ctx.discount_limit, ctx.unlimited, amount, discount, line.override, ctx.overriders
            )
            if refused is not None:
                where, message = refused
                raise _refuse(index, f"lines.{n}.{where}", message, code="discount-refused")
        items.append(item)
        grosses.append(gross)
        taken_off.append(amount - gross if line.discounts else discount)
    verified = _verify(ctx, index, sale, selling, actor) if ctx.book is not None else None
    taxed_lines = _tax(ctx, items, grosses, [line.quantity for _, line in selling])
    lines = []
    included: set[bool] = set()
    net_total = tax_total = gross = ZERO
    stock_id = ctx.stock.id
    for k, ((n, line), item, taxed) in enumerate(zip(selling, items, taxed_lines, strict=True)):
        included |= item.price_included
        if line.override is not None:
            ctx.overrides.append(
                {
                    "client_uuid": str(sale.client_uuid),
                    "line": n,
                    "discount": line.discount,
                    "by": line.override.by,
                    "reason": line.override.reason,
                    "given_by": actor,
                }
            )
        tax = taxed.tax
        net_total += taxed.net
        tax_total += tax
        gross += taxed.gross
        lines.append(
            {
                "product_id": item.id,
                "sku": item.sku,
                "category": item.category,
                "tax_category": item.tax_category,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": taken_off[k],  # the amount the line was taxed on: `amount - gross` above
                "discounts": (
                    verified[0][k]
                    if verified is not None
                    else [discounts.manual(line.discount, actor, line.override)]
                    if line.discount
                    else None
                ),
                "net": taxed.net,
                "tax": tax,
                "gross": taxed.gross,
                "taxes": taxed.taxes,
                "cost": ZERO,
                "location_id": stock_id,
            }
        )
    paid = cash = ZERO
    by_tender: dict[tuple[str, str, str | None, str | None], Decimal] = {}
    redeemed: list[tuple[int, str, str, Decimal]] = []
    cards = [card.amount for card in sale.gift_cards]
    for k, amount in enumerate(cards):
        if round_to_currency(amount, currency) != amount:
            raise _refuse(index, f"gift_cards.{k}.amount", "more decimals than the currency")
    if cards and sale.invoice:
        raise _refuse(index, "invoice", "a ticket selling gift cards is not invoiced")
    shared = min(credit, gross) if credit is not None else ZERO
    due = gross + sum(cards, ZERO) - shared
    # An exchange whose refund is worth more than its new goods pays money out: its payments are the
    # refund's (checked as such once settled), none of them pays the order.
    payments = [] if credit is not None and credit > gross else sale.payments
    for n, payment in enumerate(payments):
        method = ctx.methods.get(payment.payment_method_code)
        if method is None or not method.active:
            raise _refuse(index, f"payments.{n}.payment_method_code", "no such active payment method")
        amount = payment.amount
        if round_to_currency(amount, currency) != amount:
            raise _refuse(index, f"payments.{n}.amount", "more decimals than the currency")
        if ctx.foreign and method.kind not in ("cash", "card"):
            raise _refuse(
                index,
                f"payments.{n}.payment_method_code",
                f"a till selling in {currency} takes cash and cards only",
            )
        if method.kind == "on_account" and exchange:
            raise _refuse(index, f"payments.{n}.payment_method_code", "an exchange is not paid on account")
        if method.kind == "on_account" and cards:
            raise _refuse(index, f"payments.{n}.payment_method_code", "gift cards are not sold on account")
        if method.kind == "on_account" and sale.customer_id is None:
            raise _refuse(index, f"payments.{n}.payment_method_code", "a sale on account needs a customer_id")
        if method.kind in BALANCE_KINDS:
            if method.kind == "gift_card" and not payment.reference:
                raise _refuse(index, f"payments.{n}.reference", "a gift card payment names the card's code")
            if method.kind == "store_credit" and sale.customer_id is None:
                raise _refuse(index, f"payments.{n}.payment_method_code", "store credit needs a customer_id")
            if method.kind == "loyalty" and sale.customer_id is None:
                raise _refuse(index, f"payments.{n}.payment_method_code", "loyalty points need a customer_id")
            reference = payment.reference if method.kind == "gift_card" else str(sale.customer_id)
            redeemed.append((n, method.kind, reference or "", amount))
        paid += amount
        if method.kind == "cash":
            cash += amount
        # A card payment's reference is the terminal's (the acquirer's, e.g. Adyen's psp reference): it
        # stays on the order payment, where the gateway's settlement file finds it.
        reference = payment.reference if method.kind == "card" else None
        key = (method.code, method.kind, method.gateway, reference)
        by_tender[key] = by_tender.get(key, ZERO) + amount
    by_card = ZERO
    if cards:  # a gift card never pays a gift card: gift card tenders pay the goods at most
        by_card = sum((amount for (_, kind, *_), amount in by_tender.items() if kind == "gift_card"), ZERO)
    if by_card > gross:
        raise _refuse(
            index,
            "payments",
            f"gift cards pay {by_card}, more than the goods ({gross}): a gift card never pays a gift card",
        )
    on_account = any(kind == "on_account" for _, kind, *_ in by_tender)
    # Cash rounding: a ticket paid in cash, or paid exactly its rounded total, is settled at that total;
    # never an invoiced one (docs/pos.md#cash-rounding).
    settled = due
    if ctx.cash_rounding is not None and not (sale.invoice or on_account):
        settled = cash_rounding.settled_at(due, paid, cash > 0, ctx.cash_rounding)
    if sale.rounding is not None and sale.rounding != settled - due:
        raise cash_rounding.mismatch(index, sale.rounding, settled - due)
    if paid < settled:
        owed = (
            f"the gross {gross}" if not shared else f"the difference {due} ({gross} less {shared} given back)"
        )
        if cards:
            owed = f"{due} ({gross} of goods and {due - gross} of gift cards)"
        if settled != due:
            owed += f", {settled} with the cash rounding"
        raise _refuse(index, "payments", f"payments {paid} do not cover {owed}", code="payment-short")
    change = paid - settled
    if change > cash:
        raise _refuse(
            index, "payments", "only cash can be overpaid (change is given in cash)", code="overpaid"
        )
    tenders = []
    for (code, kind, gateway, reference), amount in by_tender.items():
        if kind == "cash" and change:
            taken = min(change, amount)
            amount, change = amount - taken, change - taken
        if amount:
            tender = {"payment_method_code": code, "kind": kind, "gateway": gateway, "amount": amount}
            if reference:
                tender["reference"] = reference
            tenders.append(tender)
    if shared:
        tenders.append(
            {"payment_method_code": None, "kind": pos_refunds.EXCHANGE, "gateway": None, "amount": shared}
        )
    if sale.invoice and sale.customer_id is None:
        raise _refuse(index, "invoice", "an invoice needs a customer_id")
    priced = CarryOutSale(
        order_id=order_id,
        number="",
        client_uuid=sale.client_uuid,
        sold_at=sale.sold_at,
        store_id=ctx.store.id,
        pos_session_id=_NO_SESSION_YET,
        currency=ctx.currency,
        prices_include_tax=included == {True},
        net=net_total,
        tax=tax_total,
        gross=gross,
        change=paid - settled,
        lines=lines,
        tenders=tenders,
        customer_id=sale.customer_id,
        invoiced=sale.invoice or on_account,
        booked_on=booked_on,
    )
    if cards:
        priced.extra["index"] = index
        priced.extra["gift_cards"] = [
            {"position": k, "amount": card.amount, "code": card.code}
            for k, card in enumerate(sale.gift_cards)
        ]
    for reason in rebooked:
        ctx.rebooked[reason].append(priced)
    for n, kind, reference, amount in redeemed:
        ctx.redemptions.append(_Redemption(index, n, priced, kind, reference, amount))
    if verified is not None:
        for position, coupon, taken in verified[1]:
            ctx.coupon_uses.append((priced, position, coupon, taken))
    return priced


def _till_records(ctx: _Context, line: c.SaleLineIn, actor: str) -> list[dict[str, Any]] | None:
    """What the till applied to a line, as recorded when it differs from the server (the customer
    paid it): its promotion and coupon discounts, with their promotions, then the manual one."""
    applied = []
    for d in line.discounts:
        if d.source == "coupon":
            code = normalise_code(d.code)
            coupon = ctx.coupons.get(code)
            promotion_id = coupon.promotion_id if coupon is not None else None
        else:
            code, promotion_id = d.code, ctx.promotion_ids.get(d.code)
        applied.append(AppliedDiscount(d.source, code, d.amount, promotion_id))
    if line.discount:
        applied.append(AppliedDiscount("manual", "manual", line.discount))
    override = {"by": line.override.by, "reason": line.override.reason} if line.override else None
    return pricing.records(applied, actor, override)


def _till_offered(line: c.SaleLineIn) -> tuple[tuple[str, str, Decimal], ...]:
    """The till's promotion and coupon discounts of a line, comparable with :func:`pricing.offered`."""
    discounts = line.discounts
    if not discounts:
        return ()
    if len(discounts) == 1:
        d = discounts[0]
        return ((d.source, normalise_code(d.code) if d.source == "coupon" else d.code, d.amount),)
    return tuple(
        sorted(
            (d.source, normalise_code(d.code) if d.source == "coupon" else d.code, d.amount)
            for d in line.discounts
        )
    )


_MEMOS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
"""Each promotion book's pricing memo (:func:`_verify`), kept while the book is the company's: a book
never changes (an approval or an edit makes a new one), so what it priced stays true."""
MEMO_SIZE = 50_000
_memo_lock = threading.Lock()


def _memo_of(book: Any) -> dict[tuple[Any, ...], Any]:
    with _memo_lock:
        memo = _MEMOS.get(book)
        if memo is None or len(memo) > MEMO_SIZE:
            memo = _MEMOS[book] = {}
        return memo


class _Server(NamedTuple):
    """A line as the server prices it: what :func:`_verify` compares and records."""

    offered: tuple[tuple[str, str, Decimal], ...]
    manual: Decimal
    discounts: tuple[AppliedDiscount, ...]
    records: list[dict[str, Any]] | None
    """Shared by the batch's alike lines (read-only); a line with an override builds its own."""


def _server(ctx: _Context, discounts: tuple[AppliedDiscount, ...], actor: str) -> _Server:
    # The records carry their JSON text (made once a memo entry, not once a batch: adapters.bulk).
    records = pricing.records(discounts, actor)
    return _Server(
        pricing.offered(discounts),
        sum((d.amount for d in discounts if d.source == "manual"), ZERO),
        discounts,
        JsonList(records) if records is not None else None,
    )


def _basket(
    ctx: _Context,
    sold_at: dt.datetime,
    lines: list[tuple[int, int, c.SaleLineIn]],
    group: str | None,
    granted: tuple[tuple[str, uuid.UUID], ...],
) -> Basket:
    """The basket the server prices for a sale's selling lines (keys: their positions in the sale)."""
    products = ctx.products
    return Basket(
        lines=tuple(
            BasketLine(
                key=str(n),
                product_id=line.product_id,
                category=products[line.product_id].category,
                quantity=line.quantity,
                unit_price=line.unit_price,
                manual_discount=line.discount,
            )
            for _, n, line in lines
        ),
        currency_decimals=ctx.decimals,
        channel="pos",
        local_time=sold_at.astimezone(ctx.zone).replace(tzinfo=None),
        store_id=ctx.store.id,
        customer_group=group,
        coupons=granted,
    )


def _verify(
    ctx: _Context, index: int, sale: c.SaleIn, selling: list[tuple[int, c.SaleLineIn]], actor: str
) -> tuple[list[list[dict[str, Any]] | None], list[tuple[int, Coupon, Decimal]]] | None:
    """Price the sale again with the one pricing function, at its local time and with the till's unit
    prices, and compare with the promotion and coupon discounts the till sent (decision 0052).

    Returns each selling line's discount records (the server's, the same as the till's, when they
    agree; the till's otherwise: the customer paid them, and the difference joins the batch's
    ``pricing_mismatch`` exception) and the coupons to redeem with what each took; None when no
    promotion can touch the sale and it sends none (nothing to do: the fast path).

    Pricing is memoised with the book (:func:`_memo_of`): by line when every promotion the sale can
    trigger prices lines on their own (:meth:`pricing.Prefilter.line_local`), else by basket; keyed
    on the set of promotions eligible at the sale's moment for its customer and coupons (the engine's
    only use of them), worked out once a minute when promotions change on whole minutes only. A line
    seen before under the same promotions, with the same discounts sent, costs one dictionary look-up
    (decision 0054): its key is built from the product id's integer and its decimals' text (a
    ``uuid.UUID`` hashes in Python, a Decimal parsed from the request hashes slowly the first time)."""
    prefilter, book = ctx.prefilter, ctx.book
    assert prefilter is not None and book is not None
    grants: list[tuple[int, Coupon]] = []
    if sale.coupons:
        for position, code in enumerate(sale.coupons):
            coupon = ctx.coupons.get(normalise_code(code))
            if coupon is not None:
                grants.append((position, coupon))
    reach = ctx.reach
    if not grants:
        # The fast path: no line that a promotion can touch (the book's index, per product of the
        # batch) and no discounts sent: nothing to check.
        for _, line in selling:
            if line.quantity <= 0:
                continue
            if line.discounts:
                break
            found = reach.get(line.product_id.int)
            if (found or _reach(ctx, line.product_id))[0]:
                break
        else:
            return None
    sold_at = sale.sold_at
    group = ctx.customers.get(sale.customer_id) if sale.customer_id is not None else None
    granted = tuple(sorted({(coupon.code, coupon.promotion_id) for _, coupon in grants})) if grants else ()
    # What time, customer group and coupons change is which promotions are eligible: the memo keys on
    # that set (worked out once per minute of the sale when promotions change on whole minutes), and
    # the batch keeps the memo found for each minute, group and coupons.
    # The minute as (day, hour, minute, offset): cheaper than a datetime's replace and hash (an aware
    # datetime hashes through its UTC offset); the same instant sent with another offset only finds
    # another key.
    if ctx.by_minute:
        when: tuple[Any, ...] = (
            sold_at.toordinal(),
            sold_at.hour,
            sold_at.minute,
            sold_at.tzinfo,
            group,
            granted,
        )
    else:
        when = (sold_at, group, granted)
    memo = ctx.eligible.get(when)
    if memo is None:
        local = sold_at.astimezone(ctx.zone).replace(tzinfo=None)
        probe = Basket((), ctx.decimals, "pos", local, ctx.store.id, group, granted)
        grant = {promotion_id: code for code, promotion_id in granted}
        eligible = frozenset(r.rank for r in book.rules if r.eligible(probe, grant))
        # The memo outlives the batch (it is the book's): per what a line's pricing depends on besides
        # the line, a dict of lines (or baskets) priced.
        base = (eligible, granted, ctx.decimals, actor)
        memo = ctx.priced_memo.get(base)
        if memo is None or len(memo) > MEMO_SIZE:
            memo = ctx.priced_memo[base] = {}
        ctx.eligible[when] = memo
    # Each selling line's memo entry: (touched, alone, agrees, server), the last two when alone.
    selling_lines: list[tuple[int, int, c.SaleLineIn, Any]] = []
    records: list[list[dict[str, Any]] | None] = [None] * len(selling)
    alone, disagree = True, False
    for k, (n, line) in enumerate(selling):
        quantity = line.quantity
        if quantity <= 0:
            continue
        applied = line.discounts
        # The discounts sent, flat: (source, code, amount as text) each; the length tells their number.
        if not applied:
            sent: tuple[Any, ...] = ()
        elif len(applied) == 1:
            d = applied[0]
            sent = (d.source, d.code, str(d.amount))
        elif len(applied) == 2:
            d, e = applied
            sent = (d.source, d.code, str(d.amount), e.source, e.code, str(e.amount))
        else:
            flat: list[Any] = []
            for d in applied:
                flat.extend((d.source, d.code, str(d.amount)))
            sent = tuple(flat)
        key = (line.product_id.int, str(quantity), str(line.unit_price), str(line.discount), sent)
        entry = memo.get(key)
        if entry is None:
            found = reach.get(line.product_id.int) or _reach(ctx, line.product_id)
            if found[1]:
                priced = book.price(_basket(ctx, sold_at, [(k, n, line)], group, granted))
                server = _server(ctx, priced.lines[0].discounts, actor)
                agrees = _till_offered(line) == server.offered and server.manual == line.discount
                entry = memo[key] = (found[0], True, agrees, server)
            else:
                entry = memo[key] = (found[0], False, False, None)
        selling_lines.append((k, n, line, entry))
        if not alone:
            continue
        if not entry[1]:
            alone = False
            continue
        # Line by line, the till's discounts in the key: an alike line that agreed agrees again, and
        # takes the server's records (shared, read-only) unless it has an override.
        if not entry[2]:
            disagree = True
        if line.override is not None:
            override = {"by": line.override.by, "reason": line.override.reason}
            records[k] = pricing.records(entry[3].discounts, actor, override)
        else:
            records[k] = entry[3].records
    if alone:
        if disagree:
            _compare(
                ctx, index, sale, selling_lines, [entry[3] for *_, entry in selling_lines], records, actor
            )
    else:
        key = tuple(
            (n, line.product_id, line.quantity, line.unit_price, line.discount)
            for _, n, line, _ in selling_lines
        )
        found = memo.get(key)
        if found is None:
            basket = _basket(ctx, sold_at, [(k, n, line) for k, n, line, _ in selling_lines], group, granted)
            by_key = {p.key: p for p in book.price(basket).lines}
            found = memo[key] = [
                _server(ctx, by_key[str(n)].discounts, actor) for _, n, _, _ in selling_lines
            ]
        for (k, _, line, _), server in zip(selling_lines, found, strict=True):
            if line.override is not None:
                override = {"by": line.override.by, "reason": line.override.reason}
                records[k] = pricing.records(server.discounts, actor, override)
            else:
                records[k] = server.records
        _compare(ctx, index, sale, selling_lines, found, records, actor)
    if not grants:
        return records, []
    taken: dict[str, Decimal] = {}
    for kept_records in records:
        for kept in kept_records or ():
            if kept["source"] == "coupon":
                taken[kept["code"]] = taken.get(kept["code"], ZERO) + Decimal(kept["amount"])
    return records, [(position, coupon, taken.get(coupon.code, ZERO)) for position, coupon in grants]


def _reach(ctx: _Context, product_id: uuid.UUID) -> tuple[bool, bool]:
    """Whether a promotion of the batch's book can touch the product, and whether all that can price
    lines on their own (:class:`pricing.Prefilter`); kept per batch by the id's integer (a
    ``uuid.UUID`` hashes in Python)."""
    prefilter = ctx.prefilter
    assert prefilter is not None
    category = ctx.products[product_id].category
    found = ctx.reach[product_id.int] = (
        prefilter.touches(product_id, category),
        prefilter.line_local(product_id, category),
    )
    return found


def _compare(
    ctx: _Context,
    index: int,
    sale: c.SaleIn,
    selling_lines: list[tuple[int, int, c.SaleLineIn, Any]],
    servers: Sequence[_Server],
    records: list[list[dict[str, Any]] | None],
    actor: str,
) -> None:
    """Compare each line's till discounts with the server's; when any differs, the sale keeps the
    till's records (the customer paid them) and joins the batch's ``pricing_mismatch`` exception."""
    differences = []
    for (_, n, line, _), server in zip(selling_lines, servers, strict=True):
        if (till := _till_offered(line)) != server.offered or server.manual != line.discount:
            differences.append(
                {
                    "line": n,
                    "product_id": str(line.product_id),
                    "till": [{"source": s, "code": code, "amount": str(a)} for s, code, a in till],
                    "server": [
                        {"source": s, "code": code, "amount": str(a)} for s, code, a in server.offered
                    ],
                }
            )
    if not differences:
        return
    for _, n, line, _ in selling_lines:
        for position, applied in enumerate(line.discounts):
            if round_to_currency(applied.amount, ctx.currency) != applied.amount:
                raise _refuse(
                    index, f"lines.{n}.discounts.{position}.amount", "more decimals than the currency"
                )
    till_total = sum((a for _, _, line, _ in selling_lines for _, _, a in _till_offered(line)), ZERO)
    server_total = sum((a for server in servers for _, _, a in server.offered), ZERO)
    for k, _, line, _ in selling_lines:
        records[k] = _till_records(ctx, line, actor)
    ctx.mismatches.append(
        {
            "client_uuid": str(sale.client_uuid),
            "sold_at": sale.sold_at.isoformat(),
            "till_discount": str(till_total),
            "server_discount": str(server_total),
            "difference": str(abs(server_total - till_total)),
            "lines": differences,
        }
    )


def _price_refund(
    ctx: _Context, index: int, sale: c.SaleIn, principal: Principal
) -> pos_refunds.PricedRefund:
    booked_on, _ = _booking_day(ctx, index, sale.sold_at)

    def tax_alone(item: _Item, gross: Decimal, quantity: Decimal) -> _Taxed:
        return _tax(ctx, [item], [gross], [quantity])[0]

    return pos_refunds.price_refund(
        ctx, index, sale, principal, booked_on, tax_alone, exchange=pos_refunds.is_exchange(sale)
    )


def _redeem(session: Session, ctx: CommandContext, loaded: _Context) -> None:
    """Take the batch's gift card, store credit and loyalty payments off their balances (only sales paying
    that way do this work). A payment its card or customer cannot cover refuses the whole batch like any
    other refused sale: ``422 invalid-reference`` (no such card), ``409 gift-card-expired``, ``409
    insufficient-balance``, naming ``sales.{i}.payments.{n}``; nothing of the batch is written. The
    liability moves at the session's close, with the other tenders."""
    company_id, currency = loaded.company.id, loaded.currency
    for index, n, sale, kind, reference, amount in loaded.redemptions:
        at = f"sales.{index}.payments.{n}"
        on = sale.sold_at.astimezone(loaded.zone).date()
        with pos_refunds.refusing_sale(index):
            if kind == "gift_card":
                card = pay.gift_card_for_tender(
                    session, company_id, reference, currency, field=f"{at}.reference", on=on
                )
                pay.redeem_gift_card(
                    session,
                    ctx,
                    company_id=company_id,
                    card_id=card.id,
                    amount=amount,
                    currency=currency,
                    reference=sale.number,
                    on=on,
                    field=f"{at}.amount",
                    store_id=sale.store_id,
                )
            elif kind == "loyalty":
                loyalty.burn(
                    session,
                    ctx,
                    company_id=company_id,
                    customer_id=reference,
                    amount=amount,
                    currency=currency,
                    reference=sale.number,
                    field=f"{at}.amount",
                )
            else:
                pay.spend_store_credit(
                    session,
                    ctx,
                    company_id=company_id,
                    customer_id=reference,
                    amount=amount,
                    currency=currency,
                    reference=sale.number,
                    field=f"{at}.amount",
                )


def _move_goods(
    session: Session,
    ctx: CommandContext,
    loaded: _Context,
    target: PosSession,
    sales: Sequence[CarryOutSale],
    refunds: Sequence[pos_refunds.PricedRefund] = (),
) -> None:
    """Take the batch's goods out of the store's stock, and bring its refunds' goods back: one stock
    operation per booking day, with one move per product sold (the sum of its lines), valued at sale
    time, and the refunds' ``customer_return`` moves (:func:`pos_refunds.goods_back`). Each line gets
    its share of its product's move value, in proportion to its quantity and rounded cumulatively, so
    the lines' costs add up to the moves exactly. The operations' ``PosGoodsIssued`` events (or
    ``PosGoodsReturned``, a day of refunds only) are not posted one by one: the COGS joins the
    session's totals and its closing entry. One operation, not two, also publishes availability once."""
    currency = loaded.company.currency
    by_date: dict[Any, list[CarryOutSale]] = defaultdict(list)
    for sale in sales:
        by_date[sale.booked_on].append(sale)
    refunds_by_date: dict[Any, list[pos_refunds.PricedRefund]] = defaultdict(list)
    for refund in refunds:
        refunds_by_date[refund.booked_on].append(refund)
    for date in sorted(by_date.keys() | refunds_by_date.keys()):
        by_product: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for sale in by_date.get(date, ()):
            for line in sale.lines:
                by_product[line["product_id"]].append(line)
        products = sorted(by_product)
        quantities = [sum((line["quantity"] for line in by_product[p]), ZERO) for p in products]
        # Goods back first: a product's lines keep their order, so a refund fills the shelf before
        # the same product's sales of the batch take from it (no negative stock in between).
        back, take_back = pos_refunds.goods_back(loaded, refunds_by_date.get(date, ()))
        if not products and not back:
            continue  # tickets that only sold gift cards: no goods
        moved = move_stock(
            session,
            ctx,
            loaded.company,
            kind="delivery" if products else "customer_return",
            lines=back
            + [
                MoveLine(product, quantity, loaded.stock.id, loaded.customer.id)
                for product, quantity in zip(products, quantities, strict=True)
            ],
            date=date,
            reference=f"POS {loaded.terminal.code}/{target.number}",
            details={"channel": "pos", "pos_session_id": str(target.id)},
            event_type="PosGoodsIssued" if products else "PosGoodsReturned",
            aggregate=("PosSession", target.id),
        )
        take_back(moved.values[: len(back)])
        for product, total, value in zip(products, quantities, moved.values[len(back) :], strict=True):
            done, taken = ZERO, ZERO
            for line in by_product[product]:
                done += line["quantity"]
                upto = round_to_currency(value * done / total, currency) if done != total else value
                line["cost"], taken = upto - taken, upto


class Ingested(NamedTuple):
    """What :func:`ingest` did with a batch: its result, and the indexes of the sales it took (the
    others were duplicates), so that a batch joined from several requests can answer each its own."""

    result: c.BatchResult
    taken: frozenset[int]


def ingest_batch(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, batch: Sequence[c.SaleIn]
) -> c.BatchResult:
    """Take a terminal's batch of offline sales: new ones are recorded, replays are counted and skipped."""
    return ingest(session, ctx, session_id, batch).result


def ingest(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, batch: Sequence[c.SaleIn]
) -> Ingested:
    """:func:`ingest_batch`, saying which of the batch's sales were taken."""
    named = get_session(session, ctx.principal, session_id, lock=True)
    known = known_client_uuids(session, named.company_id, (sale.client_uuid for sale in batch))
    refund_uuids = [sale.client_uuid for sale in batch if pos_refunds.is_refund(sale)]
    if refund_uuids:  # a refund's return is numbered by its client uuid: only refunds are looked up
        known |= pos_refunds.known_refunds(session, named.company_id, refund_uuids)
    fresh: list[tuple[int, c.SaleIn]] = []
    duplicates = 0
    for index, sale in enumerate(batch):
        if sale.client_uuid in known:
            duplicates += 1
            continue
        known.add(sale.client_uuid)
        fresh.append((index, sale))
    if not fresh:
        return Ingested(
            c.BatchResult(session_id=named.id, accepted=0, duplicates=duplicates, rescued=0), frozenset()
        )
    target = named
    if named.state != "open":
        rescue = _rescue_session(session, ctx, named.terminal_id)
        target = get_session(session, ctx.principal, rescue.id, lock=True)

    loaded = _Context(session, target, [sale for _, sale in fresh], _now(ctx), ctx.principal)
    # All or nothing. Refunds (and the refund lines of exchanges) first: claimed on the returns counter,
    # which prices them at their original lines' shares, before an exchange's sale part is priced
    # against that value. A refusal afterwards rolls the claim back with the rest of the batch.
    refunding = {
        index: _price_refund(loaded, index, sale, ctx.principal)
        for index, sale in fresh
        if pos_refunds.is_refund(sale)
    }
    if refunding:
        pos_refunds.claim(
            session, loaded.company.id, loaded.currency, list(refunding.values()), loaded.cash_rounding
        )
    next_order = iter(
        new_ids(sum(1 for index, _ in fresh if index not in refunding or refunding[index].exchange))
    )
    priced: list[tuple[CarryOutSale | None, pos_refunds.PricedRefund | None]] = []
    for index, sale in fresh:
        refund = refunding.get(index)
        if refund is not None and not refund.exchange:
            priced.append((None, refund))
            continue
        selling = _price_sale(
            loaded,
            index,
            sale,
            next(next_order),
            credit=refund.gross if refund is not None else None,
            actor=ctx.actor,
        )
        if refund is not None:
            pos_refunds.settle_exchange(loaded, refund, selling.gross)
        priced.append((selling, refund))
    sales = [sale for sale, _ in priced if sale is not None]
    refunds = [refund for _, refund in priced if refund is not None]
    prefix, counted = f"{loaded.terminal.code}-{target.number:04d}", target.sale_count
    for count, (sale, refund) in enumerate(priced, start=counted + 1):  # one number per ticket
        number = f"{prefix}-{count:05d}"
        if sale is not None:
            sale.number, sale.pos_session_id = number, target.id
        if refund is not None:
            refund.number = number
    target.sale_count = counted + len(priced)
    if loaded.redemptions:
        _redeem(session, ctx, loaded)
    sold_cards = _sell_gift_cards(session, ctx, loaded, sales)
    totals: Totals = {}
    if refunds:
        pos_refunds.place_goods(session, loaded, refunds)
    _move_goods(session, ctx, loaded, target, sales, refunds)
    if sales:
        record_carry_out(session, target.company_id, sales, ctx.actor)
    if loaded.coupon_uses:
        _redeem_coupons(session, ctx, loaded)
    # The products' own accounts (decision 0061), of the sales' lines and the refunds' in one query.
    own = revenue.accounts_of(
        session,
        [
            *(line for sale in sales for line in sale.lines),
            *(line for refund in refunds for line in refund.lines),
        ],
    )
    if refunds:
        pos_refunds.take_refunds(session, ctx, loaded, target, refunds, totals, _total, own)
    pos_receivables.take_with_invoices(session, target.company_id, target.id, sales)
    split = pos_receivables.split_methods(session, target.company_id, sales)
    for sale in sales:
        _sale_totals(totals, sale, split, own)
        if sale.invoiced:
            order = session.get(OrderRow, sale.order_id)
            assert order is not None
            issue_invoice(
                session,
                ctx,
                loaded.company,
                order,
                lines=[{**line, "product_category": line["category"]} for line in sale.lines],
                date=sale.booked_on,
                posting="receivable",
                cogs=pos_receivables.invoice_cogs(sale, own.expense),
            )
    _apply_totals(session, target.id, totals)
    accepted = len(priced)
    rescued = accepted if target.id != named.id else 0
    ingested = record(
        session,
        ctx,
        type="PosSalesIngested",
        company_id=target.company_id,
        aggregate_type="PosSession",
        aggregate_id=target.id,
        payload={
            "session_id": target.id,
            "requested_session_id": named.id,
            "accepted": [str(sale.client_uuid) for sale in sales],
            "refunds": [str(refund.request.client_uuid) for refund in refunds],
            "exchanges": [str(refund.request.client_uuid) for refund in refunds if refund.exchange],
            "duplicates": duplicates,
            # Cash each refund paid out, by client uuid: the drawer's cash told per refund and cashier.
            **({"refund_cash": cash} if (cash := pos_refunds.cash_paid_out(refunds)) else {}),
            # Manual discounts beyond the cashier's limit, each with the manager who approved it and why.
            **({"discount_overrides": loaded.overrides} if loaded.overrides else {}),
        },
        store_id=target.store_id,
    )
    _report_rebooked(session, ctx, loaded, target, ingested)
    if loaded.mismatches or loaded.coupon_reuses:
        _report_pricing(session, ctx, loaded, target, ingested)
    session.flush()
    result = c.BatchResult(
        session_id=target.id, accepted=accepted, duplicates=duplicates, rescued=rescued, gift_cards=sold_cards
    )
    return Ingested(result, frozenset(index for index, _ in fresh))


def _sell_gift_cards(
    session: Session, ctx: CommandContext, loaded: _Context, sales: Sequence[CarryOutSale]
) -> list[c.SoldGiftCard]:
    """Issue the gift cards the batch's sales sold, after their own payments were taken (a card the
    ticket sells never pays for itself). Each is issued on the sale's booking day and referenced by its
    ticket number; the liability moves at the close (``gift_cards_sold``)."""
    sold: list[c.SoldGiftCard] = []
    for sale in sales:
        for card in sale.extra.get("gift_cards", ()):
            index = sale.extra["index"]
            with pos_refunds.refusing_sale(index):
                issued, code = pay.sell_gift_card_at_till(
                    session,
                    ctx,
                    loaded.company,
                    amount=card["amount"],
                    code=card["code"],
                    on=sale.booked_on or loaded.calendar.today,
                    store_id=loaded.store.id,
                    reference=sale.number,
                    field=f"sales.{index}.gift_cards.{card['position']}",
                )
            sold.append(
                c.SoldGiftCard(
                    client_uuid=sale.client_uuid,
                    position=card["position"],
                    card_id=issued.id,
                    last4=issued.last4,
                    amount=card["amount"],
                    expires_on=issued.expires_on,
                    code=None if card["code"] else code,
                )
            )
    return sold


MAX_LISTED_SALES = 100


def _redeem_coupons(session: Session, ctx: CommandContext, loaded: _Context) -> None:
    """Redeem the coupons the batch's sales presented, each once per sale, with what it took. A coupon
    the till should not have taken (used up elsewhere while it was offline, expired, deactivated) is
    not a reason to refuse a sale the customer has paid: the redemption is left out (its savepoint
    rolled back) and the batch's ``coupon_reuse`` exception names it."""
    for sale, position, coupon, amount in loaded.coupon_uses:
        try:
            with session.begin_nested():
                redeem_coupon(
                    session,
                    ctx,
                    coupon,
                    order_id=sale.order_id,
                    customer_id=sale.customer_id,
                    amount=amount,
                    at=sale.sold_at,
                    field=f"coupons.{position}",
                )
        except Conflict as refused:
            loaded.coupon_reuses.append(
                {
                    "client_uuid": str(sale.client_uuid),
                    "number": sale.number,
                    "order_id": str(sale.order_id),
                    "code": coupon.code,
                    "amount": str(amount),
                    "reason": refused.code,
                    "detail": refused.detail,
                }
            )


def _report_pricing(
    session: Session, ctx: CommandContext, loaded: _Context, target: PosSession, ingested: Event
) -> None:
    """One ``pricing_mismatch`` exception per batch whose till priced sales otherwise than the server
    (money at risk: the differences of their discounts), one ``coupon_reuse`` per batch that redeemed
    coupons it should not have (money at risk: what they took). Each names its sales (the first
    hundred); the sales themselves are kept as sold."""
    terminal = loaded.terminal
    common = {"session_id": str(target.id), "terminal_id": str(terminal.id), "terminal_code": terminal.code}
    if loaded.mismatches:
        at_risk = sum((Decimal(m["difference"]) for m in loaded.mismatches), ZERO)
        monitoring.record(  # no key: one exception per batch
            session,
            ctx,
            target.company_id,
            type="pricing_mismatch",
            store_id=target.store_id,
            message=f"{len(loaded.mismatches)} sale(s) from till {terminal.code} applied other promotion"
            f" discounts than the server computes (difference {at_risk}): check the till's promotions",
            amount_at_risk=at_risk,
            currency=loaded.currency,
            details={
                **common,
                "count": len(loaded.mismatches),
                "sales": loaded.mismatches[:MAX_LISTED_SALES],
            },
            event_id=ingested.id,
        )
    if loaded.coupon_reuses:
        at_risk = sum((Decimal(r["amount"]) for r in loaded.coupon_reuses), ZERO)
        monitoring.record(
            session,
            ctx,
            target.company_id,
            type="coupon_reuse",
            store_id=target.store_id,
            message=f"{len(loaded.coupon_reuses)} coupon(s) taken by till {terminal.code} could not be"
            f" redeemed ({', '.join(sorted({r['code'] for r in loaded.coupon_reuses}))}): sales kept",
            amount_at_risk=at_risk,
            currency=loaded.currency,
            details={
                **common,
                "count": len(loaded.coupon_reuses),
                "coupons": loaded.coupon_reuses[:MAX_LISTED_SALES],
            },
            event_id=ingested.id,
        )


def _report_rebooked(
    session: Session, ctx: CommandContext, loaded: _Context, target: PosSession, ingested: Event
) -> None:
    """One stock exception per batch and reason for the sales booked on another day than their own,
    naming them (the first hundred) with the day the till said and the day they were booked on."""
    calendar, terminal = loaded.calendar, loaded.terminal
    for reason, sales in loaded.rebooked.items():
        if not sales:
            continue
        booked_on = sorted({sale.booked_on for sale in sales})
        days = ", ".join(day.isoformat() for day in booked_on if day is not None)
        if reason == OUT_OF_WINDOW:
            message = (
                f"{len(sales)} sale(s) from till {terminal.code} dated outside"
                f" {calendar.earliest:%Y-%m-%d}..{calendar.latest:%Y-%m-%d} were booked on {days}:"
                " check the till's clock"
            )
        else:
            message = (
                f"{len(sales)} sale(s) from till {terminal.code} dated on or before the lock date"
                f" {calendar.lock_date} were booked on {days}"
            )
        monitoring.record(  # no key: one exception per batch and reason
            session,
            ctx,
            target.company_id,
            type=reason,
            store_id=target.store_id,
            message=message,
            currency=loaded.currency,
            details={
                "session_id": str(target.id),
                "terminal_id": str(terminal.id),
                "terminal_code": terminal.code,
                "count": len(sales),
                "window": {
                    "from": calendar.earliest.isoformat(),
                    "to": calendar.latest.isoformat(),
                },
                "lock_date": calendar.lock_date.isoformat() if calendar.lock_date else None,
                "sales": [
                    {
                        "client_uuid": str(sale.client_uuid),
                        "sold_at": sale.sold_at.isoformat(),
                        "booked_on": sale.booked_on.isoformat() if sale.booked_on else None,
                    }
                    for sale in sales[:MAX_LISTED_SALES]
                ],
            },
            event_id=ingested.id,
        )


# -- cash and close -------------------------------------------------------------------------------


def _now(ctx: CommandContext) -> Any:
    """When the command happens: the context's time when it replays the past (imports, simulation)."""
    return ctx.occurred_at or utcnow()


def _local_date(session: Session, store_id: uuid.UUID, ctx: CommandContext) -> Any:
    store = session.get(Store, store_id)
    return _now(ctx).astimezone(ZoneInfo(store.timezone if store and store.timezone else "UTC")).date()


def cash_movement(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, request: c.CashMovementIn
) -> PosCashMovement:
    """Cash put into (``in``) or taken out of (``out``) the drawer during the session; posted at once
    between the drawer and the safe (``cash_in_transit``)."""
    pos_session = get_session(session, ctx.principal, session_id, lock=True)
    if pos_session.state != "open":
        raise Conflict("the POS session is closed", code="session-closed")
    company = session.get(Company, pos_session.company_id)
    assert company is not None
    if round_to_currency(request.amount, till_currency.of_session(pos_session, company)) != request.amount:
        raise ValidationFailed(
            "more decimals than the currency", problems=[FieldProblem("amount", "decimals")]
        )
    movement = PosCashMovement(
        company_id=pos_session.company_id,
        session_id=pos_session.id,
        direction=request.direction,
        amount=request.amount,
        reason=request.reason,
        created_at=_now(ctx),
        created_by=ctx.actor,
    )
    session.add(movement)
    session.flush()
    record(
        session,
        ctx,
        type="PosCashMoved",
        company_id=pos_session.company_id,
        aggregate_type="PosSession",
        aggregate_id=pos_session.id,
        payload={
            "date": _local_date(session, pos_session.store_id, ctx),
            "reference": f"POS cash {request.direction} {request.reason}"[:200],
            "store_id": pos_session.store_id,
            "channel": "pos",
            "direction": request.direction,
            "amount": request.amount,
            "cash_in": request.amount if request.direction == "in" else None,
            "cash_out": request.amount if request.direction == "out" else None,
            "reason": request.reason,
            **till_currency.booked(pos_session),
        },
        store_id=pos_session.store_id,
    )
    return movement


def expected_cash(session: Session, pos_session: PosSession, rows: Sequence[PosSessionTotal]) -> Decimal:
    """Float + cash tenders (already net of change) - cash refunds paid out + cash in - cash out."""
    cash_tenders = sum((r.amount for r in rows if r.kind == "tender" and r.key.split("|")[0] == "cash"), ZERO)
    cash_tenders -= sum(
        (r.amount for r in rows if r.kind == "tender" and r.key.split("|")[0] == f"{pos_refunds.PREFIX}cash"),
        ZERO,
    )
    moved = ZERO
    for direction, amount in session.execute(
        select(PosCashMovement.direction, func.sum(PosCashMovement.amount))
        .where(PosCashMovement.session_id == pos_session.id)
        .group_by(PosCashMovement.direction)
    ):
        moved += amount if direction == "in" else -amount
    return pos_session.opening_float + cash_tenders + moved


def _differences(
    counted: dict[str, Decimal],
    methods: dict[str, PaymentMethod],
    rows: Sequence[PosSessionTotal],
    expected: Decimal,
) -> dict[str, Decimal]:
    """Counted minus expected per tender key (``kind|gateway``) that was counted: cash against the
    expected drawer, cards and the rest against their running totals."""
    tender_totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for r in rows:
        if r.kind == "tender":
            paid_out = r.key.startswith(pos_refunds.PREFIX)
            tender_totals[r.key.removeprefix(pos_refunds.PREFIX)] += -r.amount if paid_out else r.amount
    counted_by_key: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for code, amount in counted.items():
        method = methods[code]
        counted_by_key[f"{method.kind}|{method.gateway or ''}"] += amount
    return {
        key: amount - (expected if key.startswith("cash|") else tender_totals.get(key, ZERO))
        for key, amount in sorted(counted_by_key.items())
    }


def close_session(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, counted: dict[str, Decimal]
) -> PosSession:
    """Check the drawer against the running totals and record the one event the ledger posts."""
    pos_session = get_session(session, ctx.principal, session_id, lock=True)
    if pos_session.state != "open":
        raise Conflict("the POS session is already closed", code="session-closed")
    if not ctx.principal.can("pos:approve") and pos_session.opened_by != ctx.actor:
        raise PermissionDenied(
            f"session {pos_session.number} was opened by {pos_session.opened_by}: a cashier closes their own"
            " sessions, a store manager any"
        )
    company = session.get(Company, pos_session.company_id)
    terminal = session.get(PosTerminal, pos_session.terminal_id)
    assert company is not None and terminal is not None
    methods = {
        m.code: m
        for m in session.scalars(select(PaymentMethod).where(PaymentMethod.company_id == company.id))
    }
    currency = till_currency.of_session(pos_session, company)
    for code, amount in counted.items():
        if code not in methods:
            raise InvalidReference(
                f"no payment method {code}",
                problems=[FieldProblem(f"counted.{code}", "no such payment method")],
            )
        if round_to_currency(amount, currency) != amount:
            raise ValidationFailed(
                "more decimals than the currency", problems=[FieldProblem(f"counted.{code}", "")]
            )
    rows = running_totals(session, pos_session.id)
    expected = expected_cash(session, pos_session, rows)
    counted_cash = sum((amount for code, amount in counted.items() if methods[code].kind == "cash"), ZERO)
    difference = counted_cash - expected
    threshold = company.pos_approval_threshold
    if abs(difference) > threshold and not ctx.principal.can("pos:approve"):
        raise Conflict(
            f"the cash difference {difference} is above {threshold}: a store manager must close",
            code="needs-approval",
            problems=[FieldProblem("counted", f"cash differs by {difference} from the expected {expected}")],
        )
    differences = _differences(counted, methods, rows, expected)
    date = _local_date(session, pos_session.store_id, ctx)
    refunded = [r for r in rows if r.key.startswith(pos_refunds.PREFIX)]
    rows = [r for r in rows if not r.key.startswith(pos_refunds.PREFIX)]
    # Revenue per (category, income account): a product's own account names itself (decision 0061).
    sales = [
        revenue.item(r.key, "sales_revenue", net=r.net, tax=ZERO)
        for r in rows
        if r.kind == "category" and r.net
    ] + [
        {"tax_code": r.key, "net": ZERO, "tax": r.tax, "tax_base": r.tax_base}
        for r in rows
        if r.kind == "tax" and r.tax
    ]
    tenders = []
    for r in rows:
        if r.kind == "tender" and r.amount:
            kind, _, gateway = r.key.partition("|")
            tenders.append({"kind": kind, "gateway": gateway or None, "amount": r.amount})
    # COGS per (category, stock role, expense account): a product's own account names itself.
    cogs = [revenue.cogs_item(r.key, r.amount) for r in rows if r.kind == "cogs" and r.amount]
    contra = (
        discounts.contra_lines(
            ((revenue.split(r.key)[0], r.amount) for r in rows if r.kind == "category"), currency
        )
        if discounts.posting_mode(session, company.id) == "contra"
        else []
    )
    customer_payments, unsplit = pos_receivables.customer_payments(session, company.id, date, rows)
    invoice_payments = sum((r.amount for r in rows if r.kind == "receivable" and not r.key), unsplit)
    rounding = sum((r.amount for r in rows if r.kind == "rounding"), ZERO)
    gift_cards_sold = sum((r.amount for r in rows if r.kind == "gift_cards"), ZERO)
    pos_session.state = "closed"
    pos_session.closed_at = _now(ctx)
    pos_session.closed_by = ctx.actor
    pos_session.counted = {code: str(amount) for code, amount in counted.items()}
    pos_session.differences = {
        key: str(round_to_currency(amount, currency)) for key, amount in differences.items()
    }
    pos_session.expected_cash = expected
    pos_session.cash_difference = difference
    payload: dict[str, Any] = {
        "date": date,
        "reference": f"POS {terminal.code}/{pos_session.number}",
        "store_id": pos_session.store_id,
        "channel": "pos",
        "session_id": pos_session.id,
        "sales": sales,
        **({"discounts": contra} if contra else {}),
        "tenders": tenders,
        # A foreign-currency session's cost of sales is in the company's currency: posted apart, below.
        "cogs": [] if pos_session.currency else cogs,
        "invoice_payments": invoice_payments or None,
        **({"customer_payments": customer_payments} if customer_payments else {}),
        "gift_cards_sold": gift_cards_sold or None,
        # The tickets' cash rounding: positive when the tenders took more than the goods (a gain,
        # credited to the rounding account), negative when less (debited).
        "cash_rounding": rounding or None,
        "expected_cash": expected,
        "cash_handed_over": counted_cash or None,
        "counted": pos_session.counted,
        "differences": pos_session.differences,
        **till_currency.booked(pos_session),
    }
    if difference > 0:
        payload["cash_over"] = difference
    elif difference < 0:
        payload["cash_short"] = -difference
    event = record(
        session,
        ctx,
        type="PosSessionClosed",
        company_id=company.id,
        aggregate_type="PosSession",
        aggregate_id=pos_session.id,
        payload=payload,
        store_id=pos_session.store_id,
    )
    pos_session.closing_event_id = event.id
    if pos_session.currency and cogs:
        record(
            session,
            ctx,
            type="PosSessionCostOfSales",
            company_id=company.id,
            aggregate_type="PosSession",
            aggregate_id=pos_session.id,
            payload={
                "date": date,
                "reference": f"POS {terminal.code}/{pos_session.number} cost of sales",
                "store_id": pos_session.store_id,
                "channel": "pos",
                "session_id": pos_session.id,
                "cogs": cogs,
            },
            store_id=pos_session.store_id,
        )
    if any(r.amount or r.net or r.tax for r in refunded):
        _close_refunds(session, ctx, company, pos_session, terminal, date, refunded)
    session.flush()
    return pos_session


def _close_refunds(
    session: Session,
    ctx: CommandContext,
    company: Company,
    pos_session: PosSession,
    terminal: PosTerminal,
    date: Any,
    rows: Sequence[PosSessionTotal],
) -> None:
    """The session's refunds posted as one ``ReturnRefunded`` entry (rule ``return-refunded``):
    sales_returns per category and output_tax per code debited at the original prices, the tenders
    paid out credited (cash out of the drawer)."""
    prefix = pos_refunds.PREFIX
    lines = [
        revenue.item(r.key.removeprefix(prefix), "sales_returns", net=r.net, tax=ZERO)
        for r in rows
        if r.kind == "category" and r.net
    ] + [
        {"tax_code": r.key.removeprefix(prefix), "net": ZERO, "tax": r.tax, "tax_base": r.tax_base}
        for r in rows
        if r.kind == "tax" and r.tax
    ]
    rounding = sum((r.amount for r in rows if r.kind == "rounding"), ZERO)
    paid_out = []
    for r in rows:
        if r.kind == "tender" and r.amount:
            kind, _, gateway = r.key.removeprefix(prefix).partition("|")
            paid_out.append({"kind": kind, "gateway": gateway or None, "amount": r.amount})
    record(
        session,
        ctx,
        type="ReturnRefunded",
        company_id=company.id,
        aggregate_type="PosSession",
        aggregate_id=pos_session.id,
        payload={
            "date": date,
            "reference": f"POS {terminal.code}/{pos_session.number} refunds",
            "store_id": pos_session.store_id,
            "channel": "pos",
            "session_id": pos_session.id,
            "lines": lines,
            "refunds": paid_out,
            # Cash refunds paid out rounded: positive when less went out than the goods were worth.
            **({"cash_rounding": rounding} if rounding else {}),
            **till_currency.booked(pos_session),
        },
        store_id=pos_session.store_id,
    )


def awaiting_posting(session: Session, company_id: uuid.UUID, as_of: Any) -> dict[str, Decimal]:
    """COGS of POS sales made on or before ``as_of`` in sessions whose closing entry is not posted by
    then: the stock has left, the ledger takes it at the close (for the stock-ledger check)."""
    closing_date = (
        select(JournalEntry.date)
        .where(JournalEntry.event_id == PosSession.closing_event_id)
        .scalar_subquery()
    )
    unposted = (
        StockMove.company_id == company_id,
        StockMove.date <= as_of,
        or_(PosSession.closing_event_id.is_(None), closing_date.is_(None), closing_date > as_of),
    )
    # A batch's refunds move with its sales since 2026-12 (one operation, event PosGoodsIssued), and
    # alone, or before that, in their own (PosGoodsReturned): the moves' kinds tell them apart.
    operations = (
        select(StockMove)
        .join(Event, Event.id == StockMove.event_id)
        .join(PosSession, PosSession.id == Event.aggregate_id)
        .where(Event.type.in_(("PosGoodsIssued", "PosGoodsReturned")), *unposted)
    )
    value = session.scalar(
        operations.with_only_columns(func.sum(StockMove.value)).where(StockMove.kind == "delivery")
    )
    # Invoices that posted their sale's COGS themselves (decision 0060) took that part already.
    unposted_sessions = select(PosSession.id).where(
        PosSession.company_id == company_id,
        or_(PosSession.closing_event_id.is_(None), closing_date.is_(None), closing_date > as_of),
    )
    value = (value or ZERO) - pos_receivables.posted_with_invoices(
        session, company_id, as_of, unposted_sessions
    )
    awaiting = {STOCK_ROLE["stock"]: value} if value else {}
    # Refunded goods back in stock, their COGS reversal awaiting the same close (by where they went).
    returned = (
        operations.with_only_columns(Location.kind, func.sum(StockMove.value))
        .join(Location, Location.id == StockMove.to_location_id)
        .where(StockMove.kind == "customer_return")
        .group_by(Location.kind)
    )
    for kind, back in session.execute(returned):
        role = STOCK_ROLE.get(kind, STOCK_ROLE["stock"])
        awaiting[role] = awaiting.get(role, ZERO) - back
    return {role: amount for role, amount in awaiting.items() if amount}


def session_view(session: Session, pos_session: PosSession) -> c.SessionView:
    """The session with its running totals; an open session's ``expected_cash`` is the drawer as the
    totals and cash movements have it so far (a closed one's is what the close found)."""
    view = c.SessionView.model_validate(pos_session)
    rows = running_totals(session, pos_session.id)
    view.totals = [c.TotalView.model_validate(r) for r in rows]
    if pos_session.state == "open":
        view.expected_cash = expected_cash(session, pos_session, rows)
    return view


# -- the back office's reads -----------------------------------------------------------------------


def recent_sessions(
    session: Session, principal: Principal, company: Company, *, state: str | None = None, limit: int = 100
) -> list[c.SessionView]:
    """The company's sessions, newest first (a store's user: its store's only)."""
    query = select(PosSession).where(PosSession.company_id == company.id)
    if principal.store_id is not None:
        query = query.where(PosSession.store_id == principal.store_id)
    if state is not None:
        query = query.where(PosSession.state == state)
    rows = session.scalars(query.order_by(PosSession.opened_at.desc(), PosSession.id.desc()).limit(limit))
    return [session_view(session, row) for row in rows]


def store_codes(session: Session, company: Company) -> dict[uuid.UUID, str]:
    return {
        store.id: store.code for store in session.scalars(select(Store).where(Store.company_id == company.id))
    }


def closing_methods(session: Session, company: Company) -> list[PaymentMethod]:
    """The payment methods a close may count, cash first."""
    methods = session.scalars(select(PaymentMethod).where(PaymentMethod.company_id == company.id))
    return sorted(methods, key=lambda m: (m.kind != "cash", m.code))
