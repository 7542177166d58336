"""Changing a connector after it was created: its settings, its Admin API access token, whether it is
active (``PATCH /connectors/{id}``). The client secret that signs webhooks is not changed here (rotating
it is not built: docs/integrations.md#shopify)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from retailcore.connectors import commands as c
from retailcore.connectors import services as svc
from retailcore.connectors import vault
from retailcore.connectors.tables import Connector
from retailcore.eventlog.services import CommandContext, to_json


def update_connector(
    session: Session, ctx: CommandContext, row: Connector, body: c.UpdateConnector, key: str | None
) -> c.ConnectorView:
    """Replace what ``body`` names (settings whole, checked as at creation); nothing else changes."""
    if body.settings is not None:
        svc._check_settings(row.kind, body.settings)
        row.settings = to_json(body.settings)
    if body.access_token is not None:
        row.access_token = vault.seal(key, body.access_token)
    if body.active is not None:
        row.active = body.active
    row.updated_by = ctx.actor
    row.version += 1
    session.flush()
    return svc.view(row)
