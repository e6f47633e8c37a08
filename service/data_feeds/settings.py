"""Every setting, read once from the environment and passed down explicitly.

Stages never read the environment; ``Settings.from_env()`` is called at the edges (the CLI, the
connectors' convenience constructors) and the result handed on. A malformed value raises
``ConfigError`` naming the variable and the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from data_feeds.errors import ConfigError
from data_feeds.records import DEFAULT_ASSET_CLASS

PREFIX = "DATA_FEEDS_"
REDIS_SCHEMES = ("redis", "rediss", "unix")

T = TypeVar("T")


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/data-feeds`` or ``~/.local/share/data-feeds``."""
    xdg = environ.get("XDG_DATA_HOME")
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    base = Path(xdg) if xdg else home / ".local" / "share"
    return base / "data-feeds"


@dataclass(frozen=True, slots=True)
class Settings:
    """Process-wide settings. Service-specific ones join as the service needs them."""

    redis_url: str | None = None
    """``None``: start (or reuse) the bundled redis-server under ``data_dir``."""
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    stream_maxlen: int = 1_000_000
    """Approximate retention per input stream (``XADD MAXLEN ~``)."""
    asset_classes: Mapping[str, str] = field(default_factory=dict)
    """Symbol -> asset class for messages that do not say; others are ``default_asset_class``."""
    default_asset_class: str = DEFAULT_ASSET_CLASS
    hmac_key: bytes | None = None
    """Signs model and state checkpoints. ``None``: a random key kept in ``data_dir``."""
    log_level: str = "info"
    log_format: str = "auto"
    """``json``, ``console`` or ``auto`` (console on a terminal, JSON otherwise)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, parse: Callable[[str, str], T], default: T) -> T:
            raw = env.get(PREFIX + name)
            if raw is None or raw == "":
                return default
            return parse(PREFIX + name, raw)

        redis_url = env.get(PREFIX + "REDIS_URL") or env.get("REDIS_URL") or None
        if redis_url is not None:
            source = PREFIX + "REDIS_URL" if env.get(PREFIX + "REDIS_URL") else "REDIS_URL"
            redis_url = parse_redis_url(source, redis_url)
        return cls(
            redis_url=redis_url,
            data_dir=get("DATA_DIR", _parse_path, default_data_dir(env)),
            stream_maxlen=get("STREAM_MAXLEN", _positive_int, 1_000_000),
            asset_classes=get("ASSET_CLASSES", _parse_asset_classes, {}),
            default_asset_class=get("DEFAULT_ASSET_CLASS", _parse_name, DEFAULT_ASSET_CLASS),
            hmac_key=get("HMAC_KEY", _parse_hmac_key, None),
            log_level=get("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info"),
            log_format=get("LOG_FORMAT", _choice("auto", "json", "console"), "auto"),
        )


def _bad(name: str, raw: str, why: str) -> ConfigError:
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    return ConfigError(f"{name}={shown!r}: {why}")


def parse_redis_url(name: str, raw: str) -> str:
    """Check a Redis URL's shape; the password, if any, is never echoed back."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{name}: not a valid URL ({exc})") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigError(
            f"{name}: scheme {parts.scheme or '(none)'!r} is not one of "
            + ", ".join(s + "://" for s in REDIS_SCHEMES)
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(f"{name}: a unix:// URL needs a socket path")
    elif not parts.hostname:
        raise ConfigError(f"{name}: no host in the URL")
    del port
    return raw


def _parse_path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, raw, "expected a whole number") from None
    if value <= 0:
        raise _bad(name, raw, "must be greater than 0")
    return value


def _parse_name(name: str, raw: str) -> str:
    if not raw.isidentifier() or not raw.islower():
        raise _bad(name, raw, "expected a lower-case name such as crypto, equity or fx")
    return raw


def _parse_asset_classes(name: str, raw: str) -> dict[str, str]:
    """``AAPL=equity,EURUSD=fx``."""
    out: dict[str, str] = {}
    for part in raw.split(","):
        item = part.strip()
        if not item:
            continue
        symbol, eq, asset_class = item.partition("=")
        if not eq or not symbol.strip() or not asset_class.strip():
            raise _bad(name, raw, f"item {item!r} is not SYMBOL=asset_class")
        out[symbol.strip().upper()] = _parse_name(name, asset_class.strip())
    return out


def _parse_hmac_key(name: str, raw: str) -> bytes:
    if len(raw) < 16:
        raise ConfigError(f"{name}: must be at least 16 characters (value not shown)")
    return raw.encode()


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise _bad(name, raw, "expected one of " + ", ".join(allowed))
        return value

    return parse
