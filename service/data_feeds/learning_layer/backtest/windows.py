"""Walk-forward windows: where each fold trains and where it is tested.

A window length is given in time (``90s``, ``30m``, ``6h``, ``2d``, or plain seconds), in bars
(``500bars``: that many price ticks, counted on the history's own tick times) or as a share of
the history's span (``50%``). A plan of folds over a history spanning ``[t0, t1]``::

    train_k = [s_k, s_k + train)          s_k = t0 + k * step   (anchored: train_k starts at t0)
    test_k  = [e_k + embargo, e_k + embargo + test)              e_k = s_k + train

The embargo (one label horizon) keeps the test window's first prices out of the training
labels: a training row whose label tick is at or after ``e_k`` is purged (its outcome lies in
the gap or the test window). Folds are made while a test window starts before ``t1``; the last
one is cut at ``t1``. ``step`` defaults to ``test`` (test windows back to back); a step shorter
than the test window would test some ticks twice and is refused.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

SECONDS: Final = "s"
BARS: Final = "bars"
SHARE: Final = "%"
_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_SPEC: Final = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-z%]*)\s*$")


@dataclass(frozen=True, slots=True)
class Window:
    """A window length: ``value`` in ``unit`` (``s``, ``bars`` or ``%``)."""

    value: float
    unit: str = SECONDS

    def __post_init__(self) -> None:
        if self.unit not in (SECONDS, BARS, SHARE):
            raise ValueError(f"window unit must be s, bars or %, got {self.unit!r}")
        if not (math.isfinite(self.value) and self.value > 0.0):
            raise ValueError(f"a window must be a finite length > 0, got {self.value!r}")
        if self.unit == SHARE and self.value > 100.0:
            raise ValueError(f"a window share must be at most 100%, got {self.value:g}%")

    @classmethod
    def parse(cls, text: str | float | Window) -> Window:
        """``"6h"``, ``"500bars"``, ``"50%"``, ``"3600"`` (seconds) or a number of seconds."""
        if isinstance(text, Window):
            return text
        if isinstance(text, int | float):
            return cls(float(text))
        match = _SPEC.match(text.lower())
        if match is None:
            raise ValueError(f"window {text!r}: expected e.g. 6h, 30m, 500bars or 50%")
        value, unit = float(match.group(1)), match.group(2)
        if unit in ("", "sec", "secs"):
            return cls(value)
        if unit in _UNITS:
            return cls(value * _UNITS[unit])
        if unit in ("bar", "bars", "b"):
            if value != int(value):
                raise ValueError(f"window {text!r}: a count of bars is a whole number")
            return cls(value, BARS)
        if unit == "%":
            return cls(value, SHARE)
        raise ValueError(f"window {text!r}: unknown unit {unit!r} (s, m, h, d, w, bars or %)")

    def seconds(self, times: Sequence[float], at: float) -> float:
        """The window's length in seconds for a window starting at ``at``, over a history
        whose sorted tick times are ``times``."""
        if self.unit == SECONDS:
            return self.value
        if not times:
            return 0.0
        if self.unit == SHARE:
            return (times[-1] - times[0]) * self.value / 100.0
        start = bisect.bisect_left(times, at)
        end = start + int(self.value)
        if end >= len(times):
            return times[-1] - at + 1e-6
        return times[end] - at

    def __str__(self) -> str:
        if self.unit == SECONDS:
            return f"{self.value:g}s"
        return f"{self.value:g}{self.unit}"


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold's windows, epoch seconds (half-open)."""

    index: int
    train_start: float
    train_end: float
    test_start: float
    test_end: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "train_start": self.train_start,
            "train_end": self.train_end,
            "test_start": self.test_start,
            "test_end": self.test_end,
        }


class WalkForward:
    """A fold plan (see the module doc). ``embargo_s``: the gap between a training window and
    its test window (the backtest passes one label horizon)."""

    def __init__(
        self,
        train: str | float | Window,
        test: str | float | Window,
        step: str | float | Window | None = None,
        *,
        embargo_s: float = 0.0,
        anchored: bool = False,
        max_folds: int = 1000,
    ) -> None:
        self.train = Window.parse(train)
        self.test = Window.parse(test)
        self.step = self.test if step is None else Window.parse(step)
        if not (math.isfinite(embargo_s) and embargo_s >= 0.0):
            raise ValueError(f"embargo_s must be a finite number >= 0, got {embargo_s!r}")
        if self.step.unit == self.test.unit and self.step.value < self.test.value:
            raise ValueError(
                f"step {self.step} is shorter than the test window {self.test}: "
                "ticks would be tested twice"
            )
        if max_folds < 1:
            raise ValueError(f"max_folds must be >= 1, got {max_folds!r}")
        self.embargo_s = embargo_s
        self.anchored = anchored
        self.max_folds = max_folds

    def plan(self, times: Sequence[float]) -> list[Fold]:
        """The folds over a history with these sorted tick times (empty when it is too short
        for one training window and some of a test window)."""
        if len(times) < 2:
            return []
        t0, t1 = times[0], times[-1]
        folds: list[Fold] = []
        start = t0
        while len(folds) < self.max_folds:
            train_start = t0 if self.anchored else start
            train_end = start + self.train.seconds(times, start)
            test_start = train_end + self.embargo_s
            if folds:  # bars of uneven spacing: never test a tick twice
                test_start = max(test_start, folds[-1].test_end)
            if test_start > t1:
                break
            test_end = min(test_start + self.test.seconds(times, test_start), t1 + 1e-6)
            folds.append(Fold(len(folds), train_start, train_end, test_start, test_end))
            # the step is measured where the test window starts: step == test gives test
            # windows back to back whatever the unit
            step = self.step.seconds(times, test_start)
            if step <= 0.0:
                break
            start += step
        return folds
