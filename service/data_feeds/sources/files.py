"""Opening recorded files: plain or gzip (told by its magic bytes), as text, CSV rows or JSON."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any, Final

import orjson

from data_feeds.errors import ReplayError

GZIP_MAGIC: Final = b"\x1f\x8b"
HEAD_BYTES: Final = 4096


def open_text(path: Path) -> IO[str]:
    with path.open("rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def head(path: Path) -> str:
    with open_text(path) as f:
        try:
            return f.read(HEAD_BYTES)
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise ReplayError(f"{path}: not a text, CSV or JSON file ({exc})") from None


def load_json(path: Path) -> Any:
    with path.open("rb") as f:
        data = f.read()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ReplayError(f"{path}: broken gzip data ({exc})") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not valid JSON ({exc})") from None


def rows(path: Path) -> Generator[tuple[int, list[str]]]:
    """CSV rows with their line numbers, blank lines skipped."""
    with open_text(path) as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if row and any(cell.strip() for cell in row):
                yield n, row


def first_rows(path: Path, count: int) -> list[list[str]]:
    """The first ``count`` rows that ``rows`` gives (a header), the file closed after."""
    numbered = rows(path)
    try:
        return [row for _, row in itertools.islice(numbered, count)]
    finally:
        numbered.close()


def dict_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    numbered = rows(path)
    first = next(numbered, None)
    if first is None:
        return
    header = [c.strip().lower() for c in first[1]]
    for n, row in numbered:
        yield n, dict(zip(header, row, strict=False))
