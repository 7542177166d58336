"""The payments context's services as other contexts call them (returns, orders, POS), and two
redemptions of one card or one customer's credit racing at the same instant."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, ValidationFailed
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.payments import commands as c
from retailcore.payments import services as pay
from retailcore.payments.tables import GiftCard, GiftCardMovement, StoreCreditMovement
from support import POSTGRES_URL

D = Decimal


@pytest.fixture
def acme(runtime, client, admin, company):
    customer = client.post(
        "/api/v1/customers", json={"company_id": company["id"], "code": "BOB", "name": "Bob"}, headers=admin
    )
    assert customer.status_code == 201, customer.text

    class Acme:
        id = uuid.UUID(company["id"])
        customer_id = uuid.UUID(customer.json()["id"])

        def run(self, work: Any) -> Any:
            with transaction(runtime.session_factory) as session:
                return work(session, CommandContext(system_principal()), session.get(Company, self.id))

        def count(self, model: Any) -> int:
            with runtime.session_factory() as session:
                return session.scalar(select(func.count()).select_from(model))

    return Acme()


def test_store_credit_from_a_return_moves_the_balance_and_leaves_the_posting_to_the_caller(acme, runtime):
    movement = acme.run(
        lambda s, ctx, company: pay.issue_store_credit(
            s,
            ctx,
            company_id=company.id,
            customer_id=acme.customer_id,
            amount=D("25.00"),
            source="return",
            reference="RET-1",
            post=False,
        )
    )
    assert isinstance(movement, StoreCreditMovement)
    assert (movement.kind, movement.source, movement.amount, movement.balance_after) == (
        "issue",
        "return",
        D("25.00"),
        D("25.00"),
    )
    with runtime.session_factory() as session:
        event = session.scalars(select(Event).where(Event.type == "StoreCreditIssued")).one()
        assert event.payload["source"] == "return" and event.payload["post"] is False
        assert session.scalar(select(a.JournalEntry).where(a.JournalEntry.event_id == event.id)) is None


def test_goodwill_store_credit_posted_by_payments(acme, runtime):
    acme.run(
        lambda s, ctx, company: pay.issue_store_credit(
            s,
            ctx,
            company_id=company.id,
            customer_id=acme.customer_id,
            amount=D("5.00"),
            source="goodwill",
            reference="sorry",
            post=True,
        )
    )
    with runtime.session_factory() as session:
        event = session.scalars(select(Event).where(Event.type == "StoreCreditIssued")).one()
        entry = session.scalar(select(a.JournalEntry).where(a.JournalEntry.event_id == event.id))
        assert entry is not None and entry.state == "posted"


def test_bad_store_credit_requests_write_nothing(acme):
    before = acme.count(StoreCreditMovement)
    for amount, source in ((D("0"), "goodwill"), (D("1.001"), "goodwill"), (D("1"), "lottery")):
        with pytest.raises(ValidationFailed):
            acme.run(
                lambda s, ctx, company, amount=amount, source=source: pay.issue_store_credit(
                    s,
                    ctx,
                    company_id=company.id,
                    customer_id=acme.customer_id,
                    amount=amount,
                    source=source,
                    reference="x",
                    post=False,
                )
            )
    assert acme.count(StoreCreditMovement) == before


def test_redeem_and_credit_back_by_card_id(acme):
    issued = acme.run(
        lambda s, ctx, company: pay.issue_gift_card(s, ctx, company, c.IssueGiftCard(amount=D("10.00")))
    )
    redeemed = acme.run(
        lambda s, ctx, company: pay.redeem_gift_card(
            s, ctx, company_id=company.id, card_id=issued.id, amount=D("4.00"), currency="EUR", reference="R1"
        )
    )
    assert (redeemed.kind, redeemed.amount, redeemed.balance_after) == ("redeem", D("-4.00"), D("6.00"))
    credited = acme.run(
        lambda s, ctx, company: pay.credit_gift_card(
            s, ctx, company_id=company.id, card_id=issued.id, amount=D("1.50"), currency="EUR", reference="R1"
        )
    )
    assert (credited.kind, credited.balance_after) == ("refund", D("7.50"))
    with pytest.raises(Conflict) as refused:
        acme.run(
            lambda s, ctx, company: pay.redeem_gift_card(
                s,
                ctx,
                company_id=company.id,
                card_id=issued.id,
                amount=D("7.51"),
                currency="EUR",
                reference="R2",
            )
        )
    assert refused.value.code == "insufficient-balance"
    assert acme.count(GiftCardMovement) == 3


# -- racing redemptions ------------------------------------------------------------------------------


def _race(runtime, attempt) -> list[str]:
    """Run ``attempt(session, ctx)`` in two transactions on two connections that both start, and read
    the balance, before either takes anything."""
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def one() -> None:
        try:
            with transaction(runtime.session_factory) as session:
                attempt(session, CommandContext(system_principal()), barrier)
            outcomes.append("taken")
        except Conflict as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent writers need PostgreSQL; SQLite has a single writer")
@pytest.mark.parametrize("round_", range(3))
def test_two_tills_redeeming_one_card_at_the_same_instant_never_overdraw_it(acme, runtime, round_):
    issued = acme.run(
        lambda s, ctx, company: pay.issue_gift_card(s, ctx, company, c.IssueGiftCard(amount=D("10.00")))
    )

    def redeem(session, ctx, barrier) -> None:
        card = session.get(GiftCard, issued.id)
        assert card.balance == D("10.00")  # both have read 10.00: enough for either, not for both
        barrier.wait()
        pay.redeem_gift_card(
            session,
            ctx,
            company_id=acme.id,
            card_id=issued.id,
            amount=D("8.00"),
            currency="EUR",
            reference="T",
        )

    assert _race(runtime, redeem) == ["insufficient-balance", "taken"]
    with runtime.session_factory() as session:
        assert session.get(GiftCard, issued.id).balance == D("2.00")
        kinds = session.scalars(
            select(GiftCardMovement.kind)
            .where(GiftCardMovement.card_id == issued.id)
            .order_by(GiftCardMovement.id)
        ).all()
        assert kinds == ["issue", "redeem"]


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent writers need PostgreSQL; SQLite has a single writer")
def test_two_orders_spending_one_customers_credit_at_the_same_instant_never_overdraw_it(acme, runtime):
    acme.run(
        lambda s, ctx, company: pay.issue_store_credit(
            s,
            ctx,
            company_id=company.id,
            customer_id=acme.customer_id,
            amount=D("10.00"),
            source="goodwill",
            reference="x",
            post=True,
        )
    )

    def spend(session, ctx, barrier) -> None:
        barrier.wait()
        pay.spend_store_credit(
            session,
            ctx,
            company_id=acme.id,
            customer_id=acme.customer_id,
            amount=D("6.00"),
            currency="EUR",
            reference="O",
        )

    assert _race(runtime, spend) == ["insufficient-balance", "taken"]
    with runtime.session_factory() as session:
        statement = pay.statement(
            session, system_principal(), session.get(Company, acme.id), acme.customer_id
        )
    assert statement.balance == D("4.00")
    assert [m.balance_after for m in statement.movements] == [D("10.00"), D("4.00")]


# -- the balance is the sum of the movements, whatever happens ---------------------------------------

_cents = st.integers(min_value=1, max_value=5000).map(lambda n: D(n) / 100)
_operations = st.lists(st.tuples(st.sampled_from(["redeem", "credit", "reload"]), _cents), max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=_cents, operations=_operations)
def test_a_cards_balance_is_the_sum_of_its_movements_and_never_negative(acme, runtime, first, operations):
    issued = acme.run(
        lambda s, ctx, company: pay.issue_gift_card(s, ctx, company, c.IssueGiftCard(amount=first))
    )
    expected = first
    for kind, amount in operations:
        try:
            if kind == "reload":
                acme.run(
                    lambda s, ctx, company, amount=amount: pay.reload_gift_card(
                        s, ctx, company, issued.code, c.ReloadGiftCard(amount=amount)
                    )
                )
            else:
                move = pay.redeem_gift_card if kind == "redeem" else pay.credit_gift_card
                acme.run(
                    lambda s, ctx, company, amount=amount, move=move: move(
                        s,
                        ctx,
                        company_id=company.id,
                        card_id=issued.id,
                        amount=amount,
                        currency="EUR",
                        reference="P",
                    )
                )
        except Conflict as refused:
            assert kind == "redeem" and amount > expected and refused.code == "insufficient-balance"
            continue
        expected += -amount if kind == "redeem" else amount
    with runtime.session_factory() as session:
        card = session.get(GiftCard, issued.id)
        movements = session.scalars(
            select(GiftCardMovement)
            .where(GiftCardMovement.card_id == issued.id)
            .order_by(GiftCardMovement.id)
        ).all()
    assert card.balance == expected == sum((m.amount for m in movements), D(0))
    running = D(0)
    for movement in movements:
        running += movement.amount
        assert movement.balance_after == running >= 0
