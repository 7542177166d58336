"""Routes for the exports of the books (docs/exports.md): a SAF-T Financial file, the general ledger and
the journals as CSV, for one month.

Each route checks everything that can be refused (the period, the company, a currency SAF-T cannot
hold) in a first short read, so that a refusal is a problem document; only then does the answer start,
streamed from a session of its own (``Api.stream``) a chunk at a time, never built in memory.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the parameter
annotations of the route functions, and they must be real classes.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from retailcore.core.errors import PermissionDenied
from retailcore.core.inputs import text
from retailcore.entrypoints.api.deps import Api, replica_reader
from retailcore.entrypoints.api.references import CompanyParam
from retailcore.exports import saft
from retailcore.exports import services as x
from retailcore.masterdata.services import Ref, company_in_scope
from retailcore.masterdata.tables import Company

router = APIRouter(prefix="/exports", tags=["exports"])

# Exports stream from the replica when one is configured, within its staleness bound (decision 0086).
ExportsApi = Annotated[Api, Depends(replica_reader("exports:read"))]
PeriodQuery = Annotated[
    text(max_length=16), Query(description="The month to export, `YYYY-MM`.", examples=["2026-11"])
]

DENIED = {403: {"description": "The role may not export the books, or the token is scoped to one store"}}
INVALID = {422: {"description": "A bad period, or a company SAF-T cannot hold (the problem names it)"}}


def _prepare(
    api: Api,
    company_id: Ref | None,
    period: str,
    check: Callable[[Session, Company, x.ExportPeriod], None] | None = None,
) -> tuple[uuid.UUID, x.ExportPeriod]:
    """The company and the period, or the refusal, before the first byte is sent."""
    if api.principal.store_id is not None:
        raise PermissionDenied("exports cover a whole company; use a token not scoped to a store")
    x.parse_period(period)  # a malformed period is refused before the company is looked up

    def work(session: Session) -> tuple[uuid.UUID, x.ExportPeriod]:
        company = company_in_scope(session, api.principal, company_id)
        span = x.resolve_period(session, company.id, period)
        if check is not None:
            check(session, company, span)
        return company.id, span

    return api.read(work)


def _streamed(
    api: Api, chunks: Callable[[Session], Iterator[bytes]], media_type: str, filename: str
) -> StreamingResponse:
    def work(session: Session) -> Iterator[bytes]:
        x.snapshot(session)
        yield from chunks(session)

    return StreamingResponse(
        api.stream(work),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/saft",
    summary="SAF-T Financial file of a month",
    description=(
        "The Norwegian SAF-T Financial v1.30 file of the company for the month: header, chart with "
        "opening and closing balances, customers, tax table, dimensions, and every posted journal entry "
        "of the month with its lines. Streamed; amounts with two decimals. See docs/exports.md for the "
        "field mapping."
    ),
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/xml": {"schema": {"type": "string"}}}, "description": "The file"},
        **DENIED,
        **INVALID,
    },
)
def saft_file(api: ExportsApi, period: PeriodQuery, company_id: CompanyParam = None) -> Any:
    company, span = _prepare(api, company_id, period, saft.check_file)
    created = dt.datetime.now(dt.UTC).date()

    def chunks(session: Session) -> Iterator[bytes]:
        target = session.get(Company, company)
        assert target is not None  # found by _prepare; companies are never deleted
        return saft.saft_file(session, target, span, created=created, user=api.principal.actor)

    return _streamed(api, chunks, "application/xml", f"SAF-T_{span.code}.xml")


CSV_OK = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The CSV file"}}


@router.get(
    "/gl.csv",
    summary="General ledger lines of a month, as CSV",
    description=(
        "One row per posted journal line of the month: date, journal, entry number, line, account code "
        "and name, debit, credit, currency, dimensions, tax code and base, description, reference and "
        "the event behind it. Streamed."
    ),
    response_class=StreamingResponse,
    responses={**CSV_OK, **DENIED, **INVALID},
)
def general_ledger_csv(api: ExportsApi, period: PeriodQuery, company_id: CompanyParam = None) -> Any:
    company, span = _prepare(api, company_id, period)
    return _streamed(
        api,
        lambda session: x.general_ledger_csv(session, company, span),
        "text/csv; charset=utf-8",
        f"gl_{span.code}.csv",
    )


@router.get(
    "/journals.csv",
    summary="Journal entries of a month, as CSV",
    description=(
        "One row per posted journal entry of the month: date, journal, number, reference, line count, "
        "debits, credits, the entry it reverses, the event behind it, who created and posted it. Streamed."
    ),
    response_class=StreamingResponse,
    responses={**CSV_OK, **DENIED, **INVALID},
)
def journals_csv(api: ExportsApi, period: PeriodQuery, company_id: CompanyParam = None) -> Any:
    company, span = _prepare(api, company_id, period)
    return _streamed(
        api,
        lambda session: x.journal_csv(session, company, span),
        "text/csv; charset=utf-8",
        f"journals_{span.code}.csv",
    )
