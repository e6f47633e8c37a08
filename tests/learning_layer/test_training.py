"""TrainingModule: datasets through the live feature code, training, records in Redis."""

from __future__ import annotations

import bisect
import hashlib

import orjson
import pytest

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import (
    TRAINING_DATASETS,
    TRAINING_RUNS,
    dataset_key,
    dataset_rows_key,
    training_run_key,
)
from data_feeds.learning_layer import Dataset, TrainingModule
from data_feeds.records import Sentiment, Tick, Trade
from data_feeds.signals.features import FEATURE_NAMES, features
from data_feeds.signals.generator import SignalGenerator
from data_feeds.signals.labels import label_move
from data_feeds.validation.cleaner import DataCleaner
from tests.learning_layer.history import SYMBOL, T0, planted_history


def test_dataset_rows_are_what_the_live_generator_sees_labelled_by_the_live_rule(
    db: DBConnector,
) -> None:
    """Features equal the live generator's for each clean tick; labels: first tick >= t + h."""
    records = planted_history([(400, 1.0)], seed=3)
    # A duplicate and a spike, stored where they happen (history is stored at event time,
    # so they arrive there): the cleaner must drop them exactly as it does live.
    ticks = [r for r in records if isinstance(r, Tick)]
    spike = Tick(SYMBOL, ticks[300].price * 1.5, 1.0, ticks[300].timestamp + 0.25)
    records.insert(records.index(ticks[300]) + 1, spike)
    records.insert(records.index(ticks[200]) + 1, ticks[200])
    db.store_many(records)
    horizon = 3.0
    dataset = TrainingModule(db, horizon_s=horizon, min_rows=10).prepare_dataset(store=False)

    # The live path, independently: cleaner -> generator over the entries in arrival order;
    # features as each tick is observed.
    cleaner, generator = DataCleaner(), SignalGenerator(horizon_s=horizon)
    seen: list[tuple[float, float, list[float]]] = []
    for record in (e.record for e in db.backfill_entries("*")):
        if cleaner.clean(record).action != "accept":
            continue
        generator.process(record)
        if isinstance(record, Tick):
            ind = generator.indicators(SYMBOL)
            assert ind is not None
            live = features(ind)
            seen.append((record.timestamp, record.price, [live[n] for n in FEATURE_NAMES]))
    times = [t for t, _, _ in seen]
    expected = []
    for t, price, x in seen:
        j = bisect.bisect_left(times, t + horizon)
        if j < len(seen):
            label = label_move(price, seen[j][1], 0.0)
            if label is not None:
                expected.append((t, x, label, seen[j][0]))
    assert len(seen) == 400  # the duplicate and the spike never reached the indicators
    assert len(dataset) == len(expected) > 380
    assert dataset.timestamps == [e[0] for e in expected]
    assert dataset.x_rows == [e[1] for e in expected]
    assert dataset.y == [e[2] for e in expected]
    assert dataset.label_timestamps == [e[3] for e in expected]
    assert dataset.feature_names == FEATURE_NAMES
    assert dataset.stats["cleaned_out"] == {"drop_duplicate": 1, "quarantine": 1}
    sentiment = FEATURE_NAMES.index("sentiment")
    assert any(x[sentiment] != 0.0 for x in dataset.x_rows)
    features_dict, label = dataset.rows[0]
    assert list(features_dict) == list(FEATURE_NAMES) and label in (0, 1)


def test_fingerprint_is_the_sha256_of_the_canonical_rows(db: DBConnector) -> None:
    """Same history, same fingerprint; it is the sha256 over header and rows as documented."""
    db.store_many(planted_history([(300, 1.0)], seed=4))
    training = TrainingModule(db, horizon_s=1.0, min_rows=10)
    a = training.prepare_dataset(store=False)
    b = training.prepare_dataset(store=False)
    assert a.fingerprint == b.fingerprint
    h = hashlib.sha256(orjson.dumps(["data-feeds-dataset/1", list(FEATURE_NAMES)]))
    for ts, sym, x, y in zip(a.timestamps, a.symbols, a.x_rows, a.y, strict=True):
        h.update(b"\n" + orjson.dumps([ts, sym, x, y]))
    every = TrainingModule(db, horizon_s=1.0, min_rows=10, learn_interval_s=0.0)
    assert every.prepare_dataset(store=False).fingerprint == h.hexdigest()  # every row learned
    assert a.learn_interval_s == 1.0  # the default: the rows learned are part of the identity
    h.update(b"\n" + orjson.dumps(["learn", 1.0, a.learn]))
    assert a.fingerprint == h.hexdigest()
    flipped = Dataset.build(
        feature_names=a.feature_names,
        x_rows=a.x_rows,
        y=[1 - a.y[0], *a.y[1:]],
        timestamps=a.timestamps,
        label_timestamps=a.label_timestamps,
        symbols=a.symbols,
        horizon_s=a.horizon_s,
        dead_band_bps=a.dead_band_bps,
    )
    assert flipped.fingerprint != a.fingerprint


def test_prepared_dataset_is_recorded_and_reloads_identically(db: DBConnector) -> None:
    """Fingerprint, row count, symbols, span, features and the compressed rows go to Redis."""
    db.store_many(planted_history([(300, 1.0)], seed=5))
    training = TrainingModule(db, horizon_s=1.0, min_rows=10)
    dataset = training.prepare_dataset()
    meta = orjson.loads(db.redis.get(dataset_key(dataset.fingerprint)))  # type: ignore[arg-type]
    assert meta["fingerprint"] == dataset.fingerprint
    assert meta["rows"] == len(dataset) == 299
    assert meta["symbols"] == [SYMBOL]
    assert meta["span"] == [T0, T0 + 298]
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["rows_stored"] is True
    assert db.redis.zscore(TRAINING_DATASETS, dataset.fingerprint) is not None
    again = training.load_dataset(dataset.fingerprint)
    assert again.fingerprint == dataset.fingerprint
    assert again.x_rows == dataset.x_rows and again.y == dataset.y
    assert [d["fingerprint"] for d in training.datasets()] == [dataset.fingerprint]


def test_dataset_retention_keeps_the_newest_within_the_budget(db: DBConnector) -> None:
    """Only the newest keep_datasets datasets keep their rows; one over budget keeps its meta."""
    db.store_many(planted_history([(300, 1.0)], seed=6))
    training = TrainingModule(db, horizon_s=1.0, min_rows=10, keep_datasets=2)
    made = [training.prepare_dataset(end=T0 + n) for n in (100, 150, 200)]
    stored = [bool(db.redis.exists(dataset_rows_key(d.fingerprint))) for d in made]
    assert stored == [False, True, True]
    assert len(training.datasets()) == 3  # metadata of all three
    with pytest.raises(LookupError):
        training.load_dataset(made[0].fingerprint)

    tiny = TrainingModule(db, horizon_s=1.0, min_rows=10, dataset_budget_bytes=100)
    big = tiny.prepare_dataset()
    assert not db.redis.exists(dataset_rows_key(big.fingerprint))
    meta = orjson.loads(db.redis.get(dataset_key(big.fingerprint)))  # type: ignore[arg-type]
    assert meta["rows_stored"] is False and meta["rows"] == len(big)


def test_too_little_data_gives_a_result_not_an_exception(db: DBConnector) -> None:
    """One stored tick: an empty dataset saying so, and an insufficient_data training result."""
    db.store({"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0, "timestamp": 1234567890.0})
    training = TrainingModule(db)
    dataset = training.prepare_dataset()
    assert len(dataset) == 0 and dataset.too_small and dataset.span is None
    assert dataset.message == "too little data: 0 rows, need at least 100"
    result = training.train_model(dataset)
    assert result.status == "insufficient_data" and not result.ok
    assert result.message == "too little data: 0 rows, need at least 100"
    assert result.version is None and result.model is None
    assert training.registry.versions() == []
    assert training.runs()[0]["status"] == "insufficient_data"


def test_planted_sentiment_effect_is_learned(db: DBConnector) -> None:
    """Sentiment leading returns: holdout accuracy above 55 % and a registered candidate."""
    db.store_many(planted_history([(3000, 1.0)], seed=1))
    training = TrainingModule(db, horizon_s=1.0)
    dataset = training.prepare_dataset()
    result = training.train_model(dataset)
    m = result.metrics
    assert result.ok and result.version == "v1"
    assert m["holdout_accuracy"] > 0.55
    assert m["holdout_log_loss"] < m["holdout_baseline_log_loss"]
    assert m["progressive_accuracy"] > 0.55
    assert m["n_train"] + m["n_holdout"] + m["n_purged"] == len(dataset) == 2999
    assert m["n_holdout"] == 600
    # Recorded: the run, and the candidate version with its dataset; nothing promoted.
    run = orjson.loads(db.redis.get(training_run_key(result.run_id or "")))  # type: ignore[arg-type]
    assert run["version"] == "v1" and run["dataset_fingerprint"] == dataset.fingerprint
    assert orjson.loads(db.redis.lindex(TRAINING_RUNS, 0))["run_id"] == result.run_id  # type: ignore[arg-type]
    version = training.registry.get("v1")
    assert version is not None and version.dataset_fingerprint == dataset.fingerprint
    assert training.registry.champion() is None


def test_holdout_is_the_most_recent_rows_and_no_label_leaks_into_training(
    db: DBConnector,
) -> None:
    """Split: holdout = newest fraction; training rows' label ticks precede the holdout."""
    db.store_many(planted_history([(500, 1.0)], seed=7))
    dataset = TrainingModule(db, horizon_s=5.0, min_rows=10).prepare_dataset(store=False)
    train, holdout = dataset.split(0.2)
    assert len(holdout) == round(len(dataset) * 0.2)
    assert holdout.timestamps == dataset.timestamps[-len(holdout) :]
    cutoff = holdout.timestamps[0]
    assert max(train.label_timestamps) < cutoff
    assert len(train) == len(dataset) - len(holdout) - 5  # the last 5 s before the cut-off


def test_sentiment_is_read_whatever_the_pattern(db: DBConnector) -> None:
    """A symbols= dataset still gets the sentiment feature from sentiment:* streams."""
    db.store_many(
        [Sentiment("BTC", 0.5, T0 - 1.0)]
        + [Tick("BTCUSDT", 100.0 + i % 3, 1.0, T0 + i) for i in range(30)]
        + [Tick("ETHUSDT", 10.0 + i % 3, 1.0, T0 + i) for i in range(30)]
    )
    training = TrainingModule(db, horizon_s=1.0, min_rows=2)
    dataset = training.prepare_dataset(["BTCUSDT"], store=False)
    assert set(dataset.symbols) == {"BTCUSDT"}
    # Sentiment before the symbol's first tick is not routed (as live), so store one after it.
    db.store(Sentiment("BTC", 0.5, T0 + 10.5))
    dataset = training.prepare_dataset(["BTCUSDT"], store=False)
    sentiment = FEATURE_NAMES.index("sentiment")
    rows = list(zip(dataset.timestamps, dataset.x_rows, strict=True))
    before = [x[sentiment] for t, x in rows if t < T0 + 10.5]
    after = [x[sentiment] for t, x in rows if t > T0 + 10.5]
    assert before and all(v == 0.0 for v in before)
    assert after and all(v > 0.0 for v in after)


def test_each_stream_is_read_once_and_its_rejects_counted_once(db: DBConnector) -> None:
    """Overlapping patterns (every stream, and sentiment:* on top) read a sentiment stream
    once: its bad entry is counted once and its records are not doubled."""
    db.store_many(
        [Sentiment("BTC", 0.5, T0 + 0.5)]
        + [Tick("BTCUSDT", 100.0 + i % 3, 1.0, T0 + i) for i in range(30)]
    )
    db.redis.xadd("sentiment:BTC", {"data": b"{not json"})
    dataset = TrainingModule(db, horizon_s=1.0, min_rows=2).prepare_dataset(store=False)
    assert dataset.stats["rejected"] == {"malformed_json": 1}
    assert dataset.stats["streams"] == 2


def test_history_without_price_ticks_says_why_it_has_no_rows(db: DBConnector) -> None:
    """Trades only (a CSV of price and volume imports as trades): no row, and the message says
    rows come from price ticks; a history with ticks does not say it."""
    db.store_many([Trade(SYMBOL, 100.0 + i % 7, 1.0, "buy", T0 + i) for i in range(300)])
    training = TrainingModule(db, horizon_s=1.0, min_rows=10)
    dataset = training.prepare_dataset()
    assert len(dataset) == 0 and dataset.stats["price_ticks"] == 0
    assert "no price tick among the 300 records read" in dataset.message
    assert "no price tick" in (training.too_little(dataset, 0.2) or "")
    db.store_many(planted_history([(30, 1.0)], seed=5))
    again = training.prepare_dataset()
    assert again.stats["price_ticks"] == 30 and "no price tick" not in again.message
