"""Kraken's trade history CSV: ``ts_s,price,volume``, no header, no side (the tick rule)."""

from __future__ import annotations

from collections.abc import Iterator

from data_feeds.records import Record, Trade
from data_feeds.sources.base import Context, TickRule, located, num, timestamp
from data_feeds.sources.files import rows


def read_kraken_trades(ctx: Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class
    rule = TickRule()

    def parse(row: list[str]) -> Trade:
        p = num(row[1])
        return Trade(symbol, p, num(row[2]), rule.side(p), timestamp(row[0]), asset_class)

    yield from located(ctx, rows(ctx.path), parse)
