"""Back-office users: people who sign in at ``/`` with a user name and a password (docs/security.md,
decision 0045).

A user holds the same role and company/store scope as an API token and signs in as the same
:class:`Principal`, so a page shows exactly what the API would show that person. Passwords are hashed
with argon2id (``argon2-cffi``'s defaults); a password is never stored nor logged. After
``MAX_FAILURES`` failed sign-ins in a row a user is locked for ``LOCKOUT``; a successful sign-in resets
the count. A disabled user cannot sign in, and a signed-in one is refused at their next request (every
request reads the user's row).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role
from retailcore.access.services import parse_role, resolve_company, resolve_store
from retailcore.access.tables import User
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import Conflict, FieldProblem, NotFound, Unauthenticated, ValidationFailed
from retailcore.masterdata.tables import Company, Store

MAX_FAILURES = 5
"""Failed sign-ins in a row that lock a user."""
LOCKOUT = dt.timedelta(minutes=15)
"""How long a locked user is refused, even with the right password."""
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verified when the user name is unknown, so that an unknown name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class UserView:
    id: uuid.UUID
    username: str
    role: Role
    company: str | None
    store: str | None
    disabled: bool
    locked_until: dt.datetime | None
    last_sign_in_at: dt.datetime | None


def principal_of(user: User) -> Principal:
    """The caller a signed-in user is: the same as a token of that role and scope."""
    return Principal(
        token_id=None,
        name=f"user:{user.username}",
        role=Role(user.role),
        company_id=user.company_id,
        store_id=user.store_id,
    )


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str,
    *,
    company: str | None = None,
    store: str | None = None,
    created_by: str = "cli",
) -> User:
    """A new user; the company and store are named by code or id, as for tokens."""
    username = username.strip()
    if not username or len(username) > 100 or any(ch.isspace() for ch in username):
        raise ValidationFailed(
            "a user name is 1 to 100 characters without spaces",
            problems=[FieldProblem("username", "1 to 100 characters, no spaces")],
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password has at least {MIN_PASSWORD_LENGTH} characters",
            code="weak-password",
            problems=[FieldProblem("password", f"at least {MIN_PASSWORD_LENGTH} characters")],
        )
    parsed = parse_role(role)
    found_company: Company | None = resolve_company(session, company) if company else None
    found_store: Store | None = None
    if store:
        if found_company is None:
            raise ValidationFailed(
                "a store-scoped user needs a company too",
                code="store-needs-company",
                problems=[FieldProblem("company", "required with a store")],
            )
        found_store = resolve_store(session, found_company, store)
    if parsed is not Role.admin and found_company is None:
        raise ValidationFailed(
            f"a {parsed} user must be scoped to a company",
            code="company-required",
            problems=[FieldProblem("company", "required for this role")],
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"a user '{username}' exists already", code="duplicate-user")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=parsed.value,
        company_id=found_company.id if found_company else None,
        store_id=found_store.id if found_store else None,
        created_by=created_by,
        failed_attempts=0,
    )
    session.add(user)
    session.flush()
    return user


def user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user '{username}'")
    return user


def disable_user(session: Session, username: str) -> User:
    user = user_by_name(session, username)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    return user


def list_users(session: Session) -> list[UserView]:
    companies = {c.id: c.code for c in session.scalars(select(Company))}
    stores = {s.id: s.code for s in session.scalars(select(Store))}
    return [
        UserView(
            id=user.id,
            username=user.username,
            role=Role(user.role),
            company=companies.get(user.company_id) if user.company_id else None,
            store=stores.get(user.store_id) if user.store_id else None,
            disabled=user.disabled_at is not None,
            locked_until=user.locked_until,
            last_sign_in_at=user.last_sign_in_at,
        )
        for user in session.scalars(select(User).order_by(User.username))
    ]


SIGN_IN_REFUSED = "wrong user name or password"


def sign_in(session: Session, username: str, password: str, now: dt.datetime | None = None) -> User:
    """The user whose password this is, or :class:`Unauthenticated` with one message for an unknown
    name, a wrong password and a disabled user (a locked user is told so, and when it ends).

    Commits nothing itself: the caller commits, so that a failure is counted too."""
    now = now or utcnow()
    user = session.scalar(select(User).where(User.username == username.strip()).with_for_update())
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise Unauthenticated(SIGN_IN_REFUSED, code="sign-in-refused")
    if user.locked_until is not None and user.locked_until > now:
        raise Unauthenticated(
            f"too many failed sign-ins: locked until {user.locked_until:%H:%M} UTC", code="locked"
        )
    if not verify_password(user.password_hash, password) or user.disabled_at is not None:
        user.failed_attempts += 1
        if user.failed_attempts >= MAX_FAILURES:
            user.locked_until = now + LOCKOUT
            user.failed_attempts = 0
        raise Unauthenticated(SIGN_IN_REFUSED, code="sign-in-refused")
    user.failed_attempts = 0
    user.locked_until = None
    user.last_sign_in_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def active_user(session: Session, user_id: uuid.UUID) -> User | None:
    """The user of a session cookie, or None once disabled or gone."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return user
