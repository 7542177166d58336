"""A large history written in bulk: posted journal lines (as ``trial_balance.py`` writes them) and stock
moves, on PostgreSQL with ``INSERT ... SELECT generate_series`` inside the server, on SQLite with chunked
``executemany`` through the tables' own column types (exact decimals are scaled integers there).

Same shape on both backends: one company BENCH (generic retail chart plus 45 expense accounts), 8
stores, fiscal year 2026; entries of two lines (one debit, one credit of the same amount on accounts
picked by a stride through the chart), dates spread evenly over 2026, about one line in nine without a
store; 200 products (the demo catalogue) and moves between the 8 stores' stock and the supplier (one in
three, receipts) or the customer (deliveries), 1 to 3 units at a cost between 1.00 and 50.99.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import trial_balance
from sqlalchemy import Engine, insert, select, text

from retailcore.access.model import system_principal
from retailcore.accounting import tables as a
from retailcore.accounting.services import create_fiscal_year, set_up_ledger
from retailcore.adapters.db import make_session_factory, transaction
from retailcore.adapters.orm import utcnow
from retailcore.eventlog.services import CommandContext
from retailcore.inventory import tables as i
from retailcore.masterdata import services as s
from retailcore.masterdata.commands import CreateCompany, CreateProduct, CreateStore
from retailcore.masterdata.demo_catalog import demo_products
from retailcore.masterdata.tables import Account, Company, Location, Product, Store

YEAR = trial_balance.YEAR
CHUNK = 20_000
LINES_START = dt.date(YEAR, 1, 1)
LINES_DAYS = 365
"""The days the SQLite fill spreads the entries over (benchmarks/exports.py puts them all in one month)."""
PRODUCTS = 200

FILL_MOVES = """
INSERT INTO stock_moves (id, company_id, product_id, from_location_id, to_location_id, quantity, kind,
                         unit_cost, value, date, reference, event_id, created_at)
SELECT gen_random_uuid(), :company, (CAST(:products AS uuid[]))[1 + g % :product_count],
       CASE WHEN g % 3 = 0 THEN CAST(:supplier AS uuid)
            ELSE (CAST(:stocks AS uuid[]))[1 + g % :stock_count] END,
       CASE WHEN g % 3 = 0 THEN (CAST(:stocks AS uuid[]))[1 + g % :stock_count]
            ELSE CAST(:customer AS uuid) END,
       q, CASE WHEN g % 3 = 0 THEN 'receipt' ELSE 'delivery' END, cost, round(q * cost, 2),
       DATE '{year}-01-01' + (g % 365), 'bench', gen_random_uuid(), now()
FROM (SELECT g, (g % 3 + 1)::numeric AS q, ((g::bigint * 7919) % 5000 + 100) / 100.0 AS cost
      FROM generate_series(1, :moves) AS g) AS s
"""


def _ctx() -> CommandContext:
    return CommandContext(system_principal("benchmark"))


def _company(engine: Engine) -> uuid.UUID:
    """The company as ``trial_balance.fill`` makes it (used on SQLite, where that fill cannot run)."""
    with transaction(make_session_factory(engine)) as session:
        company = s.create_company(
            session, _ctx(), CreateCompany(code="BENCH", name="Bench", currency="EUR", country="FR")
        )
        set_up_ledger(session, company.id)
        create_fiscal_year(session, company.id, dt.date(YEAR, 1, 1))
        for n in range(trial_balance.EXTRA_ACCOUNTS):
            session.add(
                Account(
                    company_id=company.id, code=f"62{n:02d}", name=f"Operating expense {n}", type="expense"
                )
            )
        for n in range(trial_balance.STORES):
            s.create_store(
                session, _ctx(), CreateStore(company_id=company.id, code=f"S{n:02d}", name=f"Store {n}")
            )
        return company.id


def _products(engine: Engine, company_id: uuid.UUID) -> dict[str, Any]:
    with transaction(make_session_factory(engine)) as session:
        for product in demo_products(PRODUCTS):
            s.create(session, _ctx(), s.PRODUCT, CreateProduct(company_id=company_id, **product))
        session.flush()
        products = list(session.scalars(select(Product.id).where(Product.company_id == company_id)))
        stocks = list(
            session.scalars(
                select(Location.id)
                .join(Store, Store.id == Location.store_id)
                .where(Location.company_id == company_id, Location.kind == "stock")
                .order_by(Store.code)
            )
        )

        def virtual(kind: str) -> uuid.UUID:
            found = session.scalar(
                select(Location.id).where(Location.company_id == company_id, Location.kind == kind)
            )
            assert found is not None
            return found

        return {
            "products": products,
            "stocks": stocks,
            "supplier": virtual("supplier"),
            "customer": virtual("customer"),
        }


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sqlite_lines(engine: Engine, company_id: uuid.UUID, lines: int) -> None:
    with make_session_factory(engine)() as session:
        accounts = list(session.scalars(select(Account.id).where(Account.company_id == company_id)))
        stores: list[uuid.UUID | None] = list(
            session.scalars(select(Store.id).where(Store.company_id == company_id))
        )
        journals = list(session.scalars(select(a.Journal.id).where(a.Journal.company_id == company_id)))
    stores.append(None)  # head-office lines
    start = LINES_START
    now = utcnow()
    entries = lines // 2

    def entry_rows() -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        for g in range(1, entries + 1):
            entry_id = uuid.uuid4()
            date = start + dt.timedelta(days=g % LINES_DAYS)
            journal = journals[g % len(journals)]
            amount = Decimal((g * 7919) % 100000 + 1) / 100
            entry = {
                "id": entry_id,
                "company_id": company_id,
                "journal_id": journal,
                "number": f"BENCH/{g}",
                "date": date,
                "state": "posted",
                "reference": f"bench {g}",
                "created_by": "benchmark",
                "created_at": now,
                "posted_by": "benchmark",
                "posted_at": now,
            }
            common = {
                "company_id": company_id,
                "entry_id": entry_id,
                "currency": "EUR",
                "rate": Decimal(1),
                "label": "",
                "store_id": stores[g % len(stores)],
                "channel": ("pos", "web", "marketplace")[g % 3],
                "product_category": f"Category/{g % 20}",
                "location_id": None,
                "tax_code": None,
                "tax_base": None,
                "event_id": None,
                "journal_id": journal,
                "date": date,
                "state": "posted",
            }
            yield (
                entry,
                [
                    {
                        **common,
                        "id": uuid.uuid4(),
                        "sequence": 0,
                        "account_id": accounts[(g * 7) % len(accounts)],
                        "debit": amount,
                        "credit": Decimal(0),
                        "amount_currency": amount,
                    },
                    {
                        **common,
                        "id": uuid.uuid4(),
                        "sequence": 1,
                        "account_id": accounts[(g * 13 + 5) % len(accounts)],
                        "debit": Decimal(0),
                        "credit": amount,
                        "amount_currency": -amount,
                    },
                ],
            )

    pending_entries: list[dict[str, Any]] = []
    pending_lines: list[dict[str, Any]] = []
    with engine.begin() as connection:
        for entry, pair in entry_rows():
            pending_entries.append(entry)
            pending_lines += pair
            if len(pending_lines) >= CHUNK:
                connection.execute(insert(a.JournalEntry.__table__), pending_entries)
                connection.execute(insert(a.JournalLine.__table__), pending_lines)
                pending_entries, pending_lines = [], []
        if pending_entries:
            connection.execute(insert(a.JournalEntry.__table__), pending_entries)
            connection.execute(insert(a.JournalLine.__table__), pending_lines)


def _sqlite_moves(engine: Engine, company_id: uuid.UUID, refs: dict[str, Any], moves: int) -> None:
    products, stocks = refs["products"], refs["stocks"]
    start = dt.date(YEAR, 1, 1)
    now = utcnow()

    def move_rows() -> Iterator[dict[str, Any]]:
        for g in range(1, moves + 1):
            quantity = Decimal(g % 3 + 1)
            cost = Decimal((g * 7919) % 5000 + 100) / 100
            receipt = g % 3 == 0
            stock = stocks[g % len(stocks)]
            yield {
                "id": uuid.uuid4(),
                "company_id": company_id,
                "product_id": products[g % len(products)],
                "from_location_id": refs["supplier"] if receipt else stock,
                "to_location_id": stock if receipt else refs["customer"],
                "quantity": quantity,
                "kind": "receipt" if receipt else "delivery",
                "unit_cost": cost,
                "value": (quantity * cost).quantize(Decimal("0.01")),
                "date": start + dt.timedelta(days=g % 365),
                "reference": "bench",
                "event_id": uuid.uuid4(),
                "created_at": now,
            }

    with engine.begin() as connection:
        for chunk in _chunks(move_rows()):
            connection.execute(insert(i.StockMove.__table__), chunk)


def fill(engine: Engine, lines: int, moves: int) -> uuid.UUID:
    """The company BENCH with ``lines`` posted journal lines and ``moves`` stock moves; its id."""
    if engine.dialect.name == "postgresql":
        company_id = trial_balance.fill(engine, lines)
        refs = _products(engine, company_id)
        with engine.begin() as connection:
            connection.execute(
                text(FILL_MOVES.format(year=YEAR)),
                {
                    "company": company_id,
                    "products": [str(p) for p in refs["products"]],
                    "product_count": len(refs["products"]),
                    "stocks": [str(p) for p in refs["stocks"]],
                    "stock_count": len(refs["stocks"]),
                    "supplier": str(refs["supplier"]),
                    "customer": str(refs["customer"]),
                    "moves": moves,
                },
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        return company_id
    company_id = _company(engine)
    refs = _products(engine, company_id)
    _sqlite_lines(engine, company_id, lines)
    _sqlite_moves(engine, company_id, refs, moves)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    with make_session_factory(engine)() as session:
        assert session.get(Company, company_id) is not None
    return company_id
