"""Every indicator of one symbol, fed by one ``update(record)``."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from data_feeds.indicators.bands import BollingerBands
from data_feeds.indicators.base import zeros
from data_feeds.indicators.book import BPS, OrderBook
from data_feeds.indicators.flow import TradeFlowImbalance
from data_feeds.indicators.momentum import MACD, RSI
from data_feeds.indicators.moving_average import EMA
from data_feeds.indicators.sentiment import SentimentAsOf
from data_feeds.indicators.volatility import ATR, RealizedVolatility
from data_feeds.indicators.volume import ANCHORS, VWAP, VolumeZScore
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade

if TYPE_CHECKING:
    from data_feeds.calendars import TradingCalendar

QUOTE_ASSETS = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DAI", "USD", "EUR", "GBP", "JPY", "TRY",
    "BRL", "AUD", "BTC", "ETH", "BNB",
)  # fmt: skip
"""Quote currencies recognised at the end of a symbol, tried longest first."""


def base_asset(symbol: str) -> str:
    """The traded asset of a pair symbol: ``BTCUSDT`` -> ``BTC``, ``ETHBTC`` -> ``ETH``.

    A symbol that ends with no known quote currency (``AAPL``) is its own base asset.
    """
    upper = symbol.upper()
    for quote in sorted(QUOTE_ASSETS, key=len, reverse=True):
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)]
    return upper


@dataclass(frozen=True, slots=True)
class IndicatorConfig:
    """What the per-symbol bundle computes, and over which windows.

    Periods and windows count observations (ticks, or bars for ATR); ``*_s`` are seconds.
    """

    ema_fast_period: int = 12
    ema_slow_period: int = 26
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bbands_period: int = 20
    bbands_k: float = 2.0
    atr_period: int = 14
    bar_s: float = 60.0
    """Length of the time bars ATR is computed on, built from ticks."""
    vwap_anchor: str | None = "D"
    """``"D"``: VWAP restarts every UTC day; ``None``: cumulative."""
    volatility_window: int = 60
    volume_window: int = 60
    price_history: int = 64
    """Latest prices kept for the log returns over several lags."""
    book_imbalance_levels: int = 5
    book_max_levels: int = 1000
    slippage_notional: float = 10_000.0
    """Size of the market order walked through the book, in quote currency."""
    trade_flow_window_s: float = 60.0
    trade_flow_max_trades: int = 100_000
    sentiment_half_life_s: float = 3600.0
    sentiment_stale_after_s: float = 6 * 3600.0
    keywords: tuple[str, ...] | None = None
    """Sentiment keywords that belong to the symbol; ``None``: its base asset and itself."""

    def __post_init__(self) -> None:
        if not self.bar_s > 0.0:
            raise ValueError(f"bar_s must be > 0, got {self.bar_s}")
        if self.vwap_anchor not in ANCHORS:
            raise ValueError(f"vwap_anchor must be None or 'D', got {self.vwap_anchor!r}")
        if self.price_history < 2:
            raise ValueError(f"price_history must be >= 2, got {self.price_history}")
        if isinstance(self.keywords, str):
            raise TypeError("keywords must be a tuple of strings, not one string")
        # Periods and windows are checked by the indicator each configures, when the bundle
        # is built.

    def keywords_for(self, symbol: str) -> frozenset[str]:
        """The upper-cased sentiment keywords of ``symbol``."""
        if self.keywords is not None:
            return frozenset(k.upper() for k in self.keywords)
        return frozenset((base_asset(symbol), symbol.upper()))


class Indicators:
    """The indicators of one symbol, kept current by :meth:`update`.

    Ticks feed the price indicators (EMAs, RSI, MACD, Bollinger Bands, VWAP, realized
    volatility, volume z-score, the recent price history) and the time bars ATR runs on:
    ticks are bucketed into ``bar_s``-second bars (aligned on the epoch), a bar is folded into
    ATR when the first tick of a later bar arrives, bars without ticks are skipped, and a late
    tick for an already closed bar does not amend it. Trades feed the trade-flow imbalance,
    book snapshots and deltas the local order book, sentiment records whose keyword belongs to
    the symbol (case-insensitive) the decayed sentiment. Records about another symbol raise
    ``ValueError``.

    Ticks also run the symbol's **open-market clock**: ``open_clock`` advances, at each tick
    later than the last, by the seconds its market was open since (``calendar``, a
    ``data_feeds.calendars.TradingCalendar``; ``None``: always open, wall time), or by the wall
    time since if the market was closed all along (a tick while closed shows it trading:
    extended hours, weekend quotes), and ``clocks``
    holds its value at each of the latest ``price_history`` ticks, beside ``prices``. Returns
    and volatility per unit of open time (``signals.features``) are read off it, so a night, a
    weekend or a holiday does not count as time in which the price could move.
    """

    __slots__ = (
        "_bar",
        "_bar_close",
        "_bar_high",
        "_bar_low",
        "_bar_s",
        "_clock_ts",
        "_history",
        "atr",
        "bbands",
        "book",
        "calendar",
        "clock_window",
        "config",
        "ema_fast",
        "ema_slow",
        "held",
        "keywords",
        "macd",
        "open_clock",
        "price",
        "price_window",
        "quote_spread_bps",
        "rsi",
        "sentiment",
        "symbol",
        "ticks",
        "ticks_to_warm",
        "timestamp",
        "trade_flow",
        "volatility",
        "volume_zscore",
        "vwap",
    )

    symbol: str
    config: IndicatorConfig
    keywords: frozenset[str]
    price: float | None
    """The latest tick's price."""
    timestamp: float | None
    """The latest time seen on a tick, trade or book record (epoch seconds)."""
    quote_spread_bps: float | None
    """Spread of the latest tick carrying both bid and ask, in bps of their mid."""
    ticks: int
    ticks_to_warm: int
    """Ticks after which the EMAs, RSI, MACD, Bollinger Bands, realized volatility and volume
    z-score all have a value (for good: none of them goes back to ``None``)."""
    price_window: array[float]
    """The latest ``price_history`` tick prices, oldest first, in an ``array('d')`` of exactly
    ``price_history`` values: the newest at ``[-1]``, and only the last ``held`` are prices (the
    ones before are 0.0). Allocated at its full length once: an array grown value by value is
    reallocated through a dozen of the allocator's size classes, and when thousands of symbols
    warm up together the pools those steps leave behind stay with the process
    (``bench_memory``: 0.8 kB a symbol of 10,000). ``prices`` is the held part, as a copy."""
    held: int
    """How many of ``price_window`` (and ``clock_window``) are held values:
    ``min(ticks, price_history)``, kept rather than computed because ``features`` reads it
    every tick (like ``RollingMoments.count``)."""
    calendar: TradingCalendar | None
    """The symbol's trading calendar; ``None``: always open."""
    open_clock: float
    """Open-market seconds since the symbol's first tick."""
    clock_window: array[float]
    """``open_clock`` at each of the latest ``price_history`` ticks, beside ``price_window`` and
    laid out as it is. ``clocks`` is the held part, as a copy."""

    def __init__(
        self,
        symbol: str,
        config: IndicatorConfig | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        cfg = IndicatorConfig() if config is None else config
        self.symbol = symbol
        self.calendar = None if calendar is None or calendar.always_open else calendar
        self.config = cfg
        self.keywords = cfg.keywords_for(symbol)
        self.ema_fast = EMA(cfg.ema_fast_period)
        self.ema_slow = EMA(cfg.ema_slow_period)
        self.rsi = RSI(cfg.rsi_period)
        self.macd = MACD(cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
        self.bbands = BollingerBands(cfg.bbands_period, cfg.bbands_k)
        self.atr = ATR(cfg.atr_period)
        self.vwap = VWAP(cfg.vwap_anchor)
        self.volatility = RealizedVolatility(cfg.volatility_window)
        self.volume_zscore = VolumeZScore(cfg.volume_window)
        self.book = OrderBook(cfg.book_imbalance_levels, cfg.slippage_notional, cfg.book_max_levels)
        self.trade_flow = TradeFlowImbalance(cfg.trade_flow_window_s, cfg.trade_flow_max_trades)
        self.sentiment = SentimentAsOf(cfg.sentiment_half_life_s, cfg.sentiment_stale_after_s)
        self._history = cfg.price_history
        self.price_window = zeros(cfg.price_history)
        self.clock_window = zeros(cfg.price_history)
        self.held = 0
        self.open_clock = 0.0
        self._clock_ts: float | None = None
        self.price = None
        self.timestamp = None
        self.quote_spread_bps = None
        self.ticks = 0
        self.ticks_to_warm = self._ticks_to_warm()
        self._bar_s = cfg.bar_s
        self._bar: float | None = None
        self._bar_high = 0.0
        self._bar_low = 0.0
        self._bar_close = 0.0

    def _ticks_to_warm(self) -> int:
        macd = self.macd
        return max(
            self.ema_fast.period,
            self.ema_slow.period,
            self.rsi.period + 1,
            macd.slow + macd.signal_period - 1,
            self.bbands.period,
            self.volatility.window + 1,
            self.volume_zscore.window,
        )

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        slots: dict[str, Any] = dict(state[1])
        # Pickled before the windows had their full length (checkpoint formats 3 and 4): the
        # held prices and clocks as deques of floats, later as arrays, oldest first.
        prices = slots.pop("prices", None)
        clocks = slots.pop("clocks", None)
        for name, value in slots.items():
            setattr(self, name, value)
        # Derived, so a bundle pickled before it was kept (an older checkpoint) gets it too.
        self.ticks_to_warm = self._ticks_to_warm()
        history = self._history = self.config.price_history
        if prices is not None and clocks is not None:
            held = array("d", prices)[-history:]
            self.held = len(held)
            padding = zeros(history - len(held))
            self.price_window = padding + held
            self.clock_window = padding + array("d", clocks)[-history:]

    @property
    def prices(self) -> array[float]:
        """The latest ``price_history`` tick prices, oldest first (a copy; ``price_window`` is
        the array ``update`` keeps)."""
        return self.price_window[len(self.price_window) - self.held :]

    @property
    def clocks(self) -> array[float]:
        """``open_clock`` at each of the latest ``price_history`` ticks, beside ``prices`` (a
        copy of the held part of ``clock_window``)."""
        return self.clock_window[len(self.clock_window) - self.held :]

    def update(self, record: Record) -> None:
        """Fold one record into the indicators it concerns."""
        # Ticks are the hot path (every tick of every symbol): one flat function, the EMAs
        # updated in place, the bar bookkeeping touched only when a bar closes.
        if type(record) is not Tick and not isinstance(record, Tick):
            self._update_other(record)
            return
        if record.symbol != self.symbol:
            self._refuse(record.symbol)
        price = record.price
        volume = record.volume
        timestamp = record.timestamp
        ema = self.ema_fast
        value = ema.value
        if value is None:
            ema.update(price)
        else:
            ema.value = (price - value) * ema.k + value
        ema = self.ema_slow
        value = ema.value
        if value is None:
            ema.update(price)
        else:
            ema.value = (price - value) * ema.k + value
        self.rsi.update(price)
        self.macd.update(price)
        self.bbands.update(price)
        self.vwap.update(price, volume, timestamp)
        self.volatility.update(price)
        self.volume_zscore.update(volume)
        prices = self.price_window  # full length always: the oldest out, the new one in
        del prices[0]
        prices.append(price)
        held = self.held
        if held < self._history:
            self.held = held + 1
        clock_ts = self._clock_ts
        if clock_ts is None or timestamp > clock_ts:
            if clock_ts is not None:
                calendar = self.calendar
                elapsed = timestamp - clock_ts
                if calendar is not None:
                    # ticks that come while the calendar says closed (extended hours, weekend
                    # quotes) show the feed trading: their wall time counts
                    elapsed = calendar.open_seconds(clock_ts, timestamp) or elapsed
                self.open_clock += elapsed
            self._clock_ts = timestamp
        clocks = self.clock_window
        del clocks[0]
        clocks.append(self.open_clock)
        self.price = price
        self.ticks += 1
        latest = self.timestamp
        if latest is None or timestamp > latest:
            self.timestamp = timestamp
        self.trade_flow.expire(timestamp)
        bid = record.bid
        if bid is not None:
            ask = record.ask
            if ask is not None:
                mid = (bid + ask) * 0.5
                self.quote_spread_bps = (ask - bid) / mid * BPS if mid > 0.0 else None
        # Time bars for ATR.
        bar = timestamp // self._bar_s
        current = self._bar
        if bar == current:
            if price > self._bar_high:
                self._bar_high = price
            elif price < self._bar_low:
                self._bar_low = price
            self._bar_close = price
        elif current is None or bar > current:
            if current is not None:
                self.atr.update(self._bar_high, self._bar_low, self._bar_close)
            self._bar = bar
            self._bar_high = self._bar_low = self._bar_close = price

    def _update_other(self, record: Trade | BookSnapshot | BookDelta | Sentiment) -> None:
        if isinstance(record, Sentiment):
            keyword = record.keyword.upper()
            if keyword in self.keywords:
                self.sentiment.update(keyword, record.score, record.timestamp)
            return
        if record.symbol != self.symbol:
            self._refuse(record.symbol)
        timestamp = record.timestamp
        if self.timestamp is None or timestamp > self.timestamp:
            self.timestamp = timestamp
        if isinstance(record, Trade):
            self.trade_flow.update(record.volume, record.side, record.timestamp)
        else:
            self.book.update(record.bids, record.asks, is_delta=record.is_delta)

    def _refuse(self, symbol: str) -> NoReturn:
        raise ValueError(f"record for {symbol!r} fed to the indicators of {self.symbol!r}")

    @property
    def spread_bps(self) -> float | None:
        """The book's spread, or the latest tick's bid/ask spread without a book."""
        spread = self.book.spread_bps
        return self.quote_spread_bps if spread is None else spread

    def sentiment_now(self) -> float | None:
        """The symbol's decayed sentiment as of its latest tick, trade or book time."""
        sentiment = self.sentiment
        if not sentiment._latest:  # no score yet (the usual case): skip the decay walk
            return None
        timestamp = self.timestamp
        if timestamp is None:
            return sentiment.value
        return sentiment.value_at(timestamp)
