"""CPU time of POS ingest with and without refund lines, alternating runs, and where the refunds' share
goes: a steadier comparison than the wall clock on a busy machine (docs/benchmarks.md, "POS with
refunds at the till").

    .venv/bin/python benchmarks/pos_refunds_cpu.py --runs 4 --volume 10000 --share 0.05
    .venv/bin/python benchmarks/pos_refunds_cpu.py --runs 3 --backend postgres --postgres URL --statements 25

Each run is its own process on a fresh database (a SQLite file, or the PostgreSQL database's schema
dropped and migrated), with the garbage collector off (its pauses depend on the whole heap, the
benchmark's own included) unless ``--collector tuned``. Each service function below is wrapped to add
up the process CPU time it takes (nested ones count in their callers too).

Inside the timed batches (and their commits) the SQL is counted too: statements and their wall time by
shape (``before_cursor_execute`` / ``after_cursor_execute``, an ``executemany`` once; the ``COPY`` of
:func:`retailcore.adapters.bulk.insert_values` as one statement of its table), and on PostgreSQL the
server's CPU time of the backends that ran them (``utime + stime`` of ``pg_backend_pid()`` in
``/proc``, on a server on this machine): the server's share of a batch, which the process's CPU figure
does not hold, and which other processes' load moves far less than the wall clock.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAPPED = {
    "retailcore.pos.services": (
        "ingest_batch",
        "_Context",
        "_price_sale",
        "_price_refund",
        "_move_goods",
        "record_carry_out",
        "_sale_totals",
    ),
    "retailcore.pos.refunds": (
        "load_originals",
        "known_refunds",
        "place_goods",
        "take_refunds",
        "claim",
        "_record_returns",
    ),
    "retailcore.inventory.reservations": ("_on_stock_moved",),
    "retailcore.analytics.feed": ("refresh_pending",),
}
"""Wrapped where they are looked up at call time (a module attribute); the commit, which the batch's
``transaction`` runs after ``ingest_batch`` (subscribers at ``before_commit`` included), is wrapped on
the session transaction class: the refunds' share of the batch is both."""


class Sql:
    """Statements of the timed sections by shape: count and wall seconds; and the server's CPU."""

    def __init__(self) -> None:
        self.active = False
        self.shapes: dict[str, list[float]] = {}
        self.backends: set[int] = set()
        self.server_cpu = 0.0
        self._cpu_at_start = 0.0

    def install(self) -> None:
        import importlib

        from sqlalchemy import Engine, event

        from retailcore.adapters import bulk

        event.listen(Engine, "connect", self._connected)
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        original = bulk.insert_values

        def copied(session, table, names, rows):  # type: ignore[no-untyped-def]
            pid = session.connection().info.get("pg_pid")
            started, on_cpu = time.perf_counter(), _on_cpu(pid)
            try:
                return original(session, table, names, rows)
            finally:
                self.add(
                    f"COPY/executemany {table.name} (insert_values)",
                    time.perf_counter() - started,
                    _on_cpu(pid) - on_cpu,
                )

        # Bound by name in the modules that imported it, as well as in its own.
        for module in list(sys.modules.values()):
            if getattr(module, "insert_values", None) is original:
                module.insert_values = copied  # type: ignore[attr-defined]
        importlib.import_module("retailcore.adapters.bulk").insert_values = copied

    def _connected(self, dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        if "psycopg" in type(dbapi_connection).__module__:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            self.backends.add(pid)
            record.info["pg_pid"] = pid

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        conn.info["sql_started"] = (time.perf_counter(), _on_cpu(conn.info.get("pg_pid")))

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        started = conn.info.pop("sql_started", None)
        if started is not None:
            wall, on_cpu = started
            self.add(
                " ".join(statement.split())[:110],
                time.perf_counter() - wall,
                _on_cpu(conn.info.get("pg_pid")) - on_cpu,
            )

    def add(self, shape: str, seconds: float, server: float = 0.0) -> None:
        if self.active:
            seen = self.shapes.setdefault(shape, [0, 0.0, 0.0])
            seen[0] += 1
            seen[1] += seconds
            seen[2] += server

    def backend_cpu(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.backends:
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def start(self) -> None:
        self.active = True
        self._cpu_at_start = self.backend_cpu()

    def stop(self) -> None:
        self.active = False
        self.server_cpu += self.backend_cpu() - self._cpu_at_start


def _on_cpu(pid: int | None) -> float:
    """Seconds the process ``pid`` (a PostgreSQL backend) has run on a CPU so far, from the scheduler's
    nanosecond account (``/proc/<pid>/schedstat``): read around each statement, the server's own CPU
    time for it, which waiting for a core on a loaded machine does not add to."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0]) / 1e9
    except OSError:
        return 0.0


def child(volume: int, share: float, collector: str, url: str, statements: bool) -> None:
    import importlib
    from contextlib import contextmanager

    sys.path.insert(0, str(Path(__file__).parent))
    import cases

    sql = Sql()
    if statements:
        sql.install()
    measure = cases.Timer.measure
    timed_batches = {"wall": 0.0, "batches": 0}

    @contextmanager
    def measured(self):  # type: ignore[no-untyped-def]
        # The ingest's timer only: the close is timed by a timer of its own, after the last batch.
        batch = not getattr(self, "closing", False)
        if batch:
            sql.start()
        started = time.perf_counter()
        try:
            with measure(self):
                yield
        finally:
            if batch:
                sql.stop()
                timed_batches["wall"] += time.perf_counter() - started
                timed_batches["batches"] += 1

    cases.Timer.measure = measured  # type: ignore[method-assign]
    original_timer = cases.Timer

    class Timer(original_timer):  # type: ignore[misc,valid-type]
        created = 0

        def __init__(self, profile):  # type: ignore[no-untyped-def]
            super().__init__(profile)
            Timer.created += 1
            self.closing = Timer.created > 1  # pos_batch makes the batches' timer first, the close's second

    cases.Timer = Timer  # type: ignore[misc]

    spent: dict[str, float] = {}
    for module_name, names in WRAPPED.items():
        module = importlib.import_module(module_name)
        for name in names:
            original = getattr(module, name)

            def timed(*args, __original=original, __name=name, **kwargs):  # type: ignore[no-untyped-def]
                started = time.process_time()
                try:
                    return __original(*args, **kwargs)
                finally:
                    spent[__name] = spent.get(__name, 0.0) + time.process_time() - started

            setattr(module, name, functools.wraps(original)(timed))
    from sqlalchemy.orm.session import SessionTransaction

    commit = SessionTransaction.commit

    def timed_commit(self):  # type: ignore[no-untyped-def]
        started = time.process_time()
        try:
            return commit(self)
        finally:
            spent["commit"] = spent.get("commit", 0.0) + time.process_time() - started

    SessionTransaction.commit = timed_commit  # type: ignore[method-assign]
    if collector == "off":
        gc.disable()
    else:  # as the product runs (decision 0010)
        from retailcore.entrypoints.bootstrap import tune_garbage_collector

        tune_garbage_collector(50_000)
    with tempfile.TemporaryDirectory() as work:
        cases.pos_batch(url or f"sqlite:///{work}/pos.db", volume, {"refund_share": share}, None)
    spent["wall"] = timed_batches["wall"]
    spent["batches"] = timed_batches["batches"]
    if statements:
        spent["server CPU"] = sql.server_cpu
        spent["sql"] = sql.shapes  # type: ignore[assignment]
    print(json.dumps(spent))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--volume", type=int, default=10_000)
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument(
        "--collector", choices=("off", "tuned"), default="off", help="off, or tuned as the product runs it"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/retailcore_bench",
        help="scratch database (its schema is dropped) for --backend postgres",
    )
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="count the timed SQL by shape and print the N shapes whose time differs most",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        volume, share, collector, url, statements = args.child
        child(int(volume), float(share), collector, url if url != "-" else "", statements == "1")
        return
    url = "-"
    if args.backend == "postgres":
        sys.path.insert(0, str(Path(__file__).parent))
        from run import ensure_postgres

        ensure_postgres(args.postgres)
        url = args.postgres
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results: dict[float, list[dict[str, float]]] = {0.0: [], args.share: []}
    for _ in range(args.runs):
        for share in results:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(args.volume),
                    str(share),
                    args.collector,
                    url,
                    "1" if args.statements else "0",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            run = json.loads(out.strip().splitlines()[-1])
            results[share].append(run)
            line = f"  {share:>4.0%} refunds: {args.volume / run['wall']:7,.0f} sales/s"
            line += f", ingest_batch + commit {run.get('ingest_batch', 0) + run.get('commit', 0):.3f} CPU s"
            if "sql" in run:
                count = sum(shape[0] for shape in run["sql"].values())
                seconds = sum(shape[1] for shape in run["sql"].values())
                line += f", {count / run['batches']:.1f} statements"
                line += f" ({seconds / run['batches'] * 1000:.1f} ms) a batch"
                line += f", server CPU {run['server CPU'] / run['batches'] * 1000:.1f} ms a batch"
            print(line, flush=True)
    sql = {share: [run.pop("sql", {}) for run in runs] for share, runs in results.items()}
    for runs in results.values():
        for run in runs:
            run["ingest_batch + commit"] = run.get("ingest_batch", 0.0) + run.get("commit", 0.0)
    names = sorted({name for runs in results.values() for run in runs for name in run} - {"batches"})
    best = {
        share: {name: min(run.get(name, 0.0) for run in runs) for name in names}
        for share, runs in results.items()
    }
    print(f"{'CPU s (best of ' + str(args.runs) + ')':<28} {'no refunds':>11} {args.share:>10.0%} {'gap':>8}")
    for name in sorted(names, key=lambda n: -best[args.share][n]):
        without, with_ = best[0.0][name], best[args.share][name]
        gap = f"{(with_ / without - 1) * 100:+.0f} %" if without else ""
        print(f"{name:<28} {without:>11.3f} {with_:>10.3f} {gap:>8}")
    if args.statements:
        _print_shapes(results, sql, args.share, args.statements)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _print_shapes(
    results: dict[float, list[dict[str, float]]],
    sql: dict[float, list[dict[str, list[float]]]],
    share: float,
    top: int,
) -> None:
    """Per batch, the statements of each shape and their wall time (median of the runs), the shapes whose
    time differs most between the two first."""
    import statistics

    per_batch: dict[float, dict[str, tuple[float, float, float]]] = {}
    for key, runs in sql.items():
        shapes = {shape for run in runs for shape in run}
        batches = [run["batches"] for run in results[key]]
        per_batch[key] = {
            shape: tuple(  # type: ignore[misc]
                statistics.median(
                    run.get(shape, [0, 0.0, 0.0])[field] / n for run, n in zip(runs, batches, strict=True)
                )
                for field in range(3)
            )
            for shape in shapes
        }
    shapes = per_batch[0.0].keys() | per_batch[share].keys()
    zero = (0.0, 0.0, 0.0)

    def gap(shape: str) -> float:
        return per_batch[share].get(shape, zero)[2] - per_batch[0.0].get(shape, zero)[2]

    print(
        f"\nSQL a batch (median of runs), no refunds | {share:.0%} refunds | server CPU ms gap:"
        " statements, wall ms, server CPU ms"
    )
    for key in (0.0, share):
        count, seconds, server = (sum(v[field] for v in per_batch[key].values()) for field in range(3))
        print(
            f"  all statements, {key:.0%}: {count:.1f} statements, {seconds * 1000:.1f} ms,"
            f" server CPU {server * 1000:.1f} ms"
        )
    for shape in sorted(shapes, key=lambda s: -abs(gap(s)))[:top]:
        (n0, s0, c0), (n1, s1, c1) = per_batch[0.0].get(shape, zero), per_batch[share].get(shape, zero)
        print(
            f"{n0:5.1f} {s0 * 1000:6.1f} {c0 * 1000:6.1f} | {n1:5.1f} {s1 * 1000:6.1f} {c1 * 1000:6.1f}"
            f" | {gap(shape) * 1000:+6.2f}  {shape}"
        )


if __name__ == "__main__":
    main()
