"""Two tills burning one customer's points at the same instant never overdraw the account: one wins,
the other gets ``409 insufficient-balance`` (PostgreSQL: the conditional ``UPDATE`` waits for the
first's row lock, then finds the balance too low; SQLite: one writer)."""

from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext
from retailcore.loyalty import commands as lc
from retailcore.loyalty import services as loyalty
from retailcore.loyalty.tables import LoyaltyAccount, LoyaltyMovement
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.masterdata.tables import Customer
from support import POSTGRES_URL


def test_two_burns_of_the_same_points_at_once_have_one_winner(runtime):
    ctx = CommandContext(system_principal("test"))
    with transaction(runtime.session_factory) as session:
        company = create_company(
            session, ctx, CreateCompany(code="ACME", name="Acme", currency="EUR", country="FR")
        )
        customer = Customer(company_id=company.id, code="ANNA", name="Anna")
        session.add(customer)
        session.flush()
        loyalty.set_programme(
            session, ctx, company, lc.SetProgramme(points_per_unit=Decimal(1), point_value=Decimal("0.05"))
        )
        account = loyalty.open_account(session, ctx, company, lc.OpenAccount(customer_id=customer.id))
        session.get_one(LoyaltyAccount, account.id).balance = 24
        company_id, customer_id = company.id, customer.id

    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def one() -> None:
        try:
            if not POSTGRES_URL:
                barrier.wait()
            with transaction(runtime.session_factory) as session:
                if POSTGRES_URL:
                    assert session.get_one(LoyaltyAccount, account.id).balance == 24  # both read 24
                    barrier.wait()
                loyalty.burn(
                    session, ctx, company_id=company_id, customer_id=customer_id, amount=Decimal("1.00"),
                    currency="EUR", reference="T",
                )  # fmt: skip
            outcomes.append("taken")
        except Conflict as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["insufficient-balance", "taken"]
    with runtime.session_factory() as session:
        assert session.get_one(LoyaltyAccount, account.id).balance == 4
        assert session.scalar(select(func.count()).select_from(LoyaltyMovement)) == 1
