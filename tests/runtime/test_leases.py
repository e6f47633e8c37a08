"""A worker with ``--ownership leases``, driven step by step on a real Redis: a rebuild after a
rollback applies nothing twice, and a take-over cut short by an error is finished at the next
tick."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import replace

import orjson
import pytest
import redis
import redis.asyncio as aredis

from data_feeds.runtime.consumer import StreamConsumer
from data_feeds.settings import Settings
from tests.runtime.consumer_helpers import (
    STREAM,
    T0,
    consumer_settings,
    make_consumer,
    signal_entry_ids,
)

SYMBOL = "AAAUSDT"


def _path(n: int) -> list[float]:
    rng = random.Random(1)
    prices, price = [], 100.0
    for _ in range(n):
        price *= math.exp(rng.gauss(0.0, 0.001))
        prices.append(price)
    return prices


PATH = _path(1000)
"""One random walk (every outcome up or down); ``walk`` publishes slices of it."""


def walk(client: redis.Redis, n: int, first: int = 0) -> None:
    """Ticks ``first`` to ``first + n`` of ``PATH``, 1 s of event time apart."""
    for i in range(first, first + n):
        data = {"symbol": SYMBOL, "price": PATH[i], "volume": 1.0, "timestamp": T0 + i}
        client.xadd(STREAM, {"data": orjson.dumps(data)})


def leases(settings: Settings) -> Settings:
    return consumer_settings(replace(settings, ownership="leases", lease_s=3.0), batch_size=50)


async def drain(consumer: StreamConsumer, n: int) -> None:
    stop = asyncio.Event()
    for _ in range(2000):
        if consumer.processed >= n:
            return
        await consumer.step(stop)
    raise AssertionError(f"processed {consumer.processed} of {n}")


def matured(consumer: StreamConsumer) -> int:
    g = consumer.pipeline.generator
    return g.learned + g.unlabelled


async def test_a_rebuild_with_leases_applies_nothing_twice(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """The state rebuilt after Redis is found behind (``recover``) is the symbol's stored
    part plus the replay of what was acknowledged after it: as many outcomes matured as in a
    run without the rebuild, and one signal per tick."""
    walk(redis_client, 300)
    reference = make_consumer(aclient, consumer_settings(settings, batch_size=50))
    await reference.start()
    await drain(reference, 300)
    expected = matured(reference)
    await reference.close()
    redis_client.flushdb()

    walk(redis_client, 200)
    consumer = make_consumer(aclient, leases(settings))
    await consumer.start()
    assert consumer.ownership is not None and consumer.ownership.held == {SYMBOL}
    await drain(consumer, 200)
    await consumer.recover([STREAM])  # as when Redis is found to have lost writes
    assert list(consumer.streams) == [STREAM] and consumer.ownership.held == {SYMBOL}
    walk(redis_client, 100, first=200)
    await drain(consumer, 300)
    await consumer.close()
    assert matured(consumer) == expected > 200
    signalled = signal_entry_ids(redis_client, SYMBOL)
    assert len(signalled) == len(set(signalled)) == 300


async def test_an_interrupted_take_over_is_finished_at_the_next_tick(
    redis_client: redis.Redis,
    aclient: aredis.Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walk(redis_client, 150)
    first = make_consumer(aclient, leases(settings))
    await first.start()
    await drain(first, 150)
    await first.checkpoint()  # at shutdown: its parts stored, its lease released
    assert first.ownership is not None and first.ownership.held == set()
    pending = first.pipeline.generator.pending(SYMBOL)

    second = make_consumer(aclient, leases(settings))
    restore = second.checkpointer.restore_symbol
    calls = 0

    async def flaky(symbol: str, behind: object = None) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise redis.ConnectionError("connection reset (injected)")
        return await restore(symbol, behind)  # type: ignore[arg-type]

    monkeypatch.setattr(second.checkpointer, "restore_symbol", flaky)
    with pytest.raises(redis.ConnectionError):
        await second.start()
    assert second.started and STREAM not in second.streams  # not served half taken over
    second._next_rebalance = 0.0  # the next tick
    await second.step(asyncio.Event())
    assert calls == 2 and STREAM in second.streams
    assert second.pipeline.generator.pending(SYMBOL) == pending > 0
    walk(redis_client, 50, first=150)
    await drain(second, 50)
    await second.close()
    signalled = signal_entry_ids(redis_client, SYMBOL)
    assert len(signalled) == len(set(signalled)) == 200
