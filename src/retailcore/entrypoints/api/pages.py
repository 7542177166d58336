"""The one shape of every collection: ``{"items": [...], "next_cursor": ...}``, paged with ``limit`` and
``cursor`` (keyset pagination, ``adapters/paging.py``; docs/api.md, "Pagination"; decision 0021)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef

ItemT = TypeVar("ItemT")

Limit = Annotated[int, Field(ge=1, le=500, description="Page size.")]
CURSOR = "The `next_cursor` of the previous page."
NEXT_CURSOR = "Pass as `cursor` to get the next page; null on the last page."


class PageOf(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(description=NEXT_CURSOR)

    @classmethod
    def of(cls, items: list[ItemT], last: Any) -> PageOf[ItemT]:
        """A page of ``items`` whose next one starts after ``last`` (None: this is the last page)."""
        return cls(items=items, next_cursor=None if last is None else str(last))


class CompanyPageQuery(BaseModel):
    """A page of one company's list; a subclass adds its ``cursor`` (an id, a code, a date) and filters."""

    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    limit: Limit = 50


class IdPageQuery(CompanyPageQuery):
    """A page of a list whose cursor is an id."""

    cursor: uuid.UUID | None = Field(None, description=CURSOR)
