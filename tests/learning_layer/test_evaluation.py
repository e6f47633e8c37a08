"""evaluate_signals: stored signals scored against stored outcomes, checked by hand."""

from __future__ import annotations

import math

import orjson
import pytest
import redis

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import RESEARCH_EVALUATION_LATEST, RESEARCH_EVALUATIONS
from data_feeds.learning_layer import evaluate_signals
from data_feeds.records import BUY, HOLD, SELL, Signal, Tick

T0 = 1_700_000_000.0
SYMBOL = "EVALUSDT"


def signal(t: float, price: float, action: str, p: float, version: str) -> Signal:
    entry = f"{int(t * 1000)}-0"
    return Signal(SYMBOL, action, p, version, entry, f"crypto_price:{SYMBOL}", t, price)


@pytest.fixture
def stored(db: DBConnector, redis_client: redis.Redis) -> DBConnector:
    """Four ticks, five signals (one unresolved), one unreadable entry."""
    db.store_many(
        [
            Tick(SYMBOL, 100.0, 1.0, T0),
            Tick(SYMBOL, 101.0, 1.0, T0 + 10),
            Tick(SYMBOL, 100.0, 1.0, T0 + 20),
            Tick(SYMBOL, 99.0, 1.0, T0 + 30),
        ]
    )
    signals = [
        signal(T0, 100.0, BUY, 0.8, "v1"),  # -> 101 at T0+10: up, BUY right
        signal(T0 + 10, 101.0, SELL, 0.3, "v1"),  # -> 100 at T0+20: down, SELL right
        signal(T0 + 20, 100.0, BUY, 0.6, "v2"),  # -> 99 at T0+30: down, BUY wrong
        signal(T0 + 5, 100.5, HOLD, 0.45, "v2"),  # -> 100 at T0+20 (first >= T0+15): down
        signal(T0 + 25, 100.0, HOLD, 0.5, "v2"),  # no tick at/after T0+35: unresolved
    ]
    for s in signals:
        redis_client.xadd(f"signals:{SYMBOL}", {"data": orjson.dumps(s.to_dict())})
    redis_client.xadd(f"signals:{SYMBOL}", {"data": b"not json"})
    return db


def test_figures_match_a_hand_computed_case(stored: DBConnector) -> None:
    """Hit rate, precision per action, log loss, Brier and cost-aware PnL, as computed by hand."""
    report = evaluate_signals(stored, horizon_s=10.0, cost_bps=5.0, delay_bars=0)
    assert (report.signals, report.resolved, report.unresolved, report.invalid) == (6, 4, 1, 1)
    card = report.overall
    assert card.n == 4
    assert card.accuracy == pytest.approx(3 / 4)
    expected_ll = -(math.log(0.8) + math.log(0.7) + math.log(0.4) + math.log(0.55)) / 4
    assert card.log_loss == pytest.approx(expected_ll)
    assert card.brier == pytest.approx((0.2**2 + 0.3**2 + 0.6**2 + 0.45**2) / 4)
    assert card.hit_rate == pytest.approx(2 / 3)
    assert card.buy_hit_rate == pytest.approx(1 / 2)
    assert card.sell_hit_rate == pytest.approx(1.0)
    assert card.hold_precision == pytest.approx(0.0)  # the HOLD missed a 49.75 bps move
    # positions, in time order: BUY@100 +1, HOLD@100.5 0, SELL@101 -1, BUY@100 +1, HOLD@100 0;
    # each held to the next signal, 5 bps per unit of turnover; the last is marked, not closed
    bars = [50.0 - 5, 0.0 - 5, 1e4 * (1 - 100 / 101) - 5, 0.0 - 10, 0.0 - 5]
    assert (card.bars, card.trades, card.turnover) == (5, 5, 6.0)
    assert card.pnl_sum_bps == pytest.approx(sum(bars))
    assert card.gross_sum_bps == pytest.approx(50.0 + 1e4 * (1 - 100 / 101))
    assert card.pnl_per_trade_bps == pytest.approx(sum(bars) / 5)

    v1, v2 = report.by_version["v1"], report.by_version["v2"]
    assert (v1.n, v1.accuracy) == (2, 1.0)
    assert (v2.n, v2.accuracy) == (2, 0.5)
    assert v1.pnl_sum_bps == pytest.approx(45.0 + 1e4 * (1 - 100 / 101) - 5)  # bars 0 and 2
    assert report.by_symbol[SYMBOL].n == 4


def test_dead_band_moves_count_for_pnl_but_not_accuracy(stored: DBConnector) -> None:
    """With a 60 bps dead band the 49.75 bps move has a return but no label."""
    report = evaluate_signals(stored, horizon_s=10.0, cost_bps=0.0, dead_band_bps=60.0)
    assert report.flat == 1
    assert report.overall.n == 3
    assert report.overall.returns_n == 4
    assert report.overall.hold_precision == 0.0  # a 49.75 bps move still beat a zero cost


def test_report_is_stored_and_printable(stored: DBConnector) -> None:
    """The report goes to research:evaluation:latest and the history; table and JSON agree."""
    report = evaluate_signals(stored, horizon_s=10.0, cost_bps=5.0)
    latest = orjson.loads(stored.redis.get(RESEARCH_EVALUATION_LATEST))  # type: ignore[arg-type]
    assert latest["overall"]["n"] == 4
    assert latest["by_version"]["v1"]["accuracy"] == 1.0
    assert stored.redis.llen(RESEARCH_EVALUATIONS) == 1
    assert orjson.loads(report.to_json()) == latest
    table = report.to_table()
    assert "version v2" in table and f"symbol {SYMBOL}" in table


def test_time_bounds_select_signals(stored: DBConnector) -> None:
    """start/end bound the signals' event time."""
    report = evaluate_signals(stored, horizon_s=10.0, start=T0 + 10, end=T0 + 20, store=False)
    assert report.resolved == 2
    assert report.overall.buy_n == 1 and report.overall.sell_n == 1


def test_a_run_of_overlapping_buys_is_one_trade(db: DBConnector, redis_client: redis.Redis) -> None:
    """Ten BUY signals a second apart, each about the next 10 s: one long position from the
    first to the last, charged once to enter (the old proxy charged ten trades)."""
    db.store_many([Tick(SYMBOL, 100.0 + i, 1.0, T0 + i) for i in range(21)])
    for i in range(10):
        s = signal(T0 + i, 100.0 + i, BUY, 0.9, "v1")
        redis_client.xadd(f"signals:{SYMBOL}", {"data": orjson.dumps(s.to_dict())})
    card = evaluate_signals(db, horizon_s=10.0, cost_bps=5.0, delay_bars=0).overall
    assert (card.bars, card.trades, card.turnover) == (10, 1, 1.0)
    gross = sum(1e4 / (100.0 + i) for i in range(9))  # bar i earns p_{i+1} / p_i - 1
    assert card.gross_sum_bps == pytest.approx(gross)
    assert card.pnl_sum_bps == pytest.approx(gross - 5.0)
    # filled one signal later (the default): long from the second signal's price on
    later = evaluate_signals(db, horizon_s=10.0, cost_bps=5.0).overall
    assert (later.bars, later.trades) == (10, 1)
    assert later.gross_sum_bps == pytest.approx(gross - 1e4 / 100.0)
