"""What the sync log tells the exceptions console: every connector gets its exceptions from here.

:mod:`retailcore.connectors.services` calls these where a message's status is decided, so any
connector whose messages go through it (Shopify's webhooks; the stock push, Odoo and marketplace
connectors as they log through it) raises exceptions without code of its own:

- a message that fails: ``failed_sync`` (key ``sync:<message id>``: each further failure counts one
  more occurrence on the same row), turned into ``dead_letter`` (severity high) when it gives up. A
  message that only waits for another one (a refund before its order, :class:`links.Waiting`) raises
  nothing until it is dead-lettered: that is expected out-of-order delivery, not a person's problem.
- a message processed after it had failed (a retry, a replay after a fix): its exception is resolved
  with a note saying so.
- each flag on a processed message: ``tax-mismatch`` -> ``tax_mismatch``, ``payment-mismatch`` and
  ``refund-mismatch`` -> ``payment_mismatch``, ``stock-mismatch`` -> ``stock_mismatch``, any other
  -> ``sync_flag``; one row per connector, flag kind and subject (the flag's ``key``, else the
  message's external id, else the message).
- a resource that had already landed through another message (``duplicate_of``: the same Shopify
  order under another webhook id): ``duplicate``, counting the deliveries (2 at the first repeat);
  nothing is posted twice (the links saw to that).
- the same delivery again (the same webhook id, :func:`services.count_duplicate`): ``duplicate`` on
  the delivery, counting it.

A flag may carry ``amount_at_risk`` (text, in the company's currency), ``key``, ``product_id``,
``location_id``, ``store_id`` and ``order_id``; the known kinds' money at risk is derived from their
fields (tax: the difference; payment: paid against the order's total; refund: theirs against ours).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from retailcore.connectors.links import Waiting
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.eventlog.services import CommandContext
from retailcore.monitoring import services as monitoring

FLAG_TYPES = {
    "tax-mismatch": "tax_mismatch",
    "payment-mismatch": "payment_mismatch",
    "refund-mismatch": "payment_mismatch",
    "stock-mismatch": "stock_mismatch",
}
"""A flag's kind on a message -> the exception type it raises (others: ``sync_flag``)."""


def _key(message: SyncMessage) -> str:
    return f"sync:{message.id}"


def _decimal(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _subject(message: SyncMessage) -> str:
    return f"{message.topic} {message.external_id}" if message.external_id else message.topic


def failed(
    session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage, error: Exception
) -> None:
    """A processing attempt failed; ``message`` carries its new status (failed, retried, dead_lettered)."""
    dead = message.status == "dead_lettered"
    if isinstance(error, Waiting) and not dead:
        return
    what = "dead-lettered" if dead else "failed"
    monitoring.record(
        session,
        ctx,
        connector.company_id,
        type="dead_letter" if dead else "failed_sync",
        key=_key(message),
        message=(
            f"{connector.kind} {connector.name}: {_subject(message)} {what} after {message.attempts}"
            f" attempt(s): {message.error or ''}"
        ),
        connector_id=connector.id,
        sync_message_id=message.id,
        details={
            "connector": connector.name,
            "topic": message.topic,
            "external_id": message.external_id,
            "webhook_id": message.webhook_id,
            "attempts": message.attempts,
            "error": message.error,
            "next_attempt_at": message.next_attempt_at,
            "waits_for": message.waits_for,
        },
        now=message.updated_at,
    )


def flag_amount(kind: str, flag: dict[str, Any]) -> Decimal | None:
    if flag.get("amount_at_risk") is not None:
        return _decimal(flag["amount_at_risk"])
    pairs = {
        "tax-mismatch": ("shopify_tax", "our_tax"),
        "payment-mismatch": ("shopify_paid", "order_total"),
        "refund-mismatch": ("shopify_refunded", "our_refund"),
    }
    if kind not in pairs:
        return None
    theirs, ours = (_decimal(flag.get(name)) for name in pairs[kind])
    return abs(theirs - ours) if theirs is not None and ours is not None else None


def landed(
    session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage, *, had_failed: bool
) -> None:
    """A message was processed: resolve its failure if it had one, raise its flags and duplicates."""
    if had_failed:
        monitoring.resolve_key(
            session,
            ctx,
            connector.company_id,
            _key(message),
            note=f"processed on attempt {message.attempts} (a retry or a replay)",
        )
    if not message.flags and not message.duplicate_of:
        return
    order_id = _uuid((message.result or {}).get("order_id"))
    for flag in message.flags or []:
        kind = str(flag.get("kind") or "flag")
        type = FLAG_TYPES.get(kind, "sync_flag")
        subject = flag.get("key") or message.external_id or message.id
        monitoring.record(
            session,
            ctx,
            connector.company_id,
            type=type,
            key=f"{kind}:{connector.id}:{subject}",
            message=f"{connector.kind} {connector.name}: {kind} on {_subject(message)}",
            amount_at_risk=flag_amount(kind, flag),
            store_id=_uuid(flag.get("store_id")),
            product_id=_uuid(flag.get("product_id")),
            location_id=_uuid(flag.get("location_id")),
            order_id=_uuid(flag.get("order_id")) or order_id,
            connector_id=connector.id,
            sync_message_id=message.id,
            details={**flag, "topic": message.topic, "external_id": message.external_id},
            now=message.updated_at,
        )
    if message.duplicate_of:
        monitoring.record(
            session,
            ctx,
            connector.company_id,
            type="duplicate",
            key=f"duplicate:{connector.id}:{message.duplicate_of}",
            message=(
                f"{connector.kind} {connector.name}: {_subject(message)} arrived again under another"
                f" delivery ({message.webhook_id or message.id}); it had landed as {message.duplicate_of},"
                " nothing was posted twice"
            ),
            order_id=order_id,
            connector_id=connector.id,
            sync_message_id=message.id,
            details={
                "duplicate_of": message.duplicate_of,
                "topic": message.topic,
                "external_id": message.external_id,
                "last_webhook_id": message.webhook_id,
            },
            occurrences=2,  # the first delivery and this one; each later one adds one
            now=message.updated_at,
        )


def repeated(session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage) -> None:
    """The same delivery (webhook id) arrived again: counted on the message, shown as a duplicate."""
    monitoring.record(
        session,
        ctx,
        connector.company_id,
        type="duplicate",
        key=f"delivery:{message.id}",
        message=(
            f"{connector.kind} {connector.name}: delivery {message.webhook_id} of {_subject(message)}"
            f" received {message.duplicate_deliveries + 1} times; stored and processed once"
        ),
        connector_id=connector.id,
        sync_message_id=message.id,
        details={
            "webhook_id": message.webhook_id,
            "topic": message.topic,
            "external_id": message.external_id,
        },
        occurrences=message.duplicate_deliveries + 1,
        now=message.updated_at,
    )
