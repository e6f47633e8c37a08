"""Scoring in the served mode: ``serve_holdout`` replays the live generator's delayed learning
(online) or only predicts (frozen), and reproduces the service's probabilities bitwise."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import pickle
import random
from typing import Any

import orjson
import pytest
import redis

from data_feeds.cache.db_connector import DBConnector, Entry
from data_feeds.cache.keys import record_stream, signals_key, stream_key
from data_feeds.learning_layer import FeatureReplay, ModelRegistry, TrainingModule
from data_feeds.learning_layer.retraining import RetrainingLoop
from data_feeds.learning_layer.serving import serve_holdout
from data_feeds.learning_layer.training import Dataset, log_losses, predict_probabilities
from data_feeds.records import Tick
from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from data_feeds.signals.generator import SignalGenerator
from data_feeds.signals.serving import FROZEN, ONLINE, SERVING_MODES
from tests.learning_layer.history import planted_history
from tests.runtime.test_scheduler import served
from tests.runtime.test_service import processed, publish, service_settings

T0 = 1_700_000_000.0
HORIZON_S = 5.0


def walk(n: int, seed: int, symbol: str = "WALKUSDT") -> list[Tick]:
    rng = random.Random(seed)
    price, out = 100.0, []
    for i in range(n):
        price *= math.exp(rng.gauss(0.0, 0.001))
        out.append(Tick(symbol, price, rng.uniform(0.1, 2.0), T0 + i))
    return out


def pretrained(seed: int = 50) -> Any:
    """A model trained online on an independent walk (a fresh model predicts exactly 0.5)."""
    trainer = SignalGenerator(horizon_s=HORIZON_S)
    for tick in walk(3_000, seed, "PRETRAIN"):
        trainer.process(tick)
    return trainer.model


def dataset_of(ticks: list[Tick], **options: float) -> Dataset:
    replay = FeatureReplay(horizon_s=HORIZON_S, **options)
    stream = record_stream(ticks[0])
    replay.feed(Entry(stream, f"{int(t.timestamp * 1000)}-0", t) for t in ticks)
    return replay.dataset(min_rows=1, stats={})


class _Recorder:
    """Predicts 0.5 and records every call, to check when each row is learned."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        self.calls.append(("predict", x["log_return_1"]))
        return {True: 0.5}

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        self.calls.append(("learn", x["log_return_1"]))


def test_online_rows_are_learned_when_a_later_row_of_their_symbol_reaches_t_plus_horizon() -> None:
    """Per symbol, row i is learned just before the first later row j of that symbol with
    t_i <= t_j - h; the other symbols' rows in between do not mature it."""
    names = ("log_return_1",)
    # rows 0..6 = A@0, B@0.5, A@1, A@2, B@2.5, A@3, B@9; horizon 2: A@0 matures at A@2, B@0.5
    # at B@2.5, A@1 at A@3, B@2.5 at B@9; A@2 and A@3 never (B@9 is another symbol).
    rows = [(0.0, "A"), (0.5, "B"), (1.0, "A"), (2.0, "A"), (2.5, "B"), (3.0, "A"), (9.0, "B")]
    holdout = Dataset.build(
        feature_names=names,
        x_rows=[[float(i)] for i in range(len(rows))],
        y=[1] * len(rows),
        timestamps=[t for t, _ in rows],
        label_timestamps=[t for t, _ in rows],
        symbols=[s for _, s in rows],
        horizon_s=2.0,
        dead_band_bps=0.0,
    )
    model = _Recorder()
    serve_holdout(model, holdout, ONLINE)
    assert model.calls == []  # it served a deep copy (whose own list recorded the calls)
    copy_calls: list[tuple[str, float]] = []
    serve_holdout(_SharedRecorder(copy_calls), holdout, ONLINE)  # the copy records here too
    assert copy_calls == [
        ("predict", 0), ("predict", 1), ("predict", 2), ("learn", 0), ("predict", 3),
        ("learn", 1), ("predict", 4), ("learn", 2), ("predict", 5), ("learn", 4), ("predict", 6),
    ]  # fmt: skip
    frozen_calls: list[tuple[str, float]] = []
    serve_holdout(_SharedRecorder(frozen_calls), holdout, FROZEN)
    assert frozen_calls == [("predict", i) for i in range(len(rows))]
    with pytest.raises(ValueError, match="serving mode"):
        serve_holdout(model, holdout, "sometimes")


_LOG: dict[int, list[tuple[str, float]]] = {}


class _SharedRecorder:
    """Records into a module-level log keyed by id, so a deep copy records where we look."""

    def __init__(self, calls: list[tuple[str, float]]) -> None:
        self.key = id(calls)
        _LOG[self.key] = calls

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        _LOG[self.key].append(("predict", x["log_return_1"]))
        return {True: 0.5}

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        _LOG[self.key].append(("learn", x["log_return_1"]))


@pytest.mark.parametrize("mode", SERVING_MODES)
@pytest.mark.parametrize(("learn_interval_s", "dead_band_bps"), [(0.0, 0.0), (2.5, 8.0)])
def test_serve_holdout_is_the_live_generator_bitwise_and_leaves_the_model_alone(
    mode: str, learn_interval_s: float, dead_band_bps: float
) -> None:
    """On one symbol's ticks, the generator serving a model in ``mode`` and ``serve_holdout``
    of the same model over the FeatureReplay rows give == probabilities on every row; also
    when only the first tick of each 2.5 s slot is learned and a dead band leaves some of
    those first ticks without a row (the dataset's flags, not its rows, say which to learn)."""
    ticks = walk(2_000, seed=8)
    model = pretrained()
    before = pickle.dumps(model)
    options = {"learn_interval_s": learn_interval_s, "dead_band_bps": dead_band_bps}
    live = SignalGenerator(pickle.loads(before), horizon_s=HORIZON_S, serving=mode, **options)
    by_time = {t.timestamp: live.process(t).probability for t in ticks}  # type: ignore[union-attr]
    dataset = dataset_of(ticks, **options)
    unlabelled = dataset.stats["unlabelled"]
    assert len(dataset) == len(ticks) - int(HORIZON_S) - unlabelled
    assert (unlabelled > 0) == (dead_band_bps > 0)
    replayed = serve_holdout(model, dataset, mode)
    assert replayed == [by_time[t] for t in dataset.timestamps]
    assert pickle.dumps(model) == before
    frozen = predict_probabilities(model, dataset)
    assert (replayed == frozen) == (mode == FROZEN)
    if learn_interval_s:
        assert 0 < sum(dataset.learn) < len(dataset) / 2
        from_rows, last = [], None  # the rule applied to the rows alone: not the live one
        for t in dataset.timestamps:
            from_rows.append(t // learn_interval_s != last)
            last = t // learn_interval_s
        assert from_rows != dataset.learn
        every_row = serve_holdout(model, dataclasses.replace(dataset, learn=[]), mode)
        assert (every_row == replayed) == (mode == FROZEN)


# -- training and retraining score in the served mode --------------------------------------------


@pytest.mark.parametrize("mode", SERVING_MODES)
def test_training_scores_the_holdout_and_records_the_version_in_its_serving_mode(
    db: DBConnector, mode: str
) -> None:
    """train_model's holdout figures are serve_holdout's in the module's mode (the settings'),
    the mode is recorded with the version, and the registered model is the trained one."""
    db.store_many(planted_history([(1500, 1.0)], seed=4))
    training = TrainingModule(db, horizon_s=1.0, serving=mode)
    dataset = training.prepare_dataset(store=False)
    result = training.train_model(dataset)
    assert result.ok and result.version is not None
    version = training.registry.get(result.version)
    assert version is not None and version.serving == mode
    assert version.extra["learn_interval_s"] == dataset.learn_interval_s == 1.0  # the default
    assert result.metrics["serving"] == mode
    holdout = dataset.split(training.holdout_fraction)[1]
    registered = training.registry.load(result.version)
    p = serve_holdout(registered, holdout, mode)
    assert result.metrics["holdout_log_loss"] == pytest.approx(
        sum(log_losses(p, holdout.y)) / len(holdout), rel=1e-12
    )
    assert (p == predict_probabilities(registered, holdout)) == (mode == FROZEN)


def test_training_follows_the_serving_setting(db: DBConnector) -> None:
    """TrainingModule's mode defaults to DATA_FEEDS_SERVING (the connector's settings)."""
    from dataclasses import replace  # noqa: PLC0415

    assert TrainingModule(db).serving == ONLINE
    frozen = TrainingModule(db, settings=replace(db.settings, serving=FROZEN))
    assert frozen.serving == FROZEN


@pytest.mark.parametrize("mode", SERVING_MODES)
def test_retraining_compares_challenger_and_champion_in_the_serving_mode(
    db: DBConnector, mode: str
) -> None:
    """The decision's log losses are serve_holdout's, for the challenger and the champion."""
    db.store_many(planted_history([(1500, 1.0)], seed=5))
    training = TrainingModule(db, horizon_s=1.0, serving=mode)
    loop = RetrainingLoop(training, db, window_s=None)
    first = loop.run_retraining()
    assert first.challenger is not None
    training.registry.promote(first.challenger)
    decision = loop.run_retraining()
    assert decision.challenger is not None and decision.champion_before == first.challenger
    dataset = training.prepare_dataset(store=False)
    holdout = dataset.split(training.holdout_fraction)[1]
    for version, figure in (
        (decision.challenger, decision.challenger_log_loss),
        (first.challenger, decision.champion_log_loss),
    ):
        p = serve_holdout(training.registry.load(version), holdout, mode)
        assert figure == pytest.approx(sum(log_losses(p, holdout.y)) / len(holdout), rel=1e-12)


# -- the service against its offline replay, bitwise ---------------------------------------------


def live_probabilities(client: redis.Redis, symbol: str) -> dict[float, float]:
    """The service's signals for ``symbol``: tick time (read through the signal's input entry
    id from the stored tick) -> probability."""
    stream = stream_key("crypto", "price", symbol)
    tick_time = {
        entry_id.decode(): orjson.loads(fields[b"data"])["timestamp"]
        for entry_id, fields in client.xrange(stream)
    }
    out = {}
    for _, fields in client.xrange(signals_key(symbol)):
        doc = orjson.loads(fields[b"data"])
        assert doc["signal_id"] == f"{stream}/{doc['entry_id']}"
        assert doc["model_version"] != "v0"  # every signal from the version under test
        out[tick_time[doc["entry_id"]]] = doc["probability"]
    return out


@pytest.mark.parametrize("mode", SERVING_MODES)
@pytest.mark.parametrize("learn_interval_s", [0.0, 2.5])
async def test_offline_replay_reproduces_the_live_probabilities_bitwise(
    redis_client: redis.Redis,
    settings: Settings,
    db: DBConnector,
    mode: str,
    learn_interval_s: float,
) -> None:
    """A version served in ``mode`` by the service, then its stored history replayed offline
    (prepare_dataset's rows + serve_holdout through the same version): every signal whose
    outcome is in the history has the same probability, ``==`` on floats; also when the
    service learns only the first tick of each symbol's 2.5 s slot."""
    registry = ModelRegistry(db)
    version = registry.register(pretrained(), serving=mode).version
    registry.promote(version, reason="test")
    s = service_settings(
        settings, serving=mode, horizon_s=HORIZON_S, learn_interval_s=learn_interval_s
    )
    service = Service(s)
    task = asyncio.create_task(service.run())
    n = 1_500
    try:
        async with asyncio.timeout(60):
            while not (served(service) == version and service.consumer.started):  # type: ignore[union-attr]
                await asyncio.sleep(0.02)
            publish(redis_client, n_symbols=1, per_symbol=n, seed=9)  # after the swap
            while processed([service]) < n:
                assert not task.done()
                await asyncio.sleep(0.05)
    finally:
        service.request_stop()
        assert await task == 0
    symbol = "SYM000USDT"
    live = live_probabilities(redis_client, symbol)
    assert len(live) == n

    training = TrainingModule(db, settings=s)
    assert training.serving == mode and training.horizon_s == HORIZON_S
    assert training.learn_interval_s == learn_interval_s
    dataset = training.prepare_dataset([symbol], store=False)
    assert (0 < sum(dataset.learn) < len(dataset)) == (learn_interval_s > 0)
    assert len(dataset) == n - int(HORIZON_S) - dataset.stats["unlabelled"]
    assert dataset.stats["unmatured"] == int(HORIZON_S)
    replayed = serve_holdout(registry.load(version), dataset, mode)
    assert replayed == [live[t] for t in dataset.timestamps]
    frozen = predict_probabilities(registry.load(version), dataset)
    assert (replayed == frozen) == (mode == FROZEN)  # online, the live model did learn
