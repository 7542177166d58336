"""Group commit: one-sale requests of a till session share one batch and one transaction (decision 0078).

A connected till sends each sale when it is paid, as a batch of one. Alone, such a batch pays the whole
fixed cost of :func:`~retailcore.pos.services.ingest_batch` (the session's lock and context, the stock
move's and the events' setup, the commit) for one sale. Here requests that arrive together share it:

* A request of at most :data:`JOINS_AT_MOST` sales joins its session's queue in this process (one queue
  per till session and caller). If no batch of that queue is being written, the request's own thread
  becomes the writer at once: a sale that finds nobody else never waits for a window. Requests that
  arrive while a batch is written wait; when it is done, the first of them writes the next batch with
  everything queued by then (up to :data:`~retailcore.pos.commands.MAX_SALES_PER_BATCH` sales).
* The window: when the queue's last batch held several requests (others are sending), the writer waits
  up to ``window`` seconds for more before it starts, and starts at once when the batch is full.
* One transaction runs ``ingest`` once for all the sales, then each request gets its own result: its
  own accepted, duplicate and rescued counts, the session its sales went to, its gift cards.
* A sale refused by validation answers its own request with its own refusal, the field paths and the
  sale's index relative to that request (``sales.0.payments``); the batch is run again without that
  request, so the others' sales are still written. A request of several sales stays all or nothing.
* Idempotency is unchanged: a sale's ``client_uuid`` already taken is a duplicate whichever batch took
  it (two requests of one batch with the same uuid: the second is the duplicate). A request's
  ``replay`` hook (the stored response to its Idempotency-Key) is asked inside the shared transaction,
  and its ``store`` hook records its own response there, so both commit with the sales or not at all.
* A transaction the database rolled back to break a deadlock runs again (at most
  :data:`~retailcore.adapters.db.TRANSIENT_ATTEMPTS` times); any other failure of a batch of several
  requests runs each request in a transaction of its own, so each gets the answer it would have had
  alone. Nothing is half-written.

The queues hold only requests in flight: no client can see them, and a till may send its next sale to
another process (several API nodes, issue 24), where the session's row lock serialises the batches.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from retailcore.access.model import Principal
from retailcore.adapters.db import TRANSIENT_ATTEMPTS, begin_writing, is_transient, pause_before_retry
from retailcore.core.errors import FieldProblem, RetailcoreError
from retailcore.eventlog.services import CommandContext
from retailcore.pos import commands as c
from retailcore.pos import services as svc

JOINS_AT_MOST = 10
"""Requests of at most this many sales join a shared batch; larger ones are batches already."""

_SALE_FIELD = re.compile(r"^sales\.(\d+)(?=\.|$)")
_SALE_DETAIL = re.compile(r"^sale (\d+) of the batch")

Replay = Callable[[Session], Any]
"""Inside the shared transaction, before the sales: the answer a request already has (the stored
response to its Idempotency-Key), or None. It may raise a refusal meant for that request alone."""
Store = Callable[[Session, c.BatchResult], None]
"""Inside the shared transaction, after the sales: record the request's own result (its key)."""


class Part(Protocol):
    """A request's place in a joined batch: its sales start at ``offset`` (a waiting request here, an
    inbox row in :mod:`retailcore.pos.inbox`)."""

    offset: int
    sales: Sequence[c.SaleIn]


P = TypeVar("P", bound=Part)


class _Ticket:
    """One waiting request: its sales, its hooks, and the answer the writer leaves for it."""

    __slots__ = (
        "answer",
        "answered",
        "error",
        "idempotency_key",
        "lead",
        "offset",
        "ready",
        "replay",
        "sales",
        "store",
    )

    def __init__(
        self,
        sales: Sequence[c.SaleIn],
        idempotency_key: str | None,
        replay: Replay | None,
        store: Store | None,
    ) -> None:
        self.sales = sales
        self.idempotency_key = idempotency_key
        self.replay = replay
        self.store = store
        self.offset = 0
        self.answer: Any = None
        self.error: BaseException | None = None
        self.answered = False
        self.lead = False
        self.ready = threading.Event()

    def give(self, answer: Any = None, error: BaseException | None = None) -> None:
        self.answer, self.error, self.answered = answer, error, True
        self.ready.set()


class _Queue:
    __slots__ = ("several", "tickets", "writing")

    def __init__(self) -> None:
        self.tickets: deque[_Ticket] = deque()
        self.writing = False
        self.several = False
        """Whether the queue's last batch held several requests: others are sending, worth a wait."""


class GroupCommit:
    """The per-process queues of one application (one database), and the writers that empty them."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        window: float,
        *,
        max_sales: int = c.MAX_SALES_PER_BATCH,
        max_lines: int = c.MAX_LINES_PER_BATCH,
    ) -> None:
        self._factory = factory
        self.window = window
        self._max_sales = max_sales
        self._max_lines = max_lines
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queues: dict[tuple[uuid.UUID, str], _Queue] = {}
        self.batches = 0
        """Shared transactions committed (for the benchmark and the tests: requests per batch)."""

    def waiting(self) -> int:
        """Requests queued and not yet taken into a batch, in all queues."""
        with self._lock:
            return sum(len(queue.tickets) for queue in self._queues.values())

    @staticmethod
    def takes(sales: Sequence[c.SaleIn]) -> bool:
        """Whether a request of these sales joins a shared batch."""
        return len(sales) <= JOINS_AT_MOST

    def submit(
        self,
        principal: Principal,
        session_id: uuid.UUID,
        sales: Sequence[c.SaleIn],
        *,
        idempotency_key: str | None = None,
        replay: Replay | None = None,
        store: Store | None = None,
    ) -> Any:
        """Take ``sales`` in the next shared batch of their session; their own result (or what
        ``replay`` answered), or their own refusal raised."""
        ticket = _Ticket(sales, idempotency_key, replay, store)
        key = (session_id, principal.source)
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                if len(self._queues) > 1024:  # forget the idle queues of sessions long gone
                    for idle in [k for k, q in self._queues.items() if not q.writing and not q.tickets]:
                        del self._queues[idle]
                queue = self._queues[key] = _Queue()
            queue.tickets.append(ticket)
            writes = not queue.writing
            queue.writing = True
            self._arrived.notify_all()
        if not writes:
            ticket.ready.wait()
            writes = ticket.lead and not ticket.answered
        if writes:
            self._write(queue, principal, session_id)
        if ticket.error is not None:
            raise ticket.error
        return ticket.answer

    def _write(self, queue: _Queue, principal: Principal, session_id: uuid.UUID) -> None:
        """Write one batch of ``queue`` (this thread's request is its first), then hand the queue on."""
        with self._lock:
            if queue.several and self.window > 0:
                deadline = time.monotonic() + self.window
                while not self._full(queue) and (left := deadline - time.monotonic()) > 0:
                    self._arrived.wait(left)
            group = self._take(queue)
        try:
            self._run(principal, session_id, group)
        except BaseException as failed:  # an answer for every request, whatever happened
            for ticket in group:
                if not ticket.answered:
                    ticket.give(error=failed)
            raise
        finally:
            with self._lock:
                queue.several = len(group) > 1
                if queue.tickets:
                    following = queue.tickets[0]
                    following.lead = True
                    following.ready.set()
                else:
                    queue.writing = False

    def _full(self, queue: _Queue) -> bool:
        return sum(len(ticket.sales) for ticket in queue.tickets) >= self._max_sales

    def _take(self, queue: _Queue) -> list[_Ticket]:
        group = [queue.tickets.popleft()]
        sales, lines = len(group[0].sales), sum(len(sale.lines) for sale in group[0].sales)
        while queue.tickets:
            following = queue.tickets[0]
            more = sum(len(sale.lines) for sale in following.sales)
            if sales + len(following.sales) > self._max_sales or lines + more > self._max_lines:
                break
            group.append(queue.tickets.popleft())
            sales, lines = sales + len(following.sales), lines + more
        return group

    def _run(self, principal: Principal, session_id: uuid.UUID, group: list[_Ticket]) -> None:
        """Write ``group`` in one transaction; leave each request its answer."""
        pending, attempt = group, 1
        while pending:
            try:
                self._once(principal, session_id, pending)
                return
            except Exception as failed:
                pending = [ticket for ticket in pending if not ticket.answered]
                if isinstance(failed, RetailcoreError) and (owner := owner_of(pending, failed)) is not None:
                    owner.give(error=failed)  # and the batch again without it
                    pending = [ticket for ticket in pending if ticket is not owner]
                    continue
                transient = (
                    isinstance(failed, DBAPIError)
                    and not isinstance(failed, IntegrityError)
                    and is_transient(failed)
                )
                if transient and attempt < TRANSIENT_ATTEMPTS:
                    # PostgreSQL broke a lock cycle by rolling the batch back: nothing was
                    # written; the same batch again after a short random pause (as Api.command).
                    attempt += 1
                    pause_before_retry(attempt)
                    continue
                if len(pending) <= 1:
                    for ticket in pending:
                        ticket.give(error=failed)
                    return
                break
        # A failure no single request caused (or an unexpected one): each request alone, as without
        # group commit, so each gets its own answer (a replay, a refusal, its result).
        for ticket in pending:
            self._run(principal, session_id, [ticket])

    def _once(self, principal: Principal, session_id: uuid.UUID, pending: list[_Ticket]) -> None:
        answers: list[tuple[_Ticket, c.BatchResult]] = []
        with self._factory() as session, session.begin():
            begin_writing(session)
            joined: list[c.SaleIn] = []
            taking: list[_Ticket] = []
            for ticket in pending:
                if ticket.replay is not None:
                    try:
                        stored = ticket.replay(session)
                    except RetailcoreError as refused:  # its key reused for another request
                        ticket.give(error=refused)
                        continue
                    if stored is not None:
                        ticket.give(stored)
                        continue
                ticket.offset = len(joined)
                joined.extend(ticket.sales)
                taking.append(ticket)
            if not taking:
                return
            key = taking[0].idempotency_key if len(taking) == 1 else None
            done = svc.ingest(session, CommandContext(principal, idempotency_key=key), session_id, joined)
            for ticket in taking:
                result = share_of(done, ticket, session_id)
                if ticket.store is not None:
                    ticket.store(session, result)
                answers.append((ticket, result))
        self.batches += 1
        for ticket, result in answers:
            ticket.give(result)


def share_of(done: svc.Ingested, ticket: Part, requested: uuid.UUID) -> c.BatchResult:
    """The part of a shared batch's result that is ``ticket``'s: what its request alone would get."""
    mine = range(ticket.offset, ticket.offset + len(ticket.sales))
    accepted = sum(1 for index in mine if index in done.taken)
    if not accepted:  # as a batch with nothing new answers: the session it named
        return c.BatchResult(session_id=requested, accepted=0, duplicates=len(mine), rescued=0)
    uuids = {ticket.sales[index - ticket.offset].client_uuid for index in mine if index in done.taken}
    return c.BatchResult(
        session_id=done.result.session_id,
        accepted=accepted,
        duplicates=len(mine) - accepted,
        rescued=accepted if done.result.rescued else 0,
        gift_cards=[card for card in done.result.gift_cards if card.client_uuid in uuids],
    )


def owner_of(pending: Sequence[P], refused: RetailcoreError) -> P | None:
    """The request whose sale ``refused`` names, the refusal rewritten as that request alone would
    have it (its sale's index within the request); None when it names no sale or sales of several."""
    named = {int(m.group(1)) for p in refused.problems if (m := _SALE_FIELD.match(p.field))}
    if (m := _SALE_DETAIL.match(refused.detail)) is not None:
        named.add(int(m.group(1)))
    owners = {
        id(ticket): ticket
        for index in named
        for ticket in pending
        if ticket.offset <= index < ticket.offset + len(ticket.sales)
    }
    if not named or len(owners) != 1:
        return None
    (owner,) = owners.values()
    if owner.offset:

        def local(match: re.Match[str]) -> str:
            return match.group(0).replace(match.group(1), str(int(match.group(1)) - owner.offset), 1)

        refused.problems = [
            FieldProblem(_SALE_FIELD.sub(local, p.field, count=1), p.message) for p in refused.problems
        ]
        refused.detail = _SALE_DETAIL.sub(local, refused.detail, count=1)
    return owner
