"""Workers of ``retailcore serve --workers N`` stop when their parent is gone.

Uvicorn's parent process stops its workers when it is asked to (SIGTERM, SIGINT), but a parent that
is killed outright (SIGKILL, the OOM killer, a crashed supervisor) cannot: its workers would go on
serving, unsupervised, holding the port and the database. ``serve`` names itself in the environment
its workers inherit, and each worker watches that its parent is still the one that started it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

PARENT_PID = "RETAILCORE_SERVE_PARENT_PID"


def exit_with_parent(poll_seconds: float = 0.5, grace_seconds: float = 10.0) -> threading.Thread | None:
    """In a worker started by ``serve``: once the parent is gone, shut down as if told to (SIGTERM,
    which lets requests in flight finish), and exit outright if that takes longer than the grace."""
    named = os.environ.get(PARENT_PID, "")
    if not named.isdigit() or multiprocessing.parent_process() is None:
        return None  # not a worker process that serve started
    # The parent may already be gone (killed while this worker started): then the watch ends at once.
    parent = int(named)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(1)

    watcher = threading.Thread(target=watch, name="retailcore-parent-watch", daemon=True)
    watcher.start()
    return watcher
