"""Trade-flow imbalance over a time window."""

from __future__ import annotations

from math import fsum

import pytest

from data_feeds.indicators import TradeFlowImbalance
from tests.indicators.series import binance_trades


def test_imbalance_is_signed_volume_share_over_the_window() -> None:
    """(buy - sell) / (buy + sell) over the trades of the last window_s seconds."""
    flow = TradeFlowImbalance(window_s=10.0)
    empty = flow.value
    assert empty is None
    flow.update(3.0, "buy", 100.0)
    assert flow.value == 1.0
    flow.update(1.0, "sell", 105.0)
    assert flow.value == pytest.approx(0.5, rel=1e-15)
    flow.update(2.0, "sell", 110.0)  # the trade at 100 is now exactly window_s old: out
    assert flow.value == -1.0


def test_expire_fades_the_flow_when_trading_stops() -> None:
    """Advancing the clock past every trade empties the window; the clock never rewinds."""
    flow = TradeFlowImbalance(window_s=5.0)
    flow.update(1.0, "buy", 0.0)
    flow.update(1.0, "sell", 3.0)
    flow.expire(4.0)
    assert flow.value == 0.0
    flow.expire(6.0)
    assert flow.value == -1.0
    flow.expire(1.0)
    assert flow.value == -1.0
    flow.expire(9.0)
    assert flow.value is None


def test_a_trade_older_than_the_window_is_ignored() -> None:
    """A late trade stamped before the window's start does not count."""
    flow = TradeFlowImbalance(window_s=5.0)
    flow.update(1.0, "buy", 100.0)
    flow.update(50.0, "sell", 90.0)
    assert flow.value == 1.0


def test_state_is_bounded_by_max_trades() -> None:
    """Only the latest max_trades trades count, whatever the window."""
    flow = TradeFlowImbalance(window_s=1e9, max_trades=3)
    for side in ("sell", "sell", "buy", "buy", "buy"):
        flow.update(1.0, side, 0.0)
    assert flow.value == 1.0


def test_unknown_side_and_bad_configuration_are_refused() -> None:
    """A side other than buy/sell raises, as do a non-positive window or trade bound."""
    with pytest.raises(ValueError, match="side"):
        TradeFlowImbalance().update(1.0, "BUY", 0.0)
    with pytest.raises(ValueError, match="window_s"):
        TradeFlowImbalance(window_s=0.0)
    with pytest.raises(ValueError, match="max_trades"):
        TradeFlowImbalance(max_trades=0)


def test_real_binance_trades_match_a_direct_window_sum() -> None:
    """On real trades, the streaming value equals a direct sum over (t - window_s, t]."""
    trades = binance_trades()
    times = trades.timestamp_s.tolist()
    volumes = trades.volume.tolist()
    window_s = 30.0
    flow = TradeFlowImbalance(window_s=window_s)
    for i, (ts, volume, side) in enumerate(zip(times, volumes, trades.side, strict=True)):
        flow.update(volume, side, ts)
        now = max(times[: i + 1])
        inside = [j for j in range(i + 1) if now - window_s < times[j]]
        buy = fsum(volumes[j] for j in inside if trades.side[j] == "buy")
        sell = fsum(volumes[j] for j in inside if trades.side[j] == "sell")
        assert flow.value == pytest.approx((buy - sell) / (buy + sell), abs=1e-12)
