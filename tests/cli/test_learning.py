"""The learning-layer commands from the command line, against the suite's Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from data_feeds.cli import main
from data_feeds.cli.app import build_parser
from data_feeds.cli.service import RUN_FLAGS, run_settings
from tests.learning_layer.history import planted_history
from tests.shared_data import shared_data_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_history_to_model_to_evaluation(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """import, analyze, train --promote, models, backfill and evaluate all work end to end."""
    monkeypatch.setenv("DATA_FEEDS_HORIZON_S", "1")
    path = shared_data_path("freqtrade", "XRP_ETH-1m.csv")
    code, out = run(capsys, "import", str(path), "--symbol", "XRPETH", "--redis-url", redis_url,
                    "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["imported"] > 2000
    code, out = run(capsys, "import", str(path), "--symbol", "XRPETH", "--redis-url", redis_url,
                    "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["imported"] == 0  # re-imports add nothing
    code, out = run(capsys, "analyze", "crypto_price:*", "--redis-url", redis_url, "--json")
    report = json.loads(out)
    assert code == 0 and report["feeds"][0]["symbol"] == "XRPETH"
    from data_feeds.cache.db_connector import DBConnector  # noqa: PLC0415

    with DBConnector(redis_url) as db:
        db.store_many(planted_history([(3000, 1.0)], seed=3))
    code, out = run(capsys, "train", "--symbols", "SENTUSDT", "--promote", "--redis-url",
                    redis_url, "--json")  # fmt: skip
    result = json.loads(out)
    assert code == 0 and result["status"] == "trained" and result["version"] == "v1"
    code, out = run(capsys, "models", "--redis-url", redis_url, "--json")
    assert json.loads(out)["champion"] == "v1"
    code, out = run(capsys, "backfill", "crypto_price:SENTUSDT", "--limit", "3", "--redis-url",
                    redis_url)  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 3 and lines[0]["symbol"] == "SENTUSDT"
    assert lines[0]["timestamp"] <= lines[1]["timestamp"] <= lines[2]["timestamp"]
    code, out = run(capsys, "evaluate", "--redis-url", redis_url, "--json")
    evaluation = json.loads(out)
    assert code == 0 and evaluation["signals"] == 0  # no service has run: nothing to score


def test_bad_input_is_a_clear_error(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file or an unknown model version exits 2 with one line, no traceback."""
    assert main(["import", "/nonexistent/file.csv", "--redis-url", redis_url]) == 2
    assert main(["models", "--promote", "v99", "--redis-url", redis_url]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "v99" in err


@pytest.mark.parametrize(
    ("flag", "value", "why"),
    [
        ("--horizon-s", "-5", "greater than 0"),
        ("--horizon-s", "nan", "finite"),
        ("--claim-idle-ms", "-1", "greater than 0"),
        ("--metrics-port", "70000", "port"),
        ("--model-params", "[1]", "JSON object"),
        ("--group", "a b", "without spaces"),
        ("--block-ms", "100000", "grace period"),
        ("--group", " ", "no value"),
        ("--serving", "learn", "online, frozen"),
    ],
)
def test_run_flags_are_checked_as_their_variables(
    flag: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad ``run`` flag exits 2 before anything starts, naming the flag, not the variable
    it stands in for; the same checks as the DATA_FEEDS_* variable."""
    assert main(["run", flag, value, "--redis-url", "redis://127.0.0.1:1/0"]) == 2
    err = capsys.readouterr().err
    assert flag in err and why in err and "DATA_FEEDS_" + RUN_FLAGS[flag][0] not in err
    assert "Traceback" not in err


def test_run_flags_stand_in_for_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag replaces its variable; the variables not given as flags still count."""
    monkeypatch.setenv("DATA_FEEDS_HORIZON_S", "30")
    monkeypatch.setenv("DATA_FEEDS_MARGIN", "0.1")
    monkeypatch.setenv("DATA_FEEDS_SERVING", "online")
    args = build_parser().parse_args(
        ["run", "--horizon-s", "5", "--streams", "crypto_*:*,x", "--serving", "frozen"]
    )
    settings = run_settings(args)
    assert settings.serving == "frozen"
    assert settings.horizon_s == 5.0
    assert settings.margin == 0.1
    assert settings.stream_patterns == ("crypto_*:*", "x")


def test_train_promote_goes_through_the_gate(
    redis_url: str, redis_client: redis.Redis, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """On noise, train --promote is refused by the gate (exit 0, "not promoted: ..."); --force
    promotes anyway, and the decision and the registry's record say it was forced."""
    monkeypatch.setenv("DATA_FEEDS_HORIZON_S", "1")
    from data_feeds.cache.db_connector import DBConnector  # noqa: PLC0415
    from data_feeds.learning_layer import ModelRegistry, RetrainingLoop, TrainingModule  # noqa: PLC0415

    with DBConnector(redis_url) as db:
        db.store_many(planted_history([(3000, 0.0)], seed=5))
    code, out = run(capsys, "train", "--promote", "--redis-url", redis_url)
    assert code == 0
    assert out.splitlines()[-1].startswith("not promoted: vs the no-skill baseline: ")
    code, out = run(capsys, "models", "--redis-url", redis_url, "--json")
    assert json.loads(out)["champion"] is None
    code, out = run(capsys, "train", "--promote", "--force", "--redis-url", redis_url, "--json")
    promotion = json.loads(out)["promotion"]
    assert code == 0 and promotion["outcome"] == "promoted" and promotion["challenger"] == "v2"
    assert promotion["forced"] is True and promotion["gate_passed"] is False
    assert promotion["reason"].startswith("forced; the gate said not promoted: ")
    assert promotion["block_length"] == 2 and promotion["skill_z"] < 2.0
    code, out = run(capsys, "models", "--redis-url", redis_url, "--json")
    assert json.loads(out)["champion"] == "v2"
    with DBConnector(redis_url) as db:
        event = ModelRegistry(db).history()[0]
        assert event["event"] == "promoted" and event["version"] == "v2"
        assert event["reason"].startswith("forced; the gate said not promoted: ")
        decisions = RetrainingLoop(TrainingModule(db), db).decisions()
        assert [d["forced"] for d in decisions] == [True, False]
    assert main(["train", "--force", "--redis-url", redis_url]) == 2  # --force needs --promote


def test_run_help_shows_the_serving_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """``run --help`` lists --serving with its modes and its variable."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--serving {online,frozen}" in out and "[DATA_FEEDS_SERVING, default online]" in out


@pytest.mark.parametrize("command", ["backfill", "analyze"])
def test_a_pattern_that_matches_nothing_says_so(
    redis_url: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Not an error (exit 0), but never silence: one note on stderr."""
    assert main([command, "nothing_here:*", "--redis-url", redis_url]) == 0
    assert "no input stream matches 'nothing_here:*'" in capsys.readouterr().err


def test_a_redis_url_whose_database_is_not_a_number_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["backfill", "x:*", "--redis-url", "redis://localhost/abc"]) == 2
    err = capsys.readouterr().err
    assert "database 'abc' is not a number" in err


def test_settings_that_fail_at_run_time_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data directory that cannot hold the bundled Redis, a metrics host that cannot be
    bound: one line naming the setting, exit 2."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.delenv("DATA_FEEDS_REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DATA_FEEDS_DATA_DIR", str(blocker / "data"))
    assert main(["backfill", "x:*"]) == 2
    assert f"DATA_FEEDS_DATA_DIR={blocker / 'data'}" in capsys.readouterr().err


def test_a_metrics_host_that_cannot_be_bound_is_named(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("DATA_FEEDS_DATA_DIR", str(tmp_path))
    argv = ["run", "--redis-url", redis_url, "--metrics-host", "10.255.255.1",
            "--metrics-port", "0"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("data-feeds run: error: cannot serve metrics on 10.255.255.1:0")
    assert "DATA_FEEDS_METRICS_HOST" in err
