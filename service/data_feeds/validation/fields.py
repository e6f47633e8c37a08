"""Field rules: what a valid symbol, asset class, label, number, price, size, timestamp, side
and book side is, with the limits and caches of one validator.

``FieldRules`` holds the configuration (checked in ``__init__``) and the caches of text already
found valid (symbols, asset classes; up to 4096 of each), so that on the hot path a field costs
a dictionary lookup. Every rule raises ``InvalidMessage`` with a code from ``errors.REASONS``.
The record builders (``validation.builders``) and the front (``SchemaValidator``) extend this
class rather than hold an instance: the hot path then reads a limit or a cache as one
attribute of ``self``.

- Symbols and keywords: ASCII, at most 64 characters as sent; after ``keys.normalize_symbol``
  (upper case, ``-`` ``/`` ``_`` ``:`` removed) 1-32 characters of ``A-Z 0-9 .``.
- Asset class: lower-cased, 1-32 characters of ``a-z 0-9 _`` starting with a letter; the
  payload's, else the stream key's, else the ``asset_classes`` mapping, else the default.
- Numbers: JSON numbers or numeric text (ASCII); booleans are not numbers (``wrong_type``);
  NaN, infinities and numbers beyond a float are ``non_finite``. ``None``/``'None'``/``''``
  mean absent (``absent``).
- Timestamps: read by ``data_feeds.timestamps``; must lie in
  ``[min_timestamp_s, now + max_future_s]``.
- Trade sides: ``buy``/``sell`` in lower, upper or title case, or ``b``/``s`` (either case).
- Book sides: ``[price, size]`` pairs (or a ``{price: size}`` object), at most
  ``max_book_levels``, sizes >= 0; bids best (highest) first, asks lowest first (stable).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any, Final

from data_feeds.cache.keys import StreamInfo, normalize_symbol
from data_feeds.checks import check_int, check_number
from data_feeds.errors import InvalidMessage, shown
from data_feeds.records import DEFAULT_ASSET_CLASS, Level
from data_feeds.timestamps import SECONDS_CEILING, epoch_seconds
from data_feeds.validation.wire import loads_json

__all__ = ["CACHE_LIMIT", "NONE", "SIDES", "SYMBOL_RE", "FieldRules", "absent"]

SYMBOL_RE: Final = re.compile(r"[A-Z0-9.]{1,32}")
_ASSET_CLASS_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_MAX_SYMBOL_INPUT_CHARS: Final = 64
_MAX_TEXT_CHARS: Final = 128  # exchange, source, trade id
CACHE_LIMIT: Final = 4096  # distinct symbols / stream keys remembered as already valid
_MAX_TRADE_ID_INT: Final = 1 << 64
_BY_PRICE: Final = itemgetter(0)

NONE: Final = "None"  # cryptofeed's none_to
SIDES: Final = {
    "buy": "buy",
    "BUY": "buy",
    "Buy": "buy",
    "b": "buy",
    "B": "buy",
    "sell": "sell",
    "SELL": "sell",
    "Sell": "sell",
    "s": "sell",
    "S": "sell",
}


def absent(value: object) -> bool:
    """``None``, ``''`` and cryptofeed's ``'None'`` all mean "not given"."""
    return value is None or (type(value) is str and (not value or value == NONE))


def _config_asset_class(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.isascii():
        raise ValueError(f"{name} must be an asset class name, got {shown(value)}")
    lowered = value.lower()
    if _ASSET_CLASS_RE.fullmatch(lowered) is None:
        raise ValueError(
            f"{name}: {value!r} is not 1-32 characters of a-z 0-9 _ starting with a letter"
        )
    return lowered


class FieldRules:
    """The rules for single fields, within one configuration (see ``SchemaValidator``)."""

    __slots__ = (
        "_asset_map",
        "_asset_names",
        "_clock",
        "_default_asset",
        "_max_bytes",
        "_max_future",
        "_max_levels",
        "_max_price",
        "_max_volume",
        "_min_ts",
        "_symbols",
        "_ts_ceiling",
    )

    def __init__(
        self,
        *,
        asset_classes: Mapping[str, str] | None = None,
        default_asset_class: str = DEFAULT_ASSET_CLASS,
        max_payload_bytes: int = 65536,
        max_book_levels: int = 1000,
        max_price: float = 1e12,
        max_volume: float = 1e15,
        min_timestamp_s: float = 946684800.0,
        max_future_s: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._default_asset = _config_asset_class("default_asset_class", default_asset_class)
        self._max_bytes = check_int("max_payload_bytes", max_payload_bytes)
        self._max_levels = check_int("max_book_levels", max_book_levels)
        self._max_price = check_number("max_price", max_price, positive=True)
        self._max_volume = check_number("max_volume", max_volume, positive=True)
        self._min_ts = check_number("min_timestamp_s", min_timestamp_s)
        self._max_future = check_number("max_future_s", max_future_s)
        if not callable(clock):
            raise ValueError(f"clock must be a callable returning epoch seconds, got {clock!r}")
        self._clock = clock
        # Float seconds up to this pass the hot path without reading the clock. It is
        # clock() + max_future_s as last read (capped below the millisecond range), refreshed
        # whenever a timestamp goes past it: the clock only moves on, so it never admits a
        # timestamp that a fresh reading would refuse.
        self._ts_ceiling = -math.inf
        # Caches of already-validated text: raw symbol -> normalized, raw asset class ->
        # normalized. Bounded; only valid entries are stored.
        self._symbols: dict[str, str] = {}
        self._asset_names: dict[str, str] = {self._default_asset: self._default_asset}
        self._asset_map: dict[str, str] = {}
        if asset_classes is not None:
            if not isinstance(asset_classes, Mapping):
                raise ValueError(
                    f"asset_classes must be a mapping of symbol to asset class, "
                    f"got {shown(asset_classes)}"
                )
            for symbol, asset_class in asset_classes.items():
                if (
                    not isinstance(symbol, str)
                    or not symbol.isascii()
                    or SYMBOL_RE.fullmatch(normalize_symbol(symbol)) is None
                ):
                    raise ValueError(f"asset_classes: {shown(symbol)} is not a valid symbol")
                name = _config_asset_class(f"asset_classes[{symbol!r}]", asset_class)
                self._asset_map[normalize_symbol(symbol)] = name
                self._asset_names[name] = name
        self._prepare()

    def _prepare(self) -> None:
        """What a subclass precomputes from the checked limits (called last by ``__init__``)."""

    def _loads(self, data: object, field: str | None) -> Any:
        """JSON text inside a field, within the payload size limit."""
        return loads_json(data, field, self._max_bytes)

    def _identity(
        self, obj: dict[str, Any], hint: StreamInfo | None
    ) -> tuple[str, str, str | None]:
        """``(symbol, asset_class, exchange)`` of a market record; cache hits stay inline."""
        value = obj.get("symbol")
        symbol = self._symbols.get(value) if type(value) is str else None
        if symbol is None or (hint is not None and symbol != hint.symbol):
            symbol = self._symbol_of(value, hint, "symbol")
        value = obj.get("asset_class")
        asset_class = self._asset_names.get(value) if type(value) is str else None
        if asset_class is None or (
            hint is not None and hint.asset_class is not None and asset_class != hint.asset_class
        ):
            asset_class = self._asset_class_of(value, hint, symbol)
        exchange = obj.get("exchange")
        if exchange is not None:
            exchange = self._exchange_of(exchange, hint)
        elif hint is not None:
            exchange = hint.exchange
        return symbol, asset_class, exchange

    def _symbol(self, value: str, field: str) -> str:
        """A symbol or keyword, normalized; cached once valid."""
        symbol = self._symbols.get(value)
        if symbol is not None:
            return symbol
        if len(value) > _MAX_SYMBOL_INPUT_CHARS or not value.isascii():
            raise InvalidMessage("invalid_symbol", f"{shown(value)}", field)
        symbol = normalize_symbol(value)
        if SYMBOL_RE.fullmatch(symbol) is None:
            raise InvalidMessage("invalid_symbol", f"{shown(value)}", field)
        if len(self._symbols) < CACHE_LIMIT and value != NONE:
            self._symbols[value] = symbol
        return symbol

    def _symbol_of(self, value: object, hint: StreamInfo | None, field: str) -> str:
        if type(value) is str and value != NONE:
            symbol = self._symbols.get(value)
            if symbol is None:
                symbol = self._symbol(value, field)
            if hint is not None and symbol != hint.symbol:
                raise InvalidMessage(
                    "stream_mismatch", f"{symbol!r} in the stream of {hint.symbol!r}", field
                )
            return symbol
        if value is None or type(value) is str:  # absent, or cryptofeed's 'None'
            if hint is None:
                raise InvalidMessage("missing_field", f"no {field}", field)
            return hint.symbol
        raise InvalidMessage("wrong_type", f"{field} must be text, not {shown(value)}", field)

    def _asset_class(self, value: str, field: str) -> str:
        name = self._asset_names.get(value)
        if name is not None:
            return name
        lowered = value.lower() if value.isascii() else ""
        if _ASSET_CLASS_RE.fullmatch(lowered) is None:
            raise InvalidMessage("invalid_asset_class", f"{shown(value)}", field)
        if len(self._asset_names) < CACHE_LIMIT and value != NONE:
            self._asset_names[value] = lowered
        return lowered

    def _asset_class_of(self, value: object, hint: StreamInfo | None, symbol: str) -> str:
        if type(value) is str:
            name = self._asset_names.get(value)
            if name is None:
                if not value or value == NONE:
                    return self.implied_asset_class(hint, symbol)
                name = self._asset_class(value, "asset_class")
            if hint is not None and hint.asset_class is not None and name != hint.asset_class:
                raise InvalidMessage(
                    "stream_mismatch", f"{name!r} in a {hint.asset_class!r} stream", "asset_class"
                )
            return name
        if value is None:
            return self.implied_asset_class(hint, symbol)
        raise InvalidMessage(
            "wrong_type", f"asset_class must be text, not {shown(value)}", "asset_class"
        )

    def implied_asset_class(self, hint: StreamInfo | None, symbol: str) -> str:
        """The stream key's asset class, else the symbol's configured one, else the default."""
        if hint is not None and hint.asset_class is not None:
            return hint.asset_class
        return self._asset_map.get(symbol, self._default_asset)

    @staticmethod
    def _text(value: object, field: str) -> str | None:
        """An optional short label (exchange, source)."""
        if absent(value):
            return None
        if type(value) is not str:
            raise InvalidMessage("wrong_type", f"{field} must be text, not {shown(value)}", field)
        if len(value) > _MAX_TEXT_CHARS:
            raise InvalidMessage("wrong_type", f"{field} over {_MAX_TEXT_CHARS} characters", field)
        return value

    def _exchange_of(self, value: object, hint: StreamInfo | None) -> str | None:
        if value is None:
            return None if hint is None else hint.exchange
        exchange = self._text(value, "exchange")
        if exchange is None and hint is not None:
            return hint.exchange
        return exchange

    @staticmethod
    def _trade_id(value: object) -> str | None:
        if type(value) is int:
            if -_MAX_TRADE_ID_INT < value < _MAX_TRADE_ID_INT:
                return str(value)
            raise InvalidMessage("wrong_type", f"trade id is {shown(value)}", "trade_id")
        return FieldRules._text(value, "trade_id")

    @staticmethod
    def _number(value: object, field: str) -> float:
        """Any accepted number as a finite plain float (booleans are not numbers)."""
        if isinstance(value, float):
            number = float(value)  # also turns a float subclass (numpy.float64) into a float
        elif isinstance(value, str):
            if not value or value == NONE:
                raise InvalidMessage("missing_field", f"no {field}", field)
            if not value.isascii():  # float() would read other scripts' digits
                raise InvalidMessage("wrong_type", f"{field} is {shown(value)}", field)
            try:
                number = float(value)
            except ValueError:
                raise InvalidMessage(
                    "wrong_type", f"{field} is {shown(value)}, not a number", field
                ) from None
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise InvalidMessage("non_finite", f"{field} is {shown(value)}", field) from None
        elif value is None:
            raise InvalidMessage("missing_field", f"no {field}", field)
        else:
            raise InvalidMessage("wrong_type", f"{field} is {shown(value)}, not a number", field)
        if not math.isfinite(number):
            raise InvalidMessage("non_finite", f"{field} is {number!r}", field)
        return number

    def _price(self, value: object, field: str) -> float:
        price = self._number(value, field)
        if price <= 0.0:
            raise InvalidMessage("non_positive_price", f"{field} {price!r}", field)
        if price > self._max_price:
            raise InvalidMessage(
                "price_out_of_range", f"{field} {price!r} > {self._max_price!r}", field
            )
        return price

    def _size(self, value: object, field: str) -> float:
        size = self._number(value, field)
        if size < 0.0:
            raise InvalidMessage("negative_volume", f"{field} {size!r}", field)
        if size > self._max_volume:
            raise InvalidMessage(
                "volume_out_of_range", f"{field} {size!r} > {self._max_volume!r}", field
            )
        return size + 0.0  # -0.0 -> 0.0

    def _timestamp(self, value: object, field: str) -> float:
        """Epoch seconds by the rules of ``data_feeds.timestamps``, within the allowed window."""
        ts = epoch_seconds(value, field)
        if ts < self._min_ts:
            raise InvalidMessage(
                "timestamp_out_of_range", f"{field} {ts!r} s is before {self._min_ts!r}", field
            )
        horizon = self._clock() + self._max_future
        self._ts_ceiling = min(horizon, SECONDS_CEILING)
        if ts > horizon:
            raise InvalidMessage(
                "timestamp_out_of_range",
                f"{field} {ts!r} is more than {self._max_future!r} s ahead",
                field,
            )
        return ts

    def _levels(self, value: object, field: str, *, best_high: bool) -> tuple[Level, ...]:
        if absent(value):
            return ()
        if isinstance(value, str | bytes):
            value = self._loads(value, field)
        pairs: Any
        if type(value) is list or type(value) is tuple:
            pairs = value
        elif type(value) is dict:
            pairs = value.items()
        else:
            raise InvalidMessage("wrong_type", f"{field} must be a list of levels", field)
        if len(pairs) > self._max_levels:
            raise InvalidMessage(
                "too_many_levels", f"{len(pairs)} {field} > {self._max_levels}", field
            )
        max_price = self._max_price
        max_volume = self._max_volume
        levels: list[Level] = []
        for level in pairs:
            if (type(level) is list or type(level) is tuple) and len(level) == 2:
                price, size = level
            else:
                raise InvalidMessage("wrong_type", f"a {field} level must be [price, size]", field)
            if not (type(price) is float and 0.0 < price <= max_price):
                price = self._price(price, field)
            if not (type(size) is float and 0.0 <= size <= max_volume):
                size = self._size(size, field)
            levels.append((price, size))
        levels.sort(key=_BY_PRICE, reverse=best_high)
        return tuple(levels)
