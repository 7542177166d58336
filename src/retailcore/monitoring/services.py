"""Raising exceptions and working them: the one exceptions console's writes.

Rules of the flow:

- **Any context raises** through :func:`record` (alias :func:`raise_exception`), in the transaction of
  what found the problem: inventory (oversold, negative stock), purchasing (bill mismatch), POS (sales
  booked on another day), connectors (failed syncs, dead letters, duplicates, flags), and the
  settlements of issue 17 (captured against settled). Nothing else writes the table.
- **One unresolved row per problem.** A producer names its problem by a ``key`` (``sync:<message
  id>``, ``oversold:<product>:<location>``...). Found again while its row is open or acknowledged, the
  row is brought up to date (latest type, message, details, money; the higher severity; one more
  occurrence, or the count the producer knows) instead of a second one being opened; the unique
  ``(company_id, open_key)`` holds it. Once resolved, the same problem found again opens a new row.
  Without a key every call opens a row.
- **People** :func:`acknowledge` (``open`` only), :func:`assign` (an owner, any unresolved row) and
  :func:`resolve` (final) with a note; each records an event (``ExceptionAcknowledged``,
  ``ExceptionAssigned``, ``ExceptionResolved``, aggregate ``Exception``): the audit trail. A producer
  that sees its problem fixed (a failed message processed by a retry or a replay) calls
  :func:`resolve_key`, which resolves the row the same way, as the producer's actor.
- **Store scope.** A store-scoped principal reaches its store's exceptions only; company-level ones
  (no store) are for company tokens.
- **Priority** = severity weight x class weight x (1 + log10(1 + money at risk)) x (1 + age in days).
  The first three factors (the ``stake``) are fixed when the row is written or its class changes
  (:func:`stake`); the age is counted when the list is read (:mod:`retailcore.monitoring.queries`), so
  an old problem climbs. The class (decision 0076) is the triage rules' when a producer's details prove
  it (:mod:`retailcore.monitoring.classes`), the classifier's or a person's later; no class weighs 1.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, to_json
from retailcore.eventlog.services import record as record_event
from retailcore.masterdata.tables import Company
from retailcore.monitoring import classes as triage_rules
from retailcore.monitoring.tables import EXCEPTION_TYPES, SEVERITIES, UNRESOLVED, ExceptionCase

WEIGHTS = {"low": 1, "medium": 2, "high": 4, "critical": 8}
"""Severity's factor in the priority."""

DEFAULT_SEVERITY = {
    "failed_sync": "medium",
    "dead_letter": "high",
    "duplicate": "low",
    "tax_mismatch": "medium",
    "payment_mismatch": "high",
    "bank_unmatched": "medium",
    "sync_flag": "low",
    "oversold": "high",
    "negative_stock": "medium",
    "stock_mismatch": "medium",
    "bill_mismatch": "medium",
    "sale_clock_out_of_window": "low",
    "sale_in_locked_period": "medium",
    "sale_refused": "high",
    "pricing_mismatch": "medium",
    "coupon_reuse": "medium",
    "discount_anomaly": "medium",
    "return_anomaly": "high",
    "margin_anomaly": "medium",
}
"""What a type weighs unless its producer says otherwise."""

AGGREGATE = "Exception"


def stake(severity: str, amount_at_risk: Decimal, klass: str | None = None) -> int:
    """Severity weight x class weight x (1 + log10(1 + money at risk)), in thousandths: the part of the
    priority that does not change with time. Log, not linear: ten times the money adds one, so one
    large amount does not bury every other problem forever. Decimal arithmetic throughout (no float)."""
    money = max(amount_at_risk, Decimal(0))
    factor = Decimal(WEIGHTS[severity]) * triage_rules.weight(klass) * (1 + (1 + money).log10()) * 1000
    return int(factor.to_integral_value(rounding=ROUND_HALF_UP))


def _check(type: str, severity: str) -> None:
    if type not in EXCEPTION_TYPES:
        raise ValueError(f"unknown exception type {type!r}")  # a producer's bug, not input
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")


def _higher(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def record(
    session: Session,
    ctx: CommandContext,
    company_id: uuid.UUID,
    *,
    type: str,
    message: str,
    key: str | None = None,
    severity: str | None = None,
    amount_at_risk: Decimal | None = None,
    currency: str | None = None,
    store_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    order_id: uuid.UUID | None = None,
    connector_id: uuid.UUID | None = None,
    sync_message_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    event_id: uuid.UUID | None = None,
    occurrences: int | None = None,
    open_new: bool = True,
    now: dt.datetime | None = None,
) -> ExceptionCase | None:
    """Raise an exception, or bring up to date the unresolved one of the same ``key``.

    ``type``: one of :data:`~retailcore.monitoring.tables.EXCEPTION_TYPES`; ``severity`` defaults by
    type (:data:`DEFAULT_SEVERITY`). ``amount_at_risk``: money at stake (its absolute value is kept), in
    ``currency`` (default: the company's). ``details``: facts for a person, merged into the row's
    (notes already given stay). ``occurrences``: how often the problem has been seen, when the producer
    knows (a duplicate delivered twice: 2); otherwise a new row counts 1 and each repeat adds one.
    ``open_new=False`` only brings an unresolved row up to date (None when there is none).

    Settlements (issue 17) call it for captured against settled::

        record(session, ctx, company.id, type="payment_mismatch", key=f"settlement:{psp_reference}",
               message="captured 100.00, settled 98.00", amount_at_risk=Decimal("2.00"),
               order_id=order.id, details={"captured": "100.00", "settled": "98.00"})
    """
    severity = severity or DEFAULT_SEVERITY.get(type, "medium")
    _check(type, severity)
    now = now or utcnow()
    amount = abs(amount_at_risk) if amount_at_risk is not None else None
    facts = to_json(details or {})
    row = None
    if key is not None:
        # Locked: a person acknowledging or resolving it meanwhile waits for this transaction.
        row = session.scalar(
            select(ExceptionCase)
            .where(ExceptionCase.company_id == company_id, ExceptionCase.open_key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if row is not None:
        row.type = type
        row.severity = _higher(row.severity, severity)
        if amount is not None:
            row.amount_at_risk = amount
            if currency:
                row.currency = currency
        row.message = message[:500]
        # A new dict, so the JSON column is seen as changed; notes of acknowledgement stay.
        row.details = {**(row.details or {}), **facts}
        _classify_by_rules(row)
        row.stake = stake(row.severity, row.amount_at_risk, row.exception_class)
        row.occurrences = max(occurrences or 0, row.occurrences + 1)
        row.last_seen_at = now
        row.updated_by = ctx.actor
        for name, value in (
            ("store_id", store_id),
            ("product_id", product_id),
            ("location_id", location_id),
            ("order_id", order_id),
            ("connector_id", connector_id),
            ("sync_message_id", sync_message_id),
        ):
            if value is not None and getattr(row, name) is None:
                setattr(row, name, value)
        return row
    if not open_new:
        return None
    if currency is None:
        company = session.get(Company, company_id)
        assert company is not None
        currency = company.currency
    amount = amount if amount is not None else Decimal(0)
    klass = triage_rules.rule_class(type, facts)
    row = ExceptionCase(
        company_id=company_id,
        type=type,
        severity=severity,
        status="open",
        amount_at_risk=amount,
        currency=currency,
        stake=stake(severity, amount, klass),
        exception_class=klass,
        class_confidence=Decimal(1) if klass else None,
        class_source="rule" if klass else None,
        dedupe_key=key,
        open_key=key,
        occurrences=max(occurrences or 1, 1),
        store_id=store_id,
        product_id=product_id,
        location_id=location_id,
        order_id=order_id,
        connector_id=connector_id,
        sync_message_id=sync_message_id,
        message=message[:500],
        details=facts,
        event_id=event_id,
        created_at=now,
        last_seen_at=now,
        updated_at=now,
    )
    if key is None:
        session.add(row)
        return row
    try:
        with session.begin_nested():  # another transaction may open the same problem at this moment
            session.add(row)
            session.flush()
    except IntegrityError:
        # It did (PostgreSQL waited for its commit): count this occurrence on its row instead.
        return record(
            session,
            ctx,
            company_id,
            type=type,
            message=message,
            key=key,
            severity=severity,
            amount_at_risk=amount_at_risk,
            currency=currency,
            store_id=store_id,
            product_id=product_id,
            location_id=location_id,
            order_id=order_id,
            connector_id=connector_id,
            sync_message_id=sync_message_id,
            details=details,
            event_id=event_id,
            occurrences=occurrences,
            open_new=False,
            now=now,
        )
    return row


raise_exception = record


def _classify_by_rules(row: ExceptionCase) -> None:
    """A row brought up to date gets its rules' class again, unless a person gave it one (theirs
    stands) or the rules cannot decide (the classifier's suggestion, if any, stands)."""
    if row.class_source == "person":
        return
    klass = triage_rules.rule_class(row.type, row.details)
    if klass is not None:
        row.exception_class, row.class_confidence, row.class_source = klass, Decimal(1), "rule"


"""The same function under the name a settlement importer reads best."""


# -- working them ----------------------------------------------------------------------------------


def get(
    session: Session,
    ctx: CommandContext | None,
    company: Company,
    exception_id: uuid.UUID,
    *,
    store_id: uuid.UUID | None = None,
    lock: bool = False,
) -> ExceptionCase:
    """The company's exception, if the caller's store (``store_id``, or the principal's) may see it."""
    query = select(ExceptionCase).where(
        ExceptionCase.id == exception_id, ExceptionCase.company_id == company.id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = session.scalar(query)
    visible = ctx.principal.store_id if ctx is not None else store_id
    # Strictly the store's own: company-level exceptions (store_id null) are for company tokens.
    if row is None or visible not in (None, row.store_id):
        raise NotFound(f"no exception {exception_id}")
    return row


def _note(
    session: Session,
    ctx: CommandContext,
    row: ExceptionCase,
    *,
    event_type: str,
    note: str,
    status: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ExceptionCase:
    at = utcnow()
    entry = {"by": ctx.actor, "at": at.isoformat(), "note": note, **(extra or {})}
    if status is not None:
        row.status = status
        # A new dict, so the JSON column is seen as changed; earlier notes stay.
        row.details = {**(row.details or {}), status: entry}
        if status == "acknowledged":
            row.acknowledged_at = at
        elif status == "resolved":
            row.resolved_at = at
            row.open_key = None  # the same problem found again opens a new row
            row.resolution = note
    row.updated_by = ctx.actor
    row.updated_at = at
    session.flush()
    record_event(
        session,
        ctx,
        type=event_type,
        company_id=row.company_id,
        aggregate_type=AGGREGATE,
        aggregate_id=row.id,
        payload={
            "exception_id": row.id,
            "type": row.type,
            "status": row.status,
            "owner": row.owner,
            "store_id": row.store_id,
            "product_id": row.product_id,
            "location_id": row.location_id,
            "order_id": row.order_id,
            "sync_message_id": row.sync_message_id,
            "note": note,
            **(extra or {}),
        },
        store_id=row.store_id,
    )
    return row


note_change = _note
"""Record a change a person made to a row (its class, decision 0076) as :func:`assign` does."""


def _not_resolved(row: ExceptionCase) -> None:
    if row.status == "resolved":
        raise Conflict(
            "the exception is already resolved",
            code="exception-resolved",
            problems=[FieldProblem("status", row.status)],
        )


def acknowledge(
    session: Session, ctx: CommandContext, company: Company, exception_id: uuid.UUID, *, note: str = ""
) -> ExceptionCase:
    """Someone is looking at it: ``open`` -> ``acknowledged``."""
    row = get(session, ctx, company, exception_id, lock=True)
    if row.status != "open":
        raise Conflict(
            f"the exception is {row.status}; only open ones are acknowledged",
            code="exception-not-open",
            problems=[FieldProblem("status", row.status)],
        )
    return _note(session, ctx, row, status="acknowledged", event_type="ExceptionAcknowledged", note=note)


def resolve(
    session: Session, ctx: CommandContext, company: Company, exception_id: uuid.UUID, *, note: str = ""
) -> ExceptionCase:
    """Done with it: ``open`` or ``acknowledged`` -> ``resolved``, which is final."""
    row = get(session, ctx, company, exception_id, lock=True)
    _not_resolved(row)
    return _note(session, ctx, row, status="resolved", event_type="ExceptionResolved", note=note)


def assign(
    session: Session,
    ctx: CommandContext,
    company: Company,
    exception_id: uuid.UUID,
    *,
    owner: str,
    note: str = "",
) -> ExceptionCase:
    """Give an unresolved exception to someone (a name or an e-mail: free text, 1-128 characters).
    The status does not change: the owner acknowledges it when they pick it up."""
    owner = owner.strip()
    if not 1 <= len(owner) <= 128:
        raise ValidationFailed("an owner is 1 to 128 characters", problems=[FieldProblem("owner", "1-128")])
    row = get(session, ctx, company, exception_id, lock=True)
    _not_resolved(row)
    previous = row.owner
    row.owner = owner
    return _note(
        session, ctx, row, event_type="ExceptionAssigned", note=note, extra={"previous_owner": previous}
    )


def resolve_row(
    session: Session,
    ctx: CommandContext,
    row: ExceptionCase,
    *,
    note: str,
    details: dict[str, Any] | None = None,
) -> ExceptionCase:
    """Resolve a row its producer holds (a vendor bill's mismatch, approved or withdrawn): as
    :func:`resolve`, without the scope check, a no-op on a resolved row. ``details`` are merged in."""
    if row.status == "resolved":
        return row
    if details:
        row.details = {**(row.details or {}), **to_json(details)}
    return _note(session, ctx, row, status="resolved", event_type="ExceptionResolved", note=note)


def resolve_key(
    session: Session, ctx: CommandContext, company_id: uuid.UUID, key: str, *, note: str
) -> ExceptionCase | None:
    """A producer saw its problem fixed (a failed message processed after all): resolve the unresolved
    row of ``key``, if there is one, with ``note``; None when there is none."""
    row = session.scalar(
        select(ExceptionCase)
        .where(
            ExceptionCase.company_id == company_id,
            ExceptionCase.open_key == key,
            ExceptionCase.status.in_(UNRESOLVED),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        return None
    return _note(session, ctx, row, status="resolved", event_type="ExceptionResolved", note=note)
