"""The commands that publish to the input streams: ``simulate`` (a simulated market) and
``replay`` (a recorded file). Both publish with a progress line on stderr, stop gracefully on
Ctrl-C/SIGTERM and report the run through one summary."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable
from typing import Any

from data_feeds.cache import keys
from data_feeds.cache.clients import redacted
from data_feeds.cli import types
from data_feeds.cli.aio import run_async
from data_feeds.cli.connect import Target
from data_feeds.cli.options import Shared, add_command
from data_feeds.cli.output import ProgressLine, kinds_line, print_summary
from data_feeds.errors import ReplayError, UsageError
from data_feeds.runtime.shutdown import stop_on_signals
from data_feeds.simulation.edge_cases import FAULT_TYPES
from data_feeds.simulation.feeds import ASSET_CLASSES
from data_feeds.simulation.publisher import PublishResult, StreamPublisher
from data_feeds.simulation.scenario import build_scenario
from data_feeds.sources import open_records


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], shared: Shared) -> None:
    """Add ``simulate`` and ``replay`` to the subcommands ``sub``."""
    parents = [shared.publishing, shared.redis, shared.json]
    p = add_command(
        sub,
        "simulate",
        "publish simulated ticks, trades, books (and sentiment, faults) to the input streams",
        simulate,
        parents=parents,
    )
    p.add_argument(
        "--symbols",
        type=types.Number(int, 1, 10_000),
        default=10,
        metavar="N",
        help="how many symbols (default 10); well-known ones first, then SYM001USDT...",
    )
    p.add_argument(
        "--asset-classes",
        type=types.Choices(ASSET_CLASSES),
        default=["crypto"],
        metavar="LIST",
        help="comma-separated: crypto,equity,fx (default crypto); every simulated market "
        "trades around the clock: judge equity and fx ones as such with "
        "DATA_FEEDS_CALENDARS=equity=24/7,fx=24/7",
    )
    p.add_argument(
        "--rate",
        type=types.Number(float, 0),
        default=2000.0,
        metavar="MSG_PER_S",
        help="messages per second in total (default 2000); simulated time then runs "
        "with the wall clock from now. 0: as fast as possible, simulated time "
        "starting a day ago",
    )
    p.add_argument(
        "--duration",
        type=types.seconds,
        default=60.0,
        metavar="SECONDS",
        help="wall-clock run time (default 60); 0: until --count or Ctrl-C",
    )
    p.add_argument(
        "--count", type=types.count, default=None, metavar="N", help="stop after N messages"
    )
    p.add_argument(
        "--faults",
        type=types.fraction,
        default=0.0,
        metavar="FRACTION",
        help="about this fraction of price/trade messages gets a labelled fault, "
        "split evenly over --fault-types (default 0)",
    )
    p.add_argument(
        "--fault-types",
        type=types.Choices(FAULT_TYPES),
        default=list(FAULT_TYPES),
        metavar="LIST",
        help="comma-separated subset of: " + ",".join(FAULT_TYPES),
    )
    p.add_argument(
        "--seed",
        type=types.seed,
        default=None,
        metavar="N",
        help="random seed (default: a fresh one, printed in the summary)",
    )
    p.add_argument(
        "--start",
        type=types.epoch,
        default=None,
        metavar="TIME",
        help="simulated start, epoch seconds or ISO-8601 (default: see --rate)",
    )
    p.add_argument(
        "--books",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="level-2 order books (default on)",
    )
    p.add_argument(
        "--trades", action=argparse.BooleanOptionalAction, default=True, help="trades (default on)"
    )
    p.add_argument(
        "--book-depth",
        type=types.Number(int, 1, 500),
        default=10,
        metavar="LEVELS",
        help="levels per side of each book (default 10)",
    )
    p.add_argument(
        "--sentiment",
        action="store_true",
        help="also publish TwitterSentiment and NewsScraper scores per keyword",
    )
    p.add_argument(
        "--sentiment-lead",
        type=types.seconds,
        default=60.0,
        metavar="SECONDS",
        help="the tweets' lead over the price return (default 60; 0: none)",
    )

    p = add_command(
        sub,
        "replay",
        "publish a recorded market-data file to the input streams",
        replay,
        parents=parents,
    )
    p.add_argument(
        "path",
        type=types.Text("path", spaces=True),
        metavar="PATH",
        help="a recorded file (candles, trades, depth, quotes)",
    )
    p.add_argument(
        "--symbol",
        type=types.symbol,
        default=None,
        help="symbol of the records (default: the file's column, else its name)",
    )
    p.add_argument(
        "--asset-class",
        type=types.asset_class,
        default="crypto",
        help="asset class (default crypto)",
    )
    p.add_argument(
        "--speed",
        type=types.Number(float, 0),
        default=0.0,
        metavar="X",
        help="1: the recorded pace, 10: ten times faster, 0: as fast as possible (default)",
    )
    p.add_argument(
        "--limit", type=types.count, default=None, metavar="N", help="stop after N messages"
    )


def simulate(args: argparse.Namespace) -> None:
    try:
        scenario = build_scenario(
            symbols=args.symbols,
            asset_classes=args.asset_classes,
            rate=args.rate,
            seed=args.seed,
            start_s=args.start,
            trades=args.trades,
            books=args.books,
            book_depth=args.book_depth,
            sentiment=args.sentiment,
            sentiment_lead_s=args.sentiment_lead,
            faults=args.faults,
            fault_types=args.fault_types,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    seed, start, injector = scenario.seed, scenario.start_s, scenario.injector
    result, url, stopped = run_async(
        _publish(
            args,
            "simulate",
            scenario.messages,
            manifest_key=keys.SIM_FAULTS if injector is not None else None,
            speed=1.0 if scenario.paced else 0.0,
            limit=args.count,
            duration_s=args.duration or None,
            faults=injector.faults if injector is not None else None,
        )
    )
    summary = _published_summary(result, url, stopped)
    faults = result.faults_by_type()
    summary.update(
        streams=len(result.streams),
        seed=seed,
        start_s=start,
        faults=faults,
        faults_total=len(result.faults),
        dropped_in_silences=injector.dropped if injector is not None else 0,
        fault_manifest_key=keys.SIM_FAULTS if injector is not None else None,
    )
    lines = [
        f"published {result.published:,} messages to {len(result.streams)} streams in "
        f"{result.elapsed_s:.1f} s ({result.rate_per_s:,.0f}/s)"
        + (" (stopped)" if stopped else ""),
        kinds_line(summary["by_kind"]),
    ]
    if injector is not None:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(faults.items())) or "none"
        lines.append(
            f"faults: {len(result.faults):,} labelled ({kinds}); "
            f"{injector.dropped:,} messages dropped in silences; manifest in {keys.SIM_FAULTS}"
        )
    lines.append(f"seed {seed} (rerun with --seed {seed} --start {start!r})")
    print_summary(summary, args.json, lines)


def replay(args: argparse.Namespace) -> None:
    try:
        layout, records = open_records(args.path, args.symbol, args.asset_class)
    except ReplayError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.path}: {exc.strerror or exc}") from None
    try:
        result, url, stopped = run_async(
            _publish(args, "replay", records, speed=args.speed, limit=args.limit)
        )
    except ReplayError as exc:  # a bad row further down the file
        raise UsageError(str(exc)) from None
    summary = {"path": str(args.path), "layout": layout, **_published_summary(result, url, stopped)}
    lines = [
        f"replayed {result.published:,} messages ({layout}) from {args.path} to "
        + ", ".join(sorted(result.streams))
        + f" in {result.elapsed_s:.1f} s ({result.rate_per_s:,.0f}/s)",
        kinds_line(summary["by_kind"]),
    ]
    print_summary(summary, args.json, lines)


async def _publish(
    args: argparse.Namespace,
    label: str,
    messages: Iterable[Any],
    *,
    manifest_key: str | None = None,
    **options: Any,
) -> tuple[PublishResult, str, bool]:
    """Publish to the command's Redis with a progress line, stopping gracefully on
    Ctrl-C/SIGTERM; the result, the URL and whether it was stopped."""
    target = Target(args.redis_url)
    client = await target.client()
    progress = ProgressLine(label)
    stop = asyncio.Event()
    try:
        publisher = StreamPublisher(
            client,
            maxlen=args.maxlen or target.settings.stream_maxlen,
            manifest_key=manifest_key,
            # unpaced, it writes history: each entry at its event time (docs/processing_order.md)
            at_event_time=not options.get("speed") and not options.get("rate"),
        )
        with stop_on_signals(stop.set, once=True):
            result = await publisher.publish(
                messages,
                stop=stop,
                progress=progress,
                progress_interval_s=progress.interval_s,
                **options,
            )
    finally:
        progress.close()
        await client.aclose()
    return result, target.url, stop.is_set()


def _published_summary(result: PublishResult, url: str, stopped: bool) -> dict[str, Any]:
    """What simulate and replay both report of a publishing run."""
    return {
        "published": result.published,
        "per_stream": result.streams,
        "by_kind": result.by_kind(),
        "elapsed_s": round(result.elapsed_s, 3),
        "rate_per_s": round(result.rate_per_s, 1),
        "stopped": stopped,
        "redis": redacted(url),
    }
