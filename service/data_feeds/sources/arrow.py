"""Parquet and Feather files (told by their magic bytes), read with pyarrow (the optional
``parquet`` extra, imported only for such a file) into column names and rows of cells.

Time columns become float epoch seconds here: Arrow timestamps hold the instant (with a time
zone) or the wall time (without one, read as UTC), in their unit; ``date32``/``date64`` are
their midnight UTC. pandas' index is a column (named by the index, or ``__index_level_0__``);
its position comes from the pandas metadata when it has one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from data_feeds.errors import ReplayError

PARQUET_MAGIC: Final = b"PAR1"
FEATHER_MAGICS: Final = (b"ARROW1", b"FEA1")  # Feather v2 (the Arrow IPC file), v1
INSTALL: Final = "pip install 'data-feeds[parquet]'"
_UNIT_S: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def arrow_format(path: Path) -> str | None:
    """``parquet``, ``feather`` or ``None`` (another kind of file), from the first bytes."""
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(PARQUET_MAGIC):
        return "parquet"
    if magic.startswith(FEATHER_MAGICS):
        return "feather"
    return None


def _pyarrow(path: Path, fmt: str) -> Any:
    try:
        import pyarrow  # noqa: PLC0415 - optional and heavy: only for these files
        import pyarrow.feather  # noqa: PLC0415
        import pyarrow.parquet  # noqa: PLC0415
    except ImportError:
        raise ReplayError(f"{path}: a {fmt.title()} file needs pyarrow ({INSTALL})") from None
    return pyarrow


def _index(names: Sequence[str], metadata: dict[bytes, bytes] | None) -> int | None:
    """The position of pandas' (single) index column, if the metadata names one."""
    if not metadata or b"pandas" not in metadata:
        return None
    try:
        columns = json.loads(metadata[b"pandas"]).get("index_columns", [])
    except (ValueError, AttributeError):
        return None
    named = [c for c in columns if isinstance(c, str) and c in names]
    return names.index(named[0]) if len(named) == 1 else None


def columns(path: Path, fmt: str) -> tuple[list[str], int | None]:
    """The column names of a Parquet/Feather file and the position of pandas' index."""
    pa = _pyarrow(path, fmt)
    try:
        schema = pa.parquet.read_schema(path) if fmt == "parquet" else _feather(pa, path).schema
    except (OSError, pa.ArrowException) as exc:
        raise ReplayError(f"{path}: not a readable {fmt.title()} file ({exc})") from None
    names = [str(n) for n in schema.names]
    return names, _index(names, schema.metadata)


def _feather(pa: Any, path: Path) -> Any:
    return pa.feather.read_table(path)


def table_rows(path: Path, fmt: str) -> Iterator[tuple[int, list[Any]]]:
    """The rows of a Parquet/Feather file (numbered from 1), time columns in epoch seconds."""
    pa = _pyarrow(path, fmt)
    try:
        table = pa.parquet.read_table(path) if fmt == "parquet" else _feather(pa, path)
    except (OSError, pa.ArrowException) as exc:
        raise ReplayError(f"{path}: not a readable {fmt.title()} file ({exc})") from None
    cols = [_cells(pa, column) for column in table.columns]
    for n, row in enumerate(zip(*cols, strict=True), start=1):
        yield n, list(row)


def _cells(pa: Any, column: Any) -> list[Any]:
    """A column's cells as Python values; times as float epoch seconds (None stays None)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        per_s = _UNIT_S[kind.unit]
        return [None if v is None else v / per_s for v in column.cast(pa.int64()).to_pylist()]
    if pa.types.is_date32(kind):
        return [None if v is None else v * 86400.0 for v in column.cast(pa.int32()).to_pylist()]
    if pa.types.is_date64(kind):
        return [None if v is None else v / 1000.0 for v in column.cast(pa.int64()).to_pylist()]
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
    return list(column.to_pylist())
