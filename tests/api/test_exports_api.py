"""The exports over HTTP: a streamed SAF-T file that validates, CSV files, the period refused as a problem
naming it, the company scope and the permission (docs/exports.md).

The figures are checked against the ledger in tests/integration/test_exports.py; here, that the HTTP
answers are those files, and who may have them.
"""

from __future__ import annotations

import csv
import io

import pytest
from apitools import API, assert_problem
from lxml import etree

from integration.test_exports import NS, assert_agrees_with_the_ledger, load_schema
from integration.test_reports import build_ledger

EXPORTS = ["/exports/saft", "/exports/gl.csv", "/exports/journals.csv"]


@pytest.fixture
def ledger(runtime, company):
    return build_ledger(runtime, company["code"])


@pytest.fixture
def finance(auth, company):
    return auth("finance", company="ACME")


def get(client, path, headers, **params):
    return client.get(f"{API}{path}", params=params, headers=headers)


def test_saft_streams_a_file_that_validates_and_agrees_with_the_ledger(client, runtime, finance, ledger):
    response = get(client, "/exports/saft", finance, period="2026-11")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert 'filename="SAF-T_2026-11.xml"' in response.headers["content-disposition"]
    document = etree.fromstring(response.content)
    load_schema().assertValid(document)
    assert_agrees_with_the_ledger(runtime, document, "ACME", "2026-11")
    assert document.findtext("s:Header/s:UserID", namespaces=NS).startswith("token:")


def test_the_gl_and_journal_csv(client, finance, ledger):
    gl = get(client, "/exports/gl.csv", finance, period="2026-11")
    journals = get(client, "/exports/journals.csv", finance, period="2026-11")

    assert gl.status_code == journals.status_code == 200
    assert gl.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(gl.text)))
    entries = list(csv.DictReader(io.StringIO(journals.text)))
    assert sum(int(entry["lines"]) for entry in entries) == len(lines) > 0
    assert {line["entry_number"] for line in lines} == {entry["entry_number"] for entry in entries}


def test_an_installation_admin_names_the_company(client, admin, ledger):
    response = get(client, "/exports/journals.csv", admin, period="2026-11", company_id="ACME")
    assert response.status_code == 200
    other = get(client, "/exports/journals.csv", admin, period="2026-11", company_id="GLOBEX")
    assert [row["reference"] for row in csv.DictReader(io.StringIO(other.text))] == ["GLOBEX sale"]


@pytest.mark.parametrize("path", EXPORTS)
@pytest.mark.parametrize("period", ["2026-13", "11/2026", "2026", "1800-01"])
def test_a_bad_period_is_a_problem_naming_it(client, finance, ledger, path, period):
    assert_problem(get(client, path, finance, period=period), 422, fields=("period",))


def test_saft_refuses_a_year_its_schema_does_not_admit(client, finance, ledger):
    response = get(client, "/exports/saft", finance, period="1969-12")
    assert_problem(response, 422, fields=("period",))
    assert "1970 to 2100" in response.json()["detail"]
    assert (
        get(client, "/exports/gl.csv", finance, period="1969-12").status_code == 200
    )  # CSV has no such limit


@pytest.mark.parametrize("path", EXPORTS)
def test_the_period_is_required(client, finance, ledger, path):
    assert_problem(get(client, path, finance), 422, fields=("period",))


@pytest.mark.parametrize("path", EXPORTS)
def test_only_finance_and_admins_export(client, auth, store_factory, ledger, path):
    store_factory("S1")
    for role in ("cashier", "store_manager", "integration"):
        token = auth(role, company="ACME", store="S1" if role != "integration" else None)
        assert_problem(get(client, path, token, period="2026-11"), 403, "permission-denied")
    store_finance = auth("finance", company="ACME", store="S1")
    assert_problem(get(client, path, store_finance, period="2026-11"), 403, "permission-denied")
    assert_problem(get(client, path, {}, period="2026-11"), 401)


def test_another_companys_books_are_not_found(client, auth, ledger):
    token = auth("finance", company="GLOBEX")  # build_ledger's second company
    response = get(client, "/exports/saft", token, period="2026-11", company_id="ACME")
    assert_problem(response, 422, fields=("company_id",))
