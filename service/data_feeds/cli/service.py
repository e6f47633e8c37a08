"""The commands that run the service: ``run`` (the streaming service until SIGTERM/Ctrl-C) and
``demo`` (the bundled Redis, the simulator and the service in one process, ``cli.demo``).

``run`` takes a flag per ``DATA_FEEDS_*`` variable: a flag given stands in for its variable and
goes through the same parser and checks (``Settings.from_env``), so the two never disagree.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import replace
from typing import Final

from data_feeds.cli import types
from data_feeds.cli.aio import run_async
from data_feeds.cli.options import Shared, add_command
from data_feeds.cli.output import print_summary
from data_feeds.errors import ConfigError, UsageError
from data_feeds.logs import configure_logging
from data_feeds.settings import DEFAULT_METRICS_PORT, PREFIX, Settings

# flag -> (its environment variable after DATA_FEEDS_, metavar, help). A flag given stands in
# for its variable: both go through the same parser and checks (Settings.from_env).
RUN_FLAGS: Final[dict[str, tuple[str, str, str]]] = {
    "--streams": ("STREAMS", "PATTERNS",
                  "comma-separated glob patterns of the streams to consume [DATA_FEEDS_STREAMS, "
                  "default *: every input stream, ours (crypto_price:BTCUSDT...) and "
                  "cryptofeed's (trades-*, ticker-*, book-*, candles-*)]"),
    "--group": ("CONSUMER_GROUP", "NAME", "consumer group name [DATA_FEEDS_CONSUMER_GROUP]"),
    "--worker-index": ("WORKER_INDEX", "N",
                       "this worker's index, 0-based (a StatefulSet ordinal) "
                       "[DATA_FEEDS_WORKER_INDEX]"),
    "--worker-count": ("WORKER_COUNT", "N",
                       "number of workers sharing the symbols by a stable hash, with static "
                       "ownership [DATA_FEEDS_WORKER_COUNT]"),
    "--ownership": ("OWNERSHIP", "{static,leases}",
                    "static: the hash over --worker-count; leases: the live workers share the "
                    "symbols through leases in Redis and hand them over, with their state, as "
                    "workers join or leave [DATA_FEEDS_OWNERSHIP, default static]"),
    "--lease-s": ("LEASE_S", "SECONDS",
                  "with leases: how long a dead worker's symbols wait before others take them, "
                  "at least 3 [DATA_FEEDS_LEASE_S, default 10]"),
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
    "--signal-features": ("SIGNAL_FEATURES", "{0,1}",
                          "write each signal's feature values with it "
                          "[DATA_FEEDS_SIGNAL_FEATURES, default 0]"),
    "--serving": ("SERVING", "{online,frozen}",
                  "online: the model keeps learning each matured outcome; frozen: it only "
                  "predicts (outcomes are still scored). A champion trained for the other "
                  "mode is refused [DATA_FEEDS_SERVING, default online]"),
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

RUN_DESCRIPTION: Final = """\
Consume the input streams through consumer groups, validate and clean every message,
update indicators, emit one signal per price tick to signals:{SYMBOL}, score (and,
with --serving online, learn) matured outcomes, and serve /metrics, /healthz and
/readyz. SIGTERM or Ctrl-C stops reading, finishes and acknowledges the batch in
flight, checkpoints and exits 0. Every flag falls back to its DATA_FEEDS_* environment variable."""

DEMO_DESCRIPTION: Final = """\
Start a fresh bundled Redis (under <data dir>/demo), publish a simulated market
(ticks, trades, books, leading sentiment, labelled faults) and run the service on it,
showing ingest rate, signals by action, rejects, DLQ and quarantine, publish->signal
latency, live accuracy and the /metrics address. Ends after --duration or Ctrl-C with a
summary, also stored in Redis, and leaves no process running. With --json the summary is
JSON on stdout and the live view goes to stderr."""


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], shared: Shared) -> None:
    """Add ``run`` and ``demo`` to the subcommands ``sub``."""
    p = add_command(
        sub,
        "run",
        "run the streaming service (consumers, signals, metrics) until SIGTERM/Ctrl-C",
        run,
        description=RUN_DESCRIPTION,
        parents=[shared.redis],
    )
    for flag, (variable, metavar, help_text) in RUN_FLAGS.items():
        p.add_argument(
            flag,
            dest=_dest(flag),
            type=types.Setting(flag, variable),
            metavar=metavar,
            help=help_text,
        )

    p = add_command(
        sub,
        "demo",
        "the main job: bundled Redis + simulator + service, a live console view and a summary",
        demo,
        description=DEMO_DESCRIPTION,
        parents=[shared.json],
    )
    p.add_argument(
        "--last",
        action="store_true",
        help="print the last demo's summary again (kept under the data directory) and exit",
    )
    p.add_argument(
        "--duration",
        type=types.seconds,
        default=0.0,
        metavar="SECONDS",
        help="stop after this long (default 0: run until Ctrl-C)",
    )
    p.add_argument(
        "--symbols",
        type=types.Number(int, 1, 10_000),
        default=10,
        metavar="N",
        help="simulated symbols (default 10)",
    )
    p.add_argument(
        "--rate",
        type=types.Number(float, 0, above=True),
        default=2000.0,
        metavar="MSG_PER_S",
        help="simulated messages per second in total (default 2000)",
    )
    p.add_argument(
        "--faults",
        type=types.Number(float, 0, 1, below=True),
        default=0.01,
        metavar="FRACTION",
        help="share of ticks/trades given a labelled fault (default 0.01)",
    )
    p.add_argument(
        "--seed", type=types.seed, metavar="N", help="random seed (default: a fresh one)"
    )
    p.add_argument(
        "--horizon-s",
        type=types.positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="label horizon of the model (default 10)",
    )
    p.add_argument(
        "--retrain-interval-s",
        type=types.seconds,
        default=20.0,
        metavar="SECONDS",
        help="retrain in another process this often (default 20; 0: never)",
    )
    p.add_argument(
        "--metrics-port",
        type=types.port,
        default=DEFAULT_METRICS_PORT,
        metavar="PORT",
        help=f"port of /metrics, /healthz, /readyz ({DEFAULT_METRICS_PORT}; taken: any)",
    )


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def run_settings(args: argparse.Namespace) -> Settings:
    """The environment's settings with the flags given on the command line on top: each flag
    given replaces its ``DATA_FEEDS_*`` variable, so flags are checked exactly as variables."""
    env = dict(os.environ)
    given = {
        flag: value
        for flag, value in [("--redis-url", args.redis_url)]
        + [(flag, getattr(args, _dest(flag))) for flag in RUN_FLAGS]
        if value is not None
    }
    variables: dict[str, str] = {}  # variable -> the flag standing in for it
    for flag, value in given.items():
        variable = PREFIX + (RUN_FLAGS[flag][0] if flag in RUN_FLAGS else "REDIS_URL")
        env[variable] = value
        variables[variable] = flag
    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        message = str(exc)
        for variable in sorted(variables, key=len, reverse=True):  # MODEL_PARAMS before MODEL
            message = message.replace(variable, variables[variable])
        raise UsageError(message) from None


def run(args: argparse.Namespace) -> int:
    # the service pulls in river and numpy (~0.6 s): imported when it runs, not for --help
    from data_feeds.runtime.app import Service  # noqa: PLC0415
    from data_feeds.signals.generator import build_model  # noqa: PLC0415

    settings = run_settings(args)
    try:  # a bad model or model parameter is bad usage, found before anything connects
        build_model(settings.model, settings.model_params)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    return run_async(Service(settings).run())


def demo(args: argparse.Namespace) -> None:
    # the demo runs the service, which pulls in river and numpy (~0.6 s): not for --help
    from data_feeds.cli.demo import last_summary, run_demo, summary_lines  # noqa: PLC0415

    if args.last:
        kept = last_summary(Settings.from_env())
        print_summary(kept, args.json, summary_lines(kept))
        return
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
    print_summary(summary, args.json, summary_lines(summary))


def _free_or_any(port: int) -> int:
    """``port`` if it is free on 127.0.0.1, else 0 (any free port)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port
