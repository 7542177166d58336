"""The ledger's master data kept per process and company, checked against the database on every posting
(decision 0064).

Posting an entry needs the company's lock date, its fiscal years, journals, accounts and posting rules.
They change rarely, but read afresh they cost eight statements or more per entry. :func:`ledger_of`
reads one row instead, the company's :class:`~retailcore.accounting.tables.LedgerStamp`, whose token
database triggers renew on every change to those tables, and returns the :class:`LedgerData` cached
under that token, loading it again (five statements) when the token moved. So a change committed by
another process, or made earlier in this transaction, is seen by the next posting, exactly as the
queries it replaces saw it; and since a token is never reused, data loaded inside a transaction that
rolled back is never taken for the committed state.

What is cached are plain values (ids, codes, dates, :class:`Rule` objects), never ORM instances, so
nothing is shared between sessions. Exchange rates, customers' receivable accounts and the period
balances' coverage are not cached: they change with trading, and the last is the posting guard that
must be read under the lock the entry's lines take (see ``balances.posting_through``, decision 0071).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field

from sqlalchemy import Uuid, bindparam, select
from sqlalchemy.orm import Session

from retailcore.accounting import tables as a
from retailcore.accounting.posting.engine import Rule
from retailcore.masterdata.tables import Account


@dataclass(frozen=True)
class JournalRef:
    """What posting needs of a journal (duck-types :class:`~retailcore.accounting.tables.Journal`)."""

    id: uuid.UUID
    code: str
    company_id: uuid.UUID


@dataclass(frozen=True)
class AccountRef:
    id: uuid.UUID
    code: str
    active: bool


@dataclass
class LedgerData:
    """A company's ledger master data as of one stamp token."""

    has_settings: bool
    lock_date: dt.date | None
    fiscal_years: list[tuple[dt.date, dt.date]]
    journals: dict[str, JournalRef]
    accounts: dict[uuid.UUID, AccountRef]
    account_by_code: dict[str, AccountRef]
    account_by_role: dict[str, AccountRef]
    """The first active account of each role by code, as ``services.account_for_role`` finds it."""
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    """Active rules per event type."""

    def in_fiscal_year(self, date: dt.date) -> bool:
        return any(start <= date <= end for start, end in self.fiscal_years)


_lock = threading.Lock()
_cache: dict[tuple[object, uuid.UUID], tuple[int, LedgerData]] = {}


_STAMP = select(a.LedgerStamp.token).where(a.LedgerStamp.company_id == bindparam("company_id", type_=Uuid()))
"""An ORM select (pending changes of the session are flushed, and stamped, first), built once."""


def stamp(session: Session, company_id: uuid.UUID) -> int | None:
    return session.scalar(_STAMP, {"company_id": company_id})


def ledger_of(session: Session, company_id: uuid.UUID) -> LedgerData:
    """The company's ledger master data as this session sees it now (one statement when cached)."""
    token = stamp(session, company_id)
    # The database is part of the key: one process may serve several (tests, tools).
    bind = session.get_bind()
    key = (bind.engine.url, company_id)  # a session may be bound to a connection
    if token is not None:
        found = _cache.get(key)
        if found is not None and found[0] == token:
            return found[1]
    data = _load(session, company_id)
    if token is not None:
        with _lock:
            _cache[key] = (token, data)
    return data


def clear() -> None:
    """Forget everything (tests that rebuild a database under the same URL)."""
    with _lock:
        _cache.clear()


def _load(session: Session, company_id: uuid.UUID) -> LedgerData:
    from retailcore.accounting.services import to_rule  # the services import this module

    settings = session.execute(
        select(a.LedgerSettings.lock_date).where(a.LedgerSettings.company_id == company_id)
    ).first()
    Y = a.FiscalYear
    years = [
        (start, end)
        for start, end in session.execute(select(Y.start_date, Y.end_date).where(Y.company_id == company_id))
    ]
    journals = {
        code: JournalRef(id, code, company_id)
        for id, code in session.execute(
            select(a.Journal.id, a.Journal.code).where(a.Journal.company_id == company_id)
        )
    }
    accounts: dict[uuid.UUID, AccountRef] = {}
    by_code: dict[str, AccountRef] = {}
    by_role: dict[str, AccountRef] = {}
    for id, code, role, active in session.execute(
        select(Account.id, Account.code, Account.role, Account.active)
        .where(Account.company_id == company_id)
        .order_by(Account.code)
    ):
        ref = AccountRef(id, code, active)
        accounts[id] = ref
        by_code[code] = ref
        if role is not None and active and role not in by_role:
            by_role[role] = ref
    rules: dict[str, list[Rule]] = {}
    for row in session.scalars(
        select(a.PostingRule).where(a.PostingRule.company_id == company_id, a.PostingRule.active.is_(True))
    ):
        rules.setdefault(row.event_type, []).append(to_rule(row))
    return LedgerData(
        has_settings=settings is not None,
        lock_date=settings[0] if settings is not None else None,
        fiscal_years=years,
        journals=journals,
        accounts=accounts,
        account_by_code=by_code,
        account_by_role=by_role,
        rules=rules,
    )
