"""The event log, read-only: the audit trail of every change."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.core.inputs import Text, text
from retailcore.entrypoints.api.deps import Api, reader
from retailcore.eventlog.tables import Event
from retailcore.masterdata.commands import CompanyRef
from retailcore.masterdata.services import company_in_scope


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
    next_cursor: str | None = Field(
        description="The last position of this page: pass it as `cursor` (or `after`) for the next page;"
        " null on the last page."
    )


MAX_POSITION = 2**63 - 1
"""The largest log position a 64-bit column holds: a larger ``after`` is a client's error, not a 500."""


class EventQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: text(pattern=r"^[0-9]{1,18}$") | None = Field(
        None, description="The `next_cursor` of the previous page: only events after this log position."
    )
    after: int = Field(
        0,
        ge=0,
        le=MAX_POSITION,
        description="The same as `cursor`, as connectors written before it send it.",
    )
    limit: int = Field(100, ge=1, le=1000)
    company_id: CompanyRef | None = Field(
        None, description="Company code or id; every company seen when absent."
    )
    type: Text | None = None
    aggregate_type: Text | None = None
    aggregate_id: uuid.UUID | None = None
    correlation_id: uuid.UUID | None = None

    def start(self) -> int:
        """The log position the page starts after."""
        if self.cursor is not None and "after" in self.model_fields_set:
            raise ValidationFailed(
                "send cursor or after, not both", problems=[FieldProblem("after", "also sent cursor")]
            )
        return int(self.cursor) if self.cursor is not None else self.after


router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=EventPage, summary="Read the event log in order")
def list_events(
    params: Annotated[EventQuery, Query()],
    api: Annotated[Api, Depends(reader("events:read"))],
) -> Any:
    principal = api.principal

    def work(session: Session) -> EventPage:
        query = select(Event).where(Event.position > params.start())
        if principal.company_id is not None:
            query = query.where(Event.company_id == principal.company_id)
        if principal.store_id is not None:
            query = query.where((Event.store_id == principal.store_id) | Event.store_id.is_(None))
        if params.company_id is not None:
            query = query.where(
                Event.company_id == company_in_scope(session, principal, params.company_id).id
            )
        for column, value in (
            (Event.type, params.type),
            (Event.aggregate_type, params.aggregate_type),
            (Event.aggregate_id, params.aggregate_id),
            (Event.correlation_id, params.correlation_id),
        ):
            if value is not None:
                query = query.where(column == value)
        rows = list(session.scalars(query.order_by(Event.position).limit(params.limit + 1)))
        more = len(rows) > params.limit
        rows = rows[: params.limit]
        items = [EventView.model_validate(r) for r in rows]
        return EventPage(items=items, next_cursor=str(rows[-1].position) if more else None)

    return api.read(work)
