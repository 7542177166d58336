"""A POS session closes: its totals reach the books through the default posting rules."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Account


def balances(session, company_id) -> dict[str, Decimal]:
    rows = session.execute(
        select(Account.role, a.JournalLine.debit - a.JournalLine.credit)
        .join(Account, Account.id == a.JournalLine.account_id)
        .where(a.JournalLine.company_id == company_id, a.JournalLine.state == "posted")
    )
    totals: dict[str, Decimal] = {}
    for role, amount in rows:
        totals[role] = totals.get(role, Decimal(0)) + amount
    return totals


def close_session(session, company_id, store_id, **overrides):
    payload = {
        "date": "2026-11-27",
        "currency": "EUR",
        "store_id": store_id,
        "channel": "pos",
        "reference": "Session PAR01-0042",
        "sales": [
            {
                "product_category": "Apparel/Tops",
                "tax_code": "FR-VAT-20",
                "net": "100.00",
                "tax": "20.00",
                "tax_base": "100.00",
            },
            {
                "product_category": "Food/Coffee",
                "tax_code": "FR-VAT-5.5",
                "net": "10.00",
                "tax": "0.55",
                "tax_base": "10.00",
            },
        ],
        "tenders": [
            {"kind": "cash", "amount": "50.55"},
            {"kind": "card", "gateway": "adyen", "amount": "80.00"},
        ],
        "cash_short": "0.40",
        **overrides,
    }
    ctx = CommandContext(system_principal("pos"))
    return record(
        session,
        ctx,
        type="PosSessionClosed",
        company_id=company_id,
        aggregate_type="PosSession",
        aggregate_id=uuid.uuid4(),
        payload=payload,
        store_id=uuid.UUID(store_id),
    )


def test_session_close_posts_one_balanced_entry_by_role(runtime, company, store_factory):
    store = store_factory("PAR01")
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        event = close_session(session, company_id, store["id"])

    with runtime.session_factory() as session:
        entry = session.scalars(select(a.JournalEntry).where(a.JournalEntry.event_id == event.id)).one()
        assert entry.state == "posted" and entry.number == "POS/2026/000001"
        assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
        assert all(line.store_id == uuid.UUID(store["id"]) for line in entry.lines)
        totals = balances(session, company_id)
    assert totals["cash_drawer"] == Decimal("50.15")  # 50.55 taken, 0.40 short at the count
    assert totals["card_clearing"] == Decimal("80.00")
    assert totals["sales_revenue"] == Decimal("-110.00")
    assert totals["output_tax"] == Decimal("-20.55")
    assert totals["cash_difference_loss"] == Decimal("0.40")


def test_an_unbalanced_session_is_refused_and_writes_nothing(runtime, company, store_factory):
    store = store_factory("PAR01")
    company_id = uuid.UUID(company["id"])
    with (
        pytest.raises(ValidationFailed, match="does not balance"),
        transaction(runtime.session_factory) as session,
    ):
        close_session(session, company_id, store["id"], tenders=[{"kind": "cash", "amount": "10.00"}])
    with runtime.session_factory() as session:
        assert session.scalars(select(a.JournalEntry)).all() == []


def test_sub_cent_differences_go_to_the_rounding_account(runtime, company, store_factory):
    store = store_factory("PAR01")
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        close_session(
            session,
            company_id,
            store["id"],
            cash_short="0",
            sales=[{"net": "3.333", "tax": "0"}] * 3,
            tenders=[{"kind": "cash", "amount": "10.00"}],
        )
    with runtime.session_factory() as session:
        totals = balances(session, company_id)
    assert totals["sales_revenue"] == Decimal("-9.99")  # three lines of 3.333, each rounded
    assert totals["rounding"] == Decimal("-0.01")
    assert sum(totals.values()) == 0


def test_nothing_posts_on_or_before_the_lock_date(runtime, company, store_factory):
    import datetime as dt

    from retailcore.accounting.services import move_lock_date

    store = store_factory("PAR01")
    company_id = uuid.UUID(company["id"])
    with transaction(runtime.session_factory) as session:
        move_lock_date(session, CommandContext(system_principal()), company_id, dt.date(2026, 11, 30))
    with pytest.raises(Conflict, match="locked"), transaction(runtime.session_factory) as session:
        close_session(session, company_id, store["id"])
