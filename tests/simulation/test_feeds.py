"""Simulated feeds: deterministic, well-formed ticks, trades and books, regimes and rates."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterable

import pytest

from data_feeds.records import BookDelta, BookSnapshot, Record, Sentiment, Tick, Trade
from data_feeds.simulation.edge_cases import FaultConfig, FaultInjector, Message
from data_feeds.simulation.feeds import (
    CALM,
    DEFAULT_START_S,
    VOLATILE,
    FeedConfig,
    MarketSimulator,
    PricePath,
    RegimeModel,
    intraday_activity,
    make_symbols,
    symbol_spec,
)
from data_feeds.simulation.publisher import encode_message
from data_feeds.simulation.sentiment import NewsScraper, TwitterSentiment

CLASSES = ("crypto", "equity", "fx")


def full_stream(seed: int) -> Iterable[Message]:
    """Everything at once: three asset classes, sentiment and faults of every type."""
    sim = MarketSimulator(
        make_symbols(12, CLASSES, seed=seed), FeedConfig.for_rate(600, 12), seed=seed
    )
    extra = [
        TwitterSentiment.for_market(sim, interval_s=1.0).records(),
        NewsScraper.for_market(sim, interval_s=5.0).records(),
    ]
    return FaultInjector(sim.records(extra=extra), FaultConfig.uniform(0.2, warmup=20), seed=seed)


def encoded(messages: Iterable[Message], n: int) -> list[tuple[str, dict[str, bytes]]]:
    return [encode_message(m) for m in itertools.islice(messages, n)]


def digest(seed: int, n: int) -> str:
    h = hashlib.sha256()
    for stream, fields in encoded(full_stream(seed), n):
        h.update(stream.encode())
        for name, value in fields.items():
            h.update(name.encode() + b"=" + value + b";")
    return h.hexdigest()


def records(n: int, seed: int = 3, **config: object) -> list[Record]:
    sim = MarketSimulator(make_symbols(6, CLASSES, seed=seed), FeedConfig(**config), seed=seed)  # type: ignore[arg-type]
    return list(itertools.islice(sim.records(), n))


def test_same_seed_gives_the_same_bytes() -> None:
    """Two runs with one seed encode to the same message sequence; another seed differs."""
    first = encoded(full_stream(11), 20_000)
    again = encoded(full_stream(11), 20_000)
    other = encoded(full_stream(12), 20_000)
    assert first == again
    assert first != other
    kinds = {fields["data"][:20] for _, fields in first}
    assert len(kinds) > 4  # ticks, trades, books, sentiment and raw faults are all in there
    assert sum(1 for _, f in first if not f["data"].startswith(b'{"kind"')) > 50


def test_same_seed_gives_the_same_bytes_in_another_process() -> None:
    """The sequence does not depend on the process (string hashing is randomized per process)."""
    n = 3000
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.dirname(__file__)))!r})
        from tests.simulation.test_feeds import digest
        print(digest(5, {n}))
        """
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == digest(5, n)


def test_prices_stay_positive_and_finite() -> None:
    """Every price, bid, ask, size and volume is finite; prices > 0; bid <= price <= ask."""
    seen = {Tick: 0, Trade: 0, BookSnapshot: 0, BookDelta: 0}
    for r in records(30_000, tick_rate_hz=20, trade_rate_hz=10, book_rate_hz=5):
        seen[type(r)] += 1
        if isinstance(r, Tick):
            assert r.bid is not None and r.ask is not None
            for v in (r.price, r.bid, r.ask):
                assert math.isfinite(v) and v > 0
            assert r.bid <= r.price <= r.ask and r.bid < r.ask
            assert math.isfinite(r.volume) and r.volume >= 0
        elif isinstance(r, Trade):
            assert math.isfinite(r.price) and r.price > 0
            assert math.isfinite(r.volume) and r.volume > 0
            assert r.side in ("buy", "sell")
        elif isinstance(r, BookSnapshot | BookDelta):
            for price, size in (*r.bids, *r.asks):
                assert math.isfinite(price) and price > 0
                assert math.isfinite(size) and size >= 0
    assert seen[Tick] > 1000 and seen[Trade] > 1000 and seen[BookDelta] > 1000, seen
    assert seen[BookSnapshot] >= 6, seen


def test_books_are_never_crossed() -> None:
    """Snapshots plus deltas (size 0 deletes) rebuild a book that is never crossed."""
    depth = 8
    books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
    deletes = snapshots = deltas = 0
    snapshot_times: dict[str, list[float]] = defaultdict(list)
    for r in records(40_000, tick_rate_hz=2, trade_rate_hz=0, book_rate_hz=20, book_depth=depth):
        if isinstance(r, Tick):
            continue
        assert isinstance(r, BookSnapshot | BookDelta)
        prices_b = [p for p, _ in r.bids]
        prices_a = [p for p, _ in r.asks]
        assert prices_b == sorted(prices_b, reverse=True)  # best first
        assert prices_a == sorted(prices_a)
        if isinstance(r, BookSnapshot):
            snapshots += 1
            snapshot_times[r.symbol].append(r.timestamp)
            assert len(r.bids) == len(r.asks) == depth
            books[r.symbol] = (dict(r.bids), dict(r.asks))
        else:
            deltas += 1
            assert r.symbol in books, "a delta before the first snapshot"
            assert r.bids or r.asks
            for side, levels in zip(books[r.symbol], (r.bids, r.asks), strict=True):
                for price, size in levels:
                    if size == 0.0:
                        deletes += 1
                        assert price in side, "deleting a level that is not there"
                        del side[price]
                    else:
                        side[price] = size
        bids, asks = books[r.symbol]
        assert bids and asks
        assert len(bids) == len(asks) == depth
        assert max(bids) < min(asks), f"crossed book {r.symbol} at {r.timestamp}"
    assert snapshots > 6 and deltas > 30_000 and deletes > 1000, (snapshots, deltas, deletes)
    for times in snapshot_times.values():  # a snapshot every ~30 s (the default)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(29.0 < g < 32.0 for g in gaps), gaps


def test_trades_are_consistent_with_the_price() -> None:
    """Buys print at or above the bid, sells at or below the ask; sides follow the price move."""
    last_tick: dict[str, Tick] = {}
    price_at_last_trade: dict[str, float] = {}
    after_rise = {"buy": 0, "sell": 0}
    after_fall = {"buy": 0, "sell": 0}
    for r in records(60_000, tick_rate_hz=10, trade_rate_hz=10, book_rate_hz=0):
        if isinstance(r, Tick):
            last_tick[r.symbol] = r
            continue
        assert isinstance(r, Trade)
        assert r.trade_id is not None
        tick = last_tick.get(r.symbol)
        if tick is None:
            continue
        assert tick.bid is not None and tick.ask is not None
        spread = tick.ask - tick.bid
        assert tick.bid - 2 * spread <= r.price <= tick.ask + 2 * spread
        assert r.price >= tick.bid if r.side == "buy" else r.price <= tick.ask
        before = price_at_last_trade.get(r.symbol)
        if before is not None and tick.price != before:
            (after_rise if tick.price > before else after_fall)[r.side] += 1
        price_at_last_trade[r.symbol] = tick.price
    share_rise = after_rise["buy"] / sum(after_rise.values())
    share_fall = after_fall["buy"] / sum(after_fall.values())
    assert share_rise > 0.6 and share_fall < 0.4, (after_rise, after_fall)


def test_records_are_in_time_order_at_the_configured_rates() -> None:
    """The merged stream never goes back in time and each symbol ticks at its mean rate."""
    rs = records(60_000, tick_rate_hz=20, trade_rate_hz=8, book_rate_hz=4)
    times = [r.timestamp for r in rs]
    assert times == sorted(times)
    assert times[0] >= DEFAULT_START_S
    span = times[-1] - times[0]
    counts: dict[tuple[str, type], int] = defaultdict(int)
    for r in rs:
        counts[(r.key, type(r))] += 1
    for (_, kind), n in counts.items():
        rate = n / span
        expected = {Tick: 20.0, Trade: 8.0, BookSnapshot: 0.0, BookDelta: 4.0}[kind]
        if kind is not BookSnapshot:
            assert abs(rate - expected) < 0.1 * expected, (kind, rate)


def test_regimes_switch_and_differ_in_volatility() -> None:
    """Both regimes occur, switch often, and the volatile one is ~volatility_factor rougher."""
    spec = symbol_spec("BTCUSDT", "crypto")
    model = RegimeModel(calm_mean_s=60.0, volatile_mean_s=60.0, volatility_factor=4.0)
    path = PricePath(spec, seed=1, rate_hz=10.0, regimes=model, jump_rate_hz=0.0)
    sq = {CALM: 0.0, VOLATILE: 0.0}
    time_in = {CALM: 0.0, VOLATILE: 0.0}
    switches = 0
    t0, x0, r0, _ = path.step(0)
    for i in range(1, 40_001):
        t, x, regime, _ = path.step(i)
        if regime == r0:  # a step wholly inside one regime
            sq[regime] += (x - x0) ** 2
            time_in[regime] += t - t0
        else:
            switches += 1
        t0, x0, r0 = t, x, regime
    assert switches > 20
    assert min(time_in.values()) > 500.0
    vol = {k: math.sqrt(sq[k] / time_in[k]) for k in sq}
    assert vol[CALM] == pytest.approx(spec.sigma_s, rel=0.1)
    assert 3.3 < vol[VOLATILE] / vol[CALM] < 4.7


def test_jumps_happen_at_their_rate() -> None:
    """With jumps on, the largest moves are far beyond the diffusion's; off, they are not."""
    spec = symbol_spec("ETHUSDT", "crypto")
    calm = RegimeModel(calm_mean_s=1e9, volatile_mean_s=1.0)

    def max_abs_return(jump_rate_hz: float) -> float:
        path = PricePath(
            spec, seed=2, rate_hz=10.0, regimes=calm, jump_rate_hz=jump_rate_hz, jump_sigma=2e-3
        )
        xs = [path.step(i)[1] for i in range(20_001)]
        return max(abs(b - a) for a, b in itertools.pairwise(xs))

    without, with_jumps = max_abs_return(0.0), max_abs_return(1.0 / 60.0)
    assert without < 1e-3
    assert with_jumps > 3 * without


def test_symbols_and_asset_classes() -> None:
    """Well-known symbols come first, then generated names; classes take turns."""
    crypto = make_symbols(12)
    assert [s.symbol for s in crypto[:2]] == ["BTCUSDT", "ETHUSDT"]
    assert [s.symbol for s in crypto[10:]] == ["SYM001USDT", "SYM002USDT"]
    assert crypto[0].keyword == "BTC" and crypto[10].keyword == "SYM001"
    mixed = make_symbols(33, CLASSES, seed=4)
    assert [s.asset_class for s in mixed[:3]] == list(CLASSES)
    names = [s.symbol for s in mixed]
    assert {"AAPL", "EURUSD", "STK001", "FX001USD", "SYM001USDT"} <= set(names)
    assert len(set(names)) == 33 and len({s.keyword for s in mixed}) == 33
    assert mixed[-1].price == make_symbols(33, CLASSES, seed=4)[-1].price
    assert symbol_spec("EURUSD", "fx").tick_size == pytest.approx(1e-5)
    assert symbol_spec("AAPL", "equity").tick_size == pytest.approx(0.01)
    with pytest.raises(ValueError, match="unknown asset class"):
        make_symbols(2, ("bonds",))
    with pytest.raises(ValueError, match=">= 1"):
        make_symbols(0)


def test_intraday_volume_pattern() -> None:
    """Equity volume peaks at the New York open and close and is thin overnight."""
    day = 1_704_153_600.0  # 2024-01-02T00:00:00Z
    assert intraday_activity("equity", day + 13.75 * 3600) > 5 * intraday_activity(
        "equity", day + 3 * 3600
    )
    crypto = [intraday_activity("crypto", day + h * 3600) for h in range(24)]
    assert max(crypto) / min(crypto) < 2.0

    def volume_per_s(start_s: float) -> float:
        path = PricePath(symbol_spec("AAPL", "equity"), seed=9, start_s=start_s, rate_hz=5.0)
        steps = [path.step(i) for i in range(1, 1501)]
        return sum(s[3] for s in steps) / (steps[-1][0] - start_s)

    assert volume_per_s(day + 13.6 * 3600) > 3 * volume_per_s(day + 2 * 3600)


def test_for_rate_splits_the_total() -> None:
    """FeedConfig.for_rate spreads a total message rate over symbols and the kinds switched on."""
    c = FeedConfig.for_rate(2000, 20)
    assert c.tick_rate_hz + c.trade_rate_hz + c.book_rate_hz == pytest.approx(100.0)
    no_books = FeedConfig.for_rate(2000, 20, books=False, trades=False)
    assert no_books.tick_rate_hz == pytest.approx(100.0) and no_books.book_rate_hz == 0
    with pytest.raises(ValueError):
        FeedConfig(tick_rate_hz=0, trade_rate_hz=0, book_rate_hz=0)


def test_book_toggle_does_not_change_the_ticks() -> None:
    """Turning books off leaves the ticks untouched (each kind has its own random stream)."""

    def ticks(book_rate_hz: float) -> list[Tick]:
        sim = MarketSimulator(make_symbols(3), FeedConfig(book_rate_hz=book_rate_hz), seed=8)
        return [r for r in itertools.islice(sim.records(), 8000) if isinstance(r, Tick)][:2000]

    assert ticks(0.0) == ticks(5.0)


def test_history_is_released_as_the_stream_advances() -> None:
    """A long run keeps only a bounded window of each path in memory."""
    sim = MarketSimulator(make_symbols(4), FeedConfig(tick_rate_hz=50), seed=1)
    extra = [TwitterSentiment.for_market(sim, lead_s=30.0).records()]
    for _ in itertools.islice(sim.records(extra=extra), 100_000):
        pass
    # 30 s of lead at 50 ticks/s is ~1500 steps; without release it would be ~16000.
    assert all(p.retained < 4000 for p in sim.paths.values())
    with pytest.raises(RuntimeError):
        next(sim.records())


def test_sentiment_records_are_sentiment() -> None:
    """Sentiment mixed into the market stream keeps its keyword and source."""
    sim = MarketSimulator(make_symbols(2), seed=1)
    extra = [TwitterSentiment.for_market(sim, interval_s=0.5).records()]
    got = [r for r in itertools.islice(sim.records(extra=extra), 3000) if isinstance(r, Sentiment)]
    assert {r.keyword for r in got} == {"BTC", "ETH"}
    assert {r.source for r in got} == {"twitter"}
