"""Every way a command fails prints in one style, on stderr, with no traceback:

    error: <what is wrong>
      <option or field>: <problem>     (a refusal that lists them)
    hint: <how to fix it>              (when there is one)

exit 1 for a refused operation, 2 for usage, configuration and connection errors. A command that fails
leaves no database file behind that it created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retailcore.core.errors import ValidationFailed
from retailcore.entrypoints.cli import main
from retailcore.entrypoints.cli.main import app

runner = CliRunner()
URL_HINT = "hint: use sqlite:///path.db or postgresql://user@host:port/database"


def fails(*args: str, code: int) -> list[str]:
    """The lines on stderr of a command that must fail with ``code``, and print nothing on stdout."""
    result = runner.invoke(app, list(args), prog_name="retailcore")
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    return result.stderr.splitlines()


# -- configuration and connection: exit 2, no traceback ----------------------------------------------


def test_an_unreachable_postgresql_is_one_error_and_one_hint(monkeypatch):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/x")
    assert fails("token", "list", code=2) == [
        "error: cannot connect to the database postgresql://nobody:***@127.0.0.1:1/x: connection to server at"
        ' "127.0.0.1", port 1 failed: Connection refused',
        "hint: check that the database server runs and that RETAILCORE_DATABASE_URL names it, its user and"
        " its database",
    ]


STOCK_CHECK = ["stock", "check", "--company", "DEMO"]


def test_the_console_script_says_the_same_without_a_traceback(tmp_path):
    """The installed entry point, in a process of its own (not only click's test runner)."""
    done = subprocess.run(
        [sys.executable, "-c", "from retailcore.entrypoints.cli.main import main; main()", *STOCK_CHECK],
        env={"RETAILCORE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x", "COLUMNS": "80"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("error: cannot connect to the database postgresql://nobody@127.0.0.1:1/x")
    assert len(done.stderr.splitlines()) == 2


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("mysql://shop@db/retail", "error: RETAILCORE_DATABASE_URL: mysql is not supported"),
        ("oracle+cx_oracle://shop@db/retail", "error: RETAILCORE_DATABASE_URL: oracle is not supported"),
        ("not a url", "error: RETAILCORE_DATABASE_URL: not a database URL"),
    ],
)
def test_a_database_url_retailcore_cannot_use(monkeypatch, url, error):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", url)
    assert fails("orders", "list", "--company", "DEMO", code=2) == [error, URL_HINT]


def test_a_driver_that_is_not_installed_and_no_file_left_behind(monkeypatch, tmp_path):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite+nosuchdriver:///{tmp_path / 'new.db'}")
    first, hint = fails("init", code=2)
    url = f"sqlite+nosuchdriver:///{tmp_path / 'new.db'}"
    assert first.startswith(f"error: RETAILCORE_DATABASE_URL: cannot load the driver of {url}")
    assert hint == URL_HINT
    assert list(tmp_path.iterdir()) == []


def test_a_database_file_in_a_directory_that_does_not_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")
    missing = tmp_path / "no" / "such"
    assert fails("db", "upgrade", code=2) == [
        f"error: RETAILCORE_DATABASE_URL: there is no directory {missing} for the database file"
    ]


def test_a_malformed_setting_names_its_variable(runtime, monkeypatch):
    monkeypatch.setenv("RETAILCORE_GC_THRESHOLD", "lots")
    assert fails("token", "list", code=2) == [
        "error: RETAILCORE_GC_THRESHOLD: Input should be a valid integer, unable to parse string as an"
        " integer",
        "hint: fix or unset it (README: Running it for real)",
    ]


def test_init_that_fails_removes_the_database_file_it_created(monkeypatch, tmp_path):
    path = tmp_path / "demo.db"
    monkeypatch.setenv("RETAILCORE_DATABASE_URL", f"sqlite:///{path}")

    def broken(runtime):
        assert path.exists()  # created by the command, so it is the command's to remove
        raise ValidationFailed("the disk said no")

    monkeypatch.setattr(main, "_upgrade", broken)
    assert fails("init", "--demo", code=1) == ["error: the disk said no"]
    assert list(tmp_path.iterdir()) == []


def test_init_that_fails_keeps_a_database_that_was_there(runtime, monkeypatch):
    def broken(runtime):
        raise ValidationFailed("the disk said no")

    monkeypatch.setattr(main, "_upgrade", broken)
    assert fails("init", code=1) == ["error: the disk said no"]
    if runtime.engine.dialect.name == "sqlite":
        assert Path(runtime.engine.url.database).exists()


# -- usage errors: exit 2, the CLI's option names ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        (
            ["stock", "check", "--company", "ACME", "--as-of", "2026-02-30"],
            ["error: --as-of: '2026-02-30' is not a date (YYYY-MM-DD)"],
        ),
        (
            ["simulate", "--start", "2026-13-01"],
            ["error: --start: '2026-13-01' is not a date (YYYY-MM-DD)"],
        ),
        (
            ["ledger", "open-items", "--company", "ACME", "--as-of", "3000-01-01"],
            ["error: --as-of: '3000-01-01' is outside 1900-01-01 to 2199-12-31"],
        ),
        (
            ["simulate", "--scale", "0"],
            ["error: --scale: '0' is not a number above 0 and at most 100"],
        ),
        (
            ["token", "create", "--role", "admin", "--expires-in", "soon"],
            ["error: --expires-in: 'soon' is not a duration like 30d, 12h or 90m"],
        ),
        (
            ["import", "products"],
            ["error: missing argument FILE", "hint: 'retailcore import products --help' lists what it takes"],
        ),
        (
            ["stock", "check", "--company", "ACME", "--colour", "red"],
            ["error: no such option: --colour", "hint: 'retailcore stock check --help' lists what it takes"],
        ),
        (
            ["orders", "list", "--company", "ACME", "--output", "yaml"],
            ["error: --output: 'yaml' is not one of 'table', 'json', 'csv'"],
        ),
    ],
)
def test_usage_errors_name_the_option_in_the_same_style(runtime, args, lines):
    assert fails(*args, code=2) == lines


# -- refused: exit 1 ---------------------------------------------------------------------------------


def test_a_refused_operation_is_one_error_line_and_exit_1(runtime, company):
    assert fails("stock", "check", "--company", "NOPE", code=1) == [
        "error: no company 'NOPE'",
        "  --company: no such company",
    ]


def test_without_company_and_none_to_default_to_the_command_says_how_to_name_one(runtime):
    # --company may be left out while the installation has exactly one company; here it has none.
    [error, problem] = fails("stock", "check", code=1)
    assert error.startswith("error: name the company with --company, by its code or id")
    assert problem == "  --company: required: a company code or id"


def test_a_refusal_lists_its_problems_under_the_error(runtime, company, tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,rate\n2026-03-01,USD,0\n2026-03-02,EUR,1\n", encoding="utf-8")
    stderr = fails("ledger", "rates-import", str(rates), "--company", "ACME", code=1)
    lines = stderr[next(i for i, line in enumerate(stderr) if line.startswith("error: ")) :]  # after the bar
    assert lines[0].endswith("; nothing was imported")
    assert lines[1:] == [
        "  line 2, rate: must be greater than 0",
        "  line 3, currency: EUR is the company currency: its rate is always 1",
    ]


def test_messages_quoting_input_print_it_as_typed(runtime, company):
    """Plain text, never markup: "[bold]" in an order number is printed, not obeyed."""
    assert fails("orders", "show", "[bold]SO-9", "--company", "ACME", code=1) == [
        "error: no order '[bold]SO-9' in company ACME"
    ]
