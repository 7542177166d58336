"""Anomaly detection on discounts and returns over HTTP (decision 0075): the latest scan's alerts,
the scans, and starting one. Reading needs ``exceptions:read`` and scanning ``exceptions:write``: the
alerts are exceptions of the console, for the same people.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.analytics.anomalies import commands as c
from retailcore.analytics.anomalies import queries as q
from retailcore.analytics.anomalies import services as detector
from retailcore.core.inputs import Day, Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, StoreRef
from retailcore.masterdata.services import company_in_scope, store_in_scope

router = APIRouter(route_class=DecimalRoute, tags=["anomalies"])


class AlertQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    store: StoreRef | None = Field(None, description="Only this store's rows (code or id).")
    cashier: Annotated[Text, Field(min_length=1, max_length=128)] | None = Field(
        None, description="Only this till user's rows."
    )
    day: Day | None = Field(None, description="Only this local day.")
    limit: int = Field(100, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class ScanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


@router.get(
    "/anomalies",
    response_model=c.AnomalyPage,
    summary="The latest scan's alerts, highest score first",
    description="Flagged cashier x store x day rows (and store x day rows, `cashier` null) of the company's "
    "latest scan, each with its top features (robust z, raw value, peers' median) and its exception.",
)
def list_alerts(
    params: Annotated[AlertQuery, Query()], api: Annotated[Api, Depends(reader("exceptions:read"))]
) -> Any:
    def work(session: Session) -> c.AnomalyPage:
        company = company_in_scope(session, api.principal, params.company_id)
        store = store_in_scope(session, api.principal, params.store, company=company, field="store")
        rows, next_cursor = q.alerts(
            session,
            company.id,
            # A store's token sees its store's rows only (store_in_scope refused any other store).
            store_id=store.id if store else api.principal.store_id,
            cashier=params.cashier,
            day=params.day,
            limit=params.limit,
            cursor=params.cursor,
        )
        return c.AnomalyPage(
            items=[c.AnomalyView.model_validate(row) for row in rows],
            next_cursor=str(next_cursor) if next_cursor else None,
        )

    return api.read(work)


@router.get(
    "/anomalies/scans", response_model=c.ScanPage, summary="The company's anomaly scans, newest first"
)
def list_scans(
    params: Annotated[ScanQuery, Query()], api: Annotated[Api, Depends(reader("exceptions:read"))]
) -> Any:
    def work(session: Session) -> c.ScanPage:
        company = company_in_scope(session, api.principal, params.company_id)
        rows, next_cursor = q.scans(session, company.id, limit=params.limit, cursor=params.cursor)
        return c.ScanPage(
            items=[c.ScanView.model_validate(row) for row in rows],
            next_cursor=str(next_cursor) if next_cursor else None,
        )

    return api.read(work)


@router.post(
    "/anomalies/scans",
    status_code=201,
    response_model=c.ScanView,
    summary="Scan a company's days for anomalies in discounts and returns",
    description="Scores every cashier x store x local day (and store x day) from `from` to `to` (default: "
    "the 30 days to yesterday), stores the scan and raises one exception per alert (once per cashier, "
    "store and day). Honours `Idempotency-Key`.",
)
async def start_scan(body: c.StartScan, api: Annotated[Api, Depends(writer("exceptions:write"))]) -> Any:
    def work(session: Session, ctx: CommandContext) -> c.ScanView:
        company = company_in_scope(session, api.principal, body.company, field="company")
        return c.ScanView.model_validate(detector.scan(session, ctx, company, body.date_from, body.date_to))

    return await api.command(work, status_code=201)
