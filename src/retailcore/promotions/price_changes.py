"""Governed price changes (decision 0048): a price list's complete new items and the moment they
apply, drafted, submitted, approved by another person (or rejected, saying why), then applied by the
sweep when due (at once on approval when already due) through
:func:`retailcore.pricing.price_lists.replace_items`, so the list records ``PriceListItemsReplaced``
as for a direct edit. Events: ``PriceChangeCreated``, ``PriceChangeChanged``, ``PriceChangeSubmitted``,
``PriceChangeApproved``, ``PriceChangeRejected``, ``PriceChangeApplied``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import (
    FieldProblem,
    InvalidReference,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company, Product
from retailcore.pricing import price_lists as pl
from retailcore.pricing.tables import PriceList
from retailcore.promotions import commands as c
from retailcore.promotions.governance import EDITABLE, expect_version, four_eyes, reject, submit, transition
from retailcore.promotions.tables import PriceChange

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


def in_store_scope(session: Session, principal: Principal, price_list_id: uuid.UUID) -> None:
    """Refuse (403 ``store-scope``, naming ``price_list_id``) a store-scoped token or user acting on a
    price change of a list that is not its own store's: a company-wide list (``store_id`` null) or another
    store's. Company-level principals govern every price change (decision 0056's rule for promotions)."""
    if principal.store_id is None:
        return
    price_list = session.get(PriceList, price_list_id)
    store_id = price_list.store_id if price_list is not None else None
    if store_id == principal.store_id:
        return
    mine = str(principal.store_id)
    raise PermissionDenied(
        "a store-scoped token may only govern price changes of its own store's price lists"
        + (", not company-wide ones" if store_id is None else ""),
        code="store-scope",
        problems=[FieldProblem("price_list_id", f"not a price list of the store {mine} alone")],
    )


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
    in_store_scope(session, ctx.principal, price_list.id)
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
    in_store_scope(session, ctx.principal, row.price_list_id)
    expect_version("price change", row, expected_version)
    transition("price change", row, EDITABLE, "changed")
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
    in_store_scope(session, ctx.principal, row.price_list_id)
    expect_version("price change", row, expected_version)
    submit("price change", row, ctx.actor)
    session.flush()
    _record_change(session, ctx, row, "PriceChangeSubmitted", {})
    return row


def reject_price_change(
    session: Session, ctx: CommandContext, change_id: uuid.UUID, body: c.ReasonRequired
) -> PriceChange:
    row = get_price_change(session, ctx.principal, change_id, lock=True)
    in_store_scope(session, ctx.principal, row.price_list_id)
    reject("price change", row, ctx.actor, body.reason)
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
    in_store_scope(session, ctx.principal, row.price_list_id)
    transition("price change", row, ("submitted",), "approved")
    four_eyes("price change", row, ctx, "approve")
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


def due_changes(company_id: uuid.UUID, now: dt.datetime) -> Select[Any]:
    return select(PriceChange).where(
        PriceChange.company_id == company_id, PriceChange.state == "approved", PriceChange.effective_at <= now
    )
