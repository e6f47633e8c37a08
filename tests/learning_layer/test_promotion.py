"""PromotionGate: beat the baseline and the champion under a block bootstrap, accuracy >= 0.5."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer import PromotionGate, RetrainingLoop, TrainingModule
from data_feeds.records import Tick

T0 = 1_700_000_000.0


def skilled_rows(n: int, seed: int) -> tuple[list[float], list[int], list[float]]:
    """P(up) = Phi(s) with s ~ U(-1, 1) known to the challenger; one row a second."""
    rng = random.Random(seed)
    phi = NormalDist().cdf
    p = [phi(rng.uniform(-1.0, 1.0)) for _ in range(n)]
    y = [int(rng.random() < q) for q in p]
    return p, y, [T0 + i for i in range(n)]


def test_a_clearly_skilled_challenger_is_promoted() -> None:
    p, y, ts = skilled_rows(3000, seed=1)
    verdict = PromotionGate().judge(p, y, ts, 1.0, baseline_rate=0.5, champion_p=[0.5] * 3000)
    assert verdict.promote, verdict.reason
    assert verdict.skill.z > 5.0 and verdict.improvement is not None
    assert verdict.improvement.z > 5.0
    assert verdict.accuracy > 0.6
    assert verdict.horizon_rows == 1 and verdict.block_length == 2


def test_below_half_accuracy_is_refused_even_with_a_better_log_loss() -> None:
    """The baseline learned a 70 % up-rate, the holdout goes up 45 % of the time: a challenger
    saying 0.51 throughout has a much better log loss than the baseline but calls 55 % wrong."""
    rng = random.Random(2)
    n = 4000
    y = [int(rng.random() < 0.45) for _ in range(n)]
    ts = [T0 + i for i in range(n)]
    verdict = PromotionGate().judge([0.51] * n, y, ts, 1.0, baseline_rate=0.7)
    assert verdict.skill.mean > 0.1 and verdict.skill.z > 2.0
    assert verdict.accuracy < 0.5
    assert not verdict.promote
    assert "accuracy" in verdict.reason and "needed >= 0.5" in verdict.reason


def test_a_champion_as_good_as_the_challenger_is_kept() -> None:
    p, y, ts = skilled_rows(3000, seed=3)
    verdict = PromotionGate().judge(p, y, ts, 1.0, baseline_rate=0.5, champion_p=p)
    assert verdict.skill.z > 5.0
    assert verdict.improvement is not None and verdict.improvement.mean == 0.0
    assert not verdict.promote


def test_a_holdout_of_few_horizons_cannot_promote() -> None:
    """300 rows of a 60-row horizon: 2.5 blocks of 120 rows, too few to estimate an error."""
    p, y, ts = skilled_rows(300, seed=4)
    verdict = PromotionGate().judge(p, y, ts, 60.0, baseline_rate=0.5)
    assert verdict.block_length == 120
    assert not verdict.promote and "needed >= 10" in verdict.reason


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="significance_z"):
        PromotionGate(significance_z=-1.0)
    with pytest.raises(ValueError, match="min_accuracy"):
        PromotionGate(min_accuracy=1.5)
    with pytest.raises(ValueError, match="block_horizons"):
        PromotionGate(block_horizons=0.5)


def two_walks(n: int, seed: int) -> list[Tick]:
    """Two independent random walks, each ticking every second, taking turns every 0.5 s."""
    rng = random.Random(seed)
    prices = {"RWAUSDT": 100.0, "RWBUSDT": 100.0}
    out = []
    for i in range(n):
        symbol = "RWAUSDT" if i % 2 == 0 else "RWBUSDT"
        prices[symbol] *= math.exp(rng.gauss(0.0, 5e-4))
        out.append(Tick(symbol, round(prices[symbol], 6), 1.0, T0 + 0.5 * i))
    return out


def test_overlapping_labels_on_a_random_walk_do_not_promote(db: DBConnector) -> None:
    """20 s labels over ticks a second apart (40 interleaved rows per horizon). For this seed
    the rule before the gate (naive SE: stdev / sqrt(n)) promoted at z ~ 4.3; with blocks of
    two horizons the same gain is z ~ 1.4, and the challenger is kept."""
    db.store_many(two_walks(8000, seed=3))
    decision = RetrainingLoop(
        TrainingModule(db, horizon_s=20.0), db, window_s=None
    ).run_retraining()
    assert decision.outcome == "kept", decision.reason
    assert decision.horizon_rows == 40 and decision.block_length == 80
    assert decision.skill is not None and decision.skill_se is not None
    assert decision.skill_ess is not None and decision.skill_z is not None
    naive_se = decision.skill_se * math.sqrt(decision.skill_ess / decision.n_holdout)
    assert decision.skill >= max(0.001, 2.0 * naive_se)  # what the old rule promoted on
    assert decision.skill_z < 2.0
    assert decision.skill_ess < decision.n_holdout / 5
    assert decision.gate_passed is False and not decision.forced
    assert decision.reason.startswith("not promoted: ")
    assert "blocks of 80 rows" in decision.reason and "ESS" in decision.reason
    recorded = RetrainingLoop(TrainingModule(db), db).decisions()[0]
    assert recorded["skill_z"] == decision.skill_z and recorded["block_length"] == 80
    assert recorded["significance_z"] == 2.0 and recorded["min_improvement"] == 0.001
