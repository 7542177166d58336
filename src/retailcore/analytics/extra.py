"""The ``intelligence`` extra (pandas, numpy, scikit-learn, statsforecast), imported when used.

The API and the command line import every analytics module at start; a module that imported pandas at
its top would stop an installation without the extra from starting at all. So the modules name pandas
and numpy for type checking only and :func:`load` them inside the functions that compute, which fail
with a clear 412 (:class:`IntelligenceMissing`) naming the extra to install (decision 0073).
"""

from __future__ import annotations

import importlib
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from retailcore.analytics.forecasts.forecasting import INSTALL_HINT, IntelligenceMissing


def load(what: str, *names: str) -> Any:
    """The modules ``names`` (one module, or a tuple of them), or :class:`IntelligenceMissing` saying
    that ``what`` needs the extra."""
    try:
        modules = tuple(importlib.import_module(name) for name in names)
    except ImportError as exc:
        raise IntelligenceMissing(
            f"{what} needs the intelligence extra ({exc.name} is not installed): {INSTALL_HINT}"
        ) from None
    return modules[0] if len(modules) == 1 else modules


def to_decimal(value: Any, places: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """A statistic (a numpy or Python float) as the Decimal it is stored and shown as: its shortest
    decimal form, quantized to ``places``. The one place a model's float crosses into Decimal."""
    return Decimal(repr(float(value))).quantize(places, rounding)  # float-ok: a model's statistic
