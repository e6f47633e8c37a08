"""freqtrade's data files: candles and trades as JSON arrays, trades as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from data_feeds.records import Record, Trade
from data_feeds.sources.base import SIDES, Context, TickRule, candle_ticks, located, num, timestamp
from data_feeds.sources.files import dict_rows


def read_candles_json(ctx: Context) -> Iterator[Record]:
    doc = ctx.doc

    def parse(row: Any) -> tuple[None, float, float, float]:
        return (None, timestamp(row[0]), num(row[4]), num(row[5]))

    yield from candle_ticks(ctx, located(ctx, enumerate(doc, start=1), parse))


def read_trades_json(ctx: Context) -> Iterator[Record]:
    doc = ctx.doc
    symbol, asset_class = ctx.symbol(), ctx.asset_class
    rule = TickRule()

    def parse(row: list[Any]) -> Trade:
        ts_ms, trade_id, _type, side, price, amount = row[:6]
        p = num(price)
        s = SIDES.get(str(side).lower()) or rule.side(p)
        rule.last_price = p
        tid = None if trade_id is None else str(trade_id)
        return Trade(symbol, p, num(amount), s, timestamp(ts_ms), asset_class, tid)

    yield from located(ctx, enumerate(doc, start=1), parse)


def read_trades_csv(ctx: Context) -> Iterator[Record]:
    symbol, asset_class = ctx.symbol(), ctx.asset_class
    rule = TickRule()

    def parse(row: dict[str, str]) -> Trade:
        p = num(row["price"])
        s = SIDES.get(row["side"].strip().lower()) or rule.side(p)
        rule.last_price = p
        tid = row.get("id") or None
        ts = timestamp(row["timestamp"])
        return Trade(symbol, p, num(row["amount"]), s, ts, asset_class, tid)

    yield from located(ctx, dict_rows(ctx.path), parse)
