"""The DESIGN §5 redelivery paths, each driven directly against a real Redis: a dead
consumer's entries taken over, dead-lettering after exactly N deliveries, a group lost while
running (NOGROUP), and an entry trimmed away while pending."""

from __future__ import annotations

import asyncio

import orjson
import redis
import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.runtime.metrics import ServiceMetrics
from data_feeds.settings import Settings
from tests.runtime.consumer_helpers import (
    STREAM,
    add_ticks,
    consumer_settings,
    make_consumer,
    signal_entry_ids,
)

GROUP = "data-feeds"


async def test_entries_idle_on_a_dead_consumer_are_taken_over(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """A consumer that read entries and died: after ``claim_idle_ms`` another takes them over
    (XAUTOCLAIM), processes each once and acknowledges it; nothing is left on the dead one."""
    ids = add_ticks(redis_client, 30)
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=100)
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 30
    await asyncio.sleep(0.06)
    metrics = ServiceMetrics()
    consumer = make_consumer(aclient, consumer_settings(settings, claim_idle_ms=50), metrics)
    await consumer.start()  # its own pending: none
    assert consumer.processed == 0
    assert await consumer.claim_abandoned() == 30
    assert signal_entry_ids(redis_client) == [i.decode() for i in ids]
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0
    assert metrics.snapshot().value("data_feeds_redeliveries_total") == 30


async def test_an_entry_is_dead_lettered_after_exactly_max_deliveries(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """With ``max_deliveries`` 3, an entry on its 3rd delivery is processed; one on its 4th is
    dead-lettered (reason delivery_limit, 4 deliveries, its payload), never processed."""
    third, fourth = add_ticks(redis_client, 2)
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=10)  # delivery 1 of each
    # the dead consumer kept failing on them: set their delivery counts to 2 and 3, idle 10 s
    for entry_id, count in ((third, 2), (fourth, 3)):
        redis_client.xclaim(STREAM, GROUP, "dead", 0, [entry_id], idle=10_000, retrycount=count)
    s = consumer_settings(settings, max_deliveries=3, claim_idle_ms=1_000)
    consumer = make_consumer(aclient, s)
    await consumer.start()
    assert await consumer.claim_abandoned() == 2  # delivery 3 of one, 4 of the other
    assert signal_entry_ids(redis_client) == [third.decode()]
    (dlq_entry,) = redis_client.xrange(keys.dlq_key(STREAM))
    fields = dlq_entry[1]
    assert fields[b"entry_id"] == fourth and fields[b"reason"] == b"delivery_limit"
    assert fields[b"deliveries"] == b"4"
    assert fields[b"detail"] == b"delivered 4 times (limit 3)"
    original = redis_client.xrange(STREAM, fourth, fourth)[0][1]
    assert orjson.loads(fields[b"payload"]) == {"data": original[b"data"].decode()}
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0


async def test_a_stream_deleted_and_recreated_while_running_is_read_again(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """The stream is deleted and recreated under a running consumer (its group gone: NOGROUP):
    the consumer recreates the group and processes the new entries; it does not stop."""
    consumer = make_consumer(aclient, consumer_settings(settings))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        first = add_ticks(redis_client, 20)
        async with asyncio.timeout(30):
            while consumer.processed < 20:
                await asyncio.sleep(0.02)
        redis_client.delete(STREAM)
        second = add_ticks(redis_client, 20, first=20)
        async with asyncio.timeout(30):
            while consumer.processed < 40:
                assert not task.done(), task
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    task.result()
    assert signal_entry_ids(redis_client) == [i.decode() for i in first + second]
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0


async def test_a_pending_entry_trimmed_away_is_acknowledged_and_counted(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """Entries read before a crash and trimmed from the stream before the restart come back
    without fields: acknowledged and counted as trimmed (no signal), and the start-up drain
    ends; the entries still in the stream get their signals."""
    ids = add_ticks(redis_client, 10)
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "worker-0", {STREAM: ">"}, count=100)  # then it crashed
    redis_client.xdel(STREAM, *ids[:4])
    metrics = ServiceMetrics()
    consumer = make_consumer(aclient, consumer_settings(settings), metrics)
    async with asyncio.timeout(30):
        await consumer.start()
    assert redis_client.xpending(STREAM, GROUP)["pending"] == 0
    assert metrics.snapshot().value("data_feeds_pending_trimmed_total") == 4
    assert signal_entry_ids(redis_client) == [i.decode() for i in ids[4:]]
    assert consumer.processed == 10
