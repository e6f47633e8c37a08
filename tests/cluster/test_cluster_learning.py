"""The learning layer and the connectors on a Redis Cluster: the seed script verbatim with
``DATA_FEEDS_REDIS_URL`` naming a node, history stored and read back over every primary, and
the registry's, training's and backtest's transactions (each namespace in one hash slot)."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

from data_feeds.cache import keys
from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer import ResearchEngine, RetrainingLoop, TrainingModule
from data_feeds.learning_layer.registry import ModelRegistry
from data_feeds.settings import Settings
from data_feeds.signals.generator import build_model

from ..learning_layer.history import SYMBOL, planted_history
from ..learning_layer.test_seed_script import SEED_SCRIPT
from .conftest import cluster_client


def test_seed_script_runs_verbatim_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["DATA_FEEDS_REDIS_URL"] = cluster_url
    env["DATA_FEEDS_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", SEED_SCRIPT],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "too little data: 0 rows" in done.stdout + done.stderr
    client = cluster_client(cluster_url)
    try:  # it really wrote to the cluster, and no bundled server was started
        assert client.xlen(keys.stream_key("crypto", "price", "BTCUSDT")) == 1
    finally:
        client.close()
    assert not (tmp_path / "data" / "redis").exists()


def test_history_over_every_primary(cluster_url: str, tmp_path: Path) -> None:
    """store_many spreads 40 symbols over the three primaries (one script call per slot) and
    backfill reads them all back, with the ids store_many returned, in order."""
    settings = Settings(redis_url=cluster_url, data_dir=tmp_path / "data")
    with DBConnector(settings=settings) as db:
        assert db.cluster
        records = [
            {"symbol": f"S{i % 40:02d}USDT", "price": 100.0 + i, "volume": 1.0,
             "timestamp": 1_700_000_000.0 + i}
            for i in range(400)
        ]  # fmt: skip
        ids = db.store_many(records)
        assert len(ids) == 400 and all(ids)
        entries = db.backfill_entries("crypto_price:*")
        assert len(entries) == 400
        by_id = {(e.stream, e.entry_id): e.record.price for e in entries}
        for record, entry_id in zip(records, ids, strict=True):
            stream = keys.stream_key("crypto", "price", str(record["symbol"]))
            assert by_id[(stream, entry_id)] == record["price"]
        assert [r.timestamp for r in db.backfill("crypto_price:*")] == sorted(
            float(r["timestamp"]) for r in records
        )
        slots = {keys.hash_slot(e.stream) for e in entries}
        owners = {db.redis.nodes_manager.get_node_from_slot(s).name for s in slots}  # type: ignore[attr-defined]
        assert len(owners) == 3


def test_registry_training_and_import_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    """A model registered, promoted and rolled back; a dataset stored; a file imported twice
    (the second time adds nothing): each a transaction or script within one slot."""
    settings = Settings(redis_url=cluster_url, data_dir=tmp_path / "data")
    with DBConnector(settings=settings) as db:
        registry = ModelRegistry(db)  # the key the training module signs with
        v1 = registry.register(build_model(), model_name="m").version
        v2 = registry.register(build_model(), model_name="m").version
        registry.promote(v1)
        registry.promote(v2)
        assert registry.champion_version() == v2
        assert registry.rollback() == v1 and registry.champion_version() == v1
        csv = tmp_path / "ticks.csv"
        rng = random.Random(3)
        prices = list(itertools.accumulate(rng.gauss(0.0, 0.5) for _ in range(2000)))
        prices = [2000.0 + p for p in prices]
        rows = [f"ETHUSDT,{p},1.0,{1_700_000_000 + 5 * i}" for i, p in enumerate(prices)]
        csv.write_text("symbol,price,volume,timestamp\n" + "\n".join(rows) + "\n")
        research = ResearchEngine(db)
        first = research.collect_training_data(str(csv))
        again = research.collect_training_data(str(csv))
        assert first.imported == 2000 and again.imported == 0
        db.store_many(planted_history([(300, 1.0)], seed=5))
        training = TrainingModule(db, horizon_s=1.0, min_rows=10)
        dataset = training.prepare_dataset(symbols=[SYMBOL])
        assert len(dataset.y) > 100
        assert db.redis.zcard(keys.TRAINING_DATASETS) == 1
        assert db.redis.exists(keys.dataset_rows_key(dataset.fingerprint))
        decision = RetrainingLoop(training, db).run_retraining()  # decides and records
        assert db.redis.lrange(keys.TRAINING_DECISIONS, 0, -1)
        assert decision.outcome


def test_backtest_on_a_cluster(cluster_url: str, tmp_path: Path) -> None:
    """A walk-forward backtest over history on every primary; its run stored and listed."""
    settings = Settings(redis_url=cluster_url, data_dir=tmp_path / "data")
    with DBConnector(settings=settings) as db:
        db.store_many(planted_history([(3000, 1.0)], seed=1))
    env = {**os.environ, "DATA_FEEDS_REDIS_URL": cluster_url, "DATA_FEEDS_DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "data_feeds", "backtest", "--horizon-s", "1", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    listed = subprocess.run(
        [sys.executable, "-m", "data_feeds", "backtest", "--list", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "bt-1" in listed.stdout
