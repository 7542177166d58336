"""Posted entries and lines are immutable in the database itself; drafts are not."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from retailcore.access.model import system_principal
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company


def post(runtime, company_id, *, posted=True):
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, company_id)
        bank = svc.account_for_role(session, company_id, "bank")
        equity = svc.account_for_role(session, company_id, "opening_balance")
        entry = svc.post_entry(
            session,
            CommandContext(system_principal()),
            company=company,
            journal_code="MISC",
            date=dt.date(2026, 5, 4),
            reference="x",
            post=posted,
            lines=[
                svc.LineInput(bank.id, "debit", Decimal("5"), "EUR"),
                svc.LineInput(equity.id, "credit", Decimal("5"), "EUR"),
            ],
        )
        return entry.id


@pytest.mark.parametrize(
    "statement",
    [
        lambda entry_id: (
            update(a.JournalLine).where(a.JournalLine.entry_id == entry_id).values(debit=Decimal("6"))
        ),
        lambda entry_id: delete(a.JournalLine).where(a.JournalLine.entry_id == entry_id),
        lambda entry_id: (
            update(a.JournalEntry).where(a.JournalEntry.id == entry_id).values(reference="changed")
        ),
        lambda entry_id: delete(a.JournalEntry).where(a.JournalEntry.id == entry_id),
    ],
)
def test_posted_rows_refuse_changes(runtime, company, statement):
    entry_id = post(runtime, uuid.UUID(company["id"]))
    with pytest.raises(DBAPIError, match="immutable"), runtime.engine.begin() as connection:
        connection.execute(statement(entry_id))


def test_drafts_may_change_until_posted(runtime, company):
    entry_id = post(runtime, uuid.UUID(company["id"]), posted=False)
    with runtime.engine.begin() as connection:
        connection.execute(
            update(a.JournalEntry).where(a.JournalEntry.id == entry_id).values(reference="fixed")
        )
    with runtime.session_factory() as session:
        assert (
            session.scalar(select(a.JournalEntry.reference).where(a.JournalEntry.id == entry_id)) == "fixed"
        )
