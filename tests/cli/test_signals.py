"""``data-feeds signals``: the newest stored signals in time order, and new ones followed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import orjson
import pytest
import redis

from data_feeds.cli import main
from data_feeds.records import BUY, HOLD, SELL, Signal

T0 = 1_700_000_000.0


def store(client: redis.Redis, symbol: str, t: float, action: str) -> Signal:
    s = Signal(symbol, action, 0.61, "v3", f"{int(t * 1000)}-0", f"crypto_price:{symbol}", t, 99.5)
    client.xadd(f"signals:{symbol}", {"data": orjson.dumps(s.to_dict())})
    return s


def test_the_newest_signals_in_time_order(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(30):
        store(redis_client, "AAAUSDT", T0 + 2 * i, BUY)
        store(redis_client, "BBBUSDT", T0 + 2 * i + 1, SELL)
    redis_client.xadd("signals:AAAUSDT", {"data": b"garbage"})
    assert main(["signals", "--count", "5", "--json", "--redis-url", redis_url]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 10
    assert rows[0]["error"] == "not a readable signal"  # shown, never skipped silently
    times = [r["timestamp"] for r in rows[1:]]
    assert times == sorted(times) and times[-1] == T0 + 59
    assert main(["signals", "aaausdt", "--count", "3", "--redis-url", redis_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("time (UTC)") and len(lines) == 4
    assert all("AAAUSDT" in line for line in lines[2:]) and "BUY" in lines[-1]
    assert "0.6100" in lines[-1] and "v3" in lines[-1]


def test_no_signals_says_so(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signals", "NOPEUSDT", "--redis-url", redis_url]) == 0
    assert "no signals stored for NOPEUSDT" in capsys.readouterr().err


def follow(url: str, client: redis.Redis, writes: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Start ``signals --follow``, store ``writes`` (symbol, action) once it runs, and collect
    what it prints of them; it must stop with 0 on SIGTERM."""
    store(client, "OLDUSDT", T0, HOLD)
    env = {**os.environ, "DATA_FEEDS_REDIS_URL": url}
    with subprocess.Popen(
        [sys.executable, "-m", "data_feeds", "signals", "--count", "0", "--follow", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:  # fmt: skip
        try:
            time.sleep(2.0)  # started and reading
            for i, (symbol, action) in enumerate(writes):
                store(client, symbol, T0 + 1 + i, action)
            deadline = time.monotonic() + 20
            seen: list[dict[str, object]] = []
            assert proc.stdout is not None
            while len(seen) < len(writes) and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if line:
                    seen.append(json.loads(line))
            return {(str(s["symbol"]), str(s["action"])) for s in seen}
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


def test_follow_prints_new_signals_and_stops_on_sigterm(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Signals written after it started, also to a stream that did not exist yet."""
    writes = [("OLDUSDT", BUY), ("NEWUSDT", SELL)]
    assert follow(redis_url, redis_client, writes) == set(writes)
