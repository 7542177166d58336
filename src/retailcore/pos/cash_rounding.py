"""Cash rounding at the till (docs/pos.md#cash-rounding, decision 0059).

Where the smallest coin is worth more than the currency's minor unit (five cents in Switzerland, in
Finland, in the Netherlands), a ticket paid in cash is settled at its total rounded to a multiple of
the company's ``increment``. The goods keep their exact prices and taxes; what the tenders took beyond
them (or short of them) is the ticket's rounding, added up per session and posted at the close to the
``rounding`` account: a credit when the customers paid more (a gain), a debit when they paid less.

Which tickets are rounded (:func:`settled_at`):

* a ticket with a cash payment, always (the change is counted from the rounded total);
* a ticket paid without cash (by card) exactly at the rounded total: the customer was shown the
  rounded total, and paying it is no underpayment; paying the exact total is accepted too, unrounded;
* never an invoiced ticket (its receivable is the invoice's exact total) or one paid in part on account.

A refund paid out in cash pays out the rounded amount (:func:`settled_at` on the refund's total), and
the difference is posted with the session's refunds. The till may send the rounding it applied
(``rounding`` on a sale): the server works it out again and refuses the batch with
``rounding-mismatch`` (422) naming the sale when they differ.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.core.currencies import round_to_currency
from retailcore.core.errors import FieldProblem, NotFound, ValidationFailed
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.cache import cached
from retailcore.masterdata.tables import Company
from retailcore.pos import commands as c
from retailcore.pos.tables import PosCashRounding

MODES = {"half_up": ROUND_HALF_UP, "up": ROUND_UP, "down": ROUND_DOWN}


class Rounding(NamedTuple):
    increment: Decimal
    mode: str


def rounded(amount: Decimal, rounding: Rounding) -> Decimal:
    """``amount`` to a multiple of the increment, by the mode, on its magnitude (``up`` is away from
    zero): 10.02 -> 10.00 half-up, 10.05 up, 10.00 down; 10.03 -> 10.05 half-up; 10.025 never occurs
    (amounts have the currency's decimals). Keeps the amount's exponent (``10.00``, not ``10``)."""
    steps = (abs(amount) / rounding.increment).quantize(Decimal(1), rounding=MODES[rounding.mode])
    result = (steps * rounding.increment).quantize(amount if amount.as_tuple().exponent < 0 else Decimal(1))
    return -result if amount < 0 else result


def settled_at(due: Decimal, paid: Decimal, cash: bool, rounding: Rounding | None) -> Decimal:
    """What a ticket of total ``due`` is settled at: its cash-rounded total when it has a cash payment
    (``cash``) or its payments add up to that rounded total; ``due`` otherwise."""
    if rounding is None:
        return due
    target = rounded(due, rounding)
    if cash or paid == target:
        return target
    return due


def of_company(session: Session, company_id: uuid.UUID) -> Rounding | None:
    """The company's cash rounding, or None (behind the master-data stamp, decision 0070)."""
    return cached(session, company_id, "cash_rounding", lambda: _load(session, company_id))


def _load(session: Session, company_id: uuid.UUID) -> Rounding | None:
    row = session.execute(
        select(PosCashRounding.increment, PosCashRounding.mode).where(
            PosCashRounding.company_id == company_id
        )
    ).first()
    return None if row is None else Rounding(row.increment, row.mode)


def mismatch(index: int, till: Decimal, server: Decimal) -> ValidationFailed:
    return ValidationFailed(
        f"sale {index} of the batch was refused: the till rounded the cash total by {till}, the company's"
        f" cash rounding gives {server}; nothing of the batch was taken",
        code="rounding-mismatch",
        problems=[FieldProblem(f"sales.{index}.rounding", f"the cash rounding of this ticket is {server}")],
    )


def view(session: Session, company: Company) -> c.CashRoundingView:
    row = session.get(PosCashRounding, company.id)
    if row is None:
        raise NotFound("the company has no cash rounding")
    return c.CashRoundingView(
        company_id=company.id,
        currency=company.currency,
        increment=row.increment,
        mode=row.mode,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def set_rounding(
    session: Session, ctx: CommandContext, company: Company, body: c.SetCashRounding
) -> c.CashRoundingView:
    """Create or change the company's cash rounding (``PosCashRoundingChanged``); sales already taken
    keep the rounding they were settled at."""
    if round_to_currency(body.increment, company.currency) != body.increment:
        raise ValidationFailed(
            f"the increment has more decimals than {company.currency}",
            problems=[FieldProblem("increment", "more decimals than the currency")],
        )
    row = session.get(PosCashRounding, company.id)
    before = None if row is None else {"increment": row.increment, "mode": row.mode}
    if row is None:
        row = PosCashRounding(company_id=company.id, increment=body.increment, mode=body.mode)
        session.add(row)
    row.increment, row.mode, row.updated_at, row.updated_by = body.increment, body.mode, utcnow(), ctx.actor
    session.flush()
    record(
        session,
        ctx,
        type="PosCashRoundingChanged",
        company_id=company.id,
        aggregate_type="Company",
        aggregate_id=company.id,
        payload={"before": before, "after": {"increment": body.increment, "mode": body.mode}},
    )
    return view(session, company)
