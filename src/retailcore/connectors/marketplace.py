"""Marketplace order reports in: a CSV or JSON file, a column mapping kept on the connector, each order
landed once in the ``marketplace`` channel with the marketplace as its paying gateway.

Rules of the flow (decision 0034; formats in docs/integrations.md#marketplace-orders):

* **The mapping is data**: the connector's ``settings.report`` names, for each field we read, the
  report's column (``columns``: ``order_id``, ``sku``, ``quantity``, ``unit_price`` required;
  ``line_id``, ``date``, ``tax``, ``discount``, ``shipping``, ``fees``, ``currency``, ``buyer``,
  ``status`` optional), the decimal mark (``decimal``: ``.`` or ``,``), the thousands mark, the CSV
  delimiter, a ``date_format`` (ISO 8601 by default), the ``shipped`` status values and, for JSON,
  the key of the list of records (``records``). A mapping that cannot be read, or a file without one of
  the mapped columns, is refused before anything is written, naming the field and the column.
* **One report row is one order line; the rows of one order id are one message** in the sync log
  (inbound, topic ``marketplace/order``), stored with the row values exactly as read so a failed
  order can be processed again after a fix (``POST /connectors/{id}/replay``). Each message is
  processed in its own savepoint (:mod:`retailcore.connectors.services`): a bad SKU or a bad amount
  fails that order only, naming the row and the column, and the file goes on.
* **Idempotent**: the marketplace's order id lands one order (``connector_links`` kind ``order``; its
  lines under ``<order id>/<line id>``). The same order in a later file (or twice in one) is
  ``processed`` with ``duplicate_of`` and places nothing; if it now reads as shipped and was not,
  it is fulfilled then (once: a ``fulfillment`` link).
* **The order**: channel ``marketplace``, mode ``ship``, sourced and reserved like any web order, at
  the marketplace's unit prices and discounts; taxes are ours (the jurisdiction's rules), the report's
  tax is compared and a difference beyond a cent per line is flagged ``tax-mismatch``. Money: the
  marketplace collected it, so the order gets a card payment captured through the connector's
  gateway (``settings.gateway``, the connector's name by default) into card clearing, never more than
  the order owes (a difference with the report is flagged ``payment-mismatch``); the marketplace's
  fees are kept on the message (its settlement books them), shipping is flagged
  ``shipping-not-landed`` as Shopify's is. A row whose status is one of ``shipped`` is fulfilled
  (revenue, COGS) at once.
* Money is parsed exactly as text into :class:`~decimal.Decimal` (never through a float).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.connectors import links
from retailcore.connectors.links import Outcome, Permanent
from retailcore.connectors.tables import Connector, SyncMessage
from retailcore.core.errors import FieldProblem, InvalidReference, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company, Product
from retailcore.orders import services as orders
from retailcore.orders import tables as ot

TOPIC = "marketplace/order"
FORMATS = ("csv", "json")
REQUIRED = ("order_id", "sku", "quantity", "unit_price")
OPTIONAL = ("line_id", "date", "tax", "discount", "shipping", "fees", "currency", "buyer", "status")
FIELDS = REQUIRED + OPTIONAL
CENT = Decimal("0.01")
MAX_FILE_BYTES = 50 * 1024 * 1024
_SETTINGS = "settings.report"


# -- the mapping --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """How one marketplace's report reads: our field -> its column, and how its numbers are written."""

    columns: dict[str, str]
    decimal: str = "."
    thousands: str = ""
    delimiter: str = ","
    date_format: str | None = None
    shipped: frozenset[str] = frozenset()
    records: str | None = None

    @classmethod
    def of(cls, connector: Connector) -> Mapping:
        """The connector's ``settings.report``; refused naming the setting at fault."""
        report = (connector.settings or {}).get("report")
        if not isinstance(report, dict):
            raise ValidationFailed(
                f"marketplace connector {connector.name} has no report mapping",
                code="invalid-mapping",
                problems=[FieldProblem(_SETTINGS, "an object with `columns` (see docs/integrations.md)")],
            )
        problems: list[FieldProblem] = []
        columns = report.get("columns")
        if not isinstance(columns, dict):
            columns = {}
            problems.append(FieldProblem(f"{_SETTINGS}.columns", "an object of our field -> report column"))
        for name, column in columns.items():
            if name not in FIELDS:
                problems.append(
                    FieldProblem(f"{_SETTINGS}.columns.{name}", f"not a field; one of {', '.join(FIELDS)}")
                )
            elif not isinstance(column, str) or not column.strip():
                problems.append(FieldProblem(f"{_SETTINGS}.columns.{name}", "the report's column name"))
        for name in REQUIRED:
            if name not in columns:
                problems.append(FieldProblem(f"{_SETTINGS}.columns.{name}", "required"))
        decimal = report.get("decimal", ".")
        if decimal not in (".", ","):
            problems.append(FieldProblem(f"{_SETTINGS}.decimal", "`.` or `,`"))
        thousands = report.get("thousands", "")
        if thousands not in ("", ",", ".", " ", "'") or thousands == decimal:
            problems.append(
                FieldProblem(f"{_SETTINGS}.thousands", "empty, `,`, `.`, space or `'`, not the decimal mark")
            )
        delimiter = report.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
            problems.append(FieldProblem(f"{_SETTINGS}.delimiter", "one character"))
        date_format = report.get("date_format")
        if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
            problems.append(FieldProblem(f"{_SETTINGS}.date_format", "a strptime format such as %d.%m.%Y"))
        shipped = report.get("shipped", [])
        if not isinstance(shipped, list) or not all(isinstance(s, str) for s in shipped):
            problems.append(FieldProblem(f"{_SETTINGS}.shipped", "a list of status values"))
            shipped = []
        records = report.get("records")
        if records is not None and not isinstance(records, str):
            problems.append(FieldProblem(f"{_SETTINGS}.records", "the key of the list of records"))
        if problems:
            raise ValidationFailed(
                f"the report mapping of marketplace connector {connector.name} cannot be used",
                code="invalid-mapping",
                problems=problems,
            )
        return cls(
            columns={name: column.strip() for name, column in columns.items()},
            decimal=decimal,
            thousands=thousands,
            delimiter=delimiter,
            date_format=date_format,
            shipped=frozenset(s.strip().lower() for s in shipped),
            records=records,
        )

    def amount(self, raw: str | None, where: str, *, default: Decimal | None = None) -> Decimal:
        """``1.234,50`` (decimal ``,``, thousands ``.``) -> ``Decimal('1234.50')``, exactly."""
        text = (raw or "").strip()
        if not text:
            if default is not None:
                return default
            raise ValidationFailed(
                f"{where} is empty", problems=[FieldProblem(where, "an amount is required")]
            )
        if self.thousands:
            text = text.replace(self.thousands, "")
        if self.decimal == ",":
            if "." in text:
                raise ValidationFailed(
                    f"{where} is not an amount: '{raw}'",
                    problems=[FieldProblem(where, f"'{raw}' uses `.` where the decimal mark is `,`")],
                )
            text = text.replace(",", ".")
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValidationFailed(
                f"{where} is not an amount: '{raw}'",
                problems=[FieldProblem(where, f"'{raw}' is not a number")],
            )
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise ValidationFailed(
                f"{where} is not an amount", problems=[FieldProblem(where, "not a number")]
            ) from None

    def date(self, raw: str | None, where: str) -> dt.datetime | None:
        text = (raw or "").strip()
        if not text:
            return None
        try:
            if self.date_format:
                value = dt.datetime.strptime(text, self.date_format)
            else:
                value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            expected = self.date_format or "ISO 8601"
            raise ValidationFailed(
                f"{where} is not a date: '{raw}'",
                problems=[FieldProblem(where, f"'{raw}' is not {expected}")],
            ) from None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# -- reading a file into orders -----------------------------------------------------------------------


@dataclass
class ReportOrder:
    """The rows of one order id, as read (column -> text), with their row numbers in the file."""

    order_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def body(self, source: str) -> str:
        return json.dumps({"order_id": self.order_id, "source": source, "rows": self.rows}, sort_keys=True)


def _unreadable(message: str, where: str = "file") -> ValidationFailed:
    return ValidationFailed(message, code="unreadable-report", problems=[FieldProblem(where, message)])


def _header_problems(
    mapping: Mapping, header: Iterable[str], fields: tuple[str, ...] = FIELDS
) -> list[FieldProblem]:
    present = {name.strip() for name in header}
    return [
        FieldProblem(f"columns.{name}", f"the file has no column '{column}'")
        for name, column in mapping.columns.items()
        if column not in present and name in fields
    ]


def _csv_records(mapping: Mapping, data: bytes) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unreadable("the file is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise _unreadable(f"the CSV header cannot be read: {error}") from None
    if not header:
        raise _unreadable("the file is empty")
    problems = _header_problems(mapping, header)
    if problems:
        raise ValidationFailed(
            "the report lacks mapped columns: " + ", ".join(p.message.rsplit(" ", 1)[-1] for p in problems),
            code="missing-columns",
            problems=problems,
        )
    try:
        for number, row in enumerate(reader, start=2):
            if not any((value or "").strip() for key, value in row.items() if key is not None):
                continue
            yield number, {(key or "").strip(): value for key, value in row.items() if key is not None}
    except csv.Error as error:
        raise _unreadable(f"line {reader.line_num}: {error}") from None


def _json_records(mapping: Mapping, data: bytes) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        document = json.loads(data.decode("utf-8-sig"), parse_float=str, parse_int=str)
    except (UnicodeDecodeError, ValueError):
        raise _unreadable("the file is not JSON") from None
    if mapping.records is not None:
        if not isinstance(document, dict) or not isinstance(document.get(mapping.records), list):
            raise _unreadable(f"the JSON has no list under '{mapping.records}'", f"{_SETTINGS}.records")
        document = document[mapping.records]
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise _unreadable("the JSON is not a list of records (objects)")
    if not document:
        return []
    # A JSON record may leave out a key it has no value for: only the required fields must be there.
    seen: set[str] = set().union(*(item.keys() for item in document))
    problems = _header_problems(mapping, seen, REQUIRED)
    if problems:
        raise ValidationFailed(
            "the report lacks mapped columns: " + ", ".join(p.message.rsplit(" ", 1)[-1] for p in problems),
            code="missing-columns",
            problems=problems,
        )
    return [
        (number, {key: None if value is None else str(value) for key, value in item.items()})
        for number, item in enumerate(document, start=1)
    ]


def read_report(mapping: Mapping, data: bytes, file_format: str) -> list[ReportOrder]:
    """The file's orders in the order they first appear; refused (nothing read) when the file or its
    header does not fit the mapping. Rows are kept as text: they are mapped when processed."""
    if file_format not in FORMATS:
        raise ValidationFailed(
            f"unknown report format {file_format}", problems=[FieldProblem("format", "csv or json")]
        )
    if len(data) > MAX_FILE_BYTES:
        raise _unreadable(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    records = _csv_records(mapping, data) if file_format == "csv" else _json_records(mapping, data)
    found: dict[str, ReportOrder] = {}
    order_column = mapping.columns["order_id"]
    for number, values in records:
        order_id = (values.get(order_column) or "").strip()
        if not order_id:
            raise _unreadable(f"row {number} has no {order_column}", f"row {number}.{order_column}")
        if len(order_id) > 64:
            raise _unreadable(f"row {number}: the order id is longer than 64", f"row {number}.{order_column}")
        found.setdefault(order_id, ReportOrder(order_id)).rows.append({"row": number, "values": values})
    if not found:
        raise _unreadable("the file holds no orders")
    return list(found.values())


def guess_format(filename: str | None, content_type: str | None = None) -> str:
    name = (filename or "").lower()
    if name.endswith(".json") or "json" in (content_type or ""):
        return "json"
    return "csv"


# -- importing a file ---------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What one file did: orders landed, duplicates of orders landed before, orders failed."""

    orders: int = 0
    landed: int = 0
    duplicates: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def import_report(
    session: Session,
    connector: Connector,
    data: bytes,
    *,
    file_format: str,
    source: str,
    now: dt.datetime,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Read the file (refused whole if it does not fit the mapping), then store and process each order
    as one sync-log message; a failing order fails alone."""
    # services imports this module for its handler: imported here, at call time.
    from retailcore.connectors import services

    if connector.kind != "marketplace":
        raise ValidationFailed(
            f"connector {connector.name} is a {connector.kind} connector",
            problems=[FieldProblem("connector", "not a marketplace connector")],
        )
    report = read_report(Mapping.of(connector), data, file_format)
    summary = ImportSummary(orders=len(report))
    for done, order in enumerate(report, start=1):
        delivery = services.Delivery(
            topic=TOPIC, body=order.body(source[:200]), webhook_id=None, external_id=order.order_id
        )
        message = services.process(session, connector, services.store(session, connector, delivery, now), now)
        summary.messages.append(str(message.id))
        if message.status == "processed":
            if message.duplicate_of:
                summary.duplicates += 1
            else:
                summary.landed += 1
        else:
            summary.failed += 1
            summary.failures.append(
                {"order_id": order.order_id, "message_id": str(message.id), "error": message.error or ""}
            )
        if progress is not None:
            progress(done, len(report))
    return summary


# -- processing one order -----------------------------------------------------------------------------


@dataclass
class _Line:
    row: int
    line_id: str
    sku: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal
    tax: Decimal | None


def _value(mapping: Mapping, values: dict[str, Any], name: str) -> str | None:
    column = mapping.columns.get(name)
    if column is None:
        return None
    value = values.get(column)
    return None if value is None else str(value)


def _where(mapping: Mapping, row: int, name: str) -> str:
    return f"row {row}.{mapping.columns[name]}"


def _lines(mapping: Mapping, rows: list[dict[str, Any]]) -> list[_Line]:
    lines: list[_Line] = []
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for position, entry in enumerate(rows, start=1):
        number, values = int(entry["row"]), entry["values"]
        try:
            quantity = mapping.amount(
                _value(mapping, values, "quantity"), _where(mapping, number, "quantity")
            )
            if quantity <= 0 or quantity != quantity.to_integral_value():
                raise ValidationFailed(
                    "bad quantity",
                    problems=[FieldProblem(_where(mapping, number, "quantity"), "a whole number above 0")],
                )
            unit_price = mapping.amount(
                _value(mapping, values, "unit_price"), _where(mapping, number, "unit_price")
            )
            discount = (
                mapping.amount(
                    _value(mapping, values, "discount"),
                    _where(mapping, number, "discount"),
                    default=Decimal(0),
                )
                if "discount" in mapping.columns
                else Decimal(0)
            )
            tax = (
                mapping.amount(
                    _value(mapping, values, "tax"), _where(mapping, number, "tax"), default=Decimal(0)
                )
                if "tax" in mapping.columns
                else None
            )
        except ValidationFailed as error:
            problems += error.problems
            continue
        for name, amount in (("unit_price", unit_price), ("discount", discount)):
            if amount < 0:
                problems.append(FieldProblem(_where(mapping, number, name), "negative"))
        line_id = (_value(mapping, values, "line_id") or "").strip() or str(position)
        if line_id in seen:
            problems.append(FieldProblem(_where(mapping, number, "line_id"), f"line {line_id} repeated"))
        seen.add(line_id)
        lines.append(
            _Line(
                number,
                line_id,
                (_value(mapping, values, "sku") or "").strip(),
                quantity.normalize() if quantity else quantity,
                unit_price,
                discount,
                tax,
            )
        )
    if problems:
        raise ValidationFailed("some rows of the order cannot be read", code="bad-row", problems=problems)
    return lines


def _total(mapping: Mapping, rows: list[dict[str, Any]], name: str) -> Decimal:
    if name not in mapping.columns:
        return Decimal(0)
    return sum(
        (
            mapping.amount(
                _value(mapping, entry["values"], name),
                _where(mapping, int(entry["row"]), name),
                default=Decimal(0),
            )
            for entry in rows
        ),
        Decimal(0),
    )


def _first(mapping: Mapping, rows: list[dict[str, Any]], name: str) -> str | None:
    for entry in rows:
        value = (_value(mapping, entry["values"], name) or "").strip()
        if value:
            return value
    return None


def handle(session: Session, ctx: CommandContext, connector: Connector, message: SyncMessage) -> Outcome:
    """Process one order of a report (raises to fail it, retried with backoff; replayable)."""
    if message.topic != TOPIC:
        raise Permanent(f"topic {message.topic} is not one this connector handles", code="unknown-topic")
    data = json.loads(message.body)
    mapping = Mapping.of(connector)
    company = session.get(Company, connector.company_id)
    assert company is not None
    order_key = data["order_id"]
    rows: list[dict[str, Any]] = data["rows"]
    shipped = bool(mapping.shipped) and any(
        (_value(mapping, entry["values"], "status") or "").strip().lower() in mapping.shipped
        for entry in rows
    )
    outcome = Outcome()
    order_id = links.find(session, connector.id, "order", order_key)
    if order_id is not None:
        outcome.duplicate_of = f"order:{order_id}"
    else:
        when = mapping.date(
            _first(mapping, rows, "date"), f"row {rows[0]['row']}.{mapping.columns.get('date')}"
        )
        if when is not None:
            ctx = dataclasses.replace(ctx, occurred_at=when)
        order_id = _land(session, ctx, company, connector, mapping, order_key, rows, outcome)
    row = session.get(ot.OrderRow, order_id)
    assert row is not None
    if (
        shipped
        and row.state in ("confirmed", "partially_fulfilled")
        and links.find(session, connector.id, "fulfillment", order_key) is None
    ):
        orders.fulfill(session, ctx, company, row.id, orders.Fulfil())
        links.add(session, connector.id, "fulfillment", order_key, row.id)
        outcome.result["fulfilled"] = True
    session.refresh(row)
    outcome.result.update(
        {
            "order_id": str(row.id),
            "order_number": row.number,
            "state": row.state,
            "marketplace_order": order_key,
        }
    )
    return outcome


def _land(
    session: Session,
    ctx: CommandContext,
    company: Company,
    connector: Connector,
    mapping: Mapping,
    order_key: str,
    rows: list[dict[str, Any]],
    outcome: Outcome,
) -> Any:
    currency = (_first(mapping, rows, "currency") or company.currency).upper()
    if currency != company.currency:
        where = f"row {rows[0]['row']}.{mapping.columns.get('currency')}"
        raise ValidationFailed(
            f"the order is in {currency}, the company books in {company.currency}",
            problems=[FieldProblem(where, f"{currency} is not {company.currency}")],
        )
    lines = _lines(mapping, rows)
    skus = {line.sku for line in lines if line.sku}
    found = {
        product.sku: product
        for product in session.scalars(
            select(Product).where(Product.company_id == company.id, Product.sku.in_(skus))
        )
    }
    unknown = [line for line in lines if line.sku not in found]
    if unknown:
        raise InvalidReference(
            "unknown SKU: "
            + ", ".join(repr(line.sku) for line in unknown)
            + " (create the product, then replay the message)",
            code="unknown-sku",
            problems=[
                FieldProblem(
                    _where(mapping, line.row, "sku"),
                    f"no product with SKU '{line.sku}'" if line.sku else "the row has no SKU",
                )
                for line in unknown
            ],
        )
    body = orders.PlaceOrder(
        company_id=company.id,
        channel="marketplace",
        fulfillment_mode="ship",
        lines=[
            orders.LineIn(
                product_id=found[line.sku].id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
            )
            for line in lines
        ],
    )
    view = orders.place_order(session, ctx, company, body, sold_elsewhere=True)
    links.add(session, connector.id, "order", order_key, view.id)
    for line, placed in zip(lines, sorted(view.lines, key=lambda ln: ln.position), strict=True):
        links.add(session, connector.id, "line", f"{order_key}/{line.line_id}", placed.id)
    goods = sum((line.quantity * line.unit_price - line.discount for line in lines), Decimal(0))
    taxes = [line.tax for line in lines if line.tax is not None]
    theirs = sum(taxes, Decimal(0)) if taxes else view.tax_total
    if taxes and abs(theirs - view.tax_total) > CENT * len(lines):
        outcome.flags.append(
            {
                "kind": "tax-mismatch",
                "marketplace_tax": str(theirs),
                "our_tax": str(view.tax_total),
                "difference": str(theirs - view.tax_total),
            }
        )
    shipping = _total(mapping, rows, "shipping")
    if shipping:
        outcome.flags.append({"kind": "shipping-not-landed", "marketplace_shipping": str(shipping)})
    fees = _total(mapping, rows, "fees")
    if fees:
        outcome.result["marketplace_fees"] = str(fees)
    buyer = _first(mapping, rows, "buyer")
    if buyer:
        outcome.result["buyer"] = buyer[:200]
    paid = goods if view.prices_include_tax else goods + theirs
    _collect(session, ctx, company, connector, view.id, order_key, paid, outcome)
    return view.id


def _collect(
    session: Session,
    ctx: CommandContext,
    company: Company,
    connector: Connector,
    order_id: Any,
    order_key: str,
    paid: Decimal,
    outcome: Outcome,
) -> None:
    """The marketplace collected the order: a card payment captured through its gateway."""
    row = session.get(ot.OrderRow, order_id)
    assert row is not None
    if paid != row.gross_total:
        outcome.flags.append(
            {"kind": "payment-mismatch", "marketplace_paid": str(paid), "order_total": str(row.gross_total)}
        )
    _, payments, _ = orders.load(session, row)
    amount = min(paid, payments.amount_due.amount)
    if amount <= 0:
        return
    orders.take_payment(
        session,
        ctx,
        company,
        row.id,
        orders.TakePayment(
            kind="card",
            gateway=gateway(connector),
            reference=f"{connector.name}-order-{order_key}"[:200],
            amount=amount,
            capture=True,
        ),
    )


def gateway(connector: Connector) -> str:
    """The paying gateway of a marketplace's orders: ``settings.gateway``, else the connector's name."""
    return str(connector.settings.get("gateway") or connector.name)[:64]
