"""Elastic workers (``--ownership leases``) in their own processes: a deterministic history
to publish (``load.publish``), the workers' learned-outcome counts read from their checkpoints,
and who served which symbol when, read from their logs. Used by
``tests/cluster/test_elastic.py`` and ``bench/bench_elastic.py``."""

from __future__ import annotations

import itertools
import math
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis

from data_feeds.cache import keys, signed
from data_feeds.records import PRICE

from .service import HMAC_KEY, ServiceProcess

SYMBOLS = 12
TICKS = 1000  # per symbol, 0.05 s of event time apart: 50 s of history, 10 horizons
RATE = 800.0  # published per second: the run takes about 15 s


def history(seed: int = 3) -> list[tuple[str, bytes]]:
    """Price ticks in event-time order, round-robin over the symbols (a random walk each)."""
    rng = random.Random(seed)
    prices = [100.0 + i for i in range(SYMBOLS)]
    t0 = time.time() - TICKS * 0.05 - 60.0
    out = []
    for k in range(TICKS):
        for i in range(SYMBOLS):
            prices[i] *= math.exp(rng.gauss(0.0, 0.001))
            tick = {"symbol": f"E{i:02d}USDT", "price": round(prices[i], 6), "volume": 1.0,
                    "timestamp": t0 + 0.05 * k + 0.001 * i}  # fmt: skip
            out.append((keys.stream_key("crypto", PRICE, f"E{i:02d}USDT"), orjson.dumps(tick)))
    return out


def worker(url: str, tmp: Path, args: list[str], name: str) -> ServiceProcess:
    return ServiceProcess(
        url, tmp / name, horizon_s=5.0,
        log_level="info",
        extra_args=[*args, "--checkpoint-interval-s", "1"],
    )  # fmt: skip


def learned(client: redis.Redis, worker_names: list[str]) -> int:
    """Outcomes learned by the workers' models, from their stored checkpoints."""
    total = 0
    for name in worker_names:
        blob = client.get(keys.checkpoint_key("data-feeds", name))
        assert blob is not None, name
        state: Any = signed.loads(blob, HMAC_KEY.encode())
        total += state["generator"].learned
    return total


def served_intervals(procs: list[ServiceProcess]) -> dict[str, list[tuple[float, float, str]]]:
    """Per symbol, (from, to, worker) of each time a worker served it, from the workers' logs:
    from ``symbol_acquired`` to ``symbol_released`` or ``symbol_lost`` (or the worker's end).
    A worker acquiring a symbol it already serves is an error."""
    out: dict[str, list[tuple[float, float, str]]] = {}
    for p in procs:
        opened: dict[str, float] = {}
        end = time.time()
        for line in p.log_text().splitlines():
            if line.startswith("--- start"):  # a new process: the last one's spans end here
                at = float(line.split()[-1])
                for symbol, since in opened.items():
                    out.setdefault(symbol, []).append((since, at, p.data_dir.name))
                opened = {}
            if not line.startswith("{"):
                continue
            event = orjson.loads(line)
            at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
            symbol = event.get("symbol")
            if event["event"] == "symbol_acquired":
                assert symbol not in opened, f"{p.data_dir.name} acquired {symbol} twice"
                opened[symbol] = at
            elif event["event"] in ("symbol_released", "symbol_lost") and symbol in opened:
                out.setdefault(symbol, []).append((opened.pop(symbol), at, p.data_dir.name))
            elif event["event"] == "service_stopped":
                end = at
        for symbol, since in opened.items():
            out.setdefault(symbol, []).append((since, end, p.data_dir.name))
    return out


def gaps(
    intervals: dict[str, list[tuple[float, float, str]]],
    lo: float = -math.inf,
    hi: float = math.inf,
) -> list[float]:
    """Seconds a symbol went unserved between two workers serving it, for each handover whose
    old owner stopped serving in [lo, hi)."""
    out = []
    for spans in intervals.values():
        for (_, end, a), (start, _, b) in itertools.pairwise(sorted(spans)):
            if a != b and lo <= end < hi:
                out.append(max(0.0, start - end))
    return out
