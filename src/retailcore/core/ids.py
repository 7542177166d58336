"""Identifiers.

Ids are UUIDv7 (RFC 9562): globally unique, so stores and terminals can mint them offline and
thousands of stores can share one schema, and time-ordered, so B-tree indexes stay compact and
keyset pagination by id follows creation order.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
# The random part comes from a generator seeded by the OS, not from a system call per id (a POS batch
# mints thousands of ids). Uniqueness rests on time + counter within a process and on these 62 bits
# across processes, so a forked child (uvicorn workers) reseeds instead of repeating its parent.
_random = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def new_id() -> uuid.UUID:
    """A UUIDv7; ids minted in the same millisecond by this process stay strictly increasing."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7s, strictly increasing, for one lock and one clock reading (a POS batch mints
    thousands); they continue the sequence of every id this process minted before."""
    global _last_ms, _counter
    stamps = []
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        ms, counter = _last_ms, _counter
        if now_ms > ms:
            # A new millisecond starts its counter in the lower half, so that it has room for many more
            # ids; the first id takes that start.
            ms, counter = now_ms, _random.getrandbits(11) - 1
        for _ in range(count):
            counter += 1
            if counter > 0x0FFF:  # 4096 ids in one millisecond: borrow the next one
                ms, counter = ms + 1, 0
            stamps.append((ms & _MS) << 80 | _VERSION | counter << 64 | _VARIANT)
        _last_ms, _counter = ms, counter
    return [_uuid_of(stamp | _random.getrandbits(62)) for stamp in stamps]


def _uuid_of(value: int) -> uuid.UUID:
    """``uuid.UUID(int=value)`` for a value built valid here. The constructor checks its arguments in
    Python, which doubled the cost of an id; its two slots are set directly instead, as it does."""
    made = _make_uuid(uuid.UUID)
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", uuid.SafeUUID.unknown)
    return made


_make_uuid = uuid.UUID.__new__
_MS = (1 << 48) - 1
_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
