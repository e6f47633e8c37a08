"""tardis.dev CSV: ``trades``, ``quotes``, ``book_snapshot_N`` and ``incremental_book_L2``."""

from __future__ import annotations

from collections.abc import Iterator

from data_feeds.records import Level, Record, Tick, Trade
from data_feeds.sources.base import (
    SIDES,
    Context,
    TickRule,
    book,
    grouped_books,
    located,
    num,
    quote_tick,
    side_of,
    timestamp,
)
from data_feeds.sources.files import dict_rows


def read_tardis_incremental(ctx: Context) -> Iterator[Record]:
    yield from grouped_books(
        ctx,
        dict_rows(ctx.path),
        key=lambda r: (r["symbol"], r["timestamp"], r["is_snapshot"]),
        level=lambda r: (side_of(r["side"]), num(r["price"]), num(r["amount"])),
        snapshot=lambda r: r["is_snapshot"].strip().lower() == "true",
        symbol_col="symbol",
        exchange_col="exchange",
    )


def read_tardis_snapshots(ctx: Context) -> Iterator[Record]:
    asset_class = ctx.asset_class

    def parse(row: dict[str, str]) -> Record:
        sides: dict[str, list[Level]] = {"bids": [], "asks": []}
        for name, levels in sides.items():
            i = 0
            while (price := row.get(f"{name}[{i}].price")) is not None:
                amount = row.get(f"{name}[{i}].amount", "")
                if price.strip() and amount.strip():
                    levels.append((num(price), num(amount)))
                i += 1
        exchange = row.get("exchange") or None
        return book(
            ctx.symbol(row.get("symbol")),
            timestamp(row["timestamp"]),
            sides["bids"],
            sides["asks"],
            asset_class=asset_class,
            snapshot=True,
            exchange=exchange.upper() if exchange else None,
        )

    yield from located(ctx, dict_rows(ctx.path), parse)


def read_tardis_quotes(ctx: Context) -> Iterator[Record]:
    def parse(row: dict[str, str]) -> Tick:
        return quote_tick(
            ctx,
            row.get("symbol"),
            row["timestamp"],
            bid=row["bid_price"],
            ask=row["ask_price"],
            exchange=row.get("exchange"),
        )

    yield from located(ctx, dict_rows(ctx.path), parse)


def read_tardis_trades(ctx: Context) -> Iterator[Record]:
    asset_class = ctx.asset_class
    rules: dict[str, TickRule] = {}

    def parse(row: dict[str, str]) -> Trade:
        symbol = ctx.symbol(row.get("symbol"))
        rule = rules.setdefault(symbol, TickRule())
        p = num(row["price"])
        side = SIDES.get(row["side"].strip().lower()) or rule.side(p)
        rule.last_price = p
        exchange = row.get("exchange") or None
        return Trade(
            symbol,
            p,
            num(row["amount"]),
            side,
            timestamp(row["timestamp"]),
            asset_class,
            row.get("id") or None,
            exchange.upper() if exchange else None,
        )

    yield from located(ctx, dict_rows(ctx.path), parse)
