"""Values the intelligence modules hand each other (docs/intelligence.md).

A forecaster produces :class:`DemandEstimate` rows; replenishment consumes them. Neither imports the
other's module, so a new forecaster (or a plain trailing average, the baseline) plugs in unchanged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class DemandEstimate:
    """Expected daily demand of one product at one location over the next ``horizon_days``.

    ``daily_mean`` is the forecast's average per day over the horizon, ``daily_sigma`` the standard
    deviation of its one-day error, measured on the series' own backtest (never a constant): safety
    stock is sized from it. ``location_id`` is the store's sellable location, or the warehouse's for the
    web channel. ``model`` names what produced it (``Combination``, ``AutoETS``, ``trailing_mean``).
    Quantities are Decimal, in the product's unit, as everywhere else in stock.
    """

    product_id: uuid.UUID
    location_id: uuid.UUID
    as_of: dt.date
    horizon_days: int
    daily_mean: Decimal
    daily_sigma: Decimal
    model: str
