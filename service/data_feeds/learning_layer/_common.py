"""Small helpers the learning-layer modules share: JSON, capped Redis lists, text tables."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
from redis.client import Pipeline

from data_feeds.cache.db_connector import PAGE_SIZE
from data_feeds.sources import is_number

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_DATACLASS


def dumps(obj: Any, *, indent: bool = False) -> bytes:
    """Compact JSON (or indented, for people); non-finite floats become ``null``."""
    option = JSON_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(obj, option=option)


def push_capped(client: redis.Redis, key: str, payload: bytes, keep: int) -> None:
    """Prepend ``payload`` to the list ``key`` and keep only the newest ``keep`` items."""
    with client.pipeline(transaction=True) as pipe:
        queue_capped(pipe, key, payload, keep)
        pipe.execute()


def queue_capped(pipe: Pipeline, key: str, payload: bytes, keep: int) -> None:
    """``push_capped`` as two commands queued on ``pipe`` (part of a larger transaction)."""
    pipe.lpush(key, payload)
    pipe.ltrim(key, 0, keep - 1)


def read_list(client: redis.Redis, key: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The JSON items of a list written by ``push_capped``, newest first."""
    raw = client.lrange(key, 0, -1 if limit is None else limit - 1)
    return [orjson.loads(item) for item in raw]


def iso(ts: float | None) -> str:
    """Epoch seconds as ``2024-01-02T03:04:05Z`` (``-`` for ``None``)."""
    if ts is None or not math.isfinite(ts):
        return "-"
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: numbers to ``digits`` significant digits, ``None`` as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 1e6:  # epoch times and counts: every digit (a time can be pasted back)
            return repr(value)
        return f"{value:.{digits}g}"
    return str(value)


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain fixed-width text table: text left-aligned, numbers right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    raw_rows = [list(row) for row in cells]
    widths = [len(h) for h in headers]
    for row in raw_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(values: Sequence[str], numeric: Sequence[bool]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    numeric_cols = [False] * len(headers)
    for row in raw_rows:
        for i, cell in enumerate(row):
            numeric_cols[i] = numeric_cols[i] or is_number(cell)
    out = [line(list(headers), [False] * len(headers))]
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row, numeric_cols) for row in raw_rows)
    return "\n".join(out)


def counts(mapping: Mapping[str, int]) -> str:
    """``{"a": 2, "b": 1}`` -> ``a=2 b=1`` (``-`` when empty)."""
    return " ".join(f"{k}={v}" for k, v in sorted(mapping.items())) or "-"


def stream_entries(client: redis.Redis, stream: str) -> Iterator[Any]:
    """Every entry's fields, in stream order, a page at a time."""
    cursor = "-"
    while True:
        page = client.xrange(stream, min=cursor, max="+", count=PAGE_SIZE) or []
        for _, fields in page:
            yield fields
        if len(page) < PAGE_SIZE:
            return
        last = page[-1][0]
        cursor = "(" + (last.decode() if isinstance(last, bytes) else str(last))
