"""The synthetic tick streams the benchmarks feed their contenders, made one way.

Seeded geometric random walks, one per symbol, the symbols taking turns; Poisson arrivals;
lognormal volumes. ``entries`` lays ticks out as the service reads them from Redis.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from data_feeds.cache.codec import DATA_FIELD, DATA_FIELD_B, encode_fields
from data_feeds.records import Tick

T0 = 1_700_000_000.0


def random_walk(
    n: int,
    seed: int,
    *,
    symbols: Sequence[str] = ("BTCUSDT",),
    start: float = 30_000.0,
    sigma: float = 5e-4,
    rate_hz: float = 4.0,
    regular: bool = False,
    quoted: bool = False,
) -> list[Tick]:
    """``n`` ticks: log returns of standard deviation ``sigma`` per tick of a symbol, ``rate_hz``
    ticks per second over all symbols (Poisson arrivals; ``regular``: evenly spaced);
    ``quoted``: a bid and ask 1 bp either side."""
    rng = random.Random(seed)
    prices = dict.fromkeys(symbols, start)
    ts = T0
    out = []
    for i in range(n):
        symbol = symbols[i % len(symbols)]
        price = prices[symbol] = prices[symbol] * math.exp(rng.gauss(0.0, sigma))
        ts += 1.0 / rate_hz if regular else rng.expovariate(rate_hz)
        tick = Tick(symbol, price, rng.lognormvariate(0.0, 1.0), ts)
        if quoted:
            tick.bid = round(price * 0.9999, 2)
            tick.ask = round(price * 1.0001, 2)
        out.append(tick)
    return out


def entries(ticks: Sequence[Tick]) -> list[dict[bytes, bytes]]:
    """Each tick as the stream entry redis-py returns for it (our single ``data`` field)."""
    return [{DATA_FIELD_B: encode_fields(tick)[DATA_FIELD]} for tick in ticks]
