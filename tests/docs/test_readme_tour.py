"""The README's five-minute tour works as written: its blocks run, in order, against a fresh demo served
the way ``make demo`` serves it, and print what the README says they print."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOOLS = ("curl", "jq", "python3", "date")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(POSTGRES_URL), reason="the tour is the embedded default's: it runs in the SQLite pass"
    ),
]


def tour_blocks(readme: str) -> list[str]:
    """The shell blocks the README marks ``<!-- tour -->``, in order."""
    return re.findall(r"<!-- tour -->\n```sh\n(.*?)```", readme, flags=re.S)


def demo_recipe(makefile: str) -> list[str]:
    """The commands of ``make demo``, with ``$(BIN)/`` dropped."""
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert recipe, "no demo target in the Makefile"
    lines = [line.strip().replace("$(BIN)/", "") for line in recipe.group(1).splitlines()]
    return [line for line in lines if not line.startswith("@echo")]  # make's messages, not steps


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_tour_blocks_are_found():
    blocks = tour_blocks((ROOT / "README.md").read_text())
    assert len(blocks) == 5
    assert "sales:batch" in blocks[0] and "/orders" in blocks[1] and "trial-balance" in blocks[2]


def test_the_readme_tour_runs_as_written_against_a_fresh_demo(tmp_path):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the tour needs {', '.join(missing)} (.ci/run installs jq)")
    recipe = demo_recipe((ROOT / "Makefile").read_text())
    assert recipe[-1].startswith("retailcore serve"), recipe
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "RETAILCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'retailcore.db'}",
        "COLUMNS": "100",
    }
    env.pop("RETAILCORE_TEST_DATABASE_URL", None)
    printed = ""
    for command in recipe[:-1]:  # make demo's own steps, but serving
        output = _run(env, tmp_path, *command.split())
        if command.startswith("retailcore init"):
            printed = output
    lines = printed.strip().splitlines()
    admin = lines[-1]
    finance = lines[next(i for i, line in enumerate(lines) if line.startswith("finance token of DEMO")) + 1]
    assert admin.startswith("rc_") and finance.startswith("rc_") and admin != finance
    port = _free_port()
    server = subprocess.Popen(
        ["retailcore", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the demo was not served"
                time.sleep(0.3)
        script = "\n".join(tour_blocks((ROOT / "README.md").read_text()))
        tour = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**env, "API": api, "ADMIN": admin, "FINANCE": finance},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    out = tour.stdout
    assert tour.returncode == 0, f"{out}\n{tour.stderr}"
    # 1. the sale went in, the till closed without a difference
    assert '"accepted":1' in out and '"duplicates":0' in out
    assert re.search(r"closed session PAR01-T1/\d+", out)
    assert "cash difference: 0.00 EUR" in out
    # 2. the web order was placed, paid and shipped
    placed = re.search(r"placed (SO-\d+): confirmed, (\d+\.\d\d) EUR", out)
    assert placed, out
    assert f"paid: deposit {placed.group(2)}" in out
    assert f"shipped {placed.group(1)}: fulfilled" in out
    # 3. the trial balance balances, with the accounts readable; 4. the stock agrees with the books
    assert "balanced: yes" in out and "Sales of merchandise" in out
    assert "stock valuation and ledger agree" in out
    # 5. the order's events, in order, by the admin token of the demo
    events = re.findall(r"^\d+  (\w+)  token:demo-admin$", out, flags=re.M)
    assert events[0] == "OrderConfirmed" and events[-1] == "OrderFulfilled"
    assert "PaymentCaptured" in events
