"""The simulator's promotions, coupons, loyalty and manual discounts (issue 19), through the real
services: four eyes on every promotion, discounts recorded per line with their sources, coupons within
their limits and a reuse refused, points earned and burned with the books balanced, and one cashier whose
manual discounts stand out, recorded as ground truth."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retailcore.access.tables import User
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.tables import Event
from retailcore.loyalty.tables import LoyaltyAccount, LoyaltyMovement, LoyaltyProgramme
from retailcore.masterdata.tables import Company
from retailcore.monitoring.tables import ExceptionCase
from retailcore.orders.tables import OrderLineRow, OrderRow
from retailcore.promotions.tables import Coupon, CouponRedemption, PromotionRow
from retailcore.simulation import PROFILE, Options, simulate
from retailcore.simulation.summary import _by_role

START = dt.date(2026, 3, 5)
"""A Thursday: the run has a weekend (the apparel promotion's window)."""
DAYS = 6
PROFILE_UNDER_TEST = replace(
    PROFILE,
    leaks=False,  # the planted leaks' promotion and refunds: test_simulation_leaks
    web_orders_per_store_day=(4, 1),
    coupon_web_percent=60,
    coupon_reuse_percent=40,
    loyalty_web_percent=50,
    loyalty_pos_percent=30,
    loyalty_burn_min_points=100,
    loyalty_burn_percent=50,
)
OPTIONS = Options(company="CMP", stores=2, days=DAYS, seed=3, start=START, scale=Decimal("0.5"))


def _company(session: Session) -> Any:
    return session.scalar(select(Company.id).where(Company.code == "CMP"))


def test_promotions_coupons_loyalty_and_a_high_discount_cashier(runtime: Runtime) -> None:
    summary = simulate(runtime.session_factory, OPTIONS, profile=PROFILE_UNDER_TEST)
    assert summary is not None
    assert summary["trial_balance_balanced"] is True
    assert summary["stock_agrees_with_ledger"] is True

    with runtime.session_factory() as session:
        company_id = _company(session)

        # -- promotions: drafted by one, approved by another; the sweep activated and expired them.
        promotions = session.scalars(select(PromotionRow).where(PromotionRow.company_id == company_id)).all()
        assert len(promotions) == summary["promotions"]["approved"] == 4
        for row in promotions:
            assert row.decided_by is not None
            assert row.decided_by not in {row.created_by, row.submitted_by, row.last_edited_by}
        states = {row.code.split("-")[0]: row.state for row in promotions}
        assert states == {"WKND15": "active", "COFFEE3": "expired", "SPEND": "active", "WEB10": "active"}
        assert summary["promotions"]["expired"] == 1

        # -- discounts per line, with their sources, on the POS and the web.
        sources: dict[str, set[str]] = defaultdict(set)
        manual: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
        """given_by -> (line amount, manual discount) of every POS line."""
        overridden_by: set[str] = set()
        discounted_tickets: dict[str, set[str]] = defaultdict(set)
        rows = session.execute(
            select(
                OrderRow.channel,
                OrderRow.client_uuid,
                OrderLineRow.quantity,
                OrderLineRow.unit_price,
                OrderLineRow.discount,
                OrderLineRow.discounts,
                OrderRow.created_by,
            )
            .join(OrderRow, OrderRow.id == OrderLineRow.order_id)
            .where(OrderRow.company_id == company_id)
        ).all()
        for channel, client_uuid, quantity, unit_price, discount, records, _ in rows:
            records = records or []
            assert sum((Decimal(r["amount"]) for r in records), Decimal(0)) == discount
            for record in records:
                sources[channel].add(record["source"])
                assert record["code"]
                if record["source"] == "manual":
                    assert record["given_by"]
                    if "override" in record:
                        overridden_by.add(record["override"]["by"])
                else:
                    assert record["promotion_id"]
            if channel == "pos" and quantity > 0:
                given = [r for r in records if r["source"] == "manual"]
                by = given[0]["given_by"] if given else None
                amount = (quantity * unit_price).quantize(Decimal("0.01"))
                taken = sum((Decimal(r["amount"]) for r in given), Decimal(0))
                if by is not None:
                    manual[by].append((amount, taken))
                    discounted_tickets[by].add(str(client_uuid))
        assert {"promotion", "manual"} <= sources["pos"]
        assert {"promotion", "coupon"} <= sources["web"]
        assert all(by.startswith("cashier-") for by in manual)
        managers = set(session.scalars(select(User.username).where(User.role == "store_manager")))
        assert overridden_by and overridden_by <= managers
        # The till priced the promotions as the server did: no mismatch, no coupon reuse at a till.
        raised = set(
            session.scalars(select(ExceptionCase.type).where(ExceptionCase.company_id == company_id))
        )
        assert "pricing_mismatch" not in raised and "coupon_reuse" not in raised

        # -- coupons: within their limits, each redemption once; reuses refused.
        coupons = session.scalars(select(Coupon).where(Coupon.company_id == company_id)).all()
        assert len(coupons) == summary["coupons"]["generated"]
        assert all(c.max_uses == 1 and c.uses <= 1 for c in coupons)
        redemptions = session.scalar(
            select(func.count())
            .select_from(CouponRedemption)
            .where(CouponRedemption.company_id == company_id)
        )
        assert redemptions == sum(c.uses for c in coupons) == summary["coupons"]["redeemed"] > 0
        assert summary["coupons"]["reuse_refused"] > 0

        # -- loyalty: earned and burned; balances are their movements; the liability is the points'
        # value in the books.
        kinds = defaultdict(int)
        by_account: dict[Any, int] = defaultdict(int)
        for account_id, kind, points in session.execute(
            select(LoyaltyMovement.account_id, LoyaltyMovement.kind, LoyaltyMovement.points).where(
                LoyaltyMovement.company_id == company_id
            )
        ):
            kinds[kind] += abs(points)
            by_account[account_id] += points
        assert kinds["earn"] == summary["loyalty"]["points_earned"] > 0
        assert kinds["burn"] == summary["loyalty"]["points_burned"] > 0
        balances = dict(
            session.execute(
                select(LoyaltyAccount.id, LoyaltyAccount.balance).where(
                    LoyaltyAccount.company_id == company_id
                )
            ).all()
        )
        for account_id, balance in balances.items():
            assert by_account.get(account_id, 0) == balance
        value = session.scalar(
            select(LoyaltyProgramme.point_value).where(LoyaltyProgramme.company_id == company_id)
        )
        roles = _by_role(session, company_id, START - dt.timedelta(days=1), START + dt.timedelta(days=DAYS))
        assert -roles["loyalty_liability"] == sum(balances.values()) * value

        # -- the high-discount cashier: well above the others, and the ground truth names it.
        (truth,) = summary["ground_truth"]["high_discount_cashiers"]
        cashier = truth["cashier"]

        def rate(lines: list[tuple[Decimal, Decimal]]) -> Decimal:
            return sum((d for _, d in lines), Decimal(0)) / sum((a for a, _ in lines), Decimal(0))

        pos_lines: dict[str, list[tuple[Decimal, Decimal]]] = defaultdict(list)
        for channel, _, quantity, unit_price, _, records, created_by in rows:
            if channel == "pos" and quantity > 0:
                taken = sum(
                    (Decimal(r["amount"]) for r in records or [] if r["source"] == "manual"), Decimal(0)
                )
                pos_lines[created_by].append(((quantity * unit_price).quantize(Decimal("0.01")), taken))
        assert cashier in pos_lines and len(pos_lines) > 1
        others = [rate(lines) for who, lines in pos_lines.items() if who != cashier]
        assert rate(pos_lines[cashier]) > 4 * max(others)
        assert set(truth["tickets"]) == discounted_tickets[cashier]
        assert truth["overrides"] > 0
        # ... and in the database, as an event a detector can be scored against.
        (payload,) = [
            p
            for p in session.scalars(
                select(Event.payload).where(
                    Event.company_id == company_id, Event.type == "SimulationGroundTruthRecorded"
                )
            )
            if p["kind"] == "high_manual_discounts"
        ]
        assert payload["cashier"] == cashier and payload["tickets"] == truth["tickets"]


def test_without_campaigns_the_simulation_trades_as_before(runtime: Runtime) -> None:
    summary = simulate(
        runtime.session_factory,
        replace(OPTIONS, company="OFF", days=2),
        profile=replace(PROFILE_UNDER_TEST, campaigns=False),
    )
    assert summary is not None and "ground_truth" not in summary
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == "OFF"))
        assert not session.scalar(select(func.count()).where(PromotionRow.company_id == company_id))
        assert not session.scalar(select(func.count()).where(LoyaltyMovement.company_id == company_id))
