"""External ids and what they became here (``connector_links``), and the outcome of one message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.connectors.tables import ConnectorLink
from retailcore.core.errors import Conflict, FieldProblem


def find(session: Session, connector_id: uuid.UUID, kind: str, external_id: object) -> uuid.UUID | None:
    link = session.get(ConnectorLink, (connector_id, kind, str(external_id)))
    return link.internal_id if link else None


def add(
    session: Session, connector_id: uuid.UUID, kind: str, external_id: object, internal_id: uuid.UUID
) -> None:
    session.add(
        ConnectorLink(
            connector_id=connector_id,
            kind=kind,
            external_id=str(external_id),
            internal_id=internal_id,
            created_at=utcnow(),
        )
    )


@dataclass
class Outcome:
    """What processing a message did: ``result`` (ids here), ``flags`` for a person, ``duplicate_of``
    when the resource had landed before, ``wakes``: the keys whose waiting messages can go now."""

    result: dict[str, Any] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)
    duplicate_of: str | None = None
    wakes: list[str] = field(default_factory=list)


class Waiting(Conflict):
    """The message needs something that has not arrived yet (its order, the order's delivery): kept
    as failed with ``waits_for``, and retried as soon as that lands (or by the backoff)."""

    def __init__(self, detail: str, waits_for: str) -> None:
        super().__init__(
            detail, code="waiting-for-prerequisite", problems=[FieldProblem("waits_for", waits_for)]
        )
        self.waits_for = waits_for


class Permanent(Conflict):
    """A message no retry can help (a topic this connector does not handle): dead-lettered at once."""
