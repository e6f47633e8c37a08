"""``data-feeds signals``: the stored signals, newest first per symbol, then followed live.

Reads ``signals:{SYMBOL}`` streams (``cache.keys``) with XREVRANGE for the newest entries and
XREAD ``BLOCK`` for new ones; every stream the pattern matches is read, and streams that appear
while following are picked up on the next read. A line per signal: a fixed-width text row, or
the signal's JSON (``--json``). An entry that is not a readable signal is shown as such, never
skipped silently.
"""

from __future__ import annotations

import signal as signals_module
import sys
import time
from collections.abc import Iterable
from typing import Any, Final

import orjson
import redis

from data_feeds.cache.clients import is_cluster
from data_feeds.cache.codec import as_text
from data_feeds.cache.keys import SIGNALS_STREAMS, by_slot, is_signals_key, signals_key

BLOCK_MS: Final = 1000
CLUSTER_POLL_S: Final = 0.1
"""On a cluster (reads cannot block on several nodes): the pause after a round with nothing."""
ROW: Final = "{:<20} {:<12} {:<4} {:>6} {:>14} {:<8} {}"


class SignalsView:
    """Prints signals of one symbol (or all) to stdout."""

    def __init__(self, client: redis.Redis, symbol: str | None, *, as_json: bool) -> None:
        self.redis = client
        self.pattern = signals_key(symbol.upper()) if symbol else SIGNALS_STREAMS
        self.as_json = as_json
        self._header = False
        self._stop = False

    def streams(self) -> list[str]:
        keys = (as_text(k) for k in self.redis.scan_iter(match=self.pattern, _type="stream"))
        return sorted(k for k in keys if is_signals_key(k))

    def show_newest(self, count: int) -> int:
        """The newest ``count`` signals of each stream, merged in time order; how many."""
        rows: list[tuple[float, str, dict[str, Any] | None, bytes]] = []
        for stream in self.streams():
            newest: Any = self.redis.xrevrange(stream, count=count) if count else []
            for entry_id, fields in newest:
                doc = _signal(fields)
                ts = float(doc["timestamp"]) if doc else 0.0
                rows.append((ts, stream, doc, entry_id))
        rows.sort(key=lambda r: (r[0], r[1]))
        self._print((stream, doc, entry_id) for _, stream, doc, entry_id in rows)
        return len(rows)

    def follow(self) -> None:
        """Print new signals until Ctrl-C / SIGTERM."""
        previous = signals_module.signal(signals_module.SIGTERM, self._on_term)
        cursors = {s: as_text(self._last_id(s)) for s in self.streams()}
        try:
            while not self._stop:
                for s in self.streams():
                    cursors.setdefault(s, "0-0")
                if not cursors:
                    time.sleep(BLOCK_MS / 1000)
                    continue
                for key, entries in self._read(cursors):
                    stream = as_text(key)
                    self._print((stream, _signal(f), i) for i, f in entries)
                    cursors[stream] = as_text(entries[-1][0])
        except KeyboardInterrupt:
            pass
        finally:
            signals_module.signal(signals_module.SIGTERM, previous)

    def _read(self, cursors: dict[str, str]) -> Any:
        """New entries after ``cursors``: one blocking XREAD on one Redis; on a cluster one
        XREAD per hash slot in a cluster pipeline, and a pause when nothing came."""
        if not is_cluster(self.redis):
            return self.redis.xread(cursors, block=BLOCK_MS) or ()  # type: ignore[arg-type]
        with self.redis.pipeline(transaction=False) as pipe:
            for group in by_slot(cursors):
                pipe.xread(group)  # type: ignore[arg-type]
            replies = [r for reply in pipe.execute() for r in reply or ()]
        if not replies:
            time.sleep(CLUSTER_POLL_S)
        return replies

    def _on_term(self, *_: object) -> None:
        self._stop = True

    def _last_id(self, stream: str) -> bytes | str:
        last: Any = self.redis.xrevrange(stream, count=1)
        return last[0][0] if last else "0-0"

    def _print(self, rows: Iterable[tuple[str, dict[str, Any] | None, bytes]]) -> None:
        out = sys.stdout
        for stream, doc, entry_id in rows:
            if self.as_json:
                line = orjson.dumps(doc or {"stream": stream, "entry_id": as_text(entry_id),
                                            "error": "not a readable signal"}).decode()  # fmt: skip
            else:
                if not self._header:
                    out.write(ROW.format(*_COLUMNS) + "\n")
                    self._header = True
                line = _row(stream, doc, entry_id)
            out.write(line + "\n")
        out.flush()


_COLUMNS: Final = ("time (UTC)", "symbol", "act", "p_up", "price", "model", "signal_id")


def _signal(fields: Any) -> dict[str, Any] | None:
    raw = fields.get(b"data") if isinstance(fields, dict) else None
    try:
        doc = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) and "timestamp" in doc else None


def _row(stream: str, doc: dict[str, Any] | None, entry_id: bytes) -> str:
    if doc is None:
        return f"{stream} {as_text(entry_id)}: not a readable signal"
    ts = float(doc.get("timestamp", 0.0))
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    return ROW.format(
        when,
        str(doc.get("symbol", "?")),
        str(doc.get("action", "?")),
        f"{float(doc.get('probability', float('nan'))):.4f}",
        f"{float(doc.get('price', float('nan'))):.8g}",
        str(doc.get("model_version", "?")),
        str(doc.get("signal_id", "")),
    )
