"""Creating, changing and reading master data.

Every kind of master data goes through the same four operations (create, update, get, list), so
they are written once here and each kind is described by a :class:`Kind`: its table, read model,
unique fields, references and the few rules of its own (a card needs a gateway, a product's channels
are flags). Each change appends one event carrying the record as it now is (and, for updates, what
changed): the event log is the audit trail.

Visibility is enforced here, not in the routes: a row of another company, or of another store for a
store-scoped caller, is "not found".
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.paging import keyset_page
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata import commands as c
from retailcore.masterdata import tables as t
from retailcore.masterdata import views as v
from retailcore.masterdata.chart import get_template

Row = Any


@dataclass(frozen=True)
class Kind:
    """How one kind of master data is stored, shown and checked."""

    name: str
    """Aggregate name, also the stem of its events (``Product`` -> ``ProductCreated``)."""
    table: type[Row]
    view: Callable[[Row], BaseModel]
    unique: Sequence[str] = ()
    """Fields unique within a company: a duplicate is a 409 naming the field."""
    store_column: str | None = None
    """The column holding the store a row belongs to, for store-scoped callers."""
    columns: Callable[[Session, t.Company, dict[str, Any], Row | None], dict[str, Any]] = field(
        default=lambda _session, _company, data, _row: data
    )
    """Turns validated request fields into column values, checking rules that need the database."""


# -- shared steps ---------------------------------------------------------------------------------


Ref = uuid.UUID | str
"""A company or store as a caller names it: its id, or its code (:data:`commands.CompanyRef`)."""

COMPANY_CHOICES_SHOWN = 5
"""Company codes a "name the company" refusal lists."""


def _as_id(ref: Ref) -> uuid.UUID | None:
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def company_by_ref(session: Session, ref: Ref) -> t.Company | None:
    """A company by id or by code; a text that reads as a UUID is tried as an id first."""
    by_id = _as_id(ref)
    company = session.get(t.Company, by_id) if by_id else None
    return company or session.scalar(select(t.Company).where(t.Company.code == str(ref)))


def store_by_ref(session: Session, company_id: uuid.UUID, ref: Ref) -> t.Store | None:
    """A store of the company by id or by code (store codes are unique per company)."""
    by_id = _as_id(ref)
    store = session.get(t.Store, by_id) if by_id else None
    if store is not None and store.company_id == company_id:
        return store
    return session.scalar(select(t.Store).where(t.Store.company_id == company_id, t.Store.code == str(ref)))


def _only_company(session: Session, field: str) -> t.Company:
    """The installation's company, when it has exactly one; otherwise a refusal saying how to name one."""
    companies = session.scalars(select(t.Company).order_by(t.Company.code).limit(COMPANY_CHOICES_SHOWN + 1))
    found = list(companies)
    if len(found) == 1:
        return found[0]
    if not found:
        why = "the installation has no company yet (create one with POST /api/v1/companies)"
    else:
        codes = [company.code for company in found[:COMPANY_CHOICES_SHOWN]]
        if len(found) > COMPANY_CHOICES_SHOWN:
            codes.append("...")
        why = f"the installation has several companies ({', '.join(codes)})"
    raise ValidationFailed(
        f"name the company with {field}, by its code or id: {why}",
        code="company-required",
        problems=[FieldProblem(field, "required: a company code or id")],
    )


def company_in_scope(
    session: Session, principal: Principal, ref: Ref | None, *, field: str = "company_id"
) -> t.Company:
    """The company a request is about: the one named (by code or id), if the caller may see it; else the
    caller's own; else, for an installation-wide caller, the installation's only company.

    ``field`` names the input in refusals (``company_id``; the CLI's ``--company``). The one resolution
    of every route and command (decision 0021)."""
    if ref is None:
        if principal.company_id is None:
            return _only_company(session, field)
        ref = principal.company_id
    company = company_by_ref(session, ref)
    if company is None or not principal.sees_company(company.id):
        raise InvalidReference(f"no company '{ref}'", problems=[FieldProblem(field, "no such company")])
    return company


def store_in_scope(
    session: Session,
    principal: Principal,
    ref: Ref | None,
    *,
    company: t.Company | None = None,
    field: str = "store_id",
) -> t.Store | None:
    """The store a request names (by code or id), if the caller may see it; None when it names none.

    It must belong to ``company``; without one, a store named by id may be of any company the caller
    sees, and a code is looked up in the company :func:`company_in_scope` defaults to."""
    if ref is None:
        return None
    if company is None:
        by_id = _as_id(ref)
        store = session.get(t.Store, by_id) if by_id else None
        if store is None:
            store = store_by_ref(session, company_in_scope(session, principal, None).id, ref)
    else:
        store = store_by_ref(session, company.id, ref)
    if store is None or not principal.sees_company(store.company_id) or not principal.sees_store(store.id):
        where = f" in company {company.code}" if company is not None else ""
        raise InvalidReference(f"no store '{ref}'{where}", problems=[FieldProblem(field, "no such store")])
    return store


def store_id_in_scope(
    session: Session,
    principal: Principal,
    ref: Ref | None,
    *,
    company: t.Company | None = None,
    field: str = "store_id",
) -> uuid.UUID | None:
    """The id of the store :func:`store_in_scope` finds (None when ``ref`` is None)."""
    store = store_in_scope(session, principal, ref, company=company, field=field)
    return store.id if store is not None else None


def store_filter(
    session: Session, principal: Principal, ref: Ref | None, *, company: t.Company | None = None
) -> uuid.UUID | None:
    """The store a list is narrowed to: the one a ``store_id`` filter names (checked by
    :func:`store_in_scope`), else a store-scoped caller's own store; None: every store."""
    return store_id_in_scope(session, principal, ref, company=company) or principal.store_id


RequestT = TypeVar("RequestT", bound=BaseModel)


def with_store_ids(
    session: Session,
    principal: Principal,
    company: t.Company,
    request: RequestT,
    *fields: str,
    at: str = "",
    any_store: bool = False,
) -> RequestT:
    """``request`` with the stores its ``fields`` name (by code or id) replaced by their ids, each
    checked by :func:`store_in_scope`; a refusal names the field (under ``at``, as in ``lines.2.``).
    Fields left empty stay as they are (a PATCH that did not send one does not start sending it).

    ``any_store``: a store-scoped caller may name any store of its company here, as the other end of
    a transfer or where an order is collected (the caller still sees only its own)."""
    if any_store:
        principal = replace(principal, store_id=None)
    resolved = {
        name: store_id_in_scope(session, principal, ref, company=company, field=f"{at}{name}")
        for name in fields
        if (ref := getattr(request, name)) is not None
    }
    return request.model_copy(update=resolved) if resolved else request


def _check_unique(
    session: Session, kind: Kind, company_id: uuid.UUID, values: dict[str, Any], row: Row | None
) -> None:
    for name in kind.unique:
        if name not in values:
            continue
        query = select(kind.table.id).where(getattr(kind.table, name) == values[name])
        if kind.table is not t.Company:  # company codes are unique installation-wide
            query = query.where(kind.table.company_id == company_id)
        if row is not None:
            query = query.where(kind.table.id != row.id)
        if session.scalar(query) is not None:
            raise Conflict(
                f"a {kind.name.lower()} with {name} '{values[name]}' already exists",
                code=f"duplicate-{name.replace('_', '-')}",
                problems=[FieldProblem(name, "already exists")],
            )


def _visible(principal: Principal, kind: Kind) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    company_column = kind.table.id if kind.table is t.Company else kind.table.company_id
    if principal.company_id is not None:
        conditions.append(company_column == principal.company_id)
    if principal.store_id is not None and kind.store_column:
        store_column = getattr(kind.table, kind.store_column)
        conditions.append(or_(store_column == principal.store_id, store_column.is_(None)))
    return conditions


def get(session: Session, principal: Principal, kind: Kind, row_id: uuid.UUID) -> Row:
    row = session.scalar(select(kind.table).where(kind.table.id == row_id, *_visible(principal, kind)))
    if row is None:
        raise NotFound(f"no {kind.name.lower()} {row_id}")
    return row


@dataclass(frozen=True)
class Page:
    items: list[BaseModel]
    next_cursor: str | None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise ValidationFailed(
            "cursor is not one this API returned", problems=[FieldProblem("cursor", "invalid")]
        ) from None


def list_rows(
    session: Session,
    principal: Principal,
    kind: Kind,
    filters: Sequence[ColumnElement[bool]],
    *,
    cursor: str | None,
    limit: int,
) -> Page:
    """Keyset pagination by id (UUIDv7, so creation order): stable under concurrent inserts."""
    query: Select[Any] = select(kind.table).where(*_visible(principal, kind), *filters)
    after = decode_cursor(cursor) if cursor else None
    rows, last_id = keyset_page(session, query, kind.table.id, limit, after)
    return Page([kind.view(r) for r in rows], encode_cursor(last_id) if last_id else None)


def create(session: Session, ctx: CommandContext, kind: Kind, request: c.CompanyScoped) -> Row:
    company = company_in_scope(session, ctx.principal, request.company_id)
    if kind.store_column in type(request).model_fields:
        # A store-scoped caller cannot see other stores, so cannot put anything in them either.
        request = with_store_ids(session, ctx.principal, company, request, kind.store_column)
    values = kind.columns(session, company, request.model_dump(exclude={"company_id"}), None)
    _check_unique(session, kind, company.id, values, None)
    row = kind.table(**values)
    _seed(session, ctx, company, kind, row)
    return row


def _company_id(row: Row) -> uuid.UUID:
    return row.id if isinstance(row, t.Company) else row.company_id


def update(
    session: Session,
    ctx: CommandContext,
    kind: Kind,
    row_id: uuid.UUID,
    request: BaseModel,
    *,
    expected_version: int | None = None,
) -> Row:
    row = get(session, ctx.principal, kind, row_id)
    if expected_version is not None and row.version != expected_version:
        raise PreconditionFailed(
            f"{kind.name.lower()} {row_id} is at version {row.version}, not {expected_version}",
            code="version-mismatch",
        )
    # Only the top-level fields sent change; a list sent (taxes) replaces the old one whole, so its
    # items keep their defaults (exclude_unset would drop those from nested items too).
    sent = {name: value for name, value in request.model_dump().items() if name in request.model_fields_set}
    for name, value in sent.items():
        column = kind.table.__table__.columns.get(name)
        # Lists such as barcodes or taxes are not columns, and cannot be null either.
        if value is None and (column is None or not column.nullable):
            raise ValidationFailed(f"{name} cannot be null", problems=[FieldProblem(name, "cannot be null")])
    company = session.get(t.Company, _company_id(row))
    before = kind.view(row).model_dump(mode="json")
    values = kind.columns(session, company, sent, row)
    _check_unique(session, kind, company.id, values, row)
    for name, value in values.items():
        setattr(row, name, value)
    after = kind.view(row).model_dump(mode="json")
    changes = {k: {"from": before[k], "to": after[k]} for k in after if before.get(k) != after[k]}
    changes.pop("updated_at", None)
    if not changes:
        return row  # nothing changed: no new version, no event
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type=f"{kind.name}Updated",
        company_id=company.id,
        aggregate_type=kind.name,
        aggregate_id=row.id,
        payload={"changes": changes, "after": kind.view(row)},
        store_id=getattr(row, kind.store_column) if kind.store_column else None,
    )
    return row


# -- the kinds ------------------------------------------------------------------------------------


def _location_columns(
    session: Session, company: t.Company, data: dict[str, Any], row: Row | None
) -> dict[str, Any]:
    if row is None:
        internal = data["kind"] in t.INTERNAL_LOCATION_KINDS
        if internal and data.get("store_id") is None:
            raise ValidationFailed(
                f"a {data['kind']} location belongs to a store",
                problems=[FieldProblem("store_id", f"required for kind '{data['kind']}'")],
            )
        if not internal and data.get("store_id") is not None:
            raise ValidationFailed(
                f"a {data['kind']} location is virtual and belongs to no store",
                problems=[FieldProblem("store_id", f"must be absent for kind '{data['kind']}'")],
            )
        if internal:
            store = session.get(t.Store, data["store_id"])
            if store is None or store.company_id != company.id:
                raise InvalidReference(
                    f"no store {data['store_id']}", problems=[FieldProblem("store_id", "no such store")]
                )
    return data


def _product_columns(
    session: Session, company: t.Company, data: dict[str, Any], row: Row | None
) -> dict[str, Any]:
    data = dict(data)
    if "channels" in data:
        channels = set(data.pop("channels"))
        data.update(
            available_pos="pos" in channels,
            available_web="web" in channels,
            available_marketplace="marketplace" in channels,
        )
    if "barcodes" in data:
        barcodes: list[str] = data.pop("barcodes")
        taken = session.scalars(
            select(t.ProductBarcode.barcode).where(
                t.ProductBarcode.company_id == company.id,
                t.ProductBarcode.barcode.in_(barcodes) if barcodes else false(),
                t.ProductBarcode.product_id != row.id if row is not None else True,
            )
        ).all()
        if taken:
            index = barcodes.index(taken[0])
            raise Conflict(
                f"barcode '{taken[0]}' already belongs to another product",
                code="duplicate-barcode",
                problems=[FieldProblem(f"barcodes.{index}", "already belongs to another product")],
            )
        if row is None:
            data["barcodes"] = [
                t.ProductBarcode(company_id=company.id, barcode=code, position=i)
                for i, code in enumerate(barcodes)
            ]
        else:
            _replace_barcodes(session, row, barcodes)
    return data


def _replace_barcodes(session: Session, product: t.Product, barcodes: list[str]) -> None:
    kept = {b.barcode: b for b in product.barcodes if b.barcode in barcodes}
    for existing in list(product.barcodes):
        if existing.barcode not in kept:
            product.barcodes.remove(existing)
    # Removals are flushed first so a barcode moved between positions cannot collide with itself.
    session.flush()
    for position, code in enumerate(barcodes):
        if code in kept:
            kept[code].position = position
        else:
            product.barcodes.append(
                t.ProductBarcode(company_id=product.company_id, barcode=code, position=position)
            )
    # The relationship is ordered by position only when loaded: keep the loaded list in that order too.
    product.barcodes.sort(key=lambda barcode: barcode.position)


def _payment_method_columns(
    session: Session, company: t.Company, data: dict[str, Any], row: Row | None
) -> dict[str, Any]:
    if row is None:
        if data["kind"] == "card" and not data.get("gateway"):
            raise ValidationFailed(
                "a card payment method names its gateway",
                problems=[FieldProblem("gateway", "required for cards")],
            )
        if data["kind"] != "card" and data.get("gateway"):
            raise ValidationFailed(
                "only card payment methods have a gateway",
                problems=[FieldProblem("gateway", f"must be absent for kind '{data['kind']}'")],
            )
    return data


def _tax_rule_columns(
    session: Session, company: t.Company, data: dict[str, Any], row: Row | None
) -> dict[str, Any]:
    data = dict(data)
    if row is None:
        existing = session.scalar(
            select(t.TaxRule.id).where(
                t.TaxRule.company_id == company.id,
                t.TaxRule.jurisdiction == data["jurisdiction"],
                t.TaxRule.tax_category == data["tax_category"],
            )
        )
        if existing is not None:
            raise Conflict(
                f"a tax rule for {data['jurisdiction']} x {data['tax_category']} already exists",
                code="duplicate-tax-rule",
                problems=[FieldProblem("tax_category", "already has a rule in this jurisdiction")],
            )
    if "taxes" in data:
        taxes = _tax_rows(company, data.pop("taxes"))
        if row is None:
            data["taxes"] = taxes
        else:
            row.taxes.clear()
            session.flush()
            row.taxes.extend(taxes)
    return data


def _tax_problems(tax: dict[str, Any], at: str) -> list[FieldProblem]:
    kind = tax.get("kind", "percent")
    problems = []
    if kind in ("percent", "division") and tax.get("rate_percent") is None:
        problems.append(FieldProblem(f"{at}.rate_percent", f"required for a {kind} tax"))
    if kind == "division" and (tax.get("rate_percent") or 0) >= 100:
        problems.append(FieldProblem(f"{at}.rate_percent", "a division tax's rate is below 100"))
    if kind == "fixed" and tax.get("amount") is None:
        problems.append(FieldProblem(f"{at}.amount", "required for a fixed tax"))
    if kind != "fixed" and tax.get("amount") is not None:
        problems.append(FieldProblem(f"{at}.amount", f"only fixed taxes have an amount, not {kind}"))
    if kind == "group" and not tax.get("children"):
        problems.append(FieldProblem(f"{at}.children", "a group has at least one tax"))
    if kind != "group" and tax.get("children"):
        problems.append(FieldProblem(f"{at}.children", f"only groups have children, not {kind}"))
    return problems


def _tax_rows(company: t.Company, taxes: list[dict[str, Any]]) -> list[t.Tax]:
    """A rule's taxes as rows: each group followed by its children (``parent_code`` names the group)."""
    problems: list[FieldProblem] = []
    rows: list[t.Tax] = []
    for i, tax in enumerate(taxes):
        problems += _tax_problems(tax, f"taxes.{i}")
        for j, child in enumerate(tax.get("children") or ()):
            problems += _tax_problems(child, f"taxes.{i}.children.{j}")
    if problems:
        raise ValidationFailed("some taxes are incomplete", problems=problems)

    def row(tax: dict[str, Any], sequence: int, parent: str | None) -> t.Tax:
        columns = {k: v for k, v in tax.items() if k != "children"}
        columns["rate_percent"] = columns.get("rate_percent") or Decimal(0)
        return t.Tax(company_id=company.id, sequence=sequence, parent_code=parent, **columns)

    for i, tax in enumerate(taxes):
        rows.append(row(tax, i, None))
        rows += [row(child, j, tax["code"]) for j, child in enumerate(tax.get("children") or ())]
    return rows


def _customer_columns(
    session: Session, company: t.Company, data: dict[str, Any], row: Row | None
) -> dict[str, Any]:
    if row is None and not data.get("code"):
        data = {**data, "code": f"C-{uuid.uuid4().hex[:10].upper()}"}
    return data


def _store_columns(
    session: Session, company: t.Company, data: dict[str, Any], row: Row | None
) -> dict[str, Any]:
    data = dict(data)
    data.pop("create_default_locations", None)
    return data


COMPANY = Kind("Company", t.Company, v.CompanyView.model_validate, unique=("code",))
STORE = Kind(
    "Store", t.Store, v.StoreView.model_validate, unique=("code",), store_column="id", columns=_store_columns
)
LOCATION = Kind(
    "Location",
    t.Location,
    v.LocationView.model_validate,
    unique=("code",),
    store_column="store_id",
    columns=_location_columns,
)
PRODUCT = Kind("Product", t.Product, v.ProductView.of, unique=("sku",), columns=_product_columns)
CUSTOMER = Kind(
    "Customer", t.Customer, v.CustomerView.model_validate, unique=("code",), columns=_customer_columns
)
PAYMENT_METHOD = Kind(
    "PaymentMethod",
    t.PaymentMethod,
    v.PaymentMethodView.model_validate,
    unique=("code",),
    columns=_payment_method_columns,
)
TAX_RULE = Kind("TaxRule", t.TaxRule, v.TaxRuleView.model_validate, columns=_tax_rule_columns)
ACCOUNT = Kind("Account", t.Account, v.AccountView.model_validate, unique=("code",))


# -- operations with consequences of their own ----------------------------------------------------


def create_company(session: Session, ctx: CommandContext, request: c.CreateCompany) -> t.Company:
    """A company arrives with its virtual locations and, unless told otherwise, its chart of accounts."""
    if request.chart_template is not None:
        try:
            template = get_template(request.chart_template)
        except KeyError as exc:
            raise ValidationFailed(
                str(exc.args[0]), problems=[FieldProblem("chart_template", "unknown template")]
            ) from None
    if session.scalar(select(t.Company.id).where(t.Company.code == request.code)) is not None:
        raise Conflict(
            f"a company with code '{request.code}' already exists",
            code="duplicate-code",
            problems=[FieldProblem("code", "already exists")],
        )
    company = t.Company(
        **request.model_dump(exclude={"tax_jurisdiction"}),
        tax_jurisdiction=request.tax_jurisdiction or request.country,
    )
    session.add(company)
    session.flush()
    record(
        session,
        ctx,
        type="CompanyCreated",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"after": COMPANY.view(company)},
    )
    _seed_many(
        session,
        ctx,
        company,
        LOCATION,
        [
            t.Location(code=f"VIRTUAL/{kind.upper()}", name=name, kind=kind)
            for kind, name in (
                ("supplier", "Suppliers"),
                ("customer", "Customers"),
                ("in_transit", "Stock in transit"),
                ("inventory_loss", "Inventory loss"),
            )
        ],
    )
    if request.chart_template is not None:
        _seed_many(
            session,
            ctx,
            company,
            ACCOUNT,
            [
                t.Account(
                    code=account.code,
                    name=account.name,
                    type=account.type.value,
                    role=account.role.value if account.role else None,
                    reconcilable=account.reconcilable,
                )
                for account in template.accounts
            ],
        )
    return company


def create_store(session: Session, ctx: CommandContext, request: c.CreateStore) -> t.Store:
    store = create(session, ctx, STORE, request)
    if request.create_default_locations:
        company = session.get(t.Company, store.company_id)
        _seed_many(
            session,
            ctx,
            company,
            LOCATION,
            [
                t.Location(
                    code=f"{store.code}/{kind.upper()}",
                    name=f"{store.name} {kind}",
                    kind=kind,
                    store_id=store.id,
                )
                for kind in t.INTERNAL_LOCATION_KINDS
            ],
        )
    return store


def _seed(session: Session, ctx: CommandContext, company: t.Company, kind: Kind, row: Row) -> None:
    """Insert a new row and record its creation (direct creates and their consequences alike)."""
    _seed_many(session, ctx, company, kind, [row])


def _seed_many(
    session: Session, ctx: CommandContext, company: t.Company, kind: Kind, rows: list[Row]
) -> None:
    """Insert new rows of one kind and record each one's creation, in their order.

    One flush inserts them all (a company's chart is about 40 accounts); the events are recorded
    after it, since a creation's payload shows the row as stored, defaults included."""
    for row in rows:
        row.company_id = company.id
    session.add_all(rows)
    session.flush()
    for row in rows:
        record(
            session,
            ctx,
            type=f"{kind.name}Created",
            company_id=company.id,
            aggregate_type=kind.name,
            aggregate_id=row.id,
            payload={"after": kind.view(row)},
            store_id=getattr(row, kind.store_column) if kind.store_column else None,
        )
