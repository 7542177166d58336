"""settlement lines: an index on the payment they matched

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 08:30:00

* ``ix_settlement_lines_payment`` on ``settlement_lines.payment_id``: the settlement lag (``/kpis/
  settlement-lag`` and the back office's dashboard) asks, for every captured card payment, whether a
  line of it settled; without the index SQLite scanned every settlement line once per payment
  (0.4-0.6 s for the simulated 40-store month at a twentieth of its volume; decision 0051).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_settlement_lines_payment", "settlement_lines", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_settlement_lines_payment", table_name="settlement_lines")
