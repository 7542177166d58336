"""Identifiers.

Ids are UUIDv7 (RFC 9562): globally unique, so stores and terminals can mint them offline and
thousands of stores can share one schema, and time-ordered, so B-tree indexes stay compact and
keyset pagination by id follows creation order.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """A UUIDv7; ids minted in the same millisecond by this process stay strictly increasing."""
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Start in the lower half so the millisecond has room for many more ids.
            _counter = int.from_bytes(os.urandom(2), "big") & 0x07FF
        else:
            _counter += 1
            if _counter > 0x0FFF:  # 4096 ids in one millisecond: borrow the next one
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)
