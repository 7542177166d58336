"""SQLite write-ahead log checkpoints on a thread of their own (adapters.sqlite_wal). These tests make
their own SQLite files, whatever backend the suite runs on."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from retailcore.adapters.db import checkpointer_of, make_engine
from retailcore.adapters.sqlite_wal import FALLBACK_PAGES, WalCheckpointer

ROWS = 2_000
BLOB = 1_000  # bytes per row: 2 MB in all, under SQLite's own 1,000-page (4 MiB) checkpoint


def _fill(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body BLOB)"))
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO filler (body) VALUES (randomblob(:size))"), [{"size": BLOB}] * ROWS
        )


def _size(path: Path) -> int:
    return os.path.getsize(path) if path.exists() else 0


def test_commits_are_copied_into_the_database_file_by_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    engine = make_engine(f"sqlite:///{path}")
    checkpointer = checkpointer_of(engine)
    assert checkpointer is not None
    _fill(engine)
    # One checkpoint, not two: the fill's two commits wake the thread through one event, and under load
    # both can land before the thread first wakes, so they share a checkpoint (CI failed on wait(2)).
    assert checkpointer.wait(1, timeout=30)
    # Polled because the checkpoint that follows the last commit may still be copying.
    deadline = time.monotonic() + 30
    while _size(path) < ROWS * BLOB and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _size(path) >= ROWS * BLOB
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM filler")) == ROWS
    engine.dispose()


def test_without_the_thread_the_pages_wait_in_the_log(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=False)
    assert checkpointer_of(engine) is None
    _fill(engine)
    time.sleep(0.3)
    assert _size(path) < ROWS * BLOB / 2
    assert _size(Path(f"{path}-wal")) >= ROWS * BLOB
    engine.dispose()


def test_writers_keep_an_automatic_checkpoint_as_a_fallback(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == FALLBACK_PAGES
    plain = make_engine(f"sqlite:///{tmp_path / 'plain.db'}", background_checkpoints=False)
    with plain.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    engine.dispose()
    plain.dispose()


def test_reads_do_not_wake_the_thread(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    checkpointer = checkpointer_of(engine)
    assert checkpointer is not None
    for _ in range(3):
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    assert checkpointer._thread is None
    assert checkpointer.checkpoints == 0
    engine.dispose()


def test_in_memory_databases_have_no_thread() -> None:
    engine = make_engine("sqlite://")
    assert checkpointer_of(engine) is None
    engine.dispose()


def test_dispose_ends_the_thread_and_the_next_commit_starts_one(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    checkpointer = checkpointer_of(engine)
    assert checkpointer is not None
    _fill(engine)
    assert checkpointer.wait(1)
    first = checkpointer._thread
    assert first is not None
    engine.dispose()
    assert not first.is_alive()
    done = checkpointer.checkpoints
    _fill(engine)
    assert checkpointer.wait(done + 1)
    assert checkpointer._thread is not first
    engine.dispose()


def _open(path: Path) -> sqlite3.Connection:
    """A connection kept open through the test, so that no other's close is the last one (the last
    connection to close checkpoints the log and deletes it)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body BLOB)")
    return connection


def _write_outside(path: Path, rows: int) -> None:
    """Commit ``rows`` rows on a plain connection that never checkpoints by itself."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO filler (body) VALUES (randomblob(?))", [(BLOB,)] * rows)
    connection.execute("COMMIT")
    connection.close()


def test_a_log_past_the_limit_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    reader = _open(path)
    _write_outside(path, ROWS)
    wal = Path(f"{path}-wal")
    assert _size(wal) >= ROWS * BLOB
    checkpointer = WalCheckpointer(str(path), restart_bytes=ROWS * BLOB // 2, rest_seconds=0)
    checkpointer.committed()
    checkpointer.released()
    assert checkpointer.wait(1)
    assert _size(wal) == 0
    assert reader.execute("SELECT count(*) FROM filler").fetchone() == (ROWS,)
    checkpointer.close()
    reader.close()


def test_a_log_under_the_limit_is_copied_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    keep_open = _open(path)
    _write_outside(path, ROWS)
    assert _size(path) < ROWS * BLOB / 2
    checkpointer = WalCheckpointer(str(path), rest_seconds=0)
    checkpointer.committed()
    checkpointer.released()
    assert checkpointer.wait(1)
    assert _size(path) >= ROWS * BLOB
    assert _size(Path(f"{path}-wal")) >= ROWS * BLOB  # PASSIVE copies; the next writer reuses the file
    checkpointer.close()
    keep_open.close()


def test_the_idle_thread_ends_and_a_new_commit_starts_another(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    keep_open = _open(path)
    checkpointer = WalCheckpointer(str(path), rest_seconds=0, idle_seconds=0.05)
    _write_outside(path, 10)
    checkpointer.committed()
    checkpointer.released()
    assert checkpointer.wait(1)
    first = checkpointer._thread
    assert first is not None
    first.join(timeout=5)
    assert not first.is_alive()
    _write_outside(path, 10)
    checkpointer.committed()
    checkpointer.released()
    assert checkpointer.wait(2)
    assert checkpointer._thread is not first
    checkpointer.close()
    keep_open.close()


@pytest.mark.parametrize("pending", [False, True])
def test_a_release_wakes_the_thread_only_after_a_commit(tmp_path: Path, pending: bool) -> None:
    path = tmp_path / "shop.db"
    keep_open = _open(path)
    _write_outside(path, 10)
    checkpointer = WalCheckpointer(str(path), rest_seconds=0)
    if pending:
        checkpointer.committed()
    checkpointer.released()
    assert checkpointer.wait(1, timeout=0.5 if not pending else 10) is pending
    checkpointer.close()
    keep_open.close()
