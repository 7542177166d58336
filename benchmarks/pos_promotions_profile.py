"""Where the POS batch's extra time with active promotions goes: one cProfile per till, CPU clock.

Two tills in one process, as ``compare.py --promotions`` runs them (two SQLite files, the same seeded
sales, without and with N active promotions, the till sending the discounts it applied), their
batches of 1,000 in turns after two warm-up batches each; each till's batches are profiled by its own
``cProfile.Profile`` on ``time.process_time``. Prints the functions whose time (own, then cumulative)
grows most with promotions, and each side's calls of a few functions that count work done (JSON dumps,
roundings, ``discount_net``): call counts do not move with the machine's load, times do. The stats are
written to ``PREFIX.none`` and ``PREFIX.with`` for pstats or snakeviz.

    .venv/bin/python benchmarks/pos_promotions_profile.py --batches 6 --prefix /tmp/pos-promotions
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COUNTED = ("dumps", "discount_net", "round_to_currency", "tax_line_alone", "price", "_verify")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=6, help="timed batches of 1,000 sales per till")
    parser.add_argument("--promotions", type=int, default=50)
    parser.add_argument("--prefix", default="/tmp/pos-promotions", help="where the two stats files go")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import cases
    import retail

    from retailcore.adapters.db import transaction
    from retailcore.entrypoints.bootstrap import tune_garbage_collector
    from retailcore.entrypoints.settings import Settings
    from retailcore.pos import services as pos

    tune_garbage_collector(Settings().gc_threshold)
    work = tempfile.mkdtemp(prefix="retailcore-profile-")
    tills, streams = [], []
    for label, count in (("none", 0), ("with", args.promotions)):
        till = retail.open_till(f"sqlite:///{Path(work) / label}.db", "CMP1", "Compare")
        pricer = cases.with_promotions(till, count) if count else None
        sales = retail.Sales(till.shop.pos_products, seed=args.batches, pricer=pricer)
        tills.append(till)
        streams.append(sales.batches((args.batches + 2) * 1000, 1000))
    profiles = [cProfile.Profile(time.process_time), cProfile.Profile(time.process_time)]
    cpu = [0.0, 0.0]
    for number, pair in enumerate(zip(*streams, strict=True)):
        for side in (0, 1) if number % 2 == 0 else (1, 0):
            till, timed = tills[side], number >= 2
            started = time.process_time()
            if timed:
                profiles[side].enable()
            with transaction(till.factory) as session:
                pos.ingest_batch(session, retail.ctx(), till.session_id, pair[side])
            if timed:
                profiles[side].disable()
                cpu[side] += time.process_time() - started
    for till in tills:
        till.engine.dispose()
    print(f"CPU under the profiler: none {cpu[0]:.3f} s, with {cpu[1]:.3f} s, ratio {cpu[1] / cpu[0]:.3f}")
    stats = []
    for side, profile in zip(("none", "with"), profiles, strict=True):
        profile.dump_stats(f"{args.prefix}.{side}")
        stats.append(pstats.Stats(profile).stats)  # type: ignore[attr-defined]
    _report(stats[0], stats[1], args.top)


def _report(none: dict, with_: dict, top: int) -> None:
    empty = (0, 0, 0.0, 0.0)
    rows = []
    for key in set(none) | set(with_):
        a, b = none.get(key, empty), with_.get(key, empty)
        name = f"{Path(key[0]).name}:{key[1]}({key[2]})"
        rows.append((b[2] - a[2], b[3] - a[3], a[1], b[1], name))
    print("own s +  cum s +  calls none  calls with  function")
    for title, order in (("by own time", 0), ("by cumulative time", 1)):
        print(f"-- {title}")
        for row in sorted(rows, key=lambda r: -r[order])[:top]:
            own, cumulative, calls_none, calls_with, name = row
            print(f"{own:6.3f} {cumulative:7.3f} {calls_none:11d} {calls_with:11d}  {name}")
    print("-- work counted (calls: none / with)")
    for name in COUNTED:
        calls = [sum(v[1] for k, v in side.items() if k[2] == name) for side in (none, with_)]
        print(f"{name}: {calls[0]} / {calls[1]}")


if __name__ == "__main__":
    main()
