"""Live and training features are the same numbers: every signal ``data-feeds run`` writes
carries the features its model saw (``--signal-features``), and for every row that
``prepare_dataset`` builds from the same stored history, the signal of the same input entry
has bitwise those features. Three kinds of history: the simulator unpaced (a backlog, books,
trades and sentiment), the simulator paced while the service runs, and recorded real trades
and quotes replayed together."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace

import orjson
import pytest
import redis

from data_feeds.cache import keys
from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer.training import TrainingModule
from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from tests.shared_data import shared_data_path

HORIZON_S = 5.0


def cli(redis_url: str, *argv: str) -> subprocess.Popen[bytes]:
    """``data-feeds ARGV`` against the suite's Redis, in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "data_feeds", *argv, "--redis-url", redis_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finished(proc: subprocess.Popen[bytes], timeout_s: float = 300.0) -> None:
    _, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, err.decode()


def input_entries(client: redis.Redis) -> int:
    return sum(
        int(client.xlen(k))
        for k in client.scan_iter(_type="stream")
        if keys.parse_stream_key(k.decode()) is not None
    )


def live_features(client: redis.Redis) -> dict[str, dict[str, float]]:
    """signal_id -> the features its signal carries."""
    out: dict[str, dict[str, float]] = {}
    for key in client.scan_iter(match=keys.SIGNALS_STREAMS, _type="stream"):
        for _, fields in client.xrange(key):
            signal = orjson.loads(fields[b"data"])
            out[signal["signal_id"]] = signal["features"]
    return out


def bits(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def parity_settings(settings: Settings) -> Settings:
    return replace(settings, block_ms=50, discover_interval_s=0.1, metrics_port=-1,
                   horizon_s=HORIZON_S, signal_features=True)  # fmt: skip


async def serve(service: Service, publishers: list[subprocess.Popen[bytes]],
                client: redis.Redis, timeout_s: float = 300.0) -> None:  # fmt: skip
    """Run the service until the publishers are done and every input entry is processed."""
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                assert not task.done(), task
                if all(p.poll() is not None for p in publishers):
                    consumer = service.consumer
                    total = input_entries(client)
                    if consumer is not None and consumer.processed >= total:
                        break
                await asyncio.sleep(0.05)
    finally:
        service.request_stop()
        assert await task == 0
    assert service.metrics.snapshot().value("data_feeds_late_entries_total") == 0
    for publisher in publishers:
        finished(publisher)


def assert_rows_match_signals(db: DBConnector, client: redis.Redis, min_rows: int) -> None:
    dataset = TrainingModule(db, horizon_s=HORIZON_S, min_rows=10).prepare_dataset(store=False)
    live = live_features(client)
    names = dataset.feature_names
    assert len(dataset) >= min_rows and len(dataset.signal_ids) == len(dataset)
    missing = [sid for sid in dataset.signal_ids if sid not in live]
    assert missing == [], f"{len(missing)} rows have no live signal, e.g. {missing[:3]}"
    differ = [
        sid
        for sid, x in zip(dataset.signal_ids, dataset.x_rows, strict=True)
        if bits([live[sid][n] for n in names]) != bits(x)
    ]
    assert differ == [], f"{len(differ)} of {len(dataset)} rows differ, e.g. {differ[:3]}"


@pytest.mark.slow
async def test_an_unpaced_simulation_backlog(
    redis_client: redis.Redis, redis_url: str, settings: Settings, db: DBConnector
) -> None:
    """``simulate --rate 0``: 100k messages (ticks, trades, books, sentiment) published as fast
    as possible, then drained by the service as a backlog."""
    finished(cli(redis_url, "simulate", "--rate", "0", "--count", "100000", "--duration", "0",
                 "--symbols", "4", "--sentiment", "--seed", "5"))  # fmt: skip
    assert input_entries(redis_client) >= 100_000
    await serve(Service(parity_settings(settings)), [], redis_client)
    assert_rows_match_signals(db, redis_client, min_rows=20_000)


@pytest.mark.slow
async def test_a_paced_simulation_served_while_it_is_published(
    redis_client: redis.Redis, redis_url: str, settings: Settings, db: DBConnector
) -> None:
    """``simulate --rate 2000 --duration 30``, read by the running service as it arrives."""
    publisher = cli(redis_url, "simulate", "--rate", "2000", "--duration", "30", "--symbols",
                    "4", "--sentiment", "--seed", "6")  # fmt: skip
    await serve(Service(parity_settings(settings)), [publisher], redis_client)
    assert input_entries(redis_client) >= 50_000
    assert_rows_match_signals(db, redis_client, min_rows=5_000)


@pytest.mark.slow
@pytest.mark.shared_data
async def test_recorded_trades_and_quotes_replayed_together(
    redis_client: redis.Redis, redis_url: str, settings: Settings, db: DBConnector
) -> None:
    """Real Binance BTC/USDT trades and quotes of the same minute (nautilus_trader's test
    data), replayed at 20x their recorded pace by two publishers at once while the service
    runs: the two streams interleave as they arrive."""
    trades = shared_data_path("nautilus_trader", "binance", "btcusdt-trades.csv")
    quotes = shared_data_path("nautilus_trader", "binance", "btcusdt-quotes.csv")
    publishers = [cli(redis_url, "replay", str(path), "--symbol", "BTCUSDT", "--speed", "20")
                  for path in (trades, quotes)]  # fmt: skip
    await serve(Service(parity_settings(settings)), publishers, redis_client)
    assert input_entries(redis_client) >= 2_000
    assert_rows_match_signals(db, redis_client, min_rows=100)
