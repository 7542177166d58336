"""The point of sale over HTTP: terminals, sessions, offline sales batches, cash movements, close."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.services import company_in_scope
from retailcore.pos import commands as c
from retailcore.pos import services as svc
from retailcore.pos.tables import PosSession, PosTerminal

router = APIRouter(route_class=DecimalRoute, tags=["pos"])


@router.post(
    "/pos/terminals", status_code=201, response_model=c.TerminalView, summary="Create a POS terminal"
)
async def create_terminal(
    body: c.CreateTerminal, api: Annotated[Api, Depends(writer("pos:approve"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.TerminalView:
        company = company_in_scope(session, api.principal, body.company_id)
        return c.TerminalView.model_validate(svc.create_terminal(session, ctx, company, body))

    return await api.command(work, status_code=201, location=lambda v: f"/api/v1/pos/terminals/{v.id}")


@router.get("/pos/terminals", response_model=list[c.TerminalView], summary="List POS terminals")
def list_terminals(
    api: Annotated[Api, Depends(reader("pos:sell"))], company_id: uuid.UUID | None = None
) -> Any:
    def work(session: Session) -> list[c.TerminalView]:
        company = company_in_scope(session, api.principal, company_id)
        query = select(PosTerminal).where(PosTerminal.company_id == company.id).order_by(PosTerminal.code)
        if api.principal.store_id is not None:
            query = query.where(PosTerminal.store_id == api.principal.store_id)
        return [c.TerminalView.model_validate(row) for row in session.scalars(query)]

    return api.read(work)


@router.post("/pos/sessions", status_code=201, response_model=c.SessionView, summary="Open a POS session")
async def open_session(body: c.OpenSession, api: Annotated[Api, Depends(writer("pos:close"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.SessionView:
        opened = svc.open_session(session, ctx, body.terminal_id, body.opening_float)
        return svc.session_view(session, opened)

    return await api.command(work, status_code=201, location=lambda v: f"/api/v1/pos/sessions/{v.id}")


@router.get("/pos/sessions", response_model=list[c.SessionView], summary="List POS sessions")
def list_sessions(
    api: Annotated[Api, Depends(reader("pos:sell"))],
    company_id: uuid.UUID | None = None,
    terminal_id: uuid.UUID | None = None,
    state: Text | None = None,
) -> Any:
    def work(session: Session) -> list[c.SessionView]:
        company = company_in_scope(session, api.principal, company_id)
        query = select(PosSession).where(PosSession.company_id == company.id)
        if api.principal.store_id is not None:
            query = query.where(PosSession.store_id == api.principal.store_id)
        if terminal_id is not None:
            query = query.where(PosSession.terminal_id == terminal_id)
        if state is not None:
            query = query.where(PosSession.state == state)
        rows = session.scalars(query.order_by(PosSession.opened_at, PosSession.number).limit(500))
        return [svc.session_view(session, row) for row in rows]

    return api.read(work)


@router.get(
    "/pos/sessions/{session_id}", response_model=c.SessionView, summary="A POS session with its totals"
)
def get_session(session_id: uuid.UUID, api: Annotated[Api, Depends(reader("pos:sell"))]) -> Any:
    return api.read(
        lambda session: svc.session_view(session, svc.get_session(session, api.principal, session_id))
    )


@router.post(
    "/pos/sessions/{session_id}/sales:batch",
    response_model=c.BatchResult,
    summary="Sync a batch of offline sales (idempotent per sale by client_uuid)",
)
async def ingest_sales(
    session_id: uuid.UUID, body: c.SalesBatch, api: Annotated[Api, Depends(writer("pos:sell"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.BatchResult:
        return svc.ingest_batch(session, ctx, session_id, body.sales)

    return await api.command(work)


@router.post(
    "/pos/sessions/{session_id}/cash-movements",
    status_code=201,
    response_model=c.CashMovementView,
    summary="Put cash into or take cash out of the drawer",
)
async def cash_movement(
    session_id: uuid.UUID, body: c.CashMovementIn, api: Annotated[Api, Depends(writer("pos:close"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.CashMovementView:
        return c.CashMovementView.model_validate(svc.cash_movement(session, ctx, session_id, body))

    return await api.command(work, status_code=201)


@router.post(
    "/pos/sessions/{session_id}/close",
    response_model=c.SessionView,
    summary="Close a session with the counted amounts (a large cash difference needs pos:approve)",
)
async def close_session(
    session_id: uuid.UUID, body: c.CloseSession, api: Annotated[Api, Depends(writer("pos:close"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.SessionView:
        closed = svc.close_session(session, ctx, session_id, body.counted)
        return svc.session_view(session, closed)

    return await api.command(work)
