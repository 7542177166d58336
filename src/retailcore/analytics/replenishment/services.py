"""Replenishment from demand estimates: reorder points, order-up-to levels, suggested POs and transfers.

Per product x location, from a :class:`~retailcore.analytics.model.DemandEstimate` (daily mean and the
sigma of its one-day error), a lead time ``L`` and a review period ``R`` (days), and ``z`` for the
service level (the standard normal quantile)::

    reorder point = mean x L + z x sigma x sqrt(L)
    order-up-to   = mean x (L + R) + z x sigma x sqrt(L + R)

A location whose inventory position (on hand + on order - reserved) is below its reorder point gets a
suggestion for order-up-to - position, rounded up to whole units for products sold by the unit or pack.

Three settings refine it (decision 0081; all off by default, the simulator's A/B sets them):

* ``run_every_days`` (``r``): the days between two runs. A position that crosses the reorder point just
  after a run is seen at the next one, and what is ordered then arrives ``L`` days later, so the reorder
  point protects ``L + r`` days: ``mean x (L + r) + z x sigma x sqrt(L + r)`` (0: reviewed continuously).
* ``store_review_days``: the stores' own ``R`` (transfers are cheap: order often, hold less).
* ``class_service_levels``: a service level per ABC class of the network's demand value (daily mean x
  list price; :func:`abc_classes`): products making the first 80 % of it are A, the next 15 % B, the
  rest C. A class without a level takes ``service_level``.

* **Stores** are fed from the warehouse by transfers: ``L`` is the transfer lead time, the position
  counts transfers not received yet (draft or in transit), and what a run suggests is capped by what
  the warehouse has available (the most urgent store first).
* **The warehouse** buys from each product's supplier (``replenishment_sources``: supplier, lead time,
  price): ``L`` is the supplier's lead time, the demand the whole network's (the sum of every location's
  mean, sigma the root of the sum of the variances: errors taken as independent), the position its own
  stock plus open PO lines (draft, confirmed, partially received), net of this run's transfers. Products
  without a source get no purchase suggestion (the run counts them).

Every function takes an ``estimator`` (the forecaster's ``demand_estimates`` or the baseline
:func:`trailing_estimates`, the mean and standard deviation of the last days' sales). A run replaces
the company's open suggestions; accepting turns suggestions into POs (one per supplier, confirmed) and
transfers (one per source and destination, draft) through the purchasing and transfer services.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.analytics.extra import load, to_decimal
from retailcore.analytics.forecasts.queries import demand_estimates
from retailcore.analytics.model import DemandEstimate
from retailcore.analytics.replenishment.tables import ReplenishmentSource, ReplenishmentSuggestion
from retailcore.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext, record
from retailcore.inventory import purchasing as po
from retailcore.inventory import transfers as tr
from retailcore.inventory.purchasing_tables import PurchaseOrder, PurchaseOrderLine
from retailcore.inventory.tables import StockMove, StockQuant
from retailcore.inventory.transfer_tables import Transfer, TransferLine
from retailcore.masterdata.tables import Company, Location, Product, Store

if TYPE_CHECKING:
    pass

QUANTUM = Decimal("0.0001")
WHOLE_UNITS = frozenset({"unit", "pack"})
"""Units of measure that only come whole: suggested quantities are rounded up to an integer."""
TRAILING_DAYS = 28
"""Days of sales the baseline estimator looks back over."""
MIN_HISTORY_DAYS = 3
"""The baseline gives no estimate from fewer days of history (a new company has no demand to read)."""
OPEN_PO_STATES = ("draft", "confirmed", "partially_received")
OPEN_TRANSFER_STATES = ("draft", "shipped", "partially_received")


class Estimator(Protocol):
    def __call__(
        self, session: Session, company_id: uuid.UUID, *, as_of: dt.date, horizon_days: int
    ) -> list[DemandEstimate]: ...


Progress = Callable[[str, int, int], None]


# -- the baseline estimator --------------------------------------------------------------------------


def trailing_estimates(
    session: Session,
    company_id: uuid.UUID,
    *,
    as_of: dt.date,
    horizon_days: int,
    days: int = TRAILING_DAYS,
) -> list[DemandEstimate]:
    """The baseline: per product x location that sold in the last ``days`` days up to ``as_of``, the
    mean and standard deviation of its daily units sold (days without a sale count as zero).

    Sales are the ``delivery`` moves out of a location (POS sales at a store's, web and marketplace
    orders at the warehouse's). The window starts no earlier than the company's first sale, so a young
    history is not diluted with days before trading began; under :data:`MIN_HISTORY_DAYS` days there
    is no estimate. Sales are censored by stock-outs: a day a shelf was empty reads as a day without
    demand (the forecaster has the same blind spot; lost sales are not in the ledger).
    """
    pd = load("replenishment", "pandas")
    first_sale = session.scalar(
        select(func.min(StockMove.date)).where(
            StockMove.company_id == company_id, StockMove.kind == "delivery"
        )
    )
    if first_sale is None:
        return []
    start = max(as_of - dt.timedelta(days=days - 1), first_sale)
    span = (as_of - start).days + 1
    if span < MIN_HISTORY_DAYS:
        return []
    rows = session.execute(
        select(StockMove.product_id, StockMove.from_location_id, StockMove.date, func.sum(StockMove.quantity))
        .where(
            StockMove.company_id == company_id,
            StockMove.kind == "delivery",
            StockMove.date >= start,
            StockMove.date <= as_of,
        )
        .group_by(StockMove.product_id, StockMove.from_location_id, StockMove.date)
    ).all()
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["product_id", "location_id", "date", "units"])
    frame["units"] = frame["units"].astype(float)
    daily = frame.pivot_table(
        index=["product_id", "location_id"], columns="date", values="units", aggfunc="sum", fill_value=0.0
    )
    daily = daily.reindex(columns=[start + dt.timedelta(days=i) for i in range(span)], fill_value=0.0)
    means = daily.mean(axis=1)
    sigmas = daily.std(axis=1, ddof=1).fillna(0.0)
    return [
        DemandEstimate(
            product_id=product_id,
            location_id=location_id,
            as_of=as_of,
            horizon_days=horizon_days,
            daily_mean=_decimal(means[key]),
            daily_sigma=_decimal(sigmas[key]),
            model="trailing_mean",
        )
        for key in daily.index
        for product_id, location_id in [key]
    ]


ESTIMATORS: dict[str, Estimator] = {"forecast": demand_estimates, "trailing": trailing_estimates}
"""Estimators by name, for the API, the CLI and the simulator: ``forecast`` (the default: the latest
forecast run's mean over the horizon and its backtest sigma) and ``trailing`` (the baseline)."""
DEFAULT_ESTIMATOR = "forecast"


# -- the levels --------------------------------------------------------------------------------------


def _decimal(value: float) -> Decimal:
    return to_decimal(value, QUANTUM)


def service_z(service_level: Decimal) -> float:
    """The standard normal quantile of a cycle service level (0.95 -> 1.645)."""
    if not Decimal(0) < service_level < Decimal(1):
        raise ValidationFailed(
            "the service level is a probability between 0 and 1",
            problems=[FieldProblem("service_level", "must be above 0 and below 1")],
        )
    return NormalDist().inv_cdf(float(service_level))  # float-ok: statistics


@dataclass(frozen=True)
class Levels:
    reorder_point: Decimal
    order_up_to: Decimal


def levels(
    daily_mean: Decimal,
    daily_sigma: Decimal,
    *,
    lead_days: int,
    review_days: int,
    service_level: Decimal,
    run_every_days: int = 0,
) -> Levels:
    """Reorder point and order-up-to level (formulas in the module docstring), quantized to 4 places."""
    z = service_z(service_level)
    mean, sigma = float(daily_mean), float(daily_sigma)  # float-ok: statistics
    cover = lead_days + review_days
    protect = lead_days + run_every_days
    reorder = mean * protect + z * sigma * math.sqrt(protect)
    up_to = mean * cover + z * sigma * math.sqrt(cover)
    return Levels(_decimal(max(reorder, 0.0)), _decimal(max(up_to, 0.0)))


def order_quantity(order_up_to: Decimal, position: Decimal, unit_of_measure: str) -> Decimal:
    """What brings ``position`` up to ``order_up_to``, rounded up (whole units for unit products)."""
    needed = order_up_to - position
    if needed <= 0:
        return Decimal(0)
    if unit_of_measure in WHOLE_UNITS:
        return needed.to_integral_value(rounding=ROUND_CEILING)
    return needed.quantize(Decimal("0.001"), rounding=ROUND_CEILING)


def _capped(quantity: Decimal, available: Decimal, unit_of_measure: str) -> Decimal:
    if quantity <= available:
        return quantity
    if unit_of_measure in WHOLE_UNITS:
        return max(available, Decimal(0)).to_integral_value(rounding=ROUND_FLOOR)
    return max(available, Decimal(0)).quantize(Decimal("0.001"), rounding=ROUND_FLOOR)


ABC_SHARES = (Decimal("0.80"), Decimal("0.95"))
"""Cumulative shares of the network's demand value (daily mean x list price) that end class A and B."""


def abc_classes(
    estimates: Sequence[DemandEstimate], prices: dict[uuid.UUID, Decimal]
) -> dict[uuid.UUID, str]:
    """Each product's class by the value of its demand over the whole network: the products that make
    the first 80 % of it are ``A``, the next 15 % ``B``, the rest ``C`` (ties by product id)."""
    value: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for estimate in estimates:
        value[estimate.product_id] += estimate.daily_mean * prices.get(estimate.product_id, Decimal(0))
    total = sum(value.values(), Decimal(0))
    classes: dict[uuid.UUID, str] = {}
    running = Decimal(0)
    for product_id in sorted(value, key=lambda p: (-value[p], str(p))):
        share = running / total if total else Decimal(1)
        classes[product_id] = "A" if share < ABC_SHARES[0] else "B" if share < ABC_SHARES[1] else "C"
        running += value[product_id]
    return classes


# -- inventory position ------------------------------------------------------------------------------


def _stock(session: Session, location_ids: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, uuid.UUID], Decimal]:
    """(product, location) -> on hand - reserved."""
    rows = session.execute(
        select(StockQuant.product_id, StockQuant.location_id, StockQuant.quantity, StockQuant.reserved).where(
            StockQuant.location_id.in_(location_ids)
        )
    ).all()
    return {(product, location): quantity - reserved for product, location, quantity, reserved in rows}


def _inbound_transfers(session: Session, company_id: uuid.UUID) -> dict[tuple[uuid.UUID, uuid.UUID], Decimal]:
    """(product, destination store) -> units of open transfers not received (nor lost) yet."""
    rows = session.execute(
        select(
            TransferLine.product_id,
            Transfer.to_store_id,
            Transfer.state,
            TransferLine.quantity,
            TransferLine.shipped_quantity,
            TransferLine.received_quantity,
            TransferLine.lost_quantity,
        )
        .join(Transfer, Transfer.id == TransferLine.transfer_id)
        .where(Transfer.company_id == company_id, Transfer.state.in_(OPEN_TRANSFER_STATES))
    ).all()
    inbound: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = defaultdict(Decimal)
    for product, store, state, quantity, shipped, received, lost in rows:
        inbound[(product, store)] += quantity if state == "draft" else shipped - received - lost
    return inbound


def _on_order(session: Session, company_id: uuid.UUID, store_id: uuid.UUID) -> dict[uuid.UUID, Decimal]:
    """product -> units ordered from suppliers for ``store_id`` and not received yet."""
    rows = session.execute(
        select(
            PurchaseOrderLine.product_id,
            func.sum(PurchaseOrderLine.quantity - PurchaseOrderLine.received_quantity),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrder.company_id == company_id,
            PurchaseOrder.store_id == store_id,
            PurchaseOrder.state.in_(OPEN_PO_STATES),
        )
        .group_by(PurchaseOrderLine.product_id)
    ).all()
    return {product: Decimal(quantity) for product, quantity in rows}


# -- suggesting ----------------------------------------------------------------------------------------


@dataclass
class Run:
    run_id: uuid.UUID
    as_of: dt.date
    suggestions: list[ReplenishmentSuggestion] = field(default_factory=list)
    replaced: int = 0
    """Open suggestions of an earlier run this one replaced."""
    without_source: int = 0
    """Products the network needs but that have no supplier in ``replenishment_sources``."""
    estimates: int = 0


def warehouse_of(session: Session, company_id: uuid.UUID) -> Store:
    """The company's warehouse (the first active one by code): suppliers deliver there, stores are fed."""
    warehouse = session.scalar(
        select(Store)
        .where(Store.company_id == company_id, Store.kind == "warehouse", Store.active.is_(True))
        .order_by(Store.code)
        .limit(1)
    )
    if warehouse is None:
        raise ValidationFailed(
            "replenishment needs a warehouse",
            problems=[FieldProblem("company_id", "the company has no warehouse")],
        )
    return warehouse


def suggest(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    as_of: dt.date,
    service_level: Decimal = Decimal("0.95"),
    review_days: int = 7,
    transfer_lead_days: int = 1,
    estimator: Estimator = trailing_estimates,
    progress: Progress | None = None,
    run_every_days: int = 0,
    store_review_days: int | None = None,
    class_service_levels: dict[str, Decimal] | None = None,
) -> Run:
    """Compute and store this company's suggestions as of ``as_of``, replacing its open ones."""
    service_z(service_level)
    if review_days < 1:
        raise ValidationFailed(
            "review at least daily", problems=[FieldProblem("review_days", "must be 1 or more")]
        )
    if transfer_lead_days < 0:
        raise ValidationFailed(
            "a lead time is not negative", problems=[FieldProblem("transfer_lead_days", "must be 0 or more")]
        )
    report = progress or (lambda step, done, total: None)
    warehouse = warehouse_of(session, company.id)
    warehouse_location = tr.stock_location(session, warehouse, "company_id")
    stores = list(
        session.scalars(
            select(Store)
            .where(Store.company_id == company.id, Store.kind == "store", Store.active.is_(True))
            .order_by(Store.code)
        )
    )
    store_locations = {store.id: tr.stock_location(session, store, "company_id") for store in stores}
    sources = {
        row.product_id: row
        for row in session.scalars(
            select(ReplenishmentSource).where(ReplenishmentSource.company_id == company.id)
        )
    }
    longest = max([transfer_lead_days, *(s.lead_time_days for s in sources.values())])
    estimates = estimator(session, company.id, as_of=as_of, horizon_days=longest + review_days)
    if not estimates:
        # Suggesting nothing would read as "all stocked"; without a forecast that is not known.
        raise Conflict(
            f"no demand estimates as of {as_of}: forecast first (retailcore forecast run, or POST "
            "/forecasts/runs), or ask for the trailing baseline",
            code="no-demand-estimates",
            problems=[FieldProblem("estimator", "gave no estimate for any product and location")],
        )
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.company_id == company.id, Product.active.is_(True))
        )
    }
    estimates = [e for e in estimates if e.product_id in products]
    by_class = class_service_levels or {}
    for level in by_class.values():
        service_z(level)
    classes = abc_classes(estimates, {p.id: p.list_price for p in products.values()}) if by_class else {}

    def level_of(product_id: uuid.UUID) -> Decimal:
        return by_class.get(classes.get(product_id, ""), service_level)

    stock = _stock(session, [warehouse_location.id, *(loc.id for loc in store_locations.values())])
    inbound = _inbound_transfers(session, company.id)
    on_order = _on_order(session, company.id, warehouse.id)

    replaced = session.execute(
        delete(ReplenishmentSuggestion).where(
            ReplenishmentSuggestion.company_id == company.id, ReplenishmentSuggestion.state == "suggested"
        )
    ).rowcount
    run = Run(run_id=new_id(), as_of=as_of, replaced=replaced or 0, estimates=len(estimates))
    common: dict[str, Any] = {
        "company_id": company.id,
        "run_id": run.run_id,
        "as_of": as_of,
        "review_days": review_days,
        "service_level": service_level,
        "state": "suggested",
        "created_by": ctx.actor,
    }

    # Stores first: what they take from the warehouse lowers the warehouse's position.
    needs = []
    for index, store in enumerate(stores):
        report("stores", index, len(stores))
        location = store_locations[store.id]
        for estimate in (e for e in estimates if e.location_id == location.id):
            product = products[estimate.product_id]
            level = levels(
                estimate.daily_mean,
                estimate.daily_sigma,
                lead_days=transfer_lead_days,
                review_days=store_review_days or review_days,
                service_level=level_of(product.id),
                run_every_days=run_every_days,
            )
            position = stock.get((product.id, location.id), Decimal(0)) + inbound.get(
                (product.id, store.id), Decimal(0)
            )
            if position >= level.reorder_point:
                continue
            quantity = order_quantity(level.order_up_to, position, product.unit_of_measure)
            if quantity > 0:
                urgency = position / level.reorder_point if level.reorder_point else Decimal(0)
                needs.append(
                    (
                        urgency,
                        store.code,
                        product.sku,
                        store,
                        location,
                        product,
                        estimate,
                        level,
                        position,
                        quantity,
                    )
                )
    report("stores", len(stores), len(stores))
    warehouse_free = {
        product_id: quantity
        for (product_id, location_id), quantity in stock.items()
        if location_id == warehouse_location.id
    }
    leaving: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for _, _, _, store, location, product, estimate, level, position, wanted in sorted(
        needs, key=lambda n: n[:3]
    ):
        quantity = _capped(
            wanted, warehouse_free.get(product.id, Decimal(0)) - leaving[product.id], product.unit_of_measure
        )
        if quantity <= 0:
            continue
        leaving[product.id] += quantity
        run.suggestions.append(
            ReplenishmentSuggestion(
                **common,
                kind="transfer",
                product_id=product.id,
                store_id=store.id,
                location_id=location.id,
                source_store_id=warehouse.id,
                quantity=quantity,
                reorder_point=level.reorder_point,
                order_up_to=level.order_up_to,
                position=position,
                daily_mean=estimate.daily_mean,
                daily_sigma=estimate.daily_sigma,
                lead_time_days=transfer_lead_days,
                model=estimate.model,
            )
        )

    network: dict[uuid.UUID, list[DemandEstimate]] = defaultdict(list)
    for estimate in estimates:
        network[estimate.product_id].append(estimate)
    ordered = sorted(network, key=lambda product_id: products[product_id].sku)
    for index, product_id in enumerate(ordered):
        report("products", index, len(ordered))
        product = products[product_id]
        parts = network[product_id]
        mean = sum((e.daily_mean for e in parts), Decimal(0))
        sigma = _decimal(math.sqrt(sum(float(e.daily_sigma) ** 2 for e in parts)))  # float-ok: statistics
        source = sources.get(product_id)
        if source is None:
            if mean > 0:
                run.without_source += 1
            continue
        level = levels(
            mean,
            sigma,
            lead_days=source.lead_time_days,
            review_days=review_days,
            service_level=level_of(product_id),
            run_every_days=run_every_days,
        )
        position = (
            warehouse_free.get(product_id, Decimal(0))
            + on_order.get(product_id, Decimal(0))
            - leaving[product_id]
        )
        if position >= level.reorder_point:
            continue
        quantity = order_quantity(level.order_up_to, position, product.unit_of_measure)
        if quantity <= 0:
            continue
        run.suggestions.append(
            ReplenishmentSuggestion(
                **common,
                kind="purchase",
                product_id=product_id,
                store_id=warehouse.id,
                location_id=warehouse_location.id,
                supplier=source.supplier,
                quantity=quantity,
                unit_price=source.unit_price if source.unit_price is not None else product.standard_cost,
                reorder_point=level.reorder_point,
                order_up_to=level.order_up_to,
                position=position,
                daily_mean=mean,
                daily_sigma=sigma,
                lead_time_days=source.lead_time_days,
                model=parts[0].model if len({e.model for e in parts}) == 1 else "mixed",
            )
        )
    report("products", len(ordered), len(ordered))
    session.add_all(run.suggestions)
    session.flush()
    record(
        session,
        ctx,
        type="ReplenishmentSuggested",
        company_id=company.id,
        aggregate_type="ReplenishmentRun",
        aggregate_id=run.run_id,
        payload={
            "as_of": as_of,
            "service_level": service_level,
            "review_days": review_days,
            "transfer_lead_days": transfer_lead_days,
            "estimates": run.estimates,
            "purchases": sum(1 for s in run.suggestions if s.kind == "purchase"),
            "transfers": sum(1 for s in run.suggestions if s.kind == "transfer"),
            "replaced": run.replaced,
            "without_source": run.without_source,
        },
    )
    return run


# -- deciding ------------------------------------------------------------------------------------------


@dataclass
class Accepted:
    suggestions: list[ReplenishmentSuggestion]
    purchase_orders: list[PurchaseOrder]
    transfers: list[Transfer]


def _suggestions(
    session: Session, company: Company, ids: Sequence[uuid.UUID], field_name: str
) -> list[ReplenishmentSuggestion]:
    rows = {
        row.id: row
        for row in session.scalars(
            select(ReplenishmentSuggestion)
            .where(ReplenishmentSuggestion.company_id == company.id, ReplenishmentSuggestion.id.in_(set(ids)))
            .with_for_update()
        )
    }
    missing = [index for index, id_ in enumerate(ids) if id_ not in rows]
    if missing:
        raise NotFound(
            f"no suggestion {ids[missing[0]]}",
            problems=[
                FieldProblem(field_name if len(ids) == 1 else f"{field_name}.{i}", "no such suggestion")
                for i in missing
            ],
        )
    decided = [rows[id_] for id_ in ids if rows[id_].state != "suggested"]
    if decided:
        raise Conflict(
            f"suggestion {decided[0].id} is already {decided[0].state}",
            code="suggestion-decided",
        )
    return [rows[id_] for id_ in dict.fromkeys(ids)]


def accept(session: Session, ctx: CommandContext, company: Company, ids: Sequence[uuid.UUID]) -> Accepted:
    """Turn suggestions into one confirmed PO per supplier and one draft transfer per source and
    destination, through the purchasing and transfer services; all or nothing (409 if any was decided)."""
    if not ids:
        raise ValidationFailed("accept at least one suggestion", problems=[FieldProblem("ids", "empty")])
    rows = _suggestions(session, company, ids, "ids")
    skus = dict(
        session.execute(
            select(Product.id, Product.sku).where(Product.id.in_({r.product_id for r in rows}))
        ).all()
    )
    date = (ctx.occurred_at or utcnow()).date()
    purchases: dict[tuple[str, uuid.UUID], list[ReplenishmentSuggestion]] = defaultdict(list)
    transfers: dict[tuple[uuid.UUID, uuid.UUID], list[ReplenishmentSuggestion]] = defaultdict(list)
    for row in rows:
        if row.kind == "purchase":
            purchases[(row.supplier or "", row.store_id)].append(row)
        else:
            assert row.source_store_id is not None
            transfers[(row.source_store_id, row.store_id)].append(row)
    accepted = Accepted(suggestions=rows, purchase_orders=[], transfers=[])
    lead_of = {}
    for (supplier, store_id), group in sorted(purchases.items()):
        group.sort(key=lambda r: skus.get(r.product_id, ""))
        lead = max(r.lead_time_days for r in group)
        lead_of[supplier] = lead
        order = po.create_order(
            session,
            ctx,
            company,
            po.CreatePurchaseOrder(
                company_id=company.id,
                supplier=supplier,
                store_id=store_id,
                order_date=date,
                expected_date=date + dt.timedelta(days=lead),
                notes="From replenishment suggestions",
                lines=[
                    po.OrderLineIn(
                        product_id=r.product_id, quantity=r.quantity, unit_price=r.unit_price or Decimal(0)
                    )
                    for r in group
                ],
            ),
        )
        po.confirm_order(session, ctx, order)
        accepted.purchase_orders.append(order)
        for row in group:
            row.purchase_order_id = order.id
    for (source_id, store_id), group in sorted(transfers.items()):
        group.sort(key=lambda r: skus.get(r.product_id, ""))
        transfer = tr.create_transfer(
            session,
            ctx,
            company,
            from_store_id=source_id,
            to_store_id=store_id,
            lines=[tr.ProductQuantity(r.product_id, r.quantity) for r in group],
            note="From replenishment suggestions",
        )
        accepted.transfers.append(transfer)
        for row in group:
            row.transfer_id = transfer.id
    now = utcnow()
    for row in rows:
        row.state, row.decided_by, row.decided_at = "accepted", ctx.actor, now
        record(
            session,
            ctx,
            type="ReplenishmentSuggestionAccepted",
            company_id=company.id,
            aggregate_type="ReplenishmentSuggestion",
            aggregate_id=row.id,
            payload={
                "kind": row.kind,
                "product_id": row.product_id,
                "quantity": row.quantity,
                "purchase_order_id": row.purchase_order_id,
                "transfer_id": row.transfer_id,
            },
            store_id=row.store_id,
        )
    session.flush()
    return accepted


def dismiss(
    session: Session, ctx: CommandContext, company: Company, suggestion_id: uuid.UUID
) -> ReplenishmentSuggestion:
    """A buyer says no: the suggestion stays, dismissed, with who and when."""
    (row,) = _suggestions(session, company, [suggestion_id], "id")
    row.state, row.decided_by, row.decided_at = "dismissed", ctx.actor, utcnow()
    record(
        session,
        ctx,
        type="ReplenishmentSuggestionDismissed",
        company_id=company.id,
        aggregate_type="ReplenishmentSuggestion",
        aggregate_id=row.id,
        payload={"kind": row.kind, "product_id": row.product_id, "quantity": row.quantity},
        store_id=row.store_id,
    )
    session.flush()
    return row


def set_source(
    session: Session,
    ctx: CommandContext,
    company: Company,
    product_id: uuid.UUID,
    *,
    supplier: str,
    lead_time_days: int,
    unit_price: Decimal | None = None,
    supplier_ref: str | None = None,
) -> ReplenishmentSource:
    """Where a product is bought and how long it takes (created or replaced), with an event."""
    if lead_time_days < 0:
        raise ValidationFailed(
            "a lead time is not negative", problems=[FieldProblem("lead_time_days", "negative")]
        )
    if (
        session.scalar(select(Product.id).where(Product.id == product_id, Product.company_id == company.id))
        is None
    ):
        raise NotFound(f"no product {product_id}", problems=[FieldProblem("product_id", "no such product")])
    row = session.get(ReplenishmentSource, (company.id, product_id))
    if row is None:
        row = ReplenishmentSource(company_id=company.id, product_id=product_id)
        session.add(row)
    row.supplier, row.lead_time_days, row.unit_price, row.supplier_ref = (
        supplier,
        lead_time_days,
        unit_price,
        supplier_ref,
    )
    session.flush()
    record(
        session,
        ctx,
        type="ReplenishmentSourceSet",
        company_id=company.id,
        aggregate_type="Product",
        aggregate_id=product_id,
        payload={"supplier": supplier, "lead_time_days": lead_time_days, "unit_price": unit_price},
    )
    return row


def location_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(session.execute(select(Location.id, Location.code).where(Location.id.in_(ids))).all())
