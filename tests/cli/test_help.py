"""``--help`` reads right: flags without type labels, arguments in capitals, the shared option types.

typer 0.27 and later print every option with a type label (``--demo <bool>``) and arguments as
``{file}``, which reads as if flags took values; pyproject.toml pins typer below 0.27 (decision 0022).
"""

from __future__ import annotations

from typer.testing import CliRunner

from retailcore.entrypoints.cli.main import app

runner = CliRunner(env={"COLUMNS": "100"})


def help_of(*command: str) -> list[str]:
    result = runner.invoke(app, [*command, "--help"], prog_name="retailcore")
    assert result.exit_code == 0, result.output
    return [" ".join(line.strip("│ ").split()) for line in result.stdout.splitlines()]


def test_a_flag_reads_as_a_flag():
    lines = help_of("init")
    assert "Usage: retailcore init [OPTIONS]" in lines
    assert "--demo Load the demo company, stores and ~200 products." in lines
    assert "--help Show this message and exit." in lines
    assert not any("<" in line for line in lines)


def test_an_argument_reads_in_capitals():
    lines = help_of("import", "products")
    assert "Usage: retailcore import products [OPTIONS] FILE" in lines
    assert "* file PATH CSV file with a header row (see docs/import.md). [required]" in lines
    assert "--skip-invalid Import the valid rows and report the invalid ones." in lines
    assert not any("{" in line or "<" in line for line in lines)


def test_shared_options_show_their_form():
    lines = help_of("report", "trial-balance")
    assert "--from YYYY-MM-DD First day." in lines
    assert "--output -o [table|json|csv] table (for people), or json or csv (for scripts)." in lines
