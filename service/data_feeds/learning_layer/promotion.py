"""PromotionGate: may a challenger replace the champion? One rule for ``run_retraining`` and
``data-feeds train --promote``.

On the most recent holdout, with per-row log losses ``l_i`` (natural log), the challenger is
promoted only if all of these hold:

1. it beats the no-skill baseline (always predicting the training rows' up-fraction): with
   ``d_i = l_i(baseline) - l_i(challenger)``, ``mean(d) >= min_improvement`` and
   ``z = mean(d) / SE >= significance_z``;
2. it beats the champion, when there is one, by the same rule on
   ``d_i = l_i(champion) - l_i(challenger)``;
3. its holdout accuracy is at least ``min_accuracy`` (0.5: a model whose calls are worse
   than a coin's is never served, whatever its log loss);
4. the holdout spans at least ``min_blocks`` blocks, so the standard error means something.

``SE`` is the circular block bootstrap's (``skill_test.BlockBootstrap``) with blocks of
``b = ceil(block_horizons * h)`` rows, where ``h = rows_per_horizon(timestamps, horizon_s)`` is
the label horizon in rows, read from the holdout's timestamps: labels that overlap make the
``d_i`` autocorrelated over about ``h`` rows, and the naive ``stdev(d) / sqrt(n)`` would count
each horizon's move ``h`` times. ``block_horizons = 2`` because a block bootstrap's variance
down-weights lag ``j`` by ``1 - j / b``: with ``b = h`` it recovers about 2/3 of the long-run
variance of overlapping ``h``-row moves, with ``b = 2 h`` about 5/6 (and the features, which move
slowly, stretch the autocorrelation further). The bench ``bench/bench_promotion.py`` measures
the false-promotion rate this gives (``docs/promotion.md``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from data_feeds.learning_layer.skill_test import BlockBootstrap, SkillTest, rows_per_horizon
from data_feeds.learning_layer.training import log_losses, score


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """What the gate said, and on which figures."""

    promote: bool
    reason: str
    accuracy: float
    challenger_log_loss: float
    baseline_log_loss: float
    champion_log_loss: float | None
    skill: SkillTest
    """Challenger vs the no-skill baseline."""
    improvement: SkillTest | None
    """Challenger vs the champion (``None`` without one)."""
    horizon_rows: int
    block_length: int


class PromotionGate:
    """The promotion rule of the module doc.

    ``min_improvement``: smallest mean log-loss reduction (nats per row) that can promote;
    ``significance_z``: how many (block-bootstrap) standard errors it must also clear;
    ``min_accuracy``: smallest holdout accuracy; ``block_horizons``: block length in label
    horizons; ``min_blocks``: fewest blocks the holdout must span; ``n_boot`` / ``seed``: the
    bootstrap's replicates and seed (a decision is reproducible).
    """

    def __init__(
        self,
        *,
        min_improvement: float = 0.001,
        significance_z: float = 2.0,
        min_accuracy: float = 0.5,
        block_horizons: float = 2.0,
        min_blocks: int = 10,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> None:
        for name, value in (
            ("min_improvement", min_improvement),
            ("significance_z", significance_z),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= min_accuracy <= 1.0:
            raise ValueError(f"min_accuracy must be in [0, 1], got {min_accuracy!r}")
        if not (math.isfinite(block_horizons) and block_horizons >= 1.0):
            raise ValueError(f"block_horizons must be a finite number >= 1, got {block_horizons!r}")
        if min_blocks < 2:
            raise ValueError(f"min_blocks must be >= 2, got {min_blocks!r}")
        self.min_improvement = float(min_improvement)
        self.significance_z = float(significance_z)
        self.min_accuracy = float(min_accuracy)
        self.block_horizons = float(block_horizons)
        self.min_blocks = min_blocks
        self.bootstrap = BlockBootstrap(n_boot=n_boot, seed=seed)

    def judge(
        self,
        challenger_p: Sequence[float],
        labels: Sequence[int],
        timestamps: Sequence[float],
        horizon_s: float,
        *,
        baseline_rate: float,
        champion_p: Sequence[float] | None = None,
        champion_name: str = "champion",
    ) -> GateVerdict:
        """Judge a challenger from its holdout probabilities P(up) (and the champion's), the
        labels and the rows' timestamps (sorted, as a dataset's are)."""
        challenger = log_losses(challenger_p, labels)
        baseline = log_losses([baseline_rate] * len(labels), labels)
        card_accuracy = score(challenger_p, labels).accuracy
        accuracy = math.nan if card_accuracy is None else card_accuracy
        h = rows_per_horizon(timestamps, horizon_s)
        b = math.ceil(self.block_horizons * h)
        n = len(labels)
        skill = self._test(baseline, challenger, b)
        passed, text = self._verdict(skill)
        reasons = [f"vs the no-skill baseline: {text}"]
        improvement = None
        champion_loss = None
        if champion_p is not None:
            incumbent = log_losses(champion_p, labels)
            champion_loss = statistics.fmean(incumbent) if incumbent else math.nan
            improvement = self._test(incumbent, challenger, b)
            beats, text = self._verdict(improvement)
            reasons.append(f"vs {champion_name}: {text}")
            passed = passed and beats
        else:
            reasons.append("no champion yet")
        accurate = accuracy >= self.min_accuracy
        reasons.append(f"accuracy {accuracy:.4f} (needed >= {self.min_accuracy:g})")
        enough = n >= self.min_blocks * b
        reasons.append(
            f"block bootstrap: {h} rows/horizon, blocks of {b} rows, {n / b:.1f} blocks"
            + ("" if enough else f" (needed >= {self.min_blocks})")
        )
        return GateVerdict(
            promote=passed and accurate and enough,
            reason="; ".join(reasons),
            accuracy=accuracy,
            challenger_log_loss=statistics.fmean(challenger) if challenger else math.nan,
            baseline_log_loss=statistics.fmean(baseline) if baseline else math.nan,
            champion_log_loss=champion_loss,
            skill=skill,
            improvement=improvement,
            horizon_rows=h,
            block_length=b,
        )

    def _test(self, reference: Sequence[float], challenger: Sequence[float], b: int) -> SkillTest:
        diffs = [r - c for r, c in zip(reference, challenger, strict=True)]
        return self.bootstrap.test(diffs, b)

    def _verdict(self, test: SkillTest) -> tuple[bool, str]:
        passed = test.mean >= self.min_improvement and test.z >= self.significance_z
        text = (
            f"{test.mean:+.4f} nats/row, z {test.z:.2f} (SE {test.se:.4f}, ESS {test.ess:.0f} "
            f"of {test.n}; needed >= {self.min_improvement:g} and z >= {self.significance_z:g})"
        )
        return passed, text
