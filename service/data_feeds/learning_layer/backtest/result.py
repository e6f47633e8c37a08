"""What a backtest found: per fold, per strategy, per symbol, and the one-line verdict."""

from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np

from data_feeds.learning_layer._common import dumps, fmt, iso, render_table
from data_feeds.learning_layer.backtest.performance import Bars
from data_feeds.learning_layer.backtest.windows import Fold

MODEL: Final = "model"
HOLD_ALWAYS: Final = "always-hold"
BUY_AND_HOLD: Final = "buy-and-hold"
MOMENTUM: Final = "momentum"
REVERSAL: Final = "reversal"
STRATEGIES: Final = (MODEL, HOLD_ALWAYS, BUY_AND_HOLD, MOMENTUM, REVERSAL)
POSITIONS_HEADER: Final = (
    "timestamp", "symbol", "price", "position", "cost_bps", "fold", "action", "probability",
)  # fmt: skip
"""The positions file's columns: the first five recompute the PnL (group by symbol, in file
order); ``action`` and ``probability`` are the signal made at that tick (its position is taken
``delay_bars`` ticks later), ``fold`` the fold whose test window holds the tick."""


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


class TestTicks:
    """Every decided tick of the test windows, in processing order."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.times: list[float] = []
        self.symbols: list[str] = []
        self.prices: list[float] = []
        self.probabilities: list[float] = []
        self.actions: list[str] = []
        self.folds: list[int] = []
        self.cost_rates: list[float] = []
        self.momentum: list[float] = []
        self.labels: list[int] = []
        self.versions: list[str] = []

    def __len__(self) -> int:
        return len(self.times)

    def add(
        self,
        ts: float,
        symbol: str,
        price: float,
        *,
        probability: float,
        action: str,
        fold: int,
        cost_rate: float,
        momentum: float,
        label: int,
        version: str,
    ) -> None:
        self.times.append(ts)
        self.symbols.append(symbol)
        self.prices.append(price)
        self.probabilities.append(probability)
        self.actions.append(action)
        self.folds.append(fold)
        self.cost_rates.append(cost_rate)
        self.momentum.append(momentum)
        self.labels.append(label)
        self.versions.append(version)

    def arrays(self) -> dict[str, Any]:
        return {
            "time": np.asarray(self.times, dtype=float),
            "symbol": np.asarray(self.symbols, dtype=str),
            "price": np.asarray(self.prices, dtype=float),
            "probability": np.asarray(self.probabilities, dtype=float),
            "action": np.asarray(self.actions, dtype=str),
            "fold": np.asarray(self.folds, dtype=int),
            "cost_rate": np.asarray(self.cost_rates, dtype=float),
            "momentum": np.asarray(self.momentum, dtype=float),
            "label": np.asarray(self.labels, dtype=int),
        }


@dataclass(slots=True)
class FoldResult:
    """One fold: its windows, the retraining cycle's outcome and what its test window earned."""

    fold: Fold
    train_rows: int = 0
    train_fingerprint: str = ""
    status: str = ""
    """``promoted`` (its challenger served from the test window on), ``kept`` (the gate refused
    it: the champion stays) or ``insufficient_data``."""
    reason: str = ""
    served: str = "v0"
    margin: float | None = None
    threshold: dict[str, Any] | None = None
    holdout_accuracy: float | None = None
    holdout_log_loss: float | None = None
    train_up_fraction: float | None = None
    """Up-rate of the rows its challenger was trained on (the no-skill forecast)."""
    test_ticks: int = 0
    model_mean_bps: float | None = None
    buy_and_hold_mean_bps: float | None = None
    actions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.fold.to_dict(),
            "train_rows": self.train_rows,
            "train_fingerprint": self.train_fingerprint,
            "status": self.status,
            "reason": self.reason,
            "served": self.served,
            "margin": self.margin,
            "threshold": self.threshold,
            "holdout_accuracy": self.holdout_accuracy,
            "holdout_log_loss": self.holdout_log_loss,
            "train_up_fraction": self.train_up_fraction,
            "test_ticks": self.test_ticks,
            "model_mean_bps": self.model_mean_bps,
            "buy_and_hold_mean_bps": self.buy_and_hold_mean_bps,
            "actions": self.actions,
        }


@dataclass(slots=True)
class BacktestResult:
    """The run's figures (``to_dict``: what is stored in Redis) and its per-tick arrays
    (``ticks``, ``positions``, ``bars``: for ``write_positions`` and the report)."""

    params: dict[str, Any]
    dataset_fingerprint: str
    dataset_rows: int
    folds: list[FoldResult]
    symbols: list[str]
    ticks: TestTicks
    positions: Any
    bars: dict[str, Bars]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_symbol: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    versus: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per baseline: the interval of the model's mean net bps per bar minus the baseline's."""
    forecast: dict[str, Any] = field(default_factory=dict)
    momentum_bars: int = 1
    horizon_bars: int = 1
    """A symbol's ticks in one label horizon (the bootstrap's blocks are two of these)."""
    annualisation_span_s: float = 0.0
    replay_ticks: int = 0
    entries: int = 0
    duration_s: float = 0.0
    run_id: str | None = None
    created_at: float | None = None
    coefficients: dict[str, float] = field(default_factory=dict)
    """The last served model's weights per feature (a linear model), else empty."""

    @property
    def verdict(self) -> str:
        """``beats always-HOLD after costs: no, interval [-1.4, 0.9] bps/bar``."""
        return self.versus_line(HOLD_ALWAYS)

    def versus_line(self, baseline: str) -> str:
        v = self.versus.get(baseline)
        if not v:
            return f"beats {baseline} after costs: no test ticks"
        low, high = v.get("low"), v.get("high")
        if not _finite(low) or not _finite(high):
            return (
                f"beats {baseline} after costs: undetermined, {v.get('n', 0)} bars are fewer "
                f"than 10 blocks of {v['block']} (two horizons of every symbol's bars)"
            )
        lo, hi = float(low), float(high)  # type: ignore[arg-type]
        beats = "yes" if lo > 0.0 else "no"
        return (
            f"beats {baseline} after costs: {beats}, interval [{lo:.3g}, {hi:.3g}] "
            f"bps/bar (mean {v['mean']:+.3g}, ESS {v['ess']:.0f} of {v['n']} bars, blocks "
            f"of {v['block']})"
        )

    @property
    def threshold_text(self) -> str:
        """``fixed (margin 0.05)`` or ``calibrated (margins served: 0, 0.01)``."""
        p = self.params
        if p["threshold"] == "fixed":
            return f"fixed (margin {p['margin']:g})"
        served = sorted({f.margin for f in self.folds if f.margin is not None})
        return f"calibrated (margins served: {', '.join(f'{m:g}' for m in served) or 'none'})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "created_at": self.created_at,
            "verdict": self.verdict,
            "params": self.params,
            "dataset_fingerprint": self.dataset_fingerprint,
            "dataset_rows": self.dataset_rows,
            "symbols": self.symbols,
            "entries": self.entries,
            "replay_ticks": self.replay_ticks,
            "test_ticks": len(self.ticks),
            "duration_s": self.duration_s,
            "momentum_bars": self.momentum_bars,
            "horizon_bars": self.horizon_bars,
            "annualisation_span_s": self.annualisation_span_s,
            "forecast": self.forecast,
            "figures": self.figures,
            "versus": self.versus,
            "by_symbol": self.by_symbol,
            "folds": [f.to_dict() for f in self.folds],
            "coefficients": self.coefficients,
        }

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=True).decode()

    def strategy_rows(self, figures: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
        rows = []
        for name in STRATEGIES:
            f = figures.get(name)
            if f is None:
                continue
            m = f["mean_bps"]
            sharpe = (
                "-" if f["sharpe"] is None
                else f"{f['sharpe']:.2f} [{f['sharpe_low']:.2f}, {f['sharpe_high']:.2f}]"
            )  # fmt: skip
            rows.append(
                (
                    name,
                    f["trades"],
                    round(f["turnover"] / max(1, f["bars"]), 4),
                    round(f["exposure"], 3),
                    f["hit_rate"],
                    round(f["gross_bps"], 1),
                    round(f["net_bps"], 1),
                    f"{m['mean']:+.3f} [{m['low']:.3f}, {m['high']:.3f}]",
                    sharpe,
                    round(f["max_drawdown_bps"], 1),
                )
            )
        return rows

    STRATEGY_HEADERS: ClassVar[tuple[str, ...]] = (
        "strategy", "trades", "turnover/bar", "exposure", "hit_rate", "gross_bps", "net_bps",
        "net_bps/bar [95% CI]", "sharpe [95% CI]", "max_dd_bps",
    )  # fmt: skip

    def to_table(self) -> str:
        p = self.params
        fc = self.forecast
        lines = [
            f"backtest {self.run_id or ''}: {', '.join(self.symbols)}; {len(self.folds)} folds "
            f"(train {p['train']}, test {p['test']}, step {p['step']}, embargo "
            f"{p['embargo_s']:g} s{', anchored' if p['anchored'] else ''}); {len(self.ticks)} "
            f"test ticks of {self.replay_ticks}",
            f"model {p['model']} served {p['serving']}, threshold {self.threshold_text}, HOLD "
            f"{p['hold']}, filled {p['delay_bars']} tick(s) after the signal, gate "
            f"{'on' if p['gate'] else 'off'}; cost "
            f"{p['cost_bps']:g} bps + slippage {p['slippage_bps']:g} bps per unit of turnover"
            f"{' + book spread/slippage' if p['book_costs'] else ''}; momentum/reversal over "
            f"{self.momentum_bars} bars",
        ]
        if fc.get("labelled"):
            lines.append(
                f"forecast on {fc['labelled']} labelled test ticks: accuracy "
                f"{fc['accuracy']:.4f} (up fraction {fc['up_fraction']:.4f}), log loss "
                f"{fc['log_loss']:.4f} vs no-skill {fc['no_skill_log_loss']:.4f}: skill "
                f"{fc['skill_nats']:+.4f} nats [{fc['skill_low']:+.4f}, {fc['skill_high']:+.4f}],"
                f" ESS {fc['skill_ess']:.0f}; P(up) std {fc['probability_std']:.4f}"
            )
        lines.append(render_table(self.STRATEGY_HEADERS, self.strategy_rows(self.figures)))
        fold_rows = [
            (
                f.fold.index,
                iso(f.fold.train_start),
                iso(f.fold.test_start),
                iso(f.fold.test_end),
                f.train_rows,
                f.status,
                f.served,
                fmt(f.margin),
                fmt(f.holdout_accuracy),
                f.test_ticks,
                fmt(f.model_mean_bps),
                fmt(f.buy_and_hold_mean_bps),
            )
            for f in self.folds
        ]
        lines.append(
            render_table(
                (
                    "fold",
                    "train_from",
                    "test_from",
                    "test_to",
                    "train_rows",
                    "status",
                    "served",
                    "margin",
                    "holdout_acc",
                    "test_ticks",
                    "model_bps/bar",
                    "b&h_bps/bar",
                ),
                fold_rows,
            )
        )
        lines += [self.versus_line(name) for name in STRATEGIES if name != MODEL]
        return "\n".join(lines)

    def write_positions(self, path: str | Path) -> Path:
        """Every test tick (``POSITIONS_HEADER``: the model's position held from that tick to
        the symbol's next, the cost per unit of turnover at that tick, the signal made there),
        processing order.
        Written to a temporary file beside ``path``, then renamed."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=".positions-", suffix=".csv", dir=target.parent)
        try:
            with os.fdopen(fd, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(POSITIONS_HEADER)
                t = self.ticks
                for i in range(len(t)):
                    w.writerow(
                        (
                            repr(t.times[i]),
                            t.symbols[i],
                            repr(t.prices[i]),
                            repr(float(self.positions[i])),
                            repr(t.cost_rates[i] * 1e4),
                            t.folds[i],
                            t.actions[i],
                            repr(t.probabilities[i]),
                        )
                    )
            os.chmod(tmp, 0o644)  # as any file the user writes, not mkstemp's 0600
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
