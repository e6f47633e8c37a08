"""The model step on feature vectors: predict P(up) and learn an outcome, per row.

The generator, ``serve_holdout`` and training all step the model through :func:`stepper`, so
live and offline runs take the same path and agree ``==`` on floats.

- :class:`ExactLogistic`: river's default pipeline, ``StandardScaler | LogisticRegression``
  with plain SGD, recomputed on flat lists of floats. Every float operation is river's, in
  river's order, so probabilities, weights and scaler statistics are bitwise river's
  (``tests/signals/test_model_step.py`` steps both side by side), at about a third of the cost:
  no dict is built per row, and the scaler's standard deviations are kept between learns.
  Per row ``x`` (features ``i`` in the feature order)::

      learn:   n += 1
               m_i' = m_i + (x_i - m_i) / n
               v_i' = v_i + ((x_i - m_i)(x_i - m_i') - v_i) / n
               s_i  = (x_i - m_i') / sqrt(v_i')          (0 where v_i' = 0)
               g    = dLogLoss/dz at z = sum_i w_i s_i + b, clipped
               b   -= lr_b g;   w_i -= lr (s_i g)
      predict: p = sigmoid(sum_i w_i (x_i - m_i) / sqrt(v_i) + b)

  The river objects stay the model of record: :meth:`ExactLogistic.flush` writes the state
  back before anyone else reads the model (the generator does it whenever ``model`` is read
  or pickled).
- :class:`RiverStep`: any other river classifier, through its own ``predict_proba_one`` and
  ``learn_one`` on a dict built from the row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from river import compose, linear_model, optim, preprocessing


class Stepper(Protocol):
    """One model, stepped a row of floats (in ``names`` order) at a time."""

    def predict(self, x: Iterable[float]) -> float:
        """P(up) of the row."""
        ...

    def learn(self, x: Iterable[float], y: bool) -> None:
        """Learn the row's outcome (``True`` = up)."""
        ...

    def flush(self) -> None:
        """Bring the river model up to date with what was learned through this stepper."""
        ...


def stepper(model: Any, names: Sequence[str]) -> Stepper:
    """The fastest exact stepper for ``model`` on rows of features ``names``."""
    exact = ExactLogistic.of(model, names)
    return RiverStep(model, names) if exact is None else exact


class RiverStep:
    """A river classifier through its own dict API."""

    __slots__ = ("model", "names")

    def __init__(self, model: Any, names: Sequence[str]) -> None:
        self.model = model
        self.names = tuple(names)

    def predict(self, x: Iterable[float]) -> float:
        p: float = self.model.predict_proba_one(dict(zip(self.names, x, strict=True))).get(
            True, 0.5
        )
        return p

    def learn(self, x: Iterable[float], y: bool) -> None:
        self.model.learn_one(dict(zip(self.names, x, strict=True)), y)

    def flush(self) -> None:
        """Nothing to do: the model is stepped in place."""


def _constant(schedule: Any) -> float | None:
    """The rate of a constant river schedule, else ``None``."""
    if type(schedule) is optim.schedulers.Constant:
        return float(schedule.learning_rate)
    return None


class ExactLogistic:
    """River's ``StandardScaler | LogisticRegression`` (SGD), bitwise, on lists of floats.

    Built by :meth:`of` from such a pipeline (``None`` for anything else: another optimizer,
    a penalty, a windowed scaler, statistics over other features than ``names``).
    """

    __slots__ = ("_model", "b", "clip", "iterations", "lr", "lr_b", "m", "n", "names", "sd",
                 "v", "w", "w_neg", "w_pos")  # fmt: skip

    def __init__(self, model: Any, names: Sequence[str]) -> None:
        """Use :meth:`of`: it checks that ``model`` is one this class reproduces."""
        scaler, logistic = model.steps.values()
        self._model = model
        self.names = tuple(names)
        counts = scaler.counts
        self.n = counts[self.names[0]] if counts else 0
        self.m = [float(scaler.means.get(k, 0.0)) for k in self.names]
        self.v = [float(scaler.vars.get(k, 0.0)) for k in self.names]
        self.sd = [v**0.5 for v in self.v]
        weights = logistic.weights
        self.w = [float(weights.get(k, 0.0)) for k in self.names]
        self.b = logistic.intercept
        optimizer = logistic.optimizer
        self.lr = _constant(optimizer.lr)
        self.lr_b = _constant(logistic.intercept_lr)
        self.iterations = optimizer.n_iterations
        self.clip = logistic.clip_gradient
        self.w_pos = logistic.loss.weight_pos
        self.w_neg = logistic.loss.weight_neg

    @classmethod
    def of(cls, model: Any, names: Sequence[str]) -> ExactLogistic | None:
        """An exact stepper for ``model``, or ``None`` when ``model`` is not one it reproduces."""
        if type(model) is not compose.Pipeline or len(model.steps) != 2:
            return None
        if compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT:
            return None
        scaler, logistic = model.steps.values()
        if type(scaler) is not preprocessing.StandardScaler or type(logistic) is not (
            linear_model.LogisticRegression
        ):
            return None
        if not scaler.with_std or scaler.window_size is not None:
            return None
        optimizer = logistic.optimizer
        if (
            type(optimizer) is not optim.SGD
            or _constant(optimizer.lr) is None
            or _constant(logistic.intercept_lr) is None
            or type(logistic.loss) is not optim.losses.Log
            or logistic.l1 != 0
            or logistic.l2 != 0
            or type(logistic.initializer) is not optim.initializers.Zeros
        ):
            return None
        known = set(names)
        counts = scaler.counts
        if not set(counts) <= known or not set(logistic.weights) <= known:
            return None
        if counts and (set(counts) != known or len(set(counts.values())) != 1):
            return None  # statistics over some features only: river's own path
        return cls(model, names)

    def predict(self, x: Iterable[float]) -> float:
        z = 0.0
        for xi, mi, si, wi in zip(x, self.m, self.sd, self.w, strict=True):
            if si:
                z += wi * ((xi - mi) / si)
        z += self.b
        if z < -30:  # river.utils.math.sigmoid, to the bit (and its integer ends)
            return 0
        if z > 30:
            return 1
        return 1 / (1 + math.exp(-z))

    def learn(self, x: Iterable[float], y: bool) -> None:
        self.n += 1
        n = self.n
        m = self.m
        v = self.v
        sd = self.sd
        w = self.w
        scaled = []
        z = 0.0
        for i, xi in enumerate(x):
            old = m[i]
            mi = m[i] = old + (xi - old) / n
            vi = v[i] = v[i] + ((xi - old) * (xi - mi) - v[i]) / n
            si = sd[i] = vi**0.5
            s = (xi - mi) / si if vi else 0.0
            scaled.append(s)
            z += w[i] * s
        z += self.b
        if y:  # river.optim.losses.Log.gradient
            sign, weight = 1, self.w_pos
        else:
            sign, weight = -1, self.w_neg
        zy = z * sign
        if zy > 18.0:
            g = weight * math.exp(-zy) * -sign
        elif zy < -18.0:
            g = weight * -sign
        else:
            g = weight * -sign / (math.exp(zy) + 1.0)
        g = float(max(-self.clip, min(g * 1.0, self.clip)))
        self.b -= self.lr_b * g  # type: ignore[operator]  # of() checked both rates
        lr = self.lr
        for i, s in enumerate(scaled):
            w[i] -= lr * (s * g)  # type: ignore[operator]
        self.iterations += 1

    def flush(self) -> None:
        """Write the statistics, weights, intercept and step count back into the river model."""
        scaler, logistic = self._model.steps.values()
        if self.n:
            for k, mi, vi in zip(self.names, self.m, self.v, strict=True):
                scaler.counts[k] = self.n
                scaler.means[k] = mi
                scaler.vars[k] = vi
        if self.iterations:
            weights = logistic._weights
            for k, wi in zip(self.names, self.w, strict=True):
                weights[k] = wi
        logistic.intercept = self.b
        logistic.optimizer.n_iterations = self.iterations
