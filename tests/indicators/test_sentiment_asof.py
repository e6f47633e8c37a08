"""Sentiment as of a time: latest score per keyword, decayed, stale scores ignored."""

from __future__ import annotations

import pytest

from data_feeds.indicators import SentimentAsOf


def test_a_score_halves_every_half_life() -> None:
    """A score's weight is 0.5 ** (age / half_life_s)."""
    s = SentimentAsOf(half_life_s=60.0, stale_after_s=1000.0)
    s.update("BTC", 0.8, 100.0)
    assert s.value_at(100.0) == 0.8
    assert s.value_at(160.0) == pytest.approx(0.4, rel=1e-14)
    assert s.value_at(220.0) == pytest.approx(0.2, rel=1e-14)


def test_stale_scores_are_ignored() -> None:
    """Past stale_after_s a keyword's score no longer counts; with none left, None."""
    s = SentimentAsOf(half_life_s=60.0, stale_after_s=300.0)
    s.update("BTC", 0.5, 0.0)
    s.update("BTCUSDT", -0.5, 200.0)
    assert s.value_at(300.0) == pytest.approx((0.5 * 0.5**5 - 0.5 * 0.5 ** (100 / 60)) / 2)
    assert s.value_at(301.0) == pytest.approx(-0.5 * 0.5 ** (101 / 60), rel=1e-14)
    assert s.value_at(501.0) is None


def test_only_the_latest_score_per_keyword_counts() -> None:
    """A newer score replaces a keyword's score; an older one is ignored."""
    s = SentimentAsOf(half_life_s=1e9)
    s.update("BTC", 0.9, 10.0)
    s.update("BTC", -0.3, 20.0)
    s.update("BTC", 1.0, 15.0)
    assert s.value_at(20.0) == -0.3


def test_value_answers_as_of_the_latest_time_seen() -> None:
    """`value` uses the latest update or advance() time, and the clock never rewinds."""
    s = SentimentAsOf(half_life_s=10.0)
    before = s.value
    assert before is None
    s.update("ETH", 0.6, 50.0)
    assert s.value == 0.6
    s.advance(60.0)
    assert s.value == pytest.approx(0.3, rel=1e-14)
    s.advance(55.0)
    assert s.value == pytest.approx(0.3, rel=1e-14)


def test_keywords_are_bounded_dropping_the_stalest() -> None:
    """Beyond max_keywords, the keyword with the oldest score is dropped."""
    s = SentimentAsOf(half_life_s=1e9, stale_after_s=1e9, max_keywords=2)
    s.update("A", 1.0, 1.0)
    s.update("B", 0.0, 2.0)
    s.update("C", 0.5, 3.0)
    assert s.value_at(3.0) == pytest.approx(0.25)
    s.update("D", -1.0, 0.5)  # older than everything kept: not worth a slot
    assert s.value_at(3.0) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "kwargs", [{"half_life_s": 0.0}, {"stale_after_s": -1.0}, {"max_keywords": 0}]
)
def test_bad_configuration_is_refused(kwargs: dict[str, float]) -> None:
    """Non-positive half-life, staleness limit or keyword bound raise."""
    with pytest.raises(ValueError, match="must be"):
        SentimentAsOf(**kwargs)  # type: ignore[arg-type]
