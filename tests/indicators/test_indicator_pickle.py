"""Every indicator and the bundle survive pickling and continue bit-identically."""

from __future__ import annotations

import pickle
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from data_feeds.indicators import (
    ATR,
    EMA,
    MACD,
    RSI,
    SMA,
    VWAP,
    BollingerBands,
    IndicatorConfig,
    Indicators,
    OrderBook,
    RealizedVolatility,
    RollingMoments,
    SentimentAsOf,
    TradeFlowImbalance,
    VolumeZScore,
)
from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.signals.features import features

N = 3000
rng = np.random.default_rng(17)
PRICES = (100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, N)))).tolist()
VOLUMES = rng.lognormal(0.0, 1.0, N).tolist()
TIMES = (1_700_000_000.0 + np.cumsum(rng.exponential(30.0, N))).tolist()
SIDES = ["buy" if u < 0.5 else "sell" for u in rng.uniform(size=N).tolist()]


def step_price(ind: Any, i: int) -> None:
    ind.update(PRICES[i])


def step_bar(ind: Any, i: int) -> None:
    ind.update(PRICES[i] * 1.001, PRICES[i] * 0.999, PRICES[i])


def step_book(ind: Any, i: int) -> None:
    p = round(PRICES[i], 2)
    bids = [(p - 0.01 * (k + 1), VOLUMES[(i + k) % N]) for k in range(5)]
    asks = [(p + 0.01 * (k + 1), VOLUMES[(i + k + 7) % N]) for k in range(5)]
    if i % 50 == 0:
        ind.update(bids, asks)
    else:
        ind.update([*bids[:2], (p - 0.04, 0.0)], asks[:1], is_delta=True)


def observe(ind: Any) -> Any:
    if isinstance(ind, OrderBook):
        return (ind.mid, ind.spread_bps, ind.imbalance, ind.slippage_bps, ind.bids(), ind.asks())
    if isinstance(ind, RollingMoments):
        return (ind.mean, ind.m2)
    if isinstance(ind, SentimentAsOf):
        return ind.value
    if isinstance(ind, RealizedVolatility):
        return (ind.value, ind.last_return)
    return ind.value


CASES: dict[str, tuple[Callable[[], Any], Callable[[Any, int], None]]] = {
    "SMA": (lambda: SMA(20), step_price),
    "EMA": (lambda: EMA(20), step_price),
    "RSI": (lambda: RSI(14), step_price),
    "MACD": (MACD, step_price),
    "BollingerBands": (lambda: BollingerBands(20, 2.0), step_price),
    "RealizedVolatility": (lambda: RealizedVolatility(30), step_price),
    "RollingMoments": (lambda: RollingMoments(30), lambda ind, i: ind.push(PRICES[i])),
    "ATR": (lambda: ATR(14), step_bar),
    "VWAP": (lambda: VWAP("D"), lambda ind, i: ind.update(PRICES[i], VOLUMES[i], TIMES[i])),
    "VolumeZScore": (lambda: VolumeZScore(30), lambda ind, i: ind.update(VOLUMES[i])),
    "OrderBook": (lambda: OrderBook(3, 500.0, 8), step_book),
    "TradeFlowImbalance": (
        lambda: TradeFlowImbalance(120.0, 50),
        lambda ind, i: ind.update(VOLUMES[i], SIDES[i], TIMES[i]),
    ),
    "SentimentAsOf": (
        lambda: SentimentAsOf(600.0, 3600.0, 4),
        lambda ind, i: ind.update(f"K{i % 6}", VOLUMES[i] % 1.0, TIMES[i]),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_indicator_continues_bit_identically_after_pickling(name: str) -> None:
    """Pickled mid-stream, the copy and the original then give identical values."""
    make, step = CASES[name]
    original = make()
    for i in range(N // 2):
        step(original, i)
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is type(original)
    assert observe(copy) == observe(original)
    for i in range(N // 2, N):
        step(original, i)
        step(copy, i)
        assert observe(copy) == observe(original), f"diverged at {i}"
    assert observe(original) is not None


def records(start: int, stop: int) -> list[Record]:
    out: list[Record] = []
    for i in range(start, stop):
        ts = TIMES[i]
        out.append(Tick("BTCUSDT", PRICES[i], VOLUMES[i], ts))
        if i % 3 == 0:
            out.append(Trade("BTCUSDT", PRICES[i], VOLUMES[i], SIDES[i], ts))
        if i % 25 == 0:
            p = round(PRICES[i], 2)
            out.append(BookSnapshot("BTCUSDT", ts, ((p - 0.01, 1.0),), ((p + 0.01, 2.0),)))
        elif i % 5 == 0:
            out.append(BookDelta("BTCUSDT", ts, ((round(PRICES[i], 2) - 0.02, 0.5),), ()))
        if i % 40 == 0:
            out.append(Sentiment("BTC", VOLUMES[i] % 1.0, ts))
    return out


def snapshot(ind: Indicators) -> tuple[Any, ...]:
    return (
        ind.ema_fast.value, ind.ema_slow.value, ind.rsi.value, ind.macd.value, ind.bbands.value,
        ind.atr.value, ind.vwap.value, ind.volatility.value, ind.volume_zscore.value,
        ind.book.mid, ind.book.slippage_bps, ind.trade_flow.value, ind.sentiment_now(),
        tuple(ind.prices), ind.price, ind.timestamp, ind.ticks, ind.ticks_to_warm,
        ind.volatility.last_return, features(ind),
    )  # fmt: skip


def test_bundle_continues_bit_identically_after_pickling() -> None:
    """A pickled Indicators bundle, fed the same records, stays identical to the original."""
    original = Indicators("BTCUSDT", IndicatorConfig(bar_s=120.0, trade_flow_window_s=300.0))
    for record in records(0, N // 2):
        original.update(record)
    copy = pickle.loads(pickle.dumps(original))
    assert copy.config == original.config
    for record in records(N // 2, N):
        original.update(record)
        copy.update(record)
        assert snapshot(copy) == snapshot(original)
    assert None not in snapshot(original)


def state_without(obj: object, *names: str) -> dict[str, Any]:
    """The pickled slots of ``obj`` minus ``names``: what an older version pickled."""
    state = obj.__getstate__()  # (None, slots) for a slotted object
    assert isinstance(state, tuple)
    return {k: v for k, v in state[1].items() if k not in names}


def test_a_bundle_pickled_before_the_derived_fields_existed_restores_them() -> None:
    """A checkpoint written before ``ticks_to_warm`` and ``last_return`` were kept loads and
    continues exactly like the bundle it was taken from."""
    original = Indicators("BTCUSDT", IndicatorConfig(bar_s=120.0, trade_flow_window_s=300.0))
    for record in records(0, N // 2):
        original.update(record)
    old_volatility = RealizedVolatility.__new__(RealizedVolatility)
    old_volatility.__setstate__((None, state_without(original.volatility, "last_return")))
    old_state = state_without(original, "ticks_to_warm")
    old_state["volatility"] = old_volatility
    old = Indicators.__new__(Indicators)
    old.__setstate__((None, old_state))
    copy = pickle.loads(pickle.dumps(old))
    assert snapshot(copy) == snapshot(original)
    for record in records(N // 2, N):
        original.update(record)
        copy.update(record)
        assert snapshot(copy) == snapshot(original)


def copy_array(values: array[float]) -> array[float]:
    return array("d", values)


def old_moments(moments: RollingMoments, window_type: Callable[[Any], Any]) -> RollingMoments:
    """``moments`` as checkpoint formats 3 and 4 pickled it: the window grown value by value
    (``window_type``: a list of floats before issue 15, then an array), no count."""
    state = state_without(moments, "_n")
    held = moments._buf if moments.full else moments._buf[: moments.count]
    state["_buf"] = window_type(held)
    if not moments.full:
        state["_pos"] = 0
    old = RollingMoments.__new__(RollingMoments)  # "_n" left unset: it pickles without it
    for name, value in state.items():
        object.__setattr__(old, name, value)
    return old


def old_bundle(ind: Indicators, *, before_arrays: bool) -> dict[str, Any]:
    """The pickled slots of ``ind`` as checkpoint formats 3 and 4 wrote them: the held prices
    and clocks (deques of floats before issue 15, then arrays grown value by value), windows
    without counts (lists of floats before issue 15)."""
    state = state_without(ind, "_history", "price_window", "clock_window", "held")
    history = ind.config.price_history
    held: Callable[[Any], Any] = (
        (lambda v: deque(v, maxlen=history)) if before_arrays else (lambda v: array("d", v))
    )
    state["prices"] = held(ind.prices)
    state["clocks"] = held(ind.clocks)
    for name in ("bbands", "volatility", "volume_zscore"):
        holder = pickle.loads(pickle.dumps(state[name]))
        holder._moments = old_moments(holder._moments, list if before_arrays else copy_array)
        state[name] = holder
    return state


@pytest.mark.parametrize("fed", [40, N // 2], ids=["warming", "warm"])
@pytest.mark.parametrize("before_arrays", [True, False], ids=["deques-and-lists", "arrays-grown"])
def test_a_bundle_pickled_before_its_windows_had_full_length_continues_exactly(
    fed: int, before_arrays: bool
) -> None:
    """Before issue 15 the price and clock histories were deques of floats and the rolling
    windows lists of floats; then (checkpoint formats 3 and 4) arrays grown value by value.
    Either loads into windows of full length and continues exactly like the bundle it was
    taken from, from a bundle still warming up as from a warm one."""
    original = Indicators("BTCUSDT", IndicatorConfig(bar_s=120.0, trade_flow_window_s=300.0))
    for record in records(0, fed):
        original.update(record)
    history = original.config.price_history
    old = old_bundle(original, before_arrays=before_arrays)
    assert "_n" not in old["bbands"]._moments.__getstate__()[1]
    copy = Indicators.__new__(Indicators)  # what unpickling the old bundle does
    copy.__setstate__((None, pickle.loads(pickle.dumps(old))))
    windows = [copy.bbands._moments, copy.volatility._moments, copy.volume_zscore._moments]
    assert all(type(w._buf) is array and len(w._buf) == w.window for w in windows)
    assert len(copy.price_window) == len(copy.clock_window) == history
    assert copy.held == original.held == min(original.ticks, history)
    assert snapshot(copy) == snapshot(original)
    for record in records(fed, N):
        original.update(record)
        copy.update(record)
        assert snapshot(copy) == snapshot(original)
    assert len(copy.prices) == len(copy.clocks) == history
