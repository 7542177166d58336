"""Tax kinds (fixed, division, cascading, groups, zero rated) and the rounding conventions: the worked
examples of docs/pricing-and-tax.md, number for number."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from retailcore.pricing.taxes import (
    ODOO,
    RETAILCORE,
    TaxableLine,
    TaxConventions,
    TaxRules,
    TaxSpec,
    compute_taxes,
    tax_line_alone,
)

D = Decimal
GLOBAL = TaxConventions(rounding="global")
ODOO_GLOBAL = replace(ODOO, rounding="global")
ODOO_FIRST = replace(ODOO, remainder="first")


def tax(code: str, rate: str = "0", *, included: bool = False, kind: str = "percent", **kw) -> TaxSpec:
    return TaxSpec(
        code, code, D(rate), included, kw.pop("rounding", "line"), kw.pop("sequence", 0), kind, **kw
    )  # type: ignore[arg-type]


VAT20 = tax("VAT20", "20", included=True)
QC_A = tax("A10", "10", included=True, sequence=1)
QC_B = tax("B5", "5", included=True, sequence=2)


def split(line) -> tuple[Decimal, ...]:
    return (line.net, *(t.amount for t in line.taxes), line.gross)


def doc(amounts: list[str], taxes: list[TaxSpec], conventions: TaxConventions = RETAILCORE, qty: str = "1"):
    lines = [TaxableLine(str(n), D(a), "c", D(qty)) for n, a in enumerate(amounts)]
    return compute_taxes(lines, {"c": taxes}, "EUR", conventions=conventions)


# -- the half-cent included tax ----------------------------------------------------------------------


def test_half_cent_included_tax_first_rounds_the_tax_and_the_net_absorbs():
    # 10.53 / 1.2 = 8.775 exactly, tax 1.755: the tax rounds up to 1.76, the net is 10.53 - 1.76 = 8.77.
    assert split(doc(["10.53"], [VAT20]).line("0")) == (D("8.77"), D("1.76"), D("10.53"))


def test_half_cent_included_base_first_rounds_the_net_and_derives_the_tax():
    # Odoo: the net 8.775 rounds up to 8.78 and the tax is what the gross leaves: 1.75.
    line = doc(["10.53"], [VAT20], ODOO).line("0")
    assert split(line) == (D("8.78"), D("1.75"), D("10.53"))
    assert line.taxes[0].base == D("8.78")


# -- two included taxes on one line: where the cent falls ---------------------------------------------


def test_two_included_taxes_tax_first_rounds_each_and_the_net_absorbs():
    # 0.27 / 1.15 = 0.234782...; A 0.023478 -> 0.02, B 0.011739 -> 0.01, net 0.27 - 0.03 = 0.24.
    assert split(doc(["0.27"], [QC_A, QC_B]).line("0")) == (D("0.24"), D("0.02"), D("0.01"), D("0.27"))


def test_two_included_taxes_odoo_puts_the_cent_on_the_last_included_tax():
    # Net 0.234782 -> 0.23; A = 0.23 x 10 % = 0.023 -> 0.02; B (last) = 0.27 - 0.23 - 0.02 = 0.02.
    assert split(doc(["0.27"], [QC_A, QC_B], ODOO).line("0")) == (D("0.23"), D("0.02"), D("0.02"), D("0.27"))


def test_two_included_taxes_remainder_on_the_first_tax():
    # B = 0.23 x 5 % = 0.0115 -> 0.01; A (first) = 0.27 - 0.23 - 0.01 = 0.03.
    line = doc(["0.27"], [QC_A, QC_B], ODOO_FIRST).line("0")
    assert split(line) == (D("0.23"), D("0.03"), D("0.01"), D("0.27"))


# -- fixed, division, cascading, groups, zero rated -----------------------------------------------------


def test_fixed_tax_on_a_zero_price_is_charged_per_unit():
    eco = tax("ECO", kind="fixed", amount=D("0.50"))
    d = doc(["0.00"], [eco], qty="3")
    assert split(d.line("0")) == (D("0.00"), D("1.50"), D("1.50"))
    assert (d.net_total, d.tax_total, d.gross_total) == (D("0.00"), D("1.50"), D("1.50"))


def test_fixed_tax_included_comes_off_the_gross_before_the_percentage():
    # 12.60 gross, 0.60 fixed included (2 x 0.30) then VAT 20 % included on the rest: net 10.00.
    eco = tax("ECO", kind="fixed", amount=D("0.30"), included=True, sequence=-1)
    assert split(doc(["12.60"], [eco, VAT20], qty="2").line("0")) == (
        D("10.00"),
        D("0.60"),
        D("2.00"),
        D("12.60"),
    )


def test_fixed_tax_follows_the_sign_of_a_refund_line():
    eco = tax("ECO", kind="fixed", amount=D("0.50"))
    assert split(doc(["-10.00"], [eco], qty="2").line("0")) == (D("-10.00"), D("-1.00"), D("-11.00"))


def test_division_included_is_the_rate_of_the_price():
    div = tax("DIV", "10", included=True, kind="division")
    assert split(doc(["100.00"], [div]).line("0")) == (D("90.00"), D("10.00"), D("100.00"))


def test_division_excluded_grosses_up_the_net():
    div = tax("DIV", "10", kind="division")
    assert split(doc(["90.00"], [div]).line("0")) == (D("90.00"), D("10.00"), D("100.00"))


def test_cascading_tax_raises_the_base_of_the_next():
    # Excise 10 % on 100.00 = 10.00, affects the base: VAT 20 % on 110.00 = 22.00.
    excise = tax("EXC", "10", affects_base=True, sequence=1)
    vat = tax("VAT", "20", sequence=2)
    line = doc(["100.00"], [excise, vat]).line("0")
    assert split(line) == (D("100.00"), D("10.00"), D("22.00"), D("132.00"))
    assert [t.base for t in line.taxes] == [D("100.00"), D("110.00")]


def test_cascading_included_solves_the_net_exactly():
    # 132.00 = net x 1.10 x 1.20: net 100.00, excise 10.00, VAT 22.00 on 110.00.
    excise = tax("EXC", "10", included=True, affects_base=True, sequence=1)
    vat = tax("VAT", "20", included=True, sequence=2)
    for conventions in (RETAILCORE, ODOO):
        line = doc(["132.00"], [excise, vat], conventions).line("0")
        assert split(line) == (D("100.00"), D("10.00"), D("22.00"), D("132.00"))


def test_group_applies_its_children_in_its_place_and_names_itself():
    state = tax("US-CA-STATE", "6.25")
    county = tax("US-CA-COUNTY", "1")
    group = tax("US-CA", kind="group", children=(state, county))
    d = doc(["19.99"], [group])
    line = d.line("0")
    assert split(line) == (D("19.99"), D("1.25"), D("0.20"), D("21.44"))
    assert [(t.code, t.group) for t in line.taxes] == [("US-CA-STATE", "US-CA"), ("US-CA-COUNTY", "US-CA")]
    assert [(t.code, t.group, t.amount) for t in d.totals] == [
        ("US-CA-STATE", "US-CA", D("1.25")),
        ("US-CA-COUNTY", "US-CA", D("0.20")),
    ]


def test_group_without_children_or_nested_is_refused():
    with pytest.raises(ValueError, match="no taxes"):
        doc(["1.00"], [tax("G", kind="group")])
    inner = tax("G1", kind="group", children=(tax("T", "1"),))
    with pytest.raises(ValueError, match="another group"):
        doc(["1.00"], [tax("G", kind="group", children=(inner,))])


def test_zero_rated_rule_with_no_taxes():
    d = doc(["10.00", "5.55"], [])
    assert [split(line) for line in d.lines] == [(D("10.00"), D("10.00")), (D("5.55"), D("5.55"))]
    assert (d.net_total, d.tax_total, d.gross_total, d.totals) == (D("15.55"), D("0.00"), D("15.55"), ())


# -- per line or global ---------------------------------------------------------------------------------


def test_global_rounding_keeps_the_unrounded_line_taxes():
    d = doc(["0.99"] * 3, [tax("VAT", "20")], GLOBAL)
    assert [t.unrounded for line in d.lines for t in line.taxes] == [D("0.1980000")] * 3
    assert [line.tax for line in d.lines] == [D("0.20"), D("0.20"), D("0.19")]
    assert (d.tax_total, d.gross_total) == (D("0.59"), D("3.56"))
    assert d.total("VAT").rounding == "document"


def test_line_rounding_overrides_a_tax_rounded_per_document():
    d = doc(["0.99"] * 3, [tax("VAT", "20", rounding="document")], TaxConventions(rounding="line"))
    assert (d.tax_total, d.gross_total) == (D("0.60"), D("3.57"))


def test_odoo_global_included_rounds_each_net_and_the_tax_total_once():
    # Each net 0.99 / 1.2 = 0.825 -> 0.83; each tax 0.99 - 0.83 = 0.16 unrounded; total 0.48.
    d = doc(["0.99"] * 3, [VAT20], ODOO_GLOBAL)
    assert [split(line) for line in d.lines] == [(D("0.83"), D("0.16"), D("0.99"))] * 3
    assert (d.net_total, d.tax_total, d.gross_total) == (D("2.49"), D("0.48"), D("2.97"))
    # retailcore's global rounding of the same basket: tax 0.495 -> 0.50, nets absorb (2.47).
    d = doc(["0.99"] * 3, [VAT20], GLOBAL)
    assert (d.net_total, d.tax_total, d.gross_total) == (D("2.47"), D("0.50"), D("2.97"))


def test_conventions_ride_on_the_loaded_rules_and_name_their_preset():
    rules = TaxRules({"c": [VAT20]}, ODOO)
    d = compute_taxes([TaxableLine("0", D("10.53"), "c")], rules, "EUR")
    assert (d.line("0").net, d.conventions.preset) == (D("8.78"), "odoo")
    assert RETAILCORE.preset == "retailcore" and ODOO_FIRST.preset == "custom"
    assert tax_line_alone((VAT20,), D("10.53"), "EUR", ODOO).net == D("8.78")
    with pytest.raises(ValueError):
        TaxConventions(rounding="sometimes")  # type: ignore[arg-type]
