"""POST/GET /exchange-rates and POST /ledger/revaluations over HTTP."""

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
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Account, Company


@pytest.fixture
def finance(auth, company) -> dict[str, str]:
    return auth("finance", company="ACME")


def set_rate(client, headers, currency="USD", date="2026-03-14", rate="1.0845", **extra) -> Any:
    return client.post(
        f"{API}/exchange-rates",
        json={"currency": currency, "date": date, "rate": rate, **extra},
        headers=headers,
    )


# -- POST /exchange-rates --------------------------------------------------------------------------


def test_a_rate_is_created_with_its_exact_value(client, finance, company, runtime):
    response = set_rate(client, finance, currency="usd", rate="0.92345678")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["currency"] == "USD" and body["date"] == "2026-03-14" and body["rate"] == "0.92345678"
    assert body["company_id"] == company["id"] and body["source"] == "manual"
    assert response.headers["Location"] == f"{API}/exchange-rates/{body['id']}"
    fetched = client.get(response.headers["Location"], headers=finance)
    assert fetched.status_code == 200 and fetched.json() == body
    [event] = events(runtime, type="ExchangeRateSet")
    assert event.payload["rate"] == "0.92345678"
    assert event.actor.startswith("token:")


def test_a_json_number_rate_is_read_exactly_not_through_a_float(client, finance, runtime):
    response = client.post(
        f"{API}/exchange-rates",
        content=b'{"currency": "GBP", "date": "2026-03-14", "rate": 1.16000001}',
        headers={**finance, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["rate"] == "1.16000001"
    with runtime.session_factory() as session:
        assert session.scalar(select(a.ExchangeRate.rate)) == Decimal("1.16000001")


def test_the_same_currency_and_date_again_is_a_conflict_unless_replace(client, finance, snapshot):
    first = set_rate(client, finance, rate="1.0845")
    before = snapshot()

    again = set_rate(client, finance, rate="1.09")
    assert_problem(again, 409, "exchange-rate-exists", fields=("date",))
    assert snapshot() == before

    replaced = set_rate(client, finance, rate="1.09", replace=True)
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["id"] == first.json()["id"] and replaced.json()["rate"] == "1.09"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"rate": "0"}, "invalid-rate", "rate"),
        ({"rate": "-1"}, "invalid-rate", "rate"),
        ({"rate": "1.123456789"}, "invalid-rate", "rate"),
        ({"rate": "lots"}, "validation-failed", "rate"),
        ({"currency": "EUR"}, "company-currency", "currency"),
        ({"currency": "XYZ"}, "validation-failed", "currency"),
        ({"date": "2026-02-30"}, "validation-failed", "date"),
        ({"date": None}, "validation-failed", "date"),
        ({"colour": "blue"}, "validation-failed", "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(client, finance, snapshot, body, code, field):
    before = snapshot()
    payload = {"currency": "USD", "date": "2026-03-14", "rate": "1.0845", **body}
    payload = {k: v for k, v in payload.items() if v is not None}

    response = client.post(f"{API}/exchange-rates", json=payload, headers=finance)

    assert_problem(response, 422, code, fields=(field,))
    assert snapshot() == before


def test_a_replayed_post_sets_the_rate_once(client, finance, runtime, snapshot):
    headers = {**finance, "Idempotency-Key": "rates-2026-03-14"}
    first = set_rate(client, headers)
    after_first = snapshot()

    second = set_rate(client, headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert snapshot() == after_first
    assert len(events(runtime, type="ExchangeRateSet")) == 1


@pytest.mark.parametrize("role", ["cashier", "store_manager"])
def test_roles_without_the_permission_get_403(client, auth, company, snapshot, role):
    headers = auth(role, company="ACME")
    before = snapshot()

    assert_problem(set_rate(client, headers), 403, "permission-denied")
    assert_problem(client.get(f"{API}/exchange-rates", headers=headers), 403, "permission-denied")
    assert snapshot() == before


def test_an_integration_may_feed_rates(client, auth, company):
    assert set_rate(client, auth("integration", company="ACME")).status_code == 201


# -- GET /exchange-rates ---------------------------------------------------------------------------


def test_rates_are_listed_by_currency_and_date_with_filters(client, finance):
    for currency, date, rate in (
        ("USD", "2026-03-01", "1.08"),
        ("USD", "2026-03-10", "1.09"),
        ("USD", "2026-03-20", "1.10"),
        ("GBP", "2026-03-10", "0.85"),
    ):
        assert set_rate(client, finance, currency=currency, date=date, rate=rate).status_code == 201

    everything = client.get(f"{API}/exchange-rates", headers=finance)
    window = client.get(
        f"{API}/exchange-rates",
        params={"currency": "USD", "date_from": "2026-03-05", "date_to": "2026-03-20"},
        headers=finance,
    )
    backwards = client.get(
        f"{API}/exchange-rates", params={"date_from": "2026-03-20", "date_to": "2026-03-01"}, headers=finance
    )

    assert [(r["currency"], r["date"]) for r in everything.json()["items"]] == [
        ("GBP", "2026-03-10"),
        ("USD", "2026-03-01"),
        ("USD", "2026-03-10"),
        ("USD", "2026-03-20"),
    ]
    assert [r["rate"] for r in window.json()["items"]] == ["1.09", "1.10"]
    assert_problem(backwards, 422, fields=("date_to",))


def test_the_effective_rate_is_the_latest_on_or_before_the_date(client, finance):
    set_rate(client, finance, date="2026-03-14", rate="1.08")

    on_15th = client.get(
        f"{API}/exchange-rates/effective", params={"currency": "USD", "on": "2026-03-15"}, headers=finance
    )
    on_13th = client.get(
        f"{API}/exchange-rates/effective", params={"currency": "USD", "on": "2026-03-13"}, headers=finance
    )

    assert on_15th.status_code == 200 and on_15th.json() == {
        "currency": "USD",
        "on": "2026-03-15",
        "rate": "1.08",
    }
    assert_problem(on_13th, 422, "no-exchange-rate", fields=("currency",))


def test_another_companys_rates_are_invisible(client, finance, auth, other_company):
    created = set_rate(client, finance).json()
    theirs = auth("finance", company="GLOBEX")

    assert client.get(f"{API}/exchange-rates", headers=theirs).json() == {"items": [], "next_cursor": None}
    assert_problem(client.get(f"{API}/exchange-rates/{created['id']}", headers=theirs), 404, "not-found")
    listed = client.get(f"{API}/exchange-rates", params={"company_id": created["company_id"]}, headers=theirs)
    assert_problem(listed, 422, "invalid-reference", fields=("company_id",))


# -- POST /ledger/revaluations ---------------------------------------------------------------------


def post_usd(runtime: Runtime, company_id: str, date: str, debit: str, credit: str, amount: str) -> None:
    """Book ``amount`` USD from account ``credit`` to ``debit`` at the rate of the date."""
    with transaction(runtime.session_factory) as session:
        company = session.get(Company, uuid.UUID(company_id))

        def account(code: str) -> uuid.UUID:
            return session.scalar(
                select(Account.id).where(Account.company_id == company.id, Account.code == code)
            )

        services.post_entry(
            session,
            CommandContext(system_principal("test")),
            company=company,
            journal_code="MISC",
            date=dt.date.fromisoformat(date),
            reference="usd",
            lines=[
                services.LineInput(account(debit), "debit", Decimal(amount), "USD"),
                services.LineInput(account(credit), "credit", Decimal(amount), "USD"),
            ],
        )


@pytest.fixture
def usd_books(client, admin, finance, company, runtime) -> dict[str, Any]:
    """A USD bank account holding 1000 USD booked at 0.90 and a 200 USD payable, then a closing rate
    of 0.9234 on 31 March."""
    account = client.post(
        f"{API}/accounts",
        json={
            "company_id": company["id"],
            "code": "1101",
            "name": "Bank USD",
            "type": "asset",
            "role": "bank",
            "reconcilable": True,
            "currency": "USD",
        },
        headers=admin,
    )
    assert account.status_code == 201, account.text
    assert set_rate(client, finance, date="2026-03-01", rate="0.90").status_code == 201
    post_usd(runtime, company["id"], "2026-03-02", "1101", "4000", "1000")
    post_usd(runtime, company["id"], "2026-03-06", "6000", "2000", "200")
    assert set_rate(client, finance, date="2026-03-31", rate="0.9234").status_code == 201
    return account.json()


def test_revaluation_returns_its_entries_and_the_differences(client, finance, usd_books, runtime):
    response = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=finance)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["revalued"] is True
    assert (body["entry_number"], body["reversal_number"], body["reversal_date"]) == (
        "FX/2026/000001", "FX/2026/000002", "2026-04-01"
    )  # fmt: skip
    assert (body["total_gain"], body["total_loss"]) == ("23.40", "4.68")
    assert [
        (
            b["account_code"],
            b["currency"],
            b["amount_currency"],
            b["booked"],
            b["revalued"],
            b["difference"],
            b["kind"],
        )
        for b in body["balances"]
    ] == [
        ("1101", "USD", "1000.00", "900.00", "923.40", "23.40", "gain"),
        ("2000", "USD", "-200.00", "-180.00", "-184.68", "-4.68", "loss"),
    ]
    with runtime.session_factory() as session:
        entry = session.get(a.JournalEntry, uuid.UUID(body["entry_id"]))
        reversal = session.get(a.JournalEntry, uuid.UUID(body["reversal_id"]))
        for posted in (entry, reversal):
            assert (
                sum(line.debit for line in posted.lines)
                == sum(line.credit for line in posted.lines)
                == Decimal("28.08")
            )
        assert reversal.reversal_of_id == entry.id
    [event] = events(runtime, type="LedgerRevalued")
    assert event.payload["entry_id"] == body["entry_id"]


def test_a_date_is_revalued_once_and_a_replay_returns_the_first_answer(
    client, finance, usd_books, runtime, snapshot
):
    headers = {**finance, "Idempotency-Key": "close-2026-03"}
    first = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=headers)
    after_first = snapshot()

    replay = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=headers)
    again = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=finance)

    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert_problem(again, 409, "already-revalued", fields=("as_of",))
    assert snapshot() == after_first


def test_a_date_before_any_foreign_booking_has_nothing_to_revalue(client, finance, usd_books, snapshot):
    before = snapshot()

    response = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-02-28"}, headers=finance)

    # nothing is booked before 1 March: nothing to revalue, and no rate is needed
    assert response.status_code == 200 and response.json()["revalued"] is False
    assert response.json()["entry_id"] is None and response.json()["balances"] == []
    assert snapshot() == before


def test_a_balance_in_a_currency_without_a_rate_is_a_422(
    client, finance, usd_books, company, runtime, snapshot
):
    with transaction(runtime.session_factory) as session:
        acme = session.get(Company, uuid.UUID(company["id"]))
        receivable = services.account_for_role(session, acme.id, "receivable")
        revenue = services.account_for_role(session, acme.id, "sales_revenue")
        services.post_entry(
            session,
            CommandContext(system_principal("test")),
            company=acme,
            journal_code="MISC",
            date=dt.date(2026, 3, 10),
            reference="chf at an agreed rate",
            lines=[
                services.LineInput(receivable.id, "debit", Decimal(100), "CHF", rate=Decimal("1.05")),
                services.LineInput(revenue.id, "credit", Decimal(100), "CHF", rate=Decimal("1.05")),
            ],
        )
    before = snapshot()

    response = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=finance)

    assert_problem(response, 422, "no-exchange-rate", fields=("currency",))
    assert snapshot() == before


@pytest.mark.parametrize("body", [{}, {"as_of": "31/03/2026"}, {"as_of": "2026-03-31", "extra": 1}])
def test_revaluation_bad_input_is_a_422(client, finance, usd_books, snapshot, body):
    before = snapshot()

    assert_problem(
        client.post(f"{API}/ledger/revaluations", json=body, headers=finance), 422, "validation-failed"
    )
    assert snapshot() == before


@pytest.mark.parametrize("role", ["cashier", "admin"])
def test_only_finance_revalues(client, auth, usd_books, snapshot, role):
    headers = auth(role, company="ACME")
    before = snapshot()

    response = client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=headers)

    assert_problem(response, 403, "permission-denied")
    assert snapshot() == before


def test_the_close_report_lists_the_revaluation_and_its_reversal(client, finance, usd_books):
    assert client.post(f"{API}/ledger/revaluations", json={"as_of": "2026-03-31"}, headers=finance).is_success

    report = client.get(f"{API}/periods/2026-03/close-report", params={"format": "csv"}, headers=finance)

    assert report.status_code == 200, report.text
    rows = [r for r in csv.DictReader(io.StringIO(report.text)) if r["code"] == "fx_revaluation"]
    assert rows[0]["status"] == "green"
    # The revaluation's total debit: 23.40 of gain on 1101 and 4.68 of loss on 2000.
    assert [(r["entry_number"], r["entry_date"], r["amount"], r["reversal_of"]) for r in rows[1:]] == [
        ("FX/2026/000001", "2026-03-31", "28.08", ""),
        ("FX/2026/000002", "2026-04-01", "28.08", "FX/2026/000001"),
    ]
