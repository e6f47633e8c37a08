"""ModelRegistry: numbered model versions in Redis, signed blobs, a champion with a rollback trail.

Every version is ``v1``, ``v2``... (one ``INCR``, so numbers are unique across processes) with its
metadata (model name, parent version, dataset fingerprint, metrics, the serving mode it was
validated for, creation time) and its model
pickled and signed by ``cache.signed.dumps``. ``load`` verifies the signature before anything is
unpickled: a blob that was tampered with, or signed with another key, raises
``CheckpointRejected`` and is never unpickled (unpickling a blob from a shared store is code
execution).

The champion is the version the service serves. ``promote(v)`` makes ``v`` the champion and
pushes the previous one on a stack; ``rollback()`` pops it back. Both are atomic (WATCH/MULTI)
and both append to the history list, as does ``register``.

Keys (``cache.keys.MODELS_*`` and ``model_meta_key`` / ``model_blob_key``)::

    {models}:version_seq       INCR counter behind the version numbers
    {models}:versions          ZSET version -> number
    {models}:meta:<version>    JSON metadata
    {models}:blob:<version>    signed model blob (pruned beyond ``keep_blobs`` versions, never
                               the champion's or a rollback target's)
    {models}:champion          the champion's version
    {models}:champion_stack    LIST of previous champions, newest last (rollback targets)
    {models}:history           LIST of JSON events, newest first (registered/promoted/rolled_back)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis
import structlog

from data_feeds.cache import signed
from data_feeds.cache.db_connector import DBConnector
from data_feeds.cache.keys import (
    MODELS_CHAMPION,
    MODELS_CHAMPION_STACK,
    MODELS_HISTORY,
    MODELS_VERSION_SEQ,
    MODELS_VERSIONS,
    model_blob_key,
    model_meta_key,
)
from data_feeds.learning_layer._common import dumps, queue_capped, read_list
from data_feeds.settings import Settings
from data_feeds.signals.serving import check_serving

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """What the registry knows about one version (the model itself is loaded separately)."""

    version: str
    number: int
    model_name: str
    created_at: float
    parent: str | None = None
    """The champion when this version was registered (the model it was trained to replace)."""
    dataset_fingerprint: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    serving: str | None = None
    """The serving mode (``signals.serving``) the version was validated for and must be served
    in; ``None`` for a version registered without one (served in the configured mode)."""
    threshold: Mapping[str, Any] | None = None
    """The BUY/SELL threshold chosen for it (``signals.threshold.Threshold.to_dict``: policy,
    margin, the cost it was calibrated for); ``None``: served with the configured margin."""

    @property
    def margin(self) -> float | None:
        """The margin the version is served with, ``None`` for the configured one."""
        value = None if self.threshold is None else self.threshold.get("margin")
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "number": self.number,
            "model_name": self.model_name,
            "created_at": self.created_at,
            "parent": self.parent,
            "dataset_fingerprint": self.dataset_fingerprint,
            "metrics": dict(self.metrics),
            "extra": dict(self.extra),
            "serving": self.serving,
            "threshold": None if self.threshold is None else dict(self.threshold),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelVersion:
        return cls(
            version=str(d["version"]),
            number=int(d["number"]),
            model_name=str(d["model_name"]),
            created_at=float(d["created_at"]),
            parent=d.get("parent"),
            dataset_fingerprint=d.get("dataset_fingerprint"),
            metrics=dict(d.get("metrics") or {}),
            extra=dict(d.get("extra") or {}),
            serving=d.get("serving"),
            threshold=d.get("threshold"),
        )


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class ModelRegistry:
    """Versions, signed checkpoints and the champion pointer, all in Redis.

    ``db_or_redis``: a ``DBConnector`` (its client; the key defaults to
    ``cache.signed.hmac_key(db.settings)``, read on first use) or a ``redis.Redis`` client
    (then ``key`` is required). ``keep_blobs``: model blobs kept for the newest N versions
    (the champion's and the rollback targets' are always kept); metadata is never pruned.
    """

    def __init__(
        self,
        db_or_redis: DBConnector | redis.Redis,
        key: bytes | None = None,
        *,
        keep_blobs: int = 20,
        history_limit: int = 10_000,
    ) -> None:
        if keep_blobs < 1:
            raise ValueError(f"keep_blobs must be >= 1, got {keep_blobs!r}")
        if history_limit < 1:
            raise ValueError(f"history_limit must be >= 1, got {history_limit!r}")
        self._settings: Settings | None = None
        if isinstance(db_or_redis, DBConnector):
            self.redis: redis.Redis = db_or_redis.redis
            self._settings = db_or_redis.settings
        elif key is None:
            raise ValueError("a ModelRegistry on a bare Redis client needs the HMAC key")
        else:
            self.redis = db_or_redis
        if key is not None and len(key) < 16:
            raise ValueError("the HMAC key must be at least 16 bytes")
        self._key = key
        self.keep_blobs = keep_blobs
        self.history_limit = history_limit

    @property
    def key(self) -> bytes:
        """The HMAC key blobs are signed with (the data directory's key file is read lazily)."""
        if self._key is None:
            assert self._settings is not None
            self._key = signed.hmac_key(self._settings)
        return self._key

    # -- versions ----------------------------------------------------------------------------

    def register(
        self,
        model: Any,
        *,
        model_name: str = "default",
        parent: str | None = None,
        dataset_fingerprint: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        serving: str | None = None,
        threshold: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Store ``model`` as a new version (a candidate: the champion does not change).

        ``parent`` defaults to the current champion; ``serving``: the mode it was validated for;
        ``threshold``: the margin chosen for it (``ModelVersion.threshold``).
        """
        if serving is not None:
            check_serving(serving)
        blob = signed.dumps(model, self.key)
        number = int(self.redis.incr(MODELS_VERSION_SEQ))
        version = f"v{number}"
        meta = ModelVersion(
            version=version,
            number=number,
            model_name=model_name,
            created_at=time.time(),
            parent=parent if parent is not None else self.champion_version(),
            dataset_fingerprint=dataset_fingerprint,
            metrics=dict(metrics or {}),
            extra=dict(extra or {}),
            serving=serving,
            threshold=None if threshold is None else dict(threshold),
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(model_blob_key(version), blob)
            pipe.set(model_meta_key(version), dumps(meta.to_dict()))
            pipe.zadd(MODELS_VERSIONS, {version: number})
            event = self._event_json(
                "registered", version, model_name=model_name, parent=meta.parent, serving=serving
            )
            queue_capped(pipe, MODELS_HISTORY, event, self.history_limit)
            pipe.execute()
        self._prune_blobs()
        log.info("model_registered", version=version, model_name=model_name, bytes=len(blob))
        return meta

    def get(self, version: str) -> ModelVersion | None:
        """The metadata of ``version``, ``None`` if there is no such version."""
        raw = self.redis.get(model_meta_key(version))
        return None if raw is None else ModelVersion.from_dict(orjson.loads(raw))

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest first."""
        names = [_text(v) for v in self.redis.zrange(MODELS_VERSIONS, 0, -1)]
        if not names:
            return []
        raws = self.redis.mget([model_meta_key(n) for n in names if n])
        return [ModelVersion.from_dict(orjson.loads(r)) for r in raws if r is not None]

    def has_blob(self, version: str) -> bool:
        return bool(self.redis.exists(model_blob_key(version)))

    def load(self, version: str) -> Any:
        """The model of ``version``, its signature verified before it is unpickled.

        ``LookupError`` if the version (or its blob) is not there; ``CheckpointRejected`` if
        the blob does not verify.
        """
        blob = self.redis.get(model_blob_key(version))
        if blob is None:
            if self.get(version) is None:
                raise LookupError(f"no model version {version!r}")
            raise LookupError(f"the blob of model version {version!r} was pruned")
        # a blob that does not verify raises CheckpointRejected; the caller says so, once
        return signed.loads(cast(bytes, blob), self.key, what=f"model {version}")

    # -- champion ----------------------------------------------------------------------------

    def champion_version(self) -> str | None:
        return _text(self.redis.get(MODELS_CHAMPION))

    def champion(self) -> tuple[str, Any] | None:
        """``(version, model)`` of the champion, or ``None`` when nothing was promoted yet."""
        version = self.champion_version()
        if version is None:
            return None
        return version, self.load(version)

    def previous_champions(self) -> list[str]:
        """Rollback targets, the next one last."""
        return [v for v in (_text(x) for x in self.redis.lrange(MODELS_CHAMPION_STACK, 0, -1)) if v]

    def promote(self, version: str, *, reason: str = "") -> None:
        """Make ``version`` the champion; the previous champion becomes the rollback target.

        ``LookupError`` if the version or its blob is missing. Promoting the champion again
        changes nothing.
        """
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(MODELS_CHAMPION, model_blob_key(version))  # type: ignore[no-untyped-call]
                    if not pipe.exists(model_blob_key(version)):
                        pipe.unwatch()
                        if self.get(version) is None:
                            raise LookupError(f"no model version {version!r}")
                        raise LookupError(f"the blob of model version {version!r} was pruned")
                    previous = _text(pipe.get(MODELS_CHAMPION))
                    if previous == version:
                        pipe.unwatch()
                        return
                    pipe.multi()
                    if previous is not None:
                        pipe.rpush(MODELS_CHAMPION_STACK, previous)
                    pipe.set(MODELS_CHAMPION, version)
                    event = self._event_json("promoted", version, previous=previous, reason=reason)
                    queue_capped(pipe, MODELS_HISTORY, event, self.history_limit)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        log.info("model_promoted", version=version, previous=previous, reason=reason)

    def rollback(self, *, reason: str = "") -> str:
        """Make the previous champion the champion again; its version.

        ``LookupError`` when there is no previous champion.
        """
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(MODELS_CHAMPION, MODELS_CHAMPION_STACK)  # type: ignore[no-untyped-call]
                    target = _text(pipe.lindex(MODELS_CHAMPION_STACK, -1))
                    if target is None:
                        pipe.unwatch()
                        raise LookupError("no previous champion to roll back to")
                    current = _text(pipe.get(MODELS_CHAMPION))
                    pipe.multi()
                    pipe.rpop(MODELS_CHAMPION_STACK)
                    pipe.set(MODELS_CHAMPION, target)
                    event = self._event_json("rolled_back", target, previous=current, reason=reason)
                    queue_capped(pipe, MODELS_HISTORY, event, self.history_limit)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        log.info("model_rolled_back", version=target, previous=current, reason=reason)
        return target

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Registrations, promotions and rollbacks, newest first."""
        return read_list(self.redis, MODELS_HISTORY, limit)

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _event_json(event: str, version: str, **fields: Any) -> bytes:
        """A history entry: what happened to which version, when, and its details."""
        return dumps({"event": event, "version": version, **fields, "at": time.time()})

    def _prune_blobs(self) -> None:
        old = [_text(v) for v in self.redis.zrange(MODELS_VERSIONS, 0, -(self.keep_blobs + 1))]
        if not old:
            return
        keep = set(self.previous_champions())
        champion = self.champion_version()
        if champion is not None:
            keep.add(champion)
        doomed = [model_blob_key(v) for v in old if v and v not in keep]
        if doomed:
            self.redis.delete(*doomed)
