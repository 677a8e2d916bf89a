"""Which allocator Arrow uses while files are loaded.

pyarrow's default pool is mimalloc.  In a fresh process (every `irkit load` and `irkit open`),
its first large allocations cost far more CPU than the C library's allocator.  Converting a
million loaded rows to pandas took 0.20-0.32 s with mimalloc and 0.08-0.12 s with the system
allocator.  A whole `load_report` of 1M drain lines went from 3.24 s to 3.03 s (medians of 10
interleaved fresh processes; 2.91 s with the system allocator for the whole process).  Peak
memory did not change (1,068 vs 1,055 MB).

So loading switches Arrow to the system allocator for its duration, and puts back whatever was
there.  It leaves the choice alone when the user made one: ``ARROW_DEFAULT_MEMORY_POOL`` set, or
a pool other than mimalloc installed with ``pyarrow.set_memory_pool``.  Buffers remember their
pool, so memory allocated inside the scope is freed correctly after it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

_lock = threading.Lock()
_depth = 0  # loads in progress (threads or nesting) that switched the pool
_previous: pa.MemoryPool | None = None


@contextmanager
def system_allocator() -> Iterator[None]:
    """Arrow allocates from the C library's allocator inside this block (see module doc)."""
    global _depth, _previous
    with _lock:
        switch = _depth > 0 or (
            "ARROW_DEFAULT_MEMORY_POOL" not in os.environ
            and pa.default_memory_pool().backend_name == "mimalloc")
        if switch:
            if _depth == 0:
                _previous = pa.default_memory_pool()
                pa.set_memory_pool(pa.system_memory_pool())
            _depth += 1
    try:
        yield
    finally:
        if switch:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    pa.set_memory_pool(_previous)
                    _previous = None
