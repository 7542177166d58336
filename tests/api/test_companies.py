"""Companies: created with their virtual locations and chart of accounts."""

from __future__ import annotations

import uuid

import pytest
from apitools import API, assert_problem, events, ids, walk

from retailcore.masterdata.chart import AccountRole, get_template


def test_a_company_is_created_with_its_defaults(client, admin):
    response = client.post(
        f"{API}/companies",
        json={"code": "BRIT", "name": "Brit Shops", "currency": "gbp", "country": "gb"},
        headers=admin,
    )

    assert response.status_code == 201, response.text
    company = response.json()
    assert response.headers["Location"] == f"{API}/companies/{company['id']}"
    expected = {
        "code": "BRIT",
        "currency": "GBP",
        "country": "GB",
        "tax_jurisdiction": "GB",
        "chart_template": "generic_retail",
        "version": 1,
    }
    assert {k: company[k] for k in expected} == expected
    read = client.get(f"{API}/companies/{company['id']}", headers=admin)
    assert read.json() == company
    assert read.headers["ETag"] == '"1"'


def test_a_new_company_has_its_four_virtual_locations(client, admin, company):
    locations = walk(client, "/locations", admin, company_id=company["id"])

    assert sorted((loc["kind"], loc["code"], loc["store_id"]) for loc in locations) == [
        ("customer", "VIRTUAL/CUSTOMER", None),
        ("in_transit", "VIRTUAL/IN_TRANSIT", None),
        ("inventory_loss", "VIRTUAL/INVENTORY_LOSS", None),
        ("supplier", "VIRTUAL/SUPPLIER", None),
    ]


def test_a_new_company_has_the_chart_template_accounts(client, admin, company):
    accounts = walk(client, "/accounts", admin, limit=100, company_id=company["id"])

    template = get_template("generic_retail")
    assert len(accounts) == len(template.accounts)
    assert {a["role"] for a in accounts if a["role"]} == {role.value for role in AccountRole}
    by_code = {a["code"]: a for a in accounts}
    for expected in template.accounts:
        account = by_code[expected.code]
        assert (account["name"], account["type"], account["reconcilable"]) == (
            expected.name,
            expected.type.value,
            expected.reconcilable,
        )


def test_every_seeded_record_is_an_event_of_the_one_command(client, admin, company, runtime):
    seeded = events(runtime, company_id=uuid.UUID(company["id"]))

    assert seeded[0].type == "CompanyCreated"
    assert [e.type for e in seeded].count("LocationCreated") == 4
    assert [e.type for e in seeded].count("AccountCreated") == len(get_template("generic_retail").accounts)
    assert len({e.correlation_id for e in seeded}) == 1


def test_a_company_may_be_created_without_a_chart(client, admin):
    response = client.post(
        f"{API}/companies",
        json={
            "code": "NOCHART",
            "name": "No chart",
            "currency": "EUR",
            "country": "BE",
            "chart_template": None,
            "tax_jurisdiction": "be-vlg",
        },
        headers=admin,
    )

    assert response.status_code == 201, response.text
    company = response.json()
    assert (company["chart_template"], company["tax_jurisdiction"]) == (None, "BE-VLG")
    assert (
        client.get(f"{API}/accounts", params={"company_id": company["id"]}, headers=admin).json()["items"]
        == []
    )
    assert (
        len(
            client.get(f"{API}/locations", params={"company_id": company["id"]}, headers=admin).json()[
                "items"
            ]
        )
        == 4
    )


def test_a_company_patch_changes_only_what_is_sent(client, admin, company, runtime):
    response = client.patch(
        f"{API}/companies/{company['id']}", json={"name": "Acme Group"}, headers={**admin, "If-Match": '"1"'}
    )

    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json().items() if k != "updated_at"} == {
        **{k: v for k, v in company.items() if k != "updated_at"},
        "name": "Acme Group",
        "version": 2,
    }
    assert events(runtime, type="CompanyUpdated")[0].payload["changes"] == {
        "name": {"from": "Acme Retail", "to": "Acme Group"}
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"code": "X"}, "code"),
        ({"tax_jurisdiction": None}, "tax_jurisdiction"),
    ],
)
def test_a_companys_currency_and_code_cannot_be_patched(client, admin, company, snapshot, change, field):
    before = snapshot()

    assert_problem(
        client.patch(f"{API}/companies/{company['id']}", json=change, headers=admin), 422, fields=(field,)
    )
    assert snapshot() == before


def test_a_company_patch_with_a_stale_version_is_a_412(client, admin, company):
    client.patch(f"{API}/companies/{company['id']}", json={"name": "First"}, headers=admin)

    response = client.patch(
        f"{API}/companies/{company['id']}", json={"name": "Second"}, headers={**admin, "If-Match": '"1"'}
    )

    assert_problem(response, 412)


def test_a_company_patch_that_changes_nothing_keeps_the_version(client, admin, company, runtime):
    count = len(events(runtime))

    response = client.patch(
        f"{API}/companies/{company['id']}", json={"tax_jurisdiction": "fr"}, headers=admin
    )

    assert response.json()["version"] == 1
    assert len(events(runtime)) == count


def test_companies_are_listed_and_filtered_by_code(client, admin, company, other_company):
    assert ids(client.get(f"{API}/companies", headers=admin).json()["items"]) == [
        company["id"],
        other_company["id"],
    ]
    assert ids(client.get(f"{API}/companies", params={"code": "GLOBEX"}, headers=admin).json()["items"]) == [
        other_company["id"]
    ]


def test_a_company_token_sees_and_changes_only_its_company(client, auth, company, other_company):
    acme = auth("admin", company="ACME")

    assert ids(client.get(f"{API}/companies", headers=acme).json()["items"]) == [company["id"]]
    assert_problem(
        client.patch(f"{API}/companies/{other_company['id']}", json={"name": "Mine"}, headers=acme), 404
    )
    assert (
        client.patch(f"{API}/companies/{company['id']}", json={"name": "Ours"}, headers=acme).status_code
        == 200
    )
