"""Checkpoints of a SQLite database's write-ahead log on a thread of their own.

In WAL mode every commit appends the pages it changed to the ``-wal`` file, and a *checkpoint* copies
them back into the database file. By default SQLite checkpoints inside the commit that takes the log
past 1,000 pages: that commit waits for the copy and its two ``fsync``. A POS batch of 1,000 sales
changes about 2,000 pages, so every batch paid for a checkpoint, 9 % of its time, more as the database
grew (docs/decisions/0014-sqlite-checkpoints-in-the-background.md).

:class:`WalCheckpointer` moves that work off the committing thread. Once a connection that committed is
back in the pool, a daemon thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection: it
copies what is committed, never waits for readers or writers, and holds no Python lock while SQLite
works (the module releases the GIL around every SQLite call), so the copy runs on the second core while
the next batch is priced.

The writers keep an automatic checkpoint, at :data:`FALLBACK_PAGES`, in case this thread falls behind
or is gone. A log that still grows past :data:`RESTART_BYTES` (a reader that never lets go, writers
that never pause) is checkpointed with ``TRUNCATE``, which waits for them briefly and empties the file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any

log = logging.getLogger(__name__)

FALLBACK_PAGES = 10_000
"""``wal_autocheckpoint`` of the writers' connections: the log size (pages of 4 KiB) at which a commit
checkpoints by itself, as SQLite does at 1,000 pages when nobody else does."""

RESTART_BYTES = 64 * 1024 * 1024
"""A log file larger than this is checkpointed with ``TRUNCATE`` instead of ``PASSIVE``."""

REST_SECONDS = 0.1
"""The thread's pause after a checkpoint: commits meanwhile are copied together by the next one."""

IDLE_SECONDS = 30.0
"""The thread ends, and closes its connection, after this long without a commit; the next commit
starts it again."""


class WalCheckpointer:
    """Checkpoints the write-ahead log of the database file at ``path`` after commits, on a daemon
    thread started by the first commit (and again after it ended, idle, or the process forked)."""

    def __init__(
        self,
        path: str,
        *,
        restart_bytes: int = RESTART_BYTES,
        rest_seconds: float = REST_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.path = path
        self.restart_bytes = restart_bytes
        self.rest_seconds = rest_seconds
        self.idle_seconds = idle_seconds
        self.checkpoints = 0
        """Checkpoints run so far (for tests and monitoring)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pending = False
        self._owner_pid = 0

    def committed(self, *_args: Any) -> None:
        """An engine ``commit`` listener. SQLAlchemy calls it just before the commit, so it only notes
        that there will be something to copy: :meth:`released` wakes the thread once it is written."""
        self._pending = True

    def released(self, *_args: Any) -> None:
        """A pool ``checkin`` listener: a connection came back, its transaction over. Wakes the thread
        if a commit was noted, so that it copies the commit while the next unit of work computes
        (a POS batch prices its sales before it writes anything)."""
        if not self._pending:
            return
        self._pending = False
        self._wake.set()
        thread = self._thread
        if thread is None or not thread.is_alive() or self._owner_pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive() and self._owner_pid == os.getpid():
                return
            self._stop.clear()
            self._owner_pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name=f"sqlite-checkpoint {os.path.basename(self.path)}", daemon=True
            )
            self._thread.start()

    def close(self, *_args: Any) -> None:
        """End the thread (it starts again on the next commit). An engine ``engine_disposed`` listener."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def wait(self, checkpoints: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``checkpoints`` checkpoints have run; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self.checkpoints >= checkpoints, timeout)

    def _run(self) -> None:
        connection = None
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # Only TRUNCATE waits on others, and never for long: a checkpoint is an optimisation.
            connection.execute("PRAGMA busy_timeout=1000")
            while not self._stop.is_set():
                if not self._wake.wait(self.idle_seconds):
                    return  # idle: the next commit starts a new thread
                self._wake.clear()
                if self._stop.is_set():
                    return
                self._checkpoint(connection)
                self._stop.wait(self.rest_seconds)
        except sqlite3.Error:
            log.warning("SQLite checkpoint thread for %s stopped", self.path, exc_info=True)
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            size = os.path.getsize(self.path + "-wal")
        except OSError:
            size = 0
        mode = "TRUNCATE" if size > self.restart_bytes else "PASSIVE"
        try:
            connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
        except sqlite3.OperationalError:
            # Busy or locked: another connection is checkpointing, or TRUNCATE gave up waiting.
            log.debug("SQLite checkpoint (%s) of %s deferred", mode, self.path, exc_info=True)
        with self._done:
            self.checkpoints += 1
            self._done.notify_all()
