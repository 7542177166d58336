"""Shopify webhooks in: the signature, and each topic mapped into the one order model.

Formats: docs/integrations.md#shopify (and the fixtures' FORMATS.md). The body of every ``orders/*``
topic is the whole REST Order resource, so whichever of ``orders/create``, ``orders/paid``,
``orders/updated`` or ``orders/cancelled`` arrives first lands the order, and the others only bring it
up to date: a ``paid`` before its ``create`` ends the same as the other way round. A Shopify order id
lands one order (``connector_links``), whatever webhook delivered it; a second ``orders/create`` is
recorded as a duplicate of it, never placed again.

* The order: channel ``web``, mode ``ship``, sourced like any web order; Shopify's unit prices and
  discounts (``discount_allocations``) per line, products matched by SKU (an unknown SKU fails the
  message, naming it; it is retried, and lands once the product exists). Taxes are ours (the rules of
  the jurisdiction, which the ledger posts per tax code); Shopify's ``total_tax`` is compared with them
  and a difference beyond a cent per line is flagged ``tax-mismatch`` on the message.
* Money: Shopify collected it, so a ``paid`` order gets a card payment captured through the
  connector's gateway (``shopify`` by default; its clearing account, as any web card payment);
  ``authorized`` is an authorization, captured when ``orders/paid`` comes. Capture never exceeds what
  the order owes here; a difference with Shopify's figure is flagged ``payment-mismatch``.
* ``cancelled_at``: the order is cancelled (its reservations released, its deposit refunded to the
  card).
* ``fulfillments/create``: the lines named leave (revenue, COGS), as ``POST /orders/{id}/fulfillments``.
* ``refunds/create``: restocked lines (``restock_type`` ``return`` or ``legacy_restock``) come back as a
  return, received as resaleable at the order's store and refunded to the Shopify card; a refund of
  undelivered goods (``cancel``) of the whole order cancels it. A refund whose order, or whose goods'
  delivery, has not arrived yet waits for it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from retailcore.accounting.tables import LedgerSettings
from retailcore.connectors import links, shopify_stock
from retailcore.connectors.links import Outcome, Permanent, Waiting
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company, Product, Store
from retailcore.orders import services as orders
from retailcore.orders import tables as ot
from retailcore.returns import commands as rc
from retailcore.returns import services as returns

TOPICS = (
    "orders/create",
    "orders/paid",
    "orders/updated",
    "orders/cancelled",
    "refunds/create",
    "fulfillments/create",
)
ORDER_TOPICS = TOPICS[:4]
PAID = {"paid", "partially_paid", "partially_refunded", "refunded"}
RESTOCKED = {"return", "legacy_restock"}
CENT = Decimal("0.01")


def signature_valid(raw_body: bytes, header: str | None, secrets: list[str]) -> bool:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body, keyed with the app secret
    (or the one before a rotation). Compared in constant time."""
    if not header:
        return False
    given = header.strip().encode()
    valid = False
    for secret in secrets:
        digest = base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest())
        valid |= hmac.compare_digest(digest, given)
    return valid


def parse(body: str) -> dict[str, Any]:
    """The JSON body with every number that has a fraction as a Decimal (refund line items send money
    as JSON numbers) and ids as Python's exact integers."""
    data = json.loads(body, parse_float=Decimal)
    if not isinstance(data, dict):
        raise Permanent("the webhook body is not a JSON object", code="invalid-payload")
    return data


def external_id(topic: str, data: dict[str, Any]) -> str | None:
    value = data.get("id")
    return None if value is None else str(value)


def _money(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValidationFailed(
            f"{field} is not an amount", problems=[FieldProblem(field, "not a number")]
        ) from None
    if not amount.is_finite():
        raise ValidationFailed(f"{field} is not an amount", problems=[FieldProblem(field, "not finite")])
    return amount


def _order_key(order_id: object) -> str:
    return f"order:{order_id}"


def _line_key(order_id: object, line_item_id: object) -> str:
    """A line is linked under its order: Shopify's line item ids are unique, but a key that names the
    order keeps a payload reusing them (a test order, a copy) from landing on another order's line."""
    return f"{order_id}/{line_item_id}"


def _one_at_a_time(session: Session, connector: Connector, shop_order: object) -> None:
    """On PostgreSQL, messages about one Shopify order are processed one at a time: ``orders/create``
    and ``orders/paid`` often arrive together, and each would otherwise find no order yet and place
    one (the second would fail on the link's key and wait for its retry). A transaction lock on the
    order's key, released at commit; SQLite writes one transaction at a time anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"{connector.id}/{shop_order}".encode()).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)}
    )


def handle(session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage) -> Outcome:
    """Process one Shopify webhook; raises to fail it (:class:`Waiting`, :class:`Permanent`, or any
    domain error, retried with backoff). Outbound messages (stock pushed) are
    :func:`retailcore.connectors.shopify_stock.handle`'s."""
    if message.direction == "outbound":
        return shopify_stock.handle(session, ctx, connector, message)
    data = parse(message.body)
    company = session.get(Company, connector.company_id)
    assert company is not None
    _one_at_a_time(
        session, connector, data.get("id") if message.topic in ORDER_TOPICS else data.get("order_id")
    )
    ctx = dataclasses.replace(ctx, occurred_at=_booked_at(session, company, message.topic, data, ctx))
    if message.topic in ORDER_TOPICS:
        return _order(session, ctx, company, connector, data, message.topic)
    if message.topic == "fulfillments/create":
        return _fulfillment(session, ctx, company, connector, data)
    if message.topic == "refunds/create":
        return _refund(session, ctx, company, connector, data)
    raise Permanent(f"topic {message.topic} is not one this connector handles", code="unknown-topic")


WHEN = {
    "orders/create": ("processed_at", "created_at"),
    "orders/updated": ("updated_at",),
    "orders/paid": ("processed_at", "created_at"),
    "orders/cancelled": ("cancelled_at", "updated_at"),
    "fulfillments/create": ("created_at",),
    "refunds/create": ("processed_at", "created_at"),
}
"""The resource's own time, by topic: what the books date the sale, the fulfilment or the refund by."""


def _booked_at(
    session: Session, company: Company, topic: str, data: dict[str, Any], ctx: CommandContext
) -> dt.datetime:
    """When the message's fact happened at Shopify, not when it reached us: a webhook retried for hours,
    or an order pulled by the catch-up days later, is booked on its own day. As a till's sales are
    (decision 0015): within the company's clock window only (``sale_clock_past_days``, 30 by default),
    never in the future (a clock ahead of ours) and never in a locked period; anything else is booked
    now."""
    now = ctx.occurred_at or dt.datetime.now(dt.UTC)
    for name in WHEN.get(topic, ()):
        value = data.get(name)
        if not isinstance(value, str):
            continue
        try:
            happened = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        if happened.tzinfo is None or happened > now:
            return now
        if happened < now - dt.timedelta(days=company.sale_clock_past_days):
            return now
        ledger = session.get(LedgerSettings, company.id)
        if ledger is not None and ledger.lock_date is not None and happened.date() <= ledger.lock_date:
            return now
        return happened.astimezone(dt.UTC)
    return now


# -- orders ------------------------------------------------------------------------------------------


def _order(
    session: Session,
    ctx: CommandContext,
    company: Company,
    connector: Connector,
    data: dict[str, Any],
    topic: str,
) -> Outcome:
    shop_id = data.get("id")
    if shop_id is None:
        raise Permanent("the order has no id", code="invalid-payload")
    outcome = Outcome(wakes=[_order_key(shop_id)])
    order_id = links.find(session, connector.id, "order", shop_id)
    if order_id is None:
        view = _land(session, ctx, company, connector, data, outcome)
        order_id = view.id
    elif topic == "orders/create":
        outcome.duplicate_of = f"order:{order_id}"
    row = session.get(ot.OrderRow, order_id)
    assert row is not None
    if data.get("financial_status") in PAID or data.get("financial_status") == "authorized":
        _settle(session, ctx, company, connector, row, data, outcome)
    if data.get("cancelled_at") and row.state in ("draft", "confirmed", "partially_fulfilled"):
        reason = f"cancelled in Shopify ({data.get('cancel_reason') or 'no reason given'})"
        orders.cancel(session, ctx, company, row.id, orders.CancelOrder(reason=reason[:500]))
    session.refresh(row)
    outcome.result = {"order_id": str(row.id), "order_number": row.number, "state": row.state}
    return outcome


def _land(
    session: Session,
    ctx: CommandContext,
    company: Company,
    connector: Connector,
    data: dict[str, Any],
    outcome: Outcome,
) -> orders.OrderView:
    currency = data.get("currency")
    if currency != company.currency:
        raise ValidationFailed(
            f"the order is in {currency}, the company books in {company.currency}",
            problems=[FieldProblem("currency", f"{currency} is not {company.currency}")],
        )
    items = data.get("line_items") or []
    if not items:
        raise Permanent("the order has no line items", code="invalid-payload")
    skus = [str(item.get("sku") or "").strip() for item in items]
    found = {
        product.sku: product
        for product in session.scalars(
            select(Product).where(Product.company_id == company.id, Product.sku.in_([s for s in skus if s]))
        )
    }
    unknown = [
        FieldProblem(f"line_items.{n}.sku", f"no product with SKU '{sku}'" if sku else "the line has no SKU")
        for n, sku in enumerate(skus)
        if sku not in found
    ]
    if unknown:
        raise InvalidReference(
            "unknown SKU: "
            + ", ".join(repr(s) for s in skus if s not in found)
            + " (create the product, then"
            " replay the message)",
            code="unknown-sku",
            problems=unknown,
        )
    lines = []
    for n, (item, sku) in enumerate(zip(items, skus, strict=True)):
        allocations = item.get("discount_allocations") or []
        if allocations:
            discount = sum(
                (_money(a.get("amount"), f"line_items.{n}.discount_allocations") for a in allocations),
                Decimal(0),
            )
        else:
            discount = _money(item.get("total_discount") or 0, f"line_items.{n}.total_discount")
        lines.append(
            orders.LineIn(
                product_id=found[sku].id,
                quantity=Decimal(int(item["quantity"])),
                unit_price=_money(item.get("price"), f"line_items.{n}.price"),
                discount=discount,
            )
        )
    shipping_lines = [s for s in data.get("shipping_lines") or [] if not s.get("is_removed")]
    shipping = sum(
        (_money(s.get("price") or 0, "shipping_lines.price") for s in shipping_lines),
        Decimal(0),
    )
    # Shipping lands as the order's shipping charge when the connector names the tax category it is
    # taxed under (decision 0057), net of Shopify's shipping discounts as its lines are; else flagged.
    ship_category = connector.settings.get("shipping_tax_category")
    landed = None
    if shipping_lines and ship_category:
        ship_discount = sum(
            (
                _money(a.get("amount"), "shipping_lines.discount_allocations")
                for s in shipping_lines
                for a in s.get("discount_allocations") or []
            ),
            Decimal(0),
        )
        first = shipping_lines[0]
        method = str(first.get("code") or first.get("title") or "").strip()[:64] or None
        landed = orders.ShippingIn(
            amount=max(shipping - ship_discount, Decimal(0)), tax_category=ship_category, method=method
        )
    body = orders.PlaceOrder(
        company_id=company.id, channel="web", fulfillment_mode="ship", lines=lines, shipping=landed
    )
    view = orders.place_order(session, ctx, company, body, channel_prices=True)
    links.add(session, connector.id, "order", data["id"], view.id)
    for item, line in zip(items, sorted(view.lines, key=lambda ln: ln.position), strict=True):
        links.add(session, connector.id, "line", _line_key(data["id"], item["id"]), line.id)
    theirs = _money(data.get("total_tax") or 0, "total_tax")
    tolerance = CENT * len(lines)
    if (
        abs(theirs - view.tax_total) > tolerance
        or bool(data.get("taxes_included")) != view.prices_include_tax
    ):
        outcome.flags.append(
            {
                "kind": "tax-mismatch",
                "shopify_tax": str(theirs),
                "our_tax": str(view.tax_total),
                "difference": str(theirs - view.tax_total),
                "shopify_taxes_included": bool(data.get("taxes_included")),
                "our_prices_include_tax": view.prices_include_tax,
            }
        )
    if shipping and landed is None:
        outcome.flags.append({"kind": "shipping-not-landed", "shopify_shipping": str(shipping)})
    return view


def _settle(
    session: Session,
    ctx: CommandContext,
    company: Company,
    connector: Connector,
    row: ot.OrderRow,
    data: dict[str, Any],
    outcome: Outcome,
) -> None:
    """Bring the order's Shopify card payment up to Shopify's ``financial_status``."""
    if row.state not in orders.PAYABLE:
        return
    gateway = str(connector.settings.get("gateway") or "shopify")
    reference = f"shopify-order-{data['id']}"
    card = session.scalar(
        select(ot.OrderPaymentRow).where(
            ot.OrderPaymentRow.order_id == row.id,
            ot.OrderPaymentRow.gateway == gateway,
            ot.OrderPaymentRow.reference == reference,
        )
    )
    total = _money(data.get("total_price") or 0, "total_price")
    outstanding = _money(data.get("total_outstanding") or 0, "total_outstanding")
    paid = total - outstanding if data.get("financial_status") == "partially_paid" else total
    capture = data.get("financial_status") in PAID
    if card is not None:
        if card.state == "authorized" and capture:
            orders.capture_authorized(session, ctx, company, row.id, card.id, orders.CaptureAuthorized())
        return
    _, payments, _ = orders.load(session, row)
    amount = min(paid, payments.amount_due.amount)
    if paid != row.gross_total:
        outcome.flags.append(
            {
                "kind": "payment-mismatch",
                "shopify_paid": str(paid),
                "order_total": str(row.gross_total.quantize(paid)),
            }
        )
    if amount <= 0:
        return
    orders.take_payment(
        session,
        ctx,
        company,
        row.id,
        orders.TakePayment(kind="card", gateway=gateway, reference=reference, amount=amount, capture=capture),
    )


# -- fulfilments ---------------------------------------------------------------------------------------


def _fulfillment(
    session: Session, ctx: CommandContext, company: Company, connector: Connector, data: dict[str, Any]
) -> Outcome:
    shop_order = data.get("order_id")
    order_id = links.find(session, connector.id, "order", shop_order)
    if order_id is None:
        raise Waiting(f"Shopify order {shop_order} has not arrived yet", _order_key(shop_order))
    outcome = Outcome(wakes=[_order_key(shop_order)])
    done = links.find(session, connector.id, "fulfillment", data.get("id"))
    if done is not None:
        outcome.duplicate_of = f"order:{done}"
        outcome.result = {"order_id": str(done)}
        return outcome
    if data.get("status") in ("cancelled", "error", "failure"):
        outcome.result = {"order_id": str(order_id), "skipped": f"fulfillment {data.get('status')}"}
        return outcome
    fulfilled = []
    for n, item in enumerate(data.get("line_items") or []):
        line_id = links.find(session, connector.id, "line", _line_key(shop_order, item.get("id")))
        if line_id is None:
            raise ValidationFailed(
                f"Shopify line item {item.get('id')} is not a line of order {shop_order}",
                problems=[FieldProblem(f"line_items.{n}.id", "not a line of the order")],
            )
        fulfilled.append(orders.FulfilledLine(line_id=line_id, quantity=Decimal(int(item["quantity"]))))
    view = orders.fulfill(session, ctx, company, order_id, orders.Fulfil(lines=fulfilled or None))
    links.add(session, connector.id, "fulfillment", data["id"], order_id)
    outcome.result = {"order_id": str(view.id), "order_number": view.number, "state": view.state}
    return outcome


# -- refunds -------------------------------------------------------------------------------------------


def _refund(
    session: Session, ctx: CommandContext, company: Company, connector: Connector, data: dict[str, Any]
) -> Outcome:
    shop_order = data.get("order_id")
    order_id = links.find(session, connector.id, "order", shop_order)
    if order_id is None:
        raise Waiting(f"Shopify order {shop_order} has not arrived yet", _order_key(shop_order))
    outcome = Outcome()
    done = links.find(session, connector.id, "refund", data.get("id"))
    if done is not None:
        outcome.duplicate_of = f"refund:{done}"
        outcome.result = {"return_id": str(done)}
        return outcome
    row = session.get(ot.OrderRow, order_id)
    assert row is not None
    returned: list[rc.ReturnLineIn] = []
    cancelled = Decimal(0)
    for n, item in enumerate(data.get("refund_line_items") or []):
        where = f"refund_line_items.{n}"
        line_id = links.find(session, connector.id, "line", _line_key(shop_order, item.get("line_item_id")))
        line = session.get(ot.OrderLineRow, line_id) if line_id else None
        if line is None:
            raise ValidationFailed(
                f"Shopify line item {item.get('line_item_id')} is not a line of order {shop_order}",
                problems=[FieldProblem(f"{where}.line_item_id", "not a line of the order")],
            )
        quantity = Decimal(int(item["quantity"]))
        restock = item.get("restock_type") or ("legacy_restock" if data.get("restock") else "no_restock")
        if restock in RESTOCKED:
            if line.fulfilled_quantity < quantity:
                raise Waiting(
                    f"line {line.position} of order {row.number} is not delivered yet: the refund waits for"
                    " its fulfillments/create",
                    _order_key(shop_order),
                )
            returned.append(rc.ReturnLineIn(order_line_id=line.id, quantity=quantity, condition="resaleable"))
        elif restock == "cancel":
            cancelled += quantity
        else:
            raise Conflict(
                f"a refund without the goods coming back ({restock}) is not landed yet: refund it by hand",
                code="refund-without-return",
                problems=[FieldProblem(f"{where}.restock_type", restock)],
            )
    shopify_refunded = sum(
        (
            _money(tx.get("amount") or 0, "transactions.amount")
            for tx in data.get("transactions") or []
            if tx.get("kind") == "refund" and tx.get("status") == "success"
        ),
        Decimal(0),
    )
    if cancelled:
        open_quantity = sum(
            (
                ln.quantity - ln.fulfilled_quantity - ln.cancelled_quantity
                for ln in session.scalars(select(ot.OrderLineRow).where(ot.OrderLineRow.order_id == row.id))
            ),
            Decimal(0),
        )
        if returned or cancelled != open_quantity or row.state != "confirmed":
            raise Conflict(
                "a refund cancelling part of an order is not landed yet: cancel or adjust it by hand",
                code="partial-cancellation",
                problems=[FieldProblem("refund_line_items", "cancels part of the order")],
            )
        view = orders.cancel(
            session,
            ctx,
            company,
            row.id,
            orders.CancelOrder(reason=f"refunded in Shopify ({data.get('id')})"),
        )
        links.add(session, connector.id, "refund", data["id"], row.id)
        outcome.result = {"order_id": str(view.id), "state": view.state}
        return outcome
    if not returned:
        raise Conflict(
            "the refund names no goods: refund it by hand",
            code="refund-without-return",
            problems=[FieldProblem("refund_line_items", "empty")],
        )
    store_id = _receiving_store(session, company, connector, data, row)
    note = f"Shopify refund {data.get('id')}" + (f": {data['note']}" if data.get("note") else "")
    request = rc.RequestReturn(
        company_id=company.id,
        order_id=row.id,
        store_id=store_id,
        reason="other",
        note=note[:500],
        lines=returned,
    )
    opened = returns.request_return(session, ctx, company, request)
    returns.receive_return(session, ctx, company, opened.id, rc.ReceiveReturn())
    refunded = returns.refund_return(session, ctx, company, opened.id, rc.RefundReturn())
    links.add(session, connector.id, "refund", data["id"], refunded.id)
    if shopify_refunded != refunded.refunded_total:
        outcome.flags.append(
            {
                "kind": "refund-mismatch",
                "shopify_refunded": str(shopify_refunded),
                "our_refund": str(refunded.refunded_total),
            }
        )
    outcome.result = {
        "return_id": str(refunded.id),
        "return_number": refunded.number,
        "order_id": str(row.id),
    }
    return outcome


def _receiving_store(
    session: Session, company: Company, connector: Connector, data: dict[str, Any], row: ot.OrderRow
) -> uuid.UUID:
    """The store mapped to the refund's Shopify location (settings ``locations``), else the order's."""
    mapped = connector.settings.get("locations") or {}
    for item in data.get("refund_line_items") or []:
        code = mapped.get(str(item.get("location_id")))
        if code:
            store = session.scalar(select(Store).where(Store.company_id == company.id, Store.code == code))
            if store is not None:
                return store.id
    if row.store_id is None:
        raise Conflict("the order has no store to receive its return", code="no-receiving-store")
    return row.store_id
