"""How a command is declared: ``add_command`` adds its subparser, and the options several
commands share are declared once each, as ``argparse`` parent parsers in ``Shared``.

A command takes a shared option by listing its parent: ``add_command(sub, name, help, run,
parents=[shared.redis, shared.json])``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from data_feeds.cli import types


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    run: Callable[[argparse.Namespace], int | None],
    *,
    parents: Sequence[argparse.ArgumentParser] = (),
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` that ``run`` runs; its parser, to add its own arguments to.
    ``description`` (default: ``help``) heads its ``--help``, line breaks kept."""
    p = sub.add_parser(
        name,
        help=help,
        description=description or help,
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(run=run, command_parser=p)  # the parser says errors by the command's name
    return p


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


class Shared:
    """The parent parsers: ``redis`` (--redis-url), ``json`` (--json), ``events`` and
    ``signals`` (--start/--end of event or signal time), ``publishing`` (--maxlen)."""

    def __init__(self) -> None:
        self.redis = _parent()
        self.redis.add_argument(
            "--redis-url",
            type=types.redis_url,
            metavar="URL",
            help="Redis URL (redis://, rediss://, unix://) [DATA_FEEDS_REDIS_URL, REDIS_URL; "
            "default: the bundled server under the data directory]",
        )
        self.json = _parent()
        self.json.add_argument("--json", action="store_true", help="print JSON instead of text")
        self.events = self._time_range("event")
        self.signals = self._time_range("signal")
        self.publishing = _parent()
        self.publishing.add_argument(
            "--maxlen",
            type=types.count,
            metavar="N",
            help="approximate stream length cap (default DATA_FEEDS_STREAM_MAXLEN)",
        )

    @staticmethod
    def _time_range(what: str) -> argparse.ArgumentParser:
        """``--start`` and ``--end``: bounds of ``what`` time, epoch seconds or ISO-8601."""
        p = _parent()
        p.add_argument(
            "--start",
            type=types.epoch,
            metavar="TIME",
            help=f"{what} time from (epoch seconds or ISO-8601)",
        )
        p.add_argument(
            "--end",
            type=types.epoch,
            metavar="TIME",
            help=f"{what} time to (epoch seconds or ISO-8601)",
        )
        return p
