"""Promotion governance (decision 0048): promotions drafted, submitted and approved by another person,
and the sweep that moves approved promotions through their life (and applies the approved price
changes that are due, :mod:`retailcore.promotions.price_changes`). Margin floors and the breach check
are :mod:`retailcore.promotions.floors`; quotes :mod:`retailcore.promotions.quotes`; the guards they
share :mod:`retailcore.promotions.governance`.

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
  groups, local time range, weekly windows, products) overlaps another approved exclusive one not expired
  (409 ``exclusive-overlap``, naming it); and a promotion that can take a targeted product below its
  margin floor (409 ``margin-floor-breach``, each product with its price, worst case and floor).
  ``override`` approves over a breach; it takes ``promotions:override`` (finance, admin: a role above
  the approver's) and a reason, and records who and why.
* Approved promotions are stored as ``scheduled`` (not started anywhere yet) or ``active``; the sweep
  (:func:`sweep`, run by ``retailcore serve``) moves them to ``active`` once the start has been reached
  in some store's local time and to ``expired`` once the end has passed in every store's local time,
  recording ``PromotionActivated`` and ``PromotionExpired``. Pricing does not wait for the sweep: every
  approved promotion not expired is in the book, and the engine checks the basket's local time.

Every change records an event (``PromotionCreated``, ``PromotionChanged``, ``PromotionSubmitted``,
``PromotionApproved``, ``PromotionRejected``, ``PromotionActivated``, ``PromotionExpired``) with who,
when and why.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    RetailcoreError,
    ValidationFailed,
)
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.cache import cached
from retailcore.masterdata.services import store_id_in_scope
from retailcore.masterdata.tables import Company, Product, Store
from retailcore.promotions import commands as c
from retailcore.promotions import price_changes
from retailcore.promotions.book import (
    IN_FORCE,
    fields_of,
    rule_of,
    windows_of,
)
from retailcore.promotions.floors import floor_breaches
from retailcore.promotions.governance import (
    EDITABLE,
    expect_version,
    four_eyes,
    money_text,
    plain,
    reject,
    submit,
    transition,
)
from retailcore.promotions.tables import PriceChange, PromotionRow

UTC = ZoneInfo("UTC")


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
    """Where channels without a store are: the company's first store's zone (by code), or UTC (behind
    the master-data stamp, decision 0070: every web order asks)."""
    return cached(session, company_id, "default_zone", lambda: _default_zone(session, company_id))


def _default_zone(session: Session, company_id: uuid.UUID) -> ZoneInfo:
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


def in_store_scope(principal: Principal, store_ids: list[Any] | None) -> None:
    """Refuse (403 ``store-scope``, naming ``store_ids``) a store-scoped token or user acting on a
    promotion that does not target only its store: a company-wide one (``store_ids`` null) or one naming
    another store. Company-level principals act on every promotion."""
    if principal.store_id is None:
        return
    mine = str(principal.store_id)
    if store_ids is None:
        raise PermissionDenied(
            "a store-scoped token may only govern promotions of its own store, not company-wide ones",
            code="store-scope",
            problems=[FieldProblem("store_ids", f"must name only the store {mine}, not every store")],
        )
    others = [n for n, ref in enumerate(store_ids) if str(ref) != mine]
    if others:
        raise PermissionDenied(
            "a store-scoped token may only govern promotions of its own store",
            code="store-scope",
            problems=[FieldProblem(f"store_ids.{n}", f"not the store {mine}") for n in others],
        )


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
    in_store_scope(ctx.principal, fields.get("store_ids"))
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
    expect_version("promotion", row, expected_version)
    transition("promotion", row, EDITABLE, "changed")
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
    in_store_scope(ctx.principal, row.store_ids)
    merged = _references(session, ctx.principal, company, merged)
    in_store_scope(ctx.principal, merged.get("store_ids"))
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
    in_store_scope(ctx.principal, row.store_ids)
    expect_version("promotion", row, expected_version)
    submit("promotion", row, ctx.actor)
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
    in_store_scope(ctx.principal, row.store_ids)
    reject("promotion", row, ctx.actor, body.reason)
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


def _meets(a: list[Any] | None, b: list[Any] | None) -> bool:
    return a is None or b is None or bool(set(a) & set(b))


def _times_meet(a: PromotionRow, b: PromotionRow) -> bool:
    starts_before_b_ends = a.starts_at is None or b.ends_at is None or a.starts_at < b.ends_at
    b_starts_before_a_ends = b.starts_at is None or a.ends_at is None or b.starts_at < a.ends_at
    return starts_before_b_ends and b_starts_before_a_ends


WEEK = 7 * 24 * 60
"""Minutes in a week: weekly windows as intervals of minutes from Monday 00:00."""


def _minutes(text: str) -> int:
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes[:2] or 0)


def week_intervals(windows: list[dict[str, Any]] | None) -> list[tuple[int, int]] | None:
    """A promotion's weekly windows as half-open intervals of minutes in the week (Monday 00:00 = 0), as
    the engine reads them (:func:`retailcore.promotions.engine.in_window`): an ``end`` not after ``start``
    runs into the next day, ``start == end`` is 24 hours; Sunday's late window wraps to Monday. None: no
    windows, every minute."""
    if not windows:
        return None
    intervals: list[tuple[int, int]] = []
    for window in windows:
        start, end = _minutes(window["start"]), _minutes(window["end"])
        length = end - start if end > start else end - start + 24 * 60
        for day in window["weekdays"]:
            opens = day * 24 * 60 + start
            closes = opens + length
            if closes <= WEEK:
                intervals.append((opens, closes))
            else:
                intervals += [(opens, WEEK), (0, closes - WEEK)]
    return intervals


def _windows_meet(a: PromotionRow, b: PromotionRow) -> bool:
    """Whether the weekly windows of two promotions share a minute (no windows: always)."""
    wa, wb = week_intervals(a.windows), week_intervals(b.windows)
    if wa is None or wb is None:
        return True
    return any(s1 < e2 and s2 < e1 for s1, e1 in wa for s2, e2 in wb)


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
        and _windows_meet(row, other)
        and _targets_meet(session, row, other)
    ]


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
    in_store_scope(ctx.principal, row.store_ids)
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
    transition("promotion", row, ("submitted",), "approved")
    four_eyes("promotion", row, ctx, "approve")
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
                    f"price {money_text(b.unit_price)}, worst case {money_text(b.worst_case)}"
                    f" < floor {money_text(b.floor)} (unit cost {money_text(b.unit_cost)},"
                    f" margin floor {plain(b.fraction)} from {b.source})",
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


def sweep_due(session: Session, company_id: uuid.UUID, now: dt.datetime) -> bool:
    """Whether :func:`sweep` has anything to do (reads only)."""
    return any(
        session.scalar(query.with_only_columns(func.count()).order_by(None))
        for query in (
            _due_promotions(session, company_id, now),
            price_changes.due_changes(company_id, now),
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
        price_changes.due_changes(company.id, now)
        .order_by(PriceChange.effective_at, PriceChange.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for change in list(session.scalars(changes)):
        price_changes.apply_price_change(session, ctx, change, now)
        done.price_changes.append(change.id)
    return done
