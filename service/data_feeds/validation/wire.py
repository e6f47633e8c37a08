"""Wire decoding: raw bytes, text and field mappings in, Python objects out, within size limits.

- ``loads_json`` parses JSON text (bytes, bytearray, memoryview or str) after checking its
  size against ``max_bytes`` and its encoding; a refusal is sorted into ``invalid_utf8``,
  ``non_finite`` (NaN, infinities and float-overflowing numbers, which orjson refuses alike)
  or ``malformed_json``.
- ``field_map`` turns a stream entry's field mapping (bytes or str names and values, as
  redis-py returns them) into ``{str: value}``, at most 64 fields and ``max_bytes`` for all
  names and values together, counted before anything is decoded further.

Every failure raises ``InvalidMessage`` (``empty_payload``, ``payload_too_large``,
``invalid_utf8``, ``malformed_json``, ``non_finite``, ``wrong_type``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from orjson import JSONDecodeError
from orjson import loads as orjson_loads

from data_feeds.errors import InvalidMessage, shown

__all__ = ["MAX_FIELDS", "field_map", "json_failure", "loads_json"]

MAX_FIELDS: Final = 64  # fields of one flat entry; cryptofeed's largest type has 14


def _text_size(text: str) -> int:
    """The UTF-8 size of text (lone surrogates counted as 3 bytes; they fail later)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


class _NonFiniteError(Exception):
    """Raised from the stdlib JSON hooks when a rejected document held a non-finite number."""


def _constant_hook(_: str) -> float:
    raise _NonFiniteError


def _float_hook(text: str) -> float:
    if not math.isfinite(float(text)):
        raise _NonFiniteError
    return 0.0


def _int_hook(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits > 309:  # float's maximum is about 1.8e308
        raise _NonFiniteError
    if digits == 309:
        try:
            float(int(text))
        except OverflowError:
            raise _NonFiniteError from None
    return 0


def _holds_non_finite(text: str) -> bool:
    """Whether JSON text that orjson refused is JSON with a NaN, an infinity or an overflow.

    orjson rejects ``NaN``/``Infinity`` (not JSON) and numbers beyond a double (``1e400``, long
    integers) alike; the standard library parser with hooks tells them apart. Error path only.
    """
    try:
        json.loads(
            text, parse_constant=_constant_hook, parse_float=_float_hook, parse_int=_int_hook
        )
    except _NonFiniteError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


def json_failure(
    data: bytes | bytearray | str, exc: ValueError, field: str | None
) -> InvalidMessage:
    """Sort a JSON text orjson refused into invalid_utf8, non_finite or malformed_json."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            return InvalidMessage("invalid_utf8", f"invalid UTF-8 at byte {err.start}", field)
    if _holds_non_finite(text):
        return InvalidMessage("non_finite", "a NaN, infinite or float-overflowing number", field)
    return InvalidMessage("malformed_json", str(exc)[:160], field)


def loads_json(data: object, field: str | None, max_bytes: int) -> Any:
    """Parse JSON text after checking its size and encoding."""
    buf: bytes | bytearray | str
    if type(data) is bytes or isinstance(data, bytes | bytearray):
        buf = data
        size = len(buf)
    elif isinstance(data, str):
        size = len(data)
        if size > max_bytes:  # UTF-8 is never shorter than the character count
            raise InvalidMessage("payload_too_large", f"{size} characters > {max_bytes}", field)
        if data.isascii():
            buf = data
        else:
            try:
                buf = data.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidMessage("invalid_utf8", "text with lone surrogates", field) from None
            size = len(buf)
    elif isinstance(data, memoryview):
        try:
            size = data.nbytes
            buf = data.tobytes() if size <= max_bytes else b""
        except ValueError:
            raise InvalidMessage("wrong_type", "a released memoryview", field) from None
    else:
        raise InvalidMessage("wrong_type", f"expected JSON text, got {shown(data)}", field)
    if size == 0:
        raise InvalidMessage("empty_payload", "no bytes", field)
    if size > max_bytes:
        raise InvalidMessage("payload_too_large", f"{size} bytes > {max_bytes}", field)
    try:
        return orjson_loads(buf)
    except JSONDecodeError as exc:
        raise json_failure(buf, exc, field) from None


def field_map(raw: Mapping[Any, Any], max_bytes: int) -> dict[str, Any]:
    """A field mapping (or a dict payload) as ``{str: value}``, byte values decoded."""
    count = len(raw)
    if count == 0:
        raise InvalidMessage("empty_payload", "no fields")
    if count > MAX_FIELDS:
        raise InvalidMessage("payload_too_large", f"{count} fields > {MAX_FIELDS}")
    size = 0
    out: dict[str, Any] = {}
    for key, raw_value in raw.items():
        if isinstance(key, str):
            name = key
            size += _text_size(key)
        elif isinstance(key, bytes):
            size += len(key)
            try:
                name = key.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidMessage("invalid_utf8", f"field name {shown(key)}") from None
        else:
            raise InvalidMessage("wrong_type", f"a field name must be text, not {shown(key)}")
        value: Any = raw_value
        if isinstance(raw_value, bytes | bytearray | memoryview):
            try:
                size += raw_value.nbytes if isinstance(raw_value, memoryview) else len(raw_value)
                if size > max_bytes:
                    raise InvalidMessage("payload_too_large", f"fields > {max_bytes} bytes")
                value = bytes(raw_value).decode("utf-8")
            except UnicodeDecodeError as err:
                raise InvalidMessage(
                    "invalid_utf8", f"invalid UTF-8 at byte {err.start}", name
                ) from None
            except ValueError:
                raise InvalidMessage("wrong_type", "a released memoryview", name) from None
        elif isinstance(raw_value, str):
            size += _text_size(raw_value)
        else:
            size += 8  # a number, boolean, null or container of a dict payload
        if size > max_bytes:
            raise InvalidMessage("payload_too_large", f"fields > {max_bytes} bytes")
        out[name] = value
    if len(out) != count:
        raise InvalidMessage("wrong_type", "the same field name twice (as bytes and as text)")
    return out
