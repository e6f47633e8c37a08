"""Signal accuracy: stored signals against the outcomes the stored prices show.

``evaluate_signals`` reads every signal in the ``signals:{SYMBOL}`` streams (a ``data`` field
holding ``records.Signal.to_dict()``'s JSON) and finds its outcome the way the live service
labels a prediction: the symbol's first clean price tick at or after ``timestamp + horizon_s``
(ticks read back from the store through the live ``DataCleaner``, so a quarantined spike is
never an outcome). The return is ``outcome_price / signal_price - 1`` and the label
``label_move`` of it (moves inside ``dead_band_bps`` have a return but no label).

Figures (``signals.scoring.Scorecard``), overall, per symbol and per model version:

- accuracy (P(up) >= 0.5 vs the label), log loss and Brier score of the probability;
- hit rate (BUY and SELL whose direction came true) and precision per action: BUY (share
  followed by an up-move), SELL (by a down-move), HOLD (share whose move did not cover
  ``cost_bps``: staying out was right);
- the PnL of the positions the signals make (``signals.positions``, the backtest's rule: BUY
  long, SELL short, HOLD flat or ``hold="keep"``), each symbol's signals in time order, a
  position held to the symbol's next signal and marked at its price, ``cost_bps`` per unit of
  turnover, each position taken ``delay_bars`` signals after the one asking for it (default 1:
  a signal cannot be filled at the price it was made from): bars, trades, turnover, gross and
  net bps, net bps per trade. A bar counts for the
  model version that made its signal. Signals overlap (one per tick, each about the next
  ``horizon_s``), but a position is one holding: a run of BUYs is one trade, not many.

Signals whose horizon has not passed in the stored prices are ``unresolved`` and left out of
the forecast figures (their positions still count: a position needs no horizon).
Reports are stored as JSON under ``research:evaluation:latest`` and ``research:evaluations``.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
import structlog

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import (
    RESEARCH_EVALUATION_LATEST,
    RESEARCH_EVALUATIONS,
    SIGNALS_STREAMS,
    is_signals_key,
    price_streams,
)
from data_feeds.learning_layer._common import dumps, push_capped, render_table, stream_entries
from data_feeds.records import ACTIONS, Tick
from data_feeds.signals.labels import label_move
from data_feeds.signals.positions import (
    FLAT,
    Ledger,
    check_hold,
    cost_rate,
    delayed,
    positions_from_actions,
)
from data_feeds.signals.scoring import Scorecard
from data_feeds.timestamps import TimeBound, time_bound
from data_feeds.validation.cleaner import ACCEPT, DataCleaner

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class EvaluationReport:
    """Signal accuracy overall, per symbol and per model version."""

    pattern: str
    horizon_s: float
    cost_bps: float
    dead_band_bps: float
    generated_at: float
    overall: Scorecard = field(default_factory=Scorecard)
    by_symbol: dict[str, Scorecard] = field(default_factory=dict)
    by_version: dict[str, Scorecard] = field(default_factory=dict)
    signals: int = 0
    """Signal entries read (inside the time bounds; unreadable ones always)."""
    resolved: int = 0
    """Signals with an outcome tick (scored for PnL; labelled unless inside the dead band)."""
    unresolved: int = 0
    flat: int = 0
    """Resolved signals whose move was inside the dead band (no label)."""
    invalid: int = 0
    """Entries that are not a readable signal."""
    labelled: tuple[list[float], list[int]] | None = field(default=None, repr=False)
    """With ``keep_series``: P(up) and label of every labelled signal (for a report)."""
    ledgers: dict[str, tuple[list[float], Ledger]] = field(default_factory=dict, repr=False)
    """With ``keep_series``: per symbol, its signals' times and their positions' ledger."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "horizon_s": self.horizon_s,
            "cost_bps": self.cost_bps,
            "dead_band_bps": self.dead_band_bps,
            "generated_at": self.generated_at,
            "signals": self.signals,
            "resolved": self.resolved,
            "unresolved": self.unresolved,
            "flat": self.flat,
            "invalid": self.invalid,
            "overall": self.overall.as_dict(),
            "by_symbol": {k: v.as_dict() for k, v in sorted(self.by_symbol.items())},
            "by_version": {k: v.as_dict() for k, v in sorted(self.by_version.items())},
        }

    def to_json(self) -> str:
        return dumps(self.to_dict(), indent=True).decode()

    TABLE_HEADERS: ClassVar[tuple[str, ...]] = (
        "scope", "n", "accuracy", "log_loss", "brier", "hit_rate", "buy_prec", "sell_prec",
        "hold_prec", "buy_n", "sell_n", "hold_n", "trades", "pnl_bps", "pnl/trade_bps",
    )  # fmt: skip

    def table_rows(self) -> list[tuple[Any, ...]]:
        """One row per scope (all, each symbol, each model version) under ``TABLE_HEADERS``."""
        scopes: list[tuple[str, Scorecard]] = [("all", self.overall)]
        scopes += [(f"symbol {k}", v) for k, v in sorted(self.by_symbol.items())]
        scopes += [(f"version {k}", v) for k, v in sorted(self.by_version.items())]
        return [
            (
                name,
                c.n,
                c.accuracy,
                c.log_loss,
                c.brier,
                c.hit_rate,
                c.buy_hit_rate,
                c.sell_hit_rate,
                c.hold_precision,
                c.buy_n,
                c.sell_n,
                c.hold_n,
                c.trades,
                c.pnl_sum_bps,
                c.pnl_per_trade_bps,
            )
            for name, c in scopes
        ]

    @property
    def headline(self) -> str:
        return (
            f"signals {self.signals}: resolved {self.resolved}, unresolved {self.unresolved}, "
            f"inside the dead band {self.flat}, invalid {self.invalid}; horizon "
            f"{self.horizon_s:g} s, cost {self.cost_bps:g} bps"
        )

    def to_table(self) -> str:
        return self.headline + "\n" + render_table(self.TABLE_HEADERS, self.table_rows())


class _Outcomes:
    """A symbol's clean price ticks in event time, for 'first tick at/after t'."""

    __slots__ = ("prices", "times")

    def __init__(self, ticks: list[Tick]) -> None:
        self.times = [t.timestamp for t in ticks]
        self.prices = [t.price for t in ticks]

    def price_at_or_after(self, t: float) -> float | None:
        i = bisect.bisect_left(self.times, t)
        return self.prices[i] if i < len(self.times) else None


def _signal(fields: Mapping[bytes, bytes]) -> dict[str, Any] | None:
    raw = fields.get(b"data")
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    try:
        probability = float(doc["probability"])
        price = float(doc["price"])
        ts = float(doc["timestamp"])
        symbol = str(doc["symbol"])
        action = str(doc["action"])
    except (KeyError, TypeError, ValueError):
        return None
    if action not in ACTIONS or not (0.0 <= probability <= 1.0):
        return None
    if not (math.isfinite(price) and price > 0.0 and math.isfinite(ts)):
        return None
    version = doc.get("model_version")
    return {
        "symbol": symbol,
        "action": action,
        "probability": probability,
        "price": price,
        "timestamp": ts,
        "model_version": str(version) if version is not None else "?",
    }


def evaluate_signals(
    db: DBConnector,
    pattern: str = SIGNALS_STREAMS,
    *,
    horizon_s: float | None = None,
    cost_bps: float = 0.0,
    dead_band_bps: float | None = None,
    start: TimeBound = None,
    end: TimeBound = None,
    clean: bool = True,
    hold: str = FLAT,
    delay_bars: int = 1,
    store: bool = True,
    keep_reports: int = 100,
    keep_series: bool = False,
) -> EvaluationReport:
    """Score the stored signals against the stored outcomes (see the module doc).

    ``horizon_s`` / ``dead_band_bps``: the service's settings when ``None``. ``start``/``end``
    bound the signals' event time. ``clean``: read outcome ticks through the live cleaner.
    ``hold``: the HOLD rule of the positions (``flat`` or ``keep``); ``delay_bars``: a signal's
    position is taken this many signals later (``signals.positions.delayed``). ``store``:
    record the report under ``research:``. ``keep_series``: keep the per-signal series a
    report plots (``labelled``, ``ledgers``).
    """
    check_hold(hold)
    if delay_bars < 0:
        raise ValueError(f"delay_bars must be >= 0, got {delay_bars!r}")
    horizon = float(db.settings.horizon_s if horizon_s is None else horizon_s)
    dead_band = float(db.settings.dead_band_bps if dead_band_bps is None else dead_band_bps)
    if not (math.isfinite(horizon) and horizon > 0.0):
        raise ValueError(f"horizon_s must be a finite number > 0, got {horizon_s!r}")
    if not (math.isfinite(cost_bps) and cost_bps >= 0.0):
        raise ValueError(f"cost_bps must be a finite number >= 0, got {cost_bps!r}")
    lo, hi = time_bound(start, "start"), time_bound(end, "end")
    t0 = time.perf_counter()
    report = EvaluationReport(
        pattern=pattern,
        horizon_s=horizon,
        cost_bps=cost_bps,
        dead_band_bps=dead_band,
        generated_at=time.time(),
    )
    if keep_series:
        report.labelled = ([], [])
    streams = sorted(
        name
        for key in db.redis.scan_iter(match=pattern, count=1000, _type="stream")
        if is_signals_key(name := key.decode() if isinstance(key, bytes) else str(key))
    )
    outcomes: dict[str, _Outcomes] = {}
    held: dict[str, list[tuple[float, int, float, str, str]]] = {}
    for stream in streams:
        for fields in stream_entries(db.redis, stream):
            sig = _signal(fields)
            if sig is None:
                report.signals += 1
                report.invalid += 1
                continue
            ts = sig["timestamp"]
            if (lo is not None and ts < lo) or (hi is not None and ts > hi):
                continue
            report.signals += 1
            symbol = sig["symbol"]
            bars = held.setdefault(symbol, [])
            bars.append((ts, len(bars), sig["price"], sig["action"], sig["model_version"]))
            book = outcomes.get(symbol)
            if book is None:
                book = outcomes[symbol] = _Outcomes(_clean_ticks(db, symbol, clean))
            later = book.price_at_or_after(ts + horizon)
            if later is None:
                report.unresolved += 1
                continue
            report.resolved += 1
            cards = (
                report.overall,
                report.by_symbol.setdefault(symbol, Scorecard()),
                report.by_version.setdefault(sig["model_version"], Scorecard()),
            )
            price = sig["price"]
            ret = later / price - 1.0
            label = label_move(price, later, dead_band)
            if label is None:
                report.flat += 1
            for card in cards:
                if label is not None:
                    card.update(sig["probability"], label, sig["action"])
                card.record_return(sig["action"], ret, cost_bps)
            if report.labelled is not None and label is not None:
                report.labelled[0].append(sig["probability"])
                report.labelled[1].append(label)
    for symbol, bars in held.items():
        _record_positions(
            report,
            symbol=symbol,
            bars=sorted(bars),
            cost_bps=cost_bps,
            hold=hold,
            delay_bars=delay_bars,
        )
    if store:
        payload = dumps(report.to_dict())
        db.redis.set(RESEARCH_EVALUATION_LATEST, payload)
        push_capped(db.redis, RESEARCH_EVALUATIONS, payload, keep_reports)
    log.info(
        "signals_evaluated",
        signals=report.signals,
        resolved=report.resolved,
        accuracy=report.overall.accuracy,
        pnl_bps=report.overall.pnl_sum_bps,
        duration_s=round(time.perf_counter() - t0, 3),
    )
    return report


def _record_positions(
    report: EvaluationReport,
    *,
    symbol: str,
    bars: list[tuple[float, int, float, str, str]],
    cost_bps: float,
    hold: str,
    delay_bars: int,
) -> None:
    """The PnL of one symbol's signals (time, arrival, price, action, version) as positions."""
    asked = positions_from_actions([b[3] for b in bars], hold)
    ledger = Ledger([b[2] for b in bars], delayed(asked, delay_bars), cost_rate(cost_bps))
    if report.labelled is not None:
        report.ledgers[symbol] = ([b[0] for b in bars], ledger)
    symbol_card = report.by_symbol.setdefault(symbol, Scorecard())
    for i, bar in enumerate(bars):
        gross, net, turnover = (
            float(ledger.gross_bps[i]),
            float(ledger.net_bps[i]),
            float(ledger.turnover[i]),
        )
        for card in (
            report.overall,
            symbol_card,
            report.by_version.setdefault(bar[4], Scorecard()),
        ):
            card.record_bar(gross, net, turnover)


def _clean_ticks(db: DBConnector, symbol: str, clean: bool) -> list[Tick]:
    ticks = [r for r in db.backfill(price_streams(symbol)) if isinstance(r, Tick)]
    if not clean:
        return ticks
    cleaner = DataCleaner(db.settings.cleaner)
    return [t for t in ticks if cleaner.clean(t).action == ACCEPT]
