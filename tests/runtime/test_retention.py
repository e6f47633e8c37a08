"""Retention: outputs trimmed by age, inputs only when asked and never before their signal."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import redis
import redis.asyncio as aredis

from data_feeds.runtime.app import Service
from data_feeds.runtime.retention import Retention, RetentionPolicy
from data_feeds.settings import Settings
from tests.runtime.test_service import publish, service_settings

DAY_MS = 86_400_000
INPUT = "crypto_price:RETUSDT"


def server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_outputs_by_age_and_inputs_only_once_consumed(
    redis_url: str, redis_client: redis.Redis
) -> None:
    now = server_ms(redis_client)
    old, recent = now - 10 * DAY_MS, now - 3_600_000
    r = redis_client
    for entry in (f"{old}-0", f"{old}-1", f"{recent}-0"):
        r.xadd("signals:RETUSDT", {"data": b"{}"}, id=entry)
    for entry in (f"{now - 40 * DAY_MS}-0", f"{recent}-0"):
        r.xadd(f"dlq:{INPUT}", {"data": b"{}"}, id=entry)
    for entry in (f"{old}-0", f"{recent}-0"):
        r.xadd("events:feed", {"data": b"{}"}, id=entry)
    for i in range(6):
        r.xadd(INPUT, {"data": b"{}"}, id=f"{old + i}-0")
    for i in range(3):
        r.xadd(INPUT, {"data": b"{}"}, id=f"{recent + i}-0")
    r.xgroup_create(INPUT, "g", id="0")
    delivered = r.xreadgroup("g", "c", {INPUT: ">"}, count=4)
    ids = [e[0] for e in delivered[0][1]]  # type: ignore[index]
    r.xack(INPUT, "g", *ids[:2])  # two acknowledged, two still pending, the rest undelivered
    client = aredis.Redis.from_url(redis_url)
    try:
        keep_inputs = Retention(client, RetentionPolicy())  # the defaults
        assert await keep_inputs.trim({INPUT: "g"}) == {
            "signals": 2, "dlq": 1, "events": 1, "input": 0,
        }  # fmt: skip
        assert r.xlen(INPUT) == 9
        trim_inputs = Retention(client, RetentionPolicy(input_s=86_400.0))
        assert (await trim_inputs.trim({INPUT: "g"}))["input"] == 2
    finally:
        await client.aclose()
    left = [e[0].decode() for e in r.xrange(INPUT)]
    # the two acknowledged entries went; the pending and the undelivered stayed, old or not
    assert left == [f"{old + i}-0" for i in range(2, 6)] + [f"{recent + i}-0" for i in range(3)]
    assert [e[0].decode() for e in r.xrange("signals:RETUSDT")] == [f"{recent}-0"]
    assert r.xlen(f"dlq:{INPUT}") == 1 and r.xlen("events:feed") == 1


async def test_the_running_service_trims_its_old_signals(
    redis_client: redis.Redis, settings: Settings
) -> None:
    """A signal older than DATA_FEEDS_SIGNALS_RETENTION_S goes at the next pass; the new ones
    stay; the trim is counted."""
    valid, _ = publish(redis_client, n_symbols=1, per_symbol=50)
    (stream,) = valid
    symbol = stream.split(":", 1)[1]
    ancient = f"{server_ms(redis_client) - 30 * DAY_MS}-0"
    redis_client.xadd(f"signals:{symbol}", {"data": b"{}"}, id=ancient)
    s = replace(service_settings(settings), signals_retention_s=86_400.0, retention_interval_s=0.2)
    service = Service(s)
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(60):
            while (
                service.metrics.snapshot().value("data_feeds_trimmed_entries_total", kind="signals")
                < 1
            ):
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
            while redis_client.xlen(f"signals:{symbol}") < 50:
                await asyncio.sleep(0.05)
    finally:
        service.request_stop()
        assert await task == 0
    ids = [e[0].decode() for e in redis_client.xrange(f"signals:{symbol}")]
    assert ancient not in ids and len(ids) == 50
