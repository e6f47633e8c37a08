"""The ``data-feeds`` command line (also ``python -m data_feeds``).

Every subcommand is a ``Command`` in ``COMMANDS``: its name, a one-line help, a function that
adds its arguments to an ``argparse`` parser and a function that runs it and returns the exit
code. Adding one is a ``register(Command(...))`` call (or the ``@command(...)`` decorator).

Exit codes: 0 done (also after Ctrl-C / SIGTERM, which stop a run gracefully: the batch in
flight is finished and the summary printed), 1 failed while running (Redis unreachable or
refusing writes), 2 bad usage or unusable input (arguments, an unreadable or unknown file, a
malformed setting). Errors are one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TextIO, TypeVar
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis
import redis.asyncio as aredis

from data_feeds.errors import ConfigError, DataFeedsError
from data_feeds.runtime.shutdown import stop_on_signals
from data_feeds.settings import DEFAULT_METRICS_PORT, Settings

if TYPE_CHECKING:
    from data_feeds.simulation.publisher import PublishResult

PROG: Final = "data-feeds"
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

T = TypeVar("T")


class UsageError(DataFeedsError):
    """Bad input found after parsing (exit 2)."""


class RunError(DataFeedsError):
    """A failure while running (exit 1)."""


@dataclass(frozen=True, slots=True)
class Command:
    """One subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None


COMMANDS: dict[str, Command] = {}


def register(cmd: Command) -> Command:
    """Add a subcommand (names are unique)."""
    if cmd.name in COMMANDS:
        raise ValueError(f"command {cmd.name!r} is already registered")
    COMMANDS[cmd.name] = cmd
    return cmd


def command(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None],
    description: str | None = None,
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Decorator form of ``register`` for a run function."""

    def decorate(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        register(Command(name, help, configure, run, description))
        return run

    return decorate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Streaming market-data service: feeds in, validated ticks and signals out.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description or cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.configure(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and the error (or the help)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = args._run
    try:
        # one-shot commands print results on stdout; their library logs go to stderr, quiet
        # unless asked for (`run` and `demo` configure logging from their own settings)
        from data_feeds.logs import configure_logging  # noqa: PLC0415

        level = os.environ.get("DATA_FEEDS_LOG_LEVEL", "warning").strip().lower()
        fmt = os.environ.get("DATA_FEEDS_LOG_FORMAT", "auto").strip().lower()
        try:
            configure_logging(level, fmt)
        except ValueError as exc:
            raise ConfigError(f"DATA_FEEDS_LOG_LEVEL / DATA_FEEDS_LOG_FORMAT: {exc}") from None
        return run(args)
    except (UsageError, ConfigError) as exc:
        _error(args.command, str(exc))
        return EXIT_USAGE
    except (RunError, redis.RedisError, OSError) as exc:
        _error(args.command, str(exc))
        return EXIT_FAILED


def _error(cmd: str, message: str) -> None:
    print(f"{PROG} {cmd}: error: {message}", file=sys.stderr)


# -- argument types ----------------------------------------------------------------------------


def _number(
    kind: Callable[[str], T], lo: float | None = None, hi: float | None = None
) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        try:
            value = kind(raw)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{raw!r} is not {what}") from None
        v = float(value)  # type: ignore[arg-type]
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{raw!r} is not finite")
        if lo is not None and v < lo:
            raise argparse.ArgumentTypeError(f"{raw} is below {lo:g}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"{raw} is above {hi:g}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _choices_list(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(raw: str) -> list[str]:
        items = [item.strip().lower() for item in raw.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError("an empty list")
        bad = [item for item in items if item not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(map(repr, bad))}; choose from {', '.join(allowed)}"
            )
        return list(dict.fromkeys(items))

    return parse


def _epoch(raw: str) -> float:
    from data_feeds.simulation.replay import ReplayError, parse_timestamp  # noqa: PLC0415

    try:
        return parse_timestamp(raw)
    except ReplayError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not epoch seconds or an ISO-8601 time"
        ) from None


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else f"***@{netloc}"))


# -- shared runtime pieces ---------------------------------------------------------------------


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on asyncio's loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop  # noqa: PLC0415

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


class ProgressLine:
    """Progress on stderr: one updating line on a terminal, a line every ``every_s`` otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.label = label
        self.every_s = every_s
        self._last = time.monotonic()
        self._width = 0

    @property
    def interval_s(self) -> float:
        return 0.25 if self.tty else 1.0

    def __call__(self, p: Any) -> None:
        line = (
            f"{self.label}: {p.published:,} messages in {p.elapsed_s:.1f} s "
            f"({p.rate_per_s:,.0f}/s), {p.faults:,} faults"
        )
        if self.tty:
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
        elif time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


async def _connect(url: str, settings: Settings) -> aredis.Redis:
    from data_feeds.cache.db_connector import AsyncDBConnector  # noqa: PLC0415

    client = AsyncDBConnector(url, settings=settings).redis
    try:
        await client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        await client.aclose()
        raise RunError(f"cannot reach Redis at {_redacted(url)}: {exc}") from None
    except redis.RedisError:
        await client.aclose()
        raise
    return client


def _redis_url(arg: str | None) -> tuple[str, Settings]:
    from data_feeds.cache.db_connector import resolve_redis_url  # noqa: PLC0415
    from data_feeds.settings import parse_redis_url  # noqa: PLC0415

    settings = Settings.from_env()
    if arg is not None:
        arg = parse_redis_url("--redis-url", arg)
    return resolve_redis_url(arg, settings), settings  # the bundled server stops at exit


def _print_summary(summary: dict[str, Any], as_json: bool, lines: Iterable[str]) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for line in lines:
            print(line)
    sys.stdout.flush()


def _kinds_line(by_kind: dict[str, int]) -> str:
    order = ("price", "trade", "book", "sentiment")
    known = [k for k in order if k in by_kind] + sorted(k for k in by_kind if k not in order)
    return "  " + "  ".join(f"{k} {by_kind[k]:,}" for k in known) if known else "  (nothing)"


def _publishing_args(p: argparse.ArgumentParser) -> None:
    """The options every command that publishes to the input streams takes."""
    p.add_argument(
        "--maxlen",
        type=_number(int, 1),
        default=None,
        help="approximate stream length cap (default DATA_FEEDS_STREAM_MAXLEN)",
    )
    p.add_argument(
        "--redis-url",
        default=None,
        metavar="URL",
        help="Redis to publish to (default DATA_FEEDS_REDIS_URL, else the bundled one)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


async def _publish(
    args: argparse.Namespace,
    label: str,
    messages: Iterable[Any],
    *,
    manifest_key: str | None = None,
    **options: Any,
) -> tuple[PublishResult, str, bool]:
    """Publish to --redis-url (else the configured or bundled Redis) with a progress line,
    stopping gracefully on Ctrl-C/SIGTERM; the result, the URL and whether it was stopped."""
    from data_feeds.simulation.publisher import StreamPublisher  # noqa: PLC0415

    url, settings = _redis_url(args.redis_url)
    client = await _connect(url, settings)
    progress = ProgressLine(label)
    stop = asyncio.Event()
    try:
        publisher = StreamPublisher(
            client, maxlen=args.maxlen or settings.stream_maxlen, manifest_key=manifest_key
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
    return result, url, stop.is_set()


# -- simulate ----------------------------------------------------------------------------------


def _configure_simulate(p: argparse.ArgumentParser) -> None:
    from data_feeds.simulation.edge_cases import FAULT_TYPES  # noqa: PLC0415
    from data_feeds.simulation.feeds import ASSET_CLASSES  # noqa: PLC0415

    p.add_argument(
        "--symbols",
        type=_number(int, 1, 10_000),
        default=10,
        metavar="N",
        help="how many symbols (default 10); well-known ones first, then SYM001USDT...",
    )
    p.add_argument(
        "--asset-classes",
        type=_choices_list(ASSET_CLASSES),
        default=["crypto"],
        metavar="LIST",
        help="comma-separated: crypto,equity,fx (default crypto)",
    )
    p.add_argument(
        "--rate",
        type=_number(float, 0),
        default=2000.0,
        metavar="MSG_PER_S",
        help="messages per second in total (default 2000); simulated time then runs "
        "with the wall clock from now. 0: as fast as possible, simulated time "
        "starting a day ago",
    )
    p.add_argument(
        "--duration",
        type=_number(float, 0),
        default=60.0,
        metavar="SECONDS",
        help="wall-clock run time (default 60); 0: until --count or Ctrl-C",
    )
    p.add_argument(
        "--count", type=_number(int, 1), default=None, metavar="N", help="stop after N messages"
    )
    p.add_argument(
        "--faults",
        type=_number(float, 0, 1),
        default=0.0,
        metavar="FRACTION",
        help="about this fraction of price/trade messages gets a labelled fault, "
        "split evenly over --fault-types (default 0)",
    )
    p.add_argument(
        "--fault-types",
        type=_choices_list(FAULT_TYPES),
        default=list(FAULT_TYPES),
        metavar="LIST",
        help="comma-separated subset of: " + ",".join(FAULT_TYPES),
    )
    p.add_argument(
        "--seed",
        type=_number(int, 0),
        default=None,
        help="random seed (default: a fresh one, printed in the summary)",
    )
    p.add_argument(
        "--start",
        type=_epoch,
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
    p.add_argument("--book-depth", type=_number(int, 1, 500), default=10, metavar="LEVELS")
    p.add_argument(
        "--sentiment",
        action="store_true",
        help="also publish TwitterSentiment and NewsScraper scores per keyword",
    )
    p.add_argument(
        "--sentiment-lead",
        type=_number(float, 0),
        default=60.0,
        metavar="SECONDS",
        help="the tweets' lead over the price return (default 60; 0: none)",
    )
    _publishing_args(p)


@command(
    "simulate",
    "publish simulated ticks, trades, books (and sentiment, faults) to the input streams",
    _configure_simulate,
)
def simulate(args: argparse.Namespace) -> int:
    return run_async(_simulate(args))


def _time_range(p: argparse.ArgumentParser, what: str) -> None:
    """``--start`` and ``--end``: bounds of ``what`` time, epoch seconds or ISO-8601."""
    p.add_argument("--start", type=_epoch, help=f"{what} time from (epoch seconds or ISO-8601)")
    p.add_argument("--end", type=_epoch, help=f"{what} time to (epoch seconds or ISO-8601)")


def _published_summary(result: PublishResult, url: str, stopped: bool) -> dict[str, Any]:
    """What simulate and replay both report of a publishing run."""
    return {
        "published": result.published,
        "per_stream": result.streams,
        "by_kind": result.by_kind(),
        "elapsed_s": round(result.elapsed_s, 3),
        "rate_per_s": round(result.rate_per_s, 1),
        "stopped": stopped,
        "redis": _redacted(url),
    }


async def _simulate(args: argparse.Namespace) -> int:
    from data_feeds.cache.keys import SIM_FAULTS as FAULTS_KEY  # noqa: PLC0415
    from data_feeds.simulation.scenario import build_scenario  # noqa: PLC0415

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
    seed, start, paced = scenario.seed, scenario.start_s, scenario.paced
    injector, messages = scenario.injector, scenario.messages

    result, url, stopped = await _publish(
        args,
        "simulate",
        messages,
        manifest_key=FAULTS_KEY if injector is not None else None,
        speed=1.0 if paced else 0.0,
        limit=args.count,
        duration_s=args.duration or None,
        faults=injector.faults if injector is not None else None,
    )

    summary = _published_summary(result, url, stopped)
    by_kind = summary["by_kind"]
    faults = result.faults_by_type()
    summary.update(
        streams=len(result.streams),
        seed=seed,
        start_s=start,
        faults=faults,
        faults_total=len(result.faults),
        dropped_in_silences=injector.dropped if injector is not None else 0,
        fault_manifest_key=FAULTS_KEY if injector is not None else None,
    )
    lines = [
        f"published {result.published:,} messages to {len(result.streams)} streams in "
        f"{result.elapsed_s:.1f} s ({result.rate_per_s:,.0f}/s)"
        + (" (stopped)" if stopped else ""),
        _kinds_line(by_kind),
    ]
    if injector is not None:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(faults.items())) or "none"
        lines.append(
            f"faults: {len(result.faults):,} labelled ({kinds}); "
            f"{injector.dropped:,} messages dropped in silences; manifest in {FAULTS_KEY}"
        )
    lines.append(f"seed {seed} (rerun with --seed {seed} --start {start!r})")
    _print_summary(summary, args.json, lines)
    return EXIT_OK


# -- replay ------------------------------------------------------------------------------------


def _configure_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", help="a recorded file (candles, trades, depth, quotes)")
    p.add_argument(
        "--symbol",
        default=None,
        help="symbol of the records (default: the file's column, else its name)",
    )
    p.add_argument("--asset-class", default="crypto", help="asset class (default crypto)")
    p.add_argument(
        "--speed",
        type=_number(float, 0),
        default=0.0,
        metavar="X",
        help="1: the recorded pace, 10: ten times faster, 0: as fast as possible (default)",
    )
    p.add_argument(
        "--limit", type=_number(int, 1), default=None, metavar="N", help="stop after N messages"
    )
    _publishing_args(p)


@command(
    "replay",
    "publish a recorded market-data file to the input streams",
    _configure_replay,
)
def replay(args: argparse.Namespace) -> int:
    return run_async(_replay(args))


async def _replay(args: argparse.Namespace) -> int:
    from data_feeds.simulation.replay import ReplayError, open_records  # noqa: PLC0415

    asset_class = args.asset_class.strip().lower()
    if not asset_class.isidentifier() or not asset_class.isascii():
        raise UsageError(f"--asset-class {args.asset_class!r}: expected a name such as crypto")
    try:
        layout, records = open_records(args.path, args.symbol, asset_class)
    except ReplayError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read {args.path}: {exc.strerror or exc}") from None

    try:
        result, url, stopped = await _publish(
            args, "replay", records, speed=args.speed, limit=args.limit
        )
    except ReplayError as exc:  # a bad row further down the file
        raise UsageError(str(exc)) from None
    summary = {"path": str(args.path), "layout": layout, **_published_summary(result, url, stopped)}
    lines = [
        f"replayed {result.published:,} messages ({layout}) from {args.path} to "
        + ", ".join(sorted(result.streams))
        + f" in {result.elapsed_s:.1f} s ({result.rate_per_s:,.0f}/s)",
        _kinds_line(summary["by_kind"]),
    ]
    _print_summary(summary, args.json, lines)
    return EXIT_OK


# -- run: the streaming service ----------------------------------------------------------------

# flag -> (its environment variable after DATA_FEEDS_, metavar, help). A flag given stands in
# for its variable: both go through the same parser and checks (Settings.from_env).
_RUN_FLAGS: Final[dict[str, tuple[str, str, str]]] = {
    "--streams": ("STREAMS", "PATTERNS",
                  "comma-separated glob patterns of the streams to consume [DATA_FEEDS_STREAMS, "
                  "default *: every input stream, ours (crypto_price:BTCUSDT...) and "
                  "cryptofeed's (trades-*, ticker-*, book-*, candles-*)]"),
    "--group": ("CONSUMER_GROUP", "NAME", "consumer group name [DATA_FEEDS_CONSUMER_GROUP]"),
    "--worker-index": ("WORKER_INDEX", "N",
                       "this worker's index, 0-based (a StatefulSet ordinal) "
                       "[DATA_FEEDS_WORKER_INDEX]"),
    "--worker-count": ("WORKER_COUNT", "N",
                       "number of workers sharing the symbols by a stable hash "
                       "[DATA_FEEDS_WORKER_COUNT]"),
    "--batch-size": ("BATCH_SIZE", "N", "entries per XREADGROUP [DATA_FEEDS_BATCH_SIZE]"),
    "--block-ms": ("BLOCK_MS", "N",
                   "how long one read waits for new entries, at most 10000 [DATA_FEEDS_BLOCK_MS]"),
    "--claim-idle-ms": ("CLAIM_IDLE_MS", "N",
                        "take over entries idle this long on dead consumers "
                        "[DATA_FEEDS_CLAIM_IDLE_MS]"),
    "--max-deliveries": ("MAX_DELIVERIES", "N",
                         "deliveries before an entry goes to the DLQ [DATA_FEEDS_MAX_DELIVERIES]"),
    "--horizon-s": ("HORIZON_S", "SECONDS",
                    "label horizon in seconds of event time [DATA_FEEDS_HORIZON_S]"),
    "--margin": ("MARGIN", "VALUE",
                 "BUY above 0.5+margin, SELL below 0.5-margin [DATA_FEEDS_MARGIN]"),
    "--model": ("MODEL", "VALUE",
                "river classifier: default, or a dotted name such as "
                "tree.HoeffdingTreeClassifier [DATA_FEEDS_MODEL]"),
    "--model-params": ("MODEL_PARAMS", "VALUE",
                       "JSON object of the model's parameters [DATA_FEEDS_MODEL_PARAMS]"),
    "--checkpoint-interval-s": ("CHECKPOINT_INTERVAL_S", "SECONDS",
                                "seconds between state checkpoints "
                                "[DATA_FEEDS_CHECKPOINT_INTERVAL_S]"),
    "--grace-period-s": ("GRACE_PERIOD_S", "SECONDS",
                         "seconds allowed for a clean stop on SIGTERM [DATA_FEEDS_GRACE_PERIOD_S]"),
    "--metrics-host": ("METRICS_HOST", "VALUE", "address of /metrics, /healthz, /readyz "
                       "[DATA_FEEDS_METRICS_HOST]"),
    "--metrics-port": ("METRICS_PORT", "N",
                       "port of /metrics, /healthz, /readyz; 0 any free port, -1 none "
                       f"[DATA_FEEDS_METRICS_PORT, default {DEFAULT_METRICS_PORT}]"),
    "--log-level": ("LOG_LEVEL", "{debug,info,warning,error}", "[DATA_FEEDS_LOG_LEVEL]"),
    "--log-format": ("LOG_FORMAT", "{auto,json,console}", "[DATA_FEEDS_LOG_FORMAT]"),
}  # fmt: skip


def _configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", help="Redis URL [DATA_FEEDS_REDIS_URL, REDIS_URL; default: "
                   "the bundled server under the data directory]")  # fmt: skip
    for flag, (_variable, metavar, help_text) in _RUN_FLAGS.items():
        p.add_argument(flag, dest=flag[2:].replace("-", "_"), metavar=metavar, help=help_text)


def run_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with the flags given on the command line on top: each flag
    given replaces its ``DATA_FEEDS_*`` variable, so flags are checked exactly as variables."""
    from data_feeds.settings import PREFIX  # noqa: PLC0415

    env = dict(os.environ)
    given = {flag: value for flag, value in [("--redis-url", args.redis_url)]
             + [(flag, getattr(args, flag[2:].replace("-", "_"))) for flag in _RUN_FLAGS]
             if value is not None}  # fmt: skip
    variables: dict[str, str] = {}  # variable -> the flag standing in for it
    for flag, value in given.items():
        if not value.strip():
            raise UsageError(f"{flag}: no value given")
        variable = PREFIX + (_RUN_FLAGS[flag][0] if flag in _RUN_FLAGS else "REDIS_URL")
        env[variable] = value
        variables[variable] = flag
    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        message = str(exc)
        for variable in sorted(variables, key=len, reverse=True):  # MODEL_PARAMS before MODEL
            message = message.replace(variable, variables[variable])
        raise UsageError(message) from None


@command(
    "run",
    "run the streaming service (consumers, signals, metrics) until SIGTERM/Ctrl-C",
    _configure_run,
    description=(
        "Consume the input streams through consumer groups, validate and clean every message,\n"
        "update indicators, emit one signal per price tick to signals:{SYMBOL}, learn from\n"
        "matured outcomes, and serve /metrics, /healthz and /readyz. SIGTERM or Ctrl-C stops\n"
        "reading, finishes and acknowledges the batch in flight, checkpoints and exits 0.\n"
        "Every flag falls back to its DATA_FEEDS_* environment variable."
    ),
)
def run(args: argparse.Namespace) -> int:
    from data_feeds.logs import configure_logging  # noqa: PLC0415
    from data_feeds.runtime.app import Service  # noqa: PLC0415

    settings = run_settings(args)
    configure_logging(settings.log_level, settings.log_format)
    return run_async(Service(settings).run())


# -- the learning layer: import, analyze, train, retrain, evaluate, backfill, models -----------


def _db(args: argparse.Namespace) -> Any:
    """A DBConnector on --redis-url, else the configured or bundled Redis."""
    from data_feeds.cache.db_connector import DBConnector  # noqa: PLC0415
    from data_feeds.settings import parse_redis_url  # noqa: PLC0415

    url = parse_redis_url("--redis-url", args.redis_url) if args.redis_url else None
    return DBConnector(url)


def _emit(result: Any, as_json: bool, **table_options: Any) -> None:
    sys.stdout.write((result.to_json() if as_json else result.to_table(**table_options)) + "\n")
    sys.stdout.flush()


def _common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("--redis-url", help="Redis URL [DATA_FEEDS_REDIS_URL, REDIS_URL; default: "
                   "the bundled server under the data directory]")  # fmt: skip
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _configure_import(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        help="a candle/trade/book file, a directory of them, or the URL of another Redis "
        "holding cryptofeed streams (redis://, rediss://, unix://)",
    )
    p.add_argument("--symbol", help="symbol for files whose name or content does not say")
    p.add_argument("--asset-class", default="crypto")
    p.add_argument("--pattern", default="*", help="streams to read from a Redis source")
    _common(p)


@command("import", "import external market data into the store (re-imports add nothing)",
         _configure_import)  # fmt: skip
def import_data(args: argparse.Namespace) -> int:
    from data_feeds.learning_layer import ResearchEngine  # noqa: PLC0415
    from data_feeds.simulation.replay import ReplayError  # noqa: PLC0415

    with _db(args) as db:
        try:
            summary = ResearchEngine(db).collect_training_data(
                args.source, pattern=args.pattern, symbol=args.symbol,
                asset_class=args.asset_class,
            )  # fmt: skip
        except (ReplayError, FileNotFoundError) as exc:
            raise UsageError(str(exc)) from None
        _emit(summary, args.json)
    return EXIT_OK


def _configure_analyze(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="streams to analyze (glob), default *")
    _time_range(p, "event")
    p.add_argument("--gaps", type=int, default=5, metavar="N", help="gaps listed per feed")
    _common(p)


@command("analyze", "report how the stored feeds behave: cadence, gaps, volatility, spikes",
         _configure_analyze)  # fmt: skip
def analyze(args: argparse.Namespace) -> int:
    from data_feeds.learning_layer import ResearchEngine  # noqa: PLC0415

    with _db(args) as db:
        report = ResearchEngine(db).analyze_feed_behavior(args.pattern, start=args.start,
                                                          end=args.end)  # fmt: skip
        _emit(report, args.json, gaps=args.gaps)
    return EXIT_OK


def _configure_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", help="comma-separated symbols (default: every stored stream)")
    _time_range(p, "event")
    p.add_argument("--horizon-s", type=float, help="label horizon [DATA_FEEDS_HORIZON_S]")
    p.add_argument("--model", help="river classifier by dotted name [DATA_FEEDS_MODEL]")
    p.add_argument("--promote", action="store_true",
                   help="make the trained version the champion the service serves")  # fmt: skip
    _common(p)


@command("train", "build a dataset from stored history and train a candidate model",
         _configure_train)  # fmt: skip
def train(args: argparse.Namespace) -> int:
    from data_feeds.learning_layer import ModelRegistry, TrainingModule  # noqa: PLC0415

    with _db(args) as db:
        options: dict[str, Any] = {}
        if args.horizon_s is not None:
            options["horizon_s"] = args.horizon_s
        if args.model is not None:
            options["model_name"] = args.model
        try:
            training = TrainingModule(db, **options)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        symbols = [s.strip() for s in args.symbols.split(",")] if args.symbols else None
        dataset = training.prepare_dataset(symbols, start=args.start, end=args.end)
        result = training.train_model(dataset)
        if args.promote and result.version is not None:
            ModelRegistry(db).promote(result.version, reason="data-feeds train --promote")
        _emit(result, args.json)
    return EXIT_OK


@command("retrain", "run one retraining cycle: challenger vs champion, promote if better",
         _common)  # fmt: skip
def retrain(args: argparse.Namespace) -> int:
    from data_feeds.learning_layer import RetrainingLoop, TrainingModule  # noqa: PLC0415

    with _db(args) as db:
        decision = RetrainingLoop(TrainingModule(db), db).run_retraining()
        _emit(decision, args.json)
    return EXIT_OK


def _configure_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="signals:*", help="signal streams (glob)")
    p.add_argument("--horizon-s", type=float, help="outcome horizon [DATA_FEEDS_HORIZON_S]")
    p.add_argument("--cost-bps", type=float, default=0.0, help="cost per BUY/SELL in bps")
    _time_range(p, "signal")
    _common(p)


@command("evaluate", "score stored signals against what prices really did",
         _configure_evaluate)  # fmt: skip
def evaluate(args: argparse.Namespace) -> int:
    from data_feeds.learning_layer import evaluate_signals  # noqa: PLC0415

    with _db(args) as db:
        report = evaluate_signals(
            db, args.pattern, horizon_s=args.horizon_s, cost_bps=args.cost_bps,
            start=args.start, end=args.end,
        )  # fmt: skip
        _emit(report, args.json)
    return EXIT_OK


def _configure_backfill(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", help="input streams (glob), e.g. 'crypto_price:*'")
    _time_range(p, "event")
    p.add_argument("--limit", type=int, help="at most this many records (the earliest)")
    _common(p, json_flag=False)


@command("backfill", "print stored records as JSON lines, in event-time order",
         _configure_backfill)  # fmt: skip
def backfill(args: argparse.Namespace) -> int:
    with _db(args) as db:
        entries = db.backfill_entries(args.pattern, args.start, args.end, args.limit)
        out = sys.stdout
        for entry in entries:
            line = entry.record.to_dict()
            line["stream"] = entry.stream
            line["entry_id"] = entry.entry_id
            out.write(orjson.dumps(line).decode() + "\n")
        if db.last_backfill_rejects:
            print(f"skipped invalid entries: {db.last_backfill_rejects}", file=sys.stderr)
    return EXIT_OK


def _configure_models(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--promote", metavar="VERSION", help="make VERSION the champion")
    group.add_argument("--rollback", action="store_true", help="go back to the previous champion")
    _common(p)


@command("models", "list model versions; promote one or roll back the champion", _configure_models)
def models(args: argparse.Namespace) -> int:
    from data_feeds.learning_layer import ModelRegistry  # noqa: PLC0415

    with _db(args) as db:
        registry = ModelRegistry(db)
        if args.promote:
            if registry.get(args.promote) is None:
                raise UsageError(f"no model version {args.promote!r}")
            registry.promote(args.promote, reason="data-feeds models --promote")
        elif args.rollback:
            try:
                registry.rollback(reason="data-feeds models --rollback")
            except (LookupError, ValueError) as exc:
                raise UsageError(str(exc)) from None
        champion = registry.champion_version()
        rows = [v.to_dict() for v in registry.versions()]
        if args.json:
            sys.stdout.write(orjson.dumps({"champion": champion, "versions": rows}).decode() + "\n")
            return EXIT_OK
        print(f"{'version':<9} {'model':<34} {'created (UTC)':<20} {'parent':<8} champion")
        for v in rows:
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v["created_at"]))
            mark = "*" if v["version"] == champion else ""
            print(f"{v['version']:<9} {v['model_name']:<34} {created:<20} "
                  f"{v['parent'] or '-':<8} {mark}")  # fmt: skip
    return EXIT_OK


# -- demo: the main job --------------------------------------------------------------------------


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=_number(float, 0), default=0.0, metavar="SECONDS",
                   help="stop after this long (default 0: run until Ctrl-C)")  # fmt: skip
    p.add_argument("--symbols", type=_number(int, 1), default=10, metavar="N",
                   help="simulated symbols")  # fmt: skip
    p.add_argument("--rate", type=_number(float, 0), default=2000.0, metavar="MSG_PER_S",
                   help="simulated messages per second in total (default 2000)")  # fmt: skip
    p.add_argument("--faults", type=_number(float, 0, 1), default=0.01, metavar="FRACTION",
                   help="share of ticks/trades given a labelled fault (default 0.01)")  # fmt: skip
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
    p.add_argument("--horizon-s", type=_number(float, 0), default=10.0, metavar="SECONDS",
                   help="label horizon of the model (default 10)")  # fmt: skip
    p.add_argument("--retrain-interval-s", type=_number(float, 0), default=20.0,
                   metavar="SECONDS",
                   help="retrain in another process this often (default 20; 0: never)")  # fmt: skip
    p.add_argument("--metrics-port", type=_number(int, 0, 65535), default=DEFAULT_METRICS_PORT,
                   metavar="PORT", help="port of /metrics, /healthz, /readyz "
                   f"({DEFAULT_METRICS_PORT}; taken: any)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="summary as JSON (live view: stderr)")


def _free_or_any(port: int) -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


@command(
    "demo",
    "the main job: bundled Redis + simulator + service, a live console view and a summary",
    _configure_demo,
    description=(
        "Start a fresh bundled Redis (under <data dir>/demo), publish a simulated market\n"
        "(ticks, trades, books, leading sentiment, labelled faults) and run the service on it,\n"
        "showing ingest rate, signals by action, rejects, DLQ and quarantine, publish->signal\n"
        "latency, live accuracy and the /metrics address. Ends after --duration or Ctrl-C with a\n"
        "summary, also stored in Redis, and leaves no process running."
    ),
)
def demo(args: argparse.Namespace) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from data_feeds.logs import configure_logging  # noqa: PLC0415
    from data_feeds.runtime.demo import run_demo, summary_lines  # noqa: PLC0415

    if args.rate == 0 or args.faults == 1 or args.horizon_s == 0:
        raise UsageError("--rate and --horizon-s must be above 0, --faults below 1")
    settings = replace(
        Settings.from_env(),
        redis_url=None,
        horizon_s=args.horizon_s,
        retrain_interval_s=args.retrain_interval_s,
        metrics_host="127.0.0.1",
        metrics_port=_free_or_any(args.metrics_port),
        block_ms=100,
        discover_interval_s=1.0,
        log_level="error",  # the console view is the output; the retraining process's too
    )
    configure_logging("warning", "console" if sys.stderr.isatty() else "json")
    summary = run_async(
        run_demo(
            settings,
            duration_s=args.duration or None,
            symbols=args.symbols,
            rate=args.rate,
            faults=args.faults,
            seed=args.seed,
            out=sys.stderr if args.json else sys.stdout,
        )
    )
    _print_summary(summary, args.json, summary_lines(summary))
    return EXIT_OK
