"""Pushing to Odoo: plan the messages (master data, the books of a month), then send them through the
sync log, one at a time (docs/integrations.md#odoo; the rules are in :mod:`retailcore.connectors.odoo`).

The CLI plans in one transaction and sends each message in a transaction of its own (what was sent
stays sent if the run stops); the API does both in its one request. Either way a message that fails
stays in the sync log, retried by the backoff and replayable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.connectors import commands as c
from retailcore.connectors import odoo, vault
from retailcore.connectors import services as svc
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.core.errors import Conflict, FieldProblem, NotFound
from retailcore.core.inputs import JsonObject, text
from retailcore.eventlog.services import CommandContext, to_json

What = Literal["all", "master_data", "books"]
SENDABLE = ("received", "failed", "retried")


class Push(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: What = Field("all", description="`master_data` (products, customers), `books`, or `all` (both).")
    period: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}$",
        description="The books of one month (`2026-11`); omitted: every posted entry not pushed yet.",
    )


class PushView(BaseModel):
    planned: int = Field(description="Messages this push added to the sync log.")
    sent: int = Field(description="Messages sent (this push's, and earlier ones not sent yet).")
    processed: int
    failed: int = Field(description="Failed or dead-lettered: their errors are in the sync log.")
    messages: list[c.SyncMessageView]


class ChangeOdoo(BaseModel):
    """A change to an Odoo connector: ``settings`` is a JSON merge patch (RFC 7396) of its settings, so
    ``{"accounts": {"4457": 251}}`` maps one more account and ``{"accounts": {"4457": null}}`` unmaps it."""

    model_config = ConfigDict(extra="forbid")

    settings: JsonObject = Field(default_factory=dict, description="Merged into the settings (null removes).")
    secret: text(min_length=1, max_length=500) | None = Field(
        None, description="A new API key (or password), stored encrypted, never returned."
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def change(
    session: Session, ctx: CommandContext, connector: Connector, body: ChangeOdoo, key: str | None
) -> c.ConnectorView:
    """Change an Odoo connector's settings (the mapping) or its API key; checked as a whole first."""
    odoo_connector(session, connector)
    settings = merge_patch(connector.settings, to_json(body.settings))
    odoo.check_settings(settings)
    if body.secret is not None:
        connector.previous_secret = connector.secret
        connector.secret = vault.seal(key, body.secret)
    connector.settings = settings
    connector.updated_by = ctx.actor
    connector.version += 1
    session.flush()
    return svc.view(connector)


def odoo_connector(session: Session, connector: Connector) -> Connector:
    if connector.kind != "odoo":
        raise Conflict(
            f"connector {connector.name} is a {connector.kind} connector, not an Odoo one",
            code="not-an-odoo-connector",
        )
    if not connector.active:
        raise Conflict(f"connector {connector.name} is inactive", code="connector-inactive")
    return connector


def named(session: Session, name: str | None, company_id: uuid.UUID | None = None) -> Connector:
    """The Odoo connector called ``name`` (or the only one, when ``name`` is omitted)."""
    query = select(Connector).where(Connector.kind == "odoo")
    if company_id is not None:
        query = query.where(Connector.company_id == company_id)
    if name is not None:
        query = query.where(Connector.name == name)
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise NotFound(f"no Odoo connector{f' named {name}' if name else ''}")
    if len(found) > 1:
        raise Conflict(
            "there are several Odoo connectors: name one",
            code="connector-ambiguous",
            problems=[FieldProblem("connector", "required when several exist")],
        )
    return odoo_connector(session, found[0])


def plan(
    session: Session, connector: Connector, what: What, period: str | None, now: dt.datetime
) -> list[uuid.UUID]:
    """Add this push's messages to the sync log; the ids to send, with the connector's earlier
    outbound messages still waiting to be sent (received or failed), oldest first."""
    span = odoo.parse_period(period) if period else None
    odoo.check_settings(connector.settings)
    waiting = list(
        session.scalars(
            select(SyncMessage.id)
            .where(
                SyncMessage.connector_id == connector.id,
                SyncMessage.direction == "outbound",
                SyncMessage.status.in_(SENDABLE),
            )
            .order_by(SyncMessage.id)
        )
    )
    messages: list[SyncMessage] = []
    if what in ("all", "master_data"):
        messages += odoo.plan_master_data(session, connector, now)
    if what in ("all", "books"):
        messages += odoo.plan_books(session, connector, span, now)
    return waiting + [m.id for m in messages]


def send(session: Session, connector: Connector, message_id: uuid.UUID, now: dt.datetime) -> SyncMessage:
    """Process one outbound message, unless it was processed meanwhile (by the sweep, another run)."""
    message = session.scalar(select(SyncMessage).where(SyncMessage.id == message_id).with_for_update())
    if message is None or message.connector_id != connector.id:
        raise NotFound(f"no message {message_id} on connector {connector.name}")
    if message.status in SENDABLE:
        svc.process(session, connector, message, now)
    return message


def push(session: Session, connector: Connector, body: Push, now: dt.datetime | None = None) -> PushView:
    """Plan and send in one transaction (the API's push)."""
    now = now or utcnow()
    odoo_connector(session, connector)
    ids = plan(session, connector, body.what, body.period, now)
    sent = [send(session, connector, message_id, now) for message_id in ids]
    return summary(sent, planned=sum(1 for m in sent if m.received_at == now))


def summary(messages: list[SyncMessage], *, planned: int) -> PushView:
    return PushView(
        planned=planned,
        sent=len(messages),
        processed=sum(1 for m in messages if m.status == "processed"),
        failed=sum(1 for m in messages if m.status != "processed"),
        messages=[svc.message_view(m) for m in messages],
    )
