"""The learning-layer commands: ``import``, ``analyze``, ``train``, ``retrain``, ``evaluate``,
``backfill`` and ``models``. Each opens the command's Redis through ``connect.Target``, calls
the learning layer once and prints its result (a table, or JSON with ``--json``).

The learning layer pulls in river and numpy (~0.6 s to import), so each command imports it
when it runs: ``data-feeds --help`` stays fast.
"""

from __future__ import annotations

import argparse
import time

from data_feeds.cache import keys
from data_feeds.cli import types
from data_feeds.cli.connect import Target
from data_feeds.cli.options import Shared, add_command
from data_feeds.cli.output import note, print_json_lines, print_lines, print_result
from data_feeds.errors import ReplayError, UsageError, as_usage_error


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], shared: Shared) -> None:
    """Add the learning-layer commands to the subcommands ``sub``."""
    common = [shared.redis, shared.json]

    p = add_command(
        sub,
        "import",
        "import external market data into the store (re-imports add nothing)",
        import_data,
        parents=common,
    )
    p.add_argument(
        "source",
        type=types.Text("file, directory or URL", spaces=True),
        help="a candle/trade/book file, a directory of them, or the URL of another "
        "Redis holding cryptofeed streams (redis://, rediss://, unix://)",
    )
    p.add_argument(
        "--symbol", type=types.symbol, help="symbol for files whose name or content does not say"
    )
    p.add_argument(
        "--asset-class",
        type=types.asset_class,
        default="crypto",
        help="asset class of the records (default crypto)",
    )
    p.add_argument(
        "--pattern",
        type=types.pattern,
        default="*",
        help="streams to read from a Redis source (glob, default *)",
    )

    p = add_command(
        sub,
        "analyze",
        "report how the stored feeds behave: cadence, gaps, volatility, spikes",
        analyze,
        parents=[*common, shared.events],
    )
    p.add_argument(
        "pattern",
        nargs="?",
        type=types.pattern,
        default="*",
        help="streams to analyze (glob), default *",
    )
    p.add_argument(
        "--gaps",
        type=types.Number(int, 0, 10_000),
        default=5,
        metavar="N",
        help="gaps listed per feed (default 5)",
    )

    p = add_command(
        sub,
        "train",
        "build a dataset from stored history and train a candidate model",
        train,
        parents=[*common, shared.events],
    )
    p.add_argument(
        "--symbols",
        type=types.TextList("symbol"),
        metavar="LIST",
        help="comma-separated symbols (default: every stored stream)",
    )
    p.add_argument(
        "--horizon-s",
        type=types.positive_seconds,
        metavar="SECONDS",
        help="label horizon [DATA_FEEDS_HORIZON_S]",
    )
    p.add_argument(
        "--model",
        type=types.model_name,
        metavar="NAME",
        help="river classifier by dotted name [DATA_FEEDS_MODEL]",
    )
    p.add_argument(
        "--promote",
        action="store_true",
        help="make the trained version the champion the service serves, if it passes the "
        "promotion gate (beats the champion and the no-skill baseline significantly, "
        "accuracy >= 0.5); a refusal is not an error",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --promote: promote even if the gate refuses (recorded as forced)",
    )

    add_command(
        sub,
        "retrain",
        "run one retraining cycle: challenger vs champion, promote if better",
        retrain,
        parents=common,
    )

    p = add_command(
        sub,
        "evaluate",
        "score stored signals against what prices really did",
        evaluate,
        parents=[*common, shared.signals],
    )
    p.add_argument(
        "pattern",
        nargs="?",
        type=types.pattern,
        default=keys.SIGNALS_STREAMS,
        help=f"signal streams (glob), default {keys.SIGNALS_STREAMS}",
    )
    p.add_argument(
        "--horizon-s",
        type=types.positive_seconds,
        metavar="SECONDS",
        help="outcome horizon [DATA_FEEDS_HORIZON_S]",
    )
    p.add_argument(
        "--cost-bps",
        type=types.Number(float, 0, 10_000),
        default=0.0,
        metavar="BPS",
        help="cost per BUY/SELL in basis points (default 0)",
    )

    p = add_command(
        sub,
        "backfill",
        "print stored records as JSON lines, in event-time order",
        backfill,
        parents=[shared.redis, shared.events],
    )
    p.add_argument(
        "pattern", type=types.pattern, help="input streams (glob), e.g. 'crypto_price:*'"
    )
    p.add_argument(
        "--limit",
        type=types.Number(int, 0),
        metavar="N",
        help="at most this many records (the earliest)",
    )

    p = add_command(
        sub,
        "models",
        "list model versions; promote one or roll back the champion",
        models,
        parents=common,
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--promote",
        type=types.Text("model version"),
        metavar="VERSION",
        help="make VERSION the champion",
    )
    group.add_argument("--rollback", action="store_true", help="go back to the previous champion")


def import_data(args: argparse.Namespace) -> None:
    from data_feeds.learning_layer import ResearchEngine  # noqa: PLC0415 - heavy, see above

    with Target(args.redis_url).db() as db:
        with as_usage_error(ReplayError, FileNotFoundError, ValueError):
            summary = ResearchEngine(db).collect_training_data(
                args.source,
                pattern=args.pattern,
                symbol=args.symbol,
                asset_class=args.asset_class,
            )
        print_result(summary, args.json)


def analyze(args: argparse.Namespace) -> None:
    from data_feeds.learning_layer import ResearchEngine  # noqa: PLC0415 - heavy, see above

    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):
            report = ResearchEngine(db).analyze_feed_behavior(
                args.pattern, start=args.start, end=args.end
            )
        print_result(report, args.json, gaps=args.gaps)


def train(args: argparse.Namespace) -> None:
    """Train a candidate; with ``--promote`` the retraining loop's gate decides (``--force``
    overrides it). A refusal exits 0 and says ``not promoted: <reason>``."""
    from data_feeds.learning_layer import RetrainingLoop, TrainingModule  # noqa: PLC0415 - heavy

    if args.force and not args.promote:
        raise UsageError("--force goes with --promote")
    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):
            training = TrainingModule(db, horizon_s=args.horizon_s, model_name=args.model)
            dataset = training.prepare_dataset(args.symbols, start=args.start, end=args.end)
        result = training.train_model(dataset)
        if not args.promote:
            print_result(result, args.json)
            return
        decision = RetrainingLoop(training, db).promote_trained(dataset, result, force=args.force)
    if args.json:
        print_json_lines([{**result.to_dict(), "promotion": decision.to_dict()}])
        return
    print_result(result, False)
    reached = decision.gate_passed is not None
    print_lines([decision.reason if reached else f"not promoted: {decision.reason}"])


def retrain(args: argparse.Namespace) -> None:
    from data_feeds.learning_layer import RetrainingLoop, TrainingModule  # noqa: PLC0415 - heavy

    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):  # a bad DATA_FEEDS_MODEL / _MODEL_PARAMS
            training = TrainingModule(db)
        decision = RetrainingLoop(training, db).run_retraining()
        print_result(decision, args.json)


def evaluate(args: argparse.Namespace) -> None:
    from data_feeds.learning_layer import evaluate_signals  # noqa: PLC0415 - heavy, see above

    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):
            report = evaluate_signals(
                db,
                args.pattern,
                horizon_s=args.horizon_s,
                cost_bps=args.cost_bps,
                start=args.start,
                end=args.end,
            )
        print_result(report, args.json)


def backfill(args: argparse.Namespace) -> None:
    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):
            entries = db.backfill_entries(args.pattern, args.start, args.end, args.limit)
        print_json_lines(
            {**entry.record.to_dict(), "stream": entry.stream, "entry_id": entry.entry_id}
            for entry in entries
        )
        if db.last_backfill_rejects:
            note(f"skipped invalid entries: {db.last_backfill_rejects}")


def models(args: argparse.Namespace) -> None:
    from data_feeds.learning_layer import ModelRegistry  # noqa: PLC0415 - heavy, see above

    with Target(args.redis_url).db() as db:
        registry = ModelRegistry(db)
        if args.promote:
            if registry.get(args.promote) is None:
                raise UsageError(f"no model version {args.promote!r}")
            registry.promote(args.promote, reason="data-feeds models --promote")
        elif args.rollback:
            with as_usage_error(LookupError, ValueError):
                registry.rollback(reason="data-feeds models --rollback")
        champion = registry.champion_version()
        rows = [v.to_dict() for v in registry.versions()]
    if args.json:
        print_json_lines([{"champion": champion, "versions": rows}])
        return
    lines = [f"{'version':<9} {'model':<34} {'created (UTC)':<20} {'parent':<8} champion"]
    for v in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v["created_at"]))
        mark = "*" if v["version"] == champion else ""
        lines.append(
            f"{v['version']:<9} {v['model_name']:<34} {created:<20} {v['parent'] or '-':<8} {mark}"
        )
    print_lines(lines)
