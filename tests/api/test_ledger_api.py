"""The ledger over HTTP: manual entries, reversal, lock date, posting rules, postable events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from apitools import assert_problem


@pytest.fixture
def finance(auth, company):
    return auth("finance", company="ACME")


def entry_body(**overrides):
    body = {
        "date": "2026-11-15",
        "reference": "Opening cash",
        "lines": [
            {"account_code": "1010", "debit": "100.00", "label": "float"},
            {"account_code": "3000", "credit": "100.00"},
        ],
    }
    return {**body, **overrides}


@pytest.fixture
def codes(client, finance):
    """Account codes of the generic chart by role."""
    accounts = client.get("/api/v1/accounts?limit=500", headers=finance).json()["items"]
    return {acc["role"]: acc["code"] for acc in accounts if acc["role"]}


def test_manual_entry_is_posted_numbered_and_audited(client, finance, codes, admin):
    body = entry_body(
        lines=[
            {"account_code": codes["cash_drawer"], "debit": "100.00"},
            {"account_code": codes["opening_balance"], "credit": "100.00"},
        ]
    )
    response = client.post("/api/v1/journal-entries", json=body, headers=finance)
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["state"] == "posted"
    assert entry["number"] == "MISC/2026/000001"
    assert entry["total_debit"] == entry["total_credit"] == "100.00"
    events = client.get(f"/api/v1/events?aggregate_id={entry['id']}", headers=finance).json()["items"]
    assert [e["type"] for e in events] == ["JournalEntryRecorded"]
    assert entry["event_id"] == events[0]["id"]
    assert all(line["event_id"] == events[0]["id"] for line in entry["lines"])


def test_unbalanced_manual_entry_is_refused_and_writes_nothing(client, finance, codes):
    body = entry_body(
        lines=[
            {"account_code": codes["cash_drawer"], "debit": "100.00"},
            {"account_code": codes["opening_balance"], "credit": "99.00"},
        ]
    )
    response = client.post("/api/v1/journal-entries", json=body, headers=finance)
    assert response.status_code == 422
    assert response.json()["code"] == "unbalanced-entry"
    assert client.get("/api/v1/journal-entries", headers=finance).json()["items"] == []


def test_a_line_with_both_sides_names_the_field(client, finance, codes):
    body = entry_body(
        lines=[
            {"account_code": codes["cash_drawer"], "debit": "1.00", "credit": "1.00"},
            {"account_code": codes["opening_balance"], "credit": "1.00"},
        ]
    )
    response = client.post("/api/v1/journal-entries", json=body, headers=finance)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0"


def test_unknown_account_is_an_invalid_reference(client, finance):
    body = entry_body(
        lines=[{"account_code": "9999", "debit": "1.00"}, {"account_code": "1010", "credit": "1.00"}]
    )
    response = client.post("/api/v1/journal-entries", json=body, headers=finance)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0.account_code"


def test_reversal_is_a_new_linked_entry_and_the_original_never_changes(client, finance, codes):
    body = entry_body(
        lines=[
            {"account_code": codes["bank"], "debit": "250.00"},
            {"account_code": codes["opening_balance"], "credit": "250.00"},
        ]
    )
    original = client.post("/api/v1/journal-entries", json=body, headers=finance).json()
    reversal = client.post(
        f"/api/v1/journal-entries/{original['id']}/reverse", json={"date": "2026-11-20"}, headers=finance
    )
    assert reversal.status_code == 201, reversal.text
    reversed_entry = reversal.json()
    assert reversed_entry["reversal_of_id"] == original["id"]
    assert [(line["debit"], line["credit"]) for line in reversed_entry["lines"]] == [
        ("0.00", "250.00"),
        ("250.00", "0.00"),
    ]
    again = client.get(f"/api/v1/journal-entries/{original['id']}", headers=finance).json()
    assert again["reversed_by_id"] == reversed_entry["id"]
    assert again["lines"] == original["lines"]
    twice = client.post(f"/api/v1/journal-entries/{original['id']}/reverse", json={}, headers=finance)
    assert twice.status_code == 409


def test_draft_entries_can_be_posted_or_deleted_posted_ones_cannot_be_deleted(client, finance, codes):
    body = entry_body(
        post=False,
        lines=[
            {"account_code": codes["bank"], "debit": "10.00"},
            {"account_code": codes["opening_balance"], "credit": "10.00"},
        ],
    )
    draft = client.post("/api/v1/journal-entries", json=body, headers=finance).json()
    assert draft["state"] == "draft" and draft["number"] is None
    posted = client.post(f"/api/v1/journal-entries/{draft['id']}/post", headers=finance)
    assert posted.json()["state"] == "posted"
    assert client.delete(f"/api/v1/journal-entries/{draft['id']}", headers=finance).status_code == 409

    other = client.post("/api/v1/journal-entries", json=body, headers=finance).json()
    assert client.delete(f"/api/v1/journal-entries/{other['id']}", headers=finance).status_code == 200
    assert client.get(f"/api/v1/journal-entries/{other['id']}", headers=finance).status_code == 404


def test_only_finance_moves_the_lock_date_and_locked_dates_refuse_postings(
    client, finance, admin, codes, company
):
    refused = client.put(
        "/api/v1/ledger/lock-date",
        json={"company_id": company["id"], "lock_date": "2026-11-30"},
        headers=admin,
    )
    assert refused.status_code == 403
    moved = client.put("/api/v1/ledger/lock-date", json={"lock_date": "2026-11-30"}, headers=finance)
    assert moved.status_code == 200 and moved.json()["lock_date"] == "2026-11-30"

    body = entry_body(
        lines=[
            {"account_code": codes["bank"], "debit": "10.00"},
            {"account_code": codes["opening_balance"], "credit": "10.00"},
        ]
    )
    locked = client.post("/api/v1/journal-entries", json=body, headers=finance)
    assert locked.status_code == 409
    assert locked.json()["code"] == "period-locked"
    assert locked.json()["errors"][0]["field"] == "date"
    assert (
        client.post(
            "/api/v1/journal-entries", json={**body, "date": "2026-12-01"}, headers=finance
        ).status_code
        == 201
    )
    audit = client.get("/api/v1/events?type=LockDateMoved", headers=finance).json()["items"]
    assert audit[0]["payload"] == {"from": None, "to": "2026-11-30"}


def test_fiscal_year_and_periods_are_created_on_first_posting(client, finance, codes):
    body = entry_body(
        lines=[
            {"account_code": codes["bank"], "debit": "10.00"},
            {"account_code": codes["opening_balance"], "credit": "10.00"},
        ]
    )
    client.post("/api/v1/journal-entries", json=body, headers=finance)
    years = client.get("/api/v1/fiscal-years", headers=finance).json()["items"]
    assert [y["code"] for y in years] == ["2026"]
    assert len(years[0]["periods"]) == 12
    assert years[0]["periods"][10] == {
        "code": "2026-11",
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
    }
    overlap = client.post("/api/v1/fiscal-years", json={"start_date": "2026-07-01"}, headers=finance)
    assert overlap.status_code == 409


def pos_close(store_id, **overrides):
    payload = {
        "date": "2026-11-27",
        "store_id": store_id,
        "channel": "pos",
        "reference": "Z-report 42",
        "sales": [
            {
                "product_category": "Apparel",
                "tax_code": "FR-VAT-20",
                "net": "50.00",
                "tax": "10.00",
                "tax_base": "50.00",
            }
        ],
        "tenders": [{"kind": "card", "gateway": "adyen", "amount": "60.00"}],
    }
    payload.update(overrides)
    return {"type": "PosSessionClosed", "store_id": store_id, "payload": payload}


def test_a_postable_event_is_posted_once_per_idempotency_key(client, auth, company, store_factory):
    store = store_factory("PAR01")
    integration = {**auth("integration", company="ACME"), "Idempotency-Key": "z-42"}
    first = client.post("/api/v1/ledger/events", json=pos_close(store["id"]), headers=integration)
    assert first.status_code == 201, first.text
    entry = first.json()["entry"]
    assert entry["journal_code"] == "POS" and entry["total_debit"] == "60.00"
    replay = client.post("/api/v1/ledger/events", json=pos_close(store["id"]), headers=integration)
    assert replay.json() == first.json()
    finance = auth("finance", company="ACME")
    entries = client.get("/api/v1/journal-entries", headers=finance).json()["items"]
    assert len(entries) == 1


def test_an_event_no_rule_posts_is_refused(client, auth, company):
    finance = auth("finance", company="ACME")
    response = client.post(
        "/api/v1/ledger/events", json={"type": "SomethingElse", "payload": {"amount": "1"}}, headers=finance
    )
    assert response.status_code == 422
    assert response.json()["code"] == "no-posting-rule"
    assert client.get("/api/v1/events?type=SomethingElse", headers=finance).json()["items"] == []


@pytest.mark.parametrize(
    ("event_type", "pointer"),
    [
        ("GoodsReceived", "POST /receipts"),
        ("GoodsIssued", "POST /orders/{id}/fulfillments"),
        ("ReturnReceived", "POST /returns/{id}/receive"),
        ("StockScrapped", "POST /stock/moves"),
        ("TransferReceived", "POST /transfers/{id}/receive"),
        ("StockCounted", "POST /counts"),
    ],
)
def test_a_stock_event_is_refused_with_the_flow_that_makes_it(
    client, auth, company, store_factory, snapshot, event_type, pointer
):
    store = store_factory("PAR01")
    integration = auth("integration", company="ACME")
    payload = {
        "date": "2026-11-27",
        "store_id": store["id"],
        "items": [
            {"cost": "12.00", "stock_role": "inventory", "product_category": "Food", "difference": "12.00"}
        ],
    }
    before = snapshot()

    response = client.post(
        "/api/v1/ledger/events", json={"type": event_type, "payload": payload}, headers=integration
    )

    problem = assert_problem(response, 422, "stock-event-needs-its-flow", fields=("type",))
    assert pointer in problem["detail"]
    assert snapshot() == before


def test_an_event_whose_entry_would_touch_a_stock_account_is_refused_and_the_stock_check_still_agrees(
    client, auth, company, store_factory, snapshot
):
    store = store_factory("PAR01")
    finance = auth("finance", company="ACME")
    with_cogs = pos_close(
        store["id"], cogs=[{"product_category": "Apparel", "stock_role": "inventory", "cost": "20.00"}]
    )
    before = snapshot()

    response = client.post("/api/v1/ledger/events", json=with_cogs, headers=finance)

    problem = assert_problem(response, 422, "stock-event-needs-its-flow", fields=("payload",))
    assert "without `cogs`" in problem["detail"]
    assert snapshot() == before
    check = client.get("/api/v1/stock/check", params={"as_of": "2026-11-27"}, headers=finance).json()
    assert check["agrees"] is True
    without_cogs = client.post("/api/v1/ledger/events", json=pos_close(store["id"]), headers=finance)
    assert without_cogs.status_code == 201, without_cogs.text


def test_a_rule_change_takes_effect_from_its_date_and_leaves_posted_entries_alone(
    client, auth, company, store_factory, codes
):
    store = store_factory("PAR01")
    finance = auth("finance", company="ACME")
    before = client.post(
        "/api/v1/ledger/events", json=pos_close(store["id"], date="2026-11-27"), headers=finance
    )
    assert before.status_code == 201

    rule = client.get("/api/v1/posting-rules?code=pos-session-close", headers=finance).json()["items"][0]
    lines = [
        {**line, "account_code": "4010", "account_role": None}
        if line["account_role"] == "sales_revenue"
        else line
        for line in rule["lines"]
    ]
    lines = [{k: val for k, val in line.items() if val is not None} for line in lines]
    client.post(
        "/api/v1/accounts", json={"code": "4010", "name": "POS sales", "type": "income"}, headers=finance
    )
    changed = client.post(
        "/api/v1/posting-rules/pos-session-close/versions",
        json={"valid_from": "2026-12-01", "lines": lines},
        headers=finance,
    )
    assert changed.status_code == 201, changed.text

    after = client.post(
        "/api/v1/ledger/events", json=pos_close(store["id"], date="2026-12-02"), headers=finance
    )
    assert after.status_code == 201, after.text

    def revenue_codes(entry):
        return {line["account_code"] for line in entry["lines"] if line["credit"] == "50.00"}

    assert revenue_codes(after.json()["entry"]) == {"4010"}
    assert revenue_codes(before.json()["entry"]) == {codes["sales_revenue"]}
    still = client.get(f"/api/v1/journal-entries/{before.json()['entry']['id']}", headers=finance).json()
    assert still["lines"] == before.json()["entry"]["lines"]

    versions = client.get("/api/v1/posting-rules?code=pos-session-close", headers=finance).json()["items"]
    assert [(r["valid_from"], r["valid_to"]) for r in versions] == [
        ("1900-01-01", "2026-11-30"),
        ("2026-12-01", None),
    ]
    audit = client.get("/api/v1/events?type=PostingRuleChanged", headers=finance).json()["items"]
    assert len(audit) == 1 and audit[0]["payload"]["code"] == "pos-session-close"


def test_bad_rule_lines_are_refused(client, auth, company):
    finance = auth("finance", company="ACME")
    response = client.post(
        "/api/v1/posting-rules/pos-session-close/versions",
        json={
            "valid_from": "2027-01-01",
            "lines": [{"side": "debit", "amount": "x", "account_role": "nope"}],
        },
        headers=finance,
    )
    assert response.status_code == 422
    assert "unknown account role" in response.text


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("cashier", "get", "/api/v1/journal-entries"),
        ("store_manager", "get", "/api/v1/posting-rules"),
        ("admin", "post", "/api/v1/journal-entries"),
        ("integration", "put", "/api/v1/ledger/lock-date"),
    ],
)
def test_ledger_permissions(client, auth, company, role, method, path):
    headers = auth(role, company="ACME")
    response = getattr(client, method)(path, headers=headers, **({} if method == "get" else {"json": {}}))
    assert response.status_code == 403


def test_amounts_are_exact(client, finance, codes):
    body = entry_body(
        lines=[
            {"account_code": codes["bank"], "debit": 0.1},
            {"account_code": codes["bank"], "debit": 0.2},
            {"account_code": codes["opening_balance"], "credit": "0.3"},
        ]
    )
    entry = client.post("/api/v1/journal-entries", json=body, headers=finance).json()
    assert sum(Decimal(line["debit"]) for line in entry["lines"]) == Decimal("0.3")


def test_numbers_are_gap_free_per_journal_and_year(client, finance, codes):
    def post(date):
        body = entry_body(
            date=date,
            lines=[
                {"account_code": codes["bank"], "debit": "1.00"},
                {"account_code": codes["opening_balance"], "credit": "1.00"},
            ],
        )
        return client.post("/api/v1/journal-entries", json=body, headers=finance).json()["number"]

    assert [post("2026-12-30"), post("2027-01-02"), post("2026-12-31"), post("2027-01-03")] == [
        "MISC/2026/000001",
        "MISC/2027/000001",
        "MISC/2026/000002",
        "MISC/2027/000002",
    ]
