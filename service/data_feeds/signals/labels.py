"""Delayed outcomes: a prediction waits until its horizon has passed in event time, then is
labelled by the realized price move and handed back exactly once (river's delayed progressive
validation, live).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


def label_move(price_then: float, price_now: float, dead_band_bps: float) -> int | None:
    """1 for an up-move, 0 for a down-move, ``None`` inside the dead band (not learned)."""
    threshold = dead_band_bps * 1e-4
    ret = price_now / price_then - 1.0
    if ret > threshold:
        return 1
    if ret < -threshold:
        return 0
    return None


@dataclass(slots=True)
class Pending:
    """A prediction waiting for its outcome; ``x`` holds its features in ``FEATURE_NAMES``
    order (the generator keeps them in an ``array('d')``: 176 bytes for 22 features, where a
    dict of floats took about 1.7 kB)."""

    timestamp: float
    price: float
    x: Sequence[float]
    probability: float
    action: str
    model_version: str

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        """Unpickle; a prediction pickled with its features in a dict (before the array) gets
        them as an array, in the same order."""
        for name, value in state[1].items():
            setattr(self, name, value)
        x = self.x
        if isinstance(x, dict):
            self.x = array("d", x.values())


class OutcomeBuffer:
    """Per-symbol FIFO of pending predictions, bounded: the oldest is dropped when full."""

    __slots__ = ("dropped", "horizon_s", "max_pending", "queue")

    def __init__(self, horizon_s: float, max_pending: int) -> None:
        if not (horizon_s > 0 and math.isfinite(horizon_s)):
            raise ValueError(f"horizon_s must be a finite number > 0, got {horizon_s!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending!r}")
        self.horizon_s = horizon_s
        self.max_pending = max_pending
        self.queue: deque[Pending] = deque()
        """Oldest first; read-only outside this class (the generator pops matured ones)."""
        self.dropped = 0
        """Predictions evicted unlabelled because the buffer was full."""

    def __len__(self) -> int:
        return len(self.queue)

    def push(self, pending: Pending) -> None:
        if len(self.queue) >= self.max_pending:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(pending)

    def mature(self, now_s: float) -> Iterator[Pending]:
        """Pop every prediction whose horizon has passed at event time ``now_s``."""
        queue = self.queue
        limit = now_s - self.horizon_s
        while queue and queue[0].timestamp <= limit:
            yield queue.popleft()
