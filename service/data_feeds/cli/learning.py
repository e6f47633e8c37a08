"""The learning-layer commands: ``import``, ``analyze``, ``train``, ``retrain``,
``evaluate``, ``backtest``, ``backfill``, ``signals`` and ``models``. Each opens the command's Redis
through ``connect.Target``, calls the learning layer once and prints its result (a table, or
JSON with ``--json``).

The learning layer pulls in river and numpy (~0.6 s to import), so each command imports it
when it runs: ``data-feeds --help`` stays fast.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from data_feeds.cache import keys
from data_feeds.cli import types
from data_feeds.cli.connect import Target
from data_feeds.cli.options import Shared, add_command
from data_feeds.cli.output import (
    StageProgress,
    note,
    print_json_lines,
    print_lines,
    print_result,
)
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
        help="asset class of the records (default: the symbol's in DATA_FEEDS_ASSET_CLASSES, "
        "else DATA_FEEDS_DEFAULT_ASSET_CLASS, crypto)",
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
    p.add_argument(
        "--report",
        type=types.Text("path", spaces=True),
        metavar="FILE.html",
        help="also write a self-contained HTML report: per feed of prices, its price over time "
        "with gaps and quarantined spikes (needs matplotlib: the 'report' extra)",
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
        help="cost per unit of turnover of the signals' positions, in basis points (default 0)",
    )
    p.add_argument(
        "--hold",
        choices=("flat", "keep"),
        default="flat",
        help="positions: a HOLD signal goes flat (default) or keeps the position",
    )
    p.add_argument(
        "--delay-bars",
        type=types.Number(int, 0, 1000),
        default=1,
        metavar="N",
        help="take a signal's position N signals later (default 1; 0: at its own price)",
    )
    p.add_argument(
        "--report",
        type=types.Text("file", spaces=True),
        metavar="FILE.html",
        help="also write an HTML report: equity and drawdown of the signals' positions, "
        "calibration, probability histogram (needs matplotlib: the report extra)",
    )

    p = add_command(
        sub,
        "backtest",
        "walk-forward backtest of the served model against baselines, after costs",
        backtest,
        parents=[*common, shared.events],
        description=BACKTEST_DESCRIPTION,
    )
    p.add_argument(
        "--list", action="store_true", help="list the stored backtest runs instead (newest first)"
    )
    p.add_argument(
        "--symbols",
        type=types.TextList("symbol"),
        metavar="LIST",
        help="comma-separated symbols (default: every stored stream)",
    )
    windows = p.add_argument_group("windows (a time: 90s 30m 6h 2d; bars: 500bars; a share: 50%)")
    windows.add_argument("--train", default="50%", metavar="W", help="training window (50%%)")
    windows.add_argument("--test", default="10%", metavar="W", help="test window (10%%)")
    windows.add_argument("--step", metavar="W", help="between folds (default: the test window)")
    windows.add_argument(
        "--anchored", action="store_true", help="every training window starts at the beginning"
    )
    model = p.add_argument_group("model and signals")
    model.add_argument(
        "--horizon-s",
        type=types.positive_seconds,
        metavar="SECONDS",
        help="label horizon; also the embargo [DATA_FEEDS_HORIZON_S]",
    )
    model.add_argument(
        "--model",
        type=types.model_name,
        metavar="NAME",
        help="river classifier by dotted name [DATA_FEEDS_MODEL]",
    )
    model.add_argument(
        "--serving", choices=("online", "frozen"), help="serving mode [DATA_FEEDS_SERVING]"
    )
    model.add_argument(
        "--threshold",
        choices=("fixed", "calibrated"),
        help="BUY/SELL threshold: the fixed margin, or calibrated on each fold's training "
        "window to earn more than the costs [DATA_FEEDS_THRESHOLD]",
    )
    model.add_argument(
        "--margin",
        type=types.Number(float, 0, 0.5),
        metavar="M",
        help="the fixed margin: BUY above 0.5+M, SELL below 0.5-M [DATA_FEEDS_MARGIN]",
    )
    model.add_argument(
        "--hold",
        choices=("flat", "keep"),
        default="flat",
        help="a HOLD signal goes flat (default) or keeps the position",
    )
    model.add_argument(
        "--delay-bars",
        type=types.Number(int, 0, 1000),
        default=1,
        metavar="N",
        help="take a signal's position N ticks later (default 1; 0 fills at the price the "
        "signal was made from, which books the bid-ask bounce of last-trade prices as profit)",
    )
    model.add_argument(
        "--no-gate",
        action="store_true",
        help="serve every fold's challenger (default: only those the promotion gate passes, "
        "as the service does)",
    )
    costs = p.add_argument_group("costs and baselines")
    costs.add_argument(
        "--cost-bps",
        type=types.Number(float, 0, 10_000),
        metavar="BPS",
        help="cost per unit of turnover (a round trip costs twice) [DATA_FEEDS_COST_BPS]",
    )
    costs.add_argument(
        "--slippage-bps",
        type=types.Number(float, 0, 10_000),
        default=0.0,
        metavar="BPS",
        help="extra slippage per unit of turnover (default 0)",
    )
    costs.add_argument(
        "--no-book-costs",
        action="store_true",
        help="ignore the spread and slippage of stored books and quotes",
    )
    costs.add_argument(
        "--momentum-bars",
        type=types.count,
        metavar="N",
        help="look-back of the momentum and reversal baselines (default: one horizon)",
    )
    costs.add_argument("--seed", type=types.seed, default=0, help="bootstrap seed (default 0)")
    out = p.add_argument_group("output")
    out.add_argument(
        "--positions",
        type=types.Text("file", spaces=True),
        metavar="FILE.csv",
        help="write every test tick's timestamp,symbol,price,position,cost_bps",
    )
    out.add_argument(
        "--report",
        type=types.Text("file", spaces=True),
        metavar="FILE.html",
        help="write an HTML report with the equity curves, drawdown, calibration and more "
        "(needs matplotlib: the report extra)",
    )

    p = add_command(
        sub,
        "backfill",
        "print stored records as JSON lines, in the one processing order (stored history: "
        "event time to the millisecond)",
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
        "signals",
        "print the newest stored signals (of one symbol or all), and follow new ones",
        signals,
        parents=[shared.redis, shared.json],
    )
    p.add_argument(
        "symbol", nargs="?", type=types.symbol, help="one symbol's signals (default: every symbol)"
    )
    p.add_argument(
        "--count",
        type=types.Number(int, 0, 1_000_000),
        default=20,
        metavar="N",
        help="the newest N signals per symbol (default 20)",
    )
    p.add_argument(
        "--follow", action="store_true", help="then print new signals as they come (Ctrl-C stops)"
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
    from data_feeds.sources import IMPLIED_ASSET_CLASS  # noqa: PLC0415 - with the above

    with Target(args.redis_url).db() as db:
        with as_usage_error(ReplayError, FileNotFoundError, ValueError):
            summary = ResearchEngine(db).collect_training_data(
                args.source,
                pattern=args.pattern,
                symbol=args.symbol,
                # Not given: the validator's, from the settings' mapping for the symbol.
                asset_class=args.asset_class or IMPLIED_ASSET_CLASS,
            )
        print_result(summary, args.json)


def analyze(args: argparse.Namespace) -> None:
    """With ``--report``, matplotlib and the report's directory are checked before the analysis."""
    from data_feeds.learning_layer import ResearchEngine  # noqa: PLC0415 - heavy, see above
    from data_feeds.learning_layer.research import PriceSeries  # noqa: PLC0415

    target = _report_target(args.report) if args.report else None
    series: dict[str, PriceSeries] = {}
    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):
            report = ResearchEngine(db).analyze_feed_behavior(
                args.pattern,
                start=args.start,
                end=args.end,
                series=None if target is None else series,
            )
        print_result(report, args.json, gaps=args.gaps)
        if not report.feeds:
            note(f"no input stream matches {args.pattern!r}")
    if target is not None:
        from data_feeds.reports.analysis import analysis_report  # noqa: PLC0415 - matplotlib

        written = analysis_report(report, series, gaps=args.gaps).write(target)
        note(f"report: {written.absolute()}")


def _positions_target(path: str) -> Path:
    """Where ``--positions`` writes (``UsageError`` if it cannot)."""
    from data_feeds.reports.html import writable_target  # noqa: PLC0415 - only with --positions

    return writable_target(path, "the positions")


def _report_target(path: str) -> Path:
    """Where ``--report`` writes, once matplotlib is known to be there (else ``UsageError``)."""
    from data_feeds.reports.html import writable_target  # noqa: PLC0415 - only with --report
    from data_feeds.reports.plotting import pyplot  # noqa: PLC0415

    pyplot()
    return writable_target(path)


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

    target = _report_target(args.report) if args.report else None
    with Target(args.redis_url).db() as db:
        with as_usage_error(ValueError):
            report = evaluate_signals(
                db,
                args.pattern,
                horizon_s=args.horizon_s,
                cost_bps=args.cost_bps,
                start=args.start,
                end=args.end,
                hold=args.hold,
                delay_bars=args.delay_bars,
                keep_series=target is not None,
            )
        print_result(report, args.json)
        if not report.signals:
            note(
                "no signals stored: the service writes them as it runs "
                "('data-feeds run' over stored or live data; 'data-feeds demo' for a try)"
            )
    if target is not None:
        from data_feeds.reports.evaluation import evaluation_report  # noqa: PLC0415 - matplotlib

        note(f"report: {evaluation_report(report).write(target).absolute()}")


BACKTEST_DESCRIPTION = """\
Walk-forward backtest over the stored history: per fold, a challenger is trained on the
training window as retraining does, passed (or not) by the promotion gate, and served on the
test window through the live cleaner, indicators and generator, after an embargo of one
horizon. Positions: BUY long one unit, SELL short, HOLD flat (or --hold keep), taken one tick
after the signal (--delay-bars) and marked on the next tick, costs per unit of turnover plus
the stored books' spread or slippage. Beside it, on the same ticks: always-HOLD,
buy-and-hold, momentum and reversal, with block-bootstrap 95% intervals. Every run is stored
in Redis (--list)."""


def backtest(args: argparse.Namespace) -> None:
    from data_feeds.learning_layer.backtest import (  # noqa: PLC0415 - heavy, see above
        Backtest,
        BacktestStore,
    )

    with Target(args.redis_url).db() as db:
        store = BacktestStore(db.redis)
        if args.list:
            runs = store.runs()
            if args.json:
                print_json_lines(runs)
            else:
                print_lines(backtest_list_lines(runs))
            return
        report = _report_target(args.report) if args.report else None
        positions = _positions_target(args.positions) if args.positions else None
        progress = StageProgress("backtest")
        with as_usage_error(ValueError):
            run = Backtest(
                db,
                symbols=args.symbols,
                start=args.start,
                end=args.end,
                train=args.train,
                test=args.test,
                step=args.step,
                anchored=args.anchored,
                horizon_s=args.horizon_s,
                model_name=args.model,
                serving=args.serving,
                threshold=args.threshold,
                margin=args.margin,
                cost_bps=args.cost_bps,
                slippage_bps=args.slippage_bps,
                book_costs=not args.no_book_costs,
                hold=args.hold,
                delay_bars=args.delay_bars,
                gate=not args.no_gate,
                momentum_bars=args.momentum_bars,
                seed=args.seed,
                progress=progress,
            )
            try:
                result = run.run()
            finally:
                progress.close()
        store.save(result)
        if positions is not None:
            result.write_positions(positions)
            note(f"positions: {positions}")
        if report is not None:
            from data_feeds.reports.backtest import backtest_report  # noqa: PLC0415 - matplotlib

            note(f"report: {backtest_report(result).write(report).absolute()}")
        print_result(result, args.json)


def backtest_list_lines(runs: list[dict[str, Any]]) -> list[str]:
    """One line per stored backtest run."""
    if not runs:
        return ["no backtest runs stored"]
    lines = [f"{'run':<8} {'created (UTC)':<20} {'symbols':<24} {'folds':>5} verdict"]
    for r in runs:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.get("created_at") or 0))
        symbols = ",".join(r.get("symbols") or [])
        lines.append(
            f"{r.get('run_id') or '-':<8} {created:<20} {symbols[:24]:<24} "
            f"{r.get('folds') or 0:>5} {r.get('verdict', '')}"
        )
    return lines


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
        if not entries and not db.streams(args.pattern):
            note(f"no input stream matches {args.pattern!r}")


def signals(args: argparse.Namespace) -> None:
    """The newest ``--count`` signals per symbol in time order; ``--follow`` then blocks on the
    signal streams (new streams are picked up every read) until Ctrl-C or SIGTERM."""
    from data_feeds.cli.signals_view import SignalsView  # noqa: PLC0415 - only here

    with Target(args.redis_url).db() as db:
        view = SignalsView(db.redis, args.symbol, as_json=args.json)
        shown = view.show_newest(args.count)
        if not shown and not args.follow:
            note(
                "no signals stored"
                + (f" for {args.symbol}" if args.symbol else "")
                + " (the service writes them to signals:{SYMBOL})"
            )
        if args.follow:
            view.follow()


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
