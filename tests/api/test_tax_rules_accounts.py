"""Tax rules and the chart of accounts."""

from __future__ import annotations

import pytest
from apitools import API, assert_problem, events, walk

from retailcore.masterdata.chart import AccountRole, AccountType, get_template

VAT_20 = {"code": "FR-VAT-20", "name": "VAT 20%", "rate_percent": "20"}


def tax_rule(company, jurisdiction="FR", category="standard", taxes=(VAT_20,)):
    return {
        "company_id": company["id"],
        "jurisdiction": jurisdiction,
        "tax_category": category,
        "taxes": list(taxes),
    }


def test_a_tax_rule_is_created_with_its_taxes_in_order(client, admin, company):
    county = {
        "code": "CNTY",
        "name": "County",
        "rate_percent": "2.125",
        "price_included": False,
        "rounding": "document",
    }
    state = {"code": "STATE", "name": "State", "rate_percent": "4", "price_included": False}

    response = client.post(
        f"{API}/tax-rules", json=tax_rule(company, "us-ny", "Standard", [state, county]), headers=admin
    )

    assert response.status_code == 201, response.text
    rule = response.json()
    assert (rule["jurisdiction"], rule["tax_category"]) == ("US-NY", "standard")
    assert rule["taxes"] == [
        {
            "code": "STATE",
            "name": "State",
            "kind": "percent",
            "rate_percent": "4.00",
            "amount": None,
            "price_included": False,
            "affects_base": False,
            "rounding": "line",
            "children": [],
        },
        {
            "code": "CNTY",
            "name": "County",
            "kind": "percent",
            "rate_percent": "2.125",
            "amount": None,
            "price_included": False,
            "affects_base": False,
            "rounding": "document",
            "children": [],
        },
    ]
    read = client.get(f"{API}/tax-rules/{rule['id']}", headers=admin)
    assert read.json() == rule
    assert read.headers["ETag"] == '"1"'


def test_a_tax_rule_patch_replaces_its_taxes(client, admin, create, company, runtime):
    rule = create("/tax-rules", tax_rule(company))
    reduced = {"code": "FR-VAT-5", "name": "VAT 5.5%", "rate_percent": "5.5"}

    response = client.patch(
        f"{API}/tax-rules/{rule['id']}", json={"taxes": [reduced]}, headers={**admin, "If-Match": '"1"'}
    )

    assert response.status_code == 200, response.text
    assert [(t["code"], t["rate_percent"]) for t in response.json()["taxes"]] == [("FR-VAT-5", "5.50")]
    assert response.json()["version"] == 2
    assert client.get(f"{API}/tax-rules/{rule['id']}", headers=admin).json() == response.json()
    changes = events(runtime, type="TaxRuleUpdated")[0].payload["changes"]
    assert list(changes) == ["taxes"]
    assert changes["taxes"]["from"][0]["code"] == "FR-VAT-20"


def test_a_tax_rule_patch_with_the_same_taxes_changes_nothing(client, admin, create, company, runtime):
    rule = create("/tax-rules", tax_rule(company))
    count = len(events(runtime))

    response = client.patch(
        f"{API}/tax-rules/{rule['id']}", json={"taxes": [{**VAT_20, "rate_percent": "20.0"}]}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert len(events(runtime)) == count


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"taxes": None}, "taxes"),
        ({"taxes": [{"code": "E", "name": "E", "kind": "fixed"}]}, "taxes.0.amount"),
        ({"jurisdiction": "DE"}, "jurisdiction"),
    ],
)
def test_a_tax_rule_patch_is_validated(client, admin, create, company, snapshot, change, field):
    rule = create("/tax-rules", tax_rule(company))
    before = snapshot()

    assert_problem(
        client.patch(f"{API}/tax-rules/{rule['id']}", json=change, headers=admin), 422, fields=(field,)
    )
    assert snapshot() == before


def test_a_tax_rule_patch_with_a_stale_version_is_a_412(client, admin, create, company):
    rule = create("/tax-rules", tax_rule(company))
    client.patch(
        f"{API}/tax-rules/{rule['id']}", json={"taxes": [{**VAT_20, "rate_percent": "19.6"}]}, headers=admin
    )

    response = client.patch(
        f"{API}/tax-rules/{rule['id']}", json={"taxes": [VAT_20]}, headers={**admin, "If-Match": '"1"'}
    )

    assert_problem(response, 412)
    assert (
        client.get(f"{API}/tax-rules/{rule['id']}", headers=admin).json()["taxes"][0]["rate_percent"]
        == "19.60"
    )


def test_one_category_may_have_a_rule_in_each_jurisdiction(create, company):
    create("/tax-rules", tax_rule(company, "FR"))

    assert create("/tax-rules", tax_rule(company, "BE"))["jurisdiction"] == "BE"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"jurisdiction": "fr"}, [("FR", "standard"), ("FR", "reduced")]),
        ({"tax_category": "reduced"}, [("FR", "reduced"), ("DE", "reduced")]),
        ({"jurisdiction": "DE", "tax_category": "reduced"}, [("DE", "reduced")]),
    ],
)
def test_tax_rules_are_filtered(client, admin, create, company, params, expected):
    for jurisdiction, category in (("FR", "standard"), ("FR", "reduced"), ("DE", "reduced")):
        create("/tax-rules", tax_rule(company, jurisdiction, category))

    response = client.get(f"{API}/tax-rules", params=params, headers=admin)

    assert [(r["jurisdiction"], r["tax_category"]) for r in response.json()["items"]] == expected


# -- accounts --------------------------------------------------------------------------------------


def test_a_new_company_has_an_account_for_every_role(client, admin, company):
    accounts = walk(client, "/accounts", admin, limit=500, company_id=company["id"])

    template = get_template("generic_retail")
    assert sorted(a["code"] for a in accounts) == sorted(a.code for a in template.accounts)
    assert {a["role"] for a in accounts if a["role"]} == {role.value for role in AccountRole}
    assert {a["type"] for a in accounts} <= {t.value for t in AccountType}


@pytest.mark.parametrize("role", list(AccountRole))
def test_accounts_are_filtered_by_role(client, admin, company, role):
    response = client.get(f"{API}/accounts", params={"role": role.value}, headers=admin)

    accounts = response.json()["items"]
    expected = [a.code for a in get_template("generic_retail").accounts_with_role(role)]
    assert [a["code"] for a in accounts] == expected
    assert all(a["role"] == role.value for a in accounts)


@pytest.mark.parametrize("account_type", list(AccountType))
def test_accounts_are_filtered_by_type(client, admin, company, account_type):
    accounts = walk(client, "/accounts", admin, limit=500, type=account_type.value)

    expected = [a.code for a in get_template("generic_retail").accounts if a.type is account_type]
    assert sorted(a["code"] for a in accounts) == sorted(expected)
    assert accounts


def test_an_unknown_role_filter_is_a_422(client, admin, company):
    assert_problem(
        client.get(f"{API}/accounts", params={"role": "petty_cash"}, headers=admin), 422, fields=("role",)
    )


def test_an_account_is_created_read_and_changed(client, admin, company, runtime):
    created = client.post(
        f"{API}/accounts",
        json={
            "company_id": company["id"],
            "code": "512100",
            "name": "USD bank",
            "type": "asset",
            "currency": "usd",
            "reconcilable": True,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert (account["currency"], account["role"], account["reconcilable"]) == ("USD", None, True)

    response = client.patch(
        f"{API}/accounts/{account['id']}",
        json={"role": "bank", "name": "Bank USD"},
        headers={**admin, "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["name"], response.json()["version"]) == (
        "bank",
        "Bank USD",
        2,
    )
    assert (response.json()["code"], response.json()["currency"]) == ("512100", "USD")
    assert events(runtime, type="AccountUpdated")[0].payload["changes"] == {
        "name": {"from": "USD bank", "to": "Bank USD"},
        "role": {"from": None, "to": "bank"},
    }
    assert [
        a["code"]
        for a in client.get(f"{API}/accounts", params={"role": "bank"}, headers=admin).json()["items"]
    ][-1] == "512100"


@pytest.mark.parametrize(
    ("change", "field"), [({"type": "income"}, "type"), ({"code": "1"}, "code"), ({"name": None}, "name")]
)
def test_an_accounts_type_and_code_cannot_be_patched(client, admin, company, change, field):
    account = client.get(f"{API}/accounts", params={"role": "cash_drawer"}, headers=admin).json()["items"][0]

    assert_problem(
        client.patch(f"{API}/accounts/{account['id']}", json=change, headers=admin), 422, fields=(field,)
    )


def test_an_account_patch_that_changes_nothing_keeps_the_version(client, admin, company, runtime):
    account = client.get(f"{API}/accounts", params={"role": "cash_drawer"}, headers=admin).json()["items"][0]
    count = len(events(runtime))

    response = client.patch(
        f"{API}/accounts/{account['id']}",
        json={"role": "cash_drawer", "name": account["name"]},
        headers=admin,
    )

    assert response.json()["version"] == 1
    assert len(events(runtime)) == count
