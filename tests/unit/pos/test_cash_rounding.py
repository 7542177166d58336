"""Cash rounding's arithmetic (docs/pos.md#cash-rounding): the modes on the money changing hands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from retailcore.pos.cash_rounding import Rounding, rounded, settled_at

D = Decimal
FIVE = {mode: Rounding(D("0.05"), mode) for mode in ("half_up", "up", "down")}


@pytest.mark.parametrize(
    ("amount", "half_up", "up", "down"),
    [
        ("10.02", "10.00", "10.05", "10.00"),
        ("10.03", "10.05", "10.05", "10.00"),
        ("10.025", "10.05", "10.05", "10.00"),
        ("10.05", "10.05", "10.05", "10.05"),
        ("0.01", "0.00", "0.05", "0.00"),
        ("-10.02", "-10.00", "-10.05", "-10.00"),
        ("-10.03", "-10.05", "-10.05", "-10.00"),
    ],
)
def test_each_mode_rounds_the_magnitude(amount, half_up, up, down):
    got = {mode: rounded(D(amount), rounding) for mode, rounding in FIVE.items()}
    assert got == {"half_up": D(half_up), "up": D(up), "down": D(down)}
    assert str(got["half_up"]).count(".") == 1  # keeps the amount's decimals


def test_a_ten_cent_increment_and_whole_units():
    assert rounded(D("12.34"), Rounding(D("0.10"), "half_up")) == D("12.30")
    assert rounded(D("12.35"), Rounding(D("0.10"), "half_up")) == D("12.40")
    assert rounded(D("1234"), Rounding(D("5"), "half_up")) == D("1235")


def test_which_tickets_are_settled_rounded():
    five = FIVE["half_up"]
    assert settled_at(D("10.02"), D("20.00"), True, five) == D("10.00")  # cash: always
    assert settled_at(D("10.02"), D("10.00"), False, five) == D("10.00")  # card at the rounded total
    assert settled_at(D("10.02"), D("10.02"), False, five) == D("10.02")  # card, exact
    assert settled_at(D("10.02"), D("10.00"), True, None) == D("10.02")  # no setting
