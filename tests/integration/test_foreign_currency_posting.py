"""Foreign-currency lines are converted at the rate of the entry's date, tax bases included."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from retailcore.access.model import system_principal
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company


def test_usd_sale_is_booked_in_eur_at_the_rate_of_its_date_and_reversed_at_the_same_rate(runtime, company):
    company_id = uuid.UUID(company["id"])
    ctx = CommandContext(system_principal())
    with transaction(runtime.session_factory) as session:
        session.add_all(
            [
                a.ExchangeRate(
                    company_id=company_id, currency="USD", rate_date=dt.date(2026, 3, 1), rate=Decimal("0.9")
                ),
                a.ExchangeRate(
                    company_id=company_id, currency="USD", rate_date=dt.date(2026, 4, 1), rate=Decimal("0.8")
                ),
            ]
        )
        company_row = session.get(Company, company_id)
        receivable = svc.account_for_role(session, company_id, "receivable")
        revenue = svc.account_for_role(session, company_id, "sales_revenue")
        tax = svc.account_for_role(session, company_id, "output_tax")
        entry = svc.post_entry(
            session,
            ctx,
            company=company_row,
            journal_code="SALES",
            date=dt.date(2026, 3, 15),
            reference="US",
            lines=[
                svc.LineInput(receivable.id, "debit", Decimal("110.00"), "USD"),
                svc.LineInput(revenue.id, "credit", Decimal("100.00"), "USD"),
                svc.LineInput(
                    tax.id, "credit", Decimal("10.00"), "USD", tax_code="US-10", tax_base=Decimal("100")
                ),
            ],
        )
        reversal = svc.reverse_entry(session, ctx, entry, date=dt.date(2026, 4, 15))

    with runtime.session_factory() as session:
        lines = session.get(a.JournalEntry, entry.id).lines
        assert [(line.debit, line.credit, line.amount_currency) for line in lines] == [
            (Decimal("99.00"), Decimal("0"), Decimal("110.00")),
            (Decimal("0"), Decimal("90.00"), Decimal("-100.00")),
            (Decimal("0"), Decimal("9.00"), Decimal("-10.00")),
        ]
        assert lines[2].tax_base == Decimal("90.00")
        assert all(line.rate == Decimal("0.9") for line in lines)
        undone = session.get(a.JournalEntry, reversal.id).lines
        # The reversal undoes the original at its own rate, not at April's.
        assert [(line.debit, line.credit) for line in undone] == [
            (Decimal("0"), Decimal("99.00")),
            (Decimal("90.00"), Decimal("0")),
            (Decimal("9.00"), Decimal("0")),
        ]
        assert undone[2].tax_base == Decimal("90.00")
