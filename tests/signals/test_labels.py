"""OutcomeBuffer: a bounded FIFO of predictions in columns, read back exactly as pushed."""

from __future__ import annotations

import math
import pickle
import random
from array import array
from collections import deque

import pytest

from data_feeds.records import BUY, HOLD, SELL
from data_feeds.signals.labels import OutcomeBuffer, Pending

ACTIONS = (BUY, SELL, HOLD)


def row(rng: random.Random, t: float, width: int = 5) -> Pending:
    """A prediction; one in three not to be learned (no features)."""
    x = [rng.gauss(0, 1) for _ in range(width)] if rng.random() < 2 / 3 else None
    return Pending(t, rng.uniform(1, 2), x, rng.random(), rng.choice(ACTIONS),
                   f"v{rng.randrange(3)}")  # fmt: skip


def push(buffer: OutcomeBuffer, p: Pending) -> None:
    buffer.push(p.timestamp, p.price, p.x, p.probability, action=p.action,
                model_version=p.model_version)  # fmt: skip


def same(a: Pending, b: Pending) -> bool:
    xa, xb = (None if p.x is None else list(p.x) for p in (a, b))
    return (a.timestamp, a.price, xa, a.probability, a.action, a.model_version) == (
        b.timestamp, b.price, xb, b.probability, b.action, b.model_version,
    )  # fmt: skip


@pytest.mark.parametrize("max_pending", [1, 7, 100, 10_000])
def test_the_columns_behave_as_a_bounded_deque(max_pending: int) -> None:
    """Random pushes (some out of time order, a third without features) and maturings,
    pickled now and then, against a deque of the rows: read back in push order."""
    rng = random.Random(max_pending)
    buffer = OutcomeBuffer(horizon_s=10.0, max_pending=max_pending)
    reference: deque[Pending] = deque(maxlen=max_pending)
    dropped = 0
    t = 0.0
    for step in range(5_000):
        t += rng.expovariate(2.0)
        if rng.random() < 0.55:
            p = row(rng, t - rng.uniform(0, 3) if rng.random() < 0.2 else t)
            dropped += len(reference) == max_pending
            reference.append(p)
            push(buffer, p)
        else:
            now = t + rng.uniform(-5, 15)
            expected = []
            while reference and reference[0].timestamp <= now - 10.0:
                expected.append(reference.popleft())
            got = list(buffer.mature(now))
            assert len(got) == len(expected)
            assert all(same(a, b) for a, b in zip(got, expected, strict=True))
        if step % 997 == 0:
            buffer = pickle.loads(pickle.dumps(buffer))
        assert len(buffer) == len(reference)
        assert buffer.dropped == dropped
        assert buffer.oldest() == (reference[0].timestamp if reference else float("inf"))
    assert all(same(buffer.pop(), p) for p in list(reference))
    with pytest.raises(IndexError):
        buffer.pop()


def test_popped_rows_are_dropped_from_the_columns() -> None:
    """Memory stays proportional to what waits, however many rows went through."""
    buffer = OutcomeBuffer(horizon_s=1.0, max_pending=1_000_000)
    for i in range(100_000):
        buffer.push(float(i), 1.0, [0.0] * 22, 0.5, action=HOLD, model_version="v")
        for _ in buffer.mature(float(i)):
            pass
    assert len(buffer) == 1  # the row at i waits
    assert len(buffer.rows()) == 3 and len(buffer.features()) == 22
    assert len(buffer._learned.chunks) == 1 and buffer._learned.size == 1


def test_a_row_of_another_width_is_refused_and_changes_nothing() -> None:
    buffer = OutcomeBuffer(horizon_s=1.0, max_pending=10)
    buffer.push(0.0, 1.0, [1.0, 2.0], 0.5, action=HOLD, model_version="v")
    with pytest.raises(ValueError, match="3 features in a buffer of 2"):
        buffer.push(0.5, 1.0, [1.0, 2.0, 3.0], 0.5, action=HOLD, model_version="v")
    assert len(buffer) == 1 and list(buffer.rows()) == [0.0, 1.0, 0.5]
    assert list(buffer.features()) == [1.0, 2.0]


def test_a_buffer_pickled_as_a_deque_of_predictions_restores_in_columns() -> None:
    """Checkpoints written before the columns held a deque of Pending, whose features were
    dicts before they were arrays."""
    rows = [Pending(float(i), 100.0 + i, {"a": i * 0.5, "b": -i}, 0.25, SELL, "v3")
            for i in range(5)]  # fmt: skip
    old = OutcomeBuffer.__new__(OutcomeBuffer)
    old.__setstate__(
        (None, {"horizon_s": 2.0, "max_pending": 10, "dropped": 4, "queue": deque(rows)})
    )
    restored = pickle.loads(pickle.dumps(old))
    assert (restored.horizon_s, restored.max_pending, restored.dropped) == (2.0, 10, 4)
    matured = list(restored.mature(5.0))
    assert [p.timestamp for p in matured] == [0.0, 1.0, 2.0, 3.0]
    assert [list(p.x) for p in matured] == [[i * 0.5, -i] for i in range(4)]
    assert {(p.action, p.model_version) for p in matured} == {(SELL, "v3")}


@pytest.mark.parametrize("interval", [0.0, 0.25, 1.0, 3.0])
def test_sample_takes_the_first_tick_of_each_slot(interval: float) -> None:
    """``sample`` against its definition: with an interval, a tick is sampled when its slot
    ``floor(t / interval)`` is not the slot of the last tick sampled (so also a tick out of
    order in an earlier slot); with 0, every tick. Pickling keeps the last slot."""
    rng = random.Random(int(interval * 100))
    buffer = OutcomeBuffer(horizon_s=5.0, max_pending=10, learn_interval_s=interval)
    last_slot = None
    t = 1_700_000_000.0
    taken = 0
    for step in range(3_000):
        t += rng.expovariate(4.0) if rng.random() < 0.95 else -rng.uniform(0, 2)
        expected = not interval or math.floor(t / interval) != last_slot
        if expected and interval:
            last_slot = math.floor(t / interval)
        assert buffer.sample(t) is expected
        taken += expected
        if step % 501 == 0:
            buffer = pickle.loads(pickle.dumps(buffer))
    assert taken == 3_000 if not interval else 0 < taken < 3_000


def test_a_bad_learning_interval_is_refused() -> None:
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="learn_interval_s must be a finite number >= 0"):
            OutcomeBuffer(horizon_s=1.0, max_pending=10, learn_interval_s=bad)


def test_a_buffer_pickled_with_every_row_s_features_restores_each_to_be_learned() -> None:
    """Checkpoints of format 6 and before held ``[time, price, probability, *features]`` per
    row: each restores with its features, learned once it matures, as it would have been."""
    state = {"horizon_s": 2.0, "max_pending": 10, "dropped": 1, "width": 2,
             "rows": array("d", [0.0, 100.0, 0.25, 1.0, 2.0, 1.0, 101.0, 0.75, 3.0, 4.0]),
             "actions": [SELL, BUY], "versions": ["v1", "v2"]}  # fmt: skip
    old = OutcomeBuffer.__new__(OutcomeBuffer)
    old.__setstate__(state)
    restored = pickle.loads(pickle.dumps(old))
    assert (restored.dropped, restored.width, restored.learn_interval_s) == (1, 2, 0.0)
    matured = list(restored.mature(10.0))
    assert [(p.timestamp, p.price, p.probability, list(p.x or []), p.action, p.model_version)
            for p in matured] == [(0.0, 100.0, 0.25, [1.0, 2.0], SELL, "v1"),
                                  (1.0, 101.0, 0.75, [3.0, 4.0], BUY, "v2")]  # fmt: skip
