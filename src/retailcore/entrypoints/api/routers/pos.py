"""The point of sale over HTTP: terminals, sessions, offline sales batches, cash movements, close."""

import uuid
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from retailcore.access.model import Principal
from retailcore.adapters.paging import keyset_page
from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.pages import CURSOR, CompanyPageQuery, IdPageQuery, PageOf
from retailcore.entrypoints.inbox import drain_now
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, store_filter, with_store_ids
from retailcore.orders.services import OrderView
from retailcore.pos import cash_rounding, inbox, till
from retailcore.pos import commands as c
from retailcore.pos import services as svc
from retailcore.pos.group_commit import GroupCommit
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
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return c.TerminalView.model_validate(svc.create_terminal(session, ctx, company, request))

    return await api.command(work, status_code=201, location=lambda v: f"/api/v1/pos/terminals/{v.id}")


def _of_company_and_store(
    session: Session, principal: Principal, table: type[PosTerminal | PosSession], params: Any
) -> Select[Any]:
    """The rows of ``table`` in the company and store a list names (a store's token: its own store)."""
    company = company_in_scope(session, principal, params.company_id)
    query = select(table).where(table.company_id == company.id)
    store_id = store_filter(session, principal, params.store_id, company=company)
    return query if store_id is None else query.where(table.store_id == store_id)


class TerminalQuery(CompanyPageQuery):
    store_id: StoreRef | None = Field(None, description="Store code or id: only its terminals.")
    cursor: Text | None = Field(None, description=CURSOR)


@router.get(
    "/pos/terminals",
    response_model=PageOf[c.TerminalView],
    summary="List POS terminals",
    description="By code (unique per company).",
)
def list_terminals(
    params: Annotated[TerminalQuery, Query()], api: Annotated[Api, Depends(reader("pos:sell"))]
) -> Any:
    def work(session: Session) -> PageOf[c.TerminalView]:
        query = _of_company_and_store(session, api.principal, PosTerminal, params)
        rows, last = keyset_page(session, query, PosTerminal.code, params.limit, params.cursor)
        return PageOf.of([c.TerminalView.model_validate(row) for row in rows], last)

    return api.read(work)


@router.post("/pos/sessions", status_code=201, response_model=c.SessionView, summary="Open a POS session")
async def open_session(body: c.OpenSession, api: Annotated[Api, Depends(writer("pos:close"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.SessionView:
        opened = svc.open_session(session, ctx, body.terminal_id, body.opening_float)
        return svc.session_view(session, opened)

    return await api.command(work, status_code=201, location=lambda v: f"/api/v1/pos/sessions/{v.id}")


class SessionQuery(IdPageQuery):
    store_id: StoreRef | None = Field(None, description="Store code or id: only its sessions.")
    terminal_id: uuid.UUID | None = None
    state: Literal["open", "closed"] | None = None


@router.get(
    "/pos/sessions",
    response_model=PageOf[c.SessionView],
    summary="List POS sessions",
    description="In the order they were opened (by id).",
)
def list_sessions(
    params: Annotated[SessionQuery, Query()], api: Annotated[Api, Depends(reader("pos:sell"))]
) -> Any:
    def work(session: Session) -> PageOf[c.SessionView]:
        query = _of_company_and_store(session, api.principal, PosSession, params)
        if params.terminal_id is not None:
            query = query.where(PosSession.terminal_id == params.terminal_id)
        if params.state is not None:
            query = query.where(PosSession.state == params.state)
        rows, last = keyset_page(session, query, PosSession.id, params.limit, params.cursor)
        return PageOf.of([svc.session_view(session, row) for row in rows], last)

    return api.read(work)


@router.get(
    "/pos/sessions/{session_id}", response_model=c.SessionView, summary="A POS session with its totals"
)
def get_session(session_id: uuid.UUID, api: Annotated[Api, Depends(reader("pos:sell"))]) -> Any:
    return api.read(
        lambda session: svc.session_view(session, svc.get_session(session, api.principal, session_id))
    )


PreferHeader = Annotated[
    str | None,
    Header(
        max_length=200,
        description="`respond-async` (RFC 7240): the batch is recorded and answered `202 Accepted` with the"
        " `Location` of its status, and posted within milliseconds (docs/api.md#asynchronous-sales). Not"
        " applied to a batch that sells gift cards (their codes are in the synchronous answer).",
    ),
]


@router.post(
    "/pos/sessions/{session_id}/sales:batch",
    response_model=c.BatchResult,
    summary="Sync a batch of offline sales (idempotent per sale by client_uuid)",
    responses={
        202: {
            "model": inbox.InboxView,
            "description": "With `Prefer: respond-async`: recorded, to be posted; `Location` is its status",
        }
    },
)
async def ingest_sales(
    session_id: uuid.UUID,
    body: c.SalesBatch,
    api: Annotated[Api, Depends(writer("pos:sell"))],
    prefer: PreferHeader = None,
) -> Response:
    if inbox.wants_async(prefer) and inbox.takes(body.sales):  # the inbox (decision 0084)
        drainer = api.request.app.state.pos_inbox_drainer
        return await api.accepted(
            partial(inbox.accept, principal=api.principal, session_id=session_id, sales=body.sales),
            location=lambda receipt: f"/api/v1/pos/inbox/{receipt.id}",
            then=drainer.nudge if drainer is not None else None,
        )
    group: GroupCommit | None = api.request.app.state.pos_group_commit
    if group is not None and group.takes(body.sales):  # a sale or a few: a shared batch (decision 0078)
        submit = partial(group.submit, session_id=session_id, sales=body.sales)
        return await api.joined(submit, replayed=c.without_codes)

    def work(session: Session, ctx: CommandContext) -> c.BatchResult:
        return svc.ingest_batch(session, ctx, session_id, body.sales)

    return await api.command(work, replayed=c.without_codes)


@router.get(
    "/pos/inbox/{inbox_id}",
    response_model=inbox.InboxView,
    summary="A sales batch accepted with Prefer: respond-async",
    description="`pending` until posted, then `ingested` (its result and the sales' orders) or `refused`"
    " (the problem the synchronous request would have answered; also raised in the exceptions console).",
)
def get_inbox(inbox_id: uuid.UUID, api: Annotated[Api, Depends(reader("pos:sell"))]) -> Any:
    return api.read(lambda session: inbox.get(session, api.principal, inbox_id))


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

    # Sales the inbox acknowledged are the session's: posted before the drawer is checked.
    await run_in_threadpool(drain_now, api.request.app.state.session_factory, session_id)
    return await api.command(work)


class CashRoundingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


@router.get(
    "/pos/cash-rounding",
    response_model=c.CashRoundingView,
    summary="Read the company's cash rounding",
    description="The increment and mode cash totals are rounded to at the till (docs/pos.md#cash-rounding).",
    responses={404: {"description": "The company has no cash rounding (cash is taken to the cent)"}},
)
def get_cash_rounding(
    params: Annotated[CashRoundingQuery, Query()],
    api: Annotated[Api, Depends(reader("pos:settings:read"))],
) -> Any:
    def work(session: Session) -> c.CashRoundingView:
        return cash_rounding.view(session, company_in_scope(session, api.principal, params.company_id))

    return api.read(work)


@router.put(
    "/pos/cash-rounding",
    response_model=c.CashRoundingView,
    summary="Set the company's cash rounding",
    description=(
        "A ticket paid in cash (or paid its rounded total by card) is settled at its total rounded to a"
        " multiple of `increment` by `mode`; cash refunds pay out the rounded amount. The differences are"
        " posted at the session's close to the `rounding` account. Sales already taken keep theirs."
    ),
    responses={422: {"description": "Invalid input (an increment finer than the currency)"}},
)
async def set_cash_rounding(
    body: c.SetCashRounding, api: Annotated[Api, Depends(writer("pos:settings"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.CashRoundingView:
        company = company_in_scope(session, api.principal, body.company_id)
        return cash_rounding.set_rounding(session, ctx, company, body)

    return await api.command(work)


# -- the web POS screen's reads (docs/pos.md#the-pos-screen) --------------------------------------


@router.get(
    "/pos/terminals/{terminal_id}/catalogue",
    response_model=till.TillCatalogue,
    summary="A terminal's catalogue snapshot",
    description="What a till needs to sell offline: products with barcodes and price-list prices, tax"
    " rules, promotions in force, payment methods, the discount limit and the cash rounding.",
)
def terminal_catalogue(terminal_id: uuid.UUID, api: Annotated[Api, Depends(reader("pos:sell"))]) -> Any:
    return api.read(lambda session: till.catalogue(session, api.principal, terminal_id))


@router.get(
    "/pos/receipts/{number}",
    response_model=OrderView,
    summary="A till sale by its receipt number",
    description="By order number (`T1-0007-00042`) or the sale's `client_uuid`: the order, for a refund.",
)
def get_receipt(
    number: Annotated[Text, Path(max_length=64, description="The receipt's order number or client uuid.")],
    api: Annotated[Api, Depends(reader("pos:sell"))],
) -> Any:
    def work(session: Session) -> OrderView:
        company = company_in_scope(session, api.principal, None)
        return till.receipt(session, api.principal, company, number)

    return api.read(work)
