"""Every exception the package raises on purpose, and the one function that sorts a failure.

``classify(exc)`` says what a failure means to the code that caught it (DESIGN §8: one
``try/except`` per message, at the consumer, that sorts the failure):

- ``Failure.BAD_INPUT``: ``InvalidMessage``, a message that can never become a record. Count
  it and dead-letter the entry; never retry it.
- ``Failure.TRANSIENT``: Redis is away or says "not now": the connection is lost or times out
  (``REDIS_DOWN``), or an error reply means a failover, loading, memory or a busy script
  (``TRANSIENT_ERRORS``, redis-py's classes for them, and ``TRANSIENT_REPLIES``, the codes it
  leaves in the text). Retry with capped, jittered backoff.
- ``Failure.MISSING_GROUP``: a NOGROUP reply, the stream or its consumer group was deleted.
  Rediscover the streams (which recreates the groups) and go on.
- ``Failure.FATAL``: anything else, a bug or a misconfiguration. Let it propagate.

The command line's own two, ``UsageError`` and ``RunError``, are its exit codes 2 and 1
(``data_feeds.cli.app``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Final

import redis.exceptions

# The documented set of InvalidMessage reason codes (README "Reason codes" lists them too).
# Keep this the single source: metrics use it as the bounded label set.
REASONS: dict[str, str] = {
    "empty_payload": "the message carries no bytes or no fields at all",
    "payload_too_large": "the raw message exceeds the configured size limit",
    "invalid_utf8": "text that is not valid UTF-8",
    "malformed_json": "a JSON payload that does not parse (or nests too deep)",
    "wrong_type": "a field of the wrong type (a list where a number belongs, a non-object payload)",
    "missing_field": "a required field is absent, empty or the literal 'None'",
    "unknown_kind": "the message is not a price tick, trade, order book or sentiment score",
    "invalid_symbol": "an empty or too long symbol or keyword, or one outside A-Z 0-9 .",
    "non_finite": "a number that is NaN, infinite or overflows a float",
    "non_positive_price": "a price of zero or below",
    "price_out_of_range": "a price above the configured ceiling",
    "negative_volume": "a negative volume, amount or size",
    "volume_out_of_range": "a volume above the configured ceiling",
    "invalid_side": "a trade side other than buy or sell",
    "score_out_of_range": "a sentiment score outside [-1, 1]",
    "timestamp_out_of_range": "a timestamp before 2000-01-01 or too far in the future",
    "crossed_book": "an order book whose best bid is at or above its best ask",
    "too_many_levels": "an order book with more levels than the configured limit",
    "stream_mismatch": "the payload's symbol, kind or asset class disagrees with its stream key",
    "invalid_asset_class": "an asset class that is not 1-32 characters of a-z 0-9 _ (letter first)",
    "delivery_limit": "delivered more times than allowed without being processed",
}


def shown(value: object) -> str:
    """A short, always-safe description of an outside value for an error's detail.

    Never ``repr`` a container (deep nesting would recurse) or a huge int (str conversion of
    more than 4300 digits raises).
    """
    t = type(value)
    if t is str or t is bytes or t is bytearray:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if t is float or t is bool or value is None:
        return repr(value)
    if type(value) is int:
        bits = value.bit_length()
        return repr(value) if bits <= 64 else f"an integer of {bits} bits"
    return f"a {t.__name__}"


class DataFeedsError(Exception):
    """Base class of the package's own errors."""


class InvalidMessage(DataFeedsError):
    """A message that can never become a valid record. ``reason`` is a code from ``REASONS``."""

    __slots__ = ("detail", "field", "reason")

    def __init__(self, reason: str, detail: str = "", field: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown InvalidMessage reason {reason!r}")
        self.reason = reason
        self.detail = detail
        self.field = field
        where = f" (field {field!r})" if field else ""
        super().__init__(f"{reason}{where}: {detail}" if detail else f"{reason}{where}")


class ReplayError(DataFeedsError, ValueError):
    """A recorded file that is not one of the known layouts, or a row of it that does not parse
    (``data_feeds.sources``)."""


class ConfigError(DataFeedsError, ValueError):
    """A setting that is missing or malformed; the message names the variable and the value."""


class CheckpointRejected(DataFeedsError):
    """A stored model or state blob whose signature is missing or does not verify."""


class UsageError(DataFeedsError):
    """Bad command-line input found after parsing: a value the library refuses, an unreadable
    or unknown file (the command line exits 2)."""


class RunError(DataFeedsError):
    """A failure while running a command, such as an unreachable Redis (exits 1)."""


@contextmanager
def as_usage_error(*kinds: type[Exception]) -> Iterator[None]:
    """Re-raise the exceptions ``kinds`` as ``UsageError``: for library calls whose errors mean
    the user gave a value the library refuses (a bad file, a bad model parameter)."""
    try:
        yield
    except kinds as exc:
        raise UsageError(str(exc)) from None


class PublishError(DataFeedsError):
    """Redis refused a write (the message names the stream and the error)."""


class Failure(StrEnum):
    """What a caught exception means to the code that caught it (see the module doc)."""

    BAD_INPUT = "bad_input"
    TRANSIENT = "transient"
    MISSING_GROUP = "missing_group"
    FATAL = "fatal"


REDIS_DOWN: Final = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError (LOADING)
    redis.exceptions.TimeoutError,
    ConnectionError,
    OSError,
)
"""The connection is lost, refused or timed out: Redis is (for now) not there."""
TRANSIENT_ERRORS: Final = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ExecAbortError,
    redis.exceptions.NoScriptError,
    redis.exceptions.MasterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
"""Error replies that redis-py maps to its own classes (stripping the code from the text) and
that mean "not now" rather than "never": failover, memory, an aborted transaction, a script
cache emptied by a restart."""
TRANSIENT_REPLIES: Final = (
    "MASTERDOWN",
    "TRYAGAIN",
    "BUSY",
    "UNBLOCKED",
    "CLUSTERDOWN",
    "LOADING",
    "READONLY",
    "OOM",
    "EXECABORT",
    "NOSCRIPT",
)
"""Error codes that mean "not now", as a plain ``ResponseError`` carries them (first word)."""
MISSING_GROUP_REPLY: Final = "NOGROUP"

_PIPELINE_NOTE: Final = " of pipeline caused error: "
"""redis-py prefixes a pipeline's error with ``Command # n (...) of pipeline caused error: ``."""


def _reply_code(exc: redis.exceptions.ResponseError) -> str:
    """The error code an error reply starts with (after redis-py's pipeline note, if any)."""
    text = str(exc)
    _, note, rest = text.partition(_PIPELINE_NOTE)
    # in a pipeline the reply can come as the repr of its args: "('UNBLOCKED force ...',)"
    return (rest.lstrip("('\"") if note else text).split(" ", 1)[0]


def classify(exc: BaseException) -> Failure:
    """Sort a failure: bad input, transient, a missing consumer group, or fatal."""
    if isinstance(exc, InvalidMessage):
        return Failure.BAD_INPUT
    if isinstance(exc, redis.exceptions.ResponseError):
        if MISSING_GROUP_REPLY in str(exc):
            return Failure.MISSING_GROUP
        if isinstance(exc, TRANSIENT_ERRORS) or _reply_code(exc) in TRANSIENT_REPLIES:
            return Failure.TRANSIENT
        return Failure.FATAL
    if isinstance(exc, REDIS_DOWN):
        return Failure.TRANSIENT
    return Failure.FATAL
