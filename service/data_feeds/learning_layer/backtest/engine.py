"""Backtest: walk-forward over stored history, each fold's model served as the service serves it.

``Backtest(db, ...).run()``:

1. reads the history once (``DBConnector.backfill_entries``: the one processing order) and
   replays it into labelled feature rows (``TrainingModule.replay``: the live cleaner,
   indicators, features and labels);
2. plans the folds (``windows.WalkForward``: train, embargo of one horizon, test);
3. per fold, does what a retraining cycle does at the end of the training window: trains a
   challenger on the window's rows (``fit_model``: training rows whose label tick is at or
   after the window's end are purged), scores it on its own validation holdout in its serving
   mode, asks the ``PromotionGate`` (against the no-skill baseline and the current champion)
   and chooses its threshold (``signals.threshold``); a challenger the gate refuses is not
   served, the champion stays (``gate=False`` serves every challenger). Before any promotion
   the service serves its untrained ``v0``;
4. serves the history through the live objects (``runtime.app.build_pipeline``: the service's
   ``DataCleaner`` and ``SignalGenerator``): every clean record updates the indicators; in a
   test window every price tick is decided (a signal), the fold's champion swapped in at the
   window's first tick with its margin (``SignalGenerator.swap_model``, as the service's
   scheduler does on a promotion), learning online as live when the serving mode is
   ``online``;
5. turns the signals into positions and PnL (``signals.positions``; a position is taken
   ``delay_bars`` ticks after its signal, default 1), and the same ticks into
   the baselines' positions: always-HOLD (flat), buy-and-hold (long), momentum (the sign of the
   return over the last ``momentum_bars`` ticks) and reversal (its opposite); costs are
   ``cost_bps`` + ``slippage_bps`` per unit of turnover, plus, where the symbol's stored book
   or quotes say so, the book's slippage for one unit (or half the spread);
6. scores each strategy (``performance.Scorer``) with block-bootstrap intervals, compares the
   model with each baseline on the same bars, and says in one line whether it beats
   always-HOLD after costs.

Positions are closed at the last tick of a test window only when the next window does not
start where it ends (``step`` > ``test``); back-to-back windows carry the position over.
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import itertools
import math
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import structlog

from data_feeds.cache.db_connector import DBConnector, Entry
from data_feeds.learning_layer.backtest.performance import Bars, Scorer
from data_feeds.learning_layer.backtest.result import (
    BUY_AND_HOLD,
    HOLD_ALWAYS,
    MODEL,
    MOMENTUM,
    REVERSAL,
    BacktestResult,
    FoldResult,
    TestTicks,
)
from data_feeds.learning_layer.backtest.windows import Fold, WalkForward, Window
from data_feeds.learning_layer.promotion import PromotionGate
from data_feeds.learning_layer.serving import serve_holdout
from data_feeds.learning_layer.skill_test import rows_per_horizon
from data_feeds.learning_layer.training import (
    Dataset,
    TrainingModule,
    history_patterns,
    log_losses,
)
from data_feeds.records import Tick
from data_feeds.runtime.app import build_pipeline
from data_feeds.settings import Settings
from data_feeds.signals.positions import (
    FLAT,
    Ledger,
    book_cost_bps,
    check_hold,
    cost_rate,
    delayed,
    positions_from_actions,
)
from data_feeds.signals.serving import check_serving
from data_feeds.signals.threshold import FIXED, ThresholdPolicy, check_policy
from data_feeds.timestamps import TimeBound
from data_feeds.validation.cleaner import ACCEPT

log = structlog.get_logger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as the run advances (for a terminal's progress)."""


class Backtest:
    """A walk-forward backtest of the model the service would serve (see the module doc).

    Defaults are the service's settings (``db.settings`` unless given): horizon, dead band,
    model and parameters, serving mode, margin, threshold policy and cost. ``train``, ``test``,
    ``step``: window lengths (``windows.Window``: ``"6h"``, ``"500bars"``, ``"50%"``);
    ``anchored``: every training window starts at the beginning. ``hold``: the HOLD rule
    (``flat`` or ``keep``). ``delay_bars``: a signal's position is taken this many ticks later
    (``signals.positions.delayed``; 0 fills at the signal's own price). ``gate``: serve only
    challengers the promotion gate passes.
    ``momentum_bars``: the look-back of the momentum and reversal baselines (default: the ticks
    in one horizon, at least 1). ``n_boot`` / ``seed``: the bootstrap's.
    """

    def __init__(
        self,
        db: DBConnector,
        *,
        settings: Settings | None = None,
        symbols: Sequence[str] | None = None,
        pattern: str = "*",
        start: TimeBound = None,
        end: TimeBound = None,
        train: str | float | Window = "50%",
        test: str | float | Window = "10%",
        step: str | float | Window | None = None,
        anchored: bool = False,
        horizon_s: float | None = None,
        model_name: str | None = None,
        model_params: dict[str, Any] | None = None,
        serving: str | None = None,
        threshold: str | None = None,
        margin: float | None = None,
        cost_bps: float | None = None,
        slippage_bps: float = 0.0,
        book_costs: bool = True,
        hold: str = FLAT,
        delay_bars: int = 1,
        gate: bool = True,
        holdout_fraction: float = 0.2,
        momentum_bars: int | None = None,
        n_boot: int = 2000,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> None:
        base = settings or db.settings
        changes: dict[str, Any] = {}
        for name, value in (
            ("horizon_s", horizon_s),
            ("model", model_name),
            ("model_params", model_params),
            ("serving", serving),
            ("threshold", threshold),
            ("margin", margin),
            ("cost_bps", cost_bps),
        ):
            if value is not None:
                changes[name] = value
        self.settings = s = dataclasses.replace(base, **changes)  # checks margin
        check_serving(s.serving)
        check_policy(s.threshold)
        if not (math.isfinite(s.cost_bps) and s.cost_bps >= 0.0):
            raise ValueError(f"cost_bps must be a finite number >= 0, got {s.cost_bps!r}")
        if not (math.isfinite(slippage_bps) and slippage_bps >= 0.0):
            raise ValueError(f"slippage_bps must be a finite number >= 0, got {slippage_bps!r}")
        if momentum_bars is not None and momentum_bars < 1:
            raise ValueError(f"momentum_bars must be >= 1, got {momentum_bars!r}")
        self.db = db
        self.symbols = None if symbols is None else [x.upper() for x in symbols]
        self.pattern = pattern
        self.start, self.end = start, end
        self.plan = WalkForward(train, test, step, embargo_s=s.horizon_s, anchored=anchored)
        self.hold = check_hold(hold)
        if delay_bars < 0:
            raise ValueError(f"delay_bars must be >= 0, got {delay_bars!r}")
        self.delay_bars = delay_bars
        self.training = TrainingModule(
            db,
            settings=s,
            holdout_fraction=holdout_fraction,
            threshold=ThresholdPolicy(
                s.threshold,
                margin=s.margin,
                cost_bps=s.cost_bps + slippage_bps,
                hold=hold,
                book_costs=book_costs,
                delay=delay_bars,
            ),
        )
        self.slippage_bps = slippage_bps
        self.book_costs = book_costs
        self.gate = PromotionGate(seed=seed) if gate else None
        self.momentum_bars = momentum_bars
        self.n_boot = n_boot
        self.seed = seed
        self.progress = progress
        self.served_model: Any = None
        """The model served at the end of the last run (after its online learning)."""
        if n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {n_boot!r}")

    # -- the run -------------------------------------------------------------------------

    def run(self) -> BacktestResult:
        """Run the backtest (see the module doc); ``ValueError`` when the history is too
        short for one fold."""
        t0 = time.perf_counter()
        entries = self.db.backfill_entries(
            history_patterns(self.symbols, self.pattern), self.start, self.end
        )
        self._report("read", len(entries), len(entries))
        dataset = self.training.replay(entries, rejected=self.db.last_backfill_rejects)
        per_symbol: dict[str, list[float]] = {}
        for e in entries:
            if isinstance(e.record, Tick):
                per_symbol.setdefault(e.record.symbol, []).append(e.record.timestamp)
        times = sorted(t for ts in per_symbol.values() for t in ts)
        folds = self.plan.plan(times)
        if not folds:
            raise ValueError(
                f"the history is too short for one fold: {len(times)} price ticks; train "
                f"{self.plan.train}, test {self.plan.test}, embargo {self.plan.embargo_s:g} s"
            )
        horizon_bars = _bars_per_horizon(per_symbol.values(), self.settings.horizon_s)
        momentum_bars = self.momentum_bars or horizon_bars
        fold_results, served = self._train_folds(dataset, folds)
        ticks = self._serve(entries, folds, served, dataset, momentum_bars)
        result = self._score(
            ticks,
            folds=folds,
            fold_results=fold_results,
            dataset=dataset,
            momentum_bars=momentum_bars,
            horizon_bars=horizon_bars,
        )
        result.coefficients = coefficients(self.served_model)
        result.replay_ticks = len(times)
        result.entries = len(entries)
        result.duration_s = time.perf_counter() - t0
        log.info(
            "backtest_done",
            folds=len(folds),
            ticks=len(ticks),
            verdict=result.verdict,
            duration_s=round(result.duration_s, 3),
        )
        return result

    def _report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    # -- 3. a retraining cycle per fold --------------------------------------------------

    def _train_folds(
        self, dataset: Dataset, folds: Sequence[Fold]
    ) -> tuple[list[FoldResult], list[tuple[Any, float, str] | None]]:
        """Per fold, what it records and what it serves: ``(model, margin, name)`` when a new
        champion starts at its test window, ``None`` when the champion stays."""
        s = self.settings
        training = self.training
        times, label_times = dataset.timestamps, dataset.label_timestamps
        champion: Any = None
        champion_name = "v0"
        results: list[FoldResult] = []
        served: list[tuple[Any, float, str] | None] = []
        for fold in folds:
            self._report("train", fold.index, len(folds))
            lo = bisect.bisect_left(times, fold.train_start)
            hi = bisect.bisect_left(times, fold.train_end)
            keep = [i for i in range(lo, hi) if label_times[i] < fold.train_end]
            train = dataset.subset(lo, hi, keep)
            result = FoldResult(
                fold=fold, train_rows=len(train), train_fingerprint=train.fingerprint
            )
            result.served = champion_name
            results.append(result)
            served.append(None)
            too_little = training.too_little(train, training.holdout_fraction)
            if too_little is not None:
                result.status = "insufficient_data"
                result.reason = too_little
                continue
            outcome = training.fit(train)
            holdout = outcome.holdout
            threshold = training.choose_threshold(outcome)
            result.threshold = threshold.to_dict()
            result.holdout_accuracy = outcome.metrics["holdout_accuracy"]
            result.train_up_fraction = outcome.metrics["train_up_fraction"]
            result.holdout_log_loss = outcome.metrics["holdout_log_loss"]
            promote = True
            if self.gate is not None:
                champion_p = (
                    None if champion is None else serve_holdout(champion, holdout, s.serving)
                )
                verdict = self.gate.judge(
                    outcome.holdout_p,
                    holdout.y,
                    holdout.timestamps,
                    holdout.horizon_s,
                    baseline_rate=outcome.metrics["train_up_fraction"],
                    champion_p=champion_p,
                    champion_name=f"champion {champion_name}",
                )
                promote = verdict.promote
                result.reason = verdict.reason
            else:
                result.reason = "served without the promotion gate"
            if promote:
                champion, champion_name = outcome.model, f"fold-{fold.index}"
                served[-1] = (outcome.model, threshold.margin, champion_name)
                result.status = "promoted"
                result.served = champion_name
                result.margin = threshold.margin
            else:
                result.status = "kept"
        self._report("train", len(folds), len(folds))
        return results, served

    # -- 4. serving, through the live objects --------------------------------------------

    def _serve(
        self,
        entries: Sequence[Entry],
        folds: Sequence[Fold],
        served: Sequence[tuple[Any, float, str] | None],
        dataset: Dataset,
        momentum_bars: int,
    ) -> TestTicks:
        s = self.settings
        pipeline = build_pipeline(s, self.db.validator)
        clean, generator = pipeline.cleaner.clean, pipeline.generator
        observe, decide = generator.observe, generator.decide
        labels = dict(zip(dataset.signal_ids, dataset.y, strict=True)) if dataset.signal_ids else {}
        fixed_bps = s.cost_bps + self.slippage_bps
        ticks = TestTicks()
        history: dict[str, deque[float]] = {}
        k, entered, total = 0, -1, len(entries)
        for n, entry in enumerate(entries):
            if n % 50_000 == 0:
                self._report("serve", n, total)
            record = entry.record
            if clean(record).action != ACCEPT:
                continue
            prepared = observe(record)
            if prepared is None:
                continue
            tick, state, _ = prepared
            past = history.get(tick.symbol)
            if past is None:
                past = history[tick.symbol] = deque(maxlen=momentum_bars + 1)
            past.append(tick.price)
            ts = tick.timestamp
            while k < len(folds) and ts >= folds[k].test_end:
                k += 1
            in_test = k < len(folds) and ts >= folds[k].test_start
            if in_test and entered != k:
                # the newest champion promoted up to this fold (a fold whose test window had
                # no tick still promoted its challenger: the service would serve it)
                swap = next((served[j] for j in range(k, entered, -1) if served[j]), None)
                entered = k
                if swap is not None:
                    model, margin, name = swap
                    generator.swap_model(copy.deepcopy(model), name, margin)
            # every tick is decided, as live: v0 (and a kept champion) keeps learning online
            # between test windows too; only the test windows' signals are recorded
            signal = decide(prepared, entry.entry_id, entry.stream)
            if not in_test:
                continue
            book_bps = 0.0
            if self.book_costs:
                ind = state.indicators
                book_bps = book_cost_bps(ind.spread_bps, ind.book.slippage_bps)
            momentum = 0.0
            if len(past) > momentum_bars:
                momentum = float(np.sign(past[-1] - past[0]))
            ticks.add(
                ts,
                tick.symbol,
                tick.price,
                probability=signal.probability,
                action=signal.action,
                fold=k,
                cost_rate=float(cost_rate(fixed_bps + book_bps)),
                momentum=momentum,
                label=labels.get(entry.signal_id, -1),
                version=generator.model_version,
            )
        self._report("serve", total, total)
        self.served_model = generator.model
        return ticks

    # -- 5, 6. positions, PnL and figures ------------------------------------------------

    def _score(
        self,
        ticks: TestTicks,
        *,
        folds: Sequence[Fold],
        fold_results: list[FoldResult],
        dataset: Dataset,
        momentum_bars: int,
        horizon_bars: int,
    ) -> BacktestResult:
        arrays = ticks.arrays()
        symbols = sorted(set(ticks.symbols))
        fold_of = arrays["fold"]
        # back-to-back test windows form one segment; a gap between windows ends it: the
        # position is closed at its last tick, and the next segment starts flat and fresh
        segment_of = np.zeros(len(folds) + 1, dtype=int)
        for f, g in itertools.pairwise(folds):
            segment_of[g.index] = segment_of[f.index] + (1 if g.test_start > f.test_end else 0)
        segments = segment_of[fold_of] if fold_of.size else fold_of
        by_strategy: dict[str, list[tuple[str, Any, Ledger]]] = {
            name: [] for name in (MODEL, HOLD_ALWAYS, BUY_AND_HOLD, MOMENTUM, REVERSAL)
        }
        positions_of: dict[str, np.ndarray] = {MODEL: np.zeros(len(ticks))}
        last_segment = int(segments.max()) if segments.size else 0
        for symbol in symbols:
            idx = np.flatnonzero(arrays["symbol"] == symbol)
            prices, rates = arrays["price"][idx], arrays["cost_rate"][idx]
            momentum = arrays["momentum"][idx]
            actions = arrays["action"][idx].tolist()
            planned = {
                MODEL: np.zeros(idx.size),
                HOLD_ALWAYS: np.zeros(idx.size),
                BUY_AND_HOLD: np.zeros(idx.size),
                MOMENTUM: np.zeros(idx.size),
                REVERSAL: np.zeros(idx.size),
            }
            here = segments[idx]
            for seg in np.unique(here):
                part = np.flatnonzero(here == seg)
                asked = {
                    MODEL: positions_from_actions([actions[i] for i in part], self.hold),
                    HOLD_ALWAYS: np.zeros(part.size),
                    BUY_AND_HOLD: np.ones(part.size),
                    MOMENTUM: momentum[part],
                    REVERSAL: -momentum[part],
                }
                for name, pos in asked.items():
                    held = delayed(pos, self.delay_bars)
                    if seg != last_segment:
                        held[-1] = 0.0  # closed where the segment ends (a gap follows)
                    planned[name][part] = held
            for name, pos in planned.items():
                if name == MODEL:
                    positions_of[MODEL][idx] = pos
                by_strategy[name].append((symbol, arrays["time"][idx], Ledger(prices, pos, rates)))
        bars = {name: Bars.join(parts) for name, parts in by_strategy.items()}
        span = sum(max(0.0, f.test_end - f.test_start) for f in folds)
        scorer = Scorer(
            bars_per_horizon=horizon_bars,
            span_s=span,
            n_boot=self.n_boot,
            seed=self.seed,
        )
        result = BacktestResult(
            params=self._params(momentum_bars),
            dataset_fingerprint=dataset.fingerprint,
            dataset_rows=len(dataset),
            folds=fold_results,
            symbols=symbols,
            ticks=ticks,
            positions=positions_of[MODEL],
            bars=bars,
        )
        result.figures = {name: scorer.score(b).to_dict() for name, b in bars.items()}
        result.by_symbol = {
            symbol: {
                name: scorer.score(b, b.symbols == symbol).to_dict() for name, b in bars.items()
            }
            for symbol in symbols
        }
        model = bars[MODEL]
        result.versus = {
            name: dataclasses.asdict(scorer.compare(model, b))
            for name, b in bars.items()
            if name != MODEL
        }
        result.forecast = self._forecast(arrays, fold_results, dataset)
        fold_ids = (
            np.concatenate(
                [arrays["fold"][np.flatnonzero(arrays["symbol"] == sym)] for sym in symbols]
            )
            if symbols
            else np.zeros(0, dtype=int)
        )
        for fr in fold_results:
            mask = fold_ids == fr.fold.index
            fr.test_ticks = int(np.count_nonzero(mask))
            if fr.test_ticks:
                fr.model_mean_bps = float(np.mean(model.net_bps[mask]))
                fr.buy_and_hold_mean_bps = float(np.mean(bars[BUY_AND_HOLD].net_bps[mask]))
                in_fold = arrays["fold"] == fr.fold.index
                fr.actions = {
                    a: int(np.sum(in_fold & (arrays["action"] == a)))
                    for a in ("BUY", "SELL", "HOLD")
                }
        result.momentum_bars = momentum_bars
        result.horizon_bars = horizon_bars
        result.annualisation_span_s = span
        return result

    def _forecast(
        self, arrays: dict[str, Any], fold_results: list[FoldResult], dataset: Dataset
    ) -> dict[str, Any]:
        """Accuracy and log loss of the served probabilities on the labelled test ticks, against
        the no-skill forecast (each fold's training up-rate), with a block-bootstrap interval."""
        labelled = arrays["label"] >= 0
        p = arrays["probability"][labelled]
        y = arrays["label"][labelled].astype(int)
        if p.size == 0:
            return {"labelled": 0}
        # the no-skill forecast of each fold: the up-rate of the rows its champion was trained
        # on (the gate's baseline), carried over folds that trained nothing; 0.5 before any
        rates, rate = {}, 0.5
        for fr in fold_results:
            rate = fr.train_up_fraction if fr.train_up_fraction is not None else rate
            rates[fr.fold.index] = rate
        base = [rates[int(f)] for f in arrays["fold"][labelled]]
        model_loss = log_losses(p.tolist(), y.tolist())
        base_loss = log_losses(base, y.tolist())
        times = arrays["time"][labelled]
        order = np.argsort(times, kind="stable")
        h = rows_per_horizon(times[order].tolist(), self.settings.horizon_s)
        diffs = np.asarray(base_loss)[order] - np.asarray(model_loss)[order]
        skill = Scorer(bars_per_horizon=h, span_s=0.0, n_boot=self.n_boot, seed=self.seed)
        interval = skill.interval(diffs)  # h counts the rows of every symbol already
        return {
            "labelled": int(p.size),
            "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
            "log_loss": statistics.fmean(model_loss),
            "no_skill_log_loss": statistics.fmean(base_loss),
            "skill_nats": interval.mean,
            "skill_low": interval.low,
            "skill_high": interval.high,
            "skill_ess": interval.ess,
            "probability_std": float(np.std(p)),
            "up_fraction": float(np.mean(y)),
        }

    def _params(self, momentum_bars: int) -> dict[str, Any]:
        s = self.settings
        return {
            "symbols": self.symbols,
            "pattern": self.pattern,
            "start": self.start,
            "end": self.end,
            "train": str(self.plan.train),
            "test": str(self.plan.test),
            "step": str(self.plan.step),
            "anchored": self.plan.anchored,
            "embargo_s": self.plan.embargo_s,
            "horizon_s": s.horizon_s,
            "dead_band_bps": s.dead_band_bps,
            "model": s.model,
            "model_params": dict(s.model_params),
            "serving": s.serving,
            "learn_interval_s": s.learn_interval_s,
            "threshold": s.threshold,
            "margin": s.margin,
            "cost_bps": s.cost_bps,
            "slippage_bps": self.slippage_bps,
            "book_costs": self.book_costs,
            "hold": self.hold,
            "delay_bars": self.delay_bars,
            "gate": self.gate is not None,
            "holdout_fraction": self.training.holdout_fraction,
            "momentum_bars": momentum_bars,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "fixed_threshold": s.threshold == FIXED,
        }


def _bars_per_horizon(per_symbol: Iterable[Sequence[float]], horizon_s: float) -> int:
    """A symbol's ticks in one horizon: ``skill_test.rows_per_horizon`` of each symbol's own
    ticks, the median over the symbols (>= 1)."""
    counts = [rows_per_horizon(sorted(times), horizon_s) for times in per_symbol if times]
    return max(1, round(statistics.median(counts))) if counts else 1


def coefficients(model: Any) -> dict[str, float]:
    """A linear model's weights per feature (the last step of a pipeline that has them), else
    an empty dict."""
    steps = getattr(model, "steps", None)
    parts = list(steps.values()) if isinstance(steps, Mapping) else [model]
    for part in reversed(parts):
        weights = getattr(part, "weights", None)
        if weights is not None and hasattr(weights, "items"):
            return {str(k): float(v) for k, v in weights.items()}
    return {}
