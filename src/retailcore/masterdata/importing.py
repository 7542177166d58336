"""Bulk import of products from a CSV file (``retailcore import products``; format in docs/import.md).

The import runs in three phases so that an all-or-nothing import never writes before it knows the
whole file is good:

1. read: decode the file (UTF-8, BOM accepted), check the header, collect the data rows with the line
   each starts on;
2. validate: every row through the API's own :class:`CreateProduct` model, then the rules that span
   rows (a SKU or barcode twice in the file) and the rules that need the database (a barcode that
   belongs to another product), looked up with a few set-based queries rather than one per row;
3. write: new products are inserted in chunks with ``add_all`` and one flush per chunk, then their
   barcodes the same way; existing products that differ go through :func:`services.update`, so an
   update here is exactly an update through the API (version bump, ``ProductUpdated`` event with its
   changes), and unchanged ones are only compared in memory.

Each new product records a ``ProductCreated`` event shaped like the one :func:`services.create`
records, with the caller's :class:`CommandContext`, so an import is one correlated command in the
event log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from retailcore.core.errors import RetailcoreError
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata import services
from retailcore.masterdata import tables as t
from retailcore.masterdata.commands import CreateProduct, UpdateProduct
from retailcore.masterdata.views import product_channels

COLUMNS: tuple[str, ...] = (
    "sku",
    "name",
    "category",
    "list_price",
    "standard_cost",
    "unit_of_measure",
    "tax_category",
    "cost_method",
    "barcodes",
    "channels",
    "active",
    "description",
)
"""Every column the file may have, in the order docs/import.md lists them."""

REQUIRED_COLUMNS: tuple[str, ...] = ("sku", "name", "category", "list_price")

LIST_COLUMNS = frozenset({"barcodes", "channels"})
LIST_SEPARATOR = "|"

TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})

CHUNK_SIZE = 500
"""Rows per INSERT flush, and values per IN list: small enough for any backend's parameter limit."""


@dataclass(frozen=True)
class RowProblem:
    """Why one line of the file cannot be imported. ``line`` counts from 1, the header's line."""

    line: int
    message: str


@dataclass
class ImportRejected(RetailcoreError):
    """The file (or some of its rows) is not acceptable and nothing was written.

    ``problems`` holds one :class:`RowProblem` per invalid row (all of them, in file order), or the
    header's problems when the file as a whole is refused.
    """

    code: str = "import-rejected"
    # Rows, not fields: an import problem is located by its line in the file.
    problems: list[RowProblem] = field(default_factory=list)  # type: ignore[assignment]


@dataclass
class ImportReport:
    """What an import did. ``skipped`` lists the invalid rows left out under ``skip_invalid``."""

    created: int
    updated: int
    unchanged: int
    skipped: list[RowProblem]


@dataclass
class _Row:
    """One data row on its way through validation."""

    line: int
    errors: list[str] = field(default_factory=list)
    request: CreateProduct | None = None
    sku: str | None = None
    """The row's SKU as soon as that cell is valid, even if other cells are not: duplicates are
    reported on every row that has one, not only once the rest of the row is fixed."""
    barcodes: list[str] = field(default_factory=list)
    """Likewise, the row's barcodes once the barcodes cell is valid."""


def import_products(
    session: Session,
    ctx: CommandContext,
    company: t.Company,
    path: Path,
    *,
    skip_invalid: bool,
    progress: Callable[[int, int], None] | None,
) -> ImportReport:
    """Create or update the products of ``company`` listed in the CSV file at ``path``.

    A row whose SKU is new creates a product; a row whose SKU exists updates that product when
    something differs. Columns absent from the file are left as they are on existing products.

    Raises :class:`ImportRejected`, before writing anything, when the header is unusable or when any
    row is invalid and ``skip_invalid`` is false. With ``skip_invalid`` the valid rows are imported
    and the invalid ones returned in :attr:`ImportReport.skipped`. ``progress(done, total)`` is
    called as rows are processed, ``total`` being the number of data rows.
    """
    columns, records = _read(path)
    total = len(records)
    report = progress or (lambda _done, _total: None)
    report(0, total)

    rows = [_validate_row(line, columns, cells) for line, cells in records]
    _check_within_file(rows)
    existing = _existing_products(session, company, {row.sku for row in rows if row.sku})
    _check_barcodes_in_use(session, company, rows)

    problems = [RowProblem(row.line, "; ".join(row.errors)) for row in rows if row.errors]
    if problems and not skip_invalid:
        verb = "is" if len(problems) == 1 else "are"
        raise ImportRejected(f"{len(problems)} of {total} rows {verb} invalid;", problems=problems)

    good = [(row.line, row.request) for row in rows if row.request is not None and not row.errors]
    new = _insert_products(session, company, [(line, r) for line, r in good if r.sku not in existing])
    created = updated = unchanged = 0
    done = len(problems)
    for chunk in _chunks(good, CHUNK_SIZE):
        _insert_barcodes(session, company, [(new[line], request) for line, request in chunk if line in new])
        # Events are added in file order (creates and updates interleaved) so the log reads like the
        # file; services.update flushes the pending ones as it goes.
        for line, request in chunk:
            if line in new:
                product = new[line]
                record(
                    session,
                    ctx,
                    type=f"{services.PRODUCT.name}Created",
                    company_id=company.id,
                    aggregate_type=services.PRODUCT.name,
                    aggregate_id=product.id,
                    payload={"after": services.PRODUCT.view(product)},
                )
                created += 1
            elif _update(session, ctx, existing[request.sku], request, columns):
                updated += 1
            else:
                unchanged += 1
        session.flush()
        done += len(chunk)
        report(done, total)
    report(total, total)
    return ImportReport(created=created, updated=updated, unchanged=unchanged, skipped=problems)


# -- reading ----------------------------------------------------------------------------------------


def _read(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's column names and the data rows as (line the row starts on, cells).

    Blank lines, and lines whose cells are all empty (spreadsheets append such rows), are skipped.
    """
    raw = path.read_bytes()
    try:
        # utf-8-sig drops the byte order mark Excel writes at the start of "CSV UTF-8" files.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            "the file is not UTF-8 text;",
            problems=[RowProblem(line, f"byte 0x{raw[exc.start]:02x} is not valid UTF-8 ({exc.reason})")],
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    try:
        header: list[str] | None = None
        next_line = 1
        for cells in reader:
            # A quoted cell may span lines: a row is located by the line it starts on.
            start, next_line = next_line, reader.line_num + 1
            if header is None:
                header = cells
                if not any(cell.strip() for cell in cells):
                    raise ImportRejected(
                        "the file has no header row;",
                        problems=[RowProblem(start, "the first line must name the columns")],
                    )
                continue
            if any(cell.strip() for cell in cells):
                records.append((start, cells))
    except csv.Error as exc:
        raise ImportRejected(
            "the file is not valid CSV;", problems=[RowProblem(reader.line_num, str(exc))]
        ) from None
    if header is None:
        raise ImportRejected(
            "the file is empty;", problems=[RowProblem(1, "a header row naming the columns is required")]
        )
    return _check_header(header), records


def _check_header(header: Sequence[str]) -> list[str]:
    """Column names as given (ignoring case and surrounding spaces), or the whole file refused."""
    names = [name.strip().lower() for name in header]
    messages: list[str] = []
    unnamed = [str(index + 1) for index, name in enumerate(names) if not name]
    if unnamed:
        messages.append(f"columns without a name (column {', '.join(unnamed)})")
    unknown = [name for name in dict.fromkeys(names) if name and name not in COLUMNS]
    if unknown:
        messages.append(f"unknown columns: {', '.join(unknown)} (the columns are: {', '.join(COLUMNS)})")
    twice = [name for name in dict.fromkeys(names) if name and names.count(name) > 1]
    if twice:
        messages.append(f"columns named more than once: {', '.join(twice)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        messages.append(f"missing required columns: {', '.join(missing)}")
    if messages:
        raise ImportRejected(
            "the header row is invalid;", problems=[RowProblem(1, message) for message in messages]
        )
    return names


# -- validating -------------------------------------------------------------------------------------


def _validate_row(line: int, columns: list[str], cells: list[str]) -> _Row:
    """Check one row on its own, with the same model (and so the same rules) as the API."""
    row = _Row(line)
    if len(cells) != len(columns):
        # The cells cannot be matched to columns: reading them anyway would report nonsense.
        hint = " (a cell containing a comma must be quoted)" if len(cells) > len(columns) else ""
        row.errors.append(f"the row has {len(cells)} cells but the header has {len(columns)} columns{hint}")
        return row
    texts = {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
    values: dict[str, Any] = {}
    for name, text in texts.items():
        if not text:
            continue  # left out, so CreateProduct's default applies (or "required" is reported)
        if name in LIST_COLUMNS:
            # Empty pieces ("a||b", a trailing "|") carry no value: skipping them is harmless.
            values[name] = [piece.strip() for piece in text.split(LIST_SEPARATOR) if piece.strip()]
        elif name == "active":
            word = text.lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                row.errors.append(f"active: expected true/false, 1/0 or yes/no, not '{text}'")
                continue
            values[name] = word in TRUE_WORDS
        else:
            # Text stays text: prices and costs are parsed by pydantic straight into Decimal.
            values[name] = text
    failed: set[str] = set()
    try:
        row.request = CreateProduct.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            failed.add(str(error["loc"][0]) if error["loc"] else "")
            row.errors.append(_message(error))
    if "sku" in values and "sku" not in failed:
        row.sku = values["sku"]
    if "barcodes" not in failed:
        row.barcodes = values.get("barcodes", [])
    if row.errors:
        row.request = None
    return row


def _message(error: Any) -> str:
    """A pydantic error as ``column: reason`` (``barcodes (item 2): reason`` for a list item)."""
    loc = error["loc"]
    column = str(loc[0]) if loc else "row"
    if len(loc) > 1 and isinstance(loc[1], int):
        column = f"{column} (item {loc[1] + 1})"
    if error["type"] == "missing":
        return f"{column}: required"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{column}: {message}"


def _check_within_file(rows: list[_Row]) -> None:
    """A SKU or barcode seen on an earlier row makes the later row invalid."""
    sku_lines: dict[str, int] = {}
    barcode_rows: dict[str, _Row] = {}
    for row in rows:
        if row.sku is not None:
            first = sku_lines.setdefault(row.sku, row.line)
            if first != row.line:
                row.errors.append(f"sku '{row.sku}' appears twice in the file (also line {first})")
        for code in row.barcodes:
            other = barcode_rows.setdefault(code, row)
            if other is not row:
                owner = f" (sku {other.sku})" if other.sku else ""
                row.errors.append(f"barcodes: '{code}' is also on line {other.line}{owner}")


def _existing_products(session: Session, company: t.Company, skus: set[str]) -> dict[str, t.Product]:
    """The company's products among ``skus``, by SKU, loaded in a few queries (barcodes included)."""
    found: dict[str, t.Product] = {}
    for chunk in _chunks(sorted(skus), CHUNK_SIZE):
        query = select(t.Product).where(t.Product.company_id == company.id, t.Product.sku.in_(chunk))
        found.update((product.sku, product) for product in session.scalars(query))
    return found


def _check_barcodes_in_use(session: Session, company: t.Company, rows: list[_Row]) -> None:
    """A barcode of another product of the company makes the row invalid.

    The product a row updates may keep its own barcodes. A barcode that the same file takes off one
    product and gives to another is still refused: the file would only work in one row order.
    """
    codes = sorted({code for row in rows for code in row.barcodes})
    owners: dict[str, str] = {}
    for chunk in _chunks(codes, CHUNK_SIZE):
        query = (
            select(t.ProductBarcode.barcode, t.Product.sku)
            .join(t.Product, t.Product.id == t.ProductBarcode.product_id)
            .where(t.ProductBarcode.company_id == company.id, t.ProductBarcode.barcode.in_(chunk))
        )
        owners.update((code, sku) for code, sku in session.execute(query))
    for row in rows:
        for code in row.barcodes:
            owner = owners.get(code)
            if owner is not None and owner != row.sku:
                row.errors.append(f"barcodes: '{code}' already belongs to product {owner}")


# -- writing ----------------------------------------------------------------------------------------


def _insert_products(
    session: Session, company: t.Company, rows: list[tuple[int, CreateProduct]]
) -> dict[int, t.Product]:
    """Insert the new products (without their barcodes), by line, one flush per chunk.

    The ORM batches each chunk's INSERTs, and after the flush ids and defaults are known for the
    events. Barcodes come later, see :func:`_insert_barcodes`.
    """
    inserted: dict[int, t.Product] = {}
    for chunk in _chunks(rows, CHUNK_SIZE):
        products = {line: _new_product(company, request) for line, request in chunk}
        session.add_all(products.values())
        session.flush()
        inserted.update(products)
    return inserted


def _new_product(company: t.Company, request: CreateProduct) -> t.Product:
    """The row for a new product, as :func:`services.create` builds it (less the barcodes)."""
    channels = set(request.channels)
    return t.Product(
        **request.model_dump(exclude={"company_id", "barcodes", "channels"}),
        company_id=company.id,
        available_pos="pos" in channels,
        available_web="web" in channels,
        available_marketplace="marketplace" in channels,
    )


def _insert_barcodes(
    session: Session, company: t.Company, products: list[tuple[t.Product, CreateProduct]]
) -> None:
    """Insert the barcodes of freshly inserted products, in one flush.

    Only called once every new product is in: PostgreSQL plans the foreign key check of
    product_barcodes -> products once per connection, and a plan made while the import had put only
    a few hundred products in (a sequential scan) would then be used for all the others, making the
    import quadratic (measured: 7 s instead of 0.4 s for 10,000 products into an empty table).
    """
    pending: list[t.ProductBarcode] = []
    for product, request in products:
        barcodes = [
            t.ProductBarcode(company_id=company.id, product_id=product.id, barcode=code, position=position)
            for position, code in enumerate(request.barcodes)
        ]
        pending.extend(barcodes)
        # Filled as if loaded from the database: assigning the collection instead would first load
        # its old (empty) value, one query per product, and the events' views read it right after.
        set_committed_value(product, "barcodes", barcodes)
    session.add_all(pending)
    session.flush()


def _update(
    session: Session, ctx: CommandContext, product: t.Product, request: CreateProduct, columns: list[str]
) -> bool:
    """Apply the row's columns to an existing product; True if it changed.

    Only fields that differ are sent to :func:`services.update`, and unchanged rows skip it
    entirely: re-importing a file is then mostly comparisons in memory, not a round trip per row.
    """
    sent: dict[str, Any] = {}
    for name in columns:
        if name == "sku":
            continue
        wanted = getattr(request, name)
        if name == "barcodes":
            current: Any = [barcode.barcode for barcode in product.barcodes]
        elif name == "channels":
            current, wanted = set(product_channels(product)), set(wanted)
        else:
            current = getattr(product, name)
        if current != wanted:  # Decimal('19.99') == Decimal('19.9900'): equal values, not spellings
            sent[name] = getattr(request, name)
    if not sent:
        return False
    version = product.version
    services.update(session, ctx, services.PRODUCT, product.id, UpdateProduct(**sent))
    return product.version != version


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
