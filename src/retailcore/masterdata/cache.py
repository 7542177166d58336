"""The master data every sale and order reads, kept per process and company behind a stamp read once per
transaction (decision 0070).

A one-sale POS batch used to read the company's tax rules, tax settings, payment methods, cash rounding
and the promotions' fingerprint afresh, and a web order its tax rules, tax settings, default time zone
and promotions' fingerprint: four to six statements per transaction for data that changes a few times a
year. Database triggers (migration 0050) renew the company's :class:`~retailcore.masterdata.tables.
MasterStamp` token on every change to those tables, whoever makes it; :func:`cached` reads that token
once per transaction and returns what was loaded under it, loading again (and keeping) what is missing
or older.

When the token is read again
    It is kept on the transaction's connection until the transaction ends (commit, rollback, a rollback to
    a savepoint) or the connection sends a statement that may write one of the stamped tables (any
    statement but a ``SELECT``, except a plain ``INSERT``, ``UPDATE`` or ``DELETE`` of another table, see
    :func:`may_write`): such a write made earlier in the transaction, by the ORM's flush, a Core statement
    or plain SQL, may have renewed it, so the next read takes the stamp again. Pending ORM changes are
    flushed first, as the query they replace would have (unless the caller is inside
    ``session.no_autoflush``). A transaction that only reads reads the stamp once; one that writes master
    data sees its own change at its next read.

What a transaction sees
    The data as of its first stamp read, until it writes to the stamped tables: a change another process
    commits in the meantime is seen by the next transaction, not halfway through this one (on PostgreSQL's
    read committed a later query used to see it; a sale or an order is better priced on one consistent
    view of its rules). Tokens are never reused, so data loaded inside a transaction that later rolled
    back is never taken for the committed state.

What callers get
    Shared, read-only values (tuples, frozen dataclasses, dicts nobody mutates), never ORM instances:
    nothing is shared between sessions. A company without a stamp row yet (none of those tables has a
    row of it) is loaded afresh each time.

Only data behind the triggered tables may be cached here: a new kind of data must either add its table
to the triggers (a migration) or stay a fresh read.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine, Pool, Uuid, bindparam, event, select
from sqlalchemy.orm import Session

from retailcore.masterdata.tables import MasterStamp

__all__ = ["cached", "clear", "forget_tokens", "may_write", "seed", "stamp"]

T = TypeVar("T")

_TOKENS = "retailcore.master_stamps"
"""The connection's ``info`` key: company id -> token, for the transaction under way."""
_NO_ROW = object()

_lock = threading.Lock()
_cache: dict[tuple[Any, uuid.UUID, Hashable], tuple[int, Any]] = {}

_STAMP = select(MasterStamp.token).where(MasterStamp.company_id == bindparam("company_id", type_=Uuid()))


def stamp(session: Session, company_id: uuid.UUID) -> int | None:
    """The company's token as this session sees it now (always a query)."""
    return session.scalar(_STAMP, {"company_id": company_id})


def cached(session: Session, company_id: uuid.UUID, key: Hashable, load: Callable[[], T]) -> T:
    """What ``load()`` gives for the company's master data ``key``, from this process's cache when it
    was loaded under the token this transaction sees (see the module's docstring)."""
    if session.autoflush:
        session.flush()
    connection = session.connection()
    tokens = connection.info.get(_TOKENS)
    if tokens is None:
        tokens = connection.info[_TOKENS] = {}
    token = tokens.get(company_id)
    if token is None:
        found = stamp(session, company_id)
        token = tokens[company_id] = _NO_ROW if found is None else found
    if token is _NO_ROW:
        return load()
    # The database is part of the key: one process may serve several (tests, tools).
    entry = (connection.engine.url, company_id, key)
    held = _cache.get(entry)
    if held is not None and held[0] == token:
        return held[1]
    value = load()
    with _lock:
        _cache[entry] = (token, value)
    return value


def seed(session: Session, company_id: uuid.UUID, token: int | None) -> None:
    """Take ``token`` as the transaction's: the caller read it (``MasterStamp.token``, outer-joined) in
    its own ORM query just now, saving the stamp's own statement. Nothing may have been written on the
    connection between that query and this call."""
    tokens = session.connection().info.setdefault(_TOKENS, {})
    tokens[company_id] = _NO_ROW if token is None else token


def clear() -> None:
    """Forget everything (tests that rebuild a database under the same URL)."""
    with _lock:
        _cache.clear()


# -- when a connection's tokens are forgotten --------------------------------------------------------


# Only a write that can renew the stamp matters, and the triggers renew it only for rows of the stamped
# tables (no cascade and no other trigger writes them): a plain INSERT, UPDATE or DELETE aimed at any
# other table (a sale's lines, stock moves, entries, events) keeps the token; anything else that is not
# a SELECT, a LOCK or a savepoint (a CTE, DDL, a statement not recognised) forgets it.

_STAMPED = frozenset(
    {
        "taxes",
        "tax_rules",
        "tax_settings",
        "payment_methods",
        "pos_cash_rounding",
        "promotions",
        "stores",
        "price_lists",
        "discount_settings",
        "costing_settings",
        "master_stamps",
    }
)
"""The tables migrations 0050 and 0051's triggers watch, and the stamps themselves."""
_WRITE_NOTHING = frozenset({"SELECT", "SAVEPOINT", "RELEASE", "LOCK"})


def _target(words: list[str]) -> str | None:
    """The table a plain INSERT, UPDATE or DELETE writes, or None."""
    if len(words) < 3:
        return None
    verb = words[0].upper()
    if verb == "UPDATE":
        name = words[1]
    elif (verb, words[1].upper()) in (("INSERT", "INTO"), ("DELETE", "FROM")):
        name = words[2]
    else:
        return None
    # "journal_lines", "public.journal_lines", '"order"' or "journal_lines(a, b)"
    return name.split("(", 1)[0].rsplit(".", 1)[-1].strip('"').lower()


def may_write(statement: str, tables: frozenset[str]) -> bool:
    """Whether ``statement`` may write a row of one of ``tables`` (true when in doubt)."""
    words = statement.split(None, 3)
    if not words or words[0].upper() in _WRITE_NOTHING:
        return False
    target = _target(words)
    return target is None or target in tables


def forget_tokens(key: str, tables: frozenset[str]) -> None:
    """Keep the stamp tokens a connection holds under ``info[key]`` for its transaction only: forgotten
    when the transaction ends (begin, commit, rollback, a rollback to a savepoint, a checkout) or when the
    connection sends a statement that may write one of ``tables`` (:func:`may_write`). Called once per
    kind of stamp, at import (this module's and ``accounting.cache``'s)."""

    def written(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        info = connection.info
        if key in info and may_write(statement, tables):
            del info[key]

    def ended(connection: Any, *args: Any) -> None:
        # An invalidated connection would reconnect to hand its info over; its tokens went with it.
        if not (connection.invalidated or connection.closed):
            connection.info.pop(key, None)

    def checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # The info outlives the checkout; a transaction ended without a Connection event (a pool's
        # reset on return) must not hand its tokens to the next one.
        record.info.pop(key, None)

    event.listen(Engine, "before_cursor_execute", written)
    for name in ("begin", "commit", "rollback", "rollback_savepoint"):
        event.listen(Engine, name, ended)
    event.listen(Pool, "checkout", checked_out)


forget_tokens(_TOKENS, _STAMPED)
