"""The guards every governed record shares (promotions, price changes): versions, allowed
transitions and four eyes (decision 0048)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from retailcore.adapters.orm import utcnow
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    PermissionDenied,
    PreconditionFailed,
)
from retailcore.eventlog.services import CommandContext

EDITABLE = ("draft", "rejected")
"""States a promotion or a price change may still be changed in."""


def plain(value: Decimal) -> str:
    """A Decimal as short text (``5.5``, ``10``) for messages and event payloads."""
    return f"{value.normalize():f}"


def money_text(value: Decimal) -> str:
    """An amount to 4 decimals at most, as short text."""
    return plain(value.quantize(Decimal("0.0001"), ROUND_HALF_UP))


def expect_version(kind: str, row: Any, expected_version: int | None) -> None:
    """Refuse (412) a change made against a version the record has moved on from (``If-Match``)."""
    if expected_version is not None and row.version != expected_version:
        raise PreconditionFailed(
            f"{kind} {row.id} is at version {row.version}, not {expected_version}", code="version-mismatch"
        )


def transition(kind: str, row: Any, allowed: tuple[str, ...], action: str) -> None:
    """Refuse (409 ``invalid-transition``) an action the record's state does not allow."""
    if row.state not in allowed:
        raise Conflict(
            f"{kind} {getattr(row, 'code', row.id)} is {row.state}:"
            f" only {' or '.join(allowed)} ones can be {action}",
            code="invalid-transition",
            problems=[FieldProblem("state", f"is {row.state}")],
        )


def four_eyes(kind: str, row: Any, ctx: CommandContext, action: str) -> None:
    """Refuse (403 ``four-eyes``) a decision by the author, the last editor or the submitter."""
    involved = {row.created_by, row.last_edited_by, row.submitted_by} - {None}
    if ctx.actor in involved:
        raise PermissionDenied(
            f"four eyes: {ctx.actor} drafted, changed or submitted this {kind} and may not {action} it;"
            " another person with the permission must",
            code="four-eyes",
        )


def submit(kind: str, row: Any, actor: str) -> None:
    """Submit a draft or rejected record for approval by ``actor``, clearing an earlier decision."""
    transition(kind, row, EDITABLE, "submitted")
    row.state, row.submitted_by, row.submitted_at = "submitted", actor, utcnow()
    row.decided_by = row.decided_at = row.decision_reason = None
    row.version += 1


def reject(kind: str, row: Any, actor: str, reason: str) -> None:
    """Reject a submitted record, by ``actor`` for ``reason``."""
    transition(kind, row, ("submitted",), "rejected")
    row.state, row.decided_by, row.decided_at, row.decision_reason = "rejected", actor, utcnow(), reason
    row.version += 1
