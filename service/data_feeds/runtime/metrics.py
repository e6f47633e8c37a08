"""Every Prometheus metric of the service, in one module.

Names are ``data_feeds_<what>_<unit>`` in base units (``_seconds``, ``_total``, ``_ratio``).
Labels come from bounded sets only (kinds, reason codes, stages, actions, feed event types,
retrain outcomes, and the model version, which our own registry controls); never a symbol from
the wire, an entry id or an error text. Every labelled child is resolved here, once, so the hot
path reads ``metrics.consumed[kind].inc(n)`` with no label lookup.

Each ``ServiceMetrics`` owns a fresh ``CollectorRegistry`` unless given one, so tests can build
several side by side; the service builds exactly one and serves it from ``runtime.health``.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import generate_latest

from data_feeds import __version__
from data_feeds.errors import REASONS
from data_feeds.records import ACTIONS, KINDS
from data_feeds.validation.cleaner import FEED_EVENT_TYPES

if TYPE_CHECKING:
    from data_feeds.runtime.pipeline import BatchResult
    from data_feeds.signals.scoring import Scorecard

NAMESPACE: Final = "data_feeds"

STAGES: Final = ("decode", "validate", "clean", "indicators", "model", "write")
"""The stages a batch passes through, in order (``data_feeds_stage_duration_seconds{stage}``)."""

RETENTION_KINDS: Final = ("signals", "dlq", "events", "input")
"""The kinds of stream the retention policy trims (``runtime.retention``)."""
RETRAIN_OUTCOMES: Final = ("promoted", "kept", "failed", "insufficient_data")
"""How a retraining run ends: challenger promoted, champion kept, an error, too little history."""

STAGE_BUCKETS_S: Final = (
    1e-5, 2.5e-5, 5e-5,
    1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0,
)  # fmt: skip
"""10 µs .. 1 s: one batch's time in one stage (a 500-message batch costs ~0.1-10 ms a stage)."""

EVENT_LATENCY_BUCKETS_S: Final = (
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
    10.0, 30.0, 60.0,
)  # fmt: skip
"""1 ms .. 60 s: event time -> signal written, which includes the publisher's own delay."""

ENTRY_LATENCY_BUCKETS_S: Final = (
    0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
    10.0,
)  # fmt: skip
"""0.1 ms .. 10 s: Redis entry id time (publish) -> signal written; 10 ms is a bucket edge."""

LOOP_LAG_BUCKETS_S: Final = (
    0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
)  # fmt: skip
"""0.1 ms .. 5 s: how late the heartbeat wakes up (a blocked event loop shows here first)."""

CHECKPOINT_BUCKETS_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RETRAIN_BUCKETS_S: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""0.1 s .. 10 min: one retraining run, dataset build to promotion decision."""

MAX_MODEL_VERSION_LEN: Final = 128


class _Value(Protocol):
    def inc(self, amount: float) -> None: ...


class BatchHistogram:
    """Observes a whole batch into one ``Histogram`` child with one lock round-trip per bucket.

    ``Histogram.observe`` takes two locks per value (~0.5 µs each value); sorting the batch and
    bisecting the bucket bounds costs ~40 ns a value and yields exactly the same bucket counts
    and sum, so the distribution is the one per-value observation would record. It reaches into
    the child's bucket and sum values (prometheus_client internals, stable since 0.4); if a
    future release changes them, it falls back to per-value ``observe``.
    """

    __slots__ = ("_buckets", "_sum", "_upper_bounds", "histogram")

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        buckets = getattr(histogram, "_buckets", None)
        total = getattr(histogram, "_sum", None)
        bounds = getattr(histogram, "_upper_bounds", None)
        usable = (
            isinstance(buckets, list)
            and isinstance(bounds, list)
            and len(buckets) == len(bounds)
            and bounds
            and bounds[-1] == math.inf
            and all(callable(getattr(b, "inc", None)) for b in buckets)
            and callable(getattr(total, "inc", None))
        )
        self._buckets: list[_Value] | None = buckets if usable else None
        self._sum: _Value | None = total if usable else None
        self._upper_bounds: list[float] = list(bounds) if usable and bounds else []

    def observe_many(self, values: Sequence[float]) -> None:
        """Observe every value of ``values`` (finite seconds; NaN and infinities are dropped).

        A negative value (clock skew between a publisher and us) lands in the lowest bucket,
        as ``observe`` would put it, but adds 0 to ``_sum`` so the sum stays a counter.
        """
        if not values:
            return
        if self._buckets is None or self._sum is None:
            observe = self.histogram.observe
            for v in values:
                if math.isfinite(v):
                    observe(v if v > 0.0 else 0.0)
            return
        ordered = sorted(values)
        total = sum(ordered)
        if not math.isfinite(total):  # rare: drop NaN / inf, whose sort order is meaningless
            ordered = sorted(v for v in values if math.isfinite(v))
            if not ordered:
                return
            total = sum(ordered)
        if ordered[0] < 0.0:
            total = sum(v for v in ordered if v > 0.0)
        n = len(ordered)
        below = 0
        buckets = self._buckets
        for i, bound in enumerate(self._upper_bounds):
            upto = bisect.bisect_right(ordered, bound)  # values <= bound, as observe counts
            if upto != below:
                buckets[i].inc(upto - below)
                below = upto
                if below == n:
                    break
        self._sum.inc(total)


class Snapshot:
    """Sample values at one moment: ``snap.value("data_feeds_signals_total", action="BUY")``."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> None:
        self._values = values

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when it has none yet."""
        return self._values.get((name, frozenset(labels.items())), 0.0)


class ServiceMetrics:
    """All of the service's metrics, children resolved once; ``render()`` is the scrape body."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        """``process``: also export the standard ``process_*`` (CPU, resident memory, open
        files, start time) and ``python_*`` (GC, version) families of prometheus_client."""
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        reg = self.registry
        if process:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
            GCCollector(registry=reg)

        def counter(name: str, doc: str) -> Counter:
            return Counter(name, doc, namespace=NAMESPACE, registry=reg)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, namespace=NAMESPACE, registry=reg)

        def histogram(name: str, doc: str, buckets: Sequence[float]) -> Histogram:
            return Histogram(name, doc, namespace=NAMESPACE, buckets=buckets, registry=reg)

        def counters(name: str, doc: str, label: str, values: Iterable[str]) -> dict[str, Counter]:
            """A counter with one label and its child per value, resolved once."""
            family = Counter(name, doc, [label], namespace=NAMESPACE, registry=reg)
            return {v: family.labels(**{label: v}) for v in values}

        def gauges(name: str, doc: str, label: str, values: Iterable[str]) -> dict[str, Gauge]:
            """A gauge with one label and its child per value, resolved once."""
            family = Gauge(name, doc, [label], namespace=NAMESPACE, registry=reg)
            return {v: family.labels(**{label: v}) for v in values}

        # -- throughput and rejects -----------------------------------------------------------
        self.messages_consumed_total = counters(
            "messages_consumed_total",
            "Messages read from the input streams, by kind (price, trade, book, sentiment).",
            "kind",
            KINDS,
        )
        self.messages_rejected_total = counters(
            "messages_rejected_total",
            "Messages refused as invalid and sent to the DLQ, by reason code (errors.REASONS).",
            "reason",
            REASONS,
        )
        self.batches_total = counter("batches_total", "Batches read and processed.")
        self.signals_total = counters(
            "signals_total",
            "Signals written, by action (BUY, SELL, HOLD).",
            "action",
            ACTIONS,
        )
        self.dlq_messages_total = counter(
            "dlq_messages_total", "Entries written to a dead-letter stream (dlq:<stream>)."
        )
        self.quarantined_messages_total = counter(
            "quarantined_messages_total",
            "Suspect records kept aside in quarantine:<symbol> instead of reaching the model.",
        )
        self.feed_events_total = counters(
            "feed_events_total",
            "Feed events the cleaner reported, by type (gap, duplicate, out_of_order, late, "
            "spike, level_shift).",
            "type",
            FEED_EVENT_TYPES,
        )
        self.redeliveries_total = counter(
            "redeliveries_total",
            "Entries delivered again: own pending entries re-read on start, or claimed from a "
            "dead consumer.",
        )
        self.checkpoints_refused_total = counter(
            "checkpoints_refused_total",
            "Stored worker checkpoints refused at start (not verified, another format, or not "
            "usable by this version): the worker started fresh and replayed its history.",
        )
        self.rollbacks_total = counter(
            "rollbacks_total",
            "Times Redis was found holding less than this worker had applied (a lost AOF tail, "
            "a failover to a lagging replica): the state was rebuilt from the checkpoint.",
        )
        self.checkpoint_seconds = histogram(
            "checkpoint_seconds",
            "Time from the start of a background checkpoint (the fork) to its blob stored.",
            CHECKPOINT_BUCKETS_S,
        )
        self.checkpoint_bytes = gauge(
            "checkpoint_bytes", "Size of the last checkpoint stored (compressed and signed)."
        )
        self.late_entries_total = counter(
            "late_entries_total",
            "Entries that arrived below what the arrival merge had already released (a stream "
            "found late, explicit ids written meanwhile): processed as they came, out of the "
            "processing order (docs/processing_order.md).",
        )
        self.trimmed_entries_total = counters(
            "trimmed_entries",
            "Entries removed by the retention policy (runtime.retention), by kind of stream "
            "(signals, dlq, events, input).",
            "kind",
            RETENTION_KINDS,
        )
        self.heap_released_bytes_total = counter(
            "heap_released_bytes_total",
            "Resident memory given back to the operating system by the scheduler's periodic "
            "heap trims (runtime.heap), in bytes.",
        )
        self.pending_trimmed_total = counter(
            "pending_trimmed_total",
            "Pending entries whose payload was trimmed from the stream (MAXLEN) before they "
            "were processed; acked without a signal.",
        )

        # -- time -----------------------------------------------------------------------------
        stage = Histogram(
            "stage_duration_seconds",
            "Time one batch spent in one stage (decode, validate, clean, indicators, model, "
            "write), observed once per batch, not per message: divide by messages per batch "
            "for a per-message cost.",
            ["stage"],
            namespace=NAMESPACE,
            buckets=STAGE_BUCKETS_S,
            registry=reg,
        )
        self.stage_duration_seconds: dict[str, Histogram] = {
            s: stage.labels(stage=s) for s in STAGES
        }
        self.event_to_signal_seconds = histogram(
            "event_to_signal_seconds",
            "Event timestamp carried by the message -> its signal written to Redis (includes "
            "the upstream's delay and clock skew).",
            EVENT_LATENCY_BUCKETS_S,
        )
        self.entry_to_signal_seconds = histogram(
            "entry_to_signal_seconds",
            "Redis entry id time (when the message was appended) -> its signal written to "
            "Redis: the service's own latency.",
            ENTRY_LATENCY_BUCKETS_S,
        )
        self._event_batch = BatchHistogram(self.event_to_signal_seconds)
        self._entry_batch = BatchHistogram(self.entry_to_signal_seconds)
        self.event_loop_lag_seconds = histogram(
            "event_loop_lag_seconds",
            "How late the heartbeat woke up from its sleep: time the event loop was busy "
            "elsewhere.",
            LOOP_LAG_BUCKETS_S,
        )
        self.heartbeat_age_seconds = gauge(
            "heartbeat_age_seconds",
            "Seconds since the event loop's heartbeat last beat, read at scrape time from the "
            "server thread: it keeps rising while the loop is stuck (what /healthz checks).",
        )

        # -- consumer group state -------------------------------------------------------------
        self.consumer_lag_seconds = gauges(
            "consumer_lag_seconds",
            "Age of the oldest entry not yet delivered to the consumer group, by kind "
            "(0 when caught up).",
            "kind",
            KINDS,
        )
        self.pending_entries = gauges(
            "pending_entries",
            "Entries delivered to this worker and not yet acknowledged, by kind.",
            "kind",
            KINDS,
        )
        self.consumer_lag_entries = gauges(
            "consumer_lag_entries",
            "Entries not yet delivered to the consumer group, by kind, where Redis reports it "
            "(XINFO GROUPS lag, Redis 7+).",
            "kind",
            KINDS,
        )

        # -- model ----------------------------------------------------------------------------
        self.model_info = Gauge(
            "model_info",
            "1 for the model version serving signals. The version label is bounded: versions "
            "are few and minted by our own model registry, and only the current one is kept.",
            ["version"],
            namespace=NAMESPACE,
            registry=reg,
        )
        self._model_version: str | None = None
        self._model_lock = threading.Lock()
        self.live_accuracy_ratio = gauge(
            "live_accuracy_ratio",
            "Share of matured predictions whose direction was right (progressive validation).",
        )
        self.live_log_loss = gauge(
            "live_log_loss", "Log loss of matured predictions (progressive validation)."
        )
        self.buy_hit_rate_ratio = gauge(
            "buy_hit_rate_ratio", "Share of matured BUY signals followed by an up-move."
        )
        self.sell_hit_rate_ratio = gauge(
            "sell_hit_rate_ratio", "Share of matured SELL signals followed by a down-move."
        )
        for quality in (
            self.live_accuracy_ratio,
            self.live_log_loss,
            self.buy_hit_rate_ratio,
            self.sell_hit_rate_ratio,
        ):
            quality.set(math.nan)  # unknown until a prediction matures: no false "accuracy 0"
        self.retrain_runs_total = counters(
            "retrain_runs_total",
            "Retraining runs, by outcome (promoted, kept, failed, insufficient_data).",
            "outcome",
            RETRAIN_OUTCOMES,
        )
        self.retrain_duration_seconds = histogram(
            "retrain_duration_seconds",
            "Wall time of one retraining run, dataset build to promotion decision.",
            RETRAIN_BUCKETS_S,
        )
        self.drift_detected_total = counter(
            "drift_detected_total", "Drift detections on the live error stream."
        )

        # -- Redis and process ----------------------------------------------------------------
        self.redis_up = gauge("redis_up", "1 when the last Redis call succeeded, else 0.")
        self.redis_reconnects_total = counter(
            "redis_reconnects_total", "Reconnections to Redis after a failed call."
        )
        self.build_info = Info(
            "build", "The running data-feeds release.", namespace=NAMESPACE, registry=reg
        )
        self.build_info.info({"version": __version__})

    def observe_latencies(
        self, event_ts: Sequence[float], entry_ms: Sequence[int], written_s: float
    ) -> None:
        """Observe a batch's latencies: each event timestamp (epoch seconds) and each Redis entry
        id time (epoch milliseconds) against ``written_s``, the epoch seconds its signals were
        written. One call per batch; the recorded distribution is exactly per-value observation.
        """
        if event_ts:
            self._event_batch.observe_many([written_s - t for t in event_ts])
        if entry_ms:
            written_ms = written_s * 1000.0
            self._entry_batch.observe_many([(written_ms - m) * 0.001 for m in entry_ms])

    def record_batch(self, r: BatchResult, write_s: float, written_s: float) -> None:
        """Count one written batch: what it consumed, rejected and wrote, its stage times
        and its latencies (``written_s``: the epoch seconds it was written at)."""
        self.batches_total.inc()
        for kind, n in r.consumed.items():
            child = self.messages_consumed_total.get(kind)
            if child is not None:
                child.inc(n)
        for reason, n in r.rejected.items():
            self.messages_rejected_total[reason].inc(n)
        for action, n in r.signal_actions.items():
            self.signals_total[action].inc(n)
        for event_type, n in r.feed_events.items():
            self.feed_events_total[event_type].inc(n)
        if r.dlq:
            self.dlq_messages_total.inc(len(r.dlq))
        if r.quarantine:
            self.quarantined_messages_total.inc(len(r.quarantine))
        if r.trimmed:
            self.pending_trimmed_total.inc(r.trimmed)
        for stage, seconds in r.stage_s.items():
            self.stage_duration_seconds[stage].observe(seconds)
        self.stage_duration_seconds["write"].observe(write_s)
        if r.signal_event_ts:
            self.observe_latencies(r.signal_event_ts, r.signal_entry_ms, written_s)

    def record_checkpoint(self, size: int, seconds: float) -> None:
        """A background checkpoint of ``size`` bytes was stored, ``seconds`` after it began."""
        self.checkpoint_seconds.observe(seconds)
        self.checkpoint_bytes.set(size)

    def record_scorecard(self, card: Scorecard) -> None:
        """The live quality gauges from the serving model's scorecard (known ones only)."""
        for gauge, value in (
            (self.live_accuracy_ratio, card.accuracy),
            (self.live_log_loss, card.log_loss),
            (self.buy_hit_rate_ratio, card.buy_hit_rate),
            (self.sell_hit_rate_ratio, card.sell_hit_rate),
        ):
            if value is not None:
                gauge.set(value)

    def record_lag(
        self, pending: dict[str, int], lag_entries: dict[str, int], lag_s: dict[str, float]
    ) -> None:
        """The consumer group's state per kind: pending entries, entries not yet delivered
        and the age of the oldest of those."""
        for values, gauges in (
            (pending, self.pending_entries),
            (lag_entries, self.consumer_lag_entries),
            (lag_s, self.consumer_lag_seconds),
        ):
            for kind, value in values.items():
                if kind in gauges:
                    gauges[kind].set(value)

    def set_model_version(self, version: str) -> None:
        """Mark ``version`` as the serving model (``data_feeds_model_info{version} 1``) and drop
        the previous version's series, so the label carries one value at a time.
        """
        if not version or len(version) > MAX_MODEL_VERSION_LEN:
            raise ValueError(
                f"model version must be 1-{MAX_MODEL_VERSION_LEN} characters, got {version!r:.80}"
            )
        with self._model_lock:
            old = self._model_version
            self.model_info.labels(version=version).set(1)  # set the new one first: a scrape
            if old is not None and old != version:  # in between sees both, never neither
                self.model_info.remove(old)
            self._model_version = version

    @property
    def model_version(self) -> str | None:
        """The version last passed to ``set_model_version``."""
        return self._model_version

    def snapshot(self) -> Snapshot:
        """Every sample's value from one pass over the registry (``get_sample_value`` walks
        the whole registry per call: too slow for a console refreshed every second)."""
        values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                values[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return Snapshot(values)

    def quantile(self, histogram: Histogram, q: float) -> float | None:
        """PromQL's ``histogram_quantile`` over a histogram's buckets since start (linear
        interpolation inside the bucket); ``None`` before any observation."""
        buckets: list[tuple[float, float]] = []
        for metric in histogram.collect():
            for sample in metric.samples:
                if sample.name.endswith("_bucket"):
                    buckets.append((float(sample.labels["le"]), sample.value))
        buckets.sort()
        if not buckets or buckets[-1][1] == 0:
            return None
        rank = q * buckets[-1][1]
        lower, below = 0.0, 0.0
        for upper, count in buckets:
            if count >= rank:
                if upper == float("inf"):
                    return lower
                inside = count - below
                return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
            lower, below = upper, count
        return lower

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.registry)
