"""The shape every indicator shares, and the rolling-window arithmetic several of them use.

Indicators follow river's streaming shape: ``update(...)`` once per observation, ``value`` is
``None`` until the indicator is warmed up, state is O(1) (bounded by the configured window),
classes are slotted and picklable. ``update`` signatures differ by family (a price, a bar, a
trade), so the common protocol is the read side; :class:`PriceIndicator` adds the one-price
update most of them take.

Numerics: running sums over a sliding window are updated in O(1) and recomputed exactly
(``math.fsum``) on a fixed schedule, so rounding error cannot accumulate over a long-running
process; cumulative sums use Kahan compensation.
"""

from __future__ import annotations

from array import array
from math import fsum
from typing import Final, Protocol, TypeVar, runtime_checkable

V_co = TypeVar("V_co", covariant=True)

RECOMPUTE_EVERY: Final = 1024
"""Sliding updates between two exact recomputes of a window's sums (at least the window)."""


def zeros(n: int) -> array[float]:
    """An ``array('d')`` of ``n`` zeros, allocated at that length in one go (a window's
    storage: see ``RollingMoments``)."""
    return array("d", bytes(8 * n))


@runtime_checkable
class Indicator(Protocol[V_co]):
    """Anything with a current value that is ``None`` until warmed up."""

    @property
    def value(self) -> V_co | None:
        """The current value, ``None`` until enough observations were seen."""
        ...


@runtime_checkable
class PriceIndicator(Indicator[V_co], Protocol[V_co]):
    """An indicator fed one price per observation."""

    def update(self, price: float) -> None:
        """Fold one price into the state."""
        ...


class RollingMoments:
    """Mean and sum of squared deviations over the last ``window`` values, O(1) per value.

    Welford's update for a sliding window: adding ``x`` and dropping ``old`` moves the mean by
    ``(x - old) / n`` and the squared deviations by ``(x - old) * (x - new_mean + old - mean)``,
    which never subtracts two large sums of squares (the cancellation that makes
    ``E[x^2] - E[x]^2`` lose every digit on large prices). Three guards keep it accurate when
    the deviation is tiny next to the values (a quiet market at 40,000):

    - the mean is held as ``base + offset`` with ``base`` fixed between exact recomputes, so
      deviations are taken from ``x - base`` (exact for nearby floats) and the rounding error of
      the mean scales with how far it moved, not with its magnitude;
    - ``mean`` and ``m2`` are recomputed exactly (``math.fsum``, two passes) every
      ``max(window, RECOMPUTE_EVERY)`` updates, and as soon as ``m2`` falls below 1/100 of its
      peak since the last recompute (a volatile stretch leaving the window would otherwise
      leave its rounding residue behind, large next to the quiet window's ``m2``);
    - a window of identical values has exactly that value as mean and exactly 0 as ``m2``.

    The window is an ``array('d')`` ring: 8 bytes a value where a list of floats holds 32 (a
    pointer and the float object), which adds up over 10,000 symbols with three of these each.
    It is allocated at its full size once, and filled from the front: an array grown value by
    value is reallocated through a dozen of the allocator's size classes, and when thousands of
    symbols warm up together the pools those steps leave empty stay with the process
    (``bench_memory``).
    """

    __slots__ = (
        "_base",
        "_buf",
        "_last",
        "_n",
        "_offset",
        "_peak",
        "_pos",
        "_run",
        "_until_exact",
        "m2",
        "mean",
        "window",
    )

    window: int
    mean: float
    m2: float
    """Sum of squared deviations from the mean (divide by ``n`` or ``n - 1`` for a variance)."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = window
        self.mean = 0.0
        self.m2 = 0.0
        self._buf = zeros(window)
        self._n = 0  # values held: window once full
        self._pos = 0  # where the next value goes (the oldest, once full)
        self._until_exact = max(window, RECOMPUTE_EVERY)
        self._base = 0.0
        self._offset = 0.0
        self._peak = 0.0
        self._last = 0.0
        self._run = 0

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        slots = state[1]
        for name, value in slots.items():
            setattr(self, name, value)
        if "_n" not in slots:  # pickled while the window grew value by value (a list before)
            held = array("d", self._buf)
            self._n = len(held)
            self._buf = held + zeros(self.window - len(held))
            if self._n < self.window:
                self._pos = self._n

    @property
    def count(self) -> int:
        """How many values the window holds (at most ``window``)."""
        return self._n

    @property
    def full(self) -> bool:
        """True once ``window`` values were pushed."""
        return self._n == self.window

    def push(self, x: float) -> bool:
        """Add ``x``, dropping the oldest value once the window is full; True when full."""
        # The hot path of three indicators per tick: state is read into locals once and
        # written back once.
        if x == self._last:
            run = self._run + 1
        else:
            self._last = x
            run = 1
        self._run = run
        buf = self._buf
        window = self.window
        pos = self._pos
        old = buf[pos]
        buf[pos] = x
        pos += 1
        self._pos = pos if pos < window else 0
        if self._n < window:  # filling
            self._n = pos
            if pos < window:
                return False
            self._recompute()
            return True
        until_exact = self._until_exact - 1
        self._until_exact = until_exact
        if run >= window:
            self.mean = self._base = x
            self.m2 = self._offset = self._peak = 0.0
            return True
        base = self._base
        offset = self._offset
        diff = x - old
        new_offset = offset + diff / window
        m2 = self.m2 + diff * ((x - base) - new_offset + ((old - base) - offset))
        peak = self._peak
        if m2 > peak:
            self._peak = m2
        elif m2 * 100.0 < peak or until_exact <= 0:
            self._recompute()
            return True
        self._offset = new_offset
        self.mean = base + new_offset
        self.m2 = m2
        return True

    def _recompute(self) -> None:
        buf = self._buf
        mean = fsum(buf) / len(buf)
        self.mean = self._base = mean
        self._offset = 0.0
        self.m2 = self._peak = fsum([(v - mean) * (v - mean) for v in buf])
        self._until_exact = max(self.window, RECOMPUTE_EVERY)
