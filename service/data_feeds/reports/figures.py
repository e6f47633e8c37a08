"""The report figures: each function takes plain sequences and returns a matplotlib Figure.

Times are epoch seconds, drawn as UTC dates. Every function accepts empty input (an empty axes
that says "no data") and NaN (a point without a time is left out; a NaN value breaks the line;
neither raises). Curves longer than ``decimate.MAX_POINTS`` are thinned, keeping each bucket's
extremes. The figures are not registered with pyplot: ``HtmlReport.figure`` embeds and closes
them, and an unused one is garbage like any object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from data_feeds.reports.decimate import Floats, decimate
from data_feeds.reports.plotting import pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DAY_S: Final = 86_400.0
WIDTH_IN: Final = 10.0
HEIGHT_IN: Final = 4.0
BAR_INCHES: Final = 0.28
"""Height of one bar of ``bar_figure``."""
MAX_HEIGHT_IN: Final = 30.0
GAP_COLOR: Final = "tab:orange"
SPIKE_COLOR: Final = "red"
SHORT_LINE: Final = 200
"""A line of at most this many points is drawn with dots too."""


# -- helpers -------------------------------------------------------------------------------------


def _new(height: float = HEIGHT_IN) -> tuple[Figure, Axes]:
    """A constrained-layout figure ``height`` inches high, and its one axes."""
    fig = _figure(height)
    return fig, fig.add_subplot()


def _figure(height: float) -> Figure:
    pyplot()  # matplotlib present (else UsageError), on Agg
    from matplotlib.figure import Figure  # noqa: PLC0415 - matplotlib is imported lazily

    return Figure(figsize=(WIDTH_IN, height), layout="constrained")


def _floats(values: Sequence[float] | Sequence[int]) -> Floats:
    """``values`` as a flat float array (``None`` becomes NaN)."""
    return np.asarray(values, dtype=np.float64).reshape(-1)


def _same_length(name: str, values: Sequence[Any], n: int, of: str) -> None:
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} values for {n} {of}")


def _dates(times: Floats) -> Floats:
    """Epoch seconds as matplotlib date numbers."""
    from matplotlib import dates  # noqa: PLC0415

    epoch = float(dates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))
    return epoch + times / DAY_S


def _date_axis(ax: Axes) -> None:
    from matplotlib import dates  # noqa: PLC0415

    locator = dates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("time (UTC)")


def _no_data(fig: Figure, ax: Axes, title: str) -> Figure:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return fig


def _finish(ax: Axes, title: str, ylabel: str = "", legend: bool = True) -> None:
    ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")


def _timed(times: Floats, values: Sequence[float], name: str) -> tuple[Floats, Floats]:
    """The points of ``values`` that have a finite time."""
    _same_length(name, values, len(times), "times")
    y = _floats(values)
    ok = np.isfinite(times)
    return times[ok], y[ok]


def _timed_curves(
    times: Sequence[float], curves: Mapping[str, Sequence[float]]
) -> dict[str, tuple[Floats, Floats]]:
    t = _floats(times)
    return {name: _timed(t, curve, f"curve {name!r}") for name, curve in curves.items()}


# -- figures -------------------------------------------------------------------------------------


def equity_figure(
    times: Sequence[float], curves: Mapping[str, Sequence[float]], *, title: str, ylabel: str
) -> Figure:
    """One line per curve (``{name: values}``, each as long as ``times``), with a legend."""
    fig, ax = _new()
    series = _timed_curves(times, curves)
    if not any(np.isfinite(y).any() for _, y in series.values()):
        return _no_data(fig, ax, title)
    for name, (x, y) in series.items():
        dx, dy = decimate(x, y)
        ax.plot(_dates(dx), dy, label=name, linewidth=1.0, **_markers(len(dx)))
    _date_axis(ax)
    _finish(ax, title, ylabel)
    return fig


def drawdown_figure(
    times: Sequence[float], curves: Mapping[str, Sequence[float]], *, title: str, ylabel: str
) -> Figure:
    """Each curve's drawdown (the curve minus its running maximum, <= 0) as a filled area."""
    fig, ax = _new()
    series = _timed_curves(times, curves)
    if not any(np.isfinite(y).any() for _, y in series.values()):
        return _no_data(fig, ax, title)
    for name, (x, y) in series.items():
        dx, dy = decimate(x, y - np.fmax.accumulate(y))
        d = _dates(dx)
        (line,) = ax.plot(d, dy, label=name, linewidth=0.8)
        ax.fill_between(d, dy, 0.0, where=np.isfinite(dy), color=line.get_color(), alpha=0.25)
    _date_axis(ax)
    _finish(ax, title, ylabel)
    return fig


def reliability_figure(
    probabilities: Sequence[float], labels: Sequence[int], *, bins: int = 10, title: str
) -> Figure:
    """A calibration diagram: per probability bin (``bins`` bins of equal counts, so that
    probabilities crowded near 0.5, as a model's usually are, still spread over the bins), the
    mean predicted probability against the observed frequency of label 1, beside the diagonal,
    the axes zoomed to where the points are; the rows per bin below. Rows with a NaN are left
    out."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins!r}")
    _same_length("labels", labels, len(probabilities), "probabilities")
    p = _floats(probabilities)
    y = _floats(labels)
    ok = np.isfinite(p) & np.isfinite(y)
    if not ok.any():
        fig, ax = _new()
        return _no_data(fig, ax, title)
    p = np.clip(p[ok], 0.0, 1.0)
    y = y[ok]
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1)))
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(0, edges.size - 2))
    n_bins = max(1, edges.size - 1)
    count = np.bincount(index, minlength=n_bins)
    used = count > 0
    mean_p = np.bincount(index, weights=p, minlength=n_bins)[used] / count[used]
    observed = np.bincount(index, weights=y, minlength=n_bins)[used] / count[used]
    lo = float(min(mean_p.min(), observed.min()))
    hi = float(max(mean_p.max(), observed.max()))
    pad = max(0.02, 0.1 * (hi - lo))
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    fig = _figure(HEIGHT_IN * 1.5)
    grid = fig.add_gridspec(2, 1, height_ratios=(3.0, 1.0))
    top = fig.add_subplot(grid[0])
    bottom = fig.add_subplot(grid[1], sharex=top)
    top.plot([lo, hi], [lo, hi], linestyle="--", color="gray", label="perfectly calibrated")
    top.plot(mean_p, observed, marker="o", label="model")
    top.set_xlim(lo, hi)
    top.set_ylim(lo, hi)
    _finish(top, title, "observed frequency")
    width = 0.8 * (hi - lo) / max(1, int(used.sum()))
    bottom.bar(mean_p, count[used], width=width, color="tab:blue", alpha=0.6)
    bottom.set_xlabel("mean predicted probability (bins of equal counts)")
    bottom.set_ylabel("rows")
    bottom.grid(True, alpha=0.3)
    return fig


def probability_histogram(
    probabilities: Sequence[float],
    *,
    thresholds: Sequence[float] = (),
    bins: int = 50,
    title: str,
) -> Figure:
    """A histogram of the probabilities (NaN left out), a dashed line at each threshold; the
    axis spans the probabilities and thresholds (a model's crowd near 0.5), at most [0, 1]."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins!r}")
    fig, ax = _new()
    p = _floats(probabilities)
    p = p[np.isfinite(p)]
    if not p.size:
        return _no_data(fig, ax, title)
    marks = _floats(thresholds)
    marks = marks[np.isfinite(marks)]
    lo = float(min(p.min(), marks.min() if marks.size else p.min()))
    hi = float(max(p.max(), marks.max() if marks.size else p.max()))
    pad = max(0.005, 0.05 * (hi - lo))
    span = (max(0.0, lo - pad), min(1.0, hi + pad))
    ax.hist(p, bins=bins, range=span, color="tab:blue", alpha=0.7)
    for t in marks:
        ax.axvline(float(t), color="red", linestyle="--", label=f"threshold {t:g}")
    ax.set_xlabel("probability")
    _finish(ax, title, "rows")
    return fig


def bar_figure(names: Sequence[str], values: Sequence[float], *, title: str, xlabel: str) -> Figure:
    """Horizontal bars, the first name on top (model coefficients, feature importances); a NaN
    value is an empty bar marked ``nan``."""
    _same_length("values", values, len(names), "names")
    v = _floats(values)
    height = min(MAX_HEIGHT_IN, max(HEIGHT_IN * 0.6, 1.2 + BAR_INCHES * len(v)))
    fig, ax = _new(height)
    if not len(v):
        return _no_data(fig, ax, title)
    finite = np.isfinite(v)
    rows = np.arange(len(v))
    colors = np.where(v < 0, "tab:red", "tab:blue")
    ax.barh(rows, np.where(finite, v, 0.0), color=colors.tolist())
    ax.set_yticks(rows, labels=[str(n) for n in names])
    for row in rows[~finite]:
        ax.text(0.0, float(row), " nan", va="center", color="gray")
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(xlabel)
    _finish(ax, title, legend=False)
    return fig


def price_figure(
    times: Sequence[float],
    prices: Sequence[float],
    *,
    gaps: Sequence[tuple[float, float]] = (),
    spikes: Sequence[tuple[float, float]] = (),
    title: str,
) -> Figure:
    """The price over time; each gap ``(start, end)`` shaded, each spike ``(time, price)`` a
    red marker. The price axis fits the prices: a spike beyond it is a red triangle at its
    edge (a spike is often far off, and would flatten the line to nothing)."""
    fig, ax = _new()
    x, y = _timed(_floats(times), prices, "prices")
    spans = [(a, b) for a, b in gaps if np.isfinite(a) and np.isfinite(b)]
    marks = np.asarray([(t, p) for t, p in spikes if np.isfinite(t) and np.isfinite(p)])
    if not (np.isfinite(y).any() or spans or len(marks)):
        return _no_data(fig, ax, title)
    dx, dy = decimate(x, y)
    ax.plot(_dates(dx), dy, color="tab:blue", linewidth=0.8, label="price", **_markers(len(dx)))
    for i, (start, end) in enumerate(spans):
        a, b = _dates(np.asarray([start, end], dtype=np.float64))
        ax.axvspan(float(a), float(b), color=GAP_COLOR, alpha=0.3, label="gap" if i == 0 else None)
    if len(marks):
        _spikes(ax, marks, _price_limits(y))
    _date_axis(ax)
    _finish(ax, title, "price")
    return fig


def _markers(points: int) -> dict[str, Any]:
    """Dots on a short line (a single point draws no line at all)."""
    return {"marker": ".", "markersize": 4} if points <= SHORT_LINE else {}


def _price_limits(y: Floats) -> tuple[float, float] | None:
    finite = y[np.isfinite(y)]
    if not finite.size:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.05 * (hi - lo) or 0.01 * abs(hi) or 1.0
    return lo - pad, hi + pad


def _spikes(ax: Axes, marks: Floats, limits: tuple[float, float] | None) -> None:
    """Spikes inside ``limits`` at their price; the others at the top or bottom edge."""
    d = _dates(marks[:, 0])
    price = marks[:, 1]
    above = np.zeros(len(price), dtype=bool)
    below = above.copy()
    if limits is not None:
        ax.set_ylim(*limits)
        above, below = price > limits[1], price < limits[0]
    inside = ~(above | below)
    style: dict[str, Any] = {"color": SPIKE_COLOR, "s": 36, "zorder": 3}
    if inside.any():
        ax.scatter(d[inside], price[inside], marker="x", label="quarantined spike", **style)
    edge = ax.get_xaxis_transform()  # x in data, y in axes fractions
    for where, height, marker, side in ((above, 0.97, "^", "above"), (below, 0.03, "v", "below")):
        if where.any():
            ax.scatter(
                d[where],
                np.full(int(where.sum()), height),
                marker=marker,
                transform=edge,
                label=f"quarantined spike {side} the axis",
                **style,
            )
