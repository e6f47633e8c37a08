"""The ``data-feeds`` parser and ``main``: which commands exist and what each outcome exits with.

Exit codes: 0 done (also after Ctrl-C / SIGTERM, which stop a run gracefully: the batch in
flight is finished and the summary printed), 1 failed while running (``RunError``: Redis
unreachable or refusing writes, an OS error), 2 bad usage or unusable input (an argument
refused by its type, ``UsageError``, a malformed setting). Errors are one line on stderr,
``data-feeds <cmd>: error: <what>``, never a traceback.

Each command is an ``argparse`` subparser that its group's ``add_commands`` (``publishing``,
``service``, ``learning``) declares with ``options.add_command``, naming the function that runs
it; the function returns ``None`` when done, or an exit code of its own.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Final, NoReturn

import redis

from data_feeds import __version__
from data_feeds.cli import learning, publishing, service
from data_feeds.cli.options import Shared
from data_feeds.cli.output import PROG, error
from data_feeds.errors import ConfigError, RunError, UsageError
from data_feeds.logs import configure_logging

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

Run = Callable[[argparse.Namespace], int | None]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are the one error line (``--help`` has the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def package_version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    try:
        return version("data-feeds")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return __version__


def build_parser() -> Parser:
    """The parser of every command."""
    parser = Parser(
        prog=PROG,
        description="Streaming market-data service: feeds in, validated ticks and signals out.",
        epilog=f"'{PROG} COMMAND --help' describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    shared = Shared()
    for group in (service, publishing, learning):
        group.add_commands(sub, shared)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            args.command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse has printed the error line, the help or the version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Run = args.run
    try:
        _configure_logging()
        code = run(args)
    except (UsageError, ConfigError) as exc:
        error(args.command, str(exc))
        return EXIT_USAGE
    except (RunError, redis.RedisError, OSError) as exc:
        error(args.command, str(exc))
        return EXIT_FAILED
    return EXIT_OK if code is None else code


def _configure_logging() -> None:
    """One-shot commands print results on stdout; their library logs go to stderr, quiet unless
    asked for (``run`` and ``demo`` configure logging again from their own settings)."""
    level = os.environ.get("DATA_FEEDS_LOG_LEVEL", "warning").strip().lower()
    fmt = os.environ.get("DATA_FEEDS_LOG_FORMAT", "auto").strip().lower()
    try:
        configure_logging(level, fmt)
    except ValueError as exc:
        raise ConfigError(f"DATA_FEEDS_LOG_LEVEL / DATA_FEEDS_LOG_FORMAT: {exc}") from None
