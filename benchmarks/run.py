"""The benchmark suite: every case on SQLite and on PostgreSQL, throughput and peak memory.

    make bench                                      # the full documented run (both backends)
    make bench-quick                                # small volumes, a smoke run of every case
    .venv/bin/python benchmarks/run.py --backend sqlite --case pos --volumes 10000
    .venv/bin/python benchmarks/run.py --backend postgres --postgres URL --case http --clients 8
    .venv/bin/python benchmarks/run.py --backend sqlite --case pos --volumes 10000 --profile /tmp/pos.prof
    .venv/bin/python benchmarks/run.py --backend sqlite --case pos --volumes 10000 --refund-share 0.05
    .venv/bin/python benchmarks/run.py --backend sqlite --case pos --volumes 10000,10000 --promotions 50
    .venv/bin/python benchmarks/run.py --backend both --case single --case orders --case orders-http --quick
    .venv/bin/python benchmarks/run.py --backend both --case single-async --quick

Cases (full volumes; ``--quick`` in brackets):

* ``pos``: sales of 3 lines with tax, paid cash (with change) or card, through ``pos.services.ingest_batch``
  in batches of 1000 (one transaction each) into one session, with all their consequences (stock moves,
  COGS posted per sale, events, running totals), then ``close_session`` (one aggregated entry posted).
  Reported twice: ingest + close throughput, and the close alone. 1,000 / 10,000 / 100,000 [1,000 / 10,000].
* ``http``: the same sales over HTTP, ``POST /api/v1/pos/sessions/{id}/sales:batch``, by ``--clients``
  concurrent terminals (own session and cashier token each) against uvicorn in another process.
  10,000 / 100,000 [2,000].
* ``orders``: web orders placed (priced, taxed, sourced, reserved), paid (card capture) and shipped
  (reservations consumed, revenue and COGS posted), one transaction per step: orders/s, CPU ms, SQL
  statements and p50/p99 an order, then the storage limit of the rows they inserted. 10,000 [1,000].
* ``single`` (issue 21): one POS sale per request (``sales:batch`` holding one sale) by ``--clients`` tills
  against uvicorn in another process, as fast as answered (sales/s, server and client CPU ms a sale from
  ``/proc``, p50/p99), then N/2 more paced at half that throughput (p50/p99 from each request's scheduled
  time); both phases four times, each against a fresh server: group commit off and on (decision 0078),
  each till on its own session, then all ``--clients`` on one session; then in process: N sales through
  ``ingest_batch`` one per transaction (CPU ms, SQL statements, p50/p99 a sale), N sales through the
  group writer from ``--clients`` threads on one session (CPU ms from the process time, sales a batch),
  2,000 sales batched by 1,000 (the batch reference, and the single/batched ratios), and the storage
  limit (the rows the one-by-one sales inserted, inserted again by executemany and COPY). 4,000 [400].
* ``single-async`` (decision 0084): the same one-sale requests by ``--clients`` tills on their own
  sessions, answered synchronously (group commit on), then sent with ``Prefer: respond-async`` against
  a fresh server: requests/s and p50/p99, server CPU ms a sale including the drainer's work (until the
  last accepted row is posted), the lag from acceptance to ingested (p50/p99), sales per drained batch,
  and the async/sync ratios of the same run (``benchmarks/single_async.py``). 4,000 [400].
* ``orders-http`` (issue 21): the web order lifecycle over the REST API (``POST /orders``, ``/payments``,
  ``/fulfillments``) by ``--clients`` integrations, one order after the other each: orders/s, server
  CPU ms an order, p50/p99 of a lifecycle. 2,000 [200].
* ``relay``: N events filled set-based, then ``retailcore relay --once`` publishes them to a JetStream
  stream of the run's own on the NATS server at ``RETAILCORE_NATS_URL`` (127.0.0.1:4222 by default);
  the relay process's time and peak RSS. 100,000 / 1,000,000 [10,000].
* ``reports``: trial balance and stock valuation over N posted journal lines and N stock moves written in
  bulk. 1,000,000 [100,000].

Each case and volume runs in its own process on a fresh database (a new SQLite file; PostgreSQL's schema
``public`` dropped and migrated), so the peak resident memory reported is that case's own. Setup and
data generation are outside the timings. The PostgreSQL database is created when missing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from retailcore.adapters.db import make_engine

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/retailcore_bench"
FULL = {
    "pos": [1_000, 10_000, 100_000],
    "http": [10_000, 100_000],
    "orders": [10_000],
    "single": [4_000],
    "single-async": [4_000],
    "orders-http": [2_000],
    "reports": [1_000_000],
    "relay": [100_000, 1_000_000],
}
QUICK = {
    "pos": [1_000, 10_000],
    "http": [2_000],
    "orders": [1_000],
    "single": [400],
    "single-async": [400],
    "orders-http": [200],
    "reports": [100_000],
    "relay": [10_000],
}
TARGETS = {
    ("POS ingest, batch service", "SQLite"): ("sales/s", 5000),
    ("POS ingest, batch service", "PostgreSQL"): ("sales/s", 2500),
    ("POS session close", "SQLite"): ("s", 1.0),
    ("POS session close", "PostgreSQL"): ("s", 1.0),
    ("POS ingest, HTTP", "SQLite"): ("sales/s", 1500),
    ("POS ingest, HTTP", "PostgreSQL"): ("sales/s", 1500),
    ("Relay to JetStream, backlog", "SQLite"): ("events/s", 20000),
    ("Relay to JetStream, backlog", "PostgreSQL"): ("events/s", 20000),
    ("Trial balance, year", "PostgreSQL"): ("s", 1.0),
    ("Trial balance, Nov by store", "PostgreSQL"): ("s", 1.0),
}
RESULT = "BENCH-RESULT "
out = Console(soft_wrap=True, width=max(Console().width, 120))


def ensure_postgres(url: str) -> None:
    """Create the scratch database when it does not exist (through the server's ``postgres`` database)."""
    parsed = make_url(url)
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        ).scalar()
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def child(spec: dict[str, Any]) -> None:
    """Run one case at one volume in this process and print its rows as one JSON line."""
    import cases

    from retailcore.entrypoints.bootstrap import tune_garbage_collector
    from retailcore.entrypoints.settings import Settings

    # The process runs the services the way the product's entry points do (bootstrap tunes the
    # collector for the CLI, the API and the simulator).
    tune_garbage_collector(Settings().gc_threshold)
    profile = cProfile.Profile() if spec.get("profile") else None
    rows = cases.CASES[spec["case"]](spec["url"], spec["volume"], spec["options"], profile)
    if profile:
        profile.dump_stats(spec["profile"])
        stats = pstats.Stats(profile, stream=sys.stderr).strip_dirs().sort_stats("tottime")
        stats.print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    print(RESULT + json.dumps(rows), flush=True)


def run_case(
    case: str,
    volume: int,
    backend: str,
    args: argparse.Namespace,
    work: Path,
    refund_share: float = 0.0,
    promotions: int = 0,
) -> list[dict]:
    if backend == "SQLite":
        path = work / f"{case}-{volume}.db"
        url = f"sqlite:///{path}"
    else:
        url = args.postgres
    options = {
        "clients": args.clients,
        "http_batch": args.http_batch,
        "http_workers": args.http_workers,
        "refund_share": refund_share,
        "promotions": promotions,
        "relay_batch": args.relay_batch,
    }
    spec = {"case": case, "volume": volume, "url": url, "options": options}
    if args.profile:
        spec["profile"] = f"{args.profile}.{case}.{volume}.{backend.lower()}"
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    for suffix in ("", "-wal", "-shm"):
        if backend == "SQLite":
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT)]
    if process.returncode != 0 or not lines:
        out.print(f"[red]{case} {volume:,} on {backend} failed (exit {process.returncode})[/]")
        return [{"case": case, "volume": volume, "seconds": None, "rate": None, "unit": "", "note": "FAILED"}]
    rows = json.loads(lines[-1][len(RESULT) :])
    out.print(f"  {case} {volume:,} on {backend}: done in {time.perf_counter() - started:.0f} s (with setup)")
    return rows


def verdict(result: dict[str, Any], backend: str) -> str:
    target = TARGETS.get((result["case"], backend))
    if target is None or result["seconds"] is None:
        return ""
    unit, bound = target
    if unit == "s":
        return f"{'met' if result['seconds'] < bound else 'MISSED'} (< {bound:g} s)"
    if result["rate"] is None:
        return ""
    return f"{'met' if result['rate'] >= bound else 'MISSED'} (>= {bound:,})"


def table(backend: str, rows: list[dict[str, Any]]) -> Table:
    grid = Table(title=backend, title_justify="left")
    for name in ("#", "case", "volume", "seconds", "throughput", "peak RSS MiB", "target"):
        grid.add_column(name, justify="left" if name in ("case", "target") else "right")
    for n, r in enumerate(rows, 1):
        seconds = (
            "-"
            if r["seconds"] is None
            else f"{r['seconds']:.3f}"
            if r["seconds"] < 10
            else f"{r['seconds']:.1f}"
        )
        rate = f"{r['rate']:,.0f} {r['unit']}" if r.get("rate") else ""
        peak = f"{r['peak_mib']:.0f}" if r.get("peak_mib") else ""
        grid.add_row(str(n), r["case"], f"{r['volume']:,}", seconds, rate, peak, verdict(r, backend))
    return grid


def notes(rows: list[dict[str, Any]]) -> None:
    for n, r in enumerate(rows, 1):
        if r["note"]:
            out.print(f"  {n}. {r['note']}", highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="scratch database: its schema is dropped"
    )
    parser.add_argument("--quick", action="store_true", help="small volumes (a smoke run)")
    parser.add_argument("--case", action="append", choices=sorted(FULL), help="repeatable; default all")
    parser.add_argument("--volumes", help="comma-separated volumes instead of the defaults")
    parser.add_argument(
        "--clients",
        type=int,
        default=4,
        help="concurrent HTTP clients (http, single, single-async, orders-http)",
    )
    parser.add_argument(
        "--http-batch", type=int, default=1000, help="sales per HTTP batch (the API takes at most 1000)"
    )
    parser.add_argument("--http-workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--relay-batch", type=int, default=2000, help="events per relay batch (relay case)")
    parser.add_argument(
        "--refund-share",
        type=float,
        default=0.0,
        help="pos case: run it again with about this share of refund lines (0.05: 5 %%), same run",
    )
    parser.add_argument(
        "--promotions",
        type=int,
        default=0,
        help="pos case: run it again with this many active promotions (the till sending the discounts"
        " they give), same run; repeat a volume (--volumes 10000,10000,10000) to alternate rounds",
    )
    parser.add_argument("--profile", help="cProfile the measured sections; stats written to PROFILE.case...")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    sizes = QUICK if args.quick else FULL
    selected = args.case or list(FULL)
    backends = {"sqlite": ["SQLite"], "postgres": ["PostgreSQL"], "both": ["SQLite", "PostgreSQL"]}[
        args.backend
    ]
    if "PostgreSQL" in backends:
        ensure_postgres(args.postgres)
    load = os.getloadavg()
    out.print(
        f"retailcore benchmarks: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    results: dict[str, list[dict[str, Any]]] = {}
    work = Path(tempfile.mkdtemp(prefix="retailcore-bench-"))
    try:
        for backend in backends:
            results[backend] = []
            for case in selected:
                volumes = [int(v) for v in args.volumes.split(",")] if args.volumes else sizes[case]
                for volume in volumes:
                    results[backend] += run_case(case, volume, backend, args, work)
                    if case == "pos" and args.refund_share:  # the same case with refunds, same run
                        results[backend] += run_case(case, volume, backend, args, work, args.refund_share)
                    if case == "pos" and args.promotions:  # the same case with promotions, same run
                        results[backend] += run_case(case, volume, backend, args, work, 0.0, args.promotions)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for backend, rows in results.items():
        out.print(table(backend, rows))
        notes(rows)
    load = os.getloadavg()
    out.print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
