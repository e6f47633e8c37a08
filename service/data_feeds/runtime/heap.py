"""HeapTrim: give the C heap's free pages back to the operating system, on the scheduler's timer.

Python's allocator takes blocks over 512 bytes from the C library's ``malloc``. A worker's
per-symbol state comes and goes in such blocks (the pending predictions' row blocks, the
cleaner's windows as they are cut back, the fingerprint rings as they age), and long-lived
blocks end up between the free ones, so glibc keeps the freed pages and the process's resident
memory only grows. ``malloc_trim(0)`` releases every whole free page in every arena
(``madvise(MADV_DONTNEED)``), not only the top of the heap.

Measured with ``bench/bench_memory.py`` and ``--steady 10000`` (10,000 symbols at 0.2 ticks/s,
1,100 ticks each): a trim gives back about 10 MB of the 294 MB process, 1 kB a symbol, in 1-3
ms. The scheduler runs it in a thread every ``heap_trim_interval_s`` (60 s; 0: never), so the
loop goes on meanwhile; glibc holds each arena's lock while it trims it, so an allocation of
the loop's over 512 bytes (or a checkpoint's fork) may wait for that long.
``released_bytes`` is the drop in resident memory across each call: what another thread freed
meanwhile counts too.

Where the C library has no ``malloc_trim`` (musl, macOS, Windows), ``available`` is False and
``trim`` does nothing; with another allocator preloaded (jemalloc, tcmalloc) it trims glibc's
own heap, which then holds next to nothing.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Final

STATM: Final = "/proc/self/statm"
PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the symbols the process has loaded: its libc's
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def resident_bytes() -> int:
    """The process's resident memory, from ``/proc/self/statm`` (0 where there is none)."""
    try:
        with open(STATM) as statm:
            return int(statm.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class HeapTrim:
    """Releases the C heap's free pages: ``trim()`` returns the resident bytes it gave back."""

    def __init__(self) -> None:
        self._trim = _malloc_trim()
        self.trims = 0
        self.released_bytes = 0
        """Resident bytes given back over all trims (a drop in RSS across each call)."""

    @property
    def available(self) -> bool:
        return self._trim is not None

    def trim(self) -> int:
        """One ``malloc_trim(0)``; how far the resident memory fell across it (0 if it rose:
        another thread allocated meanwhile)."""
        if self._trim is None:
            return 0
        before = resident_bytes()
        self._trim(0)
        released = max(0, before - resident_bytes())
        self.trims += 1
        self.released_bytes += released
        return released
