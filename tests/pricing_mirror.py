"""Runs the POS screen's pricing mirror (``static/pricing.js``) under Node for the tests: one ``node``
process per call, the requests as JSON on its stdin (``pricing_mirror_driver.mjs`` says which)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import retailcore

PRICING_JS = Path(retailcore.__file__).parent / "entrypoints" / "web" / "pos" / "static" / "pricing.js"
DRIVER = Path(__file__).parent / "pricing_mirror_driver.mjs"


def node() -> str:
    """Node's path; the test is skipped, saying so, on a machine without it (CI has it)."""
    found = shutil.which("node")
    if found is None:
        pytest.skip(
            "no node on PATH: the JavaScript pricing mirror cannot run (Debian: apt-get install nodejs)"
        )
    return found


def run(requests: list[dict[str, Any]]) -> list[Any]:
    done = subprocess.run(
        [node(), str(DRIVER), str(PRICING_JS)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
