"""Ids are UUIDv7, unique and strictly increasing within a process, minted one by one or in bulk."""

from __future__ import annotations

import itertools
import pickle
import uuid

from retailcore.core import ids
from retailcore.core.ids import new_id, new_ids


def _is_v7(value: uuid.UUID) -> bool:
    return value.version == 7 and value.variant == uuid.RFC_4122


def test_an_id_is_a_real_uuid_v7():
    made = new_id()
    assert isinstance(made, uuid.UUID) and _is_v7(made)
    assert uuid.UUID(str(made)) == made == uuid.UUID(int=made.int)
    assert hash(made) == hash(uuid.UUID(int=made.int))
    assert pickle.loads(pickle.dumps(made)) == made
    assert made.is_safe is uuid.SafeUUID.unknown


def test_ids_minted_singly_and_in_bulk_interleave_strictly_increasing():
    minted = [new_id(), *new_ids(5000), new_id(), *new_ids(1), *new_ids(0), new_id()]
    assert len(minted) == 5004
    assert all(_is_v7(made) for made in minted)
    assert all(a < b for a, b in itertools.pairwise(minted))
    assert len({made.hex for made in minted}) == len(minted)


def test_more_than_a_millisecond_holds_borrows_the_next_millisecond(monkeypatch):
    """4,096 ids fit in one millisecond; when the clock does not move, the next ones take the next."""
    frozen = ids._last_ms + 10
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen * 1_000_000)
    minted = new_ids(10_000)
    stamps = [made.int >> 80 for made in minted]
    assert stamps[0] == frozen and stamps[-1] > frozen
    assert all(a < b for a, b in itertools.pairwise(minted))
    assert new_id() > minted[-1]  # the single path continues after the borrowed milliseconds
