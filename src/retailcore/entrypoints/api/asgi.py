"""ASGI entry point for uvicorn or any ASGI server: ``uvicorn retailcore.entrypoints.api.asgi:app``."""

from __future__ import annotations

from retailcore.entrypoints.api.app import create_app
from retailcore.entrypoints.api.orphans import exit_with_parent
from retailcore.entrypoints.bootstrap import bootstrap

exit_with_parent()
app = create_app(bootstrap())
