"""Company groups, intercompany sales and transfers, eliminations and the consolidated trial balance.

The scenario (docs/multi-company.md has the same numbers):

* ACME (EUR, the parent) and ACMEUK (GBP) form group EUROPE.
* ACME's rates for GBP (EUR per GBP): 1.20 from 2026-11-01, 1.25 from 2026-11-20: closing rate on
  2026-11-30 1.25, average 1.225. ACMEUK's rate for EUR (GBP per EUR): 0.80 from 2026-11-01.
* ACME receives 10 MUG at 4.00 EUR into PAR01 (average cost).
* 2026-11-10, sale IC-S1: 2 MUG of ACME sold by ACMEUK to its customer for 16.00 GBP + 3.20 tax, at a
  transfer price of 6.00 EUR each: 12.00 EUR, 9.60 GBP.
* 2026-11-10, transfer IC-T1: 3 MUG from PAR01 to LON01 at 5.00 EUR each: 15.00 EUR, 12.00 GBP.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from apitools import API, assert_problem
from sqlalchemy import func, select

from invariants import assert_stock_books_and_refunds_hold
from retailcore.access.model import system_principal
from retailcore.accounting import reports as r
from retailcore.accounting import services as ledger
from retailcore.accounting import tables as a
from retailcore.adapters.db import transaction
from retailcore.eventlog.services import CommandContext
from retailcore.inventory.services import MoveLine, move_stock
from retailcore.masterdata.tables import Account, Company, Location, Product

D = Decimal
AS_OF = "2026-11-30"


def _post(
    client, path: str, body: dict[str, Any], headers: dict[str, str], status: int = 201
) -> dict[str, Any]:
    response = client.post(f"{API}{path}", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def group(runtime, client, admin, auth, company) -> dict[str, Any]:
    """ACME (EUR) and ACMEUK (GBP) in group EUROPE, with stores, products, rates and ACME's stock."""
    uk = _post(
        client, "/companies", {"code": "ACMEUK", "name": "Acme UK", "currency": "GBP", "country": "GB"}, admin
    )
    for owner, code in ((company, "PAR01"), (uk, "LON01")):
        _post(client, "/stores", {"company_id": owner["id"], "code": code, "name": code}, admin)
        _post(
            client,
            "/products",
            {
                "company_id": owner["id"],
                "sku": "MUG",
                "name": "Mug",
                "category": "Kitchen",
                "list_price": "9",
            },
            admin,
        )
    created = _post(
        client,
        "/company-groups",
        {"code": "EUROPE", "name": "Acme Europe", "parent_company_id": "ACME"},
        admin,
    )
    assert created["currency"] == "EUR" and created["members"] == [company["id"]]
    added = _post(client, "/company-groups/EUROPE/members", {"company_id": "ACMEUK"}, admin, status=200)
    assert added["members"] == [company["id"], uk["id"]]
    for owner, currency, day, rate in (
        ("ACME", "GBP", "2026-11-01", "1.20"),
        ("ACME", "GBP", "2026-11-20", "1.25"),
        ("ACMEUK", "EUR", "2026-11-01", "0.80"),
    ):
        _post(
            client,
            "/exchange-rates",
            {"currency": currency, "date": day, "rate": rate},
            auth("finance", company=owner),
        )
    with transaction(runtime.session_factory) as session:
        acme = session.get(Company, uuid.UUID(company["id"]))
        places = {
            loc.code: loc.id
            for loc in session.scalars(select(Location).where(Location.company_id == acme.id))
        }
        mug = session.scalar(select(Product.id).where(Product.company_id == acme.id, Product.sku == "MUG"))
        move_stock(
            session,
            CommandContext(system_principal()),
            acme,
            kind="receipt",
            date=dt.date(2026, 11, 2),
            lines=[MoveLine(mug, D(10), places["VIRTUAL/SUPPLIER"], places["PAR01/STOCK"], D("4.00"))],
        )
    return {"acme": company, "uk": uk}


SALE = {
    "reference": "IC-S1",
    "date": "2026-11-10",
    "seller_company_id": "ACME",
    "buyer_company_id": "ACMEUK",
    "from_location": "PAR01/STOCK",
    "lines": [{"sku": "MUG", "quantity": "2", "unit_price": "6.00"}],
    "customer_net": "16.00",
    "customer_tax": "3.20",
}
TRANSFER = {
    "reference": "IC-T1",
    "date": "2026-11-10",
    "seller_company_id": "ACME",
    "buyer_company_id": "ACMEUK",
    "from_location": "PAR01/STOCK",
    "to_location": "LON01/STOCK",
    "lines": [{"sku": "MUG", "quantity": "3", "unit_price": "5.00"}],
}


def _balances(runtime, code: str) -> dict[str, Decimal]:
    with runtime.session_factory() as session:
        company = session.scalar(select(Company).where(Company.code == code))
        trial = r.trial_balance(session, company.id, dt.date(2026, 1, 1), dt.date(2026, 11, 30))
        assert trial.balanced
        return {row.account_code: row.closing_balance for row in trial.rows if row.closing_balance}


def _flows(client, admin) -> tuple[dict[str, Any], dict[str, Any]]:
    return _post(client, "/intercompany/sales", SALE, admin), _post(
        client, "/intercompany/transfers", TRANSFER, admin
    )


def test_both_books_balance_and_stock_agrees_on_both_sides(runtime, client, admin, group):
    sale, transfer = _flows(client, admin)

    assert (sale["amount"], sale["cost"], sale["buyer_amount"], sale["rate"]) == (
        "12.00",
        "8.00",
        "9.60",
        "0.80",
    )
    assert (transfer["amount"], transfer["cost"], transfer["buyer_amount"]) == ("15.00", "12.00", "12.00")
    # ACME: 40.00 received, 8.00 and 12.00 out at cost; 27.00 due from ACMEUK as intercompany sales.
    assert _balances(runtime, "ACME") == {
        "1230-ACMEUK": D("27.00"),
        "1400": D("20.00"),
        "2010": D("-40.00"),
        "4500-ACMEUK": D("-27.00"),
        "5000": D("20.00"),
    }
    # ACMEUK: its customer's sale, 9.60 cost of ACME's goods, 12.00 of stock, 21.60 due to ACME.
    assert _balances(runtime, "ACMEUK") == {
        "1210": D("19.20"),
        "1400": D("12.00"),
        "2020-ACME": D("-21.60"),
        "2100": D("-3.20"),
        "4000": D("-16.00"),
        "5040-ACME": D("9.60"),
    }
    with runtime.session_factory() as session:
        for code in ("ACME", "ACMEUK"):
            company_id = session.scalar(select(Company.id).where(Company.code == code))
            assert_stock_books_and_refunds_hold(session, company_id)
        # The payable is a euro item on ACMEUK's books: 27.00 EUR, revalued at period ends.
        payable = session.scalar(select(Account).where(Account.code == "2020-ACME"))
        euros = session.scalar(
            select(func.sum(a.JournalLine.amount_currency)).where(a.JournalLine.account_id == payable.id)
        )
        assert D(euros) == D("-27.00")


def test_a_replay_posts_nothing_and_other_content_is_refused(runtime, client, admin, group):
    first, _ = _flows(client, admin)
    with runtime.session_factory() as session:
        entries = session.scalar(select(func.count()).select_from(a.JournalEntry))

    again = _post(client, "/intercompany/sales", SALE, admin)
    keyed = {**admin, "Idempotency-Key": "ic-s1"}
    _post(client, "/intercompany/sales", SALE, keyed)
    _post(client, "/intercompany/sales", SALE, keyed)

    assert again["replayed"] is True and again["id"] == first["id"]
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(a.JournalEntry)) == entries
    changed = client.post(f"{API}/intercompany/sales", json={**SALE, "customer_net": "17.00"}, headers=admin)
    assert_problem(changed, 409, "duplicate-reference", ("reference",))


def test_eliminations_match_to_zero_then_flag_a_payable_on_one_side_only(runtime, client, admin, group):
    _flows(client, admin)

    report = client.get(f"{API}/reports/intercompany-eliminations?group=EUROPE&as_of={AS_OF}", headers=admin)

    assert report.status_code == 200, report.text
    body = report.json()
    assert body["currency"] == "EUR" and body["eliminates"] is True
    [rates_acme, rates_uk] = body["rates"]
    assert (rates_acme["closing_rate"], rates_acme["average_rate"]) == ("1.00", "1.00")
    assert (rates_uk["closing_rate"], rates_uk["average_rate"]) == ("1.25", "1.225")
    [pair] = body["pairs"]
    assert (pair["creditor"], pair["debtor"]) == ("ACME", "ACMEUK")
    assert (pair["receivable"], pair["receivable_group"]) == ("27.00", "27.00")
    assert (pair["payable"], pair["payable_group"], pair["balance_difference"]) == ("21.60", "27.00", "0.00")
    assert (pair["revenue"], pair["revenue_documented"], pair["revenue_group"]) == ("27.00", "27.00", "27.00")
    assert (pair["cost"], pair["cost_documented"], pair["cost_group"]) == ("9.60", "9.60", "11.76")
    assert (pair["transferred"], pair["transferred_group"], pair["transferred_cost_group"]) == (
        "12.00",
        "15.00",
        "12.00",
    )
    assert pair["result_difference"] == "0.00"

    # A payable posted on ACMEUK's side only: 10.00 GBP of rent charged by ACME that ACME never booked.
    with transaction(runtime.session_factory) as session:
        uk = session.scalar(select(Company).where(Company.code == "ACMEUK"))
        accounts = {
            acc.code: acc.id for acc in session.scalars(select(Account).where(Account.company_id == uk.id))
        }
        ledger.post_entry(
            session,
            CommandContext(system_principal()),
            company=uk,
            journal_code="MISC",
            date=dt.date(2026, 11, 15),
            reference="Rent recharge",
            lines=[
                ledger.LineInput(accounts["6000"], "debit", D("10.00"), "GBP"),
                ledger.LineInput(accounts["2020-ACME"], "credit", D("10.00"), "GBP"),
            ],
        )
    flagged = client.get(
        f"{API}/reports/intercompany-eliminations?group=EUROPE&as_of={AS_OF}", headers=admin
    ).json()
    [pair] = flagged["pairs"]
    assert (pair["payable"], pair["payable_group"], pair["balance_difference"]) == (
        "31.60",
        "39.50",
        "-12.50",
    )
    assert pair["eliminates"] is False and flagged["eliminates"] is False
    consolidated = client.get(
        f"{API}/reports/consolidated-trial-balance?group=EUROPE&as_of={AS_OF}", headers=admin
    ).json()
    rows = {row["account_code"]: row for row in consolidated["rows"]}
    assert (rows["2020-ACME"]["translated"], rows["2020-ACME"]["consolidated"]) == ("-39.50", "0.00")
    assert rows["IC-DIFF"]["consolidated"] == "-12.50"  # the recharge ACME never booked, not eliminated
    assert rows["6000"]["translated"] == "12.25"  # 10.00 GBP of rent at the average 1.225
    assert consolidated["balanced"] is True
    csv = client.get(
        f"{API}/reports/intercompany-eliminations?group=EUROPE&as_of={AS_OF}&format=csv", headers=admin
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[1].startswith("ACME,ACMEUK,27.00,27.00,31.60,39.50,-12.50,")


def test_the_consolidated_trial_balance_in_euros(runtime, client, admin, group):
    _flows(client, admin)

    response = client.get(
        f"{API}/reports/consolidated-trial-balance?group=EUROPE&as_of={AS_OF}", headers=admin
    )

    assert response.status_code == 200, response.text
    body = response.json()
    rows = {row["account_code"]: row for row in body["rows"]}
    shown = {code: (row["translated"], row["elimination"], row["consolidated"]) for code, row in rows.items()}
    assert shown == {
        "1210": ("24.00", "0.00", "24.00"),  # 19.20 GBP at the closing 1.25
        "1230-ACMEUK": ("27.00", "-27.00", "0.00"),
        "1400": ("35.00", "-3.00", "32.00"),  # 20.00 + 12.00 GBP at 1.25, less the 3.00 margin on the mugs
        "2010": ("-40.00", "0.00", "-40.00"),
        "2020-ACME": ("-27.00", "27.00", "0.00"),  # 21.60 GBP at 1.25
        "2100": ("-4.00", "0.00", "-4.00"),
        "4000": ("-19.60", "0.00", "-19.60"),  # 16.00 GBP at the average 1.225
        "4500-ACMEUK": ("-27.00", "27.00", "0.00"),
        "5000": ("20.00", "-12.00", "8.00"),  # the transferred mugs' cost is not a group cost
        "5040-ACME": ("11.76", "-11.76", "0.00"),  # 9.60 GBP at 1.225
        "CTA": ("0.00", "-0.40", "-0.40"),
    }
    assert rows["1400"]["balances"] == {"ACME": "20.00", "ACMEUK": "12.00"}
    assert body["total"] == "0.00" and body["balanced"] is True
    csv = client.get(
        f"{API}/reports/consolidated-trial-balance?group=EUROPE&as_of={AS_OF}&format=csv", headers=admin
    )
    assert csv.text.splitlines()[0] == (
        "account_code,account_name,account_type,ACME,ACMEUK,translated,elimination,consolidated"
    )


def test_bad_input_is_refused_naming_the_field_and_writes_nothing(runtime, client, admin, group, snapshot):
    unknown = client.get(f"{API}/reports/consolidated-trial-balance?group=NOPE&as_of={AS_OF}", headers=admin)
    assert_problem(unknown, 422, "invalid-reference", ("group",))
    unknown = client.get(f"{API}/reports/intercompany-eliminations?group=NOPE&as_of={AS_OF}", headers=admin)
    assert_problem(unknown, 422, "invalid-reference", ("group",))

    before = snapshot()
    _post(client, "/companies", {"code": "OTHER", "name": "Other", "currency": "USD", "country": "US"}, admin)
    before = snapshot()
    outside = client.post(
        f"{API}/intercompany/sales", json={**SALE, "buyer_company_id": "OTHER"}, headers=admin
    )
    assert_problem(outside, 422, "company-not-in-group", ("buyer_company_id",))
    no_product = client.post(
        f"{API}/intercompany/transfers",
        json={**TRANSFER, "lines": [{"sku": "NOPE", "quantity": "1", "unit_price": "1"}]},
        headers=admin,
    )
    assert_problem(no_product, 422, "invalid-reference", ("lines.0.sku",))
    # ACMEUK has no EUR rate before November.
    early = client.post(f"{API}/intercompany/sales", json={**SALE, "date": "2026-10-15"}, headers=admin)
    assert_problem(early, 422, "no-exchange-rate", ("date",))
    assert snapshot() == before

    _post(client, "/company-groups/EUROPE/members", {"company_id": "OTHER"}, admin, status=200)
    missing = client.get(
        f"{API}/reports/consolidated-trial-balance?group=EUROPE&as_of={AS_OF}", headers=admin
    )
    body = assert_problem(missing, 422, "no-exchange-rate", ("as_of",))
    assert "USD" in body["detail"] and "ACME" in body["detail"]
    taken = client.post(
        f"{API}/company-groups",
        json={"code": "OTHERS", "name": "x", "parent_company_id": "OTHER"},
        headers=admin,
    )
    assert_problem(taken, 409, "company-in-another-group", ("parent_company_id",))


def test_groups_are_listed_a_page_at_a_time(client, admin, group):
    page = client.get(f"{API}/company-groups?limit=1", headers=admin)
    assert page.status_code == 200
    assert [item["code"] for item in page.json()["items"]] == ["EUROPE"]
    assert page.json()["next_cursor"] is None
    assert client.get(f"{API}/company-groups/EUROPE", headers=admin).json()["currency"] == "EUR"


def test_an_intercompany_side_cannot_be_posted_alone_through_the_ledger(client, auth, group):
    finance = auth("finance", company="ACMEUK")
    for event_type, code in (
        ("IntercompanyPurchaseRecorded", "balance-event-needs-its-flow"),
        ("IntercompanyGoodsReceived", "stock-event-needs-its-flow"),
    ):
        response = client.post(
            f"{API}/ledger/events", json={"type": event_type, "payload": {"amount": "1"}}, headers=finance
        )
        assert_problem(response, 422, code, ("type",))


def test_closed_months_come_from_period_balances_with_the_same_figures(runtime, client, admin, auth, group):
    _flows(client, admin)
    url = f"{API}/reports/consolidated-trial-balance?group=EUROPE&as_of={AS_OF}"
    before = client.get(url, headers=admin).json()

    for code in ("ACME", "ACMEUK"):
        locked = client.put(
            f"{API}/ledger/lock-date", json={"lock_date": AS_OF}, headers=auth("finance", company=code)
        )
        assert locked.status_code == 200, locked.text

    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(a.PeriodBalance)) > 0
    assert client.get(url, headers=admin).json()["rows"] == before["rows"]
    late = client.post(
        f"{API}/intercompany/transfers", json={**TRANSFER, "reference": "IC-T2"}, headers=admin
    )
    assert_problem(late, 409, "period-locked", ("date",))


def test_the_buyers_revaluation_of_its_euro_payable_makes_it_eliminate_again(client, admin, auth, group):
    """GBP strengthens to 1.28 at the month's end: ACMEUK's payable, still at 0.80, no longer matches
    (21.60 GBP x 1.28 = 27.65 EUR) until ACMEUK revalues it at 0.78125 (27.00 EUR = 21.09 GBP)."""
    _flows(client, admin)
    _post(
        client,
        "/exchange-rates",
        {"currency": "GBP", "date": AS_OF, "rate": "1.28"},
        auth("finance", company="ACME"),
    )
    uk_finance = auth("finance", company="ACMEUK")
    _post(client, "/exchange-rates", {"currency": "EUR", "date": AS_OF, "rate": "0.78125"}, uk_finance)
    url = f"{API}/reports/intercompany-eliminations?group=EUROPE&as_of={AS_OF}"

    [stale] = client.get(url, headers=admin).json()["pairs"]
    assert (stale["payable"], stale["payable_group"], stale["balance_difference"]) == (
        "21.60",
        "27.65",
        "-0.65",
    )
    assert stale["eliminates"] is False

    revalued = client.post(f"{API}/ledger/revaluations", json={"as_of": AS_OF}, headers=uk_finance)
    assert revalued.status_code in (200, 201), revalued.text

    [fresh] = client.get(url, headers=admin).json()["pairs"]
    assert (fresh["payable"], fresh["payable_group"], fresh["balance_difference"]) == (
        "21.09",
        "27.00",
        "0.00",
    )
    assert fresh["eliminates"] is True
    consolidated = client.get(
        f"{API}/reports/consolidated-trial-balance?group=EUROPE&as_of={AS_OF}", headers=admin
    ).json()
    assert consolidated["balanced"] is True
    assert "IC-DIFF" not in {row["account_code"] for row in consolidated["rows"]}
