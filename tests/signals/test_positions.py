"""signals.positions and signals.threshold: the position rule, the ledger against a plain loop,
fills that wait, book costs, and the threshold policies."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from data_feeds.records import BUY, HOLD, SELL
from data_feeds.signals.positions import (
    Ledger,
    book_cost_bps,
    delayed,
    positions_from_actions,
    positions_from_probabilities,
)
from data_feeds.signals.threshold import NEVER, ThresholdPolicy


def test_actions_to_positions_flat_and_keep() -> None:
    actions = [HOLD, BUY, BUY, HOLD, SELL, HOLD, HOLD, BUY]
    assert positions_from_actions(actions).tolist() == [0, 1, 1, 0, -1, 0, 0, 1]
    assert positions_from_actions(actions, "keep").tolist() == [0, 1, 1, 1, -1, -1, -1, 1]
    with pytest.raises(ValueError, match="hold rule"):
        positions_from_actions(actions, "sometimes")


@pytest.mark.parametrize("hold", ["flat", "keep"])
def test_the_probability_rule_is_the_generators(hold: str) -> None:
    """``positions_from_probabilities`` gives what the generator's actions would."""
    rng = random.Random(1)
    p = [rng.uniform(0.3, 0.7) for _ in range(500)]
    margin = 0.05
    actions = [BUY if q > 0.5 + margin else SELL if q < 0.5 - margin else HOLD for q in p]
    expected = positions_from_actions(actions, hold)
    assert positions_from_probabilities(p, margin, hold).tolist() == expected.tolist()
    assert not positions_from_probabilities(p, NEVER, hold).any()  # 0.5: never trades


def test_the_ledger_is_the_formula_in_a_loop() -> None:
    """gross_i = pos_i (p_{i+1} - p_i), cost_i = c_i |pos_i - pos_{i-1}| p_i, the last bar
    marked; checked against a plain loop on random inputs."""
    rng = random.Random(2)
    n = 300
    prices = [100.0]
    for _ in range(n - 1):
        prices.append(prices[-1] * math.exp(rng.gauss(0.0, 0.01)))
    positions = [rng.choice((-1.0, 0.0, 1.0)) for _ in range(n)]
    rates = [rng.uniform(0.0, 0.001) for _ in range(n)]
    ledger = Ledger(prices, positions, rates)
    pnl, net_bps, previous, trades = 0.0, [], 0.0, 0
    for i in range(n):
        move = prices[i + 1] - prices[i] if i + 1 < n else 0.0
        gross = positions[i] * move
        cost = rates[i] * abs(positions[i] - previous) * prices[i]
        trades += positions[i] != previous
        pnl += gross - cost
        net_bps.append((gross - cost) / prices[i] * 1e4)
        previous = positions[i]
    assert ledger.pnl == pytest.approx(pnl, rel=1e-12)
    assert ledger.net_bps.tolist() == pytest.approx(net_bps, rel=1e-12, abs=1e-12)
    assert ledger.trades == trades
    assert float(np.sum(ledger.turnover)) == sum(
        abs(a - b) for a, b in zip(positions, [0.0, *positions[:-1]], strict=True)
    )


def test_bad_ledgers_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        Ledger([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="prices"):
        Ledger([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="cost"):
        Ledger([1.0, 2.0], [1.0, 1.0], -0.1)


def test_delayed_fills_and_book_costs() -> None:
    assert delayed([1.0, -1.0, 0.0, 1.0], 1).tolist() == [0.0, 1.0, -1.0, 0.0]
    assert delayed([1.0, -1.0], 0).tolist() == [1.0, -1.0]
    assert delayed([1.0, -1.0], 5).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError):
        delayed([1.0], -1)
    assert book_cost_bps(4.0, 3.0) == 3.0  # the book's slippage includes its half spread
    assert book_cost_bps(4.0, None) == 2.0  # quotes only: half the spread
    assert book_cost_bps(4.0, 0.0) == 2.0  # the features' 0 means "no book"
    assert book_cost_bps(None, None) == 0.0
    assert book_cost_bps(math.nan, math.inf) == 0.0


def test_calibration_keeps_symbols_apart_and_fills_as_the_backtest() -> None:
    """Interleaved rows of two symbols: a view of A never becomes a position of B (with
    ``keep``), and each is filled ``delay`` rows of its own symbol later."""
    rng = random.Random(5)
    n = 2000
    prices = {"A": 100.0, "B": 50.0}
    rows_p, rows_px, rows_sym = [], [], []
    for i in range(n):
        sym = "A" if i % 2 == 0 else "B"
        up = rng.random() < 0.5
        # A's P(up) knows its next move; B's is a constant, confident and useless view
        rows_p.append((0.9 if up else 0.1) if sym == "A" else 0.9)
        rows_px.append(prices[sym])
        rows_sym.append(sym)
        prices[sym] *= 1.002 if (up if sym == "A" else rng.random() < 0.5) else 1 / 1.002
    at_once = ThresholdPolicy("calibrated", cost_bps=1.0, delay=0, hold="keep")
    assert at_once.choose(rows_p, rows_px, rows_sym).margin < NEVER  # A's edge pays
    later = ThresholdPolicy("calibrated", cost_bps=1.0, delay=1, hold="keep")
    # filled a row later, A's one-row foresight is gone: never trade
    assert later.choose(rows_p, rows_px, rows_sym).margin == NEVER


def test_the_fixed_policy_serves_its_margin() -> None:
    t = ThresholdPolicy("fixed", margin=0.07).choose([0.6, 0.4], [1.0, 2.0], ["A", "A"])
    assert (t.policy, t.margin, t.expected_bps) == ("fixed", 0.07, None)


def test_the_calibrated_policy_trades_only_an_edge_above_its_costs() -> None:
    """P(up) that knows the next move's sign 70 % of the time: a margin is chosen; the same
    probabilities on an unrelated path, or costs above the edge, choose 0.5 (never trade)."""
    rng = random.Random(3)
    n = 4000
    prices = [100.0]
    p = []
    for _ in range(n):
        up = rng.random() < 0.5
        right = rng.random() < 0.7
        p.append(rng.uniform(0.52, 0.6) if up == right else rng.uniform(0.4, 0.48))
        prices.append(prices[-1] * (1.001 if up else 1 / 1.001))
    prices = prices[:n]
    symbols = ["A"] * n

    # p[i] is about the move from prices[i] to prices[i + 1]: filled at prices[i] (delay 0)
    def policy(cost: float) -> ThresholdPolicy:
        return ThresholdPolicy("calibrated", cost_bps=cost, delay=0)

    cheap = policy(0.5).choose(p, prices, symbols)
    assert cheap.margin < NEVER and cheap.expected_bps is not None and cheap.expected_bps > 0.0
    dear = policy(50.0).choose(p, prices, symbols)
    assert dear.margin == NEVER and dear.expected_bps == 0.0
    shuffled = p[:]
    random.Random(4).shuffle(shuffled)
    assert policy(0.5).choose(shuffled, prices, symbols).margin == NEVER
    books = policy(0.5).choose(p, prices, symbols, [40.0] * n)
    assert books.margin == NEVER  # the book's spread eats the edge


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="policy"):
        ThresholdPolicy("magic")
    with pytest.raises(ValueError, match="margin"):
        ThresholdPolicy(margin=0.6)
    with pytest.raises(ValueError, match="cost_bps"):
        ThresholdPolicy(cost_bps=-1.0)
