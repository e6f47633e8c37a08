"""Scoring a model on labelled rows in the mode it is served in (``signals.serving``).

``serve_holdout(model, rows, mode)`` gives P(up) for every row, in row order, as the live
generator would have given it serving ``model`` from the first row on:

- ``frozen``: each row predicted by the model as it is, nothing learned;
- ``online``: prequential with the live generator's **delayed** learning. The rows are visited
  in order; per symbol, a row predicted at ``t`` waits in that symbol's ``OutcomeBuffer`` (the
  generator's own class and maturing rule) and is learned, oldest first, just before the first
  later row of the symbol whose time ``ts`` has ``t <= ts - horizon_s``; then that row is
  predicted. Formally, for rows ``0..n-1`` with symbol ``s_i``, time ``t_i``, horizon ``h``::

      m(i) = min{ j > i : s_j = s_i and t_i <= t_j - h }    the row at which row i matures
      M_j  = M_0 after learn_one(x_i, y_i) for every i in L with m(i) <= j, in order of (m(i), i)
      p_j  = M_j.predict_proba_one(x_j)[True]

  where ``L`` is the rows the live generator samples for learning (``Dataset.learn``: every
  row with a learning interval of 0, else the first tick of each symbol's event-time slot,
  ``OutcomeBuffer.sample``, flagged as the dataset was replayed, where every tick was seen).

  (stepped as the generator steps it: ``signals.model_step``, river's own results to the bit)

  The model is deep-copied first: the model given (a registry version, a trained challenger)
  is never changed.

This is how training, retraining and replays score a model, so an online champion is judged on
the figure it will earn live (the README's simulated history, 5 s horizon, the same training
rows, seed 11: holdout accuracy 0.6500 and log loss 0.6448 frozen, 0.6488 and 0.6451 online with
the default learning interval, 0.6053 and 0.6803 online learning every outcome; no skill 0.6861).

Bitwise replay: the rows of ``TrainingModule.prepare_dataset`` carry the live features (same
cleaner, indicators and feature code, same key order) and the rule above is the generator's, so
for a symbol's stored history, ``serve_holdout(version_model, dataset, mode)`` equals the
probabilities of the signals the service wrote serving that version in that mode, ``==`` on
floats (``tests/learning_layer/test_serving.py``). The live order of learning and predicting
across symbols is the consumer's read order, which the rows (in event-time order) do not record:
with several symbols served online the replay is exact when the two orders agree, and a tick
without a row (a move inside the dead band, a tick whose horizon has not passed) matures the
symbol's outcomes a row later than live, which matters only if another symbol's row lies between.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import TYPE_CHECKING, Any

from data_feeds.records import HOLD
from data_feeds.signals.labels import OutcomeBuffer
from data_feeds.signals.model_step import stepper
from data_feeds.signals.serving import FROZEN, check_serving

if TYPE_CHECKING:
    from data_feeds.learning_layer.training import Dataset


def serve_holdout(
    model: Any, holdout: Dataset, mode: str, horizon_s: float | None = None
) -> list[float]:
    """P(up) of each row of ``holdout`` served in ``mode`` (see the module doc); ``horizon_s``
    defaults to the dataset's. ``model`` is left unchanged."""
    check_serving(mode)
    names = holdout.feature_names
    if mode == FROZEN:
        predict = stepper(model, names).predict
        return [predict(x) for x in holdout.x_rows]
    horizon = holdout.horizon_s if horizon_s is None else float(horizon_s)
    served = stepper(copy.deepcopy(model), names)
    predict, learn_one = served.predict, served.learn
    capacity = max(1, len(holdout))  # never full: no row is dropped unlearned
    buffers: dict[str, tuple[OutcomeBuffer, deque[int]]] = {}
    out: list[float] = []
    learn = holdout.learn or [True] * len(holdout)
    for x, ts, symbol, y, sampled in zip(
        holdout.x_rows, holdout.timestamps, holdout.symbols, holdout.y, learn, strict=True
    ):
        waiting = buffers.get(symbol)
        if waiting is None:
            waiting = buffers[symbol] = (OutcomeBuffer(horizon, capacity), deque())
        buffer, labels = waiting
        for pending in buffer.mature(ts):
            label = labels.popleft()
            if pending.x is not None:
                learn_one(pending.x, label == 1)
        p = predict(x)
        out.append(p)
        buffer.push(ts, 0.0, x if sampled else None, p, action=HOLD, model_version="")
        labels.append(y)
    return out
