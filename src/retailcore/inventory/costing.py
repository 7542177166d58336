"""Stock costing: what a product costs now, its FIFO layers, a standard-cost change that revalues the
stock on hand, the company's average-cost precision, and a product's own income and expense accounts
(decision 0061, docs/stock-valuation.md).

Moves stay in :mod:`retailcore.inventory.services` (``move_stock``): this module reads their cache
(``product_costs``, ``stock_quants``, ``valuation_layers``) and changes a value without moving goods the
one way the valuation report rebuilds it, a ``stock_value_adjustments`` row per location.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from retailcore.accounting.services import period_locked
from retailcore.accounting.tables import LedgerSettings
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import tables as i
from retailcore.inventory.costing_tables import PRECISIONS, CostingSettings, ProductAccounts
from retailcore.inventory.services import STOCK_ROLE, VALUED, average_precision, held, running_average
from retailcore.masterdata.tables import Account, Company, Location, Product

ZERO = Decimal(0)


def product_of(session: Session, company: Company, product_id: uuid.UUID) -> Product:
    product = session.get(Product, product_id)
    if product is None or product.company_id != company.id:
        raise NotFound(f"no product {product_id}")
    return product


# -- the company's setting -------------------------------------------------------------------------


def settings(session: Session, company: Company) -> dict[str, Any]:
    return {"company_id": company.id, "average_cost_precision": average_precision(session, company.id)}


def set_settings(
    session: Session, ctx: CommandContext, company: Company, *, average_cost_precision: str
) -> dict[str, Any]:
    """Set how average unit costs are kept from now on; moves already made keep their values."""
    if average_cost_precision not in PRECISIONS:
        raise ValidationFailed(
            f"average_cost_precision is one of {', '.join(PRECISIONS)}",
            problems=[FieldProblem("average_cost_precision", "unknown")],
        )
    row = session.get(CostingSettings, company.id)
    before = row.average_cost_precision if row is not None else "unrounded"
    if row is None:
        row = CostingSettings(company_id=company.id)
        session.add(row)
    row.average_cost_precision = average_cost_precision
    held(session).pop((CostingSettings, company.id), None)  # moves from now on read the new precision
    row.updated_at = utcnow()
    row.updated_by = ctx.actor
    session.flush()
    record(
        session,
        ctx,
        type="CostingSettingsChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"changes": {"average_cost_precision": [before, average_cost_precision]}},
    )
    return settings(session, company)


# -- reading costs and layers ----------------------------------------------------------------------


@dataclass(frozen=True)
class LocationCost:
    location_id: uuid.UUID
    location_code: str
    location_kind: str
    store_id: uuid.UUID | None
    quantity: Decimal
    value: Decimal


@dataclass(frozen=True)
class ProductCostView:
    product_id: uuid.UUID
    sku: str
    cost_method: str
    unit_cost: Decimal
    """What one more or one fewer unit is worth now: the standard cost, the running average (at the
    company's precision), or under FIFO the cost of the oldest open layer (the last cost without one)."""
    quantity: Decimal
    value: Decimal
    standard_cost: Decimal
    last_unit_cost: Decimal
    average_cost_precision: str
    income_account: str | None
    expense_account: str | None
    locations: list[LocationCost]


def product_cost(session: Session, company: Company, product_id: uuid.UUID) -> ProductCostView:
    product = product_of(session, company, product_id)
    cost = session.get(i.ProductCost, product.id)
    quantity = cost.quantity if cost is not None else ZERO
    value = cost.value if cost is not None else ZERO
    last = cost.last_unit_cost if cost is not None else ZERO
    precision = average_precision(session, company.id)
    if product.cost_method == "standard":
        unit = product.standard_cost
    elif product.cost_method == "average":
        unit = running_average(product, cost, company.currency, precision) if cost else product.standard_cost
    else:
        oldest = session.scalar(
            select(i.ValuationLayer.unit_cost)
            .where(
                i.ValuationLayer.company_id == company.id,
                i.ValuationLayer.product_id == product.id,
                i.ValuationLayer.remaining_quantity > ZERO,
            )
            .order_by(i.ValuationLayer.date, i.ValuationLayer.id)
            .limit(1)
        )
        unit = oldest if oldest is not None else (last or product.standard_cost)
    locations = [
        LocationCost(row.location_id, row.code, row.kind, row.store_id, row.quantity, row.value)
        for row in session.execute(
            select(
                i.StockQuant.location_id,
                Location.code,
                Location.kind,
                Location.store_id,
                i.StockQuant.quantity,
                i.StockQuant.value,
            )
            .join(Location, Location.id == i.StockQuant.location_id)
            .where(
                i.StockQuant.product_id == product.id,
                Location.kind.in_(VALUED),
                or_(i.StockQuant.quantity != ZERO, i.StockQuant.value != ZERO),
            )
            .order_by(Location.code)
        )
    ]
    income, expense = _account_codes(session, product.id)
    return ProductCostView(
        product_id=product.id,
        sku=product.sku,
        cost_method=product.cost_method,
        unit_cost=unit,
        quantity=quantity,
        value=value,
        standard_cost=product.standard_cost,
        last_unit_cost=last,
        average_cost_precision=precision,
        income_account=income,
        expense_account=expense,
        locations=locations,
    )


@dataclass(frozen=True)
class LayerView:
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    location_id: uuid.UUID
    """Where the layer's goods came in (the destination of the move that opened it)."""
    move_id: uuid.UUID
    date: dt.date
    quantity: Decimal
    remaining_quantity: Decimal
    unit_cost: Decimal
    remaining_value: Decimal


def layers_page(
    session: Session,
    company: Company,
    *,
    product_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    open_only: bool = False,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
    visible_store_id: uuid.UUID | None = None,
) -> tuple[list[LayerView], uuid.UUID | None]:
    """FIFO layers in the order they were opened (ids are time-ordered). A store-scoped caller
    (``visible_store_id``) sees the layers of goods received into its store's locations."""
    layer = i.ValuationLayer
    query = select(layer).where(layer.company_id == company.id)
    if visible_store_id is not None:
        query = query.where(
            layer.move_id.in_(
                select(i.StockMove.id)
                .join(Location, Location.id == i.StockMove.to_location_id)
                .where(Location.store_id == visible_store_id)
            )
        )
    if product_id is not None:
        query = query.where(layer.product_id == product_id)
    if open_only:
        query = query.where(layer.remaining_quantity > ZERO)
    if location_id is not None:
        query = query.where(
            layer.move_id.in_(select(i.StockMove.id).where(i.StockMove.to_location_id == location_id))
        )
    rows, last = keyset_page(session, query, layer.id, limit, cursor)
    moves = {
        row.id: row
        for row in session.execute(
            select(i.StockMove.id, i.StockMove.to_location_id).where(
                i.StockMove.id.in_([r.move_id for r in rows])
            )
        )
    }
    skus = dict(
        session.execute(
            select(Product.id, Product.sku).where(Product.id.in_({r.product_id for r in rows}))
        ).all()
    )
    items = [
        LayerView(
            id=r.id,
            product_id=r.product_id,
            sku=skus[r.product_id],
            location_id=moves[r.move_id].to_location_id,
            move_id=r.move_id,
            date=r.date,
            quantity=r.quantity,
            remaining_quantity=r.remaining_quantity,
            unit_cost=r.unit_cost,
            remaining_value=round_to_currency(r.remaining_quantity * r.unit_cost, company.currency),
        )
        for r in rows
    ]
    return items, last


# -- a standard-cost change --------------------------------------------------------------------------


@dataclass(frozen=True)
class Revaluation:
    product_id: uuid.UUID
    old_cost: Decimal
    new_cost: Decimal
    date: dt.date
    quantity: Decimal
    amount: Decimal
    """Signed: added to the stock's value (and debited to the stock accounts)."""
    event_id: uuid.UUID
    items: list[dict[str, Any]]


def change_standard_cost(
    session: Session,
    ctx: CommandContext,
    company: Company,
    product_id: uuid.UUID,
    *,
    new_cost: Decimal,
    date: dt.date,
    reason: str = "",
) -> Revaluation:
    """Set a standard-cost product's cost from ``date`` and revalue what is on hand at each valued
    location: the location's value becomes on hand x the new cost (rounded to the cent), the
    difference is a value adjustment there and, in the books, stock against ``price_variance``
    (``StandardCostChanged``). Moves already made keep their values; none may be dated after ``date``
    (the revaluation would value stock the report has not got yet)."""
    if new_cost < 0:
        raise ValidationFailed(
            "costs are not negative", problems=[FieldProblem("standard_cost", "must be >= 0")]
        )
    if new_cost != new_cost.quantize(Decimal("0.000001")):
        raise ValidationFailed(
            "unit costs have at most 6 decimals",
            problems=[FieldProblem("standard_cost", "more than 6 decimals")],
        )
    ledger = session.get(LedgerSettings, company.id)
    if ledger is not None and ledger.lock_date is not None and date <= ledger.lock_date:
        raise period_locked(date, ledger.lock_date)
    product = session.scalar(
        select(Product).where(Product.id == product_id, Product.company_id == company.id).with_for_update()
    )
    if product is None:
        raise NotFound(f"no product {product_id}")
    if product.cost_method != "standard":
        raise ValidationFailed(
            f"{product.sku} is valued at {product.cost_method} cost: its unit cost follows its receipts",
            problems=[FieldProblem("standard_cost", f"not a standard-cost product ({product.cost_method})")],
        )
    later = session.scalar(
        select(i.StockMove.date)
        .where(
            i.StockMove.company_id == company.id,
            i.StockMove.product_id == product.id,
            i.StockMove.date > date,
        )
        .limit(1)
    )
    if later is not None:
        raise ValidationFailed(
            f"{product.sku} has moves dated {later}, after {date}: date the change on or after its last move",
            problems=[FieldProblem("effective_date", "before the product's last move")],
        )
    cost = session.scalar(
        select(i.ProductCost)
        .where(i.ProductCost.product_id == product.id, i.ProductCost.company_id == company.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    quants = list(
        session.scalars(
            select(i.StockQuant)
            .join(Location, Location.id == i.StockQuant.location_id)
            .where(i.StockQuant.product_id == product.id, Location.kind.in_(VALUED))
            .order_by(i.StockQuant.location_id)
            .with_for_update(of=i.StockQuant)
            .execution_options(populate_existing=True)
        )
    )
    locations = {
        row.id: row for row in session.scalars(select(Location).where(Location.company_id == company.id))
    }
    old_cost = product.standard_cost
    event_id = new_id()
    items: list[dict[str, Any]] = []
    total = ZERO
    for quant in quants:
        if quant.quantity == 0:
            continue
        revalued = round_to_currency(quant.quantity * new_cost, company.currency)
        amount = revalued - quant.value
        if amount == 0:
            continue
        location = locations[quant.location_id]
        quant.value = revalued
        total += amount
        session.add(
            i.StockValueAdjustment(
                company_id=company.id,
                product_id=product.id,
                location_id=location.id,
                date=date,
                value=amount,
                event_id=event_id,
            )
        )
        items.append(
            {
                "product_id": product.id,
                "sku": product.sku,
                "product_category": product.category,
                "store_id": location.store_id,
                "location_id": location.id,
                "stock_role": STOCK_ROLE[location.kind],
                "quantity": quant.quantity,
                "amount": amount,
            }
        )
    if cost is not None:
        cost.value += total
    product.standard_cost = new_cost
    product.updated_at = utcnow()
    product.version += 1
    session.flush()
    quantity = cost.quantity if cost is not None else ZERO
    event = record(
        session,
        ctx,
        type="StandardCostChanged",
        company_id=company.id,
        aggregate_type="Product",
        aggregate_id=product.id,
        payload={
            "date": date,
            "reference": f"Standard cost {product.sku}",
            "sku": product.sku,
            "old_cost": old_cost,
            "new_cost": new_cost,
            "quantity": quantity,
            "amount": total,
            "reason": reason,
            "items": items,
        },
        store_id=None,
        event_id=event_id,
    )
    return Revaluation(
        product_id=product.id,
        old_cost=old_cost,
        new_cost=new_cost,
        date=date,
        quantity=quantity,
        amount=total,
        event_id=event.id,
        items=items,
    )


# -- a product's own accounts ----------------------------------------------------------------------


def _account_codes(session: Session, product_id: uuid.UUID) -> tuple[str | None, str | None]:
    row = session.get(ProductAccounts, product_id)
    if row is None:
        return None, None
    codes = dict(
        session.execute(
            select(Account.id, Account.code).where(
                Account.id.in_([x for x in (row.income_account_id, row.expense_account_id) if x])
            )
        ).all()
    )
    return codes.get(row.income_account_id), codes.get(row.expense_account_id)  # type: ignore[arg-type]


def income_accounts(session: Session, product_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The products' own income accounts (code by product id), for the ones that have one."""
    if not product_ids:
        return {}
    return dict(
        session.execute(
            select(ProductAccounts.product_id, Account.code)
            .join(Account, Account.id == ProductAccounts.income_account_id)
            .where(ProductAccounts.product_id.in_(list(product_ids)))
        ).all()
    )


# Built once: making two aliases of a mapped class costs about 1.7 ms (a loaded machine), paid by every
# one-sale batch and web order; the statement built on module-level aliases costs 0.1 ms.
_INCOME, _EXPENSE = aliased(Account), aliased(Account)


def own_accounts(
    session: Session, product_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """The products' own (income, expense) account codes, for the ones that have either, one query."""
    if not product_ids:
        return {}
    rows = session.execute(
        select(ProductAccounts.product_id, _INCOME.code, _EXPENSE.code)
        .outerjoin(_INCOME, _INCOME.id == ProductAccounts.income_account_id)
        .outerjoin(_EXPENSE, _EXPENSE.id == ProductAccounts.expense_account_id)
        .where(ProductAccounts.product_id.in_(list(product_ids)))
    ).all()
    return {product_id: (inc, exp) for product_id, inc, exp in rows if inc or exp}


def _account(session: Session, company: Company, code: str | None, field: str, kinds: tuple[str, ...]) -> Any:
    if code is None:
        return None
    account = session.scalar(select(Account).where(Account.company_id == company.id, Account.code == code))
    if account is None or not account.active:
        raise InvalidReference(f"no active account {code}", problems=[FieldProblem(field, "no such account")])
    if account.type not in kinds:
        raise ValidationFailed(
            f"account {code} is of type {account.type}, not {' or '.join(kinds)}",
            problems=[FieldProblem(field, f"a {account.type} account")],
        )
    return account


def set_product_accounts(
    session: Session,
    ctx: CommandContext,
    company: Company,
    product_id: uuid.UUID,
    *,
    income_account: str | None,
    expense_account: str | None,
) -> tuple[str | None, str | None]:
    """A product's own income and expense accounts (by code; None: the role's account again). The
    expense account takes the product's COGS (deliveries, cost corrections); the income account its
    revenue where the sales posting names products."""
    product = product_of(session, company, product_id)
    income = _account(session, company, income_account, "income_account", ("income", "revenue"))
    expense = _account(session, company, expense_account, "expense_account", ("expense",))
    row = session.get(ProductAccounts, product.id)
    before = _account_codes(session, product.id)
    if row is None:
        row = ProductAccounts(product_id=product.id, company_id=company.id)
        session.add(row)
    row.income_account_id = income.id if income is not None else None
    row.expense_account_id = expense.id if expense is not None else None
    row.updated_at = utcnow()
    row.updated_by = ctx.actor
    session.flush()
    after = (income_account, expense_account)
    record(
        session,
        ctx,
        type="ProductAccountsChanged",
        company_id=company.id,
        aggregate_type="Product",
        aggregate_id=product.id,
        payload={
            "sku": product.sku,
            "changes": {
                "income_account": [before[0], after[0]],
                "expense_account": [before[1], after[1]],
            },
        },
    )
    return after
