"""Time `retailcore import products` on N generated rows against a fresh database.

    .venv/bin/python benchmarks/import_products.py --rows 10000
    .venv/bin/python benchmarks/import_products.py --rows 10000 --postgres postgresql://postgres@127.0.0.1:5432/bench

The PostgreSQL database is emptied (schema dropped) first. Prints wall time, rows per second and the
peak resident memory of the importing process.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from retailcore.access.model import system_principal
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.barcodes import gtin_check_digit
from retailcore.masterdata.commands import CreateCompany
from retailcore.masterdata.services import create_company

CLI = [sys.executable, "-m", "retailcore.entrypoints.cli.main"]


def write_catalog(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "name", "category", "list_price", "standard_cost", "barcodes", "channels"])
        for i in range(rows):
            body = f"20{i:010d}"
            writer.writerow(
                [
                    f"BENCH-{i:06d}",
                    f"Benchmark item {i}",
                    f"Bench/Cat{i % 12}",
                    f"{5 + i % 90}.99",
                    f"{2 + i % 40}.123456",
                    body + gtin_check_digit(body),
                    "pos|web",
                ]
            )


def run(url: str, catalog: Path) -> tuple[float, int]:
    env = {**os.environ, "RETAILCORE_DATABASE_URL": url}
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        create_company(
            session,
            CommandContext(system_principal("benchmark")),
            CreateCompany(code="BENCH", name="Bench", currency="EUR", country="FR"),
        )
    engine.dispose()
    started = time.perf_counter()
    subprocess.run([*CLI, "import", "products", str(catalog), "--company", "BENCH"], env=env, check=True)
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--postgres", help="URL of a scratch PostgreSQL database (it is emptied)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.csv"
        write_catalog(catalog, args.rows)
        if args.postgres:
            engine = make_engine(args.postgres)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            engine.dispose()
            url = args.postgres
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        elapsed, peak_kib = run(url, catalog)
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"{backend}: {args.rows} products in {elapsed:.2f} s ({args.rows / elapsed:,.0f} rows/s),"
        f" peak RSS {peak_kib / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
