"""Mismatch triage: the classifier's accuracy on held-out labelled payment mismatches, against the
majority class, with its confusion matrix, and how many the rules alone decide (docs/intelligence.md,
"Mismatch triage"; decision 0076).

    .venv/bin/python benchmarks/triage_accuracy.py [--samples 1800] [--seed 0] [--plot]

The labelled set comes from :mod:`retailcore.analytics.triage.samples` (a known cause -> the details
and money at risk the connectors' producer writes); two thirds train, one third (stratified) is held
out. ``--plot`` writes docs/img/intelligence/triage_confusion.png.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from sklearn.metrics import accuracy_score, confusion_matrix
from sklearn.model_selection import train_test_split

from retailcore.analytics.triage import samples as triage_samples
from retailcore.analytics.triage import services as triage
from retailcore.monitoring import classes as triage_rules

PLOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "intelligence" / "triage_confusion.png"


def vectors(samples: list[triage_samples.Sample]) -> list[list[float]]:
    return [
        triage.features(
            s.type, s.amount_at_risk, s.details, currency_matches=s.currency_matches, age_days=s.age_days
        )
        for s in samples
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", action="store_true")
    args = parser.parse_args()
    samples = triage_samples.labelled(args.samples, args.seed)
    train, test = train_test_split(
        samples, test_size=1 / 3, random_state=args.seed, stratify=[s.label for s in samples]
    )
    started = time.perf_counter()
    classifier = triage.Classifier.train(vectors(train), [s.label for s in train])
    assert classifier is not None
    trained = time.perf_counter() - started
    truth = [s.label for s in test]
    predicted = classifier.predict(vectors(test))
    majority = Counter(s.label for s in train).most_common(1)[0][0]
    ruled = [(triage_rules.rule_class(s.type, s.details), s.label) for s in test]
    decided = [(rule, label) for rule, label in ruled if rule is not None]
    print(f"samples: {len(train)} train, {len(test)} held out; training took {trained:.2f} s")
    print(f"classifier accuracy (held out): {accuracy_score(truth, predicted):.3f}")
    print(f"majority class ({majority}): {accuracy_score(truth, [majority] * len(truth)):.3f}")
    right = sum(rule == label for rule, label in decided)
    print(
        f"rules alone decide {len(decided)}/{len(test)} ({len(decided) / len(test):.1%}),"
        f" {right} of them right"
    )
    labels = list(triage_samples.CAUSES)
    matrix = confusion_matrix(truth, predicted, labels=labels)
    width = max(len(name) for name in labels)
    print("\nconfusion (rows: true class, columns: predicted)")
    print(" " * width + " | " + " | ".join(name[:8].rjust(8) for name in labels))
    for name, row in zip(labels, matrix, strict=True):
        print(name.rjust(width) + " | " + " | ".join(f"{n:8d}" for n in row))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(7, 6))
        axes.imshow(matrix, cmap="Blues")
        axes.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
        axes.set_yticks(range(len(labels)), labels)
        for i, row in enumerate(matrix):
            for j, n in enumerate(row):
                axes.text(j, i, str(n), ha="center", va="center", color="black")
        axes.set_xlabel("predicted")
        axes.set_ylabel("true class")
        axes.set_title(f"Triage classifier on {len(test)} held-out payment mismatches")
        figure.tight_layout()
        PLOT.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(PLOT, dpi=100)
        print(f"\nwrote {PLOT}")


if __name__ == "__main__":
    main()
