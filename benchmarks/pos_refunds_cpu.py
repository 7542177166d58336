"""CPU time of POS ingest with and without refund lines, alternating runs, and where the refunds' share
goes: a steadier comparison than the wall clock on a busy machine (docs/benchmarks.md, "POS with
refunds at the till").

    .venv/bin/python benchmarks/pos_refunds_cpu.py --runs 4 --volume 10000 --share 0.05

Each run is its own process on a fresh SQLite file, with the garbage collector off (its pauses depend
on the whole heap, the benchmark's own included). Each service function below is wrapped to add up the
process CPU time it takes (nested ones count in their callers too).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
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


def child(volume: int, share: float, collector: str) -> None:
    import importlib

    sys.path.insert(0, str(Path(__file__).parent))
    import cases

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
        cases.pos_batch(f"sqlite:///{work}/pos.db", volume, {"refund_share": share}, None)
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
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), float(args.child[1]), args.child[2])
        return
    results: dict[float, list[dict[str, float]]] = {0.0: [], args.share: []}
    for _ in range(args.runs):
        for share in results:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(args.volume), str(share), args.collector],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[share].append(json.loads(out.strip().splitlines()[-1]))
    for runs in results.values():
        for run in runs:
            run["ingest_batch + commit"] = run.get("ingest_batch", 0.0) + run.get("commit", 0.0)
    names = sorted({name for runs in results.values() for run in runs for name in run})
    best = {
        share: {name: min(run.get(name, 0.0) for run in runs) for name in names}
        for share, runs in results.items()
    }
    print(f"{'CPU s (best of ' + str(args.runs) + ')':<28} {'no refunds':>11} {args.share:>10.0%} {'gap':>8}")
    for name in sorted(names, key=lambda n: -best[args.share][n]):
        without, with_ = best[0.0][name], best[args.share][name]
        gap = f"{(with_ / without - 1) * 100:+.0f} %" if without else ""
        print(f"{name:<28} {without:>11.3f} {with_:>10.3f} {gap:>8}")


if __name__ == "__main__":
    main()
