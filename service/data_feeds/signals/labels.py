"""Delayed outcomes: a prediction waits until its horizon has passed in event time, then is
labelled by the realized price move and handed back exactly once (river's delayed progressive
validation, live).
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np


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
    """A prediction waiting for its outcome, as ``OutcomeBuffer.mature`` hands it back; ``x``
    holds its features in ``FEATURE_NAMES`` order."""

    timestamp: float
    price: float
    x: Sequence[float]
    probability: float
    action: str
    model_version: str


CHUNK_ROWS: Final = 4
"""Rows per block of an ``OutcomeBuffer``. A symbol at a low rate has a dozen predictions
waiting: with 4 rows a block (0.8 kB with 22 features) it holds 3-4 blocks, 1-2 rows' worth
unused on average, where blocks of 8 left 4 unused (``bench_memory``: 10,000 symbols 329 ->
315 MB; the 50-symbol state the same within 1 MB; ``bench_generator`` as fast as 8)."""

_NO_BLOCK: Final = array("d")
_BLANK_BLOCKS: dict[int, array[float]] = {}
"""A zeroed block per row width, shared by every buffer: a new block is a copy of it."""

_LABELS: list[tuple[str, str]] = []
_LABEL_CODES: dict[tuple[str, str], float] = {}
"""Every ``(action, model_version)`` this process has parked, and its number: a row holds the
number. One entry per model version a process ever serves (a few a day) times three actions."""


_LABELS_LOCK: Final = threading.Lock()


def _label_code(action: str, model_version: str) -> float:
    """The number of ``(action, model_version)``, given it the first time it is seen (under a
    lock: a checkpoint is restored in a thread, and two threads must not give two labels one
    number)."""
    label = (action, model_version)
    with _LABELS_LOCK:
        code = _LABEL_CODES.get(label)
        if code is None:
            _LABELS.append(label)
            code = _LABEL_CODES[label] = float(len(_LABELS) - 1)
    return code


class OutcomeBuffer:
    """Per-symbol FIFO of pending predictions, bounded: the oldest is dropped when full.

    A row per prediction: ``[time, price, probability, label, *features]`` as doubles, in
    blocks of ``CHUNK_ROWS`` rows, each one ``array('d')`` allocated once at its full size;
    ``label`` numbers the prediction's action and model version (``_label_code``, shared by
    every buffer of the process). About 210 bytes a row with 22 features, where a ``Pending``
    with its own feature array took about 400 (and with a feature dict 1.7 kB): 50 symbols with
    a 60 s horizon at 2,000 ticks/s hold 120,000 of them. Blocks of one size come and go as
    rows do, so the allocator reuses them; one array per column grown and cut in place left
    glibc's heap holding twice what the rows need. The blocks are in a list, not a deque (a
    deque takes 0.6 kB even empty; 10,000 symbols each have a buffer): dropping the first of
    hundreds of blocks every few rows moves a few kB.
    """

    __slots__ = ("_blank", "_chunks", "_head", "_len", "_stride", "_tail", "dropped",
                 "horizon_s", "max_pending", "width")  # fmt: skip

    def __init__(self, horizon_s: float, max_pending: int) -> None:
        if not (horizon_s > 0 and math.isfinite(horizon_s)):
            raise ValueError(f"horizon_s must be a finite number > 0, got {horizon_s!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending!r}")
        self.horizon_s = horizon_s
        self.max_pending = max_pending
        self.dropped = 0
        """Predictions evicted unlabelled because the buffer was full."""
        self.width = -1
        """Features a row (set by the first push)."""
        self._stride = 0
        self._blank = _NO_BLOCK
        self._chunks: list[array[float]] = []
        self._head = 0  # the oldest row's index in the first block
        self._tail = CHUNK_ROWS  # rows used in the last block (full: a push opens one)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def push(
        self,
        timestamp: float,
        price: float,
        x: Iterable[float],
        probability: float,
        *,
        action: str,
        model_version: str,
    ) -> None:
        """Park a prediction (``x``: its features, the same number every time)."""
        label = _LABEL_CODES.get((action, model_version))
        if label is None:
            label = _label_code(action, model_version)
        row = array("d", (timestamp, price, probability, label))
        row.extend(x)
        stride = len(row)
        if stride != self._stride:
            if self.width >= 0:
                raise ValueError(f"a row of {stride - 4} features in a buffer of {self.width}")
            self._set_width(stride - 4)
        if self._tail == CHUNK_ROWS:
            self._chunks.append(self._blank[:])
            self._tail = 0
        start = self._tail * stride
        self._chunks[-1][start : start + stride] = row
        self._tail += 1
        self._len += 1
        if self._len > self.max_pending:
            self._advance()
            self.dropped += 1

    def _set_width(self, width: int) -> None:
        self.width = width
        self._stride = width + 4
        blank = _BLANK_BLOCKS.get(self._stride)
        if blank is None:
            blank = _BLANK_BLOCKS[self._stride] = array("d", bytes(8 * self._stride * CHUNK_ROWS))
        self._blank = blank

    def oldest(self) -> float:
        """The time of the oldest waiting prediction (``inf`` when none waits)."""
        return self._chunks[0][self._head * self._stride] if self._len else math.inf

    def pop(self) -> Pending:
        """The oldest waiting prediction, removed (``IndexError`` when none waits)."""
        if not self._len:
            raise IndexError("pop from an empty OutcomeBuffer")
        chunk = self._chunks[0]
        start = self._head * self._stride
        action, version = _LABELS[int(chunk[start + 3])]
        row = Pending(chunk[start], chunk[start + 1], chunk[start + 4 : start + self._stride],
                      chunk[start + 2], action, version)  # fmt: skip
        self._len -= 1  # _advance, inlined
        head = self._head + 1
        if head == CHUNK_ROWS:
            del self._chunks[0]
            head = 0
        elif not self._len:
            head = self._tail = 0
        self._head = head
        return row

    def mature(self, now_s: float) -> Iterator[Pending]:
        """Pop every prediction whose horizon has passed at event time ``now_s``, oldest
        first: each with ``timestamp <= now_s - horizon_s``."""
        limit = now_s - self.horizon_s
        while self._len and self._chunks[0][self._head * self._stride] <= limit:
            yield self.pop()

    def _advance(self) -> None:
        """Forget the oldest row."""
        self._head += 1
        self._len -= 1
        if self._head == CHUNK_ROWS:
            del self._chunks[0]
            self._head = 0
        elif not self._len:  # the one block left is empty: start it over
            self._head = self._tail = 0

    def _table(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The waiting rows, oldest first, one a line, with their label column (a copy)."""
        blocks = np.frombuffer(b"".join(self._chunks), dtype=np.float64)
        return blocks.reshape(-1, self._stride)[self._head : self._head + self._len]

    @staticmethod
    def _without_labels(table: np.ndarray[Any, np.dtype[np.float64]]) -> array[float]:
        out = array("d")
        out.frombytes(np.delete(table, 3, axis=1).tobytes())
        return out

    def rows(self) -> array[float]:
        """The waiting rows, oldest first, ``[time, price, probability, *features]`` each."""
        return self._without_labels(self._table()) if self._len else array("d")

    def __getstate__(self) -> dict[str, object]:
        """The waiting rows in one array (not the blocks), their actions and versions."""
        rows: array[float] = array("d")
        actions: list[str] = []
        versions: list[str] = []
        if self._len:
            table = self._table()
            rows = self._without_labels(table)
            codes = table[:, 3].astype(np.intp)
            actions = np.array([a for a, _ in _LABELS], dtype=object)[codes].tolist()
            versions = np.array([v for _, v in _LABELS], dtype=object)[codes].tolist()
        return {
            "horizon_s": self.horizon_s,
            "max_pending": self.max_pending,
            "dropped": self.dropped,
            "width": self.width,
            "rows": rows,
            "actions": actions,
            "versions": versions,
        }

    def __setstate__(self, state: object) -> None:
        """Unpickle, also a buffer pickled as a deque of ``Pending`` (before the blocks)."""
        if isinstance(state, tuple):  # (None, slots) of the deque version
            slots: dict[str, Any] = state[1]
            self.__init__(slots["horizon_s"], slots["max_pending"])  # type: ignore[misc]
            for p in slots["queue"]:  # features in a dict before they were in an array
                x = p.x.values() if isinstance(p.x, dict) else p.x
                self.push(p.timestamp, p.price, x, p.probability, action=p.action,
                          model_version=p.model_version)  # fmt: skip
            self.dropped = slots["dropped"]
            return
        assert isinstance(state, dict)
        self.__init__(state["horizon_s"], state["max_pending"])  # type: ignore[misc]
        rows: array[float] = state["rows"]
        if state["width"] >= 0:
            self._set_width(state["width"])
        stride = self.width + 3
        for i, (action, version) in enumerate(
            zip(state["actions"], state["versions"], strict=True)
        ):
            row = rows[i * stride : (i + 1) * stride]
            self.push(row[0], row[1], row[3:], row[2], action=action, model_version=version)
        self.dropped = state["dropped"]
