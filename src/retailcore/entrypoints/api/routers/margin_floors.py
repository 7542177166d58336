"""Margin floors over HTTP: the least margin over cost a product, or a category's products, may sell
at (docs/promotions-governance.md#margin-floors). Reading needs ``margin_floors:read``, changing
``margin_floors:write``.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.paging import keyset_page
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.routers.pricing import IfMatch, _if_match
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope
from retailcore.promotions import commands as c
from retailcore.promotions import floors
from retailcore.promotions.tables import MarginFloor

router = APIRouter(route_class=DecimalRoute, tags=["promotions"])


@router.post(
    "/margin-floors",
    status_code=201,
    response_model=c.MarginFloorView,
    summary="Set a margin floor for a product or a category",
    description="Honours `Idempotency-Key`. `floor` is a fraction of cost: 0.10 keeps the net price 10 % "
    "above cost. A product's floor beats its category's.",
)
async def create_floor(
    body: c.CreateMarginFloor, api: Annotated[Api, Depends(writer("margin_floors:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.MarginFloorView:
        company = company_in_scope(session, api.principal, body.company_id)
        return c.MarginFloorView.model_validate(floors.create_floor(session, ctx, company, body))

    return await api.command(
        work,
        status_code=201,
        location=lambda r: f"/api/v1/margin-floors/{r.id}",  # type: ignore[attr-defined]
    )


class FloorQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    limit: int = Field(100, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class FloorPage(BaseModel):
    items: list[c.MarginFloorView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")


@router.get("/margin-floors", response_model=FloorPage, summary="List margin floors")
def list_floors(
    params: Annotated[FloorQuery, Query()], api: Annotated[Api, Depends(reader("margin_floors:read"))]
) -> Any:
    def work(session: Session) -> FloorPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = select(MarginFloor).where(MarginFloor.company_id == company.id)
        rows, next_cursor = keyset_page(session, query, MarginFloor.id, params.limit, params.cursor)
        return FloorPage(
            items=[c.MarginFloorView.model_validate(row) for row in rows], next_cursor=next_cursor
        )

    return api.read(work)


@router.get("/margin-floors/{floor_id}", response_model=c.MarginFloorView, summary="Get a margin floor")
def get_floor(
    floor_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("margin_floors:read"))]
) -> Response:
    result = api.read(
        lambda session: c.MarginFloorView.model_validate(floors.get_floor(session, api.principal, floor_id))
    )
    return JSONResponse(result.model_dump(mode="json"), headers={"ETag": f'"{result.version}"'})


@router.patch("/margin-floors/{floor_id}", response_model=c.MarginFloorView, summary="Change a margin floor")
async def update_floor(
    floor_id: Annotated[uuid.UUID, Path()],
    body: c.UpdateMarginFloor,
    api: Annotated[Api, Depends(writer("margin_floors:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> c.MarginFloorView:
        row = floors.update_floor(session, ctx, floor_id, body, expected_version=expected)
        return c.MarginFloorView.model_validate(row)

    return await api.command(work)


@router.delete("/margin-floors/{floor_id}", response_model=c.MarginFloorView, summary="Remove a margin floor")
async def delete_floor(
    floor_id: Annotated[uuid.UUID, Path()],
    api: Annotated[Api, Depends(writer("margin_floors:write"))],
    if_match: IfMatch = None,
) -> Response:
    expected = _if_match(if_match)

    def work(session: Session, ctx: CommandContext) -> c.MarginFloorView:
        return floors.delete_floor(session, ctx, floor_id, expected_version=expected)

    return await api.command(work)
