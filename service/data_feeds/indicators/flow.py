"""Trade flow: the balance of aggressive buying and selling over a time window."""

from __future__ import annotations

from collections import deque
from math import fsum

from data_feeds.indicators.base import RECOMPUTE_EVERY

BUY_SIDE = "buy"
SELL_SIDE = "sell"


class TradeFlowImbalance:
    """``(buy_volume - sell_volume) / (buy_volume + sell_volume)`` over the trades of the last
    ``window_s`` seconds, by aggressor side, in [-1, 1].

    The window ends at the latest time seen, from a trade or from :meth:`expire` (the bundle
    calls it with each tick's time, so the flow fades when trading stops). At most
    ``max_trades`` trades are kept (the oldest go first), so state is bounded whatever the
    trade rate. ``None`` while the window holds no volume.
    """

    __slots__ = (
        "_buy",
        "_now_s",
        "_sell",
        "_trades",
        "_until_exact",
        "max_trades",
        "value",
        "window_s",
    )

    window_s: float
    max_trades: int
    value: float | None

    def __init__(self, window_s: float = 60.0, max_trades: int = 100_000) -> None:
        if not window_s > 0.0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        if max_trades < 1:
            raise ValueError(f"max_trades must be >= 1, got {max_trades}")
        self.window_s = float(window_s)
        self.max_trades = max_trades
        self.value = None
        # (timestamp, buy volume, sell volume), oldest first; None until the first trade (a
        # deque takes 0.6 kB even empty, and most symbols of a quote feed never see a trade).
        self._trades: deque[tuple[float, float, float]] | None = None
        self._buy = 0.0
        self._sell = 0.0
        self._now_s = float("-inf")
        self._until_exact = RECOMPUTE_EVERY

    def update(self, volume: float, side: str, timestamp: float) -> None:
        """Fold one trade in; ``side`` is the aggressor's, ``"buy"`` or ``"sell"``.

        A trade stamped before the window's start (a late one) is ignored.
        """
        if side == BUY_SIDE:
            entry = (timestamp, volume, 0.0)
        elif side == SELL_SIDE:
            entry = (timestamp, 0.0, volume)
        else:
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if timestamp > self._now_s:
            self._now_s = timestamp
        elif timestamp <= self._now_s - self.window_s:
            return
        trades = self._trades
        if trades is None:
            trades = self._trades = deque()
        trades.append(entry)
        self._buy += entry[1]
        self._sell += entry[2]
        if len(trades) > self.max_trades:
            _, buy, sell = trades.popleft()
            self._buy -= buy
            self._sell -= sell
            self._until_exact -= 1
        self._drop_expired()
        self._refresh()

    def expire(self, now_s: float) -> None:
        """Advance the window's end to ``now_s`` (never backwards) and drop what fell out."""
        if now_s > self._now_s:
            self._now_s = now_s
            trades = self._trades
            if trades and trades[0][0] <= now_s - self.window_s:
                self._drop_expired()
                self._refresh()

    def _drop_expired(self) -> None:
        trades = self._trades
        start_s = self._now_s - self.window_s
        buy_total = self._buy
        sell_total = self._sell
        dropped = 0
        while trades and trades[0][0] <= start_s:
            _, buy, sell = trades.popleft()
            buy_total -= buy
            sell_total -= sell
            dropped += 1
        self._buy = buy_total
        self._sell = sell_total
        self._until_exact -= dropped

    def _refresh(self) -> None:
        trades = self._trades
        if not trades:
            self._buy = self._sell = 0.0
            self._until_exact = RECOMPUTE_EVERY
            self.value = None
            return
        if self._until_exact <= 0:
            self._buy = fsum([t[1] for t in trades])
            self._sell = fsum([t[2] for t in trades])
            self._until_exact = max(RECOMPUTE_EVERY, len(trades))
        # Subtraction can leave a side a rounding residue below zero: that side has nothing.
        buy = self._buy if self._buy > 0.0 else 0.0
        sell = self._sell if self._sell > 0.0 else 0.0
        total = buy + sell
        self.value = (buy - sell) / total if total > 0.0 else None
