"""The service's scheduler: retraining off the event loop, drift, and model hot-swap.

- Every ``retrain_interval_s`` (0: never on a timer), and whenever the drift detector on the
  live error stream fires, one retraining cycle (``learning_layer.retrain_in_subprocess``) runs
  in a separate process, so ticks keep flowing while a model trains (DESIGN §5: in a thread
  every loop wake-up would wait on the GIL; ``bench/bench_retrain_lag.py`` measures both).
- Every ``model_poll_interval_s`` the registry's champion pointer is read; when it names
  another version than the one being served, that version's signed blob is loaded and swapped
  into the running generator: workers switch to a promoted model (or a rollback) without a
  restart. A blob that does not verify is refused and the current model kept, and so is a
  version recorded for another serving mode than ``DATA_FEEDS_SERVING`` (it was validated
  learning online, or frozen, and would be served the other way: logged once as
  ``model_refused`` with both modes; a version recorded without a mode is served in the
  configured one).
- Every ``heap_trim_interval_s`` (0: never) the C heap's free pages are given back to the
  operating system, in a thread (``runtime.heap``): per-symbol state coming and going leaves
  the heap fragmented, and the resident memory would otherwise only grow.
- Drift: the live scorecard's new outcomes are fed to an ADWIN detector once a second (as
  0/1 errors); a detected change triggers a retraining cycle before the schedule does.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Final

import structlog

from data_feeds.cache.db_connector import DBConnector
from data_feeds.errors import CheckpointRejected, classify
from data_feeds.learning_layer.registry import ModelRegistry
from data_feeds.learning_layer.retraining import (
    DriftDetector,
    retrain_in_subprocess,
    settings_to_dict,
)
from data_feeds.runtime.heap import HeapTrim
from data_feeds.runtime.retention import Retention, RetentionPolicy
from data_feeds.settings import Settings

if TYPE_CHECKING:
    from data_feeds.runtime.consumer import StreamConsumer
    from data_feeds.runtime.metrics import ServiceMetrics

log = structlog.get_logger(__name__)

TICK_S: Final = 1.0


class Scheduler:
    """Runs beside the consumer on the same loop; all blocking work goes to threads/processes."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        consumer: StreamConsumer,
        metrics: ServiceMetrics,
        *,
        model_poll_interval_s: float = 5.0,
        drift_delta: float = 0.002,
        min_retrain_gap_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.url = url
        self.consumer = consumer
        self.metrics = metrics
        self.model_poll_interval_s = model_poll_interval_s
        self.min_retrain_gap_s = min_retrain_gap_s
        """Drift may bring a cycle forward, but never closer than this to the previous one."""
        self._last_retrain = -float("inf")
        self.drift = DriftDetector(drift_delta)
        self._db: DBConnector | None = None
        self._pool: ProcessPoolExecutor | None = None
        self.retrains = 0
        self.swaps = 0
        self.refused = 0
        """Champion versions refused: a blob that did not verify (never loaded), or a version
        recorded for another serving mode than the configured one."""
        self._refused_modes: set[str] = set()
        """Versions refused for their serving mode (logged once, checked again every poll)."""
        self._refused_blobs: set[str] = set()
        """Versions whose blob did not verify: refused and logged once each."""
        self._retraining: asyncio.Task[None] | None = None
        self.retention = Retention(consumer.redis, RetentionPolicy.of(settings))
        self.heap = HeapTrim()

    def _registry(self) -> ModelRegistry:
        if self._db is None:
            self._db = DBConnector(self.url, settings=self.settings)
        return ModelRegistry(self._db)

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        now = time.monotonic()
        next_retrain = now + s.retrain_interval_s if s.retrain_interval_s > 0 else float("inf")
        next_poll = now
        next_trim = now + min(s.retention_interval_s, 5.0)  # soon after start, then on interval
        heap_every = s.heap_trim_interval_s if self.heap.available else 0.0
        next_heap_trim = now + heap_every if heap_every > 0 else float("inf")
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + self.model_poll_interval_s
                    await self._guarded(self.follow_champion())
                if now >= next_trim:
                    next_trim = now + s.retention_interval_s
                    await self._guarded(self.enforce_retention())
                if now >= next_heap_trim:
                    next_heap_trim = now + heap_every
                    await self._guarded(self.trim_heap())
                drifted = (
                    s.retrain_interval_s > 0  # retraining off: neither on schedule nor on drift
                    and self._feed_drift()
                    and now - self._last_retrain >= self.min_retrain_gap_s
                )
                if (now >= next_retrain or drifted) and not self.retraining:
                    self._last_retrain = now
                    next_retrain = (now + s.retrain_interval_s if s.retrain_interval_s > 0
                                    else float("inf"))  # fmt: skip
                    if drifted:
                        self.metrics.drift_detected_total.inc()
                        log.info("drift_detected", error_rate=self.drift.error_rate)
                    self._retraining = asyncio.create_task(self.retrain(), name="retrain")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_S)
        finally:
            if self._retraining is not None and not self._retraining.done():
                self._retraining.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._retraining
            if self._pool is not None:
                _terminate(self._pool)
            if self._db is not None:
                self._db.close()

    @property
    def retraining(self) -> bool:
        return self._retraining is not None and not self._retraining.done()

    async def _guarded(self, coro: Any) -> None:
        try:
            await coro
        except Exception as exc:  # the scheduler must never take the service down
            log.error(
                "scheduler_step_failed",
                failure=str(classify(exc)),  # transient: Redis away, the next poll retries
                error=f"{type(exc).__name__}: {exc}",
            )

    def _feed_drift(self) -> bool:
        """Feed the outcomes learned since the last call to ADWIN, in order; True on drift."""
        errors = self.consumer.pipeline.generator.recent_errors
        drifted = False
        update = self.drift.update
        while errors:
            drifted |= update(errors.popleft())
        return drifted

    async def retrain(self) -> None:
        """One retraining cycle in a worker process; its outcome counted."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_ignore_sigint
            )
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        try:
            decision = await loop.run_in_executor(
                self._pool, retrain_in_subprocess, self.url, settings_to_dict(self.settings)
            )
        except Exception as exc:
            decision = {"outcome": "failed", "reason": f"{type(exc).__name__}: {exc}"}
            if isinstance(exc, BrokenProcessPool) and self._pool is not None:
                _terminate(self._pool)  # its worker died (killed, out of memory): start anew
                self._pool = None
        self.retrains += 1
        outcome = str(decision.get("outcome", "failed"))
        counter = (
            self.metrics.retrain_runs_total.get(outcome)
            or self.metrics.retrain_runs_total["failed"]
        )
        counter.inc()
        self.metrics.retrain_duration_seconds.observe(time.perf_counter() - t0)
        log.info("retrain_finished", outcome=outcome, reason=decision.get("reason"))
        self.drift.reset()  # judge the error stream afresh after every cycle
        if outcome == "promoted":
            await self._guarded(self.follow_champion())

    async def enforce_retention(self) -> dict[str, int]:
        """One retention pass over this worker's streams (``runtime.retention``)."""
        trimmed = await self.retention.trim(dict(self.consumer.streams))
        for kind, n in trimmed.items():
            if n:
                self.metrics.trimmed_entries_total[kind].inc(n)
        return trimmed

    async def trim_heap(self) -> int:
        """Give the C heap's free pages back (``runtime.heap``), off the loop; bytes released."""
        released = await asyncio.to_thread(self.heap.trim)
        self.metrics.heap_released_bytes_total.inc(released)
        log.debug("heap_trimmed", released_bytes=released)
        return released

    async def follow_champion(self) -> bool:
        """Serve the registry's champion if it is not what runs now; True if swapped."""
        generator = self.consumer.pipeline.generator
        registry = await asyncio.to_thread(self._registry)
        version = await asyncio.to_thread(registry.champion_version)
        if version is None or version == generator.model_version:
            return False
        meta = await asyncio.to_thread(registry.get, version)
        recorded = None if meta is None else meta.serving
        if recorded is not None and recorded != self.settings.serving:
            if version not in self._refused_modes:
                self._refused_modes.add(version)
                self.refused += 1
                log.error(
                    "model_refused",
                    version=version,
                    error=f"validated for serving {recorded!r}, the service serves "
                    f"{self.settings.serving!r} (DATA_FEEDS_SERVING); keeping "
                    f"{generator.model_version}",
                )
            return False
        if version in self._refused_blobs:
            return False  # said once: a version's blob never changes
        try:
            model = await asyncio.to_thread(registry.load, version)
        except CheckpointRejected as exc:
            self._refused_blobs.add(version)
            self.refused += 1
            log.error("model_refused", version=version, error=str(exc))
            return False
        # the consumer may have restored another generator meanwhile: swap on the current one
        current = self.consumer.pipeline.generator
        previous = current.model_version
        # the version's calibrated margin, else the configured one (never the previous one's)
        recorded_margin = None if meta is None else meta.margin
        margin = self.settings.margin if recorded_margin is None else recorded_margin
        current.swap_model(model, version, margin)
        self.metrics.set_model_version(version)
        self.swaps += 1
        log.info("model_swapped", version=version, previous=previous, margin=current.margin)
        return True


def _ignore_sigint() -> None:
    """In the retraining process: Ctrl-C reaches the whole process group, but stopping the
    worker is the service's job (it terminates the pool on shutdown)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, killing a retraining cycle in flight: it holds no state that matters
    (a cycle's writes are its own records; an unfinished one is simply not recorded), and the
    service must leave no process behind when it exits."""
    processes = list(getattr(pool, "_processes", {}).values())  # CPython < 3.14 has no API
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
