"""lean order lines: drop the constraints and indexes that repeat others on the busiest tables

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 17:00:00

Every POS sale writes three order lines and a payment. Two things were checked or maintained twice
per row:

* ``order_lines.company_id`` and ``order_payments.company_id`` each referenced ``companies`` on their
  own, while the composite key ``(company_id, order_id)`` already references ``orders``, whose own
  ``company_id`` references ``companies``: a line cannot belong to a company its order does not.
  On PostgreSQL each foreign key is a trigger query per inserted row.
* ``ix_order_lines_order_id`` and ``ix_order_payments_order_id`` index a prefix of the unique
  constraints ``(order_id, position)`` and ``(order_id, gateway, reference)``, which serve the same
  lookups by order.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("order_lines", "order_payments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(op.f(f"ix_{table}_order_id"))
            batch_op.drop_constraint(op.f(f"fk_{table}_company_id_companies"), type_="foreignkey")


def downgrade() -> None:
    for table in ("order_lines", "order_payments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_company_id_companies"), "companies", ["company_id"], ["id"]
            )
            batch_op.create_index(op.f(f"ix_{table}_order_id"), ["order_id"], unique=False)
