"""BlockBootstrap and rows_per_horizon: the standard error of a mean of autocorrelated rows."""

from __future__ import annotations

import numpy as np
import pytest

from data_feeds.learning_layer.skill_test import BlockBootstrap, rows_per_horizon


def test_iid_differences_give_about_the_naive_standard_error() -> None:
    """Independent rows: blocks of 1 or of 10 rows both give ~ stdev / sqrt(n)."""
    d = np.random.default_rng(1).standard_normal(5000).tolist()
    for block in (1, 10):
        result = BlockBootstrap(seed=2).test(d, block)
        assert 0.9 < result.se / result.naive_se < 1.1
        assert 0.8 * 5000 < result.ess < 1.25 * 5000
        assert result.block_length == block


def test_overlapping_sums_give_a_much_larger_standard_error() -> None:
    """Differences that are sums over overlapping 20-row windows (what 20-row label horizons
    make): the naive SE is ~sqrt(20) too small; blocks of two horizons recover most of it."""
    e = np.random.default_rng(3).standard_normal(20_019)
    d = np.convolve(e, np.ones(20), mode="valid")  # d_i = e_i + ... + e_{i+19}
    result = BlockBootstrap(seed=4).test(d.tolist(), 40)
    assert result.se / result.naive_se > 3.5  # sqrt(20) = 4.47; blocks of 2h: ~4.1
    assert result.ess < 20_000 / 12


def test_ar1_differences_give_a_much_larger_standard_error() -> None:
    """AR(1) with phi = 0.9: the long-run SE is sqrt((1 + phi) / (1 - phi)) = 4.36 naive SEs."""
    rng = np.random.default_rng(5)
    d = np.empty(20_000)
    d[0] = 0.0
    for i in range(1, d.size):
        d[i] = 0.9 * d[i - 1] + rng.standard_normal()
    result = BlockBootstrap(seed=6).test(d.tolist(), 100)
    assert 3.5 < result.se / result.naive_se < 4.8


def test_a_constant_improvement_is_detected() -> None:
    """A challenger better by 0.01 nats on every row, give or take a little noise."""
    d = (0.01 + 0.001 * np.random.default_rng(7).standard_normal(2000)).tolist()
    result = BlockBootstrap().test(d, 20)
    assert result.mean == pytest.approx(0.01, abs=1e-4)
    assert result.z > 50.0
    exact = BlockBootstrap().test([0.01] * 500, 20)
    assert exact.z > 50.0 and exact.mean == pytest.approx(0.01)


def test_deterministic_given_a_seed() -> None:
    d = np.random.default_rng(8).standard_normal(3000).tolist()
    assert BlockBootstrap(seed=9).test(d, 30) == BlockBootstrap(seed=9).test(d, 30)
    assert BlockBootstrap(seed=9).test(d, 30).se != BlockBootstrap(seed=10).test(d, 30).se


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="n_boot"):
        BlockBootstrap(n_boot=10)
    with pytest.raises(ValueError, match="block_length"):
        BlockBootstrap().test([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="horizon_s"):
        rows_per_horizon([0.0], 0.0)


def test_rows_per_horizon_counts_rows_of_every_symbol() -> None:
    """One row a second: 20 s is 20 rows; two symbols taking turns every 0.5 s: 40 rows; a
    horizon shorter than the spacing: 1 row (the row itself)."""
    one = [float(t) for t in range(1000)]
    assert rows_per_horizon(one, 20.0) == 20
    two = [0.5 * i for i in range(2000)]
    assert rows_per_horizon(two, 20.0) == 40
    assert rows_per_horizon(one, 0.5) == 1
    assert rows_per_horizon([], 5.0) == 1
