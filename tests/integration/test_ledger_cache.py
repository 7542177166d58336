"""The ledger's per-process master-data cache (decision 0064): a change written by anyone, committed or
made earlier in the same transaction, is seen by the next posting; a change rolled back is forgotten."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update

from retailcore.access.model import system_principal
from retailcore.accounting import cache
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, InvalidReference, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company

CTX = CommandContext(system_principal())
DAY = dt.date(2026, 11, 16)


@pytest.fixture
def company_id(company) -> uuid.UUID:
    return uuid.UUID(company["id"])


def two_accounts(runtime, company_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    with runtime.session_factory() as session:
        cash = svc.account_for_role(session, company_id, "cash_drawer").id
        return cash, svc.account_for_role(session, company_id, "sales_revenue").id


def post(session, company_id: uuid.UUID, debit: uuid.UUID, credit: uuid.UUID, journal: str = "MISC"):
    return svc.post_entry(
        session,
        CTX,
        company=session.get(Company, company_id),
        journal_code=journal,
        date=DAY,
        reference="cache test",
        lines=[
            svc.LineInput(debit, "debit", Decimal("10.00"), "EUR"),
            svc.LineInput(credit, "credit", Decimal("10.00"), "EUR"),
        ],
    )


def token(runtime, company_id: uuid.UUID) -> int | None:
    with runtime.session_factory() as session:
        return cache.stamp(session, company_id)


def test_changes_committed_behind_the_services_back_are_seen_by_the_next_posting(runtime, company_id):
    """As another process would: plain SQL in another session, no service code involved."""
    cash, revenue = two_accounts(runtime, company_id)
    with transaction(runtime.session_factory) as session:
        entry = post(session, company_id, cash, revenue)  # fills this process's cache
        assert entry.state == "posted"

    with transaction(runtime.session_factory) as other:
        other.execute(update(Account).where(Account.id == revenue).values(active=False))
    with transaction(runtime.session_factory) as session, pytest.raises(ValidationFailed, match="inactive"):
        post(session, company_id, cash, revenue)

    with transaction(runtime.session_factory) as other:
        other.execute(update(Account).where(Account.id == revenue).values(active=True))
        other.execute(
            update(a.LedgerSettings).where(a.LedgerSettings.company_id == company_id).values(lock_date=DAY)
        )
    with transaction(runtime.session_factory) as session, pytest.raises(Conflict) as refused:
        post(session, company_id, cash, revenue)
    assert refused.value.code == "period-locked"

    with transaction(runtime.session_factory) as other:
        other.execute(
            update(a.LedgerSettings).where(a.LedgerSettings.company_id == company_id).values(lock_date=None)
        )
        other.add(a.Journal(company_id=company_id, code="EXTRA", name="Added elsewhere"))
    with transaction(runtime.session_factory) as session:
        assert post(session, company_id, cash, revenue, journal="EXTRA").number.startswith("EXTRA/2026/")

    with transaction(runtime.session_factory) as other:
        other.execute(delete(a.PostingRule).where(a.PostingRule.company_id == company_id))
    with runtime.session_factory() as session:
        assert svc.rules_for(session, company_id, "PaymentCaptured") == []


def test_a_change_made_earlier_in_the_transaction_is_seen(runtime, company_id):
    cash, revenue = two_accounts(runtime, company_id)
    with transaction(runtime.session_factory) as session:
        post(session, company_id, cash, revenue)
        session.get(Account, revenue).active = False  # not flushed yet: the stamp read flushes it
        with pytest.raises(ValidationFailed, match="inactive"):
            post(session, company_id, cash, revenue)


def test_a_rolled_back_change_is_not_taken_for_the_committed_state(runtime, company_id):
    cash, revenue = two_accounts(runtime, company_id)
    before = token(runtime, company_id)
    session = runtime.session_factory()
    try:
        session.get(Account, revenue).active = False
        session.flush()
        with pytest.raises(ValidationFailed, match="inactive"):  # cached under the uncommitted token
            post(session, company_id, cash, revenue)
        session.rollback()
    finally:
        session.close()
    assert token(runtime, company_id) == before

    with transaction(runtime.session_factory) as session:
        assert post(session, company_id, cash, revenue).state == "posted"

    # A new account, committed after the rollback, gets a token the rolled-back change never had.
    with transaction(runtime.session_factory) as other:
        extra = Account(company_id=company_id, code="580099", name="Extra", type="asset")
        other.add(extra)
        other.flush()
        extra_id = extra.id
    assert token(runtime, company_id) != before
    with transaction(runtime.session_factory) as session:
        assert post(session, company_id, extra_id, revenue).state == "posted"


def test_every_master_data_table_renews_the_stamp(runtime, company_id):
    seen = {token(runtime, company_id)}
    assert None not in seen
    other_company = uuid.uuid4()
    with runtime.session_factory() as session:
        row = session.scalar(select(Account).where(Account.company_id == company_id).limit(1))
        account_id = row.id
    changes = [
        update(Account).where(Account.id == account_id).values(name="Renamed"),
        update(a.LedgerSettings).where(a.LedgerSettings.company_id == company_id).values(version=7),
        update(a.Journal).where(a.Journal.company_id == company_id).values(name="Renamed"),
        update(a.PostingRule).where(a.PostingRule.company_id == company_id).values(priority=50),
    ]
    for change in changes:
        with transaction(runtime.session_factory) as session:
            session.execute(change)
        now = token(runtime, company_id)
        assert now not in seen, change
        seen.add(now)
    with transaction(runtime.session_factory) as session:
        svc.create_fiscal_year(session, company_id, dt.date(2030, 1, 1))
    assert token(runtime, company_id) not in seen
    assert token(runtime, other_company) is None


def test_an_unknown_account_is_refused_as_before(runtime, company_id):
    cash, _ = two_accounts(runtime, company_id)
    with transaction(runtime.session_factory) as session, pytest.raises(InvalidReference):
        post(session, company_id, cash, uuid.uuid4())


def stamp_reads():
    """Counts the statements that read ``ledger_stamps`` (not the trigger's upserts)."""
    reads: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "ledger_stamps" in statement:
            reads.append(statement)

    return reads, count


def test_the_stamp_is_read_once_per_transaction_until_a_stamped_table_is_written(runtime, company_id):
    """Postings write entries and lines, which renew no stamp: the second posting takes the token the
    first read; a write to accounts renews it, so the next posting reads it again and sees the change."""
    from sqlalchemy import event

    cash, revenue = two_accounts(runtime, company_id)
    with transaction(runtime.session_factory) as session:
        post(session, company_id, cash, revenue)  # creates the fiscal year, which renews the stamp
    engine = runtime.engine
    reads, count = stamp_reads()
    event.listen(engine, "before_cursor_execute", count)
    try:
        with runtime.session_factory() as session:
            post(session, company_id, cash, revenue)
            post(session, company_id, cash, revenue)
            assert len(reads) == 1
            session.execute(update(Account).where(Account.id == revenue).values(active=False))
            with pytest.raises(ValidationFailed, match="inactive"):
                post(session, company_id, cash, revenue)
            assert len(reads) == 2
            session.rollback()
        with transaction(runtime.session_factory) as session:
            assert post(session, company_id, cash, revenue).state == "posted"
            assert len(reads) == 3
    finally:
        event.remove(engine, "before_cursor_execute", count)
