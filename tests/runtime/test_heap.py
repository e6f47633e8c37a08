"""HeapTrim: the C heap's free pages go back to the operating system, and the running service
trims on its scheduler's timer (never with an interval of 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import redis

from data_feeds.runtime.app import Service
from data_feeds.runtime.heap import HeapTrim, resident_bytes
from data_feeds.settings import Settings
from tests.runtime.test_scheduler import run_while
from tests.runtime.test_service import publish, service_settings

FRAGMENTED = """
import json
from data_feeds.runtime.heap import HeapTrim, resident_bytes
heap = HeapTrim()
blocks = [bytearray(1000) for _ in range(160_000)]  # 1 kB blocks: glibc's, not pymalloc's
keep = blocks[::16]  # one block in 16 stays, between the freed ones
del blocks
before = resident_bytes()
released = heap.trim()
print(json.dumps({"before": before, "after": resident_bytes(), "released": released,
                  "available": heap.available, "kept": len(keep)}))
"""


def test_a_fragmented_heap_gives_its_free_pages_back() -> None:
    """160 MB of 1 kB blocks freed but for one in 16 (which keeps glibc from shrinking the
    heap from its top): a trim gives much of the freed 150 MB back, and says how much (86 or
    122 MB, by how the pages fall between the kept blocks; without it, next to nothing)."""
    heap = HeapTrim()
    if not heap.available or os.environ.get("LD_PRELOAD"):
        pytest.skip("no malloc_trim, or another allocator preloaded (its heap is not glibc's)")
    out = subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True, text=True,
                         check=True)  # fmt: skip
    result = json.loads(out.stdout)
    assert result["released"] > 50_000_000  # what it reports it gave back ...
    assert result["after"] < result["before"] - 50_000_000  # ... it did
    assert resident_bytes() > 0


async def test_the_service_trims_its_heap_on_the_scheduler_timer(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """Every ``heap_trim_interval_s`` the scheduler trims in a thread and counts what came
    back in ``heap_released_bytes_total``."""
    publish(redis_client, n_symbols=2, per_symbol=50)
    service = Service(replace(service_settings(settings), heap_trim_interval_s=0.01))
    if not service_heap_available():
        pytest.skip("this C library has no malloc_trim")

    def trimmed_twice() -> bool:
        return service.scheduler is not None and service.scheduler.heap.trims >= 2

    await run_while(service, trimmed_twice)
    assert service.scheduler is not None
    released = service.scheduler.heap.released_bytes
    metrics = service.metrics.snapshot()
    assert metrics.value("data_feeds_heap_released_bytes_total") == released


async def test_an_interval_of_zero_never_trims(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """With ``heap_trim_interval_s`` 0 the scheduler runs (it would have trimmed twice) but
    never trims."""
    publish(redis_client, n_symbols=2, per_symbol=50)
    service = Service(replace(service_settings(settings), heap_trim_interval_s=0.0))
    start = time.monotonic()
    await run_while(service, lambda: time.monotonic() - start > 2.5)
    assert service.scheduler is not None and service.scheduler.heap.trims == 0


def service_heap_available() -> bool:
    return HeapTrim().available
