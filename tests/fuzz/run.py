"""A bounded schemathesis run against the real server: no server error, no contract violation.

``make test`` runs it after the suite (docs/development.md). It builds a fresh demo database (SQLite in
a temporary directory, or the PostgreSQL database given with ``--database-url``, whose ``public``
schema it drops and recreates), serves it with ``retailcore serve``, and runs ``schemathesis run``
against the served OpenAPI document twice: with the installation-wide admin token, then with a finance
token of the demo company (which reaches the ledger's operations and needs no ``company_id``).

Every check is on except ``positive_data_acceptance``: it expects any request the schema allows to
be accepted, while this API also refuses well-formed requests for what a schema cannot say (a product
that does not exist, a cursor it did not issue, a currency that is not ISO 4217, a company code that
names no company). Those answers are documented 4xx problems, checked by the others.

    .venv/bin/python tests/fuzz/run.py [--database-url URL] [--max-examples 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
CHECKS_OFF = "positive_data_acceptance"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "retailcore"), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"retailcore {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"the server did not answer {url}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="a PostgreSQL database to use (its public schema is dropped)")
    parser.add_argument("--max-examples", type=int, default=10, help="test cases per operation and pass")
    parser.add_argument("--seed", type=int, default=1)
    # One worker: with two threads, Hypothesis reading its lambdas' source with ast.parse at the same time
    # can raise CPython 3.11's "AST constructor recursion depth mismatch", a failure of the tool itself.
    parser.add_argument("--workers", default="1")
    parser.add_argument("--report-dir", default=None, help="keep schemathesis' JUnit report here")
    parser.add_argument(
        "--passes", default="admin,finance", help="which tokens to run with, in order (admin, finance)"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="retailcore-fuzz-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'fuzz.db'}"
    if args.database_url:
        _reset_postgres(args.database_url)
    env = {
        **os.environ,
        "RETAILCORE_DATABASE_URL": database_url,
        # The fuzzer sends far more than a client would: the rate limit would answer most of it 429.
        "RETAILCORE_RATE_LIMIT_PER_SECOND": "0",
        "RETAILCORE_SWEEP_INTERVAL_SECONDS": "0",
    }
    admin = _cli(env, "init", "--demo")
    finance = _cli(env, "token", "create", "--role", "finance", "--company", "DEMO", "--name", "fuzz-finance")
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "retailcore"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "server.log", "w"),  # noqa: SIM115 - closed with the process
        start_new_session=True,
    )
    failed = False
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        _wait_for(f"{base}/health", 60)
        tokens = {"admin": admin, "finance": finance}
        for name in args.passes.split(","):
            token = tokens[name]
            started = time.monotonic()
            command = [
                str(BIN / "schemathesis"),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--exclude-checks",
                CHECKS_OFF,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--workers",
                args.workers,
                "--generation-allow-x00",
                "true",
                "--generation-database",
                "none",
                "--max-failures",
                "200",
                "--no-color",
                "--warnings",
                "off",
            ]
            if args.report_dir:
                command += [
                    "--report",
                    "junit",
                    "--report-junit-path",
                    str(Path(args.report_dir).resolve() / f"schemathesis-{name}.xml"),
                ]
            print(f"== schemathesis, {name} token, {database_url.split(':')[0]}", flush=True)
            # In the temporary directory: schemathesis keeps its crash cache in the working directory.
            run = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, check=False)
            summary = (
                run.stdout[run.stdout.rfind("SUMMARY") - 40 :] if "SUMMARY" in run.stdout else run.stdout
            )
            print(summary.strip(), flush=True)
            if run.returncode != 0:
                failed = True
                print(run.stdout[-20000:], run.stderr[-5000:], sep="\n", flush=True)
            print(f"({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        errors = (workdir / "server.log").read_text()
        if "Traceback" in errors:
            failed = True
            print("the server logged an error:\n" + errors[-10000:], flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
