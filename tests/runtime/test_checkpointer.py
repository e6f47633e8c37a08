"""Checkpointer against a real Redis: the state round-trips, a checkpoint that does not
verify or has another layout is refused (fresh start), and the replay applies exactly the
entries acknowledged after the checkpoint."""

from __future__ import annotations

import asyncio
import pickle

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


class Placeholder:
    """Stands for a class an upgrade renamed (its pickle is edited to name another)."""


@pytest.mark.parametrize(
    "damage",
    ["wrong key", "tampered", "other format", "not a dict", "renamed class", "missing part"],
)
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
    elif damage == "renamed class":  # verifies, but unpickling it fails
        pickled = pickle.dumps({**state, "generator": Placeholder()})
        blob = signed.seal(pickled.replace(b"Placeholder", b"Placeholdex"), HMAC_KEY)
    elif damage == "missing part":  # verifies and unpickles, but has no cleaner
        blob = signed.dumps({**state, "generator": pipeline.generator, "cleaner": None}, HMAC_KEY)
    else:
        blob = signed.seal(pickle.dumps([state]), HMAC_KEY)
    redis_client.set(KEY, blob)
    generator = pipeline.generator
    reasons: list[str] = []
    loader = Checkpointer(aclient, KEY, hmac_key=HMAC_KEY, pipeline=pipeline,
                          on_refused=reasons.append)  # fmt: skip
    assert not await loader.restore()
    assert pipeline.generator is generator and loader.last_ids == {}
    assert len(reasons) == 1 and reasons[0].startswith("checkpoint")


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


async def test_a_worker_with_an_unusable_checkpoint_starts_fresh_and_replays(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """A checkpoint that verifies but cannot be used does not stop the worker from starting (no
    crash loop): it is counted, and the acknowledged history is replayed into fresh state."""
    from data_feeds.runtime.metrics import ServiceMetrics  # noqa: PLC0415
    from tests.runtime.consumer_helpers import make_consumer  # noqa: PLC0415

    s = consumer_settings(settings)
    first = make_consumer(aclient, s)
    add_ticks(redis_client, 30)
    await first.start()
    assert first.processed == 0  # nothing was pending: read by the loop, not the start
    await asyncio.sleep(0.005)  # the server's clock is past the ticks: the read releases all
    entries = await first.read(asyncio.Event(), await first.clock())
    assert len(entries) == 30
    await first._handle(entries)
    await first.checkpoint()
    key = first.checkpointer.key
    pickled = pickle.dumps({"format": checkpointer.FORMAT, "generator": Placeholder(),
                            "cleaner": None, "last_ids": {}})  # fmt: skip
    redis_client.set(key, signed.seal(pickled.replace(b"Placeholder", b"Placeholdex"), HMAC_KEY))
    metrics = ServiceMetrics()
    second = make_consumer(aclient, s, metrics)
    await second.start()
    assert metrics.snapshot().value("data_feeds_checkpoints_refused_total") == 1
    assert second.pipeline.generator.symbols == ["AAAUSDT"]  # rebuilt by the replay
    assert second.last_ids == first.last_ids


async def test_the_first_checkpoint_is_written_right_after_start(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings
) -> None:
    """A worker checkpoints at its first step (not one interval later), so one restarted again
    and again does not replay an ever longer history."""
    from tests.runtime.consumer_helpers import make_consumer  # noqa: PLC0415

    add_ticks(redis_client, 5)
    consumer = make_consumer(aclient, consumer_settings(settings, checkpoint_interval_s=3600.0))
    await consumer.start()
    assert redis_client.get(consumer.checkpointer.key) is None
    await consumer.step(asyncio.Event())
    await consumer.background_checkpoint()
    assert redis_client.get(consumer.checkpointer.key) is not None


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6, 7])
async def test_checkpoints_of_the_formats_this_version_reads_restore(
    redis_client: redis.Redis, aclient: aredis.Redis, settings: Settings, version: int
) -> None:
    """Formats 3 (before the arrays of doubles), 4 (before the full-length windows) and 5
    (before the aging rings) and 6 (before pending predictions without features) restore like
    the current one (their windows convert on unpickling: ``test_indicator_pickle``); format 2
    (wall-time feeds) is refused. A version before format 7 refuses format 7 the same way, so
    a rollback starts fresh instead of misreading the state."""
    ids = add_ticks(redis_client, 50)
    pipeline = fresh(settings)
    pipeline.process([(STREAM, i, f) for i, f in redis_client.xrange(STREAM)])
    state = {"format": version, "generator": pipeline.generator, "cleaner": pipeline.cleaner,
             "last_ids": {STREAM: ids[-1].decode()}, "written_at": 0.0}  # fmt: skip
    redis_client.set(KEY, signed.dumps(state, HMAC_KEY))
    other = fresh(settings)
    reasons: list[str] = []
    loader = Checkpointer(aclient, KEY, hmac_key=HMAC_KEY, pipeline=other,
                          on_refused=reasons.append)  # fmt: skip
    restored = await loader.restore()
    assert restored == (version in checkpointer.READABLE) == (version >= 3)
    assert checkpointer.FORMAT == 7 and {3, 4, 5, 6} <= checkpointer.READABLE
    if restored:
        assert other.generator.pending("AAAUSDT") == pipeline.generator.pending("AAAUSDT") > 0
    else:
        assert reasons == ["checkpoint refused: unknown layout"]
