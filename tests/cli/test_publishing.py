"""The simulate and replay commands, end to end against the suite's Redis."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import redis

from data_feeds.cache.keys import SIM_FAULTS
from data_feeds.cli import main
from data_feeds.cli.output import ProgressLine
from data_feeds.simulation.publisher import PublishProgress
from tests.shared_data import shared_data_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_publishes_what_it_reports(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """A short paced run exits 0 and every message it counts is in its stream."""
    code, out, err = run(
        capsys,
        "simulate", "--redis-url", redis_url, "--symbols", "5", "--asset-classes",
        "crypto,equity,fx", "--rate", "1500", "--duration", "1", "--faults", "0.05",
        "--seed", "7", "--sentiment", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = orjson.loads(out)
    assert 1000 < summary["published"] < 2200
    assert 0.8 < summary["elapsed_s"] < 2.5
    assert summary["seed"] == 7 and summary["fault_manifest_key"] == SIM_FAULTS
    assert set(summary["by_kind"]) >= {"price", "trade", "book"}
    for stream, n in summary["per_stream"].items():
        assert redis_client.xlen(stream) == n
    assert sum(summary["per_stream"].values()) == summary["published"]
    assert redis_client.xlen(SIM_FAULTS) == summary["faults_total"] > 0
    assert "Traceback" not in err


def test_simulate_unpaced_count_is_exact(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """--rate 0 --count N publishes exactly N messages, as fast as it can, and says so."""
    code, out, err = run(
        capsys, "simulate", "--redis-url", redis_url, "--rate", "0", "--count", "20000",
        "--duration", "0", "--no-books", "--seed", "1",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("published 20,000 messages to 20 streams")
    assert "seed 1" in out
    streams = [k.decode() for k in redis_client.scan_iter(match="crypto_*")]
    assert sum(redis_client.xlen(s) for s in streams) == 20_000
    assert not any(s.startswith("crypto_book:") for s in streams)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--symbols", "0"], "argument --symbols: 0 is below 1"),
        (["simulate", "--rate", "fast"], "argument --rate: 'fast' is not a number"),
        (["simulate", "--asset-classes", "crypto,bonds"], "unknown 'bonds'"),
        (["simulate", "--faults", "2"], "argument --faults: 2 is above 1"),
        (["simulate", "--fault-types", "gremlins"], "unknown 'gremlins'"),
        (["simulate", "--redis-url", "http://localhost"], "--redis-url: scheme 'http'"),
        (["simulate", "--start", "yesterday"], "not epoch seconds or an ISO-8601 time"),
        (["replay"], "the following arguments are required: PATH"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad usage exits 2 with one clear error line and no traceback."""
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_unreachable_redis_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Redis that does not answer is a run-time failure (exit 1), said in one line."""
    url = f"unix://{tmp_path / 'nobody.sock'}"
    code, _, err = run(capsys, "simulate", "--redis-url", url, "--duration", "1")
    assert code == 1
    assert err.startswith("data-feeds simulate: error: cannot reach Redis at unix://")
    assert "Traceback" not in err


def test_replay_publishes_a_recorded_file(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """replay PATH puts every record of the file in its stream."""
    path = shared_data_path("nautilus_trader", "binance", "btcusdt-trades.csv")
    code, out, err = run(capsys, "replay", str(path), "--redis-url", redis_url, "--json")
    assert code == 0, err
    summary = orjson.loads(out)
    assert summary["layout"] == "nautilus_trades_csv"
    assert summary["per_stream"] == {"crypto_trade:BTCUSDT": 2001}
    assert redis_client.xlen("crypto_trade:BTCUSDT") == 2001
    first = orjson.loads(redis_client.xrange("crypto_trade:BTCUSDT", count=1)[0][1][b"data"])  # type: ignore[index]
    assert first["side"] == "sell" and first["trade_id"] == "553287559"


def test_replay_at_recorded_speed(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    """--speed paces by the file's timestamps (10 klines one minute apart at 600x: ~0.9 s)."""
    path = shared_data_path("nautilus_trader", "ADABTC-1m-2021-11-27.csv")
    code, out, err = run(
        capsys, "replay", str(path), "--speed", "600", "--symbol", "ada-btc",
        "--redis-url", redis_url, "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = orjson.loads(out)
    assert summary["per_stream"] == {"crypto_price:ADABTC": 10}
    assert 0.8 < summary["elapsed_s"] < 2.0


def test_replay_of_unusable_files_exits_2(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing or unknown file exits 2 before anything is published."""
    code, _, err = run(capsys, "replay", str(tmp_path / "nope.csv"), "--redis-url", redis_url)
    assert code == 2 and "cannot read" in err and "No such file" in err
    junk = tmp_path / "junk.csv"
    junk.write_text("hello,world\n")
    code, _, err = run(capsys, "replay", str(junk), "--redis-url", redis_url)
    assert code == 2 and "not a layout this reader knows" in err
    bad = tmp_path / "BTC_USDT-1m.csv"
    bad.write_text("date,open,high,low,close,volume\n2024-01-01,1,1,1,x,1\n")
    code, _, err = run(capsys, "replay", str(bad), "--redis-url", redis_url)
    assert code == 2 and "BTC_USDT-1m.csv:2: not a number" in err
    assert "Traceback" not in err


def test_python_dash_m_runs_the_cli(redis_url: str, redis_client: redis.Redis) -> None:
    """python -m data_feeds simulate works in a fresh process; a bad argument exits 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_FEEDS_REDIS_URL")}
    argv = [sys.executable, "-m", "data_feeds", "simulate", "--redis-url", redis_url]
    done = subprocess.run(
        [*argv, "--symbols", "2", "--rate", "400", "--duration", "0.5"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("published ")
    bad = subprocess.run(
        [*argv, "--symbols", "-3"], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--symbols: -3 is below 1" in bad.stderr and "Traceback" not in bad.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal_and_in_a_log() -> None:
    """On a terminal the line is rewritten in place; in a log a line is added every few seconds."""
    tty = _Terminal()
    line = ProgressLine("simulate", stream=tty)
    line(PublishProgress(1000, 1.0, 3))
    line(PublishProgress(2000, 2.0, 5))
    line.close()
    text = tty.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "simulate: 2,000 messages in 2.0 s (1,000/s), 5 faults" in text
    log = io.StringIO()
    line = ProgressLine("simulate", stream=log, every_s=3600.0)
    line(PublishProgress(1000, 1.0, 0))
    assert log.getvalue() == ""
    line = ProgressLine("simulate", stream=log, every_s=0.0)
    line(PublishProgress(1000, 1.0, 0))
    assert log.getvalue().count("\n") == 1 and "\r" not in log.getvalue()
