"""What can be asked of the connectors context, and what it answers (requests and views).

Secrets are write-only: a request may carry one, no view has a field that could hold it, only
``has_secret``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from retailcore.core.inputs import JsonObject, text
from retailcore.masterdata.commands import CompanyScoped, Request

Kind = Literal["shopify", "marketplace", "odoo"]
Status = Literal["received", "processed", "failed", "retried", "dead_lettered"]
SHOP_DOMAIN = r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$"


class CreateConnector(CompanyScoped):
    kind: Kind
    name: text(min_length=1, max_length=255) = Field(
        description="shopify: the shop's domain as Shopify sends it (`example.myshopify.com`); odoo: a name"
        " of your choice (`odoo-prod`)."
    )
    settings: JsonObject = Field(
        default_factory=dict,
        description="Per kind. shopify: `gateway` (default `shopify`), `max_attempts` (default 8),"
        " `retry_base_seconds` (default 60), `locations` ({Shopify location id: store code}), `process`"
        " (`inline`, the default: processed before the answer; `queued`: stored, answered, processed by"
        " the server's sweep thread); the stock push and the orders catch-up: `api_version` (default"
        " 2026-10), `admin_api_url` (default `https://<shop>`), `stock_batch_size` (default 100, at most"
        " 250), `stock_reason` (default `correction`), `stock_push` (`manual`, the default, or `sweep`:"
        " pushed by the server's sweep thread); `locations` also says which Shopify location shows which"
        " store's stock; `shipping_tax_category` (none by default): an order's `shipping_lines` land as its"
        " shipping charge, taxed under this category (without it they are flagged `shipping-not-landed`). "
        "odoo: `url`, `database`, `protocol` (`json2`, the default, for Odoo"
        " 19+; `jsonrpc` before, with `login`), `aggregate` (`store_day`, `session` or `day`), the mapping"
        " `accounts` / `account_roles` / `journals` / `taxes` (our code -> Odoo id), `send_tax_ids`,"
        " `timeout_seconds` (docs/integrations.md#odoo).",
    )
    secret: text(min_length=1, max_length=500) | None = Field(
        None,
        description="shopify: the app's client secret (signs the webhooks); odoo: the Odoo user's API key"
        " (or password, jsonrpc). Stored encrypted, never returned.",
    )
    access_token: text(min_length=1, max_length=500) | None = Field(
        None,
        description="shopify: the app's Admin API access token (the stock push and the orders catch-up"
        " call the shop with it). Stored encrypted, never returned.",
    )


class UpdateConnector(Request):
    settings: JsonObject | None = Field(
        None, description="The connector's settings, replaced whole (see `POST /connectors` for the keys)."
    )
    access_token: text(min_length=1, max_length=500) | None = Field(
        None, description="shopify: a new Admin API access token. Stored encrypted, never returned."
    )
    active: bool | None = Field(None, description="false: webhooks are refused (401) and nothing is synced.")


class Replay(Request):
    message_id: uuid.UUID | None = Field(
        None, description="One message (failed or dead-lettered); omitted: every one of `status`."
    )
    status: list[Literal["failed", "dead_lettered"]] = Field(
        default_factory=lambda: ["dead_lettered", "failed"], min_length=1, max_length=2
    )


class ConnectorView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    kind: str
    name: str
    settings: dict[str, Any]
    has_secret: bool
    has_access_token: bool = False
    active: bool
    webhook_path: str | None = Field(description="shopify: where to point the shop's webhooks.")
    stock_push: dict[str, Any] | None = Field(
        None,
        description="shopify, when read one at a time: the stock push's `cursor` (event log position),"
        " `pending_events`, `unsent_batches`, `linked_products` and `last_run`.",
    )
    orders_catch_up: dict[str, Any] | None = Field(
        None, description="shopify, when read one at a time: the catch-up's `cursor` and `last_run`."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class SyncMessageView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connector_id: uuid.UUID
    direction: str
    topic: str
    external_id: str | None
    webhook_id: str | None
    event_id: str | None
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    waits_for: str | None
    error: str | None
    duplicate_deliveries: int
    duplicate_of: str | None
    flags: list[dict[str, Any]]
    result: dict[str, Any]
    received_at: dt.datetime
    processed_at: dt.datetime | None
    updated_at: dt.datetime


class Sync(Request):
    kind: Literal["stock", "orders"] = Field(
        "stock",
        description="`stock`: push available-to-promise; `orders`: pull orders updated since the cursor.",
    )
    full: bool = Field(
        False,
        description="stock: every linked product at every mapped location; orders: every order of the shop.",
    )


class SyncView(BaseModel):
    kind: str
    report: dict[str, Any] = Field(description="What the run did (counts, cursor, throttling, failures).")


class ReplayView(BaseModel):
    replayed: list[SyncMessageView]


class ImportFailure(BaseModel):
    order_id: str = Field(description="The marketplace's order id.")
    message_id: uuid.UUID = Field(description="Its message in the sync log (replay it after a fix).")
    error: str


class ImportView(BaseModel):
    """What one marketplace report did. Each order is one inbound message of the sync log."""

    orders: int = Field(description="Distinct order ids in the file.")
    landed: int = Field(description="Orders placed now.")
    duplicates: int = Field(description="Orders that had landed before (`duplicate_of`), placed nothing.")
    failed: int = Field(description="Orders that failed (bad SKU, bad amount...), kept for a replay.")
    failures: list[ImportFailure]
