"""Sentiment mocks: ``TwitterSentiment`` and ``NewsScraper`` scores in [-1, 1] per keyword.

A score is ``tanh(strength * z + noise * e)`` rounded to 4 decimals, where

- ``z`` is the keyword's price return over ``(t, t + lead_s]``, in units of its calm-regime
  standard deviation over ``lead_s``: the source "knows" the next ``lead_s`` seconds, so a
  learner has something real to find. It reads that future from the keyword's ``PricePath``,
  the same deterministic path the ticks are emitted from (``for_market``);
- ``e`` mixes a persistent mood (an AR(1) with ``persistence`` per message) with fresh noise,
  unit variance in all.

Without a path, or with ``lead_s = 0`` or ``strength = 0``, a score is noise only (correlation
with any return ~0). The two sources differ in cadence and noise: tweets are frequent and noisy
with a short lead, news is rare, cleaner and looks further ahead. Messages per keyword arrive as
a Poisson process with mean spacing ``interval_s`` (simulated time), keywords merged in time
order. The same seed gives the same scores; the noise draws do not depend on the lead, so
turning the lead off changes the scores only by the signal.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Final, Self

from data_feeds.cache.keys import normalize_symbol
from data_feeds.checks import check_number
from data_feeds.records import Record, Sentiment
from data_feeds.simulation.feeds import (
    CALM,
    DEFAULT_START_S,
    MarketSimulator,
    PricePath,
    merge_by_time,
)

_KEYWORD_RE: Final = re.compile(r"[A-Z0-9.]{1,32}")


class SentimentSource:
    """Scores for a set of keywords from one source; subclasses set the source's defaults."""

    source: ClassVar[str] = "sentiment"
    default_interval_s: ClassVar[float] = 10.0
    default_noise: ClassVar[float] = 1.0
    default_lead_s: ClassVar[float] = 60.0
    default_strength: ClassVar[float] = 1.0
    default_persistence: ClassVar[float] = 0.9

    def __init__(
        self,
        keywords: Mapping[str, PricePath | None] | Iterable[str],
        *,
        seed: int = 0,
        start_s: float = DEFAULT_START_S,
        interval_s: float | None = None,
        noise: float | None = None,
        lead_s: float | None = None,
        strength: float | None = None,
        persistence: float | None = None,
    ) -> None:
        """``keywords``: names, or a mapping of name -> the ``PricePath`` whose future it leads.

        ``interval_s``: mean simulated seconds between two scores of one keyword.
        ``noise``: weight of the noise term. ``lead_s``, ``strength``: how far ahead and how
        strongly the score follows the return. ``persistence``: AR(1) coefficient of the mood.
        """
        items: Iterable[tuple[str, PricePath | None]]
        if isinstance(keywords, Mapping):
            items = keywords.items()
        elif isinstance(keywords, str):
            raise ValueError("keywords must be a collection of names, not one string")
        else:
            items = ((k, None) for k in keywords)
        self.keywords: dict[str, PricePath | None] = {}
        for raw, path in items:
            if not isinstance(raw, str):
                raise ValueError(f"a keyword must be text, got {raw!r}")
            name = normalize_symbol(raw)
            if _KEYWORD_RE.fullmatch(name) is None:
                raise ValueError(
                    f"keyword {raw!r}: 1-32 characters of A-Z 0-9 . after upper-casing"
                )
            self.keywords[name] = path
        if not self.keywords:
            raise ValueError("no keywords")
        self.seed = seed
        self.start_s = check_number("start_s", start_s)
        self.interval_s = check_number(
            "interval_s",
            self.default_interval_s if interval_s is None else interval_s,
            positive=True,
        )
        self.noise = check_number("noise", self.default_noise if noise is None else noise)
        self.lead_s = check_number("lead_s", self.default_lead_s if lead_s is None else lead_s)
        self.strength = check_number(
            "strength", self.default_strength if strength is None else strength
        )
        self.persistence = check_number(
            "persistence",
            self.default_persistence if persistence is None else persistence,
            upper=0.999,
        )

    @classmethod
    def for_market(cls, sim: MarketSimulator, **kwargs: Any) -> Self:
        """Scores for every symbol's keyword of ``sim``, leading that symbol's price path."""
        kwargs.setdefault("seed", sim.seed)
        kwargs.setdefault("start_s", sim.config.start_s)
        return cls(sim.keyword_paths(), **kwargs)

    def records(self) -> Iterator[Sentiment]:
        """Every keyword's scores, merged in time order (unbounded)."""
        sources: list[Iterator[Record]] = [
            self._keyword_records(keyword, path) for keyword, path in self.keywords.items()
        ]
        for record in merge_by_time(sources):
            assert isinstance(record, Sentiment)
            yield record

    def _keyword_records(self, keyword: str, path: PricePath | None) -> Iterator[Sentiment]:
        rng = random.Random(f"{self.seed}/{self.source}/{keyword}")
        gauss, expo = rng.gauss, rng.expovariate
        rate = 1.0 / self.interval_s
        rho = self.persistence
        fresh = math.sqrt(1.0 - rho * rho)
        lead, strength, noise, source = self.lead_s, self.strength, self.noise, self.source
        leads = path is not None and lead > 0 and strength > 0
        scale = path.sigma(CALM) * math.sqrt(lead) if path is not None and leads else 1.0
        tanh = math.tanh
        t = self.start_s
        mood = 0.0
        while True:
            t += expo(rate)
            mood = rho * mood + fresh * gauss(0.0, 1.0)
            e = 0.6 * mood + 0.8 * gauss(0.0, 1.0)
            signal = 0.0
            if leads:
                assert path is not None
                z = (path.log_price_at(t + lead) - path.log_price_at(t)) / scale
                signal = strength * z
            yield Sentiment(keyword, round(tanh(signal + noise * e), 4), t, source)


class TwitterSentiment(SentimentSource):
    """Tweets: a score every ~5 s per keyword, noisy, leading the price by a minute."""

    source: ClassVar[str] = "twitter"
    default_interval_s: ClassVar[float] = 5.0
    default_noise: ClassVar[float] = 1.2
    default_lead_s: ClassVar[float] = 60.0
    default_strength: ClassVar[float] = 1.0
    default_persistence: ClassVar[float] = 0.8


class NewsScraper(SentimentSource):
    """News: a score every ~2 min per keyword, cleaner, leading the price by five minutes."""

    source: ClassVar[str] = "news"
    default_interval_s: ClassVar[float] = 120.0
    default_noise: ClassVar[float] = 0.5
    default_lead_s: ClassVar[float] = 300.0
    default_strength: ClassVar[float] = 1.5
    default_persistence: ClassVar[float] = 0.95
