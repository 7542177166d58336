"""POST/GET/DELETE /reconciliations and GET /reports/open-items over HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

import pytest
from apitools import API, assert_problem, events
from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.accounting import services
from retailcore.adapters.db import transaction
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company


def post(
    runtime: Runtime, company_id: str, date: str, debit: str, credit: str, amount: str
) -> dict[str, str]:
    """Post ``amount`` from account ``credit`` to ``debit``; return {account code: line id}."""
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, uuid.UUID(company_id))
        codes = {
            row.id: row.code
            for row in session.scalars(
                select(Account).where(Account.company_id == company.id, Account.code.in_([debit, credit]))
            )
        }
        ids = {code: account_id for account_id, code in codes.items()}
        entry = services.post_entry(
            session,
            CommandContext(system_principal("test")),
            company=company,
            journal_code="MISC",
            date=dt.date.fromisoformat(date),
            reference=f"{debit}/{credit}",
            lines=[
                services.LineInput(
                    ids[debit], "debit", Decimal(amount), company.currency, label=f"to {debit}"
                ),
                services.LineInput(
                    ids[credit], "credit", Decimal(amount), company.currency, label=f"from {credit}"
                ),
            ],
        )
        return {codes[line.account_id]: str(line.id) for line in entry.lines}


@pytest.fixture
def finance(auth, company) -> dict[str, str]:
    return auth("finance", company="ACME")


@pytest.fixture
def receivables(runtime, company) -> dict[str, str]:
    """Two invoices (100.00 on 1 March, 50.00 on 10 March) and a payment of 120.00 on 20 March."""
    return {
        "invoice_1": post(runtime, company["id"], "2026-03-01", "1210", "4000", "100.00")["1210"],
        "invoice_2": post(runtime, company["id"], "2026-03-10", "1210", "4000", "50.00")["1210"],
        "payment": post(runtime, company["id"], "2026-03-20", "1000", "1210", "120.00")["1210"],
    }


def reconcile(client, headers, *line_ids: str) -> Any:
    return client.post(f"{API}/reconciliations", json={"line_ids": list(line_ids)}, headers=headers)


# -- POST /reconciliations -------------------------------------------------------------------------


def test_reconciling_matches_oldest_first_and_reports_residuals(client, finance, receivables, runtime):
    r = receivables

    response = reconcile(client, finance, r["payment"], r["invoice_1"], r["invoice_2"])

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"{API}/reconciliations/{body['id']}"
    assert [(m["debit_line_id"], m["credit_line_id"], m["amount"]) for m in body["matches"]] == [
        (r["invoice_1"], r["payment"], "100.00"),
        (r["invoice_2"], r["payment"], "20.00"),
    ]
    assert [(line["line_id"], line["side"], line["matched"], line["residual"]) for line in body["lines"]] == [
        (r["payment"], "credit", "120.00", "0.00"),
        (r["invoice_1"], "debit", "100.00", "0.00"),
        (r["invoice_2"], "debit", "20.00", "30.00"),
    ]
    assert body["matched_total"] == "120.00" and body["fully_reconciled"] is False
    fetched = client.get(response.headers["Location"], headers=finance)
    assert fetched.status_code == 200
    assert fetched.json()["matches"] == body["matches"]
    [event] = events(runtime, type="LinesReconciled")
    assert str(event.aggregate_id) == body["id"]


def test_a_full_match_says_so(client, finance, company, runtime):
    invoice = post(runtime, company["id"], "2026-03-01", "1210", "4000", "42.42")["1210"]
    payment = post(runtime, company["id"], "2026-03-02", "1000", "1210", "42.42")["1210"]

    body = reconcile(client, finance, invoice, payment).json()

    assert body["fully_reconciled"] is True
    assert [line["residual"] for line in body["lines"]] == ["0.00", "0.00"]


def test_a_replayed_reconciliation_matches_once(client, finance, receivables, snapshot):
    headers = {**finance, "Idempotency-Key": "match-1"}
    first = reconcile(client, headers, receivables["invoice_1"], receivables["payment"])
    after_first = snapshot()

    second = reconcile(client, headers, receivables["invoice_1"], receivables["payment"])

    assert second.status_code == 201 and second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert snapshot() == after_first


def test_matching_a_fully_reconciled_line_again_is_a_conflict(client, finance, receivables, snapshot):
    reconcile(client, finance, receivables["invoice_1"], receivables["payment"])
    before = snapshot()

    again = reconcile(client, finance, receivables["invoice_1"], receivables["payment"])

    assert_problem(again, 409, "line-already-reconciled", fields=("line_ids.0",))
    assert snapshot() == before


@pytest.mark.parametrize(
    ("line_ids", "code", "field"),
    [
        (lambda r, other: [r["invoice_1"], str(uuid.uuid4())], "line-not-found", "line_ids.1"),
        (lambda r, other: [r["invoice_1"], other], "line-not-found", "line_ids.1"),
        (lambda r, other: [r["invoice_1"], "not-an-id"], "validation-failed", "line_ids.1"),
        (lambda r, other: [], "validation-failed", "line_ids"),
        (lambda r, other: [r["invoice_1"], r["invoice_2"]], "nothing-to-match", "line_ids"),
        (lambda r, other: [r["invoice_1"], r["invoice_1"]], "duplicate-line", "line_ids.1"),
    ],
    ids=["unknown", "other-company", "not-a-uuid", "empty", "only-debits", "twice"],
)
def test_bad_requests_are_422_and_write_nothing(
    client, finance, receivables, runtime, other_company, snapshot, line_ids, code, field
):
    theirs = post(runtime, other_company["id"], "2026-03-02", "1000", "1210", "10.00")["1210"]
    before = snapshot()

    response = reconcile(client, finance, *line_ids(receivables, theirs))

    assert_problem(response, 422, code, fields=(field,))
    assert snapshot() == before


def test_lines_of_two_accounts_or_a_non_reconcilable_account_are_refused(client, finance, company, runtime):
    sale = post(runtime, company["id"], "2026-03-01", "1210", "4000", "10.00")
    bill = post(runtime, company["id"], "2026-03-01", "6000", "2000", "10.00")
    refund = post(runtime, company["id"], "2026-03-02", "4000", "1000", "10.00")

    assert_problem(reconcile(client, finance, sale["1210"], bill["2000"]), 422, "different-accounts")
    assert_problem(reconcile(client, finance, sale["4000"], refund["4000"]), 422, "account-not-reconcilable")


# -- DELETE /reconciliations/{id} ------------------------------------------------------------------


def test_deleting_a_reconciliation_removes_its_matches(client, finance, receivables, runtime):
    created = reconcile(client, finance, receivables["invoice_1"], receivables["payment"]).json()

    deleted = client.delete(f"{API}/reconciliations/{created['id']}", headers=finance)

    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["matches"] == created["matches"]
    assert_problem(client.get(f"{API}/reconciliations/{created['id']}", headers=finance), 404, "not-found")
    assert_problem(client.delete(f"{API}/reconciliations/{created['id']}", headers=finance), 404, "not-found")
    [event] = events(runtime, type="LinesUnreconciled")
    assert str(event.aggregate_id) == created["id"]
    # the lines are open again
    again = reconcile(client, finance, receivables["invoice_1"], receivables["payment"])
    assert again.status_code == 201


def test_another_company_cannot_see_or_delete_a_reconciliation(
    client, finance, auth, receivables, other_company
):
    created = reconcile(client, finance, receivables["invoice_1"], receivables["payment"]).json()
    theirs = auth("finance", company="GLOBEX")

    assert_problem(client.get(f"{API}/reconciliations/{created['id']}", headers=theirs), 404)
    assert_problem(client.delete(f"{API}/reconciliations/{created['id']}", headers=theirs), 404)
    assert client.get(f"{API}/reconciliations/{created['id']}", headers=finance).status_code == 200


def test_a_cashier_gets_403_everywhere(client, auth, company, receivables, finance, snapshot):
    created = reconcile(client, finance, receivables["invoice_1"], receivables["payment"]).json()
    cashier = auth("cashier", company="ACME")
    before = snapshot()

    assert_problem(reconcile(client, cashier, receivables["invoice_2"], receivables["payment"]), 403)
    assert_problem(client.delete(f"{API}/reconciliations/{created['id']}", headers=cashier), 403)
    assert_problem(client.get(f"{API}/reports/open-items", headers=cashier), 403, "permission-denied")
    assert snapshot() == before


# -- GET /reports/open-items -----------------------------------------------------------------------


def test_open_items_are_aged_with_totals(client, finance, receivables):
    reconcile(client, finance, receivables["payment"], receivables["invoice_1"], receivables["invoice_2"])

    response = client.get(f"{API}/reports/open-items", params={"as_of": "2026-05-15"}, headers=finance)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == "2026-05-15"
    [item] = body["items"]
    assert (item["line_id"], item["date"], item["debit"], item["matched"], item["residual"]) == (
        receivables["invoice_2"], "2026-03-10", "50.00", "20.00", "30.00"
    )  # fmt: skip
    assert (item["open_balance"], item["age_days"], item["bucket"], item["account_code"]) == (
        "30.00",
        66,
        "61-90",
        "1210",
    )
    assert item["entry_number"] == "MISC/2026/000002"
    [account] = body["accounts"]
    assert account["open_balance"] == "30.00"
    assert account["buckets"] == {"0-30": "0.00", "31-60": "0.00", "61-90": "30.00", ">90": "0.00"}
    assert body["buckets"] == account["buckets"] and body["total"] == "30.00"


def test_open_items_as_csv(client, finance, receivables):
    response = client.get(
        f"{API}/reports/open-items", params={"as_of": "2026-03-31", "format": "csv"}, headers=finance
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="open-items-2026-03-31.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(row["date"], row["open_balance"], row["age_days"], row["bucket"]) for row in rows] == [
        ("2026-03-01", "100.00", "30", "0-30"),
        ("2026-03-10", "50.00", "21", "0-30"),
        ("2026-03-20", "-120.00", "11", "0-30"),
    ]
    assert {row["line_id"] for row in rows} == set(receivables.values())


def test_open_items_of_one_account_and_bad_parameters(client, finance, admin, company, receivables, runtime):
    post(runtime, company["id"], "2026-03-05", "6000", "2000", "80.00")
    with runtime.session_factory() as session:
        ids = dict(
            session.execute(
                select(Account.code, Account.id).where(Account.company_id == uuid.UUID(company["id"]))
            ).all()
        )

    payables = client.get(
        f"{API}/reports/open-items",
        params={"account_id": str(ids["2000"]), "as_of": "2026-03-31"},
        headers=finance,
    )
    revenue = client.get(
        f"{API}/reports/open-items", params={"account_id": str(ids["4000"])}, headers=finance
    )
    unknown = client.get(
        f"{API}/reports/open-items", params={"account_id": str(uuid.uuid4())}, headers=finance
    )
    bad_format = client.get(f"{API}/reports/open-items", params={"format": "xml"}, headers=finance)

    assert [item["open_balance"] for item in payables.json()["items"]] == ["-80.00"]
    assert_problem(revenue, 422, "account-not-reconcilable", fields=("account_id",))
    assert_problem(unknown, 422, "invalid-reference", fields=("account_id",))
    assert_problem(bad_format, 422, "validation-failed", fields=("format",))
    # admin reads the ledger too (ledger:read), naming the company since its token is installation-wide
    by_admin = client.get(
        f"{API}/reports/open-items",
        params={"company_id": company["id"], "as_of": "2026-03-31"},
        headers=admin,
    )
    assert by_admin.status_code == 200 and by_admin.json()["total"] == "-50.00"
