"""The streaming service end to end against a real Redis: one signal per valid tick, DLQ,
nothing left pending, worker sharding, checkpoints and a Redis restart."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
import redis

from data_feeds.cache import keys
from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.runtime.app import Service
from data_feeds.runtime.consumer import owns
from data_feeds.settings import Settings

T0 = 1_700_000_000.0
BAD_PAYLOADS = [
    {"data": b"{not json"},
    {"data": orjson.dumps({"kind": "price", "symbol": "X", "volume": 1.0, "timestamp": T0})},
    {"data": b'{"kind":"price","symbol":"X","price":-5,"volume":1,"timestamp":1700000000}'},
    {"data": b'{"kind":"price","symbol":"X","price":"abc","volume":1,"timestamp":1700000000}'},
]


def publish(
    client: redis.Redis,
    n_symbols: int,
    per_symbol: int,
    *,
    bad_every: int = 0,
    seed: int = 1,
    first: int = 0,
) -> tuple[dict[str, list[bytes]], dict[str, int]]:
    """XADD ticks for n symbols (bad ones every ``bad_every``); ids of the valid, bad counts."""
    rng = random.Random(seed)
    valid: dict[str, list[bytes]] = {}
    bad: dict[str, int] = {}
    pipe = client.pipeline(transaction=False)
    order: list[tuple[str, bool]] = []
    for i in range(first, first + per_symbol):
        for s in range(n_symbols):
            symbol = f"SYM{s:03d}USDT"
            stream = keys.stream_key("crypto", "price", symbol)
            is_bad = bad_every > 0 and rng.randrange(bad_every) == 0
            if is_bad:
                payload = dict(BAD_PAYLOADS[rng.randrange(len(BAD_PAYLOADS))])
                payload["data"] = payload["data"].replace(b'"X"', f'"{symbol}"'.encode())
            else:
                price = 100.0 * math.exp(0.001 * math.sin(i / 7.0 + s) + 0.0005 * rng.gauss(0, 1))
                tick = {"kind": "price", "symbol": symbol, "price": price,
                        "volume": rng.uniform(0.1, 2.0), "timestamp": T0 + i}  # fmt: skip
                payload = {"data": orjson.dumps(tick)}
            pipe.xadd(stream, payload)
            order.append((stream, is_bad))
            if len(pipe) >= 1000:
                collect(pipe.execute(), order, valid, bad)
                order = []
    collect(pipe.execute(), order, valid, bad)
    return valid, bad


def collect(
    ids: list[bytes],
    order: list[tuple[str, bool]],
    valid: dict[str, list[bytes]],
    bad: dict[str, int],
) -> None:
    for entry_id, (stream, is_bad) in zip(ids, order, strict=True):
        if is_bad:
            bad[stream] = bad.get(stream, 0) + 1
        else:
            valid.setdefault(stream, []).append(entry_id)


def signal_ids(client: redis.Redis) -> list[str]:
    out = []
    for key in client.scan_iter(match="signals:*", _type="stream"):
        for _, fields in client.xrange(key):
            out.append(orjson.loads(fields[b"data"])["signal_id"])
    return out


def pending_total(client: redis.Redis, group: str = "data-feeds") -> int:
    total = 0
    for key in client.scan_iter(match="crypto_price:*", _type="stream"):
        total += client.xpending(key, group)["pending"]
    return total


def service_settings(settings: Settings, **overrides: object) -> Settings:
    base = replace(settings, block_ms=50, discover_interval_s=0.2, metrics_port=-1,
                   horizon_s=5.0, checkpoint_interval_s=0.5, grace_period_s=10.0)  # fmt: skip
    return replace(base, **overrides)  # type: ignore[arg-type]


async def run_until(services: list[Service], done: object, timeout_s: float = 120.0) -> None:
    """Run services until ``done()`` is true, then stop them and wait."""
    tasks = [asyncio.create_task(s.run()) for s in services]
    try:
        async with asyncio.timeout(timeout_s):
            while not done():  # type: ignore[operator]
                for t in tasks:
                    if t.done():
                        t.result()
                await asyncio.sleep(0.05)
    finally:
        for s in services:
            s.request_stop()
        codes = await asyncio.gather(*tasks)
    assert codes == [0] * len(services)


def processed(services: list[Service]) -> int:
    return sum(s.consumer.processed if s.consumer else 0 for s in services)


async def test_every_valid_tick_gets_one_signal_and_bad_ones_go_to_the_dlq(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """50k ticks over 20 symbols with ~1% bad: one signal per valid tick, DLQ = the bad ones."""
    valid, bad = publish(redis_client, n_symbols=20, per_symbol=2_500, bad_every=100)
    total = sum(map(len, valid.values())) + sum(bad.values())
    assert total == 50_000 and 300 < sum(bad.values()) < 700
    service = Service(service_settings(settings))
    await run_until([service], lambda: processed([service]) >= total)
    ids = signal_ids(redis_client)
    expected = {f"{stream}/{i.decode()}" for stream, entry_ids in valid.items() for i in entry_ids}
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    for stream, n in bad.items():
        assert redis_client.xlen(keys.dlq_key(stream)) == n
    dlq_total = sum(redis_client.xlen(k) for k in redis_client.scan_iter(match="dlq:*"))
    assert dlq_total == sum(bad.values())
    assert pending_total(redis_client) == 0
    entry = redis_client.xrange(next(iter(redis_client.scan_iter(match="dlq:*"))), count=1)[0][1]
    assert {b"stream", b"entry_id", b"reason", b"payload", b"deliveries"} <= entry.keys()


async def test_two_workers_split_the_symbols(redis_client: redis.Redis, settings: Settings) -> None:
    """With --worker-count 2 each symbol is handled by exactly one worker; all signals made."""
    valid, _ = publish(redis_client, n_symbols=10, per_symbol=300)
    total = sum(map(len, valid.values()))
    workers = [Service(service_settings(settings, worker_index=i, worker_count=2))
               for i in range(2)]  # fmt: skip
    await run_until(workers, lambda: processed(workers) >= total)
    seen = [set(w.consumer.pipeline.generator.symbols) for w in workers if w.consumer]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] | seen[1] == {f"SYM{s:03d}USDT" for s in range(10)}
    for i, symbols in enumerate(seen):
        assert all(owns(sym, i, 2) for sym in symbols)
    assert len(signal_ids(redis_client)) == total
    assert pending_total(redis_client) == 0


async def test_restart_resumes_from_checkpoint_learning_each_outcome_once(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """After a restart, and after a crash that lost the last checkpoint, the model has learned
    exactly the outcomes one uninterrupted run learns (acked entries are replayed, not lost)."""
    s = service_settings(settings, checkpoint_interval_s=3600.0)
    valid_a, _ = publish(redis_client, n_symbols=3, per_symbol=300, seed=5)
    total_a = sum(map(len, valid_a.values()))
    first = Service(s)
    await run_until([first], lambda: processed([first]) >= total_a)
    (key,) = redis_client.scan_iter(match="checkpoint:*")
    after_a = redis_client.get(key)
    assert after_a is not None
    # part B: the same symbols, later timestamps
    valid_b, _ = publish(redis_client, n_symbols=3, per_symbol=300, seed=6, first=300)
    total_b = sum(map(len, valid_b.values()))
    second = Service(s)
    await run_until([second], lambda: processed([second]) >= total_b)
    redis_client.set(key, after_a)  # as if it crashed after acking B, before checkpointing
    third = Service(s)
    await run_until([third], lambda: third.consumer is not None and third.consumer.started)
    assert third.consumer is not None and third.consumer.processed == 0
    resumed = third.consumer.pipeline.generator

    straight = Service(replace(s, consumer_group="straight"))
    await run_until([straight], lambda: processed([straight]) >= total_a + total_b)
    assert straight.consumer is not None
    reference = straight.consumer.pipeline.generator
    assert reference.learned > 1000
    assert resumed.learned == reference.learned
    assert resumed.unlabelled == reference.unlabelled
    assert {s: resumed.pending(s) for s in resumed.symbols} == {
        s: reference.pending(s) for s in reference.symbols
    }


async def test_a_restored_state_serves_and_samples_as_configured_now(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """A checkpoint taken serving online and learning every outcome, restored by a worker
    configured frozen with a 2.5 s learning interval: the worker serves frozen and samples
    with 2.5 s, every symbol's buffer too; what waits keeps its features."""
    s = service_settings(settings, checkpoint_interval_s=3600.0, learn_interval_s=0.0)
    valid, _ = publish(redis_client, n_symbols=3, per_symbol=100, seed=5)
    first = Service(s)
    await run_until([first], lambda: processed([first]) >= sum(map(len, valid.values())))
    assert first.consumer is not None
    before = first.consumer.pipeline.generator
    waiting = {sym: len(before.symbol_state(sym).outcomes.features())  # type: ignore[union-attr]
               for sym in before.symbols}  # fmt: skip
    assert all(n > 0 for n in waiting.values())
    second = Service(replace(s, serving="frozen", learn_interval_s=2.5))
    await run_until([second], lambda: second.consumer is not None and second.consumer.started)
    assert second.consumer is not None and second.consumer.processed == 0
    restored = second.consumer.pipeline.generator
    assert (restored.serving, restored.learn_interval_s) == ("frozen", 2.5)
    buffers = {sym: restored.symbol_state(sym).outcomes for sym in restored.symbols}  # type: ignore[union-attr]
    assert {b.learn_interval_s for b in buffers.values()} == {2.5}
    assert {sym: len(b.features()) for sym, b in buffers.items()} == waiting


@pytest.fixture
def own_redis(short_tmp: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(short_tmp / "restart")
    server.ensure_running()
    yield server
    server.stop()


async def test_recovers_from_a_redis_restart(own_redis: EmbeddedRedis, tmp_path: Path) -> None:
    """Redis stopped and started mid-stream: the service reconnects and consumes everything."""
    client = redis.Redis.from_url(own_redis.url)
    client.flushdb()
    settings = service_settings(Settings(redis_url=own_redis.url, data_dir=tmp_path))
    valid, _ = publish(client, n_symbols=4, per_symbol=500)
    first_total = sum(map(len, valid.values()))
    service = Service(settings)
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(60):
            while processed([service]) < first_total:
                await asyncio.sleep(0.05)
            own_redis.stop()
            await asyncio.sleep(1.0)
            assert not service.readiness()[0]
            await asyncio.to_thread(own_redis.ensure_running)
            client = redis.Redis.from_url(own_redis.url)
            more, _ = publish(client, n_symbols=4, per_symbol=100, seed=9, first=500)
            while processed([service]) < first_total + sum(map(len, more.values())):
                await asyncio.sleep(0.05)
            assert service.readiness()[0]
    finally:
        service.request_stop()
        assert await task == 0
    ids = signal_ids(client)
    assert len(ids) == len(set(ids)) == first_total + sum(map(len, more.values()))
    assert pending_total(client) == 0
    client.close()


async def test_survives_a_failover_that_makes_redis_read_only(
    own_redis: EmbeddedRedis, tmp_path: Path
) -> None:
    """While Redis refuses writes (READONLY, as during a failover) the service backs off and is
    not ready; once writes are accepted again it goes on and loses nothing."""
    client = redis.Redis.from_url(own_redis.url)
    client.flushdb()
    settings = service_settings(Settings(redis_url=own_redis.url, data_dir=tmp_path))
    valid, _ = publish(client, n_symbols=2, per_symbol=200)
    total = sum(map(len, valid.values()))
    service = Service(settings)
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(60):
            while processed([service]) < total:
                await asyncio.sleep(0.05)
            client.replicaof("127.0.0.1", "1")  # demoted: every write is refused
            await asyncio.sleep(1.0)
            assert not task.done()
            assert not service.readiness()[0]
            client.replicaof("NO", "ONE")
            more, _ = publish(client, n_symbols=2, per_symbol=100, first=200)
            total += sum(map(len, more.values()))
            while processed([service]) < total:
                await asyncio.sleep(0.05)
            assert service.readiness()[0]
    finally:
        with contextlib.suppress(redis.RedisError):
            client.replicaof("NO", "ONE")
        service.request_stop()
        assert await task == 0
    assert len(set(signal_ids(client))) == total
    assert pending_total(client) == 0
    client.close()


async def test_a_backlog_is_processed_in_arrival_order_across_streams(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """A backlog over streams of different rates is merged by arrival, not stream by stream
    (a read returns up to batch_size per stream), and every entry is processed once."""
    pipe = redis_client.pipeline(transaction=False)
    for i in range(1200):
        tick = {"kind": "price", "symbol": "AAAUSDT", "price": 100.0 + (i % 7) * 0.01,
                "volume": 1.0, "timestamp": T0 + i}  # fmt: skip
        pipe.xadd("crypto_price:AAAUSDT", {"data": orjson.dumps(tick)})
        if i % 4 == 0:
            trade = {"kind": "trade", "symbol": "AAAUSDT", "price": 100.0, "volume": 0.5,
                     "side": "buy", "timestamp": T0 + i, "trade_id": str(i)}  # fmt: skip
            pipe.xadd("crypto_trade:AAAUSDT", {"data": orjson.dumps(trade)})
        if i % 100 == 99:
            pipe.execute()
            await asyncio.sleep(0.002)  # entry ids advance: arrival order is well defined
    pipe.execute()
    service = Service(service_settings(settings, batch_size=100))
    seen: list[tuple[str, bytes]] = []

    def record_order(consumer: object) -> None:
        process = service.consumer.pipeline.process  # type: ignore[union-attr]

        def spy(batch, emit=True):  # type: ignore[no-untyped-def]
            batch = list(batch)
            seen.extend((stream, entry_id) for stream, entry_id, _ in batch)
            return process(batch, emit=emit)

        service.consumer.pipeline.process = spy  # type: ignore[union-attr,method-assign]

    async def watch() -> None:
        while service.consumer is None:
            await asyncio.sleep(0)
        record_order(service.consumer)

    watcher = asyncio.create_task(watch())
    await run_until([service], lambda: processed([service]) >= 1500)
    await watcher
    assert len(seen) == len(set(seen)) == 1500
    ms = [int(i.split(b"-")[0]) for _, i in seen]
    assert ms == sorted(ms)


async def test_lag_metrics_count_what_the_group_has_not_delivered_or_acked(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """export_lag: per kind, entries delivered but not acknowledged (pending), entries not
    delivered yet (the group's lag, where the server reports it: Redis 7+) and their age."""
    import redis.asyncio as aredis  # noqa: PLC0415

    from data_feeds.runtime.app import build_pipeline  # noqa: PLC0415
    from data_feeds.runtime.consumer import StreamConsumer  # noqa: PLC0415
    from data_feeds.runtime.metrics import ServiceMetrics  # noqa: PLC0415
    from data_feeds.validation.schema_validator import SchemaValidator  # noqa: PLC0415

    valid, _ = publish(redis_client, n_symbols=2, per_symbol=30)
    client = aredis.Redis.from_url(settings.redis_url or "")
    metrics = ServiceMetrics()
    consumer = StreamConsumer(
        client, settings, build_pipeline(settings, SchemaValidator()), hmac_key=b"k" * 32,
        metrics=metrics,
    )  # fmt: skip
    try:
        await consumer.discover()
        stream = sorted(consumer.streams)[0]
        await client.xreadgroup(consumer.group, "someone", {stream: ">"}, count=10)
        await consumer.export_lag()
    finally:
        await client.aclose()
    m = metrics.snapshot()
    assert m.value("data_feeds_pending_entries", kind="price") == 10
    reports_lag = int(redis_client.info("server")["redis_version"].split(".")[0]) >= 7
    expected_lag = sum(map(len, valid.values())) - 10 if reports_lag else 0
    assert m.value("data_feeds_consumer_lag_entries", kind="price") == expected_lag
    assert m.value("data_feeds_consumer_lag_seconds", kind="price") >= 0.0
