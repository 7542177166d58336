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
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Start in the lower half so the millisecond has room for many more ids.
            _counter = _random.getrandbits(11)
        else:
            _counter += 1
            if _counter > 0x0FFF:  # 4096 ids in one millisecond: borrow the next one
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    return uuid.UUID(int=(ms & _MS) << 80 | _VERSION | counter << 64 | _VARIANT | _random.getrandbits(62))


_MS = (1 << 48) - 1
_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
