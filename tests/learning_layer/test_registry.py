"""ModelRegistry: versions, signed blobs refused when tampered, champion, promote and rollback."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any

import pytest
import redis

from data_feeds.cache import signed
from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import model_blob_key
from data_feeds.errors import CheckpointRejected
from data_feeds.learning_layer import ModelRegistry
from data_feeds.signals.generator import build_model

KEY = b"k" * 32


class _WritesAFile:
    """Unpickling this writes a file: what an attacker's blob would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.target, "pwned"))


def evil_payload(target: Path) -> bytes:
    return pickle.dumps(_WritesAFile(target))


def test_versions_are_numbered_and_carry_their_metadata(db: DBConnector) -> None:
    """Each registration gets the next vN with name, parent, dataset fingerprint and metrics."""
    registry = ModelRegistry(db, KEY)
    v1 = registry.register(build_model(), dataset_fingerprint="ab" * 32, metrics={"acc": 0.6})
    registry.promote(v1.version)
    v2 = registry.register(build_model(), model_name="default")
    assert (v1.version, v2.version) == ("v1", "v2")
    assert v2.parent == "v1"  # the champion when it was registered
    stored = registry.get("v1")
    assert stored is not None
    assert stored.dataset_fingerprint == "ab" * 32
    assert stored.metrics == {"acc": 0.6}
    assert [v.version for v in registry.versions()] == ["v1", "v2"]
    assert registry.get("v9") is None


def test_promote_rollback_and_history(db: DBConnector) -> None:
    """Promotions stack previous champions; rollback returns to the previous one; all recorded."""
    registry = ModelRegistry(db, KEY)
    assert registry.champion() is None
    versions = [registry.register({"model": i}).version for i in range(3)]
    registry.promote(versions[0], reason="first")
    registry.promote(versions[1])
    registry.promote(versions[2])
    champion = registry.champion()
    assert champion == ("v3", {"model": 2})
    assert registry.previous_champions() == ["v1", "v2"]

    assert registry.rollback(reason="bad live accuracy") == "v2"
    assert registry.champion() == ("v2", {"model": 1})
    assert registry.rollback() == "v1"
    with pytest.raises(LookupError):
        registry.rollback()
    assert registry.champion_version() == "v1"

    events = [(e["event"], e["version"]) for e in reversed(registry.history())]
    assert events == [
        ("registered", "v1"),
        ("registered", "v2"),
        ("registered", "v3"),
        ("promoted", "v1"),
        ("promoted", "v2"),
        ("promoted", "v3"),
        ("rolled_back", "v2"),
        ("rolled_back", "v1"),
    ]
    rolled = registry.history(limit=1)[0]
    assert rolled["previous"] == "v2"
    with pytest.raises(LookupError):
        registry.promote("v42")


def test_promoting_the_champion_again_changes_nothing(db: DBConnector) -> None:
    """A repeated promotion neither stacks the champion on itself nor records an event."""
    registry = ModelRegistry(db, KEY)
    v = registry.register({"m": 1}).version
    registry.promote(v)
    registry.promote(v)
    assert registry.previous_champions() == []
    assert [e["event"] for e in registry.history()] == ["promoted", "registered"]


def test_old_blobs_are_pruned_but_never_the_champion_or_rollback_targets(
    db: DBConnector,
) -> None:
    """Beyond keep_blobs versions, blobs go, except the champion's and the stacked ones."""
    registry = ModelRegistry(db, KEY, keep_blobs=2)
    v1 = registry.register({"m": 1}).version
    registry.promote(v1)
    v2 = registry.register({"m": 2}).version
    registry.promote(v2)
    for i in range(3, 6):
        registry.register({"m": i})
    assert registry.has_blob("v1") and registry.has_blob("v2")  # rollback target, champion
    assert not registry.has_blob("v3")
    assert registry.has_blob("v4") and registry.has_blob("v5")
    with pytest.raises(LookupError, match="pruned"):
        registry.load("v3")
    assert registry.get("v3") is not None  # metadata is kept


def test_the_key_defaults_to_the_data_directory_key(db: DBConnector) -> None:
    """Without a key, a registry on a DBConnector signs with cache.signed.hmac_key(settings)."""
    registry = ModelRegistry(db)
    v = registry.register({"m": 1}).version
    blob = db.redis.get(model_blob_key(v))
    assert isinstance(blob, bytes)
    assert signed.loads(blob, signed.hmac_key(db.settings)) == {"m": 1}
    with pytest.raises(ValueError, match="HMAC key"):
        ModelRegistry(db.redis)


def test_the_evil_payload_really_writes_a_file(tmp_path: Path) -> None:
    """Control: unpickled as it is, the payload used below does write its file."""
    target = tmp_path / "control.txt"
    pickle.loads(evil_payload(target))
    assert target.read_text() == "pwned"


@pytest.mark.parametrize("forgery", ["bad_mac", "attacker_key", "unsigned"])
def test_a_tampered_blob_is_refused_and_never_unpickled(
    db: DBConnector, redis_client: redis.Redis, tmp_path: Path, forgery: str
) -> None:
    """A blob replaced by one whose pickle writes a file is refused; the file is never written."""
    registry = ModelRegistry(db, KEY)
    version = registry.register(build_model()).version
    registry.promote(version)
    target = tmp_path / "owned.txt"
    payload = zlib.compress(evil_payload(target))
    if forgery == "bad_mac":
        blob = signed.MAGIC + b"\x00" * signed.DIGEST_SIZE + payload
    elif forgery == "attacker_key":
        blob = signed.dumps(_WritesAFile(target), b"attacker-key-0123456789")
    else:
        blob = evil_payload(target)
    redis_client.set(model_blob_key(version), blob)
    with pytest.raises(CheckpointRejected):
        registry.load(version)
    with pytest.raises(CheckpointRejected):
        registry.champion()
    assert not target.exists()
