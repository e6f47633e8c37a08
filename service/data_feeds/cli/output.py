"""What commands write: results on stdout (text, or JSON with ``--json``), progress, notes and
the one error line on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any, Final, TextIO

import orjson

from data_feeds.simulation.publisher import PublishProgress

PROG: Final = "data-feeds"


def print_result(result: Any, as_json: bool, **table_options: Any) -> None:
    """A learning-layer result (it has ``to_json`` and ``to_table``) as JSON or as its table;
    ``table_options`` go to ``to_table``."""
    _write((result.to_json() if as_json else result.to_table(**table_options)) + "\n")


def print_summary(summary: dict[str, Any], as_json: bool, lines: Iterable[str]) -> None:
    """A summary as indented JSON, or its human-readable lines."""
    if as_json:
        _write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_lines(lines)


def print_lines(lines: Iterable[str]) -> None:
    """Lines of text."""
    _write("".join(line + "\n" for line in lines))


def print_json_lines(rows: Iterable[dict[str, Any]]) -> None:
    """One compact JSON object per line."""
    out = sys.stdout
    for row in rows:
        out.write(orjson.dumps(row).decode() + "\n")
    out.flush()


def note(message: str) -> None:
    """A remark on stderr that is not an error."""
    print(message, file=sys.stderr)


def error(command: str | None, message: str) -> None:
    """The one error line: ``data-feeds <cmd>: error: <message>``."""
    where = f"{PROG} {command}" if command else PROG
    print(f"{where}: error: {message}", file=sys.stderr)


def kinds_line(by_kind: dict[str, int]) -> str:
    """Messages per kind, the usual kinds first."""
    order = ("price", "trade", "book", "sentiment")
    known = [k for k in order if k in by_kind] + sorted(k for k in by_kind if k not in order)
    return "  " + "  ".join(f"{k} {by_kind[k]:,}" for k in known) if known else "  (nothing)"


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


class ProgressLine:
    """Progress on stderr: one updating line on a terminal, a line every ``every_s`` otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.label = label
        self.every_s = every_s
        self._last = time.monotonic()
        self._width = 0

    @property
    def interval_s(self) -> float:
        return 0.25 if self.tty else 1.0

    def __call__(self, p: PublishProgress) -> None:
        line = (
            f"{self.label}: {p.published:,} messages in {p.elapsed_s:.1f} s "
            f"({p.rate_per_s:,.0f}/s), {p.faults:,} faults"
        )
        if self.tty:
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
        elif time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


class StageProgress:
    """Progress of a long computation on a terminal's stderr: one updating line
    ``label: stage done/total``; silent when stderr is not a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.label = label
        self._width = 0
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.2:
            return
        self._last = now
        line = f"{self.label}: {stage} {done:,}/{total:,}"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
