"""Stock over HTTP: levels, moves (and the manual ones store staff make), available-to-promise,
reservations and channel safety stock. Stock exceptions are in the one exceptions console
(``routers/exceptions.py``).

Store-scoped tokens see their store's locations only: levels, moves and reservations of other stores
are not found, and their locations are refused as invalid references.
"""

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.inputs import Day, Instant, Text, text
from retailcore.entrypoints.api.as_of import SweepAsOf
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.pages import IdPageQuery, PageOf
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import reservations as r
from retailcore.inventory import stock_queries as q
from retailcore.inventory.reservation_tables import Reservation
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, with_store_ids
from retailcore.masterdata.tables import Company, Location

router = APIRouter(route_class=DecimalRoute, tags=["stock"])
QueryT = TypeVar("QueryT", bound=BaseModel)

Channel = Literal["pos", "web", "marketplace", "b2b"]
PositiveQuantity = Annotated[Decimal, Field(gt=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
SafetyQuantity = Annotated[Decimal, Field(ge=0, max_digits=19, decimal_places=4, allow_inf_nan=False)]
Ref = text(strip_whitespace=True, max_length=100)
Note = text(strip_whitespace=True, max_length=500)
MANUAL_KINDS = ("internal", "scrap")
"""Moves store staff make by hand; receipts, sales, transfers and counts come from their own flows."""


class Request(BaseModel):
    # Unknown fields are refused: a typo in a field name must not silently do nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CompanyScoped(Request):
    company_id: CompanyRef | None = Field(default=None, description=COMPANY_DEFAULT)


def _company(session: Session, principal: Principal, company_id: uuid.UUID | str | None) -> Company:
    return company_in_scope(session, principal, company_id)


def _resolved(session: Session, principal: Principal, params: QueryT) -> tuple[Company, QueryT]:
    """The company of a query and the query with the store it names (by code or id) as its id."""
    company = _company(session, principal, params.company_id)  # type: ignore[attr-defined]
    return company, with_store_ids(session, principal, company, params, "store_id")


def _owner(session: Session, principal: Principal, table: Any, item_id: uuid.UUID, what: str) -> Company:
    """The company of a row addressed by id, if the caller may see it (its store is checked later)."""
    company_id = session.scalar(select(table.company_id).where(table.id == item_id))
    if company_id is None or not principal.sees_company(company_id):
        raise NotFound(f"no {what} {item_id}")
    company = session.get(Company, company_id)
    assert company is not None
    return company


def _visible_store(principal: Principal) -> uuid.UUID | None:
    return principal.store_id


# -- levels and availability -----------------------------------------------------------------------


class LevelQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    product_id: uuid.UUID | None = None
    sku: Text | None = None
    location_id: uuid.UUID | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id.")
    only_nonzero: bool = Field(False, description="Leave out rows with nothing on hand, reserved or valued.")
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


class LevelPage(BaseModel):
    items: list[q.LevelView]
    next_cursor: str | None


@router.get(
    "/stock/levels",
    response_model=LevelPage,
    summary="Stock levels per product and location",
    description="On hand, reserved, available (on hand - reserved) and value, per product and valued"
    " location.",
)
def stock_levels(
    params: Annotated[LevelQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> LevelPage:
        company, query = _resolved(session, api.principal, params)
        page = q.stock_levels(
            session,
            company,
            visible_store_id=_visible_store(api.principal),
            **query.model_dump(exclude={"company_id"}),
        )
        return LevelPage(items=page.items, next_cursor=page.next_cursor)

    return api.read(work)


class AvailabilityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    product_id: uuid.UUID
    channel: Channel
    store_id: StoreRef | None = Field(None, description="Store code or id: its locations; all when absent.")


@router.get(
    "/stock/availability",
    response_model=q.AvailabilityView,
    summary="Available-to-promise of a product for a channel",
    description="Per sellable location (stock, backroom): on hand - reserved - the channel's safety stock,"
    " never below zero; the total is their sum.",
)
def stock_availability(
    params: Annotated[AvailabilityQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> q.AvailabilityView:
        company, query = _resolved(session, api.principal, params)
        return q.availability(
            session,
            company,
            product_id=query.product_id,
            channel=query.channel,
            store_id=query.store_id,
            visible_store_id=_visible_store(api.principal),
        )

    return api.read(work)


class SetSafetyStock(CompanyScoped):
    channel: Channel
    product_id: uuid.UUID | None = Field(None, description="Absent: the channel's default for every product.")
    quantity: SafetyQuantity


@router.get(
    "/stock/safety-stock",
    response_model=PageOf[q.SafetyStockView],
    summary="Safety stock per channel",
    description="In the order they were first set (by id).",
)
def list_safety_stock(
    params: Annotated[IdPageQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> PageOf[q.SafetyStockView]:
        company = _company(session, api.principal, params.company_id)
        rows, last = q.safety_stock_page(session, company, limit=params.limit, cursor=params.cursor)
        return PageOf.of([q.SafetyStockView.model_validate(row) for row in rows], last)

    return api.read(work)


@router.put(
    "/stock/safety-stock",
    response_model=q.SafetyStockView,
    summary="Set a channel's safety stock",
    description="Units each sellable location holds back from the channel's available-to-promise, for one"
    " product or as the channel's default. Publishes AvailabilityChanged for what it changes.",
)
async def put_safety_stock(
    body: SetSafetyStock, api: Annotated[Api, Depends(writer("stock:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> q.SafetyStockView:
        company = _company(session, api.principal, body.company_id)
        row = r.set_safety_stock(
            session, ctx, company, channel=body.channel, quantity=body.quantity, product_id=body.product_id
        )
        return q.SafetyStockView.model_validate(row)

    return await api.command(work)


# -- moves -----------------------------------------------------------------------------------------


class MoveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = Field(None, description="Moves from or to this location.")
    store_id: StoreRef | None = Field(
        None, description="Store code or id: moves from or to a location of this store."
    )
    kind: Text | None = None
    date_from: Day | None = None
    date_to: Day | None = None
    event_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


class MovePage(BaseModel):
    items: list[q.MoveView]
    next_cursor: str | None


@router.get("/stock/moves", response_model=MovePage, summary="List stock moves")
def list_moves(
    params: Annotated[MoveQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> MovePage:
        company, query = _resolved(session, api.principal, params)
        page = q.list_moves(
            session,
            company,
            visible_store_id=_visible_store(api.principal),
            **query.model_dump(exclude={"company_id"}),
        )
        return MovePage(items=page.items, next_cursor=page.next_cursor)

    return api.read(work)


class ManualMoveLine(Request):
    product_id: uuid.UUID
    quantity: PositiveQuantity
    from_location_id: uuid.UUID
    to_location_id: uuid.UUID | None = Field(
        None, description="Required for an internal move; a scrap goes to the company's inventory loss."
    )


class ManualMove(CompanyScoped):
    kind: Literal["internal", "scrap"]
    date: Day | None = Field(None, description="Defaults to today (UTC).")
    reference: text(strip_whitespace=True, max_length=200) = ""
    lines: Annotated[list[ManualMoveLine], Field(min_length=1, max_length=500)]


class MoveDone(BaseModel):
    event_id: uuid.UUID
    event_type: str
    moves: list[q.MoveView]


def _manual_lines(
    session: Session, principal: Principal, company: Company, body: ManualMove
) -> list[MoveLine]:
    """Check what store staff may move by hand: their own store's internal locations, within one store."""
    loss = session.scalar(
        select(Location.id).where(Location.company_id == company.id, Location.kind == "inventory_loss")
    )
    lines = []
    for index, line in enumerate(body.lines):
        target = line.to_location_id if body.kind == "internal" else (line.to_location_id or loss)
        if target is None:
            raise ValidationFailed(
                "an internal move needs its destination",
                problems=[FieldProblem(f"lines.{index}.to_location_id", "required")],
            )
        ends = {"from_location_id": line.from_location_id, "to_location_id": target}
        stores = {}
        for name, location_id in ends.items():
            location = session.get(Location, location_id)
            if location is None or location.company_id != company.id:
                continue  # move_stock names the missing location
            if location.store_id is not None and principal.store_id not in (None, location.store_id):
                raise InvalidReference(
                    f"no location {location_id}",
                    problems=[FieldProblem(f"lines.{index}.{name}", "no such location")],
                )
            stores[name] = location.store_id
        if body.kind == "internal" and len(set(stores.values())) > 1:
            raise ValidationFailed(
                "an internal move stays in one store; use a transfer between stores",
                problems=[FieldProblem(f"lines.{index}.to_location_id", "another store")],
            )
        lines.append(MoveLine(line.product_id, line.quantity, line.from_location_id, target))
    return lines


@router.post(
    "/stock/moves",
    status_code=201,
    response_model=MoveDone,
    summary="Move stock by hand (internal or scrap)",
    description="Store staff move goods between the locations of their store (stock, backroom, damaged) or"
    " scrap them. Receipts, sales, transfers and counts come from their own flows. Send an Idempotency-Key.",
)
async def create_move(body: ManualMove, api: Annotated[Api, Depends(writer("stock:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> MoveDone:
        company = _company(session, api.principal, body.company_id)
        result = move_stock(
            session,
            ctx,
            company,
            kind=body.kind,
            lines=_manual_lines(session, api.principal, company, body),
            date=body.date or utcnow().date(),
            reference=body.reference,
        )
        return MoveDone(
            event_id=result.event.id,
            event_type=result.event.type,
            moves=[q.MoveView.model_validate(m) for m in result.moves],
        )

    return await api.command(work, status_code=201)


# -- reservations ----------------------------------------------------------------------------------


class CreateReservation(CompanyScoped):
    product_id: uuid.UUID
    location_id: uuid.UUID = Field(description="A sellable location (stock or backroom) of a store.")
    quantity: PositiveQuantity
    channel: Channel
    order_ref: text(strip_whitespace=True, min_length=1, max_length=100)
    order_line_ref: Ref = ""
    expires_at: Instant | None = Field(None, description="For unpaid carts: released by the expiry sweep.")


class ReservationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    state: Literal["active", "released", "consumed", "expired"] | None = None
    channel: Channel | None = None
    order_ref: Text | None = None
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id.")
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


class ReservationPage(BaseModel):
    items: list[q.ReservationView]
    next_cursor: str | None


class ReleaseReservation(Request):
    reason: Note = ""


class ConsumeReservation(Request):
    date: Day | None = Field(None, description="Date of the delivery; defaults to today (UTC).")
    reference: text(strip_whitespace=True, max_length=200) | None = None


class Consumed(BaseModel):
    reservation: q.ReservationView
    move_event_id: uuid.UUID
    moves: list[q.MoveView]


class ExpireReservations(SweepAsOf):
    """Expire the active reservations whose ``expires_at`` is at or before ``as_of``."""


class Expired(BaseModel):
    expired: list[q.ReservationView]


@router.post(
    "/reservations",
    status_code=201,
    response_model=q.ReservationView,
    summary="Reserve stock for an order line",
    description="Refused with 409 `insufficient-stock` when the quantity exceeds on hand - reserved at the"
    " location. Publishes AvailabilityChanged. Send an Idempotency-Key.",
)
async def create_reservation(
    body: CreateReservation, api: Annotated[Api, Depends(writer("reservations:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> q.ReservationView:
        company = _company(session, api.principal, body.company_id)
        reservation = r.reserve(
            session,
            ctx,
            company,
            product_id=body.product_id,
            location_id=body.location_id,
            quantity=body.quantity,
            channel=body.channel,
            order_ref=body.order_ref,
            order_line_ref=body.order_line_ref,
            expires_at=body.expires_at,
        )
        return q.ReservationView.model_validate(reservation)

    return await api.command(work, status_code=201, location=lambda v: f"/api/v1/reservations/{v.id}")


@router.get("/reservations", response_model=ReservationPage, summary="List reservations")
def list_reservations(
    params: Annotated[ReservationQuery, Query()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> ReservationPage:
        company, query = _resolved(session, api.principal, params)
        page = q.list_reservations(
            session,
            company,
            visible_store_id=_visible_store(api.principal),
            **query.model_dump(exclude={"company_id"}),
        )
        return ReservationPage(items=page.items, next_cursor=page.next_cursor)

    return api.read(work)


@router.get("/reservations/{reservation_id}", response_model=q.ReservationView, summary="Get a reservation")
def get_reservation(
    reservation_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("stock:read"))]
) -> Any:
    def work(session: Session) -> q.ReservationView:
        row = session.get(Reservation, reservation_id)
        location = session.get(Location, row.location_id) if row is not None else None
        if (
            row is None
            or location is None
            or not api.principal.sees_company(row.company_id)
            or not api.principal.sees_store(location.store_id)
        ):
            raise NotFound(f"no reservation {reservation_id}")
        return q.ReservationView.model_validate(row)

    return api.read(work)


@router.post(
    "/reservations/expire",
    response_model=Expired,
    summary="Expire overdue reservations",
    description="Releases every active reservation whose `expires_at` has passed (unpaid web carts).",
)
async def expire_reservations(
    body: ExpireReservations, api: Annotated[Api, Depends(writer("reservations:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> Expired:
        company = _company(session, api.principal, body.company_id)
        expired = r.expire_reservations(session, ctx, company, body.moment())
        return Expired(expired=[q.ReservationView.model_validate(x) for x in expired])

    return await api.command(work)


@router.post(
    "/reservations/{reservation_id}/release",
    response_model=q.ReservationView,
    summary="Release (cancel) a reservation",
)
async def release_reservation(
    reservation_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("reservations:write"))],
    body: ReleaseReservation | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> q.ReservationView:
        company = _owner(session, api.principal, Reservation, reservation_id, "reservation")
        reason = body.reason if body else ""
        return q.ReservationView.model_validate(
            r.release(session, ctx, company, reservation_id, reason=reason)
        )

    return await api.command(work)


@router.post(
    "/reservations/{reservation_id}/consume",
    response_model=Consumed,
    summary="Deliver a reservation",
    description="Moves the reserved quantity from its location to the customer (a delivery, posted to COGS)"
    " and marks the reservation consumed.",
)
async def consume_reservation(
    reservation_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("reservations:write"))],
    body: ConsumeReservation | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> Consumed:
        company = _owner(session, api.principal, Reservation, reservation_id, "reservation")
        reservation, result = r.consume(
            session,
            ctx,
            company,
            reservation_id,
            date=body.date if body else None,
            reference=body.reference if body else None,
        )
        return Consumed(
            reservation=q.ReservationView.model_validate(reservation),
            move_event_id=result.event.id,
            moves=[q.MoveView.model_validate(m) for m in result.moves],
        )

    return await api.command(work)
