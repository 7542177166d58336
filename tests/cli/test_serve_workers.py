"""``retailcore serve --workers N``: stopping the parent stops its workers, however it is stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers through /proc (Linux)"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[subprocess.Popen, set[int], int]]:
    """The real server with 2 workers, their pids and its port; the whole group is killed at the end."""
    port = _free_port()
    env = {**os.environ, "RETAILCORE_DATABASE_URL": database_url}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "retailcore.entrypoints.cli.main",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False

        assert _wait(answers, 60), "the server did not start"

        def workers() -> set[int]:
            return {pid for pid in _children(process.pid) if b"spawn_main" in _cmdline(pid)}

        assert _wait(lambda: len(workers()) == 2, 30), "two workers did not start"
        yield process, workers(), port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_killed_parent_takes_its_workers_with_it(served):
    process, workers, port = served

    os.kill(process.pid, signal.SIGKILL)

    assert _wait(lambda: not any(_alive(pid) for pid in workers), 20), "workers outlived their parent"
    assert _refuses(port)


def test_a_terminated_parent_stops_its_workers(served):
    process, workers, port = served

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=30) == 0
    assert _wait(lambda: not any(_alive(pid) for pid in workers), 20)
    assert _refuses(port)
