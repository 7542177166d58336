"""The orders catch-up: pull the shop's orders updated since a cursor and feed each through the
webhooks' own handling, to repair webhooks that never arrived (decision 0032).

Shopify delivers webhooks at least once but not always: a subscription can be removed after repeated
failures, an outage can outlast the retries. The catch-up asks the shop for every order updated since
the connector's ``orders`` cursor (REST ``GET /admin/api/<version>/orders.json?status=any&
updated_at_min=...&limit=250``, following the ``Link`` header's ``rel="next"`` pages) and hands each
one to :func:`retailcore.connectors.shopify.handle` as an inbound message of the sync log:

* the order as ``orders/updated`` (lands it if it never did, else brings payment and cancellation up
  to date; ``connector_links`` keeps one Shopify order one order), unless a webhook already brought
  this very version (the same ``updated_at``): then it is skipped, and no message is written;
* each of its ``fulfillments`` and ``refunds`` not linked yet as ``fulfillments/create`` and
  ``refunds/create`` (their own webhook bodies: the REST Fulfillment and Refund resources).

Why REST and not GraphQL's ``orders(query: "updated_at:>...")``: the webhooks' bodies *are* the REST
resources, so the pulled orders go through exactly the code the webhooks go through, with no second
mapping to keep in step; the REST Admin API is legacy but still served for custom apps.

Each message has a delivery id of its own, ``catch-up:<topic>:<id>:<updated_at>``: pulling the same
version of an order again (the cursor is inclusive, a run is repeated) is a duplicate delivery, counted
and not processed again. The cursor moves to the newest ``updated_at`` seen only after a complete pull
(pages are not in ``updated_at`` order), so a run that dies is simply run again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.connectors import links, shopify
from retailcore.connectors import services as svc
from retailcore.connectors.shopify_stock import _shopify, admin_api
from retailcore.connectors.sync_tables import ConnectorCursor
from retailcore.connectors.tables import Connector, SyncMessage

CURSOR = "orders"
PAGE_SIZE = 250


@dataclass
class CatchUpReport:
    """What one pull did."""

    full: bool
    since: str | None
    orders: int = 0
    landed: int = 0
    """Orders that were not here before the pull."""
    updated: int = 0
    """Known orders in a version no webhook brought, fed again (payment, cancellation brought up to
    date; nothing placed twice)."""
    skipped: int = 0
    """Known orders in the version a webhook already brought: nothing to do."""
    repaired: int = 0
    """Fulfilments and refunds that had not arrived."""
    duplicates: int = 0
    """Versions already pulled (the same delivery id): not processed again."""
    failed: int = 0
    cursor: str | None = None
    requests: int = 0
    throttled: int = 0
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _when(value: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def catch_up(
    session_factory: sessionmaker[Session],
    connector_id: uuid.UUID,
    key: str | None,
    *,
    full: bool = False,
    api_options: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    now: dt.datetime | None = None,
) -> CatchUpReport:
    """Pull the orders updated since the cursor (since the connector was created on its first run;
    every order of the shop with ``full``) and process each like its webhooks."""
    with session_factory() as session:
        connector = _shopify(session, connector_id)
        cursor = session.get(ConnectorCursor, (connector_id, CURSOR))
        if full:
            since = None
        elif cursor is not None and cursor.position:
            since = cursor.position
        else:
            since = connector.created_at.astimezone(dt.UTC).isoformat()
        api = admin_api(connector, key, **(api_options or {}))
    report = CatchUpReport(full=full, since=since)
    started = utcnow()
    newest = _when(since) if since else None
    params: dict[str, Any] = {"status": "any", "limit": PAGE_SIZE}
    if since:
        params["updated_at_min"] = since
    try:
        for page in api.rest_pages("orders.json", params, "orders"):
            for order in page:
                report.orders += 1
                _feed(session_factory, connector_id, order, report, now)
                updated = _when(order.get("updated_at"))
                if updated is not None and (newest is None or updated > newest):
                    newest = updated
                if progress is not None:
                    progress(report.orders)
        # Nothing updated since: the cursor stays (or, after a full pull of an empty shop, starts now).
        last = newest or (_when(since) if since else None) or started
        report.cursor = last.astimezone(dt.UTC).isoformat()
        with transaction(session_factory) as session:
            _move_cursor(session, connector_id, report.cursor, report)
    finally:
        report.requests = api.stats.requests
        report.throttled = api.stats.throttled
        api.close()
    return report


def _feed(
    session_factory: sessionmaker[Session],
    connector_id: uuid.UUID,
    order: dict[str, Any],
    report: CatchUpReport,
    now: dt.datetime | None,
) -> None:
    """One pulled order and what came with it, in one transaction."""
    stamp = now or utcnow()
    with transaction(session_factory) as session:
        connector = session.get(Connector, connector_id)
        assert connector is not None
        known = links.find(session, connector_id, "order", order.get("id")) is not None
        version = order.get("updated_at") or order.get("created_at") or ""
        deliveries = []
        if known and _delivered(session, connector_id, order.get("id"), version):
            report.skipped += 1
        else:
            deliveries.append(("orders/updated", order, version))
        for topic, kind, items in (
            ("fulfillments/create", "fulfillment", order.get("fulfillments") or []),
            ("refunds/create", "refund", order.get("refunds") or []),
        ):
            for item in items:
                if links.find(session, connector_id, kind, item.get("id")) is None:
                    deliveries.append((topic, item, item.get("updated_at") or item.get("created_at") or ""))
        for topic, data, stamp_text in deliveries:
            delivery = svc.Delivery(
                topic=topic,
                body=json.dumps(data, default=str),
                webhook_id=f"catch-up:{topic}:{data.get('id')}:{stamp_text}"[:128],
                external_id=None if data.get("id") is None else str(data.get("id")),
            )
            try:
                with session.begin_nested():
                    message = svc.store(session, connector, delivery, stamp)
            except IntegrityError:
                report.duplicates += 1
                repeat = svc.find_delivery(session, connector, delivery.webhook_id)
                if repeat is not None:
                    svc.count_duplicate(repeat, stamp)
                continue
            svc.process(session, connector, message, stamp)
            if message.status != "processed":
                report.failed += 1
                report.messages.append(f"{topic} {data.get('id')}: {message.error}")
            elif topic == "orders/updated":
                if known:
                    report.updated += 1
                else:
                    report.landed += 1
            else:
                report.repaired += 1


def _delivered(session: Session, connector_id: uuid.UUID, order_id: object, version: str) -> bool:
    """Did a processed message bring this order in this version (its ``updated_at``)?"""
    wanted = _when(version)
    for body in session.scalars(
        select(SyncMessage.body).where(
            SyncMessage.connector_id == connector_id,
            SyncMessage.direction == "inbound",
            SyncMessage.external_id == str(order_id),
            SyncMessage.topic.in_(shopify.ORDER_TOPICS),
            SyncMessage.status == "processed",
        )
    ):
        try:
            seen = json.loads(body).get("updated_at")
        except (ValueError, AttributeError):
            continue
        if seen == version or (wanted is not None and seen and _when(seen) == wanted):
            return True
    return False


def _move_cursor(
    session: Session, connector_id: uuid.UUID, position: str | None, report: CatchUpReport
) -> None:
    now = utcnow()
    summary = {
        "at": now.isoformat(),
        "full": report.full,
        "orders": report.orders,
        "landed": report.landed,
        "updated": report.updated,
        "skipped": report.skipped,
        "repaired": report.repaired,
        "duplicates": report.duplicates,
        "failed": report.failed,
    }
    row = session.get(ConnectorCursor, (connector_id, CURSOR))
    if row is None:
        session.add(
            ConnectorCursor(
                connector_id=connector_id, name=CURSOR, position=position, last_run=summary, updated_at=now
            )
        )
    else:
        row.position = position
        row.last_run = summary
        row.updated_at = now


def status(session: Session, connector: Connector) -> dict[str, Any] | None:
    if connector.kind != "shopify":
        return None
    row = session.get(ConnectorCursor, (connector.id, CURSOR))
    return {"cursor": row.position if row else None, "last_run": row.last_run if row else None}
