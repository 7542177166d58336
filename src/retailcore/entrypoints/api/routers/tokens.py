"""API tokens over HTTP: issue, list, read, revoke (admins only, within their own scope).

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at runtime.
"""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from retailcore.access import services as svc
from retailcore.access.model import Role
from retailcore.entrypoints.api.deps import Api, reader, writer
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.commands import CompanyRef
from retailcore.masterdata.services import company_in_scope

router = APIRouter(prefix="/tokens", tags=["tokens"])


def _location(result: BaseModel) -> str:
    return f"/api/v1/tokens/{result.id}"  # type: ignore[attr-defined]


@router.post(
    "",
    status_code=201,
    response_model=svc.IssuedTokenView,
    summary="Issue a token",
    description=(
        "Returns the secret once, in `token`. Company and store default to the caller's: a company's"
        " admin issues tokens of its company only, a store's admin of its store only, and no token may"
        " expire after the one issuing it. A replay with the same `Idempotency-Key` answers the same body"
        " with `token` null."
    ),
    responses={422: {"description": "Invalid input, an unknown company or store, or an expiry out of range"}},
)
async def create_token(
    body: svc.CreateToken, api: Annotated[Api, Depends(writer("tokens:write"))]
) -> Response:
    return await api.command(
        lambda session, ctx: svc.issue_token(session, ctx, body),
        status_code=201,
        location=_location,
        replayed=svc.without_secret,
    )


class TokenQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description="Company code or id: only its tokens.")
    role: Role | None = None
    state: Literal["active", "revoked", "expired", "all"] = "all"
    limit: int = Field(50, ge=1, le=500)
    cursor: uuid.UUID | None = Field(None, description="The `next_cursor` of the previous page.")


class TokenPage(BaseModel):
    items: list[svc.TokenView]
    next_cursor: uuid.UUID | None


@router.get("", response_model=TokenPage, summary="List tokens")
def list_tokens(
    params: Annotated[TokenQuery, Query()], api: Annotated[Api, Depends(reader("tokens:read"))]
) -> Any:
    def work(session: Session) -> TokenPage:
        company = company_in_scope(session, api.principal, params.company_id) if params.company_id else None
        items, next_cursor = svc.list_tokens(
            session,
            api.principal,
            company_id=company.id if company else None,
            role=params.role,
            state=params.state,
            limit=params.limit,
            cursor=params.cursor,
        )
        return TokenPage(items=items, next_cursor=next_cursor)

    return api.read(work)


@router.get("/{token_id}", response_model=svc.TokenView, summary="Read a token")
def get_token(token_id: uuid.UUID, api: Annotated[Api, Depends(reader("tokens:read"))]) -> Any:
    return api.read(lambda session: svc.token_view(svc.get_token(session, api.principal, token_id)))


@router.post(
    "/{token_id}/revoke",
    response_model=svc.TokenView,
    summary="Revoke a token",
    description="Refused from now on by every server process. Revoking a revoked token changes nothing.",
)
async def revoke_token(token_id: uuid.UUID, api: Annotated[Api, Depends(writer("tokens:write"))]) -> Response:
    def work(session: Session, ctx: CommandContext) -> svc.TokenView:
        return svc.revoke_token(session, ctx, token_id)

    return await api.command(work)
