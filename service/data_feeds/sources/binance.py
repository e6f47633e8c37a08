"""Binance's public data: kline CSV (12 columns, no header), depth CSV (``snap``/``set`` rows)."""

from __future__ import annotations

from collections.abc import Iterator

from data_feeds.records import Record, Tick
from data_feeds.sources.base import Context, grouped_books, located, num, side_of
from data_feeds.sources.files import dict_rows, rows


def read_binance_klines(ctx: Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class

    def parse(row: list[str]) -> Tick:
        close_s = (num(row[6]) + 1.0) / 1000.0  # close_time is the interval's last ms
        return Tick(symbol, num(row[4]), num(row[5]), close_s, asset_class)

    yield from located(ctx, rows(ctx.path), parse)


def read_binance_depth(ctx: Context) -> Iterator[Record]:
    yield from grouped_books(
        ctx,
        dict_rows(ctx.path),
        key=lambda r: (r["timestamp"], r.get("last_update_id"), r["update_type"]),
        level=lambda r: (side_of(r["side"]), num(r["price"]), num(r["qty"])),
        snapshot=lambda r: r["update_type"].strip().lower() == "snap",
        symbol_col="symbol",
    )
