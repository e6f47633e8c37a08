"""The model step: ExactLogistic reproduces river's default pipeline to the bit; anything else
goes through river itself; the generator's river model always shows what was learned."""

from __future__ import annotations

import copy
import pickle
import random
from array import array
from typing import Any

import pytest
from river import linear_model, optim, preprocessing, tree

from data_feeds.indicators import Indicators
from data_feeds.signals.features import FEATURE_NAMES, features
from data_feeds.signals.generator import SignalGenerator, build_model
from data_feeds.signals.model_step import ExactLogistic, RiverStep, stepper
from tests.signals.test_generator import random_walk, run


def feature_rows(n: int, seed: int) -> list[dict[str, float]]:
    ind = Indicators("BTCUSDT")
    rows = []
    for tick in random_walk(n, seed):
        ind.update(tick)
        rows.append(features(ind))
    return rows


def state(model: Any) -> tuple[Any, ...]:
    scaler, logistic = model.steps.values()
    return (
        dict(scaler.counts),
        dict(scaler.means),
        dict(scaler.vars),
        logistic.weights,
        logistic.intercept,
        logistic.optimizer.n_iterations,
    )


def step_both(model: Any, rows: list[dict[str, float]], seed: int) -> tuple[list[float], ...]:
    """River and the stepper side by side (each on its own copy): predict every row, learn
    it a few rows later with a random label."""
    rng = random.Random(seed)
    river_model, step_model = copy.deepcopy(model), copy.deepcopy(model)
    step = stepper(step_model, FEATURE_NAMES)
    by_river, by_step = [], []
    for i, x in enumerate(rows):
        by_river.append(river_model.predict_proba_one(x).get(True, 0.5))
        by_step.append(step.predict(x.values()))
        if i >= 3:
            y = rng.random() < 0.5
            river_model.learn_one(rows[i - 3], y)
            step.learn(array("d", rows[i - 3].values()), y)
    step.flush()
    assert state(step_model) == state(river_model)
    return by_river, by_step


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"optimizer": optim.SGD(0.5), "intercept_lr": 0.3},  # large steps: the sigmoid's ends
        {"optimizer": optim.SGD(0.01), "intercept_lr": 0.0, "clip_gradient": 0.2},
        {"loss": optim.losses.Log(weight_pos=2.0, weight_neg=0.5)},
    ],
)
def test_exact_logistic_is_river_to_the_bit(params: dict[str, Any]) -> None:
    model = build_model(params=params)
    assert isinstance(stepper(model, FEATURE_NAMES), ExactLogistic)
    by_river, by_step = step_both(model, feature_rows(3_000, seed=1), seed=2)
    assert by_step == by_river
    assert [type(p) for p in by_step] == [type(p) for p in by_river]
    if params.get("intercept_lr") == 0.3:
        assert {0, 1} <= set(by_river)  # the saturated ends were reached (river gives ints)


def test_exact_logistic_continues_a_model_river_trained() -> None:
    rows = feature_rows(2_000, seed=3)
    model = build_model()
    for i, x in enumerate(rows[:1_000]):
        model.learn_one(x, i % 3 == 0)
    by_river, by_step = step_both(model, rows[1_000:], seed=4)
    assert by_step == by_river


@pytest.mark.parametrize(
    "model",
    [
        preprocessing.StandardScaler() | tree.HoeffdingTreeClassifier(),
        preprocessing.StandardScaler() | linear_model.LogisticRegression(l2=0.01),
        preprocessing.StandardScaler() | linear_model.LogisticRegression(optim.Adam()),
        preprocessing.StandardScaler(window_size=50) | linear_model.LogisticRegression(),
        linear_model.LogisticRegression(),
    ],
    ids=["tree", "l2", "adam", "windowed-scaler", "no-scaler"],
)
def test_any_other_model_is_stepped_by_river_itself(model: Any) -> None:
    assert isinstance(stepper(model, FEATURE_NAMES), RiverStep)
    rows = feature_rows(600, seed=5)
    rng = random.Random(6)
    river_model, step_model = copy.deepcopy(model), copy.deepcopy(model)
    step = stepper(step_model, FEATURE_NAMES)
    for x in rows:
        assert step.predict(x.values()) == river_model.predict_proba_one(x).get(True, 0.5)
        y = rng.random() < 0.5
        river_model.learn_one(x, y)
        step.learn(x.values(), y)


def test_statistics_over_other_features_are_left_to_river() -> None:
    model = build_model()
    model.learn_one({"other": 1.0}, True)
    assert ExactLogistic.of(model, FEATURE_NAMES) is None
    partial = build_model()
    partial.learn_one({FEATURE_NAMES[0]: 1.0}, True)
    assert ExactLogistic.of(partial, FEATURE_NAMES) is None


def test_the_generators_model_shows_what_was_learned() -> None:
    """Reading ``model`` (the registry, a checkpoint) gives the learned state, as if river had
    been stepped; a pickled generator carries it too."""
    ticks = random_walk(800, seed=7)
    gen = SignalGenerator(horizon_s=5.0)
    signals = run(gen, ticks)
    assert gen.learned > 500
    reference = build_model()
    ref_gen = SignalGenerator(reference, horizon_s=5.0)
    ref_gen._step = RiverStep(reference, FEATURE_NAMES)  # river's own path, for reference
    assert [s.probability for s in run(ref_gen, ticks)] == [s.probability for s in signals]
    assert state(gen.model) == state(reference)
    restored = pickle.loads(pickle.dumps(gen))
    assert state(restored.model) == state(reference)
    more = random_walk(1_600, seed=7)[800:]
    assert [s.probability for s in run(restored, more)] == [s.probability for s in run(gen, more)]
