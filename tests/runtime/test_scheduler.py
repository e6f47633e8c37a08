"""The scheduler inside the running service: model hot-swap, refusal of a tampered champion,
and scheduled retraining in a separate process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import model_blob_key
from data_feeds.learning_layer.registry import ModelRegistry
from data_feeds.runtime.app import Service
from data_feeds.settings import Settings
from data_feeds.signals.generator import build_model
from tests.learning_layer.history import planted_history
from tests.runtime.test_service import publish, service_settings


async def run_while(service: Service, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Run the service until ``check()`` holds (or fail on timeout), then stop it."""
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not check():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
    finally:
        service.request_stop()
        assert await task == 0


def served(service: Service) -> str | None:
    c = service.consumer
    return c.pipeline.generator.model_version if c is not None else None


async def test_a_promoted_model_is_served_without_a_restart(
    redis_client: redis.Redis, settings: Settings, db: DBConnector
) -> None:
    """Promoting a version in the registry switches the running worker to it."""
    publish(redis_client, n_symbols=2, per_symbol=50)
    service = Service(service_settings(settings))
    registry = ModelRegistry(db)
    version = registry.register(build_model("tree.HoeffdingTreeClassifier")).version
    registry.promote(version, reason="test")
    await run_while(service, lambda: served(service) == version)
    assert service.scheduler is not None and service.scheduler.swaps == 1
    assert service.metrics.model_version == version


async def test_a_tampered_champion_is_refused(
    redis_client: redis.Redis, settings: Settings, db: DBConnector
) -> None:
    """A champion whose blob does not verify is never loaded; the worker keeps its model."""
    service = Service(service_settings(settings))
    registry = ModelRegistry(db)
    version = registry.register(build_model()).version
    registry.promote(version)
    blob = redis_client.get(model_blob_key(version))
    assert blob is not None
    redis_client.set(model_blob_key(version), blob[:-1] + bytes([blob[-1] ^ 1]))
    await run_while(service, lambda: service.scheduler is not None
                    and service.scheduler.refused >= 1)  # fmt: skip
    assert served(service) == "v0"
    assert service.scheduler is not None and service.scheduler.swaps == 0
    # every later poll: refused again without loading or logging it again (it was logged
    # twice per poll, every 5 s, forever)
    for _ in range(3):
        assert await service.scheduler.follow_champion() is False
    assert service.scheduler.refused == 1


@pytest.mark.parametrize(("recorded", "configured"), [("frozen", "online"), ("online", "frozen")])
async def test_a_champion_recorded_for_another_serving_mode_is_refused(
    redis_client: redis.Redis, settings: Settings, db: DBConnector, recorded: str, configured: str
) -> None:
    """A version validated for one serving mode is never served in the other: refused (once,
    logged with both modes), the worker keeps its model and mode; the next champion recorded
    for the configured mode is served."""
    service = Service(service_settings(settings, serving=configured))
    registry = ModelRegistry(db)
    wrong = registry.register(build_model(), serving=recorded).version
    registry.promote(wrong)
    await run_while(service, lambda: service.scheduler is not None
                    and service.scheduler.refused >= 1)  # fmt: skip
    assert served(service) == "v0"
    assert service.consumer is not None
    assert service.consumer.pipeline.generator.serving == configured
    right = registry.register(build_model(), serving=configured).version
    registry.promote(right)
    service = Service(service_settings(settings, serving=configured))
    await run_while(service, lambda: served(service) == right)
    assert service.scheduler is not None and service.scheduler.refused == 0


async def test_scheduled_retraining_promotes_and_the_worker_follows(
    redis_client: redis.Redis, settings: Settings, db: DBConnector
) -> None:
    """With a retrain interval, a cycle runs in another process, promotes a challenger trained
    on history with a planted effect, and the running worker switches to it."""
    db.store_many(planted_history([(3000, 1.0)], seed=11))
    service = Service(service_settings(settings, horizon_s=1.0, retrain_interval_s=0.5))
    await run_while(service, lambda: served(service) not in (None, "v0"), timeout_s=120.0)
    assert service.scheduler is not None and service.scheduler.retrains >= 1
    champion = ModelRegistry(db).champion_version()
    assert champion is not None and served(service) == champion
    outcomes = service.metrics.snapshot().value("data_feeds_retrain_runs_total", outcome="promoted")
    assert outcomes >= 1


async def test_a_champion_is_served_with_the_margin_it_was_calibrated_for(
    redis_client: redis.Redis, settings: Settings, db: DBConnector
) -> None:
    """A version trained with the calibrated threshold records its margin; the worker serves
    it with that margin, not DATA_FEEDS_MARGIN; a version without one keeps the configured."""
    from data_feeds.learning_layer import TrainingModule  # noqa: PLC0415 - the heavy layer

    db.store_many(planted_history([(3000, 1.0)], seed=4, regime_s=10))
    calibrated = Settings(**{**vars_of(settings), "threshold": "calibrated", "cost_bps": 1.0})
    training = TrainingModule(db, settings=calibrated, horizon_s=1.0)
    result = training.train_model(training.prepare_dataset())
    assert result.version is not None
    registry = ModelRegistry(db)
    meta = registry.get(result.version)
    assert meta is not None and meta.threshold is not None
    assert meta.threshold["policy"] == "calibrated" and meta.margin is not None
    assert meta.margin != settings.margin  # calibrated to something else than the default
    assert result.metrics["margin"] == meta.margin
    registry.promote(result.version)
    service = Service(service_settings(settings))
    await run_while(service, lambda: served(service) == result.version)
    assert service.consumer is not None
    assert service.consumer.pipeline.generator.margin == meta.margin
    plain = registry.register(build_model()).version  # no threshold recorded
    registry.promote(plain)
    await run_while(
        service := Service(service_settings(settings)), lambda: served(service) == plain
    )
    assert service.consumer is not None
    assert service.consumer.pipeline.generator.margin == settings.margin


def vars_of(settings: Settings) -> dict[str, object]:
    import dataclasses  # noqa: PLC0415

    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
