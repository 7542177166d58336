"""Recall and false positives of the anomaly detector against the simulator's ground truth (issue 22).

Reads the company's ``SimulationGroundTruthRecorded`` events, runs a scan over their days (or
``--from``/``--to``) through the service the CLI and the API call (so it is stored and raises its
exceptions, as a scan would), and prints the confusion table: planted cases found and missed per kind,
flagged rows, false positives and their rate, by the contract's matching rule
(:mod:`retailcore.analytics.anomalies.scoring`) and by its strict reading. ``--plot`` writes the scores'
PNG (flagged vs planted rows).

    retailcore db upgrade && retailcore simulate --stores 10 --days 30 --seed 1 --start 2026-11-01
    .venv/bin/python benchmarks/anomaly_recall.py --database-url sqlite:///sim.db --company SIM \\
        --plot docs/img/intelligence/anomaly_scores.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from sqlalchemy import select

from retailcore.access.model import system_principal
from retailcore.adapters.db import make_engine, make_session_factory, transaction
from retailcore.analytics.anomalies import scoring as scoring
from retailcore.analytics.anomalies import services as detector
from retailcore.analytics.anomalies.tables import AnomalyRow
from retailcore.eventlog.services import CommandContext
from retailcore.masterdata.tables import Company


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--company", required=True)
    parser.add_argument("--from", dest="first", type=dt.date.fromisoformat)
    parser.add_argument("--to", dest="last", type=dt.date.fromisoformat)
    parser.add_argument("--plot", help="PNG of the scores, flagged vs planted")
    args = parser.parse_args()
    factory = make_session_factory(make_engine(args.database_url))
    with transaction(factory) as session:
        company = session.scalar(select(Company).where(Company.code == args.company))
        if company is None:
            raise SystemExit(f"no company {args.company}")
        cases = scoring.ground_truth(session, company.id)
        if not cases and not (args.first and args.last):
            raise SystemExit("no ground truth recorded: give --from and --to")
        first = args.first or min(case.first for case in cases)
        last = args.last or max(case.last for case in cases)
        started = time.perf_counter()
        found = detector.scan(session, CommandContext(system_principal("benchmark")), company, first, last)
        seconds = time.perf_counter() - started
        stored = session.scalars(select(AnomalyRow).where(AnomalyRow.scan_id == found.id)).all()
        rows = [scoring.Scored(row.store_code, row.cashier, row.day, row.flagged, row.kind) for row in stored]
        points = [(float(row.score), row.cashier is None, row.flagged) for row in stored]
        planted = [any(scoring.matches(case, row) for case in cases) for row in rows]
    print(
        f"{args.company} {first}..{last}: {len(rows)} rows scored in {seconds:.1f} s, {found.flagged} flagged"
    )
    for label, strict in (("contract (store rows stand for their cashiers)", False), ("strict", True)):
        table = scoring.confusion(cases, rows, strict=strict)
        print(f"\n{label}")
        print("| kind | planted | found | missed |")
        print("|---|---|---|---|")
        for kind in sorted(set(table.found) | set(table.missed)):
            hit, miss = table.found.get(kind, 0), table.missed.get(kind, 0)
            print(f"| {kind} | {hit + miss} | {hit} | {miss} |")
        print(
            f"recall {table.recall:.1%} ({sum(table.found.values())}/{table.planted});"
            f" flagged {table.flagged};"
            f" true positives {table.true_positives}; false positives {table.false_positives} of"
            f" {table.negatives} rows matching no case: FP rate {table.false_positive_rate:.2%}"
        )
    if args.plot:
        plot(points, planted, float(found.threshold), args.plot)


def plot(points: list[tuple[float, bool, bool]], planted: list[bool], threshold: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    kinds = (
        ("normal", "#9aa5b1", "o", lambda f, p: not f and not p),
        ("flagged, planted", "#c0392b", "o", lambda f, p: f and p),
        ("flagged, not planted", "#e67e22", "x", lambda f, p: f and not p),
        ("planted, missed", "#2c3e50", "s", lambda f, p: not f and p),
    )
    for ax, stores in zip(axes, (False, True), strict=True):
        # Ranked by score within the panel, so the threshold reads as a cut through one curve.
        panel = sorted(
            (score, flagged, hit)
            for (score, is_store, flagged), hit in zip(points, planted, strict=True)
            if is_store == stores
        )
        for label, colour, marker, test in kinds:
            chosen = [(rank, score) for rank, (score, f, p) in enumerate(panel) if test(f, p)]
            ax.scatter(
                [rank for rank, _ in chosen],
                [score for _, score in chosen],
                s=12,
                c=colour,
                marker=marker,
                label=f"{label} ({len(chosen)})",
            )
        ax.axhline(threshold, color="#555", linestyle="--", linewidth=1)
        ax.set_title("store x day rows" if stores else "cashier x store x day rows")
        ax.set_xlabel("rows ranked by score")
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("isolation score (dashed: threshold)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
