"""Simulated history with a planted, learnable effect: sentiment leading returns.

A tick every second; every ``regime_s`` seconds a sentiment score ``s`` ~ U(-1, 1) is published
for the symbol's keyword half a second before a tick, and from that tick until the next score
each 1-second log return is ``effect * sigma * s + sigma * e`` (``e`` standard normal). With
``effect = 0`` the sentiment is pure noise and so are the returns. With ``regime_s = 1`` and a
1 s horizon every row is independent and P(up | s) = Phi(effect * s): ``effect = 1`` lets about
69 % of the moves be called from the sentiment alone.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from data_feeds.records import Record, Sentiment, Tick

T0 = 1_700_000_000.0
SYMBOL = "SENTUSDT"
KEYWORD = "SENT"


def planted_history(
    segments: Sequence[tuple[int, float]],
    *,
    seed: int,
    t0: float = T0,
    regime_s: int = 1,
    sigma: float = 0.001,
    symbol: str = SYMBOL,
    keyword: str = KEYWORD,
) -> list[Record]:
    """Ticks every second and sentiment every ``regime_s`` s; ``segments`` are
    ``(seconds, effect)`` pairs played one after the other on one continuous price path."""
    rng = random.Random(seed)
    out: list[Record] = []
    price = 100.0
    s = 0.0
    i = 0
    for seconds, effect in segments:
        for _ in range(seconds):
            t = t0 + i
            if i % regime_s == 0:
                s = rng.uniform(-1.0, 1.0)
                out.append(Sentiment(keyword, round(s, 4), t - 0.5, "test"))
            out.append(Tick(symbol, round(price, 6), round(rng.uniform(0.1, 2.0), 4), t))
            # The move after this tick: what the sentiment published just before it leads.
            price *= math.exp(effect * sigma * s + sigma * rng.gauss(0.0, 1.0))
            i += 1
    return out
