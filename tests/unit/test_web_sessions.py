"""The back office's signed session cookie and the pinned htmx file (decision 0045)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from retailcore.entrypoints.web import sessions as ws

KEY = b"k" * 32
VENDOR = Path(ws.__file__).parent / "static" / "vendor"


def test_a_signed_session_reads_back_and_a_changed_byte_or_key_is_no_session():
    user = uuid.uuid4()
    session = ws.WebSession.fresh(user)
    value = ws.sign(KEY, session)
    assert ws.unsign(KEY, value) == session
    body, _, mac = value.partition(".")
    assert ws.unsign(KEY, f"{body[:-1]}{'A' if body[-1] != 'A' else 'B'}.{mac}") is None
    assert ws.unsign(b"x" * 32, value) is None
    assert ws.unsign(KEY, "garbage") is None
    assert ws.unsign(KEY, None) is None


def test_an_expired_session_is_no_session():
    session = ws.WebSession(csrf="t", user_id=uuid.uuid4(), expires=1_000)
    value = ws.sign(KEY, session)
    assert ws.unsign(KEY, value, now=999) == session
    assert ws.unsign(KEY, value, now=1_001) is None


def test_each_session_has_its_own_csrf_token():
    assert ws.WebSession.fresh().csrf != ws.WebSession.fresh().csrf


def test_htmx_is_the_pinned_file_with_its_licence():
    readme = (VENDOR / "README.md").read_text()
    digest = hashlib.sha256((VENDOR / "htmx" / "htmx.min.js").read_bytes()).hexdigest()
    assert digest in readme
    assert "Zero-Clause BSD" in (VENDOR / "htmx" / "LICENSE").read_text()


def test_chart_js_is_the_pinned_file_with_its_licence():
    readme = (VENDOR / "README.md").read_text()
    digest = hashlib.sha256((VENDOR / "chartjs" / "chart.umd.min.js").read_bytes()).hexdigest()
    assert digest == "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a" and digest in readme
    assert "MIT License" in (VENDOR / "chartjs" / "LICENSE.md").read_text()
