"""Gap-free counters: numbers in order, none lost to a rollback, and no failure when two transactions
take the very first number of a counter at the same moment (PostgreSQL: real concurrency)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from retailcore.adapters.db import transaction
from retailcore.adapters.sequences import take_next
from retailcore.orders.tables import OrderSequence
from support import POSTGRES_URL

SEQUENCE = OrderSequence.__table__


def test_numbers_follow_each_other_and_a_rollback_gives_its_number_back(runtime, company):
    key = {"company_id": uuid.UUID(company["id"]), "prefix": "T1"}
    with transaction(runtime.session_factory) as session:
        assert [take_next(session, SEQUENCE, key) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(RuntimeError), transaction(runtime.session_factory) as session:
        assert take_next(session, SEQUENCE, key) == 4
        raise RuntimeError("the document is refused after its number was taken")
    with transaction(runtime.session_factory) as session:
        assert take_next(session, SEQUENCE, key) == 4


@pytest.mark.skipif(not POSTGRES_URL, reason="row locks need PostgreSQL; SQLite has a single writer")
def test_two_transactions_taking_the_first_number_at_once_both_succeed(runtime, company):
    key = {"company_id": uuid.UUID(company["id"]), "prefix": "RACE"}
    barrier = threading.Barrier(2, timeout=10)
    taken: dict[str, int | str] = {}

    def take(name: str) -> None:
        try:
            with transaction(runtime.session_factory) as session:
                barrier.wait()
                taken[name] = take_next(session, SEQUENCE, key)
                time.sleep(0.2)  # hold the new row while the other one tries to insert it too
        except Exception as error:  # any failure is an outcome the assertion reports
            taken[name] = type(error).__name__

    threads = [threading.Thread(target=take, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(taken.values()) == [1, 2]
