"""Settings: read once from the environment, bad values named with their variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_feeds.errors import ConfigError
from data_feeds.settings import Settings


def test_defaults_without_environment() -> None:
    """With nothing set, no Redis URL (bundled server) and the XDG data directory."""
    s = Settings.from_env({"HOME": "/home/u"})
    assert s.redis_url is None
    assert s.data_dir == Path("/home/u/.local/share/data-feeds")
    assert s.default_asset_class == "crypto"


def test_data_feeds_url_wins_over_redis_url() -> None:
    """DATA_FEEDS_REDIS_URL takes precedence; REDIS_URL is the fallback."""
    both = {"DATA_FEEDS_REDIS_URL": "redis://a:6379/1", "REDIS_URL": "redis://b:6379/0"}
    assert Settings.from_env(both).redis_url == "redis://a:6379/1"
    assert Settings.from_env({"REDIS_URL": "rediss://u:p@b:6380/0"}).redis_url == (
        "rediss://u:p@b:6380/0"
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"DATA_FEEDS_REDIS_URL": "http://x"}, "DATA_FEEDS_REDIS_URL: scheme 'http'"),
        ({"REDIS_URL": "redis://"}, "REDIS_URL: no host"),
        ({"DATA_FEEDS_STREAM_MAXLEN": "ten"}, "DATA_FEEDS_STREAM_MAXLEN='ten'"),
        ({"DATA_FEEDS_STREAM_MAXLEN": "-5"}, "must be greater than 0"),
        ({"DATA_FEEDS_ASSET_CLASSES": "AAPL"}, "DATA_FEEDS_ASSET_CLASSES='AAPL'"),
        ({"DATA_FEEDS_LOG_LEVEL": "loud"}, "DATA_FEEDS_LOG_LEVEL='loud'"),
        ({"DATA_FEEDS_HMAC_KEY": "short"}, "DATA_FEEDS_HMAC_KEY: must be at least 16"),
        ({"DATA_FEEDS_SERVING": "learning"}, "DATA_FEEDS_SERVING='learning': expected one of"),
        ({"DATA_FEEDS_HMAC_KEY": "replace-with-64-random-hex-characters"}, "placeholder"),
        ({"DATA_FEEDS_REDIS_URL": "redis://host/abc"}, "database 'abc' is not a number"),
        ({"DATA_FEEDS_THRESHOLD": "magic"}, "DATA_FEEDS_THRESHOLD='magic': expected one of"),
        ({"DATA_FEEDS_COST_BPS": "-1"}, "DATA_FEEDS_COST_BPS"),
    ],
)
def test_bad_values_name_the_variable_and_value(env: dict[str, str], needle: str) -> None:
    """Every malformed setting raises ConfigError quoting the variable (and value, not secrets)."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert needle in str(info.value)


def test_password_is_never_echoed() -> None:
    """A bad URL's error does not repeat its password."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"REDIS_URL": "ftp://user:s3cret@host"})
    assert "s3cret" not in str(info.value)


def test_asset_class_mapping_parsed() -> None:
    """SYMBOL=class pairs become an upper-cased symbol mapping."""
    s = Settings.from_env({"DATA_FEEDS_ASSET_CLASSES": "aapl=equity, EURUSD=fx"})
    assert s.asset_classes == {"AAPL": "equity", "EURUSD": "fx"}


def test_service_limits_are_checked_together() -> None:
    """Batch size is capped and a blocking read must end well within the grace period."""
    with pytest.raises(ConfigError, match="DATA_FEEDS_BATCH_SIZE"):
        Settings.from_env({"DATA_FEEDS_BATCH_SIZE": "100000"})
    with pytest.raises(ConfigError, match="grace"):
        Settings.from_env({"DATA_FEEDS_BLOCK_MS": "6000", "DATA_FEEDS_GRACE_PERIOD_S": "10"})
    with pytest.raises(ConfigError, match="DATA_FEEDS_WORKER_INDEX=2"):
        Settings.from_env({"DATA_FEEDS_WORKER_INDEX": "2", "DATA_FEEDS_WORKER_COUNT": "2"})


def test_serving_mode_defaults_to_online_and_accepts_every_mode() -> None:
    """DATA_FEEDS_SERVING: ``online`` (today's behaviour) unless set; every serving mode parses."""
    from data_feeds.signals.serving import ONLINE, SERVING_MODES  # noqa: PLC0415

    assert Settings.from_env({}).serving == ONLINE == Settings().serving
    for mode in SERVING_MODES:
        assert Settings.from_env({"DATA_FEEDS_SERVING": mode.upper()}).serving == mode


def test_the_example_secret_placeholder_is_the_one_refused() -> None:
    """The placeholder in deploy/kubernetes/secret.example.yaml is refused as it stands."""
    from pathlib import Path  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    example = Path(__file__).parents[1] / "deploy" / "kubernetes" / "secret.example.yaml"
    placeholder = yaml.safe_load(example.read_text())["stringData"]["DATA_FEEDS_HMAC_KEY"]
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_env({"DATA_FEEDS_HMAC_KEY": placeholder})
