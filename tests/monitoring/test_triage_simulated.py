"""The simulator's planted settlement mismatches (``settlement-mismatches``): labelled as ground truth,
raised by the real settlements producer, and classed by the triage rules as the label says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from retailcore.eventlog.tables import Event
from retailcore.masterdata.tables import Company
from retailcore.monitoring.tables import ExceptionCase
from retailcore.simulation import money
from retailcore.simulation.simulator import Options, simulate

OPTIONS = Options(
    company="MIS",
    stores=1,
    days=5,
    seed=5,
    start=dt.date(2026, 3, 2),
    scale=Decimal("0.3"),
    faults=(money.MISMATCH_FAULT,),
)


def test_planting_is_by_hash_and_labels_each_planted_line():
    lines = [
        money.Line(
            "charge", None, f"R{i}", f"O{i}", Decimal("100.00"), Decimal("1.50"), dt.datetime(2026, 3, 2)
        )  # type: ignore[arg-type]
        for i in range(200)
    ]
    planted = [line for line in money.plant_mismatches("adyen", lines) if line.planted]
    assert 0 < len(planted) < 30
    assert all(
        line.amount == Decimal("90.00") and line.planted == ("partial_capture", "amount_difference")
        for line in planted
    )
    again = [
        line.key
        for line in money.plant_mismatches(
            "adyen",
            [
                money.Line(
                    "charge",
                    None,
                    f"R{i}",
                    f"O{i}",
                    Decimal("100.00"),
                    Decimal("1.50"),
                    dt.datetime(2026, 3, 2),
                )
                for i in range(200)
            ],
        )
        if line.planted
    ]  # type: ignore[arg-type]
    assert again == [line.key for line in planted]


def test_simulated_planted_mismatches_are_ground_truth_and_the_rules_agree(runtime):
    summary = simulate(runtime.session_factory, OPTIONS)
    assert summary is not None
    with runtime.session_factory() as session:
        company = session.scalar(select(Company).where(Company.code == "MIS"))
        truths = [
            payload
            for payload in session.scalars(
                select(Event.payload).where(
                    Event.company_id == company.id, Event.type == "SimulationGroundTruthRecorded"
                )
            )
            if payload["kind"] == "mismatch"
        ]
        assert truths, "nothing planted"
        rows = {
            row.dedupe_key: row
            for row in session.scalars(select(ExceptionCase).where(ExceptionCase.company_id == company.id))
        }
        for truth in truths:
            row = rows[truth["exception_key"]]
            assert (row.exception_class, row.class_source) == (truth["class"], "rule")
