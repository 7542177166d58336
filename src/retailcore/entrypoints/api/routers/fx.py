"""Exchange rates and period-end revaluation (rules: ``accounting/fx.py``, docs/fx-and-reconciliation.md).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.accounting import fx
from retailcore.accounting import tables as a
from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Day, text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.pages import IdPageQuery, PageOf
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, CurrencyCode
from retailcore.masterdata.services import company_in_scope

router = APIRouter(route_class=DecimalRoute)

PROBLEMS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The token's role lacks the permission"},
    422: {"description": "Invalid input (problem+json naming the fields)"},
}


# -- exchange rates --------------------------------------------------------------------------------


class SetExchangeRate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    currency: CurrencyCode = Field(description="ISO 4217 code, not the company currency.")
    date: Day = Field(description="The rate applies from this date until the next rate.")
    rate: Decimal = Field(
        description="Company currency per one unit of `currency`, > 0, at most 8 decimals.",
        allow_inf_nan=False,
        examples=["1.0845"],
    )
    replace: bool = Field(False, description="Replace an existing rate of the same currency and date.")
    source: text(min_length=1, max_length=64) = Field("manual", description="Where the rate comes from.")


class ExchangeRateView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    currency: str
    date: dt.date
    rate: DecimalStr
    source: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: a.ExchangeRate) -> "ExchangeRateView":
        return cls(
            id=row.id,
            company_id=row.company_id,
            currency=row.currency,
            date=row.rate_date,
            rate=row.rate,
            source=row.source,
            created_at=row.created_at,
        )


class RateQuery(IdPageQuery):
    currency: CurrencyCode | None = None
    date_from: Day | None = Field(None, description="Rates dated on or after this day.")
    date_to: Day | None = Field(None, description="Rates dated on or before this day.")


class EffectiveRateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    currency: CurrencyCode
    on: Day = Field(description="Transaction date.")


class EffectiveRateView(BaseModel):
    currency: str
    on: dt.date
    rate: DecimalStr


@router.post(
    "/exchange-rates",
    status_code=201,
    response_model=ExchangeRateView,
    tags=["exchange-rates"],
    summary="Set an exchange rate",
    description="Refused with 409 `exchange-rate-exists` if the currency already has a rate on that date,"
    " unless `replace` is true. Records an `ExchangeRateSet` event.",
    responses={**PROBLEMS, 409: {"description": "A rate exists for that currency and date"}},
)
async def set_exchange_rate(
    body: SetExchangeRate, api: Annotated[Api, Depends(writer("exchange_rates:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> ExchangeRateView:
        company = company_in_scope(session, ctx.principal, body.company_id)
        row = fx.set_rate(
            session,
            ctx,
            company,
            currency=body.currency,
            rate_date=body.date,
            rate=body.rate,
            replace=body.replace,
            source=body.source,
        )
        return ExchangeRateView.of(row)

    return await api.command(
        work, status_code=201, location=lambda result: f"/api/v1/exchange-rates/{result.id}"
    )


@router.get(
    "/exchange-rates",
    response_model=PageOf[ExchangeRateView],
    tags=["exchange-rates"],
    summary="List exchange rates",
    description="By currency, then date.",
    responses=PROBLEMS,
)
def list_exchange_rates(
    params: Annotated[RateQuery, Query()], api: Annotated[Api, Depends(reader("exchange_rates:read"))]
) -> Any:
    def work(session: Session) -> PageOf[ExchangeRateView]:
        company = company_in_scope(session, api.principal, params.company_id)
        rows, last = fx.rates_page(
            session,
            company.id,
            currency=params.currency,
            date_from=params.date_from,
            date_to=params.date_to,
            limit=params.limit,
            cursor=params.cursor,
        )
        return PageOf.of([ExchangeRateView.of(row) for row in rows], last)

    return api.read(work)


# Declared before /exchange-rates/{rate_id} so that "effective" is not read as an id.
@router.get(
    "/exchange-rates/effective",
    response_model=EffectiveRateView,
    tags=["exchange-rates"],
    summary="The rate a transaction of a date is booked at",
    description="The latest rate on or before `on`; 422 `no-exchange-rate` if there is none.",
    responses=PROBLEMS,
)
def effective_rate(
    params: Annotated[EffectiveRateQuery, Query()],
    api: Annotated[Api, Depends(reader("exchange_rates:read"))],
) -> Any:
    def work(session: Session) -> EffectiveRateView:
        company = company_in_scope(session, api.principal, params.company_id)
        rate = fx.rate_lookup(session, company, params.currency, params.on)
        return EffectiveRateView(currency=params.currency, on=params.on, rate=rate)

    return api.read(work)


@router.get(
    "/exchange-rates/{rate_id}",
    response_model=ExchangeRateView,
    tags=["exchange-rates"],
    summary="Get an exchange rate",
    responses={**PROBLEMS, 404: {"description": "No such rate in the token's scope"}},
)
def get_exchange_rate(
    rate_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("exchange_rates:read"))]
) -> Any:
    scope = None if api.principal.company_id is None else [api.principal.company_id]
    return api.read(lambda session: ExchangeRateView.of(fx.get_rate(session, scope, rate_id)))


# -- revaluation -----------------------------------------------------------------------------------


class Revalue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    as_of: Day = Field(description="Period end: balances at this date, revalued at its rate.")


class RevaluedBalanceView(BaseModel):
    account_id: uuid.UUID
    account_code: str
    account_name: str
    currency: str
    amount_currency: DecimalStr
    rate: DecimalStr
    booked: DecimalStr
    revalued: DecimalStr
    difference: DecimalStr
    kind: Literal["gain", "loss", "none"]


class RevaluationView(BaseModel):
    company_id: uuid.UUID
    as_of: dt.date
    revalued: bool = Field(description="False when no balance needed revaluing (nothing was posted).")
    entry_id: uuid.UUID | None
    entry_number: str | None
    reversal_id: uuid.UUID | None
    reversal_number: str | None
    reversal_date: dt.date | None
    total_gain: DecimalStr
    total_loss: DecimalStr
    balances: list[RevaluedBalanceView]

    @classmethod
    def of(cls, result: fx.RevaluationResult) -> "RevaluationView":
        entry, reversal = result.entry, result.reversal
        return cls(
            company_id=result.company_id,
            as_of=result.as_of,
            revalued=entry is not None,
            entry_id=entry.id if entry else None,
            entry_number=entry.number if entry else None,
            reversal_id=reversal.id if reversal else None,
            reversal_number=reversal.number if reversal else None,
            reversal_date=reversal.date if reversal else None,
            total_gain=result.total_gain,
            total_loss=result.total_loss,
            balances=[
                RevaluedBalanceView(
                    account_id=b.account_id,
                    account_code=b.account_code,
                    account_name=b.account_name,
                    currency=b.currency,
                    amount_currency=b.amount_currency,
                    rate=b.rate,
                    booked=b.booked,
                    revalued=b.revalued,
                    difference=b.difference,
                    kind=b.kind,
                )
                for b in result.balances
            ],
        )


@router.post(
    "/ledger/revaluations",
    response_model=RevaluationView,
    tags=["ledger"],
    summary="Revalue open foreign-currency balances at a period end",
    description="Posts one `FX` entry dated `as_of` (unrealized gains and losses) and its reversal dated"
    " the next day; records `LedgerRevalued`. 409 `already-revalued` if the date was revalued before;"
    " 422 `no-exchange-rate` if a currency has no rate on or before `as_of`. With nothing to revalue,"
    " answers `revalued: false` and posts nothing.",
    responses={**PROBLEMS, 409: {"description": "Already revalued on that date, or the period is locked"}},
)
async def revalue(body: Revalue, api: Annotated[Api, Depends(writer("ledger:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> RevaluationView:
        company = company_in_scope(session, ctx.principal, body.company_id)
        return RevaluationView.of(fx.revalue(session, ctx, company, body.as_of))

    return await api.command(work)
