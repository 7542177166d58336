"""Odoo out: products, customers and the books pushed to an Odoo database (docs/integrations.md#odoo).

Rules of the flow (decision 0033):

* **Every push is a message of the sync log** (direction ``outbound``): ``odoo/products`` and
  ``odoo/customers`` carry up to :data:`CHUNK` of our ids, ``odoo/books`` one Odoo move (the aggregation
  key and the journal entries it sums). A message is processed like any other (a savepoint; failed with
  the error and retried with backoff; dead-lettered; replayed through ``POST /connectors/{id}/replay``).
  Its result names the Odoo ids and counts the calls it made (``calls``: ``model.method`` -> n).
* **Idempotent at Odoo's end.** Each record we create carries an external id in Odoo's ``ir.model.data``
  (module ``retailcore``; ``product_<id>``, ``customer_<id>``, ``move_<key>``). Before creating, a message
  looks the external id up, and when it is missing, looks for the record itself (the SKU in
  ``default_code``, the customer code in ``ref``, the move's ``ref``): a message that died between the
  create and the external id is repaired by its replay, never duplicated. Found records are updated
  (products, customers) or only posted if still draft (moves): a posted move is never edited.
* **The books are aggregated** per ``aggregate`` setting: ``session`` (a POS session's entries together;
  other entries per store and day), ``store_day`` (the default) or ``day`` (the whole company), always
  per journal and date (an Odoo move has one of each). The key is ``<yyyymmdd>_<journal>_<scope>``.
  **The cursor** is ``connector_entries``: each posted journal entry is taken into one message per
  connector, once; an entry posted after its group was pushed (a reversal) makes a new move
  (``<key>_2``), never an edit of the one posted.
* **Mapping is data** (connector settings): ``accounts`` (our account code -> Odoo account id) with
  ``account_roles`` (our role -> id) as the fallback, ``journals`` (``<journal>@<store code>``,
  ``<journal>`` or ``*`` -> Odoo journal id), ``taxes`` (our tax code -> Odoo tax id). What is not
  mapped fails the message with every missing code named, before any call to Odoo; once the mapping is
  fixed, a replay pushes it.
* **Amounts are exact**: company-currency Decimals, summed exactly, sent as JSON numbers written from
  their decimal digits (:func:`retailcore.connectors.odoo_client.dumps`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.connectors import links, vault
from retailcore.connectors.links import Outcome, Permanent
from retailcore.connectors.odoo_client import PROTOCOLS, Client, OdooError, connect
from retailcore.connectors.tables import Connector, ConnectorEntry, SyncMessage
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, ValidationFailed
from retailcore.core.ids import new_id
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Account, Company, Customer, Product, Store, Tax, TaxRule

TOPIC_PRODUCTS = "odoo/products"
TOPIC_CUSTOMERS = "odoo/customers"
TOPIC_BOOKS = "odoo/books"
TOPICS = (TOPIC_PRODUCTS, TOPIC_CUSTOMERS, TOPIC_BOOKS)
AGGREGATES = ("session", "store_day", "day")
MODULE = "retailcore"
CHUNK = 100
TAX_ROLES = ("output_tax", "input_tax")
_MAPPINGS = ("accounts", "account_roles", "journals", "taxes")


# -- settings ------------------------------------------------------------------------------------------


def settings_problems(settings: dict[str, Any]) -> list[FieldProblem]:
    """What is wrong with an Odoo connector's settings (docs/integrations.md#odoo)."""
    problems = []
    url = settings.get("url")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", url):
        problems.append(FieldProblem("settings.url", "the Odoo server's address, http(s)://host[:port]"))
    database = settings.get("database")
    if not isinstance(database, str) or not 1 <= len(database) <= 128:
        problems.append(FieldProblem("settings.database", "the Odoo database's name"))
    protocol = settings.get("protocol", "json2")
    if protocol not in PROTOCOLS:
        problems.append(FieldProblem("settings.protocol", "json2 (Odoo 19 and later) or jsonrpc"))
    login = settings.get("login")
    if protocol == "jsonrpc" and (not isinstance(login, str) or not login):
        problems.append(FieldProblem("settings.login", "the Odoo user's login, required for jsonrpc"))
    if settings.get("aggregate", "store_day") not in AGGREGATES:
        problems.append(FieldProblem("settings.aggregate", "session, store_day or day"))
    timeout = settings.get("timeout_seconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float | Decimal) or not 1 <= timeout <= 300
    ):
        problems.append(FieldProblem("settings.timeout_seconds", "from 1 to 300"))
    if not isinstance(settings.get("send_tax_ids", False), bool):
        problems.append(FieldProblem("settings.send_tax_ids", "true or false"))
    for name in _MAPPINGS:
        mapping = settings.get(name)
        if mapping is None:
            continue
        if not isinstance(mapping, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in mapping.values()
        ):
            problems.append(FieldProblem(f"settings.{name}", "an object of our code -> Odoo id (a number)"))
    return problems


def check_settings(settings: dict[str, Any]) -> None:
    problems = settings_problems(settings)
    if problems:
        raise ValidationFailed("invalid Odoo connector settings", problems=problems)


def connector_key(session: Session) -> str | None:
    """The installation's ``RETAILCORE_CONNECTOR_KEY``, as the composition root put it in the session's
    ``info`` (a callable, so a changed setting is seen)."""
    source = session.info.get("connector_key")
    return source() if callable(source) else source


def client_for(session: Session, connector: Connector, trace: Any = None) -> Client:
    settings = connector.settings
    if connector.secret is None:
        raise OdooError(
            "the connector has no API key: give it one (the Odoo user's API key or password)",
            code="odoo-misconfigured",
            problems=[FieldProblem("secret", "required")],
        )
    secret = vault.unseal(connector_key(session), connector.secret)
    if secret is None:
        raise OdooError(
            "the connector's API key cannot be read with this RETAILCORE_CONNECTOR_KEY (a rotated key?):"
            " enter it again",
            code="odoo-misconfigured",
            problems=[FieldProblem("secret", "unreadable")],
        )
    return connect(
        protocol=settings.get("protocol", "json2"),
        url=settings["url"],
        database=settings["database"],
        login=settings.get("login"),
        key=secret,
        timeout=float(settings.get("timeout_seconds") or 30),  # float-ok: a timeout in seconds, not money
        trace=trace,
    )


# -- planning: what a push sends -----------------------------------------------------------------------


def _outbound(connector: Connector, topic: str, body: dict[str, Any], now: dt.datetime, key: str | None):
    return SyncMessage(
        id=new_id(),
        company_id=connector.company_id,
        connector_id=connector.id,
        direction="outbound",
        topic=topic,
        external_id=key,
        status="received",
        attempts=0,
        duplicate_deliveries=0,
        flags=[],
        result={},
        body=json.dumps(body),
        # Due at once: should the pushing process die, the serving process's sweep sends it.
        next_attempt_at=now,
        received_at=now,
        updated_at=now,
    )


def plan_master_data(session: Session, connector: Connector, now: dt.datetime) -> list[SyncMessage]:
    """Messages for every product and customer of the company, :data:`CHUNK` ids each (created or
    updated in Odoo: pushing again brings Odoo up to date, it never creates twice)."""
    messages = []
    for topic, table in ((TOPIC_PRODUCTS, Product), (TOPIC_CUSTOMERS, Customer)):
        ids = list(
            session.scalars(
                select(table.id).where(table.company_id == connector.company_id).order_by(table.id)
            )
        )
        for start in range(0, len(ids), CHUNK):
            chunk = [str(i) for i in ids[start : start + CHUNK]]
            messages.append(_outbound(connector, topic, {"ids": chunk}, now, None))
    session.add_all(messages)
    session.flush()
    return messages


def _token(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:16] or "x"


def plan_books(
    session: Session, connector: Connector, period: tuple[dt.date, dt.date] | None, now: dt.datetime
) -> list[SyncMessage]:
    """One message per Odoo move for the posted entries not taken yet (of ``period``, or all), grouped
    by the connector's ``aggregate``; each entry is recorded in ``connector_entries`` with its message."""
    aggregate = connector.settings.get("aggregate", "store_day")
    taken = exists().where(
        ConnectorEntry.connector_id == connector.id, ConnectorEntry.entry_id == a.JournalEntry.id
    )
    query = (
        select(
            a.JournalEntry.id,
            a.JournalEntry.date,
            a.JournalEntry.journal_id,
            Event.aggregate_type,
            Event.aggregate_id,
            Event.store_id,
        )
        .outerjoin(Event, Event.id == a.JournalEntry.event_id)
        .where(
            a.JournalEntry.company_id == connector.company_id,
            a.JournalEntry.state == "posted",
            ~taken,
        )
        .order_by(a.JournalEntry.date, a.JournalEntry.id)
    )
    if period is not None:
        query = query.where(a.JournalEntry.date.between(*period))
    journals = dict(
        session.execute(
            select(a.Journal.id, a.Journal.code).where(a.Journal.company_id == connector.company_id)
        ).all()
    )
    stores = dict(
        session.execute(select(Store.id, Store.code).where(Store.company_id == connector.company_id)).all()
    )
    groups: dict[str, dict[str, Any]] = {}
    for entry_id, date, journal_id, aggregate_type, aggregate_id, store_id in session.execute(query):
        journal = journals[journal_id]
        if aggregate == "session" and aggregate_type == "PosSession":
            scope, label = f"s{aggregate_id.hex}", f"POS session {aggregate_id}"
        elif aggregate != "day" and store_id is not None:
            scope, label = f"t{store_id.hex}", f"store {stores.get(store_id, store_id)}"
        else:
            scope, label = "c", "company"
        base = f"{date:%Y%m%d}_{_token(journal)}_{scope}"
        group = groups.setdefault(
            base,
            {
                "date": date.isoformat(),
                "journal": journal,
                # The store picks a journal mapped per store (``POS@S1``), for a session's move too.
                "store": stores.get(store_id) if scope != "c" else None,
                "label": f"{journal} {date.isoformat()} {label}",
                "entry_ids": [],
            },
        )
        group["entry_ids"].append(str(entry_id))
    messages = []
    for base, group in groups.items():
        taken_before = _generation(base, session, connector)
        key = base if taken_before == 0 else f"{base}_{taken_before + 1}"
        message = _outbound(connector, TOPIC_BOOKS, {"key": key, **group}, now, key)
        session.add(message)
        session.flush()
        # The cursor: one row per entry, in one statement (a month of a chain is thousands of entries).
        session.execute(
            insert(ConnectorEntry),
            [
                {
                    "connector_id": connector.id,
                    "entry_id": uuid.UUID(entry_id),
                    "message_id": message.id,
                    "move_key": key,
                    "created_at": now,
                }
                for entry_id in group["entry_ids"]
            ],
        )
        messages.append(message)
    session.flush()
    return messages


def _generation(base: str, session: Session, connector: Connector) -> int:
    """How many moves of the group ``base`` were taken before (``base``, ``base_2``...)."""
    keys = session.scalars(
        select(ConnectorEntry.move_key)
        .where(
            ConnectorEntry.connector_id == connector.id,
            ConnectorEntry.move_key.startswith(base, autoescape=True),
        )
        .distinct()
    )
    return sum(1 for key in keys if key == base or re.fullmatch(re.escape(base) + r"_\d+", key))


# -- processing one message ----------------------------------------------------------------------------


def handle(session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage) -> Outcome:
    """Process one outbound message (the sync log's handler for ``kind`` odoo)."""
    if message.topic not in TOPICS:
        raise Permanent(f"an Odoo connector sends no {message.topic} messages", code="unknown-topic")
    body = json.loads(message.body)
    calls: Counter[str] = Counter()
    if message.topic == TOPIC_BOOKS:
        # Everything checked here first: an unmapped account fails before any call to Odoo.
        move = _move_values(session, connector, body)
        client = client_for(session, connector, lambda call: calls.update([call]))
        try:
            result = _push_move(session, connector, client, body["key"], move)
        finally:
            client.close()
    else:
        client = client_for(session, connector, lambda call: calls.update([call]))
        try:
            ids = [uuid.UUID(i) for i in body["ids"]]
            if message.topic == TOPIC_PRODUCTS:
                result = _push_products(session, connector, client, ids)
            else:
                result = _push_customers(session, connector, client, ids)
        finally:
            client.close()
    result["calls"] = dict(sorted(calls.items()))
    return Outcome(result=result)


def _external_ids(client: Client, model: str, names: list[str]) -> dict[str, int]:
    """``ir.model.data`` of module retailcore: name -> the record's id in Odoo."""
    if not names:
        return {}
    rows = client.search_read(
        "ir.model.data",
        [["module", "=", MODULE], ["model", "=", model], ["name", "in", names]],
        ["name", "res_id"],
    )
    return {row["name"]: int(row["res_id"]) for row in rows}


def _name_them(client: Client, model: str, pairs: Iterable[tuple[str, int]]) -> None:
    values = [
        {"module": MODULE, "name": name, "model": model, "res_id": res_id, "noupdate": True}
        for name, res_id in pairs
    ]
    if values:
        client.create("ir.model.data", values)


def _link(session: Session, connector: Connector, kind: str, odoo_id: int, internal_id: uuid.UUID) -> None:
    if links.find(session, connector.id, kind, odoo_id) is None:
        links.add(session, connector.id, kind, odoo_id, internal_id)


def _upsert(
    session: Session,
    connector: Connector,
    client: Client,
    *,
    model: str,
    kind: str,
    records: list[tuple[str, str, uuid.UUID, dict[str, Any]]],
    natural_key: str,
) -> dict[str, Any]:
    """Create or update records named ``(external name, natural key value, our id, values)``."""
    known = _external_ids(client, model, [name for name, _, _, _ in records])
    missing = [r for r in records if r[0] not in known]
    created, adopted = [], []
    if missing:
        # A record of ours already in Odoo without its external id (the message died in between, or
        # someone keyed it in): adopted and updated, not created twice.
        found = client.search_read(model, [[natural_key, "in", [r[1] for r in missing]]], ["id", natural_key])
        existing = {row[natural_key]: int(row["id"]) for row in found}
        adopted = [(r, existing[r[1]]) for r in missing if r[1] in existing]
        new = [r for r in missing if r[1] not in existing]
        new_ids = client.create(model, [r[3] for r in new]) if new else []
        created = list(zip(new, new_ids, strict=True))
        _name_them(client, model, [(r[0], odoo_id) for r, odoo_id in adopted + created])
        known.update({r[0]: odoo_id for r, odoo_id in adopted + created})
    fresh = {r[0] for r, _ in created}
    updated = 0
    for name, _, _, values in records:
        if name not in fresh:
            client.write(model, [known[name]], values)
            updated += 1
    for name, _, internal_id, _ in records:
        _link(session, connector, kind, known[name], internal_id)
    return {
        "model": model,
        "created": len(created),
        "updated": updated,
        "adopted": len(adopted),
        "odoo_ids": {str(internal_id): known[name] for name, _, internal_id, _ in records},
    }


def _product_taxes(session: Session, connector: Connector) -> tuple[dict[str, list[int]], set[str]]:
    """Tax category -> the mapped Odoo taxes of our taxes for it; and our tax codes not mapped."""
    mapping = connector.settings.get("taxes") or {}
    by_category: dict[str, list[int]] = {}
    unmapped: set[str] = set()
    rows = session.execute(
        select(TaxRule.tax_category, Tax.code)
        .join(Tax, Tax.rule_id == TaxRule.id)
        .where(TaxRule.company_id == connector.company_id)
        .order_by(TaxRule.tax_category, Tax.sequence)
    )
    for category, code in rows:
        if code in mapping:
            ids = by_category.setdefault(category, [])
            if mapping[code] not in ids:
                ids.append(mapping[code])
        else:
            unmapped.add(code)
    return by_category, unmapped


def _push_products(
    session: Session, connector: Connector, client: Client, ids: list[uuid.UUID]
) -> dict[str, Any]:
    products = session.scalars(
        select(Product).where(Product.company_id == connector.company_id, Product.id.in_(ids))
    ).all()
    taxes, unmapped = _product_taxes(session, connector)
    records = []
    for product in products:
        values: dict[str, Any] = {
            "name": product.name,
            "default_code": product.sku,
            "barcode": product.barcodes[0].barcode if product.barcodes else False,
            "list_price": product.list_price,
            "type": "consu",
            "sale_ok": True,
            "active": product.active,
        }
        if product.tax_category in taxes:
            values["taxes_id"] = [[6, 0, taxes[product.tax_category]]]
        records.append((f"product_{product.id.hex}", product.sku, product.id, values))
    result = _upsert(
        session,
        connector,
        client,
        model="product.product",
        kind="product",
        records=records,
        natural_key="default_code",
    )
    if unmapped:
        result["unmapped_taxes"] = sorted(unmapped)
    return result


def _push_customers(
    session: Session, connector: Connector, client: Client, ids: list[uuid.UUID]
) -> dict[str, Any]:
    customers = session.scalars(
        select(Customer).where(Customer.company_id == connector.company_id, Customer.id.in_(ids))
    ).all()
    records = [
        (
            f"customer_{customer.id.hex}",
            customer.code,
            customer.id,
            {
                "name": customer.name,
                "ref": customer.code,
                "email": customer.email or False,
                "phone": customer.phone or False,
                "customer_rank": 1,
                "active": customer.active,
            },
        )
        for customer in customers
    ]
    return _upsert(
        session, connector, client, model="res.partner", kind="customer", records=records, natural_key="ref"
    )


# -- the books -----------------------------------------------------------------------------------------


class Unmapped(Conflict):
    """Something of ours has no Odoo counterpart in the connector's mapping: the message fails, naming
    every missing code, and is pushed by a replay once the mapping is fixed."""


def _journal_id(connector: Connector, journal: str, store: str | None) -> int:
    mapping = connector.settings.get("journals") or {}
    for name in ((f"{journal}@{store}",) if store else ()) + (journal, "*"):
        if name in mapping:
            return int(mapping[name])
    raise Unmapped(
        f"no Odoo journal for our journal {journal}"
        + (f" (store {store})" if store else "")
        + ": map it in the connector's settings.journals",
        code="odoo-unmapped-journal",
        problems=[FieldProblem(f"settings.journals.{journal}", "no Odoo journal id")],
    )


def _move_values(session: Session, connector: Connector, body: dict[str, Any]) -> dict[str, Any]:
    """The ``account.move`` to create: the entries' lines summed per Odoo account, side and tax."""
    settings = connector.settings
    by_code = settings.get("accounts") or {}
    by_role = settings.get("account_roles") or {}
    tax_map = settings.get("taxes") or {}
    send_taxes = bool(settings.get("send_tax_ids", False))
    entry_ids = [uuid.UUID(i) for i in body["entry_ids"]]
    lines = session.scalars(
        select(a.JournalLine)
        .where(a.JournalLine.entry_id.in_(entry_ids), a.JournalLine.state == "posted")
        .order_by(a.JournalLine.entry_id, a.JournalLine.sequence)
    ).all()
    accounts = {
        row.id: row
        for row in session.scalars(select(Account).where(Account.id.in_({line.account_id for line in lines})))
    }
    sums: dict[tuple[int, str, int | None], Decimal] = {}
    names: dict[tuple[int, str, int | None], str] = {}
    missing_accounts: dict[str, Account] = {}
    missing_taxes: set[str] = set()
    for line in lines:
        account = accounts[line.account_id]
        odoo_account = by_code.get(account.code) or (by_role.get(account.role) if account.role else None)
        if odoo_account is None:
            missing_accounts[account.code] = account
            continue
        tax = None
        if send_taxes and line.tax_code and account.role not in TAX_ROLES:
            tax = tax_map.get(line.tax_code)
            if tax is None:
                missing_taxes.add(line.tax_code)
                continue
        side = "debit" if line.debit > 0 else "credit"
        amount = line.debit if side == "debit" else line.credit
        if amount == 0:
            continue
        group = (int(odoo_account), side, tax)
        sums[group] = sums.get(group, Decimal(0)) + amount
        names.setdefault(group, f"{account.code} {account.name}" + (f" ({line.tax_code})" if tax else ""))
    problems = [
        FieldProblem(
            f"settings.accounts.{code}",
            f"no Odoo account for {code} {account.name}"
            + (f" (role {account.role})" if account.role else ""),
        )
        for code, account in sorted(missing_accounts.items())
    ] + [FieldProblem(f"settings.taxes.{code}", "no Odoo tax id") for code in sorted(missing_taxes)]
    if problems:
        what = [f"account {code}" for code in sorted(missing_accounts)] + [
            f"tax {code}" for code in sorted(missing_taxes)
        ]
        raise Unmapped(
            f"no Odoo counterpart for our {', '.join(what)}: map them in the connector's settings"
            " (accounts, account_roles, taxes), then replay the message",
            code="odoo-unmapped-account" if missing_accounts else "odoo-unmapped-tax",
            problems=problems,
        )
    journal = _journal_id(connector, body["journal"], body.get("store"))
    company = session.get(Company, connector.company_id)
    assert company is not None
    zero = round_to_currency(Decimal(0), company.currency)
    line_ids = []
    for (account_id, side, tax), total in sorted(sums.items(), key=lambda kv: (kv[0][1] != "debit", kv[0])):
        # Company-currency lines are whole minor units already: written with the currency's decimals.
        amount = round_to_currency(total, company.currency)
        if amount != total:  # pragma: no cover - posted company amounts are rounded to the currency
            raise Conflict(f"{total} is not a whole amount of {company.currency}")
        values: dict[str, Any] = {
            "account_id": account_id,
            "name": names[(account_id, side, tax)][:300],
            "debit": amount if side == "debit" else zero,
            "credit": amount if side == "credit" else zero,
        }
        if tax is not None:
            values["tax_ids"] = [[6, 0, [tax]]]
        line_ids.append([0, 0, values])
    debit = sum((v[2]["debit"] for v in line_ids), Decimal(0))
    credit = sum((v[2]["credit"] for v in line_ids), Decimal(0))
    if debit != credit:  # pragma: no cover - posted entries balance, and so do their sums
        raise Conflict(f"the move {body['key']} does not balance ({debit} against {credit})")
    return {
        "move_type": "entry",
        "journal_id": journal,
        "date": body["date"],
        "ref": f"retailcore {body['key']}: {body['label']}"[:200],
        "line_ids": line_ids,
    }


def _push_move(
    session: Session, connector: Connector, client: Client, key: str, move: dict[str, Any]
) -> dict[str, Any]:
    name = f"move_{key}"
    move_id = _external_ids(client, "account.move", [name]).get(name)
    created = False
    if move_id is None:
        found = client.search_read(
            "account.move", [["ref", "=", move["ref"]], ["journal_id", "=", move["journal_id"]]], ["id"], 1
        )
        if found:
            move_id = int(found[0]["id"])
        else:
            move_id = client.create("account.move", [move])[0]
            created = True
        _name_them(client, "account.move", [(name, move_id)])
    rows = client.search_read("account.move", [["id", "=", move_id]], ["state"], 1)
    if not rows:
        raise OdooError(
            f"Odoo's move {move_id} ({MODULE}.{name}) was deleted: delete its external id in Odoo, then"
            " replay this message to create it again",
            code="odoo-missing",
        )
    state = rows[0]["state"]
    if state == "draft":
        client.call("account.move", "action_post", [move_id])
        state = "posted"
    elif state != "posted":
        raise OdooError(
            f"Odoo's move {move_id} ({MODULE}.{name}) is {state}: reset it to draft in Odoo, or delete it"
            " and its external id, then replay this message",
            code="odoo-move-cancelled",
        )
    message_id = session.scalar(
        select(ConnectorEntry.message_id).where(
            ConnectorEntry.connector_id == connector.id, ConnectorEntry.move_key == key
        )
    )
    if message_id is not None:
        _link(session, connector, "move", move_id, message_id)
    lines = move["line_ids"]
    return {
        "key": key,
        "external_id": f"{MODULE}.{name}",
        "odoo_move_id": move_id,
        "created": created,
        "state": state,
        "lines": len(lines),
        "total": str(sum((line[2]["debit"] for line in lines), Decimal(0))),
    }


def parse_period(period: str) -> tuple[dt.date, dt.date]:
    """``2026-11`` -> its first and last day."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", period)
    if not match or not 1 <= int(match[2]) <= 12:
        raise ValidationFailed(
            f"'{period}' is not a month", problems=[FieldProblem("period", "YYYY-MM, like 2026-11")]
        )
    first = dt.date(int(match[1]), int(match[2]), 1)
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)
