"""The model's inputs: one flat dict of floats per tick, computed from a symbol's indicators.

The same function runs live, in replay and when the training module builds a dataset from
history, so the model always sees the same features computed the same way. Every name in
:data:`FEATURE_NAMES` is always present, in that order; a value whose indicator is not warmed
up (or whose feed has not been seen) is 0.0, the neutral value of each feature. Prices are
validated positive upstream, so every value is finite.
"""

from __future__ import annotations

from math import log, sqrt
from typing import TYPE_CHECKING, Final

from data_feeds.indicators import Indicators

RETURN_LAGS: Final = (1, 5, 15, 60)
"""Lags, in ticks, of the log returns ``ln(p_t / p_{t-lag})``."""

FEATURE_NAMES: Final = (
    "log_return_1",
    "log_return_5",
    "log_return_15",
    "log_return_60",
    "rsi_centered",
    "macd_hist_rel",
    "ema_fast_dist",
    "ema_slow_dist",
    "vwap_dist",
    "bb_upper_dist",
    "bb_lower_dist",
    "bb_width",
    "volatility",
    "atr_rel",
    "volume_zscore",
    "spread_bps",
    "book_imbalance",
    "slippage_bps",
    "trade_flow_imbalance",
    "sentiment",
    "return_per_hour",
    "volatility_per_hour",
)
"""Feature names, stable across versions of the service (a model is trained on these keys).

- ``log_return_<lag>``: ``ln(price / price lag ticks ago)``;
- ``rsi_centered``: ``(RSI - 50) / 50``, in [-1, 1];
- ``macd_hist_rel``: MACD histogram / price;
- ``ema_fast_dist``, ``ema_slow_dist``, ``vwap_dist``: ``(price - x) / x``;
- ``bb_upper_dist``, ``bb_lower_dist``: ``(price - band) / price``; ``bb_width``:
  ``(upper - lower) / middle``;
- ``volatility``: realized volatility of per-tick log returns; ``atr_rel``: ATR / price;
- ``volume_zscore``: the latest tick volume's z-score over its window;
- ``spread_bps``: book spread (or the ticks' bid/ask spread without a book), in bps of mid;
- ``book_imbalance``: top-N bid/ask size imbalance, in [-1, 1];
- ``slippage_bps``: mean of buy and sell slippage of the configured notional vs mid, in bps;
- ``trade_flow_imbalance``: buy/sell aggressor volume imbalance over the window, in [-1, 1];
- ``sentiment``: decayed mean sentiment of the symbol's keywords, in [-1, 1];
- ``return_per_hour``: ``log_return_60`` divided by the open-market hours those 60 ticks
  span (the symbol's trading calendar: ``Indicators.open_clock``), a drift per open hour;
- ``volatility_per_hour``: ``sqrt(sum of r**2 / open seconds) * sqrt(3600)`` over the
  volatility window's per-tick log returns ``r``, the realized volatility per square root of
  an open hour.

The per-tick features depend on how often a symbol ticks; the last two do not: a random walk
sampled every minute or every day, on a market open around the clock or 6.5 hours a weekday,
gives the same ``volatility_per_hour``, so crypto, FX and equity rows of one dataset are on one
scale (0.0 while the span is not known or no open time has passed).
"""

HOUR_S: Final = 3600.0

_MAX_LAG: Final = max(RETURN_LAGS)


def features(ind: Indicators) -> dict[str, float]:
    """The feature dict of ``ind`` as it stands (keys exactly :data:`FEATURE_NAMES`)."""
    # Runs once per tick: once every indicator is warm (the usual case) the values go straight
    # into one dict literal, with no None check per feature.
    price = ind.price
    prices = ind.price_window  # right-aligned: prices[-k] is the price k - 1 ticks back
    vwap = ind.vwap.value
    atr = ind.atr.value
    if ind.ticks < ind.ticks_to_warm or ind.held <= _MAX_LAG or vwap is None or atr is None:
        return _features_warming(ind)
    rsi = ind.rsi.value
    histogram = ind.macd.histogram
    ema_fast = ind.ema_fast.value
    ema_slow = ind.ema_slow.value
    volatility = ind.volatility
    volume_zscore = ind.volume_zscore.value
    bands = ind.bbands
    upper = bands.upper
    lower = bands.lower
    middle = bands.middle
    log_return = volatility.last_return
    vol = volatility.value
    if TYPE_CHECKING:  # ticks_to_warm ticks in, all are set for good (tested): no runtime check
        assert rsi is not None and histogram is not None and ema_fast is not None
        assert ema_slow is not None and volume_zscore is not None and vol is not None
        assert upper is not None and lower is not None and middle is not None
        assert price is not None and log_return is not None
    book = ind.book
    spread_bps = ind.spread_bps
    imbalance = book.imbalance
    slippage_bps = book.slippage_bps
    flow = ind.trade_flow.value
    sentiment = ind.sentiment_now()
    r60 = log(price / prices[-61])
    return_per_hour, volatility_per_hour = _per_open_hour(ind, r60)
    return {
        "log_return_1": log_return,  # ln(price / previous price), already taken for volatility
        "log_return_5": log(price / prices[-6]),
        "log_return_15": log(price / prices[-16]),
        "log_return_60": r60,
        "rsi_centered": rsi * 0.02 - 1.0,
        "macd_hist_rel": histogram / price,
        "ema_fast_dist": price / ema_fast - 1.0,
        "ema_slow_dist": price / ema_slow - 1.0,
        "vwap_dist": price / vwap - 1.0,
        "bb_upper_dist": (price - upper) / price,
        "bb_lower_dist": (price - lower) / price,
        "bb_width": (upper - lower) / middle,
        "volatility": vol,
        "atr_rel": atr / price,
        "volume_zscore": volume_zscore,
        "spread_bps": 0.0 if spread_bps is None else spread_bps,
        "book_imbalance": 0.0 if imbalance is None else imbalance,
        "slippage_bps": 0.0 if slippage_bps is None else slippage_bps,
        "trade_flow_imbalance": 0.0 if flow is None else flow,
        "sentiment": 0.0 if sentiment is None else sentiment,
        "return_per_hour": return_per_hour,
        "volatility_per_hour": volatility_per_hour,
    }


def _per_open_hour(ind: Indicators, r60: float) -> tuple[float, float]:
    """``return_per_hour`` and ``volatility_per_hour`` (0.0 each while not known)."""
    clocks = ind.clock_window
    n = ind.held
    now = clocks[-1] if n else 0.0
    rate = 0.0
    if n > _MAX_LAG:
        span = now - clocks[-_MAX_LAG - 1]
        if span > 0.0:
            rate = r60 * HOUR_S / span
    vol = 0.0
    volatility = ind.volatility
    squares = volatility.sum_of_squares
    window = volatility.window
    if squares is not None and n > window:
        span = now - clocks[-window - 1]
        if span > 0.0:
            vol = sqrt(squares * HOUR_S / span)
    return rate, vol


def _features_warming(ind: Indicators) -> dict[str, float]:
    """:func:`features` while some indicator has no value yet: those features are 0.0."""
    price = ind.price
    r1 = r5 = r15 = r60 = 0.0
    ema_fast_dist = ema_slow_dist = vwap_dist = macd_hist_rel = atr_rel = 0.0
    bb_upper_dist = bb_lower_dist = bb_width = 0.0
    if price is not None:
        prices = ind.price_window
        n = ind.held
        if n > _MAX_LAG:
            r1 = log(price / prices[-2])
            r5 = log(price / prices[-6])
            r15 = log(price / prices[-16])
            r60 = log(price / prices[-61])
        elif n > 1:
            r1 = log(price / prices[-2])
            if n > 5:
                r5 = log(price / prices[-6])
                if n > 15:
                    r15 = log(price / prices[-16])
        x = ind.ema_fast.value
        if x is not None:
            ema_fast_dist = price / x - 1.0
        x = ind.ema_slow.value
        if x is not None:
            ema_slow_dist = price / x - 1.0
        x = ind.vwap.value
        if x is not None:
            vwap_dist = price / x - 1.0
        x = ind.macd.histogram
        if x is not None:
            macd_hist_rel = x / price
        x = ind.atr.value
        if x is not None:
            atr_rel = x / price
        bands = ind.bbands
        upper = bands.upper
        if upper is not None:
            lower = bands.lower
            middle = bands.middle
            if lower is not None and middle is not None:
                bb_upper_dist = (price - upper) / price
                bb_lower_dist = (price - lower) / price
                bb_width = (upper - lower) / middle
    rsi = ind.rsi.value
    volatility = ind.volatility.value
    volume_zscore = ind.volume_zscore.value
    book = ind.book
    spread_bps = ind.spread_bps
    imbalance = book.imbalance
    slippage_bps = book.slippage_bps
    flow = ind.trade_flow.value
    sentiment = ind.sentiment_now()
    return_per_hour, volatility_per_hour = _per_open_hour(ind, r60)
    return {
        "log_return_1": r1,
        "log_return_5": r5,
        "log_return_15": r15,
        "log_return_60": r60,
        "rsi_centered": 0.0 if rsi is None else rsi * 0.02 - 1.0,
        "macd_hist_rel": macd_hist_rel,
        "ema_fast_dist": ema_fast_dist,
        "ema_slow_dist": ema_slow_dist,
        "vwap_dist": vwap_dist,
        "bb_upper_dist": bb_upper_dist,
        "bb_lower_dist": bb_lower_dist,
        "bb_width": bb_width,
        "volatility": 0.0 if volatility is None else volatility,
        "atr_rel": atr_rel,
        "volume_zscore": 0.0 if volume_zscore is None else volume_zscore,
        "spread_bps": 0.0 if spread_bps is None else spread_bps,
        "book_imbalance": 0.0 if imbalance is None else imbalance,
        "slippage_bps": 0.0 if slippage_bps is None else slippage_bps,
        "trade_flow_imbalance": 0.0 if flow is None else flow,
        "sentiment": 0.0 if sentiment is None else sentiment,
        "return_per_hour": return_per_hour,
        "volatility_per_hour": volatility_per_hour,
    }
