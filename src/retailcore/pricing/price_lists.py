"""Price lists: creating and changing them, and quoting the price of a product.

Choosing a price
----------------
:func:`price_for` considers the company's active lists in the requested currency that are valid on
the date and whose channel, store and customer group are either null (any) or the ones asked for,
and that have an item for the product with ``min_quantity <= quantity``. Among those the most
specific list wins: a store list beats a channel list, which beats a customer-group list, which beats
a generic one (specificity compares store, then channel, then group, so store + channel beats store
alone); equally specific lists are ordered by ``priority`` (higher first), then by ``code``. Within
the winning list the item with the highest ``min_quantity`` not above the quantity gives the price
(quantity breaks). A list without an item for the product does not hide a less specific one that
has it. With no list at all, the product's ``list_price`` applies when the currency is the company's
currency; otherwise there is no price, and :class:`NoPrice` says so.

Every change records an event: ``PriceListCreated``, ``PriceListChanged`` (with the fields that
changed) and ``PriceListItemsReplaced`` (with the new items).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from retailcore.core.inputs import Day, text
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.cache import cached
from retailcore.masterdata.commands import Code, CompanyScoped, CurrencyCode, Name, Price, Request, StoreRef
from retailcore.masterdata.tables import Company, Product, Store
from retailcore.pricing.tables import PriceList, PriceListItem

Channel = Literal["pos", "web", "marketplace", "b2b"]
CustomerGroup = text(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
QuantityIn = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]


@dataclass
class NoPrice(ValidationFailed):
    """Nothing prices the product in the currency asked for (no list, and not the company currency)."""

    code: str = "no-price"


# -- requests ----------------------------------------------------------------------------------------


class ItemIn(Request):
    product_id: uuid.UUID
    unit_price: Price
    min_quantity: QuantityIn = Decimal(1)


def _distinct_items(items: list[ItemIn]) -> list[ItemIn]:
    seen = {(item.product_id, item.min_quantity) for item in items}
    if len(seen) != len(items):
        raise ValueError("each product and min_quantity may appear only once")
    return items


Items = Annotated[list[ItemIn], Field(max_length=10_000), AfterValidator(_distinct_items)]


class _Validity(Request):
    @model_validator(mode="after")
    def _dates_in_order(self) -> Any:
        start, end = getattr(self, "valid_from", None), getattr(self, "valid_to", None)
        if start is not None and end is not None and start > end:
            raise ValueError("valid_from must not be after valid_to")
        return self


class CreatePriceList(CompanyScoped, _Validity):
    code: Code
    name: Name
    currency: CurrencyCode
    channel: Channel | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id: a list for that store only.")
    customer_group: CustomerGroup | None = None
    priority: int = Field(0, ge=-1_000_000, le=1_000_000)
    valid_from: Day | None = None
    valid_to: Day | None = None
    active: bool = True
    items: Items = Field(default_factory=list)


class UpdatePriceList(_Validity):
    """Only the fields sent change. Code and currency are fixed: item prices are in that currency."""

    name: Name | None = None
    channel: Channel | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id: a list for that store only.")
    customer_group: CustomerGroup | None = None
    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    valid_from: Day | None = None
    valid_to: Day | None = None
    active: bool | None = None


class ReplaceItems(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Items


# -- views -------------------------------------------------------------------------------------------


class PriceListItemView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    unit_price: DecimalStr
    min_quantity: DecimalStr


class PriceListView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    name: str
    currency: str
    channel: str | None
    store_id: uuid.UUID | None
    customer_group: str | None
    priority: int
    valid_from: dt.date | None
    valid_to: dt.date | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class PriceListDetail(PriceListView):
    items: list[PriceListItemView]


@dataclass(frozen=True)
class Quote:
    unit_price: Decimal
    currency: str
    source: str
    """``price_list:<code>`` or ``list_price``."""
    price_list_id: uuid.UUID | None
    min_quantity: Decimal | None = None
    """The quantity break of the item that priced it; None for the list price."""


class QuoteView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    quantity: DecimalStr
    unit_price: DecimalStr
    currency: str
    source: str
    price_list_id: uuid.UUID | None
    min_quantity: DecimalStr | None


# -- reading -----------------------------------------------------------------------------------------


def get_price_list(session: Session, principal: Principal, price_list_id: uuid.UUID) -> PriceList:
    row = session.get(PriceList, price_list_id)
    # Another company's (or store's) list is reported as missing, not forbidden: ids do not leak.
    if row is None or not principal.sees_company(row.company_id) or not principal.sees_store(row.store_id):
        raise NotFound(f"no price list {price_list_id}")
    return row


def items_of(session: Session, price_list_id: uuid.UUID) -> list[PriceListItem]:
    return list(
        session.scalars(
            select(PriceListItem)
            .where(PriceListItem.price_list_id == price_list_id)
            .order_by(PriceListItem.product_id, PriceListItem.min_quantity)
        )
    )


def detail(session: Session, row: PriceList) -> PriceListDetail:
    view = PriceListView.model_validate(row).model_dump()
    items = [PriceListItemView.model_validate(item) for item in items_of(session, row.id)]
    return PriceListDetail(**view, items=items)


# -- changing ----------------------------------------------------------------------------------------


def _check_store(session: Session, company: Company, store_id: uuid.UUID | None) -> None:
    if store_id is None:
        return
    store = session.get(Store, store_id)
    if store is None or store.company_id != company.id:
        raise InvalidReference(
            f"no store {store_id} in company {company.code}",
            problems=[FieldProblem("store_id", "no such store")],
        )


def _item_rows(
    session: Session, company: Company, row: PriceList, items: list[ItemIn]
) -> list[PriceListItem]:
    seen: set[tuple[uuid.UUID, Decimal]] = set()
    for n, item in enumerate(items):
        if (item.product_id, item.min_quantity) in seen:
            raise ValidationFailed(
                "each product and min_quantity may appear only once in a price list",
                problems=[FieldProblem(f"items.{n}", "repeats a product and min_quantity")],
            )
        seen.add((item.product_id, item.min_quantity))
    wanted = {item.product_id for item in items}
    found = set(
        session.scalars(select(Product.id).where(Product.company_id == company.id, Product.id.in_(wanted)))
        if wanted
        else []
    )
    missing = [
        FieldProblem(f"items.{n}.product_id", "no such product")
        for n, item in enumerate(items)
        if item.product_id not in found
    ]
    if missing:
        raise InvalidReference(f"{len(missing)} item(s) name no product of {company.code}", problems=missing)
    return [
        PriceListItem(
            company_id=company.id,
            price_list_id=row.id,
            product_id=item.product_id,
            unit_price=item.unit_price,
            min_quantity=item.min_quantity,
        )
        for item in items
    ]


def _items_payload(items: list[ItemIn]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in items]


def create_price_list(
    session: Session, ctx: CommandContext, company: Company, body: CreatePriceList
) -> PriceList:
    """Create a list (with its first items, if any) and record ``PriceListCreated``."""
    taken = session.scalar(
        select(PriceList.id).where(PriceList.company_id == company.id, PriceList.code == body.code)
    )
    if taken is not None:
        raise Conflict(
            f"price list code {body.code} is taken", problems=[FieldProblem("code", "already used")]
        )
    _check_store(session, company, body.store_id)
    if not ctx.principal.sees_store(body.store_id):
        raise InvalidReference(
            "a store token may only price its own store", problems=[FieldProblem("store_id", "other store")]
        )
    fields = body.model_dump(exclude={"company_id", "items"})
    row = PriceList(company_id=company.id, **fields)
    session.add(row)
    session.flush()
    session.add_all(_item_rows(session, company, row, body.items))
    session.flush()
    record(
        session,
        ctx,
        type="PriceListCreated",
        company_id=company.id,
        aggregate_type="PriceList",
        aggregate_id=row.id,
        payload={
            **body.model_dump(mode="json", exclude={"company_id", "items"}),
            "items": _items_payload(body.items),
        },
        store_id=row.store_id,
    )
    return row


def _expect_version(row: PriceList, expected_version: int | None) -> None:
    if expected_version is not None and row.version != expected_version:
        raise PreconditionFailed(
            f"price list {row.id} is at version {row.version}, not {expected_version}",
            code="version-mismatch",
        )


def update_price_list(
    session: Session,
    ctx: CommandContext,
    price_list_id: uuid.UUID,
    body: UpdatePriceList,
    *,
    expected_version: int | None = None,
) -> PriceList:
    """Change the fields sent (PATCH) and record ``PriceListChanged`` with before and after values."""
    row = get_price_list(session, ctx.principal, price_list_id)
    _expect_version(row, expected_version)
    sent = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("name", "priority", "active"):
        if name in sent and sent[name] is None:
            raise ValidationFailed(f"{name} cannot be null", problems=[FieldProblem(name, "cannot be null")])
    company = session.get(Company, row.company_id)
    assert company is not None
    if "store_id" in sent:
        _check_store(session, company, sent["store_id"])
        if not ctx.principal.sees_store(sent["store_id"]):
            raise InvalidReference(
                "a store token may only price its own store",
                problems=[FieldProblem("store_id", "other store")],
            )
    valid_from = sent.get("valid_from", row.valid_from)
    valid_to = sent.get("valid_to", row.valid_to)
    if valid_from is not None and valid_to is not None and valid_from > valid_to:
        raise ValidationFailed(
            "valid_from must not be after valid_to",
            problems=[FieldProblem("valid_to" if "valid_to" in sent else "valid_from", "before valid_from")],
        )
    changes = {
        name: {"from": getattr(row, name), "to": value}
        for name, value in sent.items()
        if getattr(row, name) != value
    }
    if not changes:
        return row
    for name, change in changes.items():
        setattr(row, name, change["to"])
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PriceListChanged",
        company_id=row.company_id,
        aggregate_type="PriceList",
        aggregate_id=row.id,
        payload={"code": row.code, "changes": changes},
        store_id=row.store_id,
    )
    return row


def replace_items(
    session: Session,
    ctx: CommandContext,
    price_list_id: uuid.UUID,
    items: list[ItemIn],
    *,
    expected_version: int | None = None,
) -> PriceList:
    """Replace every item of a list and record ``PriceListItemsReplaced`` with the new items."""
    row = get_price_list(session, ctx.principal, price_list_id)
    _expect_version(row, expected_version)
    company = session.get(Company, row.company_id)
    assert company is not None
    new_rows = _item_rows(session, company, row, items)
    # Old rows go first: a new item may reuse an old (product, min_quantity) pair.
    session.execute(delete(PriceListItem).where(PriceListItem.price_list_id == row.id))
    session.add_all(new_rows)
    row.version += 1
    session.flush()
    record(
        session,
        ctx,
        type="PriceListItemsReplaced",
        company_id=row.company_id,
        aggregate_type="PriceList",
        aggregate_id=row.id,
        payload={"code": row.code, "items": _items_payload(items)},
        store_id=row.store_id,
    )
    return row


# -- quoting -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRef:
    """What choosing a price needs of an active list (duck-types :class:`PriceList` for
    :func:`_preference`)."""

    id: uuid.UUID
    code: str
    currency: str
    channel: str | None
    store_id: uuid.UUID | None
    customer_group: str | None
    priority: int
    valid_from: dt.date | None
    valid_to: dt.date | None


def _active_lists(session: Session, company_id: uuid.UUID) -> tuple[ListRef, ...]:
    """The company's active lists, behind the master-data stamp (``price_lists`` renews it; their items
    are not cached: they are read per quote, for the products quoted)."""

    def load() -> tuple[ListRef, ...]:
        L = PriceList
        rows = session.execute(
            select(
                L.id,
                L.code,
                L.currency,
                L.channel,
                L.store_id,
                L.customer_group,
                L.priority,
                L.valid_from,
                L.valid_to,
            ).where(L.company_id == company_id, L.active.is_(True))
        )
        return tuple(ListRef(*row) for row in rows)

    return cached(session, company_id, "price_lists", load)


def _preference(row: PriceList | ListRef) -> tuple[bool, bool, bool, int, str]:
    """Sort key putting the preferred list first: store, channel, group set (False sorts first),
    then the higher priority, then the code so the choice never depends on row order."""
    return (row.store_id is None, row.channel is None, row.customer_group is None, -row.priority, row.code)


def price_for(
    session: Session,
    company: Company,
    product: Product,
    *,
    channel: str,
    store_id: uuid.UUID | None,
    currency: str,
    on: dt.date,
    quantity: Decimal = Decimal(1),
    customer_group: str | None = None,
) -> Quote:
    """The unit price of ``product`` for this sale context (rules in the module docstring)."""
    return prices_for(
        session,
        company,
        [(product, quantity)],
        channel=channel,
        store_id=store_id,
        currency=currency,
        on=on,
        customer_group=customer_group,
    )[0]


def prices_for(
    session: Session,
    company: Company,
    wanted: Sequence[tuple[Product, Decimal]],
    *,
    channel: str,
    store_id: uuid.UUID | None,
    currency: str,
    on: dt.date,
    customer_group: str | None = None,
) -> list[Quote]:
    """:func:`price_for` of each (product, quantity) in one sale context, in order, read in one query
    (an order's lines are priced together: one round trip, not one a line)."""
    for product, quantity in wanted:
        if product.company_id != company.id:
            raise InvalidReference(
                f"product {product.id} is not one of {company.code}",
                problems=[FieldProblem("product_id", "no such product")],
            )
        if isinstance(quantity, bool) or not isinstance(quantity, Decimal) or not quantity > 0:
            raise ValidationFailed(
                f"quantity must be a positive Decimal, got {quantity!r}",
                problems=[FieldProblem("quantity", "must be positive")],
            )
    if not wanted:
        return []
    # The lists that apply come from the process's copy of the company's active lists (decision 0070):
    # with none, nothing is read; otherwise only their items of these products are.
    applying = {
        ref.id: ref
        for ref in _active_lists(session, company.id)
        if ref.currency == currency
        and (ref.valid_from is None or ref.valid_from <= on)
        and (ref.valid_to is None or ref.valid_to >= on)
        and (ref.channel is None or ref.channel == channel)
        and (ref.store_id is None or ref.store_id == store_id)
        and (ref.customer_group is None or ref.customer_group == customer_group)
    }
    found: dict[uuid.UUID, list[tuple[ListRef, PriceListItem]]] = {}
    if applying:
        query = select(PriceListItem).where(
            PriceListItem.company_id == company.id,
            PriceListItem.price_list_id.in_(list(applying)),
            PriceListItem.product_id.in_(list({product.id: None for product, _ in wanted})),
            PriceListItem.min_quantity <= max(quantity for _, quantity in wanted),
        )
        for item in session.scalars(query):
            found.setdefault(item.product_id, []).append((applying[item.price_list_id], item))
    return [
        _quote(
            company,
            product,
            [(pl, item) for pl, item in found.get(product.id, ()) if item.min_quantity <= quantity],
            currency,
        )
        for product, quantity in wanted
    ]


def _quote(
    company: Company, product: Product, candidates: list[tuple[ListRef, PriceListItem]], currency: str
) -> Quote:
    """The price among a product's candidate items (lists and breaks its quantity reaches)."""
    if candidates:
        # Most specific first, then priority (higher first), then code; within the list, the
        # biggest quantity break that the quantity reaches.
        best_list = min((price_list for price_list, _ in candidates), key=_preference)
        item = max(
            (item for price_list, item in candidates if price_list.id == best_list.id),
            key=lambda i: i.min_quantity,
        )
        return Quote(
            unit_price=item.unit_price,
            currency=currency,
            source=f"price_list:{best_list.code}",
            price_list_id=best_list.id,
            min_quantity=item.min_quantity,
        )
    if currency == company.currency:
        return Quote(
            unit_price=product.list_price, currency=currency, source="list_price", price_list_id=None
        )
    raise NoPrice(
        f"no price list prices {product.sku} in {currency}, and its list price is in {company.currency}",
        problems=[FieldProblem("currency", f"no price in {currency}")],
    )
