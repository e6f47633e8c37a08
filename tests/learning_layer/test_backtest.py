"""Backtest: a planted effect beats always-HOLD after costs, a random walk does not; the
backtest serves what training scores; runs are stored and listed; bad input is refused."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np
import pytest

from data_feeds.cache.db_connector import DBConnector
from data_feeds.cli import main
from data_feeds.learning_layer import TrainingModule, fit_model
from data_feeds.learning_layer.backtest import Backtest, BacktestStore
from data_feeds.learning_layer.serving import serve_holdout
from data_feeds.records import Tick
from data_feeds.signals.positions import Ledger
from tests.learning_layer.history import SYMBOL, T0, planted_history


@pytest.fixture(autouse=True)
def _cli_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``data-feeds`` commands run in these tests talk to the test Redis."""
    monkeypatch.setenv("DATA_FEEDS_REDIS_URL", redis_url)


def random_walk(n: int, seed: int, symbol: str = "RWUSDT") -> list[Tick]:
    rng = random.Random(seed)
    price, out = 100.0, []
    for i in range(n):
        out.append(Tick(symbol, round(price, 6), 1.0, T0 + i))
        price *= math.exp(rng.gauss(0.0, 1e-3))
    return out


def test_a_planted_effect_beats_always_hold_after_costs(db: DBConnector) -> None:
    """Sentiment leads the next ten 1 s returns (P(up | s) = Phi(s)); 1 bps per unit of
    turnover; positions filled a tick after their signal.
    The model passes the gate, trades on a calibrated margin and earns more than the costs,
    with a block-bootstrap interval above 0; the forecast has skill beyond no-skill."""
    db.store_many(planted_history([(8000, 1.0)], seed=7, regime_s=10))
    result = Backtest(
        db, horizon_s=1.0, cost_bps=1.0, threshold="calibrated", serving="frozen",
        train="40%", test="20%",
    ).run()  # fmt: skip
    assert len(result.folds) == 3
    assert result.folds[0].status == "promoted"
    assert result.figures["model"]["trades"] > 100
    versus_hold = result.versus["always-hold"]
    assert versus_hold["low"] > 0.0, result.verdict
    assert result.verdict.startswith("beats always-hold after costs: yes, interval [")
    assert result.figures["model"]["net_bps"] > 0.0
    assert result.figures["model"]["cost_bps"] > 0.0  # costs were charged
    assert result.forecast["skill_low"] > 0.0
    assert result.forecast["accuracy"] > 0.6
    # the equity curve ends where the table's net figure is (summed over symbols)
    _, equity = result.bars["model"].equity()
    assert equity[-1] == pytest.approx(result.figures["model"]["net_bps"], rel=1e-9)
    # always-HOLD earns exactly nothing and the comparison with it is the model's own interval
    assert result.figures["always-hold"]["net_bps"] == 0.0
    assert versus_hold["mean"] == pytest.approx(result.figures["model"]["mean_bps"]["mean"])


def test_a_random_walk_gives_an_interval_around_zero(db: DBConnector) -> None:
    """Every fold's challenger served (no gate), trading at any margin, no costs: on a random
    walk its mean per bar is noise, the interval includes 0 and the verdict says no."""
    db.store_many(random_walk(8000, seed=11))
    result = Backtest(
        db, horizon_s=1.0, cost_bps=0.0, margin=0.0, gate=False, serving="frozen",
        train="40%", test="20%", book_costs=False,
    ).run()  # fmt: skip
    assert all(f.status == "promoted" for f in result.folds)
    assert result.figures["model"]["trades"] > 100
    v = result.versus["always-hold"]
    assert v["low"] < 0.0 < v["high"], result.verdict
    assert result.verdict.startswith("beats always-hold after costs: no, interval [")
    assert result.forecast["skill_low"] < 0.0 < result.forecast["skill_high"]


def test_the_gate_keeps_noise_out_of_service(db: DBConnector) -> None:
    """With the gate (the default) no challenger of a random walk is promoted: the service
    keeps its untrained v0, which holds (P(up) = 0.5), and earns exactly 0."""
    db.store_many(random_walk(6000, seed=5))
    result = Backtest(db, horizon_s=1.0, cost_bps=1.0, train="40%", test="20%").run()
    assert {f.status for f in result.folds} == {"kept"}
    assert {f.served for f in result.folds} == {"v0"}
    assert result.figures["model"]["trades"] == 0
    assert result.figures["model"]["net_bps"] == 0.0


def test_the_backtest_serves_what_training_scores(db: DBConnector) -> None:
    """Frozen, one symbol: the probability the backtest served at every labelled test tick of
    a fold equals ``serve_holdout`` of that fold's model on the dataset's rows of the test
    window, ``==`` on floats (the live feature code on both sides)."""
    db.store_many(planted_history([(5000, 1.0)], seed=3))
    bt = Backtest(
        db, horizon_s=1.0, margin=0.0, gate=False, serving="frozen", train="50%", test="25%"
    )
    result = bt.run()
    training = TrainingModule(db, horizon_s=1.0, serving="frozen")
    dataset = training.prepare_dataset(store=False)
    fold = result.folds[0]
    keep = [
        i
        for i, (t, lt) in enumerate(zip(dataset.timestamps, dataset.label_timestamps, strict=True))
        if fold.fold.train_start <= t < fold.fold.train_end and lt < fold.fold.train_end
    ]
    train = dataset.subset(0, 0, keep)
    model = fit_model(train, serving="frozen").model
    test_rows = [
        i
        for i, t in enumerate(dataset.timestamps)
        if fold.fold.test_start <= t < fold.fold.test_end
    ]
    expected = serve_holdout(model, dataset.subset(0, 0, test_rows), "frozen")
    ticks = result.ticks
    served = {
        ticks.times[i]: ticks.probabilities[i] for i in range(len(ticks)) if ticks.folds[i] == 0
    }
    got = [served[dataset.timestamps[i]] for i in test_rows]
    assert len(got) > 1000
    assert got == expected


def test_positions_file_recomputes_the_pnl(db: DBConnector, tmp_path: Path) -> None:
    """The CSV has every test tick; the ledger rule on it gives the run's PnL and net bps."""
    db.store_many(planted_history([(4000, 1.0)], seed=9))
    out = tmp_path / "positions.csv"
    code = main(["backtest", "--horizon-s", "1", "--cost-bps", "2", "--margin", "0", "--no-gate",
                 "--positions", str(out), "--json"])  # fmt: skip
    assert code == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:5] == ["timestamp", "symbol", "price", "position", "cost_bps"]
    assert {"fold", "action", "probability"} <= set(rows[0])
    store = BacktestStore(db.redis)
    run = store.get(store.runs()[0]["run_id"])
    assert run is not None
    assert len(rows) == run["test_ticks"]
    prices = np.array([float(r["price"]) for r in rows])
    positions = np.array([float(r["position"]) for r in rows])
    rates = np.array([float(r["cost_bps"]) for r in rows]) * 1e-4
    ledger = Ledger(prices, positions, rates)
    assert set(np.unique(positions)) <= {-1.0, 0.0, 1.0}
    assert ledger.pnl == pytest.approx(run["figures"]["model"]["pnl"], rel=1e-12)
    assert float(np.sum(ledger.net_bps)) == pytest.approx(
        run["figures"]["model"]["net_bps"], rel=1e-12
    )


def test_runs_are_stored_and_listed(db: DBConnector, capsys: pytest.CaptureFixture[str]) -> None:
    db.store_many(planted_history([(3000, 1.0)], seed=2))
    assert main(["backtest", "--horizon-s", "1"]) == 0
    assert main(["backtest", "--horizon-s", "1", "--train", "1000bars", "--test", "500bars"]) == 0
    capsys.readouterr()
    assert main(["backtest", "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[1].startswith("bt-2 ") and listing[2].startswith("bt-1 ")
    store = BacktestStore(db.redis)
    runs = store.runs()
    assert [r["run_id"] for r in runs] == ["bt-2", "bt-1"]
    assert runs[0]["folds"] >= 1 and runs[0]["verdict"].startswith("beats always-hold")
    newest = store.get("bt-2")
    assert newest is not None and newest["verdict"] == runs[0]["verdict"]
    assert newest["params"]["train"] == "1000bars" and newest["params"]["test"] == "500bars"
    assert newest["dataset_fingerprint"] and all(f["train_fingerprint"] for f in newest["folds"])
    assert newest["symbols"] == [SYMBOL]
    assert set(newest["figures"]) == {"model", "always-hold", "buy-and-hold", "momentum",
                                      "reversal"}  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--train", "5x"], "unknown unit"),
        (["--test", "10%", "--step", "5%"], "shorter than the test window"),
        (["--train", "200%"], "at most 100%"),
        (["--train", "100d"], "too short for one fold"),
        (["--report", "/no/such/dir/r.html"], "no directory /no/such/dir"),
        (["--positions", "/no/such/dir/p.csv"], "cannot write the positions"),
    ],
)
def test_bad_input_is_one_error_line(
    db: DBConnector, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    db.store_many(random_walk(500, seed=1))
    assert main(["backtest", "--horizon-s", "1", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("data-feeds backtest: error: ")
    assert message in err[0]


def test_every_test_tick_is_served_by_the_fold_champion_it_reports(db: DBConnector) -> None:
    """A fold whose test window has no tick (a hole in the history) still promotes its
    challenger: the next folds serve it (they served v0 while saying otherwise)."""
    records = planted_history([(6000, 1.0)], seed=12, regime_s=10)
    db.store_many([r for r in records if not 2000 <= r.timestamp - T0 < 2700])
    result = Backtest(
        db, horizon_s=1.0, cost_bps=0.0, serving="frozen", train="2000s", test="500s"
    ).run()
    empty = [f for f in result.folds if f.test_ticks == 0]
    assert empty and empty[0].status == "promoted"
    after = result.folds[empty[0].fold.index + 1]
    assert after.status == "kept" and after.served == empty[0].served  # the gate kept it
    t = result.ticks
    for fold in result.folds:
        served = {t.versions[i] for i in range(len(t)) if t.folds[i] == fold.fold.index}
        assert served in (set(), {fold.served}), (fold.fold.index, served, fold.served)


def test_too_few_bars_for_an_interval_is_undetermined(db: DBConnector) -> None:
    """30 ticks per horizon, blocks of 60 bars: 360 test bars are 6 blocks, fewer than the 10
    an interval needs; the verdict says so instead of yes or no."""
    db.store_many(random_walk(600, seed=3))
    result = Backtest(db, horizon_s=30.0, train="40%", test="20%", gate=False, margin=0.0).run()
    assert result.horizon_bars == 30
    assert "undetermined" in result.verdict and "blocks of 60" in result.verdict
    assert math.isnan(result.versus["always-hold"]["low"])
    assert math.isnan(result.figures["model"]["mean_bps"]["high"])


def test_positions_start_afresh_after_a_gap_between_test_windows(db: DBConnector) -> None:
    """step > test: each run of back-to-back windows starts flat and holds only its own
    signals, filled a tick later (with HOLD keep, nothing carries over the gap)."""
    db.store_many(planted_history([(6000, 1.0)], seed=8, regime_s=10))
    result = Backtest(
        db, horizon_s=1.0, serving="frozen", gate=False, margin=0.0, hold="keep",
        train="30%", test="10%", step="15%",
    ).run()  # fmt: skip
    t, pos = result.ticks, result.positions
    starts = [i for i in range(1, len(t)) if t.folds[i] != t.folds[i - 1]]
    assert starts
    for i in starts:
        assert pos[i] == 0.0  # flat: a position is taken a tick after its signal
        assert pos[i - 1] == 0.0  # closed at the end of the window before the gap
        expected = {"BUY": 1.0, "SELL": -1.0}.get(t.actions[i], 0.0)
        assert pos[i + 1] == expected  # its own first signal, not the last one before
