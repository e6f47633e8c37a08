"""HtmlReport and the figures: escaping, embedded images, atomic writes, clear errors; every
figure for normal, empty and NaN input."""

from __future__ import annotations

import base64
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from data_feeds.errors import UsageError
from data_feeds.reports import figures
from data_feeds.reports.decimate import decimate
from data_feeds.reports.html import HtmlReport, cell
from data_feeds.reports.plotting import MISSING, pyplot

NAN = math.nan
T0 = 1_700_000_000.0
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_text_is_escaped() -> None:
    evil = "<script>alert('x')</script> & \"q\""
    page = HtmlReport(evil, subtitle=evil)
    page.heading(evil)
    page.heading(evil, level=3)
    page.paragraph(evil)
    page.table([evil, "n"], [(evil, 1.5), ("<b>", None)])
    text = page.render()
    assert "<script" not in text and "<b>" not in text
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
    assert text.count(escaped) == 8  # the title twice (<title>, <h1>)
    with pytest.raises(ValueError, match="level"):
        page.heading("x", level=7)


def test_cells_are_compact() -> None:
    values = (None, True, 12, np.int64(7), 3.14159265, np.float64(0.000123456))
    assert [cell(v) for v in values] == ["-", "yes", "12", "7", "3.142", "0.0001235"]
    assert [cell(v) for v in (10_200.0, 12_345.6, NAN, math.inf, "a")] == [
        "10200", "12346", "nan", "inf", "a",
    ]  # fmt: skip
    page = HtmlReport("t")
    page.table(("name", "value"), [("a", 2.0), ("b", "text")])
    assert '<td>a</td><td class="num">2</td>' in page.render()
    assert "<td>b</td><td>text</td>" in page.render()


def test_a_figure_is_an_embedded_png_and_is_closed() -> None:
    plt = pyplot()
    fig = plt.figure()
    fig.add_subplot().plot([1, 2, 3])
    page = HtmlReport("t")
    page.figure(fig, 'prices <"BTC">')
    assert not plt.fignum_exists(fig.number)
    text = page.render()
    (found,) = IMG.findall(text)
    assert base64.b64decode(found[0]).startswith(PNG_SIGNATURE)
    assert found[1] == "prices &lt;&quot;BTC&quot;&gt;"
    # Self-contained: nothing to fetch, no script.
    assert not re.search(r"https?:|<script|<link|@import|url\(", text)


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = HtmlReport("first")
    target = tmp_path / "report.html"
    assert page.write(target) == target
    assert target.read_text().startswith("<!DOCTYPE html>") and "first" in target.read_text()
    assert oct(target.stat().st_mode & 0o777) == "0o644"

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(UsageError, match=re.escape(str(target))):
        HtmlReport("second").write(target)
    assert "first" in target.read_text()  # the old report is whole
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left


def test_an_unwritable_target_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no such dir" / "r.html"
    with pytest.raises(UsageError, match=re.escape(f"{missing}: no directory")):
        HtmlReport("t").write(missing)
    with pytest.raises(UsageError, match="is a directory"):
        HtmlReport("t").write(tmp_path)


def test_without_matplotlib_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UsageError) as caught:
        pyplot()
    assert str(caught.value) == MISSING
    assert MISSING == "--report needs matplotlib: pip install 'data-feeds[report]'"


def test_matplotlib_is_imported_only_to_draw() -> None:
    """Importing the reports package and the command line does not import matplotlib."""
    code = (
        "import sys, data_feeds.cli.app, data_feeds.reports.html, data_feeds.reports.figures; "
        "assert 'matplotlib' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_decimation_keeps_the_extremes_and_the_ends() -> None:
    n = 200_001
    x = np.arange(n, dtype=np.float64)
    y = np.sin(x / 5000.0) + np.random.default_rng(1).normal(0.0, 0.1, n)
    y[12_345] = 50.0
    y[150_000] = -50.0
    y[1000:3000] = NAN
    dx, dy = decimate(x, y)
    assert len(dx) <= 4000
    assert dx[0] == 0 and dx[-1] == n - 1 and np.all(np.diff(dx) > 0)
    assert 50.0 in dy and -50.0 in dy
    assert np.isnan(dy).any()  # the hole stays a hole
    short = np.arange(10, dtype=np.float64)
    assert decimate(short, short)[0] is short


LONG = 200_000
TIMES = [T0 + 60.0 * i for i in range(LONG)]
WALK = list(np.cumsum(np.random.default_rng(2).normal(size=LONG)))
RNG = np.random.default_rng(3)
PROBS = list(RNG.random(2000))
LABELS = [int(RNG.random() < p) for p in PROBS]

FIGURES: dict[str, Callable[[], Figure]] = {
    "equity": lambda: figures.equity_figure(
        TIMES, {"model": WALK, "hold": [0.5 * v for v in WALK]}, title="equity", ylabel="PnL"
    ),
    "equity empty": lambda: figures.equity_figure([], {}, title="e", ylabel="y"),
    "equity empty curve": lambda: figures.equity_figure([], {"a": []}, title="e", ylabel="y"),
    "equity NaN": lambda: figures.equity_figure(
        [T0, NAN, T0 + 2, T0 + 3],
        {"a": [NAN, 1.0, 2.0, NAN], "b": [NAN] * 4},
        title="e",
        ylabel="y",
    ),
    "equity one point": lambda: figures.equity_figure([T0], {"a": [1.0]}, title="e", ylabel="y"),
    "drawdown": lambda: figures.drawdown_figure(TIMES, {"m": WALK}, title="dd", ylabel="PnL"),
    "drawdown empty": lambda: figures.drawdown_figure([], {"m": []}, title="dd", ylabel="y"),
    "drawdown NaN": lambda: figures.drawdown_figure(
        [T0, T0 + 1, T0 + 2, NAN], {"m": [NAN, 1.0, NAN, 0.5]}, title="dd", ylabel="y"
    ),
    "reliability": lambda: figures.reliability_figure(PROBS, LABELS, title="calibration"),
    "reliability empty": lambda: figures.reliability_figure([], [], title="c"),
    "reliability NaN": lambda: figures.reliability_figure(
        [NAN, 0.3, math.inf, -5.0, 0.95], [1, 0, 1, 0, 1], bins=5, title="c"
    ),
    "histogram": lambda: figures.probability_histogram(
        PROBS, thresholds=(0.45, 0.55, NAN), title="p"
    ),
    "histogram empty": lambda: figures.probability_histogram([], thresholds=(0.5,), title="p"),
    "histogram NaN": lambda: figures.probability_histogram([NAN, NAN, math.inf], title="p"),
    "bars": lambda: figures.bar_figure(
        ["rsi", "<macd>", "sentiment"], [0.7, -1.2, NAN], title="coefficients", xlabel="weight"
    ),
    "bars empty": lambda: figures.bar_figure([], [], title="b", xlabel="x"),
    "bars NaN": lambda: figures.bar_figure(["a"], [NAN], title="b", xlabel="x"),
    "price": lambda: figures.price_figure(
        TIMES,
        [1000.0 + v for v in WALK],
        gaps=[(TIMES[100], TIMES[900]), (NAN, TIMES[5])],
        spikes=[(TIMES[50], 1000.0 + WALK[50] * 1.001), (TIMES[60], 1e6), (TIMES[70], 1.0)],
        title="price",
    ),
    "price empty": lambda: figures.price_figure([], [], title="p"),
    "price NaN": lambda: figures.price_figure(
        [NAN, T0, T0 + 1], [1.0, NAN, NAN], gaps=[(NAN, NAN)], spikes=[(NAN, 2.0)], title="p"
    ),
    "price flat": lambda: figures.price_figure([T0, T0 + 1], [5.0, 5.0], title="p"),
    "price spikes only": lambda: figures.price_figure([], [], spikes=[(T0, 2.0)], title="p"),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_draws(name: str) -> None:
    """Each figure function returns a Figure that renders to a PNG (warnings are errors)."""
    fig = FIGURES[name]()
    assert isinstance(fig, Figure)
    page = HtmlReport("t")
    page.figure(fig, name)
    (found,) = IMG.findall(page.render())
    assert base64.b64decode(found[0]).startswith(PNG_SIGNATURE)


def test_long_curves_are_thinned_and_empty_ones_say_so() -> None:
    fig = FIGURES["equity"]()
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and all(len(line.get_xdata()) <= 4000 for line in lines)  # type: ignore[arg-type]
    assert [t.get_text() for t in FIGURES["price empty"]().axes[0].texts] == ["no data"]


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="curve 'a' has 1 values for 2 times"):
        figures.equity_figure([T0, T0 + 1], {"a": [1.0]}, title="e", ylabel="y")
    with pytest.raises(ValueError, match="bins"):
        figures.reliability_figure([0.5], [1], bins=0, title="c")
