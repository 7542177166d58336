"""Read models of the ledger, as the API returns them (amounts as canonical decimal strings)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.core.decimals import DecimalStr
from retailcore.masterdata.tables import Account


class LineView(BaseModel):
    id: uuid.UUID
    sequence: int
    account_id: uuid.UUID
    account_code: str
    account_name: str
    debit: DecimalStr
    credit: DecimalStr
    currency: str
    amount_currency: DecimalStr
    rate: DecimalStr
    label: str
    store_id: uuid.UUID | None
    channel: str | None
    product_category: str | None
    location_id: uuid.UUID | None
    tax_code: str | None
    tax_base: DecimalStr | None
    event_id: uuid.UUID | None


class EntryView(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    journal_code: str
    number: str | None
    date: dt.date
    state: str
    reference: str
    event_id: uuid.UUID | None
    rule_id: uuid.UUID | None
    reversal_of_id: uuid.UUID | None
    reversed_by_id: uuid.UUID | None
    created_by: str
    created_at: dt.datetime
    posted_by: str | None
    posted_at: dt.datetime | None
    total_debit: DecimalStr
    total_credit: DecimalStr
    lines: list[LineView]


def entry_view(session: Session, entry: a.JournalEntry) -> EntryView:
    accounts = {
        row.id: row
        for row in session.scalars(
            select(Account).where(Account.id.in_({line.account_id for line in entry.lines}))
        )
    }
    journal = session.get(a.Journal, entry.journal_id)
    reversed_by = session.scalar(select(a.JournalEntry.id).where(a.JournalEntry.reversal_of_id == entry.id))
    return EntryView(
        id=entry.id,
        company_id=entry.company_id,
        journal_code=journal.code,
        number=entry.number,
        date=entry.date,
        state=entry.state,
        reference=entry.reference,
        event_id=entry.event_id,
        rule_id=entry.rule_id,
        reversal_of_id=entry.reversal_of_id,
        reversed_by_id=reversed_by,
        created_by=entry.created_by,
        created_at=entry.created_at,
        posted_by=entry.posted_by,
        posted_at=entry.posted_at,
        total_debit=sum(line.debit for line in entry.lines),
        total_credit=sum(line.credit for line in entry.lines),
        lines=[
            LineView(
                **{name: getattr(line, name) for name in LineView.model_fields if hasattr(line, name)},
                account_code=accounts[line.account_id].code,
                account_name=accounts[line.account_id].name,
            )
            for line in entry.lines
        ],
    )


class JournalView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    name: str


class PeriodView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    start_date: dt.date
    end_date: dt.date


class FiscalYearView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    start_date: dt.date
    end_date: dt.date
    periods: list[PeriodView]


class LedgerSettingsView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    company_id: uuid.UUID
    lock_date: dt.date | None
    fiscal_year_start_month: int
    version: int


class PostingRuleView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    code: str
    name: str
    event_type: str
    journal_code: str
    priority: int
    conditions: dict[str, Any]
    lines: list[dict[str, Any]]
    valid_from: dt.date
    valid_to: dt.date | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
