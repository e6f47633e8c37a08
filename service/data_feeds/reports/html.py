"""HtmlReport: one self-contained HTML page of headings, paragraphs, tables and figures.

Every text is escaped; figures are embedded as PNG data URIs and the style is inline, so the
file needs nothing else (no network, no fonts, no script) and can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from data_feeds.errors import UsageError
from data_feeds.reports.figures import drawdown_figure, equity_figure
from data_feeds.reports.plotting import pyplot

FIGURE_DPI: Final = 100
DIGITS: Final = 4
"""Significant digits of a number in a table."""
FILE_MODE: Final = 0o644

CSS: Final = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #1a1a1a; background: #fff; line-height: 1.4; }
h1 { margin-bottom: 0.2em; }
.subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; white-space: nowrap; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85em; }
footer { color: #777; font-size: 0.8em; margin-top: 3em; }
"""


def cell(value: Any) -> str:
    """A table cell's text: numbers to ``DIGITS`` significant digits, ``None`` as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if not math.isfinite(x):
            return str(x)
        if abs(x) < 1e15 and (x.is_integer() or abs(x) >= 1e4):
            return f"{x:.0f}"  # 10200.0 -> 10200, 12345.6 -> 12346 (not 1.02e+04, 1.235e+04)
        return f"{x:.{DIGITS}g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def writable_target(path: str | Path, what: str = "the report") -> Path:
    """``path`` as a ``Path`` if a file can be written there, else a ``UsageError`` naming it
    (``what``: what the file is, for the message)."""
    target = Path(path).expanduser()
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {what} {target}: no directory {parent}")
    if target.is_dir():
        raise UsageError(f"cannot write {what} {target}: it is a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {target}: directory {parent} is not writable")
    return target


class HtmlReport:
    """A report page built in order: ``heading``, ``paragraph``, ``table``, ``figure``; then
    ``render`` (the HTML text) or ``write`` (to a file, atomically)."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self._parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        """A section heading, ``<h2>`` by default (``<h1>`` is the title)."""
        if not 1 <= level <= 6:
            raise ValueError(f"a heading level is 1 to 6, got {level!r}")
        self._parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        """A paragraph of plain text."""
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """A table; numbers are right-aligned and shown compactly (``cell``)."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = []
        for row in rows:
            cells = "".join(
                f'<td class="num">{html.escape(cell(v))}</td>'
                if _is_number(v)
                else f"<td>{html.escape(cell(v))}</td>"
                for v in row
            )
            body.append(f"<tr>{cells}</tr>")
        self._parts.append(
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )

    def figure(self, fig: Any, alt: str) -> None:
        """A matplotlib Figure as an embedded PNG (``alt`` is its alt text and caption); the
        figure is closed."""
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
        finally:
            pyplot().close(fig)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        text = html.escape(alt)
        self._parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{text}">'
            f"<figcaption>{text}</figcaption></figure>"
        )

    def equity_section(self, times: Any, curves: Mapping[str, Any], *, of: str) -> None:
        """The "Equity and drawdown" section: the cumulative net bps of ``curves`` (summed over
        symbols, one unit each) and their drawdowns, ``of`` naming what they are."""
        self.heading("Equity and drawdown")
        self.figure(
            equity_figure(
                times,
                curves,
                title=f"Cumulative net return of {of} (summed over symbols, one unit each)",
                ylabel="bps",
            ),
            f"equity curves of {of}",
        )
        self.figure(
            drawdown_figure(times, curves, title="Drawdown", ylabel="bps"),
            f"drawdown of {of}",
        )

    def render(self) -> str:
        """The whole page."""
        title = html.escape(self.title)
        subtitle = f'<p class="subtitle">{html.escape(self.subtitle)}</p>' if self.subtitle else ""
        made = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        body = "\n".join(self._parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{title}</h1>{subtitle}</header>\n<main>\n{body}\n</main>\n"
            f"<footer>written by data-feeds at {made}</footer>\n</body>\n</html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` atomically (a temporary file beside it, then a rename);
        the path written. A missing or read-only directory is a ``UsageError`` naming it."""
        target = writable_target(path)
        data = self.render().encode("utf-8")
        try:
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise UsageError(f"cannot write the report {target}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, FILE_MODE)
            os.replace(temp, target)
        except OSError as exc:
            Path(temp).unlink(missing_ok=True)
            raise UsageError(f"cannot write the report {target}: {exc.strerror}") from None
        return target
