"""Every table of every context, imported in one place so metadata is complete for Alembic and tests."""

from __future__ import annotations

from retailcore.access import tables as _access  # noqa: F401
from retailcore.accounting import tables as _accounting  # noqa: F401
from retailcore.adapters.orm import Base
from retailcore.analytics import tables as _analytics  # noqa: F401
from retailcore.analytics.anomalies import tables as _anomalies  # noqa: F401
from retailcore.analytics.forecasts import tables as _forecasts  # noqa: F401
from retailcore.analytics.replenishment import tables as _replenishment  # noqa: F401
from retailcore.banking import tables as _banking  # noqa: F401
from retailcore.connectors import sync_tables as _connector_sync  # noqa: F401
from retailcore.connectors import tables as _connectors  # noqa: F401
from retailcore.eventlog import tables as _eventlog  # noqa: F401
from retailcore.intercompany import tables as _intercompany  # noqa: F401
from retailcore.inventory import costing_tables as _costing  # noqa: F401
from retailcore.inventory import purchasing_tables as _purchasing  # noqa: F401
from retailcore.inventory import reservation_tables as _reservations  # noqa: F401
from retailcore.inventory import tables as _inventory  # noqa: F401
from retailcore.inventory import transfer_tables as _transfers  # noqa: F401
from retailcore.loyalty import tables as _loyalty  # noqa: F401
from retailcore.masterdata import tables as _masterdata  # noqa: F401
from retailcore.monitoring import tables as _monitoring  # noqa: F401
from retailcore.orders import tables as _orders  # noqa: F401
from retailcore.payments import tables as _payments  # noqa: F401
from retailcore.pos import tables as _pos  # noqa: F401
from retailcore.pricing import tables as _pricing  # noqa: F401
from retailcore.promotions import tables as _promotions  # noqa: F401
from retailcore.returns import tables as _returns  # noqa: F401
from retailcore.settlements import tables as _settlements  # noqa: F401

metadata = Base.metadata
