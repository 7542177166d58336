"""``make test-cluster`` as a test: NATS cluster, two API nodes behind haproxy, a bounded POS load with a
NATS node and an API node killed under it (scripts/cluster/run.py; docs/scaling.md; decision 0087).

Skipped unless ``RETAILCORE_TEST_CLUSTER=1``: it takes minutes, starts servers on fixed loopback ports
(NATS 14222-14224, 16222-16224, 18222-18224; haproxy 18000, API nodes 18001-18002) and makes its own
database on the PostgreSQL at 127.0.0.1:5432 (``RETAILCORE_CLUSTER_DATABASE_URL`` to change it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("RETAILCORE_TEST_CLUSTER") != "1",
    reason="the cluster test runs with RETAILCORE_TEST_CLUSTER=1 (make test-cluster)",
)


def test_acknowledged_sales_and_events_survive_a_nats_node_and_an_api_node_killed(tmp_path):
    for program in ("nats-server", "haproxy", "curl"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/cluster/run.py"), "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout[-4000:], done.stderr[-4000:])
    assert done.returncode == 0
    summary = done.stdout
    for check in (
        "a back-office sign-in holds on every API node",
        "every acknowledged sale present exactly once",
        "the trial balance balances",
        "the stock check agrees",
        "every event reached JetStream exactly once",
    ):
        assert f"ok     {check}" in summary
    assert "FAILED" not in summary
