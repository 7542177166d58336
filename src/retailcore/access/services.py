"""Issuing, checking, listing and revoking API tokens (docs/security.md, decision 0016).

A token is issued with an optional expiry, refused from the instant it expires or is revoked (every
request reads its row: no process keeps a copy), stamped with its last use at most once a minute,
and never deleted. Issuing and revoking through the API or the CLI append ``ApiTokenCreated`` and
``ApiTokenRevoked`` to the event log of the token's company (never the secret nor its hash).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, func, or_, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role, system_principal
from retailcore.access.tables import ApiToken
from retailcore.adapters.db import WRITES
from retailcore.adapters.orm import utcnow
from retailcore.adapters.paging import keyset_page
from retailcore.core import inputs
from retailcore.core.errors import (
    Conflict,
    FieldProblem,
    InvalidReference,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from retailcore.eventlog.services import CommandContext, record
from retailcore.masterdata.commands import CompanyRef, StoreRef
from retailcore.masterdata.services import company_by_ref, store_by_ref
from retailcore.masterdata.tables import Company, Store

log = logging.getLogger(__name__)

TOKEN_PREFIX = "rc_"
MAX_LIFETIME = dt.timedelta(days=5 * 365 + 1)
"""The furthest expiry a token may be given: five years (a leap day included)."""
LAST_USE_EVERY = dt.timedelta(seconds=60)
"""``last_used_at`` is written at most this often per token."""
LAST_USE_WAIT_MS = 100
"""How long the last-use write waits for a busy database before giving up until the next request."""

TokenState = Literal["active", "revoked", "expired"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    id: uuid.UUID
    token: str
    """The secret itself: shown once, never stored."""
    role: Role
    company_id: uuid.UUID | None
    store_id: uuid.UUID | None


class TokenView(BaseModel):
    """A token as listed: everything but its secret and the secret's hash."""

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    role: Role
    company_id: uuid.UUID | None = Field(description="Null for an installation-wide admin token.")
    store_id: uuid.UUID | None
    created_at: dt.datetime
    created_by: str | None = Field(description="`cli`, or `token:<name>` of the admin that issued it.")
    expires_at: dt.datetime | None = Field(description="Refused from this instant on; null: until revoked.")
    revoked_at: dt.datetime | None
    revoked_by: str | None
    last_used_at: dt.datetime | None = Field(
        description="When it last authenticated a request, to the minute (written at most once a minute)."
    )
    state: TokenState


class IssuedTokenView(TokenView):
    token: str | None = Field(
        description="The secret, to send as `Authorization: Bearer <token>`: in the first response only;"
        " null when the response is an idempotent replay."
    )
    note: str | None = Field(None, description="Why `token` is null, on a replay.")


REPLAY_NOTE = (
    "replayed response: the token is shown only once, in the first response; if it was lost,"
    " revoke this one and create another"
)


def without_secret(issued: dict[str, object]) -> dict[str, object]:
    """What an idempotent replay of a token's creation answers: the same body but the secret."""
    return {**issued, "token": None, "note": REPLAY_NOTE}


RefText = inputs.text(min_length=1, max_length=100)


class CreateToken(BaseModel):
    """A token to issue. Company and store are named by code or id; both default to the caller's."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    company_id: CompanyRef | None = None
    company: RefText | None = Field(None, description="Company code or id (or send it as `company_id`).")
    store_id: StoreRef | None = None
    store: RefText | None = Field(None, description="Store code or id (or send it as `store_id`).")
    name: RefText | None = Field(None, description="To recognise the token by; generated when absent.")
    expires_at: inputs.Instant | None = Field(
        None, description="With a time zone offset; at most 5 years ahead."
    )
    expires_in_days: int | None = Field(
        None, ge=1, le=MAX_LIFETIME.days, description="Instead of `expires_at`."
    )


# -- issuing ---------------------------------------------------------------------------------------


def parse_role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailed(
            f"unknown role '{value}'; expected one of {', '.join(r.value for r in Role)}",
            code="unknown-role",
            problems=[FieldProblem("role", "unknown role")],
        ) from None


def _as_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def resolve_company(session: Session, ref: str, within: Principal | None = None) -> Company:
    """A company by id or by code; one outside ``within``'s scope is not found either."""
    company = company_by_ref(session, ref)
    if company is None or (within is not None and not within.sees_company(company.id)):
        raise InvalidReference(f"no company '{ref}'", code="unknown-company")
    return company


def resolve_store(session: Session, company: Company, ref: str, within: Principal | None = None) -> Store:
    """A store of the company by id or by code; one outside ``within``'s scope is not found either."""
    store = store_by_ref(session, company.id, ref)
    if store is None or (within is not None and not within.sees_store(store.id)):
        raise InvalidReference(f"no store '{ref}' in company {company.code}", code="unknown-store")
    return store


@contextmanager
def _blaming(field: str, noun: str) -> Iterator[None]:
    """A reference that resolves to nothing is reported against the field that carried it."""
    try:
        yield
    except InvalidReference as exc:
        exc.problems = [FieldProblem(field, f"no such {noun}")]
        raise


def _one_ref(by_id: str | None, by_ref: str | None, noun: str) -> tuple[str | None, str]:
    """The reference sent (as ``<noun>_id`` or ``<noun>``) and the field that carried it."""
    if by_id is not None and by_ref is not None:
        raise ValidationFailed(
            f"send {noun} or {noun}_id, not both", problems=[FieldProblem(f"{noun}_id", f"also sent {noun}")]
        )
    if by_id is not None:
        return str(by_id), f"{noun}_id"
    return by_ref, noun


def _scope(
    session: Session, issuer: Principal, role: Role, request: CreateToken
) -> tuple[Company | None, Store | None]:
    """The company and store of a new token: as asked, within the issuer's own scope (an issuer's
    company and store are the defaults, so a scoped issuer cannot leave them out to widen the token)."""
    company_ref, company_field = _one_ref(request.company_id, request.company, "company")
    store_ref, store_field = _one_ref(request.store_id, request.store, "store")
    company: Company | None = None
    if company_ref is not None:
        with _blaming(company_field, "company"):
            company = resolve_company(session, company_ref, within=issuer)
    elif issuer.company_id is not None:
        company = session.get(Company, issuer.company_id)
    if store_ref is None and issuer.store_id is not None:
        store_ref, store_field = str(issuer.store_id), "store_id"
    store: Store | None = None
    if store_ref is not None:
        if company is None:
            raise ValidationFailed(
                "a store-scoped token needs a company too",
                code="store-needs-company",
                problems=[FieldProblem(company_field, "required with a store")],
            )
        with _blaming(store_field, "store"):
            store = resolve_store(session, company, store_ref, within=issuer)
    if role is not Role.admin and company is None:
        raise ValidationFailed(
            f"a {role} token must be scoped to a company",
            code="company-required",
            problems=[FieldProblem(company_field, "required for this role")],
        )
    return company, store


def _expiry(issuer: Principal, request: CreateToken, now: dt.datetime) -> dt.datetime | None:
    if request.expires_at is not None and request.expires_in_days is not None:
        raise ValidationFailed(
            "send expires_at or expires_in_days, not both",
            problems=[FieldProblem("expires_in_days", "also sent expires_at")],
        )
    field = "expires_in_days" if request.expires_in_days is not None else "expires_at"
    expires_at = request.expires_at
    if request.expires_in_days is not None:
        expires_at = now + dt.timedelta(days=request.expires_in_days)
    if expires_at is not None:
        expires_at = expires_at.astimezone(dt.UTC)
        if expires_at <= now:
            raise ValidationFailed(
                f"the expiry {expires_at:%Y-%m-%dT%H:%M:%SZ} is not in the future",
                code="invalid-expiry",
                problems=[FieldProblem(field, "must be in the future")],
            )
        if expires_at > now + MAX_LIFETIME:
            raise ValidationFailed(
                "a token may be given at most 5 years",
                code="invalid-expiry",
                problems=[FieldProblem(field, "at most 5 years ahead")],
            )
    if issuer.expires_at is not None and (expires_at is None or expires_at > issuer.expires_at):
        raise ValidationFailed(
            f"the new token would outlive the token issuing it (it expires at"
            f" {issuer.expires_at:%Y-%m-%dT%H:%M:%SZ}): give it an expiry no later than that",
            code="invalid-expiry",
            problems=[FieldProblem(field, "after the issuing token's own expiry")],
        )
    return expires_at


def _insert(
    session: Session,
    role: Role,
    company: Company | None,
    store: Store | None,
    name: str | None,
    expires_at: dt.datetime | None,
    created_by: str | None,
    now: dt.datetime,
) -> tuple[ApiToken, str]:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name or f"{role}-{secrets.token_hex(3)}",
        token_hash=hash_token(secret),
        prefix=secret[:10],
        role=role.value,
        company_id=company.id if company else None,
        store_id=store.id if store else None,
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, secret


def create_token(
    session: Session,
    *,
    role: Role | str,
    company: str | None = None,
    store: str | None = None,
    name: str | None = None,
    expires_at: dt.datetime | None = None,
    created_by: str | None = None,
) -> IssuedToken:
    """Issue a token as the operator, with no event: fixtures, benchmarks and ``init --demo``.
    (The API and ``retailcore token create`` go through :func:`issue_token`.)"""
    role = parse_role(role)
    request = CreateToken(role=role, company=company, store=store, name=name, expires_at=expires_at)
    now = utcnow()
    operator = system_principal()
    company_row, store_row = _scope(session, operator, role, request)
    expiry = _expiry(operator, request, now)
    row, secret = _insert(session, role, company_row, store_row, name, expiry, created_by, now)
    return IssuedToken(row.id, secret, role, row.company_id, row.store_id)


def issue_token(
    session: Session, ctx: CommandContext, request: CreateToken, *, now: dt.datetime | None = None
) -> IssuedTokenView:
    """Issue a token within the issuer's reach: its company and store (defaults too), no wider, and
    expiring no later than the issuer's own token. Appends ``ApiTokenCreated`` for a company's token."""
    now = now or utcnow()
    issuer = ctx.principal
    company, store = _scope(session, issuer, request.role, request)
    expires_at = _expiry(issuer, request, now)
    row, secret = _insert(session, request.role, company, store, request.name, expires_at, ctx.actor, now)
    _record(
        session,
        ctx,
        "ApiTokenCreated",
        row,
        name=row.name,
        role=row.role,
        company_id=row.company_id,
        store_id=row.store_id,
        expires_at=row.expires_at,
        created_by=row.created_by,
    )
    return IssuedTokenView(**token_view(row, now).model_dump(), token=secret)


# -- checking --------------------------------------------------------------------------------------


def state_of(row: ApiToken, now: dt.datetime) -> TokenState:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


_TOKEN_BY_HASH = select(
    ApiToken.id,
    ApiToken.name,
    ApiToken.role,
    ApiToken.company_id,
    ApiToken.store_id,
    ApiToken.expires_at,
    ApiToken.revoked_at,
    ApiToken.last_used_at,
).where(ApiToken.token_hash == bindparam("token_hash"))
"""Built once: every request runs it, and building a statement and loading an ORM object per request
cost more than the query itself. The columns a principal needs, not the row as an object."""


def authenticate(session: Session, token: str, *, now: dt.datetime | None = None) -> Principal:
    """The caller a bearer token stands for, read from the database on every call (so a revocation or
    an expiry holds at once in every process). Ends the session's transaction when it notes the use:
    call it on a session of its own."""
    now = now or utcnow()
    row = session.execute(_TOKEN_BY_HASH, {"token_hash": hash_token(token)}).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the bearer token is unknown or revoked", code="invalid-token")
    if row.expires_at is not None and row.expires_at <= now:  # state_of's "expired"
        raise Unauthenticated(
            f"the bearer token expired at {row.expires_at:%Y-%m-%dT%H:%M:%SZ}", code="expired-token"
        )
    principal = Principal(
        token_id=row.id,
        name=row.name,
        role=Role(row.role),
        company_id=row.company_id,
        store_id=row.store_id,
        expires_at=row.expires_at,
    )
    if row.last_used_at is None or row.last_used_at < now - LAST_USE_EVERY:
        session.rollback()  # the read is done; the stamp is a transaction of its own
        note_use(session, row.id, now)
    return principal


def note_use(session: Session, token_id: uuid.UUID, now: dt.datetime) -> bool:
    """Stamp ``last_used_at`` unless another request did within the minute, in a short transaction of
    its own that waits at most :data:`LAST_USE_WAIT_MS` for a busy database. False when it gave up
    (the next request tries again): a request never fails, nor waits long, for its token's stamp."""
    stamp = (
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USE_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    try:
        with (
            session.get_bind().connect() as connection,
            _short_lock_wait(connection),
            connection.execution_options(**WRITES).begin(),
        ):
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SET LOCAL lock_timeout = '{LAST_USE_WAIT_MS}ms'"))
            connection.execute(stamp)
    except DBAPIError as exc:
        log.debug("last use of token %s not recorded this time: %s", token_id, exc.orig)
        return False
    return True


@contextmanager
def _short_lock_wait(connection: Connection) -> Iterator[None]:
    """On SQLite, wait at most :data:`LAST_USE_WAIT_MS` for the writer's lock (the busy timeout is a
    setting of the connection, so it is put back afterwards); PostgreSQL sets ``lock_timeout`` in the
    transaction instead."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    usual = driver.execute("PRAGMA busy_timeout").fetchone()[0]
    driver.execute(f"PRAGMA busy_timeout={LAST_USE_WAIT_MS}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA busy_timeout={int(usual)}")


# -- reading ---------------------------------------------------------------------------------------


def token_view(row: ApiToken, now: dt.datetime | None = None) -> TokenView:
    columns = {name: getattr(row, name) for name in TokenView.model_fields if name != "state"}
    return TokenView(**columns, state=state_of(row, now or utcnow()))


def _visible(principal: Principal) -> list[ColumnElement[bool]]:
    """A company's admin sees its company's tokens (not the installation-wide ones); a store's admin,
    its store's."""
    conditions: list[ColumnElement[bool]] = []
    if principal.company_id is not None:
        conditions.append(ApiToken.company_id == principal.company_id)
    if principal.store_id is not None:
        conditions.append(ApiToken.store_id == principal.store_id)
    return conditions


def _in_state(state: TokenState, now: dt.datetime) -> ColumnElement[bool]:
    if state == "revoked":
        return ApiToken.revoked_at.is_not(None)
    expired = and_(ApiToken.expires_at.is_not(None), ApiToken.expires_at <= now)
    if state == "expired":
        return and_(ApiToken.revoked_at.is_(None), expired)
    return and_(ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now))


def list_tokens(
    session: Session,
    principal: Principal,
    *,
    company_id: uuid.UUID | None = None,
    role: Role | None = None,
    state: TokenState | Literal["all"] = "all",
    limit: int = 50,
    cursor: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[TokenView], uuid.UUID | None]:
    """The tokens the principal may see, oldest first, ``limit`` at a time after ``cursor``."""
    now = now or utcnow()
    query: Select[tuple[ApiToken]] = select(ApiToken).where(*_visible(principal))
    if company_id is not None:
        query = query.where(ApiToken.company_id == company_id)
    if role is not None:
        query = query.where(ApiToken.role == role.value)
    if state != "all":
        query = query.where(_in_state(state, now))
    rows, next_cursor = keyset_page(session, query, ApiToken.id, limit, cursor)
    return [token_view(row, now) for row in rows], next_cursor


def get_token(session: Session, principal: Principal, token_id: uuid.UUID) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.id == token_id, *_visible(principal)))
    if row is None:
        raise NotFound(f"no token {token_id}", code="not-found")
    return row


def find_token(session: Session, principal: Principal, ref: str) -> ApiToken:
    """A token by id, by the secret itself, or by the start of its prefix (``rc_Ab3``); a start that
    several tokens share is refused, naming them."""
    by_id = _as_uuid(ref)
    if by_id is not None:
        return get_token(session, principal, by_id)
    visible = select(ApiToken).where(*_visible(principal))
    row = session.scalar(visible.where(ApiToken.token_hash == hash_token(ref)))
    if row is not None:
        return row
    # substr, not LIKE: SQLite's LIKE ignores case, and prefixes differ by case alone.
    matches = list(
        session.scalars(
            visible.where(func.substr(ApiToken.prefix, 1, len(ref)) == ref).order_by(ApiToken.id).limit(11)
        )
    )
    if not matches:
        raise NotFound(f"no token '{ref}'", code="not-found")
    if len(matches) > 1:
        listed = ", ".join(f"{m.prefix} ({m.name})" for m in matches[:10])
        more = " and more" if len(matches) > 10 else ""
        raise Conflict(f"'{ref}' matches several tokens: {listed}{more}", code="ambiguous-token")
    return matches[0]


# -- revoking --------------------------------------------------------------------------------------


def revoke_token(
    session: Session, ctx: CommandContext, token_id: uuid.UUID, *, now: dt.datetime | None = None
) -> TokenView:
    """Refuse the token from now on, noting who revoked it. Revoking a revoked token changes nothing
    (and records nothing); tokens are never deleted."""
    now = now or utcnow()
    row = get_token(session, ctx.principal, token_id)
    if row.revoked_at is None:
        row.revoked_at = now
        row.revoked_by = ctx.actor
        session.flush()
        _record(session, ctx, "ApiTokenRevoked", row, revoked_at=row.revoked_at, revoked_by=row.revoked_by)
    return token_view(row, now)


def _record(session: Session, ctx: CommandContext, type: str, row: ApiToken, **facts: object) -> None:
    """Append an event about a token to its company's log (an installation-wide token has none: its
    row is its record). The payload names the token by id and prefix, never by its secret or hash."""
    if row.company_id is None:
        return
    record(
        session,
        ctx,
        type=type,
        company_id=row.company_id,
        store_id=row.store_id,
        aggregate_type="api_token",
        aggregate_id=row.id,
        payload={"id": row.id, "prefix": row.prefix, **facts},
    )


def scope_label(session: Session, row: ApiToken | TokenView) -> str:
    """``installation``, ``ACME`` or ``ACME/S1``: a token's reach in a person's words."""
    if row.company_id is None:
        return "installation"
    company = session.get(Company, row.company_id)
    label = company.code if company else str(row.company_id)
    if row.store_id is not None:
        store = session.get(Store, row.store_id)
        label += "/" + (store.code if store else str(row.store_id))
    return label
