"""Ledger invariants over random sequences of postings and reversals (both backends)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company

amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999.999"), places=3)
operation = st.one_of(
    st.tuples(st.just("post"), st.lists(amounts, min_size=1, max_size=5), st.integers(0, 27)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.integers(0, 27)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=12))
def test_entries_always_balance_and_reversals_cancel(runtime, company, operations):
    company_id = uuid.UUID(company["id"])
    ctx = CommandContext(system_principal("property"))
    with transaction(runtime.session_factory) as session:
        company_row = session.get(Company, company_id)
        accounts = list(session.scalars(select(Account.id).where(Account.company_id == company_id).limit(6)))
        posted: list[uuid.UUID] = []
        reversed_ids: set[uuid.UUID] = set()
        reversals: set[uuid.UUID] = set()
        for op in operations:
            day = dt.date(2026, 2, 1) + dt.timedelta(days=op[2])
            if op[0] == "post":
                lines = [
                    svc.LineInput(accounts[i % 6], "debit", amount, "EUR") for i, amount in enumerate(op[1])
                ] + [svc.LineInput(accounts[5], "credit", sum(op[1]), "EUR")]
                # Amounts carry a third decimal: every line is rounded, the remainder goes to rounding.
                entry = svc.post_entry(
                    session,
                    ctx,
                    company=company_row,
                    journal_code="MISC",
                    date=day,
                    reference="p",
                    lines=lines,
                )
                posted.append(entry.id)
            elif posted:
                original_id = posted[op[1] % len(posted)]
                if original_id in reversed_ids or original_id in reversals:
                    continue
                reversal = svc.reverse_entry(session, ctx, session.get(a.JournalEntry, original_id), date=day)
                reversed_ids.add(original_id)
                reversals.add(reversal.id)

        for entry in session.scalars(select(a.JournalEntry).where(a.JournalEntry.company_id == company_id)):
            assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
            for line in entry.lines:
                assert line.debit == line.debit.quantize(Decimal("0.01"))
        reversed_ids = set(
            session.scalars(
                select(a.JournalEntry.reversal_of_id).where(a.JournalEntry.reversal_of_id.is_not(None))
            )
        )
        for original_id in reversed_ids:
            pair = select(a.JournalEntry.id).where(
                (a.JournalEntry.id == original_id) | (a.JournalEntry.reversal_of_id == original_id)
            )
            net = session.execute(
                select(
                    a.JournalLine.account_id, func.sum(a.JournalLine.debit) - func.sum(a.JournalLine.credit)
                )
                .where(a.JournalLine.entry_id.in_(pair))
                .group_by(a.JournalLine.account_id)
            ).all()
            assert all(amount == 0 for _, amount in net)
        session.rollback()
