"""How the ledger reacts to upstream events: new companies get books, postable events get entries."""

from __future__ import annotations

from sqlalchemy.orm import Session

from retailcore.accounting.posting.rulebook import POSTABLE_EVENT_TYPES
from retailcore.accounting.services import post_event, set_up_ledger
from retailcore.eventlog.services import CommandContext, subscribe
from retailcore.eventlog.tables import Event


def _company_created(session: Session, ctx: CommandContext, event: Event) -> None:
    session.flush()  # the company row must exist before its ledger settings reference it
    set_up_ledger(session, event.company_id)


def _postable(session: Session, ctx: CommandContext, event: Event) -> None:
    session.flush()
    post_event(session, ctx, event)


def install() -> None:
    subscribe("CompanyCreated", _company_created)
    for event_type in POSTABLE_EVENT_TYPES:
        subscribe(event_type, _postable)
