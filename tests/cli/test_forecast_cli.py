"""``retailcore forecast run|show`` against the test database: a run is stored and summarised, a bad
option is a usage error (2), a company with no sales is refused (1) and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from forecast_shop import AS_OF, make_shop
from retailcore.analytics.forecasts.tables import Forecast, ForecastRun
from retailcore.entrypoints.cli.main import app

pytest.importorskip("statsforecast")

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def _counts(runtime) -> tuple[int, int]:
    with runtime.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(ForecastRun)),
            session.scalar(select(func.count()).select_from(Forecast)),
        )


def test_a_run_is_stored_and_shown(runtime, client, admin, auth, company):
    make_shop(client, admin, auth, company)

    ran = cli("forecast", "run", "--company", "ACME", "--horizon", "5", "--as-of", AS_OF.isoformat(), "-q")
    shown = cli("forecast", "show")

    assert ran.exit_code == 0, ran.output
    assert f"as of {AS_OF}, 5 days ahead, 2 series" in ran.stdout
    assert "SeasonalNaive" in ran.stdout
    assert _counts(runtime) == (1, 2 * 5)
    assert shown.exit_code == 0, shown.output
    assert "2 series" in shown.stdout


@pytest.mark.parametrize(
    "args",
    [("--horizon", "0"), ("--horizon", "91"), ("--as-of", "yesterday"), ("--as-of", "2026-02-30")],
)
def test_bad_options_are_usage_errors(runtime, company, args):
    result = cli("forecast", "run", *args)

    assert result.exit_code == 2, result.output
    assert _counts(runtime) == (0, 0)


def test_a_company_without_sales_is_refused_and_nothing_is_written(runtime, company):
    result = cli("forecast", "run", "--as-of", "2026-01-31", "-q")
    shown = cli("forecast", "show")

    assert result.exit_code == 1, result.output
    assert "no sales" in result.output
    assert _counts(runtime) == (0, 0)
    assert shown.exit_code == 1
    assert "no forecast run" in shown.output
