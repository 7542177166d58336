"""Promotion and price governance (decision 0048): promotions drafted, submitted and approved by another
person; margin floors; governed price-list changes; the sweep that moves approved promotions through
their life and applies price changes when due; and price quotes.

The life of a promotion
-----------------------
::

    draft --submit--> submitted --approve/override--> scheduled | active --sweep--> active --> expired
      ^                   |
      |                reject (reason)
      +----edit------ rejected --submit--> submitted

* Only drafts and rejected promotions change (PATCH, ``If-Match``); an edit of a rejected one makes it
  a draft again.
* **Four eyes**: whoever approves (or overrides) is neither the author, nor the last editor, nor the
  submitter (``Principal.actor``: a token's name or a user's). Rejecting is open to every approver,
  the author included (a withdrawal), and always says why.
* Approval refuses, writing nothing: an exclusive promotion whose targeting (channels, stores, customer
  groups, local time range, products) overlaps another approved exclusive one not expired
  (409 ``exclusive-overlap``, naming it); and a promotion that can take a targeted product below its
  margin floor (409 ``margin-floor-breach``, each product with its price, worst case and floor).
  ``override`` approves over a breach; it takes ``promotions:override`` (finance, admin: a role above
  the approver's) and a reason, and records who and why.
* Approved promotions are stored as ``scheduled`` (not started anywhere yet) or ``active``; the sweep
  (:func:`sweep`, run by ``retailcore serve``) moves them to ``active`` once the start has been reached
  in some store's local time and to ``expired`` once the end has passed in every store's local time,
  recording ``PromotionActivated`` and ``PromotionExpired``. Pricing does not wait for the sweep: every
  approved promotion not expired is in the book, and the engine checks the basket's local time.

Governed price changes
----------------------
A price change holds a price list's complete new items and the moment they apply. Same states and four
eyes as promotions (no floors); an approved change is applied by the sweep when due (at once, when it is
already due on approval), through :func:`retailcore.pricing.price_lists.replace_items`, so the list
records ``PriceListItemsReplaced`` as a direct edit does, and the change becomes ``applied``.
Direct edits of price lists (``products:write``: admins and integrations) remain allowed: integrations
that own prices elsewhere (an ERP) keep their path.

Every change records an event (``Promotion*``, ``MarginFloor*``, ``PriceChange*``) with who, when and why.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.currencies import minor_unit
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    RetailcoreError,
    ValidationFailed,
)
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.services import store_id_in_scope, store_in_scope
from retailcore.masterdata.tables import Company, Customer, Product, Store
from retailcore.pricing import price_lists as pl
from retailcore.pricing.tables import PriceList, PriceListItem
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, compute_taxes, load_tax_rules
from retailcore.promotions import commands as c
from retailcore.promotions.book import (
    IN_FORCE,
    book_for,
    fields_of,
    floors,
    rule_of,
    to_model,
    unit_costs,
    windows_of,
)
from retailcore.promotions.engine import worst_case
from retailcore.promotions.model import Basket, BasketLine
from retailcore.promotions.tables import MarginFloor, PriceChange, PromotionRow

UTC = ZoneInfo("UTC")
EDITABLE = ("draft", "rejected")


def _canonical(value: Decimal) -> str:
    return f"{value.normalize():f}"


# -- reading -----------------------------------------------------------------------------------------


def get_promotion(
    session: Session, principal: Principal, promotion_id: uuid.UUID, *, lock: bool = False
) -> PromotionRow:
    """The promotion, if the caller sees its company; ``lock``: locked for this transaction
    (PostgreSQL) and read as the transaction that held it left it, so two decisions never both pass."""
    if lock:
        row = session.scalar(
            select(PromotionRow)
            .where(PromotionRow.id == promotion_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        row = session.get(PromotionRow, promotion_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no promotion {promotion_id}")
    return row


def promotion_by_code(session: Session, company: Company, code: str) -> PromotionRow:
    row = session.scalar(
        select(PromotionRow).where(PromotionRow.company_id == company.id, PromotionRow.code == code)
    )
    if row is None:
        raise NotFound(f"no promotion {code} in {company.code}")
    return row


def promotions_query(company_id: uuid.UUID, state: str | None = None) -> Select[Any]:
    """The company's promotions; ``state`` ``approved`` means every approved one not expired
    (``scheduled`` and ``active``: an approval lands in one of them)."""
    query = select(PromotionRow).where(PromotionRow.company_id == company_id)
    if state == "approved":
        query = query.where(PromotionRow.state.in_(IN_FORCE))
    elif state is not None:
        query = query.where(PromotionRow.state == state)
    return query


def view(row: PromotionRow) -> c.PromotionView:
    f = fields_of(row)
    return c.PromotionView(
        id=row.id,
        company_id=row.company_id,
        **{k: v for k, v in f.items()},
        state=row.state,
        created_by=row.created_by,
        last_edited_by=row.last_edited_by,
        submitted_by=row.submitted_by,
        submitted_at=row.submitted_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        override_by=row.override_by,
        override_reason=row.override_reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


# -- time and zones ----------------------------------------------------------------------------------


def default_zone(session: Session, company_id: uuid.UUID) -> ZoneInfo:
    """Where channels without a store are: the company's first store's zone (by code), or UTC."""
    zone = session.scalar(
        select(Store.timezone).where(Store.company_id == company_id).order_by(Store.code).limit(1)
    )
    return ZoneInfo(zone) if zone else UTC


def _zones(session: Session, company_id: uuid.UUID) -> list[ZoneInfo]:
    names = set(session.scalars(select(Store.timezone).where(Store.company_id == company_id).distinct()))
    return [ZoneInfo(name) for name in sorted(names)] or [UTC]


def _local_span(session: Session, company_id: uuid.UUID, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The earliest and the latest local wall-clock time of the company's stores at ``now``."""
    local = [now.astimezone(zone).replace(tzinfo=None) for zone in _zones(session, company_id)]
    return min(local), max(local)


def _phase(row: PromotionRow, span: tuple[dt.datetime, dt.datetime]) -> str:
    earliest, latest = span
    if row.ends_at is not None and earliest >= row.ends_at:
        return "expired"
    if row.starts_at is None or latest >= row.starts_at:
        return "active"
    return "scheduled"


# -- checks ------------------------------------------------------------------------------------------


def _expect_version(kind: str, row: Any, expected_version: int | None) -> None:
    if expected_version is not None and row.version != expected_version:
        raise PreconditionFailed(
            f"{kind} {row.id} is at version {row.version}, not {expected_version}", code="version-mismatch"
        )


def _transition(kind: str, row: Any, allowed: tuple[str, ...], action: str) -> None:
    if row.state not in allowed:
        raise Conflict(
            f"{kind} {getattr(row, 'code', row.id)} is {row.state}:"
            f" only {' or '.join(allowed)} ones can be {action}",
            code="invalid-transition",
            problems=[FieldProblem("state", f"is {row.state}")],
        )


def _four_eyes(kind: str, row: Any, ctx: CommandContext, action: str) -> None:
    involved = {row.created_by, row.last_edited_by, row.submitted_by} - {None}
    if ctx.actor in involved:
        raise PermissionDenied(
            f"four eyes: {ctx.actor} drafted, changed or submitted this {kind} and may not {action} it;"
            " another person with the permission must",
            code="four-eyes",
        )


def _references(
    session: Session, principal: Principal, company: Company, fields: dict[str, Any]
) -> dict[str, Any]:
    """``fields`` with its stores resolved to ids; refuses unknown products, categories and stores."""
    problems: list[FieldProblem] = []
    wanted = set(fields.get("product_ids") or []) | {
        (comp["product_id"] if isinstance(comp, dict) else comp.product_id)
        for comp in fields.get("components") or []
    }
    found = set(
        session.scalars(select(Product.id).where(Product.company_id == company.id, Product.id.in_(wanted)))
        if wanted
        else []
    )
    for n, product_id in enumerate(fields.get("product_ids") or []):
        if product_id not in found:
            problems.append(FieldProblem(f"product_ids.{n}", "no such product"))
    for n, comp in enumerate(fields.get("components") or []):
        product_id = comp["product_id"] if isinstance(comp, dict) else comp.product_id
        if product_id not in found:
            problems.append(FieldProblem(f"components.{n}.product_id", "no such product"))
    categories = fields.get("categories") or []
    if categories:
        known = set(
            session.scalars(
                select(Product.category).where(
                    Product.company_id == company.id, Product.category.in_(categories)
                )
            )
        )
        problems += [
            FieldProblem(f"categories.{n}", f"no product of {company.code} is in {name!r}")
            for n, name in enumerate(categories)
            if name not in known
        ]
    store_ids = fields.get("store_ids")
    if store_ids is not None:
        resolved = []
        for n, ref in enumerate(store_ids):
            try:
                resolved.append(
                    store_id_in_scope(session, principal, ref, company=company, field=f"store_ids.{n}")
                )
            except RetailcoreError as error:
                problems += error.problems or [FieldProblem(f"store_ids.{n}", "no such store")]
        if len(set(resolved)) != len(resolved):
            problems.append(FieldProblem("store_ids", "each store may appear only once"))
        fields = {**fields, "store_ids": resolved}
    if problems:
        raise InvalidReference(
            f"{len(problems)} reference(s) name nothing of {company.code}", problems=problems
        )
    return fields


def _store_columns(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": fields["name"],
        "description": fields.get("description") or "",
        "kind": fields["kind"],
        "stacking": fields["stacking"],
        "priority": fields["priority"],
        "scope": fields["scope"],
        "rule": rule_of(fields),
        "channels": None if fields.get("channels") is None else sorted(fields["channels"]),
        "store_ids": None if fields.get("store_ids") is None else sorted(str(s) for s in fields["store_ids"]),
        "customer_groups": None
        if fields.get("customer_groups") is None
        else sorted(fields["customer_groups"]),
        "windows": windows_of(fields.get("windows") or []),
        "starts_at": fields.get("starts_at"),
        "ends_at": fields.get("ends_at"),
        "coupon_only": bool(fields.get("coupon_only")),
    }


def _check_kind(fields: dict[str, Any]) -> None:
    if fields.get("kind") == "buy_x_get_y" and fields.get("percent") is None:
        fields["percent"] = Decimal(100)
    problems = c.kind_problems(fields)
    if problems:
        raise ValidationFailed(
            f"the promotion does not hold together as a {fields['kind']}", problems=problems
        )


# -- promotions: drafting ----------------------------------------------------------------------------


def create_promotion(
    session: Session, ctx: CommandContext, company: Company, body: c.CreatePromotion
) -> PromotionRow:
    """A draft promotion; records ``PromotionCreated``."""
    fields = body.model_dump(exclude={"company_id"})
    _check_kind(fields)
    taken = session.scalar(
        select(PromotionRow.id).where(PromotionRow.company_id == company.id, PromotionRow.code == body.code)
    )
    if taken is not None:
        raise Conflict(
            f"promotion code {body.code} is taken", problems=[FieldProblem("code", "already used")]
        )
    fields = _references(session, ctx.principal, company, fields)
    row = PromotionRow(
        company_id=company.id, code=body.code, state="draft", created_by=ctx.actor, **_store_columns(fields)
    )
    session.add(row)
    session.flush()
    record(
        session,
        ctx,
        type="PromotionCreated",
        company_id=company.id,
        aggregate_type="Promotion",
        aggregate_id=row.id,
        payload=view(row).model_dump(mode="json", exclude={"created_at", "updated_at", "version"}),
    )
    return row


def update_promotion(
    session: Session,
    ctx: CommandContext,
    promotion_id: uuid.UUID,
    body: c.UpdatePromotion,
    *,
    expected_version: int | None = None,
) -> PromotionRow:
    """Change a draft or rejected promotion (PATCH); a rejected one becomes a draft again. Records
    ``PromotionChanged`` with the fields before and after."""
    row = get_promotion(session, ctx.principal, promotion_id, lock=True)
    _expect_version("promotion", row, expected_version)
    _transition("promotion", row, EDITABLE, "changed")
    sent = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("name", "kind", "stacking", "priority", "scope", "coupon_only", "description"):
        if name in sent and sent[name] is None:
            raise ValidationFailed(f"{name} cannot be null", problems=[FieldProblem(name, "cannot be null")])
    before = fields_of(row)
    merged = {**before, **{k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in sent.items()}}
    if "windows" in sent and sent["windows"] is not None:
        merged["windows"] = [w.model_dump() for w in sent["windows"]]
    for name in ("components", "tiers"):
        if name in sent and sent[name] is not None:
            merged[name] = [item.model_dump() for item in sent[name]]
    if "kind" in sent and sent["kind"] != before["kind"]:
        # Parameters of the old kind that the new one does not take are dropped, not carried along.
        for name in set(c.RULE_FIELDS) - {"product_ids", "categories"} - set(sent):
            merged[name] = [] if name in ("components", "tiers") else None
    _check_kind(merged)
    if "store_ids" not in sent and merged.get("store_ids") is not None:
        merged["store_ids"] = list(merged["store_ids"])
    company = session.get(Company, row.company_id)
    assert company is not None
    merged = _references(session, ctx.principal, company, merged)
    old_view = view(row).model_dump(mode="json")
    for name, value in _store_columns(merged).items():
        setattr(row, name, value)
    new_view = view(row).model_dump(mode="json")
    changes = {
        name: {"from": old_view[name], "to": new_view[name]}
        for name in new_view
        if name not in ("updated_at", "version", "state") and old_view[name] != new_view[name]
    }
    if not changes:
        return row
    previous_state = row.state
    row.state = "draft"
    row.last_edited_by = ctx.actor
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PromotionChanged",
        company_id=row.company_id,
        aggregate_type="Promotion",
        aggregate_id=row.id,
        payload={"code": row.code, "changes": changes, "state": {"from": previous_state, "to": row.state}},
    )
    return row


def submit_promotion(
    session: Session, ctx: CommandContext, promotion_id: uuid.UUID, *, expected_version: int | None = None
) -> PromotionRow:
    row = get_promotion(session, ctx.principal, promotion_id, lock=True)
    _expect_version("promotion", row, expected_version)
    _transition("promotion", row, EDITABLE, "submitted")
    row.state, row.submitted_by, row.submitted_at = "submitted", ctx.actor, utcnow()
    row.decided_by = row.decided_at = row.decision_reason = None
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PromotionSubmitted",
        company_id=row.company_id,
        aggregate_type="Promotion",
        aggregate_id=row.id,
        payload={"code": row.code},
    )
    return row


def reject_promotion(
    session: Session, ctx: CommandContext, promotion_id: uuid.UUID, body: c.ReasonRequired
) -> PromotionRow:
    row = get_promotion(session, ctx.principal, promotion_id, lock=True)
    _transition("promotion", row, ("submitted",), "rejected")
    row.state, row.decided_by, row.decided_at, row.decision_reason = (
        "rejected",
        ctx.actor,
        utcnow(),
        body.reason,
    )
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PromotionRejected",
        company_id=row.company_id,
        aggregate_type="Promotion",
        aggregate_id=row.id,
        payload={"code": row.code, "reason": body.reason},
    )
    return row


# -- promotions: approval ----------------------------------------------------------------------------


def _targeted_products(
    session: Session, company_id: uuid.UUID, product_ids: set[uuid.UUID], categories: set[str]
) -> list[Product]:
    query = select(Product).where(Product.company_id == company_id, Product.active.is_(True))
    if product_ids or categories:
        conditions = []
        if product_ids:
            conditions.append(Product.id.in_(product_ids))
        if categories:
            conditions.append(Product.category.in_(categories))
        query = query.where(or_(*conditions))
    return list(session.scalars(query.order_by(Product.sku)))


def _meets(a: list[Any] | None, b: list[Any] | None) -> bool:
    return a is None or b is None or bool(set(a) & set(b))


def _times_meet(a: PromotionRow, b: PromotionRow) -> bool:
    starts_before_b_ends = a.starts_at is None or b.ends_at is None or a.starts_at < b.ends_at
    b_starts_before_a_ends = b.starts_at is None or a.ends_at is None or b.starts_at < a.ends_at
    return starts_before_b_ends and b_starts_before_a_ends


def _targets_meet(session: Session, a: PromotionRow, b: PromotionRow) -> bool:
    fa, fb = fields_of(a), fields_of(b)
    pa, ca, pb, cb = (
        set(fa["product_ids"]),
        set(fa["categories"]),
        set(fb["product_ids"]),
        set(fb["categories"]),
    )
    if not (pa or ca) or not (pb or cb):
        return True
    if pa & pb or ca & cb:
        return True
    categories = dict(
        session.execute(select(Product.id, Product.category).where(Product.id.in_(pa | pb))).all()
        if pa | pb
        else []
    )
    return any(categories.get(p) in cb for p in pa) or any(categories.get(p) in ca for p in pb)


def exclusive_overlaps(session: Session, row: PromotionRow) -> list[PromotionRow]:
    """The approved exclusive promotions not expired whose targeting overlaps ``row``'s (for an
    exclusive ``row``; none otherwise)."""
    if row.stacking != "exclusive":
        return []
    others = session.scalars(
        select(PromotionRow)
        .where(
            PromotionRow.company_id == row.company_id,
            PromotionRow.id != row.id,
            PromotionRow.stacking == "exclusive",
            PromotionRow.state.in_(IN_FORCE),
        )
        .order_by(PromotionRow.code)
    )
    return [
        other
        for other in others
        if _meets(row.channels, other.channels)
        and _meets(row.store_ids, other.store_ids)
        and _meets(row.customer_groups, other.customer_groups)
        and _times_meet(row, other)
        and _targets_meet(session, row, other)
    ]


@dataclass(frozen=True)
class Breach:
    product_id: uuid.UUID
    sku: str
    unit_price: Decimal
    worst_case: Decimal
    floor: Decimal
    unit_cost: Decimal
    fraction: Decimal
    source: str

    def payload(self) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "sku": self.sku,
            "unit_price": _canonical(self.unit_price),
            "worst_case": _canonical(self.worst_case),
            "floor": _canonical(self.floor),
            "unit_cost": _canonical(self.unit_cost),
            "margin_floor": _canonical(self.fraction),
            "floor_source": self.source,
        }


def _lowest_prices(
    session: Session, company: Company, row: PromotionRow, products: list[Product]
) -> dict[uuid.UUID, Decimal]:
    """Per product, the lowest price it sells at where ``row`` applies: its list price, or an active
    price list's item in the company currency whose channel, store and group the promotion reaches."""
    prices = {p.id: p.list_price for p in products}
    if not products:
        return prices
    query = (
        select(PriceListItem.product_id, func.min(PriceListItem.unit_price))
        .join(PriceList, PriceList.id == PriceListItem.price_list_id)
        .where(
            PriceList.company_id == company.id,
            PriceList.active.is_(True),
            PriceList.currency == company.currency,
            PriceListItem.product_id.in_(prices),
        )
        .group_by(PriceListItem.product_id)
    )
    if row.channels is not None:
        query = query.where(or_(PriceList.channel.is_(None), PriceList.channel.in_(row.channels)))
    if row.store_ids is not None:
        query = query.where(
            or_(PriceList.store_id.is_(None), PriceList.store_id.in_([uuid.UUID(s) for s in row.store_ids]))
        )
    if row.customer_groups is not None:
        query = query.where(
            or_(PriceList.customer_group.is_(None), PriceList.customer_group.in_(row.customer_groups))
        )
    for product_id, price in session.execute(query):
        prices[product_id] = min(prices[product_id], price)
    return prices


def floor_breaches(session: Session, company: Company, row: PromotionRow) -> list[Breach]:
    """The targeted products that ``row`` alone can take below their margin floor (the engine's
    worst case at the product's lowest price where the promotion applies)."""
    promotion_fields = fields_of(row)
    products = _targeted_products(
        session, company.id, set(promotion_fields["product_ids"]), set(promotion_fields["categories"])
    )
    rules = load_tax_rules(session, company.id, company.tax_jurisdiction)
    found = floors(session, company.id, products, tax_rules=rules)
    products = [p for p in products if p.id in found]
    prices = _lowest_prices(session, company, row, products)
    promotion = to_model(row)
    breaches = []
    for product in products:
        floor = found[product.id]
        line = BasketLine(
            key=product.sku,
            product_id=product.id,
            category=product.category,
            quantity=Decimal(1),
            unit_price=prices[product.id],
            floor_amount=floor.amount,
        )
        worst = worst_case(promotion, line)
        if worst < floor.amount:
            breaches.append(
                Breach(
                    product.id,
                    product.sku,
                    prices[product.id],
                    worst,
                    floor.amount,
                    floor.unit_cost,
                    floor.fraction,
                    floor.source,
                )
            )
    return breaches


def _money(value: Decimal) -> str:
    return _canonical(value.quantize(Decimal("0.0001"), ROUND_HALF_UP))


def approve_promotion(
    session: Session,
    ctx: CommandContext,
    promotion_id: uuid.UUID,
    body: c.Decision,
    *,
    override: bool = False,
    now: dt.datetime | None = None,
) -> PromotionRow:
    """Approve a submitted promotion (module docstring); with ``override``, over a margin-floor breach.
    Records ``PromotionApproved`` and, when it is in force at once, ``PromotionActivated``."""
    now = now or utcnow()
    row = get_promotion(session, ctx.principal, promotion_id, lock=True)
    if row.stacking == "exclusive":
        # Exclusive approvals of a company one at a time: two overlapping ones approved at once would
        # each miss the other (the check reads approved rows only).
        session.execute(select(Company.id).where(Company.id == row.company_id).with_for_update())
    if override:
        if not ctx.principal.can("promotions:override"):
            raise PermissionDenied(
                f"role '{ctx.principal.role}' may not approve over a margin floor:"
                " it takes finance or an admin",
                code="override-not-allowed",
            )
        if not body.reason:
            raise ValidationFailed("an override says why", problems=[FieldProblem("reason", "required")])
    _transition("promotion", row, ("submitted",), "approved")
    _four_eyes("promotion", row, ctx, "approve")
    company = session.get(Company, row.company_id)
    assert company is not None
    overlaps = exclusive_overlaps(session, row)
    if overlaps:
        codes = ", ".join(o.code for o in overlaps)
        raise Conflict(
            f"exclusive promotion {row.code} overlaps exclusive {codes}"
            " (channels, stores, customer groups, time and products meet)",
            code="exclusive-overlap",
            problems=[FieldProblem("stacking", f"overlaps {o.code} ({o.state})") for o in overlaps],
        )
    breaches = floor_breaches(session, company, row)
    if breaches and not override:
        raise Conflict(
            f"{row.code} can take {len(breaches)} product(s) below their margin floor;"
            " an override by finance or an admin can approve it anyway",
            code="margin-floor-breach",
            problems=[
                FieldProblem(
                    f"products.{b.sku}",
                    f"price {_money(b.unit_price)}, worst case {_money(b.worst_case)}"
                    f" < floor {_money(b.floor)} (unit cost {_money(b.unit_cost)},"
                    f" margin floor {_canonical(b.fraction)} from {b.source})",
                )
                for b in breaches
            ],
        )
    span = _local_span(session, company.id, now)
    phase = _phase(row, span)
    if phase == "expired":
        raise Conflict(
            f"{row.code} ended at {row.ends_at} local time: nothing left to approve",
            code="promotion-over",
            problems=[FieldProblem("ends_at", "already passed in every store")],
        )
    row.state = phase
    row.decided_by, row.decided_at, row.decision_reason = ctx.actor, now, body.reason
    if breaches:
        row.override_by, row.override_reason = ctx.actor, body.reason
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PromotionApproved",
        company_id=row.company_id,
        aggregate_type="Promotion",
        aggregate_id=row.id,
        payload={
            "code": row.code,
            "state": row.state,
            "reason": body.reason,
            "override": {"by": ctx.actor, "reason": body.reason, "breaches": [b.payload() for b in breaches]}
            if breaches
            else None,
        },
    )
    if row.state == "active":
        _record_phase(session, ctx, row, "PromotionActivated")
    return row


def _record_phase(session: Session, ctx: CommandContext, row: PromotionRow, type: str) -> None:
    record(
        session,
        ctx,
        type=type,
        company_id=row.company_id,
        aggregate_type="Promotion",
        aggregate_id=row.id,
        payload={"code": row.code, "starts_at": row.starts_at, "ends_at": row.ends_at},
    )


# -- margin floors -----------------------------------------------------------------------------------


def get_floor(session: Session, principal: Principal, floor_id: uuid.UUID) -> MarginFloor:
    row = session.get(MarginFloor, floor_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no margin floor {floor_id}")
    return row


def _floor_payload(row: MarginFloor) -> dict[str, Any]:
    return {"product_id": row.product_id, "category": row.category, "floor": row.floor}


def create_floor(
    session: Session, ctx: CommandContext, company: Company, body: c.CreateMarginFloor
) -> MarginFloor:
    if (body.product_id is None) == (body.category is None):
        raise ValidationFailed(
            "a margin floor is for a product or for a category",
            problems=[FieldProblem("product_id", "give product_id or category, not both nor neither")],
        )
    if body.product_id is not None:
        product = session.get(Product, body.product_id)
        if product is None or product.company_id != company.id:
            raise InvalidReference(
                f"no product {body.product_id} in {company.code}",
                problems=[FieldProblem("product_id", "no such product")],
            )
        taken = select(MarginFloor.id).where(
            MarginFloor.company_id == company.id, MarginFloor.product_id == body.product_id
        )
        field_name = "product_id"
    else:
        known = session.scalar(
            select(Product.id)
            .where(Product.company_id == company.id, Product.category == body.category)
            .limit(1)
        )
        if known is None:
            raise InvalidReference(
                f"no product of {company.code} is in {body.category!r}",
                problems=[FieldProblem("category", "no such category")],
            )
        taken = select(MarginFloor.id).where(
            MarginFloor.company_id == company.id, MarginFloor.category == body.category
        )
        field_name = "category"
    if session.scalar(taken) is not None:
        raise Conflict(
            f"that {field_name.replace('_id', '')} has a floor already: change it",
            problems=[FieldProblem(field_name, "has a floor already")],
        )
    row = MarginFloor(
        company_id=company.id, product_id=body.product_id, category=body.category, floor=body.floor
    )
    session.add(row)
    session.flush()
    record(
        session,
        ctx,
        type="MarginFloorCreated",
        company_id=company.id,
        aggregate_type="MarginFloor",
        aggregate_id=row.id,
        payload=_floor_payload(row),
    )
    return row


def update_floor(
    session: Session,
    ctx: CommandContext,
    floor_id: uuid.UUID,
    body: c.UpdateMarginFloor,
    *,
    expected_version: int | None = None,
) -> MarginFloor:
    row = get_floor(session, ctx.principal, floor_id)
    _expect_version("margin floor", row, expected_version)
    if row.floor == body.floor:
        return row
    before = row.floor
    row.floor = body.floor
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="MarginFloorChanged",
        company_id=row.company_id,
        aggregate_type="MarginFloor",
        aggregate_id=row.id,
        payload={**_floor_payload(row), "changes": {"floor": {"from": before, "to": row.floor}}},
    )
    return row


def delete_floor(
    session: Session, ctx: CommandContext, floor_id: uuid.UUID, *, expected_version: int | None = None
) -> c.MarginFloorView:
    row = get_floor(session, ctx.principal, floor_id)
    _expect_version("margin floor", row, expected_version)
    gone = c.MarginFloorView.model_validate(row)
    record(
        session,
        ctx,
        type="MarginFloorRemoved",
        company_id=row.company_id,
        aggregate_type="MarginFloor",
        aggregate_id=row.id,
        payload=_floor_payload(row),
    )
    session.delete(row)
    session.flush()
    return gone


# -- governed price changes --------------------------------------------------------------------------


def get_price_change(
    session: Session, principal: Principal, change_id: uuid.UUID, *, lock: bool = False
) -> PriceChange:
    if lock:
        row = session.scalar(
            select(PriceChange)
            .where(PriceChange.id == change_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        row = session.get(PriceChange, change_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no price change {change_id}")
    return row


def _check_items(session: Session, company: Company, items: list[pl.ItemIn]) -> list[dict[str, Any]]:
    wanted = {item.product_id for item in items}
    found = set(
        session.scalars(select(Product.id).where(Product.company_id == company.id, Product.id.in_(wanted)))
        if wanted
        else []
    )
    missing = [
        FieldProblem(f"items.{n}.product_id", "no such product")
        for n, item in enumerate(items)
        if item.product_id not in found
    ]
    if missing:
        raise InvalidReference(f"{len(missing)} item(s) name no product of {company.code}", problems=missing)
    return [item.model_dump(mode="json") for item in items]


def create_price_change(
    session: Session, ctx: CommandContext, company: Company, body: c.CreatePriceChange
) -> PriceChange:
    price_list = session.get(PriceList, body.price_list_id)
    if (
        price_list is None
        or price_list.company_id != company.id
        or not ctx.principal.sees_store(price_list.store_id)
    ):
        raise InvalidReference(
            f"no price list {body.price_list_id} in {company.code}",
            problems=[FieldProblem("price_list_id", "no such price list")],
        )
    items = _check_items(session, company, body.items)
    row = PriceChange(
        company_id=company.id,
        price_list_id=price_list.id,
        items=items,
        effective_at=body.effective_at,
        reason=body.reason,
        state="draft",
        created_by=ctx.actor,
    )
    session.add(row)
    session.flush()
    record(
        session,
        ctx,
        type="PriceChangeCreated",
        company_id=company.id,
        aggregate_type="PriceChange",
        aggregate_id=row.id,
        payload={
            "price_list": price_list.code,
            "items": items,
            "effective_at": row.effective_at,
            "reason": row.reason,
        },
        store_id=price_list.store_id,
    )
    return row


def update_price_change(
    session: Session,
    ctx: CommandContext,
    change_id: uuid.UUID,
    body: c.UpdatePriceChange,
    *,
    expected_version: int | None = None,
) -> PriceChange:
    row = get_price_change(session, ctx.principal, change_id, lock=True)
    _expect_version("price change", row, expected_version)
    _transition("price change", row, EDITABLE, "changed")
    sent = {name: getattr(body, name) for name in body.model_fields_set}
    for name in sent:
        if sent[name] is None:
            raise ValidationFailed(f"{name} cannot be null", problems=[FieldProblem(name, "cannot be null")])
    company = session.get(Company, row.company_id)
    assert company is not None
    changes: dict[str, Any] = {}
    if "items" in sent:
        items = _check_items(session, company, sent["items"])
        if items != row.items:
            changes["items"] = {"from": row.items, "to": items}
            row.items = items
    if "effective_at" in sent and sent["effective_at"] != row.effective_at:
        changes["effective_at"] = {"from": row.effective_at, "to": sent["effective_at"]}
        row.effective_at = sent["effective_at"]
    if "reason" in sent and sent["reason"] != row.reason:
        changes["reason"] = {"from": row.reason, "to": sent["reason"]}
        row.reason = sent["reason"]
    if not changes:
        return row
    changes["state"] = {"from": row.state, "to": "draft"}
    row.state, row.last_edited_by = "draft", ctx.actor
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PriceChangeChanged",
        company_id=row.company_id,
        aggregate_type="PriceChange",
        aggregate_id=row.id,
        payload={"changes": changes},
    )
    return row


def submit_price_change(
    session: Session, ctx: CommandContext, change_id: uuid.UUID, *, expected_version: int | None = None
) -> PriceChange:
    row = get_price_change(session, ctx.principal, change_id, lock=True)
    _expect_version("price change", row, expected_version)
    _transition("price change", row, EDITABLE, "submitted")
    row.state, row.submitted_by, row.submitted_at = "submitted", ctx.actor, utcnow()
    row.decided_by = row.decided_at = row.decision_reason = None
    row.version += 1
    session.flush()
    _record_change(session, ctx, row, "PriceChangeSubmitted", {})
    return row


def reject_price_change(
    session: Session, ctx: CommandContext, change_id: uuid.UUID, body: c.ReasonRequired
) -> PriceChange:
    row = get_price_change(session, ctx.principal, change_id, lock=True)
    _transition("price change", row, ("submitted",), "rejected")
    row.state, row.decided_by, row.decided_at, row.decision_reason = (
        "rejected",
        ctx.actor,
        utcnow(),
        body.reason,
    )
    row.version += 1
    session.flush()
    _record_change(session, ctx, row, "PriceChangeRejected", {"reason": body.reason})
    return row


def approve_price_change(
    session: Session,
    ctx: CommandContext,
    change_id: uuid.UUID,
    body: c.Decision,
    *,
    now: dt.datetime | None = None,
) -> PriceChange:
    """Approve a submitted change (four eyes); applied at once when already due, else by the sweep."""
    now = now or utcnow()
    row = get_price_change(session, ctx.principal, change_id, lock=True)
    _transition("price change", row, ("submitted",), "approved")
    _four_eyes("price change", row, ctx, "approve")
    row.state, row.decided_by, row.decided_at, row.decision_reason = "approved", ctx.actor, now, body.reason
    row.version += 1
    session.flush()
    _record_change(session, ctx, row, "PriceChangeApproved", {"reason": body.reason})
    if row.effective_at <= now:
        apply_price_change(session, ctx, row, now)
    return row


def apply_price_change(session: Session, ctx: CommandContext, row: PriceChange, now: dt.datetime) -> None:
    """Replace the list's items with the change's (``PriceListItemsReplaced``) and mark it applied."""
    items = [pl.ItemIn.model_validate(item) for item in row.items]
    pl.replace_items(session, ctx, row.price_list_id, items)
    row.state, row.applied_at = "applied", now
    row.version += 1
    session.flush()
    _record_change(session, ctx, row, "PriceChangeApplied", {"applied_at": now})


def _record_change(
    session: Session, ctx: CommandContext, row: PriceChange, type: str, extra: dict[str, Any]
) -> None:
    record(
        session,
        ctx,
        type=type,
        company_id=row.company_id,
        aggregate_type="PriceChange",
        aggregate_id=row.id,
        payload={"price_list_id": row.price_list_id, "effective_at": row.effective_at, **extra},
    )


def change_view(row: PriceChange) -> c.PriceChangeView:
    return c.PriceChangeView.model_validate(row)


# -- the sweep ---------------------------------------------------------------------------------------


@dataclass
class Swept:
    activated: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    price_changes: list[uuid.UUID] = field(default_factory=list)


def _due_promotions(session: Session, company_id: uuid.UUID, now: dt.datetime) -> Select[Any]:
    earliest, latest = _local_span(session, company_id, now)
    return select(PromotionRow).where(
        PromotionRow.company_id == company_id,
        or_(
            (PromotionRow.state.in_(("approved", "scheduled")))
            & (PromotionRow.starts_at.is_(None) | (PromotionRow.starts_at <= latest)),
            (PromotionRow.state.in_(IN_FORCE))
            & (PromotionRow.ends_at.is_not(None))
            & (PromotionRow.ends_at <= earliest),
        ),
    )


def _due_changes(company_id: uuid.UUID, now: dt.datetime) -> Select[Any]:
    return select(PriceChange).where(
        PriceChange.company_id == company_id, PriceChange.state == "approved", PriceChange.effective_at <= now
    )


def sweep_due(session: Session, company_id: uuid.UUID, now: dt.datetime) -> bool:
    """Whether :func:`sweep` has anything to do (reads only)."""
    return any(
        session.scalar(query.with_only_columns(func.count()).order_by(None))
        for query in (
            _due_promotions(session, company_id, now),
            _due_changes(company_id, now),
        )
    )


def sweep(session: Session, ctx: CommandContext, company: Company, now: dt.datetime) -> Swept:
    """Move approved promotions to ``active`` and ``expired`` as their local times come, and apply the
    approved price changes that are due (oldest first)."""
    done = Swept()
    span = _local_span(session, company.id, now)
    # Locked, and read as left by a sweep of another process that held them: each move is recorded once.
    due = (
        _due_promotions(session, company.id, now)
        .order_by(PromotionRow.code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for row in list(session.scalars(due)):
        phase = _phase(row, span)
        if phase == row.state:
            continue
        row.state = phase
        row.version += 1
        session.flush()
        if phase == "active":
            _record_phase(session, ctx, row, "PromotionActivated")
            done.activated.append(row.code)
        elif phase == "expired":
            _record_phase(session, ctx, row, "PromotionExpired")
            done.expired.append(row.code)
    changes = (
        _due_changes(company.id, now)
        .order_by(PriceChange.effective_at, PriceChange.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for change in list(session.scalars(changes)):
        apply_price_change(session, ctx, change, now)
        done.price_changes.append(change.id)
    return done


# -- quotes ------------------------------------------------------------------------------------------


def quote(session: Session, principal: Principal, company: Company, body: c.PriceQuote) -> c.QuoteView:
    """Price a basket as a channel would (see docs/promotions-governance.md#quotes). Coupons are not
    taken yet."""
    store = store_in_scope(session, principal, body.store_id, company=company)
    group = body.customer_group
    if body.customer_id is not None:
        customer = session.get(Customer, body.customer_id)
        if customer is None or customer.company_id != company.id:
            raise InvalidReference(
                f"no customer {body.customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
            )
        group = customer.customer_group
    at = body.at or utcnow()
    zone = ZoneInfo(store.timezone) if store is not None else default_zone(session, company.id)
    local = at.astimezone(zone).replace(tzinfo=None)
    currency = body.currency or company.currency
    places = minor_unit(currency)
    quantum = Decimal(1).scaleb(-places)
    ids = {line.product_id for line in body.lines}
    products = {
        p.id: p
        for p in session.scalars(select(Product).where(Product.company_id == company.id, Product.id.in_(ids)))
    }
    problems = [
        FieldProblem(f"lines.{n}.product_id", "no such product")
        for n, line in enumerate(body.lines)
        if line.product_id not in products
    ]
    if problems:
        raise InvalidReference(
            f"{len(problems)} line(s) name no product of {company.code}", problems=problems
        )
    for n, line in enumerate(body.lines):
        if line.manual_discount != line.manual_discount.quantize(quantum):
            problems.append(FieldProblem(f"lines.{n}.manual_discount", f"more decimals than {currency} has"))
    jurisdiction = (store.tax_jurisdiction if store else None) or company.tax_jurisdiction
    rules = load_tax_rules(session, company.id, jurisdiction)
    for n, line in enumerate(body.lines):
        product = products[line.product_id]
        if product.tax_category not in rules:
            problems.append(
                FieldProblem(
                    f"lines.{n}.product_id",
                    f"{product.sku}: no tax rule for {product.tax_category} in {jurisdiction}",
                )
            )
    if problems:
        raise ValidationFailed("some lines cannot be quoted", problems=problems)
    included = {tax.price_included for p in products.values() for tax in rules[p.tax_category]}
    if len(included) > 1:
        raise ValidationFailed(
            "a basket cannot mix price-included and price-excluded taxes",
            problems=[FieldProblem("lines", "taxes mix price-included and excluded")],
        )
    prices_include_tax = included == {True}
    line_floors = floors(
        session, company.id, products.values(), tax_rules=rules if prices_include_tax else None
    )
    costs = unit_costs(session, company.id, products.values())
    quotes = []
    for n, line in enumerate(body.lines):
        try:
            quotes.append(
                pl.price_for(
                    session,
                    company,
                    products[line.product_id],
                    channel=body.channel,
                    store_id=store.id if store else None,
                    currency=currency,
                    on=local.date(),
                    quantity=line.quantity,
                    customer_group=group,
                )
            )
        except pl.NoPrice as error:
            raise pl.NoPrice(
                error.detail, problems=[FieldProblem(f"lines.{n}.product_id", f"no price in {currency}")]
            ) from None
    basket = Basket(
        lines=tuple(
            BasketLine(
                key=str(n),
                product_id=line.product_id,
                category=products[line.product_id].category,
                quantity=line.quantity,
                unit_price=quotes[n].unit_price,
                manual_discount=line.manual_discount,
                floor_amount=line_floors[line.product_id].amount if line.product_id in line_floors else None,
            )
            for n, line in enumerate(body.lines)
        ),
        currency_decimals=places,
        channel=body.channel,
        local_time=local,
        store_id=store.id if store else None,
        customer_group=group,
    )
    priced = book_for(session, company.id).price(basket)
    try:
        taxes = compute_taxes(
            [
                TaxableLine(p.key, p.net, products[body.lines[int(p.key)].product_id].tax_category)
                for p in priced.lines
            ],
            rules,
            currency,
        )
    except NoTaxRule as error:  # pragma: no cover - checked above
        raise ValidationFailed(str(error), code="no-tax-rule") from error
    lines = []
    for p in priced.lines:
        request = body.lines[int(p.key)]
        taxed = taxes.line(p.key)
        unit_cost = costs[request.product_id]
        floor = line_floors.get(request.product_id)
        lines.append(
            c.QuoteLineView(
                product_id=request.product_id,
                quantity=p.quantity,
                unit_price=p.unit_price,
                price_source=quotes[int(p.key)].source,
                amount=p.amount,
                discounts=[
                    c.QuoteDiscountView(source=d.source, code=d.code, amount=d.amount) for d in p.discounts
                ],
                discount=p.discount,
                net=taxed.net,
                tax=taxed.tax,
                gross=taxed.gross,
                cost=unit_cost,
                margin=(taxed.net - unit_cost * p.quantity).quantize(quantum, ROUND_HALF_UP),
                floor_amount=floor.amount.quantize(quantum, ROUND_HALF_UP) if floor else None,
                below_floor=p.below_floor,
            )
        )
    total_cost = sum((line.cost * line.quantity for line in lines), Decimal(0)).quantize(
        quantum, ROUND_HALF_UP
    )
    return c.QuoteView(
        currency=currency,
        channel=body.channel,
        store_id=store.id if store else None,
        customer_group=group,
        local_time=local,
        prices_include_tax=prices_include_tax,
        lines=lines,
        promotions=list(priced.promotions),
        discount=priced.discount,
        net=taxes.net_total,
        tax=taxes.tax_total,
        gross=taxes.gross_total,
        cost=total_cost,
        margin=taxes.net_total - total_cost,
        below_floor=bool(priced.below_floor),
    )
