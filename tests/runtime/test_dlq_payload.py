"""A DLQ entry keeps a bounded prefix of an oversized payload, with its size and hash."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
import redis
import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.runtime.pipeline import DLQ_PAYLOAD_MAX
from data_feeds.settings import Settings
from tests.runtime.consumer_helpers import STREAM, add_ticks, consumer_settings, make_consumer


async def test_a_huge_poison_payload_is_kept_as_a_prefix_with_its_size_and_hash(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """1 MB refused as payload_too_large: its DLQ entry holds the first DLQ_PAYLOAD_MAX bytes of
    the payload's JSON, its whole size and sha256; a small bad payload is kept whole."""
    huge = b'{"symbol":"AAAUSDT","note":"' + b"x" * 1_000_000 + b'"}'
    redis_client.xadd(STREAM, {"data": huge})
    redis_client.xadd(STREAM, {"data": b"{not json"})
    add_ticks(redis_client, 3)
    consumer = make_consumer(aclient, consumer_settings(settings))
    await consumer.start()
    await asyncio.sleep(0.005)  # the server's clock is past every entry
    await consumer._handle(await consumer.read(asyncio.Event(), await consumer.clock()))
    big, small = (f for _, f in redis_client.xrange(keys.dlq_key(STREAM)))
    whole = orjson.dumps({"data": huge.decode()})
    assert big[b"reason"] == b"payload_too_large"
    assert big[b"payload"] == whole[:DLQ_PAYLOAD_MAX]
    assert int(big[b"payload_bytes"]) == len(whole) > 1_000_000
    assert big[b"payload_sha256"].decode() == hashlib.sha256(whole).hexdigest()
    assert orjson.loads(small[b"payload"]) == {"data": "{not json"}
    assert b"payload_bytes" not in small
