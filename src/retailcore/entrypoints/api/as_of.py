"""The request of a sweep over HTTP (``/reservations/expire``, ``/orders/expire-unpaid``): what was due
by ``as_of``, which may look back but never ahead."""

import datetime as dt

from pydantic import Field

from retailcore.adapters.orm import utcnow
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.core.inputs import Instant
from retailcore.masterdata.commands import CompanyScoped


class SweepAsOf(CompanyScoped):
    as_of: Instant | None = Field(
        None, description="Act on what was due by this time (not in the future); defaults to now."
    )

    def moment(self) -> dt.datetime:
        """``as_of``, or now; refused when in the future or without a time zone (nothing is written)."""
        now = utcnow()
        if self.as_of is None:
            return now
        if self.as_of.tzinfo is None or self.as_of > now:
            raise ValidationFailed(
                "a sweep acts as of now or a time before",
                problems=[FieldProblem("as_of", "must be an aware time, not in the future")],
            )
        return self.as_of
