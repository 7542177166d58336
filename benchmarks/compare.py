"""Compare the POS batch service of a git revision with the working tree, alternating runs.

This machine's speed moves by up to 1.5x from one minute to the next, so two benchmark runs made a few
minutes apart do not compare two versions of the code. Here the two versions take turns (base, work,
base, work...), each run in its own process on a fresh database, timing every batch of 1,000 sales
after two warm-up batches; the table shows each run's best, first quartile and median batch, wall
clock and CPU (the difference on PostgreSQL is the wait for the server).

    .venv/bin/python benchmarks/compare.py --base b33a081
    .venv/bin/python benchmarks/compare.py --base HEAD~3 --backend postgres --batches 12 --rounds 3

``--promotions N`` compares, instead, the same sales without promotions and with N active promotions
(the till sending the discounts it applied, as ``run.py --promotions`` does), on SQLite: each run is
one process holding two tills (two database files), whose batches take turns (none, promotions, then
promotions, none...), so that both see the same machine. With ``--base`` the base runs the same pairs
in turns with the working tree: the ratio before and after a change, in the same run.

    .venv/bin/python benchmarks/compare.py --promotions 50 --base main --batches 10 --rounds 3

``--case single`` compares one POS sale per transaction through the same batch service (the path
a connected till's request takes, without HTTP), ``--case orders`` the web order lifecycle (place,
capture, fulfil): per item, the median and p99 wall time, the median and least CPU time, and the SQL
statements per item, which do not move with the machine's load and are read first.

    .venv/bin/python benchmarks/compare.py --case single --base main --items 300 --rounds 3
    .venv/bin/python benchmarks/compare.py --case orders --base main --backend postgres --items 150

The base's ``src`` is taken with ``git archive`` into a temporary directory; the sales and the shop come
from this tree's ``benchmarks/retail.py``, so the base must be recent enough to run it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT = "COMPARE-RESULT "
WARM_UP = 2
ITEM_WARM_UP = 20
"""Untimed sales or orders before the clock starts (``--case single|orders``)."""


def child(url: str, batches: int) -> None:
    """Ingest ``batches`` batches of 1,000 sales into one session; print the timed batches as JSON."""
    import cases
    import retail

    from retailcore.adapters.db import transaction
    from retailcore.entrypoints.bootstrap import tune_garbage_collector
    from retailcore.entrypoints.settings import Settings
    from retailcore.pos import services as pos

    tune_garbage_collector(Settings().gc_threshold)
    till = retail.open_till(url, "CMP1", "Compare")
    engine, factory, session_id = till.engine, till.factory, till.session_id
    sales = retail.Sales(till.shop.pos_products, seed=batches)
    timed: list[tuple[float, float]] = []
    for number, batch in enumerate(sales.batches((batches + WARM_UP) * 1000, 1000)):
        wall, cpu = time.perf_counter(), time.process_time()
        with transaction(factory) as session:
            pos.ingest_batch(session, retail.ctx(), session_id, batch)
        if number >= WARM_UP:
            timed.append((time.perf_counter() - wall, time.process_time() - cpu))
        if number == 0:
            cases.fresh_statistics(engine)
    engine.dispose()
    print(RESULT + json.dumps(timed), flush=True)


def child_items(case: str, url: str, items: int) -> None:
    """One sale per transaction (``single``) or one web order lifecycle (``orders``), ``items`` times
    after ``ITEM_WARM_UP`` untimed ones, in process; print each item's wall and CPU seconds and the SQL
    statements the timed items sent, as JSON."""
    import cases
    import retail

    from retailcore.adapters.db import make_engine, make_session_factory
    from retailcore.entrypoints.bootstrap import tune_garbage_collector
    from retailcore.entrypoints.settings import Settings

    tune_garbage_collector(Settings().gc_threshold)
    if case == "single":
        till = retail.open_till(url, "CMP1", "Compare")
        engine, factory = till.engine, till.factory
        sales = retail.Sales(till.shop.pos_products, seed=items)

        def work(count: int) -> Iterator[None]:
            for [sale] in sales.batches(count, 1):
                cases.ingest_one(factory, till.session_id, sale)
                yield

    else:
        engine = make_engine(url)
        retail.reset(engine)
        factory = make_session_factory(engine)
        shop = retail.set_up(factory, receive_at=(retail.WAREHOUSE,))
        steps = {name: cases.Timer(None) for name in ("place", "capture", "fulfil")}
        lifecycles = cases.order_lifecycles(factory, shop, ITEM_WARM_UP + items, items, steps)

        def work(count: int) -> Iterator[None]:
            for _ in range(count):
                next(lifecycles)
                yield

    for _ in work(ITEM_WARM_UP):
        pass
    cases.fresh_statistics(engine)
    statements = cases.Statements(engine)
    timed: list[tuple[float, float]] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in work(items):
        now, cpu_now = time.perf_counter(), time.process_time()
        timed.append((now - wall, cpu_now - cpu))
        wall, cpu = now, cpu_now
    engine.dispose()
    print(RESULT + json.dumps({"timed": timed, "statements": statements.count / items}), flush=True)


def compare_items(args: argparse.Namespace) -> None:
    """``--case single`` or ``--case orders`` (module docstring): per side and round, median and p99
    wall milliseconds per item, median and best CPU milliseconds, SQL statements per item."""
    import cases
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="retailcore-compare-") as work:
        sides = _sides(args.base, Path(work))
        unit = {"single": "sale (one per transaction)", "orders": "web order lifecycle"}[args.case]
        table = Table(title=f"{unit}, {args.backend}: milliseconds per item, {args.items} items a run")
        for column in (
            "round",
            "code",
            "wall p50",
            "wall p99",
            "CPU p50",
            "CPU best",
            "SQL statements",
            "items/s at p50",
        ):
            table.add_column(column)
        for round_number in range(1, args.rounds + 1):
            for label, source in sides.items():
                url = args.postgres if args.backend == "postgres" else f"sqlite:///{Path(work) / 'c.db'}"
                found = _child_json(source, ["--child-items", args.case, url, str(args.items)])
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{Path(work) / 'c.db'}{suffix}").unlink(missing_ok=True)
                walls = [wall for wall, _ in found["timed"]]
                cpus = [cpu for _, cpu in found["timed"]]
                cells = [
                    f"{statistics.median(walls) * 1000:.2f}",
                    f"{cases.percentile(walls, 0.99) * 1000:.2f}",
                    f"{statistics.median(cpus) * 1000:.2f}",
                    f"{min(cpus) * 1000:.2f}",
                    f"{found['statements']:.1f}",
                    f"{1 / statistics.median(walls):,.0f}",
                ]
                table.add_row(str(round_number), label, *cells)
                print(f"  .. round {round_number}, {label}: {cells}", file=sys.stderr, flush=True)
        Console(width=max(Console().width, 110)).print(table)


def _sides(base: str, work: Path) -> dict[str, Path]:
    """The base revision's ``src`` (``git archive`` into ``work``) and the working tree's."""
    target = work / "base"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", base, "src"], stdout=subprocess.PIPE, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return {f"base {base}": target / "src", "working tree": ROOT / "src"}


def _child_json(source: Path, arguments: list[str]) -> Any:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(HERE)])}
    process = subprocess.run(
        [sys.executable, __file__, *arguments],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT)]
    if process.returncode != 0 or not lines:
        raise SystemExit(f"a run with {source} failed (exit {process.returncode})")
    return json.loads(lines[-1][len(RESULT) :])


def child_promotions(work: str, batches: int, promotions: int) -> None:
    """Two tills, without and with ``promotions`` active promotions, their batches of 1,000 sales in
    turns; print each timed pair ``[[wall, cpu] without, [wall, cpu] with]`` as JSON."""
    import cases
    import retail

    from retailcore.adapters.db import transaction
    from retailcore.entrypoints.bootstrap import tune_garbage_collector
    from retailcore.entrypoints.settings import Settings
    from retailcore.pos import services as pos

    tune_garbage_collector(Settings().gc_threshold)
    tills, streams = [], []
    for label, count in (("none", 0), ("promotions", promotions)):
        till = retail.open_till(f"sqlite:///{Path(work) / label}.db", "CMP1", "Compare")
        pricer = cases.with_promotions(till, count) if count else None
        sales = retail.Sales(till.shop.pos_products, seed=batches, pricer=pricer)
        tills.append(till)
        streams.append(sales.batches((batches + WARM_UP) * 1000, 1000))
    timed: list[list[list[float]]] = []
    for number, pair in enumerate(zip(*streams, strict=True)):
        measured: list[list[float]] = [[], []]
        order = (0, 1) if number % 2 == 0 else (1, 0)
        for side in order:
            till = tills[side]
            wall, cpu = time.perf_counter(), time.process_time()
            with transaction(till.factory) as session:
                pos.ingest_batch(session, retail.ctx(), till.session_id, pair[side])
            measured[side] = [time.perf_counter() - wall, time.process_time() - cpu]
        if number >= WARM_UP:
            timed.append(measured)
    for till in tills:
        till.engine.dispose()
    print(RESULT + json.dumps(timed), flush=True)


def _run_promotions(source: Path, work: str, batches: int, promotions: int) -> list[list[list[float]]]:
    return _child_json(source, ["--child-promotions", work, str(batches), str(promotions)])


def compare_promotions(args: argparse.Namespace) -> None:
    """The ``--promotions`` comparison (module docstring): per side and round, the median batch CPU
    without and with promotions, their ratio, and the median of the ratios of adjacent pairs."""
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory(prefix="retailcore-compare-") as work:
        sides = {"working tree": ROOT / "src"}
        if args.base:
            base = Path(work) / "base"
            base.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.base, "src"], stdout=subprocess.PIPE, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
            sides = {f"base {args.base}": base / "src", **sides}
        table = Table(
            title=f"POS batch of 1,000 sales on SQLite, without and with {args.promotions} active promotions:"
            " medians, seconds"
        )
        for column in (
            "round",
            "code",
            "wall none",
            "wall with",
            "CPU none",
            "CPU with",
            "CPU ratio",
            "pair ratio (median)",
            "best CPU none",
            "best CPU with",
            "best ratio",
        ):
            table.add_column(column)
        everything: dict[str, list[list[list[float]]]] = {label: [] for label in sides}
        for round_number in range(1, args.rounds + 1):
            for label, source in sides.items():
                runs = Path(work) / f"run{round_number}"
                runs.mkdir(exist_ok=True)
                timed = _run_promotions(source, str(runs), args.batches, args.promotions)
                for path in runs.iterdir():
                    path.unlink()
                everything[label] += timed
                table.add_row(str(round_number), label, *_promotion_cells(timed))
                print(
                    f"  .. round {round_number}, {label}: {_promotion_cells(timed)}",
                    file=sys.stderr,
                    flush=True,
                )
        for label, timed in everything.items():
            table.add_row("all", label, *_promotion_cells(timed))
        Console(width=max(Console().width, 130)).print(table)


def _promotion_cells(timed: list[list[list[float]]]) -> list[str]:
    wall_none = statistics.median(pair[0][0] for pair in timed)
    wall_with = statistics.median(pair[1][0] for pair in timed)
    cpu_none = statistics.median(pair[0][1] for pair in timed)
    cpu_with = statistics.median(pair[1][1] for pair in timed)
    pairs = statistics.median(pair[1][1] / pair[0][1] for pair in timed)
    # Best of N: load from other processes only ever adds time, so the least CPU a batch took is the
    # estimate least disturbed by a busy machine.
    best_none = min(pair[0][1] for pair in timed)
    best_with = min(pair[1][1] for pair in timed)
    return [
        f"{wall_none:.3f}",
        f"{wall_with:.3f}",
        f"{cpu_none:.3f}",
        f"{cpu_with:.3f}",
        f"{cpu_with / cpu_none:.3f}",
        f"{pairs:.3f}",
        f"{best_none:.3f}",
        f"{best_with:.3f}",
        f"{best_with / best_none:.3f}",
    ]


def _run(source: Path, url: str, batches: int) -> list[tuple[float, float]]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), str(HERE)])}
    process = subprocess.run(
        [sys.executable, __file__, "--child", url, str(batches)],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT)]
    if process.returncode != 0 or not lines:
        raise SystemExit(f"a run with {source} failed (exit {process.returncode})")
    return [tuple(pair) for pair in json.loads(lines[-1][len(RESULT) :])]


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{ordered[0]:.3f} / {ordered[len(ordered) // 4]:.3f} / {statistics.median(ordered):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", help="git revision to compare the working tree with (required)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/retailcore_bench"),
        help="scratch PostgreSQL database (its schema is dropped)",
    )
    parser.add_argument("--batches", type=int, default=15, help="timed batches of 1,000 sales per run")
    parser.add_argument("--rounds", type=int, default=3, help="base/work pairs")
    parser.add_argument(
        "--promotions",
        type=int,
        default=0,
        help="compare the same sales without and with this many active promotions (SQLite; see above)",
    )
    parser.add_argument(
        "--case",
        choices=("pos", "single", "orders"),
        default="pos",
        help="pos: batches of 1,000 sales (default); single: one sale per transaction; orders: web order"
        " lifecycles",
    )
    parser.add_argument("--items", type=int, default=200, help="single, orders: timed items per run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-items", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-promotions", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if args.child_items:
        case, url, items = args.child_items
        child_items(case, url, int(items))
        return
    if args.child_promotions:
        work, batches, promotions = args.child_promotions
        child_promotions(work, int(batches), int(promotions))
        return
    if args.promotions:
        compare_promotions(args)
        return
    if not args.base:
        parser.error("--base is required")
    if args.case != "pos":
        if args.backend == "postgres":
            import run

            run.ensure_postgres(args.postgres)
        compare_items(args)
        return

    from rich.console import Console
    from rich.table import Table

    if args.backend == "postgres":
        import run

        run.ensure_postgres(args.postgres)
    with tempfile.TemporaryDirectory(prefix="retailcore-compare-") as work:
        sides = _sides(args.base, Path(work))
        table = Table(
            title=f"POS batch of 1,000 sales, {args.backend}: best / first quartile / median, seconds"
        )
        for column in ("round", "code", "wall", "CPU", "sales/s at the median"):
            table.add_column(column)
        for round_number in range(1, args.rounds + 1):
            for label, source in sides.items():
                url = args.postgres if args.backend == "postgres" else f"sqlite:///{Path(work) / 'c.db'}"
                timed = _run(source, url, args.batches)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{Path(work) / 'c.db'}{suffix}").unlink(missing_ok=True)
                walls, cpus = [wall for wall, _ in timed], [cpu for _, cpu in timed]
                rate = f"{1000 / statistics.median(walls):,.0f}"
                table.add_row(str(round_number), label, _summary(walls), _summary(cpus), rate)
                print(f"  .. round {round_number}, {label}: {_summary(walls)}", file=sys.stderr, flush=True)
        Console(width=max(Console().width, 110)).print(table)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
