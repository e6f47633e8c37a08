"""ccxt's trade dicts (``fetch_trades``) saved as a JSON array."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from data_feeds.records import Record, Trade
from data_feeds.sources.base import SIDES, Context, TickRule, located, num, timestamp


def read_ccxt_trades(ctx: Context) -> Iterator[Record]:
    doc = ctx.doc
    asset_class = ctx.asset_class
    rule = TickRule()

    def parse(row: dict[str, Any]) -> Trade:
        p = num(row["price"])
        s = SIDES.get(str(row.get("side")).lower()) or rule.side(p)
        rule.last_price = p
        tid = row.get("id")
        return Trade(
            ctx.symbol(row.get("symbol")),
            p,
            num(row["amount"]),
            s,
            timestamp(row["timestamp"]),
            asset_class,
            None if tid is None else str(tid),
        )

    yield from located(ctx, enumerate(doc, start=1), parse)
