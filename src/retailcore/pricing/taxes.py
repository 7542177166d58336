"""The tax engine: what taxes a document bears, line by line, with totals that always reconcile.

Everything above :func:`load_tax_rules` is pure (no I/O), so orders, the POS and returns can all call
it with lines they hold in memory, and it can be tested exhaustively.

Rules (see also docs/pricing-and-tax.md):

* A line's ``amount`` is the amount after discounts in the document currency, already at the
  currency's minor unit. It is **gross** (tax included) when the line's rule has price-included taxes,
  **net** otherwise. Its ``quantity`` (default 1) only matters to fixed taxes.
* Tax kinds (:attr:`TaxSpec.kind`): ``percent`` (``base x rate``), ``fixed`` (``amount`` per unit,
  whatever the price, also on a zero price), ``division`` (the tax is ``rate`` of the gross it is
  included in: ``base x rate / (1 - rate)``, so on a price-included line ``tax = price x rate``) and
  ``group`` (a tax made of its ``children``, which apply in the group's place, in their order).
* Several taxes on one line apply in ``sequence`` order, each on the **same net base**, unless an
  earlier tax ``affects_base`` (cascading): its amount is then added to the base of every later tax.
  A price-included line's net is the exact solution of ``net + included taxes(net) = gross``
  (``gross / (1 + sum of included rates/100)`` when the taxes are plain percentages).
* How amounts are rounded is the company's :class:`TaxConventions`:

  * ``rounding``: ``"per_tax"`` (each tax's own ``rounding``: the default, and the behaviour before
    the conventions existed), ``"line"`` (every tax rounded on every line) or ``"global"`` (every tax
    rounded once per document). A tax rounded per line is ROUND_HALF_UP to the minor unit; a tax
    rounded per document is computed unrounded on every line (kept as :attr:`LineTax.unrounded`), the
    document's total for that tax code is rounded once, and the whole minor units are handed back to
    the lines by largest remainder, so the lines add up to the document total exactly.
  * ``included``: for price-included taxes, ``"tax_first"`` (the default: each tax is rounded, the
    gross stays as entered and the net absorbs the rounding, ``net = gross - included taxes``) or
    ``"base_first"`` (Odoo's: the net is rounded first, the taxes are computed on it and one included
    tax takes what is left of the gross).
  * ``remainder``: under ``base_first``, which included tax takes that cent: the ``"last"`` in
    sequence (Odoo's) or the ``"first"``.

  Either way ``net + tax == gross`` exactly, per line and per document.

Internally exact fractions are used, not Decimal division, so "unrounded" really means exact and the
document-rounded total is exactly the rounded sum of the exact line amounts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from retailcore.core.currencies import minor_unit
from retailcore.masterdata.cache import cached
from retailcore.masterdata.tables import Tax, TaxRule, TaxSettings

__all__ = [
    "ODOO",
    "PRESETS",
    "RETAILCORE",
    "DocumentTaxes",
    "LineTax",
    "LineTaxes",
    "NoTaxRule",
    "TaxConventions",
    "TaxRules",
    "TaxSpec",
    "TaxTotal",
    "TaxableLine",
    "compute_taxes",
    "load_tax_conventions",
    "load_tax_rules",
    "tax_line_alone",
]

Rounding = Literal["line", "document"]
TaxKind = Literal["percent", "fixed", "division", "group"]
RoundingMethod = Literal["per_tax", "line", "global"]
IncludedRounding = Literal["tax_first", "base_first"]
IncludedRemainder = Literal["last", "first"]

UNROUNDED_EXTRA_PLACES = 5
""":attr:`LineTax.unrounded` keeps this many decimals beyond the currency's (Odoo's ``precision + 5``)."""


class NoTaxRule(ValueError):
    """A line's tax category has no tax rule in the rules given (often: none in that jurisdiction)."""

    def __init__(self, tax_category: str) -> None:
        super().__init__(f"no tax rule for tax category {tax_category!r}")
        self.tax_category = tax_category


@dataclass(frozen=True)
class TaxConventions:
    """How a company rounds its taxes (its ``tax_settings``; see the module docstring)."""

    rounding: RoundingMethod = "per_tax"
    included: IncludedRounding = "tax_first"
    remainder: IncludedRemainder = "last"

    def __post_init__(self) -> None:
        if self.rounding not in ("per_tax", "line", "global"):
            raise ValueError(f"rounding {self.rounding!r} is not 'per_tax', 'line' or 'global'")
        if self.included not in ("tax_first", "base_first"):
            raise ValueError(f"included {self.included!r} is not 'tax_first' or 'base_first'")
        if self.remainder not in ("last", "first"):
            raise ValueError(f"remainder {self.remainder!r} is not 'last' or 'first'")

    def mode(self, tax: TaxSpec) -> Rounding:
        """How ``tax`` is rounded under these conventions: per ``line`` or per ``document``."""
        if self.rounding == "per_tax":
            return tax.rounding
        return "line" if self.rounding == "line" else "document"

    @property
    def preset(self) -> str:
        """The name of the preset these conventions are, or ``"custom"``."""
        for name, preset in PRESETS.items():
            if preset == self:
                return name
        return "custom"


RETAILCORE = TaxConventions()
"""The default: each tax rounds as it says, the net absorbs the rounding of included taxes."""
ODOO = TaxConventions(rounding="line", included="base_first", remainder="last")
"""Odoo's (round per line, its company default): the net is rounded first, the last included tax
takes the cent. An Odoo company set to "round globally" is ``replace(ODOO, rounding="global")``."""
PRESETS: dict[str, TaxConventions] = {"retailcore": RETAILCORE, "odoo": ODOO}


@dataclass(frozen=True)
class TaxSpec:
    """One tax of a rule, as the engine needs it (a :class:`~retailcore.masterdata.tables.Tax`)."""

    code: str
    name: str
    rate_percent: Decimal
    price_included: bool
    rounding: Rounding
    sequence: int
    kind: TaxKind = "percent"
    amount: Decimal = Decimal(0)
    """A ``fixed`` tax's amount per unit, in the document currency (may have more decimals)."""
    affects_base: bool = False
    """This tax's amount is added to the base of the taxes after it (cascading)."""
    children: tuple[TaxSpec, ...] = ()
    """A ``group``'s taxes, applied in this order in the group's place (no nested groups)."""
    group: str | None = None
    """The code of the group this tax came from, if any."""


class TaxRules(dict[str, list[TaxSpec]]):
    """Tax category -> taxes, with the company's conventions (what :func:`load_tax_rules` gives).

    :func:`compute_taxes` uses ``conventions`` when it is not given conventions of its own, so a caller
    passing the loaded rules along gets the company's rounding without knowing about it."""

    def __init__(self, rules: Mapping[str, list[TaxSpec]] = (), conventions: TaxConventions = RETAILCORE):
        super().__init__(rules)
        self.conventions = conventions


@dataclass(frozen=True)
class TaxableLine:
    """A document line to tax: gross for price-included taxes, net otherwise, after discounts."""

    key: str
    amount: Decimal
    tax_category: str
    quantity: Decimal = Decimal(1)


@dataclass(frozen=True)
class LineTax:
    code: str
    rate_percent: Decimal
    base: Decimal
    """What the tax was computed on: the line's net, plus the earlier taxes that affect the base."""
    amount: Decimal
    unrounded: Decimal | None = None
    """The exact amount before rounding, to the currency's decimals + 5 (the line's share of a
    document-rounded tax differs from it by less than a minor unit)."""
    kind: TaxKind = "percent"
    group: str | None = None
    name: str = ""

    def as_json(self) -> dict[str, str | None]:
        """The breakdown as order lines store it (decimal strings)."""
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "rate_percent": str(self.rate_percent),
            "base": str(self.base),
            "amount": str(self.amount),
            "unrounded": None if self.unrounded is None else str(self.unrounded),
        }


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
    kind: TaxKind = "percent"
    group: str | None = None


@dataclass(frozen=True)
class DocumentTaxes:
    currency: str
    lines: tuple[LineTaxes, ...]
    totals: tuple[TaxTotal, ...]
    """One per tax code, in order of first appearance (line order, then sequence)."""
    net_total: Decimal
    tax_total: Decimal
    gross_total: Decimal
    conventions: TaxConventions = field(default=RETAILCORE)

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
    net: int | None
    """The rounded net when it is fixed before the taxes (``base_first`` on an included line)."""
    exact: dict[str, Fraction]
    amounts: dict[str, int]


def _check(tax: TaxSpec) -> None:
    if tax.rounding not in ("line", "document"):
        raise ValueError(f"tax {tax.code} has rounding {tax.rounding!r}, not 'line' or 'document'")
    if tax.kind not in ("percent", "fixed", "division", "group"):
        raise ValueError(f"tax {tax.code} has kind {tax.kind!r}")
    for what in ("rate_percent", "amount"):
        value = getattr(tax, what)
        if isinstance(value, bool) or not isinstance(value, Decimal):
            raise TypeError(f"tax {tax.code} {what} must be a Decimal")
        if not value.is_finite():
            raise ValueError(f"tax {tax.code} has an invalid {what} {value}")
    if tax.rate_percent < 0 or (tax.kind == "division" and tax.rate_percent >= 100):
        raise ValueError(f"tax {tax.code} has an invalid rate {tax.rate_percent}")


def _flatten(taxes: Iterable[TaxSpec]) -> list[TaxSpec]:
    """The taxes in the order they apply, each group replaced by its children."""
    flat: list[TaxSpec] = []
    for tax in sorted(taxes, key=lambda t: (t.sequence, t.code)):
        _check(tax)
        if tax.kind != "group":
            flat.append(tax)
            continue
        if not tax.children:
            raise ValueError(f"tax group {tax.code} has no taxes")
        for child in tax.children:
            _check(child)
            if child.kind == "group":
                raise ValueError(f"tax group {tax.code} holds another group {child.code}")
            flat.append(replace(child, group=tax.code))
    return flat


def _rules_for(line: TaxableLine, rules: Mapping[str, Sequence[TaxSpec]]) -> list[TaxSpec]:
    if line.tax_category not in rules:
        raise NoTaxRule(line.tax_category)
    taxes = _flatten(rules[line.tax_category])
    if len({t.code for t in taxes}) != len(taxes):
        raise ValueError(f"tax category {line.tax_category!r} has the same tax code twice")
    return taxes


def _signature(tax: TaxSpec) -> tuple[object, ...]:
    return (
        tax.rate_percent,
        tax.price_included,
        tax.rounding,
        tax.kind,
        tax.amount,
        tax.affects_base,
        tax.group,
    )


def _tax_on(tax: TaxSpec, base: Fraction, fixed: Fraction) -> Fraction:
    """A tax's exact amount on ``base`` (``fixed``: a fixed tax's amount for the line)."""
    if tax.kind == "fixed":
        return fixed
    rate = Fraction(tax.rate_percent) / 100
    if tax.kind == "division":
        return base * rate / (1 - rate)
    return base * rate


def _exact_net(taxes: Sequence[TaxSpec], entered: int, fixed: Mapping[str, Fraction]) -> Fraction:
    """The exact net a price-included line's gross ``entered`` stands for.

    Every tax amount is affine in the net (``a x net + b``), through cascading too, so the included
    ones add up to ``a x net + b`` and ``net + a x net + b = entered`` is solved exactly."""
    base = (Fraction(1), Fraction(0))
    included = (Fraction(0), Fraction(0))
    for tax in taxes:
        if tax.kind == "fixed":
            amount = (Fraction(0), fixed[tax.code])
        else:
            factor = _tax_on(tax, Fraction(1), Fraction(0))
            amount = (base[0] * factor, base[1] * factor)
        if tax.price_included:
            included = (included[0] + amount[0], included[1] + amount[1])
        if tax.affects_base:
            base = (base[0] + amount[0], base[1] + amount[1])
    if 1 + included[0] == 0:  # pragma: no cover - rates are non-negative
        raise ValueError("the included taxes leave no net")
    return (entered - included[1]) / (1 + included[0])


def compute_taxes(
    lines: Iterable[TaxableLine],
    rules: Mapping[str, Sequence[TaxSpec]],
    currency: str,
    *,
    conventions: TaxConventions | None = None,
) -> DocumentTaxes:
    """Tax a document: per line net, gross and taxes; per tax code and for the document, totals.

    ``rules`` maps a tax category to its taxes (see :func:`load_tax_rules`). ``conventions``: how to
    round; by default the ones ``rules`` carries (a :class:`TaxRules`), else :data:`RETAILCORE`.
    Raises :class:`NoTaxRule` for a category missing from ``rules``, ``ValueError`` for an amount with
    more decimals than ``currency`` has, duplicate line keys, or one tax code defined two different
    ways.
    """
    if conventions is None:
        conventions = getattr(rules, "conventions", RETAILCORE)
    places = minor_unit(currency)
    scale = 10**places
    work: list[_Work] = []
    specs: dict[str, TaxSpec] = {}
    keys: set[str] = set()
    for line in lines:
        if line.key in keys:
            raise ValueError(f"line key {line.key!r} is used twice")
        keys.add(line.key)
        taxes = _rules_for(line, rules)
        for tax in taxes:
            known = specs.setdefault(tax.code, tax)
            # Totals and document rounding group by code, so one code must mean one tax.
            if _signature(known) != _signature(tax):
                raise ValueError(f"tax code {tax.code} is defined with different rates or rules")
        entered = _minor_units(line.amount, places, f"line {line.key!r} amount")
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, Decimal):
            raise TypeError(f"line {line.key!r} quantity must be a Decimal")
        # A fixed tax follows the sign of the amount (a refund line gives it back), positive on zero.
        sign = -1 if entered < 0 else 1
        fixed = {
            t.code: sign * abs(Fraction(line.quantity)) * Fraction(t.amount) * scale
            for t in taxes
            if t.kind == "fixed"
        }
        has_included = any(t.price_included for t in taxes)
        net_exact = _exact_net(taxes, entered, fixed) if has_included else Fraction(entered)
        net: int | None = None
        start = net_exact
        if has_included and conventions.included == "base_first":
            net = _round_half_up(net_exact)
            start = Fraction(net)
        # Forward, in sequence: each tax on its base; a tax that affects the base raises the later
        # ones' by its amount as rounded (per line) or exact (per document).
        exact: dict[str, Fraction] = {}
        amounts: dict[str, int] = {}
        base = start
        for tax in taxes:
            value = _tax_on(tax, base, fixed.get(tax.code, Fraction(0)))
            exact[tax.code] = value
            if conventions.mode(tax) == "line":
                amounts[tax.code] = _round_half_up(value)
                value = Fraction(amounts[tax.code])
            if tax.affects_base:
                base += value
        if net is not None:
            # Base first: one included tax takes what the gross leaves (Odoo: the last one).
            included = [t for t in taxes if t.price_included]
            taker = included[-1] if conventions.remainder == "last" else included[0]
            others = sum(
                (Fraction(amounts[t.code]) if t.code in amounts else exact[t.code])
                for t in included
                if t is not taker
            )
            exact[taker.code] = (entered - net) - others
            if conventions.mode(taker) == "line":
                amounts[taker.code] = _round_half_up(exact[taker.code])
        work.append(_Work(line, taxes, entered, net, exact, amounts))

    # Document rounding: one rounding per tax code, spread back over the lines bearing it.
    for code, spec in specs.items():
        if conventions.mode(spec) != "document":
            continue
        bearing = [w for w in work if code in w.exact]
        shares = [w.exact[code] for w in bearing]
        total = _round_half_up(sum(shares, Fraction(0)))
        for w, units in zip(bearing, _spread(total, shares), strict=True):
            w.amounts[code] = units

    results: list[LineTaxes] = []
    bases: dict[str, int] = dict.fromkeys(specs, 0)
    totals: dict[str, int] = dict.fromkeys(specs, 0)
    net_total = gross_total = 0
    for w in work:
        included_tax = sum(w.amounts[t.code] for t in w.taxes if t.price_included)
        all_tax = sum(w.amounts[t.code] for t in w.taxes)
        # Base first: the rounded net stays and the gross is net + taxes. Tax first: the entered gross
        # stays and the net absorbs the rounding (without included taxes, that is the entry).
        net = w.net if w.net is not None else w.entered - included_tax
        gross = net + all_tax
        net_total += net
        gross_total += gross
        line_taxes = []
        base = net
        for tax in w.taxes:
            amount = w.amounts[tax.code]
            bases[tax.code] += base
            totals[tax.code] += amount
            line_taxes.append(
                LineTax(
                    tax.code,
                    tax.rate_percent,
                    _to_decimal(base, places),
                    _to_decimal(amount, places),
                    unrounded=_to_decimal(
                        _round_half_up(w.exact[tax.code] * 10**UNROUNDED_EXTRA_PLACES),
                        places + UNROUNDED_EXTRA_PLACES,
                    ),
                    kind=tax.kind,
                    group=tax.group,
                    name=tax.name,
                )
            )
            if tax.affects_base:
                base += amount
        results.append(
            LineTaxes(w.line.key, _to_decimal(net, places), _to_decimal(gross, places), tuple(line_taxes))
        )

    return DocumentTaxes(
        currency=currency,
        lines=tuple(results),
        totals=tuple(
            TaxTotal(
                code=spec.code,
                name=spec.name,
                rate_percent=spec.rate_percent,
                price_included=spec.price_included,
                rounding=conventions.mode(spec),
                base=_to_decimal(bases[code], places),
                amount=_to_decimal(totals[code], places),
                kind=spec.kind,
                group=spec.group,
            )
            for code, spec in specs.items()
        ),
        net_total=_to_decimal(net_total, places),
        tax_total=_to_decimal(sum(totals.values()), places),
        gross_total=_to_decimal(gross_total, places),
        conventions=conventions,
    )


@lru_cache(maxsize=8192)
def tax_line_alone(
    taxes: tuple[TaxSpec, ...],
    amount: Decimal,
    currency: str,
    conventions: TaxConventions = RETAILCORE,
    quantity: Decimal = Decimal(1),
) -> LineTaxes:
    """One line taxed on its own (key ``"0"``), remembered for the process.

    Exactly what :func:`compute_taxes` gives a line when its taxes all round per line, which do not
    depend on the other lines. Tills sell the same few thousand (taxes, amount) pairs all day, so a
    POS batch mostly looks its lines up here instead of computing them. Pure, so caching is safe;
    ``TaxSpec`` is frozen, so the key changes when a rate does.
    """
    line = TaxableLine("0", amount, "_", quantity)
    return compute_taxes([line], {"_": taxes}, currency, conventions=conventions).lines[0]


# -- the one I/O function ----------------------------------------------------------------------------


def _spec(tax: Tax, children: Sequence[TaxSpec] = ()) -> TaxSpec:
    return TaxSpec(
        code=tax.code,
        name=tax.name,
        rate_percent=tax.rate_percent,
        price_included=tax.price_included,
        rounding="document" if tax.rounding == "document" else "line",
        sequence=tax.sequence,
        kind=tax.kind,  # type: ignore[arg-type]
        amount=tax.amount if tax.amount is not None else Decimal(0),
        affects_base=tax.affects_base,
        children=tuple(children),
    )


def load_tax_conventions(session: Session, company_id: uuid.UUID) -> TaxConventions:
    """The company's rounding conventions (:data:`RETAILCORE` while it has set none), behind the
    master-data stamp (decision 0070)."""
    return cached(session, company_id, "tax_conventions", lambda: _conventions(session, company_id))


def _conventions(session: Session, company_id: uuid.UUID) -> TaxConventions:
    row = session.execute(
        select(TaxSettings.rounding, TaxSettings.included_rounding, TaxSettings.included_remainder).where(
            TaxSettings.company_id == company_id
        )
    ).first()
    if row is None:
        return RETAILCORE
    return TaxConventions(
        rounding=row.rounding,  # type: ignore[arg-type]
        included=row.included_rounding,  # type: ignore[arg-type]
        remainder=row.included_remainder,  # type: ignore[arg-type]
    )


def load_tax_rules(session: Session, company_id: uuid.UUID, jurisdiction: str) -> TaxRules:
    """The company's tax rules of one jurisdiction, as :func:`compute_taxes` takes them.

    A category missing from the result has no rule there: :func:`compute_taxes` then raises
    :class:`NoTaxRule` naming it, rather than silently taxing at zero. A rule with no taxes (zero
    rated, exempt) maps to an empty list. Groups come flattened: each child in the group's place,
    with ``group`` set. The result carries the company's conventions (:class:`TaxRules`).
    """
    loaded = cached(
        session, company_id, ("tax_rules", jurisdiction), lambda: _rules(session, company_id, jurisdiction)
    )
    # A copy per caller: the cached lists stay as loaded whatever a caller does with its own.
    return TaxRules({category: list(taxes) for category, taxes in loaded.items()}, loaded.conventions)


def _rules(session: Session, company_id: uuid.UUID, jurisdiction: str) -> TaxRules:
    # The rules with their taxes in one query (their default is a second, select-in query).
    rules = session.scalars(
        select(TaxRule)
        .options(joinedload(TaxRule.taxes))
        .where(TaxRule.company_id == company_id, TaxRule.jurisdiction == jurisdiction)
    ).unique()
    loaded: dict[str, list[TaxSpec]] = {}
    for rule in rules:
        ordered = sorted(rule.taxes, key=lambda t: (t.sequence, t.code))
        top = [t for t in ordered if t.parent_code is None]
        specs = [_spec(t, [_spec(child) for child in ordered if child.parent_code == t.code]) for t in top]
        loaded[rule.tax_category] = _flatten(specs)
    return TaxRules(loaded, load_tax_conventions(session, company_id))
