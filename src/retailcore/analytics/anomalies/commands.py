"""Requests and views of anomaly scans (decision 0075)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from retailcore.core.decimals import DecimalStr
from retailcore.core.inputs import Day
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef, Request


class StartScan(Request):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    company: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    date_from: Day | None = Field(
        None, alias="from", description="First local day (default: 30 days to `to`)."
    )
    date_to: Day | None = Field(None, alias="to", description="Last local day (default: yesterday).")


class ScanView(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True, serialize_by_alias=True)

    id: uuid.UUID
    company_id: uuid.UUID
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    rows: int
    flagged: int
    threshold: DecimalStr
    settings: dict[str, Any]
    created_at: dt.datetime
    created_by: str


class AnomalyView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    scan_id: uuid.UUID
    store_id: uuid.UUID
    store_code: str
    cashier: str | None = Field(description="The till user; null: the store's whole day.")
    day: dt.date
    score: DecimalStr
    kind: str | None = Field(description="The exception type the alert raised.")
    flagged: bool
    amount_at_risk: DecimalStr = Field(description="The excess over the peers' median of the money features.")
    features: dict[str, Any] = Field(description="`values` (decimal strings) and `z` (robust z) per feature.")
    explanation: list[dict[str, Any]] = Field(description="Top features: feature, z, value, peer_median.")
    exception_id: uuid.UUID | None


class AnomalyPage(BaseModel):
    items: list[AnomalyView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")


class ScanPage(BaseModel):
    items: list[ScanView]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last.")
