"""Checkpoints in parts (``--ownership leases``): a symbol's state moves from one worker to
another and continues exactly, the background checkpoint splits the parts, a bad part is
refused."""

from __future__ import annotations

import math
import random

import orjson
import redis
import redis.asyncio as aredis

from data_feeds.cache import keys
from data_feeds.runtime.app import build_pipeline
from data_feeds.runtime.checkpointer import Checkpointer
from data_feeds.runtime.pipeline import TickPipeline
from data_feeds.settings import Settings
from data_feeds.signals.features import features
from data_feeds.validation.schema_validator import SchemaValidator
from tests.runtime.consumer_helpers import HMAC_KEY, STREAM, T0, add_ticks, consumer_settings

GROUP = "g"
SYMBOL = "AAAUSDT"


def fresh(settings: Settings) -> TickPipeline:
    return build_pipeline(consumer_settings(settings), SchemaValidator())


def checkpointer(client: aredis.Redis, pipeline: TickPipeline, worker: str) -> Checkpointer:
    key = keys.checkpoint_key(GROUP, worker)
    return Checkpointer(client, key, hmac_key=HMAC_KEY, pipeline=pipeline, group=GROUP)


async def test_a_symbol_moves_with_its_state(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """Worker A serves the first half of a symbol's ticks, hands it over; worker B serves the
    rest: B's indicators end where one uninterrupted worker's do, and A and B together learn
    as many outcomes as it does."""
    rng = random.Random(2)
    price = 100.0
    for i in range(400):  # a random walk: every outcome is up or down
        price *= math.exp(rng.gauss(0.0, 0.001))
        data = {"symbol": SYMBOL, "price": price, "volume": 1.0, "timestamp": T0 + i}
        redis_client.xadd(STREAM, {"data": orjson.dumps(data)})
    entries = [(STREAM, i, f) for i, f in redis_client.xrange(STREAM)]
    whole = fresh(settings)
    whole.process(entries)
    a, b = fresh(settings), fresh(settings)
    a.process(entries[:200])
    cp_a = checkpointer(aclient, a, "worker-0")
    cp_a.advance({STREAM: entries[199][1]})
    assert await cp_a.save_symbol(SYMBOL, [STREAM]) > 0
    assert a.generator.symbols == [] and STREAM not in cp_a.last_ids  # it left A
    cp_b = checkpointer(aclient, b, "worker-1")
    assert await cp_b.restore_symbol(SYMBOL)
    assert cp_b.last_ids == {STREAM: entries[199][1].decode()}
    b.process(entries[200:])
    ours, theirs = b.generator.indicators(SYMBOL), whole.generator.indicators(SYMBOL)
    assert ours is not None and theirs is not None
    assert features(ours) == features(theirs)
    assert a.generator.learned + b.generator.learned == whole.generator.learned > 300
    assert b.generator.pending(SYMBOL) == whole.generator.pending(SYMBOL) > 0


async def test_the_background_checkpoint_stores_parts(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """``save(symbols)``: each held symbol under its own key, the rest under the worker's;
    a worker restoring its part has no symbol until it takes one in."""
    add_ticks(redis_client, 100)
    pipeline = fresh(settings)
    pipeline.process([(STREAM, i, f) for i, f in redis_client.xrange(STREAM)])
    cp = checkpointer(aclient, pipeline, "worker-0")
    await cp.save({SYMBOL: [STREAM]})
    assert pipeline.generator.symbols == [SYMBOL]  # the parent's state is left whole
    assert redis_client.exists(keys.symbol_checkpoint_key(GROUP, SYMBOL))
    again = fresh(settings)
    cp2 = checkpointer(aclient, again, "worker-0")
    assert await cp2.restore()
    assert again.generator.symbols == []
    assert await cp2.restore_symbol(SYMBOL)
    assert again.generator.pending(SYMBOL) == pipeline.generator.pending(SYMBOL) > 0


async def test_a_bad_part_is_refused(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    add_ticks(redis_client, 50)
    pipeline = fresh(settings)
    pipeline.process([(STREAM, i, f) for i, f in redis_client.xrange(STREAM)])
    refused: list[str] = []
    cp = checkpointer(aclient, pipeline, "worker-0")
    cp.on_refused = refused.append
    await cp.save_symbol(SYMBOL, [STREAM])
    key = keys.symbol_checkpoint_key(GROUP, SYMBOL)
    blob = bytearray(redis_client.get(key) or b"")
    redis_client.set(keys.symbol_checkpoint_key(GROUP, "OTHERUSDT"), bytes(blob))
    assert not await cp.restore_symbol("OTHERUSDT")  # holds AAAUSDT
    blob[-5] ^= 0xFF
    redis_client.set(key, bytes(blob))
    assert not await cp.restore_symbol(SYMBOL)
    assert len(refused) == 2 and "holds 'AAAUSDT'" in refused[0]
    assert not await cp.restore_symbol("NONEUSDT")  # no part: a fresh start, not a refusal
    assert len(refused) == 2
