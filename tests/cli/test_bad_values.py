"""Every command refuses bad values with one error line and exit 2, never a traceback.

The commands are read from the parser, so a new command without bad-value cases here fails
``test_every_command_has_bad_value_cases``. No case reaches Redis: each is refused before
anything connects.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_feeds.cli import main
from data_feeds.cli.app import build_parser

BAD_URLS = ["http://localhost", "redis://", "unix://", "redis://host:99999"]

# command -> (arguments, a fragment the error line must contain)
CASES: dict[str, list[tuple[list[str], str]]] = {
    "run": [
        (["--model", "nosuch.Model"], "nosuch.Model"),
        (["--model-params", '{"nosuch":1}'], "nosuch"),
        (["--model-params", "{bad"], "--model-params"),
        (["--model", "tree.HoeffdingTreeClassifier", "--model-params", '{"grace":1}'], "grace"),
        (["--horizon-s", "-5"], "--horizon-s"),
        (["--horizon-s", "0"], "--horizon-s"),
        (["--horizon-s", "inf"], "--horizon-s"),
        (["--worker-count", "0"], "--worker-count"),
        (["--worker-index", "3", "--worker-count", "2"], "--worker-index"),
        (["--batch-size", "1e3"], "--batch-size"),
        (["--margin", "0.7"], "--margin"),
        (["--log-level", "loud"], "--log-level"),
        (["--streams", ","], "--streams"),
    ],
    "demo": [
        (["--duration", "-1"], "--duration"),
        (["--duration", "inf"], "--duration"),
        (["--rate", "0"], "--rate"),
        (["--faults", "1"], "--faults"),
        (["--faults", "nan"], "--faults"),
        (["--horizon-s", "0"], "--horizon-s"),
        (["--retrain-interval-s", "-1"], "--retrain-interval-s"),
        (["--metrics-port", "-1"], "--metrics-port"),
        (["--metrics-port", "65536"], "--metrics-port"),
        (["--symbols", "0"], "--symbols"),
        (["--seed", "-1"], "--seed"),
        (["--seed", "1.5"], "--seed"),
    ],
    "simulate": [
        (["--symbols", "0"], "--symbols"),
        (["--symbols", "10001"], "--symbols"),
        (["--rate", "-1"], "--rate"),
        (["--rate", "nan"], "--rate"),
        (["--duration", "-inf"], "--duration"),
        (["--count", "0"], "--count"),
        (["--faults", "2"], "--faults"),
        (["--faults", "-0.1"], "--faults"),
        (["--asset-classes", "bonds"], "bonds"),
        (["--asset-classes", ","], "--asset-classes"),
        (["--fault-types", "gremlins"], "gremlins"),
        (["--start", "yesterday"], "yesterday"),
        (["--start", "nan"], "--start"),
        (["--book-depth", "0"], "--book-depth"),
        (["--sentiment-lead", "-1"], "--sentiment-lead"),
        (["--maxlen", "0"], "--maxlen"),
        (["--seed", "-1"], "--seed"),
    ],
    "replay": [
        ([], "PATH"),
        (["x.csv", "--speed", "-1"], "--speed"),
        (["x.csv", "--speed", "inf"], "--speed"),
        (["x.csv", "--limit", "0"], "--limit"),
        (["x.csv", "--asset-class", "not one"], "--asset-class"),
        (["x.csv", "--symbol", ""], "--symbol"),
        (["x.csv", "--maxlen", "-3"], "--maxlen"),
        (["/nonexistent/trades.csv"], "cannot read"),
    ],
    "import": [
        ([], "source"),
        (["", "--symbol", "X"], "source"),
        (["x.csv", "--asset-class", "9lives"], "--asset-class"),
        (["x.csv", "--pattern", " "], "--pattern"),
        (["x.csv", "--symbol", "A B"], "--symbol"),
    ],
    "analyze": [
        (["--gaps", "-1"], "--gaps"),
        (["--gaps", "many"], "--gaps"),
        (["--start", "yesterday"], "--start"),
        (["--end", "nan"], "--end"),
        (["bad pattern"], "pattern"),
    ],
    "train": [
        (["--horizon-s", "0"], "--horizon-s"),
        (["--horizon-s", "-5"], "--horizon-s"),
        (["--model", "nosuch.Model"], "nosuch.Model"),
        (["--model", "preprocessing.StandardScaler"], "not a river classifier"),
        (["--symbols", ","], "--symbols"),
        (["--end", "tomorrow"], "--end"),
    ],
    "retrain": [
        (["--bogus"], "unrecognized arguments"),
    ],
    "evaluate": [
        (["--horizon-s", "-5"], "--horizon-s"),
        (["--horizon-s", "0"], "--horizon-s"),
        (["--horizon-s", "nan"], "--horizon-s"),
        (["--cost-bps", "-1"], "--cost-bps"),
        (["--cost-bps", "inf"], "--cost-bps"),
        (["--start", "soon"], "--start"),
        (["--hold", "sometimes"], "--hold"),
    ],
    "backtest": [
        (["--horizon-s", "0"], "--horizon-s"),
        (["--cost-bps", "-1"], "--cost-bps"),
        (["--slippage-bps", "nan"], "--slippage-bps"),
        (["--margin", "0.7"], "--margin"),
        (["--serving", "lazy"], "--serving"),
        (["--threshold", "magic"], "--threshold"),
        (["--hold", "sometimes"], "--hold"),
        (["--momentum-bars", "0"], "--momentum-bars"),
        (["--model", "nosuch.Model"], "nosuch.Model"),
        (["--symbols", ","], "--symbols"),
        (["--start", "soon"], "--start"),
        (["--report", ""], "--report"),
    ],
    "backfill": [
        ([], "pattern"),
        (["crypto_price:*", "--limit", "-1"], "--limit"),
        (["crypto_price:*", "--limit", "2.5"], "--limit"),
        (["crypto_price:*", "--start", "x"], "--start"),
    ],
    "signals": [
        (["--count", "-1"], "--count"),
        (["--count", "x"], "--count"),
        (["a b"], "symbol"),
    ],
    "models": [
        (["--promote", ""], "--promote"),
        (["--promote", "v1", "--rollback"], "not allowed with"),
    ],
}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name."""
    (sub,) = (a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def takes(command: str, flag: str) -> bool:
    return any(flag in a.option_strings for a in subcommands()[command]._actions)


def all_cases() -> list[tuple[str, list[str], str]]:
    cases = [(cmd, argv, why) for cmd, items in CASES.items() for argv, why in items]
    for cmd in subcommands():  # a bad URL for every command that takes one
        if takes(cmd, "--redis-url"):
            prefix = {"replay": ["x.csv"], "import": ["x.csv"], "backfill": ["x:*"]}.get(cmd, [])
            cases += [(cmd, [*prefix, "--redis-url", url], "--redis-url") for url in BAD_URLS]
    return cases


@pytest.fixture(autouse=True)
def _no_configured_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing may connect: no configured Redis, and a bundled one would start under tmp."""
    for name in ("REDIS_URL", "DATA_FEEDS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_FEEDS_DATA_DIR", str(tmp_path))


def test_every_command_has_bad_value_cases() -> None:
    """A command added to the parser needs its bad-value cases here."""
    assert set(subcommands()) == set(CASES)
    assert all(CASES.values())


@pytest.mark.parametrize(
    ("command", "argv", "why"), all_cases(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_a_bad_value_is_one_error_line_and_exit_2(
    command: str, argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and exactly one line on stderr: ``data-feeds <cmd>: error: ...`` saying why."""
    code = main([command, *argv])
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"data-feeds {command}: error: "), err
    assert why in lines[0]
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["--redis-url", "redis://localhost"],
    ],
)
def test_bad_usage_of_the_program_itself(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """No or an unknown command, or an option before the command: one line and exit 2."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("data-feeds: error: ")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the installed distribution's version and exits 0."""
    from importlib.metadata import version  # noqa: PLC0415

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"data-feeds {version('data-feeds')}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--model", "nosuch.Model"],
        ["run", "--model-params", '{"nosuch":1}'],
        ["evaluate", "--horizon-s", "-5"],
        ["evaluate", "--horizon-s", "0"],
        ["evaluate", "--horizon-s", "nan"],
        ["evaluate", "--cost-bps", "-1"],
        ["backfill", "crypto_price:*", "--limit", "-1"],
    ],
    ids=" ".join,
)
def test_no_traceback_escapes_a_fresh_process(argv: list[str], tmp_path: Path) -> None:
    """``python -m data_feeds`` with the bad values that once ended in a traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_FEEDS_REDIS_URL")}
    env["DATA_FEEDS_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "data_feeds", *argv],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"data-feeds {argv[0]}: error: ")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stdout + done.stderr
