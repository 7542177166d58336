"""The outbox relay's lag: how far the event log's publication to NATS JetStream is behind (decision 0027).

Read from the database (``relay_positions`` and the log), so any server process answers for a relay
running anywhere. The log is the whole installation's: only installation-wide tokens may read it.
"""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.core.errors import PermissionDenied
from retailcore.core.inputs import text
from retailcore.entrypoints.api.deps import Api, reader
from retailcore.eventlog.relay import relay_lag


class RelayView(BaseModel):
    name: str
    configured: bool = Field(
        description="Whether this server process publishes to NATS (RETAILCORE_NATS_URL is set)."
    )
    known: bool = Field(description="Whether a relay of this name has ever run against this database.")
    position: int = Field(description="The last log position the broker acknowledged.")
    head: int = Field(description="The log's last position.")
    behind: int = Field(description="Events after the relay's position, not yet published.")
    oldest_unpublished_at: dt.datetime | None = Field(
        description="When the first unpublished event was recorded; null when caught up."
    )
    age_seconds: float | None = Field(  # float-ok: a duration
        description="How long ago that was, in seconds; null when caught up."
    )
    published: int = Field(description="Events this relay had acknowledged (re-sends included).")
    duplicates: int = Field(description="Re-sent events the broker dropped as duplicates.")
    updated_at: dt.datetime | None = Field(description="When the position last moved.")


class RelayQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: text(min_length=1, max_length=64) | None = Field(
        None, description="The relay's name (RETAILCORE_RELAY_NAME); this server's setting by default."
    )


router = APIRouter(prefix="/relay", tags=["events"])


@router.get("", response_model=RelayView, summary="How far the event log's publication is behind")
def get_relay(
    params: Annotated[RelayQuery, Query()],
    api: Annotated[Api, Depends(reader("relay:read"))],
) -> Any:
    if api.principal.company_id is not None:
        raise PermissionDenied("the relay publishes every company's events: an installation-wide token only")
    settings = api.request.app.state.runtime.settings
    name = params.name or settings.relay_name

    def work(session: Session) -> RelayView:
        lag = relay_lag(session, name)
        return RelayView(**lag.as_dict(), configured=bool(settings.nats_url))

    return api.read(work)
