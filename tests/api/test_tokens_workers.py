"""A revoked or expired token is refused at once by every worker process of a real server (decision 0016).

The server runs as ``retailcore serve --workers 2`` in a process group of its own, killed whatever
happens; requests go on fresh connections, which the kernel hands to either worker.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from retailcore.access.services import create_token
from retailcore.access.tables import ApiToken
from retailcore.adapters.db import transaction
from retailcore.adapters.orm import utcnow

STARTUP_SECONDS = 90  # two uvicorn workers importing the app on a loaded 2-core machine took over 30 s


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(database_url: str, runtime, tmp_path: Path) -> Iterator[str]:
    """The base URL of ``retailcore serve --workers 2`` on the test database."""
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "retailcore.entrypoints.cli.main",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
        ],
        env={**os.environ, "RETAILCORE_DATABASE_URL": database_url},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the workers go with it
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # nothing to shut down gracefully: the test is over
        process.wait()
        log.close()


@pytest.mark.slow
def test_a_revoked_or_expired_token_is_refused_at_once_by_every_worker(server, runtime):
    with transaction(runtime.session_factory) as session:
        operator = create_token(session, role="admin", name="operator")
        expiring = create_token(session, role="admin", expires_at=utcnow() + dt.timedelta(days=1))
    # no keep-alive: every request comes on a connection of its own, which either worker may take
    http = httpx.Client(base_url=server, limits=httpx.Limits(max_keepalive_connections=0))
    admin = {"Authorization": f"Bearer {operator.token}"}
    issued = http.post("/tokens", json={"role": "admin", "name": "doomed"}, headers=admin)
    assert issued.status_code == 201, issued.text
    doomed = {"Authorization": f"Bearer {issued.json()['token']}"}
    expired = {"Authorization": f"Bearer {expiring.token}"}
    for headers in (doomed, expired):
        assert {http.get("/companies", headers=headers).status_code for _ in range(6)} == {200}

    revoked = http.post(f"/tokens/{issued.json()['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    with transaction(runtime.session_factory) as session:  # the other one's expiry comes
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == expiring.id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )

    for headers, code in ((doomed, "invalid-token"), (expired, "expired-token")):
        answers = [http.get("/companies", headers=headers) for _ in range(20)]
        assert [a.status_code for a in answers] == [401] * 20
        assert {a.json()["code"] for a in answers} == {code}
    assert http.get("/companies", headers=admin).status_code == 200
    http.close()
