"""Gateways, settlement files and mismatches over HTTP (issue 17, decision 0035).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime. A
settlement file is posted as JSON (its text in ``content``); importing the same file again answers the
first import (``replayed: true``) and writes nothing; a bad file is a 422 naming its line.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.core.inputs import Text, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import company_in_scope
from retailcore.settlements import commands as c
from retailcore.settlements import services as svc
from retailcore.settlements.tables import MISMATCH_KINDS

router = APIRouter(route_class=DecimalRoute, tags=["settlements"])

GatewayPath = Annotated[Text, Path(max_length=64, description="The gateway's code (`stripe`).")]
CURSOR = "The `next_cursor` of the previous page."


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


class GatewayQuery(CompanyQuery):
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class GatewayList(BaseModel):
    items: list[c.GatewayView]
    next_cursor: uuid.UUID | None


class BatchQuery(CompanyQuery):
    gateway: text(max_length=64) | None = Field(None)  # type: ignore[valid-type]
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class BatchPage(BaseModel):
    items: list[c.BatchView]
    next_cursor: uuid.UUID | None


class LineQuery(CompanyQuery):
    batch_id: uuid.UUID | None = None
    file_id: uuid.UUID | None = None
    matched: bool | None = Field(None, description="true: matched lines only; false: unmatched only.")
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class LinePage(BaseModel):
    items: list[c.LineView]
    next_cursor: uuid.UUID | None


class MismatchQuery(CompanyQuery):
    state: Literal["open", "resolved"] | None = None
    kind: Literal[MISMATCH_KINDS] | None = None  # type: ignore[valid-type]
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description=CURSOR)


class MismatchPage(BaseModel):
    items: list[c.MismatchView]
    next_cursor: uuid.UUID | None


@router.get("/gateways", response_model=GatewayList, summary="List payment gateways")
def list_gateways(
    params: Annotated[GatewayQuery, Query()], api: Annotated[Api, Depends(reader("gateways:read"))]
) -> Any:
    def work(session: Session) -> GatewayList:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_gateways(session, company, params.limit, params.cursor)
        return GatewayList(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.post(
    "/gateways",
    status_code=201,
    response_model=c.GatewayView,
    summary="Create a payment gateway",
    description="Accounts by code or id; each defaults to the account of its role. `GatewayCreated`.",
    responses={409: {"description": "The gateway exists"}, 422: {"description": "Invalid input or account"}},
)
async def create_gateway(
    body: c.CreateGateway, api: Annotated[Api, Depends(writer("gateways:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.GatewayView:
        return svc.create_gateway(
            session, ctx, company_in_scope(session, api.principal, body.company_id), body
        )

    return await api.command(work, status_code=201)


@router.patch(
    "/gateways/{code}",
    response_model=c.GatewayView,
    summary="Change a payment gateway",
    description="Fields left out stay as they are. `GatewayChanged` with before and after.",
    responses={404: {"description": "No such gateway"}, 422: {"description": "Invalid input or account"}},
)
async def update_gateway(
    code: GatewayPath, body: c.UpdateGateway, api: Annotated[Api, Depends(writer("gateways:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.GatewayView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.update_gateway(session, ctx, company, code, body)

    return await api.command(work)


@router.post(
    "/settlements",
    status_code=201,
    response_model=c.ImportResult,
    summary="Import a settlement file",
    description=(
        "A gateway's settlement file (Stripe balance transactions or payout reconciliation, Adyen"
        " settlement details, or any CSV with a `mapping`), as text in `content`. Idempotent per file"
        " (the same content again answers `replayed: true`) and per line. Lines are matched to card"
        " payments, posted per payout batch, and what disagrees becomes a mismatch. A bad file is"
        " refused (`settlement-file-refused`, field `file.line.N`) and nothing is written."
    ),
    responses={422: {"description": "A bad file (naming its line), an unknown gateway or mapping"}},
)
async def import_settlement(
    body: c.ImportSettlement, api: Annotated[Api, Depends(writer("settlements:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ImportResult:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.import_file(session, ctx, company, body.gateway, body.filename, body.content, body.mapping)

    return await api.command(work, status_code=201)


@router.get("/settlements", response_model=BatchPage, summary="List settlement batches (payouts)")
def list_batches(
    params: Annotated[BatchQuery, Query()], api: Annotated[Api, Depends(reader("settlements:read"))]
) -> Any:
    def work(session: Session) -> BatchPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_batches(session, company, params.gateway, params.limit, params.cursor)
        return BatchPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/settlements/lines", response_model=LinePage, summary="List settlement lines")
def list_lines(
    params: Annotated[LineQuery, Query()], api: Annotated[Api, Depends(reader("settlements:read"))]
) -> Any:
    def work(session: Session) -> LinePage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_lines(
            session,
            company,
            batch_id=params.batch_id,
            file_id=params.file_id,
            matched=params.matched,
            limit=params.limit,
            cursor=params.cursor,
        )
        return LinePage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/settlements/matches",
    response_model=LinePage,
    summary="List matched settlement lines",
    description="Lines matched to a card payment, with the payment, its order and how (`match`).",
)
def list_matches(
    params: Annotated[LineQuery, Query()], api: Annotated[Api, Depends(reader("settlements:read"))]
) -> Any:
    def work(session: Session) -> LinePage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_lines(
            session,
            company,
            batch_id=params.batch_id,
            file_id=params.file_id,
            matched=True,
            limit=params.limit,
            cursor=params.cursor,
        )
        return LinePage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/mismatches", response_model=MismatchPage, summary="List settlement mismatches")
def list_mismatches(
    params: Annotated[MismatchQuery, Query()], api: Annotated[Api, Depends(reader("settlements:read"))]
) -> Any:
    def work(session: Session) -> MismatchPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_mismatches(
            session, company, state=params.state, kind=params.kind, limit=params.limit, cursor=params.cursor
        )
        return MismatchPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.post(
    "/mismatches/{mismatch_id}/resolve",
    response_model=c.MismatchView,
    summary="Resolve a settlement mismatch",
    description=(
        "Closes it with a note (`SettlementMismatchResolved`) and posts the `adjustment` asked for"
        " (`SettlementMismatchAdjusted`, rule `settlement-adjustment`)."
    ),
    responses={
        404: {"description": "No such mismatch"},
        409: {"description": "Already resolved"},
        422: {"description": "Invalid input (e.g. dispute_lost on what is not a chargeback)"},
    },
)
async def resolve_mismatch(
    mismatch_id: uuid.UUID,
    body: c.ResolveMismatch,
    api: Annotated[Api, Depends(writer("mismatches:resolve"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.MismatchView:
        company = company_in_scope(session, api.principal, body.company_id)
        return svc.resolve_mismatch(session, ctx, company, mismatch_id, body)

    return await api.command(work)
