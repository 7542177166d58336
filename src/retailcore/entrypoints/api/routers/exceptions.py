"""The one exceptions console over HTTP: list (filters, by age or priority), one, acknowledge, assign,
resolve, a person's class, and the triage run (decision 0076). Thin: the rules are in
:mod:`retailcore.monitoring` and :mod:`retailcore.analytics.triage.services`.

Store-scoped tokens see their store's exceptions only (stock kinds carry their store); the others, and
those of other stores, are not found.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.analytics.triage import services as triage
from retailcore.core.errors import NotFound, PermissionDenied
from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, with_store_ids
from retailcore.masterdata.tables import Company
from retailcore.monitoring import commands as c
from retailcore.monitoring import queries as q
from retailcore.monitoring import services as svc
from retailcore.monitoring.tables import EXCEPTION_TYPES, ExceptionCase

router = APIRouter(route_class=DecimalRoute, tags=["exceptions"])

ExceptionType = Literal[EXCEPTION_TYPES]  # type: ignore[valid-type]
Severity = Literal["low", "medium", "high", "critical"]
ExceptionId = Annotated[uuid.UUID, Path(description="The exception's id.")]


class ExceptionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    type: ExceptionType | None = None
    kind: ExceptionType | None = Field(None, description="The same as `type` (the stock queue's name).")
    status: Literal["open", "acknowledged", "resolved", "unresolved"] | None = Field(
        None, description="`unresolved`: open or acknowledged."
    )
    severity: Severity | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id.")
    owner: Text | None = None
    product_id: uuid.UUID | None = None
    order_id: uuid.UUID | None = None
    connector_id: uuid.UUID | None = None
    sort: Literal["age", "priority"] = Field(
        "age", description="`age`: oldest first (the default); `priority`: highest priority first."
    )
    limit: int = Field(50, ge=1, le=500)
    cursor: Text | None = Field(None, description="The `next_cursor` of the previous page.")


def _company_of(session: Session, principal: Principal, exception_id: uuid.UUID) -> Company:
    """The company of an exception, if the caller may see it (its store is checked by the service)."""
    company_id = session.scalar(select(ExceptionCase.company_id).where(ExceptionCase.id == exception_id))
    if company_id is None or not principal.sees_company(company_id):
        raise NotFound(f"no exception {exception_id}")
    company = session.get(Company, company_id)
    assert company is not None
    return company


@router.get(
    "/exceptions",
    response_model=c.ExceptionPage,
    summary="The exceptions console",
    description="Everything that needs a person: failed syncs and dead letters, duplicates, tax and"
    " payment mismatches, stock exceptions (oversold, negative, a channel's quantity differing, bills"
    " off their receipt). Oldest first, or `sort=priority`: severity x class weight x money at risk x"
    " age, counted at the time of the request. Payment and stock exceptions carry a triage class"
    " (`exception_class`, `class_confidence`, `class_source`: rule, model or person).",
)
def list_exceptions(
    params: Annotated[ExceptionQuery, Query()], api: Annotated[Api, Depends(reader("exceptions:read"))]
) -> Any:
    def work(session: Session) -> c.ExceptionPage:
        company = company_in_scope(session, api.principal, params.company_id)
        query = with_store_ids(session, api.principal, company, params, "store_id")
        filters = query.model_dump(exclude={"company_id", "kind"})
        filters["type"] = query.type or query.kind
        return q.list_exceptions(session, company, visible_store_id=api.principal.store_id, **filters)

    return api.read(work)


@router.get("/exceptions/{exception_id}", response_model=c.ExceptionView, summary="One exception")
def get_exception(exception_id: ExceptionId, api: Annotated[Api, Depends(reader("exceptions:read"))]) -> Any:
    def work(session: Session) -> c.ExceptionView:
        company = _company_of(session, api.principal, exception_id)
        return q.view(svc.get(session, None, company, exception_id, store_id=api.principal.store_id))

    return api.read(work)


@router.post(
    "/exceptions/{exception_id}/acknowledge",
    response_model=c.ExceptionView,
    summary="Acknowledge an exception (open -> acknowledged)",
)
async def acknowledge_exception(
    exception_id: ExceptionId,
    api: Annotated[Api, Depends(writer("exceptions:write"))],
    body: c.ExceptionNote | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ExceptionView:
        company = _company_of(session, api.principal, exception_id)
        return q.view(svc.acknowledge(session, ctx, company, exception_id, note=body.note if body else ""))

    return await api.command(work)


@router.post(
    "/exceptions/{exception_id}/assign",
    response_model=c.ExceptionView,
    summary="Give an unresolved exception an owner",
)
async def assign_exception(
    exception_id: ExceptionId,
    body: c.AssignException,
    api: Annotated[Api, Depends(writer("exceptions:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ExceptionView:
        company = _company_of(session, api.principal, exception_id)
        row = svc.assign(session, ctx, company, exception_id, owner=body.owner, note=body.note)
        return q.view(row)

    return await api.command(work)


@router.post(
    "/exceptions/{exception_id}/resolve",
    response_model=c.ExceptionView,
    summary="Resolve an exception (final)",
)
async def resolve_exception(
    exception_id: ExceptionId,
    api: Annotated[Api, Depends(writer("exceptions:write"))],
    body: c.ExceptionNote | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ExceptionView:
        company = _company_of(session, api.principal, exception_id)
        return q.view(svc.resolve(session, ctx, company, exception_id, note=body.note if body else ""))

    return await api.command(work)


@router.post(
    "/exceptions/{exception_id}/class",
    response_model=c.ExceptionView,
    summary="Give an exception its class (a person's: wins over rules and the model)",
)
async def classify_exception(
    exception_id: ExceptionId,
    body: c.SetExceptionClass,
    api: Annotated[Api, Depends(writer("exceptions:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.ExceptionView:
        company = _company_of(session, api.principal, exception_id)
        row = triage.set_class(
            session, ctx, company, exception_id, exception_class=body.exception_class, note=body.note
        )
        return q.view(row)

    return await api.command(work)


@router.post(
    "/exceptions/triage",
    response_model=c.TriageResult,
    summary="Re-classify the company's open payment and stock exceptions",
    description="Rules first, then a classifier trained on the company's labelled exceptions (rules'"
    " and people's classes) suggests a class with a confidence where the rules cannot decide; rules"
    " only while fewer than 20 are labelled. The priority follows each class.",
)
async def triage_exceptions(
    api: Annotated[Api, Depends(writer("exceptions:write"))],
    company_id: Annotated[CompanyRef | None, Query(description=COMPANY_DEFAULT)] = None,
    body: c.TriageRequest | None = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> c.TriageResult:
        if api.principal.store_id is not None:
            # The triage reads and re-classes every store's exceptions: a company token's job.
            raise PermissionDenied("a store-scoped token cannot triage the company's exceptions")
        company = company_in_scope(session, api.principal, company_id)
        retrain = body.retrain if body is not None else True
        return c.TriageResult(**triage.triage(session, ctx, company, retrain=retrain))

    return await api.command(work)
