"""Every exception the package raises on purpose, in one place.

``InvalidMessage`` is bad input: the consumer counts it and dead-letters the entry, never
retries it. Redis errors that may pass (connection lost, READONLY during a failover, LOADING,
OOM) are redis-py's own exceptions, which the consumer treats as an outage and retries with
backoff (``runtime.consumer``). The command line's own two, ``UsageError`` and ``RunError``,
are its exit codes 2 and 1 (``data_feeds.cli.app``). Anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
