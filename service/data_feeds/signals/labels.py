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
    holds its features in ``FEATURE_NAMES`` order, ``None`` for a prediction not to be learned
    (``OutcomeBuffer.sample``: only scored)."""

    timestamp: float
    price: float
    x: Sequence[float] | None
    probability: float
    action: str
    model_version: str


CHUNK_ROWS: Final = 4
"""Rows per block of a ``Blocks`` FIFO. A symbol at a low rate has a dozen predictions
waiting: with 4 rows a block (0.7 kB of features with 22 of them) it holds 3-4 blocks, 1-2
rows' worth unused on average, where blocks of 8 left 4 unused (``bench_memory``: 10,000
symbols 329 -> 315 MB; the 50-symbol state the same within 1 MB; ``bench_generator`` as fast
as 8)."""

_ORDER: Final = 65536.0
"""A row's ``code`` is its place in its buffer's pushes times this, plus its label's number:
up to 65,536 labels (three actions of 21,845 model versions in one process)."""
_BLANK_BLOCKS: dict[int, array[float]] = {}
"""A zeroed block per row width, shared by every FIFO: a new block is a copy of it."""

_LABELS: list[tuple[str, str]] = []
_LABEL_CODES: dict[tuple[str, str], float] = {}
"""Every ``(action, model_version)`` this process has parked, and its number: a row holds the
number. One entry per model version a process ever serves (a few a day) times three actions."""


_LABELS_LOCK: Final = threading.Lock()


def check_learn_interval(learn_interval_s: float) -> float:
    """``learn_interval_s`` if it is a learning interval (a finite number >= 0), else
    ``ValueError``."""
    if not (learn_interval_s >= 0 and math.isfinite(learn_interval_s)):
        raise ValueError(f"learn_interval_s must be a finite number >= 0, got {learn_interval_s!r}")
    return learn_interval_s


def _label_code(action: str, model_version: str) -> float:
    """The number of ``(action, model_version)``, given it the first time it is seen (under a
    lock: a checkpoint is restored in a thread, and two threads must not give two labels one
    number)."""
    label = (action, model_version)
    with _LABELS_LOCK:
        code = _LABEL_CODES.get(label)
        if code is None:
            if len(_LABELS) >= _ORDER:
                raise OverflowError("more than 65,536 (action, model version) pairs parked")
            _LABELS.append(label)
            code = _LABEL_CODES[label] = float(len(_LABELS) - 1)
    return code


class Blocks:
    """A FIFO of rows of ``stride`` doubles, in blocks of ``CHUNK_ROWS`` rows.

    Each block is one ``array('d')`` allocated once at its full size. Blocks of one size come
    and go as rows do, so the allocator reuses them; one array per column grown and cut in
    place left glibc's heap holding twice what the rows need. The blocks are in a list, not a
    deque (a deque takes 0.6 kB even empty; 10,000 symbols each have one or two FIFOs): dropping
    the first of hundreds of blocks every few rows moves a few kB.
    """

    __slots__ = ("blank", "chunks", "head", "size", "stride", "tail")

    def __init__(self, stride: int) -> None:
        self.stride = stride
        blank = _BLANK_BLOCKS.get(stride)
        if blank is None:
            blank = _BLANK_BLOCKS[stride] = array("d", bytes(8 * stride * CHUNK_ROWS))
        self.blank = blank
        self.chunks: list[array[float]] = []
        self.head = 0  # the oldest row's index in the first block
        self.tail = CHUNK_ROWS  # rows used in the last block (full: an append opens one)
        self.size = 0

    def append(self, row: array[float]) -> None:
        """Add ``row`` (``stride`` doubles) at the end."""
        if self.tail == CHUNK_ROWS:
            self.chunks.append(self.blank[:])
            self.tail = 0
        stride = self.stride
        start = self.tail * stride
        self.chunks[-1][start : start + stride] = row
        self.tail += 1
        self.size += 1

    def first(self) -> tuple[array[float], int]:
        """The block holding the oldest row, and the row's offset in it."""
        return self.chunks[0], self.head * self.stride

    def drop(self) -> None:
        """Forget the oldest row."""
        self.size -= 1
        head = self.head + 1
        if head == CHUNK_ROWS:
            del self.chunks[0]
            head = 0
        elif not self.size:  # the one block left is empty: start it over
            head = self.tail = 0
        self.head = head

    def table(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The rows, oldest first, one a line (a copy)."""
        if not self.size:
            return np.empty((0, self.stride))
        blocks = np.frombuffer(b"".join(self.chunks), dtype=np.float64)
        return blocks.reshape(-1, self.stride)[self.head : self.head + self.size]


class OutcomeBuffer:
    """Per-symbol FIFO of pending predictions, bounded: the oldest is dropped when full.

    A prediction to be learned is a row ``[time, price, probability, code, *features]`` of
    doubles in one ``Blocks`` FIFO; any other a row ``[time, price, probability, code]`` in a
    second one, created at its first row. ``code`` is the prediction's place in the buffer's
    order of pushes times ``2**16`` plus the number of its action and model version
    (``_label_code``, shared by every buffer of the process), so the two FIFOs are read back in
    push order. With 22 features a learned row is 208 bytes, any other 32: 50 symbols with a
    60 s horizon at 2,000 ticks/s hold 120,000 predictions, of which a learning interval of 1 s
    (``sample``) learns 3,000; a symbol at a low rate has every one learned, in one FIFO.

    Which predictions are learned (``sample``): with ``learn_interval_s`` 0 every one; else the
    first of each event-time slot ``floor(t / learn_interval_s)`` of the symbol. Labels of
    predictions a fraction of a horizon apart overlap almost entirely: learning each repeats
    the last update many times over, while one a slot bounds how many learned labels overlap
    (``horizon_s / learn_interval_s``) and a symbol at a low rate still has every prediction
    learned.
    """

    __slots__ = ("_learned", "_pushed", "_scored", "_slot", "dropped", "horizon_s",
                 "learn_interval_s", "max_pending", "width")  # fmt: skip

    def __init__(self, horizon_s: float, max_pending: int, learn_interval_s: float = 0.0) -> None:
        if not (horizon_s > 0 and math.isfinite(horizon_s)):
            raise ValueError(f"horizon_s must be a finite number > 0, got {horizon_s!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending!r}")
        self.horizon_s = horizon_s
        self.max_pending = max_pending
        self.learn_interval_s = check_learn_interval(learn_interval_s)
        self.dropped = 0
        """Predictions evicted unlabelled because the buffer was full."""
        self.width = -1
        """Features a row (set by the first push with features)."""
        self._slot = math.nan  # the slot of the last prediction sampled (none yet)
        self._pushed = 0.0  # pushes so far, times 2**16: the next row's order in ``code``
        self._learned = _NO_ROWS  # rows with features (a FIFO of their width at the first)
        self._scored = _NO_ROWS  # rows without (a FIFO at the first)

    def __len__(self) -> int:
        return self._learned.size + self._scored.size

    def set_learn_interval(self, learn_interval_s: float) -> None:
        """Sample with ``learn_interval_s`` from the next push on (the rows waiting keep what
        they were parked with)."""
        if learn_interval_s != self.learn_interval_s:
            self.learn_interval_s = check_learn_interval(learn_interval_s)
            self._slot = math.nan

    def sample(self, timestamp: float) -> bool:
        """Whether the prediction of a tick at ``timestamp`` is to be learned: every one with
        a learning interval of 0, else the first of its slot ``floor(t / learn_interval_s)``
        (a tick out of order that falls in another slot opens that one)."""
        interval = self.learn_interval_s
        if not interval:
            return True
        slot = timestamp // interval
        if slot == self._slot:
            return False
        self._slot = slot
        return True

    def push(
        self,
        timestamp: float,
        price: float,
        x: Iterable[float] | None,
        probability: float,
        *,
        action: str,
        model_version: str,
    ) -> None:
        """Park a prediction; ``x``: its features (the same number every time) when it is to be
        learned, else ``None``."""
        label = _LABEL_CODES.get((action, model_version))
        if label is None:
            label = _label_code(action, model_version)
        row = array("d", (timestamp, price, probability, self._pushed + label))
        if x is None:
            if self._scored is _NO_ROWS:
                self._scored = Blocks(4)
            self._scored.append(row)
        else:
            row.extend(x)
            if len(row) != self._learned.stride:
                if self.width >= 0:
                    raise ValueError(
                        f"a row of {len(row) - 4} features in a buffer of {self.width}"
                    )
                self._set_width(len(row) - 4)
            self._learned.append(row)
        self._pushed += _ORDER
        if self._learned.size + self._scored.size > self.max_pending:
            self.pop()
            self.dropped += 1

    def _set_width(self, width: int) -> None:
        self.width = width
        self._learned = Blocks(width + 4)

    def _head(self) -> Blocks:
        """The FIFO whose first row was pushed first (``_NO_ROWS`` when both are empty)."""
        learned, scored = self._learned, self._scored
        if not scored.size:
            return learned
        if not learned.size:
            return scored
        a = learned.chunks[0][learned.head * learned.stride + 3]
        b = scored.chunks[0][scored.head * 4 + 3]
        return learned if a < b else scored

    def oldest(self) -> float:
        """The time of the oldest waiting prediction (``inf`` when none waits)."""
        rows = self._head()
        return rows.chunks[0][rows.head * rows.stride] if rows.size else math.inf

    def pop(self) -> Pending:
        """The oldest waiting prediction, removed (``IndexError`` when none waits)."""
        rows = self._head()
        if not rows.size:
            raise IndexError("pop from an empty OutcomeBuffer")
        chunk, start = rows.first()
        stride = rows.stride
        action, version = _LABELS[int(chunk[start + 3] % _ORDER)]
        x = chunk[start + 4 : start + stride] if stride > 4 else None
        row = Pending(chunk[start], chunk[start + 1], x, chunk[start + 2], action, version)
        rows.drop()
        if not (self._learned.size or self._scored.size):
            self._pushed = 0.0  # the order starts over (a double counts exactly to 2**53)
        return row

    def mature(self, now_s: float) -> Iterator[Pending]:
        """Pop every prediction whose horizon has passed at event time ``now_s``, oldest
        first: each with ``timestamp <= now_s - horizon_s``."""
        limit = now_s - self.horizon_s
        while self.oldest() <= limit:
            yield self.pop()

    def _table(self) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, Any]]:
        """Every waiting row's first four columns in push order, and which are learned."""
        learned, scored = self._learned.table(), self._scored.table()
        both = np.concatenate([rows[:, :4] for rows in (learned, scored) if len(rows)] or
                              [np.empty((0, 4))])  # fmt: skip
        order = np.argsort(both[:, 3], kind="stable")
        is_learned = np.zeros(len(both), dtype=np.uint8)
        is_learned[: len(learned)] = 1
        return both[order], is_learned[order]

    def rows(self) -> array[float]:
        """The waiting rows, oldest first, ``[time, price, probability]`` each."""
        out = array("d")
        out.frombytes(np.ascontiguousarray(self._table()[0][:, :3]).tobytes())
        return out

    def features(self) -> array[float]:
        """The features of the waiting predictions to be learned, oldest first."""
        out = array("d")
        out.frombytes(np.ascontiguousarray(self._learned.table()[:, 4:]).tobytes())
        return out

    def __getstate__(self) -> dict[str, object]:
        """The waiting rows and the features in one array each (not the blocks), which are
        learned, and their actions and versions as numbers into a table of their own."""
        table, learn = self._table()
        codes = (table[:, 3] % _ORDER).astype(np.intp)
        used, numbers = np.unique(codes, return_inverse=True)
        return {
            "horizon_s": self.horizon_s,
            "max_pending": self.max_pending,
            "learn_interval_s": self.learn_interval_s,
            "slot": self._slot,
            "dropped": self.dropped,
            "width": self.width,
            "rows": self.rows(),
            "learn": learn.tobytes(),
            "features": self.features(),
            "labels": [_LABELS[code] for code in used.tolist()],
            "numbers": array("I", numbers.astype(np.uint32).tobytes()),
        }

    def __setstate__(self, state: object) -> None:
        """Unpickle, also a buffer pickled before predictions could go unlearned (every row
        with its features, its action and version spelt out), or as a deque of ``Pending``
        (before the blocks)."""
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
        self.__init__(  # type: ignore[misc]
            state["horizon_s"], state["max_pending"], state.get("learn_interval_s", 0.0)
        )
        self._slot = state.get("slot", math.nan)
        rows: array[float] = state["rows"]
        width = state["width"]
        if width >= 0:
            self._set_width(width)
        if "learn" in state:  # [time, price, probability] a row, features apart
            learn = state["learn"]
            features: array[float] = state["features"]
            labels = [state["labels"][i] for i in state["numbers"]]
            stride = 3
        else:  # [time, price, probability, *features] a row, each learned
            labels = list(zip(state["actions"], state["versions"], strict=True))
            learn = bytes([1]) * len(labels)
            stride = width + 3
            features = array("d")
            for i in range(len(labels)):
                features.extend(rows[i * stride + 3 : (i + 1) * stride])
        k = 0
        for i, (action, version) in enumerate(labels):
            x = None
            if learn[i]:
                x = features[k * width : (k + 1) * width]
                k += 1
            row = rows[i * stride : i * stride + 3]
            self.push(row[0], row[1], x, row[2], action=action, model_version=version)
        self.dropped = state["dropped"]


_NO_ROWS: Final = Blocks(0)
"""The FIFO of a buffer's rows of a kind it has not had yet (empty; shared, never appended to)."""
