"""A simulated calendar month closes green; a planted fault turns exactly its item red (issue 17).

Small on purpose (2 stores, a tenth of the sales, February): the 40-store month is a documented CLI run
(docs/simulation.md). Each company of the database is its own run: one clean, one per planted fault.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app

pytestmark = pytest.mark.slow

MONTH = ["--stores", "2", "--days", "28", "--start", "2027-02-01", "--scale", "0.1", "--seed", "3"]
GREEN_OR_NA = {"green", "n/a"}


def _simulate(company: str, *options: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["simulate", *MONTH, "--company", company, "--json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _checklist(company: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = CliRunner().invoke(
        app, ["close", "check", "--period", "2027-02", "--company", company, "-o", "json"]
    )
    found = json.loads(result.stdout)
    return result.exit_code, {item["code"]: item for item in found["items"]}


def test_a_simulated_month_closes_green_and_each_planted_fault_turns_exactly_its_item_red(
    runtime: Runtime, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    clean = _simulate("CLOSE", "--settlement-files", str(files))

    # The gateways' reports and the bank's statements were written in their formats and imported.
    assert clean["card_payouts"]["count"] >= 20
    assert clean["card_payouts"]["mismatches"] == 0
    assert clean["bank"]["statements"] == 28
    assert clean["bank"]["unmatched"] == 0
    assert clean["bank"]["cash_deposits"] >= 20
    adyen = sorted((files / "settlements" / "adyen").glob("settlement_detail_report_batch_*.csv"))
    stripe = sorted((files / "settlements" / "stripe").glob("stripe_payout_reconciliation_po_*.csv"))
    assert adyen and stripe and list((files / "settlements" / "amazon").glob("*.csv"))
    assert len(list((files / "bank").glob("camt053_MAIN_2027*.xml"))) == 28
    rows = list(csv.DictReader(io.StringIO(adyen[0].read_text())))
    settled = [row for row in rows if row["Type"] == "Settled"]
    payout = [row for row in rows if row["Type"] == "MerchantPayout"]
    assert settled and len(payout) == 1
    assert all(len(row["Psp Reference"]) == 16 for row in settled)
    net = sum(
        (Decimal(row["Net Credit (NC)"] or 0) - Decimal(row["Net Debit (NC)"] or 0) for row in rows[:-1]),
        Decimal(0),
    )
    assert net == Decimal(payout[0]["Net Debit (NC)"])

    code, items = _checklist("CLOSE")
    assert code == 0, items
    assert {c: i["status"] for c, i in items.items() if i["status"] not in GREEN_OR_NA} == {}
    assert {"gateway:adyen", "gateway:stripe", "gateway:amazon", "bank", "stock", "grni"} <= set(items)
    assert all(items[c]["status"] == "green" for c in ("gateway:adyen", "gateway:stripe", "bank", "stock"))
    assert all(i["reason"] for i in items.values() if i["status"] == "n/a")
    # Captures of the month's last days settle in March: in flight, explained.
    assert Decimal(items["gateway:adyen"]["figures"]["in_flight"]) > 0
    assert items["gateway:adyen"]["figures"]["clearing_unexplained"] == "0.00"
    healthy = {c: i["status"] for c, i in items.items()}

    unsettled = _simulate("UNSETTLED", "--plant-fault", "unsettled-capture")
    assert "unsettled-capture" in unsettled["planted_faults"]
    code, items = _checklist("UNSETTLED")
    assert code == 1
    red = {c for c, i in items.items() if i["status"] == "red"}
    assert red == {"gateway:adyen"}
    assert {c: i["status"] for c, i in items.items() if c != "gateway:adyen"} == {
        c: s for c, s in healthy.items() if c != "gateway:adyen"
    }
    figures = items["gateway:adyen"]["figures"]
    assert len(figures["skipped_captures"]) == 1
    assert figures["clearing_unexplained"] == figures["skipped_captures"][0]["amount"]

    stock = _simulate("STOCKDIFF", "--plant-fault", "stock-difference")
    assert "stock-difference" in stock["planted_faults"]
    code, items = _checklist("STOCKDIFF")
    assert code == 1
    assert {c for c, i in items.items() if i["status"] == "red"} == {"stock"}
    assert {c: i["status"] for c, i in items.items() if c != "stock"} == {
        c: s for c, s in healthy.items() if c != "stock"
    }
    inventory = next(r for r in items["stock"]["figures"]["roles"] if r["role"] == "inventory")
    assert inventory["difference"] == "100.00"


def test_an_unknown_fault_is_refused(runtime: Runtime) -> None:
    result = CliRunner().invoke(app, ["simulate", *MONTH, "--plant-fault", "fire"])

    assert result.exit_code != 0
    assert "unsettled-capture" in result.output
