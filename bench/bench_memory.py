"""Memory of the service's state, and the size of its checkpoint.

    .venv/bin/python bench/bench_memory.py [--symbols 50] [--rate 2000] [--horizon-s 60]
                                           [--many 10000] [--many-ticks 70]

Each figure comes from a fresh process (RSS from ``/proc/self/statm`` after a full garbage
collection), so one scenario's memory never counts in another's:

1. **imports** (the bare figure): a process that has imported everything the service imports
   (river, and through it pandas and scipy) and built an empty pipeline. River and pandas also
   import scikit-learn and pyarrow when they are installed, as the test extras do (about 70 MB
   more): the line says which were; a production install (``pip install .``) has neither.
2. **state**: the pipeline of ``bench_checkpoint`` after one and a half horizons of
   ``--rate`` ticks/s over ``--symbols`` symbols, fed a second at a time (a horizon's worth of
   pending predictions per symbol: 120k with the defaults). RSS, the state's share above the
   imports, and the checkpoint as the checkpointer writes it: pickled, then compressed and
   signed. With the default learning interval (``Settings.learn_interval_s``: the features of
   one prediction a symbol a second are kept), then again learning every outcome (interval 0:
   every prediction keeps its features), in a process of its own.
3. **many symbols**: ``--many`` symbols at a low rate each (0.2 ticks/s, 2,000/s over all),
   each fed ``--many-ticks`` ticks so its indicator windows are full, with its pending
   predictions of a ``--horizon-s`` horizon (12 each): RSS, and bytes per symbol above the
   imports.
4. **steady**: the same for ``--steady`` symbols fed 1,100 ticks each (an hour and a half at
   0.2 ticks/s), so that every window has filled and been cut back many times over; the bytes
   per symbol then bound what ``--many`` symbols take once they have run that long (from above:
   10,000 symbols measured directly with ``--steady 10000`` took 17-24 MB less than 2,000
   extrapolated).

Each RSS is printed twice: as the state left it, and after a ``runtime.heap.HeapTrim`` (glibc's
``malloc_trim``: the C heap's free pages given back), which the service's scheduler runs every
``heap_trim_interval_s`` (60 s), so the trimmed figure is what a running worker holds after
each trim (it grows by the fragmentation of the minute in between).

Targets (issue 15): the state's process at most 150 MB with a checkpoint of at most 5 MB; the
many-symbols process at most 300 MB.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_checkpoint import Market, feed, warm_state
from data_feeds.cache import signed
from data_feeds.runtime.app import build_pipeline
from data_feeds.runtime.checkpointer import FORMAT
from data_feeds.runtime.heap import HeapTrim, resident_bytes
from data_feeds.settings import Settings
from data_feeds.validation.schema_validator import SchemaValidator

MB = 1_000_000
HMAC_KEY = b"bench-memory-key-0123456789abcdef"
TEST_EXTRAS = ("sklearn", "pyarrow", "matplotlib")
"""Packages river or pandas import when they are installed (the test extras install them)."""


def rss_bytes() -> int:
    gc.collect()
    return resident_bytes()


def rss_pair() -> dict[str, int]:
    """RSS as it is, then after the service's heap trim."""
    rss = rss_bytes()
    HeapTrim().trim()
    return {"rss": rss, "trimmed": rss_bytes()}


def checkpoint_sizes(pipeline: Any) -> tuple[int, int]:
    """The checkpoint of ``pipeline`` as ``Checkpointer.snapshot`` builds it: pickled, sealed."""
    state = {
        "format": FORMAT,
        "generator": pipeline.generator,
        "cleaner": pipeline.cleaner,
        "last_ids": {},
        "written_at": 0.0,
    }
    pickled = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return len(pickled), len(signed.seal(pickled, HMAC_KEY))


def scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "imports":
        pipeline = build_pipeline(Settings(horizon_s=args.horizon_s), SchemaValidator())
        extras = sorted(name for name in TEST_EXTRAS if name in sys.modules)
        return {**rss_pair(), "symbols": len(pipeline.generator.symbols), "extras": extras}
    if name == "state":
        pipeline = warm_state(args)[0]
        generator = pipeline.generator
        pending = sum(generator.pending(s) for s in generator.symbols)
        rss = rss_pair()
        pickled, sealed = checkpoint_sizes(pipeline)
        return {**rss, "pending": pending, "pickled": pickled, "sealed": sealed}
    n_symbols, ticks = (args.many, args.many_ticks) if name == "many" else (args.steady, 1_100)
    pipeline = build_pipeline(Settings(horizon_s=args.horizon_s), SchemaValidator())
    market = Market(n_symbols, rate=round(n_symbols * 0.2), seed=11)
    # a round: one tick per symbol
    feed(pipeline, market, rounds=ticks, seconds=n_symbols / market.rate, chunk=1_000)
    generator = pipeline.generator
    pending = sum(generator.pending(s) for s in generator.symbols)
    return {**rss_pair(), "symbols": len(generator.symbols), "pending": pending,
            "ticks": ticks}  # fmt: skip


def run_scenario(name: str, argv: Sequence[str]) -> dict[str, Any]:
    """``scenario(name)`` in a fresh interpreter; its result."""
    out = subprocess.run(
        [sys.executable, __file__, "--scenario", name, *argv],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--horizon-s", type=float, default=60.0)
    parser.add_argument("--many", type=int, default=10_000)
    parser.add_argument("--many-ticks", type=int, default=70)
    parser.add_argument("--steady", type=int, default=2_000)
    parser.add_argument(
        "--scenario", choices=("imports", "state", "many", "steady"), help=argparse.SUPPRESS
    )
    parser.add_argument("--learn-interval-s", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        print(json.dumps(scenario(args.scenario, args)))
        return 0
    passed = [
        f"--symbols={args.symbols}",
        f"--rate={args.rate}",
        f"--horizon-s={args.horizon_s}",
        f"--many={args.many}",
        f"--many-ticks={args.many_ticks}",
        f"--steady={args.steady}",
    ]
    imports = run_scenario("imports", passed)
    bare = imports["rss"]
    state = run_scenario("state", passed)
    every = run_scenario("state", [*passed, "--learn-interval-s=0"])
    many = run_scenario("many", passed)
    steady = run_scenario("steady", passed)
    extras = ", ".join(imports["extras"]) or "none"
    bare, bare_trimmed = imports["rss"], imports["trimmed"]

    def rss(row: dict[str, Any]) -> str:
        return f"RSS {row['rss'] / MB:.1f} MB (trimmed {row['trimmed'] / MB:.1f})"

    def per_symbol(row: dict[str, Any]) -> tuple[float, float]:
        return (row["rss"] - bare) / row["symbols"], (row["trimmed"] - bare_trimmed) / row[
            "symbols"
        ]

    print(f"imports and an empty pipeline (bare): {rss(imports)} (test extras imported: {extras})")
    print(
        f"{args.symbols} symbols, {args.rate:,} ticks/s, {args.horizon_s:g} s horizon, "
        f"{state['pending']:,} pending predictions: {rss(state)}; state "
        f"{(state['rss'] - bare) / MB:.1f} MB above the imports (trimmed "
        f"{(state['trimmed'] - bare_trimmed) / MB:.1f}); target RSS <= 150 MB"
    )
    print(
        f"  checkpoint: pickled {state['pickled'] / MB:.1f} MB, compressed and signed "
        f"{state['sealed'] / MB:.1f} MB (target <= 5 MB); learning interval "
        f"{Settings().learn_interval_s:g} s (the default)"
    )
    print(
        f"  learning every outcome (interval 0, every prediction with its features): "
        f"{rss(every)}; checkpoint pickled {every['pickled'] / MB:.1f} MB, compressed and "
        f"signed {every['sealed'] / MB:.1f} MB"
    )
    for row in (many, steady):
        raw, trimmed = per_symbol(row)
        print(
            f"{row['symbols']:,} symbols x {row['ticks']:,} ticks, {row['pending']:,} pending: "
            f"{rss(row)}, {raw:,.0f} bytes per symbol above the imports (trimmed {trimmed:,.0f})"
        )
    raw, trimmed = per_symbol(steady)
    print(
        f"  every window full (1,100 ticks a symbol): {args.many:,} symbols would take at most "
        f"{(bare + args.many * raw) / MB:.0f} MB, trimmed "
        f"{(bare_trimmed + args.many * trimmed) / MB:.0f} MB (target RSS <= 300 MB; an upper "
        f"bound, as what does not grow with the symbols is counted per symbol: "
        f"--steady {args.many} measures it, in about 25 min)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
