"""Replenishment suggestions over HTTP: list, suggest now, accept (one or many, all or nothing), dismiss.

The rules live in :mod:`retailcore.analytics.replenishment.services`; this module only maps requests to it.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.analytics.replenishment import queries as q
from retailcore.analytics.replenishment import services as rp
from retailcore.core.decimals import DecimalStr
from retailcore.core.errors import FieldProblem, NotFound, ValidationFailed
from retailcore.core.inputs import Day
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, store_filter
from retailcore.masterdata.tables import Company

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The token's role lacks the permission"},
    404: {"description": "No such suggestion in the token's company"},
    409: {
        "description": "A suggestion was accepted or dismissed already, or the estimator has no estimate"
        " (no forecast run yet): nothing is written"
    },
    422: {"description": "Invalid input (problem+json naming the fields)"},
}

router = APIRouter(route_class=DecimalRoute, responses=PROBLEMS, tags=["replenishment"])
BASE = "/replenishment/suggestions"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SuggestionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    state: Literal["suggested", "accepted", "dismissed"] | None = None
    kind: Literal["purchase", "transfer"] | None = None
    store_id: StoreRef | None = Field(None, description="Store code or id the goods go to.")
    product_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


ServiceLevel = Annotated[Decimal, Field(gt=0, lt=1, max_digits=9, decimal_places=8)]
"""The chance of not running out in a cycle, above 0 and below 1."""


class SuggestRun(Request):
    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    as_of: Day | None = Field(None, description="The day demand is estimated up to; today by default.")
    service_level: ServiceLevel = Decimal("0.95")
    review_days: int = Field(7, ge=1, le=365, description="The review period R of the order-up-to level.")
    transfer_lead_days: int = Field(1, ge=0, le=365, description="Days a transfer from the warehouse takes.")
    run_every_days: int = Field(
        0,
        ge=0,
        le=365,
        description="Days until the next run: the reorder point covers the lead time plus these (0: the"
        " lead time alone). Suggestions run daily want 1 (decision 0081).",
    )
    store_review_days: int | None = Field(
        None, ge=1, le=365, description="The stores' own review period R; `review_days` by default."
    )
    class_service_levels: dict[Literal["A", "B", "C"], ServiceLevel] | None = Field(
        None,
        description="A service level per ABC class of the network's demand value (A: the first 80 %, B:"
        ' the next 15 %, C: the rest), e.g. `{"A": "0.995", "B": "0.99", "C": "0.95"}`; a class without'
        " one takes `service_level`.",
    )
    estimator: Literal["forecast", "trailing"] | str = Field(
        rp.DEFAULT_ESTIMATOR,
        description="`forecast`: the latest forecast run (POST /forecasts/runs first); `trailing`: the "
        "mean and deviation of the last 28 days' sales (the baseline).",
    )


class RunView(BaseModel):
    run_id: uuid.UUID
    as_of: dt.date
    purchases: int
    transfers: int
    replaced: int
    without_source: int
    estimates: int
    items: list[q.SuggestionView]


class AcceptMany(Request):
    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=5000)]


class AcceptedView(BaseModel):
    purchase_order_ids: list[uuid.UUID]
    transfer_ids: list[uuid.UUID]
    total_quantity: DecimalStr
    items: list[q.SuggestionView]


@router.get(BASE, response_model=q.SuggestionPage, summary="List replenishment suggestions")
def list_suggestions(
    params: Annotated[SuggestionQuery, Query()], api: Annotated[Api, Depends(reader("purchasing:read"))]
) -> Any:
    def work(session: Session) -> q.SuggestionPage:
        company = company_in_scope(session, api.principal, params.company_id)
        store_id = store_filter(session, api.principal, params.store_id, company=company)
        return q.list_suggestions(
            session,
            company.id,
            state=params.state,
            kind=params.kind,
            store_id=store_id,
            product_id=params.product_id,
            run_id=params.run_id,
            limit=params.limit,
            cursor=params.cursor,
        )

    return api.read(work)


@router.post(
    f"{BASE}/runs",
    status_code=201,
    response_model=RunView,
    summary="Suggest replenishment now",
    description="Estimates demand, computes reorder points and order-up-to levels per product and"
    " location, and stores purchase and transfer suggestions, replacing the company's open ones.",
)
async def suggest(body: SuggestRun, api: Annotated[Api, Depends(writer("purchasing:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> RunView:
        company = company_in_scope(session, api.principal, body.company_id)
        estimator = rp.ESTIMATORS.get(body.estimator)
        if estimator is None:
            raise ValidationFailed(
                f"no estimator {body.estimator!r}",
                problems=[FieldProblem("estimator", f"one of {', '.join(sorted(rp.ESTIMATORS))}")],
            )
        run = rp.suggest(
            session,
            ctx,
            company,
            as_of=body.as_of or dt.datetime.now(dt.UTC).date(),
            service_level=body.service_level,
            review_days=body.review_days,
            transfer_lead_days=body.transfer_lead_days,
            estimator=estimator,
            run_every_days=body.run_every_days,
            store_review_days=body.store_review_days,
            class_service_levels=body.class_service_levels,
        )
        return RunView(
            run_id=run.run_id,
            as_of=run.as_of,
            purchases=sum(1 for s in run.suggestions if s.kind == "purchase"),
            transfers=sum(1 for s in run.suggestions if s.kind == "transfer"),
            replaced=run.replaced,
            without_source=run.without_source,
            estimates=run.estimates,
            items=q.views(session, run.suggestions),
        )

    return await api.command(work, status_code=201)


def _company_of(session: Session, api: Api, suggestion_id: uuid.UUID) -> Company:
    """The suggestion's company, if the caller may see it (else: not found)."""
    company_id = q.company_of(session, suggestion_id)
    if company_id is None or not api.principal.sees_company(company_id):
        raise NotFound(f"no suggestion {suggestion_id}")
    return company_in_scope(session, api.principal, company_id)


def _accepted(session: Session, accepted: rp.Accepted) -> AcceptedView:
    items = q.views(session, accepted.suggestions)
    return AcceptedView(
        purchase_order_ids=[o.id for o in accepted.purchase_orders],
        transfer_ids=[t.id for t in accepted.transfers],
        total_quantity=q.total_quantity(items),
        items=items,
    )


@router.post(
    f"{BASE}/accept",
    response_model=AcceptedView,
    summary="Accept suggestions (all or nothing)",
    description="One confirmed PO per supplier and one draft transfer per source and destination; 409 and"
    " nothing written if any suggestion was decided already.",
)
async def accept_many(body: AcceptMany, api: Annotated[Api, Depends(writer("purchasing:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> AcceptedView:
        company = company_in_scope(session, api.principal, body.company_id)
        return _accepted(session, rp.accept(session, ctx, company, body.ids))

    return await api.command(work)


@router.post(f"{BASE}/{{suggestion_id}}/accept", response_model=AcceptedView, summary="Accept one suggestion")
async def accept_one(
    suggestion_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> AcceptedView:
        company = _company_of(session, api, suggestion_id)
        return _accepted(session, rp.accept(session, ctx, company, [suggestion_id]))

    return await api.command(work)


@router.post(
    f"{BASE}/{{suggestion_id}}/dismiss", response_model=q.SuggestionView, summary="Dismiss a suggestion"
)
async def dismiss(
    suggestion_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("purchasing:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> q.SuggestionView:
        company = _company_of(session, api, suggestion_id)
        return q.views(session, [rp.dismiss(session, ctx, company, suggestion_id)])[0]

    return await api.command(work)
