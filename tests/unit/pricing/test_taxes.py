"""The pure tax engine: worked examples (the ones in docs/pricing-and-tax.md) and properties."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retailcore.core.currencies import minor_unit
from retailcore.pricing.taxes import NoTaxRule, TaxableLine, TaxSpec, compute_taxes

D = Decimal


def vat(rate: str = "20", *, included: bool = True, rounding: str = "line", code: str = "VAT") -> TaxSpec:
    return TaxSpec(code, f"VAT {rate}%", D(rate), included, rounding, 0)  # type: ignore[arg-type]


def one_line(amount: str, taxes: list[TaxSpec], currency: str = "EUR"):
    return compute_taxes([TaxableLine("1", D(amount), "standard")], {"standard": taxes}, currency)


# -- worked examples ---------------------------------------------------------------------------------


def test_french_vat_included_splits_12_into_10_net_and_2_tax():
    doc = one_line("12.00", [vat()])
    line = doc.line("1")
    assert (line.net, line.gross, line.tax) == (D("10.00"), D("12.00"), D("2.00"))
    assert line.taxes[0].base == D("10.00")
    assert (doc.net_total, doc.tax_total, doc.gross_total) == (D("10.00"), D("2.00"), D("12.00"))


def test_french_vat_included_on_19_99_keeps_the_gross_and_rounds_the_tax():
    # 19.99 / 1.2 = 16.658333..., tax 3.331666... -> 3.33; the net absorbs: 19.99 - 3.33 = 16.66.
    line = one_line("19.99", [vat()]).line("1")
    assert (line.net, line.tax, line.gross) == (D("16.66"), D("3.33"), D("19.99"))


def test_us_state_and_county_tax_apply_on_the_same_net_without_compounding():
    state = TaxSpec("STATE", "State", D("6.25"), False, "line", 1)
    county = TaxSpec("COUNTY", "County", D("1"), False, "line", 2)
    doc = one_line("19.99", [county, state], "USD")  # given out of order: sequence decides
    line = doc.line("1")
    assert [(t.code, t.base, t.amount) for t in line.taxes] == [
        ("STATE", D("19.99"), D("1.25")),  # 1.249375
        ("COUNTY", D("19.99"), D("0.20")),  # 0.1999, not 1% of 21.24
    ]
    assert (line.net, line.tax, line.gross) == (D("19.99"), D("1.45"), D("21.44"))
    assert [t.code for t in doc.totals] == ["STATE", "COUNTY"]


def test_three_lines_of_0_99_line_rounding_vs_document_rounding():
    lines = [TaxableLine(str(n), D("0.99"), "standard") for n in range(3)]
    # Each line: 0.99 x 20 % = 0.198.
    per_line = compute_taxes(lines, {"standard": [vat(included=False)]}, "EUR")
    assert [line.tax for line in per_line.lines] == [D("0.20")] * 3
    assert (per_line.tax_total, per_line.gross_total) == (D("0.60"), D("3.57"))

    per_doc = compute_taxes(lines, {"standard": [vat(included=False, rounding="document")]}, "EUR")
    # 3 x 0.198 = 0.594 -> 0.59; spread by largest remainder, earlier lines first on ties.
    assert [line.tax for line in per_doc.lines] == [D("0.20"), D("0.20"), D("0.19")]
    assert (per_doc.net_total, per_doc.tax_total, per_doc.gross_total) == (D("2.97"), D("0.59"), D("3.56"))


def test_document_rounding_with_included_tax_keeps_the_gross_and_moves_the_net():
    lines = [TaxableLine(str(n), D("0.99"), "standard") for n in range(3)]
    doc = compute_taxes(lines, {"standard": [vat(rounding="document")]}, "EUR")
    # 0.99 / 1.2 = 0.825 net, 0.165 tax per line; 0.495 -> 0.50 for the document.
    assert [line.gross for line in doc.lines] == [D("0.99")] * 3
    assert [line.tax for line in doc.lines] == [D("0.17"), D("0.17"), D("0.16")]
    assert [line.net for line in doc.lines] == [D("0.82"), D("0.82"), D("0.83")]
    assert (doc.net_total, doc.tax_total, doc.gross_total) == (D("2.47"), D("0.50"), D("2.97"))


def test_yen_has_no_decimals():
    line = one_line("1000", [TaxSpec("JP-CT-10", "Consumption tax", D("10"), True, "line", 0)], "JPY").line(
        "1"
    )
    # 1000 / 1.1 = 909.09..., tax 90.909... -> 91, net 909.
    assert (line.net, line.tax, line.gross) == (D("909"), D("91"), D("1000"))


def test_a_tax_exempt_rule_taxes_nothing():
    line = one_line("5.00", []).line("1")
    assert (line.net, line.tax, line.gross, line.taxes) == (D("5.00"), D("0"), D("5.00"), ())


def test_refund_lines_round_symmetrically():
    line = one_line("-19.99", [vat()]).line("1")
    assert (line.net, line.tax, line.gross) == (D("-16.66"), D("-3.33"), D("-19.99"))


def test_a_category_without_a_rule_is_named_in_the_error():
    with pytest.raises(NoTaxRule, match="books") as caught:
        compute_taxes([TaxableLine("1", D("1.00"), "books")], {"standard": [vat()]}, "EUR")
    assert caught.value.tax_category == "books"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("amount", "error"),
    [(D("1.001"), ValueError), (1.5, TypeError), (D("NaN"), TypeError)],
)
def test_amounts_must_be_decimals_at_the_minor_unit(amount, error):
    with pytest.raises(error):
        compute_taxes([TaxableLine("1", amount, "standard")], {"standard": [vat()]}, "EUR")


def test_duplicate_keys_and_conflicting_codes_are_refused():
    with pytest.raises(ValueError, match="twice"):
        compute_taxes([TaxableLine("a", D("1"), "s")] * 2, {"s": [vat()]}, "EUR")
    rules = {"s": [vat("20")], "r": [vat("5.5")]}
    with pytest.raises(ValueError, match="VAT"):
        compute_taxes([TaxableLine("a", D("1"), "s"), TaxableLine("b", D("1"), "r")], rules, "EUR")


# -- properties --------------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["EUR", "JPY", "BHD", "USD"])
RATES = st.decimals(min_value=0, max_value=30, places=3, allow_nan=False, allow_infinity=False)


@st.composite
def documents(draw):
    currency = draw(CURRENCIES)
    places = minor_unit(currency)
    categories = {}
    for category in ("a", "b"):
        count = draw(st.integers(0, 3))
        categories[category] = [
            TaxSpec(
                f"{category}{n}",
                f"tax {category}{n}",
                draw(RATES),
                draw(st.booleans()),
                draw(st.sampled_from(["line", "document"])),
                n,
            )
            for n in range(count)
        ]
    units = st.integers(-(10**7), 10**7)
    lines = [
        TaxableLine(str(n), Decimal(draw(units)).scaleb(-places), draw(st.sampled_from(["a", "b"])))
        for n in range(draw(st.integers(1, 8)))
    ]
    return currency, lines, categories


@settings(max_examples=300, deadline=None)
@given(documents())
def test_net_plus_tax_is_gross_per_line_and_per_document(doc_input):
    currency, lines, rules = doc_input
    doc = compute_taxes(lines, rules, currency)
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    for line in doc.lines:
        assert line.net + line.tax == line.gross
        for figure in (line.net, line.gross, *(t.amount for t in line.taxes)):
            assert isinstance(figure, Decimal)
            assert figure == figure.quantize(quantum)  # at the minor unit
    assert doc.net_total + doc.tax_total == doc.gross_total
    assert doc.net_total == sum((line.net for line in doc.lines), Decimal(0))
    assert doc.gross_total == sum((line.gross for line in doc.lines), Decimal(0))
    assert doc.tax_total == sum((t.amount for t in doc.totals), Decimal(0))


@settings(max_examples=300, deadline=None)
@given(documents())
def test_document_rounding_total_is_the_rounded_exact_sum(doc_input):
    currency, lines, rules = doc_input
    doc = compute_taxes(lines, rules, currency)
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    for total in doc.totals:
        exact_by_line = []
        for line in lines:
            taxes = rules[line.tax_category]
            if total.code not in {t.code for t in taxes}:
                continue
            included = sum((Fraction(t.rate_percent) for t in taxes if t.price_included), Fraction(0))
            exact_by_line.append(
                Fraction(line.amount) / (1 + included / 100) * Fraction(total.rate_percent) / 100
            )
        per_line = [t.amount for line in doc.lines for t in line.taxes if t.code == total.code]
        assert total.amount == sum(per_line, Decimal(0))
        exact = sum(exact_by_line, Fraction(0))
        if total.rounding == "document":
            with localcontext() as ctx:
                ctx.prec = 80  # far more digits than any amount here, so the division decides rounding
                approx = Decimal(exact.numerator) / Decimal(exact.denominator)
                assert total.amount == approx.quantize(quantum, rounding=ROUND_HALF_UP)
        # Whatever the rounding, no line is more than one minor unit away from its exact share.
        for amount, share in zip(per_line, exact_by_line, strict=True):
            assert abs(Fraction(amount) - share) < Fraction(quantum)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 5))
def test_yen_figures_are_whole(units, count):
    lines = [TaxableLine(str(n), Decimal(units), "s") for n in range(count)]
    doc = compute_taxes(lines, {"s": [vat("10", rounding="document"), vat("8", code="X")]}, "JPY")
    for line in doc.lines:
        for figure in (line.net, line.gross, line.tax):
            assert figure == figure.to_integral_value()
    assert doc.net_total + doc.tax_total == doc.gross_total


@settings(max_examples=200, deadline=None)
@given(
    cents=st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=6),
    included=st.booleans(),
    second=st.sampled_from([None, "0.5", "2.75"]),
)
def test_a_line_taxed_alone_is_what_any_document_gives_it_when_taxes_round_per_line(cents, included, second):
    from retailcore.pricing.taxes import tax_line_alone

    taxes = [vat("20", included=included)]
    if second is not None:
        taxes.append(TaxSpec("LOCAL", "Local", D(second), included, "line", 1))
    amounts = [D(c).scaleb(-2) for c in cents]
    document = compute_taxes(
        [TaxableLine(str(n), amount, "standard") for n, amount in enumerate(amounts)],
        {"standard": taxes},
        "EUR",
    )
    for n, amount in enumerate(amounts):
        alone = tax_line_alone(tuple(taxes), amount, "EUR")
        in_document = document.line(str(n))
        assert (alone.net, alone.gross, alone.taxes) == (
            in_document.net,
            in_document.gross,
            in_document.taxes,
        )
