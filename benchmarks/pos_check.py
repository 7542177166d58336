"""The till's pricing check alone (``pos.services._verify``, decisions 0052 and 0054), per sale.

Runs the ``pos`` case with ``--promotions`` active promotions (the till sending the discounts it
applied, ``cases.with_promotions``), keeps the check's arguments for the last 1,000 sales, then checks
those sales again ``--repeats`` times, each time on sales parsed afresh from their JSON (as a request
brings them: new Decimal objects, whose hashes are not computed yet), with the book's memo warm. Prints
the best and median CPU time a sale. Only the check is timed: no database work.

    .venv/bin/python benchmarks/pos_check.py
    git archive main src | tar -x -C /tmp/base && .venv/bin/python benchmarks/pos_check.py --src /tmp/base/src
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", help="a src directory to import retailcore from (default: this tree's)")
    parser.add_argument("--sales", type=int, default=3000, help="sales ingested first (the memo warms up)")
    parser.add_argument("--promotions", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    if args.src:
        sys.path.insert(0, args.src)
    import cases

    from retailcore.pos import commands as c
    from retailcore.pos import services

    calls: list[tuple] = []
    check = services._verify

    def keep(*call: object) -> object:
        calls.append(call)
        return check(*call)

    services._verify = keep
    with tempfile.TemporaryDirectory(prefix="retailcore-check-") as work:
        cases.pos_batch(f"sqlite:///{work}/check.db", args.sales, {"promotions": args.promotions}, None)
    services._verify = check
    calls = calls[-1000:]
    texts = [call[2].model_dump_json() for call in calls]
    seconds = []
    for _ in range(args.repeats):
        fresh = []
        for call, text in zip(calls, texts, strict=True):
            sale = c.SaleIn.model_validate_json(text)
            fresh.append((call[0], call[1], sale, list(enumerate(sale.lines)), call[4]))
        started = time.process_time()
        for call in fresh:
            check(*call)
        seconds.append(time.process_time() - started)
    best, median = min(seconds) / len(calls) * 1e6, statistics.median(seconds) / len(calls) * 1e6
    print(
        f"the till's check ({services.__file__}): {len(calls)} sales, {args.promotions} promotions:"
        f" best {best:.1f} us, median {median:.1f} us of CPU a sale"
    )


if __name__ == "__main__":
    main()
