"""Scoring predictions against outcomes: one scorecard used live (per model version, by the
SignalGenerator) and offline (``learning_layer.evaluation``, from stored signals).
"""

from __future__ import annotations

from math import log
from typing import Any

from data_feeds.records import BUY, HOLD, SELL

_EPS = 1e-15
BPS = 1e4


class Scorecard:
    """Accuracy, log loss, Brier score and the hit rates of BUY and SELL signals.

    Offline, ``record_return`` adds how often a HOLD was right to stay out (the move over the
    horizon did not cover the cost), and ``record_bar`` what the positions the signals make
    earned (``signals.positions``: one bar per signal, held to the symbol's next signal, costs
    per unit of turnover), so overlapping signals are never counted as separate trades.
    """

    __slots__ = ("bars", "brier_sum", "buy_hits", "buy_n", "correct", "gross_sum_bps",
                 "hold_n", "hold_quiet", "hold_returns_n", "log_loss_sum", "n", "pnl_sum_bps",
                 "returns_n", "sell_hits", "sell_n", "trades", "turnover")  # fmt: skip

    def __init__(self) -> None:
        self.n = 0
        self.correct = 0
        self.log_loss_sum = 0.0
        self.brier_sum = 0.0
        self.buy_n = 0
        self.buy_hits = 0
        self.sell_n = 0
        self.sell_hits = 0
        self.hold_n = 0
        self.returns_n = 0
        self.hold_returns_n = 0
        self.hold_quiet = 0
        self.bars = 0
        self.trades = 0
        self.turnover = 0.0
        self.gross_sum_bps = 0.0
        self.pnl_sum_bps = 0.0

    def __setstate__(self, state: Any) -> None:
        """Restore a pickled scorecard; fields added since it was pickled start at zero, fields
        since removed are dropped."""
        self.__init__()  # type: ignore[misc]
        slots = state[1] if isinstance(state, tuple) else state
        for name, value in (slots or {}).items():
            if name in Scorecard.__slots__:
                setattr(self, name, value)

    def update(self, probability: float, y: int, action: str) -> None:
        """Score one prediction (probability of an up-move) against its label ``y`` (1 = up)."""
        self.n += 1
        if y:
            if probability >= 0.5:
                self.correct += 1
            self.log_loss_sum -= log(probability if probability > _EPS else _EPS)
            miss = 1.0 - probability
        else:
            if probability < 0.5:
                self.correct += 1
            q = 1.0 - probability
            self.log_loss_sum -= log(q if q > _EPS else _EPS)
            miss = probability
        self.brier_sum += miss * miss
        if action == BUY:
            self.buy_n += 1
            self.buy_hits += y
        elif action == SELL:
            self.sell_n += 1
            self.sell_hits += 1 - y
        elif action == HOLD:
            self.hold_n += 1

    def record_return(self, action: str, ret: float, cost_bps: float = 0.0) -> None:
        """Add a signal's realized return over the horizon (``price_later / price - 1``): a
        HOLD was right when the move did not cover ``cost_bps``.

        Independent of ``update``: a move inside the label dead band has a return but no label.
        """
        self.returns_n += 1
        if action == HOLD:
            self.hold_returns_n += 1
            if abs(ret * BPS) <= cost_bps:
                self.hold_quiet += 1

    def record_bar(self, gross_bps: float, net_bps: float, turnover: float) -> None:
        """Add one bar of the signals' positions (``signals.positions.Ledger``)."""
        self.bars += 1
        self.gross_sum_bps += gross_bps
        self.pnl_sum_bps += net_bps
        self.turnover += turnover
        if turnover:
            self.trades += 1

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
        """Precision of BUY: the share of BUY signals followed by an up-move."""
        return self.buy_hits / self.buy_n if self.buy_n else None

    @property
    def sell_hit_rate(self) -> float | None:
        """Precision of SELL: the share of SELL signals followed by a down-move."""
        return self.sell_hits / self.sell_n if self.sell_n else None

    @property
    def hit_rate(self) -> float | None:
        """Share of BUY and SELL signals (HOLD excluded) whose direction came true."""
        acted = self.buy_n + self.sell_n
        return (self.buy_hits + self.sell_hits) / acted if acted else None

    @property
    def hold_precision(self) -> float | None:
        """Share of HOLD signals whose move did not cover the cost (staying out was right)."""
        return self.hold_quiet / self.hold_returns_n if self.hold_returns_n else None

    @property
    def pnl_per_trade_bps(self) -> float | None:
        """Net bps of the positions per trade (per change of position)."""
        return self.pnl_sum_bps / self.trades if self.trades else None

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
            "hold_n": self.hold_n,
            "hit_rate": self.hit_rate,
            "hold_precision": self.hold_precision,
            "returns_n": self.returns_n,
            "bars": self.bars,
            "trades": self.trades,
            "turnover": self.turnover,
            "gross_bps": self.gross_sum_bps,
            "pnl_bps": self.pnl_sum_bps,
            "pnl_per_trade_bps": self.pnl_per_trade_bps,
        }
