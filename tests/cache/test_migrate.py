"""Keys of the spelling before hash tags are renamed once, and nothing else is touched."""

from __future__ import annotations

import redis

from data_feeds.cache import keys
from data_feeds.cache.migrate import legacy_name, rename_legacy_keys
from data_feeds.learning_layer.registry import ModelRegistry
from data_feeds.settings import Settings


def test_legacy_names_map_to_the_tagged_ones() -> None:
    assert legacy_name(keys.MODELS_CHAMPION.replace("{", "").replace("}", "")) == (
        keys.MODELS_CHAMPION
    )
    assert legacy_name(keys.SIGNALS_STREAMS) is None
    assert legacy_name(keys.RESEARCH_IMPORTS) is None  # research:* was never renamed


def test_an_old_store_keeps_its_models(redis_client: redis.Redis, settings: Settings) -> None:
    """A registry written under the old names is found under the new ones after a connector
    opened the database; a key already present under the new name is not overwritten."""
    from data_feeds.cache.db_connector import DBConnector  # noqa: PLC0415

    old = {k.replace("{", "").replace("}", ""): k for k in (
        keys.MODELS_VERSION_SEQ, keys.MODELS_CHAMPION, keys.model_blob_key("v1"),
        keys.METRICS_DEMO_LATEST)}  # fmt: skip
    for name in old:
        redis_client.set(name, b"old:" + name.encode())
    redis_client.set(keys.METRICS_DEMO_LATEST, b"new")
    redis_client.set(keys.signals_key("X"), b"untouched")
    DBConnector(settings=settings).close()
    for name in old:
        assert not redis_client.exists(name)
    assert redis_client.get(keys.MODELS_CHAMPION) == b"old:models:champion"
    assert redis_client.get(keys.METRICS_DEMO_LATEST) == b"new"
    old_demo = keys.METRICS_DEMO_LATEST.replace("{", "").replace("}", "")
    assert redis_client.get(keys.legacy_key(old_demo)) == b"old:" + old_demo.encode()
    assert redis_client.get(keys.signals_key("X")) == b"untouched"
    assert not redis_client.exists(*keys.LEGACY_SENTINELS)  # the next look is one EXISTS
    assert rename_legacy_keys(redis_client) == 0
    assert ModelRegistry(redis_client, b"k" * 32).champion_version() == ("old:models:champion")
