"""``data-feeds analyze --report``: a real history in the suite's Redis (a hole and a spike in
the ticks, trades, sentiment), the report written through ``main``, opened in real Chromium."""

from __future__ import annotations

import json
import math
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cli import main
from data_feeds.learning_layer.research import PriceSeries, ResearchEngine
from data_feeds.records import Record, Sentiment, Tick, Trade
from tests.reports import browser

T0 = 1_700_000_000.0
SYMBOL = "REPUSDT"
HOLE = (T0 + 299, T0 + 420)
"""The silence in the ticks: none between these two."""
SPIKE_AT = T0 + 500.5


def history(seed: int = 7) -> list[Record]:
    """600 s of 1 s ticks (a 121 s hole, one spike at +60 %), a trade every 3 s, sentiment."""
    rng = random.Random(seed)
    out: list[Record] = []
    price = 100.0
    for i in range(720):
        t = T0 + i
        if not HOLE[0] < t < HOLE[1]:  # the price rests in the hole: no jump when it ends
            price *= math.exp(rng.gauss(0.0, 0.0005))
            out.append(Tick(SYMBOL, round(price, 6), 1.0, t))
        if i % 3 == 0:
            side = rng.choice(("buy", "sell"))
            out.append(Trade(SYMBOL, round(price * 1.0001, 6), 0.5, side, t + 0.25))
        if i % 30 == 0:
            out.append(Sentiment("REP", round(rng.uniform(-1, 1), 3), t + 0.1, "test"))
        if i == 500:
            out.append(Tick(SYMBOL, round(price * 1.6, 6), 1.0, SPIKE_AT))
    return out


def test_the_analysis_collects_prices_and_quarantined_spikes(db: DBConnector) -> None:
    db.store_many(history())
    series: dict[str, PriceSeries] = {}
    report = ResearchEngine(db).analyze_feed_behavior(store=False, series=series)
    ticks = series[f"crypto_price:{SYMBOL}"]
    feed = report.feed(f"crypto_price:{SYMBOL}")
    assert feed.spike_count == 1 and len(ticks.spikes) == 1
    assert ticks.spikes[0][0] == SPIKE_AT and ticks.spikes[0][1] > 150.0
    assert [(g.start, g.end) for g in feed.gaps] == [HOLE]
    assert len(ticks.times) == len(ticks.prices) == feed.accepted == feed.messages - 1
    assert SPIKE_AT not in ticks.times and ticks.times == sorted(ticks.times)
    trades = series[f"crypto_trade:{SYMBOL}"]
    assert len(trades.prices) == 240 and not trades.spikes
    assert series["sentiment:REP"] == PriceSeries()
    # Without ``series`` nothing is collected and the report is the same.
    again = ResearchEngine(db).analyze_feed_behavior(store=False)
    assert again.feed(f"crypto_price:{SYMBOL}").to_dict() == feed.to_dict()


def test_analyze_writes_a_report_that_renders_in_chromium(
    db: DBConnector, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.store_many(history())
    path = tmp_path / "analysis.html"
    assert main(["analyze", "--report", str(path), "--redis-url", redis_url, "--json"]) == 0
    out, err = capsys.readouterr()
    assert {f["stream"] for f in json.loads(out)["feeds"]} == {
        f"crypto_price:{SYMBOL}", f"crypto_trade:{SYMBOL}", "sentiment:REP",
    }  # fmt: skip  # the normal output is still printed
    assert f"report: {path}\n" in err
    text = path.read_text(encoding="utf-8")
    images = re.findall(r'<img src="data:image/png;base64,', text)
    assert len(images) == 2  # ticks and trades; sentiment has no price
    assert "1 quarantined spikes marked" in text and "1 gaps shaded" in text
    assert "2023-11-14T22:18:19Z" in text  # the hole's start in the gap table
    assert not re.search(r"https?:|<script|<link", text)

    if browser.chromium() is None:
        pytest.skip("no Chromium to open the report in (apt-get install chromium)")
    shown, broken, screenshot = browser.render(path, tmp_path)
    assert (shown, broken) == (2, 0)
    pixels = imread(screenshot)
    assert screenshot.stat().st_size > 0 and pixels.ndim == 3
    assert float(np.std(pixels)) > 0.0  # not one flat colour


def test_the_probe_sees_broken_images(tmp_path: Path) -> None:
    """The browser check is not vacuous: an undecodable and a missing image count as broken."""
    if browser.chromium() is None:
        pytest.skip("no Chromium (apt-get install chromium)")
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><img src="data:image/png;base64,AAAA" alt="x">'
        '<img src="missing.png" alt="y"></body></html>'
    )
    shown, broken, _ = browser.render(page, tmp_path)
    assert (shown, broken) == (2, 2)


def test_a_pattern_matching_nothing_writes_an_empty_report(
    redis_url: str, redis_client: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.html"
    assert main(["analyze", "crypto_price:NOTHING", "--report", str(path),
                 "--redis-url", redis_url]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert out.startswith("symbol") and f"report: {path}" in err
    text = path.read_text(encoding="utf-8")
    assert "No input stream matches" in text and "<img" not in text


def test_report_errors_exit_2_before_the_analysis(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A missing directory, or no matplotlib: one error line, exit 2, nothing printed."""
    missing = tmp_path / "nowhere" / "r.html"
    assert main(["analyze", "--report", str(missing), "--redis-url", redis_url]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"analyze: error: cannot write the report {missing}" in err

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    path = tmp_path / "r.html"
    assert main(["analyze", "--report", str(path), "--redis-url", redis_url]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not path.exists()
    assert err.strip() == (
        "data-feeds analyze: error: --report needs matplotlib: pip install 'data-feeds[report]'"
    )
