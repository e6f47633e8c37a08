"""The local order book: snapshots, deltas, bounds, and its liquidity measures."""

from __future__ import annotations

import csv

import pytest

from data_feeds.indicators import OrderBook
from data_feeds.records import Level
from tests.shared_data import shared_data_path

BIDS: tuple[Level, ...] = ((99.0, 1.0), (98.0, 2.0), (97.0, 5.0))
ASKS: tuple[Level, ...] = ((101.0, 1.0), (102.0, 3.0), (103.0, 4.0))


def brute_force_fill(levels: list[Level], notional: float) -> float:
    """Average price of a market order for `notional`, walked level by level."""
    remaining, quantity = notional, 0.0
    for price, size in levels:
        take = min(size, remaining / price)
        quantity += take
        remaining -= take * price
        if remaining <= 1e-12 * notional:
            return notional / quantity
    return notional / (quantity + remaining / levels[-1][0])


def test_snapshot_gives_mid_spread_and_imbalance() -> None:
    """Mid, spread in bps and top-N size imbalance come from the snapshot's best levels."""
    book = OrderBook(imbalance_levels=2, notional=50.0)
    book.update(BIDS, ASKS)
    assert (book.best_bid, book.best_ask, book.mid) == (99.0, 101.0, 100.0)
    assert book.spread_bps == pytest.approx(200.0, rel=1e-15)
    assert book.imbalance == pytest.approx((3.0 - 4.0) / 7.0, rel=1e-15)


def test_slippage_walks_the_book_from_mid() -> None:
    """A 300-quote buy fills 1 @ 101 then 199/102 @ 102; slippage is vs mid, in bps."""
    book = OrderBook(notional=300.0)
    book.update(BIDS, ASKS)
    buy_fill = 300.0 / (1.0 + 199.0 / 102.0)
    sell_fill = 300.0 / (1.0 + 2.0 + 5.0 / 97.0)  # 99 + 196 + 5 quote
    assert book.buy_slippage_bps == pytest.approx((buy_fill - 100.0) / 100.0 * 1e4, rel=1e-12)
    assert book.sell_slippage_bps == pytest.approx((100.0 - sell_fill) / 100.0 * 1e4, rel=1e-12)
    assert book.buy_slippage_bps is not None and book.sell_slippage_bps is not None
    assert book.slippage_bps == pytest.approx(
        (book.buy_slippage_bps + book.sell_slippage_bps) / 2, rel=1e-15
    )


def test_an_order_larger_than_the_book_is_priced_at_the_deepest_level() -> None:
    """The unfilled remainder of a too-large order is priced at the last visible level."""
    book = OrderBook(notional=10_000.0)
    book.update(BIDS, ASKS)
    assert book.buy_slippage_bps == pytest.approx(
        (brute_force_fill(list(ASKS), 10_000.0) - 100.0) / 100.0 * 1e4, rel=1e-12
    )
    assert book.buy_slippage_bps is not None and book.buy_slippage_bps > 200.0


def test_delta_sets_sizes_and_a_zero_size_deletes_the_level() -> None:
    """A delta changes sizes, adds levels in price order and deletes zero-size levels."""
    book = OrderBook(imbalance_levels=1)
    book.update(BIDS, ASKS)
    book.update(((99.0, 0.0), (98.5, 4.0)), ((100.5, 2.0), (102.0, 0.0)), is_delta=True)
    assert book.bids() == [(98.5, 4.0), (98.0, 2.0), (97.0, 5.0)]
    assert book.asks() == [(100.5, 2.0), (101.0, 1.0), (103.0, 4.0)]
    assert book.mid == 99.5
    assert book.imbalance == pytest.approx((4.0 - 2.0) / 6.0, rel=1e-15)
    book.update((), ((42.0, 0.0),), is_delta=True)  # deleting an unknown level is a no-op
    assert len(book.asks()) == 3


def test_a_one_sided_book_has_no_measures() -> None:
    """While a side is empty, mid, spread, imbalance and slippage are None."""
    book = OrderBook()
    book.update(BIDS, ())
    assert (book.mid, book.spread_bps, book.imbalance, book.slippage_bps) == (None,) * 4
    book.update(BIDS, ASKS)
    assert book.mid == 100.0
    book.update((), ((101.0, 0.0), (102.0, 0.0), (103.0, 0.0)), is_delta=True)
    assert book.value is None


def test_each_side_is_bounded_to_max_levels() -> None:
    """Beyond `max_levels` per side, the levels farthest from the touch are dropped."""
    book = OrderBook(imbalance_levels=2, max_levels=3)
    book.update([(100.0 - i, 1.0) for i in range(10)], [(101.0 + i, 1.0) for i in range(10)])
    assert book.bids() == [(100.0, 1.0), (99.0, 1.0), (98.0, 1.0)]
    book.update([(100.5, 1.0)], [(100.8, 1.0), (150.0, 1.0)], is_delta=True)
    assert book.bids() == [(100.5, 1.0), (100.0, 1.0), (99.0, 1.0)]
    assert book.asks() == [(100.8, 1.0), (101.0, 1.0), (102.0, 1.0)]


def test_real_binance_futures_snapshots_match_a_brute_force_walk() -> None:
    """On real 25-level snapshots, every measure equals a direct computation."""
    path = shared_data_path(
        "nautilus_trader", "tardis", "binance-futures_book_snapshot_25_BTCUSDT.csv"
    )
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    book = OrderBook(imbalance_levels=5, notional=250_000.0)
    for row in rows:
        bids = [
            (float(row[f"bids[{i}].price"]), float(row[f"bids[{i}].amount"])) for i in range(25)
        ]
        asks = [
            (float(row[f"asks[{i}].price"]), float(row[f"asks[{i}].amount"])) for i in range(25)
        ]
        book.update(bids, asks)
        mid = (bids[0][0] + asks[0][0]) / 2
        assert book.mid == mid
        assert book.spread_bps == pytest.approx((asks[0][0] - bids[0][0]) / mid * 1e4, rel=1e-12)
        b, a = sum(s for _, s in bids[:5]), sum(s for _, s in asks[:5])
        assert book.imbalance == pytest.approx((b - a) / (b + a), rel=1e-12)
        buy = (brute_force_fill(asks, 250_000.0) - mid) / mid * 1e4
        sell = (mid - brute_force_fill(bids, 250_000.0)) / mid * 1e4
        assert book.buy_slippage_bps == pytest.approx(buy, rel=1e-9)
        assert book.sell_slippage_bps == pytest.approx(sell, rel=1e-9)
        assert buy > 0.0 and sell > 0.0


def test_real_binance_depth_updates_apply_like_a_dict() -> None:
    """Real Binance diff updates (size 0 deletes) leave the book a plain dict replay gives."""
    snap = shared_data_path("nautilus_trader", "binance", "btcusdt-depth-snap.csv")
    upd = shared_data_path("nautilus_trader", "binance", "btcusdt-depth-update.csv")
    with snap.open(newline="") as f:
        snapshot = list(csv.DictReader(f))
    with upd.open(newline="") as f:
        updates = list(csv.DictReader(f))
    expected: dict[str, dict[float, float]] = {"b": {}, "a": {}}
    for r in snapshot:
        expected[r["side"]][float(r["price"])] = float(r["qty"])
    book = OrderBook()
    book.update(
        [(p, s) for p, s in expected["b"].items()], [(p, s) for p, s in expected["a"].items()]
    )
    for r in updates:
        price, qty = float(r["price"]), float(r["qty"])
        level = ((price, qty),)
        if r["side"] == "b":
            book.update(level, (), is_delta=True)
        else:
            book.update((), level, is_delta=True)
        side = expected[r["side"]]
        if qty == 0.0:
            side.pop(price, None)
        else:
            side[price] = qty
    assert book.bids() == sorted(((p, s) for p, s in expected["b"].items() if s > 0), reverse=True)
    assert book.asks() == sorted((p, s) for p, s in expected["a"].items() if s > 0)


@pytest.mark.parametrize(
    "kwargs", [{"imbalance_levels": 0}, {"notional": 0.0}, {"imbalance_levels": 5, "max_levels": 4}]
)
def test_bad_configuration_is_refused(kwargs: dict[str, float]) -> None:
    """Non-positive levels or notional, or fewer kept levels than imbalance levels, raise."""
    with pytest.raises(ValueError, match="must be"):
        OrderBook(**kwargs)  # type: ignore[arg-type]
