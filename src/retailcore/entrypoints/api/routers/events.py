"""The event log, read-only: the audit trail of every change."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from retailcore.core.inputs import Text
from retailcore.entrypoints.api.deps import Api, reader
from retailcore.eventlog.tables import Event


class EventView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    id: uuid.UUID
    type: str
    company_id: uuid.UUID
    store_id: uuid.UUID | None
    aggregate_type: str
    aggregate_id: uuid.UUID
    payload: dict[str, Any]
    source: str
    idempotency_key: str | None
    correlation_id: uuid.UUID
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    actor: str


class EventPage(BaseModel):
    items: list[EventView]
    next_cursor: str | None = Field(description="Position to pass as `after` for the next page.")


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: int = Field(0, ge=0, description="Only events after this log position.")
    limit: int = Field(100, ge=1, le=1000)
    company_id: uuid.UUID | None = None
    type: Text | None = None
    aggregate_type: Text | None = None
    aggregate_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None


router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=EventPage, summary="Read the event log in order")
def list_events(
    params: Annotated[EventQuery, Query()],
    api: Annotated[Api, Depends(reader("events:read"))],
) -> Any:
    principal = api.principal
    query = (
        select(Event).where(Event.position > params.after).order_by(Event.position).limit(params.limit + 1)
    )
    if principal.company_id is not None:
        query = query.where(Event.company_id == principal.company_id)
    if principal.store_id is not None:
        query = query.where((Event.store_id == principal.store_id) | Event.store_id.is_(None))
    for column, value in (
        (Event.company_id, params.company_id),
        (Event.type, params.type),
        (Event.aggregate_type, params.aggregate_type),
        (Event.aggregate_id, params.aggregate_id),
        (Event.correlation_id, params.correlation_id),
    ):
        if value is not None:
            query = query.where(column == value)

    def work(session: Any) -> EventPage:
        rows = list(session.scalars(query))
        more = len(rows) > params.limit
        rows = rows[: params.limit]
        items = [EventView.model_validate(r) for r in rows]
        return EventPage(items=items, next_cursor=str(rows[-1].position) if more else None)

    return api.read(work)
