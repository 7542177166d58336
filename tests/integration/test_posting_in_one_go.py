"""An entry is written posted in one go (decision 0071): what the session hands back is what the database
holds, a refused entry writes nothing and takes no number, and an event is still posted once however
often it is delivered in its transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, inspect, select

from retailcore.access.model import system_principal
from retailcore.accounting import commands as cmd
from retailcore.accounting import operations
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext, claim_new, record, subscribe
from retailcore.masterdata.tables import Company

CTX = CommandContext(system_principal())
DAY = dt.date(2026, 11, 16)


@pytest.fixture
def company_id(company) -> uuid.UUID:
    return uuid.UUID(company["id"])


def accounts(session, company_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    cash = svc.account_for_role(session, company_id, "cash_drawer").id
    return cash, svc.account_for_role(session, company_id, "sales_revenue").id


def post(session, company_id: uuid.UUID, date: dt.date = DAY, amount: str = "10.00") -> a.JournalEntry:
    cash, revenue = accounts(session, company_id)
    return svc.post_entry(
        session,
        CTX,
        company=session.get(Company, company_id),
        journal_code="MISC",
        date=date,
        reference="in one go",
        lines=[
            svc.LineInput(cash, "debit", Decimal(amount), "EUR", label="cash", store_id=uuid.uuid4()),
            svc.LineInput(
                revenue, "credit", Decimal("3.00"), "EUR", tax_code="FR-VAT-20", tax_base=Decimal(1)
            ),
            svc.LineInput(revenue, "credit", Decimal(amount) - Decimal("3.00"), "EUR", channel="web"),
        ],
    )


def columns(row: Any) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in inspect(row).mapper.column_attrs}


def test_the_entry_handed_back_is_what_the_database_holds(runtime, company_id):
    statements: list[str] = []
    with transaction(runtime.session_factory) as session:
        entry = post(session, company_id)
        held = columns(entry), [columns(line) for line in entry.lines]
        assert entry.state == "posted" and entry.number.startswith(f"MISC/{DAY.year}/")
        assert [line.state for line in entry.lines] == ["posted"] * 3
        # Persistent and unchanged: in the identity map, nothing left to write, no read to give it back.
        assert not session.new and not session.dirty
        assert session.get(a.JournalEntry, entry.id) is entry
        assert all(line.entry is entry for line in entry.lines)
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa_event.listen(session.get_bind(), "before_cursor_execute", listener)
        try:
            session.flush()
            assert session.scalar(select(a.JournalEntry).where(a.JournalEntry.id == entry.id)) is entry
        finally:
            sa_event.remove(session.get_bind(), "before_cursor_execute", listener)
        # The query (and the lines' selectin load any query of entries makes); no flush writes anything.
        assert {s.split()[0].upper() for s in statements} == {"SELECT"}
    with runtime.session_factory() as fresh:
        stored = fresh.get(a.JournalEntry, held[0]["id"])
        assert (columns(stored), [columns(line) for line in stored.lines]) == held


def test_a_refused_entry_writes_nothing_and_gives_its_number_back(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        first = post(session, company_id, dt.date(2026, 2, 3))
        svc.move_lock_date(session, CTX, company_id, dt.date(2026, 1, 31))
        settings = session.get(a.LedgerSettings, company_id)
        settings.lock_date = None  # behind the service's back: the balances still cover January
        session.flush()
        before = session.scalar(select(func.count()).select_from(a.JournalEntry))
        lines_before = session.scalar(select(func.count()).select_from(a.JournalLine))
        with pytest.raises(Conflict) as refused:
            post(session, company_id, dt.date(2026, 1, 15))
        assert refused.value.code == "period-locked"
        # The transaction carries on: no row of the refused entry, and the next entry takes the next number.
        assert session.scalar(select(func.count()).select_from(a.JournalEntry)) == before
        assert session.scalar(select(func.count()).select_from(a.JournalLine)) == lines_before
        following = post(session, company_id, dt.date(2026, 2, 4))
        assert int(following.number.rsplit("/", 1)[1]) == int(first.number.rsplit("/", 1)[1]) + 1


def test_a_ledger_event_is_posted_once_though_posted_again_in_its_transaction(
    runtime, company_id, store_factory
):
    store = store_factory("PAR01")
    request = cmd.RecordLedgerEvent(
        type="PosSessionClosed",
        store_id=uuid.UUID(store["id"]),
        payload={
            "date": "2026-11-27",
            "store_id": store["id"],
            "channel": "pos",
            "reference": "Z-report 7",
            "sales": [
                {"product_category": "Apparel", "tax_code": "FR-VAT-20", "net": "50.00", "tax": "10.00"}
            ],
            "tenders": [{"kind": "card", "gateway": "adyen", "amount": "60.00"}],
        },
    )
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, company_id)
        event, entry = operations.record_ledger_event(session, CTX, company, request)
        # Delivered once more in the same transaction (a subscriber posted it, or the call above did).
        assert svc.post_event(session, CTX, event) is entry
        found = session.scalars(select(a.JournalEntry).where(a.JournalEntry.event_id == event.id)).all()
        assert found == [entry]
        assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines) > 0


def test_an_event_is_new_to_its_first_claimant_only_while_its_subscribers_run(runtime, company_id):
    claims: list[bool] = []

    def twice(session, ctx, event):
        claims.extend([claim_new(event), claim_new(event)])

    subscribe("TestClaimOnce", twice)
    with transaction(runtime.session_factory) as session:
        recorded = record(
            session,
            CTX,
            type="TestClaimOnce",
            company_id=company_id,
            aggregate_type="Test",
            aggregate_id=uuid.uuid4(),
            payload={},
        )
        assert claims == [True, False]
        assert claim_new(recorded) is False  # after record: read back or delivered again, look as before
