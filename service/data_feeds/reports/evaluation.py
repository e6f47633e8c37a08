"""The HTML report of ``data-feeds evaluate --report``: the stored live signals' figures as the
backtest shows a model's: the equity and drawdown of the positions the signals make (one unit of
each symbol, summed), the calibration diagram and probability histogram of the labelled
signals, and the scorecard per symbol and model version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from data_feeds.learning_layer.backtest.performance import Bars
from data_feeds.reports.figures import (
    probability_histogram,
    reliability_figure,
)
from data_feeds.reports.html import HtmlReport

if TYPE_CHECKING:
    from data_feeds.learning_layer.evaluation import EvaluationReport


def evaluation_report(report: EvaluationReport) -> HtmlReport:
    """The page of ``report`` (evaluated with ``keep_series=True``)."""
    page = HtmlReport(f"Stored signals: {report.pattern}", report.headline)
    page.heading("Scorecard")
    page.table(report.TABLE_HEADERS, report.table_rows())
    page.paragraph(
        "Positions: BUY long one unit, SELL short, HOLD flat (or as asked), each taken the "
        "given number of signals after its signal and held to the symbol's next one; "
        f"{report.cost_bps:g} bps per unit of turnover."
    )
    parts = [
        (symbol, np.asarray(times, dtype=float), ledger)
        for symbol, (times, ledger) in sorted(report.ledgers.items())
    ]
    curves: dict[str, Any] = {}
    times: Any = np.zeros(0)
    if parts:
        times, curves["all symbols"] = Bars.join(parts).equity()
    page.equity_section(times, curves, of="the stored signals")
    probabilities, labels = report.labelled or ([], [])
    page.heading("Probabilities")
    page.figure(
        reliability_figure(probabilities, labels, title="Calibration of the signals' P(up)"),
        "reliability diagram",
    )
    page.figure(
        probability_histogram(probabilities, title="P(up) of the labelled signals"),
        "probability histogram",
    )
    return page
