"""The seed's example training script runs verbatim against the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from data_feeds.cache.embedded import EmbeddedRedis

SEED_SCRIPT = """\
from data_feeds.cache.db_connector import DBConnector
from data_feeds.learning_layer import ResearchEngine, TrainingModule, RetrainingLoop

db = DBConnector()
research = ResearchEngine(db)
training = TrainingModule(db)
retraining = RetrainingLoop(training, db)

# Simulate data
db.store({"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0, "timestamp": 1234567890.0})

# Analyze and train
analysis = research.analyze_feed_behavior()
dataset = training.prepare_dataset()
training.train_model(dataset)
"""


def test_seed_script_runs_verbatim_without_a_redis_url(short_tmp: Path) -> None:
    """The seed script, with no Redis configured, starts the bundled server and exits 0."""
    data_dir = short_tmp / "seed"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_FEEDS_REDIS_URL")}
    env["DATA_FEEDS_DATA_DIR"] = str(data_dir)
    try:
        done = subprocess.run(
            [sys.executable, "-c", SEED_SCRIPT],
            env=env,
            cwd=short_tmp,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        EmbeddedRedis(data_dir / "redis").stop()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # It really ran against the bundled server: its files are in the data directory.
    assert (data_dir / "redis" / "appendonly.aof").exists()
    assert "too little data: 0 rows" in done.stdout + done.stderr
