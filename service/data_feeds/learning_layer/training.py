"""TrainingModule: datasets from stored history through the live feature code, models trained on
them in small batches, every dataset and run recorded in Redis.

Train/serve parity: ``prepare_dataset`` reads the stored streams back (``DBConnector``
``backfill_entries``: price, trade, book and sentiment records in event-time order) and runs
each record through the same stages as the live service: a ``DataCleaner`` (duplicates, late
records and spikes never reach the indicators), then ``SignalGenerator.observe`` (the per-symbol
``Indicators`` and ``signals.features``, the very code that prepares a live tick), and labels
each tick as the live generator does: ``label_move`` between its price and the price of the
symbol's first clean tick at or after ``t + horizon_s``; moves inside the dead band are not
labelled. A tick whose horizon has not passed by the end of the history gets no row.

``train_model`` trains a fresh river model (``signals.build_model``) on the oldest part of the
rows in mini-batches (each batch is predicted before it is learned: progressive validation) and
scores it on the most recent ``holdout_fraction`` of the rows, which it never learned from.
Training rows whose label was read from a tick inside the holdout period are left out (purged),
so no holdout price leaks into training. A trained model is registered as a candidate version
in the ``ModelRegistry``; promotion is the retraining loop's decision.

Too little data is not an error: ``prepare_dataset`` returns a dataset whose ``too_small`` is
true and whose ``message`` says so, and ``train_model`` returns a ``TrainingResult`` with
``status="insufficient_data"`` (logged, recorded, nothing registered).

Everything here is synchronous and CPU-bound: the service runs it in a separate process
(``learning_layer.retraining.retrain_in_subprocess``), never on its event loop.

Keys (``cache.keys.TRAINING_*``, ``dataset_key``, ``dataset_rows_key``, ``training_run_key``)::

    {training}:datasets              ZSET fingerprint -> creation time
    {training}:dataset:<fp>          JSON metadata (rows, symbols, span, features, stats)
    {training}:dataset:<fp>:rows     zlib-compressed JSON of the rows (newest ``keep_datasets``
                                     datasets within ``dataset_budget_bytes``)
    {training}:run_seq               INCR counter behind run ids
    {training}:runs                  LIST of run summaries (JSON), newest first
    {training}:run:<id>              JSON of one run
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, cast

import orjson
import structlog

from data_feeds.cache.codec import as_text
from data_feeds.cache.db_connector import DBConnector, Entry
from data_feeds.cache.keys import (
    SENTIMENT_STREAMS,
    TRAINING_DATASETS,
    TRAINING_RUN_SEQ,
    TRAINING_RUNS,
    dataset_key,
    dataset_rows_key,
    symbol_streams,
    training_run_key,
)
from data_feeds.indicators import IndicatorConfig
from data_feeds.learning_layer._common import dumps, fmt, push_capped, read_list, render_table
from data_feeds.learning_layer.registry import ModelRegistry
from data_feeds.learning_layer.serving import serve_holdout
from data_feeds.records import HOLD
from data_feeds.settings import Settings
from data_feeds.signals.features import FEATURE_NAMES
from data_feeds.signals.generator import SignalGenerator, build_model
from data_feeds.signals.labels import OutcomeBuffer, check_learn_interval, label_move
from data_feeds.signals.model_step import stepper
from data_feeds.signals.positions import book_cost_bps
from data_feeds.signals.scoring import Scorecard
from data_feeds.signals.serving import FROZEN, ONLINE, check_serving
from data_feeds.signals.threshold import Threshold, ThresholdPolicy
from data_feeds.timestamps import TimeBound
from data_feeds.validation.cleaner import ACCEPT, DataCleaner
from data_feeds.validation.cleaner_config import CleanerConfig

log = structlog.get_logger(__name__)

TRAINED: Final = "trained"
INSUFFICIENT_DATA: Final = "insufficient_data"

DATASET_FORMAT: Final = "data-feeds-dataset/1"
_EPS: Final = 1e-15
_MAX_PENDING: Final = 10_000_000
"""Per-symbol pending ticks while building a dataset (the live buffer is smaller; a dataset
keeps every labelled tick)."""


# -- datasets ----------------------------------------------------------------------------------


def history_patterns(symbols: Sequence[str] | None, pattern: str = "*") -> list[str]:
    """The input streams a dataset reads: these ``symbols``' price, trade and book streams, or
    every stream matching ``pattern``; sentiment streams always (the indicators match them to
    symbols by keyword)."""
    patterns = [pattern] if symbols is None else [symbol_streams(s.upper()) for s in symbols]
    patterns.append(SENTIMENT_STREAMS)
    return patterns


def fingerprint_rows(
    feature_names: Sequence[str],
    timestamps: Sequence[float],
    symbols: Sequence[str],
    x_rows: Sequence[Sequence[float]],
    y: Sequence[int],
    *,
    learn: Sequence[bool] = (),
    learn_interval_s: float = 0.0,
) -> str:
    """sha256 of the canonical rows: a header line with the feature names, then one line
    ``[timestamp, symbol, [features...], label]`` per row (orjson, shortest float repr); with a
    learning interval, a last line ``["learn", interval, [flags...]]``."""
    h = hashlib.sha256(orjson.dumps([DATASET_FORMAT, list(feature_names)]))
    for ts, sym, x, label in zip(timestamps, symbols, x_rows, y, strict=True):
        h.update(b"\n")
        h.update(orjson.dumps([ts, sym, x, label]))
    if learn_interval_s:
        h.update(b"\n")
        h.update(orjson.dumps(["learn", learn_interval_s, list(learn)]))
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Dataset:
    """Labelled feature rows in event-time order.

    ``x_rows[i]`` holds the features of row ``i`` in ``feature_names`` order and ``y[i]`` its label
    (1: up, 0: down); ``timestamps[i]`` is the tick's time, ``label_timestamps[i]`` the time of
    the tick the label was read from, ``symbols[i]`` its symbol. ``rows`` gives the
    ``(features dict, label)`` pairs.
    """

    feature_names: tuple[str, ...]
    x_rows: list[list[float]]
    y: list[int]
    timestamps: list[float]
    label_timestamps: list[float]
    symbols: list[str]
    horizon_s: float
    dead_band_bps: float
    fingerprint: str
    min_rows: int = 100
    stats: Mapping[str, Any] = field(default_factory=dict)
    """How the rows came about: records read, rejected, dropped by the cleaner, unlabelled..."""
    signal_ids: list[str] = field(default_factory=list)
    """Per row, ``{stream}/{entry_id}`` of its tick: the ``signal_id`` the live service gives
    that tick's signal (empty for a dataset stored before rows carried it)."""
    prices: list[float] = field(default_factory=list)
    """Per row, its tick's price (empty for a dataset stored before rows carried it): the
    backtest's threshold calibration marks positions on these."""
    learn_interval_s: float = 0.0
    """The learning interval the rows were sampled with (``OutcomeBuffer.sample``)."""
    learn: list[bool] = field(default_factory=list)
    """Per row, whether the online model learns it once matured, as the live generator
    sampled its tick (empty: every row, as with a learning interval of 0)."""

    @classmethod
    def build(
        cls,
        *,
        feature_names: Sequence[str],
        x_rows: list[list[float]],
        y: list[int],
        timestamps: list[float],
        label_timestamps: list[float],
        symbols: list[str],
        horizon_s: float,
        dead_band_bps: float,
        min_rows: int = 100,
        stats: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
        signal_ids: list[str] | None = None,
        prices: list[float] | None = None,
        learn_interval_s: float = 0.0,
        learn: list[bool] | None = None,
    ) -> Dataset:
        """A dataset with its fingerprint computed from the rows (unless given)."""
        n = len(y)
        if not len(x_rows) == len(timestamps) == len(label_timestamps) == len(symbols) == n:
            raise ValueError("x_rows, y, timestamps, label_timestamps and symbols differ in length")
        if signal_ids and len(signal_ids) != n:
            raise ValueError("signal_ids and y differ in length")
        if prices and len(prices) != n:
            raise ValueError("prices and y differ in length")
        if learn and len(learn) != n:
            raise ValueError("learn and y differ in length")
        names = tuple(feature_names)
        flags = list(learn or []) if learn_interval_s else []
        return cls(
            feature_names=names,
            x_rows=x_rows,
            y=y,
            timestamps=timestamps,
            label_timestamps=label_timestamps,
            symbols=symbols,
            horizon_s=float(horizon_s),
            dead_band_bps=float(dead_band_bps),
            fingerprint=(
                fingerprint_rows(
                    names,
                    timestamps,
                    symbols,
                    x_rows,
                    y,
                    learn=flags,
                    learn_interval_s=float(learn_interval_s),
                )
                if fingerprint is None
                else fingerprint
            ),
            min_rows=min_rows,
            stats=dict(stats or {}),
            signal_ids=list(signal_ids or []),
            prices=list(prices or []),
            learn_interval_s=float(learn_interval_s),
            learn=flags,
        )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def rows(self) -> list[tuple[dict[str, float], int]]:
        """``(features dict, label)`` per row (built on demand)."""
        names = self.feature_names
        return [
            (dict(zip(names, x, strict=True)), label)
            for x, label in zip(self.x_rows, self.y, strict=True)
        ]

    @property
    def span(self) -> tuple[float, float] | None:
        """First and last row time (epoch seconds), ``None`` when empty."""
        return (self.timestamps[0], self.timestamps[-1]) if self.timestamps else None

    @property
    def symbol_set(self) -> list[str]:
        return sorted(set(self.symbols))

    @property
    def too_small(self) -> bool:
        """Fewer rows than ``min_rows``: not enough to train and validate a model."""
        return len(self) < self.min_rows

    @property
    def short_of_rows(self) -> str:
        """Why there are too few rows (``too_small``), for people."""
        text = f"too little data: {len(self)} rows, need at least {self.min_rows}"
        records, ticks = self.stats.get("records", 0), self.stats.get("price_ticks")
        if records and ticks == 0:  # e.g. trades only: rows come from price ticks
            text += f" (no price tick among the {records:,} records read: rows are price ticks)"
        return text

    @property
    def message(self) -> str:
        if self.too_small:
            return self.short_of_rows
        span = self.span
        assert span is not None
        return (
            f"{len(self)} rows, {len(self.symbol_set)} symbols, "
            f"{span[1] - span[0]:.0f} s of history"
        )

    def subset(self, start: int, stop: int, keep: Sequence[int] | None = None) -> Dataset:
        """Rows ``start:stop`` (or the listed indices ``keep``) as a dataset of their own.

        Its fingerprint names the parent and the rows taken (cheap: no rehash of the rows).
        """
        idx: Iterable[int] = range(start, stop) if keep is None else keep
        idx = list(idx)
        label = f"{self.fingerprint}/{start}:{stop}/{len(idx)}"
        return Dataset.build(
            fingerprint=hashlib.sha256(label.encode()).hexdigest(),
            feature_names=self.feature_names,
            x_rows=[self.x_rows[i] for i in idx],
            y=[self.y[i] for i in idx],
            timestamps=[self.timestamps[i] for i in idx],
            label_timestamps=[self.label_timestamps[i] for i in idx],
            symbols=[self.symbols[i] for i in idx],
            horizon_s=self.horizon_s,
            dead_band_bps=self.dead_band_bps,
            min_rows=self.min_rows,
            signal_ids=[self.signal_ids[i] for i in idx] if self.signal_ids else None,
            prices=[self.prices[i] for i in idx] if self.prices else None,
            learn_interval_s=self.learn_interval_s,
            learn=[self.learn[i] for i in idx] if self.learn else None,
        )

    def split(self, holdout_fraction: float) -> tuple[Dataset, Dataset]:
        """``(train, holdout)``: the holdout is the most recent ``holdout_fraction`` of the rows
        (rows sharing the cut-off time all go to the holdout); training rows whose label tick
        falls inside the holdout period are purged."""
        if not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
        n = len(self)
        if n == 0:
            return self.subset(0, 0), self.subset(0, 0)
        n_holdout = max(1, round(n * holdout_fraction))
        cut = n - n_holdout
        cutoff = self.timestamps[cut]
        while cut > 0 and self.timestamps[cut - 1] >= cutoff:
            cut -= 1
        train = [i for i in range(cut) if self.label_timestamps[i] < cutoff]
        return self.subset(0, cut, train), self.subset(cut, n)

    def meta(self) -> dict[str, Any]:
        """What is recorded about the dataset (everything but the rows)."""
        span = self.span
        return {
            "fingerprint": self.fingerprint,
            "rows": len(self),
            "symbols": self.symbol_set,
            "span": None if span is None else list(span),
            "feature_names": list(self.feature_names),
            "horizon_s": self.horizon_s,
            "dead_band_bps": self.dead_band_bps,
            "learn_interval_s": self.learn_interval_s,
            "up_fraction": sum(self.y) / len(self) if len(self) else None,
            "stats": dict(self.stats),
        }

    def to_blob(self) -> bytes:
        """The rows, zlib-compressed JSON (what ``training:dataset:{fp}:rows`` holds)."""
        doc = {
            "format": DATASET_FORMAT,
            "feature_names": list(self.feature_names),
            "horizon_s": self.horizon_s,
            "dead_band_bps": self.dead_band_bps,
            "timestamps": self.timestamps,
            "label_timestamps": self.label_timestamps,
            "symbols": self.symbols,
            "x_rows": self.x_rows,
            "y": self.y,
            "signal_ids": self.signal_ids,
            "prices": self.prices,
            "learn_interval_s": self.learn_interval_s,
            "learn": self.learn,
        }
        return zlib.compress(orjson.dumps(doc), 1)

    @classmethod
    def from_blob(cls, blob: bytes, *, min_rows: int = 100) -> Dataset:
        doc = orjson.loads(zlib.decompress(blob))
        if doc.get("format") != DATASET_FORMAT:
            raise ValueError(f"not a stored dataset (format {doc.get('format')!r})")
        return cls.build(
            feature_names=doc["feature_names"],
            x_rows=doc["x_rows"],
            y=doc["y"],
            timestamps=doc["timestamps"],
            label_timestamps=doc["label_timestamps"],
            symbols=doc["symbols"],
            horizon_s=doc["horizon_s"],
            dead_band_bps=doc["dead_band_bps"],
            min_rows=min_rows,
            signal_ids=doc.get("signal_ids"),
            prices=doc.get("prices"),
            learn_interval_s=doc.get("learn_interval_s", 0.0),
            learn=doc.get("learn"),
        )


class FeatureReplay:
    """Stored records in, labelled feature rows out: the live cleaner, indicators, features and
    labelling rule, without a model."""

    def __init__(
        self,
        *,
        horizon_s: float,
        dead_band_bps: float = 0.0,
        learn_interval_s: float = 0.0,
        indicator_config: IndicatorConfig | None = None,
        cleaner: DataCleaner | None = None,
    ) -> None:
        self.horizon_s = horizon_s
        self.dead_band_bps = dead_band_bps
        self.learn_interval_s = learn_interval_s
        self.cleaner = cleaner or DataCleaner()
        # The generator's observe() is the live "indicators + features" step; its model is
        # never asked for anything here, and its per-symbol outcome buffers hold the rows
        # waiting for their labels.
        self.generator = SignalGenerator(
            horizon_s=horizon_s,
            dead_band_bps=dead_band_bps,
            learn_interval_s=learn_interval_s,
            max_pending=_MAX_PENDING,
            indicator_config=indicator_config,
            calendars=self.cleaner.calendars,
        )
        self.names = FEATURE_NAMES
        self.x_rows: list[list[float]] = []
        self.y: list[int] = []
        self.timestamps: list[float] = []
        self.label_timestamps: list[float] = []
        self.symbols: list[str] = []
        self.signal_ids: list[str] = []
        self.prices: list[float] = []
        self.learn: list[bool] = []
        self.records = 0
        self.ticks = 0
        """Price ticks the cleaner accepted: the rows' candidates."""
        self.cleaned_out: dict[str, int] = {}
        self.unlabelled = 0
        self._waiting: dict[str, deque[tuple[str, bool]]] = {}
        """Per symbol, the signal id of each row waiting in its outcome buffer, in order, and
        whether the live generator would learn it (``OutcomeBuffer.sample``)."""

    def feed(self, entries: Iterable[Entry]) -> None:
        clean = self.cleaner.clean
        observe = self.generator.observe
        dead_band = self.dead_band_bps
        for entry in entries:
            record = entry.record
            self.records += 1
            result = clean(record)
            if result.action != ACCEPT:
                self.cleaned_out[result.action] = self.cleaned_out.get(result.action, 0) + 1
                continue
            prepared = observe(record)
            if prepared is None:
                continue
            self.ticks += 1
            tick, state, features_now = prepared
            buffer = state.outcomes
            price, ts = tick.price, tick.timestamp
            ids = self._waiting.get(tick.symbol)
            if ids is None:
                ids = self._waiting[tick.symbol] = deque()
            for pending in buffer.mature(ts):
                signal_id, learn = ids.popleft()
                label = label_move(pending.price, price, dead_band)
                if label is None:
                    self.unlabelled += 1
                    continue
                assert pending.x is not None  # pushed with its features, sampled or not
                self.x_rows.append(list(pending.x))
                self.y.append(label)
                self.timestamps.append(pending.timestamp)
                self.label_timestamps.append(ts)
                self.symbols.append(tick.symbol)
                self.signal_ids.append(signal_id)
                self.prices.append(pending.price)
                self.learn.append(learn)
            dropped = buffer.dropped
            learn = buffer.sample(ts)
            buffer.push(ts, price, features_now.values(), 0.5, action=HOLD, model_version="")
            ids.append((entry.signal_id, learn))
            if buffer.dropped > dropped:  # the oldest row went unlabelled (not with 10M)
                ids.popleft()

    def dataset(self, *, min_rows: int, stats: Mapping[str, Any]) -> Dataset:
        order = sorted(range(len(self.y)), key=lambda i: (self.timestamps[i], self.symbols[i]))
        unmatured = sum(self.generator.pending(s) for s in self.generator.symbols)
        all_stats = {
            **stats,
            "records": self.records,
            "price_ticks": self.ticks,
            "cleaned_out": dict(self.cleaned_out),
            "unlabelled": self.unlabelled,
            "unmatured": unmatured,
        }
        return Dataset.build(
            feature_names=self.names,
            x_rows=[self.x_rows[i] for i in order],
            y=[self.y[i] for i in order],
            timestamps=[self.timestamps[i] for i in order],
            label_timestamps=[self.label_timestamps[i] for i in order],
            symbols=[self.symbols[i] for i in order],
            signal_ids=[self.signal_ids[i] for i in order],
            prices=[self.prices[i] for i in order],
            learn_interval_s=self.learn_interval_s,
            learn=[self.learn[i] for i in order],
            horizon_s=self.horizon_s,
            dead_band_bps=self.dead_band_bps,
            min_rows=min_rows,
            stats=all_stats,
        )


# -- models ------------------------------------------------------------------------------------


def predict_probabilities(model: Any, dataset: Dataset) -> list[float]:
    """P(up) of each row, the model left unchanged (``serve_holdout`` in the frozen mode)."""
    return serve_holdout(model, dataset, FROZEN)


def log_losses(probabilities: Sequence[float], labels: Sequence[int]) -> list[float]:
    """Per-row log loss (natural log), probabilities clipped to [1e-15, 1 - 1e-15]."""
    out = []
    for p, label in zip(probabilities, labels, strict=True):
        q = min(max(p, _EPS), 1.0 - _EPS)
        out.append(-math.log(q) if label == 1 else -math.log(1.0 - q))
    return out


def score(probabilities: Sequence[float], labels: Sequence[int]) -> Scorecard:
    card = Scorecard()
    for p, label in zip(probabilities, labels, strict=True):
        card.update(p, label, HOLD)
    return card


def baseline_log_loss(base_rate: float, labels: Sequence[int]) -> float | None:
    """Log loss of always predicting ``base_rate`` (the no-skill reference)."""
    if not labels:
        return None
    return sum(log_losses([base_rate] * len(labels), labels)) / len(labels)


class FitOutcome(NamedTuple):
    model: Any
    metrics: dict[str, Any]
    train: Dataset
    holdout: Dataset
    holdout_p: list[float]
    """P(up) of each holdout row, served in the serving mode (``serve_holdout``)."""


def fit_model(
    dataset: Dataset,
    *,
    model_name: str = "default",
    model_params: Mapping[str, Any] | None = None,
    batch_size: int = 256,
    holdout_fraction: float = 0.2,
    serving: str = ONLINE,
) -> FitOutcome:
    """Train a fresh model on ``dataset`` (no I/O): the CPU-bound core of ``train_model``.

    Delayed progressive validation, as the live generator does it: the training rows are
    visited in time order; each is predicted with the model as it stands and scored, and a
    row is learned only once its label would have been known, i.e. when a later row's time
    reaches the row's ``label_timestamp``. Learning a row before predicting the next ones
    would score the model on outcomes it had already seen whenever labels overlap (a horizon
    longer than the spacing of rows). The model is stepped on the rows as they are
    (``signals.model_step``, as live); ``batch_size`` is checked and otherwise unused since.
    The holdout is scored at the end in the ``serving`` mode the model is trained for
    (``serve_holdout``: ``online`` learns each holdout row once it has matured, as live, on a
    copy; ``frozen`` only predicts); the model returned is the one trained, before the holdout.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    check_serving(serving)
    train, holdout = dataset.split(holdout_fraction)
    model = build_model(model_name, model_params)
    names = dataset.feature_names
    progressive = Scorecard()
    step = stepper(model, names)
    predict, learn = step.predict, step.learn
    x_rows, y = train.x_rows, train.y
    times, label_times = train.timestamps, train.label_timestamps
    waiting: list[tuple[float, int]] = []  # (label time, row) heap: symbols interleave
    for i, x in enumerate(x_rows):
        now = times[i]
        while waiting and waiting[0][0] <= now:
            j = heapq.heappop(waiting)[1]
            learn(x_rows[j], y[j] == 1)
        progressive.update(predict(x), y[i], HOLD)
        heapq.heappush(waiting, (label_times[i], i))
    while waiting:  # the train part's labels all precede the holdout
        j = heapq.heappop(waiting)[1]
        learn(x_rows[j], y[j] == 1)
    step.flush()
    probabilities = serve_holdout(model, holdout, serving)
    held = score(probabilities, holdout.y)
    train_rate = sum(train.y) / len(train) if len(train) else 0.5
    metrics: dict[str, Any] = {
        "serving": serving,
        "n_rows": len(dataset),
        "n_train": len(train),
        "n_holdout": len(holdout),
        "n_purged": len(dataset) - len(train) - len(holdout),
        # the holdout's span: `data-feeds evaluate --start` of it scores the served signals
        # of exactly these rows (docs/serving.md)
        "holdout_start": holdout.timestamps[0] if len(holdout) else None,
        "holdout_end": holdout.timestamps[-1] if len(holdout) else None,
        "progressive_accuracy": progressive.accuracy,
        "progressive_log_loss": progressive.log_loss,
        "progressive_brier": progressive.brier,
        "holdout_accuracy": held.accuracy,
        "holdout_log_loss": held.log_loss,
        "holdout_brier": held.brier,
        "holdout_up_fraction": sum(holdout.y) / len(holdout) if len(holdout) else None,
        "train_up_fraction": train_rate,
        "holdout_baseline_log_loss": baseline_log_loss(train_rate, holdout.y),
    }
    return FitOutcome(model, metrics, train, holdout, probabilities)


@dataclass(slots=True)
class TrainingResult:
    """One training run: its status, metrics and (when trained) the registered version.

    ``status`` is ``"trained"`` or ``"insufficient_data"`` (then ``message`` says how many rows
    there were and how many are needed, and ``model`` is ``None``).
    """

    status: str
    message: str
    model_name: str
    dataset_fingerprint: str
    n_rows: int
    metrics: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    run_id: str | None = None
    duration_s: float = 0.0
    model: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == TRAINED

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "message": self.message,
            "model_name": self.model_name,
            "version": self.version,
            "dataset_fingerprint": self.dataset_fingerprint,
            "n_rows": self.n_rows,
            "metrics": self.metrics,
            "duration_s": self.duration_s,
        }

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=True).decode()

    def to_table(self) -> str:
        rows = [
            ("run", self.run_id),
            ("status", self.status),
            ("message", self.message),
            ("model", self.model_name),
            ("version", self.version),
            ("dataset", self.dataset_fingerprint[:16]),
            ("rows", self.n_rows),
            *((k, fmt(v)) for k, v in self.metrics.items()),
            ("duration_s", round(self.duration_s, 3)),
        ]
        return render_table(("field", "value"), rows)


class TrainingModule:
    """Datasets from stored history and models trained on them, recorded in Redis.

    Defaults come from ``settings`` (the connector's when not given): ``horizon_s``,
    ``dead_band_bps``, ``learn_interval_s``, ``model``, ``model_params`` and ``serving`` are the
    live service's, so a
    trained model predicts what the live generator learns, and is validated (and recorded) in
    the mode it will be served in. ``threshold``: how a version's BUY/SELL margin is chosen
    (``signals.threshold``; the settings' ``threshold``, ``margin`` and ``cost_bps`` when
    ``None``), recorded with the version. ``min_rows``: smallest dataset worth
    training on. ``cleaner_config``: the cleaner's configuration (the settings', as live,
    when ``None``). Dataset rows are kept for the newest ``keep_datasets`` datasets within
    ``dataset_budget_bytes`` (compressed) in all; their metadata for the newest
    ``keep_dataset_meta``.
    """

    def __init__(
        self,
        db: DBConnector,
        *,
        settings: Settings | None = None,
        horizon_s: float | None = None,
        dead_band_bps: float | None = None,
        learn_interval_s: float | None = None,
        model_name: str | None = None,
        model_params: Mapping[str, Any] | None = None,
        serving: str | None = None,
        threshold: ThresholdPolicy | None = None,
        batch_size: int = 256,
        holdout_fraction: float = 0.2,
        min_rows: int = 100,
        indicator_config: IndicatorConfig | None = None,
        cleaner_config: CleanerConfig | None = None,
        registry: ModelRegistry | None = None,
        keep_datasets: int = 5,
        dataset_budget_bytes: int = 256 * 1024 * 1024,
        keep_dataset_meta: int = 1000,
        keep_runs: int = 1000,
    ) -> None:
        self.db = db
        self.settings = settings or db.settings
        s = self.settings
        self.horizon_s = float(s.horizon_s if horizon_s is None else horizon_s)
        self.dead_band_bps = float(s.dead_band_bps if dead_band_bps is None else dead_band_bps)
        self.learn_interval_s = check_learn_interval(
            float(s.learn_interval_s if learn_interval_s is None else learn_interval_s)
        )
        OutcomeBuffer(self.horizon_s, 1)  # validates the horizon
        if not (self.dead_band_bps >= 0.0 and math.isfinite(self.dead_band_bps)):
            raise ValueError(f"dead_band_bps must be a finite number >= 0, got {dead_band_bps!r}")
        self.model_name = s.model if model_name is None else model_name
        self.model_params = dict(s.model_params if model_params is None else model_params)
        build_model(self.model_name, self.model_params)  # fails now, not after a long replay
        self.serving = check_serving(s.serving if serving is None else serving)
        self.threshold = threshold or ThresholdPolicy(
            s.threshold, margin=s.margin, cost_bps=s.cost_bps
        )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction!r}")
        if min_rows < 2:
            raise ValueError(f"min_rows must be >= 2, got {min_rows!r}")
        for name, value in (
            ("keep_datasets", keep_datasets),
            ("dataset_budget_bytes", dataset_budget_bytes),
            ("keep_dataset_meta", keep_dataset_meta),
            ("keep_runs", keep_runs),
        ):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        self.batch_size = batch_size
        self.holdout_fraction = holdout_fraction
        self.min_rows = min_rows
        self.indicator_config = indicator_config
        self.cleaner_config = s.cleaner if cleaner_config is None else cleaner_config
        self._registry = registry
        self.keep_datasets = keep_datasets
        self.dataset_budget_bytes = dataset_budget_bytes
        self.keep_dataset_meta = keep_dataset_meta
        self.keep_runs = keep_runs

    @property
    def registry(self) -> ModelRegistry:
        """The model registry trained models are registered in (created on first use)."""
        if self._registry is None:
            self._registry = ModelRegistry(self.db)
        return self._registry

    # -- datasets ----------------------------------------------------------------------------

    def prepare_dataset(
        self,
        symbols: Sequence[str] | None = None,
        *,
        pattern: str = "*",
        start: TimeBound = None,
        end: TimeBound = None,
        horizon_s: float | None = None,
        store: bool = True,
    ) -> Dataset:
        """Replay stored history into labelled feature rows (see the module doc).

        ``symbols``: only these symbols' price, trade and book streams (any asset class);
        otherwise every input stream matching ``pattern``. Sentiment streams are always read:
        the indicators match them to symbols by keyword. ``start``/``end`` bound event time.
        ``store``: record the dataset in Redis.
        """
        t0 = time.perf_counter()
        ordered = self.db.backfill_entries(history_patterns(symbols, pattern), start, end)
        dataset = self.replay(ordered, rejected=self.db.last_backfill_rejects, horizon_s=horizon_s)
        if store:
            self._store_dataset(dataset)
        log.info(
            "dataset_prepared",
            fingerprint=dataset.fingerprint[:16],
            rows=len(dataset),
            symbols=len(dataset.symbol_set),
            records=dataset.stats.get("records"),
            too_small=dataset.too_small,
            duration_s=round(time.perf_counter() - t0, 3),
        )
        return dataset

    def replay(
        self,
        entries: Sequence[Entry],
        *,
        rejected: Mapping[str, int] | None = None,
        horizon_s: float | None = None,
    ) -> Dataset:
        """The dataset of entries already read (``backfill_entries``' order), not stored:
        ``prepare_dataset`` without the reading."""
        horizon = self.horizon_s if horizon_s is None else float(horizon_s)
        replay = FeatureReplay(
            horizon_s=horizon,
            dead_band_bps=self.dead_band_bps,
            learn_interval_s=self.learn_interval_s,
            indicator_config=self.indicator_config,
            cleaner=DataCleaner(self.cleaner_config),
        )
        replay.feed(entries)
        streams = {entry.stream for entry in entries}
        return replay.dataset(
            min_rows=self.min_rows,
            stats={"streams": len(streams), "rejected": dict(rejected or {})},
        )

    def _store_dataset(self, dataset: Dataset) -> None:
        r = self.db.redis
        blob = dataset.to_blob()
        meta = dataset.meta()
        meta["created_at"] = now = time.time()
        meta["rows_bytes"] = len(blob)
        meta["rows_stored"] = len(blob) <= self.dataset_budget_bytes
        fp = dataset.fingerprint
        with r.pipeline(transaction=True) as pipe:
            pipe.set(dataset_key(fp), dumps(meta))
            if meta["rows_stored"]:
                pipe.set(dataset_rows_key(fp), blob)
            pipe.zadd(TRAINING_DATASETS, {fp: now})
            pipe.execute()
        if not meta["rows_stored"]:
            log.warning(
                "dataset_rows_not_stored",
                fingerprint=fp[:16],
                rows_bytes=len(blob),
                budget_bytes=self.dataset_budget_bytes,
            )
        self._enforce_retention()

    def _enforce_retention(self) -> None:
        r = self.db.redis
        newest_first = [as_text(f) for f in r.zrevrange(TRAINING_DATASETS, 0, -1)]
        with r.pipeline(transaction=False) as pipe:
            for fp in newest_first:
                pipe.strlen(dataset_rows_key(fp))
            sizes = pipe.execute()
        keep_rows = 0
        total = 0
        drop_rows: list[str] = []
        for fp, size in zip(newest_first, sizes, strict=True):
            if not size:
                continue
            if keep_rows < self.keep_datasets and total + int(size) <= self.dataset_budget_bytes:
                keep_rows += 1
                total += int(size)
            else:
                drop_rows.append(dataset_rows_key(fp))
        drop_meta = newest_first[self.keep_dataset_meta :]
        with r.pipeline(transaction=False) as pipe:
            if drop_rows:
                pipe.delete(*drop_rows)
            if drop_meta:
                pipe.delete(*(dataset_key(fp) for fp in drop_meta))
                pipe.delete(*(dataset_rows_key(fp) for fp in drop_meta))
                pipe.zrem(TRAINING_DATASETS, *drop_meta)
            pipe.execute()

    def datasets(self) -> list[dict[str, Any]]:
        """Metadata of the recorded datasets, newest first."""
        r = self.db.redis
        fps = [as_text(f) for f in r.zrevrange(TRAINING_DATASETS, 0, -1)]
        if not fps:
            return []
        with r.pipeline(transaction=False) as pipe:
            pipe.mget([dataset_key(fp) for fp in fps])
            for fp in fps:
                pipe.exists(dataset_rows_key(fp))
            raws, *stored = pipe.execute()
        out = []
        for raw, rows_stored in zip(raws, stored, strict=True):
            if raw is None:
                continue
            meta = orjson.loads(raw)
            meta["rows_stored"] = bool(rows_stored)
            out.append(meta)
        return out

    def load_dataset(self, fingerprint: str) -> Dataset:
        """A recorded dataset back from Redis (``LookupError`` if its rows are not kept)."""
        blob = self.db.redis.get(dataset_rows_key(fingerprint))
        if blob is None:
            raise LookupError(f"dataset {fingerprint[:16]}: rows not stored (or evicted)")
        dataset = Dataset.from_blob(cast(bytes, blob), min_rows=self.min_rows)
        if dataset.fingerprint != fingerprint:
            raise ValueError(f"dataset {fingerprint[:16]}: stored rows do not match")
        return dataset

    # -- training ----------------------------------------------------------------------------

    def train_model(
        self,
        dataset: Dataset,
        *,
        model_name: str | None = None,
        model_params: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
        holdout_fraction: float | None = None,
        register: bool = True,
    ) -> TrainingResult:
        """Train a fresh model on ``dataset``; the run is recorded and (``register``) the model
        registered as a candidate version. Never raises for too little data: see
        ``TrainingResult.status``."""
        name = self.model_name if model_name is None else model_name
        params = self.model_params if model_params is None else dict(model_params)
        batch = self.batch_size if batch_size is None else batch_size
        fraction = self.holdout_fraction if holdout_fraction is None else holdout_fraction
        t0 = time.perf_counter()
        run_id = self._next_run_id()
        message = self.too_little(dataset, fraction)
        if message is not None:
            result = TrainingResult(
                status=INSUFFICIENT_DATA,
                message=message,
                model_name=name,
                dataset_fingerprint=dataset.fingerprint,
                n_rows=len(dataset),
                run_id=run_id,
            )
            log.warning("training_skipped", run_id=run_id, reason=result.message)
            self._record_run(result)
            return result
        outcome = fit_model(
            dataset,
            model_name=name,
            model_params=params,
            batch_size=batch,
            holdout_fraction=fraction,
            serving=self.serving,
        )
        metrics = outcome.metrics
        metrics["holdout_fraction"] = fraction
        metrics["batch_size"] = batch
        threshold = self.choose_threshold(outcome)
        metrics["threshold_policy"] = threshold.policy
        metrics["margin"] = threshold.margin
        result = TrainingResult(
            status=TRAINED,
            message=(
                f"trained on {metrics['n_train']} rows, holdout {metrics['n_holdout']} rows: "
                f"accuracy {fmt(metrics['holdout_accuracy'])}, "
                f"log loss {fmt(metrics['holdout_log_loss'])}"
            ),
            model_name=name,
            dataset_fingerprint=dataset.fingerprint,
            n_rows=len(dataset),
            metrics=metrics,
            run_id=run_id,
            model=outcome.model,
        )
        if register:
            version = self.registry.register(
                outcome.model,
                model_name=name,
                dataset_fingerprint=dataset.fingerprint,
                metrics=metrics,
                serving=self.serving,
                threshold=threshold.to_dict(),
                extra={
                    "run_id": run_id,
                    "model_params": params,
                    "horizon_s": dataset.horizon_s,
                    "dead_band_bps": dataset.dead_band_bps,
                    "learn_interval_s": dataset.learn_interval_s,
                },
            )
            result.version = version.version
        result.duration_s = time.perf_counter() - t0
        self._record_run(result)
        log.info(
            "model_trained",
            run_id=run_id,
            version=result.version,
            rows=len(dataset),
            holdout_accuracy=metrics["holdout_accuracy"],
            holdout_log_loss=metrics["holdout_log_loss"],
            duration_s=round(result.duration_s, 3),
        )
        return result

    def choose_threshold(self, outcome: FitOutcome) -> Threshold:
        """The margin for a trained model, from its served holdout (``signals.threshold``)."""
        holdout = outcome.holdout
        prices = holdout.prices if holdout.prices else []
        names = holdout.feature_names
        book: list[float] | None = None
        if "spread_bps" in names and "slippage_bps" in names:
            spread, slip = names.index("spread_bps"), names.index("slippage_bps")
            book = [book_cost_bps(x[spread], x[slip]) for x in holdout.x_rows]
        return self.threshold.choose(outcome.holdout_p, prices, holdout.symbols, book)

    @staticmethod
    def too_little(dataset: Dataset, holdout_fraction: float) -> str | None:
        """Why ``dataset`` cannot train and validate a model with this holdout, else ``None``."""
        if dataset.too_small:
            return dataset.short_of_rows
        if len(dataset.split(holdout_fraction)[0]) < 2:
            return (
                f"too little data: {len(dataset)} rows leave fewer than 2 training rows before "
                f"the holdout (horizon {dataset.horizon_s:g} s)"
            )
        return None

    def fit(self, dataset: Dataset) -> FitOutcome:
        """``fit_model`` with this module's model, parameters, batch size, holdout and serving
        mode; nothing recorded (``train_model`` records and registers)."""
        return fit_model(
            dataset,
            model_name=self.model_name,
            model_params=self.model_params,
            batch_size=self.batch_size,
            holdout_fraction=self.holdout_fraction,
            serving=self.serving,
        )

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Recorded training runs, newest first."""
        return read_list(self.db.redis, TRAINING_RUNS, limit)

    def _next_run_id(self) -> str:
        return f"run-{int(self.db.redis.incr(TRAINING_RUN_SEQ))}"

    def _record_run(self, result: TrainingResult) -> None:
        payload = result.to_dict()
        payload["recorded_at"] = time.time()
        blob = dumps(payload)
        assert result.run_id is not None
        r = self.db.redis
        r.set(training_run_key(result.run_id), blob)
        push_capped(r, TRAINING_RUNS, blob, self.keep_runs)
        number = int(result.run_id.rpartition("-")[2])
        if number > self.keep_runs:  # the per-run key of the run that just left the list
            r.delete(training_run_key(f"run-{number - self.keep_runs}"))
