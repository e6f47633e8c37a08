"""Times, read one way everywhere: epoch numbers, ISO-8601 text, stream entry ids, time bounds.

Every path that turns an outside time into epoch seconds comes here: the validator (wire
messages), the readers of recorded files (``data_feeds.sources``), the connectors' and the
learning layer's ``start``/``end`` bounds, and the command line's ``--start``/``--end``.

Rules
-----
- Numbers are seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by
  magnitude: below 1e11 seconds (1e11 s is the year 5138), below 1e14 milliseconds, below 1e17
  microseconds, otherwise nanoseconds. Integers are divided exactly (an ns integer keeps its
  precision), numeric text (ASCII) is read as a float. Booleans are not times.
- Text that is not a number is ISO-8601 (``datetime.fromisoformat``: ``2023-11-14T22:13:20Z``,
  ``...+01:00``, ``2023-11-14 22:13:20``, ``2023-11-14``), at most 64 ASCII characters.
  **A naive time (no ``Z``, no offset) is UTC**, and so is a naive ``datetime`` bound; a date
  alone is its midnight UTC.
- NaN, infinities and integers beyond a float are ``non_finite``; ``None``, ``''`` and the
  literal ``'None'`` (cryptofeed's ``none_to``) are ``missing_field``; anything else that is
  not a time is ``wrong_type``; an ISO time whose instant a float cannot hold (year 1 with a
  positive offset) is ``timestamp_out_of_range``. ``epoch_seconds`` raises ``InvalidMessage``
  with these codes; windows (the validator's ``[min_timestamp_s, now + max_future_s]``) are the
  caller's policy, not a rule of reading.

Stream entry ids (``<ms>-<seq>``, the server's clock when the entry was added): ``entry_ms``
is the millisecond part, ``entry_key`` the ``(ms, seq)`` pair entries sort by.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

from data_feeds.errors import InvalidMessage, shown

__all__ = [
    "MS_FROM",
    "NS_FROM",
    "SECONDS_CEILING",
    "US_FROM",
    "TimeBound",
    "entry_key",
    "entry_ms",
    "epoch_seconds",
    "from_iso",
    "scale_epoch",
    "time_bound",
]

MS_FROM: Final = 1e11
US_FROM: Final = 1e14
NS_FROM: Final = 1e17
SECONDS_CEILING: Final = math.nextafter(MS_FROM, 0.0)
"""The largest number read as seconds (what a fast path may take as it is)."""

_MAX_ISO_CHARS: Final = 64
_NONE: Final = "None"  # cryptofeed's none_to

TimeBound = float | int | datetime | str | None
"""A ``start``/``end`` bound: epoch seconds/ms/us/ns, a datetime, ISO-8601 text, or none."""


def scale_epoch(number: float) -> float:
    """Epoch seconds from a finite number of s, ms, us or ns (by magnitude)."""
    magnitude = abs(number)
    if magnitude < MS_FROM:
        return number
    if magnitude < US_FROM:
        return number / 1e3
    if magnitude < NS_FROM:
        return number / 1e6
    return number / 1e9


def _scale_int(value: int, field: str) -> float:
    """``scale_epoch`` of an integer, divided exactly; beyond a float it is ``non_finite``."""
    try:
        float(value)
    except OverflowError:
        raise InvalidMessage("non_finite", f"{field} is {shown(value)}", field) from None
    magnitude = abs(value)
    if magnitude < MS_FROM:
        return float(value)
    if magnitude < US_FROM:
        return value / 1_000
    if magnitude < NS_FROM:
        return value / 1_000_000
    return value / 1_000_000_000


def from_iso(text: str, field: str = "timestamp") -> float:
    """Epoch seconds of ISO-8601 text; naive means UTC. ``InvalidMessage`` otherwise."""
    if len(text) > _MAX_ISO_CHARS or not text.isascii():
        raise InvalidMessage("wrong_type", f"{field} is {shown(text)}", field)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidMessage(
            "wrong_type", f"{field} is {shown(text)}, neither a number nor ISO-8601", field
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        raise InvalidMessage("timestamp_out_of_range", f"{field} is {text!r}", field) from None


def epoch_seconds(value: object, field: str = "timestamp") -> float:
    """Epoch seconds from a number (s/ms/us/ns), numeric text or ISO-8601 text (module rules).

    Raises ``InvalidMessage`` (``wrong_type``, ``non_finite``, ``missing_field``,
    ``timestamp_out_of_range``) naming ``field``.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return _scale_int(int(value), field)
    if isinstance(value, float):
        number = float(value)  # also a float subclass (numpy.float64)
    elif isinstance(value, str):
        if not value or value == _NONE:
            raise InvalidMessage("missing_field", f"no {field}", field)
        if not value.isascii():  # float() would read other scripts' digits
            raise InvalidMessage("wrong_type", f"{field} is {shown(value)}", field)
        try:
            number = float(value)
        except ValueError:
            return from_iso(value, field)
    elif value is None:
        raise InvalidMessage("missing_field", f"no {field}", field)
    else:
        raise InvalidMessage("wrong_type", f"{field} is {shown(value)}, not a time", field)
    if not math.isfinite(number):
        raise InvalidMessage("non_finite", f"{field} is {number!r}", field)
    return scale_epoch(number)


def time_bound(bound: TimeBound, name: str) -> float | None:
    """A ``start``/``end`` bound as epoch seconds (``None``: unbounded), by the module rules.

    ``TypeError`` for a value of another type, ``ValueError`` for one that is not a time.
    """
    if bound is None:
        return None
    if isinstance(bound, datetime):
        moment = bound if bound.tzinfo is not None else bound.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(bound, bool) or not isinstance(bound, int | float | str):
        raise TypeError(
            f"{name} must be epoch seconds, a datetime or an ISO-8601 string, got {shown(bound)}"
        )
    try:
        return epoch_seconds(bound, name)
    except InvalidMessage as exc:
        raise ValueError(f"{name}={shown(bound)} is not a time: {exc.detail}") from None


def entry_ms(entry_id: bytes | str) -> int:
    """The millisecond part of a stream entry id (the server's clock when it was added)."""
    if isinstance(entry_id, bytes):
        return int(entry_id.partition(b"-")[0])
    return int(entry_id.partition("-")[0])


def entry_key(entry_id: bytes | str) -> tuple[int, int]:
    """``(ms, seq)`` of a stream entry id, the order Redis keeps entries in."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)
