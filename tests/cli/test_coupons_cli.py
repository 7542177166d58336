"""``retailcore coupons generate`` against the test database (ACME, a promotion inserted as a row)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.adapters.db import transaction
from retailcore.entrypoints.cli.main import app
from retailcore.promotions.tables import Coupon, PromotionRow

runner = CliRunner()


@pytest.fixture
def promotion(runtime, company):
    with transaction(runtime.session_factory) as session:
        session.add(
            PromotionRow(
                company_id=uuid.UUID(company["id"]),
                code="SPRING",
                name="Spring",
                kind="percent_off",
                rule={"percent": "15"},
                state="approved",
                created_by="test",
            )
        )
    return "SPRING"


def _count(runtime, batch: str) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Coupon).where(Coupon.batch == batch))


def test_generate_writes_a_csv_of_unique_codes(runtime, promotion, tmp_path):
    target = tmp_path / "spring.csv"
    made = runner.invoke(
        app,
        ["coupons", "generate", "--promotion", promotion, "--count", "1200", "--prefix", "SPR",
         "--max-uses-per-customer", "1", "--batch", "spring", "--out", str(target)],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "1200 codes of batch spring written" in made.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)) == 1200
    assert all(re.fullmatch(r"SPR[2-9A-HJKMNP-Z]{12}", code) for code in codes)
    assert _count(runtime, "spring") == 1200
    again = runner.invoke(
        app, ["coupons", "generate", "--promotion", promotion, "--count", "1", "--out", str(target)]
    )
    assert again.exit_code == 1 and "exists" in again.output


def test_generate_prints_json_and_refuses_an_unknown_promotion(runtime, promotion):
    made = runner.invoke(app, ["coupons", "generate", "--promotion", promotion, "--count", "3", "-o", "json"])
    assert made.exit_code == 0, made.output
    document = json.loads(made.stdout)
    assert document["count"] == 3 and len(document["codes"]) == 3
    unknown = runner.invoke(app, ["coupons", "generate", "--promotion", "NOPE", "--count", "3"])
    assert unknown.exit_code == 1 and "no promotion NOPE" in unknown.output
    assert (
        runner.invoke(app, ["coupons", "generate", "--promotion", promotion, "--count", "0"]).exit_code == 2
    )
    assert (
        runner.invoke(
            app, ["coupons", "generate", "--promotion", promotion, "--count", "3", "--prefix", "a-b"]
        ).exit_code
        == 2
    )
