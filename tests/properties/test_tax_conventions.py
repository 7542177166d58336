"""For random baskets, every tax kind and every rounding convention, the documented identity holds:
net + tax = gross per line and per document, totals are the sums of the lines, and a tax rounded per
document is its unrounded total rounded once, spread so that no line is a minor unit off its share."""

from __future__ import annotations

import itertools
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from retailcore.pricing.taxes import TaxableLine, TaxConventions, TaxSpec, compute_taxes

D = Decimal
CONVENTIONS = [
    TaxConventions(rounding, included, remainder)
    for rounding, included, remainder in itertools.product(
        ("per_tax", "line", "global"), ("tax_first", "base_first"), ("last", "first")
    )
]
RATES = [D("0"), D("2.5"), D("5"), D("7.7"), D("10"), D("19.6"), D("20"), D("33.33")]
CENT = D("0.01")


@st.composite
def taxes(draw, prefix: str, included: bool) -> list[TaxSpec]:
    count = draw(st.integers(0, 3))
    specs = []
    for n in range(count):
        kind = draw(st.sampled_from(["percent", "percent", "fixed", "division"]))
        specs.append(
            TaxSpec(
                code=f"{prefix}{n}",
                name=f"{prefix}{n}",
                rate_percent=draw(st.sampled_from(RATES)),
                price_included=included if kind != "fixed" else draw(st.booleans()) and included,
                rounding=draw(st.sampled_from(["line", "document"])),
                sequence=n,
                kind=kind,
                amount=draw(st.sampled_from([D("0"), D("0.05"), D("0.125"), D("1.00")])),
                affects_base=draw(st.booleans()),
            )
        )
    return specs


@st.composite
def baskets(draw):
    included = draw(st.booleans())
    rules = {
        "a": draw(taxes("A", included)),
        "b": draw(taxes("B", included)),
    }
    children = draw(taxes("G", included))
    rules["g"] = (
        [TaxSpec("GRP", "group", D(0), included, "line", 0, "group", children=tuple(children))]
        if children
        else []
    )
    lines = [
        TaxableLine(
            str(n),
            D(draw(st.integers(0, 50_000))) / 100,
            draw(st.sampled_from(sorted(rules))),
            D(draw(st.integers(1, 12))),
        )
        for n in range(draw(st.integers(1, 8)))
    ]
    return lines, rules


@settings(max_examples=60, deadline=None)
@given(baskets(), st.sampled_from(CONVENTIONS))
def test_net_plus_tax_is_gross_per_line_and_per_document(basket, conventions):
    lines, rules = basket
    doc = compute_taxes(lines, rules, "EUR", conventions=conventions)
    for entered, line in zip(lines, doc.lines, strict=True):
        assert line.net + line.tax == line.gross
        for value in (line.net, line.gross, *(t.amount for t in line.taxes)):
            assert value == value.quantize(CENT)
        excluded = sum((t.amount for t in line.taxes if not _spec(rules, t.code).price_included), D(0))
        if conventions.included == "tax_first":
            assert line.gross - excluded == entered.amount  # the entered amount stays; the net absorbs
        if not any(t.price_included for t in _flat(rules[entered.tax_category])):
            assert line.net == entered.amount  # a net line keeps its net
        for t in line.taxes:
            if conventions.mode(_spec(rules, t.code)) == "line":
                # rounded on the line: within half a cent of the unrounded amount (which keeps 7 places)
                assert abs(t.amount - t.unrounded) <= D("0.0050001")
            else:
                assert abs(t.amount - t.unrounded) < CENT
    assert doc.net_total == sum((line.net for line in doc.lines), D(0))
    assert doc.gross_total == sum((line.gross for line in doc.lines), D(0))
    assert doc.net_total + doc.tax_total == doc.gross_total
    assert doc.tax_total == sum((t.amount for t in doc.totals), D(0))
    for total in doc.totals:
        shares = [t for line in doc.lines for t in line.taxes if t.code == total.code]
        assert total.amount == sum((t.amount for t in shares), D(0))
        if total.rounding == "document":
            # rounded once: the unrounded shares' sum, rounded (to within the 7 kept places)
            unrounded = sum((t.unrounded for t in shares), D(0))
            assert abs(total.amount - unrounded) <= D("0.005") + D("0.0000001") * len(shares)


def _flat(specs):
    for spec in specs:
        yield from spec.children if spec.kind == "group" else (spec,)


def _spec(rules, code):
    for specs in rules.values():
        for spec in _flat(specs):
            if spec.code == code:
                return spec
    raise KeyError(code)


def test_half_up_is_what_the_unrounded_amount_rounds_to():
    # A sanity anchor for the property above: unrounded amounts are ROUND_HALF_UP at 7 places.
    doc = compute_taxes(
        [TaxableLine("0", D("0.99"), "c")], {"c": [TaxSpec("T", "T", D("20"), False, "line", 0)]}, "EUR"
    )
    tax = doc.line("0").taxes[0]
    assert tax.unrounded == D("0.1980000") and tax.amount == tax.unrounded.quantize(CENT, ROUND_HALF_UP)
