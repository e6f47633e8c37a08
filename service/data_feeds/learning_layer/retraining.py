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
   fell), by the ``PromotionGate`` (``learning_layer.promotion``): the challenger must beat
   the no-skill baseline (always predicting the training rows' up-fraction) and the champion,
   if there is one, each by a mean per-row log-loss reduction of at least ``min_improvement``
   **and** ``significance_z`` standard errors, the standard error from a circular block
   bootstrap with blocks of two label horizons (overlapping labels make the rows'
   losses autocorrelated), and its holdout accuracy must be at least 0.5. So the first
   challenger with real skill becomes the first champion, two models of the same skill never
   trade places on noise, and a challenger without skill never replaces even a bad champion
   (rolling back is the tool for that). ``promote_trained`` applies the same gate to a model
   trained elsewhere (``data-feeds train --promote``), and can force a promotion the gate
   refused (recorded as forced);
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
from data_feeds.learning_layer.promotion import PromotionGate
from data_feeds.learning_layer.serving import serve_holdout
from data_feeds.learning_layer.training import (
    Dataset,
    TrainingModule,
    TrainingResult,
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
    """Its block-bootstrap standard error."""
    improvement_z: float | None = None
    """``improvement / improvement_se``."""
    improvement_ess: float | None = None
    """Effective sample size of that comparison (``var(d) / se^2``)."""
    skill: float | None = None
    """Mean per-row log-loss reduction of the challenger over the no-skill baseline."""
    skill_se: float | None = None
    skill_z: float | None = None
    skill_ess: float | None = None
    horizon_rows: int | None = None
    """The label horizon in holdout rows (median rows within one horizon)."""
    block_length: int | None = None
    """Rows per bootstrap block."""
    significance_z: float | None = None
    """The threshold each ``z`` had to reach (and ``min_improvement`` each mean)."""
    min_improvement: float | None = None
    min_accuracy: float | None = None
    test: str = "circular block bootstrap"
    gate_passed: bool | None = None
    """What the promotion gate said (``None``: the gate was not reached)."""
    forced: bool = False
    """Promoted although the gate refused (``data-feeds train --promote --force``)."""
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
    many (block-bootstrap) standard errors it must also clear; ``min_accuracy``: smallest
    holdout accuracy (these three make the ``PromotionGate``; or pass ``gate``).
    ``holdout_fraction``: the training module's when ``None``. ``symbols`` / ``pattern``: which
    streams (as in ``prepare_dataset``).
    """

    def __init__(
        self,
        training: TrainingModule,
        db: DBConnector,
        *,
        min_improvement: float = 0.001,
        significance_z: float = 2.0,
        min_accuracy: float = 0.5,
        gate: PromotionGate | None = None,
        window_s: float | None = 86_400.0,
        holdout_fraction: float | None = None,
        symbols: Sequence[str] | None = None,
        pattern: str = "*",
        keep_decisions: int = 1000,
    ) -> None:
        self.gate = gate or PromotionGate(
            min_improvement=min_improvement,
            significance_z=significance_z,
            min_accuracy=min_accuracy,
        )
        if window_s is not None and not (math.isfinite(window_s) and window_s > 0.0):
            raise ValueError(f"window_s must be a finite number > 0 or None, got {window_s!r}")
        if holdout_fraction is not None and not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
        if keep_decisions < 1:
            raise ValueError(f"keep_decisions must be >= 1, got {keep_decisions!r}")
        self.training = training
        self.db = db
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
        decision = self._new_decision(dataset, champion_before)
        if not dataset.too_small:
            result = self.training.train_model(dataset, holdout_fraction=fraction)
            decision.run_id = result.run_id
            decision.reason = result.message
            if result.ok:
                decision.challenger = result.version
                holdout = dataset.split(fraction)[1]
                self._decide(decision, result.model, holdout, result.metrics["train_up_fraction"])
        return self._record(decision, t0)

    def promote_trained(
        self, dataset: Dataset, result: TrainingResult, *, force: bool = False
    ) -> RetrainingDecision:
        """The gate's decision on a model ``result`` already trained on ``dataset`` (with the
        training module's holdout fraction), recorded like a cycle's. ``force``: promote even
        if the gate refuses; the decision and the registry's promotion record say so, and what
        the gate said."""
        t0 = time.perf_counter()
        decision = self._new_decision(dataset, self.training.registry.champion_version())
        decision.run_id = result.run_id
        decision.reason = result.message
        if result.ok and result.version is not None:
            decision.challenger = result.version
            fraction = float(result.metrics.get("holdout_fraction", self.training.holdout_fraction))
            holdout = dataset.split(fraction)[1]
            self._decide(
                decision,
                result.model,
                holdout,
                result.metrics["train_up_fraction"],
                force=force,
            )
        return self._record(decision, t0)

    @staticmethod
    def _new_decision(dataset: Dataset, champion: str | None) -> RetrainingDecision:
        return RetrainingDecision(
            outcome=INSUFFICIENT_DATA,
            reason=dataset.message,
            champion_before=champion,
            champion_after=champion,
            n_rows=len(dataset),
            dataset_fingerprint=dataset.fingerprint,
            window=dataset.span,
        )

    def _record(self, decision: RetrainingDecision, t0: float) -> RetrainingDecision:
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
        *,
        force: bool = False,
    ) -> None:
        registry = self.training.registry
        gate = self.gate
        serving = self.training.serving
        challenger_p = serve_holdout(challenger_model, holdout, serving)
        champion = registry.champion()
        champion_p = None if champion is None else serve_holdout(champion[1], holdout, serving)
        verdict = gate.judge(
            challenger_p,
            holdout.y,
            holdout.timestamps,
            holdout.horizon_s,
            baseline_rate=train_up_fraction,
            champion_p=champion_p,
            champion_name=f"champion {champion[0]}" if champion is not None else "champion",
        )
        decision.n_holdout = len(holdout)
        decision.challenger_log_loss = verdict.challenger_log_loss
        decision.challenger_accuracy = verdict.accuracy
        decision.baseline_log_loss = verdict.baseline_log_loss
        skill = verdict.skill
        decision.skill, decision.skill_se = skill.mean, skill.se
        decision.skill_z, decision.skill_ess = skill.z, skill.ess
        if champion_p is not None:
            decision.champion_log_loss = verdict.champion_log_loss
            decision.champion_accuracy = score(champion_p, holdout.y).accuracy
        if verdict.improvement is not None:
            gain = verdict.improvement
            decision.improvement, decision.improvement_se = gain.mean, gain.se
            decision.improvement_z, decision.improvement_ess = gain.z, gain.ess
        decision.horizon_rows = verdict.horizon_rows
        decision.block_length = verdict.block_length
        decision.significance_z = gate.significance_z
        decision.min_improvement = gate.min_improvement
        decision.min_accuracy = gate.min_accuracy
        decision.gate_passed = verdict.promote
        decision.forced = force and not verdict.promote
        promote = verdict.promote or force
        if verdict.promote:
            decision.reason = f"promoted: {verdict.reason}"
        elif force:
            decision.reason = f"forced; the gate said not promoted: {verdict.reason}"
        else:
            decision.reason = f"not promoted: {verdict.reason}"
        decision.outcome = PROMOTED if promote else KEPT
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
