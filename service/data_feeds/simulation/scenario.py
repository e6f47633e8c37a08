"""A whole simulated market in one call: feeds, optional sentiment, optional labelled faults.

``data-feeds simulate`` and ``data-feeds demo`` both build their message stream here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from data_feeds.records import Record
from data_feeds.simulation.edge_cases import FAULT_TYPES, FaultConfig, FaultInjector, Message
from data_feeds.simulation.feeds import FeedConfig, MarketSimulator, make_symbols
from data_feeds.simulation.sentiment import NewsScraper, TwitterSentiment

UNPACED_EVENTS_PER_SYMBOL: Final = 100.0
"""Event rate per symbol that shapes simulated time when publishing as fast as possible."""


@dataclass(slots=True)
class Scenario:
    """The messages to publish, and what produced them."""

    messages: Iterable[Message]
    injector: FaultInjector | None
    seed: int
    start_s: float
    paced: bool


def build_scenario(
    *,
    symbols: int,
    asset_classes: Sequence[str] = ("crypto",),
    rate: float = 2000.0,
    seed: int | None = None,
    start_s: float | None = None,
    trades: bool = True,
    books: bool = True,
    book_depth: int | None = None,
    sentiment: bool = False,
    sentiment_lead_s: float = 60.0,
    faults: float = 0.0,
    fault_types: Sequence[str] | None = None,
) -> Scenario:
    """A seeded scenario. ``rate`` > 0: simulated time runs with the wall clock from now (or
    ``start_s``) at ``rate`` messages/s in total; 0: unpaced, simulated time from a day ago.
    Raises ``ValueError`` for a setting out of range."""
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
    paced = rate > 0
    now = time.time()
    start = start_s if start_s is not None else (now if paced else now - 86_400.0)
    total_rate = rate if paced else UNPACED_EVENTS_PER_SYMBOL * symbols
    depth: dict[str, object] = {} if book_depth is None else {"book_depth": book_depth}
    config = FeedConfig.for_rate(
        total_rate, symbols, trades=trades, books=books, start_s=start, **depth
    )
    specs = make_symbols(symbols, list(asset_classes), seed=seed)
    sim = MarketSimulator(specs, config, seed=seed)
    extra: list[Iterator[Record]] = []
    if sentiment:
        extra.append(TwitterSentiment.for_market(sim, lead_s=sentiment_lead_s).records())
        extra.append(NewsScraper.for_market(sim).records())
    if faults > 0:
        fault_config = FaultConfig.uniform(faults, fault_types or FAULT_TYPES)
        injector = FaultInjector(sim.records(extra=extra), fault_config, seed=seed)
        return Scenario(injector, injector, seed, start, paced)
    return Scenario(sim.records(extra=extra), None, seed, start, paced)
