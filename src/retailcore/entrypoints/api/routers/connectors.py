"""Connectors over HTTP: configure them, read their sync log, replay what failed; Shopify's webhooks in.

Thin: each route parses, checks the permission and calls ``retailcore.connectors``. Configuring and
replaying needs ``connectors:write``, reading ``connectors:read``. The webhook route has no token:
Shopify signs each delivery with the app secret (``X-Shopify-Hmac-Sha256`` over the raw body), and a
missing or wrong signature is refused with 401 before anything is written. No ``from __future__ import
annotations``: FastAPI reads the route annotations at runtime.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from retailcore.adapters.db import begin_writing
from retailcore.adapters.orm import utcnow
from retailcore.connectors import commands as c
from retailcore.connectors import configure, shopify, shopify_catchup, shopify_stock
from retailcore.connectors import services as svc
from retailcore.core.errors import FieldProblem, Unauthenticated, ValidationFailed
from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope

router = APIRouter(route_class=DecimalRoute, tags=["connectors"])


def _key(api_or_request: Any) -> str | None:
    request = getattr(api_or_request, "request", api_or_request)
    return request.app.state.runtime.settings.connector_key


@router.post(
    "/connectors",
    status_code=201,
    response_model=c.ConnectorView,
    summary="Connect a Shopify shop (or another system)",
    description=(
        "`kind` `shopify`: `name` is the shop's `*.myshopify.com` domain and `secret` the app's client"
        " secret, stored encrypted with the installation's `RETAILCORE_CONNECTOR_KEY` and never returned"
        " (`409 connector-key-missing` without one). The view's `webhook_path` is where the shop's webhooks"
        " go."
    ),
    responses={409: {"description": "A connector of that kind and name exists, or no connector key"}},
)
async def create_connector(
    body: c.CreateConnector, api: Annotated[Api, Depends(writer("connectors:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ConnectorView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.create_connector(session, ctx, company, body, _key(api))

    return await api.command(
        work,
        status_code=201,
        location=lambda r: f"/api/v1/connectors/{r.id}",  # type: ignore[attr-defined]
    )


class ConnectorQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    kind: c.Kind | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class ConnectorPage(BaseModel):
    items: list[c.ConnectorView]
    next_cursor: uuid.UUID | None


@router.get("/connectors", response_model=ConnectorPage, summary="List connectors")
def list_connectors(
    params: Annotated[ConnectorQuery, Query()], api: Annotated[Api, Depends(reader("connectors:read"))]
) -> Any:
    def work(session: Session) -> ConnectorPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_connectors(
            session, company, kind=params.kind, limit=params.limit, cursor=params.cursor
        )
        return ConnectorPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/connectors/{connector_id}",
    response_model=c.ConnectorView,
    summary="Read a connector",
    description="A Shopify connector's view also says how far its stock push (`stock_push`) and its"
    " orders catch-up (`orders_catch_up`) have got, and how their last runs ended.",
)
def get_connector(connector_id: uuid.UUID, api: Annotated[Api, Depends(reader("connectors:read"))]) -> Any:
    def work(session: Session) -> c.ConnectorView:
        row = svc.connector_in_scope(session, api.principal, connector_id)
        return svc.view(row).model_copy(
            update={
                "stock_push": shopify_stock.status(session, row),
                "orders_catch_up": shopify_catchup.status(session, row),
            }
        )

    return api.read(work)


@router.patch(
    "/connectors/{connector_id}",
    response_model=c.ConnectorView,
    summary="Change a connector's settings, access token or state",
    description="What the body names is replaced (`settings` whole); the client secret is not changed here.",
    responses={409: {"description": "No connector key to store the access token with"}},
)
async def update_connector(
    connector_id: uuid.UUID,
    body: c.UpdateConnector,
    api: Annotated[Api, Depends(writer("connectors:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ConnectorView:
        row = svc.connector_in_scope(session, api.principal, connector_id)
        return configure.update_connector(session, ctx, row, body, _key(api))

    return await api.command(work)


@router.post(
    "/connectors/{connector_id}/sync",
    response_model=c.SyncView,
    summary="Push stock to the shop, or pull the orders its webhooks missed, now",
    description=(
        "Shopify. `stock`: the web channel's available-to-promise per mapped Shopify location, for what"
        " changed since the last push (`full`: every linked product), in batches of"
        " `inventorySetQuantities` within Shopify's cost limits; each batch is an outbound message of the"
        " sync log. `orders`: the orders updated since the cursor (`full`: every order), each through the"
        " webhooks' handling, so nothing lands twice. Answers when done, with what the run did; a batch"
        " or an order that failed stays in the sync log and is retried."
    ),
    responses={
        409: {
            "description": "No access token, no location mapped, or the shop refused or could not be reached"
        },
        422: {"description": "Not a Shopify connector"},
    },
)
async def sync(
    connector_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("connectors:write"))],
    body: c.Sync | None = None,
) -> Response:
    request = body or c.Sync()

    def work() -> c.SyncView:
        factory = api.request.app.state.session_factory
        with factory() as session:
            connector = svc.connector_in_scope(session, api.principal, connector_id)
            if connector.kind != "shopify":
                raise ValidationFailed(
                    f"connector {connector.name} is a {connector.kind} connector: only shopify syncs here",
                    problems=[FieldProblem("connector_id", "not a shopify connector")],
                )
        if request.kind == "stock":
            report = shopify_stock.push_stock(factory, connector_id, _key(api), full=request.full).as_dict()
        else:
            report = shopify_catchup.catch_up(factory, connector_id, _key(api), full=request.full).as_dict()
        return c.SyncView(kind=request.kind, report=report)

    answer = await run_in_threadpool(work)
    return JSONResponse(answer.model_dump(mode="json"))


class SyncLogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: c.Status | None = None
    topic: Annotated[Text, Field(max_length=64)] | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class SyncLogPage(BaseModel):
    items: list[c.SyncMessageView]
    next_cursor: uuid.UUID | None


@router.get(
    "/connectors/{connector_id}/sync-log",
    response_model=SyncLogPage,
    summary="A connector's messages, oldest first",
    description="Every message in or out, with its status, attempts, next attempt, error, flags"
    " (`tax-mismatch`, `payment-mismatch`...) and duplicates (`duplicate_deliveries`, `duplicate_of`).",
)
def sync_log(
    connector_id: uuid.UUID,
    params: Annotated[SyncLogQuery, Query()],
    api: Annotated[Api, Depends(reader("connectors:read"))],
) -> Any:
    def work(session: Session) -> SyncLogPage:
        connector = svc.connector_in_scope(session, api.principal, connector_id)
        items, next_cursor = svc.list_messages(
            session,
            connector,
            status=params.status,
            topic=params.topic,
            limit=params.limit,
            cursor=params.cursor,
        )
        return SyncLogPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.post(
    "/connectors/{connector_id}/replay",
    response_model=c.ReplayView,
    summary="Process failed or dead-lettered messages again (after a fix)",
    description="One message (`message_id`), or every message of `status` (dead-lettered and failed by"
    " default, 500 at most per call), oldest first. A dead letter replayed starts its retries again.",
    responses={409: {"description": "The message is not failed or dead-lettered"}},
)
async def replay(
    connector_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("connectors:write"))],
    body: c.Replay | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ReplayView:
        connector = svc.connector_in_scope(session, api.principal, connector_id)
        return svc.replay(session, connector, body or c.Replay())

    return await api.command(work)


# -- Shopify's webhooks ------------------------------------------------------------------------------


class WebhookAnswer(BaseModel):
    message_id: uuid.UUID
    status: str = Field(description="What became of the message: processed, failed, dead_lettered...")
    duplicate: bool = Field(description="The same delivery (webhook id) had been received before.")


def _header(request: Request, name: str) -> str | None:
    # Shopify's HTTPS deliveries send X-Shopify-*; its newer deliveries the same names without X-.
    return request.headers.get(f"x-shopify-{name}") or request.headers.get(f"shopify-{name}")


@router.post(
    "/connectors/shopify/{shop}/webhooks",
    response_model=WebhookAnswer,
    summary="Shopify webhooks in (signed, no token)",
    description=(
        "Shopify's deliveries for `orders/create`, `orders/paid`, `orders/updated`, `orders/cancelled`,"
        " `refunds/create`, `fulfillments/create`. `X-Shopify-Hmac-Sha256` must be the base64 HMAC-SHA256"
        " of the raw body with the shop's app secret (401 and nothing stored otherwise). Each delivery is"
        " stored once per `X-Shopify-Webhook-Id` (a repeat answers 200 and is counted), then processed;"
        " one that fails stays in the sync log and is retried."
    ),
    responses={
        400: {"description": "A `Content-Length` that is not a number"},
        401: {"description": "A missing or wrong signature, or a shop with no connector"},
        413: {"description": "The body is larger than the limit"},
        422: {"description": "No topic header, or a body that is not JSON"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": "The REST resource of the topic (Order, Refund, Fulfillment), exactly as sent.",
        }
    },
)
async def shopify_webhook(
    request: Request, shop: Annotated[str, Path(max_length=255, description="The shop's domain.")]
) -> Response:
    raw = await request.body()
    headers = {name: _header(request, name) for name in ("topic", "hmac-sha256", "webhook-id", "event-id")}
    return await run_in_threadpool(_webhook, request, shop, raw, headers)


def _webhook(request: Request, shop: str, raw: bytes, headers: dict[str, str | None]) -> Response:
    factory = request.app.state.session_factory
    with factory() as session:
        connector = svc.shop(session, shop)
        secrets = svc.secrets(connector, _key(request)) if connector is not None else []
    # One answer for an unknown shop and a wrong signature: neither says which shops exist.
    if connector is None or not shopify.signature_valid(raw, headers["hmac-sha256"], secrets):
        raise Unauthenticated("the webhook's X-Shopify-Hmac-Sha256 does not verify", code="invalid-signature")
    topic = headers["topic"]
    if not topic:
        raise ValidationFailed("no X-Shopify-Topic", problems=[FieldProblem("X-Shopify-Topic", "required")])
    try:
        body = raw.decode()
        data = shopify.parse(body)
    except (UnicodeDecodeError, ValueError, shopify.Permanent):
        raise ValidationFailed(
            "the body is not a JSON object", problems=[FieldProblem("body", "not JSON")]
        ) from None
    delivery = svc.Delivery(
        topic=topic[:64],
        body=body,
        webhook_id=(headers["webhook-id"] or "")[:128] or None,
        event_id=(headers["event-id"] or "")[:128] or None,
        external_id=shopify.external_id(topic, data),
    )
    now = utcnow()
    try:
        # A new delivery is the common case: insert it straight away; the unique webhook id turns a
        # repeat into an IntegrityError, answered below. ``connector`` is the row read above, detached:
        # its columns are all that storing and processing read.
        with factory() as session, session.begin():
            begin_writing(session)
            if svc.queued(connector):
                answer = WebhookAnswer(
                    message_id=svc.enqueue(session, connector, delivery, now),
                    status="received",
                    duplicate=False,
                )
            else:
                message = svc.process(session, connector, svc.store(session, connector, delivery, now), now)
                answer = WebhookAnswer(message_id=message.id, status=message.status, duplicate=False)
    except IntegrityError:
        # The same delivery again (Shopify retries with the same webhook id): counted on the first.
        with factory() as session, session.begin():
            begin_writing(session)
            message = svc.find_delivery(session, connector, delivery.webhook_id)
            if message is None:  # pragma: no cover - a constraint other than the webhook id's
                raise
            svc.count_duplicate(message, now)
            answer = WebhookAnswer(message_id=message.id, status=message.status, duplicate=True)
    return JSONResponse(answer.model_dump(mode="json"))
