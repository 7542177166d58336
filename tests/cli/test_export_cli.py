"""``retailcore export ...``: files that validate and agree with the ledger, stdout, and one clear message
with exit 1 (and no file left behind) on a bad period or company."""

from __future__ import annotations

import csv
import io

import pytest
from lxml import etree
from typer.testing import CliRunner

from integration.test_exports import assert_agrees_with_the_ledger, load_schema
from integration.test_reports import build_ledger
from retailcore.entrypoints.cli.main import app

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture
def ledger(runtime):
    return build_ledger(runtime)


def export(*args: str):
    return runner.invoke(app, ["export", *args])


def test_saft_to_a_file(runtime, ledger, tmp_path):
    target = tmp_path / "SAF-T.xml"
    result = export("saft", "--period", "2026-11", "--company", "ACME", "--output", str(target))

    assert result.exit_code == 0, result.output
    assert "wrote SAF-T of ACME for 2026-11" in result.stderr and str(target) in result.stderr
    document = etree.parse(str(target)).getroot()
    load_schema().assertValid(document)
    assert_agrees_with_the_ledger(runtime, document, "ACME", "2026-11")
    assert not (tmp_path / "SAF-T.xml.part").exists()


def test_gl_to_stdout_and_journals_to_a_file(ledger, tmp_path):
    gl = export("gl", "--period", "2026-11", "--company", "ACME")
    assert gl.exit_code == 0, gl.output
    lines = list(csv.DictReader(io.StringIO(gl.stdout)))

    target = tmp_path / "journals.csv"
    journals = export("journals", "--period", "2026-11", "--company", "ACME", "--output", str(target))
    assert journals.exit_code == 0, journals.output
    entries = list(csv.DictReader(io.StringIO(target.read_text())))
    assert sum(int(entry["lines"]) for entry in entries) == len(lines) > 0


@pytest.mark.parametrize("kind", ["saft", "gl", "journals"])
def test_a_bad_period_is_refused_and_nothing_is_written(ledger, tmp_path, kind):
    target = tmp_path / "out"
    result = export(kind, "--period", "2026-13", "--company", "ACME", "--output", str(target))

    assert result.exit_code == 1
    assert "error: period '2026-13' is not a month, YYYY-MM" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_company_is_refused(ledger, tmp_path):
    result = export("saft", "--period", "2026-11", "--company", "NOPE", "--output", str(tmp_path / "x.xml"))

    assert result.exit_code == 1
    assert "no company 'NOPE'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_period_is_required(ledger):
    result = export("saft", "--company", "ACME")
    assert result.exit_code == 2
    assert "--period" in result.stderr
