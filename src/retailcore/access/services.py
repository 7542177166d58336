"""Issuing and checking API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.access.model import Principal, Role
from retailcore.access.tables import ApiToken
from retailcore.adapters.orm import utcnow
from retailcore.core.errors import InvalidReference, Unauthenticated, ValidationFailed
from retailcore.masterdata.tables import Company, Store

TOKEN_PREFIX = "rc_"


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


def _as_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def resolve_company(session: Session, ref: str) -> Company:
    """A company by id or by code."""
    by_id = _as_uuid(ref)
    company = session.get(Company, by_id) if by_id else None
    company = company or session.scalar(select(Company).where(Company.code == ref))
    if company is None:
        raise InvalidReference(f"no company '{ref}'", code="unknown-company")
    return company


def resolve_store(session: Session, company: Company, ref: str) -> Store:
    by_id = _as_uuid(ref)
    store = session.get(Store, by_id) if by_id else None
    store = store or session.scalar(select(Store).where(Store.company_id == company.id, Store.code == ref))
    if store is None or store.company_id != company.id:
        raise InvalidReference(f"no store '{ref}' in company {company.code}", code="unknown-store")
    return store


def create_token(
    session: Session,
    *,
    role: Role | str,
    company: str | None = None,
    store: str | None = None,
    name: str | None = None,
) -> IssuedToken:
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(
            f"unknown role '{role}'; expected one of {', '.join(r.value for r in Role)}", code="unknown-role"
        ) from None
    if store and not company:
        raise ValidationFailed("a store-scoped token needs --company too", code="store-needs-company")
    if role is not Role.admin and not company:
        raise ValidationFailed(f"a {role} token must be scoped to a company", code="company-required")
    company_row = resolve_company(session, company) if company else None
    store_row = resolve_store(session, company_row, store) if (store and company_row) else None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name or f"{role}-{secrets.token_hex(3)}",
        token_hash=hash_token(secret),
        prefix=secret[:10],
        role=role.value,
        company_id=company_row.id if company_row else None,
        store_id=store_row.id if store_row else None,
    )
    session.add(row)
    session.flush()
    return IssuedToken(row.id, secret, role, row.company_id, row.store_id)


def authenticate(session: Session, token: str) -> Principal:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("the bearer token is unknown or revoked", code="invalid-token")
    return Principal(
        token_id=row.id, name=row.name, role=Role(row.role), company_id=row.company_id, store_id=row.store_id
    )


def revoke_token(session: Session, token_id: uuid.UUID) -> None:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise InvalidReference(f"no token {token_id}", code="unknown-token")
    row.revoked_at = row.revoked_at or utcnow()
