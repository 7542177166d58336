"""The one value type for amounts of money.

Every amount in retailcore is a :class:`Money`: an exact :class:`~decimal.Decimal` paired with an
ISO 4217 currency code. The rules it enforces, and why:

* **Decimal, never float.** Binary floats cannot represent 0.10 exactly, so sums of prices drift
  by fractions of a cent and totals stop reconciling. The constructor refuses anything but a
  ``Decimal``; :meth:`Money.of` accepts ``str``/``int``/``Decimal`` and still refuses ``float``
  (and ``bool``, which is an ``int`` by accident of Python's history, not a quantity).
* **Currency travels with the amount.** Adding EUR to USD is a bug, not arithmetic, so mixed
  currencies raise :class:`CurrencyMismatch` instead of producing a meaningless number.
* **Arithmetic is exact; rounding happens only where the caller says so.** ``+``, ``-`` and
  ``*`` never round. A line total such as ``price * Decimal("0.333")`` keeps all its digits until
  the business rule (tax, discount, invoice line) calls :meth:`Money.round` with an explicit
  rounding mode, because different documents legally require different modes (half-up on a
  receipt, half-even in some ledgers, down for some discounts) and a hidden default would bake
  one of them in everywhere.
* **Splitting never loses or invents a cent.** :meth:`Money.allocate` works in whole minor units
  and hands the leftover units out one by one, so the parts always add back to the original
  exactly; the alternative (rounding each share independently) regularly creates or loses a cent.
* **Bounded size.** Amounts are refused when writing them out in plain digits would take more than
  :data:`MAX_DIGITS` digits. No real price comes close, and the bound stops a hostile value such
  as ``"1E+999999999"`` arriving through :meth:`Money.from_dict` from turning into a
  gigabyte-sized string when formatted.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from fractions import Fraction
from typing import Any, Final

from retailcore.core.currencies import UnknownCurrency, minor_unit

__all__ = ["MAX_DIGITS", "ROUNDING_MODES", "CurrencyMismatch", "Money", "UnknownCurrency"]

MAX_DIGITS: Final[int] = 100
"""Largest number of digits (integer part plus fractional part) an amount may have."""

ROUNDING_MODES: Final[frozenset[str]] = frozenset(
    {
        ROUND_05UP,
        ROUND_CEILING,
        ROUND_DOWN,
        ROUND_FLOOR,
        ROUND_HALF_DOWN,
        ROUND_HALF_EVEN,
        ROUND_HALF_UP,
        ROUND_UP,
    }
)

# A private context rather than the thread-local one: callers (or libraries) may have lowered the
# global precision, and Money must not silently inherit that. The precision is far above what two
# MAX_DIGITS operands can produce, so +, - and * are exact; Inexact is trapped anyway so that any
# future mistake shows up as an exception rather than as a quietly rounded amount.
_EXACT: Final = decimal.Context(
    prec=4 * MAX_DIGITS,
    rounding=ROUND_HALF_EVEN,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow, decimal.Inexact],
)
# Same, but rounding is the point of the operation, so Inexact must not be trapped here.
_ROUNDING: Final = _EXACT.copy()
_ROUNDING.traps[decimal.Inexact] = False


class CurrencyMismatch(ValueError):
    """Raised when an operation combines amounts of different currencies."""


def _digit_width(value: Decimal) -> int:
    """Digits needed to write ``value`` in plain notation (integer part + fractional part)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # only NaN/Infinity have a str exponent; callers exclude them
    integer_digits = max(len(digits) + exponent, 0)
    fractional_digits = max(-exponent, 0)
    return max(integer_digits + fractional_digits, 1)


def _is_multiple_of(value: Decimal, places: int) -> bool:
    """Tell whether ``value`` has no non-zero digit beyond ``places`` decimals.

    Works on the digit tuple so it is exact for any size and independent of any context.
    """
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if trailing_zeros == len(digits):  # the value is zero
        return True
    return exponent + trailing_zeros >= -places


def _from_minor_units(units: int, places: int) -> Decimal:
    # Built from the digit tuple so the result is exact and carries the currency's exponent
    # (5 cents -> Decimal("0.05"), not Decimal("5E-2")).
    sign = 1 if units < 0 else 0
    return Decimal((sign, tuple(int(c) for c in str(abs(units))), -places))


def _check_factor(value: object, what: str) -> Decimal | int:
    """Accept an int or a finite Decimal as a multiplier/weight; refuse float and bool."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{what} must be a Decimal or an int, not {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{what} must be finite, got {value!r}")
        if _digit_width(value) > MAX_DIGITS:
            raise ValueError(f"{what} has more than {MAX_DIGITS} digits: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency.

    Fields:

    amount
        A finite :class:`~decimal.Decimal`. It may carry more decimals than the currency's minor
        unit (an intermediate result such as a unit price times a fractional quantity); call
        :meth:`round` at the point where the business rule says the amount becomes final.
        Negative amounts are allowed because refunds, discounts and corrections are money too.
        A negative zero is stored as plain zero so it never prints as ``-0.00``.
    currency
        An active ISO 4217 code in uppercase, e.g. ``"EUR"``. It fixes the minor unit used by
        :meth:`round`, :meth:`allocate` and formatting.

    Equality is the dataclass one, and Decimal equality is numeric, so
    ``Money(Decimal("1.0"), "EUR") == Money(Decimal("1.00"), "EUR")``; the hash agrees with that.
    Amounts in different currencies are never equal, and ordering them raises.
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        amount = self.amount
        # Decimal subclasses are fine; float, int and str are not, so that a float can never
        # sneak in via a constructor call that "looks" right. Money.of is the lenient entry.
        if not isinstance(amount, Decimal):
            raise TypeError(
                f"Money amount must be a Decimal, not {type(amount).__name__}; "
                "use Money.of() to convert from str or int"
            )
        if not amount.is_finite():
            raise ValueError(f"Money amount must be finite, got {amount!r}")
        if _digit_width(amount) > MAX_DIGITS:
            raise ValueError(f"Money amount has more than {MAX_DIGITS} digits")
        if not isinstance(self.currency, str):
            raise TypeError(f"currency must be a str, not {type(self.currency).__name__}")
        minor_unit(self.currency)  # raises UnknownCurrency with a helpful message
        if amount.is_zero() and amount.is_signed():
            object.__setattr__(self, "amount", amount.copy_abs())

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def of(cls, value: str | int | Decimal, currency: str) -> Money:
        """Build from a ``str``, ``int`` or ``Decimal``; ``float`` and ``bool`` are refused.

        Strings are parsed exactly (``"0.10"`` is ten cents, not the nearest binary float).
        """
        if isinstance(value, bool | float):
            raise TypeError(f"Money.of refuses {type(value).__name__}; pass a str, int or Decimal")
        if isinstance(value, Decimal):
            return cls(value, currency)
        if isinstance(value, int):
            return cls(Decimal(value), currency)
        if isinstance(value, str):
            try:
                parsed = Decimal(value)
            except decimal.InvalidOperation:
                raise ValueError(f"not a decimal number: {value!r}") from None
            return cls(parsed, currency)
        raise TypeError(f"Money.of accepts str, int or Decimal, not {type(value).__name__}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``, written with the currency's decimals (``0.00 EUR``)."""
        return cls(_from_minor_units(0, minor_unit(currency)), currency)

    @staticmethod
    def sum(items: Iterable[Money], currency: str) -> Money:
        """Add up ``items``; an empty iterable gives zero in ``currency``.

        The currency is a required argument, not inferred from the first item, so that an empty
        basket still has a well-defined total and a foreign item is caught wherever it sits.
        """
        total = Money.zero(currency)
        for item in items:
            if not isinstance(item, Money):
                raise TypeError(f"Money.sum expects Money items, got {type(item).__name__}")
            total = total + item
        return total

    # -- currency facts -----------------------------------------------------------------------

    @property
    def minor_unit(self) -> int:
        """Decimal places of the currency (2 for EUR, 0 for JPY, 3 for BHD)."""
        return minor_unit(self.currency)

    @property
    def quantum(self) -> Decimal:
        """The smallest unit as a Decimal: ``Decimal("0.01")`` for EUR, ``Decimal("1")`` for JPY."""
        return _from_minor_units(1, self.minor_unit)

    # -- predicates ---------------------------------------------------------------------------

    def is_zero(self) -> bool:
        return self.amount.is_zero()

    def is_negative(self) -> bool:
        return self.amount < 0

    def is_rounded(self) -> bool:
        """Tell whether the amount is already a whole number of minor units.

        This is numeric: ``12.300 EUR`` counts as rounded, ``12.305 EUR`` does not.
        """
        return _is_multiple_of(self.amount, self.minor_unit)

    def __bool__(self) -> bool:
        return not self.amount.is_zero()

    # -- arithmetic ---------------------------------------------------------------------------

    def _same_currency(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot {op} {self.currency} and {other.currency}")

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(_EXACT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(_EXACT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(_EXACT.minus(self.amount), self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(_EXACT.abs(self.amount), self.currency)

    def __mul__(self, other: object) -> Money:
        # Money * Money has no meaning (EUR squared), and float would reintroduce binary error;
        # returning NotImplemented lets Python raise its usual TypeError for both.
        if isinstance(other, bool) or not isinstance(other, Decimal | int):
            return NotImplemented
        factor = _check_factor(other, "multiplier")
        return Money(_EXACT.multiply(self.amount, Decimal(factor)), self.currency)

    def __rmul__(self, other: object) -> Money:
        return self.__mul__(other)

    # -- ordering (same currency only) --------------------------------------------------------

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount >= other.amount

    # -- rounding and splitting ---------------------------------------------------------------

    def round(self, rounding: str = ROUND_HALF_UP) -> Money:
        """Round to the currency's minor unit with an explicit :mod:`decimal` rounding mode.

        ``rounding`` must be one of the ``decimal.ROUND_*`` constants; anything else raises
        ``ValueError`` rather than falling back to some default, because the mode is a business
        rule that must be stated, not guessed.
        """
        if rounding not in ROUNDING_MODES:
            raise ValueError(f"rounding must be one of decimal's ROUND_* constants, got {rounding!r}")
        rounded = self.amount.quantize(self.quantum, rounding=rounding, context=_ROUNDING)
        return Money(rounded, self.currency)

    def allocate(self, weights: Sequence[Decimal | int]) -> list[Money]:
        """Split the amount in proportion to ``weights`` so the parts add up exactly.

        The amount must already be rounded (see :meth:`round`): splitting an unrounded amount
        into rounded parts could not preserve the total. Each part first gets the whole minor
        units of its exact share; the minor units left over are then handed out one at a time to
        the parts with the largest fractional remainders, earlier parts winning ties so the
        result is deterministic. A part with weight zero therefore always gets zero. Negative
        amounts split into negative parts, mirroring the positive case exactly.

        Raises ``ValueError`` for an unrounded amount, no weights, a negative weight or weights
        that are all zero, and ``TypeError`` for weights that are not Decimal or int.
        """
        if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
            raise TypeError("weights must be a sequence of Decimal or int")
        if len(weights) == 0:
            raise ValueError("cannot allocate over an empty list of weights")
        shares = [Fraction(_check_factor(w, "weight")) for w in weights]
        if any(share < 0 for share in shares):
            raise ValueError("weights must not be negative")
        total_weight = sum(shares, Fraction(0))
        if total_weight == 0:
            raise ValueError("at least one weight must be positive")
        if not self.is_rounded():
            raise ValueError(f"allocate needs a rounded amount, got {self}; call round() first")

        places = self.minor_unit
        units = Fraction(self.amount) * 10**places
        assert units.denominator == 1  # guaranteed by is_rounded()
        # Work on the magnitude so "largest remainder" means the same thing for refunds as for
        # sales; the sign is put back on every part at the end.
        sign = -1 if units < 0 else 1
        magnitude = abs(units.numerator)

        exact = [magnitude * share / total_weight for share in shares]
        parts = [int(e) for e in exact]  # floor, as every share is non-negative
        leftover = magnitude - sum(parts)
        # sorted() is stable, so equal remainders keep their original (earlier first) order.
        by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - parts[i], reverse=True)
        for i in by_remainder[:leftover]:
            parts[i] += 1
        return [Money(_from_minor_units(sign * p, places), self.currency) for p in parts]

    # -- text and serialisation ---------------------------------------------------------------

    def _amount_text(self) -> str:
        # Plain notation (never "1E+2"), padded to the currency's decimals so "12.3" shows as
        # "12.30". Padding only appends zeros, so it never changes the value; extra decimals of
        # an unrounded amount are shown as they are rather than rounded away behind the caller.
        places = self.minor_unit
        exponent = self.amount.as_tuple().exponent
        assert isinstance(exponent, int)
        if exponent > -places:
            return format(self.amount, f".{places}f")
        return format(self.amount, "f")

    def __str__(self) -> str:
        return f"{self._amount_text()} {self.currency}"

    def to_dict(self) -> dict[str, str]:
        """Serialise as ``{"amount": "12.30", "currency": "EUR"}``; the amount is a string so JSON
        consumers cannot turn it into a float."""
        return {"amount": self._amount_text(), "currency": self.currency}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Money:
        """Inverse of :meth:`to_dict`. Exactly the keys ``amount`` and ``currency`` are accepted,
        so a misspelt key is reported instead of being ignored; a float amount is refused."""
        if not isinstance(data, Mapping):
            raise TypeError(f"Money.from_dict expects a mapping, not {type(data).__name__}")
        keys = set(data)
        if keys != {"amount", "currency"}:
            found = sorted(map(str, keys))
            raise ValueError(f"Money dict needs exactly 'amount' and 'currency', got {found}")
        return cls.of(data["amount"], data["currency"])
