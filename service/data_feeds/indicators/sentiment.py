"""Sentiment as of a given time: the latest score per keyword, decayed with age."""

from __future__ import annotations

from math import exp, log

LN2 = log(2.0)


class SentimentAsOf:
    """The mean, over keywords, of each keyword's latest score decayed by its age.

    A score of age ``a`` seconds weighs ``0.5 ** (a / half_life_s)``; scores older than
    ``stale_after_s`` are ignored (a keyword nobody talks about says nothing). :meth:`value_at`
    answers for any time; ``value`` answers as of the latest time seen (an update or
    :meth:`advance`). ``None`` when no keyword has a fresh score. At most ``max_keywords``
    keywords are kept (the stalest is dropped first).
    """

    __slots__ = (
        "_decay_per_s",
        "_latest",
        "_now_s",
        "half_life_s",
        "max_keywords",
        "stale_after_s",
    )

    half_life_s: float
    stale_after_s: float
    max_keywords: int

    def __init__(
        self, half_life_s: float = 3600.0, stale_after_s: float = 6 * 3600.0, max_keywords: int = 64
    ) -> None:
        if not half_life_s > 0.0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
        if not stale_after_s > 0.0:
            raise ValueError(f"stale_after_s must be > 0, got {stale_after_s}")
        if max_keywords < 1:
            raise ValueError(f"max_keywords must be >= 1, got {max_keywords}")
        self.half_life_s = float(half_life_s)
        self.stale_after_s = float(stale_after_s)
        self.max_keywords = max_keywords
        self._decay_per_s = LN2 / self.half_life_s
        # keyword -> (timestamp, score) of its latest score.
        self._latest: dict[str, tuple[float, float]] = {}
        self._now_s = float("-inf")

    @property
    def value(self) -> float | None:
        """The decayed mean as of the latest time seen."""
        return self.value_at(self._now_s)

    def advance(self, now_s: float) -> None:
        """Move the clock ``value`` answers for (never backwards)."""
        self._now_s = max(self._now_s, now_s)

    def update(self, keyword: str, score: float, timestamp: float) -> None:
        """Record a score; an older score than the keyword's latest is ignored."""
        latest = self._latest
        previous = latest.get(keyword)
        if previous is not None and timestamp < previous[0]:
            return
        if previous is None and len(latest) >= self.max_keywords:
            stalest = min(latest, key=lambda k: latest[k][0])
            if latest[stalest][0] > timestamp:
                return
            del latest[stalest]
        latest[keyword] = (timestamp, score)
        self._now_s = max(self._now_s, timestamp)

    def value_at(self, now_s: float) -> float | None:
        """The decayed mean of the fresh scores as of ``now_s`` (scores from the future count
        at full weight)."""
        latest = self._latest
        if not latest:
            return None
        total = 0.0
        fresh = 0
        for timestamp, score in latest.values():
            age_s = now_s - timestamp
            if age_s > self.stale_after_s:
                continue
            total += score * exp(-self._decay_per_s * age_s) if age_s > 0.0 else score
            fresh += 1
        return total / fresh if fresh else None
