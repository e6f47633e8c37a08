"""Signed blobs: how models and worker state are kept in Redis.

Unpickling a blob from a shared store is code execution, so every pickled blob carries an
HMAC-SHA256 over its bytes, and ``loads`` verifies it (constant-time) before ``pickle.loads``
ever sees the payload. An unsigned, truncated or tampered blob raises ``CheckpointRejected``.

The key comes from ``DATA_FEEDS_HMAC_KEY``; without it, a random key is created once in the
data directory (mode 0600) and reused, which suits one machine. Workers on several machines
must share ``DATA_FEEDS_HMAC_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import secrets
import zlib
from pathlib import Path
from typing import Any, Final

from data_feeds.errors import CheckpointRejected
from data_feeds.settings import Settings

MAGIC: Final = b"DFS1"
DIGEST_SIZE: Final = 32
KEY_FILE: Final = "hmac.key"


def hmac_key(settings: Settings) -> bytes:
    """The configured key, else the data directory's own key file (created on first use)."""
    if settings.hmac_key is not None:
        return settings.hmac_key
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # written in full under a private name, then linked into place: a process starting
        # at the same moment sees either no key file or a whole one, never a partial one
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: use theirs
            pass
        finally:
            tmp.unlink()
    key = path.read_bytes()
    if len(key) < 16:
        raise CheckpointRejected(f"the HMAC key file {path} is shorter than 16 bytes")
    return key


def dumps(obj: Any, key: bytes) -> bytes:
    """Pickle, compress and sign ``obj``."""
    return seal(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), key)


def seal(pickled: bytes, key: bytes) -> bytes:
    """Compress and sign an already pickled payload (the slow half of ``dumps``, which needs
    no access to the live objects and so can run in a thread)."""
    payload = zlib.compress(pickled, 1)
    mac = hmac.new(key, MAGIC + payload, hashlib.sha256).digest()
    return MAGIC + mac + payload


def loads(blob: bytes | bytearray | memoryview, key: bytes, *, what: str = "blob") -> Any:
    """Verify and unpickle a blob made by ``dumps``; ``CheckpointRejected`` if it does not verify.

    Nothing in the payload is unpickled (or even decompressed) before the signature checks out.
    """
    if not isinstance(blob, bytes | bytearray | memoryview) or len(blob) < len(MAGIC) + DIGEST_SIZE:
        raise CheckpointRejected(f"{what} refused: not a signed data-feeds blob")
    if blob[: len(MAGIC)] != MAGIC:
        raise CheckpointRejected(f"{what} refused: unsigned or unknown format")
    mac = blob[len(MAGIC) : len(MAGIC) + DIGEST_SIZE]
    payload = bytes(blob[len(MAGIC) + DIGEST_SIZE :])
    expected = hmac.new(key, MAGIC + payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise CheckpointRejected(
            f"{what} refused: signature does not verify (tampered, or signed with another key)"
        )
    return pickle.loads(zlib.decompress(payload))
