"""The argument types of the command line: every value is checked as it is parsed.

Each type is a callable ``argparse`` runs on the raw text; a bad value raises
``argparse.ArgumentTypeError`` and argparse prints ``data-feeds <cmd>: error: argument <flag>:
<why>`` and exits 2. Numbers are always finite and bounded, lists are never empty, times are
epoch seconds or ISO-8601. Values that stand in for a ``DATA_FEEDS_*`` variable are checked by
that variable's own parser (``setting``), so a flag and its variable obey one rule.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from data_feeds.errors import ConfigError, InvalidMessage
from data_feeds.settings import VARIABLES, parse_redis_url
from data_feeds.timestamps import epoch_seconds

T = TypeVar("T", int, float)

MAX_TEXT = 200
"""The longest name, symbol, pattern or path a flag takes."""


class Number(Generic[T]):
    """A whole number (``int``) or a finite number (``float``) in ``[lo, hi]``; ``above`` /
    ``below``: strictly above ``lo`` / below ``hi``."""

    def __init__(
        self,
        kind: Callable[[str], T],
        lo: float | None = None,
        hi: float | None = None,
        *,
        above: bool = False,
        below: bool = False,
    ) -> None:
        if (above and lo is None) or (below and hi is None):
            raise ValueError("a strict bound needs the bound")
        self.kind: Callable[[str], T] = kind
        self.lo = lo
        self.hi = hi
        self.above = above
        self.below = below
        self.__name__ = kind.__name__  # argparse names the type in some messages

    def __call__(self, raw: str) -> T:
        try:
            value = self.kind(raw.strip())
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{raw!r} is not {what}") from None
        v = float(value)
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{raw!r} is not finite")
        if self.lo is not None and (v < self.lo or (self.above and v == self.lo)):
            where = "not above" if self.above else "below"
            raise argparse.ArgumentTypeError(f"{raw} is {where} {self.lo:g}")
        if self.hi is not None and (v > self.hi or (self.below and v == self.hi)):
            where = "not below" if self.below else "above"
            raise argparse.ArgumentTypeError(f"{raw} is {where} {self.hi:g}")
        return value


class Text:
    """A non-empty name, symbol, path or pattern: at most ``MAX_TEXT`` characters, no control
    characters, and (``spaces=False``) no white space."""

    def __init__(self, what: str, *, spaces: bool = False) -> None:
        self.what = what
        self.spaces = spaces
        self.__name__ = what

    def __call__(self, raw: str) -> str:
        value = raw.strip()
        if not value:
            raise argparse.ArgumentTypeError(f"an empty {self.what}")
        if len(value) > MAX_TEXT:
            raise argparse.ArgumentTypeError(f"{value[:40]!r}...: longer than {MAX_TEXT}")
        if not value.isprintable() or (not self.spaces and any(c.isspace() for c in value)):
            raise argparse.ArgumentTypeError(f"{raw!r} is not a {self.what} (no spaces)")
        return value


class TextList:
    """Comma-separated items, each a ``Text``; at least one, duplicates dropped."""

    def __init__(self, what: str) -> None:
        self.item = Text(what)
        self.__name__ = f"{what} list"

    def __call__(self, raw: str) -> list[str]:
        items = [self.item(part) for part in raw.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{raw!r}: an empty list")
        return list(dict.fromkeys(items))


class Choices:
    """Comma-separated names from ``allowed`` (case-insensitive); at least one."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.allowed = tuple(allowed)
        self.__name__ = "list"

    def __call__(self, raw: str) -> list[str]:
        items = [item.strip().lower() for item in raw.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("an empty list")
        bad = [item for item in items if item not in self.allowed]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(self.allowed)}"
            )
        return list(dict.fromkeys(items))


class Setting:
    """The text of a flag standing in for ``DATA_FEEDS_<variable>``, checked by that variable's
    parser; the text itself is kept (``run`` hands it on as the variable)."""

    def __init__(self, flag: str, variable: str) -> None:
        parsers = {name: parse for name, parse in VARIABLES.values()}
        self.flag = flag
        self.parse = parsers[variable]
        self.__name__ = variable.lower()

    def __call__(self, raw: str) -> str:
        if not raw.strip():
            raise argparse.ArgumentTypeError("no value given")
        try:
            self.parse(self.flag, raw)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(_without_name(str(exc), self.flag)) from None
        return raw


def _without_name(message: str, name: str) -> str:
    """A settings message (``NAME='raw': why`` or ``NAME: why``) without its leading name,
    which argparse already says."""
    for sep in ("=", ": "):
        if message.startswith(name + sep):
            return message[len(name) + len(sep) :]
    return message


def epoch(raw: str) -> float:
    """Epoch seconds (s, ms, us or ns by magnitude) or an ISO-8601 time (naive: UTC)."""
    try:
        return epoch_seconds(raw.strip())
    except InvalidMessage:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not epoch seconds or an ISO-8601 time"
        ) from None


def redis_url(raw: str) -> str:
    """A redis://, rediss:// or unix:// URL (its password never shown in a message)."""
    try:
        return parse_redis_url("URL", raw.strip())
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(_without_name(str(exc), "URL")) from None


def asset_class(raw: str) -> str:
    """A lower-cased asset class name such as crypto, equity or fx."""
    value = raw.strip().lower()
    if not value.isidentifier() or not value.isascii() or len(value) > 32:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a name such as crypto")
    return value


def model_name(raw: str) -> str:
    """``default`` or the dotted name of a river classifier, checked by building it."""
    # river takes ~0.5 s to import: only when a model is named, never for --help
    from data_feeds.signals.generator import build_model  # noqa: PLC0415

    value = Text("model name")(raw)
    try:
        build_model(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


count = Number(int, 1)
"""A whole number of things, at least 1."""
seed = Number(int, 0, 2**63 - 1)
seconds = Number(float, 0)
"""A duration, 0 or more."""
positive_seconds = Number(float, 0, above=True)
port = Number(int, 0, 65535)
fraction = Number(float, 0, 1)
pattern = Text("stream pattern")
symbol = Text("symbol")
