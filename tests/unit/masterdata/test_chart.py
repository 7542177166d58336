"""Tests for the chart of accounts vocabulary and the bundled templates."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from retailcore.masterdata.chart import (
    TEMPLATES,
    AccountRole,
    AccountTemplate,
    AccountType,
    ChartTemplate,
    get_template,
)

EXPECTED_ROLES = {
    "cash_drawer", "card_clearing", "gift_card_liability", "store_credit_liability", "receivable",
    "unbilled_receivable",
    "sales_revenue", "sales_returns", "sales_discounts", "shipping_revenue", "output_tax", "input_tax",
    "cash_difference_loss",
    "cash_difference_gain", "cogs", "inventory", "damaged_goods", "inventory_shrinkage", "stock_in_transit",
    "goods_received_not_invoiced", "payables", "customer_deposits", "bank", "cash_in_transit", "gateway_fees",
    "chargebacks", "dispute_receivable", "intercompany_receivable", "intercompany_payable", "price_variance",
    "intercompany_revenue", "intercompany_cost",
    "rounding", "fx_unrealized_gain", "fx_unrealized_loss", "fx_realized_gain", "fx_realized_loss",
    "retained_earnings", "current_year_earnings", "opening_balance", "gift_card_breakage",
    "customer_goodwill", "refunds_payable", "restocking_fees",
    "loyalty_liability", "loyalty_cost",
}  # fmt: skip

RECONCILABLE_ROLES = {
    AccountRole.CARD_CLEARING,
    AccountRole.RECEIVABLE,
    AccountRole.PAYABLES,
    AccountRole.CUSTOMER_DEPOSITS,
    AccountRole.CASH_IN_TRANSIT,
    AccountRole.GOODS_RECEIVED_NOT_INVOICED,
    AccountRole.INTERCOMPANY_RECEIVABLE,
    AccountRole.INTERCOMPANY_PAYABLE,
    AccountRole.DISPUTE_RECEIVABLE,
    AccountRole.BANK,
    AccountRole.REFUNDS_PAYABLE,
}

CODE_RANGES = {
    AccountType.ASSET: "1",
    AccountType.LIABILITY: "2",
    AccountType.EQUITY: "3",
    AccountType.INCOME: "4",
}


@pytest.fixture
def generic() -> ChartTemplate:
    return get_template("generic_retail")


def test_account_types() -> None:
    assert {t.value for t in AccountType} == {"asset", "liability", "equity", "income", "expense"}
    assert AccountType("income") is AccountType.INCOME


def test_account_roles_are_exactly_the_documented_set() -> None:
    assert {r.value for r in AccountRole} == EXPECTED_ROLES
    assert len(AccountRole) == 46
    # StrEnum: roles compare equal to their plain string form, as they appear in posting-rule data.
    assert AccountRole.CASH_DRAWER == "cash_drawer"
    assert AccountRole("cogs") is AccountRole.COGS


def test_generic_template_is_registered(generic: ChartTemplate) -> None:
    assert TEMPLATES["generic_retail"] is generic
    assert generic.key == "generic_retail"
    assert generic.name
    assert generic.description


def test_every_role_has_an_account(generic: ChartTemplate) -> None:
    roles = {a.role for a in generic.accounts if a.role is not None}
    assert roles == set(AccountRole)
    assert generic.missing_roles() == frozenset()


def test_each_role_resolves_to_exactly_one_account(generic: ChartTemplate) -> None:
    # One account per role keeps role resolution unambiguous for posting rules.
    for role in AccountRole:
        assert len(generic.accounts_with_role(role)) == 1, role


def test_account_codes_unique_and_numeric(generic: ChartTemplate) -> None:
    codes = [a.code for a in generic.accounts]
    assert len(codes) == len(set(codes))
    assert all(len(code) == 4 and code.isascii() and code.isdigit() for code in codes)


def test_template_size(generic: ChartTemplate) -> None:
    assert 45 <= len(generic.accounts) <= 70


def test_codes_follow_type_ranges(generic: ChartTemplate) -> None:
    for account in generic.accounts:
        if account.type is AccountType.EXPENSE:
            assert account.code[0] in "567", account
        else:
            assert account.code[0] == CODE_RANGES[account.type], account


def test_reconcilable_flags(generic: ChartTemplate) -> None:
    for account in generic.accounts:
        if account.role in RECONCILABLE_ROLES:
            assert account.reconcilable, account
    # Tax, revenue and expense accounts are never matched item by item.
    for account in generic.accounts:
        if account.type in (AccountType.INCOME, AccountType.EXPENSE, AccountType.EQUITY):
            assert not account.reconcilable, account


def test_sales_returns_is_contra_income(generic: ChartTemplate) -> None:
    (returns,) = generic.accounts_with_role(AccountRole.SALES_RETURNS)
    assert returns.type is AccountType.INCOME


@pytest.mark.parametrize(
    ("role", "expected_type"),
    [
        (AccountRole.CASH_DRAWER, AccountType.ASSET),
        (AccountRole.INVENTORY, AccountType.ASSET),
        (AccountRole.INPUT_TAX, AccountType.ASSET),
        (AccountRole.OUTPUT_TAX, AccountType.LIABILITY),
        (AccountRole.GIFT_CARD_LIABILITY, AccountType.LIABILITY),
        (AccountRole.STORE_CREDIT_LIABILITY, AccountType.LIABILITY),
        (AccountRole.PAYABLES, AccountType.LIABILITY),
        (AccountRole.RETAINED_EARNINGS, AccountType.EQUITY),
        (AccountRole.SALES_REVENUE, AccountType.INCOME),
        (AccountRole.COGS, AccountType.EXPENSE),
        (AccountRole.GATEWAY_FEES, AccountType.EXPENSE),
        (AccountRole.FX_REALIZED_GAIN, AccountType.INCOME),
        (AccountRole.FX_REALIZED_LOSS, AccountType.EXPENSE),
    ],
)
def test_role_account_types(generic: ChartTemplate, role: AccountRole, expected_type: AccountType) -> None:
    (account,) = generic.accounts_with_role(role)
    assert account.type is expected_type


def test_has_role_less_accounts(generic: ChartTemplate) -> None:
    names = {a.name.lower() for a in generic.accounts if a.role is None}
    assert any("rent" in n for n in names)
    assert any("wages" in n for n in names)
    assert any("share capital" in n for n in names)
    assert any("utilities" in n for n in names)


def test_templates_are_immutable(generic: ChartTemplate) -> None:
    with pytest.raises(FrozenInstanceError):
        generic.accounts[0].code = "9999"  # type: ignore[misc]
    assert isinstance(generic.accounts, tuple)


def test_get_template_unknown_key_lists_known_keys() -> None:
    with pytest.raises(KeyError, match="generic_retail") as excinfo:
        get_template("generic_retial")
    assert "generic_retial" in str(excinfo.value)


def test_duplicate_codes_rejected() -> None:
    account = AccountTemplate("1000", "Cash", AccountType.ASSET, AccountRole.CASH_DRAWER, False)
    with pytest.raises(ValueError, match="duplicate account codes"):
        ChartTemplate("bad", "Bad", "Duplicated codes", (account, account))
