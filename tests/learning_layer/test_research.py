"""ResearchEngine: imports without duplicates, and feed reports that agree with the data."""

from __future__ import annotations

import itertools
import statistics
import threading
from pathlib import Path

import orjson
import pytest
import redis

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.embedded import EmbeddedRedis
from data_feeds.cache.keys import (
    RESEARCH_FEED_REPORT_LATEST,
    RESEARCH_FEED_REPORTS,
    RESEARCH_IMPORTS,
    imported_key,
)
from data_feeds.errors import ReplayError
from data_feeds.learning_layer import ResearchEngine
from data_feeds.records import Tick
from data_feeds.settings import Settings
from tests.shared_data import shared_data_path

T0 = 1_700_000_000.0

# (file, stream) of real candles with holes in them.
CANDLES = [
    ("UNITTEST_BTC-1m.json", "crypto_price:UNITTESTBTC"),
    ("ADA_BTC-5m.csv", "crypto_price:ADABTC"),
    ("XRP_ETH-1m.csv", "crypto_price:XRPETH"),
]


def stream_times(db: DBConnector, stream: str) -> list[float]:
    """Event times of a stream's entries in stream order, read without the library."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = db.redis.xrange(stream)  # type: ignore[assignment]
    return [orjson.loads(fields[b"data"])["timestamp"] for _, fields in entries]


def holes_in_regular_feed(times: list[float], k: float, warm_up: int) -> list[tuple[float, float]]:
    """Consecutive differences above k x the median cadence, after the first warm_up."""
    diffs = [b - a for a, b in itertools.pairwise(times)]
    cadence = statistics.median(diffs)
    return [
        (times[i], times[i + 1]) for i, d in enumerate(diffs) if i >= warm_up and d > k * cadence
    ]


def silences_by_live_rule(
    times: list[float], *, k: float = 10.0, q: float = 0.9, warm_up: int = 20, window: int = 64
) -> list[tuple[float, float]]:
    """The live gap rule restated: interval > max(1 s, k x the q-quantile of the last `window`
    positive intervals), once `warm_up` of them were seen."""
    out: list[tuple[float, float]] = []
    recent: list[float] = []
    newest: float | None = None
    for t in times:
        if newest is not None and t > newest:
            interval = t - newest
            if len(recent) >= warm_up:
                ordered = sorted(recent)
                cadence = ordered[round(q * (len(ordered) - 1))]
                if interval > max(1.0, k * cadence):
                    out.append((newest, t))
            recent = [*recent, interval][-window:]
        if newest is None or t > newest:
            newest = t
    return out


@pytest.mark.shared_data
def test_real_candle_gaps_are_the_holes_in_the_data(db: DBConnector) -> None:
    """Every hole in real 1- and 5-minute candles is reported, and nothing else."""
    research = ResearchEngine(db)
    for name, _ in CANDLES:
        research.collect_training_data(shared_data_path("freqtrade", name))
    report = research.analyze_feed_behavior("crypto_price:*")
    for name, stream in CANDLES:
        feed = report.feed(stream)
        times = stream_times(db, stream)
        expected = holes_in_regular_feed(times, k=1.5, warm_up=5)
        assert feed.regular, name
        assert [(g.start, g.end) for g in feed.gaps] == expected, name
        assert feed.gap_count == len(expected) > 0
        assert all(g.duration_s == g.end - g.start for g in feed.gaps)
    unittest = report.feed("crypto_price:UNITTESTBTC")
    assert unittest.gap_count == 538
    assert unittest.longest_gap_s == 480.0  # an 8-minute hole in 1-minute candles
    assert unittest.cadence_s == 60.0
    assert report.feed("crypto_price:ADABTC").longest_gap_s == 10_200.0

    # The live rule (10 x p90) is blind to those holes: why research picks its own default.
    live = research.analyze_feed_behavior(
        "crypto_price:UNITTESTBTC", gap_factor=10.0, cadence_quantile=0.9, store=False
    )
    assert live.feed("crypto_price:UNITTESTBTC").gap_count == 0


@pytest.mark.shared_data
def test_real_trade_gaps_follow_the_live_rule(db: DBConnector) -> None:
    """Irregular real trades keep the live gap rule; the silences match it computed here."""
    research = ResearchEngine(db)
    research.collect_training_data(shared_data_path("freqtrade", "XRP_ETH-trades.json.gz"))
    feed = research.analyze_feed_behavior("crypto_trade:*").feed("crypto_trade:XRPETH")
    expected = silences_by_live_rule(stream_times(db, "crypto_trade:XRPETH"))
    assert not feed.regular
    assert feed.messages == 12_477
    assert [(g.start, g.end) for g in feed.gaps] == expected
    assert len(expected) == 12
    assert feed.duplicates == 0 and feed.out_of_order == 0


@pytest.mark.shared_data
def test_reimporting_the_same_data_adds_nothing(db: DBConnector) -> None:
    """The same file again, or the same trades in another layout, adds no entry."""
    research = ResearchEngine(db)
    path = shared_data_path("freqtrade", "XRP_ETH-trades.json.gz")
    first = research.collect_training_data(path)
    assert first.imported == 12_477 and first.skipped == 0
    assert first.streams["crypto_trade:XRPETH"].imported == 12_477
    again = research.collect_training_data(path)
    assert again.imported == 0 and again.skipped == 12_477
    ccxt = research.collect_training_data(shared_data_path("freqtrade", "XRP_OLD-trades.json.gz"))
    assert ccxt.sources[0].layout == "ccxt_trades_json"
    assert ccxt.imported == 0 and ccxt.skipped == 12_477
    assert db.redis.xlen("crypto_trade:XRPETH") == 12_477
    assert db.redis.scard(imported_key("crypto_trade:XRPETH")) == 12_477
    assert [s["imported"] for s in research.imports()] == [0, 0, 12_477]


@pytest.mark.shared_data
def test_concurrent_imports_of_one_file_store_each_record_once(
    db: DBConnector, settings: Settings
) -> None:
    """Two processes' worth of connectors importing the same file at once: no duplicates."""
    path = shared_data_path("freqtrade", "XRP_ETH-1m.csv")
    totals: list[int] = []

    def run() -> None:
        with DBConnector(settings=settings) as own:
            totals.append(ResearchEngine(own).collect_training_data(path, batch_size=50).imported)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == 2469
    assert db.redis.xlen("crypto_price:XRPETH") == 2469


def test_identical_records_in_one_source_are_kept(db: DBConnector) -> None:
    """Two genuinely identical records in one import are both stored; re-importing adds none."""
    ticks = [Tick("DUPUSDT", 10.0, 1.0, T0), Tick("DUPUSDT", 10.0, 1.0, T0)]
    research = ResearchEngine(db)
    assert research.collect_training_data(ticks).imported == 2
    assert research.collect_training_data(ticks).imported == 0
    assert research.collect_training_data(ticks[:1]).imported == 0
    assert db.redis.xlen("crypto_price:DUPUSDT") == 2


def test_an_unknown_file_layout_is_refused(db: DBConnector, tmp_path: Path) -> None:
    """A single file of no known layout raises; in a directory it is listed and skipped."""
    bad = tmp_path / "notes-1m.csv"
    bad.write_text("a,b\n1,2\n")
    good = tmp_path / "ABC_USDT-1m.csv"
    good.write_text(
        "date,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,1,1,1.5,3\n2024-01-01T00:01:00Z,1,1,1,1.6,4\n"
    )
    research = ResearchEngine(db)
    with pytest.raises(ReplayError):
        research.collect_training_data(bad)
    summary = research.collect_training_data(tmp_path)
    assert summary.imported == 2
    errors = {Path(s.source).name: s.error for s in summary.sources}
    assert errors["ABC_USDT-1m.csv"] is None
    assert errors["notes-1m.csv"] is not None
    assert "crypto_price:ABCUSDT" in summary.to_table()


def test_cryptofeed_streams_are_imported_from_another_redis(
    db: DBConnector, short_tmp: Path
) -> None:
    """cryptofeed's flat entries on another server land in our streams, validated, once."""
    other = EmbeddedRedis(short_tmp / "cryptofeed")
    url = other.ensure_running()
    source = redis.Redis.from_url(url)
    try:
        for i in range(5):
            source.xadd(
                "trades-BINANCE-BTC-USDT",
                {
                    "exchange": "BINANCE",
                    "symbol": "BTC-USDT",
                    "side": "buy" if i % 2 else "sell",
                    "amount": "6.38e-06",
                    "price": f"{50000 + i}.5",
                    "id": str(1000 + i),
                    "type": "None",
                    "timestamp": str(T0 + i),
                    "receipt_timestamp": str(T0 + i + 0.01),
                },
            )
        source.xadd(
            "trades-BINANCE-BTC-USDT",
            {"exchange": "BINANCE", "symbol": "BTC-USDT", "side": "buy", "amount": "1",
             "price": "None", "id": "9", "timestamp": str(T0 + 9)},
        )  # fmt: skip
        source.xadd(
            "ticker-KRAKEN-ETH-USD",
            {"exchange": "KRAKEN", "symbol": "ETH-USD", "bid": "2000.0", "ask": "2001.0",
             "timestamp": str(T0), "receipt_timestamp": str(T0)},
        )  # fmt: skip
        source.xadd("misc", {"note": "not market data"})

        research = ResearchEngine(db)
        summary = research.collect_training_data(url, pattern="*")
        assert summary.streams["crypto_trade:BTCUSDT"].imported == 5
        assert summary.streams["crypto_price:ETHUSD"].imported == 1
        by_source = {s.source: s for s in summary.sources}
        assert by_source["trades-BINANCE-BTC-USDT"].rejected == {"missing_field": 1}
        assert by_source["trades-BINANCE-BTC-USDT"].layout == "cryptofeed"
        assert by_source["misc"].error is not None
        trades = db.backfill("crypto_trade:BTCUSDT")
        assert [t.trade_id for t in trades] == ["1000", "1001", "1002", "1003", "1004"]  # type: ignore[union-attr]
        assert trades[0].volume == 6.38e-06  # type: ignore[union-attr]
        tick = db.backfill("crypto_price:ETHUSD")[0]
        assert isinstance(tick, Tick) and tick.price == 2000.5
        assert research.collect_training_data(url, pattern="*").imported == 0
        assert "@" not in summary.source
    finally:
        source.close()
        other.stop()


def test_report_counts_duplicates_reordering_spikes_and_rejects(db: DBConnector) -> None:
    """A synthetic feed's report: cadence, gap, duplicate, out-of-order, spike, missing field."""
    ticks = [Tick("SYNUSDT", 100.0 + 0.01 * (i % 5), 1.0, T0 + i) for i in range(60)]
    ticks += [Tick("SYNUSDT", 100.0, 1.0, T0 + 120 + i) for i in range(10)]  # a 61 s hole
    ticks.insert(30, ticks[29])  # a duplicate
    ticks.insert(40, Tick("SYNUSDT", 100.02, 1.0, T0 + 37.5))  # 1.5 s out of order
    after = next(i for i, t in enumerate(ticks) if t.timestamp > T0 + 50.5)
    ticks.insert(after, Tick("SYNUSDT", 150.0, 1.0, T0 + 50.5))  # a spike, in order
    db.store_many(ticks)
    db.redis.xadd("crypto_price:SYNUSDT", {"data": b'{"symbol": "SYNUSDT", "timestamp": 1.7e9}'})
    research = ResearchEngine(db)
    report = research.analyze_feed_behavior("crypto_price:SYNUSDT")
    feed = report.feed("crypto_price:SYNUSDT")
    assert feed.messages == 73 and feed.entries == 74
    assert feed.rejected == {"missing_field": 1}
    assert feed.missing_fields == {"price": 1}
    assert feed.duplicates == 1 and feed.out_of_order == 1
    assert feed.spike_count == 1
    assert feed.largest_spike is not None and feed.largest_spike.price == 150.0
    assert feed.cadence_s == 1.0 and feed.regular
    assert [(g.start, g.end) for g in feed.gaps] == [(T0 + 59, T0 + 120)]
    assert feed.first_ts == T0 and feed.last_ts == T0 + 129
    assert feed.return_std is not None and feed.realized_vol_annualized is not None

    # Stored: the latest report and the history; printable as a table and as JSON.
    latest = orjson.loads(db.redis.get(RESEARCH_FEED_REPORT_LATEST))  # type: ignore[arg-type]
    assert latest["feeds"][0]["gap_count"] == 1
    assert research.latest_report() == latest
    research.analyze_feed_behavior("crypto_price:SYNUSDT")
    assert db.redis.llen(RESEARCH_FEED_REPORTS) == 2
    assert orjson.loads(report.to_json())["feeds"][0]["duplicates"] == 1
    table = report.to_table(gaps=1)
    assert "SYNUSDT" in table and "missing_field=1" in table and "longest gaps" in table
    assert db.redis.llen(RESEARCH_IMPORTS) == 0


def test_an_import_refused_by_redis_can_be_done_again(
    db: DBConnector, redis_client: redis.Redis
) -> None:
    """A batch Redis refuses (the stream's key holds another type) records no fingerprint, so
    importing again once the key is fixed imports every record, at its event time."""
    research = ResearchEngine(db)
    ticks = [Tick("IMPUSDT", 100.0 + i, 1.0, 1_700_000_000.0 + i) for i in range(5)]
    redis_client.set("crypto_price:IMPUSDT", "not a stream")
    with pytest.raises(redis.ResponseError):
        research.collect_training_data(ticks)
    redis_client.delete("crypto_price:IMPUSDT")
    summary = research.collect_training_data(ticks)
    assert summary.imported == 5
    ids = [i for i, _ in redis_client.xrange("crypto_price:IMPUSDT")]  # type: ignore[union-attr]
    assert ids == [b"%d-0" % (1_700_000_000_000 + 1000 * i) for i in range(5)]
