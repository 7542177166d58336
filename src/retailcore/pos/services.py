"""POS sessions: open with a float, ingest offline sales in batches, move cash, close as a check.

* A sale is identified by the terminal's ``client_uuid`` (unique per company): a sale already ingested
  is a duplicate and changes nothing, so a terminal may resend a batch as often as it likes.
* A batch is atomic: a sale that cannot be accepted (unknown product, payments short of the gross...)
  refuses the whole batch, naming the sale's index; nothing of the batch is written.
* Each accepted sale is taxed by the pricing tax engine, its goods leave the store's STOCK location by
  :func:`~retailcore.inventory.services.move_stock` (which posts COGS per sale as ``GoodsIssued``) and
  its amounts are added to the session's running totals in the same transaction.
* Closing reads only the running totals: it compares counted cash with the expected cash and records
  one ``PosSessionClosed`` event the ledger posts as one aggregated POS entry.
* Sales for a closed session go to the terminal's rescue session (opened on demand), never lost.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.currencies import minor_unit
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Company, Location, PaymentMethod, Product, Store
from retailcore.pos import commands as c
from retailcore.pos.tables import PosCashMovement, PosSale, PosSession, PosSessionTotal, PosTerminal
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, compute_taxes, load_tax_rules

APPROVAL_THRESHOLD = Decimal("20.00")
"""A cash difference above this (in absolute value) needs ``pos:approve`` to close the session."""

ZERO = Decimal(0)
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


def _round(value: Decimal, currency: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_UP)


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
    session.add(terminal)
    session.flush()
    record(
        session,
        ctx,
        type="PosTerminalCreated",
        company_id=company.id,
        aggregate_type="PosTerminal",
        aggregate_id=terminal.id,
        payload={"code": terminal.code, "name": terminal.name, "store_id": store.id},
        store_id=store.id,
    )
    return terminal


def _new_session(
    session: Session, ctx: CommandContext, terminal: PosTerminal, opening_float: Decimal, rescue: bool
) -> PosSession:
    number = session.scalar(
        select(func.coalesce(func.max(PosSession.number), 0)).where(PosSession.terminal_id == terminal.id)
    )
    pos_session = PosSession(
        company_id=terminal.company_id,
        store_id=terminal.store_id,
        terminal_id=terminal.id,
        number=number + 1,
        state="open",
        is_rescue=rescue,
        opening_float=opening_float,
        opened_at=utcnow(),
        opened_by=ctx.actor,
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
            "terminal_id": terminal.id,
            "number": pos_session.number,
            "opening_float": opening_float,
            "is_rescue": rescue,
        },
        store_id=terminal.store_id,
    )
    return pos_session


def open_session(
    session: Session, ctx: CommandContext, terminal_id: uuid.UUID, opening_float: Decimal
) -> PosSession:
    """Open the terminal's session; a terminal has at most one open (non-rescue) session."""
    terminal = _terminal(session, ctx.principal, terminal_id, lock=True)
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
    if _round(opening_float, company.currency) != opening_float:
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


def _add(totals: Totals, kind: str, key: str, **amounts: Decimal) -> None:
    row = totals.setdefault((kind, key), dict.fromkeys(AMOUNTS, ZERO))
    for name, value in amounts.items():
        row[name] += value


def _apply_totals(session: Session, session_id: uuid.UUID, totals: Totals) -> None:
    """Add deltas to the running totals, set-based: ``SET x = x + :delta``, inserting missing rows.

    The caller holds the session row's lock, so no other transaction inserts the same key meanwhile.
    """
    T = PosSessionTotal
    for (kind, key), delta in sorted(totals.items()):
        result = session.execute(
            update(T)
            .where(T.session_id == session_id, T.kind == kind, T.key == key)
            .values({name: getattr(T, name) + delta[name] for name in AMOUNTS})
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:
            session.execute(
                insert(T).values(id=uuid.uuid4(), session_id=session_id, kind=kind, key=key, **delta)
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


def _sale_totals(totals: Totals, lines: Sequence[dict[str, Any]], tenders: Sequence[dict[str, Any]]) -> None:
    for line in lines:
        _add(totals, "category", line["category"], net=Decimal(line["net"]), tax=Decimal(line["tax"]))
        _add(totals, "cogs", line["category"], amount=Decimal(line["cost"]))
        for tax in line["taxes"]:
            _add(totals, "tax", tax["code"], tax=Decimal(tax["amount"]), tax_base=Decimal(tax["base"]))
    for tender in tenders:
        _add(
            totals, "tender", f"{tender['kind']}|{tender['gateway'] or ''}", amount=Decimal(tender["amount"])
        )


def recompute_totals(session: Session, session_id: uuid.UUID) -> Totals:
    """The totals rebuilt from the session's sales. For tests and audits only: closing never calls it."""
    totals: Totals = {}
    for sale in session.scalars(select(PosSale).where(PosSale.session_id == session_id)):
        _sale_totals(totals, sale.lines, sale.tenders)
    return totals


def totals_as_dict(rows: Sequence[PosSessionTotal]) -> Totals:
    return {(r.kind, r.key): {name: getattr(r, name) for name in AMOUNTS} for r in rows}


# -- sales ----------------------------------------------------------------------------------------


class _Context:
    """What every sale of a batch needs, loaded once."""

    def __init__(self, session: Session, pos_session: PosSession, batch: Sequence[c.SaleIn]) -> None:
        company = session.get(Company, pos_session.company_id)
        store = session.get(Store, pos_session.store_id)
        assert company is not None and store is not None
        self.company, self.store = company, store
        self.zone = ZoneInfo(store.timezone or "UTC")
        self.rules = load_tax_rules(session, company.id, store.tax_jurisdiction or company.tax_jurisdiction)
        product_ids = {line.product_id for sale in batch for line in sale.lines}
        self.products = {
            p.id: p
            for p in session.scalars(
                select(Product).where(Product.company_id == company.id, Product.id.in_(product_ids))
            )
        }
        self.methods = {
            m.code: m
            for m in session.scalars(select(PaymentMethod).where(PaymentMethod.company_id == company.id))
        }
        self.stock = session.scalar(
            select(Location).where(
                Location.company_id == company.id, Location.store_id == store.id, Location.kind == "stock"
            )
        )
        self.customer = session.scalar(
            select(Location).where(Location.company_id == company.id, Location.kind == "customer")
        )
        if self.stock is None or self.customer is None:
            raise Conflict(f"store {store.code} has no stock location to sell from", code="no-stock-location")


def _refuse(index: int, field: str, message: str, code: str = "sale-refused") -> ValidationFailed:
    return ValidationFailed(
        f"sale {index} of the batch was refused: {message}; nothing of the batch was taken",
        code=code,
        problems=[FieldProblem(f"sales.{index}.{field}", message)],
    )


def _price_sale(
    ctx: _Context, index: int, sale: c.SaleIn
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict]:
    currency = ctx.company.currency
    taxable: list[TaxableLine] = []
    for n, line in enumerate(sale.lines):
        product = ctx.products.get(line.product_id)
        if product is None:
            raise _refuse(index, f"lines.{n}.product_id", "no such product")
        gross = _round(line.quantity * line.unit_price, currency) - line.discount
        if _round(line.discount, currency) != line.discount or gross < 0:
            raise _refuse(index, f"lines.{n}.discount", "the discount is invalid for this line")
        taxable.append(TaxableLine(key=str(n), amount=gross, tax_category=product.tax_category))
    try:
        document = compute_taxes(taxable, ctx.rules, currency)
    except NoTaxRule as exc:
        raise _refuse(index, "lines", str(exc), code="no-tax-rule") from None
    lines = []
    for n, (line, taxed) in enumerate(zip(sale.lines, document.lines, strict=True)):
        product = ctx.products[line.product_id]
        lines.append(
            {
                "product_id": str(product.id),
                "sku": product.sku,
                "category": product.category,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "discount": str(line.discount),
                "net": str(taxed.net),
                "tax": str(taxed.tax),
                "gross": str(taxed.gross),
                "taxes": [
                    {"code": t.code, "base": str(t.base), "amount": str(t.amount)} for t in taxed.taxes
                ],
                "cost": "0",
                "index": n,
            }
        )
    paid = cash = ZERO
    by_tender: dict[tuple[str, str, str | None], Decimal] = defaultdict(lambda: ZERO)
    for n, payment in enumerate(sale.payments):
        method = ctx.methods.get(payment.payment_method_code)
        if method is None or not method.active:
            raise _refuse(index, f"payments.{n}.payment_method_code", "no such active payment method")
        if _round(payment.amount, currency) != payment.amount:
            raise _refuse(index, f"payments.{n}.amount", "more decimals than the currency")
        paid += payment.amount
        if method.kind == "cash":
            cash += payment.amount
        by_tender[(method.code, method.kind, method.gateway)] += payment.amount
    gross = document.gross_total
    if paid < gross:
        raise _refuse(
            index, "payments", f"payments {paid} do not cover the gross {gross}", code="payment-short"
        )
    change = paid - gross
    if change > cash:
        raise _refuse(
            index, "payments", "only cash can be overpaid (change is given in cash)", code="overpaid"
        )
    tenders = []
    for (code, kind, gateway), amount in by_tender.items():
        if kind == "cash" and change:
            taken = min(change, amount)
            amount, change = amount - taken, change - taken
        if amount:
            tenders.append(
                {"payment_method_code": code, "kind": kind, "gateway": gateway, "amount": str(amount)}
            )
    money = {"net": document.net_total, "tax": document.tax_total, "gross": gross, "change": paid - gross}
    return lines, tenders, money


def ingest_batch(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, batch: Sequence[c.SaleIn]
) -> c.BatchResult:
    """Take a terminal's batch of offline sales: new ones are recorded, replays are counted and skipped."""
    named = get_session(session, ctx.principal, session_id, lock=True)
    uuids = [sale.client_uuid for sale in batch]
    known = set(
        session.scalars(
            select(PosSale.client_uuid).where(
                PosSale.company_id == named.company_id, PosSale.client_uuid.in_(uuids)
            )
        )
    )
    fresh: list[tuple[int, c.SaleIn]] = []
    duplicates = 0
    for index, sale in enumerate(batch):
        if sale.client_uuid in known:
            duplicates += 1
            continue
        known.add(sale.client_uuid)
        fresh.append((index, sale))
    if not fresh:
        return c.BatchResult(session_id=named.id, accepted=0, duplicates=duplicates, rescued=0)
    target = named
    if named.state != "open":
        rescue = _rescue_session(session, ctx, named.terminal_id)
        target = get_session(session, ctx.principal, rescue.id, lock=True)

    loaded = _Context(session, target, [sale for _, sale in fresh])
    priced = [(index, sale, *_price_sale(loaded, index, sale)) for index, sale in fresh]  # all or nothing
    totals: Totals = {}
    for _index, sale, lines, tenders, money in priced:
        sale_id = uuid.uuid4()
        reference = f"POS {sale.client_uuid}"
        moved = move_stock(
            session,
            ctx,
            loaded.company,
            kind="delivery",
            lines=[
                MoveLine(
                    uuid.UUID(line["product_id"]),
                    Decimal(line["quantity"]),
                    loaded.stock.id,
                    loaded.customer.id,
                )
                for line in lines
            ],
            date=sale.sold_at.astimezone(loaded.zone).date(),
            reference=reference,
            details={"channel": "pos", "pos_sale_id": str(sale_id), "pos_session_id": str(target.id)},
        )
        # move_stock sorts its lines by product: give each sale line the cost of its own move.
        costs: dict[str, list[Decimal]] = defaultdict(list)
        for move in moved.moves:
            costs[str(move.product_id)].append(move.value)
        for line in lines:
            line["cost"] = str(costs[line["product_id"]].pop(0))
        cogs = sum((Decimal(line["cost"]) for line in lines), ZERO)
        session.add(
            PosSale(
                id=sale_id,
                company_id=target.company_id,
                session_id=target.id,
                terminal_id=target.terminal_id,
                client_uuid=sale.client_uuid,
                sold_at=sale.sold_at,
                received_at=utcnow(),
                net=money["net"],
                tax=money["tax"],
                gross=money["gross"],
                change=money["change"],
                cogs=cogs,
                lines=lines,
                tenders=tenders,
                stock_event_id=moved.event.id,
            )
        )
        _sale_totals(totals, lines, tenders)
    session.flush()
    _apply_totals(session, target.id, totals)
    accepted = len(priced)
    rescued = accepted if target.id != named.id else 0
    record(
        session,
        ctx,
        type="PosSalesIngested",
        company_id=target.company_id,
        aggregate_type="PosSession",
        aggregate_id=target.id,
        payload={
            "session_id": target.id,
            "requested_session_id": named.id,
            "accepted": [str(sale.client_uuid) for _, sale, *_ in priced],
            "duplicates": duplicates,
        },
        store_id=target.store_id,
    )
    return c.BatchResult(session_id=target.id, accepted=accepted, duplicates=duplicates, rescued=rescued)


# -- cash and close -------------------------------------------------------------------------------


def cash_movement(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, request: c.CashMovementIn
) -> PosCashMovement:
    pos_session = get_session(session, ctx.principal, session_id, lock=True)
    if pos_session.state != "open":
        raise Conflict("the POS session is closed", code="session-closed")
    company = session.get(Company, pos_session.company_id)
    assert company is not None
    if _round(request.amount, company.currency) != request.amount:
        raise ValidationFailed(
            "more decimals than the currency", problems=[FieldProblem("amount", "decimals")]
        )
    movement = PosCashMovement(
        company_id=pos_session.company_id,
        session_id=pos_session.id,
        direction=request.direction,
        amount=request.amount,
        reason=request.reason,
        created_at=utcnow(),
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
        payload={"direction": request.direction, "amount": request.amount, "reason": request.reason},
        store_id=pos_session.store_id,
    )
    return movement


def expected_cash(session: Session, pos_session: PosSession, rows: Sequence[PosSessionTotal]) -> Decimal:
    """Float + cash tenders (already net of change) + cash in - cash out."""
    cash_tenders = sum((r.amount for r in rows if r.kind == "tender" and r.key.split("|")[0] == "cash"), ZERO)
    moved = ZERO
    for direction, amount in session.execute(
        select(PosCashMovement.direction, func.sum(PosCashMovement.amount))
        .where(PosCashMovement.session_id == pos_session.id)
        .group_by(PosCashMovement.direction)
    ):
        moved += amount if direction == "in" else -amount
    return pos_session.opening_float + cash_tenders + moved


def close_session(
    session: Session, ctx: CommandContext, session_id: uuid.UUID, counted: dict[str, Decimal]
) -> PosSession:
    """Check the drawer against the running totals and record the one event the ledger posts."""
    pos_session = get_session(session, ctx.principal, session_id, lock=True)
    if pos_session.state != "open":
        raise Conflict("the POS session is already closed", code="session-closed")
    company = session.get(Company, pos_session.company_id)
    terminal = session.get(PosTerminal, pos_session.terminal_id)
    assert company is not None and terminal is not None
    methods = {
        m.code: m
        for m in session.scalars(select(PaymentMethod).where(PaymentMethod.company_id == company.id))
    }
    for code, amount in counted.items():
        if code not in methods:
            raise InvalidReference(
                f"no payment method {code}",
                problems=[FieldProblem(f"counted.{code}", "no such payment method")],
            )
        if _round(amount, company.currency) != amount:
            raise ValidationFailed(
                "more decimals than the currency", problems=[FieldProblem(f"counted.{code}", "")]
            )
    rows = running_totals(session, pos_session.id)
    expected = expected_cash(session, pos_session, rows)
    counted_cash = sum((amount for code, amount in counted.items() if methods[code].kind == "cash"), ZERO)
    difference = counted_cash - expected
    if abs(difference) > APPROVAL_THRESHOLD and not ctx.principal.can("pos:approve"):
        raise Conflict(
            f"the cash difference {difference} is above {APPROVAL_THRESHOLD}: a store manager must close",
            code="needs-approval",
        )
    now = utcnow()
    store = session.get(Store, pos_session.store_id)
    date = now.astimezone(ZoneInfo(store.timezone if store and store.timezone else "UTC")).date()
    sales = [
        {"product_category": r.key, "net": r.net, "tax": ZERO} for r in rows if r.kind == "category" and r.net
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
    pos_session.state = "closed"
    pos_session.closed_at = now
    pos_session.closed_by = ctx.actor
    pos_session.counted = {code: str(amount) for code, amount in counted.items()}
    pos_session.expected_cash = expected
    pos_session.cash_difference = difference
    if sales or tenders or difference:
        payload: dict[str, Any] = {
            "date": date,
            "reference": f"POS {terminal.code}/{pos_session.number}",
            "store_id": pos_session.store_id,
            "channel": "pos",
            "session_id": pos_session.id,
            "sales": sales,
            "tenders": tenders,
            "expected_cash": expected,
            "counted": pos_session.counted,
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
    session.flush()
    return pos_session


def session_view(session: Session, pos_session: PosSession) -> c.SessionView:
    view = c.SessionView.model_validate(pos_session)
    view.totals = [c.TotalView.model_validate(r) for r in running_totals(session, pos_session.id)]
    return view
