"""The README's fuller cycle, scaled down: what training says of a model's holdout is what the
service then delivers with it. Simulated history with a planted lead; a model trained for
frozen serving and promoted; ``data-feeds run`` serving it over the same history; the stored
signals of the holdout's span scored by ``evaluate``: the same rows, the same accuracy and
log loss as the training module's holdout figures (they fail apart if live and training
features, order, labels or model ever diverge)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import redis

from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer import ModelRegistry, evaluate_signals
from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from data_feeds.signals.serving import FROZEN
from tests.runtime.test_feature_parity import input_entries

HORIZON = "5"


def data_feeds(settings: Settings, *argv: str) -> str:
    """``data-feeds ARGV`` with the test's Redis and data directory (its HMAC key signs the
    models the service loads)."""
    env = {"DATA_FEEDS_HORIZON_S": HORIZON, "DATA_FEEDS_SERVING": FROZEN,
           "DATA_FEEDS_DATA_DIR": str(settings.data_dir)}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "data_feeds", *argv, "--redis-url", settings.redis_url or ""],
        capture_output=True,
        check=False,
        timeout=300,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


@pytest.mark.slow
async def test_the_served_holdout_scores_what_training_said(
    redis_client: redis.Redis, redis_url: str, settings: Settings, db: DBConnector
) -> None:
    data_feeds(settings, "simulate", "--symbols", "3", "--rate", "0", "--count", "40000",
               "--sentiment", "--sentiment-lead", "5", "--seed", "11")  # fmt: skip
    trained = json.loads(data_feeds(settings, "train", "--promote", "--force", "--json"))
    metrics = trained["metrics"]
    assert metrics["serving"] == FROZEN and metrics["n_holdout"] > 2_000
    assert ModelRegistry(db).champion_version() == trained["version"]

    s = replace(settings, horizon_s=float(HORIZON), serving=FROZEN, metrics_port=-1,
                block_ms=50, discover_interval_s=0.1)  # fmt: skip
    service = Service(s)
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(120):
            while not (service.consumer and service.consumer.processed >= 40_000
                       and service.scheduler and service.scheduler.swaps >= 1):  # fmt: skip
                assert not task.done(), task
                assert service.scheduler is None or not service.scheduler.refused
                await asyncio.sleep(0.05)
    finally:
        service.request_stop()
        assert await task == 0
    assert input_entries(redis_client) == 40_000

    live = evaluate_signals(db, start=metrics["holdout_start"], horizon_s=float(HORIZON))
    card = live.by_version[trained["version"]]
    assert card.n == live.overall.n == metrics["n_holdout"]
    assert card.accuracy == metrics["holdout_accuracy"]
    assert card.log_loss == pytest.approx(metrics["holdout_log_loss"], rel=1e-12)
