"""Per-tick cost of the whole SignalGenerator step beside bare river on the same features.

    .venv/bin/python bench/bench_generator.py [--ticks 30000] [--repeats 3]

Bare river: ``predict_proba_one(x)`` + ``learn_one(x, y)`` of the default pipeline
(StandardScaler | LogisticRegression) on precomputed feature dicts. The exact step: the same
pipeline stepped by ``signals.model_step.ExactLogistic`` on the same rows as arrays (river's
results to the bit; what the generator uses). The generator step:
``SignalGenerator.process(tick)``: indicators, the feature dict, the finite guard, the
prediction, the action, the parked prediction and, once its horizon passes, the delayed
learn and live scoring. Same ticks, same number of predictions and learns. Target (issue 3):
at most 1.5x bare river.
"""

from __future__ import annotations

import argparse
from array import array
from collections.abc import Sequence

from data_feeds.cache.keys import stream_key
from data_feeds.indicators import Indicators
from data_feeds.records import PRICE
from data_feeds.signals.features import features
from data_feeds.signals.generator import SignalGenerator, build_model
from data_feeds.signals.model_step import stepper
from streams import random_walk
from timing import per_item_us, report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ticks", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    stream = random_walk(args.ticks, seed=1, regular=True)
    ind = Indicators("BTCUSDT")
    xs = []
    for t in stream:
        ind.update(t)
        xs.append(features(ind))
    horizon = 20  # ticks (5 s at 4 ticks/s on average), as the generator below
    ys = [stream[min(i + horizon, len(stream) - 1)].price > t.price for i, t in enumerate(stream)]
    pairs = list(zip(xs, ys, strict=True))
    rows_of_floats = [(array("d", x.values()), y) for x, y in pairs]
    rows: dict[str, list[float]] = {"bare river predict+learn (baseline)": [],
                                    "SignalGenerator.process": [],
                                    "exact step predict+learn": []}  # fmt: skip
    for _ in range(args.repeats):
        model = build_model()

        def bare(pair: tuple[dict[str, float], bool], model: object = model) -> None:
            model.predict_proba_one(pair[0])  # type: ignore[attr-defined]
            model.learn_one(pair[0], pair[1])  # type: ignore[attr-defined]

        rows["bare river predict+learn (baseline)"] += per_item_us(pairs, bare)
        step = stepper(build_model(), list(xs[0]))

        def exact(pair: tuple[array[float], bool], step: object = step) -> None:
            step.predict(pair[0])  # type: ignore[attr-defined]
            step.learn(pair[0], pair[1])  # type: ignore[attr-defined]

        rows["exact step predict+learn"] += per_item_us(rows_of_floats, exact)
        gen = SignalGenerator(horizon_s=5.0)
        rows["SignalGenerator.process"] += per_item_us(
            stream, lambda t, g=gen: g.process(t, "1-0", stream_key("crypto", PRICE, "BTCUSDT"))
        )
    print(f"{args.ticks:,} ticks x {args.repeats} rounds, {len(xs[0])} features")
    report(rows, "bare river predict+learn (baseline)", target=1.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
