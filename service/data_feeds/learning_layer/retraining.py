"""RetrainingLoop: a challenger trained on recent history replaces the champion only if it is
better on the same most recent holdout.

One cycle (``run_retraining``):

1. a dataset of the last ``window_s`` seconds of stored history (counted back from the newest
   stored record, not the wall clock, so replayed history works the same), built by
   ``TrainingModule.prepare_dataset`` through the live feature code;
2. a challenger trained on its older part (``TrainingModule.train_model``, registered as a
   candidate version);
3. challenger and champion both predict the same holdout rows (the most recent
   ``holdout_fraction``) in the serving mode of the training module (the service's,
   ``learning_layer.serving.serve_holdout``): frozen, neither learns from them; online, each
   learns every row once it has matured, as live, on a copy (the registry's is never changed);
4. the decision, on **log loss** (the probability drives BUY / SELL through the margin, and
   log loss is a proper score of that probability; accuracy only sees which side of 0.5 it
   fell). The challenger is promoted only when it beats both the no-skill baseline (always
   predicting the training rows' up-fraction) and the champion, if there is one: for each, with
   ``d_i`` = reference loss - challenger loss on holdout row ``i``, ``mean(d)`` must reach
   ``min_improvement`` **and** ``significance_z`` standard errors of that mean (a paired
   one-sided test). So the first challenger with real skill becomes the first champion, two
   models of the same skill never trade places on noise, and a challenger without skill never
   replaces even a bad champion (rolling back is the tool for that);
5. the decision recorded in ``training:decisions`` (LIST of JSON, newest first).

Outcomes use the service's metric labels: ``promoted``, ``kept``, ``insufficient_data`` (and
``failed`` from ``retrain_in_subprocess`` when a cycle raised).

For the service's scheduler: ``retrain_in_subprocess(redis_url, settings)`` runs one cycle from
picklable arguments (for a ``ProcessPoolExecutor``; CPU-heavy training stays off the event
loop) and returns the decision as a dict; ``DriftDetector`` (river's ADWIN on the live 0/1
error stream) says when the error rate has moved, to retrain before the schedule does.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog
from river import drift

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import TRAINING_DECISIONS, symbol_streams
from data_feeds.errors import InvalidMessage
from data_feeds.learning_layer._common import dumps, fmt, push_capped, read_list, render_table
from data_feeds.learning_layer.serving import serve_holdout
from data_feeds.learning_layer.training import (
    Dataset,
    TrainingModule,
    log_losses,
    score,
)
from data_feeds.settings import Settings
from data_feeds.validation.cleaner_config import CleanerConfig

log = structlog.get_logger(__name__)


PROMOTED: Final = "promoted"
KEPT: Final = "kept"
INSUFFICIENT_DATA: Final = "insufficient_data"
FAILED: Final = "failed"
OUTCOMES: Final = (PROMOTED, KEPT, FAILED, INSUFFICIENT_DATA)


@dataclass(slots=True)
class RetrainingDecision:
    """What one retraining cycle decided, and on which figures."""

    outcome: str
    reason: str
    challenger: str | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    metric: str = "log_loss"
    challenger_log_loss: float | None = None
    champion_log_loss: float | None = None
    baseline_log_loss: float | None = None
    challenger_accuracy: float | None = None
    champion_accuracy: float | None = None
    improvement: float | None = None
    """Mean per-row log-loss reduction of the challenger over the champion (positive: better)."""
    improvement_se: float | None = None
    skill: float | None = None
    """Mean per-row log-loss reduction of the challenger over the no-skill baseline."""
    skill_se: float | None = None
    n_holdout: int = 0
    n_rows: int = 0
    dataset_fingerprint: str | None = None
    window: tuple[float, float] | None = None
    run_id: str | None = None
    decided_at: float = 0.0
    duration_s: float = 0.0

    @property
    def promoted(self) -> bool:
        return self.outcome == PROMOTED

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["window"] = None if self.window is None else list(self.window)
        return d

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=True).decode()

    def to_table(self) -> str:
        return render_table(("field", "value"), [(k, fmt(v)) for k, v in self.to_dict().items()])


class RetrainingLoop:
    """One retraining cycle per ``run_retraining()`` call (see the module doc).

    ``window_s``: lookback of the dataset (``None``: all stored history). ``min_improvement``:
    smallest mean log-loss reduction (nats per row) that can promote; ``significance_z``: how
    many standard errors it must also clear. ``holdout_fraction``: the training module's when
    ``None``. ``symbols`` / ``pattern``: which streams (as in ``prepare_dataset``).
    """

    def __init__(
        self,
        training: TrainingModule,
        db: DBConnector,
        *,
        min_improvement: float = 0.001,
        significance_z: float = 2.0,
        window_s: float | None = 86_400.0,
        holdout_fraction: float | None = None,
        symbols: Sequence[str] | None = None,
        pattern: str = "*",
        keep_decisions: int = 1000,
    ) -> None:
        for name, value in (
            ("min_improvement", min_improvement),
            ("significance_z", significance_z),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if window_s is not None and not (math.isfinite(window_s) and window_s > 0.0):
            raise ValueError(f"window_s must be a finite number > 0 or None, got {window_s!r}")
        if holdout_fraction is not None and not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
        if keep_decisions < 1:
            raise ValueError(f"keep_decisions must be >= 1, got {keep_decisions!r}")
        self.training = training
        self.db = db
        self.min_improvement = float(min_improvement)
        self.significance_z = float(significance_z)
        self.window_s = window_s
        self.holdout_fraction = holdout_fraction
        self.symbols = None if symbols is None else list(symbols)
        self.pattern = pattern
        self.keep_decisions = keep_decisions

    def run_retraining(self) -> RetrainingDecision:
        """Run one cycle: dataset, challenger, comparison, decision (recorded and returned)."""
        t0 = time.perf_counter()
        registry = self.training.registry
        champion_before = registry.champion_version()
        newest = self.newest_event_time()
        start = None if newest is None or self.window_s is None else newest - self.window_s
        dataset = self.training.prepare_dataset(self.symbols, pattern=self.pattern, start=start)
        fraction = self.holdout_fraction or self.training.holdout_fraction
        decision = RetrainingDecision(
            outcome=INSUFFICIENT_DATA,
            reason=dataset.message,
            champion_before=champion_before,
            champion_after=champion_before,
            n_rows=len(dataset),
            dataset_fingerprint=dataset.fingerprint,
            window=dataset.span,
        )
        if not dataset.too_small:
            result = self.training.train_model(dataset, holdout_fraction=fraction)
            decision.run_id = result.run_id
            decision.reason = result.message
            if result.ok:
                decision.challenger = result.version
                holdout = dataset.split(fraction)[1]
                self._decide(decision, result.model, holdout, result.metrics["train_up_fraction"])
        decision.decided_at = time.time()
        decision.duration_s = time.perf_counter() - t0
        push_capped(
            self.db.redis, TRAINING_DECISIONS, dumps(decision.to_dict()), self.keep_decisions
        )
        log.info(
            "retraining_decided",
            outcome=decision.outcome,
            challenger=decision.challenger,
            champion=decision.champion_after,
            improvement=decision.improvement,
            rows=decision.n_rows,
            duration_s=round(decision.duration_s, 3),
        )
        return decision

    def _decide(
        self,
        decision: RetrainingDecision,
        challenger_model: Any,
        holdout: Dataset,
        train_up_fraction: float,
    ) -> None:
        registry = self.training.registry
        labels = holdout.y
        serving = self.training.serving
        challenger_p = serve_holdout(challenger_model, holdout, serving)
        challenger = log_losses(challenger_p, labels)
        decision.n_holdout = len(labels)
        decision.challenger_log_loss = statistics.fmean(challenger)
        decision.challenger_accuracy = score(challenger_p, labels).accuracy
        baseline = log_losses([train_up_fraction] * len(labels), labels)
        decision.baseline_log_loss = statistics.fmean(baseline)
        gain, se = _paired_gain(baseline, challenger)
        decision.skill = gain
        decision.skill_se = se
        needed = max(self.min_improvement, self.significance_z * se)
        reasons = [
            f"vs the no-skill baseline: {gain:+.4f} nats/row (needed {needed:.4f})",
        ]
        promote = gain >= needed
        champion = registry.champion()
        if champion is not None:
            champion_version, champion_model = champion
            champion_p = serve_holdout(champion_model, holdout, serving)
            incumbent = log_losses(champion_p, labels)
            decision.champion_log_loss = statistics.fmean(incumbent)
            decision.champion_accuracy = score(champion_p, labels).accuracy
            gain, se = _paired_gain(incumbent, challenger)
            decision.improvement = gain
            decision.improvement_se = se
            needed = max(self.min_improvement, self.significance_z * se)
            reasons.append(
                f"vs champion {champion_version}: {gain:+.4f} nats/row (needed {needed:.4f})"
            )
            promote = promote and gain >= needed
        else:
            reasons.append("no champion yet")
        decision.outcome = PROMOTED if promote else KEPT
        decision.reason = "; ".join(reasons)
        if promote:
            assert decision.challenger is not None
            registry.promote(decision.challenger, reason=decision.reason)
            decision.champion_after = decision.challenger

    def newest_event_time(self) -> float | None:
        """The event time of the newest stored record in the streams this loop trains on
        (each stream's last entry; ``None`` when there are none)."""
        patterns = (
            self.pattern if self.symbols is None else [symbol_streams(s) for s in self.symbols]
        )
        newest: float | None = None
        validator = self.db.validator
        for stream in self.db.streams(patterns):
            for _, fields in self.db.redis.xrevrange(stream, count=1) or []:
                try:
                    ts = validator.validate(fields, stream=stream).timestamp
                except InvalidMessage:
                    continue
                newest = ts if newest is None else max(newest, ts)
        return newest

    def decisions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded decisions, newest first."""
        return read_list(self.db.redis, TRAINING_DECISIONS, limit)


# -- for the service's scheduler -----------------------------------------------------------------


def _paired_gain(reference: Sequence[float], challenger: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of ``reference - challenger`` per-row losses."""
    diffs = [r - c for r, c in zip(reference, challenger, strict=True)]
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.inf
    return mean, se


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """``Settings`` as plain picklable values (for a worker process)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, CleanerConfig):
            value = dataclasses.asdict(value)
        out[f.name] = value
    return out


def settings_from_dict(values: Mapping[str, Any]) -> Settings:
    """The inverse of ``settings_to_dict``; unknown names are refused."""
    names = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    kwargs = dict(values)
    if "data_dir" in kwargs:
        kwargs["data_dir"] = Path(kwargs["data_dir"])
    if isinstance(kwargs.get("hmac_key"), str):
        kwargs["hmac_key"] = kwargs["hmac_key"].encode()
    if "stream_patterns" in kwargs:
        kwargs["stream_patterns"] = tuple(kwargs["stream_patterns"])
    if isinstance(kwargs.get("cleaner"), Mapping):
        kwargs["cleaner"] = CleanerConfig(**kwargs["cleaner"])
    return Settings(**kwargs)


def retrain_in_subprocess(
    redis_url: str | None,
    settings: Settings | Mapping[str, Any] | None = None,
    *,
    training_options: Mapping[str, Any] | None = None,
    loop_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one retraining cycle and return its decision as a dict; every argument pickles.

    Meant for ``loop.run_in_executor(process_pool, retrain_in_subprocess, url, settings_dict)``:
    it opens its own connection, and in a worker process configures logging from the settings.
    A cycle that raises returns ``{"outcome": "failed", "error": ...}`` (logged with its
    traceback) so the scheduler can count it.
    """
    if settings is None:
        resolved = Settings.from_env()
    elif isinstance(settings, Settings):
        resolved = settings
    else:
        resolved = settings_from_dict(settings)
    if redis_url is not None:
        resolved = dataclasses.replace(resolved, redis_url=redis_url)
    if multiprocessing.parent_process() is not None:
        from data_feeds.logs import configure_logging  # noqa: PLC0415

        configure_logging(resolved.log_level, resolved.log_format)
    t0 = time.perf_counter()
    try:
        with DBConnector(settings=resolved) as db:
            training = TrainingModule(db, **dict(training_options or {}))
            loop = RetrainingLoop(training, db, **dict(loop_options or {}))
            return loop.run_retraining().to_dict()
    except Exception as exc:
        log.exception("retraining_failed")
        return {
            "outcome": FAILED,
            "reason": f"{type(exc).__name__}: {exc}",
            "error": type(exc).__name__,
            "duration_s": time.perf_counter() - t0,
            "decided_at": time.time(),
        }


class DriftDetector:
    """ADWIN (river) over the live 0/1 error stream: ``update(error)`` is ``True`` when the
    error rate has changed significantly (then retrain before the schedule does).

    ``delta``: ADWIN's confidence (smaller: fewer false alarms, slower to react).
    ``grace_period``: errors seen before a change can be reported. Picklable.
    """

    __slots__ = ("_adwin", "delta", "detections", "grace_period", "last_detection_at", "n")

    def __init__(self, delta: float = 0.002, *, grace_period: int = 30) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if grace_period < 1:
            raise ValueError(f"grace_period must be >= 1, got {grace_period!r}")
        self.delta = delta
        self.grace_period = grace_period
        self._adwin = drift.ADWIN(delta=delta, grace_period=grace_period)  # type: ignore[no-untyped-call]
        self.n = 0
        self.detections = 0
        self.last_detection_at: int | None = None
        """``n`` when the last change was detected."""

    def update(self, error: bool | float) -> bool:
        """Add one outcome (1/True: the prediction was wrong); ``True`` if drift is detected."""
        value = float(error)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"error must be in [0, 1], got {error!r}")
        self.n += 1
        self._adwin.update(value)  # type: ignore[no-untyped-call]
        if self._adwin.drift_detected:
            self.detections += 1
            self.last_detection_at = self.n
            return True
        return False

    @property
    def error_rate(self) -> float | None:
        """ADWIN's estimate of the current error rate (``None`` before any update)."""
        return float(self._adwin.estimation) if self.n else None

    def reset(self) -> None:
        """Forget the error history (after a new model is promoted)."""
        self._adwin = drift.ADWIN(  # type: ignore[no-untyped-call]
            delta=self.delta, grace_period=self.grace_period
        )
