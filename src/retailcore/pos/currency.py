"""Tills that sell in a foreign currency (docs/pos.md#foreign-currency-tills, decision 0059).

A terminal may sell in another currency than the company's (``pos_terminals.currency``). Each of its
sessions fixes, when it opens, the company's exchange rate of that day (``pos_sessions.rate``, company
currency per unit, :func:`retailcore.accounting.services.rate_on`): the float, the sales, their taxes
and tenders, the running totals, the cash movements and the counts at close are all in the session's
currency, and every event the session posts carries ``currency`` and ``rate``, so the ledger books the
foreign amounts (``amount_currency``, tax bases included) with their company-currency values at the
session's rate. The cost of the goods sold is in the company's currency (stock is valued in it): a
foreign session's close posts it apart, in its own event (``PosSessionCostOfSales``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from retailcore.accounting.services import rate_on
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.masterdata.tables import Company
from retailcore.pos.tables import PosSession, PosTerminal


def of_session(pos_session: PosSession, company: Company) -> str:
    """The currency every amount of the session is in."""
    return pos_session.currency or company.currency


def fix_rate(
    session: Session, company: Company, terminal: PosTerminal, date: dt.date
) -> tuple[str | None, Decimal | None]:
    """The currency and rate a new session of ``terminal`` takes: (None, None) in the company's currency;
    refused while the company has no rate of the terminal's currency on or before ``date``."""
    if terminal.currency is None or terminal.currency == company.currency:
        return None, None
    try:
        return terminal.currency, rate_on(session, company, terminal.currency, date)
    except ValidationFailed:
        raise ValidationFailed(
            f"POS terminal {terminal.code} sells in {terminal.currency}: the company has no"
            f" {terminal.currency} exchange rate on or before {date.isoformat()} to open a session at",
            code="no-exchange-rate",
            problems=[FieldProblem("terminal_id", f"no {terminal.currency} rate on {date.isoformat()}")],
        ) from None


def booked(pos_session: PosSession) -> dict[str, Any]:
    """What a session's events carry for the ledger: its currency and rate, when foreign."""
    if pos_session.currency is None:
        return {}
    return {"currency": pos_session.currency, "rate": pos_session.rate}
