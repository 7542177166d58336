"""A real primary and streaming standby (scripts/cluster/postgres.sh): the API writes to the primary,
reads a report from the standby once it has replayed the write, and reports the standby's lag, which
grows while its replay is paused and sends the reports to the primary past the bound (decision 0086).

It builds two PostgreSQL servers and migrates one: about a minute on a loaded machine, so it is not part
of the default run. Run it with

    RETAILCORE_TEST_CLUSTER=1 .venv/bin/pytest -p no:cacheprovider -q tests/cluster/test_postgres_replica.py

as root (the servers run as the postgres OS user) or as a user initdb accepts, with Debian's
PostgreSQL 15 (``postgresql-15``; PG_BIN names another directory). Each run takes two free ports and a
directory of its own, and stops and removes both at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from retailcore.access.services import create_token
from retailcore.adapters import migrations
from retailcore.adapters.db import make_engine, transaction
from retailcore.adapters.replica import parse_lsn
from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cluster" / "postgres.sh"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
API = "/api/v1"
NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30"}

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get("RETAILCORE_TEST_CLUSTER") != "1",
        reason="builds a PostgreSQL primary and standby (a minute): set RETAILCORE_TEST_CLUSTER=1 to run it",
    ),
    pytest.mark.skipif(not (PG_BIN / "postgres").exists(), reason=f"no PostgreSQL 15 binaries in {PG_BIN}"),
    pytest.mark.skipif(
        os.geteuid() == 0 and shutil.which("runuser") is None, reason="root needs runuser to run as postgres"
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _script(action: str, directory: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(SCRIPT), action, directory], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"postgres.sh {action}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    """The primary's and the standby's URLs, of a pair started for this module."""
    directory = tempfile.mkdtemp(prefix="retailcore-cluster-")
    os.chmod(directory, 0o755)  # the servers' user reaches its data directories through it
    env = {**os.environ, "PG_PRIMARY_PORT": str(_free_port()), "PG_STANDBY_PORT": str(_free_port())}
    try:
        started = _script("start", directory, env)
        urls = dict(
            line.split(": ", 1) for line in started.splitlines() if line.startswith(("primary", "standby"))
        )
        yield {**urls, "directory": directory, **env}
    finally:
        subprocess.run(
            [str(SCRIPT), "stop", directory], env=env, capture_output=True, timeout=300, check=False
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime(cluster: dict[str, str]) -> Iterator[Runtime]:
    engine = make_engine(cluster["primary"])
    migrations.upgrade(engine)
    engine.dispose()
    settings = Settings(
        database_url=cluster["primary"],
        read_database_url=cluster["standby"],
        read_max_lag_ms=1000,
        read_lag_check_ms=0,  # every routed read checks the standby: the test decides when time passes
        sweep_interval_seconds=0,
        rate_limit_per_second=0,
    )
    runtime = bootstrap(settings)
    yield runtime
    runtime.dispose()


def _standby(cluster: dict[str, str], statement: str) -> None:
    engine = make_engine(cluster["standby"])
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def _wait_until(condition, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_writes_go_to_the_primary_reports_to_the_standby_and_its_lag_is_reported(cluster, runtime):
    assert "postgresql://" in cluster["standby"]
    with transaction(runtime.session_factory) as session:
        admin = {"Authorization": f"Bearer {create_token(session, role='admin').token}"}
    reads = runtime.reads
    assert reads is not None
    with TestClient(create_app(runtime)) as client:
        company = client.post(
            f"{API}/companies",
            json={"code": "ACME", "name": "Acme Retail", "currency": "EUR", "country": "FR"},
            headers=admin,
        )
        assert company.status_code == 201, company.text
        with transaction(runtime.session_factory) as session:
            finance = {
                "Authorization": f"Bearer {create_token(session, role='finance', company='ACME').token}"
            }
        entry = client.post(
            f"{API}/journal-entries",
            json={
                "date": "2026-11-15",
                "reference": f"float {uuid.uuid4()}",
                "lines": [
                    {"account_code": "1010", "debit": "100.00"},
                    {"account_code": "3000", "credit": "100.00"},
                ],
            },
            headers=finance,
        )
        assert entry.status_code == 201, entry.text
        written = parse_lsn(entry.headers["RC-Min-LSN"])
        assert written is not None

        def trial_balance() -> dict:
            response = client.get(f"{API}/reports/trial-balance", params=NOVEMBER, headers=finance)
            assert response.status_code == 200, response.text
            return response.json()

        # The acknowledged commit is on the standby (synchronous), and soon replayed there.
        _wait_until(lambda: (reads.state().replay_position or 0) >= written)
        assert trial_balance()["totals"]["period_debit"] == "100.00"  # the cookie: replayed past it
        client.cookies.clear()
        assert trial_balance()["totals"]["period_debit"] == "100.00"
        assert reads.report()["reads"] == {"replica": 2}
        health = client.get(f"{API}/health").json()
        assert health["replica"]["status"] == "ok", health
        assert parse_lsn(health["replica"]["replay_lsn"]) >= written

        # The standby stops replaying: a write is acknowledged (its WAL is on the standby's disk) but
        # not visible there; the lag grows past the bound and the reports go to the primary.
        _standby(cluster, "SELECT pg_wal_replay_pause()")
        try:
            second = client.post(
                f"{API}/journal-entries",
                json={
                    "date": "2026-11-16",
                    "reference": "float 2",
                    "lines": [
                        {"account_code": "1010", "debit": "50.00"},
                        {"account_code": "3000", "credit": "50.00"},
                    ],
                },
                headers=finance,
            )
            assert second.status_code == 201, second.text
            client.cookies.clear()
            _wait_until(lambda: reads.status(reads.state()) == "lagging", seconds=10)
            assert trial_balance()["totals"]["period_debit"] == "150.00"  # from the primary: fresh
            replica = client.get(f"{API}/health").json()["replica"]
            assert replica["status"] == "lagging" and replica["lag_ms"] > 1000
            assert reads.report()["reads"]["primary:lagging"] >= 1
        finally:
            _standby(cluster, "SELECT pg_wal_replay_resume()")
        _wait_until(lambda: reads.status(reads.state()) == "ok")
        assert trial_balance()["totals"]["period_debit"] == "150.00"
        assert reads.report()["reads"]["replica"] == 3

    status = subprocess.run(
        [str(SCRIPT), "status", cluster["directory"]], env=cluster, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    assert re.search(r"standby1\s*\|\s*streaming\s*\|\s*sync\s*\|", status.stdout), status.stdout
