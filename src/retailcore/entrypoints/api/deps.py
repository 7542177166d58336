"""Request plumbing shared by all routes: the caller, the unit of work, idempotent replays.

Routes stay thin: they declare the permission they need, then hand a function of
``(session, command context)`` to :meth:`Api.read` or :meth:`Api.command`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from retailcore.access.model import Principal
from retailcore.access.rate_limit import Limiter
from retailcore.access.services import authenticate
from retailcore.adapters.db import TRANSIENT_ATTEMPTS, begin_writing, is_transient, pause_before_retry
from retailcore.adapters.replica import ReadRouting, parse_lsn
from retailcore.core.errors import FieldProblem, IdempotencyKeyReused, Unauthenticated, ValidationFailed
from retailcore.entrypoints.api.problems import EdgeProblem
from retailcore.eventlog.services import CommandContext
from retailcore.eventlog.tables import IdempotentRequest

AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


class DecimalJSONRequest(Request):
    """Parses JSON numbers straight into Decimal: a price sent as ``19.99`` never becomes a float."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = json.loads(await self.body(), parse_float=Decimal)
            except RecursionError:
                # The parser gives up at Python's recursion limit (about 1,000 levels) at once; no
                # request of this API nests more than a few levels, free-form JSON at most 32.
                raise EdgeProblem(
                    422,
                    "json-too-deep",
                    "the JSON body is nested too deeply",
                    [FieldProblem("body", "nested too deeply")],
                ) from None
        return self._json


class DecimalRoute(APIRoute):
    def get_route_handler(self) -> Callable[..., Any]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(DecimalJSONRequest(request.scope, request.receive))

        return handle


def session_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.session_factory


MIN_LSN = "RC-Min-LSN"
"""The header (and cookie) that carries the primary's position after a client's last write: its routed
reads wait for a replica that has replayed past it, or go to the primary (decision 0086)."""


def read_routing(request: Request) -> ReadRouting | None:
    """The application's replica routing; None without ``RETAILCORE_READ_DATABASE_URL``."""
    return getattr(request.app.state, "read_routing", None)


def min_position(request: Request) -> int | None:
    """The position the caller's own last write reached: ``RC-Min-LSN``, the header before the cookie.
    A malformed header is refused (422 naming it); a malformed cookie is ignored, as a browser cannot be
    told to fix it."""
    sent = request.headers.get(MIN_LSN)
    if sent is not None:
        position = parse_lsn(sent)
        if position is None:
            raise ValidationFailed(
                f"{MIN_LSN} must be a WAL position such as 16/B374D848",
                problems=[FieldProblem(MIN_LSN, "not a WAL position such as 16/B374D848")],
            )
        return position
    cookie = request.cookies.get(MIN_LSN)
    return parse_lsn(cookie) if cookie else None


def current_principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    if not authorization:
        raise Unauthenticated("send 'Authorization: Bearer <token>'", code="missing-token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must use the Bearer scheme", code="invalid-token")
    # A fresh read of the token's row on every request, never a cached one: a revocation or an expiry
    # is then refused at once by every worker process.
    limiter: Limiter | None = getattr(request.app.state, "rate_limiter", None)
    with session_factory(request)() as session:
        autocommit = getattr(request.app.state, "token_reads_autocommit", False)
        if autocommit:
            # One SELECT needs no transaction around it: PostgreSQL is spared a BEGIN and a ROLLBACK,
            # two round trips of the three the read took (SQLite's are calls in the process).
            session.connection(execution_options=AUTOCOMMIT)
        principal = authenticate(session, token.strip())
        if limiter is not None and principal.token_id is not None:
            # A database bucket's one statement goes on this autocommit connection (decision 0087).
            limiter.take(principal.token_id, session if autocommit else None)
    return principal


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.url.path.encode())
    digest.update(body)
    return digest.hexdigest()


def _content(result: Any) -> Any:
    """``result`` as JSON-ready data, what ``jsonable_encoder`` makes of it: for a model that is its
    ``model_dump(mode="json", by_alias=True)``, which the encoder would then walk again whole."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(result)


class Api:
    """What a route gets: the caller and a way to run work against the database."""

    def __init__(
        self, request: Request, principal: Principal, idempotency_key: str | None, *, routed: bool = False
    ) -> None:
        self.request = request
        self.principal = principal
        self.idempotency_key = idempotency_key
        self._factory = session_factory(request)
        # Reads of a route that accepts a bounded staleness go through the replica routing, if any.
        self._routing = read_routing(request) if routed else None
        self._min_position = min_position(request) if self._routing is not None else None

    def read(self, work: Callable[[Session], Any]) -> Any:
        if self._routing is not None:
            return self._routing.read(work, self._min_position)
        with self._factory() as session:
            return work(session)

    def stream(self, work: Callable[[Session], Iterator[bytes]]) -> Iterator[bytes]:
        """``work``'s chunks, read in a session of their own that stays open while the response
        streams (an export: :mod:`retailcore.exports`), and closes when it ends or the client goes."""
        if self._routing is not None:
            yield from self._routing.stream(work, self._min_position)
            return
        with self._factory() as session:
            yield from work(session)

    async def command(
        self,
        work: Callable[[Session, CommandContext], BaseModel],
        *,
        status_code: int = 200,
        location: Callable[[BaseModel], str] | None = None,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Response:
        """Run a change in one transaction; with an Idempotency-Key, at most once per key.

        A repeat of the same request with the same key gets the first response back, marked
        ``Idempotent-Replayed: true``; the same key with a different request is refused.
        ``replayed`` turns the first response into what is stored for repeats, when they must not get
        all of it (a secret shown once).
        """
        body = await self.request.body()
        # The database work is blocking: keep it off the event loop so other requests go on.
        return await run_in_threadpool(self._command, body, work, status_code, location, replayed)

    def _command(
        self,
        body: bytes,
        work: Callable[[Session, CommandContext], BaseModel],
        status_code: int,
        location: Callable[[BaseModel], str] | None,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> Response:
        fingerprint = _fingerprint(self.request, body)
        key = self.idempotency_key
        for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
            try:
                return self._attempt(fingerprint, work, status_code, location, replayed)
            except IntegrityError:
                # Two requests with one key raced; the loser answers with the winner's response.
                if key and (replay := self._replay(key, fingerprint)) is not None:
                    return replay
                raise
            except DBAPIError as exc:
                # PostgreSQL broke a lock cycle (or a serialization conflict) by rolling this
                # transaction back: nothing was written, so the same work runs again, as the
                # PostgreSQL manual advises, after a short random pause that lets the winner commit.
                if attempt == TRANSIENT_ATTEMPTS or not is_transient(exc):
                    raise
                pause_before_retry(attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        fingerprint: str,
        work: Callable[[Session, CommandContext], BaseModel],
        status_code: int,
        location: Callable[[BaseModel], str] | None,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> Response:
        key = self.idempotency_key
        ctx = CommandContext(self.principal, idempotency_key=key)
        with self._factory() as session, session.begin():
            begin_writing(session)
            # A repeat is looked for in the command's own transaction: no connection of its own.
            if key and (replay := self._stored(session, key, fingerprint)) is not None:
                return replay
            result = work(session, ctx)
            content = _content(result)
            where = location(result) if location else None
            if key:
                self._remember(session, key, fingerprint, status_code, content, replayed, where)
        headers = {"Location": where} if where else {}
        return JSONResponse(content, status_code=status_code, headers=headers)

    def _remember(
        self,
        session: Session,
        key: str,
        fingerprint: str,
        status_code: int,
        content: Any,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None,
        location: str | None,
    ) -> None:
        """Store this request's response under its Idempotency-Key, in the transaction of its change
        (``replayed`` turns it into what repeats get, when they must not get all of it)."""
        session.add(
            IdempotentRequest(
                company_id=self.principal.company_id,
                source=self.principal.source,
                idempotency_key=key,
                fingerprint=fingerprint,
                status_code=status_code,
                response_body=replayed(content) if replayed else content,
                location=location,
            )
        )

    async def joined(
        self,
        submit: Callable[..., BaseModel | Response],
        *,
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Response:
        """Run a change that joins a shared transaction (a group commit, decision 0078), keeping
        :meth:`command`'s promises: ``submit(principal, idempotency_key=, replay=, store=)`` is given the
        hooks that answer a repeat of this request's Idempotency-Key with the first response, and
        record this request's response, inside the shared transaction."""
        body = await self.request.body()
        return await run_in_threadpool(self._joined, body, submit, replayed)

    def _joined(
        self,
        body: bytes,
        submit: Callable[..., BaseModel | Response],
        replayed: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> Response:
        fingerprint = _fingerprint(self.request, body)
        key = self.idempotency_key

        def replay(session: Session) -> Response | None:
            return self._stored(session, key, fingerprint) if key else None

        def store(session: Session, result: BaseModel) -> None:
            self._remember(session, key, fingerprint, 200, _content(result), replayed, None)

        try:
            result = submit(
                self.principal,
                idempotency_key=key,
                replay=replay if key else None,
                store=store if key else None,
            )
        except IntegrityError:
            # Two requests with one key raced; the loser answers with the winner's response.
            if key and (stored := self._replay(key, fingerprint)) is not None:
                return stored
            raise
        if isinstance(result, Response):
            return result
        return JSONResponse(_content(result))

    async def accepted(
        self,
        accept: Callable[..., tuple[BaseModel, bool]],
        *,
        location: Callable[[BaseModel], str],
        then: Callable[[], None] | None = None,
    ) -> Response:
        """Record a request to be done later (``Prefer: respond-async``, RFC 7240) and answer ``202
        Accepted`` with the ``Location`` of its status. ``accept(session, body=, idempotency_key=,
        fingerprint=)`` writes it in one short transaction and says whether it was there already (a
        repeat, answered the same and marked ``Idempotent-Replayed``); ``then`` runs after the commit."""
        body = await self.request.body()
        return await run_in_threadpool(self._accepted, body, accept, location, then)

    def _accepted(
        self,
        body: bytes,
        accept: Callable[..., tuple[BaseModel, bool]],
        location: Callable[[BaseModel], str],
        then: Callable[[], None] | None,
    ) -> Response:
        fingerprint = _fingerprint(self.request, body)
        with self._factory() as session, session.begin():
            begin_writing(session)
            receipt, repeated = accept(
                session,
                body=body.decode(json.detect_encoding(body)),
                idempotency_key=self.idempotency_key,
                fingerprint=fingerprint,
            )
        if then is not None and not repeated:
            then()
        headers = {"Location": location(receipt), "Preference-Applied": "respond-async"}
        if repeated:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(_content(receipt), status_code=202, headers=headers)

    def _replay(self, key: str, fingerprint: str) -> Response | None:
        with self._factory() as session:
            return self._stored(session, key, fingerprint)

    def _stored(self, session: Session, key: str, fingerprint: str) -> Response | None:
        """The first response to the request ``key`` named, for a repeat of it; None when there was none."""
        source = self.principal.source
        stored = session.scalar(
            select(IdempotentRequest).where(
                IdempotentRequest.source == source, IdempotentRequest.idempotency_key == key
            )
        )
        if stored is None:
            return None
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"Idempotency-Key '{key}' was already used for a different request",
            )
        headers = {"Idempotent-Replayed": "true"}
        if stored.location:
            headers["Location"] = stored.location
        return JSONResponse(stored.response_body, status_code=stored.status_code, headers=headers)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Unique per request you want done at most once; repeats get the first response back.",
        max_length=255,
    ),
]


def reader(permission: str) -> Callable[..., Api]:
    """Dependency for reads: authenticate and check the role's permission."""

    # Async although it does no I/O: FastAPI runs a plain function in the thread pool, a hand-off
    # between threads per request for a check that takes microseconds.
    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Api:
        principal.require(permission)
        return Api(request, principal, None)

    dependency.permission = permission  # type: ignore[attr-defined]  # read by contract.possible_errors
    return dependency


def replica_reader(permission: str) -> Callable[..., Api]:
    """Dependency for reads that accept a bounded staleness (reports, KPIs, exports): as :func:`reader`,
    and the route's reads go to the read replica when one is configured and close enough behind
    (``RETAILCORE_READ_DATABASE_URL``, decision 0086). Authentication still reads the primary, so a
    revoked token is refused at once."""

    async def dependency(  # async for the reason given in reader
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Api:
        principal.require(permission)
        return Api(request, principal, None, routed=True)

    dependency.permission = permission  # type: ignore[attr-defined]  # read by contract.possible_errors
    return dependency


def writer(permission: str) -> Callable[..., Api]:
    """Dependency for changes: as :func:`reader`, plus the optional ``Idempotency-Key`` header."""

    async def dependency(  # async for the reason given in reader
        request: Request,
        principal: Annotated[Principal, Depends(current_principal)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Api:
        principal.require(permission)
        if idempotency_key is not None and not idempotency_key.strip():
            raise ValidationFailed("Idempotency-Key must not be blank", code="blank-idempotency-key")
        return Api(request, principal, idempotency_key)

    dependency.permission = permission  # type: ignore[attr-defined]  # read by contract.possible_errors
    dependency.writes = True  # type: ignore[attr-defined]
    return dependency
