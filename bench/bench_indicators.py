"""Per-tick cost of our incremental indicators beside talipp computing the same ones.

    .venv/bin/python bench/bench_indicators.py [--ticks 50000] [--repeats 3] [--seed 1]

One run, one synthetic tick stream (a seeded geometric random walk with log-normal volumes),
two ways of keeping the same indicator set current: RSI(14), EMA(12), EMA(26),
MACD(12, 26, 9), Bollinger Bands(20, 2), cumulative VWAP and the 60-tick volatility of log
returns (for talipp: ``StdDev(60)`` fed the log returns, computed in the loop; its VWAP takes an
``OHLCV`` object per tick, which its API requires and this bench counts as its cost).

Time per tick is the median over chunks of ``CHUNK`` consecutive ticks (one
``perf_counter_ns`` pair per chunk), over ``--repeats`` passes with fresh indicators, ours and
talipp's interleaved so both see the same machine state. Also printed, outside the ratio: the
whole per-symbol bundle (``Indicators.update``, which adds ATR bars, the volume z-score, the
price history and trade-flow expiry) and the feature dict (``features``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from talipp.indicators import BB as TBB
from talipp.indicators import EMA as TEMA
from talipp.indicators import MACD as TMACD
from talipp.indicators import RSI as TRSI
from talipp.indicators import VWAP as TVWAP
from talipp.indicators import StdDev as TStdDev
from talipp.ohlcv import OHLCV

from data_feeds.indicators import (
    EMA,
    MACD,
    RSI,
    VWAP,
    BollingerBands,
    IndicatorConfig,
    Indicators,
    RealizedVolatility,
)
from data_feeds.records import Tick
from data_feeds.signals.features import features
from streams import random_walk
from timing import CHUNK, per_item_us

TARGET_RATIO = 0.5
"""Ours should cost at most this fraction of talipp's per-tick time."""


def make_stream(n: int, seed: int) -> tuple[list[float], list[float], list[float]]:
    """Prices, volumes and timestamps (epoch seconds, ~0.25 s apart) of ``n`` ticks."""
    ticks = random_walk(n, seed)
    return [t.price for t in ticks], [t.volume for t in ticks], [t.timestamp for t in ticks]


Pass = Callable[[list[float], list[float], list[float]], tuple[list[float], dict[str, float]]]


def ours(
    prices: list[float], volumes: list[float], times: list[float]
) -> tuple[list[float], dict[str, float]]:
    """Our indicators, one update call each per tick."""
    rsi, ema_fast, ema_slow = RSI(14), EMA(12), EMA(26)
    macd, bands, vwap, vol = (
        MACD(12, 26, 9),
        BollingerBands(20, 2.0),
        VWAP(),
        RealizedVolatility(60),
    )
    per_tick: list[float] = []
    clock = time.perf_counter_ns
    for start in range(0, len(prices) - CHUNK + 1, CHUNK):
        t0 = clock()
        for i in range(start, start + CHUNK):
            p = prices[i]
            rsi.update(p)
            ema_fast.update(p)
            ema_slow.update(p)
            macd.update(p)
            bands.update(p)
            vwap.update(p, volumes[i])
            vol.update(p)
        per_tick.append((clock() - t0) / CHUNK / 1e3)
    assert macd.histogram is not None and bands.upper is not None
    final = {
        "rsi": rsi.value or 0.0,
        "ema12": ema_fast.value or 0.0,
        "ema26": ema_slow.value or 0.0,
        "macd_hist": macd.histogram,
        "bb_upper": bands.upper,
        "vwap": vwap.value or 0.0,
    }
    return per_tick, final


def talipp(
    prices: list[float], volumes: list[float], times: list[float]
) -> tuple[list[float], dict[str, float]]:
    """talipp's indicators, one add call each per tick."""
    rsi, ema_fast, ema_slow = TRSI(14), TEMA(12), TEMA(26)
    macd, bands, vwap, vol = TMACD(12, 26, 9), TBB(20, 2.0), TVWAP(), TStdDev(60)
    per_tick: list[float] = []
    clock = time.perf_counter_ns
    prev = prices[0]
    log = math.log
    for start in range(0, len(prices) - CHUNK + 1, CHUNK):
        t0 = clock()
        for i in range(start, start + CHUNK):
            p = prices[i]
            rsi.add(p)
            ema_fast.add(p)
            ema_slow.add(p)
            macd.add(p)
            bands.add(p)
            vwap.add(OHLCV(p, p, p, p, volumes[i]))
            if i:
                vol.add(log(p / prev))
            prev = p
        per_tick.append((clock() - t0) / CHUNK / 1e3)
    final = {
        "rsi": rsi[-1],
        "ema12": ema_fast[-1],
        "ema26": ema_slow[-1],
        "macd_hist": macd[-1].histogram,
        "bb_upper": bands[-1].ub,
        "vwap": vwap[-1],
    }
    return per_tick, final


def bundle(
    prices: list[float], volumes: list[float], times: list[float]
) -> tuple[list[float], dict[str, float]]:
    """The whole per-symbol bundle, fed Tick records."""
    ind = Indicators("BTCUSDT", IndicatorConfig(vwap_anchor="D"))
    ticks = [Tick("BTCUSDT", p, v, t) for p, v, t in zip(prices, volumes, times, strict=True)]
    return per_item_us(ticks, ind.update), {}


def feature_dicts(
    prices: list[float], volumes: list[float], times: list[float]
) -> tuple[list[float], dict[str, float]]:
    """``features(ind)`` after each tick (the tick's own update is not timed)."""
    ind = Indicators("BTCUSDT")
    per_tick: list[float] = []
    clock = time.perf_counter_ns
    for start in range(0, len(prices) - CHUNK + 1, CHUNK):
        elapsed = 0
        for i in range(start, start + CHUNK):
            ind.update(Tick("BTCUSDT", prices[i], volumes[i], times[i]))
            t0 = clock()
            features(ind)
            elapsed += clock() - t0
        per_tick.append(elapsed / CHUNK / 1e3)
    return per_tick, {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ticks", type=int, default=50_000, help="ticks per pass")
    parser.add_argument("--repeats", type=int, default=3, help="passes per contender")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.ticks < 10 * CHUNK:
        parser.error(f"--ticks must be at least {10 * CHUNK}")

    prices, volumes, times = make_stream(args.ticks, args.seed)
    contenders: dict[str, Pass] = {
        "ours": ours,
        "talipp": talipp,
        "bundle": bundle,
        "features": feature_dicts,
    }
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    finals: dict[str, dict[str, float]] = {}
    for _ in range(args.repeats):
        for name, run in contenders.items():
            per_tick, final = run(prices, volumes, times)
            samples[name].extend(per_tick)
            finals[name] = final

    med = {name: statistics.median(values) for name, values in samples.items()}
    print(f"python {sys.version.split()[0]}, {args.ticks} ticks x {args.repeats} passes, "
          f"median over chunks of {CHUNK} ticks")  # fmt: skip
    print("indicators: RSI(14), EMA(12), EMA(26), MACD(12,26,9), BBands(20,2), VWAP, vol(60)")
    print(f"  ours    {med['ours']:7.2f} us/tick")
    print(f"  talipp  {med['talipp']:7.2f} us/tick")
    ratio = med["ours"] / med["talipp"]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"  ratio ours/talipp {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})")
    print(f"whole bundle Indicators.update(tick)  {med['bundle']:7.2f} us/tick")
    print(f"feature dict features(ind)            {med['features']:7.2f} us/tick")
    print("final values, ours vs talipp (same stream; warm-up conventions may differ):")
    for key, value in finals["ours"].items():
        other = finals["talipp"][key]
        rel = abs(value - other) / max(abs(other), 1e-300)
        print(f"  {key:9s} {value:.10g} vs {other:.10g} (rel diff {rel:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
