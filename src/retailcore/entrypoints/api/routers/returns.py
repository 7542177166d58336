"""Returns over HTTP: request, receive, inspect, refund, cancel; card refunds awaiting the gateway; the
return policy and disposition rules; credit notes.

Thin: each route parses, checks the permission, and calls one service of ``retailcore.returns``. Reading
needs ``returns:read``, driving a return ``returns:write``, confirming or failing a card refund
``returns:refunds``, setting the policy and dispositions ``returns:policy``. Every POST and PUT honours
``Idempotency-Key``. No ``from __future__ import annotations``: FastAPI reads the route
annotations at runtime.
"""

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import NotFound
from retailcore.core.inputs import Day, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, with_store_ids
from retailcore.masterdata.tables import Company
from retailcore.returns import commands as c
from retailcore.returns import dispositions as rules
from retailcore.returns import services as svc
from retailcore.returns.tables import CreditNoteRow, ReturnRow

router = APIRouter(route_class=DecimalRoute, tags=["returns"])

CONFLICTS = {
    409: {
        "description": "A refused state change, a return beyond what was sold minus returned, a refund beyond"
        " what a tender captured, an uncaptured card, cash or no-receipt against the policy"
    },
    422: {"description": "Invalid input: an unknown line, tenders that do not add up"},
}


def _company_of(session: Session, principal: Principal, return_id: uuid.UUID) -> Company:
    row = session.get(ReturnRow, return_id)
    if row is None or not principal.sees_company(row.company_id):
        raise NotFound(f"no return {return_id}")
    company = session.get(Company, row.company_id)
    assert company is not None
    return company


@router.post(
    "/returns",
    status_code=201,
    response_model=c.ReturnView,
    summary="Request a return",
    description=(
        "Against lines of an order of any channel (`order_id`, `lines[].order_line_id`), claiming their"
        " quantities: never more than delivered minus already returned (`409 return-exceeds-sold`). Without"
        " `order_id`, a no-receipt return (`product_id`, `unit_price`), if the company's policy and the"
        " caller's role allow it. `store_id` is the receiving store or warehouse."
    ),
    responses=CONFLICTS,
)
async def request_return(
    body: c.RequestReturn, api: Annotated[Api, Depends(writer("returns:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ReturnView:
        company = company_in_scope(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        return svc.request_return(session, ctx, company, request)

    return await api.command(work, status_code=201, location=lambda r: f"/api/v1/returns/{r.id}")


class ReturnQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    status: c.Status | None = None
    channel: Literal["pos", "web", "marketplace", "b2b"] | None = None
    store_id: StoreRef | None = Field(None, description="The receiving store (code or id).")
    reason: c.Reason | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class ReturnPage(BaseModel):
    items: list[c.ReturnView]
    next_cursor: uuid.UUID | None


@router.get("/returns", response_model=ReturnPage, summary="List returns")
def list_returns(
    params: Annotated[ReturnQuery, Query()], api: Annotated[Api, Depends(reader("returns:read"))]
) -> Any:
    def work(session: Session) -> ReturnPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = with_store_ids(session, api.principal, company, params, "store_id")
        items, next_cursor = svc.list_returns(
            session,
            api.principal,
            company,
            status=query.status,
            channel=query.channel,
            store_id=query.store_id,  # type: ignore[arg-type]  # resolved to an id
            reason=query.reason,
            limit=query.limit,
            cursor=query.cursor,
        )
        return ReturnPage(items=items, next_cursor=next_cursor)

    return api.read(work)


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    by: Literal["reason", "channel", "store", "category", "cashier", "customer"] = "reason"
    no_receipt: bool | None = Field(
        None, description="Only no-receipt returns (true) or only with a receipt."
    )
    since: Day | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: text(max_length=200) | None = Field(None, description="The `next_cursor` of the previous page.")


class ReturnsByRow(BaseModel):
    key: str | None
    lines: int
    quantity: DecimalStr
    refunded_quantity: DecimalStr
    refunded_net: DecimalStr
    refunded_tax: DecimalStr


class ReturnsByPage(BaseModel):
    items: list[ReturnsByRow]
    next_cursor: str | None


@router.get(
    "/returns/report",
    response_model=ReturnsByPage,
    summary="Returns by reason, channel, store, category, cashier or customer",
    description="Read from the return lines' own indexed columns; `no_receipt=true` for no-receipt returns.",
)
def returns_report(
    params: Annotated[ReportQuery, Query()], api: Annotated[Api, Depends(reader("returns:read"))]
) -> Any:
    def work(session: Session) -> ReturnsByPage:
        company = company_in_scope(session, api.principal, params.company_id)
        rows = svc.returns_by(
            session, api.principal, company, params.by, no_receipt=params.no_receipt, since=params.since
        )
        keys = [str(row["key"]) for row in rows]
        start = keys.index(params.cursor) + 1 if params.cursor in keys else 0
        page = rows[start : start + params.limit]
        more = start + params.limit < len(rows)
        return ReturnsByPage(
            items=[ReturnsByRow(**row) for row in page], next_cursor=str(page[-1]["key"]) if more else None
        )

    return api.read(work)


class CardRefundQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    status: c.CardRefundStatus | Literal["all"] = Field("pending", description="`all` for every status.")
    gateway: text(min_length=1, max_length=64) | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class CardRefundPage(BaseModel):
    items: list[c.CardRefundView]
    next_cursor: uuid.UUID | None


@router.get(
    "/returns/pending-refunds",
    response_model=CardRefundPage,
    summary="Card refunds awaiting the gateway, with their age",
    description="Oldest first: what the company owes customers' cards and no gateway has confirmed yet.",
)
def pending_refunds(
    params: Annotated[CardRefundQuery, Query()], api: Annotated[Api, Depends(reader("returns:read"))]
) -> Any:
    def work(session: Session) -> CardRefundPage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_card_refunds(
            session,
            api.principal,
            company,
            status=None if params.status == "all" else params.status,
            gateway=params.gateway,
            limit=params.limit,
            cursor=params.cursor,
        )
        return CardRefundPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/returns/{return_id}", response_model=c.ReturnView, summary="Read a return")
def get_return(return_id: uuid.UUID, api: Annotated[Api, Depends(reader("returns:read"))]) -> Any:
    def work(session: Session) -> c.ReturnView:
        company = _company_of(session, api.principal, return_id)
        return svc.get_return(session, api.principal, company, return_id)

    return api.read(work)


async def _on_return(
    api: Api,
    return_id: uuid.UUID,
    service: Callable[[Session, CommandContext, Company, uuid.UUID, Any], BaseModel],
    body: BaseModel,
) -> Response:
    """One command on one return: the return's company, then the service."""

    def work(session: Session, ctx: CommandContext) -> BaseModel:
        return service(session, ctx, _company_of(session, api.principal, return_id), return_id, body)

    return await api.command(work)


@router.post(
    "/returns/{return_id}/receive",
    response_model=c.ReturnView,
    summary="Receive the goods of a return, or part of them",
    description=(
        "Each line's goods move from the customer to where its condition sends them (resaleable: sellable"
        " stock; damaged: the damaged location; defective: return-to-vendor), at the original sale's unit"
        " cost."
    ),
    responses=CONFLICTS,
)
async def receive(
    return_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("returns:write"))],
    body: c.ReceiveReturn | None = None,
) -> Response:
    return await _on_return(api, return_id, svc.receive_return, body or c.ReceiveReturn())


@router.post(
    "/returns/{return_id}/inspect",
    response_model=c.ReturnView,
    summary="Inspect received goods",
    description="A changed condition moves the received goods on to the new condition's location.",
    responses=CONFLICTS,
)
async def inspect(
    return_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("returns:write"))],
    body: c.InspectReturn | None = None,
) -> Response:
    return await _on_return(api, return_id, svc.inspect_return, body or c.InspectReturn())


@router.post(
    "/returns/{return_id}/refund",
    response_model=c.ReturnView,
    summary="Refund received goods, or part of them",
    description=(
        "Revenue and tax are reversed at the original line's prices, discounts and taxes. The refund goes"
        " to the original card (never beyond what it captured), cash if the sale was paid in cash or the"
        " policy allows it, store credit, or a card reference; less any `restocking_fee` (carrying output"
        " tax at the lines' rates when the policy says so). An invoiced order gets a credit note. Under the"
        " policy `card_refunds_await_confirmation`, card refunds stay payable until confirmed"
        " (`card_refunds`)."
    ),
    responses=CONFLICTS,
)
async def refund(
    return_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("returns:write"))],
    body: c.RefundReturn | None = None,
) -> Response:
    return await _on_return(api, return_id, svc.refund_return, body or c.RefundReturn())


@router.post(
    "/returns/{return_id}/cancel",
    response_model=c.ReturnView,
    summary="Cancel a return",
    description="Quantities never received can be returned again; received goods must be refunded first.",
    responses=CONFLICTS,
)
async def cancel(
    return_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("returns:write"))],
    body: c.CancelReturn | None = None,
) -> Response:
    return await _on_return(api, return_id, svc.cancel_return, body or c.CancelReturn())


async def _on_card_refund(
    api: Api, return_id: uuid.UUID, refund_id: uuid.UUID, service: Callable[..., BaseModel], *body: BaseModel
) -> Response:
    def work(session: Session, ctx: CommandContext) -> BaseModel:
        company = _company_of(session, api.principal, return_id)
        return service(session, ctx, company, return_id, refund_id, *body)

    return await api.command(work)


@router.post(
    "/returns/{return_id}/refunds/{refund_id}/confirm",
    response_model=c.CardRefundView,
    summary="Confirm a card refund the gateway paid",
    description=(
        "Clears the refund payable against the gateway's clearing account. Confirming a confirmed refund"
        " changes nothing; a failed one is `409 invalid-state-transition`."
    ),
    responses=CONFLICTS,
)
async def confirm_card_refund(
    return_id: uuid.UUID, refund_id: uuid.UUID, api: Annotated[Api, Depends(writer("returns:refunds"))]
) -> Response:
    return await _on_card_refund(api, return_id, refund_id, svc.confirm_refund)


@router.post(
    "/returns/{return_id}/refunds/{refund_id}/fail",
    response_model=c.CardRefundView,
    summary="Record that the gateway refused a card refund",
    description=(
        "The original card can be refunded again (its reservation is released); the amount stays owed"
        " (`failed`, still in refunds payable) until reissued, or goes at once to `tenders`."
    ),
    responses=CONFLICTS,
)
async def fail_card_refund(
    return_id: uuid.UUID,
    refund_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("returns:refunds"))],
    body: c.FailCardRefund | None = None,
) -> Response:
    return await _on_card_refund(api, return_id, refund_id, svc.fail_refund, body or c.FailCardRefund())


@router.post(
    "/returns/{return_id}/refunds/{refund_id}/reissue",
    response_model=c.CardRefundView,
    summary="Pay a failed card refund to other tenders, or a card again",
    responses=CONFLICTS,
)
async def reissue_card_refund(
    return_id: uuid.UUID,
    refund_id: uuid.UUID,
    body: c.ReissueCardRefund,
    api: Annotated[Api, Depends(writer("returns:refunds"))],
) -> Response:
    return await _on_card_refund(api, return_id, refund_id, svc.reissue_refund, body)


class PolicyView(BaseModel):
    company_id: uuid.UUID
    no_receipt_allowed: bool
    no_receipt_roles: list[str]
    cash_refunds_allowed: bool
    card_refunds_await_confirmation: bool
    restocking_fee_taxable: bool


@router.post(
    "/return-policy",
    response_model=PolicyView,
    summary="Set the company's return policy",
    description="Whether no-receipt returns are taken and by which roles; whether cash refunds are allowed"
    " for sales not paid in cash; whether card refunds await the gateway's confirmation; whether a"
    " restocking fee carries output tax.",
    responses={422: {"description": "Invalid input"}},
)
async def set_policy(
    body: c.ReturnPolicyIn, api: Annotated[Api, Depends(writer("returns:policy"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> PolicyView:
        company = company_in_scope(session, api.principal, body.company_id)
        row = svc.set_policy(session, ctx, company, body)
        return PolicyView(
            company_id=row.company_id,
            no_receipt_allowed=row.no_receipt_allowed,
            no_receipt_roles=list(row.no_receipt_roles),
            cash_refunds_allowed=row.cash_refunds_allowed,
            card_refunds_await_confirmation=row.card_refunds_await_confirmation,
            restocking_fee_taxable=row.restocking_fee_taxable,
        )

    return await api.command(work)


class DispositionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)


@router.get(
    "/return-dispositions",
    response_model=c.DispositionsView,
    summary="Where returned goods go, by condition",
    description="One rule per condition: the company's own, else the default (`default: true`).",
)
def get_dispositions(
    params: Annotated[DispositionQuery, Query()], api: Annotated[Api, Depends(reader("returns:read"))]
) -> Any:
    def work(session: Session) -> c.DispositionsView:
        return rules.dispositions(session, company_in_scope(session, api.principal, params.company_id))

    return api.read(work)


@router.put(
    "/return-dispositions",
    response_model=c.DispositionsView,
    summary="Replace the company's disposition rules",
    description=(
        "Each condition at most once, naming a kind of location (and a code) the company has; a condition"
        " left out goes back to its default. An unknown condition or location is `422`, naming the field."
    ),
    responses={422: {"description": "Invalid input: an unknown condition or location"}},
)
async def put_dispositions(
    body: c.SetDispositions, api: Annotated[Api, Depends(writer("returns:policy"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.DispositionsView:
        company = company_in_scope(session, api.principal, body.company_id)
        return rules.set_dispositions(session, ctx, company, body)

    return await api.command(work)


class CreditNoteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class CreditNotePage(BaseModel):
    items: list[c.CreditNoteView]
    next_cursor: uuid.UUID | None


@router.get("/credit-notes", response_model=CreditNotePage, summary="List credit notes", tags=["invoices"])
def list_credit_notes(
    params: Annotated[CreditNoteQuery, Query()], api: Annotated[Api, Depends(reader("returns:read"))]
) -> Any:
    def work(session: Session) -> CreditNotePage:
        company = company_in_scope(session, api.principal, params.company_id)
        items, next_cursor = svc.list_credit_notes(session, company, limit=params.limit, cursor=params.cursor)
        return CreditNotePage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get(
    "/credit-notes/{note_id}",
    response_model=c.CreditNoteView,
    summary="Read a credit note",
    tags=["invoices"],
)
def get_credit_note(note_id: uuid.UUID, api: Annotated[Api, Depends(reader("returns:read"))]) -> Any:
    def work(session: Session) -> c.CreditNoteView:
        row = session.get(CreditNoteRow, note_id)
        if row is None or not api.principal.sees_company(row.company_id):
            raise NotFound(f"no credit note {note_id}")
        company = session.get(Company, row.company_id)
        assert company is not None
        return svc.get_credit_note(session, api.principal, company, note_id)

    return api.read(work)
