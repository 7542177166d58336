from __future__ import annotations

import decimal
import json
import pickle
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retailcore.core.currencies import MINOR_UNITS, UnknownCurrency, is_currency, minor_unit
from retailcore.core.money import MAX_DIGITS, ROUNDING_MODES, CurrencyMismatch, Money

D = Decimal


def eur(value: str) -> Money:
    return Money(D(value), "EUR")


# -- currencies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "places"),
    [
        ("EUR", 2),
        ("USD", 2),
        ("GBP", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("ISK", 0),
        ("CLP", 0),
        ("VND", 0),
        ("XAF", 0),
        ("XOF", 0),
        ("XPF", 0),
        ("UGX", 0),
        ("PYG", 0),
        ("RWF", 0),
        ("KMF", 0),
        ("GNF", 0),
        ("DJF", 0),
        ("BIF", 0),
        ("VUV", 0),
        ("UYI", 0),
        ("BHD", 3),
        ("IQD", 3),
        ("JOD", 3),
        ("KWD", 3),
        ("LYD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_minor_units_match_iso_4217(code: str, places: int) -> None:
    assert minor_unit(code) == places
    assert MINOR_UNITS[code] == places
    assert is_currency(code)


def test_currency_table_is_well_formed() -> None:
    assert len(MINOR_UNITS) > 150
    for code, places in MINOR_UNITS.items():
        assert len(code) == 3 and code.isascii() and code.isalpha() and code.isupper(), code
        assert places in (0, 2, 3, 4), code


@pytest.mark.parametrize("code", ["HRK", "LTL", "VEF", "MRO", "XAU", "XXX", "XTS", "ABC", "", "EURO"])
def test_withdrawn_and_non_monetary_codes_are_unknown(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(UnknownCurrency):
        minor_unit(code)


def test_currency_lookup_is_case_sensitive_and_hints() -> None:
    assert not is_currency("eur")
    with pytest.raises(UnknownCurrency, match="did you mean 'EUR'"):
        minor_unit("eur")


def test_unknown_currency_is_a_value_error() -> None:
    assert issubclass(UnknownCurrency, ValueError)
    assert issubclass(CurrencyMismatch, ValueError)


@pytest.mark.parametrize("value", [None, 978, b"EUR", ["EUR"]])
def test_is_currency_is_false_for_non_strings(value: object) -> None:
    assert is_currency(value) is False


# -- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1.5, 1, "1.50", 0.1, True, None])
def test_constructor_accepts_only_decimal(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_amounts_are_refused(amount: str) -> None:
    with pytest.raises(ValueError):
        Money(D(amount), "EUR")
    with pytest.raises(ValueError):
        Money.of(amount, "EUR")


@pytest.mark.parametrize("currency", ["eur", "EURO", "XYZ", "", "HRK"])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money(D("1"), currency)


def test_non_string_currency_is_refused() -> None:
    with pytest.raises(TypeError):
        Money(D("1"), 978)  # type: ignore[arg-type]


def test_of_accepts_str_int_and_decimal() -> None:
    assert Money.of("12.30", "EUR").amount == D("12.30")
    assert Money.of("12.30", "EUR").amount.as_tuple().exponent == -2  # digits kept as written
    assert Money.of(7, "JPY") == Money(D(7), "JPY")
    assert Money.of(D("-0.5"), "EUR") == eur("-0.5")
    assert Money.of(" 1.25 ", "EUR") == eur("1.25")


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), True, False])
def test_of_refuses_float_and_bool(value: object) -> None:
    with pytest.raises(TypeError):
        Money.of(value, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, [1], b"1.00"])
def test_of_refuses_other_types(value: object) -> None:
    with pytest.raises(TypeError):
        Money.of(value, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "abc", "1,50", "12.30 EUR", "0x10"])
def test_of_refuses_unparsable_strings_with_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        Money.of(text, "EUR")


def test_absurdly_large_amounts_are_refused() -> None:
    with pytest.raises(ValueError):
        Money.of("1E+999999999", "EUR")
    with pytest.raises(ValueError):
        Money.of("1E-200", "EUR")
    Money(D(10) ** (MAX_DIGITS - 1), "EUR")  # the bound itself is usable
    with pytest.raises(ValueError):
        Money(D(10) ** MAX_DIGITS, "EUR")


def test_money_is_immutable_and_hashable() -> None:
    m = eur("1.00")
    with pytest.raises(AttributeError):
        m.amount = D("2")  # type: ignore[misc]
    assert {eur("1.0"), eur("1.00"), eur("1")} == {eur("1")}
    assert pickle.loads(pickle.dumps(m)) == m


def test_negative_zero_is_stored_as_zero() -> None:
    m = Money.of("-0.00", "EUR")
    assert not m.amount.is_signed()
    assert str(m) == "0.00 EUR"
    assert str(eur("-0.004").round()) == "0.00 EUR"


def test_zero_and_quantum() -> None:
    assert Money.zero("EUR") == eur("0")
    assert str(Money.zero("EUR")) == "0.00 EUR"
    assert Money.zero("JPY").amount == D("0")
    assert eur("1").quantum == D("0.01")
    assert str(eur("1").quantum) == "0.01"
    assert Money(D(1), "JPY").quantum == D("1")
    assert str(Money(D(1), "JPY").quantum) == "1"
    assert Money(D(1), "BHD").quantum == D("0.001")
    assert Money(D(1), "CLF").quantum == D("0.0001")
    assert Money(D(1), "BHD").minor_unit == 3
    with pytest.raises(UnknownCurrency):
        Money.zero("XXX")


# -- equality and ordering --------------------------------------------------------------------


def test_equality_is_numeric_within_a_currency() -> None:
    assert eur("1.0") == eur("1.00")
    assert eur("1.00") != eur("1.01")
    assert eur("1.00") != Money(D("1.00"), "USD")
    assert eur("1.00") != D("1.00")


def test_decimal_point_one_plus_point_two_is_exactly_point_three() -> None:
    total = Money(D("0.1"), "EUR") + Money(D("0.2"), "EUR")
    assert total == Money(D("0.3"), "EUR")
    assert total.amount == D("0.3")
    assert str(total.amount) == "0.3"


def test_ordering() -> None:
    assert eur("1.00") < eur("1.01")
    assert eur("1.00") <= eur("1.0")
    assert eur("2") > eur("-3")
    assert eur("2") >= eur("2.00")
    assert sorted([eur("3"), eur("-1"), eur("2")]) == [eur("-1"), eur("2"), eur("3")]
    assert max(eur("3"), eur("10")) == eur("10")


@pytest.mark.parametrize("op", ["__lt__", "__le__", "__gt__", "__ge__", "__add__", "__sub__"])
def test_mixing_currencies_is_refused(op: str) -> None:
    with pytest.raises(CurrencyMismatch, match="EUR and USD"):
        getattr(eur("1"), op)(Money(D("1"), "USD"))


def test_comparing_with_non_money_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = eur("1") < D("2")  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = eur("1") + D("2")  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = eur("1") + 0  # type: ignore[operator]


def test_truthiness_and_predicates() -> None:
    assert not eur("0.00")
    assert eur("0.01")
    assert eur("-0.01")
    assert eur("0").is_zero() and not eur("0.01").is_zero()
    assert eur("-0.01").is_negative()
    assert not eur("0").is_negative()
    assert not eur("0.01").is_negative()


# -- arithmetic -------------------------------------------------------------------------------


def test_add_sub_neg_abs() -> None:
    assert eur("12.30") + eur("0.70") == eur("13.00")
    assert eur("12.30") - eur("20") == eur("-7.70")
    assert -eur("5.25") == eur("-5.25")
    assert +eur("5.25") == eur("5.25")
    assert abs(eur("-5.25")) == eur("5.25")
    assert abs(eur("5.25")) == eur("5.25")


def test_arithmetic_ignores_a_lowered_global_precision() -> None:
    big = eur("123456789.123456789")
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        assert (big + eur("0.000000001")).amount == D("123456789.123456790")
        assert (big * 3).amount == D("370370367.370370367")


def test_multiplication_by_decimal_and_int_is_exact_and_unrounded() -> None:
    assert eur("12.30") * 3 == eur("36.90")
    assert 3 * eur("12.30") == eur("36.90")
    assert eur("10.00") * D("0.333") == eur("3.33")
    assert (eur("10.00") * D("0.333")).amount.as_tuple().exponent == -5
    assert D("1.5") * eur("2.01") == eur("3.015")
    assert not (eur("2.01") * D("1.5")).is_rounded()


@pytest.mark.parametrize("factor", [1.5, 2.0, True, "2", None])
def test_multiplication_refuses_float_bool_and_others(factor: object) -> None:
    with pytest.raises(TypeError):
        _ = eur("1") * factor  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = factor * eur("1")  # type: ignore[operator]


def test_multiplying_money_by_money_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = eur("1") * eur("2")  # type: ignore[operator]


@pytest.mark.parametrize("factor", [D("NaN"), D("Infinity")])
def test_multiplication_by_non_finite_decimal_is_refused(factor: Decimal) -> None:
    with pytest.raises(ValueError):
        _ = eur("1") * factor


def test_sum() -> None:
    assert Money.sum([], "EUR") == Money.zero("EUR")
    assert Money.sum([eur("0.1")] * 10, "EUR") == eur("1")
    assert Money.sum((eur(x) for x in ["1.10", "2.20", "-0.30"]), "EUR") == eur("3.00")
    with pytest.raises(CurrencyMismatch):
        Money.sum([eur("1"), Money(D("1"), "USD")], "EUR")
    with pytest.raises(CurrencyMismatch):
        Money.sum([eur("1")], "USD")
    with pytest.raises(TypeError):
        Money.sum([D("1")], "EUR")  # type: ignore[list-item]


# -- rounding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "mode", "expected"),
    [
        ("2.345", "EUR", ROUND_HALF_UP, "2.35"),
        ("2.345", "EUR", ROUND_HALF_EVEN, "2.34"),
        ("2.355", "EUR", ROUND_HALF_EVEN, "2.36"),
        ("2.349", "EUR", ROUND_DOWN, "2.34"),
        ("2.341", "EUR", ROUND_UP, "2.35"),
        ("-2.345", "EUR", ROUND_HALF_UP, "-2.35"),
        ("-2.349", "EUR", ROUND_DOWN, "-2.34"),
        ("1234.5", "JPY", ROUND_HALF_UP, "1235"),
        ("1234.5", "JPY", ROUND_HALF_EVEN, "1234"),
        ("1.2345", "BHD", ROUND_HALF_UP, "1.235"),
        ("1.23456", "CLF", ROUND_HALF_UP, "1.2346"),
        ("7", "EUR", ROUND_HALF_UP, "7.00"),
    ],
)
def test_round(amount: str, currency: str, mode: str, expected: str) -> None:
    rounded = Money.of(amount, currency).round(mode)
    assert rounded.currency == currency
    assert str(rounded.amount) == expected  # exact digits, including the currency's exponent
    assert rounded.is_rounded()


def test_round_defaults_to_half_up() -> None:
    assert eur("0.125").round() == eur("0.13")


@pytest.mark.parametrize("mode", ["HALF_UP", "round_half_up", "", None, 2])
def test_round_refuses_unknown_modes(mode: object) -> None:
    with pytest.raises(ValueError):
        eur("1.005").round(mode)  # type: ignore[arg-type]


def test_all_decimal_rounding_modes_are_accepted() -> None:
    assert len(ROUNDING_MODES) == 8
    for mode in ROUNDING_MODES:
        assert eur("1.005").round(mode).is_rounded()


def test_is_rounded_is_numeric() -> None:
    assert eur("12.30").is_rounded()
    assert eur("12.3").is_rounded()
    assert eur("12.300000").is_rounded()
    assert eur("1E+3").is_rounded()
    assert not eur("12.305").is_rounded()
    assert Money.of("1200", "JPY").is_rounded()
    assert not Money.of("1200.5", "JPY").is_rounded()
    assert Money.of("1.234", "BHD").is_rounded()
    assert not Money.of("1.2345", "BHD").is_rounded()


# -- allocation -------------------------------------------------------------------------------


def test_allocate_even_split_spreads_remainder_to_earlier_parts_on_ties() -> None:
    assert eur("100.00").allocate([1, 1, 1]) == [eur("33.34"), eur("33.33"), eur("33.33")]
    assert eur("0.05").allocate([1, 1, 1]) == [eur("0.02"), eur("0.02"), eur("0.01")]


def test_allocate_gives_remainder_to_largest_fractional_share() -> None:
    # Exact shares: 0.3, 0.3, 0.4 of 0.05 -> 1.5, 1.5, 2.0 cents; the two leftover-eligible
    # parts tie on .5, one cent is left, so the earlier one wins.
    assert eur("0.05").allocate([D("0.3"), D("0.3"), D("0.4")]) == [eur("0.02"), eur("0.01"), eur("0.02")]
    # Shares 70/3 = 23.33.. and 2*70/3 = 46.66..: the larger remainder (.66) gets the cent.
    assert eur("0.70").allocate([1, 2]) == [eur("0.23"), eur("0.47")]


def test_allocate_proportional() -> None:
    assert eur("10.00").allocate([D("70"), D("20"), D("10")]) == [eur("7.00"), eur("2.00"), eur("1.00")]
    assert Money.of("1000", "JPY").allocate([1, 2]) == [Money.of("333", "JPY"), Money.of("667", "JPY")]
    assert Money.of("1.000", "BHD").allocate([1, 1, 1]) == [
        Money.of("0.334", "BHD"),
        Money.of("0.333", "BHD"),
        Money.of("0.333", "BHD"),
    ]


def test_allocate_parts_carry_the_currency_exponent() -> None:
    parts = eur("10").allocate([1, 3])
    assert [str(p.amount) for p in parts] == ["2.50", "7.50"]


def test_allocate_zero_weight_gets_nothing() -> None:
    assert eur("0.03").allocate([0, 1, 1, 0]) == [eur("0"), eur("0.02"), eur("0.01"), eur("0")]


def test_allocate_negative_amount_mirrors_positive() -> None:
    assert eur("-100.00").allocate([1, 1, 1]) == [eur("-33.34"), eur("-33.33"), eur("-33.33")]
    assert eur("-0.70").allocate([1, 2]) == [eur("-0.23"), eur("-0.47")]


def test_allocate_zero_amount() -> None:
    assert eur("0").allocate([1, 2]) == [eur("0"), eur("0")]


@pytest.mark.parametrize("weights", [[], [-1, 2], [0, 0], [D("0"), D("-0")], [D("NaN")], [D("Infinity")]])
def test_allocate_refuses_bad_weights(weights: list[Decimal | int]) -> None:
    with pytest.raises(ValueError):
        eur("1.00").allocate(weights)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [True, False], ["1", "1"], "11", 3])
def test_allocate_refuses_non_decimal_weights(weights: object) -> None:
    with pytest.raises(TypeError):
        eur("1.00").allocate(weights)  # type: ignore[arg-type]


def test_allocate_refuses_unrounded_amount() -> None:
    with pytest.raises(ValueError, match="round"):
        eur("1.005").allocate([1, 1])


# -- text and serialisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money.of("12.30", "EUR"), "12.30 EUR"),
        (Money.of("12.3", "EUR"), "12.30 EUR"),
        (Money.of("12", "EUR"), "12.00 EUR"),
        (Money.of("1E+2", "EUR"), "100.00 EUR"),
        (Money.of("-5.5", "EUR"), "-5.50 EUR"),
        (Money.of("1234", "JPY"), "1234 JPY"),
        (Money.of("1.5", "BHD"), "1.500 BHD"),
        (Money.of("12.345", "EUR"), "12.345 EUR"),  # unrounded digits are shown, not hidden
    ],
)
def test_str(money: Money, text: str) -> None:
    assert str(money) == text


def test_to_dict_uses_string_amounts() -> None:
    assert Money.of("12.30", "EUR").to_dict() == {"amount": "12.30", "currency": "EUR"}
    assert Money.of("1E+2", "JPY").to_dict() == {"amount": "100", "currency": "JPY"}
    assert json.loads(json.dumps(eur("0.1").to_dict())) == {"amount": "0.10", "currency": "EUR"}


def test_from_dict() -> None:
    assert Money.from_dict({"amount": "12.30", "currency": "EUR"}) == eur("12.30")
    assert Money.from_dict({"amount": 5, "currency": "JPY"}) == Money(D(5), "JPY")
    with pytest.raises(TypeError):
        Money.from_dict({"amount": 12.3, "currency": "EUR"})
    with pytest.raises(ValueError):
        Money.from_dict({"amount": "1"})
    with pytest.raises(ValueError):
        Money.from_dict({"ammount": "1", "currency": "EUR"})
    with pytest.raises(ValueError):
        Money.from_dict({"amount": "1", "currency": "EUR", "extra": 1})
    with pytest.raises(UnknownCurrency):
        Money.from_dict({"amount": "1", "currency": "eur"})
    with pytest.raises(TypeError):
        Money.from_dict([("amount", "1"), ("currency", "EUR")])  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------

PLACES = {"EUR": 2, "JPY": 0, "BHD": 3, "CLF": 4}


@st.composite
def rounded_money(draw: st.DrawFn, currency: str | None = None) -> Money:
    code = currency or draw(st.sampled_from(sorted(PLACES)))
    units = draw(st.integers(min_value=-(10**15), max_value=10**15))
    return Money(D(units).scaleb(-PLACES[code]), code)


def any_money(currency: str = "EUR") -> st.SearchStrategy[Money]:
    amounts = st.decimals(
        min_value=-(10**12), max_value=10**12, places=6, allow_nan=False, allow_infinity=False
    )
    return amounts.map(lambda d: Money(d, currency))


weights_strategy = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=10**6),
        st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=12,
).filter(lambda ws: any(w > 0 for w in ws))


@given(rounded_money(), weights_strategy)
def test_allocate_parts_sum_to_original_and_are_rounded(money: Money, weights: list[Decimal | int]) -> None:
    parts = money.allocate(weights)
    assert len(parts) == len(weights)
    assert Money.sum(parts, money.currency) == money
    for part, weight in zip(parts, weights, strict=True):
        assert part.currency == money.currency
        assert part.is_rounded()
        if weight == 0:
            assert part.is_zero()
        # Parts never have the opposite sign of the whole.
        assert not (part.is_negative() and not money.is_negative())
        assert not (money.is_negative() and part > Money.zero(money.currency))


@given(rounded_money(), weights_strategy)
def test_allocate_parts_are_within_one_minor_unit_of_exact_share(
    money: Money, weights: list[Decimal | int]
) -> None:
    total_weight = sum(D(w) for w in weights)
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        for part, weight in zip(money.allocate(weights), weights, strict=True):
            exact = money.amount * D(weight) / total_weight
            assert abs(part.amount - exact) < money.quantum


@given(rounded_money(), weights_strategy)
def test_allocate_negation_is_symmetric(money: Money, weights: list[Decimal | int]) -> None:
    assert (-money).allocate(weights) == [-p for p in money.allocate(weights)]


@given(any_money(), any_money())
def test_add_then_subtract_is_identity(a: Money, b: Money) -> None:
    assert a + b - b == a
    assert a + b == b + a


@given(any_money(), st.sampled_from(sorted(ROUNDING_MODES)))
def test_rounding_is_idempotent(m: Money, mode: str) -> None:
    once = m.round(mode)
    assert once.is_rounded()
    assert once.round(mode) == once
    assert once.round(ROUND_HALF_UP) == once  # a rounded amount is left alone by every mode
    assert abs(once - m) < Money(m.quantum, m.currency)


@given(any_money())
def test_dict_round_trip(m: Money) -> None:
    assert Money.from_dict(json.loads(json.dumps(m.to_dict()))) == m


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_always_refused(value: float) -> None:
    with pytest.raises(TypeError):
        Money.of(value, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(value, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ = eur("1") * value  # type: ignore[operator]
