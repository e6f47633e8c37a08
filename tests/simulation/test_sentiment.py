"""Sentiment mocks: bounded scores per keyword whose lead over the returns is real."""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict

import pytest

from data_feeds.cache.keys import record_stream
from data_feeds.records import Sentiment, Tick
from data_feeds.simulation.feeds import FeedConfig, MarketSimulator, make_symbols
from data_feeds.simulation.sentiment import NewsScraper, SentimentSource, TwitterSentiment

SEED = 21
CONFIG = FeedConfig(tick_rate_hz=2.0, trade_rate_hz=0.0, book_rate_hz=0.0)


def correlation(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def scores(source: type[SentimentSource], n: int, **kwargs: float) -> list[Sentiment]:
    sim = MarketSimulator(make_symbols(4), CONFIG, seed=SEED)
    return list(itertools.islice(source.for_market(sim, **kwargs).records(), n))


def future_returns(got: list[Sentiment], lead_s: float) -> list[float]:
    """The log return over (t, t + lead_s] of each score's symbol, from the published ticks.

    The ticks come from a second simulator with the same seed: what a consumer would see.
    """
    end = got[-1].timestamp + lead_s + 10.0
    sim = MarketSimulator(make_symbols(4), CONFIG, seed=SEED)
    keyword_of = {s.symbol: s.keyword for s in sim.symbols}
    times: dict[str, list[float]] = defaultdict(list)
    logs: dict[str, list[float]] = defaultdict(list)
    for r in sim.records():
        if r.timestamp > end:
            break
        assert isinstance(r, Tick)
        times[keyword_of[r.symbol]].append(r.timestamp)
        logs[keyword_of[r.symbol]].append(math.log(r.price))

    def log_price(keyword: str, t: float) -> float:
        i = bisect.bisect_right(times[keyword], t) - 1
        return logs[keyword][max(i, 0)]

    return [
        log_price(s.keyword, s.timestamp + lead_s) - log_price(s.keyword, s.timestamp) for s in got
    ]


# Scores every ~10 s per keyword with a 10 s lead: the windows of one keyword barely overlap,
# so 4000 scores are ~4000 independent samples (a correlation's noise is ~0.016).
SAMPLED = {"lead_s": 10.0, "interval_s": 10.0}


def test_scores_lead_the_future_return() -> None:
    """With a lead, scores correlate clearly with the return over the next lead_s seconds."""
    got = scores(TwitterSentiment, 4000, **SAMPLED)
    rho = correlation([s.score for s in got], future_returns(got, 10.0))
    assert rho > 0.4, rho


def test_without_a_lead_scores_are_noise() -> None:
    """With lead_s = 0, scores do not correlate with the future return."""
    got = scores(TwitterSentiment, 4000, lead_s=0.0, interval_s=10.0)
    rho = correlation([s.score for s in got], future_returns(got, 10.0))
    assert abs(rho) < 0.08, rho


def test_scores_do_not_know_the_past() -> None:
    """The lead is on future returns only: the return just before a score tells nothing."""
    got = scores(TwitterSentiment, 4000, **SAMPLED)
    past = [-r for r in future_returns(got, -10.0)]  # the return over (t - 10, t]
    assert abs(correlation([s.score for s in got], past)) < 0.08


def test_news_is_rarer_and_cleaner_than_tweets() -> None:
    """News arrives ~24x less often per keyword and, at the same lead, tracks returns closer."""
    for source, interval in ((TwitterSentiment, 5.0), (NewsScraper, 120.0)):
        got = scores(source, 800)
        assert {s.source for s in got} == {source.source}
        per_keyword = (got[-1].timestamp - got[0].timestamp) * 4 / len(got)
        assert per_keyword == pytest.approx(interval, rel=0.15)
    tweets = scores(TwitterSentiment, 4000, **SAMPLED)
    news = scores(NewsScraper, 4000, **SAMPLED)
    rho_tweets = correlation([s.score for s in tweets], future_returns(tweets, 10.0))
    rho_news = correlation([s.score for s in news], future_returns(news, 10.0))
    assert rho_news > rho_tweets + 0.15, (rho_news, rho_tweets)


def test_scores_are_bounded_and_rounded() -> None:
    """Scores stay within [-1, 1], use both signs and go to sentiment:{KEYWORD}."""
    got = scores(TwitterSentiment, 2000, strength=5.0)
    assert all(-1.0 <= s.score <= 1.0 for s in got)
    assert min(s.score for s in got) < -0.9 and max(s.score for s in got) > 0.9
    assert all(round(s.score, 4) == s.score for s in got)
    assert record_stream(got[0]).startswith("sentiment:")
    times = [s.timestamp for s in got]
    assert times == sorted(times)


def test_plain_keywords_and_validation() -> None:
    """Keywords without a price path are normalized and scored from noise alone."""
    source = NewsScraper(["btc", "eth-usd"], seed=1, interval_s=1.0)
    got = list(itertools.islice(source.records(), 200))
    assert {s.keyword for s in got} == {"BTC", "ETHUSD"}
    again = NewsScraper(["btc", "eth-usd"], seed=1, interval_s=1.0)
    assert got == list(itertools.islice(again.records(), 200))
    with pytest.raises(ValueError, match="keyword"):
        TwitterSentiment(["bad keyword!"])
    with pytest.raises(ValueError, match="interval_s"):
        TwitterSentiment(["BTC"], interval_s=0)
    with pytest.raises(ValueError, match="one string"):
        TwitterSentiment("BTC")
