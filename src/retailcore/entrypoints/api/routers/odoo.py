"""Odoo over HTTP: push master data and the books of a month to the connector's Odoo database.

Thin: parse, check ``connectors:write``, call :func:`retailcore.connectors.odoo_sync.push`. Each push is
messages of the connector's sync log (``GET /connectors/{id}/sync-log``); one that fails stays there
with its error, is retried by the backoff and replayed by ``POST /connectors/{id}/replay``. No ``from
__future__ import annotations``: FastAPI reads the route annotations at runtime.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.orm import Session

from retailcore.connectors import commands as c
from retailcore.connectors import odoo_sync
from retailcore.connectors import services as svc
from retailcore.entrypoints.api.deps import Api, DecimalRoute, writer
from retailcore.eventlog.services import CommandContext

router = APIRouter(route_class=DecimalRoute, tags=["connectors"])


@router.post(
    "/connectors/{connector_id}/odoo/push",
    response_model=odoo_sync.PushView,
    summary="Push products, customers and the books to Odoo",
    description=(
        "`what`: `master_data` (products and customers, created or updated), `books` (the posted journal"
        " entries not pushed yet, of `period` or all, one Odoo move per aggregation key), or `all`."
        " Every push is messages of the sync log, sent now; the answer counts them, and a failed one"
        " carries its error (an unmapped account, a refused login) and is replayable after a fix."
        " A replay or a second push never creates a record twice in Odoo."
    ),
    responses={409: {"description": "Not an Odoo connector, or an inactive one"}},
)
async def push(
    connector_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("connectors:write"))],
    body: odoo_sync.Push | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> odoo_sync.PushView:
        connector = svc.connector_in_scope(session, api.principal, connector_id)
        return odoo_sync.push(session, connector, body or odoo_sync.Push())

    return await api.command(work)


@router.patch(
    "/connectors/{connector_id}/odoo",
    response_model=c.ConnectorView,
    summary="Change an Odoo connector's settings (the mapping) or API key",
    description=(
        '`settings` is a JSON merge patch (RFC 7396): `{"accounts": {"4457": 251}}` maps one more'
        " account, `null` removes a key. The result is checked as a whole (422 naming the fields at"
        " fault, nothing changed). After a mapping fix, replay the failed messages"
        " (`POST /connectors/{id}/replay`)."
    ),
    responses={409: {"description": "Not an Odoo connector, or no connector key for a new secret"}},
)
async def change(
    connector_id: uuid.UUID,
    body: odoo_sync.ChangeOdoo,
    api: Annotated[Api, Depends(writer("connectors:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ConnectorView:
        connector = svc.connector_in_scope(session, api.principal, connector_id)
        key = api.request.app.state.runtime.settings.connector_key
        return odoo_sync.change(session, ctx, connector, body, key)

    return await api.command(work)
