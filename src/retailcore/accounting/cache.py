"""The ledger's master data kept per process and company, checked against the database once per
transaction and again after a write to the stamped tables (decision 0064, amended in 0070).

Posting an entry needs the company's lock date, its fiscal years, journals, accounts and posting rules.
They change rarely, but read afresh they cost eight statements or more per entry. :func:`ledger_of`
reads one row instead, the company's :class:`~retailcore.accounting.tables.LedgerStamp`, whose token
database triggers renew on every change to those tables, and returns the :class:`LedgerData` cached
under that token, loading it again (five statements) when the token moved. The token is kept on the
transaction's connection until the transaction ends or writes to one of the stamped tables (see below):
a change made earlier in this transaction is seen by the next posting, one committed by another process
by the next transaction; and since a token is never reused, data loaded
inside a transaction that rolled back is never taken for the committed state.

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
from retailcore.masterdata.cache import forget_tokens
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
    """The company's ledger master data as this session sees it now (one statement per transaction
    when cached, another after a write to the stamped tables; see the amendment to decision 0070)."""
    if session.autoflush:
        session.flush()  # pending changes may touch the stamped tables, and the token must see them
    connection = session.connection()
    tokens = connection.info.get(_TOKENS)
    if tokens is None:
        tokens = connection.info[_TOKENS] = {}
    token = tokens.get(company_id, _UNREAD)
    if token is _UNREAD:
        token = tokens[company_id] = stamp(session, company_id)
    # The database is part of the key: one process may serve several (tests, tools).
    key = (connection.engine.url, company_id)
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


# -- when a connection's tokens are forgotten --------------------------------------------------------
#
# As masterdata.cache's tokens. A posting writes (entries, lines, events): forgetting the token on every
# write would read it again at every posting. Only a write that can renew
# the stamp matters, and the triggers renew it only for rows of the stamped tables: no cascade and no
# other trigger writes them. So a plain INSERT, UPDATE or DELETE aimed at any other table keeps the
# token; anything else that is not a SELECT, a LOCK or a savepoint forgets it (masterdata.cache.may_write).

_TOKENS = "retailcore.ledger_stamps"
"""The connection's ``info`` key: company id -> token (None: no stamp row), for the transaction under way."""
_UNREAD = object()
_STAMPED = frozenset(
    {"ledger_settings", "fiscal_years", "journals", "accounts", "posting_rules", "ledger_stamps"}
)
"""The tables migration 0049's triggers watch, and the stamps themselves."""


forget_tokens(_TOKENS, _STAMPED)


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
