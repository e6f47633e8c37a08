"""Our own layout's fast path: a msgspec decoder of a plain price tick and how to build it.

Our layout is a stream entry with a single ``data`` field holding compact JSON
(``cache/codec.py``, ``records.*.to_dict``), or that JSON object itself as bytes, str or dict.
The general path (``validation.wire``, ``validation.builders``) reads every record of it; this
module makes the commonest message of all cheap: a price tick (``Tick.to_dict`` without an
exchange) read from its own price stream is decoded and range-checked by msgspec in one pass
against a type made of the validator's limits. ``SchemaValidator.validate`` runs the fast path
inline (a function call would cost a few percent of the tick) and falls back to the general
path on anything it does not take.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields
from typing import Annotated, Final, Literal, Protocol, cast

import msgspec

from data_feeds.records import Tick

__all__ = ["TICK_BY_HAND", "NativeTick", "native_tick_decoder"]

# SchemaValidator.validate's fast path fills in a Tick's fields itself, which saves the call of
# the dataclass __init__ (a Python frame, a few percent of the tick's cost). That makes the same
# object as Tick(...) as long as Tick is a plain dataclass of exactly these fields; the fast path
# calls Tick(...) otherwise (and tests/validation/test_hot_paths.py fails).
TICK_BY_HAND: Final = tuple(field.name for field in fields(Tick)) == (
    "symbol",
    "price",
    "volume",
    "timestamp",
    "asset_class",
    "bid",
    "ask",
    "exchange",
) and not hasattr(Tick, "__post_init__")


class NativeTick(Protocol):
    """What native_tick_decoder's decoder returns."""

    price: float
    volume: float
    timestamp: float
    symbol: str | None
    asset_class: str | None
    bid: float | None
    ask: float | None


@functools.lru_cache(maxsize=64)
def native_tick_decoder(
    max_price: float, max_volume: float, min_ts: float
) -> Callable[[bytes], NativeTick]:
    """A msgspec decoder of our price tick layout within these limits (one per configuration).

    It takes a JSON object of ``kind`` (``"price"``), ``price``, ``volume`` and ``timestamp``, and
    optionally (absent or ``null``) ``symbol``, ``asset_class``, ``bid`` and ``ask``; numbers are
    JSON numbers (integers become floats; booleans and text are refused) with a price in
    ``(0, max_price]``, a volume in ``[0, max_volume]`` and a timestamp ``>= min_ts``. Anything
    else raises a ``ValueError``; the general path then tells what is wrong.
    """
    price = Annotated[float, msgspec.Meta(gt=0.0, le=max_price)]
    layout = msgspec.defstruct(
        "NativeTick",
        [
            ("kind", Literal["price"]),
            ("price", price),
            ("volume", Annotated[float, msgspec.Meta(ge=0.0, le=max_volume)]),
            ("timestamp", Annotated[float, msgspec.Meta(ge=min_ts)]),
            ("symbol", str | None, None),
            ("asset_class", str | None, None),
            ("bid", price | None, None),
            ("ask", price | None, None),
        ],
        forbid_unknown_fields=True,
        gc=False,  # text and numbers only, and dropped at once
    )
    return cast(Callable[[bytes], NativeTick], msgspec.json.Decoder(layout).decode)
