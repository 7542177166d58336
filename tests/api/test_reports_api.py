"""The reports over HTTP: JSON with decimal strings, CSV, company scope, permissions, parameter errors.

The figures themselves are worked out in tests/integration/test_reports.py, whose ledger this reuses.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from apitools import API, assert_problem
from sqlalchemy import select

from integration.test_reports import build_ledger
from retailcore.masterdata.tables import Account

D = Decimal
NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
REPORTS = [
    ("/reports/trial-balance", NOVEMBER),
    ("/reports/general-ledger", {**NOVEMBER, "account": "1000"}),
    ("/reports/profit-and-loss", NOVEMBER),
    ("/reports/balance-sheet", {"as_of": "2026-11-30"}),
    ("/reports/tax", NOVEMBER),
]


@pytest.fixture
def ledger(runtime, company):
    return build_ledger(runtime, company["code"])


@pytest.fixture
def finance(auth, company):
    return auth("finance", company="ACME")


def get(client, path, headers, **params):
    return client.get(f"{API}{path}", params=params, headers=headers)


def test_trial_balance_as_json_with_decimal_strings(client, finance, ledger):
    response = get(client, "/reports/trial-balance", finance, **NOVEMBER, group_by="store_id")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["company_id"] == str(ledger.company_id)
    assert body["group_by"] == ["store_id"]
    assert body["balanced"] is True
    assert body["totals"] == {
        "opening_balance": "0.00",
        "period_debit": "1332.55",
        "period_credit": "1332.55",
        "closing_balance": "0.00",
    }
    cash_b = next(r for r in body["rows"] if r["account_code"] == "1000" and r["labels"]["store_id"] == "B")
    assert cash_b["dimensions"] == {"store_id": str(ledger.store_b)}
    assert (cash_b["opening_balance"], cash_b["closing_balance"]) == ("0.00", "58.55")


def test_trial_balance_by_period_and_repeated_group_by(client, finance, ledger):
    by_period = get(client, "/reports/trial-balance", finance, period="2026-11").json()
    by_dates = get(client, "/reports/trial-balance", finance, **NOVEMBER).json()
    assert by_period["rows"] == by_dates["rows"] and by_period["period"] == "2026-11"

    response = client.get(
        f"{API}/reports/trial-balance",
        params=[("period", "2026-11"), ("group_by", "store_id"), ("group_by", "channel")],
        headers=finance,
    )
    assert response.json()["group_by"] == ["store_id", "channel"]


def test_general_ledger_pages_with_the_cursor(client, finance, ledger):
    first = get(client, "/reports/general-ledger", finance, **NOVEMBER, account="1000", limit=2).json()
    assert [line["balance"] for line in first["lines"]] == ["190.55", "430.55"]
    assert first["opening_balance"] == "120.00" and first["closing_balance"] == "178.55"
    second = get(
        client,
        "/reports/general-ledger",
        finance,
        **NOVEMBER,
        account="1000",
        limit=2,
        cursor=first["next_cursor"],
    ).json()
    assert [line["balance"] for line in second["lines"]] == ["190.55", "178.55"]
    assert second["next_cursor"] is None

    by_id = get(client, "/reports/general-ledger", finance, **NOVEMBER, account=str(ledger.accounts["1000"]))
    assert (
        by_id.json()["lines"]
        == get(client, "/reports/general-ledger", finance, **NOVEMBER, account="1000").json()["lines"]
    )


def test_profit_and_loss_balance_sheet_and_tax(client, finance, ledger):
    pnl = get(client, "/reports/profit-and-loss", finance, **NOVEMBER, group_by="store_id").json()
    assert (pnl["total_income"], pnl["total_expenses"], pnl["net_result"]) == ("50.00", "530.00", "-480.00")
    assert {r["label"]: r["net_result"] for r in pnl["results"]} == {
        None: "-500.00",
        "A": "-30.00",
        "B": "50.00",
    }

    bs = get(client, "/reports/balance-sheet", finance, as_of="2026-11-30").json()
    assert bs["balanced"] is True
    assert bs["total_assets"] == bs["total_liabilities_and_equity"] == "9888.55"
    assert bs["unclosed_result"] == "-380.00"

    tax = get(client, "/reports/tax", finance, date_from="2026-10-01", date_to="2026-12-31").json()
    assert (tax["total_collected"], tax["total_deductible"], tax["net_payable"]) == (
        "30.55",
        "40.00",
        "-9.45",
    )
    assert {(r["period"], r["tax_code"]): r["base_collected"] for r in tax["rows"]}[
        ("2026-11", "FR-VAT-20")
    ] == "40.00"


@pytest.mark.parametrize(("path", "params"), REPORTS)
def test_every_report_answers_csv_matching_its_json(client, finance, ledger, path, params):
    as_json = get(client, path, finance, **params)
    as_csv = get(client, path, finance, **params, format="csv")

    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows, as_csv.text
    body = as_json.json()
    if path.endswith("trial-balance"):
        assert len(rows) == len(body["rows"])
        assert sum(D(r["period_debit"]) for r in rows) == D(body["totals"]["period_debit"])
    elif path.endswith("general-ledger"):
        assert [r["balance"] for r in rows if r["kind"] == "line"] == [
            line["balance"] for line in body["lines"]
        ]
        assert rows[-1]["balance"] == body["closing_balance"]
    elif path.endswith("profit-and-loss"):
        income = sum(D(r["amount"]) for r in rows if r["section"] == "income")
        assert income == D(body["total_income"])
    elif path.endswith("balance-sheet"):
        assets = sum(D(r["balance"]) for r in rows if r["section"] == "asset")
        assert assets == D(body["total_assets"])
    else:
        assert sum(D(r["net_payable"]) for r in rows) == D(body["net_payable"])


def test_csv_general_ledger_hands_the_next_cursor_in_a_header(client, finance, ledger):
    response = get(
        client, "/reports/general-ledger", finance, **NOVEMBER, account="1000", limit=3, format="csv"
    )
    assert response.headers["x-next-cursor"]
    kinds = [r["kind"] for r in csv.DictReader(io.StringIO(response.text))]
    assert kinds == ["opening", "line", "line", "line"]


@pytest.mark.parametrize(("path", "params"), REPORTS)
def test_cashiers_and_store_managers_may_not_read_reports(client, auth, store_factory, ledger, path, params):
    store_factory("S1")
    for role in ("cashier", "store_manager", "integration"):
        response = get(
            client, path, auth(role, company="ACME", store="S1" if role != "integration" else None), **params
        )
        assert_problem(response, 403, "permission-denied")


def test_a_store_scoped_finance_token_is_refused(client, auth, store_factory, ledger):
    store_factory("S1")
    response = get(client, "/reports/trial-balance", auth("finance", company="ACME", store="S1"), **NOVEMBER)
    assert_problem(response, 403, "permission-denied")


def test_no_token_is_401(client, ledger):
    assert_problem(get(client, "/reports/trial-balance", {}, **NOVEMBER), 401)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/reports/trial-balance", {"date_from": "2026-13-01", "date_to": "2026-11-30"}, "date_from"),
        ("/reports/trial-balance", {"date_from": "2026-11-01", "date_to": "30/11/2026"}, "date_to"),
        ("/reports/trial-balance", {"date_from": "2026-12-01", "date_to": "2026-11-30"}, "date_from"),
        ("/reports/trial-balance", {"date_from": "2026-11-01"}, "date_to"),
        ("/reports/trial-balance", {"period": "1999-01"}, "period"),
        ("/reports/trial-balance", {**NOVEMBER, "group_by": "store"}, "group_by"),
        ("/reports/trial-balance", {**NOVEMBER, "format": "xlsx"}, "format"),
        ("/reports/general-ledger", {**NOVEMBER, "account": "9999"}, "account"),
        ("/reports/general-ledger", {**NOVEMBER}, "account"),
        ("/reports/general-ledger", {**NOVEMBER, "account": "1000", "cursor": "nope"}, "cursor"),
        ("/reports/general-ledger", {**NOVEMBER, "account": "1000", "limit": "0"}, "limit"),
        ("/reports/profit-and-loss", {"date_from": "2026-11-31", "date_to": "2026-11-30"}, "date_from"),
        ("/reports/profit-and-loss", {**NOVEMBER, "group_by": "store_id,channel"}, "group_by"),
        ("/reports/balance-sheet", {"as_of": "tomorrow"}, "as_of"),
        ("/reports/balance-sheet", {}, "as_of"),
        ("/reports/tax", {"date_from": "2026-11-30", "date_to": "2026-11-01"}, "date_from"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(client, finance, ledger, path, params, field):
    assert_problem(get(client, path, finance, **params), 422, fields=(field,))


def test_an_installation_admin_names_the_company(client, admin, ledger):
    missing = get(client, "/reports/trial-balance", admin, **NOVEMBER)
    assert_problem(missing, 422, fields=("company_id",))

    response = get(client, "/reports/trial-balance", admin, **NOVEMBER, company_id=str(ledger.company_id))
    assert response.status_code == 200 and response.json()["totals"]["period_debit"] == "1332.55"

    globex = get(client, "/reports/trial-balance", admin, **NOVEMBER, company_id=str(ledger.other_company_id))
    assert globex.json()["totals"]["period_debit"] == "777.00"


def test_a_company_token_cannot_read_another_company(client, runtime, finance, ledger):
    response = get(
        client, "/reports/trial-balance", finance, **NOVEMBER, company_id=str(ledger.other_company_id)
    )
    assert_problem(response, 422, "invalid-reference", fields=("company_id",))

    own = get(client, "/reports/trial-balance", finance, **NOVEMBER, company_id=str(ledger.company_id))
    assert own.status_code == 200
    # An account of another company is no account at all, even by its id.
    with runtime.session_factory() as session:
        globex_cash = session.scalar(
            select(Account.id).where(Account.company_id == ledger.other_company_id, Account.code == "1000")
        )
    other_account = get(client, "/reports/general-ledger", finance, **NOVEMBER, account=str(globex_cash))
    assert_problem(other_account, 422, "invalid-reference", fields=("account",))


def test_the_reports_are_in_the_openapi_document(client):
    paths = client.get(f"{API}/openapi.json").json()["paths"]
    for path, _ in REPORTS:
        assert "get" in paths[f"{API}{path}"]
    assert "text/csv" in paths[f"{API}/reports/tax"]["get"]["responses"]["200"]["content"]
