"""A bounded local order book and what it says: mid, spread, imbalance, slippage."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from data_feeds.records import Level

BPS = 1e4


class OrderBook:
    """A local level-2 book kept from snapshots and deltas, with its liquidity measures.

    ``update(bids, asks, is_delta=...)`` takes levels as ``(price, size)``: a snapshot replaces
    the book, a delta sets each level's size and deletes levels whose size is 0. Each side keeps
    at most ``max_levels`` levels (the farthest from the touch are dropped), so state is bounded.

    After every update:

    - ``mid``: ``(best_bid + best_ask) / 2``; ``spread_bps``: ``(ask - bid) / mid * 1e4``;
    - ``imbalance``: ``(B - A) / (B + A)`` where B and A are the sizes on the top
      ``imbalance_levels`` levels of each side, in [-1, 1];
    - ``buy_slippage_bps`` / ``sell_slippage_bps``: how far from ``mid``, in bps, the average fill
      price of a market order of ``notional`` (quote currency) walked through the book lands; a
      remainder the visible book cannot fill is priced at the deepest visible level (a lower
      bound). ``slippage_bps`` is their mean.

    Each is ``None`` while either side is empty.
    """

    __slots__ = (
        "_ask_keys",
        "_asks",
        "_bid_keys",
        "_bids",
        "buy_slippage_bps",
        "imbalance",
        "imbalance_levels",
        "max_levels",
        "mid",
        "notional",
        "sell_slippage_bps",
        "slippage_bps",
        "spread_bps",
    )

    imbalance_levels: int
    max_levels: int
    notional: float
    mid: float | None
    spread_bps: float | None
    imbalance: float | None
    buy_slippage_bps: float | None
    sell_slippage_bps: float | None
    slippage_bps: float | None

    def __init__(
        self, imbalance_levels: int = 5, notional: float = 10_000.0, max_levels: int = 1000
    ) -> None:
        if imbalance_levels < 1:
            raise ValueError(f"imbalance_levels must be >= 1, got {imbalance_levels}")
        if max_levels < imbalance_levels:
            raise ValueError(f"max_levels must be >= imbalance_levels, got {max_levels}")
        if not notional > 0.0:
            raise ValueError(f"notional must be > 0, got {notional}")
        self.imbalance_levels = imbalance_levels
        self.max_levels = max_levels
        self.notional = float(notional)
        # price -> size per side, plus the prices sorted best first (bids stored negated).
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        self._bid_keys: list[float] = []
        self._ask_keys: list[float] = []
        self.mid = None
        self.spread_bps = None
        self.imbalance = None
        self.buy_slippage_bps = None
        self.sell_slippage_bps = None
        self.slippage_bps = None

    @property
    def value(self) -> float | None:
        """The mid price."""
        return self.mid

    @property
    def best_bid(self) -> float | None:
        """The highest bid price."""
        return -self._bid_keys[0] if self._bid_keys else None

    @property
    def best_ask(self) -> float | None:
        """The lowest ask price."""
        return self._ask_keys[0] if self._ask_keys else None

    def bids(self) -> list[Level]:
        """The bid levels, best (highest) first."""
        return [(-key, self._bids[-key]) for key in self._bid_keys]

    def asks(self) -> list[Level]:
        """The ask levels, best (lowest) first."""
        return [(key, self._asks[key]) for key in self._ask_keys]

    def update(
        self, bids: Iterable[Level], asks: Iterable[Level], *, is_delta: bool = False
    ) -> None:
        """Apply a snapshot (``is_delta=False``) or a delta, then refresh the measures."""
        if is_delta:
            _apply_delta(self._bids, self._bid_keys, bids, -1.0, self.max_levels)
            _apply_delta(self._asks, self._ask_keys, asks, 1.0, self.max_levels)
        else:
            self._bids, self._bid_keys = _side(bids, -1.0, self.max_levels)
            self._asks, self._ask_keys = _side(asks, 1.0, self.max_levels)
        self._refresh()

    def _refresh(self) -> None:
        bid_keys = self._bid_keys
        ask_keys = self._ask_keys
        if not bid_keys or not ask_keys:
            self.mid = self.spread_bps = self.imbalance = None
            self.buy_slippage_bps = self.sell_slippage_bps = self.slippage_bps = None
            return
        bids = self._bids
        asks = self._asks
        best_bid = -bid_keys[0]
        best_ask = ask_keys[0]
        mid = (best_bid + best_ask) * 0.5
        self.mid = mid
        self.spread_bps = (best_ask - best_bid) / mid * BPS
        n = self.imbalance_levels
        bid_size = sum([bids[-key] for key in bid_keys[:n]])
        ask_size = sum([asks[key] for key in ask_keys[:n]])
        total = bid_size + ask_size
        self.imbalance = (bid_size - ask_size) / total if total > 0.0 else 0.0
        buy = (_average_fill(asks, ask_keys, 1.0, self.notional) - mid) / mid * BPS
        sell = (mid - _average_fill(bids, bid_keys, -1.0, self.notional)) / mid * BPS
        self.buy_slippage_bps = buy
        self.sell_slippage_bps = sell
        self.slippage_bps = (buy + sell) * 0.5


def _side(
    levels: Iterable[Level], sign: float, max_levels: int
) -> tuple[dict[float, float], list[float]]:
    sizes = {float(price): float(size) for price, size in levels if size > 0.0}
    keys = sorted(price * sign for price in sizes)
    if len(keys) > max_levels:
        for key in keys[max_levels:]:
            del sizes[key * sign]
        del keys[max_levels:]
    return sizes, keys


def _apply_delta(
    sizes: dict[float, float],
    keys: list[float],
    levels: Iterable[Level],
    sign: float,
    max_levels: int,
) -> None:
    for raw_price, raw_size in levels:
        price = float(raw_price)
        size = float(raw_size)
        key = price * sign
        if size > 0.0:
            if price not in sizes:
                insort(keys, key)
            sizes[price] = size
        elif price in sizes:
            del sizes[price]
            del keys[bisect_left(keys, key)]
    if len(keys) > max_levels:
        for key in keys[max_levels:]:
            del sizes[key * sign]
        del keys[max_levels:]


def _average_fill(
    sizes: dict[float, float], keys: list[float], sign: float, notional: float
) -> float:
    """Average price paid for ``notional`` walked from the best level outwards."""
    remaining = notional
    quantity = 0.0
    price = keys[0] * sign
    for key in keys:
        price = key * sign
        level_notional = price * sizes[price]
        if level_notional >= remaining:
            quantity += remaining / price
            remaining = 0.0
            break
        quantity += sizes[price]
        remaining -= level_notional
    if remaining > 0.0:
        quantity += remaining / price
    return notional / quantity
