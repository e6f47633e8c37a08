"""False and true promotions of ``RetrainingLoop.run_retraining``, over seeds, on real Redis.

    .venv/bin/python bench/bench_promotion.py [--seeds 20] [--cases rw1,rw20,rw200,sim,lead]
                                              [--redis-url URL]

Each seed: the database is emptied, one history is stored, and one retraining cycle runs
through the real code path (``prepare_dataset`` replays the streams through the cleaner,
indicators and features; ``train_model``; the ``PromotionGate`` on the purged, most recent
20 % holdout; no champion yet, so the challenger must beat the no-skill baseline). Cases:

- ``rw1`` / ``rw20`` / ``rw200``: pure random walks (two symbols, each ticking every second,
  interleaved at 0.5 s; regular spacing, so a horizon of ``h`` s is ``h`` ticks of a symbol and
  ``2 h`` rows): labels over 1, 20 and 200 ticks. Nothing to learn: a promotion is false.
- ``sim``: the market simulator (``simulation.build_scenario``, 3 symbols, price ticks only,
  3 per second per symbol, 60,000 ticks: 6,667 s) without sentiment; 5 s horizon. Nothing
  to learn.
- ``lead``: the same with ``--sentiment --sentiment-lead 5`` (tweets know the next 5 s of
  the price): something real to learn; a refusal is a miss.

Targets: at most 1 promotion in 20 for each case without an effect, at least 18 of 20 with the
planted lead. Printed: case, promoted/seeds, what the rule before the gate (naive standard
error, no accuracy floor) would have promoted, median z (vs the baseline), median ESS, median
block length, median holdout accuracy. Without ``--redis-url`` the bundled redis-server is
started in a temporary directory.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.learning_layer import RetrainingDecision, RetrainingLoop, TrainingModule
from data_feeds.logs import configure_logging
from data_feeds.records import Record
from data_feeds.settings import Settings
from data_feeds.simulation.scenario import build_scenario
from streams import T0, random_walk

SIM_RATE = 9.0
"""Simulated messages per second over the 3 symbols (ticks only: 3 ticks/s per symbol). The
power of the test grows with how many horizons the holdout spans, not with rows per horizon,
so a slow feed buys simulated time cheaply."""


@dataclass(frozen=True)
class Case:
    name: str
    horizon_s: float
    history: Callable[[int], Sequence[Record]]
    planted: bool


def walk(n_ticks: int) -> Callable[[int], Sequence[Record]]:
    def make(seed: int) -> Sequence[Record]:
        syms = ("RWAUSDT", "RWBUSDT")
        return random_walk(n_ticks, seed, symbols=syms, start=100.0, rate_hz=2.0, regular=True)

    return make


def simulated(n_messages: int, *, lead: bool) -> Callable[[int], Sequence[Record]]:
    def make(seed: int) -> Sequence[Record]:
        scenario = build_scenario(
            symbols=3,
            rate=SIM_RATE,
            seed=seed,
            start_s=T0,
            trades=False,
            books=False,
            sentiment=lead,
            sentiment_lead_s=5.0,
        )
        return [m for m in itertools.islice(scenario.messages, n_messages) if isinstance(m, Record)]

    return make


CASES = {
    "rw1": Case("random walk, 1-tick labels", 1.0, walk(10_000), False),
    "rw20": Case("random walk, 20-tick labels", 20.0, walk(20_000), False),
    "rw200": Case("random walk, 200-tick labels", 200.0, walk(40_000), False),
    "sim": Case("simulator, no effect (5 s)", 5.0, simulated(60_000, lead=False), False),
    "lead": Case("simulator, sentiment leads 5 s", 5.0, simulated(60_000, lead=True), True),
}


def one_cycle(db: DBConnector, case: Case, seed: int) -> RetrainingDecision:
    db.redis.flushdb()
    db.store_many(case.history(seed))
    training = TrainingModule(db, horizon_s=case.horizon_s)
    return RetrainingLoop(training, db, window_s=None).run_retraining()


def median(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else float("nan")


def naive_promotion(d: RetrainingDecision) -> bool:
    """What the rule before the gate decided: the gain over the baseline against
    ``max(min_improvement, 2 stdev(d) / sqrt(n))`` (no accuracy floor). The naive standard error
    is ``se * sqrt(ESS / n)``, since ``ESS = var(d) / se^2``."""
    if d.skill is None or d.skill_se is None or d.skill_ess is None or not d.n_holdout:
        return False
    naive_se = d.skill_se * (d.skill_ess / d.n_holdout) ** 0.5
    return d.skill >= max(0.001, 2.0 * naive_se)


def run_case(db: DBConnector, case: Case, seeds: int) -> tuple[str, ...]:
    t0 = time.perf_counter()
    decisions = [one_cycle(db, case, seed) for seed in range(seeds)]
    promoted = sum(d.promoted for d in decisions)
    naive = sum(naive_promotion(d) for d in decisions)
    target = seeds * 18 // 20 if case.planted else max(1, seeds // 20)
    met = promoted >= target if case.planted else promoted <= target
    bound = f">= {target}" if case.planted else f"<= {target}"
    return (
        case.name,
        f"{promoted}/{seeds}",
        f"{bound} {'ok' if met else 'MISSED'}",
        f"{naive}/{seeds}",
        f"{median([d.skill_z for d in decisions]):.2f}",
        f"{median([d.skill_ess for d in decisions]):.0f}",
        f"{median([d.n_holdout for d in decisions]):.0f}",
        f"{median([d.block_length for d in decisions]):.0f}",
        f"{median([d.challenger_accuracy for d in decisions]):.3f}",
        f"{time.perf_counter() - t0:.0f}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    names = [n for n in args.cases.split(",") if n]
    configure_logging("warning")
    header = (
        "case",
        "promoted",
        "target",
        "naive SE rule",
        "median z",
        "median ESS",
        "holdout",
        "block",
        "accuracy",
        "s",
    )
    with tempfile.TemporaryDirectory(prefix="dfb-") as tmp_name:
        tmp = Path(tmp_name)
        server = None if args.redis_url else EmbeddedRedis(tmp / "redis")
        url = args.redis_url or server.ensure_running()  # type: ignore[union-attr]
        settings = Settings(redis_url=url, data_dir=tmp / "data", log_level="WARNING")
        try:
            with DBConnector(settings=settings) as db:
                rows = []
                for name in names:
                    rows.append(run_case(db, CASES[name], args.seeds))
                    print("  ".join(rows[-1]), flush=True)
        finally:
            if server is not None:
                server.stop()
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
