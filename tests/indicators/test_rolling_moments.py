"""RollingMoments: the sliding mean and squared deviations under the window indicators."""

from __future__ import annotations

import statistics
from fractions import Fraction

import numpy as np
import pytest

from data_feeds.indicators import RollingMoments
from tests.indicators.series import REAL_SERIES


def exact_m2(values: list[float]) -> float:
    """The sum of squared deviations computed in exact rational arithmetic."""
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    return float(sum((v - mean) ** 2 for v in exact))


def test_moments_match_the_exact_window_statistics() -> None:
    """Mean and population variance agree with `statistics` on every full window."""
    rng = np.random.default_rng(3)
    values = (1000.0 + np.cumsum(rng.normal(0.0, 1.0, 5000))).tolist()
    window = 25
    moments = RollingMoments(window)
    for i, x in enumerate(values):
        full = moments.push(x)
        assert full == (i + 1 >= window)
        if full:
            chunk = values[i - window + 1 : i + 1]
            assert moments.mean == pytest.approx(statistics.fmean(chunk), rel=1e-13)
            assert moments.m2 / window == pytest.approx(statistics.pvariance(chunk), rel=1e-8)


@pytest.mark.parametrize("series", ["quiet-after-volatile", "btcusdt-trades"])
def test_tiny_deviations_next_to_large_prices_stay_accurate(series: str) -> None:
    """At ~40,000 with deviations of 1e-3, m2 stays within 1e-6 of exact, relative to itself."""
    # A volatile stretch leaving the window, or a mean that drifted by dollars since the last
    # recompute, would otherwise leave rounding residue as large as the quiet window's m2.
    if series == "btcusdt-trades":
        values = REAL_SERIES[series]().close.tolist()
    else:
        rng = np.random.default_rng(8)
        volatile = 40_000.0 + np.cumsum(rng.normal(0.0, 20.0, 600))
        quiet = 40_000.0 + np.round(rng.normal(0.0, 1e-3, 900), 5)
        values = np.concatenate([volatile, quiet]).tolist()
    window = 20
    moments = RollingMoments(window)
    worst = 0.0
    for i, x in enumerate(values):
        if moments.push(x):
            exact = exact_m2(values[i - window + 1 : i + 1])
            if exact > 0.0:
                worst = max(worst, abs(moments.m2 - exact) / exact)
            else:
                assert moments.m2 == 0.0
    assert worst < 1e-6


def test_a_flat_window_has_exactly_zero_deviation() -> None:
    """After `window` identical values, m2 is exactly 0 and the mean exactly that value."""
    moments = RollingMoments(5)
    for x in (0.0026, 0.0031, 0.0019, 0.0027, 0.00263, 0.0024):
        moments.push(x)
    for _ in range(5):
        moments.push(0.00264338)
    assert moments.m2 == 0.0
    assert moments.mean == 0.00264338


def test_count_and_full_report_the_fill_level() -> None:
    """`count` grows to the window size and `full` turns true with the last slot."""
    moments = RollingMoments(3)
    assert (moments.count, moments.full) == (0, False)
    moments.push(1.0)
    moments.push(2.0)
    assert (moments.count, moments.full) == (2, False)
    moments.push(3.0)
    moments.push(4.0)
    assert (moments.count, moments.full) == (3, True)


def test_window_must_be_positive() -> None:
    """A window below 1 is refused."""
    with pytest.raises(ValueError, match="window"):
        RollingMoments(0)
