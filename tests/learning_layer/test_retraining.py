"""RetrainingLoop: challengers promoted only when better on the same recent holdout."""

from __future__ import annotations

import multiprocessing
import pickle
import random
from concurrent.futures import ProcessPoolExecutor

import orjson
import pytest

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import TRAINING_DECISIONS
from data_feeds.learning_layer import (
    DriftDetector,
    RetrainingLoop,
    TrainingModule,
    retrain_in_subprocess,
    settings_from_dict,
    settings_to_dict,
)
from data_feeds.settings import Settings
from tests.learning_layer.history import T0, planted_history

SEGMENT_S = 3000


def noise_champion(db: DBConnector, training: TrainingModule) -> str:
    """Train on the first (noise) segment only and promote the result by hand."""
    dataset = training.prepare_dataset(end=T0 + SEGMENT_S - 1)
    result = training.train_model(dataset)
    assert result.version is not None
    training.registry.promote(result.version)
    return result.version


def test_first_challenger_with_skill_is_promoted(db: DBConnector) -> None:
    """With no champion, a challenger that beats the no-skill baseline becomes the champion."""
    db.store_many(planted_history([(SEGMENT_S, 1.0)], seed=11))
    training = TrainingModule(db, horizon_s=1.0)
    loop = RetrainingLoop(training, db)
    decision = loop.run_retraining()
    assert decision.outcome == "promoted", decision.reason
    assert decision.champion_before is None
    assert decision.champion_after == decision.challenger == "v1"
    assert training.registry.champion_version() == "v1"
    assert decision.challenger_accuracy is not None and decision.challenger_accuracy > 0.55
    assert decision.skill is not None and decision.skill > 0.0
    recorded = orjson.loads(db.redis.lindex(TRAINING_DECISIONS, 0))  # type: ignore[arg-type]
    assert recorded["outcome"] == "promoted" and recorded["challenger"] == "v1"
    assert loop.decisions()[0]["dataset_fingerprint"] == decision.dataset_fingerprint


def test_challenger_trained_on_a_planted_effect_replaces_a_noise_champion(
    db: DBConnector,
) -> None:
    """Noise champion, then recent history with sentiment leading returns: promoted."""
    db.store_many(planted_history([(SEGMENT_S, 0.0), (SEGMENT_S, 1.0)], seed=12))
    training = TrainingModule(db, horizon_s=1.0)
    champion = noise_champion(db, training)
    loop = RetrainingLoop(training, db, window_s=SEGMENT_S - 1)
    decision = loop.run_retraining()
    assert decision.window is not None and decision.window[0] >= T0 + SEGMENT_S
    assert decision.outcome == "promoted", decision.reason
    assert decision.champion_before == champion
    assert decision.challenger_log_loss is not None and decision.champion_log_loss is not None
    assert decision.challenger_log_loss < decision.champion_log_loss
    assert decision.improvement is not None and decision.improvement_se is not None
    assert decision.improvement >= 2.0 * decision.improvement_se
    assert training.registry.champion_version() == decision.challenger
    assert training.registry.previous_champions() == [champion]


def test_on_pure_noise_the_champion_is_kept(db: DBConnector) -> None:
    """Noise champion, then more noise: the challenger is not promoted."""
    db.store_many(planted_history([(SEGMENT_S, 0.0), (SEGMENT_S, 0.0)], seed=13))
    training = TrainingModule(db, horizon_s=1.0)
    champion = noise_champion(db, training)
    decision = RetrainingLoop(training, db, window_s=SEGMENT_S - 1).run_retraining()
    assert decision.outcome == "kept", decision.reason
    assert decision.challenger is not None and decision.challenger != champion
    assert decision.champion_after == champion
    assert training.registry.champion_version() == champion
    assert decision.champion_log_loss is not None  # both were scored on the same holdout
    assert decision.n_holdout == 600


def test_too_little_history_is_a_decision_too(db: DBConnector) -> None:
    """An empty store: outcome insufficient_data, recorded, nothing registered."""
    training = TrainingModule(db)
    decision = RetrainingLoop(training, db).run_retraining()
    assert decision.outcome == "insufficient_data"
    assert decision.reason == "too little data: 0 rows, need at least 100"
    assert training.registry.versions() == []
    assert RetrainingLoop(training, db).decisions()[0]["outcome"] == "insufficient_data"


def test_settings_round_trip_through_plain_values() -> None:
    """settings_to_dict gives picklable plain values that settings_from_dict turns back."""
    settings = Settings(redis_url="redis://localhost:6379/0", hmac_key=b"0123456789abcdef")
    plain = settings_to_dict(settings)
    assert settings_from_dict(pickle.loads(pickle.dumps(plain))) == settings
    with pytest.raises(ValueError, match="unknown settings"):
        settings_from_dict({"nope": 1})


def test_one_cycle_runs_in_a_spawned_process(db: DBConnector, settings: Settings) -> None:
    """retrain_in_subprocess runs a cycle in a process pool from a URL and plain settings."""
    db.store_many(planted_history([(SEGMENT_S, 1.0)], seed=14))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        future = pool.submit(
            retrain_in_subprocess,
            settings.redis_url,
            settings_to_dict(settings),
            training_options={"horizon_s": 1.0},
        )
        decision = future.result(timeout=120)
    assert decision["outcome"] == "promoted", decision["reason"]
    training = TrainingModule(db)
    champion = training.registry.champion()  # signed with the same key, loads here
    assert champion is not None and champion[0] == decision["challenger"]


def test_a_failing_cycle_reports_failed(settings: Settings) -> None:
    """A cycle that raises returns outcome failed with the error type."""
    decision = retrain_in_subprocess(
        settings.redis_url, settings_to_dict(settings), loop_options={"window_s": -1.0}
    )
    assert decision["outcome"] == "failed"
    assert decision["error"] == "ValueError"


def test_drift_detector_flags_a_jump_in_the_error_rate() -> None:
    """ADWIN on the 0/1 error stream: quiet at a steady rate, detects a change soon after it."""
    rng = random.Random(5)
    detector = DriftDetector()
    before = [detector.update(rng.random() < 0.2) for _ in range(1000)]
    assert not any(before)
    after = [detector.update(rng.random() < 0.6) for _ in range(300)]
    assert any(after)
    assert after.index(True) < 150
    assert detector.detections >= 1
    rate = detector.error_rate
    assert rate is not None and rate > 0.4
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.n == detector.n
    with pytest.raises(ValueError):
        detector.update(2.0)
