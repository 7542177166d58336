"""Coupons: codes that grant a promotion, their limits, and their redemptions.

Rules of the flow:

* **Codes are typed as printed.** Case, spaces and dashes do not matter: a code is stored and compared
  normalised (upper case, letters and digits only). Codes are unique per company.
* **Generated codes are unguessable.** Each is drawn with :mod:`secrets` from 31 symbols without the
  ambiguous ``0/O``, ``1/I/L``: 12 of them are about 59 random bits, behind an optional prefix. A batch
  of up to 10,000 is drawn in memory, checked against the company's codes in a few set-based reads,
  and written in one bulk insert; the unique constraint backs the check.
* **A batch's codes leave once.** The answer to the generation lists them (and the CLI writes them to a
  CSV); the event ``CouponsGenerated`` carries the batch, the count and a SHA-256 of the sorted codes,
  never the codes themselves (the event log is also the outbox: decision 0049).
* **Validation is separate from redemption.** Channels call :func:`validate_coupons` while pricing (no
  writes, every problem named ``coupons.{n}``) and :func:`redeem` when the order or sale is taken, in
  the caller's transaction.
* **Limits hold under concurrency.** A redemption raises ``uses`` with one conditional statement,
  ``UPDATE coupons SET uses = uses + 1 WHERE id = :id AND active AND (max_uses IS NULL OR uses <
  max_uses)``: on PostgreSQL a second transaction waits for the first's row lock, then re-reads the row
  and finds it used up (``409 coupon-used-up``); SQLite has one writer. The per-customer limit is
  counted after that statement, so while the row lock is held. A check constraint (``uses <=
  max_uses``) guards the column too.
* **One redemption per coupon per order.** A replay (the same order redeeming the same coupon again)
  returns the first redemption and never uses the coupon twice; the unique constraint on
  ``(coupon_id, order_id)`` backs it.
* **Every change is an event:** ``CouponCreated``, ``CouponsGenerated``, ``CouponDeactivated``,
  ``CouponRedeemed``. Coupons post nothing: the discount is in the order's prices.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from retailcore.adapters.bulk import insert_rows
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.core.ids import new_id, new_ids
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company
from retailcore.promotions import coupon_commands as c
from retailcore.promotions.tables import Coupon, CouponRedemption, PromotionRow

__all__ = [
    "ValidCoupon",
    "basket_coupons",
    "create_coupon",
    "deactivate",
    "find_coupon",
    "generate_coupons",
    "normalise_code",
    "redeem",
    "validate_coupons",
]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""31 symbols: digits and capitals without 0/O, 1/I/L."""
RANDOM_LENGTH = 12
USABLE_STATES = frozenset({"approved", "scheduled", "active"})
"""Promotion states whose coupons can be redeemed (the engine still applies the promotion's own window)."""
CLOSED_STATES = frozenset({"rejected", "expired"})
"""Promotion states that take no new coupons."""
CHUNK = 1000


# -- codes -------------------------------------------------------------------------------------------


def normalise_code(code: str) -> str:
    """The code as stored: upper case, without spaces and dashes (``xmas-7kq2`` = ``XMAS7KQ2``)."""
    return "".join(code.split()).replace("-", "").upper()


def _checked_code(code: str, field: str) -> str:
    normal = normalise_code(code)
    if not (3 <= len(normal) <= 64) or not normal.isascii() or not normal.isalnum():
        raise ValidationFailed(
            "a coupon code is 3 to 64 letters and digits",
            problems=[FieldProblem(field, "3 to 64 letters and digits (spaces and dashes are dropped)")],
        )
    return normal


def new_code(prefix: str = "", length: int = RANDOM_LENGTH) -> str:
    """A fresh random code: ``prefix`` (normalised) and ``length`` symbols of :data:`ALPHABET`."""
    return normalise_code(prefix) + "".join(secrets.choice(ALPHABET) for _ in range(length))


def batch_digest(codes: Iterable[str]) -> str:
    """SHA-256 of the sorted codes, one a line: what ``CouponsGenerated`` carries instead of the codes."""
    return hashlib.sha256("\n".join(sorted(codes)).encode()).hexdigest()


# -- reads -------------------------------------------------------------------------------------------


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def find_coupon(session: Session, company_id: uuid.UUID, code: str) -> Coupon | None:
    """The company's coupon with this code (as typed), or None."""
    return session.scalar(
        select(Coupon)
        .where(Coupon.company_id == company_id, Coupon.code == normalise_code(code))
        .execution_options(populate_existing=True)
    )


def _coupon_by_code(session: Session, company_id: uuid.UUID, code: str) -> Coupon:
    coupon = find_coupon(session, company_id, code)
    if coupon is None:
        raise NotFound("no coupon with this code")
    return coupon


def _promotion(session: Session, company_id: uuid.UUID, ref: str, field: str = "promotion") -> PromotionRow:
    query = select(PromotionRow).where(PromotionRow.company_id == company_id)
    try:
        by_id = uuid.UUID(ref)
    except ValueError:
        row = session.scalar(query.where(PromotionRow.code == ref))
    else:
        row = session.scalar(query.where(PromotionRow.id == by_id))
    if row is None:
        raise InvalidReference(f"no promotion {ref}", problems=[FieldProblem(field, "no such promotion")])
    return row


def _problem(
    coupon: Coupon, promotion: PromotionRow | None, at: dt.datetime, *, count_uses: bool = True
) -> tuple[str, str] | None:
    """Why the coupon cannot be used at ``at`` (code, message), customer limits aside (and uses, without
    ``count_uses``); None if it can."""
    if not coupon.active:
        return "coupon-inactive", "is deactivated"
    valid_from, valid_to = _aware(coupon.valid_from), _aware(coupon.valid_to)
    if valid_from is not None and at < valid_from:
        return "coupon-not-yet-valid", f"is valid from {valid_from.isoformat()}"
    if valid_to is not None and at >= valid_to:
        return "coupon-expired", f"expired at {valid_to.isoformat()}"
    if count_uses and coupon.max_uses is not None and coupon.uses >= coupon.max_uses:
        return "coupon-used-up", f"was used {coupon.uses} times of {coupon.max_uses}"
    if promotion is None or promotion.state not in USABLE_STATES:
        state = promotion.state if promotion is not None else "missing"
        return "coupon-promotion-unavailable", f"its promotion is {state}"
    return None


def view(coupon: Coupon, promotion: PromotionRow, at: dt.datetime | None = None) -> c.CouponView:
    at = at or utcnow()
    return c.CouponView(
        id=coupon.id,
        company_id=coupon.company_id,
        code=coupon.code,
        promotion_id=coupon.promotion_id,
        promotion_code=promotion.code,
        batch=coupon.batch,
        max_uses=coupon.max_uses,
        max_uses_per_customer=coupon.max_uses_per_customer,
        uses=coupon.uses,
        uses_left=None if coupon.max_uses is None else max(coupon.max_uses - coupon.uses, 0),
        valid_from=_aware(coupon.valid_from),
        valid_to=_aware(coupon.valid_to),
        active=coupon.active,
        valid_now=_problem(coupon, promotion, at) is None,
        created_at=coupon.created_at,
    )


def coupon_status(session: Session, company: Company, code: str) -> c.CouponView:
    """``GET /coupons/{code}``: the coupon, its uses, what is left, whether it can be used now."""
    coupon = _coupon_by_code(session, company.id, code)
    return view(coupon, session.get_one(PromotionRow, coupon.promotion_id))


def list_coupons(
    session: Session,
    company: Company,
    *,
    batch: str | None = None,
    promotion: str | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[c.CouponView], uuid.UUID | None]:
    query = select(Coupon).where(Coupon.company_id == company.id)
    if batch:
        query = query.where(Coupon.batch == batch)
    if promotion:
        query = query.where(Coupon.promotion_id == _promotion(session, company.id, promotion).id)
    rows, next_cursor = keyset_page(session, query, Coupon.id, limit, cursor)
    promotions = {
        row.id: row
        for row in session.scalars(
            select(PromotionRow).where(PromotionRow.id.in_({row.promotion_id for row in rows}))
        )
    }
    at = utcnow()
    return [view(row, promotions[row.promotion_id], at) for row in rows], next_cursor


def batch_codes(session: Session, company: Company, batch: str) -> list[c.CouponView]:
    """Every coupon of a batch, in the order written (the CSV export)."""
    rows = list(
        session.scalars(
            select(Coupon).where(Coupon.company_id == company.id, Coupon.batch == batch).order_by(Coupon.id)
        )
    )
    if not rows:
        raise NotFound(f"no coupon batch {batch}")
    promotion = session.get_one(PromotionRow, rows[0].promotion_id)
    at = utcnow()
    return [view(row, promotion, at) for row in rows]


# -- creating ----------------------------------------------------------------------------------------


def _open_promotion(session: Session, company: Company, ref: str) -> PromotionRow:
    promotion = _promotion(session, company.id, ref)
    if promotion.state in CLOSED_STATES:
        raise Conflict(
            f"promotion {promotion.code} is {promotion.state}: it takes no coupons",
            code="promotion-closed",
            problems=[FieldProblem("promotion", f"is {promotion.state}")],
        )
    return promotion


def _taken(session: Session, company_id: uuid.UUID, codes: Sequence[str]) -> set[str]:
    taken: set[str] = set()
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK]
        taken.update(
            session.scalars(
                select(Coupon.code).where(Coupon.company_id == company_id, Coupon.code.in_(chunk))
            )
        )
    return taken


def _code_exists(code: str) -> Conflict:
    return Conflict(
        f"the company already has a coupon {code}",
        code="coupon-exists",
        problems=[FieldProblem("code", "already exists")],
    )


def create_coupon(
    session: Session, ctx: CommandContext, company: Company, body: c.CreateCoupon
) -> c.CouponView:
    """One code for a promotion, typed by the caller or drawn at random (``CouponCreated``)."""
    promotion = _open_promotion(session, company, body.promotion)
    if body.code is not None:
        code = _checked_code(body.code, "code")
        if _taken(session, company.id, [code]):
            raise _code_exists(code)
    else:
        code = new_code()
        while _taken(session, company.id, [code]):  # pragma: no cover - 59 random bits
            code = new_code()
    coupon = Coupon(
        company_id=company.id,
        code=code,
        promotion_id=promotion.id,
        max_uses=body.max_uses,
        max_uses_per_customer=body.max_uses_per_customer,
        uses=0,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        active=True,
    )
    session.add(coupon)
    session.flush()
    record(
        session,
        ctx,
        type="CouponCreated",
        company_id=company.id,
        aggregate_type="Coupon",
        aggregate_id=coupon.id,
        payload={
            "code": code,
            "promotion_id": promotion.id,
            "promotion_code": promotion.code,
            "max_uses": body.max_uses,
            "max_uses_per_customer": body.max_uses_per_customer,
            "valid_from": body.valid_from,
            "valid_to": body.valid_to,
        },
    )
    return view(coupon, promotion)


def generate_coupons(
    session: Session,
    ctx: CommandContext,
    company: Company,
    body: c.GenerateCoupons,
    *,
    progress: Callable[[int], None] | None = None,
) -> c.GeneratedCoupons:
    """``count`` unguessable codes for a promotion, written in one bulk insert (``CouponsGenerated``,
    with the batch, the count and a digest of the codes). ``progress`` is told how many codes are
    drawn as the work goes (the CLI's progress bar)."""
    promotion = _open_promotion(session, company, body.promotion)
    batch = body.batch or str(new_id())
    if session.scalar(
        select(Coupon.id).where(Coupon.company_id == company.id, Coupon.batch == batch).limit(1)
    ):
        raise Conflict(
            f"batch {batch} already exists",
            code="coupon-batch-exists",
            problems=[FieldProblem("batch", "exists")],
        )
    prefix = normalise_code(body.prefix or "")
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < body.count:
        fresh = []
        while len(codes) + len(fresh) < body.count:
            code = new_code(prefix)
            if code not in seen:
                seen.add(code)
                fresh.append(code)
        taken = _taken(session, company.id, fresh)
        codes.extend(code for code in fresh if code not in taken)
        if progress:
            progress(len(codes))
    now = utcnow()
    insert_rows(
        session,
        Coupon.__table__,  # type: ignore[arg-type]
        [
            {
                "id": coupon_id,
                "company_id": company.id,
                "code": code,
                "promotion_id": promotion.id,
                "batch": batch,
                "max_uses": body.max_uses,
                "max_uses_per_customer": body.max_uses_per_customer,
                "uses": 0,
                "valid_from": body.valid_from,
                "valid_to": body.valid_to,
                "active": True,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for coupon_id, code in zip(new_ids(len(codes)), codes, strict=True)
        ],
    )
    record(
        session,
        ctx,
        type="CouponsGenerated",
        company_id=company.id,
        aggregate_type="Promotion",
        aggregate_id=promotion.id,
        payload={
            "batch": batch,
            "count": len(codes),
            "prefix": prefix or None,
            "promotion_id": promotion.id,
            "promotion_code": promotion.code,
            "max_uses": body.max_uses,
            "max_uses_per_customer": body.max_uses_per_customer,
            "valid_from": body.valid_from,
            "valid_to": body.valid_to,
            "codes_sha256": batch_digest(codes),
        },
    )
    return c.GeneratedCoupons(batch=batch, promotion_id=promotion.id, count=len(codes), codes=codes)


def deactivate(
    session: Session, ctx: CommandContext, company: Company, code: str, body: c.DeactivateCoupon
) -> c.CouponView:
    """Stop a coupon for good (``CouponDeactivated``); its redemptions stay. Deactivating twice is a no-op."""
    coupon = _coupon_by_code(session, company.id, code)
    promotion = session.get_one(PromotionRow, coupon.promotion_id)
    if coupon.active:
        coupon.active = False
        session.flush()
        record(
            session,
            ctx,
            type="CouponDeactivated",
            company_id=company.id,
            aggregate_type="Coupon",
            aggregate_id=coupon.id,
            payload={"code": coupon.code, "uses": coupon.uses, "reason": body.reason},
        )
    return view(coupon, promotion)


# -- for the channels ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidCoupon:
    """A coupon a basket may present: what the engine needs (``Basket.coupons`` takes
    ``(code, promotion_id)``) and what :func:`redeem` needs later."""

    code: str
    coupon_id: uuid.UUID
    promotion_id: uuid.UUID


def _customer_uses(session: Session, coupon_id: uuid.UUID, customer_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CouponRedemption)
            .where(CouponRedemption.coupon_id == coupon_id, CouponRedemption.customer_id == customer_id)
        )
        or 0
    )


def basket_coupons(valid: Sequence[ValidCoupon]) -> tuple[tuple[str, uuid.UUID], ...]:
    """What :attr:`retailcore.promotions.model.Basket.coupons` takes: ``(code, promotion_id)`` each."""
    return tuple((coupon.code, coupon.promotion_id) for coupon in valid)


def _over_customer_limit(session: Session, coupon: Coupon, customer_id: uuid.UUID | None) -> bool:
    """The customer has used the coupon as often as it allows (never without a customer or a limit)."""
    if customer_id is None or coupon.max_uses_per_customer is None:
        return False
    return _customer_uses(session, coupon.id, customer_id) >= coupon.max_uses_per_customer


def _customer_limit(coupon: Coupon, field: str) -> Conflict:
    return Conflict(
        f"coupon {coupon.code} was used {coupon.max_uses_per_customer} times by this customer, its limit",
        code="coupon-customer-limit",
        problems=[FieldProblem(field, f"at most {coupon.max_uses_per_customer} uses per customer")],
    )


def validate_coupons(
    session: Session,
    company: Company,
    codes: Sequence[str],
    *,
    customer_id: uuid.UUID | None,
    at: dt.datetime,
    field: str = "coupons",
) -> list[ValidCoupon]:
    """The coupons a basket presents, checked for use at ``at`` by ``customer_id`` (no writes).

    Every code is checked and every problem reported at once, each naming ``{field}.{n}``:
    ``422 invalid-reference`` for a code the company does not have; otherwise ``409`` with the first
    problem's code: ``coupon-inactive``, ``coupon-not-yet-valid``, ``coupon-expired``,
    ``coupon-used-up``, ``coupon-customer-limit`` (only with a customer), ``coupon-promotion-unavailable``
    (its promotion is not approved, scheduled or active), ``coupon-repeated`` (the same code twice).
    The limits are checked again, under lock, by :func:`redeem`."""
    at = _aware(at) or utcnow()
    unknown: list[FieldProblem] = []
    refused: list[tuple[str, FieldProblem]] = []
    valid: list[ValidCoupon] = []
    seen: set[str] = set()
    for n, raw in enumerate(codes):
        where = f"{field}.{n}"
        code = normalise_code(raw)
        coupon = find_coupon(session, company.id, code) if code else None
        if coupon is None:
            unknown.append(FieldProblem(where, "no such coupon"))
            continue
        if code in seen:
            refused.append(("coupon-repeated", FieldProblem(where, "presented twice")))
            continue
        seen.add(code)
        promotion = session.get(PromotionRow, coupon.promotion_id)
        problem = _problem(coupon, promotion, at)
        if problem is None and _over_customer_limit(session, coupon, customer_id):
            problem = "coupon-customer-limit", f"at most {coupon.max_uses_per_customer} uses per customer"
        if problem is not None:
            refused.append((problem[0], FieldProblem(where, problem[1])))
            continue
        valid.append(ValidCoupon(code=coupon.code, coupon_id=coupon.id, promotion_id=coupon.promotion_id))
    if unknown:
        raise InvalidReference(
            f"{len(unknown)} coupon code(s) unknown", problems=[*unknown, *(p for _, p in refused)]
        )
    if refused:
        raise Conflict(
            f"{len(refused)} coupon(s) cannot be used: {refused[0][1].field} {refused[0][1].message}",
            code=refused[0][0],
            problems=[p for _, p in refused],
        )
    return valid


def _redemption_view(coupon: Coupon, row: CouponRedemption) -> c.RedemptionView:
    return c.RedemptionView(
        id=row.id,
        coupon_id=coupon.id,
        code=coupon.code,
        order_id=row.order_id,
        customer_id=row.customer_id,
        amount=row.amount,
        redeemed_at=row.redeemed_at,
        redeemed_by=row.redeemed_by,
    )


def _existing(session: Session, coupon_id: uuid.UUID, order_id: uuid.UUID) -> CouponRedemption | None:
    return session.scalar(
        select(CouponRedemption)
        .where(CouponRedemption.coupon_id == coupon_id, CouponRedemption.order_id == order_id)
        .execution_options(populate_existing=True)
    )


def redeem(
    session: Session,
    ctx: CommandContext,
    coupon: Coupon,
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    amount: Decimal,
    at: dt.datetime | None = None,
    field: str = "coupon",
) -> CouponRedemption:
    """Use ``coupon`` once on ``order_id`` in the caller's transaction (``CouponRedeemed``).

    Idempotent per (coupon, order): a replay returns the first redemption and uses nothing. Otherwise
    one conditional ``UPDATE`` raises ``uses`` while the coupon is active and not used up, which holds
    the coupon's row lock until the caller commits; then the per-customer limit is counted. Refusals are
    ``Conflict`` naming ``field``: ``coupon-used-up``, ``coupon-inactive``, ``coupon-customer-limit``,
    ``coupon-expired``, ``coupon-not-yet-valid``, ``coupon-promotion-unavailable``. The caller's
    transaction must roll back on a refusal (the raised ``uses`` with it), as every service's does."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValidationFailed(
            "amount must be zero or more", problems=[FieldProblem("amount", "must be >= 0")]
        )
    existing = _existing(session, coupon.id, order_id)
    if existing is not None:
        return existing
    at = _aware(at) or ctx.occurred_at or utcnow()
    raised = session.execute(
        update(Coupon)
        .where(
            Coupon.id == coupon.id,
            Coupon.active.is_(True),
            or_(Coupon.max_uses.is_(None), Coupon.uses < Coupon.max_uses),
        )
        .values(uses=Coupon.uses + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(coupon)
    if not raised:
        code = "coupon-inactive" if not coupon.active else "coupon-used-up"
        message = (
            "is deactivated" if not coupon.active else f"was used {coupon.uses} times of {coupon.max_uses}"
        )
        raise Conflict(f"coupon {coupon.code} {message}", code=code, problems=[FieldProblem(field, message)])
    # From here the row lock is held: concurrent redemptions of this coupon wait for our commit.
    replay = _existing(session, coupon.id, order_id)
    if replay is not None:  # the same order redeemed it in a transaction that committed meanwhile
        session.execute(
            update(Coupon)
            .where(Coupon.id == coupon.id)
            .values(uses=Coupon.uses - 1)
            .execution_options(synchronize_session=False)
        )
        session.refresh(coupon)
        return replay
    problem = _problem(coupon, session.get(PromotionRow, coupon.promotion_id), at, count_uses=False)
    if problem is not None:
        raise Conflict(
            f"coupon {coupon.code} {problem[1]}", code=problem[0], problems=[FieldProblem(field, problem[1])]
        )
    if _over_customer_limit(session, coupon, customer_id):
        raise _customer_limit(coupon, field)
    redemption = CouponRedemption(
        company_id=coupon.company_id,
        coupon_id=coupon.id,
        order_id=order_id,
        customer_id=customer_id,
        amount=amount,
        redeemed_at=at,
        redeemed_by=ctx.actor,
    )
    session.add(redemption)
    session.flush()
    record(
        session,
        ctx,
        type="CouponRedeemed",
        company_id=coupon.company_id,
        aggregate_type="Coupon",
        aggregate_id=coupon.id,
        payload={
            "code": coupon.code,
            "promotion_id": coupon.promotion_id,
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": amount,
            "uses": coupon.uses,
        },
    )
    return redemption


def redeem_by_code(
    session: Session, ctx: CommandContext, company: Company, code: str, body: c.RedeemCoupon
) -> c.RedemptionView:
    """``POST /coupons/{code}/redemptions``: a redemption made outside our channels."""
    coupon = _coupon_by_code(session, company.id, code)
    redemption = redeem(
        session,
        ctx,
        coupon,
        order_id=body.order_id,
        customer_id=body.customer_id,
        amount=body.amount,
        field="code",
    )
    return _redemption_view(coupon, redemption)


def redemptions(
    session: Session, company: Company, code: str, *, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[c.RedemptionView], uuid.UUID | None]:
    coupon = _coupon_by_code(session, company.id, code)
    query = select(CouponRedemption).where(CouponRedemption.coupon_id == coupon.id)
    rows, next_cursor = keyset_page(session, query, CouponRedemption.id, limit, cursor)
    return [_redemption_view(coupon, row) for row in rows], next_cursor
