"""The ledger over HTTP: journals, entries (manual, post, reverse), posting rules, periods, lock date,
and postable events from external systems."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal
from retailcore.accounting import commands as cmd
from retailcore.accounting import operations as ops
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.accounting import views as v
from retailcore.adapters.paging import keyset_page, keyset_page_in_order
from retailcore.core.errors import NotFound
from retailcore.core.inputs import Day, Text
from retailcore.entrypoints.api.deps import Api, DecimalRoute, reader, writer
from retailcore.entrypoints.api.pages import CURSOR, CompanyPageQuery, IdPageQuery, PageOf
from retailcore.entrypoints.api.references import CompanyParam
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef
from retailcore.masterdata.services import Ref, company_in_scope, with_store_ids
from retailcore.masterdata.tables import Company

router = APIRouter(route_class=DecimalRoute, tags=["ledger"])


def _company(session: Session, principal: Principal, company_id: Ref | None) -> Company:
    """The company a ledger request is about: the token's, or the one an installation admin names."""
    return company_in_scope(session, principal, company_id)


def _entry(session: Session, principal: Principal, entry_id: uuid.UUID) -> a.JournalEntry:
    entry = session.get(a.JournalEntry, entry_id)
    if entry is None or not principal.sees_company(entry.company_id):
        raise NotFound(f"no journal entry {entry_id}")
    return entry


# -- journals, fiscal years, settings ---------------------------------------------------------------


class JournalQuery(CompanyPageQuery):
    cursor: Text | None = Field(None, description=CURSOR)


@router.get(
    "/journals", response_model=PageOf[v.JournalView], summary="List journals", description="By code."
)
def list_journals(
    params: Annotated[JournalQuery, Query()], api: Annotated[Api, Depends(reader("ledger:read"))]
) -> Any:
    def work(session: Session) -> PageOf[v.JournalView]:
        company = _company(session, api.principal, params.company_id)
        query = select(a.Journal).where(a.Journal.company_id == company.id)
        rows, last = keyset_page(session, query, a.Journal.code, params.limit, params.cursor)
        return PageOf.of([v.JournalView.model_validate(row) for row in rows], last)

    return api.read(work)


class FiscalYearQuery(CompanyPageQuery):
    cursor: Day | None = Field(None, description=CURSOR)


@router.get(
    "/fiscal-years",
    response_model=PageOf[v.FiscalYearView],
    summary="List fiscal years and periods",
    description="In date order.",
)
def list_fiscal_years(
    params: Annotated[FiscalYearQuery, Query()], api: Annotated[Api, Depends(reader("ledger:read"))]
) -> Any:
    def work(session: Session) -> PageOf[v.FiscalYearView]:
        company = _company(session, api.principal, params.company_id)
        query = select(a.FiscalYear).where(a.FiscalYear.company_id == company.id)
        rows, last = keyset_page(session, query, a.FiscalYear.start_date, params.limit, params.cursor)
        return PageOf.of([v.FiscalYearView.model_validate(row) for row in rows], last)

    return api.read(work)


@router.post("/fiscal-years", status_code=201, response_model=v.FiscalYearView, summary="Open a fiscal year")
async def create_fiscal_year(
    body: cmd.CreateFiscalYear, api: Annotated[Api, Depends(writer("ledger:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.FiscalYearView:
        company = _company(session, api.principal, body.company_id)
        return v.FiscalYearView.model_validate(
            ops.create_fiscal_year(session, ctx, company.id, body.start_date)
        )

    return await api.command(work, status_code=201)


@router.get("/ledger/settings", response_model=v.LedgerSettingsView, summary="Lock date and fiscal set-up")
def ledger_settings(
    api: Annotated[Api, Depends(reader("ledger:read"))], company_id: CompanyParam = None
) -> Any:
    def work(session: Session) -> v.LedgerSettingsView:
        company = _company(session, api.principal, company_id)
        return v.LedgerSettingsView.model_validate(svc.settings_for(session, company.id))

    return api.read(work)


@router.put(
    "/ledger/lock-date",
    response_model=v.LedgerSettingsView,
    summary="Move the lock date (finance only)",
    description="Nothing can be posted on or before the lock date. Every move is recorded as an event.",
)
async def move_lock_date(
    body: cmd.MoveLockDate, api: Annotated[Api, Depends(writer("ledger:lock"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.LedgerSettingsView:
        company = _company(session, api.principal, body.company_id)
        return v.LedgerSettingsView.model_validate(
            svc.move_lock_date(session, ctx, company.id, body.lock_date)
        )

    return await api.command(work)


# -- journal entries -------------------------------------------------------------------------------


class EntryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    journal_code: Text | None = None
    state: Literal["draft", "posted"] | None = None
    date_from: Day | None = None
    date_to: Day | None = None
    account_id: uuid.UUID | None = Field(None, description="Entries with a line on this account.")
    event_id: uuid.UUID | None = None
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class EntryPage(BaseModel):
    items: list[v.EntryView]
    next_cursor: uuid.UUID | None


@router.get("/journal-entries", response_model=EntryPage, summary="List journal entries")
def list_entries(
    params: Annotated[EntryQuery, Query()], api: Annotated[Api, Depends(reader("ledger:read"))]
) -> Any:
    def work(session: Session) -> EntryPage:
        company = _company(session, api.principal, params.company_id)
        query = select(a.JournalEntry).where(a.JournalEntry.company_id == company.id)
        if params.journal_code:
            query = query.where(
                a.JournalEntry.journal_id == svc.journal(session, company.id, params.journal_code).id
            )
        if params.state:
            query = query.where(a.JournalEntry.state == params.state)
        if params.date_from:
            query = query.where(a.JournalEntry.date >= params.date_from)
        if params.date_to:
            query = query.where(a.JournalEntry.date <= params.date_to)
        if params.account_id:
            query = query.where(
                a.JournalEntry.id.in_(
                    select(a.JournalLine.entry_id).where(a.JournalLine.account_id == params.account_id)
                )
            )
        if params.event_id:
            query = query.where(a.JournalEntry.event_id == params.event_id)
        rows, next_cursor = keyset_page(session, query, a.JournalEntry.id, params.limit, params.cursor)
        return EntryPage(items=[v.entry_view(session, r) for r in rows], next_cursor=next_cursor)

    return api.read(work)


@router.get("/journal-entries/{entry_id}", response_model=v.EntryView, summary="Get a journal entry")
def get_entry(
    entry_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(reader("ledger:read"))]
) -> Any:
    return api.read(lambda session: v.entry_view(session, _entry(session, api.principal, entry_id)))


@router.post(
    "/journal-entries",
    status_code=201,
    response_model=v.EntryView,
    summary="Record a manual journal entry (finance)",
    description="Posted at once unless `post` is false. It must balance per currency; a difference below one"
    " minor unit per line goes to the rounding account.",
)
async def create_entry(
    body: cmd.CreateJournalEntry, api: Annotated[Api, Depends(writer("ledger:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.EntryView:
        company = _company(session, api.principal, body.company_id)
        lines = [
            with_store_ids(session, api.principal, company, line, "store_id", at=f"lines.{index}.")
            for index, line in enumerate(body.lines)
        ]
        request = body.model_copy(update={"lines": lines})
        return v.entry_view(session, ops.record_manual_entry(session, ctx, company, request))

    return await api.command(work, status_code=201, location=lambda r: f"/api/v1/journal-entries/{r.id}")


@router.post("/journal-entries/{entry_id}/post", response_model=v.EntryView, summary="Post a draft entry")
async def post_entry(
    entry_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("ledger:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.EntryView:
        return v.entry_view(session, ops.post_draft(session, ctx, _entry(session, api.principal, entry_id)))

    return await api.command(work)


@router.post(
    "/journal-entries/{entry_id}/reverse",
    status_code=201,
    response_model=v.EntryView,
    summary="Reverse a posted entry",
    description="Posts a new entry with every side swapped, linked to the original (which never changes).",
)
async def reverse_entry(
    entry_id: Annotated[uuid.UUID, Path()],
    body: cmd.ReverseJournalEntry,
    api: Annotated[Api, Depends(writer("ledger:write"))],
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.EntryView:
        entry = _entry(session, api.principal, entry_id)
        return v.entry_view(session, ops.reverse(session, ctx, entry, body))

    return await api.command(work, status_code=201, location=lambda r: f"/api/v1/journal-entries/{r.id}")


class Deleted(BaseModel):
    id: uuid.UUID
    deleted: bool = True


@router.delete("/journal-entries/{entry_id}", response_model=Deleted, summary="Delete a draft entry")
async def delete_entry(
    entry_id: Annotated[uuid.UUID, Path()], api: Annotated[Api, Depends(writer("ledger:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> Deleted:
        ops.delete_draft(session, ctx, _entry(session, api.principal, entry_id))
        return Deleted(id=entry_id)

    return await api.command(work)


# -- posting rules ---------------------------------------------------------------------------------


class RuleQuery(IdPageQuery):
    event_type: Text | None = None
    code: Text | None = None
    as_of: Day | None = Field(None, description="Only the versions in force on this date.")


@router.get(
    "/posting-rules",
    response_model=PageOf[v.PostingRuleView],
    summary="List posting rules (all versions)",
    description="By event type, code, then the date each version is in force from.",
)
def list_rules(
    params: Annotated[RuleQuery, Query()], api: Annotated[Api, Depends(reader("posting_rules:read"))]
) -> Any:
    def work(session: Session) -> PageOf[v.PostingRuleView]:
        company = _company(session, api.principal, params.company_id)
        query = select(a.PostingRule).where(a.PostingRule.company_id == company.id)
        if params.event_type:
            query = query.where(a.PostingRule.event_type == params.event_type)
        if params.code:
            query = query.where(a.PostingRule.code == params.code)
        if params.as_of:
            query = query.where(
                a.PostingRule.valid_from <= params.as_of,
                (a.PostingRule.valid_to.is_(None)) | (a.PostingRule.valid_to >= params.as_of),
            )
        order = (a.PostingRule.event_type, a.PostingRule.code, a.PostingRule.valid_from)
        rows, last = keyset_page_in_order(session, query, order, params.limit, params.cursor)
        return PageOf.of([v.PostingRuleView.model_validate(row) for row in rows], last)

    return api.read(work)


@router.post(
    "/posting-rules", status_code=201, response_model=v.PostingRuleView, summary="Add a posting rule"
)
async def create_rule(
    body: cmd.CreatePostingRule, api: Annotated[Api, Depends(writer("posting_rules:write"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.PostingRuleView:
        company = _company(session, api.principal, body.company_id)
        return v.PostingRuleView.model_validate(ops.create_rule(session, ctx, company, body))

    return await api.command(work, status_code=201)


@router.post(
    "/posting-rules/{code}/versions",
    status_code=201,
    response_model=v.PostingRuleView,
    summary="Change a posting rule from a date",
    description="The version in force ends the day before `valid_from`; entries already posted never change.",
)
async def change_rule(
    code: Annotated[Text, Path()],
    body: cmd.ChangePostingRule,
    api: Annotated[Api, Depends(writer("posting_rules:write"))],
    company_id: CompanyParam = None,
) -> Response:
    def work(session: Session, ctx: CommandContext) -> v.PostingRuleView:
        company = _company(session, api.principal, company_id)
        return v.PostingRuleView.model_validate(ops.change_rule(session, ctx, company.id, code, body))

    return await api.command(work, status_code=201)


# -- postable events -------------------------------------------------------------------------------


class PostedEvent(BaseModel):
    event_id: uuid.UUID
    event_position: int
    entry: v.EntryView


@router.post(
    "/ledger/events",
    status_code=201,
    response_model=PostedEvent,
    summary="Record a postable commercial event and post it",
    description="For systems that are not (yet) retailcore contexts: a POS, a web shop, a settlement file."
    " The payload contract of each event type is in docs/ledger.md. Send an Idempotency-Key: a replay never"
    " posts twice.",
)
async def record_event(
    body: cmd.RecordLedgerEvent, api: Annotated[Api, Depends(writer("ledger:events"))]
) -> Response:
    def work(session: Session, ctx: CommandContext) -> PostedEvent:
        company = _company(session, api.principal, body.company_id)
        request = with_store_ids(session, api.principal, company, body, "store_id")
        event, entry = ops.record_ledger_event(session, ctx, company, request)
        return PostedEvent(
            event_id=event.id, event_position=event.position, entry=v.entry_view(session, entry)
        )

    return await api.command(work, status_code=201)
