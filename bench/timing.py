"""Timing helpers shared by the benchmarks: per-item medians over chunks, interleaved rounds.

Absolute times drift on a shared machine; every bench runs its contenders in alternation in
one process and reports the ratio of their medians.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
CHUNK = 100


def cpu_s(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) the processes used so far (those still alive)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def redis_pids(client: Any) -> list[int]:
    """The pid of the redis-server behind ``client`` when it runs on this machine (so that its
    CPU can be counted), else none."""
    pid = int(client.info("server")["process_id"])
    return [pid] if Path(f"/proc/{pid}").exists() else []


def per_item_us(items: Sequence[T], step: Callable[[T], object], chunk: int = CHUNK) -> list[float]:
    """µs per item for each consecutive chunk of ``items`` passed through ``step``."""
    out: list[float] = []
    clock = time.perf_counter_ns
    for start in range(0, len(items) - chunk + 1, chunk):
        part = items[start : start + chunk]
        t0 = clock()
        for item in part:
            step(item)
        out.append((clock() - t0) / chunk / 1e3)
    return out


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def report(rows: dict[str, list[float]], baseline: str, target: float | None = None) -> float:
    """Print median µs per contender and each one's ratio to ``baseline``; that ratio for the
    first non-baseline contender."""
    base = median(rows[baseline])
    first_ratio: float | None = None
    print(f"{'contender':<34} {'median us/item':>15} {'ratio':>8}")
    for name, samples in rows.items():
        m = median(samples)
        ratio = m / base
        if name != baseline and first_ratio is None:
            first_ratio = ratio
        print(f"{name:<34} {m:>15.3f} {ratio:>7.2f}x")
    if first_ratio is None:
        raise ValueError("report needs a contender besides the baseline")
    if target is not None:
        verdict = "meets" if first_ratio <= target else "MISSES"
        print(f"ratio {first_ratio:.2f}x {verdict} the target of at most {target:.2f}x")
    return first_ratio


TICK_S = 0.001
"""The loop-lag ticker's period."""


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    """Sleep ``TICK_S`` over and over until ``stop``; append how late each wake-up was (s):
    the time the event loop was busy elsewhere."""
    clock = time.perf_counter
    while not stop.is_set():
        t0 = clock()
        await asyncio.sleep(TICK_S)
        lags.append(clock() - t0 - TICK_S)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


LAG_HEADER = f"{'ticks':>6} {'p50_ms':>8} {'p99_ms':>8} {'max_ms':>8}"
"""Column titles of ``lag_cells``."""


def lag_cells(lags: Sequence[float]) -> str:
    """A ticker's lags as table cells: how many, p50, p99 and max in ms (``LAG_HEADER``)."""
    return (
        f"{len(lags):>6} {statistics.median(lags) * 1e3:>8.2f} "
        f"{percentile(lags, 0.99) * 1e3:>8.2f} {max(lags) * 1e3:>8.1f}"
    )
