"""The HTML report of ``data-feeds analyze --report``: the summary table, then per feed of
prices (price ticks, trades) its price over time with its gaps shaded and the spikes the
cleaner quarantined marked, and its longest gaps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from data_feeds.learning_layer._common import iso
from data_feeds.records import PRICE, TRADE
from data_feeds.reports.figures import price_figure
from data_feeds.reports.html import HtmlReport

if TYPE_CHECKING:
    from data_feeds.learning_layer.research import FeedReport, FeedStats, PriceSeries

PLOTTED_KINDS: Final = (PRICE, TRADE)


def analysis_report(
    report: FeedReport, series: Mapping[str, PriceSeries], *, gaps: int = 5
) -> HtmlReport:
    """The page of ``report``; ``series``: the feeds' prices and spikes from the same
    analysis (``analyze_feed_behavior(series=...)``); ``gaps``: longest gaps listed per feed."""
    from data_feeds.learning_layer.research import SUMMARY_HEADERS  # noqa: PLC0415 - heavy

    page = HtmlReport(f"Feed behaviour: {report.pattern}", _subtitle(report))
    if not report.feeds:
        page.paragraph(f"No input stream matches {report.pattern!r}: nothing to report.")
        return page
    page.heading("Summary")
    page.table(SUMMARY_HEADERS, report.summary_rows())
    for feed in sorted(report.feeds, key=lambda f: (f.symbol, f.kind, f.stream)):
        _feed_section(page, feed, series.get(feed.stream), gaps)
    return page


def _subtitle(report: FeedReport) -> str:
    bounds = ""
    if report.start is not None or report.end is not None:
        bounds = f", event time {iso(report.start)} to {iso(report.end)}"
    return f"{len(report.feeds)} streams{bounds}; analysed at {iso(report.generated_at)}"


def _feed_section(page: HtmlReport, feed: FeedStats, prices: PriceSeries | None, gaps: int) -> None:
    page.heading(feed.stream)
    page.paragraph(_describe(feed))
    if feed.kind in PLOTTED_KINDS and prices is not None and (prices.prices or prices.spikes):
        figure = price_figure(
            prices.times,
            prices.prices,
            gaps=[(g.start, g.end) for g in feed.gaps],
            spikes=prices.spikes,
            title=f"{feed.stream}: accepted prices, gaps and quarantined spikes",
        )
        page.figure(
            figure,
            f"{feed.stream}: price over time, {feed.gap_count} gaps shaded, "
            f"{len(prices.spikes)} quarantined spikes marked",
        )
    longest = sorted(feed.gaps, key=lambda g: -g.duration_s)[:gaps]
    if longest:
        page.table(
            ("gap start (UTC)", "end (UTC)", "duration_s"),
            [(iso(g.start), iso(g.end), g.duration_s) for g in longest],
        )


def _describe(feed: FeedStats) -> str:
    if not feed.messages:
        return f"{feed.entries} entries, no valid record in the bounds."
    text = (
        f"{feed.messages} records from {iso(feed.first_ts)} to {iso(feed.last_ts)}; "
        f"{'regular' if feed.regular else 'irregular'} feed, gap rule: {feed.gap_rule}; "
        f"{feed.gap_count} gaps, {feed.spike_count} spikes quarantined, "
        f"{feed.level_shifts} level shifts, {feed.duplicates} duplicates, "
        f"{feed.out_of_order} out of order, {feed.late} late."
    )
    if len(feed.gaps) < feed.gap_count:
        text += f" The figure shades the first {len(feed.gaps)} gaps."
    return text
