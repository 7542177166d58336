"""How decimals leave the system: as strings, in one canonical form.

The database keeps a column's full scale (``19.9900``); what a client sent may have fewer digits
(``19.99``). Readers should not see the same value written two ways depending on whether it came
from a fresh insert or a read, so output strips trailing zeros but keeps at least two decimals:
``19.99``, ``7.123456``, ``5.00``. Strings, never JSON numbers: clients that parse JSON numbers as
binary floats would otherwise lose exactness.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer


def canonical(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite decimal")
    normalized = value.normalize()
    if normalized.as_tuple().exponent > -2:  # type: ignore[operator]
        normalized = normalized.quantize(Decimal("0.01"))
    return format(normalized, "f")


DecimalStr = Annotated[Decimal, PlainSerializer(canonical, return_type=str, when_used="json")]
"""A Decimal field that serialises to its canonical string in JSON."""
