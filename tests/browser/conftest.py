"""Fixtures of the browser tests: the real server, headless Chromium cut off from every address but
this machine's, and a page that records what it asks for (and leaves a screenshot when its test fails).

Chromium is Debian's ``chromium``, found on PATH (``.ci/run`` installs it); ``playwright`` (the dev
extra) drives it. Without either, the tests are skipped, saying which is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A machine without internet: every name but the server's address fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``retailcore serve`` on a free port, on the test's database: its base URL. Its process group is
    killed at the end."""
    port = _free_port()
    env = {**os.environ, "RETAILCORE_DATABASE_URL": database_url, "RETAILCORE_SWEEP_INTERVAL_SECONDS": "0"}
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "retailcore.entrypoints.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/api/v1/health"):
            assert process.poll() is None, f"the server stopped:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the server did not start:\n{log.read_text()}"
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    with sync_api.sync_playwright() as driver:
        # Each launch gets a fresh, temporary profile (its --user-data-dir), removed at close.
        launched = driver.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Visit:
    """A page in a fresh browser context that lets through only what the app serves, and records what
    else it asked for, what the page's security policy refused, which requests failed and which
    script errors were thrown."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.origin = origin
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)  # waits, not assertions: a busy 2-core machine took over 15 s
        self.elsewhere: list[str] = []
        self.refused: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._only_the_app)
        self.page.on("requestfailed", self._failed)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _only_the_app(self, route: Any) -> None:
        if route.request.url.startswith(f"{self.origin}/"):
            route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    def _failed(self, request: Any) -> None:
        if request.failure == "net::ERR_ABORTED" and request.resource_type != "document":
            # The page was left while one of its scripts or styles was still loading (a click that
            # navigates before the load event): the browser drops the load, nothing was refused.
            return
        if request.failure == "csp":
            self.refused.append(request.url)
        else:
            self.failed.append(f"{request.url}: {request.failure}")

    def assert_self_contained(self, refused: tuple[str, ...] = ()) -> None:
        """Nothing was asked from elsewhere, nothing failed, and the page's policy refused nothing
        but ``refused``."""
        assert self.elsewhere == [], "the page asked for something outside the app"
        assert self.refused == list(refused), "the page's security policy refused these"
        assert self.failed == [], "requests failed"
        assert self.errors == [], "the page threw errors"


@pytest.fixture
def visit(browser: Any, server: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Visit]:
    """A fresh page on the server; when the test fails, a screenshot of it in the test's tmp_path."""
    visit = Visit(browser, server)
    yield visit
    if request.node.stash.get(_FAILED, False):
        shot = tmp_path / "page.png"
        with contextlib.suppress(Exception):  # the test's own failure is what matters
            visit.page.screenshot(path=str(shot))
            print(f"screenshot of the page: {shot}")
    visit.context.close()
