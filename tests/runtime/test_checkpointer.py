"""Checkpointer against a real Redis: the state round-trips, a checkpoint that does not
verify or has another layout is refused (fresh start), and the replay applies exactly the
entries acknowledged after the checkpoint."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aredis

from data_feeds.arrival import RawEntry
from data_feeds.cache import keys, signed
from data_feeds.runtime import checkpointer
from data_feeds.runtime.app import build_pipeline
from data_feeds.runtime.checkpointer import Checkpointer
from data_feeds.runtime.pipeline import TickPipeline
from data_feeds.settings import Settings
from data_feeds.validation.schema_validator import SchemaValidator
from tests.runtime.consumer_helpers import HMAC_KEY, STREAM, add_ticks, consumer_settings

KEY = keys.checkpoint_key("g", "0of1")
GROUP = "g"


@pytest.fixture
async def aclient(settings: Settings, redis_client: redis.Redis) -> AsyncIterator[aredis.Redis]:
    client = aredis.Redis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


def fresh(settings: Settings) -> TickPipeline:
    return build_pipeline(consumer_settings(settings), SchemaValidator())


def applied(pipeline: TickPipeline) -> list[RawEntry]:
    """Record the entries the pipeline is given."""
    seen: list[RawEntry] = []
    process = pipeline.process

    def spy(batch, emit=True):  # type: ignore[no-untyped-def]
        batch = list(batch)
        seen.extend(batch)
        return process(batch, emit=emit)

    pipeline.process = spy  # type: ignore[method-assign]
    return seen


async def test_state_round_trips(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    ids = add_ticks(redis_client, 50)
    pipeline = fresh(settings)
    pipeline.process([(STREAM, i, f) for i, f in redis_client.xrange(STREAM)])
    saver = Checkpointer(aclient, KEY, hmac_key=HMAC_KEY, pipeline=pipeline)
    saver.advance({STREAM: ids[-1]})
    saver.advance({STREAM: ids[3]})  # an older id (a claim) never moves it back
    assert await saver.save() == len(redis_client.get(KEY) or b"")
    other = fresh(settings)
    loader = Checkpointer(aclient, KEY, hmac_key=HMAC_KEY, pipeline=other)
    assert await loader.restore()
    assert loader.last_ids == {STREAM: ids[-1].decode()}
    assert other.generator.symbols == pipeline.generator.symbols == ["AAAUSDT"]
    assert other.generator.pending("AAAUSDT") == pipeline.generator.pending("AAAUSDT") > 0


@pytest.mark.parametrize("damage", ["wrong key", "tampered", "other format", "not a dict"])
async def test_a_checkpoint_that_cannot_be_trusted_is_refused(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings, damage: str
) -> None:
    pipeline = fresh(settings)
    state = {"format": checkpointer.FORMAT, "generator": None, "cleaner": None, "last_ids": {}}
    if damage == "wrong key":
        blob = signed.dumps(state, b"x" * 32)
    elif damage == "tampered":
        good = signed.dumps(state, HMAC_KEY)
        blob = good[:-1] + bytes([good[-1] ^ 1])
    elif damage == "other format":
        blob = signed.dumps({**state, "format": checkpointer.FORMAT + 1}, HMAC_KEY)
    else:
        blob = signed.seal(pickle.dumps([state]), HMAC_KEY)
    redis_client.set(KEY, blob)
    generator = pipeline.generator
    loader = Checkpointer(aclient, KEY, hmac_key=HMAC_KEY, pipeline=pipeline)
    assert not await loader.restore()
    assert pipeline.generator is generator and loader.last_ids == {}


async def test_replay_applies_what_was_acked_after_the_checkpoint(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """Entries after the checkpoint's position and acknowledged are applied again, in order;
    pending ones (delivered again later) and dead-lettered ones (never applied) are not."""
    ids = add_ticks(redis_client, 10)
    redis_client.xgroup_create(STREAM, GROUP, id="0")
    redis_client.xreadgroup(GROUP, "me", {STREAM: ">"}, count=100)
    redis_client.xack(STREAM, GROUP, *ids[:7])  # 7, 8, 9 still pending
    redis_client.xadd(keys.dlq_key(STREAM), {"entry_id": ids[4], "reason": "wrong_type"})
    pipeline = fresh(settings)
    seen = applied(pipeline)
    replayer = Checkpointer(aclient, KEY, hmac_key=HMAC_KEY, pipeline=pipeline)
    replayer.advance({STREAM: ids[1]})
    assert await replayer.replay({STREAM: GROUP}) == 4
    assert [e[1] for e in seen] == [ids[2], ids[3], ids[5], ids[6]]
    assert replayer.last_ids == {STREAM: ids[-1].decode()}
    assert await replayer.replay({STREAM: GROUP}) == 0  # nothing after the new position
