"""Signed blobs: verified before unpickling, tampering refused."""

from __future__ import annotations

import os
import pickle
import zlib
from pathlib import Path

import pytest

from data_feeds.cache import signed
from data_feeds.errors import CheckpointRejected
from data_feeds.settings import Settings

KEY = b"k" * 32


class WritesAFile:
    """Unpickling this object creates a file: what an attacker's blob would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "pwned"))  # type: ignore[return-value]


def test_round_trip() -> None:
    """What dumps signs, loads gives back equal."""
    obj = {"weights": [1.0, 2.5], "version": "v3"}
    assert signed.loads(signed.dumps(obj, KEY), KEY) == obj


def test_a_malicious_blob_is_refused_before_unpickling(tmp_path: Path) -> None:
    """A tampered blob whose pickle would write a file is refused and the file never appears."""
    target = tmp_path / "pwned.txt"
    good = signed.dumps({"ok": 1}, KEY)
    evil_payload = zlib.compress(pickle.dumps(WritesAFile(str(target))))
    tampered = good[: len(signed.MAGIC) + signed.DIGEST_SIZE] + evil_payload
    with pytest.raises(CheckpointRejected, match="signature does not verify"):
        signed.loads(tampered, KEY)
    unsigned = evil_payload
    with pytest.raises(CheckpointRejected):
        signed.loads(unsigned, KEY)
    assert not target.exists()


def test_another_key_is_refused() -> None:
    """A blob signed with a different key does not verify."""
    with pytest.raises(CheckpointRejected):
        signed.loads(signed.dumps([1], KEY), b"x" * 32)


@pytest.mark.parametrize("blob", [b"", b"DFS1", b"DFS1" + b"0" * 40, b"\x80\x04junk" * 10])
def test_garbage_is_refused(blob: bytes) -> None:
    """Short, unsigned or random bytes raise CheckpointRejected, nothing else."""
    with pytest.raises(CheckpointRejected):
        signed.loads(blob, KEY)


def test_key_file_is_created_once_with_private_mode(tmp_path: Path) -> None:
    """Without a configured key a 0600 key file is made in the data dir and then reused."""
    settings = Settings(data_dir=tmp_path / "d")
    key = signed.hmac_key(settings)
    path = tmp_path / "d" / signed.KEY_FILE
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert signed.hmac_key(settings) == key
    assert signed.hmac_key(Settings(data_dir=tmp_path / "d", hmac_key=b"z" * 16)) == b"z" * 16
