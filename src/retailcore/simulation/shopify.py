"""The simulated web shop as a Shopify shop: its orders delivered as signed webhooks to the real endpoint.

With ``retailcore simulate --web-via shopify`` the simulator does not place its card-paid web orders
itself: it writes each as Shopify would send it (the REST Order resource of ``orders/create`` and
``orders/paid``, a ``fulfillments/create`` when it ships, ``orders/cancelled`` when the customer
cancels), signs it with the shop's app secret (``X-Shopify-Hmac-Sha256``) and hands it to a
:data:`Send` function that POSTs it to ``/api/v1/connectors/shopify/{shop}/webhooks``: the CLI serves
the API with uvicorn on a local port and sends over HTTP; the tests send through the in-process ASGI
client. Nothing here calls the connector's code: what lands is what the endpoint makes of the requests.

Like Shopify, the shop delivers at least once and in no guaranteed order, on purpose:

* a share of deliveries is sent twice with the same ``X-Shopify-Webhook-Id`` (a retry Shopify makes
  when our answer is late): stored once, counted in ``duplicate_deliveries``;
* a share of ``orders/create`` is sent again under a new webhook id (Shopify sends such duplicate
  events): processed as ``duplicate_of`` the order that landed, placing nothing;
* a share of orders has its ``orders/paid`` delivered before its ``orders/create``, and a same-day
  shipment may be delivered before both (it waits for its order, and lands when it does).

The day's deliveries are sent after the simulator's orders transaction commits, so the endpoint's own
transactions never wait for the simulator's. The summary counts what was sent and reads back from the
sync log and the links what landed: every distinct Shopify order must land exactly once.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.connectors import commands as cc
from retailcore.connectors import services as connectors
from retailcore.connectors.tables import Connector, ConnectorLink, SyncMessage
from retailcore.core.errors import Conflict, FieldProblem
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata import tables as t
from retailcore.orders import tables as ot

NAMESPACE = uuid.UUID("0e7c4d1a-51f3-4c38-9d7b-3f1f6b1b9a42")
GATEWAY = "shopify"


@dataclass(frozen=True)
class Webhook:
    """One HTTP delivery: where it goes, its raw body and Shopify's headers (signed)."""

    path: str
    body: bytes
    headers: dict[str, str]


Send = Callable[[Webhook], int]
"""POSTs one webhook and returns the HTTP status of the answer."""


@dataclass(frozen=True)
class ShopifyWeb:
    """How to reach the endpoint: ``send`` and the installation's connector key (the shop's secret is
    stored encrypted with it, and the endpoint opens it to check each signature)."""

    send: Send
    connector_key: str | None
    repeat_percent: int = 5
    """Deliveries sent twice under the same webhook id."""
    duplicate_create_percent: int = 3
    """``orders/create`` sent again under another webhook id."""
    out_of_order_percent: int = 10
    """Orders whose ``orders/paid`` comes before their ``orders/create``."""


def shop_domain(company_code: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", company_code.lower()).strip("-") or "sim"
    return f"{slug}-sim.myshopify.com"


@dataclass
class Shop:
    """The simulated shop: its connector, secret, the day's outbox and what was sent."""

    config: ShopifyWeb
    connector_id: uuid.UUID
    domain: str
    secret: str
    actor: str
    outbox: list[Webhook] = field(default_factory=list)
    orders_sent: set[int] = field(default_factory=set)
    webhooks_sent: int = 0
    not_ok: int = 0
    repeated: int = 0
    duplicate_creates: int = 0
    paid_before_create: int = 0
    fulfilment_before_order: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    started: dt.datetime | None = None
    before: tuple[int, int, int] = (0, 0, 0)
    """Links, distinct linked orders and orders placed by the shop before this run (a run continues a
    company's history: only this run's orders are compared with what it sent)."""

    @classmethod
    def connect(cls, session: Session, ctx: CommandContext, company: t.Company, config: ShopifyWeb) -> Shop:
        """The company's simulated shop: its connector created on the first run (with a new secret),
        found again on the next ones."""
        if not config.connector_key:
            raise Conflict(
                "delivering the web channel through Shopify needs RETAILCORE_CONNECTOR_KEY (the shop's"
                " secret is stored encrypted with it)",
                code="connector-key-missing",
                problems=[FieldProblem("RETAILCORE_CONNECTOR_KEY", "not set")],
            )
        domain = shop_domain(company.code)
        row = session.scalar(select(Connector).where(Connector.kind == "shopify", Connector.name == domain))
        if row is None:
            secret = secrets.token_hex(24)
            view = connectors.create_connector(
                session,
                ctx,
                company,
                cc.CreateConnector(
                    company_id=company.id,
                    kind="shopify",
                    name=domain,
                    secret=secret,
                    settings={"gateway": GATEWAY},
                ),
                config.connector_key,
            )
            connector_id = view.id
        else:
            if row.company_id != company.id:
                raise Conflict(f"shop {domain} is connected to another company", code="connector-exists")
            opened = connectors.secrets(row, config.connector_key)
            if not opened:
                raise Conflict(
                    f"the secret of shop {domain} cannot be opened with this RETAILCORE_CONNECTOR_KEY",
                    code="connector-key-mismatch",
                )
            secret, connector_id = opened[0], row.id
        shop = cls(config, connector_id, domain, secret, actor=f"connector:shopify:{domain}")
        shop.before = shop._landed(session)
        shop.started = utcnow()
        return shop

    def _landed(self, session: Session) -> tuple[int, int, int]:
        links = select(ConnectorLink.internal_id).where(
            ConnectorLink.connector_id == self.connector_id, ConnectorLink.kind == "order"
        )
        linked = session.scalar(select(func.count()).select_from(links.subquery()))
        distinct = session.scalar(select(func.count(func.distinct(links.subquery().c.internal_id))))
        placed = session.scalar(
            select(func.count()).select_from(ot.OrderRow).where(ot.OrderRow.created_by == self.actor)
        )
        return int(linked or 0), int(distinct or 0), int(placed or 0)

    # -- writing deliveries ----------------------------------------------------------------------------

    def _webhook(self, topic: str, payload: dict[str, Any], key: str) -> Webhook:
        body = json.dumps(payload, separators=(",", ":")).encode()
        digest = base64.b64encode(hmac.new(self.secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": digest,
            "X-Shopify-Shop-Domain": self.domain,
            "X-Shopify-API-Version": "2025-07",
            "X-Shopify-Webhook-Id": str(uuid.uuid5(NAMESPACE, f"{self.domain}/{key}")),
        }
        return Webhook(f"/api/v1/connectors/shopify/{self.domain}/webhooks", body, headers)

    def _queue(self, rng: random.Random, webhook: Webhook) -> None:
        self.outbox.append(webhook)
        if rng.randrange(100) < self.config.repeat_percent:
            self.outbox.append(webhook)
            self.repeated += 1

    def place(
        self,
        rng: random.Random,
        *,
        order_id: int,
        number: int,
        created_at: dt.datetime,
        currency: str,
        lines: list[tuple[str, Decimal, Decimal]],
        total_tax: Decimal,
        taxes_included: bool,
    ) -> dict[str, Any]:
        """A paid Shopify order of ``lines`` (sku, unit price, quantity): queued as ``orders/create`` and
        ``orders/paid`` (whole-order bodies), sometimes out of order or twice. Returns the order."""
        goods = sum((price * quantity for _, price, quantity in lines), Decimal(0))
        total = goods if taxes_included else goods + total_tax
        order = {
            "id": order_id,
            "name": f"#{number}",
            "order_number": number,
            "created_at": created_at.isoformat(),
            "currency": currency,
            "financial_status": "paid",
            "taxes_included": taxes_included,
            "total_price": str(total),
            "subtotal_price": str(goods),
            "total_tax": str(total_tax),
            "total_outstanding": "0.00",
            "cancelled_at": None,
            "shipping_lines": [],
            "line_items": [
                {
                    "id": order_id * 10 + n,
                    "sku": sku,
                    "quantity": int(quantity),
                    "price": str(price),
                    "total_discount": "0.00",
                    "discount_allocations": [],
                }
                for n, (sku, price, quantity) in enumerate(lines, start=1)
            ],
        }
        self.orders_sent.add(order_id)
        create = self._webhook("orders/create", order, f"{order_id}/create")
        paid = self._webhook("orders/paid", order, f"{order_id}/paid")
        if rng.randrange(100) < self.config.out_of_order_percent:
            self.paid_before_create += 1
            first, second = paid, create
        else:
            first, second = create, paid
        self._queue(rng, first)
        self._queue(rng, second)
        if rng.randrange(100) < self.config.duplicate_create_percent:
            self.duplicate_creates += 1
            self._queue(rng, self._webhook("orders/create", order, f"{order_id}/create-again"))
        return order

    def fulfil(self, rng: random.Random, order: dict[str, Any], *, first: bool = False) -> None:
        """``fulfillments/create`` of every line; ``first``: put it before the order's own deliveries
        (a same-day shipment overtaking its order: it waits, and lands when the order does)."""
        body = {
            "id": order["id"] * 10,
            "order_id": order["id"],
            "status": "success",
            "line_items": [{"id": item["id"], "quantity": item["quantity"]} for item in order["line_items"]],
        }
        webhook = self._webhook("fulfillments/create", body, f"{order['id']}/fulfil")
        if first:
            self.fulfilment_before_order += 1
            self.outbox.insert(max(len(self.outbox) - 2, 0), webhook)
            return
        self._queue(rng, webhook)

    def cancel(self, rng: random.Random, order: dict[str, Any], at: dt.datetime) -> None:
        body = {**order, "cancelled_at": at.isoformat(), "cancel_reason": "customer"}
        self._queue(rng, self._webhook("orders/cancelled", body, f"{order['id']}/cancel"))

    def flush(self) -> None:
        """Send the day's deliveries, in the order queued."""
        for webhook in self.outbox:
            status = self.config.send(webhook)
            self.webhooks_sent += 1
            topic = webhook.headers["X-Shopify-Topic"]
            self.by_topic[topic] = self.by_topic.get(topic, 0) + 1
            if status != 200:
                self.not_ok += 1
        self.outbox = []

    # -- what landed -----------------------------------------------------------------------------------

    def summary(self, session: Session) -> dict[str, Any]:
        """What was sent and, read back from the sync log, the links and the orders, what landed."""
        messages = (
            select(SyncMessage)
            .where(SyncMessage.connector_id == self.connector_id, SyncMessage.received_at >= self.started)
            .subquery()
        )
        statuses = dict(
            session.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
        )
        duplicate_deliveries = session.scalar(
            select(func.coalesce(func.sum(messages.c.duplicate_deliveries), 0))
        )
        duplicate_orders = session.scalar(
            select(func.count()).where(
                messages.c.topic == "orders/create", messages.c.duplicate_of.is_not(None)
            )
        )
        linked, distinct, placed = (
            now - then for now, then in zip(self._landed(session), self.before, strict=True)
        )
        sent = len(self.orders_sent)
        return {
            "webhooks_sent": self.webhooks_sent,
            "webhooks_by_topic": dict(sorted(self.by_topic.items())),
            "answers_not_200": self.not_ok,
            "deliveries_repeated": self.repeated,
            "duplicate_deliveries_counted": int(duplicate_deliveries or 0),
            "orders_created_twice": self.duplicate_creates,
            # An orders/create after the order landed (created twice, or paid came first) is a duplicate.
            "duplicate_orders_counted": int(duplicate_orders or 0),
            "paid_before_create": self.paid_before_create,
            "fulfilment_before_order": self.fulfilment_before_order,
            "messages": {status: int(count) for status, count in sorted(statuses.items())},
            "shopify_orders": sent,
            "orders_landed": placed,
            "every_order_landed_once": sent == linked == distinct == placed,
        }
