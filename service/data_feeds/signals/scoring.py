"""Scoring predictions against outcomes: one scorecard used live (per model version, by the
SignalGenerator) and offline (``learning_layer.evaluation``, from stored signals).
"""

from __future__ import annotations

import math
from typing import Any

from data_feeds.records import BUY, SELL

_EPS = 1e-15


class Scorecard:
    """Accuracy, log loss, Brier score and the hit rates of BUY and SELL signals."""

    __slots__ = ("brier_sum", "buy_hits", "buy_n", "correct", "log_loss_sum", "n", "sell_hits",
                 "sell_n")  # fmt: skip

    def __init__(self) -> None:
        self.n = 0
        self.correct = 0
        self.log_loss_sum = 0.0
        self.brier_sum = 0.0
        self.buy_n = 0
        self.buy_hits = 0
        self.sell_n = 0
        self.sell_hits = 0

    def update(self, probability: float, y: int, action: str) -> None:
        """Score one prediction (probability of an up-move) against its label ``y`` (1 = up)."""
        self.n += 1
        if (probability >= 0.5) == (y == 1):
            self.correct += 1
        p = min(max(probability, _EPS), 1.0 - _EPS)
        self.log_loss_sum -= math.log(p) if y == 1 else math.log(1.0 - p)
        self.brier_sum += (probability - y) ** 2
        if action == BUY:
            self.buy_n += 1
            self.buy_hits += y
        elif action == SELL:
            self.sell_n += 1
            self.sell_hits += 1 - y

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def log_loss(self) -> float | None:
        return self.log_loss_sum / self.n if self.n else None

    @property
    def brier(self) -> float | None:
        return self.brier_sum / self.n if self.n else None

    @property
    def buy_hit_rate(self) -> float | None:
        return self.buy_hits / self.buy_n if self.buy_n else None

    @property
    def sell_hit_rate(self) -> float | None:
        return self.sell_hits / self.sell_n if self.sell_n else None

    @property
    def hit_rate(self) -> float | None:
        """Share of BUY and SELL signals (HOLD excluded) whose direction came true."""
        acted = self.buy_n + self.sell_n
        return (self.buy_hits + self.sell_hits) / acted if acted else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "log_loss": self.log_loss,
            "brier": self.brier,
            "buy_n": self.buy_n,
            "buy_hit_rate": self.buy_hit_rate,
            "sell_n": self.sell_n,
            "sell_hit_rate": self.sell_hit_rate,
            "hit_rate": self.hit_rate,
        }
