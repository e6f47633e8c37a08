"""The backtest's HTML report: one self-contained file, images embedded (``reports.HtmlReport``).

Equity curves of the model and the baselines (cumulative net bps, summed over the symbols:
one unit of each), their drawdowns, the model's calibration (reliability) diagram and
probability histogram with the BUY/SELL thresholds served, the per-strategy, per-symbol and
per-fold tables, and the last served model's coefficients (a linear model; other models say
they have none).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_feeds.learning_layer._common import iso
from data_feeds.learning_layer.backtest.result import MODEL, STRATEGIES, BacktestResult
from data_feeds.reports.figures import (
    bar_figure,
    probability_histogram,
    reliability_figure,
)
from data_feeds.reports.html import HtmlReport


def backtest_report(result: BacktestResult) -> HtmlReport:
    """The page of ``result`` (see the module doc)."""
    p = result.params
    report = HtmlReport(
        f"data-feeds backtest {result.run_id or ''}".strip(),
        f"{', '.join(result.symbols)}: {len(result.folds)} folds, train {p['train']}, test "
        f"{p['test']}, step {p['step']}; {len(result.ticks):,} test ticks",
    )
    report.heading("Verdict")
    for name in STRATEGIES:
        if name != MODEL:
            report.paragraph(result.versus_line(name))
    report.paragraph(
        f"Model {p['model']} served {p['serving']}; threshold {result.threshold_text}; HOLD "
        f"{p['hold']}; promotion gate {'on' if p['gate'] else 'off'}; "
        f"cost {p['cost_bps']:g} bps + slippage {p['slippage_bps']:g} bps per unit of turnover"
        f"{', plus stored book spread/slippage' if p['book_costs'] else ''}; embargo "
        f"{p['embargo_s']:g} s. Intervals: circular block bootstrap, 95 %."
    )
    report.table(result.STRATEGY_HEADERS, result.strategy_rows(result.figures))
    fc = result.forecast
    if fc.get("labelled"):
        report.paragraph(
            f"Forecast on {fc['labelled']:,} labelled test ticks: accuracy {fc['accuracy']:.4f} "
            f"(up fraction {fc['up_fraction']:.4f}); log loss {fc['log_loss']:.4f} against "
            f"{fc['no_skill_log_loss']:.4f} for no skill, skill {fc['skill_nats']:+.4f} nats "
            f"[{fc['skill_low']:+.4f}, {fc['skill_high']:+.4f}] (ESS {fc['skill_ess']:.0f})."
        )

    curves: dict[str, Any] = {}
    times: Any = np.zeros(0)
    for name in STRATEGIES:
        bars = result.bars.get(name)
        if bars is not None:
            times, curves[name] = bars.equity()
    report.equity_section(times, curves, of="the model and the baselines")

    report.heading("Probabilities")
    arrays = result.ticks.arrays()
    labelled = arrays["label"] >= 0
    report.figure(
        reliability_figure(
            arrays["probability"][labelled].tolist(),
            arrays["label"][labelled].tolist(),
            title="Calibration of P(up) on the test ticks",
        ),
        "reliability diagram",
    )
    margins = {f.margin for f in result.folds if f.margin is not None}
    if p["threshold"] == "fixed":
        margins.add(p["margin"])
    thresholds = sorted(
        {0.5 + m for m in margins if m < 0.5} | {0.5 - m for m in margins if m < 0.5}
    )
    report.figure(
        probability_histogram(
            arrays["probability"].tolist(),
            thresholds=thresholds,
            title="P(up) served on the test ticks, with the BUY/SELL thresholds",
        ),
        "probability histogram",
    )

    report.heading("Per symbol")
    rows = []
    for symbol, by_name in result.by_symbol.items():
        for name in STRATEGIES:
            f = by_name.get(name)
            if f is None:
                continue
            m = f["mean_bps"]
            rows.append(
                (symbol, name, f["bars"], f["trades"], round(f["net_bps"], 1),
                 f"{m['mean']:+.3f} [{m['low']:.3f}, {m['high']:.3f}]",
                 round(f["max_drawdown_bps"], 1))
            )  # fmt: skip
    report.table(
        ("symbol", "strategy", "bars", "trades", "net_bps", "net_bps/bar [95% CI]", "max_dd_bps"),
        rows,
    )

    report.heading("Folds")
    report.table(
        ("fold", "train from", "test from", "test to", "train rows", "status", "served",
         "margin", "holdout acc", "test ticks", "model bps/bar", "b&h bps/bar"),
        [
            (f.fold.index, iso(f.fold.train_start), iso(f.fold.test_start), iso(f.fold.test_end),
             f.train_rows, f.status, f.served, f.margin, f.holdout_accuracy, f.test_ticks,
             f.model_mean_bps, f.buy_and_hold_mean_bps)
            for f in result.folds
        ],
    )  # fmt: skip
    for fold in result.folds:
        if fold.reason:
            report.paragraph(f"fold {fold.fold.index}: {fold.status}: {fold.reason}")

    report.heading("Model")
    if result.coefficients:
        names = sorted(result.coefficients, key=lambda k: abs(result.coefficients[k]))
        report.figure(
            bar_figure(
                names,
                [result.coefficients[k] for k in names],
                title="Coefficients of the last served model (standardised features)",
                xlabel="weight",
            ),
            "model coefficients",
        )
    else:
        report.paragraph("The served model has no coefficients to show (not a linear model).")
    return report
