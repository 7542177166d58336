"""The settlement parsers on the published samples: amounts exact, keys, kinds, batches (no database)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from retailcore.settlements import adyen, generic_csv, stripe
from retailcore.settlements.parsing import FileRefused

D = Decimal
EXTERNAL = Path(__file__).parents[2] / "fixtures" / "external"


def test_stripe_lines_keep_their_amounts_exactly_and_sum_to_the_payout():
    lines = stripe.parse((EXTERNAL / "stripe" / "balance_transactions_sample.csv").read_text())
    assert [line.kind for line in lines] == [
        "charge", "charge", "charge", "refund", "dispute", "dispute_reversal", "fee",
    ]  # fmt: skip
    assert sum(line.net for line in lines) == D("160.66")
    third = lines[2]
    assert (third.line_number, third.currency, third.gross, third.fee, third.net) == (
        4,
        "USD",
        D("24.50"),
        D("1.01"),
        D("23.49"),
    )
    assert (third.original_currency, third.original_gross, third.reference2) == (
        "EUR",
        D("22.00"),
        "pi_3RZaC3Kx7aZ3LmN03AbC0003",
    )
    assert lines[3].reference == "ch_3RZaA1Kx7aZ3LmN01XyZ0001"  # a refund names its original charge
    assert {line.batch for line in lines} == {"po_1RbQx2Kx7aZ3LmN0pQrStUvW"}
    assert lines[0].order_ref == "1001"


def test_adyen_gross_is_net_plus_the_withheld_costs_in_the_settlement_currency():
    docs = adyen.parse((EXTERNAL / "adyen" / "settlement_detail_docs_example_lines.csv").read_text())
    settled, chargeback, correction = docs
    assert (settled.kind, settled.gross, settled.fee, settled.net) == (
        "charge",
        D("5.00"),
        D("0.12"),
        D("4.88"),
    )
    assert (chargeback.kind, chargeback.gross, chargeback.fee, chargeback.net) == (
        "dispute", D("-349.99"), D("7.5"), D("-357.49"),
    )  # fmt: skip
    assert (correction.kind, correction.net, correction.batch) == ("adjustment", D("-78.93"), None)
    batch = adyen.parse((EXTERNAL / "adyen" / "settlement_detail_sample.csv").read_text())
    payout = batch[-1]
    assert (payout.kind, payout.net) == ("payout", D("-165.83"))
    assert sum(line.net for line in batch[:-1]) == -payout.net
    converted = batch[2]
    assert (converted.original_currency, converted.original_gross, converted.gross) == (
        "GBP",
        D("21.00"),
        D("24.50"),
    )
    assert batch[0].line_key == "8815938472610001|Settled|42"
    assert batch[6].line_key == "Fee|Transaction Fees June 2025|42"


def test_a_row_with_a_quoted_comma_is_one_field():
    text = (EXTERNAL / "adyen" / "settlement_detail_sample.csv").read_text()
    assert "TX4815162342XT batch 42, RetailCoECOM" in adyen.parse(text)[-1].description


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e3", "is not an amount"),
        ("NaN", "is not an amount"),
        ("12.345", "more decimals"),
        ("", "no amount"),
    ],
)
def test_amounts_are_exact_decimals_in_the_currency(value, message):
    text = f"id,day,type,cur,gross\nA,2026-12-01,charge,USD,{value}\n"
    mapping = {
        "columns": {"line_id": "id", "date": "day", "type": "type", "currency": "cur", "gross": "gross"}
    }
    with pytest.raises(FileRefused, match=message) as refused:
        generic_csv.parse(text, mapping)
    assert refused.value.line == 2
