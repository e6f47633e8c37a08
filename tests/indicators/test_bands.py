"""Bollinger Bands beyond the TA-Lib comparison: order, flat windows, validation."""

from __future__ import annotations

import statistics

import pytest

from data_feeds.indicators import BollingerBands


def test_value_is_lower_middle_upper_k_deviations_apart() -> None:
    """The value is (lower, middle, upper) with the population deviation times k."""
    prices = [10.0, 12.0, 11.0, 15.0, 13.0]
    bands = BollingerBands(5, 1.5)
    for price in prices[:-1]:
        bands.update(price)
        assert bands.value is None
    bands.update(prices[-1])
    assert bands.value is not None
    lower, middle, upper = bands.value
    std = statistics.pstdev(prices)
    assert middle == pytest.approx(statistics.fmean(prices), rel=1e-15)
    assert upper == pytest.approx(middle + 1.5 * std, rel=1e-14)
    assert lower == pytest.approx(middle - 1.5 * std, rel=1e-14)
    assert bands.stddev == pytest.approx(std, rel=1e-14)


def test_a_flat_window_collapses_the_bands_onto_the_price() -> None:
    """After `period` identical prices the three bands are exactly that price."""
    bands = BollingerBands(4, 2.0)
    for price in (0.0026, 0.0027, 0.0025, 0.00261, 0.0026434, 0.0026434, 0.0026434, 0.0026434):
        bands.update(price)
    assert bands.value == (0.0026434, 0.0026434, 0.0026434)


@pytest.mark.parametrize(("period", "k"), [(1, 2.0), (20, 0.0), (20, -1.0)])
def test_bad_configuration_is_refused(period: int, k: float) -> None:
    """A period below 2 or a non-positive k is refused."""
    with pytest.raises(ValueError, match="must be"):
        BollingerBands(period, k)
