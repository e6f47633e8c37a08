"""The service: ``data-feeds run``.

Wires the pieces together and owns the process lifecycle: the Redis client (or the bundled
server), the pipeline (validator, cleaner, signal generator), the consumer, the metrics and
health endpoints, the heartbeat and, when configured, the retraining schedule. SIGTERM/SIGINT:
stop reading, finish and acknowledge the batch in flight, checkpoint, exit 0 within the grace
period: the consumer gets half of it, the final checkpoint is stored by 80 % of it or
abandoned (the last one stored stays), the rest is for the process to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import redis
import structlog

from data_feeds import __version__
from data_feeds.cache import signed
from data_feeds.cache.db_connector import AsyncDBConnector
from data_feeds.errors import ConfigError, Failure, classify
from data_feeds.runtime.consumer import StreamConsumer
from data_feeds.runtime.health import HealthServer, Heartbeat
from data_feeds.runtime.metrics import ServiceMetrics
from data_feeds.runtime.pipeline import TickPipeline
from data_feeds.runtime.redis_probe import RedisProbe
from data_feeds.runtime.scheduler import Scheduler
from data_feeds.runtime.shutdown import stop_on_signals
from data_feeds.runtime.snapshot import SnapshotFailed
from data_feeds.settings import Settings
from data_feeds.signals.generator import SignalGenerator, build_model
from data_feeds.validation.cleaner import DataCleaner
from data_feeds.validation.schema_validator import SchemaValidator

log = structlog.get_logger(__name__)

SHUTDOWN_CONSUMER_SHARE: Final = 0.5
"""Of the grace period: how long the consumer may take to finish its batch and held entries."""
SHUTDOWN_CHECKPOINT_SHARE: Final = 0.8
"""Of the grace period: when the final checkpoint must be stored; the rest is for the process
to tear down (freeing a large state takes a while too)."""


def build_pipeline(settings: Settings, validator: SchemaValidator) -> TickPipeline:
    """A fresh pipeline as the settings describe it (the checkpoint may replace its state)."""
    generator = SignalGenerator(
        build_model(settings.model, settings.model_params),
        model_version="v0",
        margin=settings.margin,
        horizon_s=settings.horizon_s,
        dead_band_bps=settings.dead_band_bps,
        learn_interval_s=settings.learn_interval_s,
        serving=settings.serving,
        calendars=settings.cleaner.calendars,
    )
    return TickPipeline(
        validator,
        DataCleaner(settings.cleaner),
        generator,
        signal_features=settings.signal_features,
    )


class Service:
    """One worker of the streaming service."""

    def __init__(self, settings: Settings, *, metrics: ServiceMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or ServiceMetrics()
        self.stop_event = asyncio.Event()
        self.consumer: StreamConsumer | None = None
        self.health: HealthServer | None = None
        self.scheduler: Scheduler | None = None
        self.probe: RedisProbe | None = None

    def readiness(self) -> tuple[bool, str]:
        """Redis first, asked directly (``RedisProbe``: an outage shows within a probe's
        timeout, the recovery as soon as Redis answers), then the consumer, and what only the
        consumer can see: a Redis that answers PING but refuses its writes (a failover's
        READONLY), until its next step succeeds."""
        probe = self.probe
        if probe is not None:
            ok, reason = probe.state()
            if not ok:
                return False, reason
        consumer = self.consumer
        if consumer is None or not consumer.running:
            return False, "consumer not running (starting)"
        if not consumer.redis_ok and consumer.redis_refusing:
            return False, "redis refuses the service's commands (read only, loading or busy)"
        return True, "ready"

    def request_stop(self) -> None:
        self.stop_event.set()

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (or ``request_stop``); the exit code."""
        with stop_on_signals(self.request_stop):
            return await self._run()

    async def _run(self) -> int:
        s = self.settings
        # starting the bundled server (when no URL is set) blocks briefly: off the loop
        db = await asyncio.to_thread(AsyncDBConnector, settings=s)
        url = db.url
        self.probe = RedisProbe(url)
        self.metrics.set_model_version("v0")
        pipeline = build_pipeline(s, db.validator)
        consumer = StreamConsumer(
            db.redis, s, pipeline, hmac_key=signed.hmac_key(s), metrics=self.metrics
        )
        self.consumer = consumer
        heartbeat = Heartbeat(self.metrics)
        heartbeat.start()
        if s.metrics_port >= 0:
            self.health = HealthServer(
                s.metrics_host, s.metrics_port, self.metrics, heartbeat, self.readiness
            )
            try:
                self.health.start()
            except OSError as exc:
                raise ConfigError(
                    f"cannot serve metrics on {s.metrics_host}:{s.metrics_port} "
                    f"(DATA_FEEDS_METRICS_HOST / --metrics-host, DATA_FEEDS_METRICS_PORT / "
                    f"--metrics-port): {exc.strerror or exc}"
                ) from None
        log.info(
            "service_started",
            worker=f"{s.worker_index}/{s.worker_count}",
            group=s.consumer_group,
            metrics=self.health.url if self.health else None,
            version=__version__,
        )
        self.scheduler = Scheduler(s, url, consumer, self.metrics)
        scheduler_task = asyncio.create_task(self.scheduler.run(self.stop_event), name="scheduler")
        task = asyncio.create_task(consumer.run(self.stop_event), name="consumer")
        stopper = asyncio.create_task(self.stop_event.wait(), name="stop")
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            t0 = time.monotonic()
            grace = s.grace_period_s
            log.info("shutdown_started", grace_s=grace)
            try:  # the batch in flight, then what the merge holds: written and acknowledged
                await asyncio.wait_for(task, grace * SHUTDOWN_CONSUMER_SHARE)
            except TimeoutError:  # what is left stays pending and is delivered again
                log.error("shutdown_forced", reason="consumer did not stop within its share")
            try:  # a copy taken in a forked child: cancelled at the deadline, it stores nothing
                remaining = grace * SHUTDOWN_CHECKPOINT_SHARE - (time.monotonic() - t0)
                await asyncio.wait_for(consumer.checkpoint(), max(0.1, remaining))
            except TimeoutError:
                log.error(
                    "checkpoint_abandoned",
                    reason="not stored within the grace period; the last one stored stays "
                    "and the entries since are replayed at the next start",
                )
            except SnapshotFailed as exc:  # e.g. a model that cannot be pickled
                log.error("checkpoint_failed", error=str(exc))
            except Exception as exc:
                if classify(exc) is not Failure.TRANSIENT:  # Redis away or busy: give up on it
                    raise
                log.error("checkpoint_failed", error=str(exc) or type(exc).__name__)
            log.info(
                "service_stopped",
                processed=consumer.processed,
                signals=consumer.signals_written,
                seconds=round(time.monotonic() - t0, 3),
            )
            return 0
        finally:
            stopper.cancel()
            for t in (task, scheduler_task):
                if not t.done():
                    t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await heartbeat.stop()
            if self.health:
                self.health.stop()
            with contextlib.suppress(redis.RedisError, OSError):
                await db.aclose()
            self.probe.close()
