"""Loyalty: the programme, customers' points accounts, earning points on orders, burning them as a tender.

Rules of the flow (decision 0049):

* **One programme per company**, in the company's currency: ``points_per_unit`` earned per unit paid,
  rounded to whole points by ``rounding``; ``point_value`` what a point is worth when burned.
* **The liability is points outstanding x point value.** No expected-redemption (breakage) rate is
  applied: every outstanding point is owed at its full value, so a burn always debits what its points
  were booked at. Earning posts ``LoyaltyPointsEarned``: loyalty_cost against loyalty_liability at the
  value of the points. A change of the point value revalues the points outstanding at once
  (``LoyaltyLiabilityRevalued``, up or down against loyalty_cost): the ledger's loyalty_liability
  always equals ``points outstanding x point value``.
* **Points are earned once per order,** on what the customer paid in money for goods delivered: the
  order's gross total less what points paid, once the order is fulfilled (or invoiced, or closed; a POS
  sale is born fulfilled). A replay answers the first earning (``once_key`` ``earn:<order id>``).
  Earning reads orders, so it lives in :mod:`retailcore.loyalty.earning` (downstream of orders); this
  module is upstream of them: the orders context burns points through it, as it redeems gift cards.
* **Enrolment is explicit.** A customer earns and burns only with an account (``POST
  /loyalty/accounts``); :func:`earn_for_order` refuses ``409 loyalty-not-enrolled`` otherwise.
* **Burning is a tender** (kind ``loyalty`` on an order's payments): the amount must be a whole number
  of points (``422`` on ``amount`` otherwise), taken with one conditional ``UPDATE ... WHERE balance >=
  :points`` (``409 insufficient-balance``, nothing written, concurrent burns included). It posts
  nothing here: the order's ``TenderAccepted`` debits loyalty_liability; a cancelled order's
  ``TenderReturned`` credits it back (:func:`give_back`).
* **Refunds** take the order's points back in proportion to the goods refunded
  (:mod:`retailcore.loyalty.automatic`, decision 0056) or all that is left by hand
  (:func:`retailcore.loyalty.earning.reverse_for_order`), ``LoyaltyPointsReversed``, at most what the
  account still holds; what was burned meanwhile stays burned. Earning happens by itself too: on
  delivery, and at a POS session's close in bulk.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.loyalty import commands as c
from retailcore.loyalty.tables import LoyaltyAccount, LoyaltyMovement, LoyaltyProgramme
from retailcore.masterdata.tables import Company, Customer

__all__ = ["burn", "give_back", "open_account", "points_for", "set_programme"]
"""What other contexts call. :mod:`retailcore.loyalty.earning` also uses the account, movement and event
helpers below (shared within the context only)."""

ROUNDING = {"down": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "up": ROUND_CEILING}


def points_for(amount: Decimal, points_per_unit: Decimal, rounding: str) -> int:
    """Whole points earned on ``amount`` paid (pure)."""
    return int((amount * points_per_unit).quantize(Decimal(1), rounding=ROUNDING[rounding]))


# -- the programme -----------------------------------------------------------------------------------


def programme_of(session: Session, company_id: uuid.UUID) -> LoyaltyProgramme | None:
    return session.get(LoyaltyProgramme, company_id, populate_existing=True)


def running_programme(session: Session, company_id: uuid.UUID, field: str) -> LoyaltyProgramme:
    row = programme_of(session, company_id)
    if row is None or not row.active:
        raise Conflict(
            "the company has no active loyalty programme",
            code="loyalty-inactive",
            problems=[FieldProblem(field, "no active loyalty programme")],
        )
    return row


def _outstanding(session: Session, company_id: uuid.UUID) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyAccount.balance), 0)).where(
                LoyaltyAccount.company_id == company_id
            )
        )
        or 0
    )


def value_of(points: int, programme: LoyaltyProgramme) -> Decimal:
    return round_to_currency(Decimal(points) * programme.point_value, programme.currency)


def programme_view(session: Session, company: Company) -> c.ProgrammeView:
    row = programme_of(session, company.id)
    if row is None:
        raise NotFound("the company has no loyalty programme")
    points = _outstanding(session, company.id)
    return c.ProgrammeView(
        company_id=company.id,
        currency=row.currency,
        points_per_unit=row.points_per_unit,
        rounding=row.rounding,
        point_value=row.point_value,
        active=row.active,
        points_outstanding=points,
        liability=value_of(points, row),
    )


def set_programme(
    session: Session, ctx: CommandContext, company: Company, body: c.SetProgramme
) -> c.ProgrammeView:
    """Create or change the programme (``LoyaltyProgrammeChanged``). A new point value revalues the points
    outstanding (``LoyaltyLiabilityRevalued``, posted)."""
    row = programme_of(session, company.id)
    before: dict[str, Any] | None = None
    if row is None:
        row = LoyaltyProgramme(company_id=company.id, currency=company.currency)
        session.add(row)
    else:
        before = {
            "points_per_unit": row.points_per_unit,
            "rounding": row.rounding,
            "point_value": row.point_value,
            "active": row.active,
        }
    old_value = row.point_value
    row.points_per_unit, row.rounding, row.point_value = body.points_per_unit, body.rounding, body.point_value
    row.active, row.updated_at, row.updated_by = body.active, utcnow(), ctx.actor
    session.flush()
    after = {
        "points_per_unit": body.points_per_unit,
        "rounding": body.rounding,
        "point_value": body.point_value,
        "active": body.active,
    }
    record(
        session,
        ctx,
        type="LoyaltyProgrammeChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"before": before, "after": after},
    )
    if before is not None and old_value != body.point_value:
        points = _outstanding(session, company.id)
        delta = round_to_currency(Decimal(points) * body.point_value, row.currency) - round_to_currency(
            Decimal(points) * old_value, row.currency
        )
        if delta:
            record(
                session,
                ctx,
                type="LoyaltyLiabilityRevalued",
                company_id=company.id,
                aggregate_type="Company",
                aggregate_id=company.id,
                payload={
                    "currency": row.currency,
                    "points": points,
                    "point_value_before": old_value,
                    "point_value_after": body.point_value,
                    "direction": "up" if delta > 0 else "down",
                    "amount": abs(delta),
                    "reference": "loyalty revaluation",
                },
            )
    return programme_view(session, company)


# -- accounts ----------------------------------------------------------------------------------------


def _account(session: Session, company_id: uuid.UUID, customer_id: uuid.UUID) -> LoyaltyAccount | None:
    return session.scalar(
        select(LoyaltyAccount)
        .where(LoyaltyAccount.company_id == company_id, LoyaltyAccount.customer_id == customer_id)
        .execution_options(populate_existing=True)
    )


def _account_view(account: LoyaltyAccount, programme: LoyaltyProgramme | None) -> c.AccountView:
    value = value_of(account.balance, programme) if programme else Decimal(0)
    return c.AccountView(
        id=account.id,
        company_id=account.company_id,
        customer_id=account.customer_id,
        balance=account.balance,
        value=value,
        created_at=account.created_at,
    )


def open_account(
    session: Session, ctx: CommandContext, company: Company, body: c.OpenAccount
) -> c.AccountView:
    """Enrol a customer (``LoyaltyAccountOpened``); ``409 loyalty-account-exists`` if enrolled already."""
    customer = session.get(Customer, body.customer_id)
    if customer is None or customer.company_id != company.id:
        raise InvalidReference(
            f"no customer {body.customer_id}", problems=[FieldProblem("customer_id", "no such customer")]
        )
    if _account(session, company.id, customer.id) is not None:
        raise Conflict(
            f"customer {customer.code} has a loyalty account",
            code="loyalty-account-exists",
            problems=[FieldProblem("customer_id", "already enrolled")],
        )
    account = LoyaltyAccount(company_id=company.id, customer_id=customer.id, balance=0, created_by=ctx.actor)
    session.add(account)
    session.flush()
    record(
        session,
        ctx,
        type="LoyaltyAccountOpened",
        company_id=company.id,
        aggregate_type="LoyaltyAccount",
        aggregate_id=account.id,
        payload={"customer_id": customer.id, "customer_code": customer.code},
    )
    return _account_view(account, programme_of(session, company.id))


def list_accounts(
    session: Session, company: Company, *, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[c.AccountView], uuid.UUID | None]:
    query = select(LoyaltyAccount).where(LoyaltyAccount.company_id == company.id)
    rows, next_cursor = keyset_page(session, query, LoyaltyAccount.id, limit, cursor)
    programme = programme_of(session, company.id)
    return [_account_view(row, programme) for row in rows], next_cursor


def account_detail(
    session: Session, company: Company, ref: uuid.UUID, *, limit: int = 100, cursor: uuid.UUID | None = None
) -> c.AccountDetail:
    """An account (by its id or its customer's id) with its movements, oldest first, paged."""
    account = session.get(LoyaltyAccount, ref)
    if account is None or account.company_id != company.id:
        account = _account(session, company.id, ref)
    if account is None:
        raise NotFound("no loyalty account")
    query = select(LoyaltyMovement).where(LoyaltyMovement.account_id == account.id)
    rows, next_cursor = keyset_page(session, query, LoyaltyMovement.id, limit, cursor)
    return c.AccountDetail(
        **_account_view(account, programme_of(session, company.id)).model_dump(),
        movements=[
            c.MovementView(
                id=m.id,
                kind=m.kind,
                points=m.points,
                balance_after=m.balance_after,
                value=m.value,
                order_id=m.order_id,
                reference=m.reference,
                created_at=m.created_at,
            )
            for m in rows
        ],
        next_cursor=next_cursor,
    )


def account_of_customer(
    session: Session, company: Company, customer: str, *, limit: int = 100
) -> c.AccountDetail:
    """The account of a customer named by its code (or its id), with its movements (the back office's
    lookup); 404 when there is no such customer or it has no account."""
    ref = customer.strip()
    found = session.scalar(select(Customer).where(Customer.company_id == company.id, Customer.code == ref))
    if found is None:
        try:
            found = session.get(Customer, uuid.UUID(ref))
        except ValueError:
            found = None
    if found is None or found.company_id != company.id:
        raise NotFound(f"no customer {ref}", problems=[FieldProblem("customer", "no such customer")])
    if _account(session, company.id, found.id) is None:
        raise NotFound(f"customer {found.code} has no loyalty account")
    return account_detail(session, company, found.id, limit=limit)


# -- moving points -----------------------------------------------------------------------------------


def move_points(
    session: Session, account: LoyaltyAccount, delta: int, *, at_least: int | None = None
) -> int | None:
    """Add ``delta`` points in one statement; with ``at_least``, only while the balance is at least that.
    The new balance, or None when the condition refused it."""
    query = update(LoyaltyAccount).where(LoyaltyAccount.id == account.id)
    if at_least is not None:
        query = query.where(LoyaltyAccount.balance >= at_least)
    balance = session.execute(
        query.values(balance=LoyaltyAccount.balance + delta)
        .returning(LoyaltyAccount.balance)
        .execution_options(synchronize_session=False)
    ).scalar()
    session.refresh(account)
    return balance


def append_movement(
    session: Session,
    ctx: CommandContext,
    account: LoyaltyAccount,
    *,
    kind: str,
    points: int,
    balance: int,
    value: Decimal,
    reference: str,
    order_id: uuid.UUID | None = None,
    once_key: str | None = None,
) -> LoyaltyMovement:
    movement = LoyaltyMovement(
        company_id=account.company_id,
        account_id=account.id,
        kind=kind,
        points=points,
        balance_after=balance,
        value=value,
        order_id=order_id,
        reference=reference[:100],
        once_key=once_key,
        created_at=ctx.occurred_at or utcnow(),
        created_by=ctx.actor,
    )
    session.add(movement)
    session.flush()
    return movement


def movement_once(session: Session, company_id: uuid.UUID, key: str) -> LoyaltyMovement | None:
    return session.scalar(
        select(LoyaltyMovement).where(
            LoyaltyMovement.company_id == company_id, LoyaltyMovement.once_key == key
        )
    )


def enrolled_account(
    session: Session, company_id: uuid.UUID, customer_id: uuid.UUID | None, field: str
) -> LoyaltyAccount:
    account = _account(session, company_id, customer_id) if customer_id else None
    if account is None:
        raise Conflict(
            "the customer has no loyalty account",
            code="loyalty-not-enrolled",
            problems=[FieldProblem(field, "the customer is not enrolled in the loyalty programme")],
        )
    return account


def earned_view(account: LoyaltyAccount, order_id: uuid.UUID, movement: LoyaltyMovement | None) -> c.Earned:
    return c.Earned(
        account_id=account.id,
        order_id=order_id,
        points=movement.points if movement else 0,
        value=movement.value if movement else Decimal(0),
        balance=account.balance,
    )


def record_points_event(
    session: Session,
    ctx: CommandContext,
    account: LoyaltyAccount,
    type: str,
    programme: LoyaltyProgramme,
    points: int,
    value: Decimal,
    order: Any | None,
    **data: Any,
) -> None:
    record(
        session,
        ctx,
        type=type,
        company_id=account.company_id,
        aggregate_type="LoyaltyAccount",
        aggregate_id=account.id,
        payload={
            "account_id": account.id,
            "customer_id": account.customer_id,
            "currency": programme.currency,
            "points": points,
            "point_value": programme.point_value,
            "amount": value,
            "order_id": order.id if order else None,
            "order_ref": order.number if order else None,
            "reference": order.number if order else None,
            "store_id": order.store_id if order else None,
            **data,
        },
        store_id=order.store_id if order else None,
    )


def _points_of(amount: Decimal, programme: LoyaltyProgramme, field: str) -> int:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationFailed(
            f"{field} must be positive", problems=[FieldProblem(field, "must be positive")]
        )
    points = amount / programme.point_value
    if points != points.to_integral_value():
        raise ValidationFailed(
            f"{amount} is not a whole number of points worth {programme.point_value} each",
            problems=[FieldProblem(field, f"a multiple of the point value {programme.point_value}")],
        )
    return int(points)


def burn(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    customer_id: uuid.UUID | str | None,
    amount: Decimal,
    currency: str,
    reference: str,
    order_id: uuid.UUID | None = None,
    field: str = "amount",
) -> LoyaltyMovement:
    """Burn points worth ``amount`` (a loyalty tender named ``reference``), in the caller's transaction.
    Refused, writing nothing: no active programme (``409 loyalty-inactive``), another currency
    (``409 loyalty-currency``), not enrolled (``409 loyalty-not-enrolled``), not a whole number of points
    (``422``), more than the balance (``409 insufficient-balance``, concurrent burns included). Posts
    nothing: the tender's event debits loyalty_liability (``LoyaltyPointsBurned`` is recorded)."""
    programme = running_programme(session, company_id, field)
    if currency != programme.currency:
        raise Conflict(
            f"points pay in {programme.currency}, not {currency}",
            code="loyalty-currency",
            problems=[FieldProblem(field, f"points pay in {programme.currency}")],
        )
    points = _points_of(amount, programme, field)
    try:
        customer = uuid.UUID(str(customer_id)) if customer_id is not None else None
    except ValueError:
        customer = None
    account = enrolled_account(session, company_id, customer, field)
    balance = move_points(session, account, -points, at_least=points)
    if balance is None:
        raise Conflict(
            f"the customer has {account.balance} points: {points} cannot be burned",
            code="insufficient-balance",
            problems=[
                FieldProblem(
                    field, f"at most {value_of(account.balance, programme)} ({account.balance} points)"
                )
            ],
        )
    movement = append_movement(
        session,
        ctx,
        account,
        kind="burn",
        points=-points,
        balance=balance,
        value=-amount,
        reference=reference,
        order_id=order_id,
    )
    record_points_event(
        session, ctx, account, "LoyaltyPointsBurned", programme, points, amount, None, reference=reference
    )
    return movement


def give_back(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    customer_id: uuid.UUID | str,
    amount: Decimal,
    currency: str,
    reference: str,
    order_id: uuid.UUID | None = None,
) -> LoyaltyMovement:
    """Give back points worth ``amount`` (a loyalty tender returned when an order is cancelled), at the
    point value of the day, rounded down to whole points. ``TenderReturned`` credits loyalty_liability
    with ``amount``; when the point value changed since the burn and the whole points are worth less,
    the difference is posted back (``LoyaltyLiabilityRevalued``, down), so the liability stays points x
    point value."""
    programme = programme_of(session, company_id)
    if programme is None:
        raise Conflict("the company has no loyalty programme", code="loyalty-inactive")
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationFailed(
            "amount must be positive", problems=[FieldProblem("amount", "must be positive")]
        )
    points = int((amount / programme.point_value).to_integral_value(rounding=ROUND_FLOOR))
    value = value_of(points, programme)
    account = enrolled_account(session, company_id, uuid.UUID(str(customer_id)), "customer_id")
    balance = move_points(session, account, points)
    assert balance is not None
    movement = append_movement(
        session,
        ctx,
        account,
        kind="return",
        points=points,
        balance=balance,
        value=value,
        reference=reference,
        order_id=order_id,
    )
    record_points_event(
        session, ctx, account, "LoyaltyPointsReturned", programme, points, value, None, reference=reference
    )
    if amount > value:
        record(
            session,
            ctx,
            type="LoyaltyLiabilityRevalued",
            company_id=company_id,
            aggregate_type="LoyaltyAccount",
            aggregate_id=account.id,
            payload={
                "currency": programme.currency,
                "points": points,
                "point_value_before": None,
                "point_value_after": programme.point_value,
                "direction": "down",
                "amount": amount - value,
                "reference": f"{reference} points given back at {programme.point_value}",
            },
        )
    return movement
