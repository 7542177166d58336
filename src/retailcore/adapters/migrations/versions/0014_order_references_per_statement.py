"""PostgreSQL: orders' foreign keys, and those of their lines and payments, checked once per statement

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 20:30:00

Migration 0012 did this for the order lines' products and locations. Replaying a captured POS batch
(docs/decisions/0013) showed the other keys of the three order tables cost as much again: on
PostgreSQL each one is a row trigger that runs a locking query per inserted row, and a batch of 1,000
sales inserts 1,000 orders (keys to companies, stores, POS sessions, customers), 3,000 lines and 1,000
payments (each keyed to its order): about 100 ms of a 250 ms ``COPY``. Here each of those keys becomes:

* one ``AFTER INSERT ... FOR EACH STATEMENT`` trigger per child table that joins the inserted rows
  (transition table) to each parent once and raises ``foreign_key_violation`` naming what is missing;
* an ``AFTER UPDATE OF <key columns>`` row trigger, which fires only when a key actually changes;
* on each parent, an ``AFTER DELETE`` statement trigger that refuses deleting a row still referred to,
  or, for an order, deletes its lines and payments (the keys' ``ON DELETE CASCADE``), and a row
  trigger that refuses changing a referred-to key.

A key is checked when all its columns are set, as a foreign key ``MATCH SIMPLE`` is. What the keys
also did and these triggers do not: lock the parent row while the child is written, so that a
concurrent transaction cannot delete it meanwhile. None of these parents is ever deleted by the
application (companies, stores, customers and sessions are deactivated or closed; orders cancelled).
SQLite keeps its foreign keys, which are cheap there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


class Reference(NamedTuple):
    constraint: str
    """The foreign key it replaces."""
    child: str
    columns: tuple[str, ...]
    parent: str
    parent_columns: tuple[str, ...]
    missing: str
    """Raised when a child row refers to no parent."""
    used: str
    """Raised when a referred-to parent is deleted (unless ``cascade``) or its key changed."""
    cascade: bool = False


REFERENCES = (
    Reference(
        "fk_orders_company_id_companies",
        "orders",
        ("company_id",),
        "companies",
        ("id",),
        "an order refers to no company",
        "the company has orders",
    ),
    Reference(
        "fk_orders_company_id_stores",
        "orders",
        ("company_id", "store_id"),
        "stores",
        ("company_id", "id"),
        "an order refers to no store of its company",
        "the store has orders",
    ),
    Reference(
        "fk_orders_customer_id_customers",
        "orders",
        ("customer_id",),
        "customers",
        ("id",),
        "an order refers to no customer",
        "the customer has orders",
    ),
    Reference(
        "fk_orders_pos_session_id_pos_sessions",
        "orders",
        ("pos_session_id",),
        "pos_sessions",
        ("id",),
        "an order refers to no POS session",
        "the POS session has orders",
    ),
    Reference(
        "fk_order_lines_company_id_orders",
        "order_lines",
        ("company_id", "order_id"),
        "orders",
        ("company_id", "id"),
        "an order line refers to no order of its company",
        "the order has lines",
        cascade=True,
    ),
    Reference(
        "fk_order_payments_company_id_orders",
        "order_payments",
        ("company_id", "order_id"),
        "orders",
        ("company_id", "id"),
        "an order payment refers to no order of its company",
        "the order has payments",
        cascade=True,
    ),
)


def _matches(reference: Reference, child: str, parent: str) -> str:
    """The join of a child row (alias ``child``) to its parent row (alias ``parent``)."""
    return " AND ".join(
        f"{parent}.{p} = {child}.{c}"
        for c, p in zip(reference.columns, reference.parent_columns, strict=True)
    )


def _set(reference: Reference, row: str) -> str:
    return " AND ".join(f"{row}.{c} IS NOT NULL" for c in reference.columns)


def _changed(columns: Sequence[str]) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


def _function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}    RETURN NULL;\nEND $$;\n"


def _raise(message: str) -> str:
    return f"        RAISE foreign_key_violation USING MESSAGE = '{message}';\n"


def _tables(attribute: str) -> list[str]:
    return list(dict.fromkeys(getattr(reference, attribute) for reference in REFERENCES))


def _up() -> str:
    statements = []
    for child in _tables("child"):
        mine = [r for r in REFERENCES if r.child == child]
        per_statement = "".join(
            f"    IF EXISTS (SELECT 1 FROM new_rows n WHERE {_set(r, 'n')} AND NOT EXISTS "
            f"(SELECT 1 FROM {r.parent} p WHERE {_matches(r, 'n', 'p')})) THEN\n{_raise(r.missing)}    END IF;\n"
            for r in mine
        )
        per_row = "".join(
            f"    IF {_set(r, 'NEW')} AND NOT EXISTS (SELECT 1 FROM {r.parent} p WHERE {_matches(r, 'NEW', 'p')})"
            f" THEN\n{_raise(r.missing)}    END IF;\n"
            for r in mine
        )
        columns = list(dict.fromkeys(c for r in mine for c in r.columns))
        statements += [
            _function(f"{child}_check_keys", per_statement),
            f"CREATE TRIGGER {child}_keys_on_insert AFTER INSERT ON {child} REFERENCING NEW TABLE AS"
            f" new_rows FOR EACH STATEMENT EXECUTE FUNCTION {child}_check_keys();",
            _function(f"{child}_check_keys_of_row", per_row),
            f"CREATE TRIGGER {child}_keys_on_update AFTER UPDATE OF {', '.join(columns)} ON {child}"
            f" FOR EACH ROW WHEN ({_changed(columns)}) EXECUTE FUNCTION {child}_check_keys_of_row();",
        ]
    for parent in _tables("parent"):
        theirs = [r for r in REFERENCES if r.parent == parent]
        on_delete = "".join(
            f"    DELETE FROM {r.child} c USING gone g WHERE {_matches(r, 'c', 'g')};\n"
            if r.cascade
            else f"    IF EXISTS (SELECT 1 FROM gone g JOIN {r.child} c ON {_matches(r, 'c', 'g')}) THEN\n"
            f"{_raise(r.used)}    END IF;\n"
            for r in theirs
        )
        on_rekey = "".join(
            f"    IF EXISTS (SELECT 1 FROM {r.child} c WHERE {_matches(r, 'c', 'OLD')}) THEN\n"
            f"{_raise(r.used)}    END IF;\n"
            for r in theirs
        )
        columns = list(dict.fromkeys(c for r in theirs for c in r.parent_columns))
        statements += [
            _function(f"{parent}_keep_orders", on_delete),
            f"CREATE TRIGGER {parent}_keep_orders AFTER DELETE ON {parent} REFERENCING OLD TABLE AS gone"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {parent}_keep_orders();",
            _function(f"{parent}_keep_order_keys", on_rekey),
            f"CREATE TRIGGER {parent}_keep_order_keys AFTER UPDATE OF {', '.join(columns)} ON {parent}"
            f" FOR EACH ROW WHEN ({_changed(columns)}) EXECUTE FUNCTION {parent}_keep_order_keys();",
        ]
    return "\n".join(statements)


def _down() -> str:
    statements = []
    for child in _tables("child"):
        statements += [
            f"DROP TRIGGER {child}_keys_on_insert ON {child};",
            f"DROP TRIGGER {child}_keys_on_update ON {child};",
            f"DROP FUNCTION {child}_check_keys();",
            f"DROP FUNCTION {child}_check_keys_of_row();",
        ]
    for parent in _tables("parent"):
        statements += [
            f"DROP TRIGGER {parent}_keep_orders ON {parent};",
            f"DROP TRIGGER {parent}_keep_order_keys ON {parent};",
            f"DROP FUNCTION {parent}_keep_orders();",
            f"DROP FUNCTION {parent}_keep_order_keys();",
        ]
    return "\n".join(statements)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for reference in REFERENCES:
        op.drop_constraint(reference.constraint, reference.child, type_="foreignkey")
    op.execute(_up())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_down())
    for reference in REFERENCES:
        op.create_foreign_key(
            reference.constraint,
            reference.child,
            reference.parent,
            list(reference.columns),
            list(reference.parent_columns),
            ondelete="CASCADE" if reference.cascade else None,
        )
