"""NautilusTrader's trade tick CSV: ``timestamp,trade_id,price,quantity,buyer_maker``."""

from __future__ import annotations

from collections.abc import Iterator

from data_feeds.errors import ReplayError
from data_feeds.records import Record, Trade
from data_feeds.sources.base import Context, located, num, timestamp
from data_feeds.sources.files import dict_rows


def read_nautilus_trades(ctx: Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class

    def parse(row: dict[str, str]) -> Trade:
        maker = row["buyer_maker"].strip().lower()
        if maker not in ("true", "false", "1", "0"):
            raise ReplayError(f"buyer_maker {row['buyer_maker']!r} is not a boolean")
        side = "sell" if maker in ("true", "1") else "buy"
        ts = timestamp(row["timestamp"])
        tid = row["trade_id"] or None
        return Trade(symbol, num(row["price"]), num(row["quantity"]), side, ts, asset_class, tid)

    yield from located(ctx, dict_rows(ctx.path), parse)
