"""What can be asked of the exceptions console, and what it answers (requests and views)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import text

Note = text(strip_whitespace=True, max_length=500)
Owner = text(strip_whitespace=True, min_length=1, max_length=128)


class Request(BaseModel):
    # Unknown fields are refused: a typo in a field name must not silently do nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExceptionNote(Request):
    """Acknowledge or resolve: what the person found or did (kept on the row and in the event)."""

    note: Note = ""


class AssignException(Request):
    owner: Owner = Field(description="Who takes it: a name or an e-mail (free text).")
    note: Note = ""


class SetExceptionClass(Request):
    """A person's class for an exception: it wins over the rules and the model, and is a label the
    classifier learns from."""

    exception_class: Owner = Field(description="One of the classes of the exception's type.")
    note: Note = ""


class TriageRequest(Request):
    """Re-classify the company's unresolved exceptions (rules, then the classifier)."""

    retrain: bool = Field(True, description="Train the classifier on the company's labelled rows first.")


class TriageResult(BaseModel):
    examined: int
    by_rule: int
    by_model: int
    by_person: int
    undecided: int
    training_rows: int
    model_used: bool


class ExceptionView(BaseModel):
    """An exception as the console shows it. ``priority`` and ``age_seconds`` are as of the answer."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    company_id: uuid.UUID
    type: str
    kind: str = Field(description="The same as `type` (the stock exceptions queue's name for it).")
    severity: str
    status: str
    amount_at_risk: DecimalStr
    currency: str
    priority: DecimalStr = Field(
        description="severity weight x class weight x (1 + log10(1 + amount_at_risk)) x (1 + age in days)"
        " (docs/intelligence.md, Mismatch triage)"
    )
    exception_class: str | None = Field(
        None, description="The triage class (fee_difference, shrink...), null when none is known."
    )
    class_confidence: DecimalStr | None = Field(None, description="How sure the class is, 0 to 1.")
    class_source: str | None = Field(None, description="Who gave the class: rule, model or person.")
    age_seconds: int
    occurrences: int
    owner: str | None
    resolution: str | None
    dedupe_key: str | None
    store_id: uuid.UUID | None
    product_id: uuid.UUID | None
    location_id: uuid.UUID | None
    order_id: uuid.UUID | None
    connector_id: uuid.UUID | None
    sync_message_id: uuid.UUID | None
    message: str
    details: dict[str, Any]
    event_id: uuid.UUID | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str | None
    acknowledged_at: dt.datetime | None
    resolved_at: dt.datetime | None


class ExceptionPage(BaseModel):
    items: list[ExceptionView]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
