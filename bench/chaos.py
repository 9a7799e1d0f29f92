"""Fault-injection figures (issue 11): many seeded trials of tests/chaos/driver.py, each a fresh database,
one `wasmflow serve` and one or two `wasmflow worker` processes killed with -9 at seeded points, runs whose
HTTP calls hit an external API that applies and then loses the answer in every way (tests/chaos/extapi.py).

Run: .venv/bin/python bench/chaos.py --seeds 50 [--first-seed 1] [--db sqlite|postgres|both] [--runs 6]
     .venv/bin/python bench/chaos.py --seed 17 --db postgres        # replay one trial (as a failure prints it)

Options: --workers 1|2 and --kills N fix what the seed would choose; --settle S bounds a trial (default 120 s);
--keep keeps every trial's folder (logs, SQLite file) under build/chaos/, else only failing ones are kept.
The workflows are compiled once into --cache (default build/test-cache, shared with `make test`).
PostgreSQL: --postgres-url or WASMFLOW_TEST_POSTGRES_URL (each trial gets a fresh schema).

Prints one line per trial, the totals (trials, kills, runs, effects, duplicates, needs_attention with
reasons, wall time), each failing trial's problems and replay command, then one JSON line
{"bench": "chaos", ...}. Exit status 1 if any trial found a problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # before bench/: `chaos` is the tests/chaos package, not this file
if str(Path(__file__).resolve().parent) in sys.path:
    sys.path.remove(str(Path(__file__).resolve().parent))

from chaos.driver import compile_workflows, run_trial  # noqa: E402

from app.compiler import open_compiler  # noqa: E402
from app.config import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="number of trials (seeds first-seed, first-seed+1, ...)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--seed", type=int, action="append", help="run exactly this seed (repeatable)")
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--runs", type=int, default=6, help="webhook runs per trial")
    ap.add_argument("--workers", type=int, choices=[1, 2])
    ap.add_argument("--kills", type=int)
    ap.add_argument("--settle", type=float, default=120)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "test-cache")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "chaos")
    ap.add_argument("--postgres-url", default=os.environ.get("WASMFLOW_TEST_POSTGRES_URL"))
    args = ap.parse_args()

    seeds = args.seed or list(range(args.first_seed, args.first_seed + args.seeds))
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in dbs and not args.postgres_url:
        ap.error("--db postgres needs --postgres-url or WASMFLOW_TEST_POSTGRES_URL")

    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    settings = Settings.load(cache, database_url=f"sqlite:///{cache / 'wasmflow.db'}", compile_concurrency=2)
    compiler = open_compiler(settings)
    began = time.monotonic()
    try:
        toolchain = compile_workflows(compiler)
        print(f"workflows ready in {time.monotonic() - began:.1f}s: {toolchain.digests}", flush=True)
        results = []
        for db in dbs:
            for seed in seeds:
                res = run_trial(
                    seed,
                    toolchain=toolchain,
                    workdir=args.out / f"{db}-seed{seed}",
                    db=db,
                    postgres_url=args.postgres_url,
                    runs=args.runs,
                    workers=args.workers,
                    kills=args.kills,
                    settle_seconds=args.settle,
                    keep=args.keep,
                )
                f = res.figures
                probs = res.problems()
                print(
                    f"{db:8} seed {seed:5}: {f['kills']} kills, {f['runs']} runs {f['statuses']}, "
                    f"{f['effects']} effects, {f['duplicate_keys']} duplicated keys, "
                    f"{len(probs)} problems, {f['wall_seconds']}s",
                    flush=True,
                )
                results.append(res)
    finally:
        compiler.shutdown()
    return _summary(results, time.monotonic() - began)


def _summary(results, wall: float) -> int:
    total = Counter()
    reasons = Counter()
    by_category = Counter()
    for r in results:
        f = r.figures
        for k in ("kills", "runs", "effects", "business_keys", "duplicate_keys", "extra_applications", "events"):
            total[k] += f[k]
        for status, n in f["statuses"].items():
            total[f"status_{status}"] += n
        reasons.update(f["reasons"])
        for c, msgs in r.verdict.problems.items():
            by_category[c] += len(msgs)
    failing = [r for r in results if r.problems()]
    print()
    print(f"trials            {len(results)}  ({len(failing)} with problems)")
    print(f"kills (-9)        {total['kills']}")
    print(
        f"runs              {total['runs']}  (succeeded {total['status_succeeded']}, failed {total['status_failed']}, "
        f"needs_attention {total['status_needs_attention']})"
    )
    print(f"effects applied   {total['effects']}  over {total['business_keys']} business keys")
    print(f"duplicates        {total['duplicate_keys']} keys, {total['extra_applications']} extra applications")
    print(f"problems          {dict(by_category)}")
    for reason, n in reasons.most_common():
        print(f"  {n:4} x {reason}")
    print(f"wall time         {wall:.0f}s")
    for r in failing:
        print()
        print(r.report())
    doc = {
        "bench": "chaos",
        "trials": len(results),
        "failing_trials": len(failing),
        "failing_seeds": [f"{r.db}:{r.seed}" for r in failing],
        **{k: total[k] for k in ("kills", "runs", "effects", "business_keys", "duplicate_keys", "extra_applications")},
        "statuses": {k[len("status_") :]: v for k, v in total.items() if k.startswith("status_")},
        "reasons": dict(reasons),
        "problems": dict(by_category),
        "wall_seconds": round(wall, 1),
    }
    print(json.dumps(doc))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
