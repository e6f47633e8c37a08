"""Plain layouts named by their content: pandas ``to_json(orient="columns")`` candles and quotes
``timestamp,symbol,ask_size,ask,bid_size,bid`` (CSV candles: ``tabular``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from data_feeds.records import Record, Tick
from data_feeds.sources.base import Context, candle_ticks, located, num, quote_tick, timestamp
from data_feeds.sources.files import dict_rows


def read_candles_columns_json(ctx: Context) -> Iterator[Record]:
    doc = ctx.doc
    dates, closes, volumes = doc["date"], doc["close"], doc.get("volume", {})
    keys = sorted(dates, key=lambda k: int(k) if str(k).isdigit() else str(k))

    def parse(key: Any) -> tuple[None, float, float, float]:
        return (None, timestamp(dates[key]), num(closes[key]), num(volumes.get(key, 0.0)))

    yield from candle_ticks(ctx, located(ctx, enumerate(keys, start=1), parse))


def read_quotes(ctx: Context) -> Iterator[Record]:
    def parse(row: dict[str, str]) -> Tick:
        return quote_tick(ctx, row.get("symbol"), row["timestamp"], bid=row["bid"], ask=row["ask"])

    yield from located(ctx, dict_rows(ctx.path), parse)
