"""The simulator: a tiny run through every channel, deterministic for a seed, books and stock intact."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine
from retailcore.entrypoints.bootstrap import Runtime
from retailcore.entrypoints.cli.main import app
from retailcore.inventory.tables import StockMove, StockQuant
from retailcore.masterdata.tables import Company
from support import empty_database

TINY = ["--stores", "2", "--days", "4", "--scale", "0.5", "--start", "2026-03-02"]


def _simulate(*options: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["simulate", *TINY, "--json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _on_hand_is_sum_of_moves(runtime: Runtime, company_code: str) -> None:
    with runtime.session_factory() as session:
        company_id = session.scalar(select(Company.id).where(Company.code == company_code))
        moved: dict[tuple[Any, Any], Decimal] = {}
        for product, source, target, quantity in session.execute(
            select(
                StockMove.product_id,
                StockMove.from_location_id,
                StockMove.to_location_id,
                func.sum(StockMove.quantity),
            )
            .where(StockMove.company_id == company_id)
            .group_by(StockMove.product_id, StockMove.from_location_id, StockMove.to_location_id)
        ):
            moved[(product, target)] = moved.get((product, target), Decimal(0)) + quantity
            moved[(product, source)] = moved.get((product, source), Decimal(0)) - quantity
        quants = session.execute(
            select(StockQuant.product_id, StockQuant.location_id, StockQuant.quantity).where(
                StockQuant.company_id == company_id
            )
        ).all()
    assert quants
    for product, location, quantity in quants:
        assert quantity == moved.get((product, location), Decimal(0))


def test_a_tiny_simulation_trades_on_every_channel_and_keeps_the_books(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _simulate("--seed", "1")

    assert first["orders"]["pos"] > 50
    assert first["orders"]["marketplace"] >= 1
    assert first["orders"]["b2b"] >= 1
    assert first["orders"].get("web ship", 0) + first["orders"].get("web ship_from_store", 0) >= 1
    assert first["invoices"] >= 1
    assert first["pos_sessions"] >= 8
    assert first["card_payouts"]["count"] >= 1
    assert first["transfers"]["shipped"] >= 1
    assert first["counts"]["sheets"] >= 1
    assert Decimal(first["revenue_net"]) > 0
    assert Decimal(first["cogs"]) > 0
    assert Decimal("25") < Decimal(first["gross_margin_percent"]) < Decimal("70")
    assert first["stock_agrees_with_ledger"] is True
    assert first["trial_balance_balanced"] is True
    _on_hand_is_sum_of_moves(runtime, "SIM")

    with empty_database(tmp_path) as url:
        engine = make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
        monkeypatch.setenv("RETAILCORE_DATABASE_URL", url)
        again = _simulate("--seed", "1")
        other = _simulate("--seed", "2", "--company", "SIM2")

    assert again == first
    assert other["stock_agrees_with_ledger"] is True
    assert other["trial_balance_balanced"] is True
    assert {k: v for k, v in other.items() if k not in ("company", "seed")} != {
        k: v for k, v in first.items() if k not in ("company", "seed")
    }


def test_a_second_run_continues_after_the_simulated_history(runtime: Runtime) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--stores", "1", "--days", "1", "--scale", "0.1", "--json", "--company", "ONE"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["days"] == 1

    again = CliRunner().invoke(
        app, ["simulate", "--stores", "1", "--days", "1", "--scale", "0.1", "--json", "--company", "ONE"]
    )

    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    assert "nothing to do" in again.stderr
