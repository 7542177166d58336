"""The tax engine: what taxes a document bears, line by line, with totals that always reconcile.

Everything above :func:`load_tax_rules` is pure (no I/O), so orders, the POS and returns can all call
it with lines they hold in memory, and it can be tested exhaustively.

Rules (see also docs/pricing-and-tax.md):

* A line's ``amount`` is the amount after discounts in the document currency, already at the
  currency's minor unit. It is **gross** (tax included) when the line's rule has price-included taxes,
  **net** otherwise.
* Several taxes on one line apply in ``sequence`` order, each on the **same net base**: there is no
  tax on tax (compounding). A price-included line's net is ``gross / (1 + sum of included rates/100)``.
* ``rounding="line"``: the tax is rounded on every line, ROUND_HALF_UP to the minor unit.
  ``rounding="document"``: the tax is computed unrounded on every line, the document's total for that
  tax code is rounded once, and the whole minor units are handed back to the lines by largest
  remainder, so the lines add up to the document total exactly.
* For price-included taxes the gross stays as entered and the net absorbs the rounding:
  ``net = gross - included taxes``. For excluded taxes the net stays and ``gross = net + taxes``.
  Either way ``net + tax == gross`` exactly, per line and per document.

Internally exact fractions are used, not Decimal division, so "unrounded" really means exact and the
document-rounded total is exactly the rounded sum of the exact line amounts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from retailcore.core.currencies import minor_unit
from retailcore.masterdata.tables import TaxRule

__all__ = [
    "DocumentTaxes",
    "LineTax",
    "LineTaxes",
    "NoTaxRule",
    "TaxSpec",
    "TaxTotal",
    "TaxableLine",
    "compute_taxes",
    "load_tax_rules",
    "tax_line_alone",
]

Rounding = Literal["line", "document"]


class NoTaxRule(ValueError):
    """A line's tax category has no tax rule in the rules given (often: none in that jurisdiction)."""

    def __init__(self, tax_category: str) -> None:
        super().__init__(f"no tax rule for tax category {tax_category!r}")
        self.tax_category = tax_category


@dataclass(frozen=True)
class TaxSpec:
    """One tax of a rule, as the engine needs it (a :class:`~retailcore.masterdata.tables.Tax`)."""

    code: str
    name: str
    rate_percent: Decimal
    price_included: bool
    rounding: Rounding
    sequence: int


@dataclass(frozen=True)
class TaxableLine:
    """A document line to tax: gross for price-included taxes, net otherwise, after discounts."""

    key: str
    amount: Decimal
    tax_category: str


@dataclass(frozen=True)
class LineTax:
    code: str
    rate_percent: Decimal
    base: Decimal
    """The line's net: every tax of a line has the same base (no compounding)."""
    amount: Decimal


@dataclass(frozen=True)
class LineTaxes:
    key: str
    net: Decimal
    gross: Decimal
    taxes: tuple[LineTax, ...]

    @property
    def tax(self) -> Decimal:
        return sum((t.amount for t in self.taxes), Decimal(0))


@dataclass(frozen=True)
class TaxTotal:
    code: str
    name: str
    rate_percent: Decimal
    price_included: bool
    rounding: Rounding
    base: Decimal
    amount: Decimal


@dataclass(frozen=True)
class DocumentTaxes:
    currency: str
    lines: tuple[LineTaxes, ...]
    totals: tuple[TaxTotal, ...]
    """One per tax code, in order of first appearance (line order, then sequence)."""
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal

    def line(self, key: str) -> LineTaxes:
        for line in self.lines:
            if line.key == key:
                return line
        raise KeyError(key)

    def total(self, code: str) -> TaxTotal:
        for total in self.totals:
            if total.code == code:
                return total
        raise KeyError(code)


# -- exact arithmetic in minor units -----------------------------------------------------------------


def _round_half_up(value: Fraction) -> int:
    """Nearest integer, halves away from zero: ROUND_HALF_UP as :mod:`decimal` defines it."""
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


def _to_decimal(units: int, places: int) -> Decimal:
    # From the digit tuple, so the result is exact and has the currency's exponent (5 -> "0.05").
    sign = 1 if units < 0 else 0
    return Decimal((sign, tuple(int(c) for c in str(abs(units))), -places))


def _minor_units(amount: Decimal, places: int, what: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"{what} must be a finite Decimal, got {amount!r}")
    units = Fraction(amount) * 10**places
    if units.denominator != 1:
        raise ValueError(f"{what} {amount} has more decimals than the currency's {places}")
    return units.numerator


def _spread(total: int, exact: Sequence[Fraction]) -> list[int]:
    """Integer parts of ``exact`` that add up to ``total``, by largest remainder.

    Every part starts at the floor of its exact value; the units still missing go one by one to the
    parts with the largest fractional remainder, earlier parts first on ties. With ``total`` the
    half-up rounding of ``sum(exact)`` the missing units are between 0 and the number of parts with a
    non-zero remainder, so every part ends at its exact value's floor or ceiling.
    """
    parts = [math.floor(e) for e in exact]
    missing = total - sum(parts)
    assert 0 <= missing <= len(parts)
    # sorted() is stable: equal remainders keep line order, so the result is deterministic.
    order = sorted(range(len(exact)), key=lambda i: exact[i] - parts[i], reverse=True)
    for i in order[:missing]:
        parts[i] += 1
    return parts


# -- the engine --------------------------------------------------------------------------------------


@dataclass
class _Work:
    """One line during the computation, in exact fractions of a minor unit."""

    line: TaxableLine
    taxes: list[TaxSpec]
    entered: int
    net_exact: Fraction
    amounts: dict[str, int]


def _rules_for(line: TaxableLine, rules: Mapping[str, Sequence[TaxSpec]]) -> list[TaxSpec]:
    if line.tax_category not in rules:
        raise NoTaxRule(line.tax_category)
    taxes = sorted(rules[line.tax_category], key=lambda t: (t.sequence, t.code))
    if len({t.code for t in taxes}) != len(taxes):
        raise ValueError(f"tax category {line.tax_category!r} has the same tax code twice")
    for tax in taxes:
        if tax.rounding not in ("line", "document"):
            raise ValueError(f"tax {tax.code} has rounding {tax.rounding!r}, not 'line' or 'document'")
        if isinstance(tax.rate_percent, bool) or not isinstance(tax.rate_percent, Decimal):
            raise TypeError(f"tax {tax.code} rate_percent must be a Decimal")
        if not tax.rate_percent.is_finite() or tax.rate_percent < 0:
            raise ValueError(f"tax {tax.code} has an invalid rate {tax.rate_percent}")
    return taxes


def compute_taxes(
    lines: Iterable[TaxableLine], rules: Mapping[str, Sequence[TaxSpec]], currency: str
) -> DocumentTaxes:
    """Tax a document: per line net, gross and taxes; per tax code and for the document, totals.

    ``rules`` maps a tax category to its taxes (see :func:`load_tax_rules`). Raises
    :class:`NoTaxRule` for a category missing from ``rules``, ``ValueError`` for an amount with more
    decimals than ``currency`` has, duplicate line keys, or one tax code defined two different ways.
    """
    places = minor_unit(currency)
    work: list[_Work] = []
    specs: dict[str, TaxSpec] = {}
    for line in lines:
        if any(w.line.key == line.key for w in work):
            raise ValueError(f"line key {line.key!r} is used twice")
        taxes = _rules_for(line, rules)
        for tax in taxes:
            known = specs.setdefault(tax.code, tax)
            # Totals and document rounding group by code, so one code must mean one tax.
            if (known.rate_percent, known.price_included, known.rounding) != (
                tax.rate_percent,
                tax.price_included,
                tax.rounding,
            ):
                raise ValueError(f"tax code {tax.code} is defined with different rates or rules")
        entered = _minor_units(line.amount, places, f"line {line.key!r} amount")
        included = sum((Fraction(t.rate_percent) for t in taxes if t.price_included), Fraction(0))
        net_exact = Fraction(entered) / (1 + included / 100)
        work.append(_Work(line, taxes, entered, net_exact, {}))

    def exact_tax(w: _Work, tax: TaxSpec) -> Fraction:
        return w.net_exact * Fraction(tax.rate_percent) / 100

    # Line rounding: each line on its own.
    for w in work:
        for tax in w.taxes:
            if tax.rounding == "line":
                w.amounts[tax.code] = _round_half_up(exact_tax(w, tax))
    # Document rounding: one rounding per tax code, spread back over the lines bearing it.
    for code, spec in specs.items():
        if spec.rounding != "document":
            continue
        bearing = [w for w in work if code in {t.code for t in w.taxes}]
        exact = [exact_tax(w, spec) for w in bearing]
        total = _round_half_up(sum(exact, Fraction(0)))
        for w, units in zip(bearing, _spread(total, exact), strict=True):
            w.amounts[code] = units

    results: list[LineTaxes] = []
    bases: dict[str, int] = dict.fromkeys(specs, 0)
    amounts: dict[str, int] = dict.fromkeys(specs, 0)
    net_total = gross_total = 0
    for w in work:
        included_tax = sum(w.amounts[t.code] for t in w.taxes if t.price_included)
        excluded_tax = sum(w.amounts[t.code] for t in w.taxes if not t.price_included)
        # Entered gross stays; the net absorbs rounding. Without included taxes that is the entry.
        net = w.entered - included_tax
        gross = net + included_tax + excluded_tax
        net_total += net
        gross_total += gross
        line_taxes = []
        for tax in w.taxes:
            bases[tax.code] += net
            amounts[tax.code] += w.amounts[tax.code]
            line_taxes.append(
                LineTax(
                    tax.code,
                    tax.rate_percent,
                    _to_decimal(net, places),
                    _to_decimal(w.amounts[tax.code], places),
                )
            )
        results.append(
            LineTaxes(w.line.key, _to_decimal(net, places), _to_decimal(gross, places), tuple(line_taxes))
        )

    totals = tuple(
        TaxTotal(
            code=spec.code,
            name=spec.name,
            rate_percent=spec.rate_percent,
            price_included=spec.price_included,
            rounding=spec.rounding,
            base=_to_decimal(bases[code], places),
            amount=_to_decimal(amounts[code], places),
        )
        for code, spec in specs.items()
    )
    return DocumentTaxes(
        currency=currency,
        lines=tuple(results),
        totals=totals,
        net_total=_to_decimal(net_total, places),
        tax_total=_to_decimal(sum(amounts.values()), places),
        gross_total=_to_decimal(gross_total, places),
    )


@lru_cache(maxsize=8192)
def tax_line_alone(taxes: tuple[TaxSpec, ...], amount: Decimal, currency: str) -> LineTaxes:
    """One line taxed on its own (key ``"0"``), remembered for the process.

    Exactly what :func:`compute_taxes` gives a line when its taxes all round per line, which do not
    depend on the other lines. Tills sell the same few thousand (taxes, amount) pairs all day, so a
    POS batch mostly looks its lines up here instead of computing them. Pure, so caching is safe;
    ``TaxSpec`` is frozen, so the key changes when a rate does.
    """
    return compute_taxes([TaxableLine("0", amount, "_")], {"_": taxes}, currency).lines[0]


# -- the one I/O function ----------------------------------------------------------------------------


def load_tax_rules(session: Session, company_id: uuid.UUID, jurisdiction: str) -> dict[str, list[TaxSpec]]:
    """The company's tax rules of one jurisdiction, as :func:`compute_taxes` takes them.

    A category missing from the result has no rule there: :func:`compute_taxes` then raises
    :class:`NoTaxRule` naming it, rather than silently taxing at zero.
    """
    rules = session.scalars(
        select(TaxRule).where(TaxRule.company_id == company_id, TaxRule.jurisdiction == jurisdiction)
    )
    return {
        rule.tax_category: [
            TaxSpec(
                code=tax.code,
                name=tax.name,
                rate_percent=tax.rate_percent,
                price_included=tax.price_included,
                rounding="document" if tax.rounding == "document" else "line",
                sequence=tax.sequence,
            )
            for tax in sorted(rule.taxes, key=lambda t: (t.sequence, t.code))
        ]
        for rule in rules
    }
