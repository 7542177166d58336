"""one order model: POS sales become orders; invoices; deposits and receivable per order

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 12:30:00

POS sales move from ``pos_sales`` into ``orders`` (channel ``pos``, ``carry_out``) with their lines and
payments. Sales ingested before this revision had their COGS posted one by one, so the ``cogs`` running
totals of their sessions are dropped (the close must not post it twice). Default posting rules that
finance never edited are brought up to this release (see ``refresh_default_rules``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from retailcore.adapters import orm

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZERO = Decimal(0)


def _amount() -> orm.ExactDecimal:
    return orm.ExactDecimal(precision=19, scale=4)


def _filled(table: str, column: sa.Column, value: object) -> None:
    """Add a NOT NULL column to a table that may hold rows: nullable, filled, then NOT NULL."""
    name = column.name
    column.nullable = True
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(column)
    op.get_bind().execute(sa.table(table, sa.column(name, column.type)).update().values({name: value}))
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(name, existing_type=column.type, nullable=False)


def upgrade() -> None:
    _filled("companies", sa.Column("pos_approval_threshold", _amount()), Decimal("20"))

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column(
            "number", existing_type=sa.String(length=32), type_=sa.String(length=64), existing_nullable=False
        )
        batch_op.add_column(sa.Column("pos_session_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("client_uuid", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("ordered_at", orm.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_orders_pos_session_id"), ["pos_session_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_orders_company_id_client_uuid"), ["company_id", "client_uuid"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_orders_pos_session_id_pos_sessions"), "pos_sessions", ["pos_session_id"], ["id"]
        )
    for name in ("deposit_balance", "receivable_balance", "change_given"):
        _filled("orders", sa.Column(name, _amount()), ZERO)
    _filled("order_lines", sa.Column("cost", _amount()), ZERO)
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_method_code", sa.String(length=32), nullable=True))

    _filled("pos_sessions", sa.Column("sale_count", sa.Integer()), 0)
    with op.batch_alter_table("pos_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("differences", sa.JSON(), nullable=True))
    with op.batch_alter_table("pos_session_totals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pos_session_totals_kind"), type_="check")
        batch_op.create_check_constraint(
            "kind", "kind IN ('tax', 'category', 'tender', 'cogs', 'receivable')"
        )

    op.create_table(
        "invoices",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("net_total", _amount(), nullable=False),
        sa.Column("tax_total", _amount(), nullable=False),
        sa.Column("gross_total", _amount(), nullable=False),
        sa.Column("posting", sa.String(length=16), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("taxes", sa.JSON(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", orm.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("posting IN ('receivable', 'document')", name=op.f("ck_invoices_posting")),
        sa.ForeignKeyConstraint(
            ["company_id", "order_id"],
            ["orders.company_id", "orders.id"],
            name=op.f("fk_invoices_company_id_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_invoices_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("company_id", "number", name=op.f("uq_invoices_company_id_number")),
        sa.UniqueConstraint("order_id", name=op.f("uq_invoices_order_id")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_company_date", ["company_id", "date"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_customer_id"), ["customer_id"], unique=False)

    _carry_deposits_forward()
    _move_pos_sales_into_orders()
    with op.batch_alter_table("pos_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pos_sales_session_id"))
    op.drop_table("pos_sales")
    _refresh_rules()


def _carry_deposits_forward() -> None:
    """Web orders placed before: what they hold as a deposit or owe, from their payments and state."""
    bind = op.get_bind()
    orders = sa.table(
        "orders",
        sa.column("id", sa.Uuid()),
        sa.column("state", sa.String()),
        sa.column("gross_total", _amount()),
        sa.column("deposit_balance", _amount()),
        sa.column("receivable_balance", _amount()),
    )
    payments = sa.table(
        "order_payments",
        sa.column("order_id", sa.Uuid()),
        sa.column("kind", sa.String()),
        sa.column("captured", _amount()),
        sa.column("refunded", _amount()),
    )
    paid: dict[uuid.UUID, Decimal] = {}
    for row in bind.execute(sa.select(payments)):
        if row.kind != "on_account":
            paid[row.order_id] = paid.get(row.order_id, ZERO) + row.captured - row.refunded
    for row in bind.execute(sa.select(orders.c.id, orders.c.state, orders.c.gross_total)).all():
        money = paid.get(row.id, ZERO)
        if row.state == "confirmed":
            values = {"deposit_balance": money, "receivable_balance": ZERO}
        elif row.state in ("fulfilled", "invoiced", "closed"):
            values = {"deposit_balance": ZERO, "receivable_balance": max(row.gross_total - money, ZERO)}
        else:
            continue
        bind.execute(orders.update().where(orders.c.id == row.id).values(values))


def _move_pos_sales_into_orders() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    sales = sa.Table("pos_sales", meta, autoload_with=bind)
    sessions = sa.Table("pos_sessions", meta, autoload_with=bind)
    terminals = sa.Table("pos_terminals", meta, autoload_with=bind)
    products = sa.Table("products", meta, autoload_with=bind)
    locations = sa.Table("locations", meta, autoload_with=bind)
    companies = sa.Table("companies", meta, autoload_with=bind)
    orders = sa.Table("orders", meta, autoload_with=bind)
    lines = sa.Table("order_lines", meta, autoload_with=bind)
    payments = sa.Table("order_payments", meta, autoload_with=bind)
    totals = sa.Table("pos_session_totals", meta, autoload_with=bind)
    # autoload gives plain NUMERIC/INTEGER: give the exact-decimal columns their type back.
    for table in (sales, orders, lines, payments):
        for column in table.columns:
            if column.name in {
                "net", "tax", "gross", "change", "cogs", "quantity", "unit_price", "discount",
                "net_total", "tax_total", "gross_total", "deposit_balance", "receivable_balance",
                "change_given", "fulfilled_quantity", "cancelled_quantity", "cost", "authorized",
                "captured", "refunded",
            }:  # fmt: skip
                column.type = _amount()
            elif isinstance(column.type, sa.DateTime) or column.name in {"sold_at", "received_at"}:
                column.type = orm.UTCDateTime()
    rows = bind.execute(sa.select(sales).order_by(sales.c.session_id, sales.c.sold_at, sales.c.id)).all()
    if not rows:
        return
    currency = dict(bind.execute(sa.select(companies.c.id, companies.c.currency)).all())
    tax_category = dict(bind.execute(sa.select(products.c.id, products.c.tax_category)).all())
    session_rows = {r.id: r for r in bind.execute(sa.select(sessions)).all()}
    terminal_code = dict(bind.execute(sa.select(terminals.c.id, terminals.c.code)).all())
    stock_location = {
        r.store_id: r.id
        for r in bind.execute(
            sa.select(locations.c.store_id, locations.c.id).where(locations.c.kind == "stock")
        )
    }
    counts: dict[uuid.UUID, int] = {}
    for sale in rows:
        pos_session = session_rows[sale.session_id]
        counts[sale.session_id] = counts.get(sale.session_id, 0) + 1
        number = f"{terminal_code[sale.terminal_id]}-{pos_session.number:04d}-{counts[sale.session_id]:05d}"
        bind.execute(
            orders.insert().values(
                id=sale.id,
                company_id=sale.company_id,
                number=number,
                channel="pos",
                fulfillment_mode="carry_out",
                state="fulfilled",
                store_id=pos_session.store_id,
                customer_id=None,
                currency=currency[sale.company_id],
                prices_include_tax=False,
                net_total=sale.net,
                tax_total=sale.tax,
                gross_total=sale.gross,
                reason="",
                deposit_balance=ZERO,
                receivable_balance=ZERO,
                change_given=sale.change,
                pos_session_id=sale.session_id,
                client_uuid=sale.client_uuid,
                ordered_at=sale.sold_at,
                created_by="migration 0010",
                updated_by="migration 0010",
                created_at=sale.received_at,
                updated_at=sale.received_at,
                version=1,
            )
        )
        for position, line in enumerate(sale.lines, start=1):
            product_id = uuid.UUID(line["product_id"])
            quantity = Decimal(line["quantity"])
            bind.execute(
                lines.insert().values(
                    id=uuid.uuid4(),
                    company_id=sale.company_id,
                    order_id=sale.id,
                    position=position,
                    product_id=product_id,
                    sku=line["sku"],
                    product_category=line["category"],
                    quantity=quantity,
                    unit_price=Decimal(line["unit_price"]),
                    discount=Decimal(line["discount"]),
                    tax_category=tax_category[product_id],
                    net=Decimal(line["net"]),
                    tax=Decimal(line["tax"]),
                    gross=Decimal(line["gross"]),
                    taxes=line["taxes"],
                    fulfilled_quantity=quantity,
                    cancelled_quantity=ZERO,
                    cost=Decimal(line["cost"]),
                    location_id=stock_location.get(pos_session.store_id),
                    reservation_id=None,
                )
            )
        for position, tender in enumerate(sale.tenders):
            amount = Decimal(tender["amount"])
            bind.execute(
                payments.insert().values(
                    id=uuid.uuid4(),
                    company_id=sale.company_id,
                    order_id=sale.id,
                    position=position,
                    kind=tender["kind"],
                    payment_method_code=tender["payment_method_code"],
                    gateway=tender["gateway"],
                    reference=f"{tender['payment_method_code']}#{position}",
                    authorized=amount,
                    captured=amount,
                    refunded=ZERO,
                    state="captured" if tender["kind"] == "card" else "accepted",
                )
            )
    for session_id, count in counts.items():
        bind.execute(sessions.update().where(sessions.c.id == session_id).values(sale_count=count))
    # Their COGS was posted sale by sale (GoodsIssued): the close must not post it again.
    bind.execute(totals.delete().where(totals.c.kind == "cogs"))


def _refresh_rules() -> None:
    from retailcore.accounting.services import refresh_default_rules

    bind = op.get_bind()
    company_ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM companies"))]
    if not company_ids:
        return
    with Session(bind=bind) as session:
        for company_id in company_ids:
            refresh_default_rules(session, uuid.UUID(str(company_id)))
        session.flush()


def downgrade() -> None:
    """Back to separate POS sales. The POS sales recorded as orders are deleted, not moved back:
    restore the backup taken before the upgrade to keep them."""
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM invoices"))
    pos_orders = "SELECT id FROM orders WHERE channel = 'pos'"
    bind.execute(sa.text(f"DELETE FROM order_payments WHERE order_id IN ({pos_orders})"))
    bind.execute(sa.text(f"DELETE FROM order_lines WHERE order_id IN ({pos_orders})"))
    bind.execute(sa.text("DELETE FROM orders WHERE channel = 'pos'"))
    bind.execute(sa.text("DELETE FROM pos_session_totals WHERE kind = 'receivable'"))
    op.create_table(
        "pos_sales",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("terminal_id", sa.Uuid(), nullable=False),
        sa.Column("client_uuid", sa.Uuid(), nullable=False),
        sa.Column("sold_at", orm.UTCDateTime(), nullable=False),
        sa.Column("received_at", orm.UTCDateTime(), nullable=False),
        sa.Column("net", _amount(), nullable=False),
        sa.Column("tax", _amount(), nullable=False),
        sa.Column("gross", _amount(), nullable=False),
        sa.Column("change", _amount(), nullable=False),
        sa.Column("cogs", _amount(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("tenders", sa.JSON(), nullable=False),
        sa.Column("stock_event_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_pos_sales_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["pos_sessions.id"], name=op.f("fk_pos_sales_session_id_pos_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["pos_terminals.id"], name=op.f("fk_pos_sales_terminal_id_pos_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pos_sales")),
        sa.UniqueConstraint("company_id", "client_uuid", name=op.f("uq_pos_sales_company_id_client_uuid")),
    )
    with op.batch_alter_table("pos_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pos_sales_session_id"), ["session_id"], unique=False)
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_customer_id"))
        batch_op.drop_index("ix_invoices_company_date")
    op.drop_table("invoices")
    with op.batch_alter_table("pos_session_totals", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_pos_session_totals_kind"), type_="check")
        batch_op.create_check_constraint("kind", "kind IN ('tax', 'category', 'tender', 'cogs')")
    with op.batch_alter_table("pos_sessions", schema=None) as batch_op:
        batch_op.drop_column("differences")
        batch_op.drop_column("sale_count")
    with op.batch_alter_table("order_payments", schema=None) as batch_op:
        batch_op.drop_column("payment_method_code")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("cost")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_orders_pos_session_id_pos_sessions"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_orders_company_id_client_uuid"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_orders_pos_session_id"))
        for name in ("change_given", "receivable_balance", "deposit_balance", "ordered_at", "client_uuid"):
            batch_op.drop_column(name)
        batch_op.drop_column("pos_session_id")
        batch_op.alter_column(
            "number", existing_type=sa.String(length=64), type_=sa.String(length=32), existing_nullable=False
        )
    with op.batch_alter_table("companies", schema=None) as batch_op:
        batch_op.drop_column("pos_approval_threshold")
