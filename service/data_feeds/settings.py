"""Every setting, read once from the environment and passed down explicitly.

Stages never read the environment; ``Settings.from_env()`` is called at the edges (the CLI, the
connectors' convenience constructors) and the result handed on. A malformed value raises
``ConfigError`` naming the variable and the value.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from data_feeds.cache.keys import normalize_symbol
from data_feeds.errors import ConfigError
from data_feeds.records import DEFAULT_ASSET_CLASS
from data_feeds.validation.cleaner_config import CleanerConfig

PREFIX = "DATA_FEEDS_"
REDIS_SCHEMES = ("redis", "rediss", "unix")
MAX_BLOCK_MS: Final = 10_000
MAX_BATCH_SIZE: Final = 5_000
DEFAULT_METRICS_PORT: Final = 9108

N = TypeVar("N", int, float)


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

    # -- the streaming service (``data-feeds run``) --------------------------------------------
    stream_patterns: tuple[str, ...] = ("*",)
    """Glob patterns of the streams to consume; only input streams (our key scheme and
    cryptofeed's ``trades-*``, ``ticker-*``, ``book-*``, ``candles-*``) are ever read."""
    consumer_group: str = "data-feeds"
    worker_index: int = 0
    worker_count: int = 1
    """With ``static`` ownership, each symbol is owned by exactly one worker:
    ``crc32(symbol) % worker_count``."""
    ownership: str = "static"
    """``static`` (the hash above, a fixed count) or ``leases``: the live workers share the
    symbols through leases in Redis and hand them over with their state when one joins or
    leaves; ``worker_count`` is then not used (``runtime.ownership``)."""
    lease_s: float = 10.0
    """With ``leases``: how long a symbol stays with a worker that stopped renewing (died)."""
    batch_size: int = 500
    block_ms: int = 1000
    """How long one XREADGROUP waits for new entries; kept well under the socket timeout."""
    claim_idle_ms: int = 60_000
    """Entries pending longer than this on another consumer are taken over (XAUTOCLAIM)."""
    max_deliveries: int = 5
    """An entry delivered more often than this goes to the DLQ (``delivery_limit``)."""
    discover_interval_s: float = 5.0
    checkpoint_interval_s: float = 30.0
    grace_period_s: float = 10.0
    horizon_s: float = 60.0
    """Label horizon: a prediction is scored by the price move over this much event time."""
    margin: float = 0.05
    """BUY above 0.5 + margin, SELL below 0.5 - margin (0.5: never trade). A champion whose
    version records a calibrated margin is served with that margin instead."""
    threshold: str = "fixed"
    """How training sets a new version's margin (``signals.threshold``):
    ``fixed`` records ``margin``; ``calibrated`` picks the margin that earned most after
    ``cost_bps`` on the version's own holdout (0.5 when none earned anything)."""
    cost_bps: float = 0.0
    """Trading cost per unit of turnover, in bps, that a calibrated threshold must earn back."""
    dead_band_bps: float = 0.0
    learn_interval_s: float = 1.0
    """Which matured outcomes the online model learns (``OutcomeBuffer.sample``): the first
    prediction of each symbol's event-time slot of this many seconds, the rest only scored; 0
    learns every one. Training and retraining replay the holdout with the same rule. Labels of
    ticks a fraction of a horizon apart overlap almost entirely, and learning each moved the
    model towards the last seconds' outcomes (``docs/serving.md``); the predictions not learned
    wait without their features (the memory and the checkpoint of a fast feed)."""
    model: str = "default"
    serving: str = "online"
    """Serving mode (``signals.serving``): ``online`` learns each matured outcome, ``frozen``
    only scores it. Models are trained and validated for this mode and record it; the service
    refuses a champion recorded for the other mode."""
    model_params: Mapping[str, Any] = field(default_factory=dict)
    signals_maxlen: int = 1_000_000
    signals_retention_s: float = 7 * 86_400.0
    """Signals older than this are trimmed (``runtime.retention``); 0 keeps them."""
    dlq_retention_s: float = 30 * 86_400.0
    events_retention_s: float = 7 * 86_400.0
    input_retention_s: float = 0.0
    """Input entries older than this, once delivered and acknowledged, are trimmed; 0 (the
    default) keeps the input history, which training and the backtest replay."""
    retention_interval_s: float = 60.0
    heap_trim_interval_s: float = 60.0
    """Give the C heap's free pages back to the OS this often (``runtime.heap``); 0: never."""
    signal_features: bool = False
    """Write each signal's feature values with it (``features``): what the model saw, for
    audits and for checking live features against a training dataset's rows."""
    metrics_host: str = "0.0.0.0"
    metrics_port: int = DEFAULT_METRICS_PORT
    """0 picks a free port; -1 serves no metrics."""
    retrain_interval_s: float = 0.0
    """Run a retraining cycle this often in a separate process (and sooner when the drift
    detector fires); 0 turns retraining off, on schedule and on drift."""
    cleaner: CleanerConfig = field(default_factory=CleanerConfig)
    """The cleaner's rules, live and when training, evaluating and researching: set in code,
    but for the trading calendars (``DATA_FEEDS_CALENDARS``: ``equity=XNYS,AAPL=XNAS``)."""

    def __post_init__(self) -> None:
        if self.ownership not in ("static", "leases"):
            raise ConfigError(f"DATA_FEEDS_OWNERSHIP={self.ownership!r}: static or leases")
        if not self.lease_s >= 3.0:
            raise ConfigError(f"DATA_FEEDS_LEASE_S={self.lease_s:g}: must be at least 3")
        if self.ownership == "static" and not 0 <= self.worker_index < self.worker_count:
            raise ConfigError(
                f"DATA_FEEDS_WORKER_INDEX={self.worker_index}: must be in "
                f"[0, DATA_FEEDS_WORKER_COUNT={self.worker_count})"
            )
        if not 0 < self.batch_size <= MAX_BATCH_SIZE:
            raise ConfigError(
                f"DATA_FEEDS_BATCH_SIZE={self.batch_size}: must be in [1, {MAX_BATCH_SIZE}]"
            )
        if self.block_ms / 1000.0 >= self.grace_period_s / 2:
            raise ConfigError(
                f"DATA_FEEDS_BLOCK_MS={self.block_ms}: a read must end well within the grace "
                f"period (DATA_FEEDS_GRACE_PERIOD_S={self.grace_period_s:g})"
            )
        if not 0 < self.block_ms <= MAX_BLOCK_MS:
            raise ConfigError(
                f"DATA_FEEDS_BLOCK_MS={self.block_ms}: must be in (0, {MAX_BLOCK_MS}] to stay "
                "well under the Redis client's socket timeout"
            )
        if not 0.0 <= self.margin <= 0.5:
            raise ConfigError(f"DATA_FEEDS_MARGIN={self.margin}: must be in [0, 0.5]")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (``DATA_FEEDS_*``, see ``VARIABLES``); an unset
        or empty variable leaves the field's default."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field_name, (variable, parse) in VARIABLES.items():
            raw = env.get(PREFIX + variable)
            if raw:
                values[field_name] = parse(PREFIX + variable, raw)
        redis_url = env.get(PREFIX + "REDIS_URL") or env.get("REDIS_URL") or None
        if redis_url is not None:
            source = PREFIX + "REDIS_URL" if env.get(PREFIX + "REDIS_URL") else "REDIS_URL"
            values["redis_url"] = parse_redis_url(source, redis_url)
        values.setdefault("data_dir", default_data_dir(env))
        return cls(**values)


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
    else:
        if not parts.hostname:
            raise ConfigError(f"{name}: no host in the URL")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ConfigError(
                f"{name}: database {db!r} is not a number (redis://host:port/DB, e.g. /0)"
            )
    del port
    return raw


def _parse_path(name: str, raw: str) -> Path:
    return Path(raw).expanduser()


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _bad(name, raw, "expected a whole number") from None


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, raw, "expected a number") from None
    if not math.isfinite(value):
        raise _bad(name, raw, "must be a finite number")
    return value


def _at_least(parse: Callable[[str, str], N], *, strict: bool) -> Callable[[str, str], N]:
    """``parse``, then refuse values below 0 (``strict``: 0 too)."""

    def parse_bounded(name: str, raw: str) -> N:
        value = parse(name, raw)
        if value < 0 or (strict and value == 0):
            raise _bad(name, raw, "must be greater than 0" if strict else "must be 0 or more")
        return value

    return parse_bounded


_positive_int = _at_least(_int, strict=True)
_non_negative_int = _at_least(_int, strict=False)
_positive_float = _at_least(_float, strict=True)
_non_negative_float = _at_least(_float, strict=False)


def _parse_port(name: str, raw: str) -> int:
    value = _int(name, raw)
    if not -1 <= value <= 65535:
        raise _bad(name, raw, "must be a port in 0..65535 (0: any free port, -1: none)")
    return value


def _parse_token(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or any(c.isspace() for c in value) or len(value) > 200:
        raise _bad(name, raw, "expected a non-empty name without spaces")
    return value


def _parse_patterns(name: str, raw: str) -> tuple[str, ...]:
    patterns = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not patterns:
        raise _bad(name, raw, "expected comma-separated stream patterns such as crypto_*:*")
    return patterns


def _parse_json_object(name: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise _bad(name, raw, 'expected a JSON object such as {"l2": 0.01}') from None
    if not isinstance(value, dict):
        raise _bad(name, raw, "expected a JSON object")
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


def _parse_calendars(name: str, raw: str) -> CleanerConfig:
    """``equity=XNYS,AAPL=XNAS,fx=fx``: the cleaner's rules with these trading calendars (an
    asset class in lower case, a symbol in upper case)."""
    pairs: list[tuple[str, str]] = []
    for part in raw.split(","):
        item = part.strip()
        if not item:
            continue
        key, eq, calendar = item.partition("=")
        key, calendar = key.strip(), calendar.strip()
        if not eq or not key or not calendar:
            raise _bad(name, raw, f"item {item!r} is not ASSET_CLASS=calendar or SYMBOL=calendar")
        key = key if key.islower() else normalize_symbol(key)  # as stream keys spell it
        pairs.append((key, calendar))
    try:
        return CleanerConfig(calendars=tuple(pairs))
    except ValueError as exc:
        raise _bad(name, raw, str(exc)) from None


PLACEHOLDER_KEY_PREFIX: Final = "replace-with"
"""How the example secrets' placeholder keys start (deploy/kubernetes/secret.example.yaml)."""


def _parse_hmac_key(name: str, raw: str) -> bytes:
    if len(raw) < 16:
        raise ConfigError(f"{name}: must be at least 16 characters (value not shown)")
    if raw.strip().lower().startswith(PLACEHOLDER_KEY_PREFIX):
        raise ConfigError(
            f"{name}: is the example secret's placeholder; generate a key, e.g. "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return raw.encode()


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise _bad(name, raw, "expected one of " + ", ".join(allowed))
        return value

    return parse


def _parse_switch(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise _bad(name, raw, "expected 1/true/yes/on or 0/false/no/off")


VARIABLES: Final[dict[str, tuple[str, Callable[[str, str], Any]]]] = {
    "data_dir": ("DATA_DIR", _parse_path),
    "stream_maxlen": ("STREAM_MAXLEN", _positive_int),
    "asset_classes": ("ASSET_CLASSES", _parse_asset_classes),
    "default_asset_class": ("DEFAULT_ASSET_CLASS", _parse_name),
    "hmac_key": ("HMAC_KEY", _parse_hmac_key),
    "log_level": ("LOG_LEVEL", _choice("debug", "info", "warning", "error")),
    "log_format": ("LOG_FORMAT", _choice("auto", "json", "console")),
    "stream_patterns": ("STREAMS", _parse_patterns),
    "consumer_group": ("CONSUMER_GROUP", _parse_token),
    "worker_index": ("WORKER_INDEX", _non_negative_int),
    "worker_count": ("WORKER_COUNT", _positive_int),
    "ownership": ("OWNERSHIP", _choice("static", "leases")),  # runtime.ownership.OWNERSHIP_MODES
    "lease_s": ("LEASE_S", _positive_float),
    "batch_size": ("BATCH_SIZE", _positive_int),
    "block_ms": ("BLOCK_MS", _positive_int),
    "claim_idle_ms": ("CLAIM_IDLE_MS", _positive_int),
    "max_deliveries": ("MAX_DELIVERIES", _positive_int),
    "discover_interval_s": ("DISCOVER_INTERVAL_S", _positive_float),
    "checkpoint_interval_s": ("CHECKPOINT_INTERVAL_S", _positive_float),
    "grace_period_s": ("GRACE_PERIOD_S", _positive_float),
    "horizon_s": ("HORIZON_S", _positive_float),
    "margin": ("MARGIN", _non_negative_float),
    "threshold": ("THRESHOLD", _choice("fixed", "calibrated")),  # signals.threshold.POLICIES
    "cost_bps": ("COST_BPS", _non_negative_float),
    "dead_band_bps": ("DEAD_BAND_BPS", _non_negative_float),
    "learn_interval_s": ("LEARN_INTERVAL_S", _non_negative_float),
    "model": ("MODEL", _parse_token),
    "model_params": ("MODEL_PARAMS", _parse_json_object),
    "serving": ("SERVING", _choice("online", "frozen")),  # signals.serving.SERVING_MODES
    "signals_maxlen": ("SIGNALS_MAXLEN", _positive_int),
    "signals_retention_s": ("SIGNALS_RETENTION_S", _non_negative_float),
    "dlq_retention_s": ("DLQ_RETENTION_S", _non_negative_float),
    "events_retention_s": ("EVENTS_RETENTION_S", _non_negative_float),
    "input_retention_s": ("INPUT_RETENTION_S", _non_negative_float),
    "retention_interval_s": ("RETENTION_INTERVAL_S", _positive_float),
    "heap_trim_interval_s": ("HEAP_TRIM_INTERVAL_S", _non_negative_float),
    "signal_features": ("SIGNAL_FEATURES", _parse_switch),
    "metrics_host": ("METRICS_HOST", _parse_token),
    "metrics_port": ("METRICS_PORT", _parse_port),
    "retrain_interval_s": ("RETRAIN_INTERVAL_S", _non_negative_float),
    "cleaner": ("CALENDARS", _parse_calendars),
}
"""Settings field -> its environment variable after ``DATA_FEEDS_`` and the parser that checks
it (``DATA_FEEDS_REDIS_URL``, falling back to ``REDIS_URL``, is read on its own)."""
