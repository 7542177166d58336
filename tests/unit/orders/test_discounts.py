"""The pure parts of discounts: limits, records, discounts net of tax, the contra list."""

from __future__ import annotations

from decimal import Decimal

import pytest

from retailcore.orders.discounts import (
    Limit,
    OverrideIn,
    check_manual,
    contra_lines,
    discount_net,
    manual,
    records_of,
)

D = Decimal


@pytest.mark.parametrize(
    ("limit", "discount", "allowed"),
    [
        (Limit(D(10), None), D("2.00"), True),
        (Limit(D(10), None), D("2.01"), False),
        (Limit(None, D("1.50")), D("1.50"), True),
        (Limit(None, D("1.50")), D("1.51"), False),
        (Limit(D(50), D("1.00")), D("1.01"), False),  # both limits hold at once
    ],
)
def test_a_limit_caps_percent_and_amount(limit, discount, allowed):
    assert limit.allows(D("20.00"), discount) is allowed


def test_beyond_the_limit_needs_an_override_whose_user_may_give_it():
    limit = Limit(D(10), None)
    mia, carl = OverrideIn(by="mia", reason="r"), OverrideIn(by="carl", reason="r")
    verdicts = {"mia": None, "carl": "user 'carl' is a cashier"}

    assert check_manual(limit, False, D(20), D(5), None, verdicts)[0] == "discount"
    assert check_manual(limit, False, D(20), D(5), mia, verdicts) is None
    assert check_manual(limit, False, D(20), D(5), carl, verdicts) == (
        "override.by",
        "user 'carl' is a cashier",
    )
    assert check_manual(limit, True, D(20), D(5), None, verdicts) is None  # a manager's own sale
    assert check_manual(None, False, D(20), D(5), None, verdicts) is None  # no policy


def test_a_bare_discount_reads_as_one_manual_discount():
    assert [(d.source, d.amount, d.given_by) for d in records_of(D("1.00"), None)] == [
        ("manual", D("1.00"), None)
    ]
    assert records_of(D(0), None) == []
    recorded = manual(D("2.00"), "token:t", OverrideIn(by="mia", reason="why"))
    [view] = records_of(D("2.00"), [recorded])
    assert (view.amount, view.given_by, view.override.by) == (D("2.00"), "token:t", "mia")


def test_a_discount_net_of_tax():
    vat = [{"code": "VAT20", "rate_percent": "20"}]
    assert discount_net(D("6.00"), vat, True, "EUR") == D("5.00")
    assert discount_net(D("6.00"), vat, False, "EUR") == D("6.00")
    assert discount_net(D("1.00"), vat, True, "EUR") == D("0.83")


def test_a_discount_net_of_tax_remembered_answers_as_computed():
    # Memoised per (amount, rates as stored, currency): a hit answers what the computation gives, and
    # amounts, rates or currencies that differ never share an answer.
    vat20 = [{"code": "VAT20", "rate_percent": "20"}]
    vat10 = [{"code": "VAT10", "rate_percent": "10"}]
    both = [{"code": "VAT20", "rate_percent": "20"}, {"code": "LOCAL", "rate_percent": "5.5"}]
    cases = [
        (D("1.00"), vat20, "EUR", D("0.83")),
        (D("1.00"), vat10, "EUR", D("0.91")),
        (D("1.00"), both, "EUR", D("0.80")),
        (D("100"), vat20, "JPY", D("83")),
        (D("100"), vat20, "EUR", D("83.33")),
        (D("1.0"), vat20, "EUR", D("0.83")),
        (D("1.00"), [{"code": "VAT20", "rate_percent": 20}], "EUR", D("0.83")),
        (D("1.00"), [], "EUR", D("1.00")),
    ]
    for _ in range(2):  # the first round computes, the second finds
        for amount, taxes, currency, net in cases:
            found = discount_net(amount, taxes, True, currency)
            assert (found, found.as_tuple().exponent) == (net, net.as_tuple().exponent)


def test_the_contra_list_sums_per_category():
    assert contra_lines([("B", D("1.00")), ("A", D("0.50")), ("B", D("2.00")), ("C", D(0))], "EUR") == [
        {"product_category": "A", "amount": "0.50"},
        {"product_category": "B", "amount": "3.00"},
    ]
