"""Transfers between stores and cycle counts over HTTP.

Store scope: a store-scoped token sees the transfers from or to its store and the count sheets of
its store; anything else is "not found". Of a transfer it sees, the shipping store ships and the
receiving store receives; either may close or cancel it.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.paging import keyset_page
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, InvalidReference, NotFound, PermissionDenied
from retailcore.core.inputs import Day, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import counts
from retailcore.inventory import transfers as tr
from retailcore.inventory.transfer_tables import CountSheet, Transfer
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, store_filter, with_store_ids
from retailcore.masterdata.tables import Company, Location, Product

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The token's role lacks the permission, or acts for the wrong store"},
    404: {"description": "No such transfer or count sheet in the token's scope"},
    409: {"description": "Not possible in the document's state, not enough stock, or a stale count"},
    422: {"description": "Invalid input (problem+json naming the fields), or an over-receipt"},
}

router = APIRouter(route_class=DecimalRoute, responses=PROBLEMS)

PositiveQuantity = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
CountedQuantity = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=19, decimal_places=8, allow_inf_nan=False)]
Note = text(strip_whitespace=True, max_length=500)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel):
    items: list[Any]
    next_cursor: uuid.UUID | None = Field(
        description="Pass as `cursor` to get the next page; null on the last."
    )


# -- transfers: requests and views ------------------------------------------------------------------


class TransferLineIn(Request):
    product_id: uuid.UUID
    quantity: PositiveQuantity


class CreateTransfer(Request):
    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    from_store_id: StoreRef = Field(description="Code or id of the store the goods leave.")
    to_store_id: StoreRef = Field(description="Code or id of the store the goods go to.")
    lines: Annotated[list[TransferLineIn], Field(min_length=1, max_length=1000)]
    note: Note = ""


class ShipTransfer(Request):
    date: Day | None = Field(None, description="Business date of the moves; today by default.")


class ReceiveTransfer(Request):
    lines: Annotated[list[TransferLineIn], Field(min_length=1, max_length=1000)]
    location_id: uuid.UUID | None = Field(
        None, description="An internal location of the destination store; its stock location by default."
    )
    date: Day | None = None


class CloseTransfer(Request):
    date: Day | None = None


class TransferLineView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product_id: uuid.UUID
    quantity: DecimalStr
    shipped_quantity: DecimalStr
    received_quantity: DecimalStr
    lost_quantity: DecimalStr
    outstanding_quantity: DecimalStr = Field(description="Shipped, neither received nor lost yet.")


class TransferView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    from_store_id: uuid.UUID
    to_store_id: uuid.UUID
    state: Literal["draft", "shipped", "partially_received", "received", "closed", "cancelled"]
    note: str
    created_by: str
    shipped_at: dt.datetime | None
    shipped_by: str | None
    received_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_by: str | None
    cancelled_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    lines: list[TransferLineView]


class TransferPage(Page):
    items: list[TransferView]


def transfer_view(transfer: Transfer) -> TransferView:
    lines = [
        TransferLineView(
            id=line.id,
            product_id=line.product_id,
            quantity=line.quantity,
            shipped_quantity=line.shipped_quantity,
            received_quantity=line.received_quantity,
            lost_quantity=line.lost_quantity,
            outstanding_quantity=line.shipped_quantity - line.received_quantity - line.lost_quantity,
        )
        for line in transfer.lines
    ]
    data = {name: getattr(transfer, name) for name in TransferView.model_fields if name != "lines"}
    return TransferView(**data, lines=lines)


def _transfer(
    session: Session, principal: Principal, transfer_id: uuid.UUID, *, lock: bool = False
) -> tuple[Company, Transfer]:
    """A transfer the caller may see (from or to its store), with its company."""
    transfer = tr.get_transfer(session, principal.company_id, transfer_id, lock=lock)
    if principal.store_id is not None and principal.store_id not in (
        transfer.from_store_id,
        transfer.to_store_id,
    ):
        raise NotFound(f"no transfer {transfer_id}")
    return session.get(Company, transfer.company_id), transfer


def _acting_for(principal: Principal, store_id: uuid.UUID, action: str) -> None:
    if not principal.sees_store(store_id):
        raise PermissionDenied(f"only the {action} store may do this")


# -- transfers: routes ------------------------------------------------------------------------------


class TransferQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    store_id: StoreRef | None = Field(None, description="Store code or id: transfers from or to it.")
    state: Literal["draft", "shipped", "partially_received", "received", "closed", "cancelled"] | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


@router.get("/transfers", response_model=TransferPage, tags=["transfers"], summary="List transfers")
def list_transfers(
    params: Annotated[TransferQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> TransferPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = select(Transfer).where(Transfer.company_id == company.id)
        store_id = store_filter(session, api.principal, params.store_id, company=company)
        if store_id is not None:
            query = query.where(or_(Transfer.from_store_id == store_id, Transfer.to_store_id == store_id))
        if params.state:
            query = query.where(Transfer.state == params.state)
        rows, next_cursor = keyset_page(session, query, Transfer.id, params.limit, params.cursor)
        return TransferPage(items=[transfer_view(r) for r in rows], next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/transfers/{transfer_id}", response_model=TransferView, tags=["transfers"], summary="Get a transfer"
)
def get_transfer(
    transfer_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    return api.read(lambda session: transfer_view(_transfer(session, api.principal, transfer_id)[1]))


@router.post(
    "/transfers",
    status_code=201,
    response_model=TransferView,
    tags=["transfers"],
    summary="Create a draft transfer between two stores",
    description="Nothing moves until it is shipped. One line per product. Send an Idempotency-Key.",
)
async def create_transfer(
    body: CreateTransfer, api: Annotated[Api, Depends(writer("transfers:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> TransferView:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(
            session, api.principal, company, body, "from_store_id", "to_store_id", any_store=True
        )
        store = api.principal.store_id
        if store is not None and store not in (request.from_store_id, request.to_store_id):
            raise InvalidReference(
                "a store-scoped token makes transfers from or to its own store",
                problems=[FieldProblem("from_store_id", "no such store")],
            )
        transfer = tr.create_transfer(
            session,
            ctx,
            company,
            from_store_id=request.from_store_id,
            to_store_id=request.to_store_id,
            lines=[tr.ProductQuantity(line.product_id, line.quantity) for line in body.lines],
            note=body.note,
        )
        return transfer_view(transfer)

    return await api.command(work, status_code=201, location=lambda r: f"/api/v1/transfers/{r.id}")


@router.post(
    "/transfers/{transfer_id}/ship",
    response_model=TransferView,
    tags=["transfers"],
    summary="Ship a draft transfer (source store)",
    description="Moves every line from the source store's stock location into transit"
    " (inventory -> stock_in_transit). Refused if the goods are not available (on hand minus reserved).",
)
async def ship_transfer(
    transfer_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("transfers:write"))],
    body: ShipTransfer | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> TransferView:
        company, transfer = _transfer(session, api.principal, transfer_id, lock=True)
        _acting_for(api.principal, transfer.from_store_id, "shipping")
        return transfer_view(tr.ship(session, ctx, company, transfer, date=body.date if body else None))

    return await api.command(work)


@router.post(
    "/transfers/{transfer_id}/receive",
    response_model=TransferView,
    tags=["transfers"],
    summary="Receive goods of a shipped transfer (destination store)",
    description="Partial receipts are allowed; more than is outstanding on a line is refused (422"
    " `over-receipt`) and nothing is written.",
)
async def receive_transfer(
    transfer_id: Annotated[uuid.UUID, Path()],
    body: ReceiveTransfer,
    api: Annotated[Api, Depends(writer("transfers:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> TransferView:
        company, transfer = _transfer(session, api.principal, transfer_id, lock=True)
        _acting_for(api.principal, transfer.to_store_id, "receiving")
        received = tr.receive(
            session,
            ctx,
            company,
            transfer,
            lines=[tr.ProductQuantity(line.product_id, line.quantity) for line in body.lines],
            location_id=body.location_id,
            date=body.date,
        )
        return transfer_view(received)

    return await api.command(work)


@router.post(
    "/transfers/{transfer_id}/close",
    response_model=TransferView,
    tags=["transfers"],
    summary="Close a shipped transfer, writing off what never arrived",
    description="What is still outstanding is lost in transit (stock_in_transit -> inventory_shrinkage).",
)
async def close_transfer(
    transfer_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("transfers:write"))],
    body: CloseTransfer | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> TransferView:
        company, transfer = _transfer(session, api.principal, transfer_id, lock=True)
        return transfer_view(tr.close(session, ctx, company, transfer, date=body.date if body else None))

    return await api.command(work)


@router.post(
    "/transfers/{transfer_id}/cancel",
    response_model=TransferView,
    tags=["transfers"],
    summary="Cancel a draft transfer",
    description="Only before shipping (409 `transfer-state` after).",
)
async def cancel_transfer(
    transfer_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("transfers:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> TransferView:
        company, transfer = _transfer(session, api.principal, transfer_id, lock=True)
        return transfer_view(tr.cancel(session, ctx, company, transfer))

    return await api.command(work)


# -- counts: requests and views ---------------------------------------------------------------------


class CreateCountSheet(Request):
    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    location_id: uuid.UUID = Field(description="An internal location (stock, backroom, damaged).")
    category_prefix: text(strip_whitespace=True, min_length=1, max_length=200) | None = Field(
        None, description="Count this category and its sub-categories; every product with stock if null."
    )
    tolerance_percent: Percent = Field(counts.DEFAULT_TOLERANCE, description="Of the expected quantity.")
    note: Note = ""


class CountIn(Request):
    product_id: uuid.UUID
    counted_quantity: CountedQuantity | None = Field(description="Null clears an earlier count.")


class RecordCounts(Request):
    """Either ``lines`` or one ``product_id`` with its ``counted_quantity``."""

    lines: Annotated[list[CountIn], Field(min_length=1, max_length=5000)] | None = None
    product_id: uuid.UUID | None = None
    counted_quantity: CountedQuantity | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> "RecordCounts":
        if (self.lines is None) == (self.product_id is None):
            raise ValueError("send either lines or product_id with counted_quantity")
        if self.lines is None and "counted_quantity" not in self.model_fields_set:
            raise ValueError("counted_quantity is required with product_id")
        return self

    def entries(self) -> list[counts.CountEntry]:
        if self.lines is not None:
            return [counts.CountEntry(line.product_id, line.counted_quantity) for line in self.lines]
        assert self.product_id is not None  # checked by the validator
        return [counts.CountEntry(self.product_id, self.counted_quantity)]


class ApproveCountSheet(Request):
    date: Day | None = Field(None, description="Business date of the adjustments; today by default.")
    accept_stock_moves: bool = Field(
        False, description="Approve although stock moved since the snapshot: the count wins over those moves."
    )


class CountLineView(BaseModel):
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    expected_quantity: DecimalStr
    counted_quantity: DecimalStr | None
    difference: DecimalStr | None
    within_tolerance: bool | None
    stock_moved: bool
    adjusted_quantity: DecimalStr | None
    counted_by: str | None
    counted_at: dt.datetime | None


class AccuracyView(BaseModel):
    lines_counted: int
    lines_within_tolerance: int
    accuracy_percent: DecimalStr | None = Field(
        description="Within tolerance among counted lines, in percent."
    )


class CountSheetView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    number: str
    store_id: uuid.UUID
    location_id: uuid.UUID
    scope: Literal["all", "category"]
    category_prefix: str | None
    state: Literal["open", "submitted", "approved", "cancelled"]
    tolerance_percent: DecimalStr
    note: str
    created_by: str
    submitted_by: str | None
    submitted_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    count_date: dt.date | None
    cancelled_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    lines: list[CountLineView]
    accuracy: AccuracyView
    warnings: list[str] = Field(description="Lines to recount because stock moved since their snapshot.")


class CountSheetPage(Page):
    items: list[CountSheetView]


class AccuracyReport(AccuracyView):
    company_id: uuid.UUID
    store_id: uuid.UUID | None
    date_from: dt.date | None
    date_to: dt.date | None
    sheets: int


def _accuracy(accuracy: counts.Accuracy) -> AccuracyView:
    return AccuracyView(
        lines_counted=accuracy.lines_counted,
        lines_within_tolerance=accuracy.lines_within_tolerance,
        accuracy_percent=accuracy.percent,
    )


def sheet_view(session: Session, sheet: CountSheet) -> CountSheetView:
    skus = dict(
        session.execute(
            select(Product.id, Product.sku).where(Product.id.in_({line.product_id for line in sheet.lines}))
        ).all()
    )
    lines = [
        CountLineView(
            id=line.id,
            product_id=line.product_id,
            sku=skus.get(line.product_id, ""),
            expected_quantity=line.expected_quantity,
            counted_quantity=line.counted_quantity,
            difference=line.difference,
            within_tolerance=line.within_tolerance,
            stock_moved=line.stock_moved,
            adjusted_quantity=line.adjusted_quantity,
            counted_by=line.counted_by,
            counted_at=line.counted_at,
        )
        for line in sheet.lines
    ]
    warnings = [
        f"{view.sku}: on hand changed since the snapshot of {view.expected_quantity}, recount"
        for view, line in zip(lines, sheet.lines, strict=True)
        if line.stock_moved and sheet.state in ("open", "submitted")
    ]
    skip = {"lines", "accuracy", "warnings"}
    data = {name: getattr(sheet, name) for name in CountSheetView.model_fields if name not in skip}
    return CountSheetView(
        **data, lines=lines, accuracy=_accuracy(counts.sheet_accuracy(sheet)), warnings=warnings
    )


def _sheet(
    session: Session, principal: Principal, sheet_id: uuid.UUID, *, lock: bool = False
) -> tuple[Company, CountSheet]:
    sheet = counts.get_sheet(session, principal.company_id, sheet_id, lock=lock)
    if not principal.sees_store(sheet.store_id):
        raise NotFound(f"no count sheet {sheet_id}")
    return session.get(Company, sheet.company_id), sheet


# -- counts: routes ---------------------------------------------------------------------------------


class CountQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    store_id: StoreRef | None = Field(None, description="Store code or id.")
    location_id: uuid.UUID | None = None
    state: Literal["open", "submitted", "approved", "cancelled"] | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class AccuracyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    store_id: StoreRef | None = Field(None, description="Store code or id.")
    date_from: Day | None = Field(None, description="First count date (approval date) included.")
    date_to: Day | None = Field(None, description="Last count date included.")


@router.get(
    "/counts/accuracy",
    response_model=AccuracyReport,
    tags=["counts"],
    summary="Stock accuracy over approved count sheets",
    description="Share of counted lines within their sheet's tolerance, over the sheets approved with a"
    " count date in the range.",
)
def count_accuracy(
    params: Annotated[AccuracyQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> AccuracyReport:
        company = company_in_scope(session, api.principal, params.company_id)
        store_id = store_filter(session, api.principal, params.store_id, company=company)
        sheets, accuracy = counts.accuracy_report(
            session, company.id, store_id=store_id, date_from=params.date_from, date_to=params.date_to
        )
        return AccuracyReport(
            company_id=company.id,
            store_id=store_id,
            date_from=params.date_from,
            date_to=params.date_to,
            sheets=sheets,
            **_accuracy(accuracy).model_dump(),
        )

    return api.read(work)


@router.get("/counts", response_model=CountSheetPage, tags=["counts"], summary="List count sheets")
def list_counts(
    params: Annotated[CountQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> CountSheetPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = select(CountSheet).where(CountSheet.company_id == company.id)
        store_id = store_filter(session, api.principal, params.store_id, company=company)
        if store_id is not None:
            query = query.where(CountSheet.store_id == store_id)
        if params.location_id:
            query = query.where(CountSheet.location_id == params.location_id)
        if params.state:
            query = query.where(CountSheet.state == params.state)
        rows, next_cursor = keyset_page(session, query, CountSheet.id, params.limit, params.cursor)
        return CountSheetPage(items=[sheet_view(session, r) for r in rows], next_cursor=next_cursor)

    return api.read(work)


@router.get("/counts/{sheet_id}", response_model=CountSheetView, tags=["counts"], summary="Get a count sheet")
def get_count(
    sheet_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    return api.read(lambda session: sheet_view(session, _sheet(session, api.principal, sheet_id)[1]))


@router.post(
    "/counts",
    status_code=201,
    response_model=CountSheetView,
    tags=["counts"],
    summary="Open a count sheet for a location",
    description="Expected quantities are a snapshot of on hand now. Send an Idempotency-Key.",
)
async def create_count(
    body: CreateCountSheet, api: Annotated[Api, Depends(writer("counts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> CountSheetView:
        company = company_in_scope(session, api.principal, body.company_id)
        location = session.get(Location, body.location_id)
        if location is not None and not api.principal.sees_store(location.store_id):
            raise InvalidReference(
                f"no location {body.location_id}", problems=[FieldProblem("location_id", "no such location")]
            )
        sheet = counts.create_sheet(
            session,
            ctx,
            company,
            location_id=body.location_id,
            category_prefix=body.category_prefix,
            tolerance_percent=body.tolerance_percent,
            note=body.note,
        )
        return sheet_view(session, sheet)

    return await api.command(work, status_code=201, location=lambda r: f"/api/v1/counts/{r.id}")


async def _record_counts(sheet_id: uuid.UUID, body: RecordCounts, api: Api) -> Response:
    def work(session: Session, ctx: CommandContext) -> CountSheetView:
        company, sheet = _sheet(session, api.principal, sheet_id, lock=True)
        return sheet_view(session, counts.record_counts(session, ctx, company, sheet, body.entries()))

    return await api.command(work)


@router.patch(
    "/counts/{sheet_id}/lines",
    response_model=CountSheetView,
    tags=["counts"],
    summary="Record counted quantities (open sheet, partial updates)",
)
async def patch_count_lines(
    sheet_id: Annotated[uuid.UUID, Path()],
    body: RecordCounts,
    api: Annotated[Api, Depends(writer("counts:write"))],
) -> Response:
    return await _record_counts(sheet_id, body, api)


@router.post(
    "/counts/{sheet_id}/lines",
    response_model=CountSheetView,
    tags=["counts"],
    summary="Record counted quantities (same as PATCH)",
)
async def post_count_lines(
    sheet_id: Annotated[uuid.UUID, Path()],
    body: RecordCounts,
    api: Annotated[Api, Depends(writer("counts:write"))],
) -> Response:
    return await _record_counts(sheet_id, body, api)


@router.post(
    "/counts/{sheet_id}/submit", response_model=CountSheetView, tags=["counts"], summary="Submit a count"
)
async def submit_count(
    sheet_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("counts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> CountSheetView:
        company, sheet = _sheet(session, api.principal, sheet_id, lock=True)
        return sheet_view(session, counts.submit(session, ctx, company, sheet))

    return await api.command(work)


@router.post(
    "/counts/{sheet_id}/recount",
    response_model=CountSheetView,
    tags=["counts"],
    summary="Reopen a sheet; lines whose stock moved get a fresh snapshot and must be counted again",
)
async def recount(
    sheet_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("counts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> CountSheetView:
        company, sheet = _sheet(session, api.principal, sheet_id, lock=True)
        return sheet_view(session, counts.recount(session, ctx, company, sheet))

    return await api.command(work)


@router.post(
    "/counts/{sheet_id}/approve",
    response_model=CountSheetView,
    tags=["counts"],
    summary="Approve a submitted count and post the differences (store manager, admin)",
    description="On hand becomes what was counted; the ledger posts StockCounted. Refused with 409"
    " `count-stale` if stock moved since the snapshot, unless `accept_stock_moves`.",
)
async def approve_count(
    sheet_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("counts:approve"))],
    body: ApproveCountSheet | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> CountSheetView:
        company, sheet = _sheet(session, api.principal, sheet_id, lock=True)
        options = body or ApproveCountSheet()
        approved = counts.approve(
            session, ctx, company, sheet, date=options.date, accept_stock_moves=options.accept_stock_moves
        )
        return sheet_view(session, approved)

    return await api.command(work)


@router.post(
    "/counts/{sheet_id}/cancel",
    response_model=CountSheetView,
    tags=["counts"],
    summary="Cancel a count sheet",
)
async def cancel_count(
    sheet_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("counts:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> CountSheetView:
        company, sheet = _sheet(session, api.principal, sheet_id, lock=True)
        return sheet_view(session, counts.cancel(session, ctx, company, sheet))

    return await api.command(work)
