"""VWAP against a direct computation, its daily anchor, and the volume z-score."""

from __future__ import annotations

import statistics
from math import fsum

import numpy as np
import pytest

from data_feeds.indicators import VWAP, VolumeZScore
from tests.indicators.series import REAL_SERIES, random_walk

DAY_S = 86_400.0


def direct_vwap(prices: list[float], volumes: list[float]) -> float:
    return fsum(p * v for p, v in zip(prices, volumes, strict=True)) / fsum(volumes)


@pytest.mark.parametrize("name", ["walk", "btcusdt-trades", "UNITTEST_BTC-1m"])
def test_cumulative_vwap_matches_direct_computation(name: str) -> None:
    """Cumulative VWAP equals sum(p*v)/sum(v) to 1e-12 relative after every observation."""
    s = random_walk(3, 20_000) if name == "walk" else REAL_SERIES[name]()
    prices, volumes = s.close.tolist(), s.volume.tolist()
    vwap = VWAP()
    pv = v = 0.0
    exact_pv: list[float] = []
    exact_v: list[float] = []
    for i, (price, volume) in enumerate(zip(prices, volumes, strict=True)):
        vwap.update(price, volume)
        exact_pv.append(price * volume)
        exact_v.append(volume)
        if i % 101 == 0 or i == len(prices) - 1:
            pv, v = fsum(exact_pv), fsum(exact_v)
            assert vwap.value is not None
            assert abs(vwap.value - pv / v) <= 1e-12 * (pv / v)


def test_vwap_sums_do_not_drift_over_a_million_observations() -> None:
    """Where plain running sums drift by 1e-11, VWAP stays within 1e-15 of the exact ratio."""
    n = 1_000_000
    prices = [1.0 if i % 2 else 3.0 for i in range(n)]
    vwap = VWAP()
    naive_pv = naive_v = 0.0
    for price in prices:
        vwap.update(price, 0.1)
        naive_pv += price * 0.1
        naive_v += 0.1
    exact = fsum(price * 0.1 for price in prices) / fsum([0.1] * n)
    assert vwap.value is not None
    assert abs(vwap.value - exact) <= 1e-15 * exact
    assert abs(naive_pv / naive_v - exact) > 1e-12 * exact


def test_daily_vwap_restarts_at_utc_midnight() -> None:
    """With anchor "D" the VWAP only covers the current UTC day's observations."""
    day0 = 19_000 * DAY_S
    vwap = VWAP(anchor="D")
    vwap.update(100.0, 1.0, day0 + 10.0)
    vwap.update(110.0, 3.0, day0 + DAY_S - 0.001)
    assert vwap.value == pytest.approx(direct_vwap([100.0, 110.0], [1.0, 3.0]), rel=1e-15)
    vwap.update(200.0, 2.0, day0 + DAY_S)
    assert vwap.value == 200.0
    vwap.update(210.0, 1.0, day0 + DAY_S + 5.0)
    assert vwap.value == pytest.approx(direct_vwap([200.0, 210.0], [2.0, 1.0]), rel=1e-15)


def test_daily_vwap_folds_a_late_observation_into_the_current_day() -> None:
    """An observation stamped on the previous day does not restart or rewind the VWAP."""
    day1 = 19_001 * DAY_S
    vwap = VWAP(anchor="D")
    vwap.update(200.0, 1.0, day1 + 1.0)
    vwap.update(100.0, 1.0, day1 - 1.0)
    assert vwap.value == 150.0


def test_daily_vwap_matches_direct_computation_per_day() -> None:
    """Over a multi-day real series, the anchored VWAP equals the direct per-day ratio."""
    s = REAL_SERIES["ETH_BTC-5m"]()
    vwap = VWAP(anchor="D")
    day = None
    prices: list[float] = []
    volumes: list[float] = []
    for ts, price, volume in zip(
        s.timestamp_s.tolist(), s.close.tolist(), s.volume.tolist(), strict=True
    ):
        if ts // DAY_S != day:
            day, prices, volumes = ts // DAY_S, [], []
        prices.append(price)
        volumes.append(volume)
        vwap.update(price, volume, ts)
        expected = direct_vwap(prices, volumes)
        assert vwap.value is not None
        assert abs(vwap.value - expected) <= 1e-12 * expected


def test_vwap_waits_for_volume_and_anchored_needs_a_timestamp() -> None:
    """Zero volume leaves VWAP None; an anchored VWAP without a timestamp raises."""
    vwap = VWAP()
    vwap.update(100.0, 0.0)
    no_volume_yet = vwap.value
    assert no_volume_yet is None
    vwap.update(101.0, 2.0)
    assert vwap.value == 101.0
    with pytest.raises(ValueError, match="timestamp"):
        VWAP(anchor="D").update(100.0, 1.0)
    with pytest.raises(ValueError, match="anchor"):
        VWAP(anchor="W")


def test_volume_zscore_matches_direct_computation() -> None:
    """The z-score is (v - mean) / pstdev over the window including the latest volume."""
    rng = np.random.default_rng(9)
    volumes = rng.lognormal(0.0, 1.0, 2000).tolist()
    window = 20
    z = VolumeZScore(window)
    for i, volume in enumerate(volumes):
        z.update(volume)
        if i + 1 < window:
            assert z.value is None
            continue
        chunk = volumes[i - window + 1 : i + 1]
        expected = (volume - statistics.fmean(chunk)) / statistics.pstdev(chunk)
        assert z.value == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_volume_zscore_of_a_flat_window_is_zero() -> None:
    """Identical volumes over the window give a z-score of 0, not a division by zero."""
    z = VolumeZScore(3)
    for volume in (5.0, 1.0, 2.0, 2.0, 2.0):
        z.update(volume)
    assert z.value == 0.0
