"""Gift cards and store credit: issue, redeem, reload, credit back, expire; every change in the caller's
transaction.

Rules of the flow:

* **A balance is the sum of its movements.** Each change appends one movement (``gift_card_movements``,
  ``store_credit_movements``; never updated) and moves the balance column by the same amount in the
  same transaction, so a balance enquiry is one row and the movements are its statement.
* **Redemption never overdraws, even at the same instant.** Spending is one conditional
  ``UPDATE ... SET balance = balance - :amount WHERE balance >= :amount``: on PostgreSQL a second
  transaction waits for the first's row lock and then finds the balance too low; SQLite has one
  writer. A refused redemption is ``409 insufficient-balance`` and the caller's transaction (the whole
  request or POS batch) writes nothing.
* **Codes are secrets.** A card's code is shown once, when it is issued; the database keeps its SHA-256
  and last four characters (decision 0023). Events and journal labels carry ``****`` and the last four.
* **Money goes to the ledger as events** (rules in the rulebook, not ``if`` branches here):
  ``GiftCardSold`` / ``GiftCardReloaded`` (the tender against gift_card_liability: no revenue, no tax),
  ``GiftCardGiven`` (customer_goodwill against the liability), ``GiftCardExpired`` (liability to
  gift_card_breakage, per the company's policy), ``StoreCreditIssued`` with ``source: goodwill`` and
  ``post: true`` (customer_goodwill against store_credit_liability). Redemptions post nothing here: the
  tender's own event (``TenderAccepted`` of an order, the POS session's close) moves the liability.
  ``StoreCreditIssued`` with ``post: false`` (returns) is recorded and posted by its caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from retailcore.access.model import Principal
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import Conflict, FieldProblem, InvalidReference, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.tables import Company, Customer
from retailcore.payments import commands as c
from retailcore.payments.tables import (
    GiftCard,
    GiftCardMovement,
    GiftCardPolicy,
    StoreCreditAccount,
    StoreCreditMovement,
)

__all__ = [
    "credit_gift_card",
    "expire_gift_cards",
    "find_gift_card",
    "gift_card_for_tender",
    "issue_gift_card",
    "issue_store_credit",
    "redeem_gift_card",
    "reload_gift_card",
    "return_store_credit",
    "sell_gift_card_at_till",
    "spend_store_credit",
]

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""32 symbols, without 0/O and 1/I: 16 of them are 80 random bits."""
CODE_LENGTH = 16
DEFAULT_MONTHS_TO_EXPIRY = 24
DEFAULT_BREAKAGE = "at_expiry"
STORE_CREDIT_SOURCES = ("goodwill", "return", "order")


# -- codes -------------------------------------------------------------------------------------------


def normalise_code(code: str) -> str:
    """The code as stored (hashed): upper case, without spaces and dashes (``abcd-efgh`` = ``ABCDEFGH``)."""
    return "".join(code.split()).replace("-", "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def new_code() -> str:
    """A fresh card code, in groups of four (``7KQ2-M9XD-...``)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def card_ref(card: GiftCard) -> str:
    """How events, labels and screens name a card: never its code."""
    return f"****{card.last4}"


# -- shared checks -----------------------------------------------------------------------------------


def _amount(amount: Decimal, currency: str, field: str = "amount") -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationFailed(
            f"{field} must be positive", problems=[FieldProblem(field, "must be positive")]
        )
    if round_to_currency(amount, currency) != amount:
        raise ValidationFailed(
            f"{field} has more decimals than {currency} allows",
            problems=[FieldProblem(field, f"more decimals than {currency} allows")],
        )
    return amount


def _today(ctx: CommandContext) -> dt.date:
    return (ctx.occurred_at or utcnow()).date()


def _customer(session: Session, company_id: uuid.UUID, customer_id: Any, field: str) -> Customer:
    customer = session.get(Customer, customer_id) if isinstance(customer_id, uuid.UUID) else None
    if customer is None or customer.company_id != company_id:
        raise InvalidReference(
            f"no customer {customer_id}", problems=[FieldProblem(field, "no such customer")]
        )
    return customer


def _insufficient(what: str, balance: Decimal, amount: Decimal, currency: str, field: str) -> Conflict:
    balance = round_to_currency(balance, currency)
    return Conflict(
        f"{what} holds {balance} {currency}: {amount} {currency} cannot be taken from it",
        code="insufficient-balance",
        problems=[FieldProblem(field, f"at most {balance} is available")],
    )


# -- gift cards: policy ------------------------------------------------------------------------------


def policy(session: Session, company_id: uuid.UUID) -> c.GiftCardPolicyView:
    row = session.get(GiftCardPolicy, company_id)
    if row is None:
        return c.GiftCardPolicyView(
            company_id=company_id, months_to_expiry=DEFAULT_MONTHS_TO_EXPIRY, breakage=DEFAULT_BREAKAGE
        )
    return c.GiftCardPolicyView(
        company_id=company_id, months_to_expiry=row.months_to_expiry, breakage=row.breakage
    )


def set_policy(
    session: Session, ctx: CommandContext, company: Company, body: c.SetGiftCardPolicy
) -> c.GiftCardPolicyView:
    """Months to expiry for cards issued from now on, and whether breakage is recognised at expiry."""
    before = policy(session, company.id)
    row = session.get(GiftCardPolicy, company.id)
    if row is None:
        row = GiftCardPolicy(company_id=company.id)
        session.add(row)
    row.months_to_expiry, row.breakage = body.months_to_expiry, body.breakage
    after = c.GiftCardPolicyView(
        company_id=company.id, months_to_expiry=body.months_to_expiry, breakage=body.breakage
    )
    record(
        session,
        ctx,
        type="GiftCardPolicyChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"before": before.model_dump(mode="json"), "after": after.model_dump(mode="json")},
    )
    session.flush()
    return after


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


# -- gift cards: reads -------------------------------------------------------------------------------


def find_gift_card(
    session: Session, company_id: uuid.UUID, code: str, *, lock: bool = False
) -> GiftCard | None:
    """The company's card with this code (as typed: case, spaces and dashes do not matter), or None."""
    query = select(GiftCard).where(GiftCard.code_hash == code_hash(code), GiftCard.company_id == company_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def _card_by_code(session: Session, company_id: uuid.UUID, code: str) -> GiftCard:
    card = find_gift_card(session, company_id, code)
    if card is None:
        raise NotFound("no gift card with this code")
    return card


def view(card: GiftCard) -> c.GiftCardView:
    return c.GiftCardView(
        id=card.id,
        company_id=card.company_id,
        last4=card.last4,
        currency=card.currency,
        balance=round_to_currency(card.balance, card.currency),
        state=card.state,
        origin=card.origin,
        expires_on=card.expires_on,
        customer_id=card.customer_id,
        created_at=card.created_at,
    )


def detail(session: Session, card: GiftCard) -> c.GiftCardDetail:
    movements = session.scalars(
        select(GiftCardMovement).where(GiftCardMovement.card_id == card.id).order_by(GiftCardMovement.id)
    )
    return c.GiftCardDetail(
        **view(card).model_dump(),
        movements=[
            c.GiftCardMovementView(
                id=m.id,
                kind=m.kind,
                amount=round_to_currency(m.amount, card.currency),
                balance_after=round_to_currency(m.balance_after, card.currency),
                reference=m.reference,
                created_at=m.created_at,
            )
            for m in movements
        ],
    )


def gift_card_balance(session: Session, company: Company, code: str) -> c.GiftCardDetail:
    """Balance enquiry: the card, its balance and its movements (404 for a code the company does not have)."""
    return detail(session, _card_by_code(session, company.id, code))


def list_gift_cards(
    session: Session,
    company: Company,
    *,
    state: str | None = None,
    limit: int = 50,
    cursor: uuid.UUID | None = None,
) -> tuple[list[c.GiftCardView], uuid.UUID | None]:
    query = select(GiftCard).where(GiftCard.company_id == company.id)
    if state:
        query = query.where(GiftCard.state == state)
    rows, next_cursor = keyset_page(session, query, GiftCard.id, limit, cursor)
    return [view(row) for row in rows], next_cursor


# -- gift cards: changes -----------------------------------------------------------------------------


def _movement(
    session: Session,
    ctx: CommandContext,
    card: GiftCard,
    kind: str,
    amount: Decimal,
    after: Decimal,
    ref: str,
) -> GiftCardMovement:
    movement = GiftCardMovement(
        company_id=card.company_id,
        card_id=card.id,
        kind=kind,
        amount=amount,
        balance_after=after,
        reference=ref[:100],
        # The business time of the command (a back-dated import, the simulator's day), as its posting's
        # date: the close's gift card check counts the movements by the period's end.
        created_at=ctx.occurred_at or utcnow(),
        created_by=ctx.actor,
    )
    session.add(movement)
    return movement


def _card_event(
    session: Session,
    ctx: CommandContext,
    card: GiftCard,
    type: str,
    store_id: uuid.UUID | None = None,
    **data: Any,
) -> None:
    record(
        session,
        ctx,
        type=type,
        company_id=card.company_id,
        aggregate_type="GiftCard",
        aggregate_id=card.id,
        payload={
            "card_id": card.id,
            "card_ref": card_ref(card),
            "currency": card.currency,
            "store_id": store_id,
            **data,
        },
        store_id=store_id,
    )


def _move_balance(
    session: Session, card: GiftCard, delta: Decimal, *, at_least: Decimal | None
) -> Decimal | None:
    """Add ``delta`` to an active card's balance in one statement; with ``at_least``, only while the
    balance is at least that. The new balance, or None when the condition refused it."""
    query = update(GiftCard).where(GiftCard.id == card.id, GiftCard.state == "active")
    if at_least is not None:
        query = query.where(GiftCard.balance >= at_least)
    balance = session.execute(
        query.values(balance=GiftCard.balance + delta)
        .returning(GiftCard.balance)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if balance is not None:
        set_committed_value(card, "balance", balance)
    return balance


def issue_gift_card(
    session: Session, ctx: CommandContext, company: Company, body: c.IssueGiftCard
) -> c.IssuedGiftCardView:
    """A new card with ``amount`` on it, sold (the tender against the liability) or given (goodwill
    against the liability). The code is returned here and never again."""
    currency = body.currency or company.currency
    amount = _amount(body.amount, currency)
    if body.customer_id is not None:
        _customer(session, company.id, body.customer_id, "customer_id")
    today = _today(ctx)
    expires_on = body.expires_on
    if expires_on is None:
        months = policy(session, company.id).months_to_expiry
        expires_on = _add_months(today, months) if months else None
    elif expires_on < today:
        raise ValidationFailed(
            "a card cannot expire before it is issued", problems=[FieldProblem("expires_on", "in the past")]
        )
    store_id = body.store_id if isinstance(body.store_id, uuid.UUID) else None
    code = new_code()
    card = GiftCard(
        company_id=company.id,
        code_hash=code_hash(code),
        last4=normalise_code(code)[-4:],
        currency=currency,
        balance=amount,
        state="active",
        origin=body.origin,
        expires_on=expires_on,
        customer_id=body.customer_id,
        created_by=ctx.actor,
    )
    session.add(card)
    session.flush()  # 80 random bits: a duplicate hash is not expected; the unique key would refuse it
    _movement(session, ctx, card, "issue", amount, amount, body.note or body.origin)
    if body.origin == "sold":
        tenders = [{"kind": body.paid_by, "amount": str(amount)}]
        _card_event(session, ctx, card, "GiftCardSold", store_id, amount=str(amount), tenders=tenders)
    else:
        _card_event(session, ctx, card, "GiftCardGiven", store_id, amount=str(amount))
    session.flush()
    return c.IssuedGiftCardView(**view(card).model_dump(), code=code)


def sell_gift_card_at_till(
    session: Session,
    ctx: CommandContext,
    company: Company,
    *,
    amount: Decimal,
    code: str | None,
    on: dt.date,
    store_id: uuid.UUID,
    reference: str,
    field: str,
) -> tuple[GiftCard, str]:
    """A card sold on a POS ticket, issued in the batch's transaction: ``amount`` on it (the company's
    currency), expiring by the policy from the day of the sale. ``code``: a physical card's printed code
    the till scanned (letters and digits, new to the system: ``409 gift-card-exists`` otherwise), else
    one is drawn. Returns the card and its code (to be shown once).

    Its event, ``PosGiftCardSold``, is not posted: the ticket's tenders are the session's, and its close
    credits gift_card_liability with the session's ``gift_cards_sold`` (rule ``pos-session-close``)."""
    currency = company.currency
    amount = _amount(amount, currency, f"{field}.amount")
    if code is not None:
        normalised = normalise_code(code)
        if len(normalised) < 8 or not (normalised.isascii() and normalised.isalnum()):
            raise ValidationFailed(
                "a gift card code has at least 8 letters and digits (spaces and dashes aside)",
                problems=[FieldProblem(f"{field}.code", "at least 8 letters and digits")],
            )
        taken = session.scalar(select(GiftCard.id).where(GiftCard.code_hash == code_hash(code)))
        if taken is not None:
            raise Conflict(
                "a gift card with this code exists already",
                code="gift-card-exists",
                problems=[FieldProblem(f"{field}.code", "already issued")],
            )
    else:
        code = new_code()
    months = policy(session, company.id).months_to_expiry
    card = GiftCard(
        company_id=company.id,
        code_hash=code_hash(code),
        last4=normalise_code(code)[-4:],
        currency=currency,
        balance=amount,
        state="active",
        origin="sold",
        expires_on=_add_months(on, months) if months else None,
        customer_id=None,
        created_by=ctx.actor,
    )
    session.add(card)
    session.flush()
    _movement(session, ctx, card, "issue", amount, amount, reference)
    _card_event(session, ctx, card, "PosGiftCardSold", store_id, amount=str(amount), reference=reference)
    return card, code


def without_code(body: dict[str, Any]) -> dict[str, Any]:
    """What an idempotent replay of an issue answers: everything but the code."""
    return {**body, "code": None}


def _usable(card: GiftCard, currency: str, on: dt.date, field: str) -> None:
    if card.state != "active" or (card.expires_on is not None and card.expires_on < on):
        raise Conflict(
            f"gift card {card_ref(card)} expired"
            + (f" on {card.expires_on.isoformat()}" if card.expires_on else ""),
            code="gift-card-expired",
            problems=[FieldProblem(field, "the card has expired")],
        )
    if card.currency != currency:
        raise Conflict(
            f"gift card {card_ref(card)} holds {card.currency}, not {currency}",
            code="gift-card-currency",
            problems=[FieldProblem(field, f"the card holds {card.currency}")],
        )


def gift_card_for_tender(
    session: Session,
    company_id: uuid.UUID,
    code: str,
    currency: str,
    *,
    field: str = "reference",
    on: dt.date,
) -> GiftCard:
    """The card a tender names by its code, if it can pay in ``currency`` on day ``on`` (unknown:
    ``422 invalid-reference``; expired or another currency: 409). Its balance is checked on redemption."""
    card = find_gift_card(session, company_id, code)
    if card is None:
        raise InvalidReference(
            "no gift card with this code", problems=[FieldProblem(field, "no such gift card")]
        )
    _usable(card, currency, on, field)
    return card


def _card_by_id(session: Session, company_id: uuid.UUID, card_id: uuid.UUID | str, field: str) -> GiftCard:
    try:
        card = session.get(GiftCard, uuid.UUID(str(card_id)), populate_existing=True)
    except ValueError:
        card = None
    if card is None or card.company_id != company_id:
        raise InvalidReference(f"no gift card {card_id}", problems=[FieldProblem(field, "no such gift card")])
    return card


def redeem_gift_card(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    card_id: uuid.UUID | str,
    amount: Decimal,
    currency: str,
    reference: str,
    on: dt.date | None = None,
    field: str = "amount",
    store_id: uuid.UUID | None = None,
) -> GiftCardMovement:
    """Take ``amount`` off the card (a tender on an order or a POS sale named ``reference``). Refused,
    writing nothing, when the card is expired, in another currency, or holds less (``409
    insufficient-balance``; concurrent redemptions included). Posts nothing: the tender's event does."""
    card = _card_by_id(session, company_id, card_id, field)
    _amount(amount, currency, field)
    _usable(card, currency, on or _today(ctx), field)
    balance = _move_balance(session, card, -amount, at_least=amount)
    if balance is None:
        session.refresh(card)
        raise _insufficient(f"gift card {card_ref(card)}", card.balance, amount, currency, field)
    movement = _movement(session, ctx, card, "redeem", -amount, balance, reference)
    _card_event(
        session,
        ctx,
        card,
        "GiftCardRedeemed",
        store_id,
        amount=str(amount),
        balance=str(balance),
        reference=reference,
    )
    return movement


def credit_gift_card(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    card_id: uuid.UUID | str,
    amount: Decimal,
    currency: str,
    reference: str,
    field: str = "amount",
) -> GiftCardMovement:
    """Give ``amount`` back to the card (a redeemed tender returned: an order cancelled, a return
    refunded to the card). Posts nothing: the caller's event (``TenderReturned``, ``ReturnRefunded``)
    credits gift_card_liability. An expired card is refused (``409 gift-card-expired``)."""
    card = _card_by_id(session, company_id, card_id, field)
    _amount(amount, currency, field)
    _usable(card, currency, dt.date.min, field)  # expired by state only: a refund may follow the last day
    balance = _move_balance(session, card, amount, at_least=None)
    if balance is None:
        raise Conflict(f"gift card {card_ref(card)} has expired", code="gift-card-expired")
    movement = _movement(session, ctx, card, "refund", amount, balance, reference)
    _card_event(
        session, ctx, card, "GiftCardCredited", amount=str(amount), balance=str(balance), reference=reference
    )
    return movement


def reload_gift_card(
    session: Session, ctx: CommandContext, company: Company, code: str, body: c.ReloadGiftCard
) -> c.GiftCardDetail:
    """Add money to an active card, paid by ``paid_by``: the tender against the liability."""
    card = find_gift_card(session, company.id, code, lock=True)
    if card is None:
        raise NotFound("no gift card with this code")
    amount = _amount(body.amount, card.currency)
    _usable(card, card.currency, _today(ctx), "code")
    balance = _move_balance(session, card, amount, at_least=None)
    assert balance is not None  # locked and active
    _movement(session, ctx, card, "reload", amount, balance, "reload")
    store_id = body.store_id if isinstance(body.store_id, uuid.UUID) else None
    tenders = [{"kind": body.paid_by, "amount": str(amount)}]
    _card_event(session, ctx, card, "GiftCardReloaded", store_id, amount=str(amount), tenders=tenders)
    session.flush()
    return detail(session, card)


def expire_gift_cards(
    session: Session, ctx: CommandContext, company: Company, today: dt.date | None = None
) -> list[c.ExpiredGiftCard]:
    """Cards whose last day is before ``today`` expire. With breakage ``at_expiry`` what is left on each
    comes off it (an ``expire`` movement) and is posted from gift_card_liability to gift_card_breakage;
    with ``never`` the card only stops working and its liability stays."""
    today = today or _today(ctx)
    at_expiry = policy(session, company.id).breakage == "at_expiry"
    due = session.scalars(
        select(GiftCard)
        .where(
            GiftCard.company_id == company.id,
            GiftCard.state == "active",
            GiftCard.expires_on.is_not(None),
            GiftCard.expires_on < today,
        )
        .order_by(GiftCard.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    expired = []
    for card in due:
        breakage = card.balance if at_expiry else Decimal(0)
        if breakage:
            balance = _move_balance(session, card, -breakage, at_least=breakage)
            assert balance == 0
            _movement(session, ctx, card, "expire", -breakage, Decimal(0), "expiry")
        session.execute(
            update(GiftCard)
            .where(GiftCard.id == card.id)
            .values(state="expired")
            .execution_options(synchronize_session=False)
        )
        set_committed_value(card, "state", "expired")
        last_day = card.expires_on.isoformat() if card.expires_on else None
        _card_event(
            session,
            ctx,
            card,
            "GiftCardExpired",
            amount=str(round_to_currency(breakage, card.currency)),
            expired_on=last_day,
            date=today.isoformat(),
        )
        expired.append(
            c.ExpiredGiftCard(
                id=card.id,
                last4=card.last4,
                currency=card.currency,
                breakage=round_to_currency(breakage, card.currency),
            )
        )
    session.flush()
    return expired


def expiry_due(session: Session, company_id: uuid.UUID, today: dt.date) -> bool:
    """Whether a sweep of ``today`` would expire anything (a read: an idle sweep writes nothing)."""
    return (
        session.scalar(
            select(GiftCard.id)
            .where(
                GiftCard.company_id == company_id,
                GiftCard.state == "active",
                GiftCard.expires_on.is_not(None),
                GiftCard.expires_on < today,
            )
            .limit(1)
        )
        is not None
    )


# -- store credit ------------------------------------------------------------------------------------


def _credit_account(
    session: Session, company_id: uuid.UUID, customer_id: uuid.UUID, currency: str
) -> StoreCreditAccount:
    """The customer's store credit account, opened (at zero) on first use."""
    query = select(StoreCreditAccount).where(
        StoreCreditAccount.company_id == company_id, StoreCreditAccount.customer_id == customer_id
    )
    account = session.scalar(query.execution_options(populate_existing=True))
    if account is not None:
        return account
    try:
        with session.begin_nested():
            account = StoreCreditAccount(
                company_id=company_id, customer_id=customer_id, currency=currency, balance=Decimal(0)
            )
            session.add(account)
    except IntegrityError:  # opened by a concurrent transaction a moment ago
        account = session.scalar(query)
        assert account is not None
    return account


def _move_credit(
    session: Session, account: StoreCreditAccount, delta: Decimal, at_least: Decimal | None
) -> Decimal | None:
    query = update(StoreCreditAccount).where(StoreCreditAccount.id == account.id)
    if at_least is not None:
        query = query.where(StoreCreditAccount.balance >= at_least)
    balance = session.execute(
        query.values(balance=StoreCreditAccount.balance + delta)
        .returning(StoreCreditAccount.balance)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if balance is not None:
        set_committed_value(account, "balance", balance)
    return balance


def _credit_movement(
    session: Session,
    ctx: CommandContext,
    account: StoreCreditAccount,
    *,
    kind: str,
    source: str,
    amount: Decimal,
    balance: Decimal,
    reference: str,
    event: str,
    details: dict[str, Any] | None = None,
) -> StoreCreditMovement:
    """The movement of ``amount`` (signed) on the account, and its event ``event`` (the amount moved,
    unsigned, the balance after, the reference and ``details``)."""
    movement = StoreCreditMovement(
        company_id=account.company_id,
        account_id=account.id,
        customer_id=account.customer_id,
        kind=kind,
        source=source,
        amount=amount,
        balance_after=balance,
        reference=reference[:100],
        created_by=ctx.actor,
    )
    session.add(movement)
    record(
        session,
        ctx,
        type=event,
        company_id=account.company_id,
        aggregate_type="StoreCredit",
        aggregate_id=account.id,
        payload={
            "customer_id": account.customer_id,
            "currency": account.currency,
            "amount": str(abs(amount)),
            "balance": str(balance),
            "reference": reference,
            **(details or {}),
        },
    )
    return movement


def issue_store_credit(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    amount: Decimal,
    source: str,
    reference: str,
    post: bool,
) -> StoreCreditMovement:
    """Add ``amount`` (company currency) to the customer's store credit and record ``StoreCreditIssued``.

    ``post=True`` with ``source="goodwill"``: the ledger posts customer_goodwill against
    store_credit_liability (rule ``store-credit-goodwill``). ``post=False`` (``source="return"``): only
    the balance moves; the caller posts its own entry crediting store_credit_liability.
    """
    if source not in STORE_CREDIT_SOURCES:
        raise ValidationFailed(
            f"unknown store credit source {source!r}",
            problems=[FieldProblem("source", f"one of {', '.join(STORE_CREDIT_SOURCES)}")],
        )
    company = session.get(Company, company_id)
    if company is None:
        raise InvalidReference(
            f"no company {company_id}", problems=[FieldProblem("company_id", "no such company")]
        )
    _customer(session, company_id, customer_id, "customer_id")
    _amount(amount, company.currency)
    account = _credit_account(session, company_id, customer_id, company.currency)
    balance = _move_credit(session, account, amount, None)
    assert balance is not None
    movement = _credit_movement(
        session,
        ctx,
        account,
        kind="issue",
        source=source,
        amount=amount,
        balance=balance,
        reference=reference,
        event="StoreCreditIssued",
        details={"source": source, "post": post},
    )
    session.flush()
    return movement


def spend_store_credit(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    customer_id: uuid.UUID | str,
    amount: Decimal,
    currency: str,
    reference: str,
    field: str = "amount",
) -> StoreCreditMovement:
    """Take ``amount`` of the customer's store credit (a tender named ``reference``); refused beyond
    the balance (``409 insufficient-balance``), concurrent spending included. Posts nothing: the
    tender's event moves store_credit_liability."""
    try:
        customer = uuid.UUID(str(customer_id))
    except ValueError:
        raise InvalidReference(
            "no such customer", problems=[FieldProblem(field, "no such customer")]
        ) from None
    _amount(amount, currency, field)
    account = session.scalar(
        select(StoreCreditAccount)
        .where(StoreCreditAccount.company_id == company_id, StoreCreditAccount.customer_id == customer)
        .execution_options(populate_existing=True)
    )
    held = Decimal(0) if account is None else account.balance
    if account is None or account.currency != currency:
        raise _insufficient("the customer's store credit", held, amount, currency, field)
    balance = _move_credit(session, account, -amount, amount)
    if balance is None:
        session.refresh(account)
        raise _insufficient("the customer's store credit", account.balance, amount, currency, field)
    movement = _credit_movement(
        session,
        ctx,
        account,
        kind="spend",
        source="order",
        amount=-amount,
        balance=balance,
        reference=reference,
        event="StoreCreditSpent",
    )
    return movement


def return_store_credit(
    session: Session,
    ctx: CommandContext,
    *,
    company_id: uuid.UUID,
    customer_id: uuid.UUID | str,
    amount: Decimal,
    currency: str,
    reference: str,
) -> StoreCreditMovement:
    """Give ``amount`` back to the customer's store credit (a store credit tender returned when an order
    is cancelled). Posts nothing: ``TenderReturned`` credits store_credit_liability."""
    customer = uuid.UUID(str(customer_id))
    _amount(amount, currency)
    account = _credit_account(session, company_id, customer, currency)
    balance = _move_credit(session, account, amount, None)
    assert balance is not None
    movement = _credit_movement(
        session,
        ctx,
        account,
        kind="refund",
        source="order",
        amount=amount,
        balance=balance,
        reference=reference,
        event="StoreCreditReturned",
    )
    return movement


def goodwill(
    session: Session, ctx: CommandContext, company: Company, body: c.IssueStoreCredit
) -> c.StoreCreditStatement:
    """Store credit given as a goodwill gesture (the API): posted to customer_goodwill."""
    issue_store_credit(
        session,
        ctx,
        company_id=company.id,
        customer_id=body.customer_id,
        amount=body.amount,
        source="goodwill",
        reference=body.reason,
        post=True,
    )
    return statement(session, ctx.principal, company, body.customer_id)


def statement(
    session: Session, principal: Principal, company: Company, customer_id: uuid.UUID
) -> c.StoreCreditStatement:
    """The customer's store credit with every movement, oldest first, and the running balance."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.company_id != company.id:
        raise NotFound(f"no customer {customer_id}")
    account = session.scalar(
        select(StoreCreditAccount).where(
            StoreCreditAccount.company_id == company.id, StoreCreditAccount.customer_id == customer_id
        )
    )
    currency = account.currency if account else company.currency
    movements: Sequence[StoreCreditMovement] = (
        session.scalars(
            select(StoreCreditMovement)
            .where(StoreCreditMovement.account_id == account.id)
            .order_by(StoreCreditMovement.id)
        ).all()
        if account
        else []
    )
    return c.StoreCreditStatement(
        customer_id=customer.id,
        customer_code=customer.code,
        currency=currency,
        balance=round_to_currency(account.balance if account else Decimal(0), currency),
        movements=[
            c.StoreCreditMovementView(
                id=m.id,
                kind=m.kind,
                source=m.source,
                amount=round_to_currency(m.amount, currency),
                balance_after=round_to_currency(m.balance_after, currency),
                reference=m.reference,
                created_at=m.created_at,
            )
            for m in movements
        ],
    )


def list_store_credits(
    session: Session, company: Company, *, limit: int = 50, cursor: uuid.UUID | None = None
) -> tuple[list[c.StoreCreditBalanceView], uuid.UUID | None]:
    """Every customer's store credit balance (customers who ever had some), oldest account first."""
    query = select(StoreCreditAccount).where(StoreCreditAccount.company_id == company.id)
    rows, next_cursor = keyset_page(session, query, StoreCreditAccount.id, limit, cursor)
    codes = {
        row.id: row.code
        for row in session.execute(
            select(Customer.id, Customer.code).where(Customer.id.in_([r.customer_id for r in rows]))
        )
    }
    return [
        c.StoreCreditBalanceView(
            customer_id=row.customer_id,
            customer_code=codes[row.customer_id],
            currency=row.currency,
            balance=round_to_currency(row.balance, row.currency),
        )
        for row in rows
    ], next_cursor


def outstanding(session: Session, company_id: uuid.UUID) -> dict[str, Decimal]:
    """What the company owes on gift cards and store credit (the sum of balances), for checks against
    the ledger's liability accounts."""
    cards = session.scalar(
        select(func.coalesce(func.sum(GiftCard.balance), 0)).where(GiftCard.company_id == company_id)
    )
    credit = session.scalar(
        select(func.coalesce(func.sum(StoreCreditAccount.balance), 0)).where(
            StoreCreditAccount.company_id == company_id
        )
    )
    return {"gift_cards": Decimal(cards or 0), "store_credit": Decimal(credit or 0)}
