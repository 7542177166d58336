"""Coupons redeemed at the same instant from separate connections: the limits hold.

Each attempt runs :func:`retailcore.promotions.coupons.redeem` in its own transaction on its own
connection, on a thread of its own; a barrier releases them together. On PostgreSQL every transaction
first reads the coupon (all see it unused), then they all redeem at once: the conditional ``UPDATE``
lets exactly the allowed number through. SQLite has a single writer (each unit of work begins
``IMMEDIATE``), so the barrier releases the threads just before they begin: they queue on the write
lock, and the outcome must be the same.
"""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.model import system_principal
from retailcore.adapters.db import make_session_factory, transaction
from retailcore.core.errors import Conflict
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company
from retailcore.promotions import coupons as svc
from retailcore.promotions.tables import Coupon, CouponRedemption, PromotionRow
from support import POSTGRES_URL


@pytest.fixture
def acme(runtime):
    ctx = CommandContext(system_principal("test"))
    with transaction(runtime.session_factory) as session:
        company = create_company(
            session, ctx, CreateCompany(code="ACME", name="Acme", currency="EUR", country="FR")
        )
        company_id = company.id
        promotion = PromotionRow(
            company_id=company_id,
            code="RACE",
            name="Race",
            kind="percent_off",
            rule={"percent": "10"},
            state="approved",
            created_by="test",
        )
        session.add(promotion)
    return company_id


def _coupon(runtime, company_id, code, **limits) -> uuid.UUID:
    with transaction(runtime.session_factory) as session:
        promotion = session.scalar(select(PromotionRow).where(PromotionRow.code == "RACE"))
        coupon = Coupon(
            company_id=company_id, code=code, promotion_id=promotion.id, uses=0, active=True, **limits
        )
        session.add(coupon)
        session.flush()
        return coupon.id


def _factory(runtime, connections: int) -> tuple[sessionmaker[Session], Engine | None]:
    """Sessions on ``connections`` connections at once (PostgreSQL: an engine with a pool that large; the
    runtime's pool holds 15). SQLite serialises writers anyway: the runtime's factory."""
    if not POSTGRES_URL:
        return runtime.session_factory, None
    url = runtime.engine.url.render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=connections, max_overflow=0)
    return make_session_factory(engine), engine


def _race(runtime, coupon_id: uuid.UUID, customers: list[uuid.UUID | None]) -> list[str]:
    """One redemption per entry of ``customers`` (each on a new order), all at the same instant."""
    factory, engine = _factory(runtime, len(customers))
    barrier = threading.Barrier(len(customers), timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(customer_id: uuid.UUID | None) -> None:
        try:
            if not POSTGRES_URL:
                barrier.wait()
            with transaction(factory) as session:
                coupon = session.get(Coupon, coupon_id)
                assert coupon is not None
                if POSTGRES_URL:
                    uses = coupon.uses  # every transaction has read the coupon before any redeems
                    barrier.wait()
                    assert uses == 0
                svc.redeem(
                    session,
                    CommandContext(system_principal("test")),
                    coupon,
                    order_id=uuid.uuid4(),
                    customer_id=customer_id,
                    amount=Decimal("5.00"),
                )
            outcome = "taken"
        except Conflict as refused:
            outcome = refused.code
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(customer,)) for customer in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if engine is not None:
        engine.dispose()
    assert len(outcomes) == len(customers), "a redemption did not finish"
    return sorted(outcomes)


def _counted(runtime, coupon_id) -> tuple[int, int]:
    with runtime.session_factory() as session:
        uses = session.get_one(Coupon, coupon_id).uses
        rows = session.scalar(
            select(func.count()).select_from(CouponRedemption).where(CouponRedemption.coupon_id == coupon_id)
        )
        return uses, rows


@pytest.mark.parametrize("round_", range(3))
def test_two_redemptions_of_a_single_use_code_at_once_have_one_winner(acme, runtime, round_):
    coupon_id = _coupon(runtime, acme, f"ONE{round_}", max_uses=1)
    assert _race(runtime, coupon_id, [None, None]) == ["coupon-used-up", "taken"]
    assert _counted(runtime, coupon_id) == (1, 1)


def test_twenty_redemptions_of_a_five_use_code_at_once_have_five_winners(acme, runtime):
    coupon_id = _coupon(runtime, acme, "FIVE", max_uses=5)
    outcomes = _race(runtime, coupon_id, [None] * 20)
    assert outcomes.count("taken") == 5 and outcomes.count("coupon-used-up") == 15
    assert _counted(runtime, coupon_id) == (5, 5)


def test_the_per_customer_limit_holds_at_the_same_instant(acme, runtime):
    coupon_id = _coupon(runtime, acme, "PERCUST", max_uses=None, max_uses_per_customer=2)
    anna = _customer(runtime, acme)
    outcomes = _race(runtime, coupon_id, [anna] * 6)
    assert outcomes.count("taken") == 2 and outcomes.count("coupon-customer-limit") == 4
    # The refused ones rolled back the use they had raised.
    assert _counted(runtime, coupon_id) == (2, 2)


def _customer(runtime, company_id) -> uuid.UUID:
    from retailcore.masterdata.tables import Customer

    with transaction(runtime.session_factory) as session:
        customer = Customer(company_id=company_id, code="ANNA", name="Anna")
        session.add(customer)
        session.flush()
        return customer.id
