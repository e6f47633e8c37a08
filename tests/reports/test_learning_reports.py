"""``backtest --report`` and ``evaluate --report`` written through ``main`` and opened in real
headless Chromium: every image renders and the page is not blank."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson
import pytest
import redis
from matplotlib.image import imread

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cli import main
from data_feeds.records import BUY, HOLD, SELL, Signal, Tick
from tests.learning_layer.history import SYMBOL, T0, planted_history
from tests.reports import browser


@pytest.fixture(autouse=True)
def _cli_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_FEEDS_REDIS_URL", redis_url)


def opened(report: Path, tmp_path: Path, images: int) -> None:
    """The report opens in Chromium with ``images`` images, none broken, and a screenshot that
    is not a single flat colour."""
    if browser.chromium() is None:
        pytest.skip("no Chromium (Debian package: chromium)")
    shown, broken, shot = browser.render(report, tmp_path)
    assert (shown, broken) == (images, 0)
    pixels = imread(shot)
    assert pixels.size > 0 and float(np.std(pixels)) > 0.0


def test_backtest_report(
    db: DBConnector, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.store_many(planted_history([(4000, 1.0)], seed=3, regime_s=10))
    out = tmp_path / "backtest.html"
    argv = ["backtest", "--horizon-s", "1", "--cost-bps", "1", "--threshold", "calibrated",
            "--report", str(out)]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"report: {out.absolute()}" in err
    html = out.read_text()
    for heading in ("Verdict", "Equity and drawdown", "Probabilities", "Per symbol", "Folds",
                    "Model"):  # fmt: skip
        assert f">{heading}</h2>" in html
    assert "beats always-hold after costs:" in html
    # equity, drawdown, reliability, histogram, coefficients: all embedded, nothing fetched
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 5
    assert "http://" not in html and "https://" not in html
    opened(out, tmp_path, images=5)


def test_evaluate_report(db: DBConnector, redis_client: redis.Redis, tmp_path: Path) -> None:
    db.store_many([Tick(SYMBOL, 100.0 + (i % 7), 1.0, T0 + i) for i in range(200)])
    for i in range(190):
        action = (BUY, SELL, HOLD)[i % 3]
        s = Signal(SYMBOL, action, 0.3 + 0.4 * ((i * 37) % 10) / 10, "v1", f"{i}-0",
                   f"crypto_price:{SYMBOL}", T0 + i, 100.0 + (i % 7))  # fmt: skip
        redis_client.xadd(f"signals:{SYMBOL}", {"data": orjson.dumps(s.to_dict())})
    out = tmp_path / "evaluate.html"
    assert main(["evaluate", "--horizon-s", "3", "--cost-bps", "2", "--report", str(out)]) == 0
    html = out.read_text()
    assert "Scorecard" in html and f"symbol {SYMBOL}" in html
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 4
    opened(out, tmp_path, images=4)


def test_a_report_without_a_directory_is_refused_before_any_work(
    db: DBConnector, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--report", "/no/such/dir/e.html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the report" in err[0]
