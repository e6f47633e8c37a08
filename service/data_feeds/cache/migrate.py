"""Renames keys stored under an older key scheme, once.

Before Redis Cluster support the namespaces that ``keys.TAGGED_NAMESPACES`` now spell with a
hash tag (``{models}:champion``) were spelt without one (``models:champion``). A Redis that
holds keys of the old spelling has them renamed (RENAMENX: a key already present under the
new name wins) by the first connector that looks, so an upgraded service keeps its models,
datasets, backtests and demo summaries. A key of the old spelling whose new name is taken is
kept as ``legacy:{old name}`` (so it is not looked at again). The check is one EXISTS round
trip when there is nothing to rename. A cluster never held the old spelling (the old version
could not run on one), so nothing is asked there.
"""

from __future__ import annotations

from typing import Any, Final

import redis
import structlog

from data_feeds.cache import keys
from data_feeds.cache.clients import is_cluster

log = structlog.get_logger(__name__)

LEGACY: Final = {ns.strip("{}"): ns for ns in keys.TAGGED_NAMESPACES}
"""Old prefix -> new prefix."""


def legacy_name(key: str) -> str | None:
    """The new name of a key of the old spelling, else ``None``."""
    head, sep, rest = key.partition(keys.SEP)
    new = LEGACY.get(head)
    return f"{new}{sep}{rest}" if new is not None and sep else None


def rename_legacy_keys(client: redis.Redis) -> int:
    """Rename the keys of the old spelling; how many were renamed."""
    if is_cluster(client) or not client.exists(*keys.LEGACY_SENTINELS):
        return 0
    r: Any = client
    renamed = 0
    for old in LEGACY:
        for raw in r.scan_iter(match=f"{old}{keys.SEP}*", count=1000):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            new = legacy_name(name)
            if new is None:
                continue
            if r.renamenx(name, new) or r.renamenx(name, keys.legacy_key(name)):
                renamed += 1
            else:  # both names taken: the key under the new name is the one in use
                r.delete(name)
    if renamed:
        log.info("legacy_keys_renamed", keys=renamed)
    return renamed
