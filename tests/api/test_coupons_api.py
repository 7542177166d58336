"""Coupons over HTTP and through the channels' service API: single- and multi-use limits, the limit per
customer, windows, deactivation, generated batches, idempotent redemption. Promotions are inserted
as rows (state ``approved``): their own API is built elsewhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from retailcore.access.model import system_principal
from retailcore.adapters.db import transaction
from retailcore.core.errors import Conflict, InvalidReference
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.promotions import coupons as svc
from retailcore.promotions.tables import Coupon, CouponRedemption, PromotionRow

NOW = dt.datetime.now(dt.UTC)


def _promotion(runtime, company_id: str, code: str = "SUMMER", state: str = "approved") -> str:
    with transaction(runtime.session_factory) as session:
        row = PromotionRow(
            company_id=uuid.UUID(company_id),
            code=code,
            name=f"{code} 10 % off",
            kind="percent_off",
            rule={"percent": "10"},
            coupon_only=True,
            state=state,
            created_by="test",
        )
        session.add(row)
        session.flush()
        return str(row.id)


@pytest.fixture
def shop(runtime, client, admin, company):
    company_id = company["id"]
    promotion_id = _promotion(runtime, company_id)
    customers = [
        client.post(
            f"{API}/customers", json={"company_id": company_id, "code": code, "name": code}, headers=admin
        ).json()["id"]
        for code in ("ANNA", "BEN")
    ]

    class Shop:
        def __init__(self) -> None:
            self.company_id = company_id
            self.promotion_id = promotion_id
            self.anna, self.ben = customers

        def post(self, path, body, status=201, headers=None):
            response = client.post(f"{API}/{path}", json=body, headers=headers or admin)
            assert response.status_code == status, response.text
            return response.json()

        def get(self, path, status=200, **params):
            response = client.get(f"{API}/{path}", params=params, headers=admin)
            assert response.status_code == status, response.text
            return response.json()

        def coupon(self, **fields):
            return self.post("coupons", {"promotion": "SUMMER", **fields})

        def redeem(self, code, order_id=None, customer_id=None, amount="5.00", headers=None):
            body = {"order_id": order_id or str(uuid.uuid4()), "amount": amount}
            if customer_id:
                body["customer_id"] = customer_id
            return client.post(f"{API}/coupons/{code}/redemptions", json=body, headers=headers or admin)

        def validate(self, codes, customer_id=None, at=None):
            with runtime.session_factory() as session:
                company_row = session.get(Company, uuid.UUID(company_id))
                return svc.validate_coupons(
                    session,
                    company_row,
                    codes,
                    customer_id=uuid.UUID(customer_id) if customer_id else None,
                    at=at or dt.datetime.now(dt.UTC),
                )

        def count(self, model, **where):
            with runtime.session_factory() as session:
                query = select(func.count()).select_from(model)
                for name, value in where.items():
                    query = query.where(getattr(model, name) == value)
                return session.scalar(query)

        def events(self, type_):
            with runtime.session_factory() as session:
                return list(
                    session.scalars(select(Event).where(Event.type == type_).order_by(Event.position))
                )

    return Shop()


def test_a_single_use_code_is_redeemed_once_and_then_refused(shop):
    created = shop.coupon(code="welcome-10")
    assert created["code"] == "WELCOME10"
    assert (created["max_uses"], created["uses"], created["uses_left"], created["valid_now"]) == (
        1,
        0,
        1,
        True,
    )
    # Typed in any case, with spaces and dashes.
    assert shop.get("coupons/Welcome 10")["id"] == created["id"]
    assert shop.validate(["welcome-10"])[0].promotion_id == uuid.UUID(shop.promotion_id)

    first = shop.redeem("WELCOME10", customer_id=shop.anna)
    assert first.status_code == 201, first.text
    again = shop.redeem("welcome10")  # another order
    assert_problem(again, 409, "coupon-used-up", ("code",))
    status = shop.get("coupons/WELCOME10")
    assert (status["uses"], status["uses_left"], status["valid_now"]) == (1, 0, False)
    assert shop.count(CouponRedemption) == 1
    with pytest.raises(Conflict) as refused:
        shop.validate(["WELCOME10"])
    assert refused.value.code == "coupon-used-up"
    assert refused.value.problems[0].field == "coupons.0"
    (event,) = shop.events("CouponRedeemed")
    assert event.payload["code"] == "WELCOME10" and event.payload["uses"] == 1


def test_a_multi_use_code_holds_its_total_and_per_customer_limits(shop):
    shop.coupon(code="TEAM", max_uses=3, max_uses_per_customer=2)
    assert shop.redeem("TEAM", customer_id=shop.anna).status_code == 201
    assert shop.redeem("TEAM", customer_id=shop.anna).status_code == 201
    third = shop.redeem("TEAM", customer_id=shop.anna)
    assert_problem(third, 409, "coupon-customer-limit", ("code",))
    with pytest.raises(Conflict) as refused:
        shop.validate(["TEAM"], customer_id=shop.anna)
    assert refused.value.code == "coupon-customer-limit"
    assert shop.validate(["TEAM"], customer_id=shop.ben)  # Ben may still
    assert shop.redeem("TEAM", customer_id=shop.ben).status_code == 201
    assert_problem(shop.redeem("TEAM", customer_id=shop.ben), 409, "coupon-used-up")
    assert shop.get("coupons/TEAM")["uses"] == 3  # refusals roll back their raised use
    unlimited = shop.coupon(code="ALWAYS", max_uses=None)
    assert unlimited["uses_left"] is None
    for _ in range(3):
        assert shop.redeem("ALWAYS").status_code == 201


def test_a_coupon_outside_its_window_is_refused(shop):
    shop.coupon(
        code="OLD",
        valid_from=(NOW - dt.timedelta(days=10)).isoformat(),
        valid_to=(NOW - dt.timedelta(days=1)).isoformat(),
    )
    shop.coupon(code="SOON", valid_from=(NOW + dt.timedelta(days=1)).isoformat())
    assert shop.get("coupons/OLD")["valid_now"] is False
    assert_problem(shop.redeem("OLD"), 409, "coupon-expired", ("code",))
    assert_problem(shop.redeem("SOON"), 409, "coupon-not-yet-valid", ("code",))
    with pytest.raises(Conflict) as refused:
        shop.validate(["OLD", "SOON"])
    assert [(p.field, refused.value.code) for p in refused.value.problems] == [
        ("coupons.0", "coupon-expired"),
        ("coupons.1", "coupon-expired"),
    ]
    # Valid at the instant asked about.
    assert shop.validate(["SOON"], at=NOW + dt.timedelta(days=2))
    assert shop.get("coupons/OLD")["uses"] == 0 and shop.count(CouponRedemption) == 0
    bad = shop.post(
        "coupons",
        {"promotion": "SUMMER", "valid_from": NOW.isoformat(), "valid_to": NOW.isoformat()},
        status=422,
    )
    assert bad["code"] == "validation-failed"


def test_unknown_inactive_and_unapproved_coupons_are_refused(shop, runtime, admin):
    assert_problem(shop.redeem("NOPE"), 404)
    with pytest.raises(InvalidReference) as unknown:
        shop.validate(["nope"])
    assert [p.field for p in unknown.value.problems] == ["coupons.0"]
    shop.coupon(code="STOPME", max_uses=None)
    shop.post("coupons/STOPME/deactivate", {"reason": "leaked on a forum"}, status=200)
    assert shop.get("coupons/STOPME")["active"] is False
    assert_problem(shop.redeem("STOPME"), 409, "coupon-inactive", ("code",))
    (event,) = shop.events("CouponDeactivated")
    assert event.payload["reason"] == "leaked on a forum"

    _promotion(runtime, shop.company_id, code="DRAFTY", state="draft")
    shop.post("coupons", {"promotion": "DRAFTY", "code": "EARLY"})  # made ahead of approval
    assert_problem(shop.redeem("EARLY"), 409, "coupon-promotion-unavailable")
    _promotion(runtime, shop.company_id, code="NO", state="rejected")
    closed = shop.post("coupons", {"promotion": "NO"}, status=409)
    assert closed["code"] == "promotion-closed"
    missing = shop.post("coupons", {"promotion": "GHOST"}, status=422)
    assert missing["code"] == "invalid-reference"
    duplicate = shop.post("coupons", {"promotion": "SUMMER", "code": "stop-me"}, status=409)
    assert duplicate["code"] == "coupon-exists"


def test_a_redemption_replayed_for_the_same_order_uses_nothing(shop, client, admin):
    shop.coupon(code="ONCE")
    order_id = str(uuid.uuid4())
    first = shop.redeem("ONCE", order_id=order_id, customer_id=shop.anna)
    assert first.status_code == 201
    again = shop.redeem("ONCE", order_id=order_id, customer_id=shop.anna)  # no key: the same order
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert shop.get("coupons/ONCE")["uses"] == 1 and shop.count(CouponRedemption) == 1
    keyed = {**admin, "Idempotency-Key": "redeem-1"}
    body = {"order_id": str(uuid.uuid4()), "amount": "2.00"}
    shop.coupon(code="MULTI", max_uses=None)
    one = client.post(f"{API}/coupons/MULTI/redemptions", json=body, headers=keyed)
    two = client.post(f"{API}/coupons/MULTI/redemptions", json=body, headers=keyed)
    assert two.headers["Idempotent-Replayed"] == "true" and two.json() == one.json()
    assert shop.get("coupons/MULTI")["uses"] == 1
    page = shop.get("coupons/MULTI/redemptions")
    assert [item["amount"] for item in page["items"]] == ["2.00"]


def test_a_generated_batch_is_unique_unguessable_and_listed_by_batch(shop, client, admin):
    shop.coupon(code="XMASTAKEN")
    made = shop.post(
        "coupons/generate",
        {
            "promotion": "SUMMER",
            "count": 500,
            "prefix": "xmas",
            "max_uses_per_customer": 1,
            "batch": "xmas-2026",
        },
    )
    codes = made["codes"]
    assert made["count"] == 500 and len(set(codes)) == 500 and made["batch"] == "xmas-2026"
    assert all(re.fullmatch(r"XMAS[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}", code) for code in codes)
    assert shop.count(Coupon, batch="xmas-2026") == 500
    # Paged, filtered by batch.
    page = shop.get("coupons", batch="xmas-2026", limit=200)
    assert len(page["items"]) == 200 and page["next_cursor"]
    seen = {item["code"] for item in page["items"]}
    while page["next_cursor"]:
        page = shop.get("coupons", batch="xmas-2026", limit=200, cursor=page["next_cursor"])
        seen |= {item["code"] for item in page["items"]}
    assert seen == set(codes)
    assert all(item["max_uses"] == 1 for item in page["items"])
    assert len(shop.get("coupons", promotion="SUMMER", limit=500)["items"]) == 500
    # The CSV lists them again.
    exported = client.get(f"{API}/coupons/batches/xmas-2026.csv", headers=admin)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["code"] for row in rows] == codes and rows[0]["max_uses_per_customer"] == "1"
    # The event carries a digest of the codes, not the codes.
    (event,) = shop.events("CouponsGenerated")
    assert event.payload["count"] == 500 and event.payload["codes_sha256"] == svc.batch_digest(codes)
    assert codes[0] not in str(event.payload)
    again = shop.post(
        "coupons/generate", {"promotion": "SUMMER", "count": 1, "batch": "xmas-2026"}, status=409
    )
    assert again["code"] == "coupon-batch-exists"
    too_many = shop.post("coupons/generate", {"promotion": "SUMMER", "count": 10001}, status=422)
    assert too_many["code"] == "validation-failed"


def test_generation_draws_around_codes_that_exist(shop, runtime, monkeypatch):
    """A drawn code the company already has is drawn again: the batch still has ``count`` new codes."""
    shop.coupon(code="AAAAAAAAAAAA")
    draws = iter(["AAAAAAAAAAAA", "AAAAAAAAAAAA", "BBBBBBBBBBBB", "CCCCCCCCCCCC"])
    monkeypatch.setattr(svc, "new_code", lambda prefix="": next(draws))
    made = shop.post("coupons/generate", {"promotion": "SUMMER", "count": 2})
    assert sorted(made["codes"]) == ["BBBBBBBBBBBB", "CCCCCCCCCCCC"]


def test_validate_reports_every_code_at_once(shop, runtime):
    shop.coupon(code="GOOD", max_uses=None)
    shop.coupon(code="USED")
    assert shop.redeem("USED").status_code == 201
    with pytest.raises(Conflict) as refused:
        shop.validate(["good", "used", "GOOD"])
    assert refused.value.code == "coupon-used-up"
    assert [p.field for p in refused.value.problems] == ["coupons.1", "coupons.2"]
    (valid,) = shop.validate(["good"])
    assert valid.code == "GOOD"
    assert svc.basket_coupons([valid]) == (("GOOD", uuid.UUID(shop.promotion_id)),)


def test_the_service_redeem_is_idempotent_and_writes_nothing_when_refused(shop, runtime):
    shop.coupon(code="SVC")
    order_id = uuid.uuid4()
    ctx = CommandContext(system_principal("test"))
    with transaction(runtime.session_factory) as session:
        coupon = svc.find_coupon(session, uuid.UUID(shop.company_id), "svc")
        first = svc.redeem(session, ctx, coupon, order_id=order_id, customer_id=None, amount=Decimal("3.00"))
        again = svc.redeem(session, ctx, coupon, order_id=order_id, customer_id=None, amount=Decimal("3.00"))
        assert again.id == first.id and coupon.uses == 1
    with pytest.raises(Conflict), transaction(runtime.session_factory) as session:
        coupon = svc.find_coupon(session, uuid.UUID(shop.company_id), "SVC")
        svc.redeem(session, ctx, coupon, order_id=uuid.uuid4(), customer_id=None, amount=Decimal("1"))
    assert shop.get("coupons/SVC")["uses"] == 1 and shop.count(CouponRedemption) == 1


def test_a_generated_batch_keeps_its_window_and_limits(shop):
    until = (NOW + dt.timedelta(days=30)).replace(microsecond=0)
    made = shop.post(
        "coupons/generate",
        {"promotion": shop.promotion_id, "count": 3, "max_uses": 2, "valid_to": until.isoformat()},
    )
    status = shop.get(f"coupons/{made['codes'][0].lower()}")
    assert (status["max_uses"], status["uses_left"], status["batch"]) == (2, 2, made["batch"])
    assert dt.datetime.fromisoformat(status["valid_to"]) == until and status["valid_now"] is True
    assert shop.redeem(made["codes"][1]).status_code == 201
    (event,) = shop.events("CouponsGenerated")
    assert event.payload["valid_to"] is not None and event.payload["max_uses"] == 2
