"""The ``data-feeds`` command line (also ``python -m data_feeds``); ``main`` is the entry point.

``app`` holds the parser and the exit codes, ``types`` the argument types, ``options`` the
options several commands share, ``connect`` the one way to reach Redis, ``output`` what
commands print; the commands live by what they do: ``publishing`` (simulate, replay),
``service`` (run, demo; ``demo`` is the demo itself) and ``learning`` (import, analyze, train,
retrain, evaluate, backfill, models).
"""

from data_feeds.cli.app import main

__all__ = ["main"]
