"""The forecast run request (``POST /forecasts/runs``); the views are in
:mod:`retailcore.analytics.forecasts.queries`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from retailcore.core.inputs import Day
from retailcore.masterdata.commands import COMPANY_DEFAULT, CompanyRef

MAX_HORIZON = 90


class RunForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_id: CompanyRef | None = Field(None, description=COMPANY_DEFAULT)
    horizon: int = Field(14, ge=1, le=MAX_HORIZON, description="Days to forecast after `as_of`.")
    as_of: Day | None = Field(None, description="The last day of history; defaults to yesterday (UTC).")
