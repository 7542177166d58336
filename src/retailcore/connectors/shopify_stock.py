"""Stock out to Shopify: the web channel's available-to-promise per Shopify location, set through the
Admin GraphQL ``inventorySetQuantities`` mutation (decision 0032).

What is pushed
--------------
For each Shopify location mapped to one of our stores (settings ``locations``: ``{"<Shopify location id
or gid>": "<store code>"}``, the same map refunds use) and each product linked to a Shopify inventory
item (``connector_items``): the sum over the store's sellable locations of the ``web`` channel's
available-to-promise (on hand - reserved - the channel's safety stock, never below zero, decision 0011),
rounded down to a whole unit (Shopify counts units). Products are linked by SKU: a push first asks
Shopify (``productVariants``) for the inventory item of each product it needs that has no link yet.

When
----
* **After availability changes**: the ``AvailabilityChanged`` events naming ``web`` in ``changed`` since
  the connector's ``stock`` cursor (an event log position) say which products and stores moved; their
  *current* values are pushed (a later value is never overwritten by an earlier one), and the cursor moves
  to the last position read. On PostgreSQL positions can become visible out of order: the read stops
  before a hole until no transaction that could still fill it is running (:func:`settled_head`).
* **A full push** (``--full``, or the first push of a connector) sends every linked product at every
  mapped location.

How
---
At most ``stock_batch_size`` (default 100, at most 250) quantities per mutation, each batch one
**outbound message** in the sync log (topic ``inventory/set_quantities``), written before it is sent
and processed through :func:`retailcore.connectors.services.process`: retries with backoff, dead
letters and replay are the inbound messages' own. The HTTP call of a first attempt is made outside any
database transaction (:class:`~retailcore.connectors.shopify_client.AdminApi` waits for Shopify's cost
bucket first); a retry by the sweep or a replay sends again from inside its transaction, re-reading the
current quantities, and fails rather than wait long for the bucket.

Each quantity carries ``changeFromQuantity``: the quantity we last set there (``connector_stock_levels``;
``null`` the first time). When Shopify's persisted quantity moved since (a sale in Shopify, a person in
its admin), Shopify refuses the batch (``CHANGE_FROM_QUANTITY_STALE``); we read its quantities, flag
``{"kind": "stock-mismatch", ...}`` on the message where Shopify's differs both from what we last set and
from ours now, and set ours again. Items Shopify refuses for good (``INVALID_INVENTORY_ITEM``,
``ITEM_NOT_STOCKED_AT_LOCATION``...) are left out of the batch and flagged ``stock-push-refused``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow
from retailcore.adapters.queries import one_of
from retailcore.connectors import vault
from retailcore.connectors.links import Outcome, Permanent
from retailcore.connectors.shopify_client import DEFAULT_VERSION, AdminApi, ShopifyError
from retailcore.connectors.sync_tables import ConnectorCursor, ConnectorItem, ConnectorStockLevel
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.core.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.inventory.reservations import availability_snapshot
from retailcore.masterdata.tables import Company, Location, Product, Store

TOPIC = "inventory/set_quantities"
CURSOR = "stock"
BATCH_SIZE = 100
MAX_BATCH_SIZE = 250
"""Shopify documents no limit for ``quantities``; 250 is the largest list its Admin API takes elsewhere."""
SKUS_PER_QUERY = 50
CHANGE_FROM_SINCE = "2026-04"
"""From this API version each quantity carries ``changeFromQuantity``; before it, ``compareQuantity``."""
STALE = {"CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"}
RETRY_MAX_WAIT_SECONDS = 2.0
STRANDED_AFTER = dt.timedelta(minutes=10)
"""A batch written but not sent (the run died) is sent by the sweep after this long."""

SET_QUANTITIES = """
mutation SetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason referenceDocumentUri changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
"""
VARIANTS_BY_SKU = """
query VariantsBySku($query: String!, $first: Int!) {
  productVariants(first: $first, query: $query) { nodes { sku inventoryItem { id } } }
}
"""

_installation_key: str | None = None
_retry_api_options: dict[str, Any] = {}


def configure(key: str | None, api_options: dict[str, Any] | None = None) -> None:
    """The installation's connector key, for retries sent by the sweep (the composition root sets it);
    ``api_options`` (tests: the contract server's transport) for the calls those retries make."""
    global _installation_key, _retry_api_options
    _installation_key = key
    _retry_api_options = dict(api_options or {})


# -- settings ------------------------------------------------------------------------------------------


def location_gid(key: object) -> str:
    text_key = str(key)
    return text_key if text_key.startswith("gid://") else f"gid://shopify/Location/{text_key}"


def check_settings(settings: dict[str, Any]) -> list[FieldProblem]:
    """The problems with the stock push's settings (``_check_settings`` adds them to its own)."""
    problems = []
    size = settings.get("stock_batch_size")
    if size is not None and (
        not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_BATCH_SIZE
    ):
        problems.append(
            FieldProblem("settings.stock_batch_size", f"a whole number from 1 to {MAX_BATCH_SIZE}")
        )
    if settings.get("stock_push", "manual") not in ("manual", "sweep"):
        problems.append(FieldProblem("settings.stock_push", "manual or sweep"))
    version = settings.get("api_version")
    if version is not None and (
        not isinstance(version, str) or not re.fullmatch(r"\d{4}-\d{2}|unstable", version)
    ):
        problems.append(FieldProblem("settings.api_version", "like 2026-10"))
    url = settings.get("admin_api_url")
    if url is not None and (not isinstance(url, str) or not re.fullmatch(r"https?://[^\s]{1,200}", url)):
        problems.append(FieldProblem("settings.admin_api_url", "an http(s) URL"))
    reason = settings.get("stock_reason")
    if reason is not None and (not isinstance(reason, str) or not re.fullmatch(r"[a-z_]{1,40}", reason)):
        problems.append(FieldProblem("settings.stock_reason", "one of Shopify's reasons, like correction"))
    return problems


def admin_api(
    connector: Connector, key: str | None, *, max_wait: float | None = None, **options: Any
) -> AdminApi:
    """The shop's Admin API with the connector's access token (``options``: transport, clock, sleep)."""
    if connector.access_token is None:
        raise Conflict(
            f"connector {connector.name} has no Admin API access token: give it one (`access_token`)",
            code="access-token-missing",
            problems=[FieldProblem("access_token", "required to call the shop")],
        )
    token = vault.unseal(key, connector.access_token)
    if token is None:
        raise Conflict(
            "the connector's access token cannot be read with this installation's RETAILCORE_CONNECTOR_KEY",
            code="access-token-unreadable",
        )
    settings = connector.settings or {}
    factory = options.pop("factory", None) or AdminApi
    return factory(
        connector.name,
        token,
        version=settings.get("api_version") or DEFAULT_VERSION,
        base_url=settings.get("admin_api_url"),
        max_wait=max_wait,
        **options,
    )


@dataclass(frozen=True)
class Place:
    """A Shopify location and the store whose sellable stock it shows."""

    gid: str
    store_id: uuid.UUID
    store_code: str


def places(session: Session, connector: Connector) -> list[Place]:
    mapping = (connector.settings or {}).get("locations") or {}
    if not mapping:
        raise Conflict(
            f"connector {connector.name} maps no Shopify location to a store (settings.locations)",
            code="no-locations-mapped",
            problems=[FieldProblem("settings.locations", "map each Shopify location to a store code")],
        )
    stores = dict(
        session.execute(
            select(Store.code, Store.id).where(
                Store.company_id == connector.company_id, Store.code.in_(list(mapping.values()))
            )
        ).all()
    )
    unknown = sorted(code for code in mapping.values() if code not in stores)
    if unknown:
        raise Conflict(
            f"settings.locations names stores that do not exist: {', '.join(unknown)}",
            code="unknown-store",
            problems=[FieldProblem("settings.locations", f"no store {code}") for code in unknown],
        )
    return sorted(
        (Place(location_gid(key), stores[code], code) for key, code in mapping.items()), key=lambda p: p.gid
    )


# -- what to push ----------------------------------------------------------------------------------------


def whole_units(quantity: Decimal) -> int:
    return int(quantity.to_integral_value(ROUND_FLOOR))


def web_available(
    session: Session, company: Company, product_ids: Iterable[uuid.UUID], store_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """The web channel's available-to-promise per product and store (summed over the store's sellable
    locations, whole units); a product with nothing at a store is 0 there."""
    ids = set(product_ids)
    stores = set(store_ids)
    locations = (
        dict(
            session.execute(select(Location.id, Location.store_id).where(Location.store_id.in_(stores))).all()
        )
        if stores
        else {}
    )
    totals: dict[tuple[uuid.UUID, uuid.UUID], Decimal] = {
        (product, store): Decimal(0) for product in ids for store in stores
    }
    if not ids or not locations:
        return {key: 0 for key in totals}
    for (product, location, channel), value in availability_snapshot(
        session, company, ids, locations
    ).items():
        if channel == "web" and location in locations:
            store = locations[location]
            totals[(product, store)] = totals.get((product, store), Decimal(0)) + value
    return {key: whole_units(value) for key, value in totals.items()}


def settled_head(session: Session, after: int, limit: int = 50_000, grace_seconds: float = 1.0) -> int:
    """The last event log position up to which every position is settled: present, or a hole no
    running transaction can fill any more. SQLite writes one transaction at a time and hands out
    positions in commit order, so there every hole is a rolled-back position."""
    if session.get_bind().dialect.name != "postgresql":
        return session.scalar(select(func.max(Event.position))) or after
    rows = session.execute(
        select(Event.position, Event.recorded_at)
        .where(Event.position > after)
        .order_by(Event.position)
        .limit(limit)
    ).all()
    head = after
    for row in rows:
        if row.position != head + 1 and not _hole_settled(session, row.recorded_at, grace_seconds):
            break
        head = row.position
    return head


def _hole_settled(session: Session, later_recorded_at: dt.datetime, grace_seconds: float) -> bool:
    """A hole before an event recorded at ``later_recorded_at`` is settled once no transaction of this
    database that began before that moment (plus a grace second for clocks) is still writing: the one
    that drew the missing position began before the later one drew its own."""
    grace = dt.timedelta(seconds=grace_seconds)
    if later_recorded_at > utcnow() - grace:
        return False
    writers = session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND xact_start <= :before"
        ),
        {"before": later_recorded_at + grace},
    )
    return not writers


def changed_since(
    session: Session, company_id: uuid.UUID, after: int, upto: int
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(product, store) whose web availability changed in ``(after, upto]``."""
    found = set()
    for payload in session.scalars(
        select(Event.payload).where(
            Event.company_id == company_id,
            Event.type == "AvailabilityChanged",
            Event.position > after,
            Event.position <= upto,
        )
    ):
        if "web" in (payload.get("changed") or []) and payload.get("store_id"):
            found.add((uuid.UUID(str(payload["product_id"])), uuid.UUID(str(payload["store_id"]))))
    return found


@dataclass
class Item:
    """One quantity of a batch: what is set where, and what we last set there."""

    product_id: str
    sku: str
    store: str
    location: str
    item: str
    quantity: int
    change_from: int | None


def _items(
    session: Session,
    connector: Connector,
    company: Company,
    pairs: set[tuple[uuid.UUID, uuid.UUID]],
    by_store: dict[uuid.UUID, list[Place]],
) -> list[Item]:
    products = {p for p, _ in pairs}
    linked = (
        {
            row.product_id: row
            for row in session.scalars(
                select(ConnectorItem).where(
                    ConnectorItem.connector_id == connector.id,
                    one_of(session, ConnectorItem.product_id, products),
                )
            )
        }
        if products
        else {}
    )
    pairs = {(p, s) for p, s in pairs if p in linked and s in by_store}
    values = web_available(session, company, {p for p, _ in pairs}, {s for _, s in pairs})
    last = (
        {
            (row.product_id, row.location): row.quantity
            for row in session.scalars(
                select(ConnectorStockLevel).where(
                    ConnectorStockLevel.connector_id == connector.id,
                    one_of(session, ConnectorStockLevel.product_id, {p for p, _ in pairs}),
                )
            )
        }
        if pairs
        else {}
    )
    items = []
    for product, store in sorted(pairs, key=lambda pair: (linked[pair[0]].sku, str(pair[1]))):
        for place in by_store[store]:
            items.append(
                Item(
                    product_id=str(product),
                    sku=linked[product].sku,
                    store=place.store_code,
                    location=place.gid,
                    item=linked[product].external_id,
                    quantity=values[(product, store)],
                    change_from=last.get((product, place.gid)),
                )
            )
    return items


# -- discovery -----------------------------------------------------------------------------------------


def _search_value(sku: str) -> str:
    return '"' + sku.replace("\\", "\\\\").replace('"', '\\"') + '"'


def discover(
    session_factory: sessionmaker[Session],
    connector_id: uuid.UUID,
    api: AdminApi,
    product_ids: set[uuid.UUID] | None,
) -> int:
    """Link products (all of the company's web products when ``product_ids`` is None) that have no
    inventory item yet to Shopify's, found by SKU with ``productVariants``; how many were linked."""
    with session_factory() as session:
        connector = session.get(Connector, connector_id)
        assert connector is not None
        query = select(Product.id, Product.sku).where(
            Product.company_id == connector.company_id,
            Product.active.is_(True),
            Product.available_web.is_(True),
            Product.id.not_in(
                select(ConnectorItem.product_id).where(ConnectorItem.connector_id == connector_id)
            ),
        )
        if product_ids is not None:
            if not product_ids:
                return 0
            query = query.where(one_of(session, Product.id, product_ids))
        wanted = {sku: product for product, sku in session.execute(query).all()}
    found: dict[str, str] = {}
    skus = sorted(wanted)
    for start in range(0, len(skus), SKUS_PER_QUERY):
        chunk = skus[start : start + SKUS_PER_QUERY]
        data = api.graphql(
            VARIANTS_BY_SKU,
            {"query": " OR ".join(f"sku:{_search_value(s)}" for s in chunk), "first": 2 * len(chunk)},
            operation="VariantsBySku",
            estimate=2 + 2 * len(chunk),
        )
        for node in (data.get("productVariants") or {}).get("nodes") or []:
            sku = node.get("sku")
            item = (node.get("inventoryItem") or {}).get("id")
            if sku in wanted and item and sku not in found:
                found[sku] = str(item)
    if found:
        now = utcnow()
        with transaction(session_factory) as session:
            for sku, item in found.items():
                if session.get(ConnectorItem, (connector_id, wanted[sku])) is None:
                    session.add(
                        ConnectorItem(
                            connector_id=connector_id,
                            product_id=wanted[sku],
                            external_id=item[:100],
                            sku=sku,
                            created_at=now,
                        )
                    )
    return len(found)


# -- sending one batch ---------------------------------------------------------------------------------


def _quantities(version: str, items: list[Item]) -> dict[str, Any]:
    if version >= CHANGE_FROM_SINCE:  # "unstable" sorts after every dated version too
        return {
            "quantities": [
                {
                    "inventoryItemId": it.item,
                    "locationId": it.location,
                    "quantity": it.quantity,
                    "changeFromQuantity": it.change_from,
                }
                for it in items
            ]
        }
    unknown = any(it.change_from is None for it in items)
    return {
        "ignoreCompareQuantity": unknown,
        "quantities": [
            {"inventoryItemId": it.item, "locationId": it.location, "quantity": it.quantity}
            | ({} if unknown else {"compareQuantity": it.change_from})
            for it in items
        ],
    }


def _index(field_path: list[Any] | None) -> int | None:
    for part in field_path or []:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            return int(part)
    return None


def _read_levels(api: AdminApi, items: list[Item]) -> dict[int, int | None]:
    """Shopify's ``available`` quantity of each of ``items`` (by index), one aliased query."""
    if not items:
        return {}
    level = '{ inventoryLevel(locationId: $l%d) { quantities(names: ["available"]) { name quantity } } }'
    fields = " ".join(f"q{n}: inventoryItem(id: $i{n}) " + level % n for n in range(len(items)))
    params = ", ".join(f"$i{n}: ID!, $l{n}: ID!" for n in range(len(items)))
    variables: dict[str, Any] = {}
    for n, it in enumerate(items):
        variables[f"i{n}"] = it.item
        variables[f"l{n}"] = it.location
    data = api.graphql(
        f"query StockLevels({params}) {{ {fields} }}",
        variables,
        operation=f"StockLevels{len(items)}",
        estimate=3 * len(items),
    )
    found: dict[int, int | None] = {}
    for n in range(len(items)):
        level = ((data.get(f"q{n}") or {}).get("inventoryLevel")) or {}
        quantities = [q for q in level.get("quantities") or [] if q.get("name") == "available"]
        found[n] = int(quantities[0]["quantity"]) if quantities else None
    return found


@dataclass
class Sent:
    """What sending a batch did: the items set, flags for a person, the cost spent."""

    items: list[Item]
    flags: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0


def send(api: AdminApi, reference: str, reason: str, items: list[Item]) -> Sent:
    """Set ``items`` in Shopify, resolving stale quantities and leaving out refused items."""
    sent = Sent(items=list(items))
    for _ in range(3):
        if not sent.items:
            return sent
        data = api.graphql(
            SET_QUANTITIES,
            {
                "input": {
                    "name": "available",
                    "reason": reason,
                    "referenceDocumentUri": reference,
                    **_quantities(api.version, sent.items),
                }
            },
            operation="SetStock",
            estimate=10,
        )
        errors = ((data.get("inventorySetQuantities") or {}).get("userErrors")) or []
        if not errors:
            return sent
        stale: list[int] = []
        refused: set[int] = set()
        for error in errors:
            index = _index(error.get("field"))
            if index is None or index >= len(sent.items):
                raise Permanent(
                    f"Shopify refused the batch: {error.get('code')}: {error.get('message')}",
                    code="shopify-refused",
                )
            if error.get("code") in STALE:
                stale.append(index)
            else:
                refused.add(index)
                it = sent.items[index]
                sent.flags.append(
                    {
                        "kind": "stock-push-refused",
                        "code": error.get("code"),
                        "message": error.get("message"),
                        "sku": it.sku,
                        "inventory_item": it.item,
                        "location": it.location,
                    }
                )
        if stale:
            theirs = _read_levels(api, [sent.items[n] for n in stale])
            for position, n in enumerate(stale):
                it = sent.items[n]
                quantity = theirs.get(position)
                if quantity not in (it.change_from, it.quantity):
                    sent.flags.append(
                        {
                            "kind": "stock-mismatch",
                            "sku": it.sku,
                            "store": it.store,
                            "location": it.location,
                            "inventory_item": it.item,
                            "shopify_quantity": quantity,
                            "last_set": it.change_from,
                            "ours": it.quantity,
                        }
                    )
                sent.items[n] = dataclasses.replace(it, change_from=quantity)
        sent.refused += len(refused)
        sent.items = [it for n, it in enumerate(sent.items) if n not in refused]
    raise ShopifyError("Shopify kept refusing the batch's quantities as stale", code="shopify-stale")


# -- the outbound message's handler (services.process) ----------------------------------------------

_SENT = "retailcore.connectors.shopify_stock.sent"
"""``session.info``: the outcome of a batch sent outside the transaction, by message id."""


def _body_items(message: SyncMessage) -> list[Item]:
    return [Item(**entry) for entry in json.loads(message.body)["items"]]


def handle(session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage) -> Outcome:
    """Process an outbound batch: record what its first attempt did, or (a retry) send it again now
    with the current quantities."""
    sent = session.info.get(_SENT, {}).pop(message.id, None)
    if sent is None:
        sent = _resend(session, connector, message)
    if isinstance(sent, ShopifyError):
        if not sent.retryable:
            raise Permanent(sent.detail, code=sent.code)
        raise sent
    if isinstance(sent, Exception):
        raise sent
    now = ctx.occurred_at or utcnow()
    for it in sent.items:
        key = (connector.id, uuid.UUID(it.product_id), it.location)
        row = session.get(ConnectorStockLevel, key)
        if row is None:
            session.add(
                ConnectorStockLevel(
                    connector_id=connector.id,
                    product_id=key[1],
                    location=it.location,
                    quantity=it.quantity,
                    pushed_at=now,
                )
            )
        else:
            row.quantity = it.quantity
            row.pushed_at = now
    return Outcome(
        result={
            "set": len(sent.items),
            "refused": sent.refused,
            "quantities": {f"{it.sku}@{it.store}": it.quantity for it in sent.items[:250]},
        },
        flags=sent.flags,
    )


def _resend(session: Session, connector: Connector, message: SyncMessage) -> Sent | Exception:
    company = session.get(Company, connector.company_id)
    assert company is not None
    old = _body_items(message)
    by_store: dict[uuid.UUID, list[Place]] = {}
    for place in places(session, connector):
        by_store.setdefault(place.store_id, []).append(place)
    store_ids = {p.store_code: p.store_id for ps in by_store.values() for p in ps}
    pairs = {(uuid.UUID(it.product_id), store_ids[it.store]) for it in old if it.store in store_ids}
    wanted = {(it.product_id, it.location) for it in old}
    items = [
        it
        for it in _items(session, connector, company, pairs, by_store)
        if (it.product_id, it.location) in wanted
    ]
    try:
        with admin_api(
            connector, _installation_key, max_wait=RETRY_MAX_WAIT_SECONDS, **dict(_retry_api_options)
        ) as api:
            return send(api, _reference(message), _reason(connector), items)
    except Exception as error:  # kept on the message by services.process
        return error


def _reference(message: SyncMessage) -> str:
    return f"gid://retailcore/StockPush/{message.id}"


def _reason(connector: Connector) -> str:
    return str((connector.settings or {}).get("stock_reason") or "correction")


# -- a run -------------------------------------------------------------------------------------------------


@dataclass
class StockPushReport:
    """What one push did."""

    full: bool
    batches: int = 0
    sent: int = 0
    failed: int = 0
    mismatches: int = 0
    refused: int = 0
    linked: int = 0
    cursor: int | None = None
    requests: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    cost: int = 0
    messages: list[str] = field(default_factory=list)
    error: str | None = None
    """Why the run stopped before sending (the shop refused or could not be reached while linking)."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def push_stock(
    session_factory: sessionmaker[Session],
    connector_id: uuid.UUID,
    key: str | None,
    *,
    full: bool = False,
    api_options: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    now: dt.datetime | None = None,
) -> StockPushReport:
    """Push what changed since the connector's ``stock`` cursor (everything with ``full``, or on the
    first push); each batch a message of the sync log. ``progress(done, total)`` after each batch."""
    with session_factory() as session:
        connector = _shopify(session, connector_id)
        places(session, connector)  # the mapping is checked before anything is asked of Shopify
        cursor = session.get(ConnectorCursor, (connector_id, CURSOR))
        full = full or cursor is None or cursor.position is None
        after = 0 if full else int(cursor.position or 0)
        upto = settled_head(session, after)
        while (further := settled_head(session, upto)) != upto:  # a backlog beyond one read
            upto = further
        pairs_wanted = None if full else changed_since(session, connector.company_id, after, upto)
        api = admin_api(connector, key, **(api_options or {}))
    report = StockPushReport(full=full, cursor=upto)
    try:
        report.linked = discover(
            session_factory, connector_id, api, None if pairs_wanted is None else {p for p, _ in pairs_wanted}
        )
        with transaction(session_factory) as session:
            connector = _shopify(session, connector_id)
            company = session.get(Company, connector.company_id)
            assert company is not None
            by_store: dict[uuid.UUID, list[Place]] = {}
            for place in places(session, connector):
                by_store.setdefault(place.store_id, []).append(place)
            if pairs_wanted is None:
                linked = session.scalars(
                    select(ConnectorItem.product_id).where(ConnectorItem.connector_id == connector_id)
                ).all()
                pairs_wanted = {(p, s) for p in linked for s in by_store}
            items = _items(session, connector, company, pairs_wanted, by_store)
            size = int((connector.settings or {}).get("stock_batch_size") or BATCH_SIZE)
            stamp = now or utcnow()
            message_ids = []
            for start in range(0, len(items), size):
                batch = items[start : start + size]
                message = SyncMessage(
                    id=new_id(),
                    company_id=connector.company_id,
                    connector_id=connector.id,
                    direction="outbound",
                    topic=TOPIC,
                    external_id=None,
                    webhook_id=None,
                    event_id=f"stock:{upto}:{start // size}",
                    status="received",
                    attempts=0,
                    duplicate_deliveries=0,
                    flags=[],
                    result={},
                    body=json.dumps(
                        {"full": full, "cursor": upto, "items": [dataclasses.asdict(it) for it in batch]}
                    ),
                    next_attempt_at=stamp + STRANDED_AFTER,
                    received_at=stamp,
                    updated_at=stamp,
                )
                session.add(message)
                message_ids.append((message.id, batch))
            _move_cursor(session, connector_id, upto, stamp)
        report.batches = len(message_ids)
        from retailcore.connectors import services as svc  # services imports this module's handler

        for done, (message_id, batch) in enumerate(message_ids, start=1):
            with transaction(session_factory) as session:
                message = session.get(SyncMessage, message_id)
                assert message is not None
                reference = _reference(message)
                reason = _reason(_shopify(session, connector_id))
            outcome: Sent | Exception
            try:
                outcome = send(api, reference, reason, batch)
            except Exception as error:  # kept on the message, retried with backoff
                outcome = error
            with transaction(session_factory) as session:
                connector = _shopify(session, connector_id)
                message = session.get(SyncMessage, message_id)
                assert message is not None
                session.info.setdefault(_SENT, {})[message_id] = outcome
                svc.process(session, connector, message, now or utcnow())
                session.info[_SENT].pop(message_id, None)
                if message.status == "processed":
                    report.sent += int(message.result.get("set", 0))
                    report.refused += int(message.result.get("refused", 0))
                    report.mismatches += sum(1 for f in message.flags if f.get("kind") == "stock-mismatch")
                else:
                    report.failed += 1
                    report.messages.append(f"batch {done}: {message.error}")
            if progress is not None:
                progress(done, len(message_ids))
    except Exception as error:
        report.error = str(error) or type(error).__name__
        raise
    finally:
        report.requests = api.stats.requests
        report.throttled = api.stats.throttled
        report.waited_seconds = round(api.stats.waited_seconds, 3)
        report.cost = api.stats.cost
        api.close()
        _record_run(session_factory, connector_id, report)
    return report


def _shopify(session: Session, connector_id: uuid.UUID) -> Connector:
    connector = session.get(Connector, connector_id)
    if connector is None:
        raise NotFound(f"no connector {connector_id}")
    if connector.kind != "shopify":
        raise ValidationFailed(
            f"connector {connector.name} is a {connector.kind} connector, not shopify",
            problems=[FieldProblem("kind", "shopify only")],
        )
    if not connector.active:
        raise Conflict(f"connector {connector.name} is not active", code="connector-inactive")
    return connector


def _move_cursor(session: Session, connector_id: uuid.UUID, position: int, now: dt.datetime) -> None:
    row = session.get(ConnectorCursor, (connector_id, CURSOR))
    if row is None:
        session.add(
            ConnectorCursor(
                connector_id=connector_id, name=CURSOR, position=str(position), last_run={}, updated_at=now
            )
        )
    else:
        row.position = str(position)
        row.updated_at = now


def _record_run(
    session_factory: sessionmaker[Session], connector_id: uuid.UUID, report: StockPushReport
) -> None:
    now = utcnow()
    summary = {
        "at": now.isoformat(),
        "full": report.full,
        "batches": report.batches,
        "sent": report.sent,
        "failed": report.failed,
        "mismatches": report.mismatches,
        "refused": report.refused,
        "throttled": report.throttled,
        "cost": report.cost,
        "error": report.error,
    }
    with transaction(session_factory) as session:
        row = session.get(ConnectorCursor, (connector_id, CURSOR))
        if row is None:
            session.add(
                ConnectorCursor(
                    connector_id=connector_id, name=CURSOR, position=None, last_run=summary, updated_at=now
                )
            )
        else:
            row.last_run = summary
            row.updated_at = now


def due_for_sweep(session: Session) -> list[uuid.UUID]:
    """The Shopify connectors set to ``"stock_push": "sweep"`` with availability changes past their
    cursor (or never pushed): what the serving process's sweep pushes."""
    due = []
    for connector in session.scalars(
        select(Connector).where(Connector.kind == "shopify", Connector.active.is_(True))
    ):
        if (connector.settings or {}).get("stock_push") != "sweep" or connector.access_token is None:
            continue
        row = session.get(ConnectorCursor, (connector.id, CURSOR))
        if row is None or not row.position:
            due.append(connector.id)
            continue
        if session.scalar(
            select(Event.position)
            .where(
                Event.company_id == connector.company_id,
                Event.type == "AvailabilityChanged",
                Event.position > int(row.position),
            )
            .limit(1)
        ):
            due.append(connector.id)
    return due


def status(session: Session, connector: Connector) -> dict[str, Any] | None:
    """The stock push's position, lag and last run, for the connector's view."""
    if connector.kind != "shopify":
        return None
    row = session.get(ConnectorCursor, (connector.id, CURSOR))
    position = int(row.position) if row is not None and row.position else None
    pending = None
    if position is not None:
        pending = session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.company_id == connector.company_id,
                Event.type == "AvailabilityChanged",
                Event.position > position,
            )
        )
    waiting = session.scalar(
        select(func.count())
        .select_from(SyncMessage)
        .where(
            SyncMessage.connector_id == connector.id,
            SyncMessage.direction == "outbound",
            SyncMessage.status.in_(("received", "failed", "retried", "dead_lettered")),
        )
    )
    return {
        "cursor": position,
        "pending_events": pending,
        "unsent_batches": waiting,
        "linked_products": session.scalar(
            select(func.count()).select_from(ConnectorItem).where(ConnectorItem.connector_id == connector.id)
        ),
        "last_run": row.last_run if row is not None else None,
    }
