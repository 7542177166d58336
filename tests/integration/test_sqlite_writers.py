"""SQLite: the units of work that write, in one process, take turns on a lock of the process.

SQLite's busy handler lets a waiting writer sleep up to 100 ms between tries, so under load one writer
could lose the file lock to newer ones again and again; the process's lock hands it on in turn. These
tests check what must hold whatever the timing: every writer commits, the lock is held exactly while a
unit of work writes, and it is given back however the unit of work ends.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from retailcore.adapters.db import begin_writing, make_engine, make_session_factory, writer_lock


@pytest.fixture
def database(tmp_path: Path):
    path = tmp_path / "writers.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE tally (writer INTEGER NOT NULL, n INTEGER NOT NULL)"))
    yield engine, writer_lock(str(path))
    engine.dispose()


def test_the_lock_is_held_while_a_unit_of_work_writes_and_given_back_at_commit(database) -> None:
    engine, lock = database
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        begin_writing(session)
        session.execute(text("INSERT INTO tally VALUES (0, 0)"))
        assert lock.locked()
    assert not lock.locked()


def test_a_reading_session_does_not_take_the_lock(database) -> None:
    engine, lock = database
    with make_session_factory(engine)() as session:
        assert session.execute(text("SELECT count(*) FROM tally")).scalar() == 0
        assert not lock.locked()


def test_the_lock_is_given_back_when_the_unit_of_work_fails(database) -> None:
    engine, lock = database
    factory = make_session_factory(engine)
    with pytest.raises(RuntimeError), factory() as session, session.begin():
        begin_writing(session)
        session.execute(text("INSERT INTO tally VALUES (0, 0)"))
        raise RuntimeError("the command refused")
    assert not lock.locked()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tally")).scalar() == 0


def test_concurrent_writers_all_commit_every_row(database) -> None:
    engine, lock = database
    factory = make_session_factory(engine)
    start = threading.Barrier(6)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(25):
                with factory() as session, session.begin():
                    begin_writing(session)
                    session.execute(text("INSERT INTO tally VALUES (:w, :n)"), {"w": writer, "n": n})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert not lock.locked()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT writer, count(*) FROM tally GROUP BY writer")).all()
    assert sorted(rows) == [(w, 25) for w in range(6)]
