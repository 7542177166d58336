"""A store's takings go from the till to the safe at the POS close, from the safe to the bank in a bag,
and the bank statement's credit is what moves them to the bank in the books (decision 0037)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.banking import commands as c
from retailcore.banking import services as bank
from retailcore.banking.tables import CashDeposit
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company, Store
from scenarios.test_pos_session_to_the_books import balances

D = Decimal
STATEMENT = """Date,Amount,Reference,Text,Balance
2026-11-30,412.35,BK-88,LODGEMENT PAR01 BAG 000777,412.35
"""
MAPPING = {
    "columns": {
        "date": "Date",
        "amount": "Amount",
        "reference": "Reference",
        "remittance": "Text",
        "balance": "Balance",
    }
}


def test_takings_reach_the_bank_through_the_safe(runtime, company, store_factory):
    store = store_factory("PAR01")
    company_id, store_id = uuid.UUID(company["id"]), uuid.UUID(store["id"])
    ctx = CommandContext(system_principal("test"))
    with transaction(runtime.session_factory) as session:
        # The close hands the counted cash (412.35 of cash sales) to the safe.
        record(
            session,
            ctx,
            type="PosSessionClosed",
            company_id=company_id,
            aggregate_type="PosSession",
            aggregate_id=uuid.uuid4(),
            payload={
                "date": "2026-11-28",
                "store_id": store["id"],
                "channel": "pos",
                "sales": [{"product_category": "Apparel", "tax_code": "NONE", "net": "412.35", "tax": "0"}],
                "tenders": [{"kind": "cash", "amount": "412.35"}],
                "cash_handed_over": "412.35",
            },
            store_id=store_id,
        )
        acme = session.get(Company, company_id)
        bank.create_account(
            session, ctx, acme, c.CreateBankAccount(code="MAIN", iban="FR7630006000011234567890189")
        )
        deposit = bank.record_cash_deposit(
            session,
            ctx,
            acme,
            session.get(Store, store_id),
            c.RecordCashDeposit(
                store_id=store["id"],
                reference="000777",
                amount=D("412.35"),
                deposited_on=dt.date(2026, 11, 29),
            ),
        )
    with runtime.session_factory() as session:
        totals = balances(session, company_id)
    assert totals["cash_in_transit"] == D("412.35")  # in the safe, then in the bag: not in the bank yet
    assert totals.get("cash_drawer", D(0)) == D(0)
    assert deposit.state == "pending"

    with transaction(runtime.session_factory) as session:
        acme = session.get(Company, company_id)
        result = bank.import_statement(session, ctx, acme, "nov.csv", STATEMENT, "csv", "MAIN", MAPPING)

    assert (result.matched, result.unmatched, len(result.entries)) == (1, 0, 1)
    with runtime.session_factory() as session:
        totals = balances(session, company_id)
        acme = session.get(Company, company_id)
        figures = bank.reconciliation(session, acme, bank.account_by_ref(session, acme, "MAIN"))
        [(state,)] = session.execute(select(CashDeposit.state)).all()
    assert totals["cash_in_transit"] == D(0)
    assert totals["bank"] == D("412.35")
    assert state == "banked"
    assert (figures.statement_balance, figures.ledger_balance, figures.reconciled) == (
        D("412.35"),
        D("412.35"),
        True,
    )
