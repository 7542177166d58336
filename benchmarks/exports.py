"""Time the exports of one month holding N posted journal lines, and show that they stream (peak RSS).

    .venv/bin/python benchmarks/exports.py sqlite:////tmp/exports_bench.db --lines 1000000
    .venv/bin/python benchmarks/exports.py sqlite:////tmp/exports_bench.db --reuse        # export again

The database is a scratch SQLite file, filled as ``bulk.fill`` fills it (company BENCH, 8 stores, entries
of two lines with store, channel and category dimensions) but with every entry on a day of November 2026,
so the month holds all ``--lines`` lines and October none. Each export then runs as its own process,
exactly as an operator runs it (``retailcore export saft --period 2026-11 --company BENCH --output
FILE``), under ``/usr/bin/time``: its wall time, its CPU time (user + system, less at the mercy of the
other processes of a shared machine) and its peak resident memory are printed, with the same command for
the empty October as the baseline: the difference is what the month's lines cost in memory, which
streaming keeps flat. ``--validate`` also checks the SAF-T file against the XSD (lxml then holds the
whole file: use it on small volumes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bulk
import retail

from retailcore.adapters.db import make_engine

RETAILCORE = str(Path(sys.executable).with_name("retailcore"))
XSD = Path(__file__).resolve().parents[2] / "shared/fixtures/saft/Norwegian_SAF-T_Financial_Schema_v_1.30.xsd"


def run(url: str, kind: str, period: str, target: Path) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak MiB, bytes) of one ``retailcore export`` process, measured by
    ``/usr/bin/time``
    (whose child forks from it, not from this process: a fork hands down the parent's peak RSS)."""
    env = {**os.environ, "RETAILCORE_DATABASE_URL": url}
    command = [RETAILCORE, "export", kind, "--period", period, "--company", "BENCH", "--output", str(target)]
    timed = ["/usr/bin/time", "-f", "%e %U %S %M", *command]
    result = subprocess.run(timed, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {result.stderr.decode()}")
    wall, user, system, kib = result.stderr.decode().strip().splitlines()[-1].split()
    cpu = float(user) + float(system)  # float-ok: timings, not money
    return float(wall), cpu, int(kib) / 1024, target.stat().st_size  # float-ok: timings, not money


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="export the data already there")
    parser.add_argument("--validate", action="store_true", help="validate the SAF-T file against the XSD")
    args = parser.parse_args()

    if not args.reuse:
        engine = make_engine(args.url)
        retail.reset(engine)
        started = time.perf_counter()
        bulk.LINES_START, bulk.LINES_DAYS = dt.date(2026, 11, 1), 30
        bulk.fill(engine, args.lines, 0)
        engine.dispose()
        print(f"filled {args.lines:,} lines into November 2026 in {time.perf_counter() - started:.0f} s")

    with tempfile.TemporaryDirectory() as folder:
        for kind in ("saft", "gl", "journals"):
            for period in ("2026-10", "2026-11"):
                target = Path(folder) / f"{kind}-{period}"
                wall, cpu, mib, size = run(args.url, kind, period, target)
                figures = f"{wall:7.1f} s wall {cpu:7.1f} s CPU  peak RSS {mib:6.0f} MiB"
                figures += f"  {size / 2**20:8.1f} MiB file"
                print(f"{kind:9} {period}  {figures}")
                if kind == "saft" and period == "2026-11" and args.validate:
                    from lxml import etree

                    schema = etree.XMLSchema(etree.parse(str(XSD)))
                    schema.assertValid(etree.parse(str(target)))
                    print("          the SAF-T file validates against the XSD")


if __name__ == "__main__":
    main()
