"""The pure posting engine: rules as data -> draft lines. No database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from retailcore.accounting.posting.engine import (
    PostingError,
    Rule,
    RuleLine,
    draft_lines,
    matches,
    select_rule,
)
from retailcore.accounting.posting.rulebook import DEFAULT_RULES, POSTABLE_EVENT_TYPES
from retailcore.masterdata.chart import TEMPLATES, AccountRole


def rule_of(data: dict, **overrides) -> Rule:
    return Rule(
        code=data["code"],
        event_type=data["event_type"],
        journal_code=data["journal_code"],
        lines=tuple(RuleLine.from_dict(line) for line in data["lines"]),
        **overrides,
    )


DEFAULTS = {data["code"]: rule_of(data) for data in DEFAULT_RULES}


def test_every_default_rule_uses_roles_the_generic_chart_has():
    roles = {account.role.value for account in TEMPLATES["generic_retail"].accounts if account.role}
    for rule in DEFAULTS.values():
        for line in rule.lines:
            if line.account_role is None:  # a pinned account: settlement rules take it from the event
                assert line.account_code is not None and line.account_code.startswith("$"), rule.code
                continue
            if line.account_role.startswith("$"):  # taken from the event: checked when posted
                continue
            assert line.account_role in roles and AccountRole(line.account_role)


def test_pos_close_spreads_tenders_and_sales_by_role():
    payload = {
        "store_id": "s1",
        "channel": "pos",
        "sales": [{"product_category": "Tops", "tax_code": "VAT20", "net": "100", "tax": "20"}],
        "tenders": [{"kind": "cash", "amount": "70"}, {"kind": "card", "gateway": "adyen", "amount": "50"}],
    }
    lines = draft_lines(DEFAULTS["pos-session-close"], payload)
    summary = [(d.side, d.account_role, d.amount) for d in lines]
    assert summary == [
        ("debit", "cash_drawer", Decimal("70")),
        ("debit", "card_clearing", Decimal("50")),
        ("credit", "sales_revenue", Decimal("100")),
        ("credit", "output_tax", Decimal("20")),
    ]
    revenue = lines[2]
    assert revenue.dimensions == {
        "store_id": "s1",
        "channel": "pos",
        "product_category": "Tops",
        "location_id": None,
        "customer_id": None,
    }
    assert revenue.label == "POS sales Tops"
    assert lines[3].tax_code == "VAT20"


def test_a_negative_amount_writes_the_other_side():
    payload = {"items": [{"difference": "-12.50", "product_category": "Shoes", "stock_role": "inventory"}]}
    lines = draft_lines(DEFAULTS["stock-count"], payload)
    assert [(d.side, d.account_role, d.amount) for d in lines] == [
        ("credit", "inventory", Decimal("12.50")),
        ("debit", "inventory_shrinkage", Decimal("12.50")),
    ]


def test_zero_amounts_and_missing_optional_amounts_write_nothing():
    payload = {"sales": [], "tenders": [{"kind": "cash", "amount": "0"}]}
    assert draft_lines(DEFAULTS["pos-session-close"], payload) == []


def test_a_role_taken_from_the_event_item():
    payload = {"items": [{"cost": "4.00", "stock_role": "damaged_goods"}]}
    lines = draft_lines(DEFAULTS["goods-issued"], payload)
    assert [(d.side, d.account_role) for d in lines] == [("debit", "cogs"), ("credit", "damaged_goods")]
    with pytest.raises(PostingError, match="no 'stock_role'"):
        draft_lines(DEFAULTS["goods-issued"], {"items": [{"cost": "4.00"}]})


def test_a_missing_required_amount_is_refused():
    with pytest.raises(PostingError, match="no 'amount'"):
        draft_lines(DEFAULTS["chargeback"], {"gateway": "stripe"})


@pytest.mark.parametrize("bad", [1.5, "abc", True, "NaN"])
def test_amounts_must_be_decimal_text(bad):
    with pytest.raises(PostingError):
        draft_lines(DEFAULTS["chargeback"], {"amount": bad})


def test_conditions_and_rule_selection_by_date_and_priority():
    base = DEFAULTS["web-payment-captured"]
    web = Rule(
        **{
            **base.__dict__,
            "code": "web-only",
            "conditions": {"channel": ["web", "marketplace"]},
            "priority": 10,
        }
    )
    old = Rule(**{**base.__dict__, "code": "old", "priority": 1, "valid_to": dt.date(2026, 1, 31)})
    rules = [base, web, old]
    on = dt.date(2026, 6, 1)
    assert select_rule(rules, "PaymentCaptured", {"channel": "web"}, on).code == "web-only"
    assert select_rule(rules, "PaymentCaptured", {"channel": "pos"}, on).code == base.code
    assert select_rule(rules, "PaymentCaptured", {"channel": "pos"}, dt.date(2026, 1, 15)).code == "old"
    assert select_rule(rules, "Unknown", {}, on) is None
    assert matches({"kind": None}, {}) and not matches({"kind": "card"}, {"kind": "cash"})


def test_rule_lines_name_exactly_one_account():
    with pytest.raises(ValueError):
        RuleLine(side="debit", amount="x")
    with pytest.raises(ValueError):
        RuleLine(side="debit", amount="x", account_role="bank", account_code="1000")
    with pytest.raises(ValueError):
        RuleLine(side="left", amount="x", account_role="bank")


def test_design_section_3_events_all_have_a_default_rule():
    assert {
        "PosSessionClosed",
        "GoodsIssued",
        "PaymentCaptured",
        "OrderFulfilled",
        "SettlementImported",
        "ChargebackRecorded",
        "CashDeposited",
        "CashDepositBanked",
        "GiftCardSold",
        "ReturnRefunded",
        "ReturnReceived",
        "GoodsReceived",
        "VendorBillRecorded",
        "TransferShipped",
        "TransferReceived",
        "StockCounted",
        "IntercompanySaleFulfilled",
    } <= POSTABLE_EVENT_TYPES


def test_a_gateway_settlement_posts_to_the_accounts_its_payload_names():
    payload = {
        "gateway": "stripe",
        "batch": "po_1",
        "clearing_account": "1150",
        "fee_account": "6200",
        "transit_account": "1160",
        "captures_gross": "100.00",
        "captures_fee": "3.20",
        "captures_net": "96.80",
    }
    drafts = draft_lines(DEFAULTS["gateway-settlement"], payload)
    assert [(d.side, d.account_code, d.amount) for d in drafts] == [
        ("credit", "1150", Decimal("100.00")),
        ("debit", "6200", Decimal("3.20")),
        ("debit", "1160", Decimal("96.80")),
    ]
    with pytest.raises(PostingError, match="no 'chargeback_account' account"):
        draft_lines(DEFAULTS["gateway-settlement"], {**payload, "disputes_amount": "5.00"})


def test_an_items_own_account_replaces_the_role_for_that_item_only():
    """Decision 0061: a product's expense account rides on its item as ``accounts``."""
    payload = {
        "items": [
            {
                "cost": "6.00",
                "stock_role": "inventory",
                "product_category": "Gifts",
                "accounts": {"cogs": "5030"},
            },
            {"cost": "18.00", "stock_role": "inventory", "product_category": "Tops"},
        ]
    }
    lines = draft_lines(DEFAULTS["goods-issued"], payload)
    assert [(d.side, d.account_role, d.account_code, d.amount) for d in lines] == [
        ("debit", None, "5030", Decimal("6.00")),
        ("debit", "cogs", None, Decimal("18.00")),
        ("credit", "inventory", None, Decimal("6.00")),
        ("credit", "inventory", None, Decimal("18.00")),
    ]


def test_the_customer_is_a_dimension_read_from_the_event_like_the_others():
    rule = rule_of(
        {
            "code": "invoice",
            "event_type": "InvoiceIssued",
            "journal_code": "SALES",
            "lines": [
                {"side": "debit", "account_role": "receivable", "amount": "gross", "label": "Invoice"},
                {"side": "credit", "account_role": "sales_revenue", "amount": "gross", "label": "Sale"},
                {
                    "side": "credit",
                    "account_role": "receivable",
                    "amount": "amount",
                    "label": "Paid",
                    "for_each": "customer_payments",
                },
            ],
        }
    )
    lines = draft_lines(
        rule,
        {"gross": "10", "customer_id": "c1", "customer_payments": [{"customer_id": "c2", "amount": "4"}]},
    )

    assert [(line.account_role, line.dimensions["customer_id"]) for line in lines] == [
        ("receivable", "c1"),
        ("sales_revenue", "c1"),  # the engine carries it; posting keeps it on receivable lines only
        ("receivable", "c2"),
    ]
