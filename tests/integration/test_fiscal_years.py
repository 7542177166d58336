"""Fiscal years are created on demand only up to the end of the next one, by the clock of the command."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.accounting import services as svc
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.core.errors import ValidationFailed
from retailcore.eventlog.services import CommandContext


def at(day: dt.date) -> CommandContext:
    """A command as the simulator sends it: happening on ``day``, whatever the server's date."""
    return CommandContext(system_principal(), occurred_at=dt.datetime.combine(day, dt.time(12), dt.UTC))


def year_codes(runtime, company_id: uuid.UUID) -> list[str]:
    with runtime.session_factory() as session:
        query = select(a.FiscalYear.code).where(a.FiscalYear.company_id == company_id)
        return sorted(session.scalars(query))


def fiscal_year_for(runtime, company_id: uuid.UUID, ctx: CommandContext, day: dt.date) -> str:
    with transaction(runtime.session_factory) as session:
        return svc.fiscal_year_for(session, ctx, company_id, day).code


@pytest.fixture
def company_id(company) -> uuid.UUID:
    return uuid.UUID(company["id"])


def test_a_replayed_past_creates_years_up_to_the_end_of_its_next_year(runtime, company_id):
    june_2015 = at(dt.date(2015, 6, 1))

    assert fiscal_year_for(runtime, company_id, june_2015, dt.date(2016, 12, 31)) == "2016"
    with pytest.raises(ValidationFailed) as refused:
        fiscal_year_for(runtime, company_id, june_2015, dt.date(2017, 1, 1))

    assert refused.value.code == "no-fiscal-year"
    assert refused.value.problems[0].field == "date"
    assert "2016-12-31" in refused.value.detail
    assert "POST /fiscal-years" in refused.value.detail
    assert year_codes(runtime, company_id) == ["2016"]


def test_the_limit_follows_the_fiscal_year_start_month(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        svc.settings_for(session, company_id).fiscal_year_start_month = 7
    june_2015 = at(dt.date(2015, 6, 1))  # in the year 2014-07-01..2015-06-30: the next ends 2016-06-30

    assert fiscal_year_for(runtime, company_id, june_2015, dt.date(2016, 6, 30)) == "2015-16"
    with pytest.raises(ValidationFailed, match="2016-06-30"):
        fiscal_year_for(runtime, company_id, june_2015, dt.date(2016, 7, 1))


def test_without_a_simulated_clock_the_server_date_counts(runtime, company_id):
    today = dt.datetime.now(dt.UTC).date()
    now = CommandContext(system_principal())

    assert fiscal_year_for(runtime, company_id, now, dt.date(today.year + 1, 12, 31)) == str(today.year + 1)
    with pytest.raises(ValidationFailed):
        fiscal_year_for(runtime, company_id, now, dt.date(today.year + 2, 1, 1))


def test_no_year_is_created_before_1900(runtime, company_id):
    now = CommandContext(system_principal())

    assert fiscal_year_for(runtime, company_id, now, dt.date(1900, 1, 1)) == "1900"
    with pytest.raises(ValidationFailed) as refused:
        fiscal_year_for(runtime, company_id, now, dt.date(1899, 12, 31))
    assert refused.value.code == "no-fiscal-year"


def test_a_year_created_ahead_is_found_however_far(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        svc.create_fiscal_year(session, company_id, dt.date(2150, 1, 1))

    assert (
        fiscal_year_for(runtime, company_id, CommandContext(system_principal()), dt.date(2150, 8, 1))
        == "2150"
    )


def test_the_last_fiscal_year_the_api_accepts_has_its_twelve_periods(runtime, company_id):
    with transaction(runtime.session_factory) as session:
        year = svc.create_fiscal_year(session, company_id, dt.date(2199, 12, 1))
        periods = session.scalars(
            select(a.Period).where(a.Period.fiscal_year_id == year.id).order_by(a.Period.start_date)
        ).all()
        assert (year.code, year.end_date) == ("2199-00", dt.date(2200, 11, 30))
        assert [p.code for p in periods][::11] == ["2199-12", "2200-11"]
        assert periods[-1].end_date == dt.date(2200, 11, 30)
